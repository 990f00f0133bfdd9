/*
 * Bonsai's bare-metal test environment: every test program includes this, runs in M-mode from _start,
 * and ends through HTIF: `tohost = 1` passes, `tohost = (case << 1) | 1` fails naming the case.
 * The current case number lives in gp (x3), like the RISC-V ISA test suites' convention.
 */
#define TESTNUM gp

/* Begin a program: _start clears the registers, points mtvec at trap_unexpected (a test that expects traps
   installs its own handler), enables the FPU (mstatus.FS = Initial) and jumps to the body at label 1. */
#define TEST_BEGIN                                   \
  .section .text.init;                               \
  .globl _start;                                     \
_start:                                              \
  li x1, 0; li x2, 0; li x3, 0; li x4, 0;            \
  li x5, 0; li x6, 0; li x7, 0; li x8, 0;            \
  li x9, 0; li x10, 0; li x11, 0; li x12, 0;         \
  li x13, 0; li x14, 0; li x15, 0; li x16, 0;        \
  li x17, 0; li x18, 0; li x19, 0; li x20, 0;        \
  li x21, 0; li x22, 0; li x23, 0; li x24, 0;        \
  li x25, 0; li x26, 0; li x27, 0; li x28, 0;        \
  li x29, 0; li x30, 0; li x31, 0;                   \
  la t0, trap_unexpected; csrw mtvec, t0;            \
  li t0, (1 << 13); csrs mstatus, t0;                \
  la sp, stack_top;                                  \
  j test_body;                                       \
  .align 2;                                          \
trap_unexpected:                                     \
  li TESTNUM, 0x7ff;                                 \
  j fail;                                            \
  .text;                                             \
test_body:

/* End a program: pass, fail and the HTIF mailbox. */
#define TEST_END                                     \
pass:                                                \
  fence;                                             \
  li t0, 1;                                          \
  la t1, tohost;                                     \
  sd t0, 0(t1);                                      \
1: j 1b;                                             \
fail:                                                \
  fence;                                             \
  slli t0, TESTNUM, 1;                               \
  ori t0, t0, 1;                                     \
  la t1, tohost;                                     \
  sd t0, 0(t1);                                      \
1: j 1b;                                             \
  .section .tohost, "aw", @progbits;                 \
  .align 6; .globl tohost; tohost: .dword 0; .size tohost, 8; \
  .align 6; .globl fromhost; fromhost: .dword 0; .size fromhost, 8; \
  .bss;                                              \
  .align 4;                                          \
  .space 8192;                                       \
stack_top:

/* Compare a register with an expected value; on mismatch fail with case `num`. Uses t6. */
#define CHECK(num, reg, expected)                    \
  li TESTNUM, num;                                   \
  li t6, expected;                                   \
  bne reg, t6, fail;

/* Register-register op: rd = op(v1, v2), rd, rs1, rs2 = a0, a1, a2. */
#define TEST_RR(num, inst, expected, v1, v2)         \
  li a1, v1; li a2, v2;                              \
  inst a0, a1, a2;                                   \
  CHECK(num, a0, expected)

/* Register-immediate op. */
#define TEST_RI(num, inst, expected, v1, imm)        \
  li a1, v1;                                         \
  inst a0, a1, imm;                                  \
  CHECK(num, a0, expected)
