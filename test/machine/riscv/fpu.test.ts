import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { createFpu, FP_ILLEGAL } from '../../../src/machine/riscv/fpu.js';
import { repoPath } from '../../helpers.js';

// ---- instruction encodings (RISC-V unprivileged spec 20191213, chapter 25 tables) ----

interface Enc {
  /** Opcode, funct7/fmt, fixed rs2 and fixed funct3 bits. */
  base: number;
  /** funct3 is the rounding mode. */
  rounded: boolean;
  /** rs2 names a source register (otherwise it is a fixed field). */
  twoSrc: boolean;
  fused: boolean;
}

function opFp(funct7: number, rs2: number, funct3: number | null): Enc {
  const funct5 = funct7 >>> 2;
  return {
    base: 0x53 | (funct7 << 25) | (rs2 << 20) | ((funct3 ?? 0) << 12),
    rounded: funct3 === null,
    twoSrc: funct5 <= 0x05 || funct5 === 0x14,
    fused: false,
  };
}

const ENC: Record<string, Enc> = {};
for (const [p, fmt] of [['s', 0], ['d', 1], ['h', 2]] as const) {
  ENC[`fadd.${p}`] = opFp(0x00 | fmt, 0, null);
  ENC[`fsub.${p}`] = opFp(0x04 | fmt, 0, null);
  ENC[`fmul.${p}`] = opFp(0x08 | fmt, 0, null);
  ENC[`fdiv.${p}`] = opFp(0x0c | fmt, 0, null);
  ENC[`fsqrt.${p}`] = opFp(0x2c | fmt, 0, null);
  ENC[`fsgnj.${p}`] = opFp(0x10 | fmt, 0, 0);
  ENC[`fsgnjn.${p}`] = opFp(0x10 | fmt, 0, 1);
  ENC[`fsgnjx.${p}`] = opFp(0x10 | fmt, 0, 2);
  ENC[`fmin.${p}`] = opFp(0x14 | fmt, 0, 0);
  ENC[`fmax.${p}`] = opFp(0x14 | fmt, 0, 1);
  ENC[`feq.${p}`] = opFp(0x50 | fmt, 0, 2);
  ENC[`flt.${p}`] = opFp(0x50 | fmt, 0, 1);
  ENC[`fle.${p}`] = opFp(0x50 | fmt, 0, 0);
  ENC[`fclass.${p}`] = opFp(0x70 | fmt, 0, 1);
  ['w', 'wu', 'l', 'lu'].forEach((t, i) => {
    ENC[`fcvt.${t}.${p}`] = opFp(0x60 | fmt, i, null);
    ENC[`fcvt.${p}.${t}`] = opFp(0x68 | fmt, i, null);
  });
  ['fmadd', 'fmsub', 'fnmsub', 'fnmadd'].forEach((n, i) => {
    ENC[`${n}.${p}`] = { base: 0x43 | (i << 2) | (fmt << 25), rounded: true, twoSrc: true, fused: true };
  });
  // Zfa
  ENC[`fminm.${p}`] = opFp(0x14 | fmt, 0, 2);
  ENC[`fmaxm.${p}`] = opFp(0x14 | fmt, 0, 3);
  ENC[`fleq.${p}`] = opFp(0x50 | fmt, 0, 4);
  ENC[`fltq.${p}`] = opFp(0x50 | fmt, 0, 5);
  ENC[`fround.${p}`] = opFp(0x20 | fmt, 4, null);
  ENC[`froundnx.${p}`] = opFp(0x20 | fmt, 5, null);
}
ENC['fcvt.s.d'] = opFp(0x20, 1, null);
ENC['fcvt.d.s'] = opFp(0x21, 0, null);
ENC['fmv.x.w'] = opFp(0x70, 0, 0);
ENC['fmv.x.d'] = opFp(0x71, 0, 0);
ENC['fmv.w.x'] = opFp(0x78, 0, 0);
ENC['fmv.d.x'] = opFp(0x79, 0, 0);
ENC['fcvt.h.s'] = opFp(0x22, 0, null);
ENC['fcvt.h.d'] = opFp(0x22, 1, null);
ENC['fcvt.s.h'] = opFp(0x20, 2, null);
ENC['fcvt.d.h'] = opFp(0x21, 2, null);
ENC['fmv.x.h'] = opFp(0x72, 0, 0);
ENC['fmv.h.x'] = opFp(0x7a, 0, 0);
ENC['fcvtmod.w.d'] = opFp(0x61, 8, 1); // static rtz only

