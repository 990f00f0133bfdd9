/* PMP lock bit (entries 0-15): a locked entry binds M too and cannot be rewritten (cfg and pmpaddr), a
   locked TOR entry also freezes the pmpaddr below it; unlocked entries stay writable and do not bind M.
   Locks last until reset, so this program is on its own. */
#include "priv.h"
#define T 0x81000000
TEST_BEGIN
  INSTALL_MTRAP
  csrw mie, zero
  csrw medeleg, zero
  csrw satp, zero
  li a2, 0x0123456789abcdef
  COPY_STUB(T + 0x1000)
  COPY_STUB(T + 0x2000)

  /* Regions (entry: mode base size perms):
       0  NAPOT 0x80000000 16 MiB RWX   (unlocked: S may run the program)
       1  NA4   T                 R   L
       2  NAPOT T+0x1000  4 KiB   RW  L  (holds the stub: M cannot fetch it)
       3  OFF   pmpaddr3 = T+0x4000 (base of 4)
       4  TOR   [T+0x4000, T+0x5000) R L
       5  NA4   T+0x6000          none (unlocked: M unaffected)
       6  NAPOT T+0x2000  4 KiB   RWX L  (holds the stub: M may fetch it) */
  li t0, NAPOT(0x80000000, 0x1000000); csrw pmpaddr0, t0
  li t0, T >> 2; csrw pmpaddr1, t0
  li t0, NAPOT(T + 0x1000, 0x1000); csrw pmpaddr2, t0
  li t0, (T + 0x4000) >> 2; csrw pmpaddr3, t0
  li t0, (T + 0x5000) >> 2; csrw pmpaddr4, t0
  li t0, (T + 0x6000) >> 2; csrw pmpaddr5, t0
  li t0, NAPOT(T + 0x2000, 0x1000); csrw pmpaddr6, t0
  li t0, 0x009f1089009b911f; csrw pmpcfg0, t0
  sfence.vma
  CHECK_CSR(2, pmpcfg0, 0x009f1089009b911f)

  /* Locked NA4 R binds M: a word load works, a store faults. */
  li a1, T
  lw a0, 0(a1)
  EXPECT_MTRAP(1f)
10: sw a2, 0(a1)
  MUST_TRAP(3)
1:CHECK_MCAUSE(4, CAUSE_STORE_ACCESS)
  CHECK_MTVAL(5, T)
  CHECK_MEPC(6, 10b)
  /* Locked RW without X: M loads and stores, but cannot fetch. */
  li a1, T + 0x1008
  sd a2, 0(a1)
  ld a3, 0(a1)
  CHECK(7, a3, 0x0123456789abcdef)
  li a1, T + 0x1000
  EXPECT_MTRAP(1f)
  jalr a1
  MUST_TRAP(8)
1:CHECK_MCAUSE(9, CAUSE_FETCH_ACCESS)
  CHECK_MTVAL(10, T + 0x1000)
  CHECK(11, s9, T + 0x1000)
  /* Locked RWX: M fetches. */
  li a1, T + 0x2000
  li a0, 0
  jalr a1
  CHECK(12, a0, 0x5a)
  /* Locked TOR R: M loads, M stores fault, below its base nothing binds M. */
  li a1, T + 0x4ff8
  ld a0, 0(a1)
  EXPECT_MTRAP(1f)
10: sd a2, 0(a1)
  MUST_TRAP(13)
1:CHECK_MCAUSE(14, CAUSE_STORE_ACCESS)
  CHECK_MTVAL(15, T + 0x4ff8)
  li a1, T + 0x3ff8
  sd a2, 0(a1)
  li a1, T + 0x5000
  sd a2, 0(a1)
  /* Unlocked entry with no permissions: M unaffected. */
  li a1, T + 0x6000
  sw a2, 0(a1)
  lw a0, 0(a1)

  /* Locked entries ignore writes: their cfg bytes and pmpaddr registers. */
  li t0, -1; csrw pmpaddr1, t0
  CHECK_CSR(16, pmpaddr1, T >> 2)
  li t0, 0; csrw pmpaddr2, t0
  CHECK_CSR(17, pmpaddr2, NAPOT(T + 0x1000, 0x1000))
  li t0, 0; csrw pmpaddr4, t0
  CHECK_CSR(18, pmpaddr4, (T + 0x5000) >> 2)
  /* a locked TOR entry freezes the address register below it too (entry 3 is itself unlocked) */
  li t0, 0; csrw pmpaddr3, t0
  CHECK_CSR(19, pmpaddr3, (T + 0x4000) >> 2)
  /* pmpcfg0 written whole: locked bytes keep their value, unlocked ones (0, 3, 5, 7) change */
  li t0, 0x1b0f1f0f0f0f0f0f; csrw pmpcfg0, t0
  CHECK_CSR(20, pmpcfg0, 0x1b9f1f890f9b910f)
  csrw pmpcfg0, zero
  CHECK_CSR(21, pmpcfg0, 0x009f0089009b9100)
  /* clearing bits with csrc does not unlock */
  li t0, 0x80; csrc pmpcfg0, t0
  li t0, 0x8000; csrc pmpcfg0, t0
  csrr a1, pmpcfg0
  CHECK_MASK(22, a1, 0xff00, 0x9100)
  /* the unlocked entry 5 is still programmable */
  li t0, 0x1f0000000000; csrs pmpcfg0, t0
  csrr a1, pmpcfg0
  CHECK_MASK(23, a1, 0xff0000000000, 0x1f0000000000)
  li t0, 0x1234; csrw pmpaddr5, t0
  CHECK_CSR(24, pmpaddr5, 0x1234)

  /* The locked entries bind S the same way; S needs entry 0 back for its code. */
  li t0, NAPOT(0x80000000, 0x1000000); csrw pmpaddr0, t0
  li t0, 0x1f; csrs pmpcfg0, t0
  sfence.vma
  li a1, T
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: lw a0, 0(a1)
11: sw a0, 0(a1)
  MUST_TRAP(25)
1:CHECK_MCAUSE(26, CAUSE_STORE_ACCESS)
  CHECK_MEPC(27, 11b)
  li a1, T + 0x2000
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: jalr a1
  ecall
1:CHECK_MCAUSE(28, CAUSE_ECALL_U)
  CHECK(29, a0, 0x5a)

  j pass
  PRIV_HANDLERS
  STUB_CODE
TEST_END
