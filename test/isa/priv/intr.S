/* Interrupts: writable mip/mie/mideleg bits, sip/sie views, M-destined interrupts before S-destined ones,
   enable rules per mode, mcause/scause bit 63. */
#include "priv.h"
#define S_INTS (MIP_SSIP | MIP_STIP | MIP_SEIP)
#define M_INTS (MIP_MSIP | MIP_MTIP | MIP_MEIP)
#define ALL_INTS (S_INTS | M_INTS)
TEST_BEGIN
  INSTALL_MTRAP
  INSTALL_STRAP
  PMP_ALLOW_ALL
  csrw mie, zero
  csrw mideleg, zero
  csrw medeleg, zero
  MTIMECMP_SET(-1)
  MSIP_SET(0)
  WAIT_MIP(250, MIP_MSIP | MIP_MTIP, 0)
  csrw mip, zero

  /* mip: SSIP, STIP, SEIP are writable from M; MSIP, MTIP, MEIP are not. */
  li t0, -1; csrw mip, t0
  csrr a1, mip
  CHECK_MASK(2, a1, ALL_INTS, S_INTS)
  csrw mip, zero
  csrr a1, mip
  CHECK_MASK(3, a1, ALL_INTS, 0)
#define MIP_BIT(num, bit)                            \
  li t0, bit; csrs mip, t0;                          \
  csrr a1, mip; CHECK_MASK(num, a1, ALL_INTS, bit);  \
  li t0, bit; csrc mip, t0;                          \
  csrr a1, mip; CHECK_MASK(num + 1, a1, ALL_INTS, 0)
  MIP_BIT(4, MIP_SSIP)
  MIP_BIT(6, MIP_STIP)
  MIP_BIT(8, MIP_SEIP)
  li t0, M_INTS; csrs mip, t0
  csrr a1, mip
  CHECK_MASK(10, a1, ALL_INTS, 0)

  /* mie: all six enable bits are writable. */
  li t0, -1; csrw mie, t0
  csrr a1, mie
  CHECK_MASK(11, a1, ALL_INTS, ALL_INTS)
  csrw mie, zero
  csrr a1, mie
  CHECK_MASK(12, a1, ALL_INTS, 0)

  /* mideleg: the S interrupts are delegable, the M ones are not. */
  li t0, -1; csrw mideleg, t0
  csrr a1, mideleg
  CHECK_MASK(13, a1, ALL_INTS, S_INTS)
  csrw mideleg, zero
  csrr a1, mideleg
  CHECK_MASK(14, a1, ALL_INTS, 0)

  /* sie/sip show only delegated interrupts. */
  li t0, -1; csrw sie, t0
  csrr a1, sie
  CHECK_MASK(15, a1, ALL_INTS, 0)
  csrr a1, mie
  CHECK_MASK(16, a1, ALL_INTS, 0)
  li t0, S_INTS; csrw mideleg, t0
  li t0, -1; csrw sie, t0
  csrr a1, sie
  CHECK_MASK(17, a1, ALL_INTS, S_INTS)
  csrr a1, mie
  CHECK_MASK(18, a1, ALL_INTS, S_INTS)
  csrw sie, zero
  csrr a1, mie
  CHECK_MASK(19, a1, ALL_INTS, 0)
  li t0, S_INTS; csrs mip, t0
  csrr a1, sip
  CHECK_MASK(20, a1, ALL_INTS, S_INTS)
  li t0, MIP_SSIP; csrw mideleg, t0
  csrr a1, sip
  CHECK_MASK(21, a1, ALL_INTS, MIP_SSIP)
  csrw mideleg, zero
  csrr a1, sip
  CHECK_MASK(22, a1, ALL_INTS, 0)
  /* through sip only SSIP is writable (when delegated) */
  li t0, S_INTS; csrw mideleg, t0
  csrw sip, zero
  csrr a1, mip
  CHECK_MASK(23, a1, ALL_INTS, MIP_STIP | MIP_SEIP)
  li t0, MIP_SSIP; csrs sip, t0
  csrr a1, mip
  CHECK_MASK(24, a1, ALL_INTS, S_INTS)
  csrw mip, zero
  csrw mideleg, zero

  /* The CLINT drives MSIP and MTIP. */
  MSIP_SET(1)
  WAIT_MIP(25, ALL_INTS, MIP_MSIP)
  MSIP_SET(0)
  WAIT_MIP(26, ALL_INTS, 0)
  MTIMECMP_SET(0)
  WAIT_MIP(27, ALL_INTS, MIP_MTIP)
  MTIMECMP_SET(-1)
  WAIT_MIP(28, ALL_INTS, 0)

  /* (Priority within one destination mode, MSI > MTI > SEI > SSI > STI: intr-bonsai.S; QEMU 7.2 takes the
     lowest-numbered pending interrupt first.) */

  /* In S, an interrupt destined for M (STI, not delegated) goes before one for S (SSI, delegated),
     though SSI has the higher priority. */
  li t0, MIP_SSIP; csrw mideleg, t0
  li t0, MIP_SSIP | MIP_STIP; csrw mie, t0; csrs mip, t0
  li t0, MSTATUS_SPIE; csrs mstatus, t0    /* an sret would take SIE = 1 */
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: li t0, MSTATUS_SIE; csrs sstatus, t0
  MUST_TRAP(40)
