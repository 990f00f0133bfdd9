/*
 * Helpers for the privileged-architecture test programs (test/isa/priv/*.S).
 * Include this instead of env.h; it includes env.h.
 *
 * Trap recording convention (the handlers are emitted by PRIV_HANDLERS):
 *   M-mode: mtrap_record saves mcause/mepc/mtval/mstatus in s8/s9/s10/s11 and resumes, still in M-mode,
 *           at the address in s7. s7 is consumed (zeroed), so every expected trap is announced with
 *           EXPECT_MTRAP(label); a trap that nobody announced fails with the current case number
 *           (0x7ff before the first case).
 *   S-mode: strap_record saves scause/sepc/stval/sstatus in s2/s3/s4/s5 and resumes, still in S-mode,
 *           at the address in s6 (announced with EXPECT_STRAP(label)). An unannounced S trap does an
 *           ecall to M with s7 = 0, so it ends in fail as well.
 * CHECK (env.h) clobbers t6; the macros here clobber t0/t1 only.
 */
#include "env.h"

#define MSTATUS_SIE   (1 << 1)
#define MSTATUS_MIE   (1 << 3)
#define MSTATUS_SPIE  (1 << 5)
#define MSTATUS_UBE   (1 << 6)
#define MSTATUS_MPIE  (1 << 7)
#define MSTATUS_SPP   (1 << 8)
#define MSTATUS_MPP   (3 << 11)
#define MSTATUS_MPP_S (1 << 11)
#define MSTATUS_MPP_M (3 << 11)
#define MSTATUS_FS    (3 << 13)
#define MSTATUS_XS    (3 << 15)
#define MSTATUS_MPRV  (1 << 17)
#define MSTATUS_SUM   (1 << 18)
#define MSTATUS_MXR   (1 << 19)
#define MSTATUS_TVM   (1 << 20)
#define MSTATUS_TW    (1 << 21)
#define MSTATUS_TSR   (1 << 22)
#define MSTATUS_UXL   (3 << 32)
#define MSTATUS_SXL   (3 << 34)
#define MSTATUS_SD    (1 << 63)

#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

#define IRQ_SSI 1
#define IRQ_MSI 3
#define IRQ_STI 5
#define IRQ_MTI 7
#define IRQ_SEI 9
#define IRQ_MEI 11
#define MIP_SSIP (1 << IRQ_SSI)
#define MIP_MSIP (1 << IRQ_MSI)
#define MIP_STIP (1 << IRQ_STI)
#define MIP_MTIP (1 << IRQ_MTI)
#define MIP_SEIP (1 << IRQ_SEI)
#define MIP_MEIP (1 << IRQ_MEI)
#define INTR_BIT (1 << 63)

#define CAUSE_FETCH_ACCESS  1
#define CAUSE_ILLEGAL       2
#define CAUSE_BREAKPOINT    3
#define CAUSE_LOAD_MISALIGN 4
#define CAUSE_LOAD_ACCESS   5
#define CAUSE_STORE_MISALIGN 6
#define CAUSE_STORE_ACCESS  7
#define CAUSE_ECALL_U       8
#define CAUSE_ECALL_S       9
#define CAUSE_ECALL_M       11
#define CAUSE_FETCH_PAGE    12
#define CAUSE_LOAD_PAGE     13
#define CAUSE_STORE_PAGE    15

/* CLINT (same address on QEMU spike and Bonsai). */
#define CLINT_MSIP     0x2000000
#define CLINT_MTIMECMP 0x2004000
#define CLINT_MTIME    0x200bff8

/* Instruction encodings checked against xtval. */
#define INSN_MRET   0x30200073
#define INSN_SRET   0x10200073
#define INSN_WFI    0x10500073
#define INSN_SFENCE 0x12000073  /* sfence.vma zero, zero */

/* Page-table entry bits. */
#define PTE_V (1 << 0)
#define PTE_R (1 << 1)
#define PTE_W (1 << 2)
#define PTE_X (1 << 3)
#define PTE_U (1 << 4)
#define PTE_G (1 << 5)
#define PTE_A (1 << 6)
#define PTE_D (1 << 7)
#define SATP_SV39 (8 << 60)
#define SATP_SV48 (9 << 60)

