/* Privileged instructions and CSR privilege: TVM (satp, sfence.vma), TW and WFI in U, TSR, xRET from below,
   CSR access from a lower mode and writes to read-only CSRs -> illegal instruction with mtval = the bits. */
#include "priv.h"

/* The instructions, named so that their commas do not split macro arguments (ILLEGAL_IN, LEGAL_IN: priv.h). */
#define RD_SATP      csrr a0, satp
#define WR_SATP      csrw satp, zero
#define SFENCE_ALL   sfence.vma
#define SFENCE_VA    sfence.vma a0
#define SFENCE_VA_AS sfence.vma a0, a1
#define SATP_ALL     csrr a0, satp; csrw satp, zero; sfence.vma; sfence.vma a0; sfence.vma a0, a1
#define RD_MSTATUS   csrr a0, mstatus
#define RD_MSCRATCH  csrr a0, mscratch
#define WR_MSCRATCH  csrw mscratch, a0
#define RD_MEPC      csrr a0, mepc
#define RD_MIE       csrr a0, mie
#define RD_MHARTID   csrr a0, mhartid
#define RD_MISA      csrr a0, misa
#define RD_SSTATUS   csrr a0, sstatus
#define RD_SSCRATCH  csrr a0, sscratch
#define WR_SSCRATCH  csrw sscratch, a0
#define RD_STVEC     csrr a0, stvec
#define RD_SIE       csrr a0, sie
#define RD_SEPC      csrr a0, sepc
#define S_CSRS       csrw sscratch, a0; csrr a1, sscratch; csrr a1, sstatus; csrr a1, stvec; csrr a1, sepc; csrr a1, scause; csrr a1, stval; csrr a1, sie; csrr a1, sip
#define WR_CYCLE     csrw cycle, zero
#define WR_TIME      csrw time, zero
#define WR_INSTRET   csrw instret, zero
#define WR_MVENDORID csrw mvendorid, zero
#define SET_MARCHID  csrrsi a0, marchid, 1
#define RD_PMPCFG1   csrr a0, pmpcfg1

TEST_BEGIN
  INSTALL_MTRAP
  PMP_ALLOW_ALL
  csrw mie, zero
  csrw mideleg, zero
  csrw medeleg, zero
  csrw satp, zero
  li a0, 0x80000000
  li a1, 0

  /* TVM = 1: satp and sfence.vma are illegal in S ... */
  li t0, MSTATUS_TVM; csrs mstatus, t0
  ILLEGAL_IN(2, PRV_S, RD_SATP, 0x18002573)
  ILLEGAL_IN(6, PRV_S, WR_SATP, 0x18001073)
  ILLEGAL_IN(10, PRV_S, SFENCE_ALL, INSN_SFENCE)
  ILLEGAL_IN(14, PRV_S, SFENCE_VA, 0x12050073)
  ILLEGAL_IN(18, PRV_S, SFENCE_VA_AS, 0x12b50073)
  /* ... but not in M. */
  li a0, 0x80000000
  SATP_ALL
  /* TVM = 0: allowed in S. */
  li t0, MSTATUS_TVM; csrc mstatus, t0
  LEGAL_IN(22, PRV_S, SATP_ALL, CAUSE_ECALL_S)
  /* satp and sfence.vma are illegal in U whatever TVM. */
  ILLEGAL_IN(25, PRV_U, RD_SATP, 0x18002573)
  ILLEGAL_IN(29, PRV_U, SFENCE_ALL, INSN_SFENCE)

  /* TW = 1: wfi in S is illegal. */
  li t0, MSTATUS_TW; csrs mstatus, t0
  ILLEGAL_IN(33, PRV_S, wfi, INSN_WFI)
  /* wfi in U is illegal with TW = 1 and with TW = 0. */
  ILLEGAL_IN(37, PRV_U, wfi, INSN_WFI)
  li t0, MSTATUS_TW; csrc mstatus, t0
  ILLEGAL_IN(41, PRV_U, wfi, INSN_WFI)
  /* TW = 0: wfi in S completes; an S interrupt is pending (and locally enabled) but SIE = 0, so it
     wakes the hart without being taken. */
  li t0, MIP_SSIP; csrw mideleg, t0; csrw mie, t0; csrs mip, t0
  li t0, MSTATUS_SIE; csrc mstatus, t0
  LEGAL_IN(45, PRV_S, wfi, CAUSE_ECALL_S)
  /* TW = 1 does not bind M: wfi in M with the same interrupt pending (delegated, so not taken in M). */
  li t0, MSTATUS_TW | MSTATUS_MIE; csrs mstatus, t0
  wfi
  li t0, MSTATUS_TW | MSTATUS_MIE; csrc mstatus, t0
  li t0, MIP_SSIP; csrc mip, t0
  csrw mie, zero
  csrw mideleg, zero

  /* TSR = 1: sret in S is illegal. */
  li t0, MSTATUS_TSR; csrs mstatus, t0
  ILLEGAL_IN(48, PRV_S, sret, INSN_SRET)
  /* ... not in M: sret from M to S, then ecall. */
  li t0, MSTATUS_SPP; csrs mstatus, t0
  la t0, 10f; csrw sepc, t0
  EXPECT_MTRAP(1f)
  sret
  MUST_TRAP(52)
