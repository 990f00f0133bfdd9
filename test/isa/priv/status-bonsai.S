/* WARL fields of mstatus/sstatus and identification CSRs where QEMU 7.2 differs from Bonsai (docs/hart.md):
   QEMU 7.2 keeps the reserved MPP = 2 and lets a write of non-zero UXL change it; its misa has H, and its
   marchid/mimpid are its version. */
#include "priv.h"
TEST_BEGIN
  INSTALL_MTRAP
  csrw mie, zero

  /* MPP = 2 is reserved: a write of it leaves a legal mode (U, S or M; which one is not fixed). */
  SET_MPP(2)
  csrr a1, mstatus
  srli a1, a1, 11
  andi a1, a1, 3
  li TESTNUM, 2
  li t0, 2
  beq a1, t0, fail
  /* the same through a csrw of the whole register */
  csrr a2, mstatus
  li t0, ~MSTATUS_MPP; and a2, a2, t0
  li t0, (2 << 11); or a2, a2, t0
  csrw mstatus, a2
  csrr a1, mstatus
  srli a1, a1, 11
  andi a1, a1, 3
  li TESTNUM, 3
  li t0, 2
  beq a1, t0, fail

  /* UXL is read-only 2 (and SXL): writes of 1 and 3 leave it. */
  li t0, MSTATUS_UXL; csrs sstatus, t0
  csrr a1, sstatus
  CHECK_MASK(4, a1, MSTATUS_UXL, (2 << 32))
  li t0, MSTATUS_UXL; csrc mstatus, t0
  li t0, (1 << 32); csrs mstatus, t0
  csrr a1, mstatus
  CHECK_MASK(5, a1, MSTATUS_UXL, (2 << 32))
  li t0, MSTATUS_SXL; csrs mstatus, t0
  csrr a1, mstatus
  CHECK_MASK(6, a1, MSTATUS_SXL, (2 << 34))
  li t0, -1; csrw sstatus, t0
  csrr a1, sstatus
  CHECK_MASK(7, a1, MSTATUS_UXL, (2 << 32))
  csrw sstatus, zero

  /* Identification: misa exactly, marchid 0, mimpid 1. */
  CHECK_CSR(8, misa, 0x800000000014112d)
  CHECK_CSR(9, marchid, 0)
  CHECK_CSR(10, mimpid, 1)

  j pass
  PRIV_HANDLERS
TEST_END
