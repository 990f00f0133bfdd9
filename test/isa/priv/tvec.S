/* mtvec/stvec: direct and vectored modes (interrupts to base + 4 * cause, exceptions to base),
   reserved modes keep the old mode; mepc/sepc low bits. */
#include "priv.h"
TEST_BEGIN
  INSTALL_MTRAP
  PMP_ALLOW_ALL
  csrw mie, zero
  csrw mideleg, zero
  csrw medeleg, zero
  MTIMECMP_SET(-1)
  WAIT_MIP(250, MIP_MTIP, 0)

  /* mtvec WARL: modes 0 and 1 stick; writes of modes 2 and 3 keep the old mode. */
  la a1, mvec_table
  csrw mtvec, a1
  csrr a0, mtvec
  li TESTNUM, 2; bne a0, a1, fail
  ori a2, a1, 1
  csrw mtvec, a2
  csrr a0, mtvec
  li TESTNUM, 3; bne a0, a2, fail
  ori a3, a1, 2
  csrw mtvec, a3
  csrr a0, mtvec
  CHECK_MASK(4, a0, 3, 1)
  ori a3, a1, 3
  csrw mtvec, a3
  csrr a0, mtvec
  CHECK_MASK(5, a0, 3, 1)
  csrw mtvec, a1
  ori a3, a1, 2
  csrw mtvec, a3
  csrr a0, mtvec
  CHECK_MASK(6, a0, 3, 0)

  /* stvec WARL, the same. */
  la a1, svec_table
  csrw stvec, a1
  csrr a0, stvec
  li TESTNUM, 7; bne a0, a1, fail
  ori a2, a1, 1
  csrw stvec, a2
  csrr a0, stvec
  li TESTNUM, 8; bne a0, a2, fail
  ori a3, a1, 2
  csrw stvec, a3
  csrr a0, stvec
  CHECK_MASK(9, a0, 3, 1)
  ori a3, a1, 3
  csrw stvec, a3
  csrr a0, stvec
  CHECK_MASK(10, a0, 3, 1)

  /* Direct mtvec: an interrupt goes to base, mcause has bit 63 set. */
  INSTALL_MTRAP
  li t0, MIP_SSIP; csrw mie, t0
  csrs mip, t0
  EXPECT_MTRAP(1f)
  li t0, MSTATUS_MIE; csrs mstatus, t0
10: MUST_TRAP(11)
1:CHECK_MCAUSE(12, INTR_BIT | IRQ_SSI)
  CHECK_MEPC(13, 10b)
  li t0, MIP_SSIP; csrc mip, t0
  csrw mie, zero

  /* Vectored mtvec: exceptions to base (vector 0). */
  la t0, mvec_table; ori t0, t0, 1; csrw mtvec, t0
  li a6, -1
  EXPECT_MTRAP(1f)
10: ecall
  MUST_TRAP(14)
1:CHECK(15, a6, 0)
  CHECK_MCAUSE(16, CAUSE_ECALL_M)
  CHECK_MEPC(17, 10b)
  li a6, -1
  EXPECT_MTRAP(1f)
10: csrw mhartid, zero
  MUST_TRAP(18)
1:CHECK(19, a6, 0)
  CHECK_MCAUSE(20, CAUSE_ILLEGAL)

  /* Vectored mtvec: each interrupt to base + 4 * cause. */
#define M_VECTOR(num, irq, raise, lower)              \
  li a6, -1;                                         \
  raise;                                             \
  li t0, (1 << irq); csrw mie, t0;                   \
  EXPECT_MTRAP(1f);                                  \
  li t0, MSTATUS_MIE; csrs mstatus, t0;              \
10: MUST_TRAP(num);                                  \
1:lower;                                             \
  csrw mie, zero;                                    \
  CHECK(num + 1, a6, irq);                           \
  CHECK_MCAUSE(num + 2, INTR_BIT | irq);             \
  CHECK_MEPC(num + 3, 10b)

  M_VECTOR(21, IRQ_SSI, MIP_RAISE(MIP_SSIP), MIP_LOWER(MIP_SSIP))
  M_VECTOR(25, IRQ_MSI, CLINT_RAISE_MSI, CLINT_LOWER_MSI)
  M_VECTOR(29, IRQ_STI, MIP_RAISE(MIP_STIP), MIP_LOWER(MIP_STIP))
  M_VECTOR(33, IRQ_MTI, CLINT_RAISE_MTI, CLINT_LOWER_MTI)
  M_VECTOR(37, IRQ_SEI, MIP_RAISE(MIP_SEIP), MIP_LOWER(MIP_SEIP))

  /* Vectored mtvec, an M-level interrupt taken from S (MIE does not matter there). */
  li a6, -1
  li t0, MIP_MSIP; csrw mie, t0
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: MSIP_SET(1)
11: j 11b
1:MSIP_SET(0)
  WAIT_MIP(251, MIP_MSIP, 0)
  csrw mie, zero
  CHECK(41, a6, IRQ_MSI)
  CHECK_MASK(42, s11, MSTATUS_MPP, MSTATUS_MPP_S)

  /* Vectored stvec: a delegated exception goes to base. */
  la t0, svec_table; ori t0, t0, 1; csrw stvec, t0
  li t0, (1 << CAUSE_ECALL_U); csrw medeleg, t0
  li a5, -1
  EXPECT_STRAP(2f)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: ecall
  MUST_TRAP(43)
