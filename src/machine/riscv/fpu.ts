/**
 * The computational instructions of the F and D extensions (RISC-V unprivileged specification 20191213,
 * chapters 11 and 12): OP-FP (opcode 0x53) and the fused multiply-adds (0x43, 0x47, 0x4b, 0x4f), single and
 * double precision. Loads and stores (flw/fld/fsw/fsd), the fcsr CSRs and mstatus.FS belong to the hart.
 *
 * Two paths compute every rounded result:
 * - the fast path uses the host's IEEE double arithmetic in round-to-nearest-even for finite operands whose
 *   exact result is a normal number, and derives the inexact flag from an error-free check (Fast2Sum for
 *   add/sub, odd parts of the significands for mul/div/sqrt, Dekker's product and TwoSums for fma). Singles
 *   are computed in double and rounded once more with Math.fround: double rounding is innocuous for +, -, *, /
 *   and sqrt because 53 >= 2*24+2 (Figueroa, "When is double rounding innocuous?", 1995). It allocates nothing.
 * - the slow path does exact arithmetic on BigInt significands and one explicit rounding (roundPack); it handles
 *   the directed rounding modes and RMM, tiny and overflowing results, NaNs, infinities, and the rare fma whose
 *   sum lies too close to a rounding boundary for the fast path to decide.
 * Comparisons, sign injection, min/max, moves, classification and float-to-integer conversions need no
 * slow path: they work on the bit patterns or on exactly representable doubles.
 * Measured on Node 20 (one instruction at a time through the returned closure): RNE add/mul/fma ~10-40 ns,
 * div/sqrt ~30-50 ns, conversions and comparisons ~15-30 ns; the BigInt path ~1 us.
 */

import { createHalfFpu, FLI_VALUES } from './fp16.js';

/** Returned when the instruction is illegal (reserved encoding, invalid rounding mode). */
export const FP_ILLEGAL = -1;

// fflags bits (spec 11.2).
const NV = 16;
const DZ = 8;
const OF = 4;
const UF = 2;
const NX = 1;

// Rounding modes (spec table 11.1); 5 and 6 are reserved, 7 selects fcsr.frm.
const RNE = 0;
const RTZ = 1;
const RDN = 2;
const RUP = 3;
const RMM = 4;
const DYN = 7;

const TWO32 = 4294967296;
const TWO52 = 4503599627370496;
const TWO53 = 9007199254740992;
const TWO63 = 9223372036854775808;
const TWO64 = 18446744073709551616;
const MIN_NORMAL_S = 1.1754943508222875e-38; // 2^-126
const MIN_NORMAL_D = 2.2250738585072014e-308; // 2^-1022
// Bounds of the double fma fast path (see fmaFastD).
const P2_M960 = 2 ** -960;
const P2_M900 = 2 ** -900;
const P2_995 = 2 ** 995;
const P2_1000 = 2 ** 1000;
const P2_1020 = 2 ** 1020;

// Canonical NaNs (spec 11.3): no NaN payload ever propagates.
const CANON_S = 0x7fc00000;
const CANON_D_HI = 0x7ff80000;

// Operation codes shared by the slow path.
const OP_ADD = 0;
const OP_SUB = 1;
const OP_MUL = 2;
const OP_DIV = 3;
const OP_SQRT = 4;
const OP_FMADD = 5; // fmsub, fnmsub, fnmadd follow: OP_FMADD + ((opcode >> 2) & 3)
const OP_CVT_S_D = 9;

// Classes of an unpacked operand.
const ZERO = 0;
const FINITE = 1; // normal or subnormal, non-zero
const INF = 2;
const QNAN = 3;
const SNAN = 4;

/** An operand of the slow path: (-1)^sign * sig * 2^exp when cls is FINITE. */
class Unpacked {
  cls = ZERO;
  sign = 0;
  sig = 0n;
  exp = 0;
}

/** The result bits of the slow path (resHi only for doubles); the caller stores them into the register file. */
let resHi = 0;
let resLo = 0;

function unpackD(hi: number, lo: number, u: Unpacked): void {
  u.sign = hi >>> 31;
  const e = (hi >>> 20) & 0x7ff;
  const fhi = hi & 0xfffff;
  const fracZero = fhi === 0 && lo === 0;
  if (e === 0x7ff) {
    u.cls = fracZero ? INF : (hi & 0x80000) !== 0 ? QNAN : SNAN;
  } else if (e === 0) {
    if (fracZero) u.cls = ZERO;
    else {
      u.cls = FINITE;
      u.sig = (BigInt(fhi) << 32n) | BigInt(lo >>> 0);
      u.exp = -1074;
    }
  } else {
    u.cls = FINITE;
    u.sig = (BigInt(fhi | 0x100000) << 32n) | BigInt(lo >>> 0);
    u.exp = e - 1075;
  }
}

function unpackS(bits: number, u: Unpacked): void {
  u.sign = bits >>> 31;
  const e = (bits >>> 23) & 0xff;
  const frac = bits & 0x7fffff;
  if (e === 0xff) {
    u.cls = frac === 0 ? INF : (bits & 0x400000) !== 0 ? QNAN : SNAN;
  } else if (e === 0) {
    if (frac === 0) u.cls = ZERO;
    else {
      u.cls = FINITE;
      u.sig = BigInt(frac);
      u.exp = -149;
    }
  } else {
    u.cls = FINITE;
    u.sig = BigInt(frac | 0x800000);
    u.exp = e - 150;
  }
}

function setNaN(dbl: boolean): void {
  if (dbl) {
    resHi = CANON_D_HI;
    resLo = 0;
  } else resLo = CANON_S;
}

function setInf(sign: number, dbl: boolean): void {
  if (dbl) {
    resHi = (sign << 31) | 0x7ff00000;
    resLo = 0;
  } else resLo = (sign << 31) | 0x7f800000;
}

function setZero(sign: number, dbl: boolean): void {
  if (dbl) {
    resHi = sign << 31;
    resLo = 0;
  } else resLo = sign << 31;
}