function encode(e: Enc, rm: number, rd: number, rs1: number, rs2: number, rs3: number): number {
  let insn = e.base | (rd << 7) | (rs1 << 15);
  if (e.rounded) insn |= rm << 12;
  if (e.twoSrc) insn |= rs2 << 20;
  if (e.fused) insn |= rs3 << 27;
  return insn | 0;
}

// ---- the machine state the FPU sees ----

const x = new Int32Array(64);
const f = new Int32Array(64);
const fpu = createFpu(x, f);
const M64 = (1n << 64n) - 1n;

function setF(r: number, v: bigint): void {
  f[2 * r] = Number(v & 0xffffffffn) | 0;
  f[2 * r + 1] = Number((v >> 32n) & 0xffffffffn) | 0;
}
function getF(r: number): bigint {
  return (BigInt(f[2 * r + 1] >>> 0) << 32n) | BigInt(f[2 * r] >>> 0);
}
function setX(r: number, v: bigint): void {
  x[2 * r] = Number(v & 0xffffffffn) | 0;
  x[2 * r + 1] = Number((v >> 32n) & 0xffffffffn) | 0;
}
function getX(r: number): bigint {
  return (BigInt(x[2 * r + 1] >>> 0) << 32n) | BigInt(x[2 * r] >>> 0);
}
function hex(v: bigint): string {
  return '0x' + v.toString(16).padStart(16, '0');
}
/** Fills both register files with a recognisable pattern (x0 stays zero). */
function scramble(seed: number): void {
  for (let i = 0; i < 64; i++) {
    f[i] = Math.imul(i + 1 + seed, 0x9e3779b1);
    x[i] = Math.imul(i + 7 + seed, 0x85ebca6b);
  }
  x[0] = 0;
  x[1] = 0;
}

// ---- the reference vectors (test/machine/riscv/fpu-vectors, made by gen.c on a RISC-V implementation) ----

interface OpInfo {
  name: string;
  sig: string;
  rounded: boolean;
}
interface Vector {
  op: OpInfo;
  wide: boolean;
  /** Register values of the operands (singles boxed unless wide). */
  inputs: bigint[];
  /** Result per rounding mode: for S, the 32-bit pattern (the register holds it NaN-boxed). */
  results: bigint[];
  flags: number[];
}

function loadVectors(): Vector[] {
  const buf = gunzipSync(readFileSync(repoPath('test/machine/riscv/fpu-vectors/vectors.bin.gz')));
  let at = 0;
  const u8 = (): number => buf[at++];
  const un = (n: number): bigint => {
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[at + i]);
    at += n;
    return v;
  };
  assert.equal(buf.subarray(0, 6).toString('latin1'), 'BFPV1\n');
  at = 6;
  const nops = Number(un(2));
  const ops: OpInfo[] = [];
  for (let i = 0; i < nops; i++) {
    const name = buf.subarray(at + 1, at + 1 + buf[at]).toString('latin1');
    at += 1 + buf[at];
    const sig = buf.subarray(at + 1, at + 1 + buf[at]).toString('latin1');
    at += 1 + buf[at];
    ops.push({ name, sig, rounded: u8() === 1 });
  }
  const count = Number(un(4));
  const out: Vector[] = [];
  for (let i = 0; i < count; i++) {
    const op = ops[u8()];
    const wide = u8() === 1;
    const inputs: bigint[] = [];
    for (const t of op.sig.slice(1)) {
      if (t === 'S' && !wide) inputs.push(un(4) | 0xffffffff00000000n);
      else if (t === 'H' && !wide) inputs.push(un(2) | 0xffffffffffff0000n);
      else inputs.push(un(8));
    }
    const rsize = op.sig[0] === 'S' ? 4 : op.sig[0] === 'H' ? 2 : 8;
    const modes = op.rounded ? 5 : 1;
    const results = [un(rsize)];
    const flags: number[] = [];
    for (let m = 0; m < modes; m++) flags.push(u8());
    for (let m = 1; m < modes; m++) {
      const d = (u8() << 24) >> 24;
      if (d === -128) results.push(un(rsize));
      else if (rsize === 4) results.push(BigInt((Number(results[0]) + d) >>> 0));
      else if (rsize === 2) results.push(BigInt((Number(results[0]) + d) & 0xffff));
      else results.push((results[0] + BigInt(d)) & M64);
    }
    out.push({ op, wide, inputs, results, flags });
  }
  assert.equal(at, buf.length, 'vector file fully consumed');
  return out;
}

