/* Zfa (additional floating-point instructions) for S, D and H: fli's 32 constants per format, fminm/fmaxm
   (a NaN operand gives the canonical NaN), fround (no inexact) and froundnx in the static modes, fcvtmod.w.d
   (truncation modulo 2^32, NV out of range), the quiet comparisons fleq/fltq; fmvh.x.d and fmvp.d.x are
   RV32-only and stay illegal on RV64, as does fcvtmod.w.d with any mode but rtz.
   -bonsai: QEMU 7.2 predates Zfa. binutils 2.40 does not know it either, so the instructions are .insn. */
/* march: rv64gc_zicsr_zifencei_zfh */
#include "env.h"
#include "fp.h"

/* The handler leaves mcause in s10 and skips the (32-bit) instruction. */
#define EXPECT_ILLEGAL(num, ...) li TESTNUM, num; li s10, -1; __VA_ARGS__; li t6, 2; bne s10, t6, fail;

/* fmt: 0 S, 1 D, 2 H. rs1 of fli is the index, written as x<index>. */
#define FLI(fmt, rd, idx)          .insn r 0x53, 0, 0x78 | (fmt), rd, x##idx, x1
#define FMINM(fmt, rd, a, b)       .insn r 0x53, 2, 0x14 | (fmt), rd, a, b
#define FMAXM(fmt, rd, a, b)       .insn r 0x53, 3, 0x14 | (fmt), rd, a, b
#define FROUND(fmt, rm, rd, a)     .insn r 0x53, rm, 0x20 | (fmt), rd, a, x4
#define FROUNDNX(fmt, rm, rd, a)   .insn r 0x53, rm, 0x20 | (fmt), rd, a, x5
#define FCVTMOD(rm, rd, a)         .insn r 0x53, rm, 0x61, rd, a, x8
#define FLEQ(fmt, rd, a, b)        .insn r 0x53, 4, 0x50 | (fmt), rd, a, b
#define FLTQ(fmt, rd, a, b)        .insn r 0x53, 5, 0x50 | (fmt), rd, a, b
#define RNE 0
#define RTZ 1
#define RDN 2
#define RUP 3
#define RMM 4
#define H(bits)  (0xffffffffffff0000 | (bits))
#define S(bits)  (0xffffffff00000000 | (bits))

