/*
 * Svnapot: a leaf PTE with N = 1 and PPN[3:0] = 1000 maps a naturally aligned 64 KiB range of 4 KiB pages:
 * the physical page is PPN[43:4] with the virtual page's low four bits. Other PPN[3:0] patterns, N in a
 * superpage and N in a pointer are reserved and page-fault.
 * Passes on QEMU 7.2: qemu-system-riscv64 -M spike -cpu rv64,svnapot=on -bios none -kernel svnapot.elf -nographic
 */
#include "../priv/priv.h"
#include "../priv/paging.h"
#define PTE_N (1 << 63)
#define NAPOT_VA   0x00020000          /* L0A[32..47]: 64 KiB range -> DATA(0..15) */
#define BAD4_VA    0x00030000          /* L0A[48]: PPN[3:0] = 0100 (a 32 KiB range: reserved) */
#define BAD0_VA    0x00031000          /* L0A[49]: PPN[3:0] = 0000 */
#define MEGAN_VA   0x00a00000          /* L1A[5]: N in a megapage */
#define PTRN_VA    0x00c00000          /* L1A[6]: N in a pointer */
/* table[idx] = a PTE with N for PPN = (pa >> 12) | low (clobbers t0, t1) */
#define SET_NAPOT(table, idx, pa, low, flags) \
  li t0, (table) + 8 * (idx); li t1, ((((pa) >> 12) | (low)) << 10) | (flags) | PTE_N; sd t1, 0(t0)
TEST_BEGIN
  PRIV_SETUP
  SV39_SETUP
  /* Only some of the sixteen PTEs are written: each translates on its own. */
  SET_NAPOT(L0A, 32, DATA_BASE, 8, PTE_LEAF_RW)
  SET_NAPOT(L0A, 35, DATA_BASE, 8, PTE_LEAF_RW)
  SET_NAPOT(L0A, 47, DATA_BASE, 8, PTE_LEAF_RW)
  SET_NAPOT(L0A, 48, DATA_BASE, 4, PTE_LEAF_RW)
  SET_NAPOT(L0A, 49, DATA_BASE, 0, PTE_LEAF_RW)
  SET_NAPOT(L1A, 5, MEGA_PA, 8, PTE_LEAF_RW)
  li t0, L1A + 8 * 6; li t1, PTE(PT_SPARE, PTE_V) | PTE_N; sd t1, 0(t0)
  SET_PTE(PT_SPARE, 0, DATA(VPG_RW), PTE_LEAF_RW)
  li t0, SATP39; csrw satp, t0
  sfence.vma

  S_OK(2, NAPOT_VA + 0x0008, LD_A1)
  CHECK(4, a0, DVAL(0, 0x8))
  S_OK(5, NAPOT_VA + 0x3010, LD_A1)
  CHECK(7, a0, DVAL(3, 0x10))
  S_OK(8, NAPOT_VA + 0xf018, LD_A1)
  CHECK(10, a0, DVAL(15, 0x18))
  li a2, 0x0123456789abcdef
  S_OK(11, NAPOT_VA + 0x3020, SD_A1)
  PEEK(a3, DATA(3) + 0x20)
  CHECK(13, a3, 0x0123456789abcdef)
  /* A and D are set in the PTE that was walked */
  GET_PTE(a3, L0A, 35)
  CHECK_MASK(14, a3, PTE_A | PTE_D, PTE_A | PTE_D)
  /* an unwritten PTE of the range is still invalid */
  S_FAULT(15, NAPOT_VA + 0x1000, LD_A1, CAUSE_LOAD_PAGE)
  /* reserved encodings */
  S_FAULT(19, BAD4_VA + 0x10, LD_A1, CAUSE_LOAD_PAGE)
  S_FAULT(23, BAD0_VA + 0x10, LD_A1, CAUSE_LOAD_PAGE)
  S_FAULT(27, MEGAN_VA + 0x10, LD_A1, CAUSE_LOAD_PAGE)
  S_FAULT(31, PTRN_VA + 0x10, LD_A1, CAUSE_LOAD_PAGE)
  /* fetch through a NAPOT page */
  SET_NAPOT(L0A, 40, MEGA_PA, 8, PTE_V | PTE_R | PTE_X | PTE_A)
  li t0, MEGA_PA + 0x8000; la t1, xpage; ld t2, 0(t1); sd t2, 0(t0); fence.i
  sfence.vma
  S_OK(35, 0x28000, CALL_A1)
  CHECK(37, a0, 0x5a)
  /* a changed NAPOT PTE is seen after sfence.vma of its address */
  SET_NAPOT(L0A, 35, DATA_BASE + 0x10000, 8, PTE_LEAF_RW)
  li a1, NAPOT_VA + 0x3010
  sfence.vma a1
  S_OK(38, NAPOT_VA + 0x3010, LD_A1)
  CHECK(40, a0, DVAL(19, 0x10))
  csrw satp, zero
  sfence.vma
  j pass

  PRIV_HANDLERS
  PAGING_CODE
TEST_END
