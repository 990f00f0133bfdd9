#include "regress/regress.h"
# A 2 MiB megapage at VA 0x40000000 is remapped; sfence.vma with an address in its first 4 KiB page must
# drop every translation derived from that leaf PTE, also those of other 4 KiB pages of the megapage.
.section .text.init
.globl _start
_start:
  la t0, mtrap; csrw mtvec, t0
  li t0, -1; csrw pmpaddr0, t0; li t0, 0x1f; csrw pmpcfg0, t0   # NAPOT everything, RWX
  # data: PA 0x80200000+0x1000 = 0x11, PA 0x80400000+0x1000 = 0x22
  li t0, 0x80201000; li t1, 0x11; sd t1, 0(t0)
  li t0, 0x80401000; li t1, 0x22; sd t1, 0(t0)
  # root[2] = gigapage identity 0x80000000 RWX A D
  la t0, root
  li t1, (0x80000000 >> 12 << 10) | 0xcf
  sd t1, 16(t0)
  # root[1] -> l1
  la t2, l1
  srli t3, t2, 12; slli t3, t3, 10; ori t3, t3, 1
  sd t3, 8(t0)
  # l1[0] = megapage 0x80200000 RW A D
  li t1, (0x80200000 >> 12 << 10) | 0xc7
  sd t1, 0(t2)
  # root[511] -> l1b; l1b[0] = megapage 0x80200000
  la t2, l1b
  sd t1, 0(t2)
  srli t3, t2, 12; slli t3, t3, 10; ori t3, t3, 1
  li t4, 511*8; add t4, t4, t0; sd t3, 0(t4)
  srli t0, t0, 12; li t1, 8 << 60; or t0, t0, t1; csrw satp, t0
  sfence.vma
  li t0, 0x1800; csrc mstatus, t0; li t0, 0x800; csrs mstatus, t0   # MPP = S
  la t0, smode; csrw mepc, t0
  mret
smode:
  li s0, 0x40000000
  ld a0, 0(s0)
  li s1, 0x40001000
  ld a1, 0(s1)        # 0x11, now cached
  li t0, 0x11; bne a1, t0, f2
  la t2, l1
  li t1, (0x80400000 >> 12 << 10) | 0xc7
  sd t1, 0(t2)
  sfence.vma s0, x0          # the address of the first 4 KiB page of the megapage
  ld a1, 0(s1)
  li t0, 0x22; bne a1, t0, f3
  # the same in the upper half: VA 0xffffffffc0000000 (root[511] -> l1b, l1b[0] = megapage)
  li s0, 0xffffffffc0000000
  li s1, 0xffffffffc0001000
  ld a1, 0(s1)                 # 0x11 (l1b[0] maps 0x80200000), now cached
  li t0, 0x11; bne a1, t0, f4
  la t2, l1b
  li t1, (0x80400000 >> 12 << 10) | 0xc7
  sd t1, 0(t2)
  sfence.vma s0, x0
  ld a1, 0(s1)
  li t0, 0x22; bne a1, t0, f5
  PASS
f2: FAIL(2)
f3: FAIL(3)
f4: FAIL(4)
f5: FAIL(5)
.align 2
mtrap: FAIL(9)
TOHOST
.data
.align 12
root: .zero 4096
l1: .zero 4096
l1b: .zero 4096
