/*
 * Bonsai-specific LR/SC and AMO behaviour (docs/hart.md); most of these checks fail on QEMU 7.2:
 *  - a misaligned AMO raises store/AMO address misaligned (mcause 6), as the privileged specification
 *    classifies AMOs; QEMU 7.2 reports a load address misaligned (4);
 *  - a misaligned SC raises store/AMO address misaligned with mtval = the address, whether or not a reservation
 *    is held; QEMU 7.2 first compares the address with its reservation and, finding no match, fails the sc
 *    (rd = 1) without trapping;
 *  - any store by this hart to the reserved doubleword clears the reservation: also a store to its other word,
 *    and a store of the very value already there; QEMU 7.2 implements sc as a compare-and-swap against the
 *    value lr loaded, so both of those sc's succeed there, as does one after an AMO that leaves the value
 *    unchanged (the specification lets the reservation set be larger than the bytes accessed, which is
 *    Bonsai's choice); a byte store changing an lr.d's doubleword fails the sc on both;
 *  - a trap between lr and sc clears the reservation (docs/hart.md; the specification allows but does not
 *    require it - QEMU 7.2 happens to fail that sc too).
 */
#include "env.h"
#include "rv64i/macros.h"
TEST_BEGIN
  .option norvc
  TRAP_INIT
  la s0, res
  li t0, 0x1122334455667788
  sd t0, 0(s0)

  /* misaligned AMOs: exactly mcause 6 */
  addi a1, s0, 2
  li a0, 0x0dd
  TEST_TRAP_REG(2, 6, a1, amoadd.w a0, a2, (a1))
  CHECK(3, a0, 0x0dd)
  addi a1, s0, 4
  TEST_TRAP_REG(4, 6, a1, amoswap.d a0, a2, (a1))
  addi a1, s0, 1
  TEST_TRAP_REG(5, 6, a1, amomaxu.d.aqrl a0, a2, (a1))
  addi a1, s0, 7
  TEST_TRAP_REG(6, 6, a1, amoor.w a0, a2, (a1))
  CHECK(7, a0, 0x0dd)

  /* misaligned sc without and with a reservation on the aligned doubleword */
  addi a1, s0, 2
  li a3, 0x0dd
  TEST_TRAP_REG(8, 6, a1, sc.w a3, a2, (a1))
  CHECK(9, a3, 0x0dd)
  addi a1, s0, 4
  TEST_TRAP_REG(10, 6, a1, sc.d a3, a2, (a1))
  CHECK(11, a3, 0x0dd)
  lr.d a0, (s0)
  addi a1, s0, 1
  TEST_TRAP_REG(12, 6, a1, sc.d a3, a2, (a1))
  lr.w a0, (s0)
  addi a1, s0, 3
  TEST_TRAP_REG(13, 6, a1, sc.w.rl a3, a2, (a1))
  CHECK(14, a3, 0x0dd)
  ld a0, 0(s0); CHECK(15, a0, 0x1122334455667788)

  /* a store to the other word of the reserved doubleword */
  lr.w a0, (s0)
  li t0, 0x99
  sw t0, 4(s0)
  li a2, 0x42
  sc.w a3, a2, (s0)
  li TESTNUM, 16
  beqz a3, fail
  ld a0, 0(s0); CHECK(17, a0, 0x0000009955667788)
  /* a byte store to the other end of the doubleword, around lr.d */
  lr.d a0, (s0)
  sb t0, 7(s0)
  sc.d a3, a2, (s0)
  li TESTNUM, 18
  beqz a3, fail
  ld a0, 0(s0); CHECK(19, a0, 0x9900009955667788)
  /* a store of the value already there */
  lr.d a0, (s0)
  sd a0, 0(s0)
  sc.d a3, a2, (s0)
  li TESTNUM, 20
  beqz a3, fail
  ld a0, 0(s0); CHECK(21, a0, 0x9900009955667788)
  /* an AMO to the reserved doubleword is a store too, even one that leaves the value as it was */
  lr.d a0, (s0)
  addi a1, s0, 4
  amoor.w zero, zero, (a1)
  sc.d a3, a2, (s0)
  li TESTNUM, 22
  beqz a3, fail

  /* a trap (ecall, handled and returned from) between lr and sc */
  lr.d a0, (s0)
  TEST_TRAP(23, 11, 0, ecall)
  sc.d a3, a2, (s0)
  li TESTNUM, 24
  beqz a3, fail
  ld a0, 0(s0); CHECK(25, a0, 0x9900009955667788)

  j pass

TRAP_HANDLER
TEST_END

  .data
  .align 4
res: .dword 0, 0
