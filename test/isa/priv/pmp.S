/* PMP (entries 0-15, none locked): pmpcfg/pmpaddr CSRs with TOR/NA4/NAPOT, S/U accesses checked against
   R/W/X (mcause 1/5/7, mtval = the address), no match = failure once an entry is active, the lowest
   matching entry wins, TOR with pmpaddr0 as base, M unaffected by unlocked entries, MPRV checked as S. */
#include "priv.h"
#define T 0x81000000                 /* test region base, RAM outside the image */
#define RD_A1  ld a0, 0(a1)
#define WR_A1  sd a2, 0(a1)
#define CALL_A1 jalr a1
#define RDW_A1 lw a0, 0(a1)          /* NA4 regions are 4 bytes: word accesses */
#define WRW_A1 sw a2, 0(a1)
#define AMOW_A1 amoadd.w a0, a2, (a1)
/* run insn in mode at label 10 with a1 = addr: expect success and reach the ecall */
#define P_OK(num, mode, addr, insn, ecause)          \
  li a1, addr; li a0, -1;                            \
  EXPECT_MTRAP(1f);                                  \
  MRET_TO(mode, 10f);                                \
10: insn;                                            \
  ecall;                                             \
  MUST_TRAP(num);                                    \
1:CHECK_MCAUSE(num + 1, ecause)
/* ... expect an access fault: mcause, mtval = addr, mepc = insn (or addr for a fetch) */
#define P_FAULT(num, mode, addr, insn, cause)        \
  li a1, addr;                                       \
  EXPECT_MTRAP(1f);                                  \
  MRET_TO(mode, 10f);                                \
10: insn;                                            \
  MUST_TRAP(num);                                    \
1:CHECK_MCAUSE(num + 1, cause);                      \
  CHECK_MTVAL(num + 2, addr)
