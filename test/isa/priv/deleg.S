/* medeleg: exceptions from S/U delegated to S (scause, sepc, stval, SPP, SPIE/SIE); traps in M never delegated. */
#include "priv.h"
#define DELEGATED ((1 << CAUSE_ILLEGAL) | (1 << CAUSE_BREAKPOINT) | (1 << CAUSE_ECALL_U) | (1 << CAUSE_LOAD_ACCESS) | (1 << CAUSE_STORE_ACCESS) | (1 << CAUSE_LOAD_PAGE))
TEST_BEGIN
  INSTALL_MTRAP
  INSTALL_STRAP
  PMP_ALLOW_ALL
  csrw mie, zero
  csrw mideleg, zero

  /* medeleg holds the delegable exception bits written to it. */
  li t0, DELEGATED; csrw medeleg, t0
  CHECK_CSR(2, medeleg, DELEGATED)
  csrw medeleg, zero
  CHECK_CSR(3, medeleg, 0)

  /* ecall from U, delegated: to S with scause 8, sepc, stval 0, SPP = U, SPIE <- SIE (1), SIE <- 0.
     The S handler's own ecall (from S, not delegated) reaches M. */
  li t0, (1 << CAUSE_ECALL_U); csrw medeleg, t0
  li t0, MSTATUS_SIE; csrs mstatus, t0
  li t0, MSTATUS_SPP | MSTATUS_SPIE; csrs mstatus, t0   /* the opposite of what the trap must leave */
  CLEAR_SREC
  EXPECT_STRAP(2f)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: ecall
  MUST_TRAP(4)
2:csrr a1, sstatus             /* in S now */
20: ecall
  MUST_TRAP(5)
1:CHECK_MCAUSE(6, CAUSE_ECALL_S)
  CHECK_MEPC(7, 20b)
  CHECK_SCAUSE(8, CAUSE_ECALL_U)
  CHECK_SEPC(9, 10b)
  CHECK_STVAL(10, 0)
  CHECK_MASK(11, a1, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE, MSTATUS_SPIE)
  CHECK_MASK(12, s5, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE, MSTATUS_SPIE)

  /* The same from U with SIE = 0: SPIE = 0. */
  li t0, MSTATUS_SIE | MSTATUS_SPIE; csrc mstatus, t0
  CLEAR_SREC
  EXPECT_STRAP(2f)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: ecall
  MUST_TRAP(13)
2:ecall
  MUST_TRAP(14)
1:CHECK_MCAUSE(15, CAUSE_ECALL_S)
  CHECK_SCAUSE(16, CAUSE_ECALL_U)
  CHECK_MASK(17, s5, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE, 0)

  /* ecall from S is not delegated by medeleg[8]: mcause 9 in M. */
  CLEAR_SREC
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: ecall
  MUST_TRAP(18)
1:CHECK_MCAUSE(19, CAUSE_ECALL_S)
  CHECK_MEPC(20, 10b)
  CHECK(21, s2, -1)

  /* ecall from S delegated by medeleg[9]: taken in S itself, SPP = S. */
  li t0, (1 << CAUSE_ECALL_S); csrw medeleg, t0
  CLEAR_SREC
  EXPECT_STRAP(2f)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: ecall
  MUST_TRAP(22)
2:csrw medeleg, zero           /* an M CSR: illegal in S; medeleg[2] = 0, so this goes to M */
  MUST_TRAP(23)
1:CHECK_MCAUSE(24, CAUSE_ILLEGAL)
  CHECK_MEPC(25, 2b)
  CHECK_SCAUSE(26, CAUSE_ECALL_S)
  CHECK_SEPC(27, 10b)
  CHECK_STVAL(28, 0)
  CHECK_MASK(29, s5, MSTATUS_SPP, MSTATUS_SPP)
  csrw medeleg, zero

  /* Illegal instruction in S, delegated: scause 2, stval = the instruction bits, SPP = S, SPIE <- SIE (1). */
  li t0, (1 << CAUSE_ILLEGAL); csrw medeleg, t0
  li t0, MSTATUS_SIE; csrs mstatus, t0
  li t0, MSTATUS_SPIE | MSTATUS_SPP; csrc mstatus, t0
  CLEAR_SREC
  EXPECT_STRAP(2f)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: csrr a0, mstatus           /* an M CSR: illegal in S */
  MUST_TRAP(30)
2:ecall
  MUST_TRAP(31)