2:ecall
1:CHECK(44, a5, 0)
  CHECK_SCAUSE(45, CAUSE_ECALL_U)
  CHECK_SEPC(46, 10b)
  CHECK_MCAUSE(47, CAUSE_ECALL_S)
  csrw medeleg, zero

  /* Vectored stvec: delegated interrupts to base + 4 * cause. */
  li t0, MIP_SSIP | MIP_STIP | MIP_SEIP; csrw mideleg, t0
#define S_VECTOR(num, irq, raise, lower)              \
  li a5, -1;                                         \
  li t0, MSTATUS_SIE; csrc mstatus, t0;              \
  raise;                                             \
  li t0, (1 << irq); csrw mie, t0;                   \
  EXPECT_STRAP(2f);                                  \
  EXPECT_MTRAP(1f);                                  \
  MRET_TO(PRV_S, 9f);                                \
9: li t0, MSTATUS_SIE; csrs sstatus, t0;             \
10: MUST_TRAP(num);                                  \
2:ecall;                                             \
1:lower;                                             \
  csrw mie, zero;                                    \
  CHECK(num + 1, a5, irq);                           \
  CHECK_SCAUSE(num + 2, INTR_BIT | irq);             \
  CHECK_SEPC(num + 3, 10b);                          \
  CHECK_MCAUSE(num + 4, CAUSE_ECALL_S)

  S_VECTOR(48, IRQ_SSI, MIP_RAISE(MIP_SSIP), MIP_LOWER(MIP_SSIP))
  S_VECTOR(53, IRQ_STI, MIP_RAISE(MIP_STIP), MIP_LOWER(MIP_STIP))
  S_VECTOR(58, IRQ_SEI, MIP_RAISE(MIP_SEIP), MIP_LOWER(MIP_SEIP))
  csrw mideleg, zero

  /* Direct stvec: a delegated interrupt goes to base. */
  INSTALL_STRAP
  li t0, MIP_SSIP; csrw mideleg, t0
  csrw mie, t0
  CLEAR_SREC
  EXPECT_STRAP(2f)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: li t0, MIP_SSIP; csrs sip, t0    /* SIE = 0: pending, not taken */
  li t0, MSTATUS_SIE; csrs sstatus, t0
11: MUST_TRAP(63)
2:li t0, MIP_SSIP; csrc sip, t0
  ecall
1:CHECK_SCAUSE(64, INTR_BIT | IRQ_SSI)
  CHECK_SEPC(65, 11b)
  csrw mie, zero
  csrw mideleg, zero

  /* mepc/sepc bit 1 is kept (IALIGN = 16); bit 0 (always zero) is checked in tvec-bonsai.S (QEMU 7.2 keeps it). */
  li t0, 0x80001236; csrw mepc, t0
  CHECK_CSR(66, mepc, 0x80001236)
  li t0, 0x80001232; csrw sepc, t0
  CHECK_CSR(67, sepc, 0x80001232)

  /* mret to an mepc with bit 1 set runs from the halfword. */
  INSTALL_MTRAP
  li a2, 0; li a3, 0
  SET_MPP(PRV_M)
  la t0, 20f + 2; csrw mepc, t0
  EXPECT_MTRAP(1f)
  mret
  .option push; .option rvc
20: c.li a2, 1
  c.li a3, 1
21: ecall
  .option pop
  MUST_TRAP(70)
1:CHECK(71, a2, 0)
  CHECK(72, a3, 1)
  CHECK_MEPC(73, 21b)
  /* sret likewise */
  li a2, 0; li a3, 0
  li t0, MSTATUS_SPP; csrs mstatus, t0
  la t0, 20b + 2; csrw sepc, t0
  EXPECT_MTRAP(1f)
  sret
1:CHECK(76, a2, 0)
  CHECK(77, a3, 1)
  CHECK_MCAUSE(78, CAUSE_ECALL_S)
  CHECK_MEPC(79, 21b)

  j pass

/* Vector tables: entry i is `jal t5, common`, so common finds i from t5. */
  .align 8
mvec_table:
  .option push; .option norvc
  .rept 16
  jal t5, mvec_common
  .endr
  .option pop
mvec_common:
  la t4, mvec_table + 4
  sub t4, t5, t4
  srli a6, t4, 2
  csrr s8, mcause
  csrr s9, mepc
  csrr s10, mtval
  csrr s11, mstatus
  mv t5, s7
  li s7, 0
  beqz t5, fail
  jr t5

  .align 8
svec_table:
  .option push; .option norvc
  .rept 16
  jal t5, svec_common
  .endr
  .option pop
svec_common:
  la t4, svec_table + 4
  sub t4, t5, t4
  srli a5, t4, 2
  csrr s2, scause
  csrr s3, sepc
  csrr s4, stval
  csrr s5, sstatus
  mv t5, s6
  li s6, 0
  beqz t5, 1f
  jr t5
1:li s7, 0
  ecall

  PRIV_HANDLERS
TEST_END
