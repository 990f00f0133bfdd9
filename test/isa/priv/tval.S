/* mtval contents: illegal instruction -> the instruction bits (32 or 16), misaligned AMO/LR and access
   faults -> the address, ecall -> 0; misaligned plain loads and stores are performed by the hart. */
#include "priv.h"
TEST_BEGIN
  INSTALL_MTRAP
  PMP_ALLOW_ALL
  csrw mie, zero

  /* A reserved 32-bit opcode (0b1110111). */
  EXPECT_MTRAP(1f)
10: .word 0x12345677
  MUST_TRAP(2)
1:CHECK_MCAUSE(3, CAUSE_ILLEGAL)
  CHECK_MEPC(4, 10b)
  CHECK_MTVAL(5, 0x12345677)

  /* A write to a read-only CSR: csrrw zero, mhartid, zero. */
  EXPECT_MTRAP(1f)
10: csrw mhartid, zero
  MUST_TRAP(6)
1:CHECK_MCAUSE(7, CAUSE_ILLEGAL)
  CHECK_MTVAL(8, 0xf1401073)
  /* csrrs a1, cycle, a2 with a2 != x0 writes a read-only CSR too. */
  li a2, 1
  EXPECT_MTRAP(1f)
10: csrrs a1, cycle, a2
  MUST_TRAP(9)
1:CHECK_MCAUSE(10, CAUSE_ILLEGAL)
  CHECK_MTVAL(11, 0xc00625f3)
  /* while csrrs with rs1 = x0 only reads it */
  csrrs a1, cycle, zero

  /* Reserved 16-bit encodings: c.lui a0, 0 and c.addi4spn s1, sp, 0. mtval holds 16 bits only. */
  EXPECT_MTRAP(1f)
10: .half 0x6501
  .half 0x4585                 /* c.li a1, 1: must not leak into mtval */
  MUST_TRAP(12)
1:CHECK_MCAUSE(13, CAUSE_ILLEGAL)
  CHECK_MEPC(14, 10b)
  CHECK_MTVAL(15, 0x6501)
  EXPECT_MTRAP(1f)
10: .half 0x0004
  .half 0x4585
  MUST_TRAP(16)
1:CHECK_MCAUSE(17, CAUSE_ILLEGAL)
  CHECK_MTVAL(18, 0x0004)
  /* the reserved compressed instruction at a 2-mod-4 address */
  EXPECT_MTRAP(1f)
  .option push; .option rvc
  .align 2
  c.nop
10: .half 0x6501
  .half 0x4585
  .option pop
  MUST_TRAP(19)
1:CHECK_MEPC(20, 10b)
  CHECK_MTVAL(21, 0x6501)

  /* ecall: mtval = 0 (the register held something else before). */
  li t0, 0x5555; csrw mtval, t0
  EXPECT_MTRAP(1f)
  ecall
1:CHECK_MTVAL(22, 0)

  /* mret in U and sret in U: illegal, mtval = the instruction. */
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: mret
  MUST_TRAP(23)
1:CHECK_MCAUSE(24, CAUSE_ILLEGAL)
  CHECK_MEPC(25, 10b)
  CHECK_MTVAL(26, INSN_MRET)
  CHECK_MASK(27, s11, MSTATUS_MPP, 0)

  /* (Misaligned AMOs and SC raise store/AMO address misaligned: tval-bonsai.S; QEMU 7.2 reports AMOs as loads.) */
  /* Misaligned LR: load address misaligned (4). */
  la a1, data + 1
  EXPECT_MTRAP(1f)
10: lr.w a0, (a1)
  MUST_TRAP(36)
1:CHECK_MCAUSE(37, CAUSE_LOAD_MISALIGN)
  CHECK_MEPC(38, 10b)
  CHECK_LABEL(39, s10, data + 1)
  la a1, data + 4
  EXPECT_MTRAP(1f)
10: lr.d a0, (a1)
  MUST_TRAP(40)
1:CHECK_MCAUSE(41, CAUSE_LOAD_MISALIGN)
  CHECK_LABEL(42, s10, data + 4)
  /* an aligned AMO works, and the faulting ones changed nothing */
  la a1, data
  amoadd.w a0, zero, (a1)
  CHECK(43, a0, 0x44332211)

  /* Misaligned plain loads and stores just work. */
  la a1, data
  ld a0, 1(a1)
  CHECK(44, a0, 0x9988776655443322)
  lw a0, 3(a1)
  CHECK(45, a0, 0x77665544)
  lhu a0, 7(a1)
  CHECK(46, a0, 0x9988)
  li a2, 0x0123456789abcdef
  sd a2, 11(a1)
  ld a0, 11(a1)
  CHECK(47, a0, 0x0123456789abcdef)
  lbu a0, 11(a1)
  CHECK(48, a0, 0xef)
  lbu a0, 18(a1)
  CHECK(49, a0, 0x01)
  sw a2, 21(a1)
  lwu a0, 21(a1)
  CHECK(50, a0, 0x89abcdef)
  sh a2, 27(a1)
  lh a0, 27(a1)
  CHECK(51, a0, -0x3211)

  /* Access faults at an address with nothing there: mtval = the address. */
  li a1, UNMAPPED_PA + 0x40
  EXPECT_MTRAP(1f)
10: ld a0, 8(a1)
  MUST_TRAP(52)
1:CHECK_MCAUSE(53, CAUSE_LOAD_ACCESS)
  CHECK_MEPC(54, 10b)
  CHECK_MTVAL(55, UNMAPPED_PA + 0x48)
  EXPECT_MTRAP(1f)
10: sw a0, 4(a1)
  MUST_TRAP(56)
1:CHECK_MCAUSE(57, CAUSE_STORE_ACCESS)
  CHECK_MEPC(58, 10b)
  CHECK_MTVAL(59, UNMAPPED_PA + 0x44)
  /* (an AMO there is a store/AMO access fault: tval-bonsai.S; QEMU 7.2 reports a load access fault) */
  EXPECT_MTRAP(1f)
10: lr.d a0, (a1)
  MUST_TRAP(63)
1:CHECK_MCAUSE(64, CAUSE_LOAD_ACCESS)
  CHECK_MTVAL(65, UNMAPPED_PA + 0x40)
  /* instruction fetch: mepc = mtval = the target */
  EXPECT_MTRAP(1f)
  jalr a1
  MUST_TRAP(66)
1:CHECK_MCAUSE(67, CAUSE_FETCH_ACCESS)
  CHECK(68, s9, UNMAPPED_PA + 0x40)
  CHECK_MTVAL(69, UNMAPPED_PA + 0x40)
  /* the same from S (not delegated) */
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: li a1, UNMAPPED_PA + 0x100
  lbu a0, 3(a1)
  MUST_TRAP(70)
1:CHECK_MCAUSE(71, CAUSE_LOAD_ACCESS)
  CHECK_MTVAL(72, UNMAPPED_PA + 0x103)
  CHECK_MASK(73, s11, MSTATUS_MPP, MSTATUS_MPP_S)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: li a1, UNMAPPED_PA + 0x200
  jr a1
  MUST_TRAP(74)
1:CHECK_MCAUSE(75, CAUSE_FETCH_ACCESS)
  CHECK_MTVAL(76, UNMAPPED_PA + 0x200)
  CHECK_MASK(77, s11, MSTATUS_MPP, 0)

  j pass
  PRIV_HANDLERS

  .data
  .align 4
data:
  .dword 0x8877665544332211
  .dword 0x00ffeeddccbbaa99
  .dword 0, 0, 0, 0
TEST_END