/* PMP configuration byte. */
#define PMP_R     0x01
#define PMP_W     0x02
#define PMP_X     0x04
#define PMP_OFF   0x00
#define PMP_TOR   0x08
#define PMP_NA4   0x10
#define PMP_NAPOT 0x18
#define PMP_L     0x80

/* An address with neither RAM nor a device, on QEMU spike and on Bonsai. */
#define UNMAPPED_PA 0x40000000

/* Set the M recovery address (see above). */
#define EXPECT_MTRAP(label) la s7, label
#define EXPECT_STRAP(label) la s6, label

/* Install the recording handlers in mtvec (and stvec). */
#define INSTALL_MTRAP  la t0, mtrap_record; csrw mtvec, t0
#define INSTALL_STRAP  la t0, strap_record; csrw stvec, t0

/* QEMU refuses mret/sret to S/U while no PMP entry is active, so programs that leave M-mode first
   give S/U access to everything with entry 0 (NAPOT over the whole physical address space). */
#define PMP_ALLOW_ALL                                \
  li t0, -1; csrw pmpaddr0, t0;                      \
  li t0, (PMP_NAPOT | PMP_R | PMP_W | PMP_X); csrw pmpcfg0, t0; \
  sfence.vma

/* The usual start of a program that expects traps: both recording handlers, PMP open to S/U, no interrupts
   enabled, nothing delegated. */
#define PRIV_SETUP                                   \
  INSTALL_MTRAP; INSTALL_STRAP; PMP_ALLOW_ALL;       \
  csrw mie, zero; csrw medeleg, zero; csrw mideleg, zero

/* mstatus.MPP = mode. */
#define SET_MPP(mode)                                \
  li t0, MSTATUS_MPP; csrc mstatus, t0;              \
  li t0, ((mode) << 11); csrs mstatus, t0

/* Leave M-mode: mret into `mode` at `label`. */
#define MRET_TO(mode, label)                         \
  SET_MPP(mode); la t0, label; csrw mepc, t0; mret

/* Compare a CSR with an expected value (clobbers a0). */
#define CHECK_CSR(num, csr, expected)                \
  csrr a0, csr;                                      \
  CHECK(num, a0, expected)

/* Compare (reg & mask) with expected (clobbers t5). */
#define CHECK_MASK(num, reg, mask, expected)         \
  li t5, mask; and t5, reg, t5;                      \
  CHECK(num, t5, expected)

/* Check the record of the last M trap: cause, and epc against a label. */
#define CHECK_MCAUSE(num, cause) CHECK(num, s8, cause)
#define CHECK_MEPC(num, label)                       \
  li TESTNUM, num; la t5, label; bne s9, t5, fail
#define CHECK_MTVAL(num, value) CHECK(num, s10, value)
#define CHECK_SCAUSE(num, cause) CHECK(num, s2, cause)
#define CHECK_SEPC(num, label)                       \
  li TESTNUM, num; la t5, label; bne s3, t5, fail
#define CHECK_STVAL(num, value) CHECK(num, s4, value)

/* Placed after an instruction that must trap: reaching it fails case `num`. */
#define MUST_TRAP(num) li TESTNUM, num; j fail

/* Forget the last S trap record, so that a check of it proves the S handler ran. */
#define CLEAR_SREC li s2, -1; li s3, -1; li s4, -1; li s5, -1
/* Compare a register with a label's address. */
#define CHECK_LABEL(num, reg, label)                 \
  li TESTNUM, num; la t5, label; bne reg, t5, fail

/* The recording handlers; place them after the body's last instruction (before TEST_END). */
#define PRIV_HANDLERS                                \
  .align 2;                                          \
mtrap_record:                                        \
  csrr s8, mcause;                                   \
  csrr s9, mepc;                                     \
  csrr s10, mtval;                                   \
  csrr s11, mstatus;                                 \
  mv t5, s7;                                         \
  li s7, 0;                                          \
  beqz t5, 2f;                                       \
  jr t5;                                             \
2:bnez TESTNUM, fail;                                \
  li TESTNUM, 0x7ff;                                 \
  j fail;                                            \
  .align 2;                                          \
strap_record:                                        \
  csrr s2, scause;                                   \
  csrr s3, sepc;                                     \
  csrr s4, stval;                                    \
  csrr s5, sstatus;                                  \
  mv t5, s6;                                         \
  li s6, 0;                                          \
  beqz t5, 1f;                                       \
  jr t5;                                             \
