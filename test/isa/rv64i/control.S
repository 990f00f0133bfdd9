/*
 * RV64I control transfer and upper immediates: lui, auipc, jal, jalr (target bit 0 cleared, rd == rs1, negative
 * and odd offsets), every conditional branch taken and not taken on signed/unsigned edge values, branches at
 * their maximum reach, and jal at its maximum reach (the far jal instructions are written to free RAM past
 * _end at run time, then fence.i).
 * Branch operand pairs and outcomes were computed with a small Python model (not committed).
 */
#include "env.h"
#include "rv64i/macros.h"
TEST_BEGIN
  .option norvc

  /* lui: the 20-bit immediate goes to bits 31:12 and bit 31 is sign-extended */
  li TESTNUM, 2
  lui a0, 0
  CHECK(2, a0, 0)
  lui a0, 0x12345
  CHECK(3, a0, 0x12345000)
  lui a0, 0x80000
  CHECK(4, a0, 0xffffffff80000000)
  lui a0, 0xfffff
  CHECK(5, a0, 0xfffffffffffff000)
  lui a0, 0x7ffff
  CHECK(6, a0, 0x7ffff000)
  li a0, -1
  lui a0, 1
  CHECK(7, a0, 0x1000)
  lui x0, 0x12345
  mv a0, x0
  CHECK(8, a0, 0)

  /* auipc: pc + (imm << 12), compared with the pc jal leaves in a link register */
  jal a1, 1f
1: auipc a0, 0
  li TESTNUM, 9
  bne a0, a1, fail
  jal a1, 1f
1: auipc a0, 1
  sub a0, a0, a1
  CHECK(10, a0, 0x1000)
  jal a1, 1f
1: auipc a0, 0xfffff
  sub a0, a0, a1
  CHECK(11, a0, -0x1000)
  jal a1, 1f
1: auipc a0, 0x80000
  sub a0, a0, a1
  CHECK(12, a0, 0xffffffff80000000)
  jal a1, 1f
1: auipc a0, 0x7ffff
  sub a0, a0, a1
  CHECK(13, a0, 0x7ffff000)
  auipc x0, 0x12345
  mv a0, x0
  CHECK(14, a0, 0)
  /* auipc 0x80000 at 0x8000xxxx wraps to 0x0000xxxx: the sum is 64-bit */
  jal a1, 1f
1: auipc a0, 0x80000
  li t0, 0x80000000
  sub a1, a1, t0
  li TESTNUM, 15
  bne a0, a1, fail

  /* jal: forward, link = pc + 4 */
  li TESTNUM, 16
  la a2, 2f
  jal a1, 1f
2: j fail
  j fail
1: bne a1, a2, fail
  /* jal x0 skips and writes nothing */
  li TESTNUM, 17
  li a3, 0
  jal x0, 1f
  li a3, 1
1: bnez a3, fail
  mv a0, x0
  bnez a0, fail
  /* backward jal */
  li TESTNUM, 18
  li a3, 0
  j 2f
1: li a3, 7
  j 3f
2: jal a1, 1b
4: j fail
3: li t0, 7
  bne a3, t0, fail
  la a2, 4b
  li TESTNUM, 19
  bne a1, a2, fail
  /* jal ra and a call/return through it */
  li TESTNUM, 20
  li a0, 0
  jal ra, sub_add5
  jal ra, sub_add5
  li t0, 10
  bne a0, t0, fail
  /* jal to itself would hang; jal to the next instruction just links */
  li TESTNUM, 21
  jal a1, 1f
1: la a2, 1b
  bne a1, a2, fail

  /* jalr: plain, link = pc + 4 */
  li TESTNUM, 22
  la a1, 1f
  la a3, 2f
  jalr a2, 0(a1)
2: j fail
1: bne a2, a3, fail
  /* bit 0 of the target is cleared */
  li TESTNUM, 23
  la a1, 1f
  addi a1, a1, 1
  la a3, 2f
  jalr a2, 0(a1)
2: j fail
1: bne a2, a3, fail
  /* odd immediate making an odd target: cleared */
  li TESTNUM, 24
  la a1, 1f
  addi a1, a1, -3
  jalr a2, 4(a1)
  j fail
