/*
 * RV64C reserved encodings (unprivileged spec 20191213, chapter 16 and the RVC opcode map): each raises an
 * illegal-instruction exception with mtval = the 16-bit instruction, zero-extended (the halfword after each,
 * a c.nop, must not leak into mtval), and mepc = its address, at pc = 0 and 2 mod 4.
 * HINT encodings that must NOT trap are exercised in rvc.S.
 */
#include "env.h"
#include "rv64i/macros.h"
TEST_BEGIN
  .option rvc
  TRAP_INIT
  la sp, stack_top

  /* at pc = 0 mod 4 */
  /* all zeros: the defined illegal instruction */
  .balign 4
  TRAP_ARM(2)
  .balign 4
97: .half 0x0000; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x0000
  bne s11, t6, fail
  /* c.addi4spn x9, sp, 0: nzuimm = 0 reserved */
  .balign 4
  TRAP_ARM(3)
  .balign 4
97: .half 0x0004; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x0004
  bne s11, t6, fail
  /* c.addi4spn x12, sp, 0 */
  .balign 4
  TRAP_ARM(4)
  .balign 4
97: .half 0x0010; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x0010
  bne s11, t6, fail
  /* c.addi4spn x15, sp, 0 */
  .balign 4
  TRAP_ARM(5)
  .balign 4
97: .half 0x001c; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x001c
  bne s11, t6, fail
  /* quadrant 0, funct3 100, bits 12:10 = 100: reserved (Zcb uses 000-011) */
  .balign 4
  TRAP_ARM(6)
  .balign 4
97: .half 0x9000; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x9000
  bne s11, t6, fail
  /* quadrant 0, funct3 100, bits 12:10 = 111, other bits set */
  .balign 4
  TRAP_ARM(7)
  .balign 4
97: .half 0x9ffc; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x9ffc
  bne s11, t6, fail
  /* c.addiw x0, 0: rd = x0 reserved */
  .balign 4
  TRAP_ARM(8)
  .balign 4
97: .half 0x2001; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x2001
  bne s11, t6, fail
  /* c.addiw x0, 1 */
  .balign 4
  TRAP_ARM(9)
  .balign 4
97: .half 0x2005; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x2005
  bne s11, t6, fail
  /* c.addiw x0, -32 */
  .balign 4
  TRAP_ARM(10)
  .balign 4
97: .half 0x3001; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x3001
  bne s11, t6, fail
  /* c.addi16sp sp, 0: nzimm = 0 reserved */
  .balign 4
  TRAP_ARM(11)
  .balign 4
97: .half 0x6101; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x6101
  bne s11, t6, fail
  /* c.lui a0, 0: nzimm = 0 reserved */
  .balign 4
  TRAP_ARM(12)
  .balign 4
97: .half 0x6501; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x6501
  bne s11, t6, fail
  /* c.lui ra, 0 */
  .balign 4
  TRAP_ARM(13)
  .balign 4
97: .half 0x6081; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x6081
  bne s11, t6, fail
  /* c.lui x0, 0: nzimm = 0 reserved (rd = x0 is a HINT only for nzimm != 0) */
  .balign 4
  TRAP_ARM(14)
  .balign 4
97: .half 0x6001; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x6001
  bne s11, t6, fail
  /* quadrant 1, 100 1 11 11 110: reserved (Zcb's c.mul is 100 1 11 10, its unary ops 100 1 11 11 000-101) */
  .balign 4
  TRAP_ARM(15)
  .balign 4
97: .half 0x9c79; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x9c79
  bne s11, t6, fail
  /* quadrant 1, 100 1 11 11 111, rd' = x8: reserved */
  .balign 4
  TRAP_ARM(16)
  .balign 4
97: .half 0x9c7d; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x9c7d
  bne s11, t6, fail
  /* quadrant 1, 100 1 11 111 11 111 */
  .balign 4
  TRAP_ARM(17)
  .balign 4
97: .half 0x9ffd; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x9ffd
  bne s11, t6, fail
  /* quadrant 1, 100 1 11 111 11 110 */
  .balign 4
  TRAP_ARM(18)
  .balign 4
97: .half 0x9ff9; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x9ff9
  bne s11, t6, fail
  /* c.lwsp x0, 0(sp): rd = x0 reserved */
  .balign 4
  TRAP_ARM(19)
  .balign 4
97: .half 0x4002; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x4002
  bne s11, t6, fail
  /* c.lwsp x0, 252(sp) */
  .balign 4
  TRAP_ARM(20)
  .balign 4
97: .half 0x507e; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x507e
  bne s11, t6, fail
  /* c.ldsp x0, 0(sp): rd = x0 reserved */
  .balign 4
  TRAP_ARM(21)
  .balign 4
97: .half 0x6002; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x6002
  bne s11, t6, fail
  /* c.ldsp x0, 504(sp) */
  .balign 4
  TRAP_ARM(22)
  .balign 4
97: .half 0x707e; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x707e
  bne s11, t6, fail
  /* c.jr x0: rs1 = x0 reserved */
  .balign 4
  TRAP_ARM(23)
  .balign 4
