/* Sv39 with the hart's A/D updates (Svadu): A after a read or fetch, A and D after a write, no fault; a
   faulting store leaves D alone. sfence.vma (global and per address) makes a changed PTE visible.
   satp: writes of unsupported modes are ignored as a whole; S can switch translation off and on. */
#include "priv.h"
#include "paging.h"
#define AD (PTE_A | PTE_D)
TEST_BEGIN
  INSTALL_MTRAP
  PMP_ALLOW_ALL
  csrw mie, zero
  csrw medeleg, zero
  csrw mideleg, zero
  SV39_SETUP
  li t0, SATP39; csrw satp, t0
  sfence.vma
  li a2, 0x0123456789abcdef

  /* A = D = 0 page: a load sets A only. */
  GET_PTE(a3, L0A, VPG_AD0)
  CHECK_MASK(2, a3, AD, 0)
  S_OK(3, VA(VPG_AD0) + 0x10, LD_A1)
  CHECK(5, a0, DVAL(VPG_AD0, 0x10))
  GET_PTE(a3, L0A, VPG_AD0)
  CHECK_MASK(6, a3, AD | PTE_V | PTE_R | PTE_W, PTE_A | PTE_V | PTE_R | PTE_W)
  /* then a store sets D */
  S_OK(7, VA(VPG_AD0) + 0x18, SD_A1)
  GET_PTE(a3, L0A, VPG_AD0)
  CHECK_MASK(9, a3, AD, AD)
  PEEK(a4, DATA(VPG_AD0) + 0x18)
  CHECK(10, a4, 0x0123456789abcdef)
  /* the PPN is untouched */
  srli a3, a3, 10
  CHECK(11, a3, DATA(VPG_AD0) >> 12)
  /* reset it to A = D = 0: a store alone sets both */
  SET_PTE(L0A, VPG_AD0, DATA(VPG_AD0), PTE_V | PTE_R | PTE_W)
  sfence.vma
  S_OK(12, VA(VPG_AD0) + 0x20, SD_A1)
  GET_PTE(a3, L0A, VPG_AD0)
  CHECK_MASK(14, a3, AD, AD)
  /* an AMO likewise */
  SET_PTE(L0A, VPG_AD0, DATA(VPG_AD0), PTE_V | PTE_R | PTE_W)
  sfence.vma
  S_OK(15, VA(VPG_AD0) + 0x28, AMO_A1)
  CHECK(17, a0, DVAL(VPG_AD0, 0x28))
  GET_PTE(a3, L0A, VPG_AD0)
  CHECK_MASK(18, a3, AD, AD)

  /* A = 1, D = 0: a store sets D. */
  S_OK(19, VA(VPG_A1D0) + 0x30, SD_A1)
  GET_PTE(a3, L0A, VPG_A1D0)
  CHECK_MASK(21, a3, AD, AD)

  /* A = 0 execute-only page: a fetch sets A (not D). */
  S_OK(22, VA(VPG_XA0), CALL_A1)
  CHECK(24, a0, 0x5a)
  GET_PTE(a3, L0A, VPG_XA0)
  CHECK_MASK(25, a3, AD, PTE_A)

  /* A faulting store to a read-only page (A = 1, D = 0) leaves D clear; a load sets nothing new. */
  S_FAULT(26, VA(VPG_RO) + 8, SD_A1, CAUSE_STORE_PAGE)
  GET_PTE(a3, L0A, VPG_RO)
  CHECK_MASK(30, a3, AD, PTE_A)
  /* a faulting S access to a U page (SUM = 0) with A = 0 does not set A */
  SET_PTE(L0A, VPG_U, DATA(VPG_U), PTE_V | PTE_R | PTE_W | PTE_U)
  sfence.vma
  S_FAULT(31, VA(VPG_U), LD_A1, CAUSE_LOAD_PAGE)
  GET_PTE(a3, L0A, VPG_U)
  CHECK_MASK(35, a3, AD, 0)
  /* U itself: A then D */
  U_OK(36, VA(VPG_U) + 8, LD_A1)
  GET_PTE(a3, L0A, VPG_U)
  CHECK_MASK(38, a3, AD, PTE_A)
  U_OK(39, VA(VPG_U) + 8, SD_A1)
  GET_PTE(a3, L0A, VPG_U)
  CHECK_MASK(41, a3, AD, AD)

  /* Megapage with A = D = 0: a load sets A, a store D. */
  S_OK(42, MEGA_AD0_VA + 0x100, LD_A1)
  GET_PTE(a3, L1A, 3)
  CHECK_MASK(44, a3, AD, PTE_A)
  S_OK(45, MEGA_AD0_VA + 0x108, SD_A1)
  GET_PTE(a3, L1A, 3)
  CHECK_MASK(47, a3, AD, AD)
  PEEK(a4, MEGA_PA + 0x108)
  CHECK(48, a4, 0x0123456789abcdef)
  /* Gigapage with A = D = 0 (a fresh root entry 6, VA 0x180000000 -> 0x80000000). */
  SET_PTE(ROOT39, 6, 0x80000000, PTE_V | PTE_R | PTE_W)
  sfence.vma
  S_OK(49, 0x180000000 + (DATA(VPG_RW) + 0x40 - 0x80000000), LD_A1)
  CHECK(51, a0, DVAL(VPG_RW, 0x40))
  GET_PTE(a3, ROOT39, 6)
  CHECK_MASK(52, a3, AD, PTE_A)
  S_OK(53, 0x180000000 + (DATA(VPG_RW) + 0x48 - 0x80000000), SD_A1)
  GET_PTE(a3, ROOT39, 6)
  CHECK_MASK(55, a3, AD, AD)
  /* the non-leaf entries on the way are not given A/D */
  GET_PTE(a3, ROOT39, 0)
  CHECK(56, a3, PTE(L1A, PTE_V))
  GET_PTE(a3, L1A, 0)
  CHECK(57, a3, PTE(L0A, PTE_V))

  /* sfence.vma: page VPG_SWAP maps DATA(12); S reads it, M moves it to DATA(13), S runs sfence.vma
     for that address and reads DATA(13). */
  S_OK(58, VA(VPG_SWAP) + 0x50, LD_A1)
  CHECK(60, a0, DVAL(12, 0x50))
  SET_PTE(L0A, VPG_SWAP, DATA(13), PTE_LEAF_RW)
