/* Sv39: 4 KiB pages, 2 MiB megapages, 1 GiB gigapages; misaligned superpages, invalid and reserved PTEs,
   R/W/X permissions, U/SUM/MXR. (Non-canonical addresses, access faults, page-crossing accesses and
   delegated page faults: sv39-fault.S.) */
#include "priv.h"
#include "paging.h"
TEST_BEGIN
  INSTALL_MTRAP
  INSTALL_STRAP
  PMP_ALLOW_ALL
  csrw mie, zero
  csrw medeleg, zero
  csrw mideleg, zero
  SV39_SETUP
  li t0, SATP39; csrw satp, t0
  sfence.vma
  CHECK_CSR(2, satp, SATP39)
  li a2, 0x0123456789abcdef

  /* S code runs at the identity mapping. */
  S_OK(3, 0, nop)

  /* 4 KiB RW page: loads see DATA(1), stores land in it. */
  S_OK(5, VA(VPG_RW) + 0x10, LD_A1)
  CHECK(7, a0, DVAL(VPG_RW, 0x10))
  S_OK(8, VA(VPG_RW) + 0x18, SD_A1)
  PEEK(a3, DATA(VPG_RW) + 0x18)
  CHECK(10, a3, 0x0123456789abcdef)
  S_OK(11, VA(VPG_RW) + 0xff8, LW_A1)
  CHECK(13, a0, 0xff8)

  /* Read-only page: loads work; stores and AMOs fault (15). */
  S_OK(14, VA(VPG_RO) + 0x20, LD_A1)
  CHECK(16, a0, DVAL(VPG_RO, 0x20))
  S_FAULT(17, VA(VPG_RO) + 0x28, SD_A1, CAUSE_STORE_PAGE)
  S_FAULT(21, VA(VPG_RO) + 0x30, AMO_A1, CAUSE_STORE_PAGE)
  PEEK(a3, DATA(VPG_RO) + 0x28)
  CHECK(25, a3, DVAL(VPG_RO, 0x28))

  /* Invalid PTE: 13 / 15 / 12. */
  S_FAULT(26, VA(VPG_INVALID) + 0x40, LD_A1, CAUSE_LOAD_PAGE)
  S_FAULT(30, VA(VPG_INVALID) + 0x48, SD_A1, CAUSE_STORE_PAGE)
  S_FETCH_FAULT(34, VA(VPG_INVALID) + 0x50)
  S_FAULT(38, VA(VPG_INVALID), LR_A1, CAUSE_LOAD_PAGE)

  /* Reserved encodings W without R, and W+X without R: faults of the access type. */
  S_FAULT(42, VA(VPG_WONLY) + 8, LD_A1, CAUSE_LOAD_PAGE)
  S_FAULT(46, VA(VPG_WONLY) + 8, SD_A1, CAUSE_STORE_PAGE)
  S_FAULT(50, VA(VPG_WX) + 8, LD_A1, CAUSE_LOAD_PAGE)
  S_FAULT(54, VA(VPG_WX) + 8, SD_A1, CAUSE_STORE_PAGE)
  S_FETCH_FAULT(58, VA(VPG_WX))
  /* A pointer (R = W = X = 0) at the last level. */
  S_FAULT(62, VA(VPG_NOLEAF) + 8, LD_A1, CAUSE_LOAD_PAGE)

  /* Execute-only page: fetch works; loads fault unless MXR; stores fault regardless. */
  S_OK(66, VA(VPG_XONLY), CALL_A1)
  CHECK(68, a0, 0x5a)
  S_FAULT(69, VA(VPG_XONLY), LD_A1, CAUSE_LOAD_PAGE)
  li t0, MSTATUS_MXR; csrs mstatus, t0
  S_OK(73, VA(VPG_XONLY), LW_A1)
  la t0, xpage; lw t0, 0(t0)
  li TESTNUM, 75; bne a0, t0, fail
  S_FAULT(76, VA(VPG_XONLY), SD_A1, CAUSE_STORE_PAGE)
  S_OK(80, VA(VPG_RO) + 0x20, LD_A1)
  CHECK(82, a0, DVAL(VPG_RO, 0x20))
  li t0, MSTATUS_MXR; csrc mstatus, t0
  /* a non-executable page cannot be fetched from */
  S_FETCH_FAULT(83, VA(VPG_RW))
  S_FETCH_FAULT(87, VA(VPG_RO))

  /* U page from S: loads and stores fault unless SUM; fetches fault always. */
  S_FAULT(91, VA(VPG_U) + 0x10, LD_A1, CAUSE_LOAD_PAGE)
  S_FAULT(95, VA(VPG_U) + 0x10, SD_A1, CAUSE_STORE_PAGE)
  S_FETCH_FAULT(99, VA(VPG_UX))
  li t0, MSTATUS_SUM; csrs mstatus, t0
  S_OK(103, VA(VPG_U) + 0x10, LD_A1)
  CHECK(105, a0, DVAL(VPG_U, 0x10))
  S_OK(106, VA(VPG_U) + 0x18, SD_A1)
  PEEK(a3, DATA(VPG_U) + 0x18)
  CHECK(108, a3, 0x0123456789abcdef)
  S_FETCH_FAULT(109, VA(VPG_UX))
  /* S never executes U pages, SUM or not: the U alias of xpage */
  UVA(a1, xpage)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: jalr a1
  MUST_TRAP(113)