function setMaxFinite(sign: number, dbl: boolean): void {
  if (dbl) {
    resHi = (sign << 31) | 0x7fefffff;
    resLo = -1;
  } else resLo = (sign << 31) | 0x7f7fffff;
}

/** Number of significant bits of n > 0. */
function bitLength(n: bigint): number {
  const s = n.toString(16);
  return (s.length - 1) * 4 + 32 - Math.clz32(parseInt(s[0], 16));
}

/** sig >> sh (sh > 0) rounded to an integer in mode rm; the result may carry into one more bit. */
function roundShift(sig: bigint, sh: number, sign: number, rm: number): bigint {
  const s = BigInt(sh);
  const q = sig >> s;
  const rem = sig - (q << s);
  if (rem === 0n) return q;
  const half = 1n << (s - 1n);
  switch (rm) {
    case RNE:
      return rem > half || (rem === half && (q & 1n) === 1n) ? q + 1n : q;
    case RTZ:
      return q;
    case RDN:
      return sign ? q + 1n : q;
    case RUP:
      return sign ? q : q + 1n;
    default: // RMM
      return rem >= half ? q + 1n : q;
  }
}

/**
 * Rounds the exact value (-1)^sign * sig * 2^exp (sig > 0) to single or double in mode rm, leaves the bits in
 * resHi/resLo and returns the flags. Underflow follows RISC-V (spec 11.2: "tininess is detected after
 * rounding"): the value is tiny when rounding it to the format's precision with an unbounded exponent range
 * gives a magnitude below 2^emin, and UF is raised only when the result is also inexact.
 */
function roundPack(sign: number, sig: bigint, exp: number, dbl: boolean, rm: number): number {
  const p = dbl ? 53 : 24;
  const emin = dbl ? -1022 : -126;
  const emax = dbl ? 1023 : 127;
  const n = bitLength(sig);
  const e = exp + n - 1;
  let tiny = false;
  if (e < emin) {
    const sh = n - p;
    if (sh <= 0) tiny = true;
    else tiny = exp + sh + bitLength(roundShift(sig, sh, sign, rm)) - 1 < emin;
  }
  // The rounding position: p significant bits, but never below the subnormal quantum 2^(emin - p + 1).
  let lsb = Math.max(e - p + 1, emin - p + 1);
  const sh = lsb - exp;
  let m: bigint;
  let inexact = false;
  if (sh <= 0) m = sig << BigInt(-sh);
  else {
    m = roundShift(sig, sh, sign, rm);
    inexact = (sig & ((1n << BigInt(sh)) - 1n)) !== 0n;
  }
  const flags = inexact ? (tiny ? NX | UF : NX) : 0;
  if (m === 0n) {
    setZero(sign, dbl);
    return flags;
  }
  if (m >> BigInt(p) !== 0n) {
    // Rounding carried out of the significand: m = 2^p.
    m >>= 1n;
    lsb++;
  }
  if (m >> BigInt(p - 1) === 0n) {
    // Subnormal (lsb is the subnormal quantum): biased exponent 0, fraction m.
    if (dbl) {
      resHi = (sign << 31) | Number(m >> 32n);
      resLo = Number(m & 0xffffffffn) | 0;
    } else resLo = (sign << 31) | Number(m);
    return flags;
  }
  const E = lsb + p - 1;
  if (E > emax) {
    // Overflow (spec 11.2 / IEEE 754 7.4): infinity, or the largest finite number when the mode rounds toward zero.
    const toInf = rm === RNE || rm === RMM || (rm === RUP && sign === 0) || (rm === RDN && sign === 1);
    if (toInf) setInf(sign, dbl);
    else setMaxFinite(sign, dbl);
    return OF | NX;
  }
  const frac = m - (1n << BigInt(p - 1));
  if (dbl) {
    resHi = (sign << 31) | ((E + 1023) << 20) | Number(frac >> 32n);
    resLo = Number(frac & 0xffffffffn) | 0;
  } else resLo = (sign << 31) | ((E + 127) << 23) | Number(frac);
  return flags;
}