const vectors = loadVectors();

/** Deterministic register choices that also exercise rd aliasing a source. */
let lcg = 12345;
function pick(n: number): number {
  lcg = (Math.imul(lcg, 1103515245) + 12345) >>> 0;
  return (lcg >>> 16) % n;
}

/**
 * Runs one vector in one mode; returns a description of the mismatch or null.
 * dynamic: use rm = 7 with frm = mode; otherwise the static rm, with a junk frm that must be ignored.
 * rdZero: direct an integer result at x0, which must stay zero.
 */
function runVector(v: Vector, mode: number, dynamic: boolean, rdZero: boolean): string | null {
  const e = ENC[v.op.name];
  const types = v.op.sig.slice(1);
  scramble(mode + (dynamic ? 8 : 0));
  // Distinct source registers of the right files; rd sometimes aliases rs1.
  const regs: number[] = [];
  for (let i = 0; i < types.length; i++) {
    let r: number;
    do r = 1 + pick(31);
    while (regs.includes(r));
    regs.push(r);
  }
  types.split('').forEach((t, i) => (t === 'X' ? setX : setF)(regs[i], v.inputs[i]));
  const rt = v.op.sig[0];
  let rd = pick(4) === 0 && (rt === 'X') === (types[0] === 'X') ? regs[0] : 1 + pick(31);
  if (rt === 'X' && rdZero) rd = 0;
  const insn = encode(e, dynamic ? 7 : mode, rd, regs[0], regs[1] ?? 0, regs[2] ?? 0);
  const beforeF = Int32Array.from(f);
  const beforeX = Int32Array.from(x);
  const flags = fpu(insn, dynamic ? mode : pick(8));
  const want = v.results[mode];
  const wantFlags = v.flags[mode];
  let got: bigint;
  let expected: bigint;
  if (rt === 'X') {
    got = getX(rd);
    expected = rd === 0 ? 0n : want;
  } else {
    got = getF(rd);
    expected = rt === 'S' ? want | 0xffffffff00000000n : rt === 'H' ? want | 0xffffffffffff0000n : want;
  }
  // Nothing but rd may change.
  if (rt === 'X') {
    beforeX[2 * rd] = x[2 * rd];
    beforeX[2 * rd + 1] = x[2 * rd + 1];
  } else {
    beforeF[2 * rd] = f[2 * rd];
    beforeF[2 * rd + 1] = f[2 * rd + 1];
  }
  const stray = beforeF.some((w, i) => w !== f[i]) || beforeX.some((w, i) => w !== x[i]);
  if (got === expected && flags === wantFlags && !stray) return null;
  return (
    `${v.op.name} rm=${mode}${dynamic ? ' (dyn)' : ''} in=[${v.inputs.map(hex).join(', ')}]` +
    ` want ${hex(expected)} flags ${wantFlags}, got ${hex(got)} flags ${flags}${stray ? ' (wrote another register)' : ''}`
  );
}

const byOp = new Map<string, Vector[]>();
for (const v of vectors) {
  const list = byOp.get(v.op.name) ?? [];
  list.push(v);
  byOp.set(v.op.name, list);
}

test('the reference vectors cover every F, D, Zfh and Zfa computational instruction (fli and the RV32-only moves aside)', () => {
  assert.deepEqual([...byOp.keys()].sort(), Object.keys(ENC).sort());
});

for (const [name, list] of byOp) {
  test(`${name} matches the reference vectors bit for bit, flags included, in every rounding mode`, () => {
    const failures: string[] = [];
    for (const v of list) {
      for (let m = 0; m < (v.op.rounded ? 5 : 1); m++) {
        for (const dynamic of v.op.rounded ? [false, true] : [false]) {
          const err = runVector(v, m, dynamic, false);
          if (err && failures.length < 30) failures.push(err);
        }
      }
    }
    assert.equal(failures.length, 0, failures.join('\n'));
  });
}

test('an integer result aimed at x0 is dropped', () => {
  for (const [name, list] of byOp) {
    if (!/^(fcvt\.[wl]|fcvtmod|fmv\.x|f(eq|lt|le|leq|ltq|class)\.)/.test(name)) continue;
    for (const v of list.slice(0, 200)) {
      const err = runVector(v, 0, false, true);
      assert.equal(err, null, err ?? '');
    }
  }
});

