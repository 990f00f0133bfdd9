/* mcounteren/scounteren: cycle and instret from S need mcounteren, from U both mcounteren and scounteren;
   a denied read is an illegal instruction (to M, mtval = the bits). (time: counteren-bonsai.S.) */
#include "priv.h"
#define CY 1
#define IR 4
#define RD_CYCLE   csrr a0, cycle
#define RD_INSTRET csrr a0, instret
#define RD_BOTH    csrr a0, cycle; csrr a1, instret
TEST_BEGIN
  INSTALL_MTRAP
  PMP_ALLOW_ALL
  csrw mie, zero
  csrw medeleg, zero

  /* CY, TM and IR are writable in both registers. */
  li t0, 7; csrw mcounteren, t0
  csrr a1, mcounteren
  CHECK_MASK(2, a1, 7, 7)
  csrw mcounteren, zero
  csrr a1, mcounteren
  CHECK_MASK(3, a1, 7, 0)
  li t0, 7; csrw scounteren, t0
  csrr a1, scounteren
  CHECK_MASK(4, a1, 7, 7)
  csrw scounteren, zero
  csrr a1, scounteren
  CHECK_MASK(5, a1, 7, 0)

  /* From S: mcounteren decides. */
  csrw scounteren, zero
  ILLEGAL_IN(6, PRV_S, RD_CYCLE, 0xc0002573)
  ILLEGAL_IN(10, PRV_S, RD_INSTRET, 0xc0202573)
  li t0, CY; csrw mcounteren, t0
  LEGAL_IN(14, PRV_S, RD_CYCLE, CAUSE_ECALL_S)
  ILLEGAL_IN(17, PRV_S, RD_INSTRET, 0xc0202573)
  li t0, IR; csrw mcounteren, t0
  LEGAL_IN(21, PRV_S, RD_INSTRET, CAUSE_ECALL_S)
  ILLEGAL_IN(24, PRV_S, RD_CYCLE, 0xc0002573)
  /* scounteren alone does not open S */
  csrw mcounteren, zero
  li t0, CY | IR; csrw scounteren, t0
  ILLEGAL_IN(28, PRV_S, RD_CYCLE, 0xc0002573)

  /* From U: both. */
  csrw mcounteren, zero
  ILLEGAL_IN(32, PRV_U, RD_CYCLE, 0xc0002573)
  ILLEGAL_IN(36, PRV_U, RD_INSTRET, 0xc0202573)
  li t0, CY | IR; csrw mcounteren, t0
  csrw scounteren, zero
  ILLEGAL_IN(40, PRV_U, RD_CYCLE, 0xc0002573)
  ILLEGAL_IN(44, PRV_U, RD_INSTRET, 0xc0202573)
  LEGAL_IN(48, PRV_S, RD_BOTH, CAUSE_ECALL_S)
  li t0, CY; csrw scounteren, t0
  LEGAL_IN(51, PRV_U, RD_CYCLE, CAUSE_ECALL_U)
  ILLEGAL_IN(54, PRV_U, RD_INSTRET, 0xc0202573)
  li t0, IR; csrw scounteren, t0
  LEGAL_IN(58, PRV_U, RD_INSTRET, CAUSE_ECALL_U)
  ILLEGAL_IN(61, PRV_U, RD_CYCLE, 0xc0002573)
  li t0, CY | IR; csrw scounteren, t0
  LEGAL_IN(65, PRV_U, RD_BOTH, CAUSE_ECALL_U)

  /* What U reads is mcycle/minstret (held still by mcountinhibit). */
  li t0, 5; csrw mcountinhibit, t0
  li t0, 777; csrw mcycle, t0
  li t0, 888; csrw minstret, t0
  li a0, 0; li a1, 0
  LEGAL_IN(68, PRV_U, RD_BOTH, CAUSE_ECALL_U)
  CHECK(71, a0, 777)
  CHECK(72, a1, 888)
  li a0, 0; li a1, 0
  LEGAL_IN(73, PRV_S, RD_BOTH, CAUSE_ECALL_S)
  CHECK(76, a0, 777)
  CHECK(77, a1, 888)
  csrw mcountinhibit, zero

  /* A denied read from U is an illegal instruction that medeleg can send to S. */
  INSTALL_STRAP
  li t0, (1 << CAUSE_ILLEGAL); csrw medeleg, t0
  csrw scounteren, zero
  CLEAR_SREC
  EXPECT_STRAP(2f)
  EXPECT_MTRAP(1f)
  MRET_TO(PRV_U, 10f)
10: rdcycle a0
  MUST_TRAP(78)
2:ecall
1:CHECK_SCAUSE(79, CAUSE_ILLEGAL)
  CHECK_SEPC(80, 10b)
  CHECK_STVAL(81, 0xc0002573)
  csrw medeleg, zero
  csrw mcounteren, zero
  csrw scounteren, zero

  j pass
  PRIV_HANDLERS
TEST_END