1:CHECK_MCAUSE(32, CAUSE_ECALL_S)
  CHECK_SCAUSE(33, CAUSE_ILLEGAL)
  CHECK_SEPC(34, 10b)
  CHECK_STVAL(35, 0x30002573)        /* csrrs a0, mstatus, zero */
  CHECK_MASK(36, s5, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE, MSTATUS_SPP | MSTATUS_SPIE)

  /* Illegal instruction in U, delegated: SPP = U. */
  CLEAR_SREC
  EXPECT_STRAP(2f)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: csrr a0, sstatus           /* an S CSR: illegal in U */
  MUST_TRAP(37)
2:ecall
  MUST_TRAP(38)
1:CHECK_MCAUSE(39, CAUSE_ECALL_S)
  CHECK_SCAUSE(40, CAUSE_ILLEGAL)
  CHECK_SEPC(41, 10b)
  CHECK_STVAL(42, 0x10002573)        /* csrrs a0, sstatus, zero */
  CHECK_MASK(43, s5, MSTATUS_SPP, 0)

  /* A cause not delegated goes to M while others are: ecall from U with only medeleg[2] set. */
  CLEAR_SREC
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: ecall
  MUST_TRAP(44)
1:CHECK_MCAUSE(45, CAUSE_ECALL_U)
  CHECK_MEPC(46, 10b)
  CHECK(47, s2, -1)

  /* Illegal instruction in M with medeleg[2] = 1: taken in M. */
  CLEAR_SREC
  EXPECT_MTRAP(1f)
10: csrw mhartid, a0           /* writing a read-only CSR: illegal */
  MUST_TRAP(48)
1:CHECK_MCAUSE(49, CAUSE_ILLEGAL)
  CHECK_MEPC(50, 10b)
  CHECK(51, s2, -1)

  /* ecall and ebreak in M with every delegable bit set: taken in M. */
  li t0, -1; csrw medeleg, t0
  EXPECT_MTRAP(1f)
10: ecall
  MUST_TRAP(52)
1:CHECK_MCAUSE(53, CAUSE_ECALL_M)
  CHECK_MEPC(54, 10b)
  EXPECT_MTRAP(1f)
10: ebreak
  MUST_TRAP(55)
1:CHECK_MCAUSE(56, CAUSE_BREAKPOINT)
  CHECK_MEPC(57, 10b)
  /* a load access fault in M too */
  EXPECT_MTRAP(1f)
  li a1, UNMAPPED_PA
10: ld a0, 0(a1)
  MUST_TRAP(58)
1:CHECK_MCAUSE(59, CAUSE_LOAD_ACCESS)
  CHECK_MEPC(60, 10b)
  CHECK(61, s2, -1)
  csrw medeleg, zero

  /* ebreak in U, delegated: scause 3 (stval = pc is Bonsai's choice, checked in tval-bonsai.S; QEMU 7.2 writes 0). */
  li t0, (1 << CAUSE_BREAKPOINT); csrw medeleg, t0
  CLEAR_SREC
  EXPECT_STRAP(2f)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: ebreak
  MUST_TRAP(62)
2:ecall
1:CHECK_MCAUSE(63, CAUSE_ECALL_S)
  CHECK_SCAUSE(64, CAUSE_BREAKPOINT)
  CHECK_SEPC(65, 10b)

  /* Load and store access faults in S, delegated: scause 5/7, stval = the address. */
  li t0, (1 << CAUSE_LOAD_ACCESS) | (1 << CAUSE_STORE_ACCESS); csrw medeleg, t0
  CLEAR_SREC
  EXPECT_STRAP(2f)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: li a1, UNMAPPED_PA + 0x18
11: lw a0, 0(a1)
  MUST_TRAP(67)
2:mv a2, s2; mv a3, s3; mv a4, s4
  EXPECT_STRAP(3f)
12: sd a0, 8(a1)
  MUST_TRAP(68)
3:ecall
1:CHECK(69, a2, CAUSE_LOAD_ACCESS)
  CHECK_LABEL(70, a3, 11b)
  CHECK(71, a4, UNMAPPED_PA + 0x18)
  CHECK_SCAUSE(72, CAUSE_STORE_ACCESS)
  CHECK_SEPC(73, 12b)
  CHECK_STVAL(74, UNMAPPED_PA + 0x20)

  /* A delegated exception with stvec in S is unaffected by mtvec, and sepc/scause/stval are S CSRs that
     S can read and write: write scause and sepc in S, read them back. */
  CLEAR_SREC
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: li a1, 0x80000122
  csrw sepc, a1
  csrr a2, sepc
  li a1, 13
  csrw scause, a1
  csrr a3, scause
  li a1, 0xabcdef
  csrw stval, a1
  csrr a4, stval
  ecall
1:CHECK(75, a2, 0x80000122)
  CHECK(76, a3, 13)
  CHECK(77, a4, 0xabcdef)
  csrw medeleg, zero

  j pass
  PRIV_HANDLERS
TEST_END
