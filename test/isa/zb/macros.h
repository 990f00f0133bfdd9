/* Macros for the bit-manipulation and Zicond test programs, on top of env.h. */
#ifndef BONSAI_ISA_ZB_MACROS_H
#define BONSAI_ISA_ZB_MACROS_H

/* One-source op: rd = op(v1); rd, rs1 = a0, a1. */
#define TEST_R1(num, inst, expected, v1)             \
  li a1, v1;                                         \
  inst a0, a1;                                       \
  CHECK(num, a0, expected)

#endif
