/* Interrupt priority within one destination mode (privileged spec 1.12, 3.1.9): MEI > MSI > MTI > SEI > SSI > STI.
   QEMU 7.2 without AIA takes the lowest-numbered pending interrupt first, so this program is Bonsai's only.
   (MEI cannot be raised on QEMU's spike board or Bonsai's bare test machine without a PLIC, so it is left out.) */
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

  /* Priority in M: everything pending and enabled, MIE set once; the handler logs and clears each cause.
     Order: MSI, MTI, SEI, SSI, STI. */
  la t0, prio_mhandler; csrw mtvec, t0
  la a4, log
  MSIP_SET(1)
  MTIMECMP_SET(0)
  WAIT_MIP(251, MIP_MSIP | MIP_MTIP, MIP_MSIP | MIP_MTIP)
  li t0, S_INTS; csrs mip, t0
  li t0, ALL_INTS; csrw mie, t0
  li t0, MSTATUS_MIE; csrs mstatus, t0
  nop
  li t0, MSTATUS_MIE; csrc mstatus, t0
  csrw mie, zero
  INSTALL_MTRAP
  la a5, log
  sub t0, a4, a5
  CHECK(2, t0, 5 * 8)
  ld t0, 0(a5); CHECK(3, t0, INTR_BIT | IRQ_MSI)
  ld t0, 8(a5); CHECK(4, t0, INTR_BIT | IRQ_MTI)
  ld t0, 16(a5); CHECK(5, t0, INTR_BIT | IRQ_SEI)
  ld t0, 24(a5); CHECK(6, t0, INTR_BIT | IRQ_SSI)
  ld t0, 32(a5); CHECK(7, t0, INTR_BIT | IRQ_STI)

  /* Priority in S among delegated interrupts: SEI, SSI, STI. The S handler logs and disables each in sie. */
  li t0, S_INTS; csrw mideleg, t0
  la t0, prio_shandler; csrw stvec, t0
  la a4, log
  li t0, S_INTS; csrs mip, t0; csrw mie, t0
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: li t0, MSTATUS_SIE; csrs sstatus, t0
  nop
  ecall
1:CHECK_MCAUSE(8, CAUSE_ECALL_S)
  csrw mip, zero
  csrw mie, zero
  csrw mideleg, zero
  INSTALL_STRAP
  la a5, log
  sub t0, a4, a5
  CHECK(9, t0, 3 * 8)
  ld t0, 0(a5); CHECK(10, t0, INTR_BIT | IRQ_SEI)
  ld t0, 8(a5); CHECK(11, t0, INTR_BIT | IRQ_SSI)
  ld t0, 16(a5); CHECK(12, t0, INTR_BIT | IRQ_STI)

  j pass

  .align 2
prio_mhandler:
  csrr t4, mcause
  sd t4, 0(a4)
  addi a4, a4, 8
  slli t4, t4, 1
  srli t4, t4, 1
  li t5, IRQ_MSI
  bne t4, t5, 1f
  li t4, CLINT_MSIP; sw zero, 0(t4)
  mret
1:li t5, IRQ_MTI
  bne t4, t5, 1f
  li t4, CLINT_MTIMECMP; li t5, -1; sd t5, 0(t4)
  mret
1:li t5, 1
  sll t5, t5, t4
  csrc mip, t5
  mret

  .align 2
prio_shandler:
  csrr t4, scause
  sd t4, 0(a4)
  addi a4, a4, 8
  slli t4, t4, 1
  srli t4, t4, 1
  li t5, 1
  sll t5, t5, t4
  csrc sie, t5
  sret

  PRIV_HANDLERS

  .data
  .align 4
log:
  .space 16 * 8
TEST_END
