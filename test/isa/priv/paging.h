/*
 * Page tables for the paging programs (test/isa/priv/sv*.S, mprv.S, ...). Include after priv.h.
 *
 * Physical layout (RAM at 0x80000000): the program image below 0x80100000, page tables from PT_BASE,
 * data pages from DATA_BASE, a 2 MiB block at MEGA_PA for the megapages.
 *
 * Sv39 layout built by SV39_SETUP (root = ROOT39):
 *   VA 0x00000000-0x3fffffff  L2[0] -> L1A
 *       L1A[0] -> L0A, 4 KiB pages at VA n * 0x1000 (see the VPG_* numbers below)
 *       L1A[1]  VA 0x00200000  megapage -> MEGA_PA, RW, A D
 *       L1A[2]  VA 0x00400000  megapage -> MEGA_PA + 0x1000: misaligned, page fault
 *       L1A[3]  VA 0x00600000  megapage -> MEGA_PA, RW, A = D = 0
 *       L1A[4]  VA 0x00800000  megapage -> MEGA_PA, RW, U
 *   VA 0x40000000  L2[1]  gigapage -> 0x80000000, RW (an alias of the image)
 *   VA 0x80000000  L2[2]  gigapage -> 0x80000000, RWX (identity: S code runs here)
 *   VA 0xc0000000  L2[3]  gigapage -> MEGA_PA: misaligned, page fault
 *   VA 0x100000000 L2[4]  gigapage -> 0x80000000, RWX U (U code runs here: UVA(label))
 *   VA 0x140000000 L2[5]  gigapage -> UNMAPPED_PA (0x40000000), RW: access fault after translation
 *   VA 0xffffffffc0000000 L2[511] gigapage -> 0x80000000, RW (a negative canonical address)
 */
#define PT_BASE    0x80100000
#define ROOT39     (PT_BASE + 0x0000)
#define L1A        (PT_BASE + 0x1000)
#define L0A        (PT_BASE + 0x2000)
#define PT_SPARE   (PT_BASE + 0x3000)   /* four more tables for the programs' own use */
#define PT_PAGES   8
#define DATA_BASE  0x80110000
#define DATA(n)    (DATA_BASE + (n) * 0x1000)
#define DATA_PAGES 24
#define MEGA_PA    0x80200000

#define PTE(pa, flags) ((((pa) >> 12) << 10) | (flags))
#define PTE_LEAF_RW  (PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
#define PTE_LEAF_RWX (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)

/* table[idx] = PTE(pa, flags) (clobbers t0, t1) */
#define SET_PTE(table, idx, pa, flags)               \
  li t0, (table) + 8 * (idx); li t1, PTE(pa, flags); sd t1, 0(t0)
/* table[idx] = PTE(&label, flags) */
#define SET_PTE_LABEL(table, idx, label, flags)      \
  li t0, (table) + 8 * (idx); la t1, label; srli t1, t1, 12; slli t1, t1, 10; \
  ori t1, t1, (flags); sd t1, 0(t0)
/* reg = table[idx] */
#define GET_PTE(reg, table, idx) li t0, (table) + 8 * (idx); ld reg, 0(t0)

/* 4 KiB pages of L0A: VA = VPG_x * 0x1000. */
#define VPG_RW      1    /* DATA(1), RW */
#define VPG_RO      2    /* DATA(2), R */
#define VPG_INVALID 3    /* V = 0 */
#define VPG_WONLY   4    /* DATA(4), W without R: reserved */
#define VPG_XONLY   5    /* xpage, X only */
#define VPG_U       6    /* DATA(6), RW U */
#define VPG_WX      7    /* DATA(7), W X without R: reserved */
#define VPG_NOLEAF  8    /* V only at the last level: a pointer where a leaf must be */
#define VPG_AD0     9    /* DATA(9), RW, A = D = 0 */
#define VPG_A1D0    10   /* DATA(10), RW, A = 1, D = 0 */
#define VPG_XA0     11   /* xpage, X, A = 0 */
#define VPG_SWAP    12   /* DATA(12) or DATA(13): the sfence.vma page */
#define VPG_RX      14   /* xcross, R X */
#define VPG_AFTER   15   /* V = 0: the page after xcross */
#define VPG_UX      16   /* xpage, X U */
#define VPG_RWX     17   /* DATA(17), RWX */
#define VPG_RW2     18   /* DATA(20), RW: follows VPG_RWX in VA but not in PA */
#define VA(n)       ((n) * 0x1000)
#define MEGA_VA     0x00200000
#define MEGA_BAD_VA 0x00400000
#define MEGA_AD0_VA 0x00600000
#define MEGA_U_VA   0x00800000
#define GIGA_VA     0x40000000
#define GIGA_BAD_VA 0xc0000000
#define UALIAS      0x100000000
#define NOMEM_VA    0x140000000
#define NEG_VA      0xffffffffc0000000

