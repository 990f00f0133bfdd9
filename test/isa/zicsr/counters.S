/*
 * Zicntr and the machine counters, as far as QEMU and Bonsai agree (exact counts, time,
 * mcountinhibit and the Bonsai-only counter numbers are in csr-bonsai.S):
 *  - cycle and instret are readable in M-mode, increase over a loop, and their machine views agree
 *    (mcycle <= cycle <= mcycle read after, likewise instret);
 *  - mcycle and minstret are writable and continue from the written value;
 *  - mhpmcounter3 and 18, mhpmevent3 and 31 read zero.
 * On QEMU 7.2 without -icount these counters tick with the host clock, so only orderings are checked here.
 */
#include "env.h"
#include "rv64i/macros.h"
TEST_BEGIN
  .option norvc

#define SPIN(n)  li t0, n; 9: addi t0, t0, -1; bnez t0, 9b

  /* increasing */
  rdcycle a1
  rdinstret a2
  SPIN(1000)
  rdcycle a3
  rdinstret a4
  li TESTNUM, 2
  bgeu a1, a3, fail
  li TESTNUM, 3
  bgeu a2, a4, fail
  /* user and machine views agree */
  csrr a1, mcycle
  rdcycle a2
  csrr a3, mcycle
  li TESTNUM, 4
  bltu a2, a1, fail
  bltu a3, a2, fail
  csrr a1, minstret
  rdinstret a2
  csrr a3, minstret
  li TESTNUM, 5
  bltu a2, a1, fail
  bltu a3, a2, fail

  /* writable: continue from the written value (checked loosely: below it + 2^32) */
  li s0, 0x0000123400000000
  csrw minstret, s0
  SPIN(100)
  rdinstret a0
  li TESTNUM, 6
  bltu a0, s0, fail
  beq a0, s0, fail
  sub a0, a0, s0
  srli a0, a0, 32
  bnez a0, fail
  li s0, 0x0000567800000000
  csrw mcycle, s0
  SPIN(100)
  rdcycle a0
  li TESTNUM, 7
  bltu a0, s0, fail
  beq a0, s0, fail
  sub a0, a0, s0
  srli a0, a0, 32
  bnez a0, fail
  /* a small write, then the counter passes it */
  csrwi minstret, 0
  SPIN(10)
  rdinstret a0
  li TESTNUM, 8
  beqz a0, fail

  /* performance counters Bonsai does not implement read zero */
  csrr a0, mhpmcounter3;    CHECK(9, a0, 0)
  csrr a0, mhpmcounter18;   CHECK(10, a0, 0)
  csrr a0, mhpmevent3;      CHECK(11, a0, 0)
  csrr a0, mhpmevent31;     CHECK(12, a0, 0)

  j pass
TEST_END