1: nop
  /* odd immediate making an even target */
  li TESTNUM, 25
  la a1, 1f
  addi a1, a1, -3
  jalr a2, 3(a1)
  j fail
1: nop
  /* negative immediate */
  li TESTNUM, 26
  la a1, 1f
  addi a1, a1, 2000
  jalr a2, -2000(a1)
  j fail
1: nop
  /* maximum immediates */
  li TESTNUM, 27
  la a1, 1f
  addi a1, a1, -2047
  jalr a2, 2047(a1)
  j fail
1: nop
  li TESTNUM, 28
  la a1, 1f
  li t0, 2048
  add a1, a1, t0
  jalr a2, -2048(a1)
  j fail
1: nop
  /* rd == rs1: the target uses the old value, then rd gets the link */
  li TESTNUM, 29
  la a1, 1f
  la a3, 2f
  jalr a1, 0(a1)
2: j fail
1: bne a1, a3, fail
  li TESTNUM, 30
  la a1, 1f
  addi a1, a1, -7
  la a3, 2f
  jalr a1, 8(a1)
2: j fail
1: bne a1, a3, fail
  /* jalr x0 writes nothing */
  li TESTNUM, 31
  la a1, 1f
  jalr x0, 0(a1)
  j fail
1: mv a0, x0
  bnez a0, fail
  /* backward jalr */
  li TESTNUM, 32
  li a3, 0
  j 2f
1: li a3, 9
  j 3f
2: la a1, 1b
  jalr a2, 0(a1)
4: j fail
3: li t0, 9
  bne a3, t0, fail
  la t0, 4b
  bne a2, t0, fail
  /* jalr through ra (ret) from a call made with jalr */
  li TESTNUM, 33
  li a0, 3
  la t1, sub_add5
  jalr ra, 0(t1)
  li t0, 8
  bne a0, t0, fail

  /* branches at their maximum reach: +4092 (4-byte code) and -4096 */
  li TESTNUM, 34
  beq zero, zero, 1f
  .skip 4088
1: nop
  li TESTNUM, 35
  j 2f
1: j 3f
  .skip 4092
2: bgeu zero, zero, 1b
  j fail
3: nop
  /* not-taken branch whose target would be far */
  li TESTNUM, 36
  li a1, 1
  beqz a1, 1f
  j 2f
  .skip 4080