97: .half 0x8002; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x8002
  bne s11, t6, fail
  /* at pc = 2 mod 4 */
  /* all zeros: the defined illegal instruction */
  .balign 4
  TRAP_ARM(24)
  .balign 4
  c.nop
97: .half 0x0000; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x0000
  bne s11, t6, fail
  /* c.addi4spn x9, sp, 0: nzuimm = 0 reserved */
  .balign 4
  TRAP_ARM(25)
  .balign 4
  c.nop
97: .half 0x0004; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x0004
  bne s11, t6, fail
  /* c.addi4spn x12, sp, 0 */
  .balign 4
  TRAP_ARM(26)
  .balign 4
  c.nop
97: .half 0x0010; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x0010
  bne s11, t6, fail
  /* c.addi4spn x15, sp, 0 */
  .balign 4
  TRAP_ARM(27)
  .balign 4
  c.nop
97: .half 0x001c; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x001c
  bne s11, t6, fail
  /* quadrant 0, funct3 100, bits 12:10 = 100: reserved (Zcb uses 000-011) */
  .balign 4
  TRAP_ARM(28)
  .balign 4
  c.nop
97: .half 0x9000; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x9000
  bne s11, t6, fail
  /* quadrant 0, funct3 100, bits 12:10 = 111, other bits set */
  .balign 4
  TRAP_ARM(29)
  .balign 4
  c.nop
97: .half 0x9ffc; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x9ffc
  bne s11, t6, fail
  /* c.addiw x0, 0: rd = x0 reserved */
  .balign 4
  TRAP_ARM(30)
  .balign 4
  c.nop
97: .half 0x2001; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x2001
  bne s11, t6, fail
  /* c.addiw x0, 1 */
  .balign 4
  TRAP_ARM(31)
  .balign 4
  c.nop
97: .half 0x2005; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x2005
  bne s11, t6, fail
  /* c.addiw x0, -32 */
  .balign 4
  TRAP_ARM(32)
  .balign 4
  c.nop
97: .half 0x3001; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x3001
  bne s11, t6, fail
  /* c.addi16sp sp, 0: nzimm = 0 reserved */
  .balign 4
  TRAP_ARM(33)
  .balign 4
  c.nop
97: .half 0x6101; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x6101
  bne s11, t6, fail
  /* c.lui a0, 0: nzimm = 0 reserved */
  .balign 4
  TRAP_ARM(34)
  .balign 4
  c.nop
97: .half 0x6501; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x6501
  bne s11, t6, fail
  /* c.lui ra, 0 */
  .balign 4
  TRAP_ARM(35)
  .balign 4
  c.nop
97: .half 0x6081; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x6081
  bne s11, t6, fail
  /* c.lui x0, 0: nzimm = 0 reserved (rd = x0 is a HINT only for nzimm != 0) */
  .balign 4
  TRAP_ARM(36)
  .balign 4
  c.nop
97: .half 0x6001; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x6001
  bne s11, t6, fail
  /* quadrant 1, 100 1 11 11 110: reserved (Zcb's c.mul is 100 1 11 10, its unary ops 100 1 11 11 000-101) */
  .balign 4
  TRAP_ARM(37)
  .balign 4
  c.nop
97: .half 0x9c79; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x9c79
  bne s11, t6, fail
  /* quadrant 1, 100 1 11 11 111, rd' = x8: reserved */
  .balign 4
  TRAP_ARM(38)
  .balign 4
  c.nop
97: .half 0x9c7d; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x9c7d
  bne s11, t6, fail
  /* quadrant 1, 100 1 11 111 11 111 */
  .balign 4
  TRAP_ARM(39)
  .balign 4
  c.nop
97: .half 0x9ffd; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x9ffd
  bne s11, t6, fail
  /* quadrant 1, 100 1 11 111 11 110 */
  .balign 4
  TRAP_ARM(40)
  .balign 4
  c.nop
97: .half 0x9ff9; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x9ff9
  bne s11, t6, fail
  /* c.lwsp x0, 0(sp): rd = x0 reserved */
  .balign 4
  TRAP_ARM(41)
  .balign 4
  c.nop
97: .half 0x4002; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x4002
  bne s11, t6, fail
  /* c.lwsp x0, 252(sp) */
  .balign 4
  TRAP_ARM(42)
  .balign 4
  c.nop
97: .half 0x507e; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x507e
  bne s11, t6, fail
  /* c.ldsp x0, 0(sp): rd = x0 reserved */
  .balign 4
  TRAP_ARM(43)
  .balign 4
  c.nop
97: .half 0x6002; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x6002
  bne s11, t6, fail
  /* c.ldsp x0, 504(sp) */
  .balign 4
  TRAP_ARM(44)
  .balign 4
  c.nop
97: .half 0x707e; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x707e
  bne s11, t6, fail
  /* c.jr x0: rs1 = x0 reserved */
  .balign 4
  TRAP_ARM(45)
  .balign 4
  c.nop
97: .half 0x8002; .half 0x0001
  TRAP_LAND(2)
  li t6, 0x8002
  bne s11, t6, fail

  j pass

TRAP_HANDLER
TEST_END
