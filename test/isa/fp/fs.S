/* mstatus.FS (privileged spec 1.12, 3.1.6.6): while FS = Off every F/D instruction, loads and stores included,
   and every access to fcsr, fflags or frm is an illegal instruction (mcause 2, mtval = the instruction bits) that
   writes nothing; an instruction that writes the FP state makes FS Dirty, and SD reports it. Zfh's
   instructions follow the same rules. */
/* march: rv64gc_zicsr_zifencei_zfh */
#include "env.h"

#define FS_MASK (3 << 13)
#define SET_FS(v) li t0, FS_MASK; csrc mstatus, t0; li t0, ((v) << 13); csrs mstatus, t0;
/* FS must read v; SD (bit 63) must be set exactly when FS is Dirty. */
#define CHECK_FS(num, v)                                   \
  li TESTNUM, num;                                         \
  csrr t0, mstatus;                                        \
  srli t1, t0, 13; andi t1, t1, 3;                         \
  li t6, v; bne t1, t6, fail;                              \
  srli t1, t0, 63;                                         \
  li t6, (((v) >> 1) & (v) & 1); bne t1, t6, fail;

/* The handler leaves mcause in s10, mtval in s11 and skips the trapping (32-bit) instruction. */
#define EXPECT_ILLEGAL(num, ...)                           \
  li TESTNUM, num;                                         \
  li s10, -1; li s11, -1;                                  \
  la t4, 90f; lwu t3, 0(t4);                               \
90: __VA_ARGS__;                                           \
  li t6, 2; bne s10, t6, fail;                             \
  bne s11, t3, fail;
#define EXPECT_LEGAL(num, ...)                             \
  li TESTNUM, num;                                         \
  li s10, -1;                                              \
  __VA_ARGS__;                                             \
  li t6, -1; bne s10, t6, fail;

TEST_BEGIN
  .option norvc
  la t0, trap_handler; csrw mtvec, t0

  /* Put known values in the FP state while it is on. */
  SET_FS(1)
  li t0, 0x4000000000000000; fmv.d.x f1, t0       /* 2.0 */
  li t0, 0x3ff0000000000000; fmv.d.x f2, t0       /* 1.0 */
  li t0, 0x40; csrw fcsr, t0                      /* frm = RUP, no flags */

  /* FS = Off: everything FP traps and writes nothing. */
  SET_FS(0)
  CHECK_FS(2, 0)
  li a0, 0x55
  EXPECT_ILLEGAL(3, fadd.d f3, f1, f2)
  EXPECT_ILLEGAL(4, fmv.x.d a0, f1)
  li t6, 0x55; bne a0, t6, fail
  EXPECT_ILLEGAL(5, fmv.w.x f1, zero)
  EXPECT_ILLEGAL(6, fmadd.s f3, f1, f2, f1)
  EXPECT_ILLEGAL(7, fsgnj.d f3, f1, f2)
  EXPECT_ILLEGAL(8, feq.d a0, f1, f2)
  EXPECT_ILLEGAL(9, fclass.d a0, f1)
  EXPECT_ILLEGAL(10, fcvt.w.d a0, f1, rtz)
  EXPECT_ILLEGAL(11, fcvt.d.l f3, a0)
  EXPECT_ILLEGAL(12, fsqrt.s f3, f1)
  EXPECT_ILLEGAL(13, fmin.d f3, f1, f2)
  la a1, scratch
  EXPECT_ILLEGAL(14, fld f3, 0(a1))
  EXPECT_ILLEGAL(15, flw f3, 0(a1))
  EXPECT_ILLEGAL(16, fsd f1, 0(a1))
  EXPECT_ILLEGAL(17, fsw f1, 0(a1))
  EXPECT_ILLEGAL(18, csrr a0, fcsr)
  EXPECT_ILLEGAL(19, csrr a0, fflags)
  EXPECT_ILLEGAL(20, csrr a0, frm)
  EXPECT_ILLEGAL(21, csrw fflags, zero)
  EXPECT_ILLEGAL(22, csrwi frm, 1)
  EXPECT_ILLEGAL(23, csrs fcsr, a1)
  li t6, 0x55; bne a0, t6, fail
  /* The store wrote nothing. */
  li TESTNUM, 24
  ld t0, 0(a1); bnez t0, fail
  CHECK_FS(25, 0)

  /* Back on: the registers and fcsr kept their values. */
  SET_FS(1)
  li TESTNUM, 26
  fmv.x.d t0, f1; li t6, 0x4000000000000000; bne t0, t6, fail
  csrr t0, fcsr; li t6, 0x40; bne t0, t6, fail

  /* Initial -> Dirty on an arithmetic result, with SD. */
  SET_FS(1)
  CHECK_FS(27, 1)
  EXPECT_LEGAL(28, fadd.d f3, f1, f2)
  CHECK_FS(29, 3)
  /* Clean -> Dirty on a move into an f register. */
  SET_FS(2)
  CHECK_FS(30, 2)
  EXPECT_LEGAL(31, fmv.w.x f4, a0)
  CHECK_FS(32, 3)
  /* Clean -> Dirty on a load. */
  SET_FS(2)
  EXPECT_LEGAL(33, fld f4, 0(a1))
  CHECK_FS(34, 3)
  /* Initial -> Dirty on a write of fflags. */
  SET_FS(1)
  EXPECT_LEGAL(35, csrwi fflags, 1)
  CHECK_FS(36, 3)
  /* Clean -> Dirty on a fused multiply-add and a conversion. */
  SET_FS(2)
  EXPECT_LEGAL(37, fmadd.d f5, f1, f2, f1)
  CHECK_FS(38, 3)
  SET_FS(2)
  EXPECT_LEGAL(39, fcvt.s.l f5, a0)
  CHECK_FS(40, 3)
  /* A store reads the FP state only: legal in every state but Off. */
  SET_FS(2)
  EXPECT_LEGAL(41, fsd f1, 0(a1))
  li TESTNUM, 42
  ld t0, 0(a1); li t6, 0x4000000000000000; bne t0, t6, fail

  /* Zfh, FS = Off: illegal, nothing written (Zfa's fli is in zfa-bonsai.S: QEMU 7.2 lacks Zfa). */
  SET_FS(0)
  EXPECT_ILLEGAL(43, flh f3, 0(a1))
  EXPECT_ILLEGAL(44, fsh f2, 0(a1))
  EXPECT_ILLEGAL(45, fadd.h f3, f1, f2)
  EXPECT_ILLEGAL(46, fmv.h.x f3, a0)
  EXPECT_ILLEGAL(47, fcvt.s.h f3, f1)
  li TESTNUM, 49
  ld t0, 0(a1); li t6, 0x4000000000000000; bne t0, t6, fail
  /* ...and Clean -> Dirty when on. */
  SET_FS(2)
  EXPECT_LEGAL(50, flh f4, 0(a1))
  CHECK_FS(51, 3)
  j pass

  .option push; .option rvc; .balign 4; .option pop
trap_handler:
  csrr s10, mcause
  csrr s11, mtval
  csrr t5, mepc
  addi t5, t5, 4
  csrw mepc, t5
  mret

  .data
  .align 3
scratch: .dword 0
  .text
TEST_END