/* reg = the U alias of a label (the image seen through L2[4]) */
#define UVA(reg, label) la reg, label; li t1, UALIAS - 0x80000000; add reg, reg, t1
/* Leave M for U code at a label, through its U alias. */
#define MRET_TO_U(label) SET_MPP(PRV_U); UVA(t0, label); csrw mepc, t0; mret
/* Check the recorded mepc against a label's U alias. */
#define CHECK_MEPC_U(num, label) li TESTNUM, num; UVA(t5, label); bne s9, t5, fail

/* Zero a range (clobbers t0-t2). */
#define ZERO_RANGE(base, bytes)                      \
  li t0, base; li t2, (base) + (bytes);              \
98: sd zero, 0(t0); addi t0, t0, 8; bltu t0, t2, 98b

/* Fill DATA(n) with n in every doubleword's top byte and the offset in the rest, so that every
   doubleword of every data page is distinct: DATA(n)[off] = (n << 56) | off (clobbers a0, t0-t2). */
#define FILL_DATA                                    \
  li t0, DATA_BASE; li t2, DATA_BASE + DATA_PAGES * 0x1000; \
98: li t1, DATA_BASE; sub t1, t0, t1;                \
  srli a0, t1, 12; slli a0, a0, 56;                  \
  slli t1, t1, 52; srli t1, t1, 52; or a0, a0, t1;   \
  sd a0, 0(t0); addi t0, t0, 8; bltu t0, t2, 98b
#define DVAL(n, off) (((n) << 56) | (off))

/* Build the Sv39 tables described above. */
#define SV39_SETUP                                   \
  ZERO_RANGE(PT_BASE, PT_PAGES * 0x1000);            \
  FILL_DATA;                                         \
  SET_PTE(ROOT39, 0, L1A, PTE_V);                    \
  SET_PTE(ROOT39, 1, 0x80000000, PTE_LEAF_RW);       \
  SET_PTE(ROOT39, 2, 0x80000000, PTE_LEAF_RWX);      \
  SET_PTE(ROOT39, 3, MEGA_PA, PTE_LEAF_RW);          \
  SET_PTE(ROOT39, 4, 0x80000000, PTE_LEAF_RWX | PTE_U); \
  SET_PTE(ROOT39, 5, UNMAPPED_PA, PTE_LEAF_RW);      \
  SET_PTE(ROOT39, 511, 0x80000000, PTE_LEAF_RW);     \
  SET_PTE(L1A, 0, L0A, PTE_V);                       \
  SET_PTE(L1A, 1, MEGA_PA, PTE_LEAF_RW);             \
  SET_PTE(L1A, 2, MEGA_PA + 0x1000, PTE_LEAF_RW);    \
  SET_PTE(L1A, 3, MEGA_PA, PTE_V | PTE_R | PTE_W);   \
  SET_PTE(L1A, 4, MEGA_PA, PTE_LEAF_RW | PTE_U);     \
  SET_PTE(L0A, VPG_RW, DATA(VPG_RW), PTE_LEAF_RW);   \
  SET_PTE(L0A, VPG_RO, DATA(VPG_RO), PTE_V | PTE_R | PTE_A); \
  SET_PTE(L0A, VPG_INVALID, DATA(VPG_INVALID), PTE_R | PTE_W | PTE_A | PTE_D); \
  SET_PTE(L0A, VPG_WONLY, DATA(VPG_WONLY), PTE_V | PTE_W | PTE_A | PTE_D); \
  SET_PTE_LABEL(L0A, VPG_XONLY, xpage, PTE_V | PTE_X | PTE_A); \
  SET_PTE(L0A, VPG_U, DATA(VPG_U), PTE_LEAF_RW | PTE_U); \
  SET_PTE(L0A, VPG_WX, DATA(VPG_WX), PTE_V | PTE_W | PTE_X | PTE_A | PTE_D); \
  SET_PTE(L0A, VPG_NOLEAF, DATA(VPG_NOLEAF), PTE_V); \
  SET_PTE(L0A, VPG_AD0, DATA(VPG_AD0), PTE_V | PTE_R | PTE_W); \
  SET_PTE(L0A, VPG_A1D0, DATA(VPG_A1D0), PTE_V | PTE_R | PTE_W | PTE_A); \
  SET_PTE_LABEL(L0A, VPG_XA0, xpage, PTE_V | PTE_X);  \
  SET_PTE(L0A, VPG_SWAP, DATA(12), PTE_LEAF_RW);     \
  SET_PTE_LABEL(L0A, VPG_RX, xcross, PTE_V | PTE_R | PTE_X | PTE_A); \
  SET_PTE_LABEL(L0A, VPG_UX, xpage, PTE_V | PTE_R | PTE_X | PTE_A | PTE_U); \
  SET_PTE(L0A, VPG_RWX, DATA(VPG_RWX), PTE_LEAF_RWX); \
  SET_PTE(L0A, VPG_RW2, DATA(20), PTE_LEAF_RW);      \
  sfence.vma

