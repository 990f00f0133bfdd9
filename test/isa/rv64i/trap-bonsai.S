/*
 * Bonsai-specific (fails on QEMU 7.2, which writes mtval = 0 for ebreak; the privileged specification allows
 * both): docs/hart.md makes mtval the pc of the ebreak, for the 32-bit ebreak and for c.ebreak.
 */
#include "env.h"
#include "rv64i/macros.h"
TEST_BEGIN
  .option norvc
  TRAP_INIT

  TEST_TRAP_PC(2, 3, ebreak)
  TEST_TRAP_PC(3, 3, ebreak)
  /* a 32-bit ebreak at pc = 2 mod 4 */
  TRAP_ARM(4)
  .option push
  .option rvc
  c.nop
97: .word 0x00100073
  c.nop
  .option pop
  TRAP_LAND(3)
  la t0, 97b
  bne s11, t0, fail
  /* c.ebreak, at pc = 0 mod 4 and pc = 2 mod 4 */
  TRAP_ARM(5)
  .option push
  .option rvc
97: c.ebreak
  c.nop
  .option pop
  TRAP_LAND(3)
  la t0, 97b
  bne s11, t0, fail
  TRAP_ARM(6)
  .option push
  .option rvc
  c.nop
97: c.ebreak
  .option pop
  TRAP_LAND(3)
  la t0, 97b
  bne s11, t0, fail

  j pass

TRAP_HANDLER
TEST_END
