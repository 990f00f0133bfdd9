/*
 * Encodings binutils 2.40 (Debian 12's cross assembler) does not know yet, for the ISA test programs.
 * Zicond (1.0): assembler macros with the usual operands, `czero.eqz rd, rs1, rs2`.
 * Zcb (1.0.0): C macros taking register NUMBERS 8-15 (s0 = 8, s1 = 9, a0 = 10 ... a5 = 15), as the
 * compressed forms reach only those: C_LBU(rd, rs1, uimm) is `c.lbu rd, uimm(rs1)`.
 */
#ifndef BONSAI_ISA_INSN_H
#define BONSAI_ISA_INSN_H
#ifdef __ASSEMBLER__ /* (harmless when included into C, as riscv-tests.sh does for every file it compiles) */

.macro czero.eqz rd, rs1, rs2
  .insn r 0x33, 5, 7, \rd, \rs1, \rs2
.endm
.macro czero.nez rd, rs1, rs2
  .insn r 0x33, 7, 7, \rd, \rs1, \rs2
.endm

#define ZCB_RP(r) (((r) - 8) & 7)
#define C_LBU(rd, rs1, u) .half (0x8000 | (ZCB_RP(rs1) << 7) | (((u) & 1) << 6) | ((((u) >> 1) & 1) << 5) | (ZCB_RP(rd) << 2))
#define C_LHU(rd, rs1, u) .half (0x8400 | (ZCB_RP(rs1) << 7) | ((((u) >> 1) & 1) << 5) | (ZCB_RP(rd) << 2))
#define C_LH(rd, rs1, u)  .half (0x8440 | (ZCB_RP(rs1) << 7) | ((((u) >> 1) & 1) << 5) | (ZCB_RP(rd) << 2))
#define C_SB(rs2, rs1, u) .half (0x8800 | (ZCB_RP(rs1) << 7) | (((u) & 1) << 6) | ((((u) >> 1) & 1) << 5) | (ZCB_RP(rs2) << 2))
#define C_SH(rs2, rs1, u) .half (0x8c00 | (ZCB_RP(rs1) << 7) | ((((u) >> 1) & 1) << 5) | (ZCB_RP(rs2) << 2))
#define C_ZEXT_B(rd) .half (0x9c61 | (ZCB_RP(rd) << 7))
#define C_SEXT_B(rd) .half (0x9c65 | (ZCB_RP(rd) << 7))
#define C_ZEXT_H(rd) .half (0x9c69 | (ZCB_RP(rd) << 7))
#define C_SEXT_H(rd) .half (0x9c6d | (ZCB_RP(rd) << 7))
#define C_ZEXT_W(rd) .half (0x9c71 | (ZCB_RP(rd) << 7))
#define C_NOT(rd)    .half (0x9c75 | (ZCB_RP(rd) << 7))
#define C_MUL(rd, rs2) .half (0x9c41 | (ZCB_RP(rd) << 7) | (ZCB_RP(rs2) << 2))

#endif /* __ASSEMBLER__ */
#endif
