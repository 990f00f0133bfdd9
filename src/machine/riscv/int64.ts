/**
 * 64-bit multiply and divide on 32-bit halves, for the RV64M instructions (unprivileged spec, chapter 7).
 *
 * Registers are held as two int32 halves (lo, hi); DESIGN.md forbids BigInt on hot paths, so every operation
 * here works on plain numbers and writes its 64-bit result into `res` (res[0] = lo, res[1] = hi), which the
 * caller reads right after the call. Nothing is allocated per call.
 *
 * Exactness rests on two facts about IEEE doubles: integers below 2^53 are exact, and products of 16-bit
 * limbs (< 2^32) summed a few at a time, even scaled by 2^16, stay below 2^53.
 */

/** The result of the last call: res[0] = low 32 bits, res[1] = high 32 bits, both as int32. */
export const res = new Int32Array(2);

const TWO32 = 4294967296;
const INV_TWO32 = 1 / TWO32; // exact: a power of two

/** High 32 bits of the unsigned 64-bit product x*y of two uint32 (as int32 bit patterns). */
function umulh32(x: number, y: number): number {
  const x0 = x & 0xffff;
  const x1 = x >>> 16;
  const y0 = y & 0xffff;
  const y1 = y >>> 16;
  // Each partial sum is at most 0xffff*0xffff + 0xffff < 2^32, so it stays an exact small integer.
  const m1 = x1 * y0 + ((x0 * y0) >>> 16);
  const m2 = x0 * y1 + (m1 & 0xffff);
  return (x1 * y1 + (m1 >>> 16) + (m2 >>> 16)) | 0;
}

/** mul: the low 64 bits of a*b (the same for signed and unsigned operands). */
export function mul64(alo: number, ahi: number, blo: number, bhi: number): void {
  res[0] = Math.imul(alo, blo);
  res[1] = (umulh32(alo, blo) + Math.imul(alo, bhi) + Math.imul(ahi, blo)) | 0;
}

/**
 * mulhu: the high 64 bits of the unsigned 128-bit product, schoolbook on 16-bit limbs.
 * Columns are summed as doubles: a column holds at most four limb products (< 2^34), and two columns are
 * folded into one 32-bit word at a time (< 2^51 with the carry), all exact.
 */
export function mulhu(alo: number, ahi: number, blo: number, bhi: number): void {
  const a0 = alo & 0xffff;
  const a1 = alo >>> 16;
  const a2 = ahi & 0xffff;
  const a3 = ahi >>> 16;
  const b0 = blo & 0xffff;
  const b1 = blo >>> 16;
  const b2 = bhi & 0xffff;
  const b3 = bhi >>> 16;
  const s0 = a0 * b0 + (a0 * b1 + a1 * b0) * 65536;
  const s1 = Math.floor(s0 * INV_TWO32) + (a0 * b2 + a1 * b1 + a2 * b0) + (a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0) * 65536;
  const s2 = Math.floor(s1 * INV_TWO32) + (a1 * b3 + a2 * b2 + a3 * b1) + (a2 * b3 + a3 * b2) * 65536;
  const c2 = Math.floor(s2 * INV_TWO32);
  res[0] = s2 - c2 * TWO32;
  res[1] = c2 + a3 * b3;
}

/**
 * mulh: signed x signed. For two's complement, hi_s(a*b) = hi_u(a*b) - (a<0 ? b : 0) - (b<0 ? a : 0) mod 2^64.
 */
export function mulh(alo: number, ahi: number, blo: number, bhi: number): void {
  mulhu(alo, ahi, blo, bhi);
  let lo = res[0];
  let hi = res[1];
  if (ahi < 0) {
    const l = (lo - blo) | 0;
    hi = (hi - bhi - ((lo >>> 0) < (blo >>> 0) ? 1 : 0)) | 0;
    lo = l;
  }
  if (bhi < 0) {
    const l = (lo - alo) | 0;
    hi = (hi - ahi - ((lo >>> 0) < (alo >>> 0) ? 1 : 0)) | 0;
    lo = l;
  }
  res[0] = lo;
  res[1] = hi;
}

/** mulhsu: signed a x unsigned b; only a's sign needs the correction. */
export function mulhsu(alo: number, ahi: number, blo: number, bhi: number): void {
  mulhu(alo, ahi, blo, bhi);
  if (ahi < 0) {
    const lo = res[0];
    res[0] = lo - blo;
    res[1] = res[1] - bhi - ((lo >>> 0) < (blo >>> 0) ? 1 : 0);
  }
}

