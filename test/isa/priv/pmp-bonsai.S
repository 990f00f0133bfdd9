/* PMP beyond what QEMU 7.2 does (docs/hart.md: 64 entries, 4-byte granularity): pmpaddr16-63 and
   pmpcfg4-14 exist and work, odd pmpcfg numbers do not; WARL: R = 0 with W = 1 is not kept, bits 6:5 of
   a cfg byte and bits 63:54 of pmpaddr read zero (QEMU 7.2 has 16 entries and keeps all three). */
#include "priv.h"
#define T 0x81000000
#define RD_PMPCFG1  csrr a0, pmpcfg1
#define RD_PMPCFG15 csrr a0, 0x3af
#define RD_PMPCFG3  csrr a0, pmpcfg3
TEST_BEGIN
  INSTALL_MTRAP
  csrw mie, zero
  csrw medeleg, zero
  csrw satp, zero

  /* pmpaddr16, 31, 32, 47, 48, 63 hold values. */
  li t0, 0x1000; csrw pmpaddr16, t0
  li t0, 0x1001; csrw pmpaddr31, t0
  li t0, 0x1002; csrw pmpaddr32, t0
  li t0, 0x1003; csrw pmpaddr47, t0
  li t0, 0x1004; csrw pmpaddr48, t0
  li t0, 0x1005; csrw pmpaddr63, t0
  CHECK_CSR(2, pmpaddr16, 0x1000)
  CHECK_CSR(3, pmpaddr31, 0x1001)
  CHECK_CSR(4, pmpaddr32, 0x1002)
  CHECK_CSR(5, pmpaddr47, 0x1003)
  CHECK_CSR(6, pmpaddr48, 0x1004)
  CHECK_CSR(7, pmpaddr63, 0x1005)
  CHECK_CSR(8, pmpaddr0, 0)
  /* pmpcfg4, 6, 8, 10, 12, 14 hold values. */
  li t0, 0x0101010101010101; csrw pmpcfg4, t0
  li t0, 0x0303030303030303; csrw pmpcfg6, t0
  li t0, 0x0505050505050505; csrw pmpcfg8, t0
  li t0, 0x0707070707070707; csrw pmpcfg10, t0
  li t0, 0x0d0d0d0d0d0d0d0d; csrw pmpcfg12, t0
  li t0, 0x1f1d1b1918171513; csrw pmpcfg14, t0
  CHECK_CSR(9, pmpcfg4, 0x0101010101010101)
  CHECK_CSR(10, pmpcfg6, 0x0303030303030303)
  CHECK_CSR(11, pmpcfg8, 0x0505050505050505)
  CHECK_CSR(12, pmpcfg10, 0x0707070707070707)
  CHECK_CSR(13, pmpcfg12, 0x0d0d0d0d0d0d0d0d)
  CHECK_CSR(14, pmpcfg14, 0x1f1d1b1918171513)
  CHECK_CSR(15, pmpcfg0, 0)
  CHECK_CSR(16, pmpcfg2, 0)
  csrw pmpcfg4, zero
  csrw pmpcfg6, zero
  csrw pmpcfg8, zero
  csrw pmpcfg10, zero
  csrw pmpcfg12, zero
  csrw pmpcfg14, zero

  /* Odd pmpcfg registers do not exist on RV64. */
  ILLEGAL_IN_M(17, RD_PMPCFG1, 0x3a102573)
  ILLEGAL_IN_M(21, RD_PMPCFG3, 0x3a302573)
  ILLEGAL_IN_M(25, RD_PMPCFG15, 0x3af02573)

  /* WARL: W without R is not kept; bits 6:5 read zero; pmpaddr bits 63:54 read zero. */
  li t0, 0x02; csrw pmpcfg0, t0
  csrr a1, pmpcfg0
  andi a1, a1, 3
  li TESTNUM, 29
  li t0, 2
  beq a1, t0, fail
  li t0, 0x0e; csrw pmpcfg0, t0
  csrr a1, pmpcfg0
  andi a1, a1, 3
  li TESTNUM, 30
  li t0, 2
  beq a1, t0, fail
  li t0, 0x61; csrw pmpcfg0, t0
  csrr a1, pmpcfg0
  CHECK_MASK(31, a1, 0xff, 0x01)
  csrw pmpcfg0, zero
  li t0, -1; csrw pmpaddr1, t0
  CHECK_CSR(32, pmpaddr1, 0x003fffffffffffff)
  csrw pmpaddr1, zero

  /* The last entry alone gives S the program, and an entry between 16 and 62 restricts it:
       40  NA4    T                 R
       63  NAPOT  0x80000000 16 MiB RWX   (the lowest-numbered match wins: 40 for T) */
  li t0, NAPOT(0x80000000, 0x1000000); csrw pmpaddr63, t0
  li t0, 0x1f << 56; csrw pmpcfg14, t0
  li t0, T >> 2; csrw pmpaddr40, t0
  li t0, 0x11; csrw pmpcfg10, t0
  sfence.vma
  li a1, T
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: lw a0, 0(a1)
11: sw a0, 0(a1)
  MUST_TRAP(33)
1:CHECK_MCAUSE(34, CAUSE_STORE_ACCESS)
  CHECK_MEPC(35, 11b)
  CHECK_MTVAL(36, T)
  /* outside both: no access */
  li a1, T + 0x100
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: lw a0, 0(a1)
  MUST_TRAP(37)
1:CHECK_MCAUSE(38, CAUSE_LOAD_ACCESS)
  CHECK_MTVAL(39, T + 0x100)
  /* entry 40 locked binds M */
  li t0, 0x91; csrw pmpcfg10, t0
  li a1, T
  EXPECT_MTRAP(1f)
10: sw a0, 0(a1)
  MUST_TRAP(40)
1:CHECK_MCAUSE(41, CAUSE_STORE_ACCESS)
  li t0, 0; csrw pmpaddr40, t0
  CHECK_CSR(42, pmpaddr40, T >> 2)

  j pass
  PRIV_HANDLERS
TEST_END
