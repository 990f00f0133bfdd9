/* Privileged spec 1.12 (3.1.6.3): an MRET or SRET that changes the privilege mode to one below M
   also clears mstatus.MPRV. QEMU 7.2 predates this rule (it keeps MPRV), so this program is Bonsai's only. */
#include "priv.h"
TEST_BEGIN
  INSTALL_MTRAP
  PMP_ALLOW_ALL
  csrw mie, zero

  /* mret to M keeps MPRV. */
  li t0, MSTATUS_MPRV; csrs mstatus, t0
  MRET_TO(PRV_M, 1f)
1:csrr a1, mstatus
  li t0, MSTATUS_MPRV; csrc mstatus, t0
  CHECK_MASK(2, a1, MSTATUS_MPRV, MSTATUS_MPRV)

  /* mret to S clears MPRV. */
  li t0, MSTATUS_MPRV; csrs mstatus, t0
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: ecall
  MUST_TRAP(3)
1:CHECK_MCAUSE(4, CAUSE_ECALL_S)
  CHECK_MASK(5, s11, MSTATUS_MPRV, 0)

  /* mret to U clears MPRV. */
  li t0, MSTATUS_MPRV; csrs mstatus, t0
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: ecall
  MUST_TRAP(6)
1:CHECK_MCAUSE(7, CAUSE_ECALL_U)
  CHECK_MASK(8, s11, MSTATUS_MPRV, 0)

  /* sret from M to S clears MPRV. */
  li t0, MSTATUS_SPP; csrs mstatus, t0
  li t0, MSTATUS_MPRV; csrs mstatus, t0
  la t0, 10f; csrw sepc, t0
  EXPECT_MTRAP(1f)
  sret
  MUST_TRAP(9)
10: ecall
  MUST_TRAP(10)
1:CHECK_MCAUSE(11, CAUSE_ECALL_S)
  CHECK_MASK(12, s11, MSTATUS_MPRV, 0)

  /* sret from M to U clears MPRV. */
  li t0, MSTATUS_SPP; csrc mstatus, t0
  li t0, MSTATUS_MPRV; csrs mstatus, t0
  la t0, 10f; csrw sepc, t0
  EXPECT_MTRAP(1f)
  sret
  MUST_TRAP(13)
10: ecall
  MUST_TRAP(14)
1:CHECK_MCAUSE(15, CAUSE_ECALL_U)
  CHECK_MASK(16, s11, MSTATUS_MPRV, 0)

  j pass
  PRIV_HANDLERS
TEST_END
