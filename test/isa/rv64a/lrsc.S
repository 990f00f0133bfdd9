/*
 * RV64A load-reserved / store-conditional, asserting only what the specification and docs/hart.md guarantee
 * (reservation set = the aligned doubleword; a store by this hart to it, a trap, or any sc clears it):
 *  - lr then sc to the same address with nothing between succeeds (rd = 0) and writes;
 *  - lr.w sign-extends; sc.w writes 32 bits only;
 *  - sc without a reservation (none yet, or consumed by an earlier sc of either outcome) fails: rd != 0
 *    and memory is untouched;
 *  - a store that changes the reserved doubleword between lr and sc makes the sc fail;
 *  - sc to another doubleword fails and writes nothing, and consumes the reservation;
 *  - a second lr moves the reservation: sc to the first address fails, to the second succeeds;
 *  - aq/rl variants, rd == rs2, lr with rd = x0, and an lr/sc retry loop.
 * The failure code is only checked to be non-zero (the specification reserves other non-zero values).
 */
#include "env.h"
#include "rv64i/macros.h"
TEST_BEGIN
  .option norvc
  la s0, res

  /* sc with no reservation ever made */
  li t0, 0x1111111111111111
  sd t0, 0(s0)
  li a2, 0x2222222222222222
  sc.d a3, a2, (s0)
  li TESTNUM, 2
  beqz a3, fail
  ld a0, 0(s0); CHECK(3, a0, 0x1111111111111111)
  sc.w a3, a2, (s0)
  li TESTNUM, 4
  beqz a3, fail
  ld a0, 0(s0); CHECK(5, a0, 0x1111111111111111)

  /* lr.d / sc.d success */
  lr.d a0, (s0); CHECK(6, a0, 0x1111111111111111)
  li a2, 0x8765432112345678
  sc.d a3, a2, (s0); CHECK(7, a3, 0)
  ld a0, 0(s0); CHECK(8, a0, 0x8765432112345678)
  /* the reservation is gone: a second sc fails and writes nothing */
  li a2, 0x5555
  sc.d a3, a2, (s0)
  li TESTNUM, 9
  beqz a3, fail
  ld a0, 0(s0); CHECK(10, a0, 0x8765432112345678)

  /* lr.w sign-extends, sc.w writes the low word only; low and high word of the doubleword */
  li t0, 0x7eeeeeee80000001
  sd t0, 0(s0)
  lr.w a0, (s0); CHECK(11, a0, 0xffffffff80000001)
  li a2, 0x123456789abcdef0
  sc.w a3, a2, (s0); CHECK(12, a3, 0)
  ld a0, 0(s0); CHECK(13, a0, 0x7eeeeeee9abcdef0)
  addi s1, s0, 4
  lr.w a0, (s1); CHECK(14, a0, 0x7eeeeeee)
  li a2, 0xfedcba9800000005
  sc.w a3, a2, (s1); CHECK(15, a3, 0)
  ld a0, 0(s0); CHECK(16, a0, 0x000000059abcdef0)
  ld a0, 8(s0); CHECK(17, a0, 0xabababababababab)   /* the next doubleword untouched */
  sc.w a3, a2, (s1)
  li TESTNUM, 18
  beqz a3, fail

  /* a store changing the reserved doubleword between lr and sc: sc fails, the store's value stays */
  li t0, 100
  sd t0, 0(s0)
  lr.d a0, (s0); CHECK(19, a0, 100)
  li t0, 200
  sd t0, 0(s0)
  li a2, 300
  sc.d a3, a2, (s0)
  li TESTNUM, 20
  beqz a3, fail
  ld a0, 0(s0); CHECK(21, a0, 200)
  /* same for a word store into the reserved word */
  lr.w a0, (s0); CHECK(22, a0, 200)
  li t0, 201
  sw t0, 0(s0)
  li a2, 301
  sc.w a3, a2, (s0)
  li TESTNUM, 23
  beqz a3, fail
  lw a0, 0(s0); CHECK(24, a0, 201)

  /* sc to another doubleword fails and writes nothing there; the reservation is then consumed */
  li t0, 400
  sd t0, 0(s0)
  li t0, 500
  sd t0, 16(s0)
  lr.d a0, (s0); CHECK(25, a0, 400)
  addi s1, s0, 16
  li a2, 600
  sc.d a3, a2, (s1)
  li TESTNUM, 26
  beqz a3, fail
  ld a0, 16(s0); CHECK(27, a0, 500)
  ld a0, 0(s0); CHECK(28, a0, 400)
  sc.d a3, a2, (s0)
  li TESTNUM, 29
  beqz a3, fail
  ld a0, 0(s0); CHECK(30, a0, 400)

  /* a second lr moves the reservation */
  lr.d a0, (s0); CHECK(31, a0, 400)
  lr.d a0, (s1); CHECK(32, a0, 500)
  li a2, 700
  sc.d a3, a2, (s1); CHECK(33, a3, 0)
  ld a0, 16(s0); CHECK(34, a0, 700)
  lr.d a0, (s1)
  lr.d a0, (s0)
  sc.d a3, a2, (s1)
  li TESTNUM, 35
  beqz a3, fail
  ld a0, 16(s0); CHECK(36, a0, 700)
  sc.d a3, a2, (s0)         /* consumed by the failed sc above */
  li TESTNUM, 37
  beqz a3, fail
  ld a0, 0(s0); CHECK(38, a0, 400)

  /* ordering variants */
  lr.d.aq a0, (s0); CHECK(39, a0, 400)
  li a2, 401
  sc.d.rl a3, a2, (s0); CHECK(40, a3, 0)
  lr.d.aqrl a0, (s0); CHECK(41, a0, 401)
  li a2, 402
  sc.d.aqrl a3, a2, (s0); CHECK(42, a3, 0)
  lr.w.aq a0, (s0); CHECK(43, a0, 402)
  li a2, 403
  sc.w.rl a3, a2, (s0); CHECK(44, a3, 0)
  lr.w.aqrl a0, (s0); CHECK(45, a0, 403)
  li a2, 404
  sc.w.aqrl a3, a2, (s0); CHECK(46, a3, 0)
  sc.w.aq a3, a2, (s0)
  li TESTNUM, 47
  beqz a3, fail
  ld a0, 0(s0); CHECK(48, a0, 404)

  /* rd == rs2 in sc: the success code replaces the data register */
  lr.d a0, (s0)
  li a2, 0x4444
  sc.d a2, a2, (s0); CHECK(49, a2, 0)
  ld a0, 0(s0); CHECK(50, a0, 0x4444)
  /* rd == rs1 in lr */
  mv a1, s0
  lr.d a1, (a1); CHECK(51, a1, 0x4444)
  li a2, 0x4445
  sc.d a3, a2, (s0); CHECK(52, a3, 0)
  /* lr with rd = x0 still reserves */
  lr.d x0, (s0)
  mv a0, x0; CHECK(53, a0, 0)
  li a2, 0x4446
  sc.d a3, a2, (s0); CHECK(54, a3, 0)
  ld a0, 0(s0); CHECK(55, a0, 0x4446)

  /* an lr/sc increment loop, retrying on failure as software must */
  sd zero, 0(s0)
  li s2, 300
1: lr.d a0, (s0)
  addi a0, a0, 3
  sc.d a3, a0, (s0)
  bnez a3, 1b
  addi s2, s2, -1
  bnez s2, 1b
  ld a0, 0(s0); CHECK(56, a0, 900)
  /* the same on a word, wrapping through the sign bit: the loaded value is sign-extended each time */
  li t0, 0x7ffffff0
  sw t0, 0(s0)
  li s2, 32
1: lr.w a0, (s0)
  addi a0, a0, 1
  sc.w a3, a0, (s0)
  bnez a3, 1b
  addi s2, s2, -1
  bnez s2, 1b
  lr.w a0, (s0); CHECK(57, a0, 0xffffffff80000010)

  j pass
TEST_END

  .data
  .align 4
res: .dword 0, 0xabababababababab, 0, 0