1: j fail
2: nop

  /* beq */
  TEST_BR_TAKEN(40, beq, 0x0, 0x0)
  TEST_BR_TAKEN(41, beq, 0x1, 0x1)
  TEST_BR_TAKEN(42, beq, 0xffffffffffffffff, 0xffffffffffffffff)
  TEST_BR_TAKEN(43, beq, 0x7fffffffffffffff, 0x7fffffffffffffff)
  TEST_BR_TAKEN(44, beq, 0x8000000000000000, 0x8000000000000000)
  TEST_BR_TAKEN(45, beq, 0x80000000, 0x80000000)
  TEST_BR_NOT(46, beq, 0x0, 0x8000000000000000)
  TEST_BR_NOT(47, beq, 0x0, 0x80000000)
  TEST_BR_NOT(48, beq, 0x0, 0x7fffffffffffffff)
  TEST_BR_NOT(49, beq, 0x1, 0x7fffffffffffffff)
  TEST_BR_NOT(50, beq, 0x1, 0x2)
  TEST_BR_NOT(51, beq, 0xffffffffffffffff, 0x8000000000000000)
  TEST_BR_NOT(52, beq, 0xffffffffffffffff, 0xffffffff80000000)
  TEST_BR_NOT(53, beq, 0xffffffffffffffff, 0x7fffffff)
  TEST_BR_NOT(54, beq, 0x7fffffffffffffff, 0x100000000)
  TEST_BR_NOT(55, beq, 0x7fffffffffffffff, 0xffffffffffffffff)
  TEST_BR_NOT(56, beq, 0x8000000000000000, 0x7fffffff)
  TEST_BR_NOT(57, beq, 0x8000000000000000, 0xfffffffffffffffe)
  TEST_BR_NOT(58, beq, 0x8000000000000000, 0x2)
  TEST_BR_NOT(59, beq, 0x80000000, 0x0)
  TEST_BR_NOT(60, beq, 0x80000000, 0x8000000000000000)
  TEST_BR_NOT(61, beq, 0x80000000, 0x2)
  TEST_BR_NOT(62, beq, 0xffffffff, 0xffffffff80000000)
  TEST_BR_NOT(63, beq, 0xffffffff, 0xffffffffffffffff)
  TEST_BR_NOT(64, beq, 0xffffffff, 0x7fffffffffffffff)
  TEST_BR_NOT(65, beq, 0xffffffff80000000, 0x7fffffff)
  TEST_BR_NOT(66, beq, 0xffffffff80000000, 0xffffffff)
  TEST_BR_NOT(67, beq, 0xffffffff80000000, 0xffffffffffffffff)
  TEST_BR_NOT(68, beq, 0x7fffffff, 0x80000000)
  TEST_BR_NOT(69, beq, 0x7fffffff, 0x2)
  TEST_BR_NOT(70, beq, 0x7fffffff, 0x1)
  TEST_BR_NOT(71, beq, 0x100000000, 0x1)
  TEST_BR_NOT(72, beq, 0x100000000, 0x7fffffff)
  TEST_BR_NOT(73, beq, 0x100000000, 0x8000000000000000)
  TEST_BR_NOT(74, beq, 0xfffffffffffffffe, 0x7fffffff)
  TEST_BR_NOT(75, beq, 0xfffffffffffffffe, 0xffffffff80000000)
  TEST_BR_NOT(76, beq, 0xfffffffffffffffe, 0x7fffffffffffffff)
  TEST_BR_NOT(77, beq, 0x2, 0x7fffffffffffffff)
  TEST_BR_NOT(78, beq, 0x2, 0x1)
  TEST_BR_NOT(79, beq, 0x100000000, 0x0)
  TEST_BR_NOT(80, beq, 0x0, 0x100000000)
  TEST_BR_NOT(81, beq, 0x8000000000000000, 0x0)
  TEST_BR_NOT(82, beq, 0x0, 0x8000000000000000)
  TEST_BR_NOT(83, beq, 0x123456789, 0x223456789)
  TEST_BR_NOT(84, beq, 0x223456789, 0x123456789)

  /* bne */
  TEST_BR_NOT(85, bne, 0x0, 0x0)
  TEST_BR_NOT(86, bne, 0x1, 0x1)
  TEST_BR_NOT(87, bne, 0xffffffffffffffff, 0xffffffffffffffff)
  TEST_BR_NOT(88, bne, 0x7fffffffffffffff, 0x7fffffffffffffff)
  TEST_BR_NOT(89, bne, 0x8000000000000000, 0x8000000000000000)
  TEST_BR_NOT(90, bne, 0x80000000, 0x80000000)
  TEST_BR_TAKEN(91, bne, 0x0, 0x1)
  TEST_BR_TAKEN(92, bne, 0x0, 0x7fffffffffffffff)
  TEST_BR_TAKEN(93, bne, 0x0, 0x7fffffff)
  TEST_BR_TAKEN(94, bne, 0x1, 0xffffffff80000000)
  TEST_BR_TAKEN(95, bne, 0x1, 0x100000000)
  TEST_BR_TAKEN(96, bne, 0x1, 0x7fffffff)
  TEST_BR_TAKEN(97, bne, 0xffffffffffffffff, 0x1)
  TEST_BR_TAKEN(98, bne, 0xffffffffffffffff, 0x2)
  TEST_BR_TAKEN(99, bne, 0xffffffffffffffff, 0x7fffffffffffffff)
  TEST_BR_TAKEN(100, bne, 0x7fffffffffffffff, 0x2)
  TEST_BR_TAKEN(101, bne, 0x7fffffffffffffff, 0x80000000)
  TEST_BR_TAKEN(102, bne, 0x7fffffffffffffff, 0x1)
  TEST_BR_TAKEN(103, bne, 0x8000000000000000, 0x1)
  TEST_BR_TAKEN(104, bne, 0x8000000000000000, 0x100000000)
  TEST_BR_TAKEN(105, bne, 0x8000000000000000, 0xffffffff80000000)
  TEST_BR_TAKEN(106, bne, 0x80000000, 0x1)
  TEST_BR_TAKEN(107, bne, 0x80000000, 0x7fffffff)
  TEST_BR_TAKEN(108, bne, 0x80000000, 0x2)
  TEST_BR_TAKEN(109, bne, 0xffffffff, 0x8000000000000000)
  TEST_BR_TAKEN(110, bne, 0xffffffff, 0xffffffff80000000)
  TEST_BR_TAKEN(111, bne, 0xffffffff, 0x7fffffff)
  TEST_BR_TAKEN(112, bne, 0xffffffff80000000, 0x1)
  TEST_BR_TAKEN(113, bne, 0xffffffff80000000, 0x80000000)
  TEST_BR_TAKEN(114, bne, 0xffffffff80000000, 0x7fffffff)
  TEST_BR_TAKEN(115, bne, 0x7fffffff, 0x0)
  TEST_BR_TAKEN(116, bne, 0x7fffffff, 0xffffffff)
  TEST_BR_TAKEN(117, bne, 0x7fffffff, 0x100000000)
  TEST_BR_TAKEN(118, bne, 0x100000000, 0x7fffffff)
  TEST_BR_TAKEN(119, bne, 0x100000000, 0x7fffffffffffffff)
  TEST_BR_TAKEN(120, bne, 0xfffffffffffffffe, 0x7fffffffffffffff)
  TEST_BR_TAKEN(121, bne, 0xfffffffffffffffe, 0x100000000)
  TEST_BR_TAKEN(122, bne, 0xfffffffffffffffe, 0xffffffff80000000)
  TEST_BR_TAKEN(123, bne, 0x2, 0xffffffff)
  TEST_BR_TAKEN(124, bne, 0x2, 0xffffffffffffffff)
  TEST_BR_TAKEN(125, bne, 0x100000000, 0x0)
  TEST_BR_TAKEN(126, bne, 0x0, 0x100000000)
  TEST_BR_TAKEN(127, bne, 0x8000000000000000, 0x0)
  TEST_BR_TAKEN(128, bne, 0x0, 0x8000000000000000)
  TEST_BR_TAKEN(129, bne, 0x123456789, 0x223456789)
  TEST_BR_TAKEN(130, bne, 0x223456789, 0x123456789)

  /* blt */
  TEST_BR_NOT(131, blt, 0x0, 0x0)
  TEST_BR_NOT(132, blt, 0x1, 0x1)
  TEST_BR_NOT(133, blt, 0xffffffffffffffff, 0xffffffffffffffff)
  TEST_BR_NOT(134, blt, 0x7fffffffffffffff, 0x7fffffffffffffff)
  TEST_BR_NOT(135, blt, 0x8000000000000000, 0x8000000000000000)
  TEST_BR_NOT(136, blt, 0x80000000, 0x80000000)
  TEST_BR_TAKEN(137, blt, 0x0, 0x2)
  TEST_BR_NOT(138, blt, 0x0, 0xfffffffffffffffe)
  TEST_BR_NOT(139, blt, 0x1, 0xffffffff80000000)
  TEST_BR_NOT(140, blt, 0x1, 0xfffffffffffffffe)
  TEST_BR_NOT(141, blt, 0x1, 0x0)
  TEST_BR_TAKEN(142, blt, 0xffffffffffffffff, 0x2)
  TEST_BR_TAKEN(143, blt, 0xffffffffffffffff, 0x80000000)
  TEST_BR_TAKEN(144, blt, 0xffffffffffffffff, 0xffffffff)
  TEST_BR_NOT(145, blt, 0x7fffffffffffffff, 0x1)
  TEST_BR_NOT(146, blt, 0x7fffffffffffffff, 0x8000000000000000)
  TEST_BR_NOT(147, blt, 0x7fffffffffffffff, 0x7fffffff)
  TEST_BR_TAKEN(148, blt, 0x8000000000000000, 0x100000000)
  TEST_BR_TAKEN(149, blt, 0x8000000000000000, 0xffffffff80000000)
  TEST_BR_TAKEN(150, blt, 0x8000000000000000, 0x0)
  TEST_BR_NOT(151, blt, 0x80000000, 0xfffffffffffffffe)
  TEST_BR_NOT(152, blt, 0x80000000, 0xffffffff80000000)
  TEST_BR_NOT(153, blt, 0x80000000, 0x1)
  TEST_BR_NOT(154, blt, 0xffffffff, 0xffffffffffffffff)
  TEST_BR_NOT(155, blt, 0xffffffff, 0x8000000000000000)
  TEST_BR_NOT(156, blt, 0xffffffff, 0x7fffffff)
  TEST_BR_TAKEN(157, blt, 0xffffffff80000000, 0x1)
  TEST_BR_TAKEN(158, blt, 0xffffffff80000000, 0x0)
  TEST_BR_TAKEN(159, blt, 0x7fffffff, 0x80000000)
  TEST_BR_TAKEN(160, blt, 0x7fffffff, 0xffffffff)
  TEST_BR_TAKEN(161, blt, 0x7fffffff, 0x100000000)
  TEST_BR_NOT(162, blt, 0x100000000, 0x0)
  TEST_BR_NOT(163, blt, 0x100000000, 0x2)
  TEST_BR_NOT(164, blt, 0x100000000, 0xffffffff80000000)
  TEST_BR_TAKEN(165, blt, 0xfffffffffffffffe, 0xffffffffffffffff)
  TEST_BR_TAKEN(166, blt, 0xfffffffffffffffe, 0x0)
  TEST_BR_TAKEN(167, blt, 0x2, 0x7fffffffffffffff)
  TEST_BR_NOT(168, blt, 0x2, 0x1)
  TEST_BR_NOT(169, blt, 0x2, 0xffffffff80000000)
  TEST_BR_NOT(170, blt, 0x100000000, 0x0)
  TEST_BR_TAKEN(171, blt, 0x0, 0x100000000)
  TEST_BR_TAKEN(172, blt, 0x8000000000000000, 0x0)
  TEST_BR_NOT(173, blt, 0x0, 0x8000000000000000)
  TEST_BR_TAKEN(174, blt, 0x123456789, 0x223456789)
  TEST_BR_NOT(175, blt, 0x223456789, 0x123456789)

  /* bge */
  TEST_BR_TAKEN(176, bge, 0x0, 0x0)
  TEST_BR_TAKEN(177, bge, 0x1, 0x1)
  TEST_BR_TAKEN(178, bge, 0xffffffffffffffff, 0xffffffffffffffff)
  TEST_BR_TAKEN(179, bge, 0x7fffffffffffffff, 0x7fffffffffffffff)
  TEST_BR_TAKEN(180, bge, 0x8000000000000000, 0x8000000000000000)
  TEST_BR_TAKEN(181, bge, 0x80000000, 0x80000000)
  TEST_BR_NOT(182, bge, 0x0, 0x1)
  TEST_BR_NOT(183, bge, 0x0, 0xffffffff)
  TEST_BR_TAKEN(184, bge, 0x0, 0xffffffff80000000)
  TEST_BR_TAKEN(185, bge, 0x1, 0xffffffffffffffff)
  TEST_BR_NOT(186, bge, 0x1, 0x7fffffffffffffff)
  TEST_BR_TAKEN(187, bge, 0xffffffffffffffff, 0x8000000000000000)
  TEST_BR_NOT(188, bge, 0xffffffffffffffff, 0x7fffffffffffffff)
  TEST_BR_NOT(189, bge, 0xffffffffffffffff, 0x1)
  TEST_BR_TAKEN(190, bge, 0x7fffffffffffffff, 0xffffffffffffffff)
  TEST_BR_TAKEN(191, bge, 0x7fffffffffffffff, 0x2)
  TEST_BR_TAKEN(192, bge, 0x7fffffffffffffff, 0xfffffffffffffffe)
  TEST_BR_NOT(193, bge, 0x8000000000000000, 0x0)
  TEST_BR_NOT(194, bge, 0x8000000000000000, 0x2)
  TEST_BR_NOT(195, bge, 0x8000000000000000, 0x7fffffffffffffff)
  TEST_BR_TAKEN(196, bge, 0x80000000, 0xfffffffffffffffe)
  TEST_BR_TAKEN(197, bge, 0x80000000, 0x7fffffff)
  TEST_BR_NOT(198, bge, 0x80000000, 0xffffffff)
  TEST_BR_NOT(199, bge, 0xffffffff, 0x100000000)
  TEST_BR_TAKEN(200, bge, 0xffffffff, 0x2)
  TEST_BR_NOT(201, bge, 0xffffffff80000000, 0x7fffffff)
  TEST_BR_TAKEN(202, bge, 0xffffffff80000000, 0x8000000000000000)
  TEST_BR_NOT(203, bge, 0x7fffffff, 0x100000000)
  TEST_BR_TAKEN(204, bge, 0x7fffffff, 0x1)
  TEST_BR_TAKEN(205, bge, 0x7fffffff, 0xffffffff80000000)
  TEST_BR_TAKEN(206, bge, 0x100000000, 0xffffffff)
  TEST_BR_TAKEN(207, bge, 0x100000000, 0x8000000000000000)
  TEST_BR_NOT(208, bge, 0xfffffffffffffffe, 0x7fffffff)
  TEST_BR_TAKEN(209, bge, 0xfffffffffffffffe, 0x8000000000000000)
  TEST_BR_TAKEN(210, bge, 0x2, 0xffffffff80000000)
  TEST_BR_NOT(211, bge, 0x2, 0x7fffffffffffffff)
  TEST_BR_TAKEN(212, bge, 0x2, 0x0)
  TEST_BR_TAKEN(213, bge, 0x100000000, 0x0)
  TEST_BR_NOT(214, bge, 0x0, 0x100000000)
  TEST_BR_NOT(215, bge, 0x8000000000000000, 0x0)
  TEST_BR_TAKEN(216, bge, 0x0, 0x8000000000000000)
  TEST_BR_NOT(217, bge, 0x123456789, 0x223456789)
  TEST_BR_TAKEN(218, bge, 0x223456789, 0x123456789)

  /* bltu */
  TEST_BR_NOT(219, bltu, 0x0, 0x0)
  TEST_BR_NOT(220, bltu, 0x1, 0x1)
  TEST_BR_NOT(221, bltu, 0xffffffffffffffff, 0xffffffffffffffff)
  TEST_BR_NOT(222, bltu, 0x7fffffffffffffff, 0x7fffffffffffffff)
  TEST_BR_NOT(223, bltu, 0x8000000000000000, 0x8000000000000000)
  TEST_BR_NOT(224, bltu, 0x80000000, 0x80000000)
  TEST_BR_TAKEN(225, bltu, 0x0, 0x100000000)
  TEST_BR_TAKEN(226, bltu, 0x0, 0xffffffff80000000)
  TEST_BR_TAKEN(227, bltu, 0x0, 0x1)
  TEST_BR_NOT(228, bltu, 0x1, 0x0)
  TEST_BR_TAKEN(229, bltu, 0x1, 0x2)
  TEST_BR_TAKEN(230, bltu, 0x1, 0xffffffffffffffff)
  TEST_BR_NOT(231, bltu, 0xffffffffffffffff, 0x0)
  TEST_BR_NOT(232, bltu, 0xffffffffffffffff, 0x1)
  TEST_BR_NOT(233, bltu, 0xffffffffffffffff, 0xfffffffffffffffe)
  TEST_BR_NOT(234, bltu, 0x7fffffffffffffff, 0x7fffffff)
  TEST_BR_NOT(235, bltu, 0x7fffffffffffffff, 0x1)
  TEST_BR_NOT(236, bltu, 0x8000000000000000, 0xffffffff)
  TEST_BR_TAKEN(237, bltu, 0x8000000000000000, 0xffffffffffffffff)
  TEST_BR_NOT(238, bltu, 0x8000000000000000, 0x1)
  TEST_BR_TAKEN(239, bltu, 0x80000000, 0xfffffffffffffffe)
  TEST_BR_TAKEN(240, bltu, 0x80000000, 0xffffffff)
  TEST_BR_TAKEN(241, bltu, 0x80000000, 0x8000000000000000)
  TEST_BR_TAKEN(242, bltu, 0xffffffff, 0xffffffff80000000)
  TEST_BR_NOT(243, bltu, 0xffffffff, 0x2)
  TEST_BR_NOT(244, bltu, 0xffffffff, 0x7fffffff)
  TEST_BR_NOT(245, bltu, 0xffffffff80000000, 0x2)
  TEST_BR_NOT(246, bltu, 0xffffffff80000000, 0xffffffff)
  TEST_BR_NOT(247, bltu, 0xffffffff80000000, 0x7fffffffffffffff)
  TEST_BR_TAKEN(248, bltu, 0x7fffffff, 0xfffffffffffffffe)
  TEST_BR_TAKEN(249, bltu, 0x7fffffff, 0xffffffff)
  TEST_BR_TAKEN(250, bltu, 0x7fffffff, 0x8000000000000000)
  TEST_BR_TAKEN(251, bltu, 0x100000000, 0x8000000000000000)
  TEST_BR_NOT(252, bltu, 0x100000000, 0x1)
  TEST_BR_NOT(253, bltu, 0x100000000, 0x7fffffff)
  TEST_BR_NOT(254, bltu, 0xfffffffffffffffe, 0x80000000)
  TEST_BR_NOT(255, bltu, 0xfffffffffffffffe, 0x2)
  TEST_BR_NOT(257, bltu, 0xfffffffffffffffe, 0x7fffffffffffffff)
  TEST_BR_TAKEN(258, bltu, 0x2, 0x8000000000000000)
  TEST_BR_TAKEN(259, bltu, 0x2, 0x80000000)
  TEST_BR_TAKEN(260, bltu, 0x2, 0xffffffff80000000)
  TEST_BR_NOT(261, bltu, 0x100000000, 0x0)
  TEST_BR_TAKEN(262, bltu, 0x0, 0x100000000)
  TEST_BR_NOT(263, bltu, 0x8000000000000000, 0x0)
  TEST_BR_TAKEN(264, bltu, 0x0, 0x8000000000000000)
  TEST_BR_TAKEN(265, bltu, 0x123456789, 0x223456789)
  TEST_BR_NOT(266, bltu, 0x223456789, 0x123456789)

  /* bgeu */
  TEST_BR_TAKEN(267, bgeu, 0x0, 0x0)
  TEST_BR_TAKEN(268, bgeu, 0x1, 0x1)
  TEST_BR_TAKEN(269, bgeu, 0xffffffffffffffff, 0xffffffffffffffff)
  TEST_BR_TAKEN(270, bgeu, 0x7fffffffffffffff, 0x7fffffffffffffff)
  TEST_BR_TAKEN(271, bgeu, 0x8000000000000000, 0x8000000000000000)
  TEST_BR_TAKEN(272, bgeu, 0x80000000, 0x80000000)
  TEST_BR_NOT(273, bgeu, 0x0, 0x2)
  TEST_BR_NOT(274, bgeu, 0x0, 0xfffffffffffffffe)
  TEST_BR_NOT(275, bgeu, 0x0, 0x7fffffff)
  TEST_BR_NOT(276, bgeu, 0x1, 0xffffffff)
  TEST_BR_NOT(277, bgeu, 0x1, 0x7fffffff)
  TEST_BR_NOT(278, bgeu, 0x1, 0xfffffffffffffffe)
  TEST_BR_TAKEN(279, bgeu, 0xffffffffffffffff, 0xffffffff)
  TEST_BR_TAKEN(280, bgeu, 0xffffffffffffffff, 0x8000000000000000)
  TEST_BR_TAKEN(281, bgeu, 0xffffffffffffffff, 0x2)
  TEST_BR_TAKEN(282, bgeu, 0x7fffffffffffffff, 0x2)
  TEST_BR_TAKEN(283, bgeu, 0x7fffffffffffffff, 0x7fffffff)
  TEST_BR_NOT(284, bgeu, 0x7fffffffffffffff, 0x8000000000000000)
  TEST_BR_TAKEN(285, bgeu, 0x8000000000000000, 0x1)
  TEST_BR_TAKEN(286, bgeu, 0x8000000000000000, 0x2)
  TEST_BR_NOT(287, bgeu, 0x80000000, 0xffffffffffffffff)
  TEST_BR_TAKEN(288, bgeu, 0x80000000, 0x2)
  TEST_BR_TAKEN(289, bgeu, 0xffffffff, 0x2)
  TEST_BR_TAKEN(290, bgeu, 0xffffffff, 0x0)
  TEST_BR_NOT(291, bgeu, 0xffffffff, 0x7fffffffffffffff)
  TEST_BR_TAKEN(292, bgeu, 0xffffffff80000000, 0x100000000)
  TEST_BR_TAKEN(293, bgeu, 0xffffffff80000000, 0x2)
  TEST_BR_TAKEN(294, bgeu, 0xffffffff80000000, 0x7fffffff)
  TEST_BR_NOT(295, bgeu, 0x7fffffff, 0x100000000)
  TEST_BR_NOT(296, bgeu, 0x7fffffff, 0xfffffffffffffffe)
  TEST_BR_TAKEN(297, bgeu, 0x7fffffff, 0x2)
  TEST_BR_TAKEN(298, bgeu, 0x100000000, 0x0)
  TEST_BR_TAKEN(299, bgeu, 0x100000000, 0x7fffffff)
  TEST_BR_TAKEN(300, bgeu, 0x100000000, 0x2)
  TEST_BR_TAKEN(301, bgeu, 0xfffffffffffffffe, 0x2)
  TEST_BR_TAKEN(302, bgeu, 0xfffffffffffffffe, 0x100000000)
  TEST_BR_TAKEN(303, bgeu, 0xfffffffffffffffe, 0x1)
  TEST_BR_NOT(304, bgeu, 0x2, 0xfffffffffffffffe)
  TEST_BR_NOT(305, bgeu, 0x2, 0xffffffffffffffff)
  TEST_BR_NOT(306, bgeu, 0x2, 0x8000000000000000)
  TEST_BR_TAKEN(307, bgeu, 0x100000000, 0x0)
  TEST_BR_NOT(308, bgeu, 0x0, 0x100000000)
  TEST_BR_TAKEN(309, bgeu, 0x8000000000000000, 0x0)
  TEST_BR_NOT(310, bgeu, 0x0, 0x8000000000000000)
  TEST_BR_NOT(311, bgeu, 0x123456789, 0x223456789)
  TEST_BR_TAKEN(312, bgeu, 0x223456789, 0x123456789)

  /* jal at its full reach, built in free RAM 1 MiB past _end (so both extremes stay within
     2 MiB past it): jal a1, OFF at A; at A + OFF a `jr t0` back here */
#define FAR_JAL(num, off, word)                      \
  li TESTNUM, num;                                   \
  la s0, _end;                                       \
  li t0, 0x100fff;                                   \
  add s0, s0, t0;                                    \
  srli s0, s0, 12;                                   \
  slli s0, s0, 12;                                   \
  li t0, off;                                        \
  add s1, s0, t0;                                    \
  li t0, word;                                       \
  sw t0, 0(s0);                                      \
  li t0, 0x00028067;                                 \
  sw t0, 0(s1);                                      \
  fence.i;                                           \
  la t0, 1f;                                         \
  jr s0;                                             \
  j fail;                                            \
1: addi s0, s0, 4;                                   \
  bne a1, s0, fail;                                  \
  sw zero, -4(s0);                                   \
  sw zero, 0(s1);

  FAR_JAL(400, 0xffffc, 0x7fdff5ef)
  FAR_JAL(401, -0x100000, 0x800005ef)
  FAR_JAL(402, 0x55554, 0x554555ef)
  FAR_JAL(403, -0xaaaac, 0xd54555ef)

  j pass

sub_add5:
  addi a0, a0, 5
  ret

TEST_END
