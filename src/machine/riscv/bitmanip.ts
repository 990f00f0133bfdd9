/**
 * The integer extensions beyond RV64IM that RVA22/RVA23 ask for: bit manipulation (Zba, Zbb, Zbs and the
 * carry-less multiply of Zbc; unprivileged spec, chapter "B" Standard Extension for Bit Manipulation, 1.0.0)
 * and integer conditional operations (Zicond 1.0). Zcb's compressed forms expand to these (decode.ts).
 *
 * decode.ts maps every such encoding to the one Op.BITMANIP; the operation itself (`Bm`) is decoded once
 * into the slot's immediate, so the hart's loop pays one switch case and one call for all of them, and no
 * existing instruction's path changes. Registers are 32-bit halves, as everywhere in the hart (int64.ts):
 * x[2r] = low word, x[2r + 1] = high word, both int32.
 */

/** The operation of an Op.BITMANIP instruction (kept in the decoded slot's immediate). */
export const enum Bm {
  // Zba
  SH1ADD, SH2ADD, SH3ADD, ADD_UW, SH1ADD_UW, SH2ADD_UW, SH3ADD_UW, SLLI_UW,
  // Zbb
  ANDN, ORN, XNOR, CLZ, CTZ, CPOP, CLZW, CTZW, CPOPW, MAX, MAXU, MIN, MINU, SEXT_B, SEXT_H, ZEXT_H,
  ROL, ROR, RORI, ROLW, RORW, RORIW, ORC_B, REV8,
  // Zbs
  BCLR, BCLRI, BEXT, BEXTI, BINV, BINVI, BSET, BSETI,
  // Zbc
  CLMUL, CLMULH, CLMULR,
  // Zicond
  CZERO_EQZ, CZERO_NEZ,
}

/** Not a bit-manipulation or Zicond encoding. */
export const BM_NONE = -1;

/**
 * The Bm operation of a 32-bit instruction, or BM_NONE. Called by decode.ts only for encodings RV64GC
 * leaves illegal (opcodes OP, OP-32, OP-IMM, OP-IMM-32), so it never changes what an existing one means.
 */
export function decodeBitmanip(i: number): number {
  const opcode = i & 0x7f;
  const f3 = (i >>> 12) & 7;
  const f7 = i >>> 25;
  const f6 = i >>> 26;
  const imm12 = i >>> 20;
  switch (opcode) {
    case 0x33: // OP
      switch (f7) {
        case 0x10: return f3 === 2 ? Bm.SH1ADD : f3 === 4 ? Bm.SH2ADD : f3 === 6 ? Bm.SH3ADD : BM_NONE;
        case 0x20: return f3 === 7 ? Bm.ANDN : f3 === 6 ? Bm.ORN : f3 === 4 ? Bm.XNOR : BM_NONE;
        case 0x05:
          return [BM_NONE, Bm.CLMUL, Bm.CLMULR, Bm.CLMULH, Bm.MIN, Bm.MINU, Bm.MAX, Bm.MAXU][f3];
        case 0x30: return f3 === 1 ? Bm.ROL : f3 === 5 ? Bm.ROR : BM_NONE;
        case 0x24: return f3 === 1 ? Bm.BCLR : f3 === 5 ? Bm.BEXT : BM_NONE;
        case 0x34: return f3 === 1 ? Bm.BINV : BM_NONE;
        case 0x14: return f3 === 1 ? Bm.BSET : BM_NONE;
        case 0x07: return f3 === 5 ? Bm.CZERO_EQZ : f3 === 7 ? Bm.CZERO_NEZ : BM_NONE;
        default: return BM_NONE;
      }
    case 0x3b: // OP-32
      switch (f7) {
        case 0x04:
          if (f3 === 0) return Bm.ADD_UW;
          return f3 === 4 && ((i >>> 20) & 31) === 0 ? Bm.ZEXT_H : BM_NONE;
        case 0x10: return f3 === 2 ? Bm.SH1ADD_UW : f3 === 4 ? Bm.SH2ADD_UW : f3 === 6 ? Bm.SH3ADD_UW : BM_NONE;
        case 0x30: return f3 === 1 ? Bm.ROLW : f3 === 5 ? Bm.RORW : BM_NONE;
        default: return BM_NONE;
      }
    case 0x13: // OP-IMM
      if (f3 === 1) {
        switch (imm12) {
          case 0x600: return Bm.CLZ;
          case 0x601: return Bm.CTZ;
          case 0x602: return Bm.CPOP;
          case 0x604: return Bm.SEXT_B;
          case 0x605: return Bm.SEXT_H;
          default: return f6 === 0x12 ? Bm.BCLRI : f6 === 0x1a ? Bm.BINVI : f6 === 0x0a ? Bm.BSETI : BM_NONE;
        }
      }
      if (f3 === 5) {
        if (imm12 === 0x287) return Bm.ORC_B;
        if (imm12 === 0x6b8) return Bm.REV8;
        return f6 === 0x18 ? Bm.RORI : f6 === 0x12 ? Bm.BEXTI : BM_NONE;
      }
      return BM_NONE;
    case 0x1b: // OP-IMM-32
      if (f3 === 1) {
        if (imm12 === 0x600) return Bm.CLZW;
        if (imm12 === 0x601) return Bm.CTZW;
        if (imm12 === 0x602) return Bm.CPOPW;
        return f6 === 0x02 ? Bm.SLLI_UW : BM_NONE;
      }
      return f3 === 5 && f7 === 0x30 ? Bm.RORIW : BM_NONE;
    default: return BM_NONE;
  }
}