// Quotient and remainder of the last udivmod, as int32 bit patterns. Module-level so nothing is allocated.
let qlo = 0;
let qhi = 0;
let rlo = 0;
let rhi = 0;

/**
 * floor(x / y) for integers 0 <= x < 2^53, 0 < y < 2^53: the rounded double quotient floors exactly.
 * Let q = floor(x/y), r = x - q*y, and 2^e < q+1 <= 2^(e+1). Rounding could carry x/y up to q+1 only if
 * (q+1) - x/y = (y-r)/y >= 1/y were at most half the ulp below q+1, 2^(e-53); so y >= 2^(53-e). For q = 0
 * (e = -1) that means y >= 2^54; otherwise q >= 2^e and x >= q*y >= 2^53. Either way a contradiction.
 */
function floorDiv53(x: number, y: number): number {
  return Math.floor(x / y);
}

/** Sets qlo/qhi/rlo/rhi from a quotient and remainder held as exact doubles below 2^53. */
function setQR53(q: number, r: number): void {
  const qh = Math.floor(q * INV_TWO32);
  qlo = (q - qh * TWO32) | 0;
  qhi = qh | 0;
  const rh = Math.floor(r * INV_TWO32);
  rlo = (r - rh * TWO32) | 0;
  rhi = rh | 0;
}

/** Unsigned 64-bit division, b != 0. Sets qlo/qhi/rlo/rhi. */
function udivmod(alo: number, ahi: number, blo: number, bhi: number): void {
  const ah = ahi >>> 0;
  const al = alo >>> 0;
  const bh = bhi >>> 0;
  const bl = blo >>> 0;
  if (bh === 0) {
    if (ah === 0) {
      // Both below 2^32: a double quotient of 32-bit integers floors exactly.
      const q = Math.floor(al / bl);
      qlo = q | 0;
      qhi = 0;
      rlo = (al - q * bl) | 0;
      rhi = 0;
      return;
    }
    if (ah < 0x200000) { // a < 2^53: one exact double division
      const a = ah * TWO32 + al;
      const q = floorDiv53(a, bl);
      setQR53(q, a - q * bl);
      return;
    }
    // 32-bit divisor, big dividend: long division in base 2^32 then 2^16, each step below 2^48.
    const q3 = Math.floor(ah / bl);
    let r = ah - q3 * bl;
    let x = r * 65536 + (al >>> 16);
    const q1 = floorDiv53(x, bl);
    r = x - q1 * bl;
    x = r * 65536 + (al & 0xffff);
    const q0 = floorDiv53(x, bl);
    r = x - q0 * bl;
    qlo = (q1 * 65536 + q0) | 0;
    qhi = q3 | 0;
    rlo = r | 0;
    rhi = 0;
    return;
  }
  if (ah < bh || (ah === bh && al < bl)) {
    qlo = 0;
    qhi = 0;
    rlo = alo;
    rhi = ahi;
    return;
  }
  if (ah < 0x200000) {
    // a < 2^53, and b <= a.
    const a = ah * TWO32 + al;
    const b = bh * TWO32 + bl;
    const q = floorDiv53(a, b);
    setQR53(q, a - q * b);
    return;
  }
  // b >= 2^32, so q < 2^32. The quotient of the rounded operands is within 1 of the true one
  // (relative error ~2^-51 on a value < 2^32); start one below it so q*b <= a and the product cannot
  // wrap, then step up at most twice.
  let q = Math.floor((ah * TWO32 + al) / (bh * TWO32 + bl)) - 1;
  if (q < 0) q = 0;
  // r = a - q*b, where q*b (< 2^64) is computed exactly on halves.
  const pl = Math.imul(q, bl);
  const ph = (umulh32(q, bl) + Math.imul(q, bh)) | 0;
  let l = (alo - pl) | 0;
  let h = (ahi - ph - ((al < pl >>> 0) ? 1 : 0)) | 0;
  for (;;) {
    const hu = h >>> 0;
    if (hu < bh || (hu === bh && l >>> 0 < bl)) break;
    const nl = (l - blo) | 0;
    h = (h - bhi - ((l >>> 0) < bl ? 1 : 0)) | 0;
    l = nl;
    q++;
  }
  qlo = q | 0;
  qhi = 0;
  rlo = l;
  rhi = h;
}

