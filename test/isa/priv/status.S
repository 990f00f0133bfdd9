/* mstatus/sstatus: sstatus is a view of mstatus (SIE, SPIE, SPP, FS, SUM, MXR writable; UXL = 2 read-only; SD),
   mstatus-only fields are invisible in sstatus, WARL fields, misa. */
#include "priv.h"
#define S_FIELDS (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_SUM | MSTATUS_MXR)
#define M_ONLY   (MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_MPRV | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | MSTATUS_SXL)
#define VS_FIELD (3 << 9)
TEST_BEGIN
  INSTALL_MTRAP
  csrw mie, zero
  li t0, VS_FIELD; csrc mstatus, t0     /* VS may be writable without V (QEMU); keep it 0 for SD */

  /* Fields written through sstatus appear in mstatus. */
  li t0, S_FIELDS; csrc mstatus, t0
  li t0, S_FIELDS; csrs sstatus, t0
  csrr a1, mstatus
  CHECK_MASK(2, a1, S_FIELDS, S_FIELDS)
  /* and each one alone */
#define S_BIT(num, bit)                              \
  li t0, S_FIELDS; csrc sstatus, t0;                 \
  li t0, bit; csrs sstatus, t0;                      \
  csrr a1, mstatus; CHECK_MASK(num, a1, S_FIELDS, bit); \
  csrr a1, sstatus; CHECK_MASK(num + 1, a1, S_FIELDS, bit); \
  li t0, S_FIELDS; csrc mstatus, t0;                 \
  li t0, bit; csrs mstatus, t0;                      \
  csrr a1, sstatus; CHECK_MASK(num + 2, a1, S_FIELDS, bit)
  S_BIT(3, MSTATUS_SIE)
  S_BIT(6, MSTATUS_SPIE)
  S_BIT(9, MSTATUS_SPP)
  S_BIT(12, MSTATUS_SUM)
  S_BIT(15, MSTATUS_MXR)
  S_BIT(18, (1 << 13))
  S_BIT(21, (2 << 13))
  S_BIT(24, (3 << 13))

  /* mstatus-only fields do not show in sstatus. */
  li t0, MSTATUS_SPP | MSTATUS_MPRV; csrc mstatus, t0
  li t0, MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR; csrs mstatus, t0
  csrr a1, mstatus
  CHECK_MASK(27, a1, MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR, MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR)
  csrr a1, sstatus
  CHECK_MASK(28, a1, M_ONLY | MSTATUS_XS, 0)

  /* A write of sstatus leaves the mstatus-only fields alone: all S fields set... */
  li t0, ~MSTATUS_UXL; csrw sstatus, t0
  csrr a1, mstatus
  CHECK_MASK(29, a1, S_FIELDS, S_FIELDS)
  CHECK_MASK(30, a1, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_MPRV | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR, MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR)
  /* ... and all cleared. */
  csrw sstatus, zero
  csrr a1, mstatus
  CHECK_MASK(31, a1, S_FIELDS, 0)
  CHECK_MASK(32, a1, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_MPRV | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR, MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR)
  li t0, MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR; csrc mstatus, t0
  csrr a1, mstatus
  CHECK_MASK(33, a1, MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR, 0)

  /* UXL reads 2 in both; SXL reads 2; writes of zero there change nothing. */
  csrr a1, sstatus
  CHECK_MASK(34, a1, MSTATUS_UXL, (2 << 32))
  csrr a1, mstatus
  CHECK_MASK(35, a1, MSTATUS_UXL | MSTATUS_SXL, (2 << 32) | (2 << 34))
  li t0, MSTATUS_UXL; csrc sstatus, t0
  csrr a1, sstatus
  CHECK_MASK(36, a1, MSTATUS_UXL, (2 << 32))
  li t0, MSTATUS_UXL | MSTATUS_SXL; csrc mstatus, t0
  csrr a1, mstatus
  CHECK_MASK(37, a1, MSTATUS_UXL | MSTATUS_SXL, (2 << 32) | (2 << 34))

  /* SD summarises FS (XS and VS are 0): set only when FS = Dirty, in mstatus and in sstatus. */