TEST_BEGIN
  .option norvc
  la t0, trap_handler; csrw mtvec, t0
  csrw fcsr, zero

  /* fli: the format's smallest normal at index 1, 2^16 is +inf as a half, 31 is the canonical NaN. */
  FLI(0, f1, 0)
  CHECKF(2, f1, S(0xbf800000))
  FLI(0, f1, 1)
  CHECKF(3, f1, S(0x00800000))
  FLI(0, f1, 31)
  CHECKF(4, f1, S(0x7fc00000))
  FLI(1, f1, 1)
  CHECKF(5, f1, 0x0010000000000000)
  FLI(1, f1, 29)
  CHECKF(6, f1, 0x40f0000000000000)
  FLI(1, f1, 31)
  CHECKF(7, f1, 0x7ff8000000000000)
  FLI(2, f1, 29)
  CHECKF(8, f1, H(0x7c00))
  FLI(2, f1, 2)
  CHECKF(9, f1, H(0x0100))
  FLI(2, f1, 9)
  CHECKF(10, f1, H(0x3500))
  FLI(1, f1, 16)
  CHECKF(11, f1, 0x3ff0000000000000)
  CHECKFLAGS(12, 0)

  /* fminm/fmaxm: NaNs propagate (canonical), -0 < +0. */
  LDF(f2, 0x7ff8000000000000)
  LDF(f3, 0x3ff0000000000000)
  FMINM(1, f4, f2, f3)
  CHECKF(13, f4, 0x7ff8000000000000)
  CHECKFLAGS(14, 0)
  fmin.d f4, f2, f3
  CHECKF(15, f4, 0x3ff0000000000000)
  LDF(f5, S(0x80000000))
  LDF(f6, S(0x00000000))
  FMAXM(0, f4, f5, f6)
  CHECKF(16, f4, S(0x00000000))
  FMINM(0, f4, f6, f5)
  CHECKF(17, f4, S(0x80000000))
  LDF(f7, H(0x7c01))
  LDF(f8, H(0x3c00))
  FMINM(2, f4, f7, f8)
  CHECKF(18, f4, H(0x7e00))
  CHECKFLAGS(19, 0x10)

  /* fround never reports inexact; froundnx does; integral results keep the operand's sign. */
  LDF(f9, 0x4004000000000000)            /* 2.5 */
  FROUND(1, RNE, f4, f9)
  CHECKF(20, f4, 0x4000000000000000)
  CHECKFLAGS(21, 0)
  FROUNDNX(1, RNE, f4, f9)
  CHECKF(22, f4, 0x4000000000000000)
  CHECKFLAGS(23, 0x01)
  FROUNDNX(1, RMM, f4, f9)
  CHECKF(24, f4, 0x4008000000000000)
  CHECKFLAGS(24, 0x01)
  LDF(f10, 0xbfe0000000000000)           /* -0.5 */
  FROUND(1, RUP, f4, f10)
  CHECKF(25, f4, 0x8000000000000000)
  CHECKFLAGS(26, 0)
  LDF(f11, S(0x3fc00000))                /* 1.5f */
  FROUNDNX(0, RTZ, f4, f11)
  CHECKF(27, f4, S(0x3f800000))
  CHECKFLAGS(28, 0x01)
  LDF(f12, H(0x4100))                    /* 2.5 */
  FROUND(2, RDN, f4, f12)
  CHECKF(29, f4, H(0x4000))
  LDF(f13, H(0x4200))                    /* 3.0 */
  FROUNDNX(2, RNE, f4, f13)
  CHECKF(30, f4, H(0x4200))
  CHECKFLAGS(31, 0)
  LDF(f14, 0x7ff4000000000000)           /* a signalling NaN */
  FROUND(1, RNE, f4, f14)
  CHECKF(32, f4, 0x7ff8000000000000)
  CHECKFLAGS(33, 0x10)
  LDF(f15, 0x43b0000000000001)           /* integral already (above 2^53) */
  FROUNDNX(1, RNE, f4, f15)
  CHECKF(34, f4, 0x43b0000000000001)
  CHECKFLAGS(35, 0)

  /* fcvtmod.w.d: the low 32 bits of the truncated integer, sign-extended. */
  LDF(f16, 0x41f0000000580000)           /* 2^32 + 5.5 */
  FCVTMOD(RTZ, a0, f16)
  CHECKX(36, a0, 5)
  CHECKFLAGS(37, 0x10)                   /* out of range: NV, not NX */
  LDF(f16, 0xbff8000000000000)           /* -1.5 */
  FCVTMOD(RTZ, a0, f16)
  CHECKX(38, a0, -1)
  CHECKFLAGS(39, 0x01)
  LDF(f16, 0x41e65a0bc0000000)           /* 3e9 */
  FCVTMOD(RTZ, a0, f16)
  CHECKX(40, a0, -1294967296)
  CHECKFLAGS(41, 0x10)
  LDF(f16, 0x7ff0000000000000)           /* +inf: 0 */
  FCVTMOD(RTZ, a0, f16)
  CHECKX(42, a0, 0)
  CHECKFLAGS(43, 0x10)
  LDF(f16, 0x452fffffffffffff)           /* (2^53 - 1) * 2^31 */
  FCVTMOD(RTZ, a0, f16)
  CHECKX(44, a0, 0xffffffff80000000)
  CHECKFLAGS(45, 0x10)
  LDF(f16, 0xc1e0000000100000)           /* -2147483648.5: in range once truncated */
  FCVTMOD(RTZ, a0, f16)
  CHECKX(46, a0, 0xffffffff80000000)
  CHECKFLAGS(47, 0x01)

  /* fleq/fltq: quiet (NV for signalling NaNs only), unlike fle/flt. */
  FLEQ(1, a0, f2, f3)
  CHECKX(48, a0, 0)
  CHECKFLAGS(49, 0)
  fle.d a0, f2, f3
  CHECKFLAGS(50, 0x10)
  LDF(f17, S(0x40000000))
  FLTQ(0, a0, f11, f17)
  CHECKX(51, a0, 1)
  FLTQ(0, a0, f17, f17)
  CHECKX(52, a0, 0)
  FLEQ(0, a0, f17, f17)
  CHECKX(53, a0, 1)
  FLEQ(2, a0, f7, f8)
  CHECKX(54, a0, 0)
  CHECKFLAGS(55, 0x10)

  /* Illegal on RV64: fmvh.x.d, fmvp.d.x; fcvtmod.w.d in any mode but rtz; fli with funct3 != 0. */
  EXPECT_ILLEGAL(56, .insn r 0x53, 0, 0x71, a0, f3, x1)
  EXPECT_ILLEGAL(57, .insn r 0x53, 0, 0x59, f4, a0, a1)
  EXPECT_ILLEGAL(58, FCVTMOD(RNE, a0, f16))
  EXPECT_ILLEGAL(59, FCVTMOD(7, a0, f16))
  EXPECT_ILLEGAL(60, .insn r 0x53, 1, 0x78, f1, x1, x1)
  /* FS = Off: fli is illegal too. */
  li t0, (3 << 13); csrc mstatus, t0
  EXPECT_ILLEGAL(61, FLI(0, f1, 16))
  li t0, (1 << 13); csrs mstatus, t0
  CHECKF(62, f1, 0x3ff0000000000000)     /* unchanged since case 11 */
  j pass

  .balign 4
trap_handler:
  csrr s10, mcause
  csrr t5, mepc
  addi t5, t5, 4
  csrw mepc, t5
  mret
TEST_END
