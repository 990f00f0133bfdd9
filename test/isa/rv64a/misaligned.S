/*
 * RV64A alignment: a misaligned LR raises load address misaligned (mcause 4) and a misaligned AMO an
 * address-misaligned exception, with mtval = the address; the faulting instruction writes neither rd nor
 * memory. Naturally aligned .w accesses at 4 mod 8 work.
 * QEMU 7.2 reports a misaligned AMO as a LOAD address misaligned (4) where the privileged specification and
 * docs/hart.md say store/AMO (6), so here an AMO may report either; lrsc-bonsai.S insists on 6. Misaligned SC
 * is also only in lrsc-bonsai.S: QEMU 7.2 fails such an sc without trapping when no reservation matches.
 * (The specification also allows an access fault instead; Bonsai and QEMU both raise misaligned.)
 * Also: AMO encodings no RV64 extension defines are illegal instructions (mtval = the instruction bits).
 */
#include "env.h"
#include "rv64i/macros.h"

/* Misaligned AMO: mcause 6 (Bonsai, the specification) or 4 (QEMU 7.2), mepc and mtval = reg exact. */
#define TEST_AMO_MISALIGNED(num, reg, ...)           \
  TRAP_ARM(num)                                      \
97: __VA_ARGS__;                                     \
  j fail;                                            \
98:                                                  \
  li t6, 6;                                          \
  beq s9, t6, 1f;                                    \
  li t6, 4;                                          \
  bne s9, t6, fail;                                  \
1:                                                   \
  la t6, 97b;                                        \
  bne s10, t6, fail;                                 \
  bne s11, reg, fail;

