/**
 * A small WebAssembly binary encoder: just what the translator emits (WebAssembly core specification 2.0,
 * chapter 5 "Binary Format"). A module holds functions of one type and imports one memory; the translator
 * writes each function body as opcodes through Code.
 *
 * Runs at compile time only (once per translated block), so it uses plain number arrays.
 */

/** Value types (5.3.1). */
export const enum T { i32 = 0x7f, i64 = 0x7e }
/** The empty block type (5.4.1). */
export const VOID = 0x40;

/** Opcodes used by the translator (5.4). */
export const enum W {
  block = 0x02, loop = 0x03, if = 0x04, else = 0x05, end = 0x0b, br = 0x0c, br_if = 0x0d, br_table = 0x0e, return = 0x0f,
  call_indirect = 0x11,
  drop = 0x1a, select = 0x1b,
  local_get = 0x20, local_set = 0x21, local_tee = 0x22,
  i32_load = 0x28, i64_load = 0x29,
  i64_load8_s = 0x30, i64_load8_u = 0x31, i64_load16_s = 0x32, i64_load16_u = 0x33, i64_load32_s = 0x34, i64_load32_u = 0x35,
  i32_store = 0x36, i64_store = 0x37, i64_store8 = 0x3c, i64_store16 = 0x3d, i64_store32 = 0x3e,
  i32_const = 0x41, i64_const = 0x42,
  i32_eqz = 0x45, i32_eq = 0x46, i32_ne = 0x47, i32_lt_s = 0x48, i32_gt_s = 0x4a, i32_le_s = 0x4c,
  i64_eqz = 0x50, i64_eq = 0x51, i64_ne = 0x52, i64_lt_s = 0x53, i64_lt_u = 0x54, i64_ge_s = 0x59, i64_ge_u = 0x5a,
  i32_add = 0x6a, i32_sub = 0x6b, i32_mul = 0x6c, i32_div_s = 0x6d, i32_div_u = 0x6e, i32_rem_s = 0x6f, i32_rem_u = 0x70,
  i32_and = 0x71, i32_or = 0x72, i32_xor = 0x73, i32_shl = 0x74, i32_shr_s = 0x75, i32_shr_u = 0x76,
  i64_add = 0x7c, i64_sub = 0x7d, i64_mul = 0x7e, i64_div_s = 0x7f, i64_div_u = 0x80, i64_rem_s = 0x81, i64_rem_u = 0x82,
  i64_and = 0x83, i64_or = 0x84, i64_xor = 0x85, i64_shl = 0x86, i64_shr_s = 0x87, i64_shr_u = 0x88,
  i32_wrap_i64 = 0xa7, i64_extend_i32_s = 0xac, i64_extend_i32_u = 0xad,
}

function uleb(out: number[], v: number): void {
  let n = v >>> 0;
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
}

/** Signed LEB128 of an int32 (i64.const of a sign-extended 32-bit value encodes the same). */
function sleb(out: number[], v: number): void {
  let n = v | 0;
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) { out.push(b); return; }
    out.push(b | 0x80);
  }
}

/** One function body being written: locals are declared up front, then instructions appended. */
export class Code {
  readonly bytes: number[] = [];
  private readonly locals: T[] = [];
  constructor(private readonly params: number) {}

  /** Declares a local of type `t`; returns its index (after the parameters). */
  local(t: T): number {
    this.locals.push(t);
    return this.params + this.locals.length - 1;
  }
  op(o: W): this { this.bytes.push(o); return this; }
  /** An opcode with one unsigned immediate (local index, branch depth, block type). */
  opU(o: W, v: number): this { this.bytes.push(o); uleb(this.bytes, v); return this; }
  get(i: number): this { return this.opU(W.local_get, i); }
  set(i: number): this { return this.opU(W.local_set, i); }
  tee(i: number): this { return this.opU(W.local_tee, i); }
  i32(v: number): this { this.bytes.push(W.i32_const); sleb(this.bytes, v); return this; }
  /** i64.const of a sign-extended int32. */
  i64(v: number): this { this.bytes.push(W.i64_const); sleb(this.bytes, v); return this; }
  /** A load or store with alignment log2 `align` and constant offset `offset` (memory argument, 5.4.6). */
  mem(o: W, align: number, offset: number): this {
    this.bytes.push(o);
    uleb(this.bytes, align);
    uleb(this.bytes, offset);
    return this;
  }
  /** block/loop/if with a block type (VOID or a value type). */
  begin(o: W.block | W.loop | W.if, type: number = VOID): this { this.bytes.push(o, type); return this; }
  end(): this { this.bytes.push(W.end); return this; }
  /** br_table to depth `depths[i]` for i on the stack, `otherwise` past the end (5.4.1). */
  brTable(depths: readonly number[], otherwise: number): this {
    this.bytes.push(W.br_table);
    uleb(this.bytes, depths.length);
    for (const d of depths) uleb(this.bytes, d);
    uleb(this.bytes, otherwise);
    return this;
  }

