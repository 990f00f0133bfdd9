/* RAM beyond 2 GiB of the machine's WebAssembly memory (run with 3 GiB of RAM, test/isa/highmem.test.ts):
   loads and stores of every width, sign- and zero-extended, through the slow path and then the TLB, FP
   loads and stores, LR/SC and AMOs, and code copied there, run in a loop, rewritten and run again. */
#include "env.h"
#define HI 0x130000000  /* RAM offset 0xb0000000: memory offset past 2^31 */
#define TOP 0x13ffff000 /* the last page of 3 GiB of RAM */
TEST_BEGIN
  li s0, HI
  li s1, TOP
  li s4, TOP + 0xfe0
  li s2, 2            /* each check twice: the first access walks, the second hits the TLB */
again:
  li t0, 0x1122334455667788
  sd t0, 8(s0)
  ld t1, 8(s0)
  CHECK(2, t1, 0x1122334455667788)
  li t0, -2
  sb t0, 1(s0)
  lb t1, 1(s0)
  CHECK(3, t1, -2)
  lbu t1, 1(s0)
  CHECK(4, t1, 0xfe)
  li t0, -3
  sh t0, 2(s0)
  lh t1, 2(s0)
  CHECK(5, t1, -3)
  lhu t1, 2(s0)
  CHECK(6, t1, 0xfffd)
  li t0, -4
  sw t0, 4(s0)
  lw t1, 4(s0)
  CHECK(7, t1, -4)
  lwu t1, 4(s0)
  CHECK(8, t1, 0xfffffffc)
  li t0, 0x4045000000000000  /* 42.0 */
  fmv.d.x f1, t0
  fsd f1, 16(s1)
  fld f2, 16(s1)
  fmv.x.d t1, f2
  CHECK(9, t1, 0x4045000000000000)
  li t0, 0x42280000          /* 42.0f */
  fmv.w.x f3, t0
  fsw f3, 0(s4)
  flw f4, 0(s4)
  fmv.x.w t1, f4
  CHECK(10, t1, 0x42280000)
  ld t1, 24(s4)            /* the last doubleword of RAM */
  sd t0, 24(s4)
  ld t1, 24(s4)
  CHECK(11, t1, 0x42280000)
  /* LR/SC: a reservation at a high offset holds, and a store to it breaks it */
  addi a2, s0, 256
  sd zero, 0(a2)
  lr.d t1, (a2)
  li t0, 7
  sc.d t2, t0, (a2)
  CHECK(12, t2, 0)
  ld t1, 0(a2)
  CHECK(13, t1, 7)
  lr.d t1, (a2)
  sd zero, 0(a2)
  sc.d t2, t0, (a2)
  CHECK(14, t2, 1)
  li t0, 5
  amoadd.d t1, t0, (a2)
  CHECK(15, t1, 0)
  lr.w t1, (a2)
  li t0, 9
  sc.w t2, t0, (a2)
  CHECK(16, t2, 0)
  lw t1, 0(a2)
  CHECK(17, t1, 9)
  addi s2, s2, -1
  bnez s2, again

  /* code in high RAM: copy the loop, run it (it counts to a1), rewrite its step, run it again */
  li s3, HI + 0x2000
  la t0, snippet
  la t1, snippet_end
  mv t2, s3
1: lhu t3, 0(t0)
  sh t3, 0(t2)
  addi t0, t0, 2
  addi t2, t2, 2
  bltu t0, t1, 1b
  fence.i
  li a1, 1000
  jalr s3
  CHECK(18, a0, 1000)
  /* the step is "addi a0, a0, 1" (4 bytes at offset 2, its immediate in the upper half): make it 2 */
  lhu t0, 4(s3)
  addi t0, t0, 0x10
  sh t0, 4(s3)
  fence.i
  jalr s3
  CHECK(19, a0, 1000)
  li a1, 1001
  jalr s3
  CHECK(20, a0, 1002)
  j pass

  .align 2
snippet:
  c.li a0, 0
  .option push
  .option norvc
2: addi a0, a0, 1
  blt a0, a1, 2b
  jalr x0, 0(ra)
  .option pop
snippet_end:
TEST_END
