/* The CLINT: mtime runs and matches the time CSR, mtimecmp drives MTIP (cleared by writing mtimecmp high),
   msip drives MSIP; WFI returns when an interrupt becomes pending even with MIE = 0; interrupts after WFI. */
#include "priv.h"
#define TICKS 10000                    /* 1 ms at 10 MHz */
#define WFI_TICKS 20000                /* 2 ms */
/* areg = &mtimecmp, vreg = mtime + delta: the store that arms the timer is left to the caller */
#define MTIMECMP_ARM(areg, vreg, delta)              \
  li areg, CLINT_MTIME; ld vreg, 0(areg); li areg, delta; add vreg, vreg, areg; \
  li areg, CLINT_MTIMECMP
TEST_BEGIN
  INSTALL_MTRAP
  PMP_ALLOW_ALL
  csrw mie, zero
  csrw mideleg, zero
  MTIMECMP_SET(-1)
  MSIP_SET(0)
  WAIT_MIP(250, MIP_MSIP | MIP_MTIP, 0)

  /* mtime advances (wait for it to change, at most 100000 rounds). */
  li a1, CLINT_MTIME
  ld a2, 0(a1)
  li a3, 100000
1:ld a4, 0(a1)
  bne a4, a2, 2f
  addi a3, a3, -1
  bnez a3, 1b
2:li TESTNUM, 2
  bgeu a2, a4, fail
  /* (the time CSR: counteren-bonsai.S; QEMU's spike board has no time CSR) */
  /* 32-bit reads of mtime give its halves */
  lwu a2, 0(a1)
  ld a3, 0(a1)
  slli a3, a3, 32
  srli a3, a3, 32
  sub a3, a3, a2               /* ticks between the two reads, modulo 2^32 */
  slli a3, a3, 32
  srli a3, a3, 32
  li TESTNUM, 5
  li t0, 1000000
  bgeu a3, t0, fail
  lwu a2, 4(a1)
  ld a3, 0(a1)
  srli a3, a3, 32
  sub a3, a3, a2
  li TESTNUM, 3
  li t0, 1
  bgtu a3, t0, fail

  /* mtimecmp reads back what was written, as 64 bits and as two 32-bit halves. */
  li a1, CLINT_MTIMECMP
  li a2, 0x7123456789abcdef
  sd a2, 0(a1)
  ld a3, 0(a1)
  CHECK(6, a3, 0x7123456789abcdef)
  lwu a3, 0(a1)
  CHECK(7, a3, 0x89abcdef)
  lwu a3, 4(a1)
  CHECK(8, a3, 0x71234567)
  li a2, 0x11111111
  sw a2, 4(a1)
  ld a3, 0(a1)
  CHECK(9, a3, 0x1111111189abcdef)

  /* mtimecmp in the past: MTIP at once; far in the future (or all ones): MTIP clear. */
  MTIMECMP_SET(0)
  WAIT_MIP(10, MIP_MTIP, MIP_MTIP)
  MTIMECMP_SET(-1)
  WAIT_MIP(11, MIP_MTIP, 0)
  MTIMECMP_SET(0)
  MTIMECMP_IN(100000000)
  WAIT_MIP(12, MIP_MTIP, 0)

  /* WFI with MIE = 0 and MTIE = 1 returns once mtime reaches mtimecmp; nothing is taken. */
  li t0, MSTATUS_MIE; csrc mstatus, t0
  li t0, MIP_MTIP; csrw mie, t0
  MTIMECMP_IN(TICKS)
  li a3, 1000
1:wfi
  csrr a1, mip
  andi a1, a1, MIP_MTIP
  bnez a1, 2f
  addi a3, a3, -1
  bnez a3, 1b
  li TESTNUM, 14; j fail
2:li t0, CLINT_MTIME; ld a2, 0(t0)
  li t0, CLINT_MTIMECMP; ld a3, 0(t0)
  li TESTNUM, 15
  bltu a2, a3, fail
  /* writing mtimecmp high clears it */
  MTIMECMP_SET(-1)
  WAIT_MIP(16, MIP_MTIP, 0)

  /* The timer interrupt taken with MIE = 1 out of WFI: mcause bit 63 | 7, mepc = the instruction after WFI.
     (mtimecmp is armed by the instruction just before the WFI.) */
  li t0, MSTATUS_MIE; csrs mstatus, t0
  MTIMECMP_ARM(a3, a4, WFI_TICKS)
  EXPECT_MTRAP(1f)
  sd a4, 0(a3)
