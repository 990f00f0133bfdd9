/*
 * Zcb (1.0.0): every instruction, at pc = 0 and 2 mod 4. c.lbu/c.lhu/c.lh at each offset they encode
 * (zero- and sign-extension), c.sb/c.sh at each offset (only the addressed bytes change), c.zext.b/c.sext.b/
 * c.zext.h/c.sext.h/c.zext.w/c.not on values whose upper bits must go, c.mul (low 64 bits), and the
 * reserved encodings beside them (c.sh with bit 6 set, quadrant 0 funct3 100 with bits 12:10 = 1xx,
 * quadrant 1 100 1 11 11 110/111), which stay illegal-instruction traps with mtval = the halfword.
 * binutils 2.40 lacks Zcb: the instructions are .half encodings from insn.h (checked against the spec's
 * tables by hand). QEMU 7.2 lacks Zcb.
 */
/* march: rv64gc_zicsr_zifencei_zba_zbb */
#include "env.h"
#include "insn.h"
#include "rv64i/macros.h"
#define S0 8
#define S1 9
#define A0 10
#define A1 11
#define A2 12
#define A3 13
#define A4 14
#define A5 15
TEST_BEGIN
  .option rvc
  TRAP_INIT
  la s1, zdata

  /* loads: zdata = 81 f2 63 84 ... */
  C_LBU(A0, S1, 0); CHECK(2, a0, 0x81)
  C_LBU(A1, S1, 1); CHECK(3, a1, 0xf2)
  C_LBU(S0, S1, 2); CHECK(4, s0, 0x63)
  c.nop
  C_LBU(A5, S1, 3); CHECK(5, a5, 0x84)
  C_LHU(A0, S1, 0); CHECK(6, a0, 0xf281)
  C_LHU(A2, S1, 2); CHECK(7, a2, 0x8463)
  C_LH(A0, S1, 0);  CHECK(8, a0, 0xfffffffffffff281)
  c.nop
  C_LH(A3, S1, 2);  CHECK(9, a3, 0xffffffffffff8463)
  addi a4, s1, 4
  C_LH(A4, A4, 2);  CHECK(10, a4, 0x0000000000007f15)   /* rd = rs1 */
  addi a4, s1, 4
  C_LHU(A4, A4, 0); CHECK(11, a4, 0x7a00)

  /* stores: zbuf starts as 16 zero bytes */
  la s0, zbuf
  li a0, 0x1122334455667788
  C_SB(A0, S0, 0)
  ld a1, 0(s0); CHECK(12, a1, 0x88)
  C_SB(A0, S0, 3)
  c.nop
  ld a1, 0(s0); CHECK(13, a1, 0x88000088)
  li a0, -2
  C_SB(A0, S0, 1)
  C_SB(A0, S0, 2)
  ld a1, 0(s0); CHECK(14, a1, 0x88fefe88)
  li a2, 0x7fffabcd
  addi a3, s0, 8
  C_SH(A2, A3, 0)
  ld a1, 8(s0); CHECK(15, a1, 0xabcd)
  C_SH(A2, A3, 2)
  ld a1, 8(s0); CHECK(16, a1, 0xabcdabcd)
  ld a1, 0(s0); CHECK(17, a1, 0x88fefe88)

  /* unary operations */
  li a0, 0x123456789abcdef0
  C_ZEXT_B(A0); CHECK(18, a0, 0xf0)
  li a1, 0x12345678000000ff
  C_SEXT_B(A1); CHECK(19, a1, -1)
  li a1, 0x123456780000007f
  c.nop
  C_SEXT_B(A1); CHECK(20, a1, 0x7f)
  li a2, 0x123456789abcdef0
  C_ZEXT_H(A2); CHECK(21, a2, 0xdef0)
  li a3, 0x0000000000018000
  C_SEXT_H(A3); CHECK(22, a3, 0xffffffffffff8000)
  li a3, 0xffffffffffff7fff
  C_SEXT_H(A3); CHECK(23, a3, 0x7fff)
  li a4, 0xfedcba9887654321
  C_ZEXT_W(A4); CHECK(24, a4, 0x87654321)
  li a5, 0x00ff00ff12345678
  c.nop
  C_NOT(A5); CHECK(25, a5, 0xff00ff00edcba987)
  li s0, 0
  C_NOT(S0); CHECK(26, s0, -1)

  /* c.mul: rd = rd * rs2, low 64 bits */
  li a0, 0x123456789
  li a1, 0xfedcba987
  C_MUL(A0, A1); CHECK(27, a0, 0x1fa00acc59960a3f)
  li a0, -3
  li a1, 0x7fffffffffffffff
  c.nop
  C_MUL(A0, A1); CHECK(28, a0, 0x8000000000000003)
  li s1, 0xffffffff
  C_MUL(S1, S1); CHECK(29, s1, 0xfffffffe00000001)

  /* reserved encodings beside Zcb's, at pc = 0 and 2 mod 4 */
  .balign 4
  TRAP_ARM(30)
  .balign 4
97: .half 0x8c40; .half 0x0001                /* c.sh with bit 6 = 1 */
  TRAP_LAND(2)
  li t6, 0x8c40
  bne s11, t6, fail
  .balign 4
  TRAP_ARM(31)
  .balign 4
  c.nop
97: .half 0x8ffc; .half 0x0001                /* c.sh form, every operand bit set, bit 6 = 1 */
  TRAP_LAND(2)
  li t6, 0x8ffc
  bne s11, t6, fail
  .balign 4
  TRAP_ARM(32)
  .balign 4
97: .half 0x9400; .half 0x0001                /* quadrant 0 funct3 100, bits 12:10 = 101 */
  TRAP_LAND(2)
  li t6, 0x9400
  bne s11, t6, fail
  .balign 4
  TRAP_ARM(33)
  .balign 4
  c.nop
97: .half 0x9800; .half 0x0001                /* bits 12:10 = 110 */
  TRAP_LAND(2)
  li t6, 0x9800
  bne s11, t6, fail
  .balign 4
  TRAP_ARM(34)
  .balign 4
97: .half 0x9f79; .half 0x0001                /* 100 1 11 11 110, rd' = a4 */
  TRAP_LAND(2)
  li t6, 0x9f79
  bne s11, t6, fail

  j pass

TRAP_HANDLER
TEST_END

  .data
  .balign 8
zdata: .byte 0x81, 0xf2, 0x63, 0x84, 0x00, 0x7a, 0x15, 0x7f
zbuf: .dword 0, 0
