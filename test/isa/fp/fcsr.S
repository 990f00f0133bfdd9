/* fcsr, frm and fflags (unprivileged spec 20191213, 11.2): fflags is fcsr[4:0], frm is fcsr[7:5], fcsr[31:8]
   reads as zero; flags accrue (are ORed) until software clears them. A reserved rounding mode (5, 6 in the
   instruction, or 5-7 in frm when the instruction says dynamic) makes the instruction illegal, as soon as it is
   executed with that mode; instructions without a rounding-mode field do not care what frm holds. */
#include "env.h"

#define CHECK_CSR(num, csr, expected) li TESTNUM, num; csrr t0, csr; li t6, expected; bne t0, t6, fail;
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

  /* Aliasing. */
  li t0, -1; csrw fcsr, t0
  CHECK_CSR(2, fcsr, 0xff)
  CHECK_CSR(3, fflags, 0x1f)
  CHECK_CSR(4, frm, 7)
  csrwi frm, 3
  CHECK_CSR(5, fcsr, 0x7f)
  CHECK_CSR(6, fflags, 0x1f)
  li t0, -1; csrw fflags, zero; csrw frm, t0
  CHECK_CSR(7, frm, 7)
  CHECK_CSR(8, fcsr, 0xe0)
  li t0, 0x1234; csrw fflags, t0
  CHECK_CSR(9, fflags, 0x14)
  CHECK_CSR(10, fcsr, 0xf4)
  /* csrrw returns the old value; csrrs/csrrc on the aliases touch their own field only. */
  li TESTNUM, 11
  li t0, 0x21; csrrw t1, fcsr, t0
  li t6, 0xf4; bne t1, t6, fail
  csrrsi t1, fflags, 0x6
  li t6, 0x1; bne t1, t6, fail
  CHECK_CSR(12, fcsr, 0x27)
  csrrci t1, frm, 1
  li t6, 1; bne t1, t6, fail
  CHECK_CSR(13, fcsr, 0x07)
  csrrsi t1, frm, 4
  CHECK_CSR(14, fcsr, 0x87)
  li t2, 0x21; csrrc t1, fcsr, t2
  CHECK_CSR(15, fcsr, 0x86)

  /* Flags accrue: DZ from 1/0, then NX from 1/3, then NV from sqrt(-1), then OF|NX; nothing clears them. */
  csrw fcsr, zero
  li t0, 0x3ff0000000000000; fmv.d.x f1, t0          /* 1.0 */
  fmv.d.x f2, zero                                    /* 0.0 */
  li t0, 0x4008000000000000; fmv.d.x f3, t0          /* 3.0 */
  li t0, 0xbff0000000000000; fmv.d.x f4, t0          /* -1.0 */
  li t0, 0x7fefffffffffffff; fmv.d.x f5, t0          /* DBL_MAX */
  fdiv.d f6, f1, f2
  CHECK_CSR(16, fflags, 0x08)
  fdiv.d f6, f1, f3
  CHECK_CSR(17, fflags, 0x09)
  fsqrt.d f6, f4
  CHECK_CSR(18, fflags, 0x19)
  fmul.d f6, f5, f5
  CHECK_CSR(19, fflags, 0x1d)
  fadd.d f6, f1, f1                                   /* exact: adds nothing */
  CHECK_CSR(20, fflags, 0x1d)
  CHECK_CSR(21, fcsr, 0x1d)

  /* The dynamic rounding mode: 1/3 rounded down and up differ in the last bit. */
  csrw fflags, zero
  csrwi frm, 2                                         /* RDN */
  fdiv.d f6, f1, f3
  fmv.x.d t0, f6
  li TESTNUM, 22; li t6, 0x3fd5555555555555; bne t0, t6, fail
  csrwi frm, 3                                         /* RUP */
  fdiv.d f6, f1, f3
  fmv.x.d t0, f6
  li TESTNUM, 23; li t6, 0x3fd5555555555556; bne t0, t6, fail
  /* A static mode wins over frm. */
  fdiv.d f6, f1, f3, rdn
  fmv.x.d t0, f6
  li TESTNUM, 24; li t6, 0x3fd5555555555555; bne t0, t6, fail

  /* Reserved rounding modes. */
  fmv.d.x f7, zero
  csrw fflags, zero
  csrwi frm, 5
  EXPECT_ILLEGAL(25, fdiv.d f7, f1, f3)
  EXPECT_ILLEGAL(26, fmadd.s f7, f1, f3, f1)
  EXPECT_ILLEGAL(27, fcvt.w.d a0, f1)
  EXPECT_ILLEGAL(28, fsqrt.d f7, f1)
  csrwi frm, 6
  EXPECT_ILLEGAL(29, fmul.s f7, f1, f3)
  EXPECT_ILLEGAL(30, fcvt.s.d f7, f1)
  csrwi frm, 7
  EXPECT_ILLEGAL(31, fdiv.d f7, f1, f3)
  EXPECT_ILLEGAL(32, fcvt.d.l f7, a0)
  /* Nothing was written by the illegal ones. */
  li TESTNUM, 33
  fmv.x.d t0, f7; bnez t0, fail
  CHECK_CSR(34, fflags, 0)
  /* With frm reserved, static modes and instructions without a mode still work. */
  EXPECT_LEGAL(35, fadd.d f7, f1, f3, rne)
  EXPECT_LEGAL(36, fsgnjn.d f7, f1, f3)
  EXPECT_LEGAL(37, fmin.d f7, f1, f3)
  EXPECT_LEGAL(38, feq.d a0, f1, f3)
  EXPECT_LEGAL(39, fclass.d a0, f1)
  EXPECT_LEGAL(40, fmv.x.d a0, f1)
  EXPECT_LEGAL(41, fcvt.w.d a0, f3, rtz)
  li TESTNUM, 42; li t6, 3; bne a0, t6, fail
  /* rm = 5 and 6 in the instruction itself are reserved whatever frm says. */
  csrwi frm, 0
  EXPECT_ILLEGAL(43, .insn r 0x53, 5, 0x01, f7, f1, f3)   /* fadd.d rm=5 */
  EXPECT_ILLEGAL(44, .insn r 0x53, 6, 0x09, f7, f1, f3)   /* fmul.d rm=6 */
  EXPECT_ILLEGAL(45, .insn r4 0x43, 5, 1, f7, f1, f3, f1) /* fmadd.d rm=5 */
  EXPECT_ILLEGAL(46, .insn r 0x53, 6, 0x61, a0, f1, x0)   /* fcvt.w.d rm=6 */
  /* So are the quad format (fmt 3), reserved modes of half precision (Zfh) and unassigned encodings. */
  EXPECT_ILLEGAL(47, .insn r 0x53, 5, 0x02, f7, f1, f3)   /* fadd.h rm=5 */
  EXPECT_ILLEGAL(48, .insn r 0x53, 0, 0x03, f7, f1, f3)   /* fadd.q */
  EXPECT_ILLEGAL(49, .insn r 0x53, 0, 0x2d, f7, f1, f3)   /* fsqrt.d with rs2 != 0 */
  EXPECT_ILLEGAL(50, .insn r 0x53, 3, 0x11, f7, f1, f3)   /* fsgnj.d funct3 = 3 */
  EXPECT_ILLEGAL(51, .insn r 0x53, 0, 0x61, a0, f1, x4)   /* fcvt.?.d rs2 = 4 */
  li TESTNUM, 52
  fmv.x.d t0, f7; li t6, 0x3ff0000000000000; bne t0, t6, fail /* still fmin's result */
  j pass

  .option push; .option rvc; .balign 4; .option pop
trap_handler:
  csrr s10, mcause
  csrr s11, mtval
  csrr t5, mepc
  addi t5, t5, 4
  csrw mepc, t5
  mret
TEST_END