10: wfi
11: j 10b
1:MTIMECMP_SET(-1)
  CHECK_MCAUSE(17, INTR_BIT | IRQ_MTI)
  /* mepc = the instruction after the WFI (or the WFI itself, if the hart stalled for WFI_TICKS
     between arming the timer and reaching the WFI) */
  li TESTNUM, 18; la t5, 10b; beq s9, t5, 2f; la t5, 11b; bne s9, t5, fail
2:
  CHECK_MASK(19, s11, MSTATUS_MIE | MSTATUS_MPIE, MSTATUS_MPIE)

  /* The same from S with MIE = 0 (M interrupts are always enabled in S). */
  li t0, MSTATUS_MIE | MSTATUS_MPIE; csrc mstatus, t0
  MTIMECMP_ARM(a3, a4, WFI_TICKS)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 9f)
9:sd a4, 0(a3)
10: wfi
11: j 10b
1:MTIMECMP_SET(-1)
  CHECK_MCAUSE(20, INTR_BIT | IRQ_MTI)
  /* mepc = the instruction after the WFI (or the WFI itself, if the hart stalled for WFI_TICKS
     between arming the timer and reaching the WFI) */
  li TESTNUM, 21; la t5, 10b; beq s9, t5, 2f; la t5, 11b; bne s9, t5, fail
2:
  CHECK_MASK(22, s11, MSTATUS_MPP, MSTATUS_MPP_S)
  /* and from U, spinning (WFI is illegal in U) */
  MTIMECMP_IN(TICKS)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: j 10b
1:MTIMECMP_SET(-1)
  CHECK_MCAUSE(23, INTR_BIT | IRQ_MTI)
  CHECK_MEPC(24, 10b)
  CHECK_MASK(25, s11, MSTATUS_MPP, 0)
  csrw mie, zero

  /* msip: bit 0 drives MSIP and reads back. */
  li a1, CLINT_MSIP
  li t0, 1; sw t0, 0(a1)
  lw a2, 0(a1)
  CHECK(26, a2, 1)
  WAIT_MIP(27, MIP_MSIP, MIP_MSIP)
  sw zero, 0(a1)
  lw a2, 0(a1)
  CHECK(28, a2, 0)
  WAIT_MIP(29, MIP_MSIP, 0)

  /* WFI with MSIP already pending (MSIE = 1, MIE = 0) returns at once. */
  li t0, MIP_MSIP; csrw mie, t0
  MSIP_SET(1)
  wfi
  WAIT_MIP(251, MIP_MSIP, MIP_MSIP)
  /* the software interrupt, taken when MIE is set: mcause bit 63 | 3 */
  EXPECT_MTRAP(1f)
  li t0, MSTATUS_MIE; csrs mstatus, t0
10: MUST_TRAP(30)
1:MSIP_SET(0)
  CHECK_MCAUSE(31, INTR_BIT | IRQ_MSI)
  CHECK_MEPC(32, 10b)
  /* ... and from S */
  WAIT_MIP(252, MIP_MSIP, 0)
  MSIP_SET(1)
  WAIT_MIP(253, MIP_MSIP, MIP_MSIP)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: MUST_TRAP(33)
1:MSIP_SET(0)
  WAIT_MIP(254, MIP_MSIP, 0)
  CHECK_MCAUSE(34, INTR_BIT | IRQ_MSI)
  CHECK_MEPC(35, 10b)
  csrw mie, zero

  /* WFI returns for a pending interrupt even when it is delegated to S and the hart is in M. */
  li t0, MIP_STIP; csrw mideleg, t0; csrw mie, t0
  li t0, MSTATUS_MIE; csrs mstatus, t0
  li t0, MIP_STIP; csrs mip, t0
  wfi
  li t0, MSTATUS_MIE; csrc mstatus, t0
  csrw mip, zero
  csrw mie, zero
  csrw mideleg, zero

  j pass
  PRIV_HANDLERS
TEST_END
