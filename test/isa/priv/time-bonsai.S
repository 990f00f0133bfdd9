/* The time CSR and Sstc (docs/hart.md: Zicntr time = CLINT mtime at 10 MHz; Sstc stimecmp).
   QEMU's spike board has no time CSR (rdtime is illegal there, even in M), and Sstc needs it, so this
   program is Bonsai's only. */
#include "priv.h"
#define TICKS 10000                    /* 1 ms at 10 MHz */
#define WFI_TICKS 20000                /* 2 ms */
#define CSR_STIMECMP 0x14d
#define MENVCFG_STCE (1 << 63)
#define TM 2
#define RD_TIME     csrr a0, time
#define RD_STIMECMP csrr a0, CSR_STIMECMP
#define WR_STIMECMP csrw CSR_STIMECMP, a0
TEST_BEGIN
  INSTALL_MTRAP
  INSTALL_STRAP
  PMP_ALLOW_ALL
  csrw mie, zero
  csrw mideleg, zero
  csrw medeleg, zero
  csrw mcounteren, zero
  csrw scounteren, zero
  MTIMECMP_SET(-1)

  /* time lies between two reads of mtime, and advances. */
  li a1, CLINT_MTIME
  ld a2, 0(a1)
  rdtime a3
  ld a4, 0(a1)
  li TESTNUM, 2
  bltu a3, a2, fail
  li TESTNUM, 3
  bltu a4, a3, fail
  li a5, 100000
1:rdtime a4
  bne a4, a3, 2f
  addi a5, a5, -1
  bnez a5, 1b
2:li TESTNUM, 4
  bgeu a3, a4, fail

  /* From S and U, mcounteren.TM / scounteren.TM gate it. */
  ILLEGAL_IN(5, PRV_S, RD_TIME, 0xc0102573)
  li t0, TM; csrw mcounteren, t0
  LEGAL_IN(9, PRV_S, RD_TIME, CAUSE_ECALL_S)
  ILLEGAL_IN(12, PRV_U, RD_TIME, 0xc0102573)
  li t0, TM; csrw scounteren, t0
  LEGAL_IN(16, PRV_U, RD_TIME, CAUSE_ECALL_U)
  csrw mcounteren, zero
  ILLEGAL_IN(19, PRV_U, RD_TIME, 0xc0102573)
  /* the value read in U is mtime's */
  li t0, TM; csrw mcounteren, t0
  li a1, CLINT_MTIME
  ld a2, 0(a1)
  LEGAL_IN(23, PRV_U, RD_TIME, CAUSE_ECALL_U)
  ld a4, 0(a1)
  li TESTNUM, 26
  bltu a0, a2, fail
  li TESTNUM, 27
  bltu a4, a0, fail
  csrw mcounteren, zero
  csrw scounteren, zero

  /* menvcfg.STCE is writable. */
  li t0, MENVCFG_STCE; csrs menvcfg, t0
  csrr a1, menvcfg
  CHECK_MASK(28, a1, MENVCFG_STCE, MENVCFG_STCE)
  /* stimecmp holds a value (M). */
  li a0, 0x123456789abcdef
  csrw CSR_STIMECMP, a0
  CHECK_CSR(29, CSR_STIMECMP, 0x123456789abcdef)
  /* STIP = (time >= stimecmp) */
  csrw CSR_STIMECMP, zero
  csrr a1, mip
  CHECK_MASK(30, a1, MIP_STIP, MIP_STIP)
  li t0, -1; csrw CSR_STIMECMP, t0
  csrr a1, mip
  CHECK_MASK(31, a1, MIP_STIP, 0)
  /* with STCE = 1 software cannot write STIP */
  li t0, MIP_STIP; csrs mip, t0
  csrr a1, mip
  CHECK_MASK(32, a1, MIP_STIP, 0)
  csrw CSR_STIMECMP, zero
  li t0, MIP_STIP; csrc mip, t0
  csrr a1, mip
  CHECK_MASK(33, a1, MIP_STIP, MIP_STIP)
  /* a compare far ahead: STIP clear */
  rdtime a2
  li t0, 100000000; add a2, a2, t0
  csrw CSR_STIMECMP, a2
  csrr a1, mip
  CHECK_MASK(34, a1, MIP_STIP, 0)
  /* STIP rises when time reaches stimecmp: poll mip */
  rdtime a2
  li t0, TICKS; add a2, a2, t0
  csrw CSR_STIMECMP, a2
  li a5, 1000000
