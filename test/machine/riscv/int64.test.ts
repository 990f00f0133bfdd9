import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  res,
  mul64,
  mulh,
  mulhu,
  mulhsu,
  div64,
  divu64,
  rem64,
  remu64,
  divw,
  divuw,
  remw,
  remuw,
} from '../../../src/machine/riscv/int64.js';

// BigInt is the reference here only; the module under test never uses it.
const MASK64 = (1n << 64n) - 1n;
const MIN64 = -(1n << 63n);

type Op = (alo: number, ahi: number, blo: number, bhi: number) => void;
type Ref = (a: bigint, b: bigint) => bigint; // operands and result as unsigned 64-bit bit patterns

const s64 = (x: bigint): bigint => BigInt.asIntN(64, x);
const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);

const OPS: ReadonlyArray<[string, Op, Ref]> = [
  ['mul', mul64, (a, b) => u64(a * b)],
  ['mulh', mulh, (a, b) => u64((s64(a) * s64(b)) >> 64n)],
  ['mulhu', mulhu, (a, b) => (a * b) >> 64n],
  ['mulhsu', mulhsu, (a, b) => u64((s64(a) * b) >> 64n)],
  ['div', div64, (a, b) => (b === 0n ? MASK64 : s64(a) === MIN64 && s64(b) === -1n ? a : u64(s64(a) / s64(b)))],
  ['divu', divu64, (a, b) => (b === 0n ? MASK64 : a / b)],
  ['rem', rem64, (a, b) => (b === 0n ? a : s64(a) === MIN64 && s64(b) === -1n ? 0n : u64(s64(a) % s64(b)))],
  ['remu', remu64, (a, b) => (b === 0n ? a : a % b)],
];

const lo32 = (x: bigint): number => Number(BigInt.asIntN(32, x));
const hi32 = (x: bigint): number => Number(BigInt.asIntN(32, x >> 32n));
const hex = (x: bigint): string => '0x' + x.toString(16).padStart(16, '0');

/** Runs every op on (a, b) and returns a description of the first mismatch, or null. */
function check(a: bigint, b: bigint): string | null {
  const alo = lo32(a);
  const ahi = hi32(a);
  const blo = lo32(b);
  const bhi = hi32(b);
  for (const [name, op, ref] of OPS) {
    op(alo, ahi, blo, bhi);
    const want = ref(a, b);
    if (res[0] !== lo32(want) || res[1] !== hi32(want)) {
      const got = (BigInt(res[1] >>> 0) << 32n) | BigInt(res[0] >>> 0);
      return `${name}(${hex(a)}, ${hex(b)}) = ${hex(got)}, want ${hex(want)}`;
    }
  }
  return null;
}

function edgeValues(): bigint[] {
  const set = new Set<bigint>([0n, 1n, MASK64, 1n << 63n, (1n << 63n) - 1n]);
  for (let k = 0n; k < 64n; k++) {
    for (const v of [(1n << k) - 1n, 1n << k, (1n << k) + 1n]) {
      set.add(u64(v));
      set.add(u64(-v));
    }
  }
  return [...set];
}

/** xorshift128: deterministic, so a failure reproduces. */
function prng(seed: number): () => number {
  let x = seed | 0;
  let y = 362436069;
  let z = 521288629;
  let w = 88675123;
  return () => {
    const t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) | 0;
    return w >>> 0;
  };
}

/** A random 64-bit pattern of random magnitude (bit length 0..64), negated half the time. */
function randomValue(next: () => number): bigint {
  const bits = BigInt(next() % 65);
  const raw = (BigInt(next()) << 32n) | BigInt(next());
  let v = bits === 0n ? 0n : raw & ((1n << bits) - 1n);
  if (next() & 1) v = u64(-v);
  return v;
}

test('edge values crossed with each other match BigInt for every M operation', () => {
  const edges = edgeValues();
  for (const a of edges) {
    for (const b of edges) {
      const bad = check(a, b);
      if (bad !== null) assert.fail(bad);
    }
  }
});