1:li s7, 0;                                          \
  ecall;

/* CLINT helpers (clobber t0/t1). */
#define MSIP_SET(v)     li t0, CLINT_MSIP; li t1, v; sw t1, 0(t0)
#define MTIMECMP_SET(v) li t0, CLINT_MTIMECMP; li t1, v; sd t1, 0(t0)
/* mtimecmp = mtime + delta */
#define MTIMECMP_IN(delta)                           \
  li t0, CLINT_MTIME; ld t1, 0(t0); li t0, delta; add t1, t1, t0; \
  li t0, CLINT_MTIMECMP; sd t1, 0(t0)
/* Set/clear software-writable mip bits (clobber t0). */
#define MIP_RAISE(bits) li t0, bits; csrs mip, t0
#define MIP_LOWER(bits) li t0, bits; csrc mip, t0

/* Run `insn` (a macro name if it has commas) in `mode` at label 10 and expect an illegal-instruction trap
   to M with mtval = bits. */
#define ILLEGAL_IN(num, mode, insn, bits)            \
  EXPECT_MTRAP(1f);                                  \
  MRET_TO(mode, 10f);                                \
10: insn;                                            \
  MUST_TRAP(num);                                    \
1:CHECK_MCAUSE(num + 1, CAUSE_ILLEGAL);              \
  CHECK_MEPC(num + 2, 10b);                          \
  CHECK_MTVAL(num + 3, bits)
/* Run `insn` in `mode` and expect it to complete; the ecall after it reaches M. */
#define LEGAL_IN(num, mode, insn, ecall_cause)       \
  EXPECT_MTRAP(1f);                                  \
  MRET_TO(mode, 10f);                                \
10: insn;                                            \
11: ecall;                                           \
  MUST_TRAP(num);                                    \
1:CHECK_MCAUSE(num + 1, ecall_cause);                \
  CHECK_MEPC(num + 2, 11b)
/* ILLEGAL_IN for M itself. */
#define ILLEGAL_IN_M(num, insn, bits)                \
  EXPECT_MTRAP(1f);                                  \
10: insn;                                            \
  MUST_TRAP(num);                                    \
1:CHECK_MCAUSE(num + 1, CAUSE_ILLEGAL);              \
  CHECK_MEPC(num + 2, 10b);                          \
  CHECK_MTVAL(num + 3, bits)

/* NAPOT pmpaddr value for a naturally aligned region of `size` bytes (size >= 8) at `base`. */
#define NAPOT(base, size) (((base) >> 2) | (((size) >> 3) - 1))
/* A routine that returns 0x5a in a0, 8 bytes long, to copy where PMP tests want code. */
#define STUB_CODE                                    \
  .align 3;                                          \
stub:                                                \
  .option push; .option norvc;                       \
  addi a0, zero, 0x5a;                               \
  jalr zero, 0(ra);                                  \
  .option pop
/* Copy the stub to a physical address (M, clobbers t0-t2). */
#define COPY_STUB(pa)                                \
  la t0, stub; ld t1, 0(t0); li t2, pa; sd t1, 0(t2); fence.i

/* Wait (at most 1000 reads) for (mip & mask) == expected, else fail case `num`: the CLINT's effect on mip
   after a store to msip or mtimecmp need not be visible at the very next instruction (clobbers t0, t1, t5). */
#define WAIT_MIP(num, mask, expected)                \
  li TESTNUM, num; li t1, 1000;                      \
97: csrr t5, mip; li t0, mask; and t5, t5, t0;       \
  li t0, expected; beq t5, t0, 96f;                  \
  addi t1, t1, -1; bnez t1, 97b; j fail;             \
96:
/* Raise/lower MSIP and MTIP through the CLINT and wait for mip to show it (cases 250, 251). */
#define CLINT_RAISE_MSI MSIP_SET(1); WAIT_MIP(250, MIP_MSIP, MIP_MSIP)
#define CLINT_LOWER_MSI MSIP_SET(0); WAIT_MIP(251, MIP_MSIP, 0)
#define CLINT_RAISE_MTI MTIMECMP_SET(0); WAIT_MIP(250, MIP_MTIP, MIP_MTIP)
#define CLINT_LOWER_MTI MTIMECMP_SET(-1); WAIT_MIP(251, MIP_MTIP, 0)