1:csrr a1, mip
  andi a1, a1, MIP_STIP
  bnez a1, 2f
  addi a5, a5, -1
  bnez a5, 1b
  li TESTNUM, 35; j fail
2:rdtime a3
  li TESTNUM, 36
  bltu a3, a2, fail
  /* WFI in M (MIE = 0, STIE = 1) wakes for it */
  li t0, MIP_STIP; csrw mie, t0
  rdtime a2
  li t0, TICKS; add a2, a2, t0
  csrw CSR_STIMECMP, a2
  li a5, 1000
1:wfi
  csrr a1, mip
  andi a1, a1, MIP_STIP
  bnez a1, 2f
  addi a5, a5, -1
  bnez a5, 1b
  li TESTNUM, 37; j fail
2:rdtime a3
  li TESTNUM, 38
  bltu a3, a2, fail
  /* taken in M when not delegated: mcause bit 63 | 5 */
  EXPECT_MTRAP(1f)
  li t0, MSTATUS_MIE; csrs mstatus, t0
10: MUST_TRAP(39)
1:CHECK_MCAUSE(40, INTR_BIT | IRQ_STI)
  CHECK_MEPC(41, 10b)
  li t0, -1; csrw CSR_STIMECMP, t0
  csrw mie, zero

  /* Delegated and programmed by S itself (mcounteren.TM = 1): S sets stimecmp, waits in WFI, takes the
     interrupt in S, and clears it by writing stimecmp. */
  li t0, TM; csrw mcounteren, t0
  li t0, MIP_STIP; csrw mideleg, t0; csrw mie, t0
  li t0, MSTATUS_SIE; csrc mstatus, t0
  CLEAR_SREC
  EXPECT_STRAP(2f)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: li t0, MSTATUS_SIE; csrs sstatus, t0      /* stimecmp is all ones: nothing pending yet */
  rdtime a2
  li t0, WFI_TICKS; add a2, a2, t0
  csrw CSR_STIMECMP, a2                       /* armed just before the WFI */
11: wfi
12: j 11b
2:rdtime a4
  csrr a3, CSR_STIMECMP
  li t0, -1; csrw CSR_STIMECMP, t0
  csrr a5, sip
  ecall
1:CHECK_MCAUSE(42, CAUSE_ECALL_S)
  CHECK_SCAUSE(43, INTR_BIT | IRQ_STI)
  /* sepc = the instruction after the WFI (or the WFI, if the hart stalled before reaching it) */
  li TESTNUM, 44; la t5, 11b; beq s3, t5, 3f; la t5, 12b; bne s3, t5, fail
3:
  li TESTNUM, 45
  bne a3, a2, fail
  li TESTNUM, 46
  bltu a4, a2, fail
  CHECK_MASK(47, a5, MIP_STIP, 0)
  csrw mie, zero
  csrw mideleg, zero

  /* Access from S: needs STCE and mcounteren.TM; from U: never. */
  li a0, -1
  li t0, TM; csrw mcounteren, t0
  LEGAL_IN(48, PRV_S, WR_STIMECMP, CAUSE_ECALL_S)
  csrw mcounteren, zero
  ILLEGAL_IN(51, PRV_S, RD_STIMECMP, 0x14d02573)
  ILLEGAL_IN(55, PRV_S, WR_STIMECMP, 0x14d51073)
  li t0, TM; csrw mcounteren, t0
  csrw scounteren, t0
  ILLEGAL_IN(59, PRV_U, RD_STIMECMP, 0x14d02573)
  li t0, MENVCFG_STCE; csrc menvcfg, t0
  ILLEGAL_IN(63, PRV_S, RD_STIMECMP, 0x14d02573)
  csrw mcounteren, zero
  csrw scounteren, zero

  /* With STCE = 0, STIP is software-writable again. */
  li t0, MIP_STIP; csrs mip, t0
  csrr a1, mip
  CHECK_MASK(67, a1, MIP_STIP, MIP_STIP)
  li t0, MIP_STIP; csrc mip, t0
  csrr a1, mip
  CHECK_MASK(68, a1, MIP_STIP, 0)

  j pass
  PRIV_HANDLERS
TEST_END