#define SD_CASE(num, fs, sd)                         \
  li t0, MSTATUS_FS; csrc mstatus, t0;               \
  li t0, (fs) << 13; csrs mstatus, t0;               \
  csrr a1, mstatus; CHECK_MASK(num, a1, MSTATUS_SD | MSTATUS_FS, (sd) | ((fs) << 13)); \
  csrr a1, sstatus; CHECK_MASK(num + 1, a1, MSTATUS_SD | MSTATUS_FS, (sd) | ((fs) << 13))
  SD_CASE(38, 0, 0)
  SD_CASE(40, 1, 0)
  SD_CASE(42, 2, 0)
  SD_CASE(44, 3, MSTATUS_SD)
  /* SD is read-only: writing it with FS = Off leaves it 0. */
  li t0, MSTATUS_FS; csrc mstatus, t0
  li t0, MSTATUS_SD; csrs mstatus, t0
  csrr a1, mstatus
  CHECK_MASK(46, a1, MSTATUS_SD, 0)
  /* A floating-point instruction with FS = Off is illegal; with FS = Initial it runs and sets Dirty. */
  EXPECT_MTRAP(1f)
10: fmv.d.x fa0, zero
  MUST_TRAP(47)
1:CHECK_MCAUSE(48, CAUSE_ILLEGAL)
  CHECK_MEPC(49, 10b)
  li t0, (1 << 13); csrs mstatus, t0
  fmv.d.x fa0, zero
  csrr a1, mstatus
  CHECK_MASK(50, a1, MSTATUS_SD | MSTATUS_FS, MSTATUS_SD | MSTATUS_FS)

  /* MPP holds M, S and U. */
#define MPP_CASE(num, mode)                          \
  SET_MPP(mode);                                     \
  csrr a1, mstatus; CHECK_MASK(num, a1, MSTATUS_MPP, (mode) << 11)
  MPP_CASE(51, PRV_U)
  MPP_CASE(52, PRV_S)
  MPP_CASE(53, PRV_M)
  MPP_CASE(54, PRV_U)

  /* MPRV, SUM, MXR, TVM, TW, TSR are writable bits of mstatus. */
#define M_BIT(num, bit)                              \
  li t0, bit; csrs mstatus, t0;                      \
  csrr a1, mstatus; CHECK_MASK(num, a1, bit, bit);   \
  li t0, bit; csrc mstatus, t0;                      \
  csrr a1, mstatus; CHECK_MASK(num + 1, a1, bit, 0)
  M_BIT(55, MSTATUS_MPRV)
  M_BIT(57, MSTATUS_TVM)
  M_BIT(59, MSTATUS_TW)
  M_BIT(61, MSTATUS_TSR)
  M_BIT(63, MSTATUS_MIE)
  M_BIT(65, MSTATUS_MPIE)

  /* sstatus from S: S can write its fields; mstatus is illegal there. */
  PMP_ALLOW_ALL
  li t0, S_FIELDS; csrc mstatus, t0
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_S, 10f)
10: li t0, MSTATUS_SUM | MSTATUS_MXR | MSTATUS_SPP; csrs sstatus, t0
  li t0, MSTATUS_MPP; csrs sstatus, t0     /* not a field of sstatus: ignored */
  csrr a2, sstatus
11: csrr a3, mstatus
  MUST_TRAP(67)
1:CHECK_MCAUSE(68, CAUSE_ILLEGAL)
  CHECK_MEPC(69, 11b)
  CHECK_MASK(70, a2, S_FIELDS | MSTATUS_MPP, MSTATUS_SUM | MSTATUS_MXR | MSTATUS_SPP)
  CHECK_MASK(71, s11, MSTATUS_MPP, MSTATUS_MPP_S)
  li t0, S_FIELDS; csrc mstatus, t0

  /* misa: RV64 with I, M, A, F, D, C, S, U; writes are ignored. */
  csrr a1, misa
  CHECK_MASK(72, a1, (3 << 62), (2 << 62))
#define EXT(c) (1 << ((c) - 'A'))
  CHECK_MASK(73, a1, EXT('I') | EXT('M') | EXT('A') | EXT('F') | EXT('D') | EXT('C') | EXT('S') | EXT('U'), EXT('I') | EXT('M') | EXT('A') | EXT('F') | EXT('D') | EXT('C') | EXT('S') | EXT('U'))
  csrw misa, zero
  csrr a2, misa
  li TESTNUM, 74; bne a1, a2, fail
  li t0, EXT('C'); csrc misa, t0
  csrr a2, misa
  li TESTNUM, 75; bne a1, a2, fail
  /* mhartid is 0 and read-only */
  CHECK_CSR(76, mhartid, 0)
  CHECK_CSR(77, mvendorid, 0)
  EXPECT_MTRAP(1f)
10: csrw mhartid, zero
  MUST_TRAP(78)
1:CHECK_MCAUSE(79, CAUSE_ILLEGAL)

  j pass
  PRIV_HANDLERS
TEST_END
