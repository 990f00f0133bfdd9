/* mepc[0] and sepc[0] are always zero (privileged spec 1.12, 3.1.14 and 4.1.7): a write of an odd value reads
   back even, and an xRET to it goes to the even address. QEMU 7.2 keeps bit 0, so this program is Bonsai's only. */
#include "priv.h"
TEST_BEGIN
  INSTALL_MTRAP
  PMP_ALLOW_ALL
  csrw mie, zero

  li t0, 0x80001235; csrw mepc, t0
  CHECK_CSR(2, mepc, 0x80001234)
  li t0, 0x80001237; csrw mepc, t0
  CHECK_CSR(3, mepc, 0x80001236)
  li t0, 0x80001233; csrw sepc, t0
  CHECK_CSR(4, sepc, 0x80001232)
  li t0, 0x80001231; csrw sepc, t0
  CHECK_CSR(5, sepc, 0x80001230)

  /* mret to label + 1 runs from label. */
  li a2, 0
  SET_MPP(PRV_M)
  la t0, 20f + 1; csrw mepc, t0
  EXPECT_MTRAP(1f)
  mret
  MUST_TRAP(6)
  .option push; .option rvc
20: c.li a2, 1
21: ecall
  .option pop
  MUST_TRAP(7)
1:CHECK(8, a2, 1)
  CHECK_MEPC(9, 21b)

  /* sret to label + 1 (into S) runs from label. */
  li a2, 0
  li t0, MSTATUS_SPP; csrs mstatus, t0
  la t0, 20b + 1; csrw sepc, t0
  EXPECT_MTRAP(1f)
  sret
  MUST_TRAP(10)
1:CHECK(11, a2, 1)
  CHECK_MCAUSE(12, CAUSE_ECALL_S)
  CHECK_MEPC(13, 21b)

  j pass
  PRIV_HANDLERS
TEST_END