// ---- illegal encodings ----

/** Asserts that insn is illegal and wrote nothing. */
function assertIllegal(insn: number, frm: number, what: string): void {
  scramble(3);
  const beforeF = Int32Array.from(f);
  const beforeX = Int32Array.from(x);
  assert.equal(fpu(insn | 0, frm), FP_ILLEGAL, `${what}: 0x${(insn >>> 0).toString(16)} should be illegal`);
  assert.deepEqual(f, beforeF, `${what}: wrote an f register`);
  assert.deepEqual(x, beforeX, `${what}: wrote an x register`);
}

test('reserved rounding modes 5 and 6, and a dynamic rm with frm 5-7, are illegal', () => {
  for (const [name, e] of Object.entries(ENC)) {
    if (!e.rounded) continue;
    for (const rm of [5, 6]) assertIllegal(encode(e, rm, 3, 4, 5, 6), 0, `${name} rm=${rm}`);
    for (const frm of [5, 6, 7]) assertIllegal(encode(e, 7, 3, 4, 5, 6), frm, `${name} dyn frm=${frm}`);
    scramble(1);
    assert.notEqual(fpu(encode(e, 7, 3, 4, 5, 6), 4), FP_ILLEGAL, `${name} dyn frm=4 is legal`);
  }
});

test('the quad precision format is illegal', () => {
  for (const [name, e] of Object.entries(ENC)) {
    const insn = (encode(e, 0, 3, 4, 5, 6) & ~(3 << 25)) | (3 << 25);
    assertIllegal(insn, 0, `${name} fmt=3`);
  }
});

test('reserved funct3, rs2 and funct5 values are illegal', () => {
  const f7 = (funct7: number, rs2: number, funct3: number) => 0x53 | (funct7 << 25) | (rs2 << 20) | (funct3 << 12) | (3 << 7) | (4 << 15);
  for (const fmt of [0, 1, 2]) {
    for (let rs2 = 1; rs2 < 32; rs2++) assertIllegal(f7(0x2c | fmt, rs2, 0), 0, 'fsqrt rs2');
    for (let fn3 = 3; fn3 < 8; fn3++) assertIllegal(f7(0x10 | fmt, 5, fn3), 0, 'fsgnj funct3');
    for (let fn3 = 4; fn3 < 8; fn3++) assertIllegal(f7(0x14 | fmt, 5, fn3), 0, 'fmin/fmax/fminm/fmaxm funct3');
    for (const fn3 of [3, 6, 7]) assertIllegal(f7(0x50 | fmt, 5, fn3), 0, 'feq/flt/fle/fleq/fltq funct3');
    for (let rs2 = 4; rs2 < 32; rs2++) assertIllegal(f7(0x60 | fmt, rs2, 0), 0, 'fcvt.int.fp rs2');
    for (let rs2 = 4; rs2 < 32; rs2++) assertIllegal(f7(0x68 | fmt, rs2, 0), 0, 'fcvt.fp.int rs2');
    for (let fn3 = 2; fn3 < 8; fn3++) assertIllegal(f7(0x70 | fmt, 0, fn3), 0, 'fmv.x/fclass funct3');
    for (let rs2 = 1; rs2 < 32; rs2++) assertIllegal(f7(0x70 | fmt, rs2, 0), 0, 'fmv.x rs2 (fmvh.x.d is RV32-only)');
    for (let rs2 = 1; rs2 < 32; rs2++) assertIllegal(f7(0x70 | fmt, rs2, 1), 0, 'fclass rs2');
    for (let fn3 = 1; fn3 < 8; fn3++) assertIllegal(f7(0x78 | fmt, 0, fn3), 0, 'fmv.fp.x funct3');
    for (let fn3 = 1; fn3 < 8; fn3++) assertIllegal(f7(0x78 | fmt, 1, fn3), 0, 'fli funct3');
    for (let rs2 = 2; rs2 < 32; rs2++) assertIllegal(f7(0x78 | fmt, rs2, 0), 0, 'fmv.fp.x/fli rs2');
    // fround/froundnx (rs2 4/5) and the conversions between formats in the fcvt.fmt.fmt slot.
    for (const rs2 of [3, 6, 7, 8, 16, 31]) assertIllegal(f7(0x20 | fmt, rs2, 0), 0, 'fcvt.fmt.fmt rs2');
    assertIllegal(f7(0x20 | fmt, fmt, 0), 0, 'fcvt to its own format');
    // Unassigned funct5 values.
    for (const funct5 of [0x06, 0x07, 0x09, 0x0a, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x15, 0x16, 0x17, 0x19, 0x1b, 0x1d, 0x1f]) {
      assertIllegal(f7((funct5 << 2) | fmt, 0, 0), 0, `funct5 0x${funct5.toString(16)}`);
    }
  }
  // fcvtmod.w.d: D only, and the rounding mode must be a static rtz.
  for (const rm of [0, 2, 3, 4, 7]) assertIllegal(f7(0x61, 8, rm), 0, `fcvtmod.w.d rm=${rm}`);
  assertIllegal(f7(0x61, 8, 7), 1, 'fcvtmod.w.d dyn with frm=rtz');
  assertIllegal(f7(0x60, 8, 1), 0, 'fcvtmod.w.s');
  assertIllegal(f7(0x62, 8, 1), 0, 'fcvtmod.w.h');
  // fmvp.d.x (funct7 0x59) is RV32-only.
  assertIllegal(f7(0x59, 5, 0), 0, 'fmvp.d.x');
  // Not an F/D computational opcode at all.
  assertIllegal(0x00000033, 0, 'add');
  assertIllegal(0x00002007, 0, 'flw');
});

