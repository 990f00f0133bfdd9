/*
 * Extra macros for the ISA test programs (rv64i, rv64m, rv64a, rv64c, zicsr), on top of env.h.
 *
 * Trap capture: a program that expects traps runs TRAP_INIT once and places TRAP_HANDLER somewhere outside the
 * straight-line code (e.g. after `j pass`). The handler copies mcause, mepc and mtval to s9, s10, s11 and resumes
 * at the address in s8, which it then clears; a trap while s8 is 0 is unexpected and fails the current case.
 * So: s8-s11 belong to these macros, t6 to CHECK, a0-a2 to TEST_RR/TEST_RI.
 */
#ifndef BONSAI_ISA_MACROS_H
#define BONSAI_ISA_MACROS_H

#define TRAP_INIT                                    \
  li s8, 0;                                          \
  la t0, trap_catch;                                 \
  csrw mtvec, t0;

/* (.balign under .option rvc: under norvc the assembler assumes 4-byte alignment already holds, which is false
   after compressed code, and mtvec needs a 4-byte-aligned handler) */
#define TRAP_HANDLER                                 \
  .option push;                                      \
  .option rvc;                                       \
  .balign 4;                                         \
  .option pop;                                       \
trap_catch:                                          \
  bnez s8, 1f;                                       \
  j fail;                                            \
1:                                                   \
  csrr s9, mcause;                                   \
  csrr s10, mepc;                                    \
  csrr s11, mtval;                                   \
  csrw mepc, s8;                                     \
  li s8, 0;                                          \
  mret;

/* Arm the handler for case `num`: resume at label 98 (placed by TRAP_EXPECT_*), poison mtval so a hart that
   forgets to write it is caught. The code between TRAP_ARM and TRAP_EXPECT must trap at label 97. */
#define TRAP_ARM(num)                                \
  li TESTNUM, num;                                   \
  la s8, 98f;                                        \
  li s9, -1; li s10, -1; li s11, -1;                 \
  li t6, 0x5a5a5a5a5a5a5a5a;                         \
  csrw mtval, t6;

/* After the instruction at 97: it must not fall through; check mcause and mepc (= 97). */
#define TRAP_LAND(cause)                             \
  j fail;                                            \
98:                                                  \
  li t6, cause;                                      \
  bne s9, t6, fail;                                  \
  la t6, 97b;                                        \
  bne s10, t6, fail;

/* One instruction (or a few, the first of which traps) expected to trap with mcause `cause` and mtval `tval`. */
#define TEST_TRAP(num, cause, tval, ...)             \
  TRAP_ARM(num)                                      \
97: __VA_ARGS__;                                     \
  TRAP_LAND(cause)                                   \
  li t6, tval;                                       \
  bne s11, t6, fail;

/* Same, with mtval = the pc of the trapping instruction (ebreak). */
#define TEST_TRAP_PC(num, cause, ...)                \
  TRAP_ARM(num)                                      \
97: __VA_ARGS__;                                     \
  TRAP_LAND(cause)                                   \
  la t6, 97b;                                        \
  bne s11, t6, fail;

/* Same, without looking at mtval (where the specification leaves it to the implementation). */
#define TEST_TRAP_ANYTVAL(num, cause, ...)           \
  TRAP_ARM(num)                                      \
97: __VA_ARGS__;                                     \
  TRAP_LAND(cause)

/* Same, with mtval = the value of register `reg` (a faulting address); reg must not be t6 or s8-s11. */
#define TEST_TRAP_REG(num, cause, reg, ...)          \
  TRAP_ARM(num)                                      \
97: __VA_ARGS__;                                     \
  TRAP_LAND(cause)                                   \
  bne s11, reg, fail;

/* Conditional branch tests: `inst a1, a2, target` must (TAKEN) or must not (NOT) branch. The taken case also
   checks the branch skips exactly to its target and not into the instruction after it. */
#define TEST_BR_TAKEN(num, inst, v1, v2)             \
  li TESTNUM, num;                                   \
  li a1, v1; li a2, v2;                              \
  inst a1, a2, 2f;                                   \
  j fail;                                            \
  j fail;                                            \
2:

#define TEST_BR_NOT(num, inst, v1, v2)               \
  li TESTNUM, num;                                   \
  li a1, v1; li a2, v2;                              \
  inst a1, a2, 3f;                                   \
  j 2f;                                              \
3: j fail;                                           \
2:

/* Register-register op with the destination equal to a source. */
#define TEST_RR_D1(num, inst, expected, v1, v2)      \
  li a1, v1; li a2, v2;                              \
  inst a1, a1, a2;                                   \
  CHECK(num, a1, expected)

#define TEST_RR_D2(num, inst, expected, v1, v2)      \
  li a1, v1; li a2, v2;                              \
  inst a2, a1, a2;                                   \
  CHECK(num, a2, expected)

/* Both sources the same register. */
#define TEST_RR_SAME(num, inst, expected, v)         \
  li a1, v;                                          \
  inst a0, a1, a1;                                   \
  CHECK(num, a0, expected)

/* Register-immediate op with rd == rs1. */
#define TEST_RI_D1(num, inst, expected, v1, imm)     \
  li a1, v1;                                         \
  inst a1, a1, imm;                                  \
  CHECK(num, a1, expected)

/* Destination x0: the result is discarded and x0 still reads 0. */
#define TEST_RR_X0(num, inst, v1, v2)                \
  li a1, v1; li a2, v2;                              \
  inst x0, a1, a2;                                   \
  mv a0, x0;                                         \
  CHECK(num, a0, 0)

#define TEST_RI_X0(num, inst, v1, imm)               \
  li a1, v1;                                         \
  inst x0, a1, imm;                                  \
  mv a0, x0;                                         \
  CHECK(num, a0, 0)

#endif