TEST_BEGIN
  INSTALL_MTRAP
  csrw mie, zero
  csrw medeleg, zero
  csrw satp, zero
  li a2, 0x0123456789abcdef

  /* pmpaddr0-15 hold what is written (4-byte granularity: every bit of the address). */
  li a1, 0x20000123
  csrw pmpaddr0, a1
  addi a1, a1, 1; csrw pmpaddr1, a1
  addi a1, a1, 1; csrw pmpaddr2, a1
  addi a1, a1, 1; csrw pmpaddr3, a1
  addi a1, a1, 1; csrw pmpaddr4, a1
  addi a1, a1, 1; csrw pmpaddr5, a1
  addi a1, a1, 1; csrw pmpaddr6, a1
  addi a1, a1, 1; csrw pmpaddr7, a1
  addi a1, a1, 1; csrw pmpaddr8, a1
  addi a1, a1, 1; csrw pmpaddr9, a1
  addi a1, a1, 1; csrw pmpaddr10, a1
  addi a1, a1, 1; csrw pmpaddr11, a1
  addi a1, a1, 1; csrw pmpaddr12, a1
  addi a1, a1, 1; csrw pmpaddr13, a1
  addi a1, a1, 1; csrw pmpaddr14, a1
  addi a1, a1, 1; csrw pmpaddr15, a1
  CHECK_CSR(2, pmpaddr0, 0x20000123)
  CHECK_CSR(3, pmpaddr1, 0x20000124)
  CHECK_CSR(4, pmpaddr7, 0x2000012a)
  CHECK_CSR(5, pmpaddr8, 0x2000012b)
  CHECK_CSR(6, pmpaddr15, 0x20000132)
  /* the 54 address bits (55:2) are all writable */
  li t0, -1; csrw pmpaddr9, t0
  csrr a1, pmpaddr9
  CHECK_MASK(7, a1, 0x003fffffffffffff, 0x003fffffffffffff)
  li t0, 0x0015555555555555; csrw pmpaddr9, t0
  CHECK_CSR(8, pmpaddr9, 0x0015555555555555)
  csrw pmpaddr9, zero
  CHECK_CSR(9, pmpaddr9, 0)

  /* pmpcfg0 (entries 0-7) and pmpcfg2 (entries 8-15): TOR, NA4, NAPOT, OFF with legal R/W/X. */
  li t0, 0x0f0d0b0907050301; csrw pmpcfg0, t0
  CHECK_CSR(10, pmpcfg0, 0x0f0d0b0907050301)
  li t0, 0x1f1d1b1918171513; csrw pmpcfg2, t0
  CHECK_CSR(11, pmpcfg2, 0x1f1d1b1918171513)
  csrw pmpcfg0, zero
  csrw pmpcfg2, zero
  CHECK_CSR(12, pmpcfg0, 0)
  CHECK_CSR(13, pmpcfg2, 0)
  /* one byte at a time with csrs/csrc */
  li t0, 0x1900; csrs pmpcfg0, t0
  CHECK_CSR(14, pmpcfg0, 0x1900)
  li t0, 0x0800; csrc pmpcfg0, t0
  CHECK_CSR(15, pmpcfg0, 0x1100)
  csrw pmpcfg0, zero

  /* Regions:
       0  NA4    T           R
       1  NAPOT  T+0x1000    4 KiB  RW
       2  NAPOT  T+0x2000    4 KiB  X
       3  OFF    (pmpaddr3 = T+0x4000, the base of 4)
       4  TOR    [T+0x4000, T+0x6000)  RW
       5  NAPOT  T+0x8000    8 KiB  R     (5 and 6 overlap: 5 wins)
       6  NAPOT  T+0x8000    8 KiB  RWX
       7  NAPOT  0x80000000 16 MiB  RWX   (this program)  */
  COPY_STUB(T + 0x2000)
  COPY_STUB(T + 0x1000)
  COPY_STUB(T + 0x8000)
  li t0, T >> 2; csrw pmpaddr0, t0
  li t0, NAPOT(T + 0x1000, 0x1000); csrw pmpaddr1, t0
  li t0, NAPOT(T + 0x2000, 0x1000); csrw pmpaddr2, t0
  li t0, (T + 0x4000) >> 2; csrw pmpaddr3, t0
  li t0, (T + 0x6000) >> 2; csrw pmpaddr4, t0
  li t0, NAPOT(T + 0x8000, 0x2000); csrw pmpaddr5, t0
  li t0, NAPOT(T + 0x8000, 0x2000); csrw pmpaddr6, t0
  li t0, NAPOT(0x80000000, 0x1000000); csrw pmpaddr7, t0
  li t0, 0x1f1f190b001c1b11; csrw pmpcfg0, t0
  sfence.vma
  CHECK_CSR(16, pmpcfg0, 0x1f1f190b001c1b11)

  /* NA4 R: word load yes, store no; the next word matches nothing; a doubleword load only half matches. */
  P_OK(17, PRV_S, T, RDW_A1, CAUSE_ECALL_S)
  P_FAULT(19, PRV_S, T, WRW_A1, CAUSE_STORE_ACCESS)
  P_FAULT(22, PRV_S, T + 4, RDW_A1, CAUSE_LOAD_ACCESS)
  P_FAULT(25, PRV_S, T, CALL_A1, CAUSE_FETCH_ACCESS)
  CHECK(28, s9, T)
  P_FAULT(130, PRV_S, T, RD_A1, CAUSE_LOAD_ACCESS)
  /* NAPOT RW: loads and stores anywhere in it, fetches no; one below it matches nothing */
  P_OK(29, PRV_S, T + 0x1000, RD_A1, CAUSE_ECALL_S)
  P_OK(31, PRV_S, T + 0x1ff8, WR_A1, CAUSE_ECALL_S)
  li t0, T + 0x1ff8; ld a3, 0(t0)
  CHECK(33, a3, 0x0123456789abcdef)
  P_FAULT(34, PRV_S, T + 0x1000, CALL_A1, CAUSE_FETCH_ACCESS)
  P_FAULT(37, PRV_S, T + 0xff8, RD_A1, CAUSE_LOAD_ACCESS)
  /* NAPOT X: fetches only */
  P_OK(40, PRV_S, T + 0x2000, CALL_A1, CAUSE_ECALL_S)
  CHECK(42, a0, 0x5a)
  P_FAULT(43, PRV_S, T + 0x2000, RD_A1, CAUSE_LOAD_ACCESS)
  P_FAULT(46, PRV_S, T + 0x2ff8, WR_A1, CAUSE_STORE_ACCESS)
  /* TOR [T+0x4000, T+0x6000): inside yes, at either side no; the OFF entry 3 grants nothing */
  P_OK(49, PRV_S, T + 0x4000, WR_A1, CAUSE_ECALL_S)
  P_OK(51, PRV_S, T + 0x5ff8, RD_A1, CAUSE_ECALL_S)
  P_FAULT(53, PRV_S, T + 0x6000, RD_A1, CAUSE_LOAD_ACCESS)
  P_FAULT(56, PRV_S, T + 0x3ff8, RD_A1, CAUSE_LOAD_ACCESS)
  /* overlapping 5 (R) and 6 (RWX): entry 5 decides */
  P_OK(59, PRV_S, T + 0x9ff8, RD_A1, CAUSE_ECALL_S)
  P_FAULT(61, PRV_S, T + 0x8008, WR_A1, CAUSE_STORE_ACCESS)
  P_FAULT(64, PRV_S, T + 0x8000, CALL_A1, CAUSE_FETCH_ACCESS)
  /* no entry at all */
  P_FAULT(67, PRV_S, 0x82000000, RD_A1, CAUSE_LOAD_ACCESS)
  P_FAULT(70, PRV_S, 0x82000000, WR_A1, CAUSE_STORE_ACCESS)
  P_FAULT(73, PRV_S, 0x82000000, CALL_A1, CAUSE_FETCH_ACCESS)
  /* U is checked the same way */
  P_OK(76, PRV_U, T, RDW_A1, CAUSE_ECALL_U)
  P_FAULT(78, PRV_U, T, WRW_A1, CAUSE_STORE_ACCESS)
  P_OK(81, PRV_U, T + 0x2000, CALL_A1, CAUSE_ECALL_U)
  P_FAULT(83, PRV_U, T + 0x1000, CALL_A1, CAUSE_FETCH_ACCESS)
  P_FAULT(86, PRV_U, 0x82000000, RD_A1, CAUSE_LOAD_ACCESS)
  /* an AMO needs W (and R) */
