#include "regress/regress.h"
# PMP grants S-mode execute permission only below `limit` (mid-page); fetching at `limit` must fault.
.section .text.init
.globl _start
_start:
  la t0, mtrap; csrw mtvec, t0
  la t0, limit; srli t0, t0, 2; csrw pmpaddr0, t0      # [0, limit): RWX, TOR
  li t0, -1; csrw pmpaddr1, t0                          # [limit, max): RW, TOR
  li t0, (0x0b << 8) | 0x0f; csrw pmpcfg0, t0
  li t0, 0x1800; csrc mstatus, t0; li t0, 0x800; csrs mstatus, t0   # MPP = S
  la t0, smode; csrw mepc, t0
  mret
.align 6
smode:
  nop
  nop
  nop
.align 4
limit:
  li a0, 0x123
  ecall
  FAIL(2)
.align 2
mtrap:
  csrr t0, mcause; li t1, 1; bne t0, t1, f3
  csrr t0, mepc; la t1, limit; bne t0, t1, f4
  PASS
f3: FAIL(3)
f4: FAIL(4)
TOHOST