// Scratch pair for neg(), module-level so nothing is allocated.
let nlo = 0;
let nhi = 0;
/** Negates the 64-bit value (lo, hi) into nlo/nhi. */
function neg(lo: number, hi: number): void {
  nlo = -lo | 0;
  nhi = (~hi + (lo === 0 ? 1 : 0)) | 0;
}

/** divu: unsigned quotient; division by zero gives all ones (spec table 7.1). */
export function divu64(alo: number, ahi: number, blo: number, bhi: number): void {
  if ((blo | bhi) === 0) {
    res[0] = -1;
    res[1] = -1;
    return;
  }
  udivmod(alo, ahi, blo, bhi);
  res[0] = qlo;
  res[1] = qhi;
}

/** remu: unsigned remainder; remainder by zero gives the dividend. */
export function remu64(alo: number, ahi: number, blo: number, bhi: number): void {
  if ((blo | bhi) === 0) {
    res[0] = alo;
    res[1] = ahi;
    return;
  }
  udivmod(alo, ahi, blo, bhi);
  res[0] = rlo;
  res[1] = rhi;
}

/** Divides |a| by |b| (unsigned 64-bit magnitudes) into qlo/qhi and rlo/rhi; the callers fix the signs. */
function udivmodAbs(alo: number, ahi: number, blo: number, bhi: number): void {
  let ul = alo;
  let uh = ahi;
  if (ahi < 0) {
    neg(alo, ahi);
    ul = nlo;
    uh = nhi;
  }
  let vl = blo;
  let vh = bhi;
  if (bhi < 0) {
    neg(blo, bhi);
    vl = nlo;
    vh = nhi;
  }
  udivmod(ul, uh, vl, vh);
}

/**
 * div: signed quotient rounded toward zero; /0 gives -1. MIN / -1 needs no special case: |MIN| = 2^63
 * as an unsigned value, the unsigned quotient is 2^63, and negating it wraps back to MIN as the spec requires.
 */
export function div64(alo: number, ahi: number, blo: number, bhi: number): void {
  if ((blo | bhi) === 0) {
    res[0] = -1;
    res[1] = -1;
    return;
  }
  if (ahi === alo >> 31 && bhi === blo >> 31) {
    // Both are sign-extended 32-bit values, the common case: one truncating double division is exact.
    // -2^31 / -1 = 2^31 lands in lo as -2^31 with hi 0, as a 64-bit result should.
    const q = Math.trunc(alo / blo);
    res[0] = q;
    res[1] = q < 0 ? -1 : 0;
    return;
  }
  udivmodAbs(alo, ahi, blo, bhi);
  if ((ahi ^ bhi) < 0) {
    neg(qlo, qhi);
    res[0] = nlo;
    res[1] = nhi;
  } else {
    res[0] = qlo;
    res[1] = qhi;
  }
}

/** rem: signed remainder with the sign of the dividend; %0 gives the dividend, MIN % -1 gives 0. */
export function rem64(alo: number, ahi: number, blo: number, bhi: number): void {
  if ((blo | bhi) === 0) {
    res[0] = alo;
    res[1] = ahi;
    return;
  }
  if (ahi === alo >> 31 && bhi === blo >> 31) {
    const r = (alo % blo) | 0; // -2^31 % -1 is -0, which | 0 makes 0
    res[0] = r;
    res[1] = r >> 31;
    return;
  }
  udivmodAbs(alo, ahi, blo, bhi);
  if (ahi < 0) {
    neg(rlo, rhi);
    res[0] = nlo;
    res[1] = nhi;
  } else {
    res[0] = rlo;
    res[1] = rhi;
  }
}

// The W forms operate on the low 32 bits and return the int32 result; the hart sign-extends it to 64 bits.
// A double quotient of two 32-bit integers truncates exactly, so plain JS division suffices.

/** divw: /0 gives -1; -2^31 / -1 overflows to -2^31. */
export function divw(a: number, b: number): number {
  if (b === 0) return -1;
  return (a / b) | 0; // | 0 truncates toward zero and wraps 2^31 back to -2^31
}

/** divuw: /0 gives all ones. */
export function divuw(a: number, b: number): number {
  if (b === 0) return -1;
  return ((a >>> 0) / (b >>> 0)) | 0;
}

/** remw: %0 gives the dividend; -2^31 % -1 gives 0. */
export function remw(a: number, b: number): number {
  if (b === 0) return a | 0;
  return (a | 0) % (b | 0) | 0;
}

/** remuw: %0 gives the dividend. */
export function remuw(a: number, b: number): number {
  if (b === 0) return a | 0;
  return ((a >>> 0) % (b >>> 0)) | 0;
}
