/**
 * Instruction decoding: 32-bit encodings to internal operation numbers, and RVC expansion.
 *
 * The hart caches decoded instructions per physical page (see hart.ts); this module is pure.
 * Compressed instructions are expanded to the 32-bit instruction they stand for (RISC-V unprivileged
 * spec, chapter 16 "C" Standard Extension, table 16.5-16.7; and Zcb, in slots RVC reserves), so the executor
 * knows only one form.
 */

import { Bm, BM_NONE, decodeBitmanip } from './bitmanip.js';

// Internal operation numbers. 0 means "not decoded yet" in the cache.
export const enum Op {
  UNDECODED = 0, ILLEGAL, CROSS, NOP,
  LUI, AUIPC, JAL, JALR, BEQ, BNE, BLT, BGE, BLTU, BGEU,
  LB, LH, LW, LD, LBU, LHU, LWU, SB, SH, SW, SD,
  ADDI, SLTI, SLTIU, XORI, ORI, ANDI, SLLI, SRLI, SRAI,
  ADD, SUB, SLL, SLT, SLTU, XOR, SRL, SRA, OR, AND,
  ADDIW, SLLIW, SRLIW, SRAIW, ADDW, SUBW, SLLW, SRLW, SRAW,
  MUL, MULH, MULHSU, MULHU, DIV, DIVU, REM, REMU, MULW, DIVW, DIVUW, REMW, REMUW,
  FENCE, FENCE_I, ECALL, EBREAK, MRET, SRET, WFI, SFENCE_VMA,
  CSRRW, CSRRS, CSRRC, CSRRWI, CSRRSI, CSRRCI,
  LR_W, SC_W, AMO_W, LR_D, SC_D, AMO_D,
  FLW, FLD, FSW, FSD, FP,
  CBO, // Zicbom cbo.inval/clean/flush, Zicboz cbo.zero (immediate = funct12: 0, 1, 2, 4)
  FLH, FSH, // Zfhmin
  BITMANIP, // Zba, Zbb, Zbs, Zbc, Zicond: the operation is in the slot's immediate (bitmanip.ts)
  SHADD, SHADD_UW, // Zba's address arithmetic, run in the hart's loop: immediate = the shift (0-3)
}

/**
 * An encoding RV64GC leaves illegal: a bit-manipulation/Zicond instruction (NOP for rd = x0), or illegal.
 * shNadd and (shNadd|add).uw, frequent in code built for Zba (indexing), get ops of their own (measured: a
 * loop of sh2add ran ~50% slower per instruction through execBitmanip than add).
 */
function bitmanipOr(i: number): Op {
  const bm = decodeBitmanip(i);
  if (bm === BM_NONE) return Op.ILLEGAL;
  if (((i >>> 7) & 31) === 0) return Op.NOP;
  if (bm === Bm.SH1ADD || bm === Bm.SH2ADD || bm === Bm.SH3ADD) return Op.SHADD;
  if (bm === Bm.ADD_UW || bm === Bm.SH1ADD_UW || bm === Bm.SH2ADD_UW || bm === Bm.SH3ADD_UW) return Op.SHADD_UW;
  return Op.BITMANIP;
}

const signExtend = (v: number, bits: number): number => (v << (32 - bits)) >> (32 - bits);

export function immI(i: number): number { return i >> 20; }
export function immS(i: number): number { return ((i >> 25) << 5) | ((i >>> 7) & 31); }
export function immB(i: number): number {
  return ((i >> 31) << 12) | (((i >>> 7) & 1) << 11) | (((i >>> 25) & 63) << 5) | (((i >>> 8) & 15) << 1);
}
export function immU(i: number): number { return i & 0xfffff000; }
export function immJ(i: number): number {
  return ((i >> 31) << 20) | (i & 0xff000) | (((i >>> 20) & 1) << 11) | (((i >>> 21) & 0x3ff) << 1);
}

