/* mret/sret to every mode (xPP, xPIE -> xIE, xPP <- U, MPRV), ecall causes from U/S/M. */
#include "priv.h"
TEST_BEGIN
  INSTALL_MTRAP
  PMP_ALLOW_ALL
  csrw mie, zero

  /* ecall in M: mcause 11, mepc, mtval 0; the trap saves MIE in MPIE, clears MIE, and sets MPP = M. */
  li t0, MSTATUS_MIE; csrs mstatus, t0
  li t0, MSTATUS_MPIE; csrc mstatus, t0
  EXPECT_MTRAP(1f)
10: ecall
  MUST_TRAP(2)
1:CHECK_MCAUSE(3, CAUSE_ECALL_M)
  CHECK_MEPC(4, 10b)
  CHECK_MTVAL(5, 0)
  CHECK_MASK(6, s11, MSTATUS_MPP, MSTATUS_MPP_M)
  CHECK_MASK(7, s11, MSTATUS_MIE | MSTATUS_MPIE, MSTATUS_MPIE)
  csrr a1, mstatus
  CHECK_MASK(8, a1, MSTATUS_MIE, 0)

  /* mret to S, ecall in S: mcause 9, MPP = S. */
  li t0, MSTATUS_MPIE; csrs mstatus, t0
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: ecall
  MUST_TRAP(10)
1:CHECK_MCAUSE(11, CAUSE_ECALL_S)
  CHECK_MEPC(12, 10b)
  CHECK_MTVAL(13, 0)
  CHECK_MASK(14, s11, MSTATUS_MPP, MSTATUS_MPP_S)
  /* MPIE was 1, so MIE was 1 while in S, and the ecall saved it in MPIE. */
  CHECK_MASK(15, s11, MSTATUS_MIE | MSTATUS_MPIE, MSTATUS_MPIE)

  /* mret to S with MPIE = 0: MIE = 0 in S, so the ecall saves MPIE = 0. */
  li t0, MSTATUS_MPIE; csrc mstatus, t0
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: ecall
  MUST_TRAP(16)
1:CHECK_MCAUSE(17, CAUSE_ECALL_S)
  CHECK_MASK(18, s11, MSTATUS_MIE | MSTATUS_MPIE, 0)

  /* mret to U, ecall in U: mcause 8, MPP = U. */
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: ecall
  MUST_TRAP(20)
1:CHECK_MCAUSE(21, CAUSE_ECALL_U)
  CHECK_MEPC(22, 10b)
  CHECK_MTVAL(23, 0)
  CHECK_MASK(24, s11, MSTATUS_MPP, 0)

  /* U code runs on after the ecall when M returns to mepc + 4 in U. */
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: li a2, 0x55
  ecall
  addi a2, a2, 1               /* back in U after M returns to mepc + 4: a2 = 0x56 */
  ecall
  MUST_TRAP(25)
1:CHECK_MCAUSE(26, CAUSE_ECALL_U)
  addi s9, s9, 4
  csrw mepc, s9
  EXPECT_MTRAP(2f)
  mret                         /* MPP is U after the trap from U */
  MUST_TRAP(27)
2:CHECK_MCAUSE(28, CAUSE_ECALL_U)
  CHECK(29, a2, 0x56)

  /* mret with MPP = M stays in M: MIE <- MPIE (1), MPIE <- 1, MPP <- U. */
  li t0, MSTATUS_MIE; csrc mstatus, t0
  li t0, MSTATUS_MPIE; csrs mstatus, t0
  MRET_TO(PRV_M, 1f)
  MUST_TRAP(30)
1:csrr a1, mstatus
  CHECK_MASK(31, a1, MSTATUS_MIE | MSTATUS_MPIE, MSTATUS_MIE | MSTATUS_MPIE)
  CHECK_MASK(32, a1, MSTATUS_MPP, 0)
  EXPECT_MTRAP(1f)
  ecall                        /* still in M */
  MUST_TRAP(33)
