/* Paging where QEMU 7.2 differs from Bonsai (docs/hart.md): a satp write of a mode that is not implemented
   (Sv64, mode 11) is ignored as a whole, PPN and ASID included; a page-table walk that reaches a physical
   address with nothing there is an access fault of the original access type (privileged spec 1.12, 4.3.2
   step 2; QEMU 7.2 reports a page fault). */
#include "priv.h"
#include "paging.h"
TEST_BEGIN
  INSTALL_MTRAP
  PMP_ALLOW_ALL
  csrw mie, zero
  csrw medeleg, zero
  csrw mideleg, zero
  SV39_SETUP
  /* root entry 6 (VA 0x180000000): a pointer to a table at UNMAPPED_PA */
  SET_PTE(ROOT39, 6, UNMAPPED_PA, PTE_V)
  /* L1A[5] (VA 0x00a00000): a pointer to a last-level table at UNMAPPED_PA + 0x1000 */
  SET_PTE(L1A, 5, UNMAPPED_PA + 0x1000, PTE_V)
  li t0, SATP39; csrw satp, t0
  sfence.vma

  /* Sv64 (mode 11) is not supported: the write is ignored, PPN and ASID included. */
  li t0, (11 << 60) | (ROOT39 >> 12); csrw satp, t0
  CHECK_CSR(2, satp, SATP39)
  csrw satp, zero
  li t0, (11 << 60) | (ROOT39 >> 12); csrw satp, t0
  CHECK_CSR(3, satp, 0)
  /* and Sv48 is (mode 9) */
  li t0, SATP_SV48 | (ROOT39 >> 12); csrw satp, t0
  CHECK_CSR(4, satp, SATP_SV48 | (ROOT39 >> 12))
  li t0, SATP39; csrw satp, t0
  sfence.vma
  li a2, 0x0123456789abcdef

  /* Walks that read a PTE from nowhere: access faults, mtval = the virtual address. */
  S_FAULT(5, 0x180000010, LD_A1, CAUSE_LOAD_ACCESS)
  S_FAULT(9, 0x180000018, SD_A1, CAUSE_STORE_ACCESS)
  li a1, 0x180000000
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: jalr a1
  MUST_TRAP(13)
1:CHECK_MCAUSE(14, CAUSE_FETCH_ACCESS)
  CHECK_MTVAL(15, 0x180000000)
  CHECK(16, s9, 0x180000000)
  S_FAULT(17, 0x00a00020, LD_A1, CAUSE_LOAD_ACCESS)
  S_FAULT(21, 0x00a00028, AMO_A1, CAUSE_STORE_ACCESS)
  U_FAULT(25, 0x00a00030, LD_A1, CAUSE_LOAD_ACCESS)

  csrw satp, zero
  sfence.vma
  j pass

  PRIV_HANDLERS
  PAGING_CODE
TEST_END
