/* march: rv64gc_zicsr_zifencei_zicbom_zicboz_zicbop */
/*
 * Zicbom, Zicboz and Zicbop (64-byte cache blocks): cbo.zero zeroes the block holding the address; cbo.inval,
 * cbo.clean and cbo.flush only check access; below M-mode each needs menvcfg's CBIE/CBCFE/CBZE, and in U-mode
 * senvcfg's too, else it is an illegal instruction; faults name the block's address; prefetch.* never fault.
 * Bonsai only: QEMU 7.2 has no Zicbom/Zicboz (they came in QEMU 8.0).
 */
#include "../priv/priv.h"
#include "../priv/paging.h"
#define CBIE_FLUSH (1 << 4)
#define CBIE_INV   (3 << 4)
#define CBCFE      (1 << 6)
#define CBZE       (1 << 7)
#define CBO_ALL    (CBIE_FLUSH | CBCFE | CBZE)
/* The instructions with rs1 = a1, as mtval shows them. */
#define BITS_INVAL 0x0005a00f
#define BITS_CLEAN 0x0015a00f
#define BITS_FLUSH 0x0025a00f
#define BITS_ZERO  0x0045a00f
#define INVAL cbo.inval 0(a1)
#define CLEAN cbo.clean 0(a1)
#define FLUSH cbo.flush 0(a1)
#define ZERO  cbo.zero 0(a1)
/* Fill 256 bytes at pa with all-ones (clobbers t0-t2). */
#define ONES(pa) li t0, pa; li t2, (pa) + 256; li t1, -1; 98: sd t1, 0(t0); addi t0, t0, 8; bltu t0, t2, 98b
/* Check the doubleword at pa (clobbers t0, t6). */
#define CHECK_AT(num, pa, expected) li t0, pa; ld t0, 0(t0); CHECK(num, t0, expected)
#define BUF DATA(1)
#define PREFETCHES prefetch.i 0(a1); prefetch.r 64(a1); prefetch.w 128(a1)