// --- helpers on 32-bit words -----------------------------------------------------------------------

const ctz32 = (v: number): number => (v === 0 ? 32 : 31 - Math.clz32(v & -v));

function cpop32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  v = (v + (v >>> 4)) & 0x0f0f0f0f;
  return Math.imul(v, 0x01010101) >>> 24;
}

const bswap32 = (v: number): number =>
  ((v << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) | 0;

/** Each byte 0xff if it was non-zero, else 0 (orc.b on one word). */
function orcb32(v: number): number {
  let r = 0;
  if (v & 0xff) r |= 0xff;
  if (v & 0xff00) r |= 0xff00;
  if (v & 0xff0000) r |= 0xff0000;
  if (v & 0xff000000) r |= 0xff000000;
  return r | 0;
}

const rotl32 = (v: number, s: number): number => ((v << s) | (v >>> ((32 - s) & 31))) | 0;

/**
 * Carry-less product of two words: low word into clLo, high word into clHi. Always 32 steps and no branch
 * on the operands' bits (Zkt lists clmul, clmulh and clmulr among the data-independent-timing instructions).
 */
let clLo = 0;
let clHi = 0;
function clmul32(a: number, b: number): void {
  let lo = a & -(b & 1);
  let hi = 0;
  for (let k = 1; k < 32; k++) {
    const m = -((b >>> k) & 1);
    lo ^= (a << k) & m;
    hi ^= (a >>> (32 - k)) & m;
  }
  clLo = lo | 0;
  clHi = hi | 0;
}

/** The 128-bit carry-less product of (alo, ahi) and (blo, bhi), as four words w0 (lowest) .. w3. */
const w = new Int32Array(4);
function clmul64(alo: number, ahi: number, blo: number, bhi: number): void {
  clmul32(alo, blo);
  const w0 = clLo;
  let w1 = clHi;
  clmul32(ahi, bhi);
  let w2 = clLo;
  const w3 = clHi;
  clmul32(alo, bhi);
  w1 ^= clLo; w2 ^= clHi;
  clmul32(ahi, blo);
  w1 ^= clLo; w2 ^= clHi;
  w[0] = w0; w[1] = w1; w[2] = w2; w[3] = w3;
}

/**
 * Executes an Op.BITMANIP instruction `ins` (32-bit form; a compressed one arrives expanded) whose Bm
 * operation is `bm`, on the register file x. rd is never x0 (decode.ts makes those NOPs).
 */
export function execBitmanip(x: Int32Array, ins: number, bm: number): void {
  const rs1 = (ins >> 14) & 62, rs2 = (ins >> 19) & 62, rd = (ins >> 6) & 62;
  const alo = x[rs1], ahi = x[rs1 + 1];
  let lo = 0, hi = 0;
  switch (bm) {
    case Bm.SH1ADD: case Bm.SH2ADD: case Bm.SH3ADD: {
      const n = bm - Bm.SH1ADD + 1;
      const slo = alo << n, shi = (ahi << n) | (alo >>> (32 - n));
      const blo = x[rs2];
      lo = (slo + blo) | 0;
      hi = (shi + x[rs2 + 1] + ((lo >>> 0) < (slo >>> 0) ? 1 : 0)) | 0;
      break;
    }
    case Bm.ADD_UW: case Bm.SH1ADD_UW: case Bm.SH2ADD_UW: case Bm.SH3ADD_UW: {
      // zext.w(rs1) << n, + rs2
      const n = bm === Bm.ADD_UW ? 0 : bm - Bm.SH1ADD_UW + 1;
      const slo = alo << n, shi = n === 0 ? 0 : alo >>> (32 - n);
      const blo = x[rs2];
      lo = (slo + blo) | 0;
      hi = (shi + x[rs2 + 1] + ((lo >>> 0) < (slo >>> 0) ? 1 : 0)) | 0;
      break;
    }
    case Bm.SLLI_UW: {
      const s = (ins >>> 20) & 63;
      if (s === 0) { lo = alo; hi = 0; } else if (s < 32) { lo = alo << s; hi = alo >>> (32 - s); } else { lo = 0; hi = alo << (s - 32); }
      break;
    }
    case Bm.ANDN: lo = alo & ~x[rs2]; hi = ahi & ~x[rs2 + 1]; break;
    case Bm.ORN: lo = alo | ~x[rs2]; hi = ahi | ~x[rs2 + 1]; break;
    case Bm.XNOR: lo = ~(alo ^ x[rs2]); hi = ~(ahi ^ x[rs2 + 1]); break;
    case Bm.CLZ: lo = ahi !== 0 ? Math.clz32(ahi) : 32 + Math.clz32(alo); break;
    case Bm.CTZ: lo = alo !== 0 ? ctz32(alo) : 32 + ctz32(ahi); break;
    case Bm.CPOP: lo = cpop32(alo) + cpop32(ahi); break;
    case Bm.CLZW: lo = Math.clz32(alo); break;
    case Bm.CTZW: lo = ctz32(alo); break;
    case Bm.CPOPW: lo = cpop32(alo); break;
    case Bm.MAX: case Bm.MIN: case Bm.MAXU: case Bm.MINU: {
      const blo = x[rs2], bhi = x[rs2 + 1];
      const lt = bm === Bm.MAX || bm === Bm.MIN
        ? ahi < bhi || (ahi === bhi && (alo >>> 0) < (blo >>> 0))
        : (ahi >>> 0) < (bhi >>> 0) || (ahi === bhi && (alo >>> 0) < (blo >>> 0));
      const takeA = (bm === Bm.MIN || bm === Bm.MINU) === lt;
      lo = takeA ? alo : blo; hi = takeA ? ahi : bhi;
      break;
    }
    case Bm.SEXT_B: lo = (alo << 24) >> 24; hi = lo >> 31; break;
    case Bm.SEXT_H: lo = (alo << 16) >> 16; hi = lo >> 31; break;
    case Bm.ZEXT_H: lo = alo & 0xffff; break;
    case Bm.ROL: case Bm.ROR: case Bm.RORI: {
      let s = bm === Bm.RORI ? (ins >>> 20) & 63 : x[rs2] & 63;
      if (bm !== Bm.ROL) s = (64 - s) & 63; // rotate right by s = left by 64 - s
      let l = alo, h = ahi;
      if (s >= 32) { l = ahi; h = alo; s -= 32; }
      if (s === 0) { lo = l; hi = h; } else { lo = (l << s) | (h >>> (32 - s)); hi = (h << s) | (l >>> (32 - s)); }
      break;
    }
    case Bm.ROLW: lo = rotl32(alo, x[rs2] & 31); hi = lo >> 31; break;
    case Bm.RORW: lo = rotl32(alo, (32 - (x[rs2] & 31)) & 31); hi = lo >> 31; break;
    case Bm.RORIW: lo = rotl32(alo, (32 - ((ins >>> 20) & 31)) & 31); hi = lo >> 31; break;
    case Bm.ORC_B: lo = orcb32(alo); hi = orcb32(ahi); break;
    case Bm.REV8: lo = bswap32(ahi); hi = bswap32(alo); break;
    case Bm.BCLR: case Bm.BCLRI: case Bm.BEXT: case Bm.BEXTI: case Bm.BINV: case Bm.BINVI: case Bm.BSET: case Bm.BSETI: {
      const imm = bm === Bm.BCLRI || bm === Bm.BEXTI || bm === Bm.BINVI || bm === Bm.BSETI;
      const s = imm ? (ins >>> 20) & 63 : x[rs2] & 63;
      const mlo = s < 32 ? 1 << s : 0, mhi = s < 32 ? 0 : 1 << (s - 32);
      if (bm === Bm.BEXT || bm === Bm.BEXTI) lo = (alo & mlo) !== 0 || (ahi & mhi) !== 0 ? 1 : 0;
      else if (bm === Bm.BCLR || bm === Bm.BCLRI) { lo = alo & ~mlo; hi = ahi & ~mhi; }
      else if (bm === Bm.BINV || bm === Bm.BINVI) { lo = alo ^ mlo; hi = ahi ^ mhi; }
      else { lo = alo | mlo; hi = ahi | mhi; }
      break;
    }
    case Bm.CLMUL: case Bm.CLMULH: case Bm.CLMULR: {
      clmul64(alo, ahi, x[rs2], x[rs2 + 1]);
      if (bm === Bm.CLMUL) { lo = w[0]; hi = w[1]; }
      else if (bm === Bm.CLMULH) { lo = w[2]; hi = w[3]; }
      else { lo = (w[1] >>> 31) | (w[2] << 1); hi = (w[2] >>> 31) | (w[3] << 1); } // bits 126:63
      break;
    }
    case Bm.CZERO_EQZ: case Bm.CZERO_NEZ: {
      const zero = (x[rs2] | x[rs2 + 1]) === 0;
      if (zero === (bm === Bm.CZERO_NEZ)) { lo = alo; hi = ahi; }
      break;
    }
    default: break;
  }
  x[rd] = lo; x[rd + 1] = hi;
}