#define AMO_A1 amoadd.d a0, a2, (a1)
  P_FAULT(89, PRV_S, T, AMOW_A1, CAUSE_STORE_ACCESS)
  P_OK(92, PRV_S, T + 0x1008, AMO_A1, CAUSE_ECALL_S)

  /* M ignores entries that are not locked ... */
  li a1, T
  sw a2, 0(a1)
  lwu a3, 0(a1)
  CHECK(94, a3, 0x89abcdef)
  li a1, 0x82000000
  sd a2, 0(a1)
  ld a3, 0(a1)
  CHECK(95, a3, 0x0123456789abcdef)
  li a1, T + 0x1000
  li a0, 0
  jalr a1
  CHECK(96, a0, 0x5a)
  /* ... but an access that an entry matches only in part fails, whatever the mode and permissions:
     a doubleword at T against the 4-byte NA4 entry 0 */
  li a1, T
  EXPECT_MTRAP(1f)
10: ld a3, 0(a1)
  MUST_TRAP(131)
1:CHECK_MCAUSE(132, CAUSE_LOAD_ACCESS)
  CHECK_MTVAL(133, T)
  CHECK_MEPC(134, 10b)
  EXPECT_MTRAP(1f)
  li a1, T - 4
10: sd a2, 0(a1)
  MUST_TRAP(135)
1:CHECK_MCAUSE(136, CAUSE_STORE_ACCESS)
  /* ... and through MPRV with MPP = S: checked as S, faults taken in M */