#define SATP39 (SATP_SV39 | (ROOT39 >> 12))

/* Code pages for the tables: xpage returns 0x5a in a0; xcross ends with the first half of a 32-bit
   instruction (addi a0, a0, 1) whose second half lies on the next page. Place after the body. */
#define PAGING_CODE                                  \
  .align 12;                                         \
xpage:                                               \
  li a0, 0x5a;                                       \
  ret;                                               \
  .align 12;                                         \
xcross:                                              \
  .option push; .option norvc;                       \
  li a0, 0x77;                                       \
  ret;                                               \
  .space 0x1000 - 8 - 2, 0;                          \
  .half 0x0513;                                      \
  .half 0x0015;                                      \
  .option pop;                                       \
  .align 12

/* The access under test: a1 holds the address (set in M before the mret), a2 the value to store. */
#define LD_A1   ld a0, 0(a1)
#define LW_A1   lw a0, 0(a1)
#define SD_A1   sd a2, 0(a1)
#define AMO_A1  amoadd.d a0, a2, (a1)
#define LR_A1   lr.d a0, (a1)
#define CALL_A1 jalr a1

/* `insn` at va in `mode` (S: identity code; U: the U alias) faults with `cause`, mtval = va, mepc = insn. */
#define S_FAULT(num, va, insn, cause)                \
  li a1, va;                                         \
  EXPECT_MTRAP(1f);                                  \
  MRET_TO(PRV_S, 10f);                               \
10: insn;                                            \
  MUST_TRAP(num);                                    \
1:CHECK_MCAUSE(num + 1, cause);                      \
  CHECK_MTVAL(num + 2, va);                          \
  CHECK_MEPC(num + 3, 10b)
/* S_FAULT where mtval is not the address in a1 (a page-crossing access, a cache block). Its own body, not
   S_FAULT's: an instruction macro passed on through another macro would be expanded, commas and all. */
#define S_FAULT_TVAL(num, va, insn, cause, tval)     \
  li a1, va;                                         \
  EXPECT_MTRAP(1f);                                  \
  MRET_TO(PRV_S, 10f);                               \
10: insn;                                            \
  MUST_TRAP(num);                                    \
1:CHECK_MCAUSE(num + 1, cause);                      \
  CHECK_MTVAL(num + 2, tval);                        \
  CHECK_MEPC(num + 3, 10b)
#define U_FAULT(num, va, insn, cause)                \
  li a1, va;                                         \
  EXPECT_MTRAP(1f);                                  \
  MRET_TO_U(10f);                                    \
10: insn;                                            \
  MUST_TRAP(num);                                    \
1:CHECK_MCAUSE(num + 1, cause);                      \
  CHECK_MTVAL(num + 2, va);                          \
  CHECK_MEPC_U(num + 3, 10b)
/* A call to va in `mode` faults on the fetch: mepc = mtval = va. */
#define S_FETCH_FAULT(num, va)                       \
  li a1, va;                                         \
  EXPECT_MTRAP(1f);                                  \
  MRET_TO(PRV_S, 10f);                               \
10: jalr a1;                                         \
  MUST_TRAP(num);                                    \
1:CHECK_MCAUSE(num + 1, CAUSE_FETCH_PAGE);           \
  CHECK_MTVAL(num + 2, va);                          \
  CHECK(num + 3, s9, va)
#define U_FETCH_FAULT(num, va)                       \
  li a1, va;                                         \
  EXPECT_MTRAP(1f);                                  \
  MRET_TO_U(10f);                                    \
10: jalr a1;                                         \
  MUST_TRAP(num);                                    \
1:CHECK_MCAUSE(num + 1, CAUSE_FETCH_PAGE);           \
  CHECK_MTVAL(num + 2, va);                          \
  CHECK(num + 3, s9, va)
/* `insn` at va in `mode` completes (then the ecall reaches M); a0 holds what it loaded. */
#define S_OK(num, va, insn)                          \
  li a1, va; li a0, -1;                              \
  EXPECT_MTRAP(1f);                                  \
  MRET_TO(PRV_S, 10f);                               \
10: insn;                                            \
  ecall;                                             \
  MUST_TRAP(num);                                    \
1:CHECK_MCAUSE(num + 1, CAUSE_ECALL_S)
#define U_OK(num, va, insn)                          \
  li a1, va; li a0, -1;                              \
  EXPECT_MTRAP(1f);                                  \
  MRET_TO_U(10f);                                    \
10: insn;                                            \
  ecall;                                             \
  MUST_TRAP(num);                                    \
1:CHECK_MCAUSE(num + 1, CAUSE_ECALL_U)
/* reg = the doubleword at a physical address (M) */
#define PEEK(reg, pa) li t0, pa; ld reg, 0(t0)