/** Decodes a 32-bit instruction to its Op; the immediate the executor needs is returned by decodeImm. */
export function decodeOp(i: number): Op {
  const opcode = i & 0x7f;
  const f3 = (i >>> 12) & 7;
  const f7 = i >>> 25;
  const rd = (i >>> 7) & 31;
  // ALU results written to x0 are dropped, so those instructions are NOPs (loads still access memory).
  const alu = (op: Op): Op => (rd === 0 ? Op.NOP : op);
  switch (opcode) {
    case 0x37: return alu(Op.LUI);
    case 0x17: return alu(Op.AUIPC);
    case 0x6f: return Op.JAL;
    case 0x67: return f3 === 0 ? Op.JALR : Op.ILLEGAL;
    case 0x63: return [Op.BEQ, Op.BNE, Op.ILLEGAL, Op.ILLEGAL, Op.BLT, Op.BGE, Op.BLTU, Op.BGEU][f3];
    case 0x03: return [Op.LB, Op.LH, Op.LW, Op.LD, Op.LBU, Op.LHU, Op.LWU, Op.ILLEGAL][f3];
    case 0x23: return [Op.SB, Op.SH, Op.SW, Op.SD, Op.ILLEGAL, Op.ILLEGAL, Op.ILLEGAL, Op.ILLEGAL][f3];
    case 0x13:
      switch (f3) {
        case 0: return alu(Op.ADDI);
        case 2: return alu(Op.SLTI);
        case 3: return alu(Op.SLTIU);
        case 4: return alu(Op.XORI);
        case 6: return alu(Op.ORI);
        case 7: return alu(Op.ANDI);
        case 1: return (i >>> 26) === 0 ? alu(Op.SLLI) : bitmanipOr(i);
        default: // 5
          if ((i >>> 26) === 0) return alu(Op.SRLI);
          if ((i >>> 26) === 0x10) return alu(Op.SRAI);
          return bitmanipOr(i);
      }
    case 0x33:
      if (f7 === 0) return alu([Op.ADD, Op.SLL, Op.SLT, Op.SLTU, Op.XOR, Op.SRL, Op.OR, Op.AND][f3]);
      if (f7 === 0x20) return f3 === 0 ? alu(Op.SUB) : f3 === 5 ? alu(Op.SRA) : bitmanipOr(i);
      if (f7 === 1) return alu([Op.MUL, Op.MULH, Op.MULHSU, Op.MULHU, Op.DIV, Op.DIVU, Op.REM, Op.REMU][f3]);
      return bitmanipOr(i);
    case 0x1b:
      if (f3 === 0) return alu(Op.ADDIW);
      if (f3 === 1) return f7 === 0 ? alu(Op.SLLIW) : bitmanipOr(i);
      if (f3 === 5) return f7 === 0 ? alu(Op.SRLIW) : f7 === 0x20 ? alu(Op.SRAIW) : bitmanipOr(i);
      return Op.ILLEGAL;
    case 0x3b:
      if (f7 === 0) return f3 === 0 ? alu(Op.ADDW) : f3 === 1 ? alu(Op.SLLW) : f3 === 5 ? alu(Op.SRLW) : Op.ILLEGAL;
      if (f7 === 0x20) return f3 === 0 ? alu(Op.SUBW) : f3 === 5 ? alu(Op.SRAW) : Op.ILLEGAL;
      if (f7 === 1) {
        const w = [Op.MULW, Op.ILLEGAL, Op.ILLEGAL, Op.ILLEGAL, Op.DIVW, Op.DIVUW, Op.REMW, Op.REMUW][f3];
        return w === Op.ILLEGAL ? w : alu(w);
      }
      return bitmanipOr(i);
    case 0x0f:
      if (f3 === 0) return Op.FENCE;
      if (f3 === 1) return Op.FENCE_I;
      // cbo.*: funct12 0 inval, 1 clean, 2 flush, 4 zero; rd = 0. (Zicbop's prefetch.* are ORI with rd = 0: NOPs.)
      if (f3 === 2 && rd === 0 && ((i >>> 20) <= 2 || (i >>> 20) === 4)) return Op.CBO;
      return Op.ILLEGAL;
    case 0x73: {
      if (f3 === 0) {
        if (i === 0x00000073) return Op.ECALL;
        if (i === 0x00100073) return Op.EBREAK;
        if (i === 0x30200073) return Op.MRET;
        if (i === 0x10200073) return Op.SRET;
        if (i === 0x10500073) return Op.WFI;
        // sfence.vma, and Svinval's sinval.vma (0x0b), sfence.w.inval and sfence.inval.ir (0x0c, rs2 = 0/1)
        if ((f7 === 0x09 || f7 === 0x0b) && rd === 0) return Op.SFENCE_VMA;
        if (i === 0x18000073 || i === 0x18100073) return Op.SFENCE_VMA;
        return Op.ILLEGAL;
      }
      return [Op.ILLEGAL, Op.CSRRW, Op.CSRRS, Op.CSRRC, Op.ILLEGAL, Op.CSRRWI, Op.CSRRSI, Op.CSRRCI][f3];
    }
    case 0x2f: {
      const f5 = i >>> 27;
      const rs2 = (i >>> 20) & 31;
      // AMO funct5: 00010 LR, 00011 SC, 00001 SWAP, 00000 ADD, 00100 XOR, 01100 AND, 01000 OR,
      // 10000 MIN, 10100 MAX, 11000 MINU, 11100 MAXU
      const amo = f5 === 1 || f5 === 0 || f5 === 4 || f5 === 12 || f5 === 8 || f5 === 16 || f5 === 20 || f5 === 24 || f5 === 28;
      if (f3 === 2) {
        if (f5 === 2) return rs2 === 0 ? Op.LR_W : Op.ILLEGAL;
        if (f5 === 3) return Op.SC_W;
        return amo ? Op.AMO_W : Op.ILLEGAL;
      }
      if (f3 === 3) {
        if (f5 === 2) return rs2 === 0 ? Op.LR_D : Op.ILLEGAL;
        if (f5 === 3) return Op.SC_D;
        return amo ? Op.AMO_D : Op.ILLEGAL;
      }
      return Op.ILLEGAL;
    }
    case 0x07: return f3 === 2 ? Op.FLW : f3 === 3 ? Op.FLD : f3 === 1 ? Op.FLH : Op.ILLEGAL;
    case 0x27: return f3 === 2 ? Op.FSW : f3 === 3 ? Op.FSD : f3 === 1 ? Op.FSH : Op.ILLEGAL;
    case 0x53: case 0x43: case 0x47: case 0x4b: case 0x4f: return Op.FP;
    default: return Op.ILLEGAL;
  }
}

