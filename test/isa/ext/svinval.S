/*
 * Svinval: sinval.vma invalidates like sfence.vma; sfence.w.inval and sfence.inval.ir order it and are
 * legal in S-mode whatever mstatus.TVM says. (What is illegal, and where: svinval-bonsai.S.)
 * Passes on QEMU 7.2: qemu-system-riscv64 -M spike -cpu rv64,svinval=on -bios none -kernel svinval.elf -nographic
 */
#include "../priv/priv.h"
/* GCC 12 has no Svinval: the instructions as words. */
#define SFENCE_W_INVAL_I  .word 0x18000073
#define SFENCE_INVAL_IR_I .word 0x18100073
#define SINVAL_VMA(rs1, rs2) .word (0x16000073 | ((rs2) << 20) | ((rs1) << 15))
#include "../priv/paging.h"
#define SINVAL_A1 SINVAL_VMA(11, 0)
#define FENCES SFENCE_W_INVAL_I; SFENCE_INVAL_IR_I
TEST_BEGIN
  PRIV_SETUP
  /* M-mode: all three execute. */
  SFENCE_W_INVAL_I
  SINVAL_VMA(0, 0)
  SINVAL_VMA(11, 12)
  SFENCE_INVAL_IR_I
  /* S-mode */
  LEGAL_IN(2, PRV_S, SINVAL_A1, CAUSE_ECALL_S)
  LEGAL_IN(5, PRV_S, FENCES, CAUSE_ECALL_S)
  /* TVM binds sinval.vma (svinval-bonsai.S), not the fences */
  li t0, MSTATUS_TVM; csrs mstatus, t0
  LEGAL_IN(16, PRV_S, FENCES, CAUSE_ECALL_S)
  li t0, MSTATUS_TVM; csrc mstatus, t0

  /* sinval.vma drops the translation of its address, as sfence.vma does */
  SV39_SETUP
  li t0, SATP39; csrw satp, t0
  sfence.vma
  S_OK(20, VA(VPG_SWAP) + 0x30, LD_A1)
  CHECK(22, a0, DVAL(12, 0x30))
  SET_PTE(L0A, VPG_SWAP, DATA(13), PTE_LEAF_RW)
  li a1, VA(VPG_SWAP)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: SFENCE_W_INVAL_I
  SINVAL_A1
  SFENCE_INVAL_IR_I
  ld a0, 0x30(a1)
  ecall
  MUST_TRAP(23)
1:CHECK_MCAUSE(24, CAUSE_ECALL_S)
  CHECK(25, a0, DVAL(13, 0x30))
  csrw satp, zero
  sfence.vma
  j pass

  PRIV_HANDLERS
  PAGING_CODE
TEST_END