// ---- behaviours worth naming on their own (also covered by the vectors) ----

const RNE = 0;
const RTZ = 1;
const RDN = 2;
const RUP = 3;
const D = (v: number): bigint => {
  const b = new DataView(new ArrayBuffer(8));
  b.setFloat64(0, v, true);
  return b.getBigUint64(0, true);
};
const S = (v: number): bigint => {
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, v, true);
  return BigInt(b.getUint32(0, true)) | 0xffffffff00000000n;
};

function run(name: string, rm: number, inputs: bigint[], rd = 10): { flags: number; f: bigint; x: bigint } {
  scramble(0);
  const types = (byOp.get(name)?.[0].op.sig ?? '').slice(1);
  types.split('').forEach((t, i) => (t === 'X' ? setX : setF)(i + 1, inputs[i]));
  const flags = fpu(encode(ENC[name], rm, rd, 1, 2, 3), 0);
  return { flags, f: getF(rd), x: getX(rd) };
}

test('fmadd of infinity times zero raises NV even when the addend is a quiet NaN', () => {
  const r = run('fmadd.d', RNE, [D(Infinity), D(0), 0x7ff8000000000000n]);
  assert.equal(r.flags, 16);
  assert.equal(r.f, 0x7ff8000000000000n);
});

test('every NaN result is the canonical NaN', () => {
  assert.equal(run('fadd.d', RNE, [0xfff8000000000123n, D(1)]).f, 0x7ff8000000000000n);
  assert.equal(run('fmul.s', RNE, [0xffffffffffc00123n, S(1)]).f, 0xffffffff7fc00000n);
});

test('a single operand that is not NaN-boxed reads as the canonical NaN', () => {
  assert.equal(run('fadd.s', RNE, [0x000000003f800000n, S(1)]).f, 0xffffffff7fc00000n);
  assert.equal(run('fsgnjn.s', RNE, [0x000000003f800000n, S(1)]).f, 0xffffffffffc00000n);
  assert.equal(run('fclass.s', RNE, [0x000000003f800000n]).x, 1n << 9n);
});

test('fmv.x.w sign-extends the low 32 bits, boxed or not', () => {
  assert.equal(run('fmv.x.w', RNE, [0x00000000bf800000n]).x, 0xffffffffbf800000n);
});

test('fcvt.wu.d sign-extends its 32-bit result', () => {
  const r = run('fcvt.wu.d', RTZ, [D(4294967295)]);
  assert.deepEqual([r.x, r.flags], [0xffffffffffffffffn, 0]);
  // A negative value that rounds to zero is in range: 0 with NX only, no NV.
  const z = run('fcvt.wu.d', RTZ, [D(-0.5)]);
  assert.deepEqual([z.x, z.flags], [0n, 1]);
  const n = run('fcvt.wu.d', RDN, [D(-0.5)]);
  assert.deepEqual([n.x, n.flags], [0n, 16]);
});