TEST_BEGIN
  PRIV_SETUP
  csrw menvcfg, zero
  csrw senvcfg, zero

  /* M-mode: always allowed. cbo.zero clears exactly the aligned 64-byte block. */
  ONES(BUF)
  li a1, BUF + 0x40 + 0x13
  ZERO
  CHECK_AT(2, BUF + 0x38, -1)
  CHECK_AT(3, BUF + 0x40, 0)
  CHECK_AT(4, BUF + 0x58, 0)
  CHECK_AT(5, BUF + 0x78, 0)
  CHECK_AT(6, BUF + 0x80, -1)
  INVAL
  CLEAN
  FLUSH
  CHECK_AT(7, BUF + 0x80, -1)

  /* menvcfg clear: all four illegal in S and U. */
  li a1, BUF
  ILLEGAL_IN(10, PRV_S, INVAL, BITS_INVAL)
  ILLEGAL_IN(15, PRV_S, CLEAN, BITS_CLEAN)
  ILLEGAL_IN(20, PRV_S, FLUSH, BITS_FLUSH)
  ILLEGAL_IN(25, PRV_S, ZERO, BITS_ZERO)
  ILLEGAL_IN(30, PRV_U, ZERO, BITS_ZERO)
  CHECK_AT(34, BUF + 0x80, -1)

  /* Each enable alone. */
  li t0, CBZE; csrw menvcfg, t0
  csrr a0, menvcfg; andi a0, a0, 0xff; CHECK(35, a0, CBZE)
  li a1, BUF + 0x80
  LEGAL_IN(36, PRV_S, ZERO, CAUSE_ECALL_S)
  CHECK_AT(39, BUF + 0x80, 0)
  ILLEGAL_IN(40, PRV_S, CLEAN, BITS_CLEAN)
  ILLEGAL_IN(45, PRV_S, INVAL, BITS_INVAL)
  li t0, CBCFE; csrw menvcfg, t0
  LEGAL_IN(50, PRV_S, CLEAN, CAUSE_ECALL_S)
  LEGAL_IN(53, PRV_S, FLUSH, CAUSE_ECALL_S)
  ILLEGAL_IN(56, PRV_S, INVAL, BITS_INVAL)
  ILLEGAL_IN(60, PRV_S, ZERO, BITS_ZERO)
  li t0, CBIE_FLUSH; csrw menvcfg, t0
  LEGAL_IN(65, PRV_S, INVAL, CAUSE_ECALL_S)
  li t0, CBIE_INV; csrw menvcfg, t0
  LEGAL_IN(68, PRV_S, INVAL, CAUSE_ECALL_S)
  ILLEGAL_IN(71, PRV_S, FLUSH, BITS_FLUSH)
  /* CBIE reads back as written */
  csrr a0, menvcfg; andi a0, a0, 0xff; CHECK(75, a0, CBIE_INV)

  /* U-mode needs senvcfg as well. */
  li t0, CBO_ALL; csrw menvcfg, t0
  ILLEGAL_IN(76, PRV_U, INVAL, BITS_INVAL)
  ILLEGAL_IN(80, PRV_U, CLEAN, BITS_CLEAN)
  ILLEGAL_IN(84, PRV_U, ZERO, BITS_ZERO)
  li t0, CBZE; csrw senvcfg, t0
  csrr a0, senvcfg; CHECK(88, a0, CBZE)
  ONES(BUF)
  li a1, BUF + 0xc8
  LEGAL_IN(89, PRV_U, ZERO, CAUSE_ECALL_U)
  CHECK_AT(92, BUF + 0xc0, 0)
  CHECK_AT(93, BUF + 0xb8, -1)
  ILLEGAL_IN(94, PRV_U, FLUSH, BITS_FLUSH)
  li t0, CBO_ALL; csrw senvcfg, t0
  LEGAL_IN(98, PRV_U, FLUSH, CAUSE_ECALL_U)
  LEGAL_IN(101, PRV_U, INVAL, CAUSE_ECALL_U)
  /* senvcfg does not bind S-mode */
  csrw senvcfg, zero
  LEGAL_IN(104, PRV_S, INVAL, CAUSE_ECALL_S)

  /* Under Sv39: permissions, faults, A/D. */
  SV39_SETUP
  li t0, SATP39; csrw satp, t0
  sfence.vma
  /* readable: clean passes, zero is a store page fault at the block address */
  S_OK(110, VA(VPG_RO) + 0x48, CLEAN)
  S_FAULT_TVAL(112, VA(VPG_RO) + 0x48, ZERO, CAUSE_STORE_PAGE, VA(VPG_RO) + 0x40)
  /* invalid page: a store page fault for the management ops too */
  S_FAULT_TVAL(116, VA(VPG_INVALID) + 0x7f, CLEAN, CAUSE_STORE_PAGE, VA(VPG_INVALID) + 0x40)
  S_FAULT_TVAL(120, VA(VPG_INVALID) + 0x08, INVAL, CAUSE_STORE_PAGE, VA(VPG_INVALID))
  /* execute-only: neither a load nor a store may access it */
  S_FAULT_TVAL(124, VA(VPG_XONLY) + 0x10, FLUSH, CAUSE_STORE_PAGE, VA(VPG_XONLY))
  /* U page from S without SUM */
  S_FAULT_TVAL(128, VA(VPG_U) + 0x10, ZERO, CAUSE_STORE_PAGE, VA(VPG_U))
  /* A/D: a management op sets A (it accesses like a load); cbo.zero sets A and D */
  S_OK(132, VA(VPG_AD0) + 0x10, CLEAN)
  GET_PTE(a3, L0A, VPG_AD0)
  CHECK_MASK(134, a3, PTE_A | PTE_D, PTE_A)
  S_OK(135, VA(VPG_A1D0) + 0x50, ZERO)
  GET_PTE(a3, L0A, VPG_A1D0)
  CHECK_MASK(137, a3, PTE_A | PTE_D, PTE_A | PTE_D)
  PEEK(a3, DATA(VPG_A1D0) + 0x40)
  CHECK(138, a3, 0)
  PEEK(a3, DATA(VPG_A1D0) + 0x80)
  CHECK(139, a3, DVAL(VPG_A1D0, 0x80))
  /* through a superpage, a negative address */
  S_OK(140, NEG_VA + (DATA(VPG_RW) + 0x100 - 0x80000000), ZERO)
  PEEK(a3, DATA(VPG_RW) + 0x138)
  CHECK(142, a3, 0)
  PEEK(a3, DATA(VPG_RW) + 0x140)
  CHECK(143, a3, DVAL(VPG_RW, 0x140))
  /* no memory behind the page: cbo.zero is a store access fault; clean checks permissions only */
  S_FAULT_TVAL(144, NOMEM_VA + 0x48, ZERO, CAUSE_STORE_ACCESS, NOMEM_VA + 0x40)
  S_OK(148, NOMEM_VA + 0x48, CLEAN)
  /* Zicbop: prefetch.i/r/w are hints, even at an invalid address */
  S_OK(150, VA(VPG_INVALID), PREFETCHES)
  csrw satp, zero
  sfence.vma

  /* cbo.zero over code that already ran: the new (all-zero, illegal) bits are what executes after fence.i */
  la a1, zapped
  jalr ra, 0(a1)
  CHECK(160, a0, 0x5a)
  ZERO
  fence.i
  EXPECT_MTRAP(1f)
  jalr ra, 0(a1)
  MUST_TRAP(161)
1:CHECK_MCAUSE(162, CAUSE_ILLEGAL)
  CHECK_MEPC(163, zapped)
  CHECK_MTVAL(164, 0)

  csrw menvcfg, zero
  j pass

  PRIV_HANDLERS
  PAGING_CODE
  .align 6
zapped:
  li a0, 0x5a
  ret
  .align 6
TEST_END