10: ecall
1:CHECK_MCAUSE(53, CAUSE_ECALL_S)
  /* TSR = 0: sret in S works (to S, SPP = 1). */
  li t0, MSTATUS_TSR; csrc mstatus, t0
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: li t0, MSTATUS_SPP; csrs sstatus, t0
  la t0, 11f; csrw sepc, t0
  sret
  MUST_TRAP(54)
11: ecall
1:CHECK_MCAUSE(55, CAUSE_ECALL_S)
  CHECK_MEPC(56, 11b)

  /* sret in U, mret in U and mret in S are illegal. */
  ILLEGAL_IN(57, PRV_U, sret, INSN_SRET)
  ILLEGAL_IN(61, PRV_U, mret, INSN_MRET)
  ILLEGAL_IN(65, PRV_S, mret, INSN_MRET)
  /* ... also with TSR = 1 (U sret) */
  li t0, MSTATUS_TSR; csrs mstatus, t0
  ILLEGAL_IN(69, PRV_U, sret, INSN_SRET)
  li t0, MSTATUS_TSR; csrc mstatus, t0

  /* M CSRs from S: illegal. */
  ILLEGAL_IN(73, PRV_S, RD_MSTATUS, 0x30002573)
  ILLEGAL_IN(77, PRV_S, RD_MSCRATCH, 0x34002573)
  ILLEGAL_IN(81, PRV_S, WR_MSCRATCH, 0x34051073)
  ILLEGAL_IN(85, PRV_S, RD_MEPC, 0x34102573)
  ILLEGAL_IN(89, PRV_S, RD_MIE, 0x30402573)
  ILLEGAL_IN(93, PRV_S, RD_MHARTID, 0xf1402573)
  ILLEGAL_IN(97, PRV_S, RD_MISA, 0x30102573)
  /* S and M CSRs from U: illegal. */
  ILLEGAL_IN(101, PRV_U, RD_SSTATUS, 0x10002573)
  ILLEGAL_IN(105, PRV_U, RD_SSCRATCH, 0x14002573)
  ILLEGAL_IN(109, PRV_U, WR_SSCRATCH, 0x14051073)
  ILLEGAL_IN(113, PRV_U, RD_STVEC, 0x10502573)
  ILLEGAL_IN(117, PRV_U, RD_SIE, 0x10402573)
  ILLEGAL_IN(121, PRV_U, RD_SEPC, 0x14102573)
  ILLEGAL_IN(125, PRV_U, RD_MSTATUS, 0x30002573)
  ILLEGAL_IN(129, PRV_U, RD_MSCRATCH, 0x34002573)
  /* S CSRs from S: fine. */
  LEGAL_IN(133, PRV_S, S_CSRS, CAUSE_ECALL_S)

  /* Writes to read-only CSRs are illegal even in M; reads (csrrs/csrrsi with x0/0) are not (ILLEGAL_IN_M: priv.h). */
  ILLEGAL_IN_M(136, WR_CYCLE, 0xc0001073)
  ILLEGAL_IN_M(140, WR_TIME, 0xc0101073)
  ILLEGAL_IN_M(144, WR_INSTRET, 0xc0201073)
  ILLEGAL_IN_M(148, WR_MVENDORID, 0xf1101073)
  ILLEGAL_IN_M(152, SET_MARCHID, 0xf120e573)
  csrr a0, mvendorid
  csrrsi a0, marchid, 0
  csrrc a0, mimpid, zero
  /* pmpcfg1 does not exist on RV64. */
  ILLEGAL_IN_M(156, RD_PMPCFG1, 0x3a102573)

  j pass
  PRIV_HANDLERS
TEST_END
