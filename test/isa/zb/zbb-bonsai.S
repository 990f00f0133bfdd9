/*
 * Zbb's ctzw counts the trailing zeros of the lower word only: 32 when it is zero, whatever the upper word
 * holds. QEMU 7.2 counts on into the upper word (63 for 0x8000000000000000; fixed in QEMU 8.0).
 * These cases were in zbb.S (same model, same numbers).
 */
/* march: rv64gc_zicsr_zifencei_zba_zbb_zbs_zbc */
#include "env.h"
#include "insn.h"
#include "zb/macros.h"
TEST_BEGIN
  .option norvc
  TEST_R1(429, ctzw, 0x20, 0x100000000)
  TEST_R1(430, ctzw, 0x20, 0x8000000000000000)
  TEST_R1(436, ctzw, 0x20, 0xff00ff00000000)
  TEST_R1(448, ctzw, 0x20, 0x100000000)
  TEST_R1(449, ctzw, 0x20, 0x800000000000)
  TEST_R1(450, ctzw, 0x20, 0x8000000000000000)
  TEST_R1(2, ctzw, 0x20, 0xffffffff00000000)

  j pass
TEST_END
