/*
 * Zicsr: csrrw, csrrs, csrrc, csrrwi, csrrsi, csrrci.
 *  - each returns the old value and writes what its rule says (rd == rs1 included; rd = x0 still writes);
 *  - csrrs/csrrc with rs1 = x0 and csrrsi/csrrci with uimm = 0 do not write, so they may read a read-only CSR;
 *    csrrw/csrrwi always write, so they trap on one even with x0 / uimm 0;
 *  - the 5-bit uimm is zero-extended;
 *  - read-only CSRs (number bits 11:10 = 11) read: mvendorid = 0, mhartid = 0, misa with MXL = 64 and
 *    at least I, M, A, F, D, C, S, U (the exact misa, marchid and mimpid are in csr-bonsai.S: QEMU's differ);
 *    a write attempt is an illegal instruction with mtval = the instruction bits, and rd is not written;
 *  - misa writes are ignored (WARL); mscratch and sscratch hold any 64-bit value;
 *  - CSR numbers that do not exist on an RV64 hart (unallocated, RV32-only *h halves, odd pmpcfg) are illegal
 *    instructions with mtval = the instruction bits, whether read or written.
 * Counters are in counters.S.
 */
#include "env.h"
#include "rv64i/macros.h"
TEST_BEGIN
  .option norvc
  TRAP_INIT

  /* csrrw */
  li a1, 0x0123456789abcdef
  csrw mscratch, a1
  li a2, 0xfedcba9876543210
  csrrw a0, mscratch, a2;   CHECK(2, a0, 0x0123456789abcdef)
  csrr a0, mscratch;        CHECK(3, a0, 0xfedcba9876543210)
  /* rd == rs1: a swap */
  li a2, 0x8000000000000001
  csrrw a2, mscratch, a2;   CHECK(4, a2, 0xfedcba9876543210)
  csrr a0, mscratch;        CHECK(5, a0, 0x8000000000000001)
  /* rd = x0 writes */
  li a1, -1
  csrrw x0, mscratch, a1
  csrr a0, mscratch;        CHECK(6, a0, -1)
  csrrw x0, mscratch, x0
  csrr a0, mscratch;        CHECK(7, a0, 0)

  /* csrrs / csrrc */
  li a1, 0xf0f0f0f0f0f0f0f0
  csrw mscratch, a1
  li a2, 0x0ff0000000000ff1
  csrrs a0, mscratch, a2;   CHECK(8, a0, 0xf0f0f0f0f0f0f0f0)
  csrr a0, mscratch;        CHECK(9, a0, 0xfff0f0f0f0f0fff1)
  li a2, 0x8000000000000ff0
  csrrc a0, mscratch, a2;   CHECK(10, a0, 0xfff0f0f0f0f0fff1)
  csrr a0, mscratch;        CHECK(11, a0, 0x7ff0f0f0f0f0f001)
  /* rs1 = x0: read only */
  csrrs a0, mscratch, x0;   CHECK(12, a0, 0x7ff0f0f0f0f0f001)
  csrrc a0, mscratch, x0;   CHECK(13, a0, 0x7ff0f0f0f0f0f001)
  csrr a0, mscratch;        CHECK(14, a0, 0x7ff0f0f0f0f0f001)
  /* rd = x0 still sets / clears */
  li a2, 0x8000000000000000
  csrrs x0, mscratch, a2
  csrr a0, mscratch;        CHECK(15, a0, 0xfff0f0f0f0f0f001)
  li a2, 1
  csrrc x0, mscratch, a2
  csrr a0, mscratch;        CHECK(16, a0, 0xfff0f0f0f0f0f000)
  /* rd == rs1 */
  li a2, 0xf
  csrrs a2, mscratch, a2;   CHECK(17, a2, 0xfff0f0f0f0f0f000)
  csrr a0, mscratch;        CHECK(18, a0, 0xfff0f0f0f0f0f00f)
  li a2, -1
  csrrc a2, mscratch, a2;   CHECK(19, a2, 0xfff0f0f0f0f0f00f)
  csrr a0, mscratch;        CHECK(20, a0, 0)

  /* immediates: zero-extended 5 bits */
  li a1, -1
  csrw mscratch, a1
  csrrwi a0, mscratch, 31;  CHECK(21, a0, -1)
  csrr a0, mscratch;        CHECK(22, a0, 31)
  csrrwi a0, mscratch, 0;   CHECK(23, a0, 31)
  csrr a0, mscratch;        CHECK(24, a0, 0)
  csrrsi a0, mscratch, 16;  CHECK(25, a0, 0)
  csrrsi a0, mscratch, 5;   CHECK(26, a0, 16)
  csrr a0, mscratch;        CHECK(27, a0, 21)
  csrrci a0, mscratch, 17;  CHECK(28, a0, 21)
  csrr a0, mscratch;        CHECK(29, a0, 4)
  li a1, 0x8000000000000000
  csrw mscratch, a1
  csrrci a0, mscratch, 31;  CHECK(30, a0, 0x8000000000000000)   /* clears only bits 4:0 */
  csrr a0, mscratch;        CHECK(31, a0, 0x8000000000000000)
  csrrsi a0, mscratch, 0;   CHECK(32, a0, 0x8000000000000000)   /* uimm 0: read only */
  csrrci a0, mscratch, 0;   CHECK(33, a0, 0x8000000000000000)
  csrrwi x0, mscratch, 7
  csrr a0, mscratch;        CHECK(34, a0, 7)
  csrrsi x0, mscratch, 8
  csrrci x0, mscratch, 1
  csrr a0, mscratch;        CHECK(35, a0, 14)

  /* sscratch: a plain 64-bit register too */
  li a1, 0xa5a5a5a55a5a5a5a
  csrw sscratch, a1
  csrr a0, sscratch;        CHECK(36, a0, 0xa5a5a5a55a5a5a5a)
  li a2, 0xffff
  csrrc a0, sscratch, a2;   CHECK(37, a0, 0xa5a5a5a55a5a5a5a)
  csrrwi a0, sscratch, 1;   CHECK(38, a0, 0xa5a5a5a55a5a0000)
  csrr a0, sscratch;        CHECK(39, a0, 1)
  csrr a0, mscratch;        CHECK(40, a0, 14)   /* independent of mscratch */

  /* read-only machine information */
  csrr a0, mvendorid;       CHECK(41, a0, 0)
  csrr a0, mhartid;         CHECK(42, a0, 0)
  csrr a0, misa
  srli a1, a0, 62;          CHECK(43, a1, 2)
  li t0, 0x14112d           /* I, M, A, F, D, C, S, U */
  and a1, a0, t0;           CHECK(44, a1, 0x14112d)
  /* the no-write forms are legal on read-only CSRs */
  csrrs a1, misa, x0
  li TESTNUM, 45
  bne a1, a0, fail
  csrrs a1, mvendorid, x0;  CHECK(46, a1, 0)
  csrrc a1, mhartid, x0;    CHECK(47, a1, 0)
  csrrsi a1, mhartid, 0;    CHECK(48, a1, 0)
  csrrci a1, mvendorid, 0;  CHECK(49, a1, 0)
  csrrs a1, marchid, x0
  csrrs a1, mimpid, x0
  csrrs a1, cycle, x0
  csrrs a1, instret, x0
  /* misa is read/write by number (0x301) but ignores writes */
  li a1, 0
  csrw misa, a1
  csrr a1, misa
  li TESTNUM, 50
  bne a1, a0, fail
  csrrwi a1, misa, 0x1f
  li TESTNUM, 51
  bne a1, a0, fail
  csrr a1, misa
  bne a1, a0, fail

  /* writes to read-only CSRs: illegal instruction, mtval = instruction bits, rd untouched */
