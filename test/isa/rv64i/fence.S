/*
 * FENCE and FENCE.I (Zifencei), and self-modifying code:
 *  - every fence form runs as an ordering no-op, including the reserved rd/rs1 fields, which a base
 *    implementation must ignore (unprivileged spec 2.7, and Zifencei for fence.i's imm/rs1/rd);
 *  - code already executed, then overwritten and fenced with fence.i, runs in its new form: a called
 *    routine, a routine called from a hot loop, the instruction right after the fence.i in the same
 *    straight-line run, an instruction inside a loop that rewrites itself on every iteration, and
 *    code patched by byte and halfword stores;
 *  - a routine copied to RAM that never held code, then fence.i, then called.
 * Instruction words to store come from templates assembled in .data; only the fence/fence.i words with
 * reserved fields set, pause, and the addi base word of the self-rewriting loop are encoded by hand.
 */
#include "env.h"
#include "rv64i/macros.h"
TEST_BEGIN
  .option norvc

  /* fences of every predecessor/successor shape, fence.tso, and pause (fence w,0) */
  li a0, 77
  fence
  fence rw, rw
  fence r, r
  fence w, w
  fence iorw, iorw
  fence i, o
  fence o, i
  fence r, w
  fence.tso
  .word 0x0100000f          /* pause */
  fence.i
  CHECK(2, a0, 77)
  /* reserved rd/rs1 fields set: ignored, and rd (a0) not written */
  li a1, 0x1000
  .word 0x0ff5850f          /* fence iorw, iorw with rd = a0, rs1 = a1 */
  CHECK(3, a0, 77)
  .word 0x7ff5950f          /* fence.i with rd = a0, rs1 = a1, imm = 0x7ff */
  CHECK(4, a0, 77)
  /* a fence between a store and a load to the same place changes nothing */
  la a1, scratch
  li a2, 0x1234
  sd a2, 0(a1)
  fence w, r
  ld a0, 0(a1)
  CHECK(5, a0, 0x1234)

  /* 1. a routine runs, is patched, fence.i, runs patched */
  call smc_fn
  CHECK(6, a0, 1)
  la a1, smc_fn
  lw t0, tmpl_li2
  sw t0, 0(a1)
  fence.i
  call smc_fn
  CHECK(7, a0, 2)
  /* patch it back through the other template */
  lw t0, tmpl_li1
  sw t0, 0(a1)
  fence.i
  call smc_fn
  CHECK(8, a0, 1)

  /* 2. hot: called 200 times, patched, called 200 more times */
  li s0, 200
  li s1, 0
1: call smc_fn
  add s1, s1, a0
  addi s0, s0, -1
  bnez s0, 1b
  CHECK(9, s1, 200)
  la a1, smc_fn
  lw t0, tmpl_li2
  sw t0, 0(a1)
  fence.i
  li s0, 200
  li s1, 0
1: call smc_fn
  add s1, s1, a0
  addi s0, s0, -1
  bnez s0, 1b
  CHECK(10, s1, 400)

  /* 3. the instruction right after the fence.i, in the same straight-line run, twice (the second time the
     run has been executed before in its patched form) */
  li s0, 2
2: la a1, 1f
  lw t0, tmpl_li2
  sw t0, 0(a1)
  fence.i
1: li a0, 5                 /* becomes li a0, 2 */
  CHECK(11, a0, 2)
  lw t0, tmpl_li5
  sw t0, 0(a1)
  fence.i
  addi s0, s0, -1
  bnez s0, 2b

  /* 4. a loop that rewrites the immediate of its own addi each iteration: iteration i (1..50) adds i; the
     whole loop runs twice, the second time over code left patched by the first */
  li s3, 2
5: li s0, 1
  li a0, 0
  la s1, 3f
  li s2, 0x00050513         /* addi a0, a0, 0 */
1: slli t0, s0, 20
  or t0, t0, s2
  sw t0, 0(s1)
  fence.i
3: addi a0, a0, 0
  addi s0, s0, 1
  li t0, 51
  bne s0, t0, 1b
  CHECK(12, a0, 1275)
  addi s3, s3, -1
  bnez s3, 5b

  /* 5. byte and halfword stores into an instruction that already ran: change addi's immediate from
     1 to 0x7f0 via two sb, then via sh */
  call smc_byte
  CHECK(14, a0, 1)
  la a1, smc_byte
  lw t0, tmpl_li7f0
  srli t1, t0, 24
  sb t1, 3(a1)
  srli t1, t0, 16
  sb t1, 2(a1)
  fence.i
  call smc_byte
  CHECK(15, a0, 0x7f0)
  lw t0, tmpl_li1
  srli t1, t0, 16
  sh t1, 2(a1)
  fence.i
  call smc_byte
  CHECK(16, a0, 1)

  /* 6. a routine copied into RAM that never held code (.bss), then called */
  la a1, tmpl_fn
  la a2, ram_code
  la a3, tmpl_fn_end
1: lw t0, 0(a1)
  sw t0, 0(a2)
  addi a1, a1, 4
  addi a2, a2, 4
  bltu a1, a3, 1b
  fence.i
  li a0, 20
  la t1, ram_code
  jalr ra, 0(t1)
  CHECK(17, a0, 0x1a4)      /* (20 + 1) * 20 */
  /* rewrite the copy's multiplier addi and call it again */
  la a2, ram_code
  lw t0, tmpl_fn_alt
  sw t0, 4(a2)
  fence.i
  li a0, 20
  jalr ra, 0(t1)
  CHECK(18, a0, 460)        /* (20 + 3) * 20 */

  j pass

  .align 3
smc_fn:
  li a0, 1
  ret
smc_byte:
  li a0, 1
  ret
TEST_END

  .data
  .align 2
tmpl_li1: li a0, 1
tmpl_li2: li a0, 2
tmpl_li5: li a0, 5
tmpl_li7f0: li a0, 0x7f0
  /* a0 = (a0 + 1) * a0, computed by repeated addition: a leaf routine with a loop */
tmpl_fn:
  mv t2, a0
  addi t3, a0, 1
  li a0, 0
1: add a0, a0, t2
  addi t3, t3, -1
  bnez t3, 1b
  ret
tmpl_fn_end:
tmpl_fn_alt:
  addi t3, a0, 3
  .align 3
scratch: .dword 0
  .bss
  .align 3
ram_code: .space 64
