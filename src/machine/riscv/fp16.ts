/**
 * Half precision (IEEE 754 binary16) for the Zfhmin and Zfh extensions (RISC-V unprivileged specification
 * 20240411, chapter "Zfh and Zfhmin Standard Extensions for Half-Precision Floating-Point"), and the pieces of
 * Zfa ("Zfa Standard Extension for Additional Floating-Point Instructions") that work on halves.
 * fpu.ts calls in here for fmt = 2 (H) and for fcvt.s.h / fcvt.d.h; loads and stores (flh/fsh) belong to the hart.
 *
 * A half lives in the low 16 bits of an f register, NaN-boxed: the upper 48 bits all ones (Zfh: NaN boxing). An
 * operand that is not properly boxed reads as the canonical NaN 0x7e00; every NaN result is 0x7e00.
 *
 * Every half is exactly a double, so each operation computes in double and rounds once to half:
 * - add, sub and mul of two halves are exact in double (at most 41 significant bits);
 * - div and sqrt: the double result q is rounded, but a quotient or root of halves that is not exactly one of
 *   the 12-bit "boundaries" (halves and the midpoints between them) lies at least 2^-25 (relative) away from
 *   every boundary, far more than q's error of 2^-53, so q is on the same side of every boundary as the exact
 *   value and rounding q gives the right half and the right inexact flag in every mode;
 * - fma: a*b is exact, and p + c = s + t exactly (TwoSum), with t below half an ulp of s;
 * - 64-bit integers: hi * 2^32 + lo = v + err exactly (Fast2Sum).
 * roundToHalf rounds v + err (err below half an ulp of v) in any mode, with RISC-V's tininess after rounding.
 * No BigInt and no allocation.
 */

/** fflags bits (spec 11.2), inlined by the compiler. */
const enum Flag { NX = 1, UF = 2, OF = 4, DZ = 8, NV = 16 }
/** Rounding modes (spec table 11.1). */
const enum Rm { RNE = 0, RTZ = 1, RDN = 2, RUP = 3, RMM = 4 }

/** Returned when the instruction is illegal (same value as fpu.ts's FP_ILLEGAL). */
const ILLEGAL = -1;

export const CANON_H = 0x7e00;
const CANON_S = 0x7fc00000;
const CANON_D_HI = 0x7ff80000;
const TWO32 = 4294967296;

/** 2^(e - 25) for a biased half exponent e: the weight of the significand's last bit. */
const HALF_ULP = new Float64Array(32);
for (let e = 0; e < 32; e++) HALF_ULP[e] = 2 ** (Math.max(e, 1) - 25);

/** 2^-L for the quantum exponents L of roundToHalf, -24..1013 (Math.pow is slower than a lookup). */
const POW2_NEG = new Float64Array(1038);
for (let i = 0; i < POW2_NEG.length; i++) POW2_NEG[i] = 2 ** -(i - 24);

const scratchF64 = new Float64Array(1);
const scratchI32 = new Int32Array(scratchF64.buffer);

/** The value of half bits h (NaN for NaNs). */
export function halfToDouble(h: number): number {
  const e = (h >>> 10) & 31;
  const m = h & 0x3ff;
  let v: number;
  if (e === 31) v = m === 0 ? Infinity : NaN;
  else v = (e === 0 ? m : m | 0x400) * HALF_ULP[e];
  return (h & 0x8000) !== 0 ? -v : v;
}

