/* Zfhmin and Zfh (half precision): flh/fsh and fmv.h.x box halves (upper 48 bits ones), fsh and fmv.x.h move
   the low 16 bits as they are (fmv.x.h sign-extends them), a half operand that is not NaN-boxed reads as the
   canonical NaN 0x7e00, conversions between formats, rounding in the static modes with exact flags,
   tininess after rounding, and the special cases of arithmetic and comparisons. */
/* march: rv64gc_zicsr_zifencei_zfh */
#include "env.h"
#include "fp.h"

#define H(bits)  (0xffffffffffff0000 | (bits))
#define ONE_H    H(0x3c00)
#define CANON_H  H(0x7e00)

TEST_BEGIN
  csrw fcsr, zero
  la a1, data

  /* flh boxes; fsh stores the low 16 bits of whatever the register holds, and nothing around them. */
  flh f1, 0(a1)
  CHECKF(2, f1, ONE_H)
  LDF(f2, 0x123456789abcdef0)
  fsh f2, 10(a1)
  li TESTNUM, 3
  ld t0, 8(a1); li t6, 0x11111111def01111; bne t0, t6, fail
  flh f3, 10(a1)
  CHECKF(4, f3, H(0xdef0))
  /* fmv.h.x boxes and ignores the upper bits; fmv.x.h sign-extends the low 16 bits, boxed or not. */
  li t0, 0xdeadbeef12343c00; fmv.h.x f4, t0
  CHECKF(5, f4, ONE_H)
  LDF(f5, 0x000000000000bc00)
  fmv.x.h a0, f5
  CHECKX(6, a0, 0xffffffffffffbc00)
  CHECKFLAGS(7, 0)

  /* A half boxed only as a single is not a half: the canonical NaN, quietly. */
  LDF(f6, 0xffffffff00003c00)
  fadd.h f7, f6, f1
  CHECKF(8, f7, CANON_H)
  CHECKFLAGS(9, 0)
  fclass.h a0, f6
  CHECKX(10, a0, 0x200)
  fsgnjn.h f7, f1, f6                    /* sign of the canonical NaN (+) negated */
  CHECKF(11, f7, H(0xbc00))
  fcvt.s.h f7, f6
  CHECKF(12, f7, 0xffffffff7fc00000)
  CHECKFLAGS(13, 0)

  /* Conversions between formats. */
  fcvt.s.h f7, f1
  CHECKF(14, f7, 0xffffffff3f800000)
  LDF(f8, H(0xc000))                     /* -2.0 */
  fcvt.d.h f7, f8
  CHECKF(15, f7, 0xc000000000000000)
  LDF(f8, H(0x7c01))                     /* a signalling NaN */
  fcvt.s.h f7, f8
  CHECKF(16, f7, 0xffffffff7fc00000)
  CHECKFLAGS(17, 0x10)
  LDF(f8, 0xffffffff477ff000)            /* 65520.0f: halfway above the largest half */
  fcvt.h.s f7, f8, rne
  CHECKF(18, f7, H(0x7c00))
  CHECKFLAGS(19, 0x05)
  fcvt.h.s f7, f8, rtz                   /* truncated to 11 bits it is 65504: inexact, no overflow */
  CHECKF(20, f7, H(0x7bff))
  CHECKFLAGS(21, 0x01)
  LDF(f8, 0xffffffff387ff800)            /* 2^-14 - 2^-27: rounds to 2^-14, not tiny after rounding */
  fcvt.h.s f7, f8, rne
  CHECKF(22, f7, H(0x0400))
  CHECKFLAGS(23, 0x01)
  LDF(f8, 0x3f0ffc0000000000)            /* 2^-14 - 2^-25 as a double: rounds to 2^-14 but tiny: UF */
  fcvt.h.d f7, f8, rne
  CHECKF(24, f7, H(0x0400))
  CHECKFLAGS(25, 0x03)
  fcvt.h.d f7, f8, rdn
  CHECKF(26, f7, H(0x03ff))
  CHECKFLAGS(27, 0x03)

  /* Rounding of sums and products. */
  LDF(f9, H(0x1000))                     /* 2^-11: half an ulp of 1.0 */
  fadd.h f7, f1, f9, rne
  CHECKF(28, f7, ONE_H)
  CHECKFLAGS(29, 0x01)
  fadd.h f7, f1, f9, rup
  CHECKF(30, f7, H(0x3c01))
  CHECKFLAGS(31, 0x01)
  fsub.h f7, f1, f1, rdn                 /* an exact zero difference is -0 when rounding down */
  CHECKF(32, f7, H(0x8000))
  LDF(f10, H(0x0400))
  LDF(f11, H(0x3bff))                    /* 1 - 2^-11 */
  fmul.h f7, f10, f11, rne               /* 2^-14 - 2^-25: tie to even at the subnormal quantum */
  CHECKF(33, f7, H(0x0400))
  CHECKFLAGS(34, 0x03)
  LDF(f12, H(0x0001))                    /* 2^-24 */
  fmadd.h f7, f1, f1, f12, rne           /* 1 + 2^-24, one rounding */
  CHECKF(35, f7, ONE_H)
  CHECKFLAGS(36, 0x01)
  fmadd.h f7, f1, f1, f12, rup
  CHECKF(37, f7, H(0x3c01))
  CHECKFLAGS(38, 0x01)
  fnmsub.h f7, f1, f1, f12, rtz          /* -(1*1) + 2^-24 toward zero */
  CHECKF(39, f7, H(0xbbff))
  CHECKFLAGS(40, 0x01)

  /* Special cases. */
  fmv.h.x f13, zero
  fdiv.h f7, f1, f13
  CHECKF(41, f7, H(0x7c00))
  CHECKFLAGS(42, 0x08)
  LDF(f14, H(0xbc00))
  fsqrt.h f7, f14
  CHECKF(43, f7, CANON_H)
  CHECKFLAGS(44, 0x10)
  LDF(f15, H(0x7c01))
  fmin.h f7, f15, f1
  CHECKF(45, f7, ONE_H)
  CHECKFLAGS(46, 0x10)
  LDF(f16, H(0x7e00))
  feq.h a0, f16, f1
  CHECKX(47, a0, 0)
  CHECKFLAGS(48, 0)
  flt.h a0, f16, f1
  CHECKX(49, a0, 0)
  CHECKFLAGS(50, 0x10)
  fle.h a0, f13, f1
  CHECKX(51, a0, 1)

  /* Integers. */
  LDF(f17, H(0x7bff))                    /* 65504 */
  fcvt.w.h a0, f17, rtz
  CHECKX(52, a0, 65504)
  fcvt.wu.h a0, f14, rtz                 /* -1 */
  CHECKX(53, a0, 0)
  CHECKFLAGS(54, 0x10)
  li t0, 2049
  fcvt.h.w f7, t0, rne                   /* halfway between 2048 and 2050: to even */
  CHECKF(55, f7, H(0x6800))
  CHECKFLAGS(56, 0x01)
  li t0, 0x0020000000000001
  fcvt.h.l f7, t0, rup
  CHECKF(57, f7, H(0x7c00))
  CHECKFLAGS(58, 0x05)
  li t0, -3
  fcvt.h.lu f7, t0, rtz                  /* 2^64 - 3 overflows toward zero to the largest half */
  CHECKF(59, f7, H(0x7bff))
  CHECKFLAGS(60, 0x05)
  LDF(f18, H(0xb800))                    /* -0.5 */
  fcvt.l.h a0, f18, rmm
  CHECKX(61, a0, -1)
  CHECKFLAGS(62, 0x01)
  j pass

  .data
  .align 3
data:
  .half 0x3c00, 0, 0, 0
  .dword 0x1111111111111111
  .text
TEST_END
