/* NaN-boxing of singles in the 64-bit f registers (unprivileged spec 20191213, 12.2): flw, fmv.w.x and every
   single-precision result set the upper 32 bits to ones; a single operand whose upper 32 bits are not all ones
   reads as the canonical NaN; fsw and fmv.x.w move the low 32 bits as they are (fmv.x.w sign-extends them);
   loads and stores never change NaN payloads. */
#include "env.h"
#include "fp.h"


#define UNBOXED_ONE 0x000000003f800000
#define ONE_S       0xffffffff3f800000
#define CANON_S     0xffffffff7fc00000

TEST_BEGIN
  csrw fcsr, zero
  la a1, data

  /* flw boxes; fsw stores the low half even of a register that holds a double. */
  flw f1, 0(a1)
  CHECKF(2, f1, ONE_S)
  LDF(f2, 0x123456789abcdef0)
  fsw f2, 8(a1)
  li TESTNUM, 3
  ld t0, 8(a1); li t6, 0x000000009abcdef0; bne t0, t6, fail
  /* fmv.w.x boxes and ignores the upper half of the integer register. */
  li t0, 0xdeadbeef3f800000; fmv.w.x f3, t0
  CHECKF(4, f3, ONE_S)

  /* An unboxed operand is the canonical NaN... */
  LDF(f4, UNBOXED_ONE)
  fadd.s f5, f4, f1
  CHECKF(5, f5, CANON_S)
  CHECKFLAGS(6, 0)
  fmul.s f5, f1, f4
  CHECKF(7, f5, CANON_S)
  fmadd.s f5, f1, f1, f4
  CHECKF(8, f5, CANON_S)
  CHECKFLAGS(9, 0)
  /* ...for sign injection too: the result keeps the canonical NaN's magnitude. */
  LDF(f6, 0xffffffffbf800000)                       /* -1.0f */
  fsgnj.s f5, f4, f6
  CHECKF(10, f5, 0xffffffffffc00000)
  fsgnjx.s f5, f4, f6
  CHECKF(11, f5, 0xffffffffffc00000)
  fsgnjn.s f5, f6, f4                               /* sign of the canonical NaN (+) negated */
  CHECKF(12, f5, 0xffffffffbf800000)
  fsgnj.s f5, f6, f4
  CHECKF(13, f5, 0xffffffff3f800000)
  /* fclass, comparisons, min/max, conversions. */
  fclass.s a0, f4
  CHECKX(14, a0, 0x200)
  feq.s a0, f4, f4
  CHECKX(15, a0, 0)
  CHECKFLAGS(16, 0)                                 /* quiet comparison of a quiet NaN */
  flt.s a0, f4, f1
  CHECKX(17, a0, 0)
  CHECKFLAGS(18, 0x10)                              /* signalling comparison */
  fmin.s f5, f4, f1
  CHECKF(19, f5, ONE_S)
  fmax.s f5, f4, f4
  CHECKF(20, f5, CANON_S)
  CHECKFLAGS(21, 0)
  fcvt.d.s f5, f4
  CHECKF(22, f5, 0x7ff8000000000000)
  CHECKFLAGS(23, 0)
  fcvt.w.s a0, f4, rtz
  CHECKX(24, a0, 0x7fffffff)
  CHECKFLAGS(25, 0x10)
  /* A boxed single seen as a double is a (negative, quiet) NaN. */
  fadd.d f5, f1, f1
  CHECKF(26, f5, 0x7ff8000000000000)

  /* fmv.x.w takes the low half as it is, boxed or not, sign-extended. */
  LDF(f7, 0x00000000bf800000)
  fmv.x.w a0, f7
  CHECKX(27, a0, 0xffffffffbf800000)
  LDF(f7, 0x123456787fffffff)
  fmv.x.w a0, f7
  CHECKX(28, a0, 0x7fffffff)

  /* Single results are boxed. */
  fadd.s f5, f1, f1
  CHECKF(29, f5, 0xffffffff40000000)
  fcvt.s.d f5, f2
  li TESTNUM, 30
  fmv.x.d t0, f5; srli t0, t0, 32; li t6, 0xffffffff; bne t0, t6, fail
  CHECKFLAGS(38, 3)                                 /* that double was tiny: UF, NX */
  fcvt.s.w f5, zero
  CHECKF(31, f5, 0xffffffff00000000)

  /* Loads and stores keep signalling NaNs and payloads. */
  fld f8, 16(a1)
  CHECKF(32, f8, 0x7ff0000000000001)
  fsd f8, 24(a1)
  li TESTNUM, 33
  ld t0, 24(a1); li t6, 0x7ff0000000000001; bne t0, t6, fail
  flw f9, 32(a1)
  CHECKF(34, f9, 0xffffffff7f800001)
  fsw f9, 36(a1)
  li TESTNUM, 35
  lwu t0, 36(a1); li t6, 0x7f800001; bne t0, t6, fail
  fclass.s a0, f9
  CHECKX(36, a0, 0x100)
  CHECKFLAGS(37, 0)                                 /* nothing above raised a flag */
  j pass

  .data
  .align 3
data:
  .word 0x3f800000, 0          /* 0: 1.0f */
  .dword 0                     /* 8: fsw target */
  .dword 0x7ff0000000000001    /* 16: a signalling double NaN */
  .dword 0                     /* 24: fsd target */
  .word 0x7f800001             /* 32: a signalling single NaN */
  .word 0                      /* 36: fsw target */
  .text
TEST_END