#define ILLEGAL(num, word, ...)                      \
  li a0, 0x0dd;                                      \
  TEST_TRAP(num, 2, word, __VA_ARGS__)               \
  CHECK(num, a0, 0x0dd)

  li a1, 1
  ILLEGAL(52, 0xf1159573, csrrw a0, mvendorid, a1)
  ILLEGAL(53, 0xf1401073, csrrw x0, mhartid, x0)    /* csrw always writes, even x0 */
  ILLEGAL(54, 0xf125a573, csrrs a0, marchid, a1)
  ILLEGAL(55, 0xf135b573, csrrc a0, mimpid, a1)
  ILLEGAL(56, 0xf140e573, csrrsi a0, mhartid, 1)
  ILLEGAL(57, 0xf11ff573, csrrci a0, mvendorid, 31)
  ILLEGAL(58, 0xc0005573, csrrwi a0, cycle, 0)      /* csrrwi always writes, even uimm 0 */
  ILLEGAL(59, 0xc0259573, csrrw a0, instret, a1)
  ILLEGAL(60, 0xc015a573, csrrs a0, time, a1)
  ILLEGAL(61, 0xc000e573, csrrsi a0, cycle, 1)
  /* CSR numbers that do not exist: unallocated, RV32-only halves, odd pmpcfg */
  ILLEGAL(62, 0x0ff02573, csrr a0, 0x0ff)
  ILLEGAL(63, 0x1ff02573, csrr a0, 0x1ff)
  ILLEGAL(64, 0x3ff02573, csrr a0, 0x3ff)
  ILLEGAL(65, 0xfff02573, csrr a0, 0xfff)
  ILLEGAL(66, 0xcff02573, csrr a0, 0xcff)
  ILLEGAL(67, 0x3ff59573, csrrw a0, 0x3ff, a1)
  ILLEGAL(68, 0x0ff0d573, csrrwi a0, 0x0ff, 1)
  ILLEGAL(69, 0x1ff06573, csrrsi a0, 0x1ff, 0)      /* even the read-only forms */
  ILLEGAL(70, 0xc8002573, csrr a0, cycleh)
  ILLEGAL(71, 0xc8202573, csrr a0, instreth)
  ILLEGAL(72, 0xc8102573, csrr a0, timeh)
  ILLEGAL(73, 0xb8002573, csrr a0, mcycleh)
  ILLEGAL(74, 0xb8202573, csrr a0, minstreth)
  ILLEGAL(75, 0x31002573, csrr a0, mstatush)
  ILLEGAL(76, 0x3a102573, csrr a0, pmpcfg1)
  ILLEGAL(77, 0x3a359573, csrrw a0, pmpcfg3, a1)
  /* nothing above changed mscratch */
  csrr a0, mscratch;        CHECK(78, a0, 14)

  j pass

TRAP_HANDLER
TEST_END
