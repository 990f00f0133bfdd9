/*
 * Svpbmt: PTE bits 62:61 (PBMT) name a memory type; Bonsai's memory is coherent, so PMA (0), NC (1) and IO (2)
 * translate alike, with menvcfg.PBMTE set; a pointer PTE with PBMT set faults. (PBMTE = 0, PBMT = 3 and the
 * reserved bits 60:54: svpbmt-bonsai.S.)
 * Passes on QEMU 7.2: qemu-system-riscv64 -M spike -cpu rv64,svpbmt=on -bios none -kernel svpbmt.elf -nographic
 */
#include "../priv/priv.h"
#include "../priv/paging.h"
#define PBMT_NC (1 << 61)
#define PBMT_IO (2 << 61)
#define PBMTE   (1 << 62)
#define VPG_NC   20
#define VPG_IO   21
#define VPG_PTR  24   /* through a pointer with PBMT set, at the L1 level (VA 0x01000000) */
#define PTR_VA   0x01000000
/* table[idx] = PTE(pa, flags) | hi (hi: bits 63:54) */
#define SET_PTE_HI(table, idx, pa, flags, hi) \
  li t0, (table) + 8 * (idx); li t1, PTE(pa, flags) | (hi); sd t1, 0(t0)
TEST_BEGIN
  PRIV_SETUP
  csrw menvcfg, zero
  SV39_SETUP
  SET_PTE_HI(L0A, VPG_NC, DATA(VPG_RW), PTE_LEAF_RW, PBMT_NC)
  SET_PTE_HI(L0A, VPG_IO, DATA(VPG_RW), PTE_LEAF_RW, PBMT_IO)
  SET_PTE_HI(L1A, 8, PT_SPARE, PTE_V, PBMT_NC)
  SET_PTE(PT_SPARE, 0, DATA(VPG_RW), PTE_LEAF_RW)
  li t0, SATP39; csrw satp, t0
  sfence.vma

  /* PBMTE = 1: NC and IO translate like PMA; a pointer with PBMT set faults. */
  li t0, PBMTE; csrs menvcfg, t0
  csrr a0, menvcfg; srli a0, a0, 62; andi a0, a0, 1; CHECK(17, a0, 1)
  sfence.vma
  S_OK(18, VA(VPG_NC) + 0x20, LD_A1)
  CHECK(20, a0, DVAL(VPG_RW, 0x20))
  li a2, 0x1122334455667788
  S_OK(21, VA(VPG_IO) + 0x28, SD_A1)
  PEEK(a3, DATA(VPG_RW) + 0x28)
  CHECK(23, a3, 0x1122334455667788)
  S_OK(24, VA(VPG_IO) + 0x28, LD_A1)
  CHECK(26, a0, 0x1122334455667788)
  S_FAULT(31, PTR_VA + 0x10, LD_A1, CAUSE_LOAD_PAGE)
  /* the A/D updates keep the PBMT bits */
  GET_PTE(a3, L0A, VPG_IO)
  srli a3, a3, 61; CHECK(35, a3, 2)

  csrw satp, zero
  sfence.vma
  csrw menvcfg, zero
  j pass

  PRIV_HANDLERS
  PAGING_CODE
TEST_END