1:CHECK_MCAUSE(41, INTR_BIT | IRQ_STI)
  CHECK_MASK(42, s11, MSTATUS_MPP, MSTATUS_MPP_S)
  csrw mip, zero
  csrw mie, zero
  csrw mideleg, zero

  /* M-level interrupt in S with MIE = 0: taken at once on entry, mepc = the first S instruction. */
  li t0, MSTATUS_MIE | MSTATUS_MPIE; csrc mstatus, t0
  li t0, MIP_SSIP; csrw mie, t0; csrs mip, t0
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: MUST_TRAP(43)
1:CHECK_MCAUSE(44, INTR_BIT | IRQ_SSI)
  CHECK_MEPC(45, 10b)
  CHECK_MASK(46, s11, MSTATUS_MPP | MSTATUS_MIE | MSTATUS_MPIE, MSTATUS_MPP_S)
  /* the same from U */
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: MUST_TRAP(47)
1:CHECK_MCAUSE(48, INTR_BIT | IRQ_SSI)
  CHECK_MEPC(49, 10b)
  CHECK_MASK(50, s11, MSTATUS_MPP, 0)
  /* In M with MIE = 0 it stays pending; setting MIE takes it before the next instruction. */
  nop
  nop
  csrr a1, mip
  CHECK_MASK(51, a1, MIP_SSIP, MIP_SSIP)
  EXPECT_MTRAP(1f)
  li t0, MSTATUS_MIE; csrs mstatus, t0
10: MUST_TRAP(52)
1:CHECK_MCAUSE(53, INTR_BIT | IRQ_SSI)
  CHECK_MEPC(54, 10b)
  CHECK_MASK(55, s11, MSTATUS_MPP | MSTATUS_MIE | MSTATUS_MPIE, MSTATUS_MPP_M | MSTATUS_MPIE)
  /* With its mie bit clear it is not taken, in M with MIE = 1 nor in S. */
  csrw mie, zero
  li t0, MSTATUS_MIE; csrs mstatus, t0
  nop
  li t0, MSTATUS_MIE; csrc mstatus, t0
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: nop
  ecall
1:CHECK_MCAUSE(56, CAUSE_ECALL_S)
  csrw mip, zero

  /* Delegated interrupt in U: always taken, to S (scause bit 63, sepc, SPP = U, SPIE <- SIE = 0). */
  li t0, MIP_SSIP; csrw mideleg, t0; csrw mie, t0; csrs mip, t0
  li t0, MSTATUS_SIE | MSTATUS_SPP; csrc mstatus, t0
  CLEAR_SREC
  EXPECT_STRAP(2f)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: MUST_TRAP(57)
2:ecall
1:CHECK_MCAUSE(58, CAUSE_ECALL_S)
  CHECK_SCAUSE(59, INTR_BIT | IRQ_SSI)
  CHECK_SEPC(60, 10b)
  CHECK_MASK(61, s5, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE, 0)

  /* Delegated interrupt in S with SIE = 0: not taken; setting SIE takes it before the next instruction. */
  CLEAR_SREC
  EXPECT_STRAP(2f)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: nop
  csrr a1, sip
  li t0, MSTATUS_SIE; csrs sstatus, t0
11: MUST_TRAP(62)
2:ecall
1:CHECK_SCAUSE(63, INTR_BIT | IRQ_SSI)
  CHECK_SEPC(64, 11b)
  CHECK_MASK(65, a1, MIP_SSIP, MIP_SSIP)
  CHECK_MASK(66, s5, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE, MSTATUS_SPP | MSTATUS_SPIE)
  /* ... and with its sie bit clear, not even with SIE = 1. */
  csrw mie, zero
  CLEAR_SREC
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: li t0, MSTATUS_SIE; csrs sstatus, t0
  nop
  li t0, MSTATUS_SIE; csrc sstatus, t0
  ecall
1:CHECK_MCAUSE(67, CAUSE_ECALL_S)
  CHECK(68, s2, -1)

  /* Delegated interrupts are never taken in M, even with MIE = 1 and SIE = 1 ... */
  li t0, MIP_SSIP; csrw mie, t0
  li t0, MSTATUS_MIE | MSTATUS_SIE; csrs mstatus, t0
  nop
  nop
  li t0, MSTATUS_MIE; csrc mstatus, t0
  /* ... but at once in S (SIE = 1). */
  CLEAR_SREC
  EXPECT_STRAP(2f)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: MUST_TRAP(69)
2:ecall
1:CHECK_SCAUSE(70, INTR_BIT | IRQ_SSI)
  CHECK_SEPC(71, 10b)
  csrw mip, zero
  csrw mie, zero
  csrw mideleg, zero

  /* Delegated SEI and STI taken in S from U, SSI set by S itself through sip. */
  li t0, S_INTS; csrw mideleg, t0
  li t0, MIP_STIP; csrw mie, t0; csrs mip, t0
  CLEAR_SREC
  EXPECT_STRAP(2f)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: MUST_TRAP(72)
2:ecall
1:CHECK_SCAUSE(73, INTR_BIT | IRQ_STI)
  csrw mip, zero
  li t0, MIP_SEIP; csrw mie, t0; csrs mip, t0
  CLEAR_SREC
  EXPECT_STRAP(2f)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: MUST_TRAP(74)
2:ecall
1:CHECK_SCAUSE(75, INTR_BIT | IRQ_SEI)
  csrw mip, zero
  li t0, MIP_SSIP; csrw mie, t0
  li t0, MSTATUS_SIE; csrc mstatus, t0
  CLEAR_SREC
  EXPECT_STRAP(2f)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: li t0, MIP_SSIP; csrs sip, t0
  li t0, MSTATUS_SIE; csrs sstatus, t0
11: MUST_TRAP(76)
2:li t0, MIP_SSIP; csrc sip, t0
  csrr a1, sip
  ecall
1:CHECK_SCAUSE(77, INTR_BIT | IRQ_SSI)
  CHECK_SEPC(78, 11b)
  CHECK_MASK(79, a1, MIP_SSIP, 0)
  csrw mip, zero
  csrw mie, zero
  csrw mideleg, zero

  j pass

  PRIV_HANDLERS

TEST_END