TEST_BEGIN
  .option norvc
  TRAP_INIT
  la s0, amo_data
  li t0, 0x1122334455667788
  sd t0, 0(s0)
  sd t0, 8(s0)

  addi a1, s0, 1; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(2, a1, amoswap.w a0, a2, (a1))
  CHECK(2, a0, 0x0dd)
  addi a1, s0, 4; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(3, a1, amoswap.d a0, a2, (a1))
  CHECK(3, a0, 0x0dd)
  addi a1, s0, 2; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(4, a1, amoadd.w a0, a2, (a1))
  CHECK(4, a0, 0x0dd)
  addi a1, s0, 1; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(5, a1, amoadd.d a0, a2, (a1))
  CHECK(5, a0, 0x0dd)
  addi a1, s0, 3; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(6, a1, amoxor.w a0, a2, (a1))
  CHECK(6, a0, 0x0dd)
  addi a1, s0, 2; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(7, a1, amoxor.d a0, a2, (a1))
  CHECK(7, a0, 0x0dd)
  addi a1, s0, 5; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(8, a1, amoand.w a0, a2, (a1))
  CHECK(8, a0, 0x0dd)
  addi a1, s0, 3; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(9, a1, amoand.d a0, a2, (a1))
  CHECK(9, a0, 0x0dd)
  addi a1, s0, 6; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(10, a1, amoor.w a0, a2, (a1))
  CHECK(10, a0, 0x0dd)
  addi a1, s0, 5; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(11, a1, amoor.d a0, a2, (a1))
  CHECK(11, a0, 0x0dd)
  addi a1, s0, 7; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(12, a1, amomin.w a0, a2, (a1))
  CHECK(12, a0, 0x0dd)
  addi a1, s0, 6; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(13, a1, amomin.d a0, a2, (a1))
  CHECK(13, a0, 0x0dd)
  addi a1, s0, 1; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(14, a1, amomax.w a0, a2, (a1))
  CHECK(14, a0, 0x0dd)
  addi a1, s0, 7; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(15, a1, amomax.d a0, a2, (a1))
  CHECK(15, a0, 0x0dd)
  addi a1, s0, 2; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(16, a1, amominu.w a0, a2, (a1))
  CHECK(16, a0, 0x0dd)
  addi a1, s0, 4; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(17, a1, amominu.d a0, a2, (a1))
  CHECK(17, a0, 0x0dd)
  addi a1, s0, 3; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(18, a1, amomaxu.w a0, a2, (a1))
  CHECK(18, a0, 0x0dd)
  addi a1, s0, 1; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(19, a1, amomaxu.d a0, a2, (a1))
  CHECK(19, a0, 0x0dd)
  addi a1, s0, 1; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(20, a1, amoadd.w.aqrl a0, a2, (a1))
  CHECK(20, a0, 0x0dd)
  addi a1, s0, 2; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(21, a1, amoadd.w.aqrl a0, a2, (a1))
  CHECK(21, a0, 0x0dd)
  addi a1, s0, 3; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(22, a1, amoadd.w.aqrl a0, a2, (a1))
  CHECK(22, a0, 0x0dd)
  addi a1, s0, 5; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(23, a1, amoadd.w.aqrl a0, a2, (a1))
  CHECK(23, a0, 0x0dd)
  addi a1, s0, 6; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(24, a1, amoadd.w.aqrl a0, a2, (a1))
  CHECK(24, a0, 0x0dd)
  addi a1, s0, 7; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(25, a1, amoadd.w.aqrl a0, a2, (a1))
  CHECK(25, a0, 0x0dd)
  addi a1, s0, 1; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(26, a1, amoswap.d a0, a2, (a1))
  CHECK(26, a0, 0x0dd)
  addi a1, s0, 2; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(27, a1, amoswap.d a0, a2, (a1))
  CHECK(27, a0, 0x0dd)
  addi a1, s0, 3; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(28, a1, amoswap.d a0, a2, (a1))
  CHECK(28, a0, 0x0dd)
  addi a1, s0, 4; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(29, a1, amoswap.d a0, a2, (a1))
  CHECK(29, a0, 0x0dd)
  addi a1, s0, 5; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(30, a1, amoswap.d a0, a2, (a1))
  CHECK(30, a0, 0x0dd)
  addi a1, s0, 6; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(31, a1, amoswap.d a0, a2, (a1))
  CHECK(31, a0, 0x0dd)
  addi a1, s0, 7; li a0, 0x0dd; li a2, -1
  TEST_AMO_MISALIGNED(32, a1, amoswap.d a0, a2, (a1))
  CHECK(32, a0, 0x0dd)
  addi a1, s0, 1; li a0, 0x0dd; li a2, -1
  TEST_TRAP_REG(33, 4, a1, lr.w a0, (a1))
  CHECK(33, a0, 0x0dd)
  addi a1, s0, 2; li a0, 0x0dd; li a2, -1
  TEST_TRAP_REG(34, 4, a1, lr.w a0, (a1))
  CHECK(34, a0, 0x0dd)
  addi a1, s0, 3; li a0, 0x0dd; li a2, -1
  TEST_TRAP_REG(35, 4, a1, lr.w a0, (a1))
  CHECK(35, a0, 0x0dd)
  addi a1, s0, 5; li a0, 0x0dd; li a2, -1
  TEST_TRAP_REG(36, 4, a1, lr.w a0, (a1))
  CHECK(36, a0, 0x0dd)
  addi a1, s0, 6; li a0, 0x0dd; li a2, -1
  TEST_TRAP_REG(37, 4, a1, lr.w a0, (a1))
  CHECK(37, a0, 0x0dd)
  addi a1, s0, 7; li a0, 0x0dd; li a2, -1
  TEST_TRAP_REG(38, 4, a1, lr.w a0, (a1))
  CHECK(38, a0, 0x0dd)
  addi a1, s0, 1; li a0, 0x0dd; li a2, -1
  TEST_TRAP_REG(39, 4, a1, lr.d a0, (a1))
  CHECK(39, a0, 0x0dd)
  addi a1, s0, 2; li a0, 0x0dd; li a2, -1
  TEST_TRAP_REG(40, 4, a1, lr.d a0, (a1))
  CHECK(40, a0, 0x0dd)
  addi a1, s0, 3; li a0, 0x0dd; li a2, -1
  TEST_TRAP_REG(41, 4, a1, lr.d a0, (a1))
  CHECK(41, a0, 0x0dd)
  addi a1, s0, 4; li a0, 0x0dd; li a2, -1
  TEST_TRAP_REG(42, 4, a1, lr.d a0, (a1))
  CHECK(42, a0, 0x0dd)
  addi a1, s0, 5; li a0, 0x0dd; li a2, -1
  TEST_TRAP_REG(43, 4, a1, lr.d a0, (a1))
  CHECK(43, a0, 0x0dd)
  addi a1, s0, 6; li a0, 0x0dd; li a2, -1
  TEST_TRAP_REG(44, 4, a1, lr.d a0, (a1))
  CHECK(44, a0, 0x0dd)
  addi a1, s0, 7; li a0, 0x0dd; li a2, -1
  TEST_TRAP_REG(45, 4, a1, lr.d a0, (a1))
  CHECK(45, a0, 0x0dd)
  addi a1, s0, 4; li a0, 0x0dd; li a2, -1
  TEST_TRAP_REG(46, 4, a1, lr.d.aq a0, (a1))
  CHECK(46, a0, 0x0dd)
  /* memory untouched by all of the above */
  ld a0, 0(s0); CHECK(47, a0, 0x1122334455667788)
  ld a0, 8(s0); CHECK(48, a0, 0x1122334455667788)
  /* aligned .w at 4 mod 8 and .d at 8 mod 16 work (no trap) */
  addi a1, s0, 4
  li a2, 1
  amoadd.w a0, a2, (a1); CHECK(49, a0, 0x11223344)
  addi a1, s0, 8
  amoadd.d a0, a2, (a1); CHECK(50, a0, 0x1122334455667788)
  addi a1, s0, 12
  lr.w a0, (a1); CHECK(51, a0, 0x11223344)
  sc.w a3, a2, (a1); CHECK(52, a3, 0)
  ld a0, 0(s0); CHECK(53, a0, 0x1122334555667788)
  ld a0, 8(s0); CHECK(54, a0, 0x0000000155667789)

  mv a1, s0
  TEST_TRAP(55, 2, 0xf8c5a52f, .word 0xf8c5a52f)
  mv a1, s0
  TEST_TRAP(56, 2, 0xf8c5b52f, .word 0xf8c5b52f)
  mv a1, s0
  TEST_TRAP(57, 2, 0x00c5c52f, .word 0x00c5c52f)
  mv a1, s0
  TEST_TRAP(58, 2, 0x1005c52f, .word 0x1005c52f)
  mv a1, s0
  TEST_TRAP(59, 2, 0x00c5f52f, .word 0x00c5f52f)

  j pass

TRAP_HANDLER
TEST_END

  .data
  .align 4
amo_data: .dword 0, 0