/** The immediate the executor uses for `op` (shift amounts, CSR numbers and offsets pre-extracted). */
export function decodeImm(op: Op, i: number): number {
  switch (op) {
    case Op.LUI: case Op.AUIPC: return immU(i);
    case Op.JAL: return immJ(i);
    case Op.BEQ: case Op.BNE: case Op.BLT: case Op.BGE: case Op.BLTU: case Op.BGEU: return immB(i);
    case Op.SB: case Op.SH: case Op.SW: case Op.SD: case Op.FSW: case Op.FSD: case Op.FSH: return immS(i);
    case Op.SLLI: case Op.SRLI: case Op.SRAI: return (i >>> 20) & 63;
    case Op.SLLIW: case Op.SRLIW: case Op.SRAIW: return (i >>> 20) & 31;
    case Op.CSRRW: case Op.CSRRS: case Op.CSRRC: case Op.CSRRWI: case Op.CSRRSI: case Op.CSRRCI: return i >>> 20;
    case Op.BITMANIP: return decodeBitmanip(i);
    case Op.SHADD: case Op.SHADD_UW: return (i >>> 13) & 3; // funct3 2, 4, 6 -> 1, 2, 3 (add.uw: 0)
    default: return immI(i);
  }
}

// --- RVC expansion -------------------------------------------------------------------------------

