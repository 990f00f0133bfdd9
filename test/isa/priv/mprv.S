/* mstatus.MPRV: with MPP = S or U, M-mode loads and stores are translated and checked as that mode
   (SUM, MXR, U bit, A/D updates, faults taken in M); with MPP = M they are not; fetches never are. */
#include "priv.h"
#include "paging.h"
#define MPRV_ON(mode) SET_MPP(mode); li t0, MSTATUS_MPRV; csrs mstatus, t0
#define MPRV_OFF      li t0, MSTATUS_MPRV; csrc mstatus, t0
/* `insn` (on a1 = va) in M with MPRV and MPP = mode completes; a0 has what it loaded. */
#define M_OK(num, mode, va, insn)                    \
  li a1, va; li a0, -1;                              \
  MPRV_ON(mode);                                     \
  insn;                                              \
  MPRV_OFF
/* ... faults in M: mcause, mtval = va, mepc = the instruction, MPP = M and MPRV still set. */
#define M_FAULT(num, mode, va, insn, cause)          \
  li a1, va;                                         \
  EXPECT_MTRAP(1f);                                  \
  MPRV_ON(mode);                                     \
10: insn;                                            \
  MUST_TRAP(num);                                    \
1:MPRV_OFF;                                          \
  CHECK_MCAUSE(num + 1, cause);                      \
  CHECK_MTVAL(num + 2, va);                          \
  CHECK_MEPC(num + 3, 10b);                          \
  CHECK_MASK(num + 4, s11, MSTATUS_MPP | MSTATUS_MPRV, MSTATUS_MPP_M | MSTATUS_MPRV)
TEST_BEGIN
  INSTALL_MTRAP
  PMP_ALLOW_ALL
  csrw mie, zero
  csrw medeleg, zero
  SV39_SETUP
  li t0, SATP39; csrw satp, t0
  sfence.vma
  li a2, 0x0123456789abcdef

  /* MPP = S: translated loads and stores. */
  M_OK(2, PRV_S, VA(VPG_RW) + 0x10, LD_A1)
  CHECK(2, a0, DVAL(VPG_RW, 0x10))
  M_OK(3, PRV_S, VA(VPG_RW) + 0x20, SD_A1)
  PEEK(a3, DATA(VPG_RW) + 0x20)
  CHECK(3, a3, 0x0123456789abcdef)
  M_OK(4, PRV_S, MEGA_VA + 0x40, SD_A1)
  PEEK(a3, MEGA_PA + 0x40)
  CHECK(4, a3, 0x0123456789abcdef)
  M_OK(5, PRV_S, GIGA_VA + (DATA(VPG_RO) + 0x30 - 0x80000000), LD_A1)
  CHECK(5, a0, DVAL(VPG_RO, 0x30))
  li a2, 5
  M_OK(6, PRV_S, VA(VPG_RW) + 0x28, AMO_A1)
  CHECK(6, a0, DVAL(VPG_RW, 0x28))
  PEEK(a3, DATA(VPG_RW) + 0x28)
  CHECK(7, a3, DVAL(VPG_RW, 0x28) + 5)
  li a2, 0x0123456789abcdef
  /* faults taken in M */
  M_FAULT(8, PRV_S, VA(VPG_INVALID) + 8, LD_A1, CAUSE_LOAD_PAGE)
  M_FAULT(13, PRV_S, VA(VPG_RO) + 8, SD_A1, CAUSE_STORE_PAGE)
  M_FAULT(18, PRV_S, 0x0000004000000000, LD_A1, CAUSE_LOAD_PAGE)
  M_FAULT(23, PRV_S, NOMEM_VA, LD_A1, CAUSE_LOAD_ACCESS)
  /* SUM decides S access to U pages */
  M_FAULT(28, PRV_S, VA(VPG_U) + 8, LD_A1, CAUSE_LOAD_PAGE)
  li t0, MSTATUS_SUM; csrs mstatus, t0
  M_OK(33, PRV_S, VA(VPG_U) + 8, LD_A1)
  CHECK(33, a0, DVAL(VPG_U, 8))
  li t0, MSTATUS_SUM; csrc mstatus, t0
  /* MXR decides loads from execute-only pages */
  M_FAULT(34, PRV_S, VA(VPG_XONLY), LD_A1, CAUSE_LOAD_PAGE)
  li t0, MSTATUS_MXR; csrs mstatus, t0
  M_OK(39, PRV_S, VA(VPG_XONLY), LW_A1)
  la t0, xpage; lw t0, 0(t0)
  li TESTNUM, 39; bne a0, t0, fail
  li t0, MSTATUS_MXR; csrc mstatus, t0

  /* MPP = U: U pages only (and the code keeps running from non-U pages: fetches are not translated). */
  M_OK(40, PRV_U, VA(VPG_U) + 0x10, LD_A1)
  CHECK(40, a0, DVAL(VPG_U, 0x10))
  M_FAULT(41, PRV_U, VA(VPG_RW) + 0x10, LD_A1, CAUSE_LOAD_PAGE)
  M_FAULT(46, PRV_U, VA(VPG_RW) + 0x10, SD_A1, CAUSE_STORE_PAGE)
  li t0, MSTATUS_SUM; csrs mstatus, t0
  M_FAULT(51, PRV_U, VA(VPG_RW) + 0x10, LD_A1, CAUSE_LOAD_PAGE)
  li t0, MSTATUS_SUM; csrc mstatus, t0

  /* A and D are set for MPRV accesses. */
  M_OK(56, PRV_S, VA(VPG_AD0) + 0x10, LD_A1)
  GET_PTE(a3, L0A, VPG_AD0)
  CHECK_MASK(56, a3, PTE_A | PTE_D, PTE_A)
  M_OK(57, PRV_S, VA(VPG_AD0) + 0x18, SD_A1)
  GET_PTE(a3, L0A, VPG_AD0)
  CHECK_MASK(57, a3, PTE_A | PTE_D, PTE_A | PTE_D)

  /* MPP = M: no translation even with MPRV = 1 (a physical address works, a virtual one does not). */
  M_OK(58, PRV_M, DATA(VPG_RW) + 0x10, LD_A1)
  CHECK(58, a0, DVAL(VPG_RW, 0x10))
  li a1, GIGA_VA + (DATA(VPG_RW) + 0x10 - 0x80000000)     /* also UNMAPPED_PA + ... physically */
  EXPECT_MTRAP(1f)
  MPRV_ON(PRV_M)
10: ld a0, 0(a1)
  MUST_TRAP(59)
1:MPRV_OFF
  CHECK_MCAUSE(60, CAUSE_LOAD_ACCESS)
  CHECK_MEPC(61, 10b)
  M_OK(62, PRV_S, GIGA_VA + (DATA(VPG_RW) + 0x10 - 0x80000000), LD_A1)
  CHECK(62, a0, DVAL(VPG_RW, 0x10))
  /* MPRV = 0 with MPP = S: M is not translated either. */
  SET_MPP(PRV_S)
  li a1, DATA(VPG_RW) + 0x18
  ld a0, 0(a1)
  CHECK(64, a0, DVAL(VPG_RW, 0x18))

  /* With satp = Bare, MPRV and MPP = S give untranslated accesses. */
  csrw satp, zero
  sfence.vma
  M_OK(65, PRV_S, DATA(VPG_RO) + 0x10, LD_A1)
  CHECK(65, a0, DVAL(VPG_RO, 0x10))

  j pass

  PRIV_HANDLERS
  PAGING_CODE
TEST_END
