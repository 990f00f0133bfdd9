/* Sv57: five levels; 4 KiB pages, gigapages, terapages and 256 TiB petapages; a misaligned petapage,
   A/D in a petapage, 57-bit canonical addresses (and 48-bit ones that are only valid in Sv57). */
#include "priv.h"
#include "paging.h"
#define ROOT57 (PT_BASE + 0x3000)
#define L3A    (PT_BASE + 0x4000)
#define L2A    (PT_BASE + 0x5000)
#define L1C    (PT_BASE + 0x6000)
#define L0C    (PT_BASE + 0x7000)
#define SATP_SV57 (10 << 60)
#define SATP57 (SATP_SV57 | (ROOT57 >> 12))
#define PETA_VA     0x0001000000000000   /* ROOT57[1]: petapage -> PA 0 */
#define PETA_BAD_VA 0x0002000000000000   /* ROOT57[2]: petapage -> 0x80000000, misaligned */
#define PETA_AD0_VA 0x0003000000000000   /* ROOT57[3]: petapage -> PA 0, A = D = 0 */
#define TERA57_VA   0x0000008000000000   /* L3A[1]: terapage -> PA 0 */
#define HI48_VA     0x0000800000000000   /* L3A[256]: terapage -> PA 0 (bit 47 set: not canonical in Sv48) */
#define NEG57_VA    0xffff000000000000   /* ROOT57[511]: petapage -> PA 0 */
#define AD (PTE_A | PTE_D)
TEST_BEGIN
  PRIV_SETUP
  ZERO_RANGE(PT_BASE, PT_PAGES * 0x1000)
  FILL_DATA
  SET_PTE(ROOT57, 0, L3A, PTE_V)
  SET_PTE(ROOT57, 1, 0, PTE_LEAF_RW)
  SET_PTE(ROOT57, 2, 0x80000000, PTE_LEAF_RW)
  SET_PTE(ROOT57, 3, 0, PTE_V | PTE_R | PTE_W)
  SET_PTE(ROOT57, 511, 0, PTE_LEAF_RW)
  SET_PTE(L3A, 0, L2A, PTE_V)
  SET_PTE(L3A, 1, 0, PTE_LEAF_RW)
  SET_PTE(L3A, 256, 0, PTE_LEAF_RW)
  SET_PTE(L2A, 0, L1C, PTE_V)
  SET_PTE(L2A, 2, 0x80000000, PTE_LEAF_RWX)
  SET_PTE(L2A, 4, 0x80000000, PTE_LEAF_RWX | PTE_U)   /* UALIAS: U code */
  SET_PTE(L1C, 0, L0C, PTE_V)
  SET_PTE(L0C, VPG_RW, DATA(VPG_RW), PTE_LEAF_RW)
  SET_PTE(L0C, VPG_RO, DATA(VPG_RO), PTE_V | PTE_R | PTE_A)
  SET_PTE(L0C, VPG_INVALID, DATA(VPG_INVALID), PTE_R | PTE_W | PTE_A | PTE_D)
  li t0, SATP57; csrw satp, t0
  sfence.vma
  CHECK_CSR(2, satp, SATP57)
  li a2, 0x0123456789abcdef

  /* S code runs at the identity gigapage, five levels down. */
  S_OK(3, 0, nop)
  /* 4 KiB pages */
  S_OK(5, VA(VPG_RW) + 0x10, LD_A1)
  CHECK(7, a0, DVAL(VPG_RW, 0x10))
  S_OK(8, VA(VPG_RW) + 0x18, SD_A1)
  PEEK(a3, DATA(VPG_RW) + 0x18)
  CHECK(10, a3, 0x0123456789abcdef)
  S_FAULT(11, VA(VPG_RO) + 0x20, SD_A1, CAUSE_STORE_PAGE)
  S_FAULT(15, VA(VPG_INVALID) + 0x28, LD_A1, CAUSE_LOAD_PAGE)
  /* terapages, one of them where Sv48 has no canonical address */
  S_OK(19, TERA57_VA + DATA(VPG_RW) + 0x30, LD_A1)
  CHECK(21, a0, DVAL(VPG_RW, 0x30))
  S_OK(22, HI48_VA + DATA(VPG_RW) + 0x38, LD_A1)
  CHECK(24, a0, DVAL(VPG_RW, 0x38))
  /* petapages: PETA_VA + x is physical x */
  S_OK(25, PETA_VA + DATA(VPG_RW) + 0x40, LD_A1)
  CHECK(27, a0, DVAL(VPG_RW, 0x40))
  S_OK(28, PETA_VA + DATA(VPG_RW) + 0x48, SD_A1)
  PEEK(a3, DATA(VPG_RW) + 0x48)
  CHECK(30, a3, 0x0123456789abcdef)
  S_FAULT(31, PETA_BAD_VA + 0x80000000, LD_A1, CAUSE_LOAD_PAGE)
  S_FAULT(35, PETA_BAD_VA + 0x80000000, SD_A1, CAUSE_STORE_PAGE)
  /* a negative address */
  S_OK(39, NEG57_VA + DATA(VPG_RO) + 0x50, LD_A1)
  CHECK(41, a0, DVAL(VPG_RO, 0x50))
  /* 57-bit canonical form: bits 63:57 must equal bit 56. */
  S_FAULT(42, 0x0100000080000000, LD_A1, CAUSE_LOAD_PAGE)
  S_FAULT(46, 0xfe00000080001000, SD_A1, CAUSE_STORE_PAGE)
  S_FETCH_FAULT(50, 0x0100000080000000)
  S_FAULT(54, 0x8000000080000000, LD_A1, CAUSE_LOAD_PAGE)
  U_FAULT(58, 0xfeff000000000000, LD_A1, CAUSE_LOAD_PAGE)
  /* A/D in a petapage */
  S_OK(62, PETA_AD0_VA + DATA(VPG_RW) + 0x58, LD_A1)
  GET_PTE(a3, ROOT57, 3)
  CHECK_MASK(64, a3, AD, PTE_A)
  S_OK(65, PETA_AD0_VA + DATA(VPG_RW) + 0x60, SD_A1)
  GET_PTE(a3, ROOT57, 3)
  CHECK_MASK(67, a3, AD, AD)
  /* sfence.vma of one address in a petapage drops what was cached from it */
  SET_PTE(ROOT57, 1, 0x80000000 + 0x8000000000, PTE_LEAF_RW)  /* misaligned now: faults once fenced */
  li a1, PETA_VA + DATA(VPG_RW) + 0x40
  sfence.vma a1
  S_FAULT(68, PETA_VA + DATA(VPG_RW) + 0x40, LD_A1, CAUSE_LOAD_PAGE)

  /* Sv48 and Sv39 still work after Sv57: satp takes each mode. */
  li t0, (9 << 60); csrw satp, t0
  csrr a0, satp; srli a0, a0, 60; CHECK(72, a0, 9)
  li t0, SATP39; csrw satp, t0
  csrr a0, satp; srli a0, a0, 60; CHECK(73, a0, 8)
  csrw satp, zero
  sfence.vma
  j pass

  PRIV_HANDLERS
  PAGING_CODE
TEST_END
