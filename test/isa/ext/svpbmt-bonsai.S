/*
 * Svpbmt: without menvcfg.PBMTE the PBMT bits are reserved, so any non-zero value page-faults; PBMT = 3 is
 * reserved also with PBMTE set (privileged spec 1.12, 7.2). Bonsai only: QEMU 7.2 ignores PBMTE (the check
 * came in QEMU 8.0) and translates PBMT = 3 like the other types. PTE bits 60:54 are reserved and fault
 * (QEMU 7.2 ignores them once Svpbmt or Svnapot is on).
 */
#include "../priv/priv.h"
#include "../priv/paging.h"
#define PBMT_3  (3 << 61)
#define PBMTE   (1 << 62)
#define PBMT_NC (1 << 61)
#define VPG_NC   20
#define VPG_P3   22
#define VPG_RSV  23
TEST_BEGIN
  PRIV_SETUP
  li t0, PBMTE; csrw menvcfg, t0
  SV39_SETUP
  li t0, L0A + 8 * VPG_P3; li t1, PTE(DATA(VPG_RW), PTE_LEAF_RW) | PBMT_3; sd t1, 0(t0)
  li t0, L0A + 8 * VPG_NC; li t1, PTE(DATA(VPG_RW), PTE_LEAF_RW) | PBMT_NC; sd t1, 0(t0)
  li t0, L0A + 8 * VPG_RSV; li t1, PTE(DATA(VPG_RW), PTE_LEAF_RW) | (1 << 54); sd t1, 0(t0)
  li t0, SATP39; csrw satp, t0
  sfence.vma
  S_OK(14, VA(VPG_NC) + 0x20, LD_A1)
  CHECK(16, a0, DVAL(VPG_RW, 0x20))
  S_FAULT(2, VA(VPG_P3) + 0x10, LD_A1, CAUSE_LOAD_PAGE)
  S_FAULT(6, VA(VPG_P3) + 0x10, SD_A1, CAUSE_STORE_PAGE)
  S_FETCH_FAULT(10, VA(VPG_P3))
  S_FAULT(29, VA(VPG_RSV) + 0x10, LD_A1, CAUSE_LOAD_PAGE)
  /* PBMTE = 0: NC is reserved as well, once fenced */
  li t0, PBMTE; csrc menvcfg, t0
  sfence.vma
  S_FAULT(17, VA(VPG_NC) + 0x20, LD_A1, CAUSE_LOAD_PAGE)
  S_FAULT(21, VA(VPG_NC) + 0x20, SD_A1, CAUSE_STORE_PAGE)
  S_OK(25, VA(VPG_RW) + 0x10, LD_A1)
  CHECK(27, a0, DVAL(VPG_RW, 0x10))
  csrr a0, menvcfg; srli a0, a0, 62; andi a0, a0, 1; CHECK(28, a0, 0)
  csrw satp, zero
  sfence.vma
  csrw menvcfg, zero
  j pass

  PRIV_HANDLERS
  PAGING_CODE
TEST_END
