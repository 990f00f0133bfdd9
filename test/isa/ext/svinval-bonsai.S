/*
 * Svinval: sinval.vma is illegal in U-mode, and in S-mode with mstatus.TVM, with mtval = its bits;
 * sfence.w.inval and sfence.inval.ir are illegal in U-mode (privileged spec 1.12, chapter 7). Bonsai only:
 * QEMU 7.2 leaves a stale mtval for sinval.vma and executes the two fences as no-ops in U-mode.
 */
#include "../priv/priv.h"
/* GCC 12 has no Svinval: the instructions as words. */
#define SFENCE_W_INVAL_I  .word 0x18000073
#define SFENCE_INVAL_IR_I .word 0x18100073
#define SINVAL_VMA(rs1, rs2) .word (0x16000073 | ((rs2) << 20) | ((rs1) << 15))
#define SINVAL_A1 SINVAL_VMA(11, 0)
TEST_BEGIN
  PRIV_SETUP
  ILLEGAL_IN(2, PRV_U, SINVAL_A1, 0x16058073)
  li t0, MSTATUS_TVM; csrs mstatus, t0
  ILLEGAL_IN(10, PRV_S, SINVAL_A1, 0x16058073)
  li t0, MSTATUS_TVM; csrc mstatus, t0
  ILLEGAL_IN(14, PRV_U, SFENCE_W_INVAL_I, 0x18000073)
  ILLEGAL_IN(18, PRV_U, SFENCE_INVAL_IR_I, 0x18100073)
  j pass

  PRIV_HANDLERS
TEST_END