export function isNaNH(h: number): boolean {
  return (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
}

export function isSNaNH(h: number): boolean {
  return (h & 0x7e00) === 0x7c00 && (h & 0x1ff) !== 0;
}

/** The bits of the double next to m > 0 (normal) in direction dir (+1 away from zero, -1 toward it). */
function nextDouble(m: number, dir: number): number {
  scratchF64[0] = m;
  const lo = scratchI32[0];
  if (dir > 0) {
    scratchI32[0] = (lo + 1) | 0;
    if (lo === -1) scratchI32[1]++;
  } else {
    scratchI32[0] = (lo - 1) | 0;
    if (lo === 0) scratchI32[1]--;
  }
  return scratchF64[0];
}

/** floor(log2 m) for m > 0; every m below 2^-1022 gives -1075 (they all round alike at half's quantum). */
function exponentOf(m: number): number {
  scratchF64[0] = m;
  const be = (scratchI32[1] >>> 20) & 0x7ff;
  return be === 0 ? -1075 : be - 1023;
}

/** The rounded integer of q >= 0 (fraction part fr) in mode rm for a value of sign `sign`. */
function roundQ(q: number, sign: number, rm: number): number {
  const i = Math.floor(q);
  const fr = q - i;
  if (fr === 0) return i;
  switch (rm) {
    case Rm.RNE:
      return fr > 0.5 || (fr === 0.5 && (i & 1) === 1) ? i + 1 : i;
    case Rm.RTZ:
      return i;
    case Rm.RDN:
      return sign ? i + 1 : i;
    case Rm.RUP:
      return sign ? i : i + 1;
    default: // Rm.RMM
      return fr >= 0.5 ? i + 1 : i;
  }
}

/** The bits of the last roundToHalf. */
export let hres = 0;

/**
 * Rounds the exact value v + err to half in mode rm (v not NaN; |err| at most half an ulp of v, and err = 0
 * when v is 0 or infinite), leaves the bits in hres and returns the flags. A zero v keeps its sign.
 * Underflow: tininess after rounding (spec 11.2), UF only when inexact. Overflow: OF|NX, infinity or the
 * largest finite half by mode.
 */
export function roundToHalf(v: number, err: number, rm: number): number {
  const sign = v < 0 || (v === 0 && 1 / v < 0) ? 1 : 0;
  let m = sign ? -v : v;
  const s15 = sign << 15;
  if (m === 0 || m === Infinity) {
    hres = s15 | (m === 0 ? 0 : 0x7c00);
    return 0;
  }
  let E = exponentOf(m);
  let L = E - 10 > -24 ? E - 10 : -24; // the weight of the result's last bit
  if (err !== 0) {
    // Only a v on a boundary (a multiple of half the quantum) can be pushed across one by err: step v one
    // double toward err, which stays strictly inside the same interval between boundaries (v is normal, its
    // ulp far finer than the quantum).
    const q2 = m * 2 * POW2_NEG[L + 24];
    if (q2 === Math.floor(q2)) {
      m = nextDouble(m, (err > 0) === (sign === 0) ? 1 : -1);
      E = exponentOf(m);
      L = E - 10 > -24 ? E - 10 : -24;
    }
  }
  const q = m * POW2_NEG[L + 24]; // exact: a power-of-two scaling
  const r = roundQ(q, sign, rm);
  const inexact = r !== q;
  const bits = ((L + 24) << 10) + r; // the carry of r = 2^11 steps the exponent
  if (bits >= 0x7c00) {
    const toInf = rm === Rm.RNE || rm === Rm.RMM || (rm === Rm.RUP && sign === 0) || (rm === Rm.RDN && sign === 1);
    hres = s15 | (toInf ? 0x7c00 : 0x7bff);
    return Flag.OF | Flag.NX;
  }
  hres = s15 | bits;
  if (!inexact) return 0;
  // Tiny after rounding: below 2^-14 once rounded to 11 bits with an unbounded exponent range.
  let tiny = E < -14;
  if (E === -15) tiny = roundQ(m * 33554432, sign, rm) < 2048; // m * 2^25
  return tiny ? Flag.NX | Flag.UF : Flag.NX;
}

/** fli constants (Zfa's table of fli immediates): 2^-16 and 2^-15 are subnormal halves and 2^16 is +inf in half. */
export const FLI_H = [
  0xbc00, 0x0400, 0x0100, 0x0200, 0x1c00, 0x2000, 0x2c00, 0x3000, 0x3400, 0x3500, 0x3600, 0x3700, 0x3800, 0x3900,
  0x3a00, 0x3b00, 0x3c00, 0x3d00, 0x3e00, 0x3f00, 0x4000, 0x4100, 0x4200, 0x4400, 0x4800, 0x4c00, 0x5800, 0x5c00,
  0x7800, 0x7c00, 0x7c00, 0x7e00,
];
/** The same table for singles and doubles as values; entry 1 (the format's smallest normal) and 31 (NaN) aside. */
export const FLI_VALUES = [
  -1, 0, 2 ** -16, 2 ** -15, 2 ** -8, 2 ** -7, 0.0625, 0.125, 0.25, 0.3125, 0.375, 0.4375, 0.5, 0.625, 0.75, 0.875,
  1, 1.25, 1.5, 1.75, 2, 2.5, 3, 4, 8, 16, 128, 256, 2 ** 15, 2 ** 16, Infinity, NaN,
];

/** Rounds a finite double to an integral value in mode rm (fpu.ts's roundToInt). */
export type RoundToInt = (v: number, rm: number) => number;
/** fcvt.{w,wu,l,lu}.* of the value v (fpu.ts's cvtToInt): writes x[rd], returns the flags. */
export type CvtToInt = (v: number, kind: number, rm: number, rd: number) => number;

/** fclass (spec 11.9) of half bits b. */
function fclassH(b: number): number {
  const neg = (b & 0x8000) !== 0;
  const e = b & 0x7c00;
  const fracZero = (b & 0x3ff) === 0;
  if (e === 0x7c00) return fracZero ? (neg ? 1 << 0 : 1 << 7) : (b & 0x200) !== 0 ? 1 << 9 : 1 << 8;
  if (e === 0) return fracZero ? (neg ? 1 << 3 : 1 << 4) : neg ? 1 << 2 : 1 << 5;
  return neg ? 1 << 1 : 1 << 6;
}

/** The executor of half-precision instructions, over the hart's register files (see createFpu). */
export interface HalfFpu {
  /** An OP-FP or fused instruction with fmt = 2 (H); rm already resolved from frm. Flags or -1 (illegal). */
  exec(insn: number, rm: number): number;
  /** fcvt.s.h (dbl false) / fcvt.d.h: exact, Flag.NV for a signalling NaN. */
  toWider(dbl: boolean, rd: number, rs1: number): number;
}

export function createHalfFpu(x: Int32Array, f: Int32Array, roundToInt: RoundToInt, cvtToInt: CvtToInt): HalfFpu {
  const f64 = new Float64Array(f.buffer, f.byteOffset, 32);
  const f32 = new Float32Array(f.buffer, f.byteOffset, 64);

  /** The bits of half operand r: not NaN-boxed reads as the canonical NaN (Zfh: NaN boxing). */
  function hBits(r: number): number {
    const lo = f[2 * r];
    return f[2 * r + 1] === -1 && lo >>> 16 === 0xffff ? lo & 0xffff : CANON_H;
  }

  function writeH(rd: number, bits: number): void {
    f[2 * rd] = bits | 0xffff0000;
    f[2 * rd + 1] = -1;
  }

  function writeX(rd: number, lo: number, hi: number): void {
    if (rd !== 0) {
      x[2 * rd] = lo;
      x[2 * rd + 1] = hi;
    }
  }

  /** Writes the rounded v + err, returns its flags. */
  function put(rd: number, v: number, err: number, rm: number): number {
    const flags = roundToHalf(v, err, rm);
    writeH(rd, hres);
    return flags;
  }

  /** a + b of non-NaN values (exact in double for halves, products of halves included when err is given). */
  function sum(rd: number, a: number, b: number, rm: number): number {
    const s = a + b;
    if (s !== s) {
      writeH(rd, CANON_H); // inf - inf
      return Flag.NV;
    }
    if (s === 0) {
      // IEEE 754 6.3: an exact zero sum of operands of opposite signs is +0, -0 in roundTowardNegative;
      // x + x keeps the sign of x.
      const sa = 1 / a < 0;
      const neg = a === 0 && b === 0 && sa === 1 / b < 0 ? sa : rm === Rm.RDN;
      writeH(rd, neg ? 0x8000 : 0);
      return 0;
    }
    if (s - s !== 0) return put(rd, s, 0, rm);
    const z = s - a;
    return put(rd, s, a - (s - z) + (b - z), rm); // TwoSum: a + b = s + err exactly
  }

  function nanResult(rd: number, signalling: boolean): number {
    writeH(rd, CANON_H);
    return signalling ? Flag.NV : 0;
  }

  function minMax(funct3: number, rd: number, rs1: number, rs2: number): number {
    // fmin/fmax (funct3 0/1): minimumNumber/maximumNumber; fminm/fmaxm (2/3, Zfa): minimum/maximum, a NaN
    // operand gives the canonical NaN. -0 < +0 in all four.
    const b1 = hBits(rs1);
    const b2 = hBits(rs2);
    const n1 = isNaNH(b1);
    const n2 = isNaNH(b2);
    const isMax = (funct3 & 1) === 1;
    if (n1 || n2) {
      const flags = isSNaNH(b1) || isSNaNH(b2) ? Flag.NV : 0;
      writeH(rd, (n1 && n2) || funct3 >= 2 ? CANON_H : n1 ? b2 : b1);
      return flags;
    }
    const a = halfToDouble(b1);
    const b = halfToDouble(b2);
    const first = a === b ? ((b1 & 0x8000) === 0) === isMax : isMax ? a > b : a < b;
    writeH(rd, first ? b1 : b2);
    return 0;
  }

  function compare(funct3: number, rd: number, rs1: number, rs2: number): number {
    // fle (0), flt (1), feq (2), fleq (4, Zfa), fltq (5, Zfa). feq, fleq and fltq are quiet: Flag.NV for
    // signalling NaNs only; fle and flt signal on any NaN (spec 11.8).
    const b1 = hBits(rs1);
    const b2 = hBits(rs2);
    if (isNaNH(b1) || isNaNH(b2)) {
      writeX(rd, 0, 0);
      return funct3 === 0 || funct3 === 1 || isSNaNH(b1) || isSNaNH(b2) ? Flag.NV : 0;
    }
    const a = halfToDouble(b1);
    const b = halfToDouble(b2);
    const r = funct3 === 2 ? a === b : funct3 === 1 || funct3 === 5 ? a < b : a <= b;
    writeX(rd, r ? 1 : 0, 0);
    return 0;
  }

  /** fcvt.h.{w,wu,l,lu}. */
  function fromInt(kind: number, rd: number, rs1: number, rm: number): number {
    const lo = x[2 * rs1];
    const hi = x[2 * rs1 + 1];
    if (kind === 0) return put(rd, lo, 0, rm);
    if (kind === 1) return put(rd, lo >>> 0, 0, rm);
    const h = (kind === 2 ? hi : hi >>> 0) * TWO32;
    const l = lo >>> 0;
    const v = h + l;
    return put(rd, v, h !== 0 ? l - (v - h) : 0, rm); // Fast2Sum: |h| >= 2^32 > l
  }

  function fused(insn: number, rm: number, rd: number, rs1: number, rs2: number): number {
    // Fused multiply-add family (spec 11.6): fmsub negates c, fnmsub the product, fnmadd both.
    const op = (insn >>> 2) & 3;
    const b1 = hBits(rs1);
    const b2 = hBits(rs2);
    const b3 = hBits(insn >>> 27);
    const a = halfToDouble(b1);
    const b = halfToDouble(b2);
    const infZero = (a === 0 && b - b !== 0 && b === b) || (b === 0 && a - a !== 0 && a === a);
    if (isNaNH(b1) || isNaNH(b2) || isNaNH(b3)) {
      return nanResult(rd, isSNaNH(b1) || isSNaNH(b2) || isSNaNH(b3) || infZero);
    }
    if (infZero) return nanResult(rd, true);
    const p = op >= 2 ? -(a * b) : a * b; // exact
    const c = (op & 1) !== 0 ? -halfToDouble(b3) : halfToDouble(b3);
    return sum(rd, p, c, rm);
  }

  function exec(insn: number, rm: number): number {
    const opcode = insn & 0x7f;
    const rd = (insn >>> 7) & 31;
    const rs1 = (insn >>> 15) & 31;
    const rs2 = (insn >>> 20) & 31;
    const funct3 = (insn >>> 12) & 7;
    const rounded = rm <= Rm.RMM;
    if (opcode !== 0x53) {
      if (opcode !== 0x43 && opcode !== 0x47 && opcode !== 0x4b && opcode !== 0x4f) return ILLEGAL;
      return rounded ? fused(insn, rm, rd, rs1, rs2) : ILLEGAL;
    }
    switch (insn >>> 27) {
      case 0x00: // fadd.h
      case 0x01: // fsub.h
      case 0x02: // fmul.h
      case 0x03: { // fdiv.h
        if (!rounded) return ILLEGAL;
        const b1 = hBits(rs1);
        const b2 = hBits(rs2);
        if (isNaNH(b1) || isNaNH(b2)) return nanResult(rd, isSNaNH(b1) || isSNaNH(b2));
        const a = halfToDouble(b1);
        const b = halfToDouble(b2);
        const op = insn >>> 27;
        if (op <= 1) return sum(rd, a, op === 1 ? -b : b, rm);
        const r = op === 2 ? a * b : a / b;
        if (r !== r) return nanResult(rd, true); // inf * 0, 0 / 0, inf / inf
        const flags = put(rd, r, 0, rm);
        return op === 3 && b === 0 && a - a === 0 ? flags | Flag.DZ : flags;
      }
      case 0x0b: { // fsqrt.h
        if (rs2 !== 0 || !rounded) return ILLEGAL;
        const b1 = hBits(rs1);
        if (isNaNH(b1)) return nanResult(rd, isSNaNH(b1));
        const a = halfToDouble(b1);
        if (a < 0) return nanResult(rd, true);
        return put(rd, Math.sqrt(a), 0, rm); // sqrt(-0) = -0
      }
      case 0x04: { // fsgnj.h, fsgnjn.h, fsgnjx.h
        if (funct3 > 2) return ILLEGAL;
        const b1 = hBits(rs1);
        const b2 = hBits(rs2);
        const s = funct3 === 0 ? b2 : funct3 === 1 ? ~b2 : b1 ^ b2;
        writeH(rd, (b1 & 0x7fff) | (s & 0x8000));
        return 0;
      }
      case 0x05: // fmin.h, fmax.h, fminm.h, fmaxm.h
        if (funct3 > 3) return ILLEGAL;
        return minMax(funct3, rd, rs1, rs2);
      case 0x08: { // fcvt.h.s (rs2 0), fcvt.h.d (1), fround.h (4), froundnx.h (5)
        if (!rounded) return ILLEGAL;
        if (rs2 === 0) {
          const bits = f[2 * rs1 + 1] === -1 ? f[2 * rs1] : CANON_S;
          if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) {
            return nanResult(rd, (bits & 0x400000) === 0);
          }
          return put(rd, f32[2 * rs1], 0, rm); // a single is exact in double
        }
        if (rs2 === 1) {
          const hi = f[2 * rs1 + 1];
          const d = f64[rs1];
          if (d !== d) return nanResult(rd, (hi & 0x80000) === 0);
          return put(rd, d, 0, rm);
        }
        if (rs2 !== 4 && rs2 !== 5) return ILLEGAL;
        const b1 = hBits(rs1);
        if (isNaNH(b1)) return nanResult(rd, isSNaNH(b1));
        const a = halfToDouble(b1);
        if (a - a !== 0 || a === 0) {
          writeH(rd, b1);
          return 0;
        }
        const r = roundToInt(a, rm);
        roundToHalf(r, 0, Rm.RNE); // exact: an integral value no larger than the half
        writeH(rd, hres);
        return rs2 === 5 && r !== a ? Flag.NX : 0;
      }
      case 0x14: // fle.h, flt.h, feq.h, fleq.h, fltq.h
        if (funct3 > 5 || funct3 === 3) return ILLEGAL;
        return compare(funct3, rd, rs1, rs2);
      case 0x18: // fcvt.{w,wu,l,lu}.h
        if (rs2 > 3 || !rounded) return ILLEGAL;
        return cvtToInt(halfToDouble(hBits(rs1)), rs2, rm, rd);
      case 0x1a: // fcvt.h.{w,wu,l,lu}
        if (rs2 > 3 || !rounded) return ILLEGAL;
        return fromInt(rs2, rd, rs1, rm);
      case 0x1c: // fmv.x.h (funct3 0), fclass.h (funct3 1)
        if (rs2 !== 0 || funct3 > 1) return ILLEGAL;
        if (funct3 === 1) writeX(rd, fclassH(hBits(rs1)), 0);
        else {
          // fmv.x.h moves the low 16 bits, boxed or not, sign-extended (Zfh: fmv.x.h).
          const lo = (f[2 * rs1] << 16) >> 16;
          writeX(rd, lo, lo >> 31);
        }
        return 0;
      case 0x1e: // fmv.h.x (rs2 0), fli.h (rs2 1, Zfa)
        if (funct3 !== 0 || rs2 > 1) return ILLEGAL;
        writeH(rd, rs2 === 0 ? x[2 * rs1] & 0xffff : FLI_H[rs1]);
        return 0;
      default:
        return ILLEGAL;
    }
  }

  function toWider(dbl: boolean, rd: number, rs1: number): number {
    const b = hBits(rs1);
    if (isNaNH(b)) {
      if (dbl) {
        f[2 * rd] = 0;
        f[2 * rd + 1] = CANON_D_HI;
      } else {
        f[2 * rd] = CANON_S;
        f[2 * rd + 1] = -1;
      }
      return isSNaNH(b) ? Flag.NV : 0;
    }
    const v = halfToDouble(b);
    if (dbl) f64[rd] = v;
    else {
      f32[2 * rd] = v;
      f[2 * rd + 1] = -1;
    }
    return 0;
  }

  return { exec, toWider };
}