test('100k random pairs of mixed magnitudes match BigInt for every M operation', () => {
  const next = prng(0x5eed1234);
  for (let i = 0; i < 100_000; i++) {
    const a = randomValue(next);
    // Every fourth divisor is a close relative of the dividend, so quotients of 0, 1 and 2 get exercised.
    const b = i % 4 === 3 ? u64(a + BigInt((next() % 5) - 2)) >> BigInt(next() % 3) : randomValue(next);
    const bad = check(a, b);
    if (bad !== null) assert.fail(bad);
  }
});

test('division near the 2^53 boundary of the double fast path is exact', () => {
  const next = prng(42);
  const big = 1n << 53n;
  for (let i = 0; i < 20_000; i++) {
    const a = big - 1n - BigInt(next() % 1000) + BigInt(i % 3 === 0 ? 2000 : 0);
    const b = i % 2 === 0 ? BigInt(next() % 1000000) + 1n : (a >> BigInt(next() % 50)) + BigInt((next() % 3) - 1);
    const bad = check(a, b);
    if (bad !== null) assert.fail(bad);
  }
  // The quotients most at risk of rounding up: a = q*b + (b - 1) just below 2^53, so a/b is just below q+1.
  for (let i = 0; i < 20_000; i++) {
    const b = ((BigInt(next()) << 32n) | BigInt(next())) & ((1n << BigInt(1 + (next() % 52))) - 1n) | 1n;
    const q = (big - 1n) / b - BigInt(next() % 2);
    const a = q * b + b - 1n;
    const bad = check(a < big ? a : a - b, b);
    if (bad !== null) assert.fail(bad);
  }
});

test('the spec examples of division by zero and overflow hold', () => {
  divu64(5, 0, 0, 0);
  assert.deepEqual([res[0], res[1]], [-1, -1]);
  div64(5, 0, 0, 0);
  assert.deepEqual([res[0], res[1]], [-1, -1]);
  remu64(5, 7, 0, 0);
  assert.deepEqual([res[0], res[1]], [5, 7]);
  rem64(5, -7, 0, 0);
  assert.deepEqual([res[0], res[1]], [5, -7]);
  div64(0, -0x80000000, -1, -1);
  assert.deepEqual([res[0], res[1]], [0, -0x80000000]);
  rem64(0, -0x80000000, -1, -1);
  assert.deepEqual([res[0], res[1]], [0, 0]);
});

const MIN32 = -0x80000000;

function refW(name: string, a: number, b: number): number {
  const ua = a >>> 0;
  const ub = b >>> 0;
  switch (name) {
    case 'divw':
      return b === 0 ? -1 : a === MIN32 && b === -1 ? MIN32 : Math.trunc(a / b) | 0;
    case 'divuw':
      return b === 0 ? -1 : Number(BigInt(ua) / BigInt(ub)) | 0;
    case 'remw':
      return b === 0 ? a : a === MIN32 && b === -1 ? 0 : Number(BigInt(a) % BigInt(b)) | 0;
    default:
      return b === 0 ? a : Number(BigInt(ua) % BigInt(ub)) | 0;
  }
}

test('the W division helpers follow the RISC-V edge cases on edge and random values', () => {
  const edges = new Set<number>([0, 1, -1, MIN32, 0x7fffffff]);
  for (let k = 0; k < 32; k++) {
    for (const v of [2 ** k - 1, 2 ** k, 2 ** k + 1]) {
      edges.add(v | 0);
      edges.add(-v | 0);
    }
  }
  const values = [...edges];
  const next = prng(7);
  for (let i = 0; i < 20_000; i++) values.push((next() >>> (next() % 32)) * (next() & 1 ? -1 : 1) | 0);
  const fns: ReadonlyArray<[string, (a: number, b: number) => number]> = [
    ['divw', divw],
    ['divuw', divuw],
    ['remw', remw],
    ['remuw', remuw],
  ];
  for (let i = 0; i < values.length; i++) {
    const a = values[i];
    const bs = i < edges.size ? [...edges] : [values[(i * 7919) % values.length]];
    for (const b of bs) {
      for (const [name, fn] of fns) {
        const got = fn(a, b);
        const want = refW(name, a, b);
        if (got !== want) assert.fail(`${name}(${a}, ${b}) = ${got}, want ${want}`);
      }
    }
  }
});