1:CHECK_MCAUSE(34, CAUSE_ECALL_M)

  /* MPIE = 0, MIE = 1: mret clears MIE and sets MPIE. */
  li t0, MSTATUS_MIE; csrs mstatus, t0
  li t0, MSTATUS_MPIE; csrc mstatus, t0
  MRET_TO(PRV_M, 1f)
1:csrr a1, mstatus
  CHECK_MASK(35, a1, MSTATUS_MIE | MSTATUS_MPIE, MSTATUS_MPIE)

  /* MPRV: kept by an mret to M (clearing by mret/sret to S/U: trap-return-bonsai.S, QEMU 7.2 keeps it). */
  li t0, MSTATUS_MPRV; csrs mstatus, t0
  MRET_TO(PRV_M, 1f)
1:csrr a1, mstatus
  li t0, MSTATUS_MPRV; csrc mstatus, t0
  CHECK_MASK(36, a1, MSTATUS_MPRV, MSTATUS_MPRV)

  /* sret in M to S: SIE <- SPIE, SPIE <- 1, SPP <- U. */
  li t0, MSTATUS_SPP | MSTATUS_SPIE; csrs mstatus, t0
  li t0, MSTATUS_SIE; csrc mstatus, t0
  la t0, 10f; csrw sepc, t0
  EXPECT_MTRAP(1f)
  sret
  MUST_TRAP(43)
10: csrr a1, sstatus
  ecall
  MUST_TRAP(44)
1:CHECK_MCAUSE(45, CAUSE_ECALL_S)
  CHECK_MEPC(46, 10b + 4)
  CHECK_MASK(47, a1, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP, MSTATUS_SIE | MSTATUS_SPIE)

  /* sret in M to U (SPP = 0), with SPIE = 0: SIE becomes 0. */
  li t0, MSTATUS_SPP | MSTATUS_SPIE; csrc mstatus, t0
  li t0, MSTATUS_SIE; csrs mstatus, t0
  la t0, 10f; csrw sepc, t0
  EXPECT_MTRAP(1f)
  sret
  MUST_TRAP(49)
10: ecall
  MUST_TRAP(50)
1:CHECK_MCAUSE(51, CAUSE_ECALL_U)
  CHECK_MASK(52, s11, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP, MSTATUS_SPIE)

  /* sret in S to S (SPP = 1), then sret in S to U (SPP = 0). */
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: li t0, MSTATUS_SPP | MSTATUS_SPIE; csrs sstatus, t0
  li t0, MSTATUS_SIE; csrc sstatus, t0
  la t0, 11f; csrw sepc, t0
  sret
  MUST_TRAP(53)
11: csrr a1, sstatus           /* in S: SIE = 1, SPIE = 1, SPP = U */
  la t0, 12f; csrw sepc, t0
  li t0, MSTATUS_SPIE; csrc sstatus, t0
  sret                         /* SPP = U now: to U, SIE <- SPIE = 0 */
  MUST_TRAP(54)
12: ecall
  MUST_TRAP(55)
1:CHECK_MCAUSE(56, CAUSE_ECALL_U)
  CHECK_MEPC(57, 12b)
  CHECK_MASK(58, a1, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP, MSTATUS_SIE | MSTATUS_SPIE)
  CHECK_MASK(59, s11, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP, MSTATUS_SPIE)

  /* mret to S, then S code proves it is in S: sscratch works, mscratch traps (not delegated). */
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: li a2, 0x1234
  csrw sscratch, a2
  csrr a3, sscratch
11: csrr a4, mscratch
  MUST_TRAP(60)
1:CHECK_MCAUSE(61, CAUSE_ILLEGAL)
  CHECK_MEPC(62, 11b)
  CHECK(63, a3, 0x1234)
  CHECK_MASK(64, s11, MSTATUS_MPP, MSTATUS_MPP_S)

  j pass
  PRIV_HANDLERS
TEST_END