/** Exact sum of two non-NaN operands (b's sign already adjusted for subtraction), rounded. */
function addCore(a: Unpacked, b: Unpacked, dbl: boolean, rm: number): number {
  if (a.cls === INF) {
    if (b.cls === INF && a.sign !== b.sign) {
      setNaN(dbl);
      return NV;
    }
    setInf(a.sign, dbl);
    return 0;
  }
  if (b.cls === INF) {
    setInf(b.sign, dbl);
    return 0;
  }
  if (a.cls === ZERO && b.cls === ZERO) {
    // IEEE 754 6.3: x + y = 0 exactly is +0 except in roundTowardNegative; -0 + -0 = -0.
    setZero(a.sign === b.sign ? a.sign : rm === RDN ? 1 : 0, dbl);
    return 0;
  }
  if (a.cls === ZERO) return roundPack(b.sign, b.sig, b.exp, dbl, rm);
  if (b.cls === ZERO) return roundPack(a.sign, a.sig, a.exp, dbl, rm);
  const e = Math.min(a.exp, b.exp);
  const va = a.sig << BigInt(a.exp - e);
  const vb = b.sig << BigInt(b.exp - e);
  const sum = (a.sign ? -va : va) + (b.sign ? -vb : vb);
  if (sum === 0n) {
    setZero(rm === RDN ? 1 : 0, dbl);
    return 0;
  }
  return sum < 0n ? roundPack(1, -sum, e, dbl, rm) : roundPack(0, sum, e, dbl, rm);
}

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt((bitLength(n) + 1) >> 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** The slow path of every rounded arithmetic operation: exact result, one rounding. Returns the flags. */
function arith(op: number, dbl: boolean, rm: number, a: Unpacked, b: Unpacked, c: Unpacked): number {
  const p = dbl ? 53 : 24;
  switch (op) {
    case OP_ADD:
    case OP_SUB: {
      if (a.cls >= QNAN || b.cls >= QNAN) {
        setNaN(dbl);
        return a.cls === SNAN || b.cls === SNAN ? NV : 0;
      }
      if (op === OP_SUB) b.sign ^= 1;
      return addCore(a, b, dbl, rm);
    }
    case OP_MUL: {
      if (a.cls >= QNAN || b.cls >= QNAN) {
        setNaN(dbl);
        return a.cls === SNAN || b.cls === SNAN ? NV : 0;
      }
      const sign = a.sign ^ b.sign;
      if (a.cls === INF || b.cls === INF) {
        if (a.cls === ZERO || b.cls === ZERO) {
          setNaN(dbl);
          return NV;
        }
        setInf(sign, dbl);
        return 0;
      }
      if (a.cls === ZERO || b.cls === ZERO) {
        setZero(sign, dbl);
        return 0;
      }
      return roundPack(sign, a.sig * b.sig, a.exp + b.exp, dbl, rm);
    }
    case OP_DIV: {
      if (a.cls >= QNAN || b.cls >= QNAN) {
        setNaN(dbl);
        return a.cls === SNAN || b.cls === SNAN ? NV : 0;
      }
      const sign = a.sign ^ b.sign;
      if (a.cls === INF) {
        if (b.cls === INF) {
          setNaN(dbl);
          return NV;
        }
        setInf(sign, dbl);
        return 0;
      }
      if (b.cls === INF) {
        setZero(sign, dbl);
        return 0;
      }
      if (b.cls === ZERO) {
        if (a.cls === ZERO) {
          setNaN(dbl);
          return NV;
        }
        setInf(sign, dbl);
        return DZ;
      }
      if (a.cls === ZERO) {
        setZero(sign, dbl);
        return 0;
      }
      // A quotient with at least p + 3 bits and a sticky bit for the remainder rounds correctly.
      const k = Math.max(0, p + 3 + bitLength(b.sig) - bitLength(a.sig));
      const num = a.sig << BigInt(k);
      const q = num / b.sig;
      const sticky = q * b.sig === num ? 0n : 1n;
      return roundPack(sign, (q << 1n) | sticky, a.exp - b.exp - k - 1, dbl, rm);
    }
    case OP_SQRT: {
      if (a.cls >= QNAN) {
        setNaN(dbl);
        return a.cls === SNAN ? NV : 0;
      }
      if (a.cls === ZERO) {
        setZero(a.sign, dbl); // sqrt(-0) = -0
        return 0;
      }
      if (a.sign) {
        setNaN(dbl);
        return NV;
      }
      if (a.cls === INF) {
        setInf(0, dbl);
        return 0;
      }
      let sig = a.sig;
      let exp = a.exp;
      if (exp & 1) {
        sig <<= 1n;
        exp--;
      }
      const k = Math.max(0, (2 * (p + 3) - bitLength(sig) + 1) >> 1);
      const s = sig << BigInt(2 * k);
      const r = isqrt(s);
      const sticky = r * r === s ? 0n : 1n;
      return roundPack(0, (r << 1n) | sticky, (exp - 2 * k) / 2 - 1, dbl, rm);
    }
    case OP_CVT_S_D: {
      if (a.cls >= QNAN) {
        setNaN(false);
        return a.cls === SNAN ? NV : 0;
      }
      if (a.cls === INF) {
        setInf(a.sign, false);
        return 0;
      }
      if (a.cls === ZERO) {
        setZero(a.sign, false);
        return 0;
      }
      return roundPack(a.sign, a.sig, a.exp, false, rm);
    }
    default: {
      // Fused multiply-add family (spec 11.6): fmsub negates c, fnmsub negates the product, fnmadd both.
      const negProduct = op === OP_FMADD + 2 || op === OP_FMADD + 3;
      const negAddend = op === OP_FMADD + 1 || op === OP_FMADD + 3;
      const infZero = (a.cls === INF && b.cls === ZERO) || (a.cls === ZERO && b.cls === INF);
      if (a.cls >= QNAN || b.cls >= QNAN || c.cls >= QNAN) {
        setNaN(dbl);
        // "must set the invalid operation exception flag when the multiplicands are inf and zero, even when
        // the addend is a quiet NaN" (spec 11.6).
        return a.cls === SNAN || b.cls === SNAN || c.cls === SNAN || infZero ? NV : 0;
      }
      if (infZero) {
        setNaN(dbl);
        return NV;
      }
      // The exact product as an operand; it replaces a.
      const sign = a.sign ^ b.sign ^ (negProduct ? 1 : 0);
      if (a.cls === INF || b.cls === INF) a.cls = INF;
      else if (a.cls === ZERO || b.cls === ZERO) a.cls = ZERO;
      else {
        a.sig *= b.sig;
        a.exp += b.exp;
      }
      a.sign = sign;
      if (negAddend) c.sign ^= 1;
      return addCore(a, c, dbl, rm);
    }
  }
}

/** The odd part of the significand of a finite non-zero double given as halves (exact, below 2^53). */
function oddSig(hi: number, lo: number): number {
  let mhi = hi & 0xfffff;
  if ((hi & 0x7ff00000) !== 0) mhi |= 0x100000;
  if (lo === 0) return mhi / (mhi & -mhi);
  return (mhi * TWO32 + (lo >>> 0)) / ((lo & -lo) >>> 0);
}

function isSNaNS(b: number): boolean {
  return (b & 0x7fc00000) === 0x7f800000 && (b & 0x3fffff) !== 0;
}

function isSNaND(hi: number, lo: number): boolean {
  return (hi & 0x7ff80000) === 0x7ff00000 && ((hi & 0x7ffff) | lo) !== 0;
}

/** fclass (spec 11.9): one of ten bits. */
function classify(sign: boolean, expAllOnes: boolean, expZero: boolean, fracZero: boolean, quiet: boolean): number {
  if (expAllOnes) return fracZero ? (sign ? 1 << 0 : 1 << 7) : quiet ? 1 << 9 : 1 << 8;
  if (expZero) return fracZero ? (sign ? 1 << 3 : 1 << 4) : sign ? 1 << 2 : 1 << 5;
  return sign ? 1 << 1 : 1 << 6;
}

/** Rounds a finite double to an integral double in mode rm (|v| >= 2^52 is already integral). */
function roundToInt(v: number, rm: number): number {
  if (!(Math.abs(v) < TWO52)) return v;
  switch (rm) {
    case RTZ:
      return Math.trunc(v);
    case RDN:
      return Math.floor(v);
    case RUP:
      return Math.ceil(v);
    case RNE: {
      const t = Math.trunc(v);
      const d = Math.abs(v - t);
      return d > 0.5 || (d === 0.5 && t % 2 !== 0) ? t + (v < 0 ? -1 : 1) : t;
    }
    default: {
      const t = Math.trunc(v);
      return Math.abs(v - t) >= 0.5 ? t + (v < 0 ? -1 : 1) : t;
    }
  }
}

// Scratch for reading the bits of a double computed on the fast path.
const scratchF64 = new Float64Array(1);
const scratchI32 = new Int32Array(scratchF64.buffer);

/**
 * Executes one F/D computational instruction `insn` (32-bit encoding, opcode 0x53/0x43/0x47/0x4b/0x4f).
 * x: the integer register file as 32-bit halves (register i: lo = x[2*i], hi = x[2*i+1]); writes to x0 must be dropped.
 * f: the FP register file as 32-bit halves likewise (f.buffer/f.byteOffset let you make Float64Array/Float32Array views over the same bytes once, at construction).
 * frm: the fcsr.frm field (0..7) used when the instruction's rm field is 7 (dynamic).
 * Returns the exception flags to accrue into fflags (NV=16, DZ=8, OF=4, UF=2, NX=1), or FP_ILLEGAL, in which case NOTHING was written.
 */
export function createFpu(x: Int32Array, f: Int32Array): (insn: number, frm: number) => number {
  // Little-endian views: double register i is f64[i]; a single lives in the low half, f32[2 * i].
  const f64 = new Float64Array(f.buffer, f.byteOffset, 32);
  const f32 = new Float32Array(f.buffer, f.byteOffset, 64);
  const A = new Unpacked();
  const B = new Unpacked();
  const C = new Unpacked();

  /** The bits of single operand r: a value not NaN-boxed reads as the canonical NaN (spec 12.2). */
  function sBits(r: number): number {
    return f[2 * r + 1] === -1 ? f[2 * r] : CANON_S;
  }

  /** The value of single operand r as a double (NaN when not NaN-boxed). */
  function sVal(r: number): number {
    return f[2 * r + 1] === -1 ? f32[2 * r] : NaN;
  }

  function writeS(rd: number, bits: number): void {
    f[2 * rd] = bits;
    f[2 * rd + 1] = -1;
  }

  function writeSVal(rd: number, v: number): void {
    f32[2 * rd] = v;
    f[2 * rd + 1] = -1;
  }

  function writeX(rd: number, lo: number, hi: number): void {
    if (rd !== 0) {
      x[2 * rd] = lo;
      x[2 * rd + 1] = hi;
    }
  }

  function unpackReg(r: number, dbl: boolean, u: Unpacked): void {
    if (dbl) unpackD(f[2 * r + 1], f[2 * r], u);
    else unpackS(sBits(r), u);
  }

  function writeRes(rd: number, dbl: boolean): void {
    if (dbl) {
      f[2 * rd] = resLo;
      f[2 * rd + 1] = resHi;
    } else writeS(rd, resLo);
  }

  function slow(op: number, dbl: boolean, rm: number, rd: number, rs1: number, rs2: number, rs3: number): number {
    unpackReg(rs1, dbl, A);
    if (op !== OP_SQRT) unpackReg(rs2, dbl, B);
    if (op >= OP_FMADD) unpackReg(rs3, dbl, C);
    const flags = arith(op, dbl, rm, A, B, C);
    writeRes(rd, dbl);
    return flags;
  }

  function cvtSD(rd: number, rs1: number, rm: number): number {
    const d = f64[rs1];
    if (rm === RNE) {
      if (Math.abs(d) >= MIN_NORMAL_S) {
        const r = Math.fround(d);
        if (r - r === 0) {
          writeSVal(rd, r);
          return r === d ? 0 : NX;
        }
      } else if (d === 0) {
        writeSVal(rd, d);
        return 0;
      }
    }
    unpackD(f[2 * rs1 + 1], f[2 * rs1], A);
    const flags = arith(OP_CVT_S_D, false, rm, A, B, C);
    writeS(rd, resLo);
    return flags;
  }

  function cvtDS(rd: number, rs1: number): number {
    const b = sBits(rs1);
    if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) {
      f[2 * rd] = 0;
      f[2 * rd + 1] = CANON_D_HI;
      return isSNaNS(b) ? NV : 0;
    }
    f64[rd] = f32[2 * rs1]; // exact
    return 0;
  }

  /** fcvt.{w,wu,l,lu}.{s,d} (spec 11.7, table 11.4): saturating, NV for NaN and out-of-range, NX when inexact. */
  function cvtToInt(v: number, kind: number, rm: number, rd: number): number {
    let lo: number;
    let hi: number;
    let flags = 0;
    if (v !== v) {
      flags = NV;
      // NaN converts to the largest value.
      if (kind === 0) {
        lo = 0x7fffffff;
        hi = 0;
      } else if (kind === 2) {
        lo = -1;
        hi = 0x7fffffff;
      } else {
        lo = -1;
        hi = -1;
      }
    } else {
      const r = roundToInt(v, rm);
      let under: boolean;
      let over: boolean;
      switch (kind) {
        case 0:
          under = r < -2147483648;
          over = r > 2147483647;
          break;
        case 1:
          under = r < 0;
          over = r > 4294967295;
          break;
        case 2:
          under = r < -TWO63;
          over = r >= TWO63;
          break;
        default:
          under = r < 0;
          over = r >= TWO64;
      }
      if (under || over) {
        flags = NV;
        if (kind === 0) {
          lo = under ? -2147483648 : 0x7fffffff;
          hi = under ? -1 : 0;
        } else if (kind === 2) {
          lo = under ? 0 : -1;
          hi = under ? -2147483648 : 0x7fffffff;
        } else {
          lo = under ? 0 : -1;
          hi = lo;
        }
      } else {
        if (r !== v) flags = NX;
        if (kind < 2) {
          // 32-bit results, fcvt.wu included, are sign-extended to 64 bits (spec 11.7).
          lo = r | 0;
          hi = lo >> 31;
        } else {
          const h = Math.floor(r / TWO32);
          lo = (r - h * TWO32) | 0;
          hi = h | 0;
        }
      }
    }
    writeX(rd, lo, hi);
    return flags;
  }

  /** fcvt.{s,d}.{w,wu,l,lu}. */
  function cvtFromInt(kind: number, dbl: boolean, rm: number, rd: number, rs1: number): number {
    const lo = x[2 * rs1];
    const hi = x[2 * rs1 + 1];
    let v: number;
    let err = 0;
    if (kind === 0) v = lo;
    else if (kind === 1) v = lo >>> 0;
    else {
      const h = (kind === 2 ? hi : hi >>> 0) * TWO32;
      const l = lo >>> 0;
      v = h + l;
      if (h !== 0) err = l - (v - h); // Fast2Sum: |h| >= 2^32 > l
    }
    if (err === 0) {
      // v is the exact integer.
      if (dbl) {
        f64[rd] = v;
        return 0;
      }
      const r = Math.fround(v);
      if (r === v) {
        writeSVal(rd, r);
        return 0;
      }
      if (rm === RNE) {
        writeSVal(rd, r);
        return NX;
      }
    } else if (dbl && rm === RNE) {
      f64[rd] = v;
      return NX;
    }
    let n: bigint;
    if (kind === 0) n = BigInt(lo);
    else if (kind === 1) n = BigInt(lo >>> 0);
    else {
      n = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
      if (kind === 2) n = BigInt.asIntN(64, n);
    }
    const flags = n < 0n ? roundPack(1, -n, 0, dbl, rm) : roundPack(0, n, 0, dbl, rm);
    writeRes(rd, dbl);
    return flags;
  }

  function minMax(isMax: boolean, dbl: boolean, rd: number, rs1: number, rs2: number, nanOut: boolean): number {
    // IEEE 754-2019 minimumNumber/maximumNumber (spec 11.6): a NaN operand yields the other, -0 < +0.
    // nanOut: Zfa's fminm/fmaxm (minimum/maximum), where any NaN operand gives the canonical NaN.
    if (dbl) {
      const h1 = f[2 * rs1 + 1];
      const l1 = f[2 * rs1];
      const h2 = f[2 * rs2 + 1];
      const l2 = f[2 * rs2];
      const a = f64[rs1];
      const b = f64[rs2];
      let flags = 0;
      let first: boolean;
      if (a !== a || b !== b) {
        if (isSNaND(h1, l1) || isSNaND(h2, l2)) flags = NV;
        if (nanOut || (a !== a && b !== b)) {
          f[2 * rd] = 0;
          f[2 * rd + 1] = CANON_D_HI;
          return flags;
        }
        first = b !== b;
      } else if (a === b) first = isMax ? h1 >= 0 : h1 < 0;
      else first = isMax ? a > b : a < b;
      f[2 * rd] = first ? l1 : l2;
      f[2 * rd + 1] = first ? h1 : h2;
      return flags;
    }
    const b1 = sBits(rs1);
    const b2 = sBits(rs2);
    const a = sVal(rs1);
    const b = sVal(rs2);
    let flags = 0;
    let first: boolean;
    if (a !== a || b !== b) {
      if (isSNaNS(b1) || isSNaNS(b2)) flags = NV;
      if (nanOut || (a !== a && b !== b)) {
        writeS(rd, CANON_S);
        return flags;
      }
      first = b !== b;
    } else if (a === b) first = isMax ? b1 >= 0 : b1 < 0;
    else first = isMax ? a > b : a < b;
    writeS(rd, first ? b1 : b2);
    return flags;
  }

  function compare(funct3: number, dbl: boolean, rd: number, rs1: number, rs2: number): number {
    let a: number;
    let b: number;
    if (dbl) {
      a = f64[rs1];
      b = f64[rs2];
    } else {
      a = sVal(rs1);
      b = sVal(rs2);
    }
    if (a !== a || b !== b) {
      writeX(rd, 0, 0);
      // feq (and Zfa's fleq, fltq: funct3 4, 5) are quiet comparisons (NV for signalling NaNs only); flt and
      // fle are signalling (spec 11.8).
      if (funct3 < 2) return NV;
      const sn = dbl
        ? isSNaND(f[2 * rs1 + 1], f[2 * rs1]) || isSNaND(f[2 * rs2 + 1], f[2 * rs2])
        : isSNaNS(sBits(rs1)) || isSNaNS(sBits(rs2));
      return sn ? NV : 0;
    }
    const r = funct3 === 2 ? a === b : funct3 === 1 || funct3 === 5 ? a < b : a <= b;
    writeX(rd, r ? 1 : 0, 0);
    return 0;
  }

  const half = createHalfFpu(x, f, roundToInt, cvtToInt);

  /** Zfa's fround (rs2 4) and froundnx (rs2 5) for S and D: NV for a signalling NaN, NX only for froundnx. */
  function fround(dbl: boolean, nx: boolean, rm: number, rd: number, rs1: number): number {
    const v = dbl ? f64[rs1] : sVal(rs1);
    if (v !== v) {
      const sn = dbl ? isSNaND(f[2 * rs1 + 1], f[2 * rs1]) : isSNaNS(sBits(rs1));
      if (dbl) {
        f[2 * rd] = 0;
        f[2 * rd + 1] = CANON_D_HI;
      } else writeS(rd, CANON_S);
      return sn ? NV : 0;
    }
    const r = v - v === 0 ? roundToInt(v, rm) : v; // keeps the sign of a zero result
    if (dbl) f64[rd] = r;
    else writeSVal(rd, r);
    return nx && r !== v ? NX : 0;
  }

  /** fcvt.{s,d}.h (rs2 2, Zfhmin) and fround/froundnx (rs2 4/5, Zfa) in the fcvt.s.d/fcvt.d.s slot. */
  function cvtOther(dbl: boolean, rs2: number, rm: number, rd: number, rs1: number): number {
    if (rm > RMM) return FP_ILLEGAL;
    if (rs2 === 2) return half.toWider(dbl, rd, rs1);
    if (rs2 === 4 || rs2 === 5) return fround(dbl, rs2 === 5, rm, rd, rs1);
    return FP_ILLEGAL;
  }

  /** Zfa's fli.s / fli.d: one of 32 constants, rs1 the index. */
  function fli(dbl: boolean, rd: number, i: number): number {
    if (dbl) {
      if (i === 31) {
        f[2 * rd] = 0;
        f[2 * rd + 1] = CANON_D_HI;
      } else f64[rd] = i === 1 ? MIN_NORMAL_D : FLI_VALUES[i];
    } else if (i === 31) writeS(rd, CANON_S);
    else writeSVal(rd, i === 1 ? MIN_NORMAL_S : FLI_VALUES[i]);
    return 0;
  }

  /**
   * Zfa's fcvtmod.w.d (rm must be RTZ): the double truncated to an integer, modulo 2^32, sign-extended. NaN and
   * infinity give 0; NV when the truncated value is out of int32 range (or NaN/inf), else NX when inexact.
   */
  function fcvtmod(rd: number, rs1: number): number {
    const hi = f[2 * rs1 + 1];
    const lo = f[2 * rs1];
    const v = f64[rs1];
    if (v - v !== 0) {
      writeX(rd, 0, 0);
      return NV;
    }
    const t = Math.trunc(v);
    let r: number;
    if (Math.abs(t) < TWO53) r = (t - Math.floor(t / TWO32) * TWO32) | 0;
    else {
      // t = M * 2^k with M the 53-bit significand and k >= 1: only M's low word reaches the low 32 bits.
      const k = ((hi >>> 20) & 0x7ff) - 1075;
      const low = k < 32 ? lo << k : 0;
      r = hi < 0 ? -low | 0 : low;
    }
    writeX(rd, r, r >> 31);
    if (t < -2147483648 || t > 2147483647) return NV;
    return t !== v ? NX : 0;
  }

  function fclass(dbl: boolean, rd: number, rs1: number): void {
    let c: number;
    if (dbl) {
      const hi = f[2 * rs1 + 1];
      const lo = f[2 * rs1];
      const e = hi & 0x7ff00000;
      c = classify(hi < 0, e === 0x7ff00000, e === 0, (hi & 0xfffff) === 0 && lo === 0, (hi & 0x80000) !== 0);
    } else {
      const b = sBits(rs1);
      const e = b & 0x7f800000;
      c = classify(b < 0, e === 0x7f800000, e === 0, (b & 0x7fffff) === 0, (b & 0x400000) !== 0);
    }
    writeX(rd, c, 0);
  }

  /**
   * fma in RNE for doubles without BigInt, or -1 when the operands are out of its range (nothing written).
   * a*b = p + e exactly (Dekker's product with Veltkamp's splitting: no overflow for |a|, |b| < 2^995, no
   * underflow for |p| >= 2^-960), then TwoSums give a*b + c = r + w + v exactly with r = RN(s + u), |w| <= ulp(r)/2
   * and v tiny. Unless w + v reaches half the gap between r and its neighbours, r is the correctly rounded result;
   * in that rare case, or for tiny or huge values, the BigInt path decides.
   */
  function fmaFastD(a: number, b: number, c: number, rd: number): number {
    const p = a * b;
    const ap = Math.abs(p);
    if (!(ap >= P2_M960 && ap < P2_1000 && Math.abs(a) < P2_995 && Math.abs(b) < P2_995 && Math.abs(c) < P2_1000)) {
      // An exact zero product leaves a non-zero addend as it is.
      if (p === 0 && (a === 0 || b === 0) && c !== 0 && c - c === 0) {
        f64[rd] = c;
        return 0;
      }
      return -1;
    }
    let t = 134217729 * a; // 2^27 + 1
    const ah = t - (t - a);
    const al = a - ah;
    t = 134217729 * b;
    const bh = t - (t - b);
    const bl = b - bh;
    const e = ah * bh - p + ah * bl + al * bh + al * bl;
    const s = p + c;
    let z = s - p;
    const s1 = p - (s - z) + (c - z);
    const u = s1 + e;
    z = u - s1;
    const v = s1 - (u - z) + (e - z);
    const r = s + u;
    z = r - s;
    const w = s - (r - z) + (u - z);
    const ar = Math.abs(r);
    if (!(ar >= P2_M900 && ar < P2_1020)) return -1;
    if (v !== 0) {
      // r = RN(s + u) is RN(s + u + v) when |w| + |v| stays below half the gap around r: ulp(r)/2, or ulp(r)/4
      // when r is a power of two (the gap below it is half as wide). Near a halfway point, the BigInt path decides.
      scratchF64[0] = r;
      const hi = scratchI32[1];
      const pow2 = (hi & 0xfffff) === 0 && scratchI32[0] === 0;
      scratchI32[1] = (hi & 0x7ff00000) - ((pow2 ? 54 : 53) << 20);
      scratchI32[0] = 0;
      if (!(Math.abs(w) + Math.abs(v) < scratchF64[0] * 0.999999)) return -1;
    }
    f64[rd] = r;
    return w + v !== 0 ? NX : 0;
  }

  /**
   * fma in RNE for singles, or -1 (nothing written). The product of two singles is exact in double; the double
   * sum s has error t (TwoSum). Rounding s to single gives the correctly rounded exact sum unless s is exactly
   * halfway between two singles while t != 0 (double rounding): that case goes to the BigInt path.
   */
  function fmaFastS(a: number, b: number, c: number, rd: number): number {
    const p = a * b;
    const s = p + c;
    const z = s - p;
    const t = p - (s - z) + (c - z);
    if (!(Math.abs(s) > MIN_NORMAL_S)) return -1;
    const r = Math.fround(s);
    if (r - r !== 0) return -1;
    if (t !== 0) {
      scratchF64[0] = s;
      if ((scratchI32[0] & 0x1fffffff) === 0x10000000) return -1;
    }
    writeSVal(rd, r);
    return t !== 0 || r !== s ? NX : 0;
  }

  return function execute(insn: number, frm: number): number {
    const opcode = insn & 0x7f;
    const rd = (insn >>> 7) & 31;
    const rs1 = (insn >>> 15) & 31;
    const rs2 = (insn >>> 20) & 31;
    const funct3 = (insn >>> 12) & 7;
    const fmt = (insn >>> 25) & 3; // 0 = S, 1 = D, 2 = H (fp16.ts); Q is not implemented
    const rm = funct3 === DYN ? frm : funct3;
    if (fmt > 1) return fmt === 2 ? half.exec(insn, rm) : FP_ILLEGAL;
    const dbl = fmt === 1;

    if (opcode !== 0x53) {
      if (opcode !== 0x43 && opcode !== 0x47 && opcode !== 0x4b && opcode !== 0x4f) return FP_ILLEGAL;
      if (rm > RMM) return FP_ILLEGAL;
      const op = (opcode >>> 2) & 3;
      const rs3 = insn >>> 27;
      if (rm === RNE) {
        // fmsub negates the addend, fnmsub the product, fnmadd both (spec 11.6); negation is exact.
        if (dbl) {
          const a = op >= 2 ? -f64[rs1] : f64[rs1];
          const c = (op & 1) !== 0 ? -f64[rs3] : f64[rs3];
          const flags = fmaFastD(a, f64[rs2], c, rd);
          if (flags >= 0) return flags;
        } else if (f[2 * rs1 + 1] === -1 && f[2 * rs2 + 1] === -1 && f[2 * rs3 + 1] === -1) {
          const a = op >= 2 ? -f32[2 * rs1] : f32[2 * rs1];
          const c = (op & 1) !== 0 ? -f32[2 * rs3] : f32[2 * rs3];
          const flags = fmaFastS(a, f32[2 * rs2], c, rd);
          if (flags >= 0) return flags;
        }
      }
      return slow(OP_FMADD + op, dbl, rm, rd, rs1, rs2, rs3);
    }

    switch (insn >>> 27) {
      case 0x00: // fadd
      case 0x01: {
        // fsub
        if (rm > RMM) return FP_ILLEGAL;
        const sub = (insn & 0x08000000) !== 0;
        if (rm === RNE) {
          if (dbl) {
            const a = f64[rs1];
            const b = sub ? -f64[rs2] : f64[rs2];
            const s = a + b;
            if (s - s === 0) {
              // Fast2Sum: the rounding error of s, exact (s is finite; sums of doubles never underflow inexactly).
              const e = Math.abs(a) >= Math.abs(b) ? b - (s - a) : a - (s - b);
              f64[rd] = s;
              return e === 0 ? 0 : NX;
            }
          } else if (f[2 * rs1 + 1] === -1 && f[2 * rs2 + 1] === -1) {
            const a = f32[2 * rs1];
            const b = sub ? -f32[2 * rs2] : f32[2 * rs2];
            const s = a + b;
            const r = Math.fround(s);
            if (r - r === 0) {
              const e = Math.abs(a) >= Math.abs(b) ? b - (s - a) : a - (s - b);
              writeSVal(rd, r);
              return e === 0 && r === s ? 0 : NX;
            }
          }
        }
        return slow(sub ? OP_SUB : OP_ADD, dbl, rm, rd, rs1, rs2, 0);
      }
      case 0x02: {
        // fmul
        if (rm > RMM) return FP_ILLEGAL;
        if (rm === RNE) {
          if (dbl) {
            const a = f64[rs1];
            const b = f64[rs2];
            const p = a * b;
            if (Math.abs(p) > MIN_NORMAL_D && p - p === 0) {
              // The product is exact iff the product of the odd parts of the significands fits in 53 bits.
              const exact = oddSig(f[2 * rs1 + 1], f[2 * rs1]) * oddSig(f[2 * rs2 + 1], f[2 * rs2]) < TWO53;
              f64[rd] = p;
              return exact ? 0 : NX;
            }
            if (p === 0 && (a === 0 || b === 0)) {
              f64[rd] = p;
              return 0;
            }
          } else if (f[2 * rs1 + 1] === -1 && f[2 * rs2 + 1] === -1) {
            const p = f32[2 * rs1] * f32[2 * rs2]; // exact: 24 x 24 bits
            if (Math.abs(p) >= MIN_NORMAL_S) {
              const r = Math.fround(p);
              if (r - r === 0) {
                writeSVal(rd, r);
                return r === p ? 0 : NX;
              }
            } else if (p === 0) {
              writeSVal(rd, p);
              return 0;
            }
          }
        }
        return slow(OP_MUL, dbl, rm, rd, rs1, rs2, 0);
      }
      case 0x03: {
        // fdiv
        if (rm > RMM) return FP_ILLEGAL;
        if (rm === RNE) {
          if (dbl) {
            const a = f64[rs1];
            const b = f64[rs2];
            const q = a / b;
            if (Math.abs(q) > MIN_NORMAL_D && q - q === 0) {
              // a/b is representable iff the odd part of b's significand divides a's. The double quotient of the
              // odd parts is an integer exactly when the true one is (both are below 2^53), and avoids fmod.
              const t = oddSig(f[2 * rs1 + 1], f[2 * rs1]) / oddSig(f[2 * rs2 + 1], f[2 * rs2]);
              const exact = Math.floor(t) === t;
              f64[rd] = q;
              return exact ? 0 : NX;
            }
            if (q === 0 && a === 0) {
              f64[rd] = q;
              return 0;
            }
          } else if (f[2 * rs1 + 1] === -1 && f[2 * rs2 + 1] === -1) {
            const a = f32[2 * rs1];
            const b = f32[2 * rs2];
            const q = a / b;
            const r = Math.fround(q);
            if (Math.abs(r) > MIN_NORMAL_S && r - r === 0) {
              writeSVal(rd, r);
              return r * b === a ? 0 : NX; // r * b is exact in double
            }
            if (q === 0 && a === 0) {
              writeSVal(rd, q);
              return 0;
            }
          }
        }
        return slow(OP_DIV, dbl, rm, rd, rs1, rs2, 0);
      }
      case 0x0b: {
        // fsqrt
        if (rs2 !== 0 || rm > RMM) return FP_ILLEGAL;
        if (rm === RNE) {
          if (dbl) {
            const a = f64[rs1];
            if (a > 0 && a < Infinity) {
              const s = Math.sqrt(a);
              scratchF64[0] = s;
              // s*s = a iff the odd parts agree: s*s/a would otherwise be a power of two within 2^-51 of 1.
              const os = oddSig(scratchI32[1], scratchI32[0]);
              const exact = os * os === oddSig(f[2 * rs1 + 1], f[2 * rs1]);
              f64[rd] = s;
              return exact ? 0 : NX;
            }
            if (a === 0) {
              f64[rd] = a;
              return 0;
            }
          } else if (f[2 * rs1 + 1] === -1) {
            const a = f32[2 * rs1];
            if (a > 0 && a < Infinity) {
              const r = Math.fround(Math.sqrt(a));
              writeSVal(rd, r);
              return r * r === a ? 0 : NX;
            }
            if (a === 0) {
              writeSVal(rd, a);
              return 0;
            }
          }
        }
        return slow(OP_SQRT, dbl, rm, rd, rs1, 0, 0);
      }
      case 0x04: {
        // fsgnj, fsgnjn, fsgnjx: funct3 selects; no rounding
        if (funct3 > 2) return FP_ILLEGAL;
        if (dbl) {
          const h1 = f[2 * rs1 + 1];
          const h2 = f[2 * rs2 + 1];
          const s = funct3 === 0 ? h2 : funct3 === 1 ? ~h2 : h1 ^ h2;
          f[2 * rd] = f[2 * rs1];
          f[2 * rd + 1] = (h1 & 0x7fffffff) | (s & 0x80000000);
        } else {
          const b1 = sBits(rs1);
          const b2 = sBits(rs2);
          const s = funct3 === 0 ? b2 : funct3 === 1 ? ~b2 : b1 ^ b2;
          writeS(rd, (b1 & 0x7fffffff) | (s & 0x80000000));
        }
        return 0;
      }
      case 0x05: // fmin, fmax
        if (funct3 > 1) return funct3 <= 3 ? minMax(funct3 === 3, dbl, rd, rs1, rs2, true) : FP_ILLEGAL;
        return minMax(funct3 === 1, dbl, rd, rs1, rs2, false);
      case 0x08: // fcvt.s.d (fmt S, rs2 = 1), fcvt.d.s (fmt D, rs2 = 0)
        if (rm > RMM || rs2 !== (dbl ? 0 : 1)) return cvtOther(dbl, rs2, rm, rd, rs1);
        return dbl ? cvtDS(rd, rs1) : cvtSD(rd, rs1, rm);
      case 0x14: // fle, flt, feq; fleq (4), fltq (5) of Zfa
        if (funct3 > 2 && funct3 !== 4 && funct3 !== 5) return FP_ILLEGAL;
        return compare(funct3, dbl, rd, rs1, rs2);
      case 0x18: {
        // fcvt.{w,wu,l,lu}.{s,d}
        if (rs2 > 3 || rm > RMM) return rs2 === 8 && dbl && funct3 === RTZ ? fcvtmod(rd, rs1) : FP_ILLEGAL;
        return cvtToInt(dbl ? f64[rs1] : sVal(rs1), rs2, rm, rd);
      }
      case 0x1a: // fcvt.{s,d}.{w,wu,l,lu}
        if (rs2 > 3 || rm > RMM) return FP_ILLEGAL;
        return cvtFromInt(rs2, dbl, rm, rd, rs1);
      case 0x1c: // fmv.x.w / fmv.x.d (funct3 0), fclass (funct3 1)
        if (rs2 !== 0 || funct3 > 1) return FP_ILLEGAL;
        if (funct3 === 1) fclass(dbl, rd, rs1);
        else if (dbl) writeX(rd, f[2 * rs1], f[2 * rs1 + 1]);
        else {
          // fmv.x.w moves the low 32 bits, boxed or not, sign-extended (spec 11.10).
          const lo = f[2 * rs1];
          writeX(rd, lo, lo >> 31);
        }
        return 0;
      case 0x1e: // fmv.w.x / fmv.d.x; fli.s / fli.d (rs2 1, Zfa)
        if (rs2 !== 0 || funct3 !== 0) return rs2 === 1 && funct3 === 0 ? fli(dbl, rd, rs1) : FP_ILLEGAL;
        if (dbl) {
          f[2 * rd] = x[2 * rs1];
          f[2 * rd + 1] = x[2 * rs1 + 1];
        } else writeS(rd, x[2 * rs1]);
        return 0;
      default:
        return FP_ILLEGAL;
    }
  };
}
