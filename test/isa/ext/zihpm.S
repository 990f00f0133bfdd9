/*
 * Zihpm: mhpmcounter3-18 and mhpmevent3-18 keep the 64-bit value written (the counters count nothing),
 * hpmcounter3-18 read them from S and U as mcounteren/scounteren allow; mcountinhibit's HPM bits are writable.
 * Passes on QEMU 7.2: qemu-system-riscv64 -M spike -bios none -kernel zihpm.elf -nographic
 * (mhpmcounter19-31: read-only zero on Bonsai, illegal on QEMU 7.2; not tested here.)
 */
#include "../priv/priv.h"
#define VAL3  0x0123456789abcdef
#define VAL18 0x7766554433221100
#define RD_HPM3  csrr a0, hpmcounter3
#define RD_HPM18 csrr a0, hpmcounter18
#define WR_HPM3  csrw hpmcounter3, zero
TEST_BEGIN
  PRIV_SETUP
  li t0, VAL3; csrw mhpmcounter3, t0
  li t0, VAL18; csrw mhpmcounter18, t0
  CHECK_CSR(2, mhpmcounter3, VAL3)
  CHECK_CSR(3, mhpmcounter18, VAL18)
  /* a loop later they still hold it: nothing counts */
  li a5, 100
1:addi a5, a5, -1
  bnez a5, 1b
  CHECK_CSR(4, mhpmcounter3, VAL3)
  CHECK_CSR(5, hpmcounter3, VAL3)
  CHECK_CSR(6, hpmcounter18, VAL18)
  li t0, -1; csrw mhpmevent3, t0
  CHECK_CSR(7, mhpmevent3, -1)
  li t0, 0x1234; csrw mhpmevent18, t0
  CHECK_CSR(8, mhpmevent18, 0x1234)
  csrs mhpmevent18, 1
  CHECK_CSR(9, mhpmevent18, 0x1235)
  csrw mhpmevent3, zero
  csrw mhpmevent18, zero
  /* mcountinhibit: the HPM bits read back */
  li t0, (1 << 3) | (1 << 18); csrs mcountinhibit, t0
  csrr a0, mcountinhibit; li t0, (1 << 3) | (1 << 18); and a0, a0, t0
  CHECK(10, a0, (1 << 3) | (1 << 18))
  li t0, (1 << 3) | (1 << 18); csrc mcountinhibit, t0
  CHECK_CSR(11, mhpmcounter3, VAL3)

  /* S-mode: hpmcounter3 needs mcounteren.HPM3; U also scounteren.HPM3 */
  csrw mcounteren, zero
  csrw scounteren, zero
  ILLEGAL_IN(12, PRV_S, RD_HPM3, 0xc0302573)
  li t0, (1 << 3); csrw mcounteren, t0
  LEGAL_IN(16, PRV_S, RD_HPM3, CAUSE_ECALL_S)
  CHECK(19, a0, VAL3)
  ILLEGAL_IN(20, PRV_S, RD_HPM18, 0xc1202573)
  ILLEGAL_IN(24, PRV_U, RD_HPM3, 0xc0302573)
  li t0, (1 << 3); csrw scounteren, t0
  LEGAL_IN(28, PRV_U, RD_HPM3, CAUSE_ECALL_U)
  CHECK(31, a0, VAL3)
  /* hpmcounters are read-only: a write from M is illegal */
  ILLEGAL_IN_M(32, WR_HPM3, 0xc0301073)
  csrw mcounteren, zero
  csrw scounteren, zero
  csrw mhpmcounter3, zero
  csrw mhpmcounter18, zero
  j pass

  PRIV_HANDLERS
TEST_END