test('overflow gives the largest finite number when the rounding mode points toward zero', () => {
  const max = D(Number.MAX_VALUE);
  assert.deepEqual([run('fmul.d', RTZ, [max, D(2)]).f, run('fmul.d', RTZ, [max, D(2)]).flags], [max, 5]);
  assert.equal(run('fmul.d', RDN, [max, D(2)]).f, max);
  assert.equal(run('fmul.d', RUP, [max, D(2)]).f, D(Infinity));
  assert.equal(run('fmul.d', RUP, [max, D(-2)]).f, D(-Number.MAX_VALUE));
  assert.equal(run('fmul.d', RDN, [max, D(-2)]).f, D(-Infinity));
  assert.equal(run('fmul.d', RNE, [max, D(-2)]).f, D(-Infinity));
});

test('underflow is detected after rounding and only when inexact', () => {
  // (2^-1022 - 2^-1075) rounds to 2^-1022 in the format but is tiny after rounding at unbounded range: UF.
  const a = D(1 - 2 ** -53);
  const r = run('fmul.d', RNE, [a, D(2 ** -1022)]);
  assert.deepEqual([r.f, r.flags], [D(2 ** -1022), 3]);
  // An exact subnormal result raises nothing.
  assert.equal(run('fmul.d', RNE, [D(2 ** -1070), D(0.5)]).flags, 0);
});

test('fli loads the 32 constants of Zfa in each format, with the format\'s own smallest normal, NaN-boxed', () => {
  // Zfa's table of fli immediates as bit patterns (half: 2^-16 and 2^-15 are subnormal, 2^16 is +inf).
  const half = [
    0xbc00, 0x0400, 0x0100, 0x0200, 0x1c00, 0x2000, 0x2c00, 0x3000, 0x3400, 0x3500, 0x3600, 0x3700, 0x3800,
    0x3900, 0x3a00, 0x3b00, 0x3c00, 0x3d00, 0x3e00, 0x3f00, 0x4000, 0x4100, 0x4200, 0x4400, 0x4800, 0x4c00,
    0x5800, 0x5c00, 0x7800, 0x7c00, 0x7c00, 0x7e00,
  ];
  const single = [
    0xbf800000, 0x00800000, 0x37800000, 0x38000000, 0x3b800000, 0x3c000000, 0x3d800000, 0x3e000000, 0x3e800000,
    0x3ea00000, 0x3ec00000, 0x3ee00000, 0x3f000000, 0x3f200000, 0x3f400000, 0x3f600000, 0x3f800000, 0x3fa00000,
    0x3fc00000, 0x3fe00000, 0x40000000, 0x40200000, 0x40400000, 0x40800000, 0x41000000, 0x41800000, 0x43000000,
    0x43800000, 0x47000000, 0x47800000, 0x7f800000, 0x7fc00000,
  ];
  const double = [
    0xbff0n, 0x0010n, 0x3ef0n, 0x3f00n, 0x3f70n, 0x3f80n, 0x3fb0n, 0x3fc0n, 0x3fd0n, 0x3fd4n, 0x3fd8n, 0x3fdcn,
    0x3fe0n, 0x3fe4n, 0x3fe8n, 0x3fecn, 0x3ff0n, 0x3ff4n, 0x3ff8n, 0x3ffcn, 0x4000n, 0x4004n, 0x4008n, 0x4010n,
    0x4020n, 0x4030n, 0x4060n, 0x4070n, 0x40e0n, 0x40f0n, 0x7ff0n, 0x7ff8n,
  ];
  for (let i = 0; i < 32; i++) {
    for (const [fmt, want] of [
      [0, BigInt(single[i]) | 0xffffffff00000000n],
      [1, double[i] << 48n],
      [2, BigInt(half[i]) | 0xffffffffffff0000n],
    ] as const) {
      scramble(i);
      const flags = fpu(0x53 | (0x78 << 25) | (fmt << 25) | (1 << 20) | (i << 15) | (9 << 7), 0);
      assert.equal(flags, 0);
      assert.equal(hex(getF(9)), hex(want), `fli fmt ${fmt} index ${i}`);
    }
  }
});

test('a half operand boxed only as a single reads as the canonical NaN, and fmv.x.h sign-extends its low bits', () => {
  const r = run('fadd.h', RNE, [0xffffffff00003c00n, 0xffffffffffff3c00n]);
  assert.deepEqual([hex(r.f), r.flags], [hex(0xffffffffffff7e00n), 0]);
  assert.equal(run('fmv.x.h', RNE, [0x000000000000bc00n]).x, 0xffffffffffffbc00n);
  assert.equal(run('fcvt.d.h', RNE, [0xffffffff00003c00n]).f, 0x7ff8000000000000n);
});