#define MPRV_FAULT(num, addr, insn, cause)           \
  li a1, addr;                                       \
  EXPECT_MTRAP(1f);                                  \
  SET_MPP(PRV_S); li t0, MSTATUS_MPRV; csrs mstatus, t0; \
10: insn;                                            \
  MUST_TRAP(num);                                    \
1:li t0, MSTATUS_MPRV; csrc mstatus, t0;             \
  CHECK_MCAUSE(num + 1, cause);                      \
  CHECK_MTVAL(num + 2, addr);                        \
  CHECK_MEPC(num + 3, 10b)
  MPRV_FAULT(97, T, WRW_A1, CAUSE_STORE_ACCESS)
  MPRV_FAULT(101, 0x82000000, RD_A1, CAUSE_LOAD_ACCESS)
  SET_MPP(PRV_S); li t0, MSTATUS_MPRV; csrs mstatus, t0
  li a1, T + 0x1010
  sd a2, 0(a1)
  li t0, MSTATUS_MPRV; csrc mstatus, t0

  /* One active entry that covers neither code nor data: S cannot even fetch its first instruction. */
  csrw pmpcfg0, zero
  li t0, 0x11; csrw pmpcfg0, t0       /* entry 0: NA4 at T, R */
  sfence.vma
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: MUST_TRAP(105)
1:CHECK_MCAUSE(106, CAUSE_FETCH_ACCESS)
  CHECK_MEPC(107, 10b)
  CHECK_LABEL(108, s10, 10b)
  /* an entry with no permissions at all counts as active too */
  li t0, 0x18; csrw pmpcfg0, t0       /* entry 0: NAPOT, no R/W/X */
  li t0, NAPOT(0x80000000, 0x1000000); csrw pmpaddr0, t0
  sfence.vma
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: MUST_TRAP(109)
1:CHECK_MCAUSE(110, CAUSE_FETCH_ACCESS)
  CHECK_LABEL(111, s10, 10b)

  /* TOR in entry 0: the region is [0, pmpaddr0). */
  li t0, T >> 2; csrw pmpaddr0, t0
  li t0, 0x0f; csrw pmpcfg0, t0       /* entry 0: TOR RWX */
  sfence.vma
  P_OK(112, PRV_S, T - 8, RD_A1, CAUSE_ECALL_S)
  P_OK(114, PRV_S, 0x80000000, RD_A1, CAUSE_ECALL_S)
  P_FAULT(116, PRV_S, T, RD_A1, CAUSE_LOAD_ACCESS)
  P_FAULT(119, PRV_U, T + 0x100, WR_A1, CAUSE_STORE_ACCESS)
  /* moving the top moves the region */
  li t0, (T + 0x10) >> 2; csrw pmpaddr0, t0
  sfence.vma
  P_OK(122, PRV_S, T + 8, RD_A1, CAUSE_ECALL_S)
  P_FAULT(124, PRV_S, T + 0x10, RD_A1, CAUSE_LOAD_ACCESS)
  /* TOR in a later entry with pmpaddr[i-1] >= pmpaddr[i]: an empty region */
  li t0, 0x0f00; csrw pmpcfg0, t0     /* entry 0 OFF, entry 1 TOR RWX */
  li t0, 0x90000000 >> 2; csrw pmpaddr0, t0
  li t0, 0x80000000 >> 2; csrw pmpaddr1, t0
  li t0, NAPOT(0x80000000, 0x1000000); csrw pmpaddr2, t0
  li t0, 0x1f0f00; csrw pmpcfg0, t0   /* entry 2: NAPOT RWX over the program */
  sfence.vma
  P_OK(127, PRV_S, 0x80000000, RD_A1, CAUSE_ECALL_S)
  P_FAULT(129, PRV_S, T, RD_A1, CAUSE_LOAD_ACCESS)

  csrw pmpcfg0, zero
  j pass
  PRIV_HANDLERS
  STUB_CODE
TEST_END
