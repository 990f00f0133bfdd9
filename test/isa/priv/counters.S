/* mcycle/minstret are writable and run on from the value written; cycle/instret read them; mcountinhibit
   CY/IR stop them. (Exact counts are not checked here: QEMU's counters follow host time.) */
#include "priv.h"
#define LIMIT 0x10000000
TEST_BEGIN
  INSTALL_MTRAP
  csrw mcountinhibit, zero

  /* mcycle: a written value, then counting up from it. */
  li a1, 0x123456789000
  csrw mcycle, a1
  csrr a2, mcycle
  li TESTNUM, 2
  bltu a2, a1, fail
  sub a3, a2, a1
  li t0, LIMIT
  li TESTNUM, 3
  bgeu a3, t0, fail
  /* cycle reads the same counter */
  rdcycle a4
  li TESTNUM, 4
  bltu a4, a2, fail
  sub a3, a4, a1
  li TESTNUM, 5
  bgeu a3, t0, fail
  /* it moves: a loop of 1000 rounds takes more than zero cycles */
  li a5, 1000
1:addi a5, a5, -1
  bnez a5, 1b
  rdcycle a5
  li TESTNUM, 6
  bgeu a4, a5, fail
  /* small values too */
  csrw mcycle, zero
  csrr a2, mcycle
  li TESTNUM, 7
  bgeu a2, t0, fail

  /* minstret likewise. */
  li a1, 0xabcdef000000
  csrw minstret, a1
  csrr a2, minstret
  li TESTNUM, 8
  bltu a2, a1, fail
  sub a3, a2, a1
  li TESTNUM, 9
  bgeu a3, t0, fail
  rdinstret a4
  li TESTNUM, 10
  bltu a4, a2, fail
  li a5, 1000
1:addi a5, a5, -1
  bnez a5, 1b
  rdinstret a5
  li TESTNUM, 11
  bgeu a4, a5, fail

  /* mcountinhibit: CY and IR are writable; while set, the counters hold the value last written. */
  li t0, 5; csrw mcountinhibit, t0
  csrr a1, mcountinhibit
  CHECK_MASK(12, a1, 5, 5)
  li t0, 1000; csrw mcycle, t0
  li t0, 2000; csrw minstret, t0
  li a5, 1000
1:addi a5, a5, -1
  bnez a5, 1b
  CHECK_CSR(13, mcycle, 1000)
  CHECK_CSR(14, minstret, 2000)
  CHECK_CSR(15, cycle, 1000)
  CHECK_CSR(16, instret, 2000)
  CHECK_CSR(17, mcycle, 1000)
  /* inhibiting only IR: mcycle runs, minstret holds */
  li t0, 4; csrw mcountinhibit, t0
  li a5, 1000
1:addi a5, a5, -1
  bnez a5, 1b
  csrr a1, mcycle
  li TESTNUM, 18
  li t0, 1000
  bgeu t0, a1, fail
  CHECK_CSR(19, minstret, 2000)
  /* cleared: both run again */
  csrw mcountinhibit, zero
  li a5, 1000
1:addi a5, a5, -1
  bnez a5, 1b
  csrr a1, minstret
  li TESTNUM, 20
  li t0, 2000
  bgeu t0, a1, fail
  csrr a1, mcountinhibit
  CHECK_MASK(21, a1, 5, 0)

  /* (mhpmcounter3-31 and mhpmevent3-31 read zero: counters-bonsai.S; QEMU 7.2 counts in them) */

  j pass
  PRIV_HANDLERS
TEST_END