1:CHECK_MCAUSE(114, CAUSE_FETCH_PAGE)
  li TESTNUM, 115; bne s10, a1, fail
  li TESTNUM, 116; bne s9, a1, fail
  /* SUM does not open supervisor pages to U (below) and U megapages work for S with SUM */
  S_OK(117, MEGA_U_VA + 0x100, LD_A1)
  li t0, MSTATUS_SUM; csrc mstatus, t0
  S_FAULT(119, MEGA_U_VA + 0x100, LD_A1, CAUSE_LOAD_PAGE)

  /* U mode (code at the U alias): U pages work, supervisor pages fault for load, store and fetch. */
  U_OK(123, VA(VPG_U) + 0x20, LD_A1)
  CHECK(125, a0, DVAL(VPG_U, 0x20))
  U_OK(126, VA(VPG_U) + 0x28, SD_A1)
  PEEK(a3, DATA(VPG_U) + 0x28)
  CHECK(128, a3, 0x0123456789abcdef)
  U_OK(129, VA(VPG_UX), CALL_A1)
  CHECK(131, a0, 0x5a)
  U_OK(132, MEGA_U_VA + 0x100, LD_A1)
  U_FAULT(134, VA(VPG_RW) + 0x30, LD_A1, CAUSE_LOAD_PAGE)
  U_FAULT(138, VA(VPG_RW) + 0x30, SD_A1, CAUSE_STORE_PAGE)
  U_FETCH_FAULT(142, VA(VPG_XONLY))
  U_FAULT(146, MEGA_VA, LD_A1, CAUSE_LOAD_PAGE)
  /* SUM does not matter to U */
  li t0, MSTATUS_SUM; csrs mstatus, t0
  U_FAULT(150, VA(VPG_RW) + 0x30, LD_A1, CAUSE_LOAD_PAGE)
  li t0, MSTATUS_SUM; csrc mstatus, t0
  /* MXR lets U read its execute-only... the UX page is R X; a U RO access to a non-U X page still faults */
  li t0, MSTATUS_MXR; csrs mstatus, t0
  U_FAULT(154, VA(VPG_XONLY), LD_A1, CAUSE_LOAD_PAGE)
  li t0, MSTATUS_MXR; csrc mstatus, t0

  /* Megapage: VA MEGA_VA + x is MEGA_PA + x. */
  li t0, MEGA_PA + 0x12340; li t1, 0x1111222233334444; sd t1, 0(t0)
  S_OK(158, MEGA_VA + 0x12340, LD_A1)
  CHECK(160, a0, 0x1111222233334444)
  S_OK(161, MEGA_VA + 0x1ffff8, SD_A1)
  PEEK(a3, MEGA_PA + 0x1ffff8)
  CHECK(163, a3, 0x0123456789abcdef)
  /* a megapage whose PPN[0] is not zero: page fault */
  S_FAULT(164, MEGA_BAD_VA + 0x10, LD_A1, CAUSE_LOAD_PAGE)
  S_FAULT(168, MEGA_BAD_VA + 0x10, SD_A1, CAUSE_STORE_PAGE)

  /* Gigapage: VA GIGA_VA + x is 0x80000000 + x. */
  S_OK(172, GIGA_VA + (DATA(VPG_RW) + 0x100 - 0x80000000), LD_A1)
  CHECK(174, a0, DVAL(VPG_RW, 0x100))
  S_OK(175, GIGA_VA + (DATA(VPG_RW) + 0x108 - 0x80000000), SD_A1)
  PEEK(a3, DATA(VPG_RW) + 0x108)
  CHECK(177, a3, 0x0123456789abcdef)
  /* misaligned gigapage (PPN[1] != 0) */
  S_FAULT(178, GIGA_BAD_VA + 0x20, LD_A1, CAUSE_LOAD_PAGE)
  /* a negative (canonical) address, through L2[511] */
  S_OK(182, NEG_VA + (DATA(VPG_RO) + 0x8 - 0x80000000), LD_A1)
  CHECK(184, a0, DVAL(VPG_RO, 0x8))

  /* The faults above left the tables alone: a last successful access, then paging off. */
  S_OK(185, VA(VPG_RW) + 0x10, LD_A1)
  CHECK(187, a0, DVAL(VPG_RW, 0x10))
  csrw satp, zero
  sfence.vma
  j pass

  PRIV_HANDLERS
  PAGING_CODE
TEST_END
