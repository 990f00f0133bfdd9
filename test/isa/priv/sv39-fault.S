/* Sv39 faults: non-canonical addresses, access fault after translation, an instruction fetch that crosses
   into an unmapped page, misaligned loads and stores across pages (performed through both translations, or
   faulting with mtval = the part that is not allowed), page faults delegated to S. */
#include "priv.h"
#include "paging.h"
TEST_BEGIN
  INSTALL_MTRAP
  INSTALL_STRAP
  PMP_ALLOW_ALL
  csrw mie, zero
  csrw medeleg, zero
  csrw mideleg, zero
  SV39_SETUP
  li t0, SATP39; csrw satp, t0
  sfence.vma
  li a2, 0x0123456789abcdef

  /* Non-canonical addresses (bits 63:39 differ from bit 38): page faults with mtval = the address. */
  S_FAULT(2, 0x0000004000000000, LD_A1, CAUSE_LOAD_PAGE)
  S_FAULT(6, 0x0000008080001000, SD_A1, CAUSE_STORE_PAGE)
  S_FETCH_FAULT(10, 0x0000004000000000)
  S_FAULT(14, 0xffffff0080000000, LD_A1, CAUSE_LOAD_PAGE)
  S_FAULT(18, 0x8000000080001000, LD_A1, CAUSE_LOAD_PAGE)
  U_FAULT(22, 0xffffffbfc0000000, LD_A1, CAUSE_LOAD_PAGE)

  /* A leaf that points where nothing is: access fault (5 / 7), mtval = the virtual address. */
  S_FAULT(26, NOMEM_VA + 0x10, LD_A1, CAUSE_LOAD_ACCESS)
  S_FAULT(30, NOMEM_VA + 0x18, SD_A1, CAUSE_STORE_ACCESS)

  /* A 32-bit instruction that crosses from an executable page into an unmapped one: mepc = its start,
     mtval = the start of the unmapped page. (The page itself runs fine.) */
  S_OK(34, VA(VPG_RX), CALL_A1)
  CHECK(36, a0, 0x77)
  li a1, VA(VPG_RX) + 0xffe
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: jalr a1
  MUST_TRAP(37)
1:CHECK_MCAUSE(38, CAUSE_FETCH_PAGE)
  CHECK(39, s9, VA(VPG_RX) + 0xffe)
  CHECK_MTVAL(40, VA(VPG_AFTER))

  /* Misaligned accesses across a page boundary are performed through both translations ... */
  S_OK(117, VA(VPG_RWX) + 0xffc, SD_A1)
  PEEK(a3, DATA(VPG_RWX) + 0xff8)
  srli a3, a3, 32
  CHECK(119, a3, 0x89abcdef)
  PEEK(a3, DATA(20))
  slli a3, a3, 32
  srli a3, a3, 32
  CHECK(120, a3, 0x01234567)
  S_OK(121, VA(VPG_RWX) + 0xffc, LD_A1)
  CHECK(123, a0, 0x0123456789abcdef)
  S_OK(124, VA(VPG_RW) + 0xffc, LD_A1)
  CHECK(126, a0, 0x0000000001000000)
  /* ... and fault on the part that is not allowed: mtval = the address of that part. */
#define CROSS_FAULT S_FAULT_TVAL
  CROSS_FAULT(127, VA(VPG_RW) + 0xffc, SD_A1, CAUSE_STORE_PAGE, VA(VPG_RO))
  CROSS_FAULT(131, VA(VPG_RO) + 0xffa, LD_A1, CAUSE_LOAD_PAGE, VA(VPG_INVALID))
  CROSS_FAULT(135, VA(VPG_RO) + 0xffe, LW_A1, CAUSE_LOAD_PAGE, VA(VPG_INVALID))

  /* Page faults delegated to S: scause, stval = the address, sepc; SPP tells the mode. */
  li t0, (1 << CAUSE_FETCH_PAGE) | (1 << CAUSE_LOAD_PAGE) | (1 << CAUSE_STORE_PAGE); csrw medeleg, t0
#define S_DELEG(num, va, insn, cause)                \
  li a1, va;                                         \
  CLEAR_SREC;                                        \
  EXPECT_STRAP(2f);                                  \
  EXPECT_MTRAP(1f);                                  \
  MRET_TO(PRV_S, 10f);                               \
10: insn;                                            \
  MUST_TRAP(num);                                    \
2:ecall;                                             \
1:CHECK_MCAUSE(num + 1, CAUSE_ECALL_S);              \
  CHECK_SCAUSE(num + 2, cause);                      \
  CHECK_STVAL(num + 3, va);                          \
  CHECK_SEPC(num + 4, 10b);                          \
  CHECK_MASK(num + 5, s5, MSTATUS_SPP, MSTATUS_SPP)
  S_DELEG(41, VA(VPG_INVALID) + 0x60, LD_A1, CAUSE_LOAD_PAGE)
  S_DELEG(47, VA(VPG_RO) + 0x68, SD_A1, CAUSE_STORE_PAGE)
  S_DELEG(53, 0x0000004000000000, LD_A1, CAUSE_LOAD_PAGE)
  /* fetch, delegated: sepc = stval = the target */
  li a1, VA(VPG_INVALID)
  CLEAR_SREC
  EXPECT_STRAP(2f)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: jalr a1
  MUST_TRAP(59)
2:ecall
1:CHECK_SCAUSE(60, CAUSE_FETCH_PAGE)
  CHECK_STVAL(61, VA(VPG_INVALID))
  CHECK(62, s3, VA(VPG_INVALID))
  /* from U: SPP = U */
  li a1, VA(VPG_RW)
  CLEAR_SREC
  EXPECT_STRAP(2f)
  EXPECT_MTRAP(1f)
  MRET_TO_U(10f)
10: ld a0, 0(a1)
  MUST_TRAP(63)
2:ecall
1:CHECK_MCAUSE(64, CAUSE_ECALL_S)
  CHECK_SCAUSE(65, CAUSE_LOAD_PAGE)
  CHECK_STVAL(66, VA(VPG_RW))
  li TESTNUM, 250; UVA(t5, 10b); bne s3, t5, fail
  CHECK_MASK(68, s5, MSTATUS_SPP, 0)
  csrw medeleg, zero

  csrw satp, zero
  sfence.vma
  j pass

  PRIV_HANDLERS
  PAGING_CODE
TEST_END