#define SFENCE_VA_LD sfence.vma a1; ld a0, 0(a1)
#define SFENCE_ALL_LD sfence.vma; ld a0, 0(a1)
  S_OK(61, VA(VPG_SWAP) + 0x50, SFENCE_VA_LD)
  CHECK(63, a0, DVAL(13, 0x50))
  /* back to DATA(12), global form */
  S_OK(64, VA(VPG_SWAP) + 0x58, LD_A1)
  CHECK(66, a0, DVAL(13, 0x58))
  SET_PTE(L0A, VPG_SWAP, DATA(12), PTE_LEAF_RW)
  S_OK(67, VA(VPG_SWAP) + 0x58, SFENCE_ALL_LD)
  CHECK(69, a0, DVAL(12, 0x58))
  /* invalidated: the sfence.vma makes the next access fault */
  S_OK(70, VA(VPG_SWAP) + 0x60, LD_A1)
  SET_PTE(L0A, VPG_SWAP, DATA(12), 0)
  li a1, VA(VPG_SWAP) + 0x60
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: sfence.vma a1, zero
11: ld a0, 0(a1)
  MUST_TRAP(72)
1:CHECK_MCAUSE(73, CAUSE_LOAD_PAGE)
  CHECK_MEPC(74, 11b)
  CHECK_MTVAL(75, VA(VPG_SWAP) + 0x60)
  /* valid again, and M runs the sfence.vma this time */
  SET_PTE(L0A, VPG_SWAP, DATA(13), PTE_LEAF_RW)
  sfence.vma
  S_OK(76, VA(VPG_SWAP) + 0x60, LD_A1)
  CHECK(78, a0, DVAL(13, 0x60))
  /* a changed permission: RW -> R; after sfence.vma a store faults */
  S_OK(79, VA(VPG_SWAP) + 0x68, SD_A1)
  SET_PTE(L0A, VPG_SWAP, DATA(13), PTE_V | PTE_R | PTE_A)
  li a1, VA(VPG_SWAP) + 0x68
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: sfence.vma a1
11: sd a2, 0(a1)
  MUST_TRAP(81)
1:CHECK_MCAUSE(82, CAUSE_STORE_PAGE)
  CHECK_MEPC(83, 11b)
  /* a changed superpage: the megapage at MEGA_VA moved 2 MiB up */
  li t0, MEGA_PA + 0x200000 + 0x70; li t1, 0x5555666677778888; sd t1, 0(t0)
  S_OK(84, MEGA_VA + 0x70, LD_A1)
  SET_PTE(L1A, 1, MEGA_PA + 0x200000, PTE_LEAF_RW)
  S_OK(86, MEGA_VA + 0x70, SFENCE_VA_LD)
  CHECK(88, a0, 0x5555666677778888)

  /* satp: unsupported modes (1, 7, 11, 15) are ignored as a whole, PPN included. */
#define SATP_IGNORED(num, mode)                      \
  li t0, ((mode) << 60) | 0x12345; csrw satp, t0;    \
  CHECK_CSR(num, satp, SATP39)
  SATP_IGNORED(89, 1)
  SATP_IGNORED(90, 7)
  SATP_IGNORED(91, 11)
  SATP_IGNORED(92, 15)
  /* ... from Bare too */
  csrw satp, zero
  li t0, (11 << 60) | (ROOT39 >> 12); csrw satp, t0
  CHECK_CSR(93, satp, 0)
  li t0, SATP39; csrw satp, t0
  CHECK_CSR(94, satp, SATP39)
  /* and translation still works */
  sfence.vma
  S_OK(95, VA(VPG_RW) + 0x10, LD_A1)
  CHECK(97, a0, DVAL(VPG_RW, 0x10))

  /* S switches translation off (Bare: its code keeps running at the same addresses), reads a physical
     address, and switches it back on. */
  li a1, DATA(VPG_RW) + 0x20
  li a3, SATP39
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: csrw satp, zero
  sfence.vma
  ld a0, 0(a1)
  csrw satp, a3
  sfence.vma
  li a1, VA(VPG_RW) + 0x28
  ld a4, 0(a1)
  csrr a5, satp
  ecall
1:CHECK_MCAUSE(98, CAUSE_ECALL_S)
  CHECK(99, a0, DVAL(VPG_RW, 0x20))
  CHECK(100, a4, DVAL(VPG_RW, 0x28))
  CHECK(101, a5, SATP39)

  csrw satp, zero
  sfence.vma
  j pass

  PRIV_HANDLERS
  PAGING_CODE
TEST_END
