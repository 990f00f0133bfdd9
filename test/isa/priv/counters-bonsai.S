/* Bonsai's counters (docs/hart.md): cycle counts like instret (one instruction per cycle), so both count
   retired instructions exactly; mhpmcounter19-31 and mhpmevent19-31 read zero. QEMU 7.2 counts host time in
   cycle/instret and implements the hpm counters, so this program is Bonsai's only. */
#include "priv.h"
TEST_BEGIN
  INSTALL_MTRAP
  csrw mcountinhibit, zero

  /* 100 instructions between the write of minstret and its read: 100 (give or take the CSR
     instructions at either end). */
  csrw minstret, zero
  .rept 100
  nop
  .endr
  csrr a1, minstret
  li TESTNUM, 2
  li t0, 100
  bltu a1, t0, fail
  li TESTNUM, 3
  li t0, 103
  bgtu a1, t0, fail
  /* the same for mcycle */
  csrw mcycle, zero
  .rept 100
  addi a2, a2, 1
  .endr
  csrr a1, mcycle
  li TESTNUM, 4
  li t0, 100
  bltu a1, t0, fail
  li TESTNUM, 5
  li t0, 103
  bgtu a1, t0, fail
  /* a loop of 1000 rounds of 2 instructions */
  csrw minstret, zero
  li a5, 1000
1:addi a5, a5, -1
  bnez a5, 1b
  csrr a1, minstret
  li TESTNUM, 6
  li t0, 2001
  bltu a1, t0, fail
  li TESTNUM, 7
  li t0, 2004
  bgtu a1, t0, fail
  /* cycle and instret move together */
  csrw mcycle, zero
  csrw minstret, zero
  .rept 50
  nop
  .endr
  csrr a1, minstret
  csrr a2, mcycle
  sub a3, a2, a1
  li TESTNUM, 8
  li t0, 4
  bgeu a3, t0, fail

  /* hpm counters and events: zero after reset; 3-18 keep what is written and count nothing (Zihpm:
     ext/zihpm.S), 19-31 are read-only zero. */
  CHECK_CSR(9, mhpmcounter3, 0)
  CHECK_CSR(10, mhpmcounter17, 0)
  CHECK_CSR(11, mhpmcounter31, 0)
  CHECK_CSR(12, mhpmevent3, 0)
  CHECK_CSR(13, mhpmevent31, 0)
  li t0, 5
  csrw mhpmcounter31, t0
  csrw mhpmevent31, t0
  CHECK_CSR(14, mhpmcounter31, 0)
  CHECK_CSR(15, mhpmevent31, 0)
  CHECK_CSR(16, hpmcounter3, 0)
  CHECK_CSR(17, hpmcounter31, 0)

  j pass
  PRIV_HANDLERS
TEST_END