  /** The body as the code section holds it: size, local declarations, instructions, end. */
  encode(): number[] {
    const body: number[] = [];
    // Locals in runs of one type.
    const runs: [number, T][] = [];
    for (const t of this.locals) {
      const last = runs[runs.length - 1];
      if (last !== undefined && last[1] === t) last[0]++; else runs.push([1, t]);
    }
    uleb(body, runs.length);
    for (const [n, t] of runs) { uleb(body, n); body.push(t); }
    for (const b of this.bytes) body.push(b);
    body.push(W.end);
    const out: number[] = [];
    uleb(out, body.length);
    for (const b of body) out.push(b);
    return out;
  }
}

function section(out: number[], id: number, content: number[]): void {
  out.push(id);
  uleb(out, content.length);
  for (const b of content) out.push(b);
}

function name(out: number[], s: string): void {
  uleb(out, s.length);
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
}

/** A function type: parameters and results. */
export interface FnType { params: readonly T[]; results: readonly T[] }

/** What a module holds; every function is exported as f0, f1, ... */
export interface ModuleSpec {
  types: readonly FnType[];
  /** Import the memory `env.memory` (at least one page). */
  importMemory?: boolean;
  /** Import the funcref table `env.table` (table 0, for call_indirect). */
  importTable?: boolean;
  /** Or define a memory of this many pages, exported as `memory`. */
  memoryPages?: number;
  funcs: readonly { type: number; code: Code }[];
}

export function moduleOf(m: ModuleSpec): Uint8Array<ArrayBuffer> {
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const types: number[] = [];
  uleb(types, m.types.length);
  for (const t of m.types) {
    types.push(0x60);
    uleb(types, t.params.length); for (const p of t.params) types.push(p);
    uleb(types, t.results.length); for (const r of t.results) types.push(r);
  }
  section(out, 1, types);
  const imp: number[] = [];
  let imports = 0;
  if (m.importMemory === true) { name(imp, 'env'); name(imp, 'memory'); imp.push(0x02, 0x00, 0x01); imports++; } // min 1 page
  if (m.importTable === true) { name(imp, 'env'); name(imp, 'table'); imp.push(0x01, 0x70, 0x00, 0x01); imports++; } // funcref, min 1
  if (imports > 0) { const sec: number[] = []; uleb(sec, imports); section(out, 2, [...sec, ...imp]); }
  const funcs: number[] = [];
  uleb(funcs, m.funcs.length);
  for (const f of m.funcs) uleb(funcs, f.type);
  section(out, 3, funcs);
  if (m.memoryPages !== undefined) { const mem: number[] = [1, 0x00]; uleb(mem, m.memoryPages); section(out, 5, mem); }
  const exp: number[] = [];
  uleb(exp, m.funcs.length + (m.memoryPages !== undefined ? 1 : 0));
  for (let i = 0; i < m.funcs.length; i++) { name(exp, `f${i}`); exp.push(0x00); uleb(exp, i); }
  if (m.memoryPages !== undefined) { name(exp, 'memory'); exp.push(0x02, 0x00); }
  section(out, 7, exp);
  const code: number[] = [];
  uleb(code, m.funcs.length);
  for (const f of m.funcs) for (const byte of f.code.encode()) code.push(byte);
  section(out, 10, code);
  return new Uint8Array(out);
}
