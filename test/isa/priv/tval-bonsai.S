/* xtval and causes where QEMU 7.2 differs from Bonsai's contract (docs/hart.md):
   ebreak -> mtval = pc (QEMU 7.2 writes 0); misaligned AMO and SC -> store/AMO address misaligned (QEMU 7.2:
   load misaligned for AMOs, and no trap for an SC without a reservation); an AMO to an address with nothing
   there -> store/AMO access fault (QEMU 7.2: load access fault). */
#include "priv.h"
TEST_BEGIN
  INSTALL_MTRAP
  INSTALL_STRAP
  PMP_ALLOW_ALL
  csrw mie, zero

  /* ebreak and c.ebreak in M: mtval = pc. */
  EXPECT_MTRAP(1f)
  .option push; .option norvc
10: ebreak
  .option pop
  MUST_TRAP(2)
1:CHECK_MCAUSE(3, CAUSE_BREAKPOINT)
  CHECK_MEPC(4, 10b)
  CHECK_LABEL(5, s10, 10b)
  EXPECT_MTRAP(1f)
  .option push; .option rvc
10: c.ebreak
  .option pop
  MUST_TRAP(6)
1:CHECK_MCAUSE(7, CAUSE_BREAKPOINT)
  CHECK_LABEL(8, s10, 10b)
  /* ebreak in U delegated to S: stval = pc. */
  li t0, (1 << CAUSE_BREAKPOINT); csrw medeleg, t0
  CLEAR_SREC
  EXPECT_STRAP(2f)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: ebreak
  MUST_TRAP(9)
2:ecall
1:CHECK_SCAUSE(10, CAUSE_BREAKPOINT)
  CHECK_LABEL(11, s4, 10b)
  csrw medeleg, zero

  /* Misaligned AMOs and SC: cause 6, mtval = the address; memory unchanged. */
  la a1, data + 2
  li a2, 0x1111
  EXPECT_MTRAP(1f)
10: amoadd.w a0, a2, (a1)
  MUST_TRAP(12)
1:CHECK_MCAUSE(13, CAUSE_STORE_MISALIGN)
  CHECK_MEPC(14, 10b)
  CHECK_LABEL(15, s10, data + 2)
  la a1, data + 4
  EXPECT_MTRAP(1f)
10: amoswap.d a0, a2, (a1)
  MUST_TRAP(16)
1:CHECK_MCAUSE(17, CAUSE_STORE_MISALIGN)
  CHECK_LABEL(18, s10, data + 4)
  la a1, data + 6
  EXPECT_MTRAP(1f)
10: sc.w a0, a2, (a1)
  MUST_TRAP(19)
1:CHECK_MCAUSE(20, CAUSE_STORE_MISALIGN)
  CHECK_LABEL(21, s10, data + 6)
  /* an SC with a reservation held elsewhere faults as well */
  la a1, data
  lr.d a0, (a1)
  la a1, data + 4
  EXPECT_MTRAP(1f)
10: sc.d a0, a2, (a1)
  MUST_TRAP(22)
1:CHECK_MCAUSE(23, CAUSE_STORE_MISALIGN)
  CHECK_LABEL(24, s10, data + 4)
  la a1, data
  ld a0, 0(a1)
  CHECK(25, a0, 0x8877665544332211)

  /* AMO at an address with nothing there: store/AMO access fault. */
  li a1, UNMAPPED_PA + 0x40
  EXPECT_MTRAP(1f)
10: amoor.d a0, a0, (a1)
  MUST_TRAP(26)
1:CHECK_MCAUSE(27, CAUSE_STORE_ACCESS)
  CHECK_MEPC(28, 10b)
  CHECK_MTVAL(29, UNMAPPED_PA + 0x40)
  EXPECT_MTRAP(1f)
10: amoswap.w a0, a0, (a1)
  MUST_TRAP(30)
1:CHECK_MCAUSE(31, CAUSE_STORE_ACCESS)

  j pass
  PRIV_HANDLERS

  .data
  .align 4
data:
  .dword 0x8877665544332211
  .dword 0x00ffeeddccbbaa99
TEST_END
