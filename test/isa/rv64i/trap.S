/*
 * RV64I traps to M-mode: ecall (mcause 11, mtval 0), ebreak (mcause 3; its mtval, the pc in Bonsai, is checked
 * in trap-bonsai.S because QEMU 7.2 writes 0, which the privileged specification also allows), and illegal instructions (mcause 2, mtval = the instruction bits): the all-zero word, and encodings in
 * opcodes or function codes no extension of an RV64GC hart uses. mepc is always the trapping instruction, and
 * mtval is poisoned before each case so a hart that leaves it unwritten is caught.
 */
#include "env.h"
#include "rv64i/macros.h"
TEST_BEGIN
  .option norvc
  TRAP_INIT

  TEST_TRAP(2, 11, 0, ecall)
  TEST_TRAP_ANYTVAL(3, 3, ebreak)
  /* again, to see the handler's mret brought us back in M-mode with everything working */
  TEST_TRAP(4, 11, 0, ecall)
  TEST_TRAP_ANYTVAL(5, 3, ebreak)

  /* the all-zero word: its low half 0x0000 is the defined illegal (compressed) instruction */
  TEST_TRAP(6, 2, 0, .word 0x00000000)
  /* custom-0/1/2/3 major opcodes */
  TEST_TRAP(7, 2, 0x00b5050b, .word 0x00b5050b)
  TEST_TRAP(8, 2, 0x12b5352b, .word 0x12b5352b)
  TEST_TRAP(9, 2, 0x0000005b, .word 0x0000005b)
  TEST_TRAP(10, 2, 0xfeb5057b, .word 0xfeb5057b)
  /* OP-V (vsetvli): no V extension */
  TEST_TRAP(11, 2, 0x00007057, .word 0x00007057)
  /* LOAD funct3 = 7 (ldu of RV128), STORE funct3 = 4 (sq of RV128) */
  TEST_TRAP(12, 2, 0x00017503, .word 0x00017503)
  TEST_TRAP(13, 2, 0x00a14023, .word 0x00a14023)
  /* BRANCH funct3 = 2 and 3 */
  TEST_TRAP(14, 2, 0x00b52063, .word 0x00b52063)
  TEST_TRAP(15, 2, 0x00b53063, .word 0x00b53063)
  /* JALR funct3 != 0 */
  TEST_TRAP(16, 2, 0x00051067, .word 0x00051067)
  /* OP and OP-32 with funct7 = 0x7f */
  TEST_TRAP(17, 2, 0xfeb50533, .word 0xfeb50533)
  TEST_TRAP(18, 2, 0xfeb5053b, .word 0xfeb5053b)
  /* OP-IMM shift with funct6 = 0x3f; slliw with shamt[5] set */
  TEST_TRAP(19, 2, 0xfc551513, .word 0xfc551513)
  TEST_TRAP(20, 2, 0x0205151b, .word 0x0205151b)
  /* SYSTEM funct3 = 0 with an unallocated function (imm 0x7ff) */
  TEST_TRAP(21, 2, 0x7ff00073, .word 0x7ff00073)
  /* the low two bits select 32-bit length, so mtval holds all 32 bits even with a high bit pattern */
  TEST_TRAP(22, 2, 0xfffff00b, .word 0xfffff00b)

  /* the trapping instruction has no effect: a1 keeps its value across a trapping word that names rd = a1 */
  li a1, 1234
  TEST_TRAP(23, 2, 0xfeb505b3, .word 0xfeb505b3)
  CHECK(24, a1, 1234)

  /* ecall as the target of a jump (first instruction executed after a control transfer) */
  la t0, 1f
  TRAP_ARM(25)
  jr t0
  j fail
97: 
1: ecall
  TRAP_LAND(11)
  CHECK(26, s11, 0)

  /* a 32-bit ebreak at a 2-byte-aligned address after a compressed instruction: mepc is its own pc */
  TRAP_ARM(27)
  .option push
  .option rvc
  c.nop
97: .word 0x00100073      /* the 32-bit ebreak, at pc = 2 mod 4 */
  c.nop                   /* back to 4-byte alignment */
  .option pop
  TRAP_LAND(3)

  j pass

TRAP_HANDLER
TEST_END