// The 32-bit formats (unprivileged spec, 2.3), as int32; the warm-up program is assembled with them too.
export const rType = (f7: number, rs2: number, rs1: number, f3: number, rd: number, opc: number): number =>
  ((f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opc) | 0;
export const iType = (imm: number, rs1: number, f3: number, rd: number, opc: number): number =>
  (((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opc) | 0;
export const sType = (imm: number, rs2: number, rs1: number, f3: number, opc: number): number =>
  ((((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 31) << 7) | opc) | 0;
export const bType = (imm: number, rs2: number, rs1: number, f3: number): number =>
  ((((imm >> 12) & 1) << 31) | (((imm >> 5) & 0x3f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) |
    (((imm >> 1) & 15) << 8) | (((imm >> 11) & 1) << 7) | 0x63) | 0;
export const jType = (imm: number, rd: number): number =>
  ((((imm >> 20) & 1) << 31) | (((imm >> 1) & 0x3ff) << 21) | (((imm >> 11) & 1) << 20) |
    (((imm >> 12) & 0xff) << 12) | (rd << 7) | 0x6f) | 0;

/** Marker for reserved compressed encodings (no 32-bit instruction has all bits set). */
export const C_ILLEGAL = -1;
/** A 32-bit `addi x0, x0, 0`: what RVC HINTs expand to. */
const NOP32 = 0x13;

/** Expands a 16-bit instruction to the equivalent 32-bit one, or C_ILLEGAL for reserved encodings. */
export function expandCompressed(c: number): number {
  const q = c & 3;
  const f3 = (c >>> 13) & 7;
  const rdp = ((c >>> 2) & 7) + 8; // rd' / rs2'
  const rs1p = ((c >>> 7) & 7) + 8; // rs1' / rd'
  const rd = (c >>> 7) & 31;
  const rs2 = (c >>> 2) & 31;
  if (q === 0) {
    switch (f3) {
      case 0: { // c.addi4spn
        const imm = (((c >>> 7) & 15) << 6) | (((c >>> 11) & 3) << 4) | (((c >>> 5) & 1) << 3) | (((c >>> 6) & 1) << 2);
        if (imm === 0) return C_ILLEGAL; // includes the all-zero instruction
        return iType(imm, 2, 0, rdp, 0x13);
      }
      case 1: { // c.fld
        const imm = (((c >>> 10) & 7) << 3) | (((c >>> 5) & 3) << 6);
        return iType(imm, rs1p, 3, rdp, 0x07);
      }
      case 2: { // c.lw
        const imm = (((c >>> 10) & 7) << 3) | (((c >>> 6) & 1) << 2) | (((c >>> 5) & 1) << 6);
        return iType(imm, rs1p, 2, rdp, 0x03);
      }
      case 3: { // c.ld
        const imm = (((c >>> 10) & 7) << 3) | (((c >>> 5) & 3) << 6);
        return iType(imm, rs1p, 3, rdp, 0x03);
      }
      case 5: { // c.fsd
        const imm = (((c >>> 10) & 7) << 3) | (((c >>> 5) & 3) << 6);
        return sType(imm, rdp, rs1p, 3, 0x27);
      }
      case 6: { // c.sw
        const imm = (((c >>> 10) & 7) << 3) | (((c >>> 6) & 1) << 2) | (((c >>> 5) & 1) << 6);
        return sType(imm, rdp, rs1p, 2, 0x23);
      }
      case 7: { // c.sd
        const imm = (((c >>> 10) & 7) << 3) | (((c >>> 5) & 3) << 6);
        return sType(imm, rdp, rs1p, 3, 0x23);
      }
      default: { // 4: Zcb loads and stores (1.0.0, "Zcb"); the rest of this funct3 is reserved
        const f = (c >>> 10) & 7;
        const b6 = (c >>> 6) & 1;
        const uh = ((c >>> 5) & 1) << 1; // uimm[1]
        if (f === 0) return iType(uh | b6, rs1p, 4, rdp, 0x03); // c.lbu
        if (f === 1) return iType(uh, rs1p, b6 ? 1 : 5, rdp, 0x03); // c.lh / c.lhu
        if (f === 2) return sType(uh | b6, rdp, rs1p, 0, 0x23); // c.sb
        if (f === 3 && b6 === 0) return sType(uh, rdp, rs1p, 1, 0x23); // c.sh
        return C_ILLEGAL;
      }
    }
  }
  if (q === 1) {
    const imm6 = signExtend((((c >>> 12) & 1) << 5) | ((c >>> 2) & 31), 6);
    switch (f3) {
      case 0: return iType(imm6, rd, 0, rd, 0x13); // c.addi / c.nop (HINTs when rd=0 or imm=0 execute as written)
      case 1: // c.addiw
        if (rd === 0) return C_ILLEGAL;
        return iType(imm6, rd, 0, rd, 0x1b);
      case 2: return iType(imm6, 0, 0, rd, 0x13); // c.li
      case 3:
        if (rd === 2) { // c.addi16sp
          const imm = signExtend((((c >>> 12) & 1) << 9) | (((c >>> 3) & 3) << 7) | (((c >>> 5) & 1) << 6) |
            (((c >>> 2) & 1) << 5) | (((c >>> 6) & 1) << 4), 10);
          if (imm === 0) return C_ILLEGAL;
          return iType(imm, 2, 0, 2, 0x13);
        }
        if (imm6 === 0) return C_ILLEGAL; // c.lui with nzimm = 0 is reserved
        return ((imm6 << 12) | (rd << 7) | 0x37) | 0; // c.lui (rd = 0 is a HINT)
      case 4: {
        const f2 = (c >>> 10) & 3;
        const shamt = (((c >>> 12) & 1) << 5) | ((c >>> 2) & 31);
        if (f2 === 0) return shamt === 0 ? NOP32 : iType(shamt, rs1p, 5, rs1p, 0x13); // c.srli
        if (f2 === 1) return shamt === 0 ? NOP32 : iType(0x400 | shamt, rs1p, 5, rs1p, 0x13); // c.srai
        if (f2 === 2) return iType(imm6, rs1p, 7, rs1p, 0x13); // c.andi
        const f = (c >>> 5) & 3;
        if (((c >>> 12) & 1) === 0) {
          if (f === 0) return rType(0x20, rdp, rs1p, 0, rs1p, 0x33); // c.sub
          if (f === 1) return rType(0, rdp, rs1p, 4, rs1p, 0x33); // c.xor
          if (f === 2) return rType(0, rdp, rs1p, 6, rs1p, 0x33); // c.or
          return rType(0, rdp, rs1p, 7, rs1p, 0x33); // c.and
        }
        if (f === 0) return rType(0x20, rdp, rs1p, 0, rs1p, 0x3b); // c.subw
        if (f === 1) return rType(0, rdp, rs1p, 0, rs1p, 0x3b); // c.addw
        if (f === 2) return rType(1, rdp, rs1p, 0, rs1p, 0x33); // c.mul (Zcb)
        switch ((c >>> 2) & 7) { // Zcb unary operations on rd'
          case 0: return iType(0xff, rs1p, 7, rs1p, 0x13); // c.zext.b = andi rd', rd', 255
          case 1: return iType(0x604, rs1p, 1, rs1p, 0x13); // c.sext.b
          case 2: return rType(0x04, 0, rs1p, 4, rs1p, 0x3b); // c.zext.h
          case 3: return iType(0x605, rs1p, 1, rs1p, 0x13); // c.sext.h
          case 4: return rType(0x04, 0, rs1p, 0, rs1p, 0x3b); // c.zext.w = add.uw rd', rd', x0
          case 5: return iType(-1, rs1p, 4, rs1p, 0x13); // c.not = xori rd', rd', -1
          default: return C_ILLEGAL;
        }
      }
      case 5: { // c.j
        const imm = signExtend((((c >>> 12) & 1) << 11) | (((c >>> 8) & 1) << 10) | (((c >>> 9) & 3) << 8) |
          (((c >>> 6) & 1) << 7) | (((c >>> 7) & 1) << 6) | (((c >>> 2) & 1) << 5) | (((c >>> 11) & 1) << 4) |
          (((c >>> 3) & 7) << 1), 12);
        return jType(imm, 0);
      }
      default: { // 6 c.beqz, 7 c.bnez
        const imm = signExtend((((c >>> 12) & 1) << 8) | (((c >>> 5) & 3) << 6) | (((c >>> 2) & 1) << 5) |
          (((c >>> 10) & 3) << 3) | (((c >>> 3) & 3) << 1), 9);
        return bType(imm, 0, rs1p, f3 === 6 ? 0 : 1);
      }
    }
  }
  if (q === 2) {
    switch (f3) {
      case 0: { // c.slli (shamt = 0 and rd = 0 are HINTs)
        const shamt = (((c >>> 12) & 1) << 5) | ((c >>> 2) & 31);
        return shamt === 0 ? NOP32 : iType(shamt, rd, 1, rd, 0x13);
      }
      case 1: { // c.fldsp
        const imm = (((c >>> 12) & 1) << 5) | (((c >>> 5) & 3) << 3) | (((c >>> 2) & 7) << 6);
        return iType(imm, 2, 3, rd, 0x07);
      }
      case 2: { // c.lwsp
        if (rd === 0) return C_ILLEGAL;
        const imm = (((c >>> 12) & 1) << 5) | (((c >>> 4) & 7) << 2) | (((c >>> 2) & 3) << 6);
        return iType(imm, 2, 2, rd, 0x03);
      }
      case 3: { // c.ldsp
        if (rd === 0) return C_ILLEGAL;
        const imm = (((c >>> 12) & 1) << 5) | (((c >>> 5) & 3) << 3) | (((c >>> 2) & 7) << 6);
        return iType(imm, 2, 3, rd, 0x03);
      }
      case 4:
        if (((c >>> 12) & 1) === 0) {
          if (rs2 === 0) return rd === 0 ? C_ILLEGAL : iType(0, rd, 0, 0, 0x67); // c.jr
          return rType(0, rs2, 0, 0, rd, 0x33); // c.mv
        }
        if (rs2 === 0) {
          if (rd === 0) return 0x00100073; // c.ebreak
          return iType(0, rd, 0, 1, 0x67); // c.jalr
        }
        return rType(0, rs2, rd, 0, rd, 0x33); // c.add
      case 5: { // c.fsdsp
        const imm = (((c >>> 10) & 7) << 3) | (((c >>> 7) & 7) << 6);
        return sType(imm, rs2, 2, 3, 0x27);
      }
      case 6: { // c.swsp
        const imm = (((c >>> 9) & 15) << 2) | (((c >>> 7) & 3) << 6);
        return sType(imm, rs2, 2, 2, 0x23);
      }
      default: { // 7 c.sdsp
        const imm = (((c >>> 10) & 7) << 3) | (((c >>> 7) & 7) << 6);
        return sType(imm, rs2, 2, 3, 0x23);
      }
    }
  }
  return C_ILLEGAL; // q === 3 is not a compressed instruction
}
