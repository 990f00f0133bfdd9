/*
 * Bonsai-specific CSR behaviour (docs/hart.md); these checks fail on QEMU 7.2 where noted:
 *  - misa = 0x800000000014112d, marchid = 0, mimpid = 1 (QEMU: misa also has H, marchid = mimpid = its version);
 *  - csrrs/csrrc with rs1 != x0 "attempt to write" even when rs1 holds 0 (Zicsr chapter), so on a read-only
 *    CSR they are illegal instructions (QEMU 7.2 decides by the value and lets them through);
 *  - time is readable from M-mode and advances (QEMU's spike board provides no time CSR: illegal instruction);
 *  - cycle counts like instret, one per instruction, and reads are exact: a read sees the instructions retired
 *    before it, and a CSR write to minstret/mcycle replaces that instruction's own increment (Zicsr: "the write
 *    is done instead of the increment") - QEMU counts host clock ticks;
 *  - mcountinhibit.IR/CY freeze minstret/mcycle at their value, and clearing them resumes counting from it
 *    (QEMU 7.2 reads inhibited counters as 0, after one more live read of mcycle);
 *  - mhpmcounter31 exists and reads zero (QEMU 7.2 has only mhpmcounter3-18; mhpmevent31 it has).
 */
#include "env.h"
#include "rv64i/macros.h"
TEST_BEGIN
  .option norvc
  TRAP_INIT

#define SPIN(n)  li t0, n; 9: addi t0, t0, -1; bnez t0, 9b

  csrr a0, misa;            CHECK(2, a0, 0x800000000014112d)
  csrr a0, marchid;         CHECK(3, a0, 0)
  csrr a0, mimpid;          CHECK(4, a0, 1)

  /* rs1 != x0 holding zero: still a write attempt */
  li a1, 0
  li a0, 0x0dd
  TEST_TRAP(5, 2, 0xf115a573, csrrs a0, mvendorid, a1)
  CHECK(6, a0, 0x0dd)
  TEST_TRAP(7, 2, 0xf145b573, csrrc a0, mhartid, a1)
  CHECK(8, a0, 0x0dd)
  TEST_TRAP(9, 2, 0xc005a573, csrrs a0, cycle, a1)
  CHECK(10, a0, 0x0dd)

  /* time */
  rdtime a1
  SPIN(20000)
  rdtime a2
  li TESTNUM, 11
  bgeu a1, a2, fail
  sub a0, a2, a1
  li t0, 1000000000         /* less than 100 s at 10 MHz */
  bgeu a0, t0, fail
  csrr a3, time
  li TESTNUM, 12
  bltu a3, a2, fail

  /* exact counts */
  rdinstret a1
  nop; nop; nop; nop; nop; nop; nop; nop; nop; nop
  rdinstret a2
  sub a0, a2, a1;           CHECK(13, a0, 11)
  rdcycle a1
  nop; nop; nop; nop; nop; nop; nop; nop; nop; nop
  rdcycle a2
  sub a0, a2, a1;           CHECK(14, a0, 11)
  csrr a1, minstret
  SPIN(100)                 /* li + 100 * (addi, bnez) */
  csrr a2, minstret
  sub a0, a2, a1;           CHECK(15, a0, 202)
  li a1, 0x1000
  csrw minstret, a1
  csrr a0, minstret;        CHECK(16, a0, 0x1000)
  csrw mcycle, a1
  csrr a0, mcycle;          CHECK(17, a0, 0x1000)
  csrwi minstret, 5
  nop
  rdinstret a0;             CHECK(18, a0, 6)

  /* mcountinhibit freezes and resumes */
  li a1, 1000
  csrw minstret, a1
  csrsi mcountinhibit, 4
  csrr a2, minstret
  SPIN(100)
  csrr a3, minstret
  li TESTNUM, 19
  bne a2, a3, fail
  li t0, 1000
  bltu a2, t0, fail
  li t0, 1002
  bltu t0, a2, fail
  csrw mcycle, a1
  csrsi mcountinhibit, 1
  csrr a4, mcycle
  SPIN(100)
  rdcycle a5
  li TESTNUM, 20
  bne a4, a5, fail
  li t0, 1000
  bltu a4, t0, fail
  li t0, 1002
  bltu t0, a4, fail
  /* writes while inhibited are kept */
  li a1, 77
  csrw minstret, a1
  SPIN(10)
  csrr a0, minstret;        CHECK(21, a0, 77)
  csrci mcountinhibit, 5
  SPIN(10)
  csrr a0, minstret
  li TESTNUM, 22
  li t0, 77 + 21
  bltu a0, t0, fail
  li t0, 77 + 24
  bltu t0, a0, fail
  rdcycle a0
  li TESTNUM, 23
  li t0, 1000 + 20
  bltu a0, t0, fail
  li t0, 1000 + 40
  bltu t0, a0, fail

  csrr a0, mhpmcounter31;   CHECK(24, a0, 0)
  csrr a0, mhpmevent31;     CHECK(25, a0, 0)

  j pass

TRAP_HANDLER
TEST_END
