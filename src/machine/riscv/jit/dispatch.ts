/**
 * The dispatcher in WebAssembly: runs compiled blocks one after another through a jump cache and
 * call_indirect, returning to JS only when the next pc has no valid entry, the budget would not hold the next
 * block, or a block stopped before an instruction it leaves to the interpreter. A JS-to-wasm call costs more
 * than a short block (docs/performance.md), so chains of hot blocks stay in wasm.
 *
 *   run(budget, dataSet, pcLo, pcHi) -> 2 * retired + stop, the next pc at OUT_PC of its memory
 *
 * The jump cache lives in the dispatcher's own memory, not the machine's: it needs room (a Linux shell loop
 * runs more hot blocks than the few KiB left below RAM hold: measured, 512 entries sent a block in three
 * back to JS), and only the dispatcher and the hart's JS read it. Blocks return the next pc, so the
 * dispatcher never touches the machine's memory. Each hart has its own dispatcher (SMP later).
 *
 * dataSet cannot change inside compiled code: what changes it (CSR writes, traps, xRET) is never compiled,
 * so the block before it stops. The LR reservation is at STATE_RESV of the machine's memory.
 */
import { BLOCK_PARAMS, BLOCK_RESULTS } from './translate.js';
import { Code, moduleOf, T, W } from './wasm.js';

/**
 * Jump cache entries: four int32 each, pcLo, pcHi, the tag it was filled under and (table slot << 8 | block
 * length), direct-mapped by (pc >> 1) ^ (pc >> 17).
 */
export const JC_ENTRIES = 65536;
const JC_BYTES = JC_ENTRIES * 16;
/** Byte offsets in the dispatcher's memory: the next pc when it returns, and the tag entries must carry. */
export const OUT_PC = JC_BYTES;
export const JC_TAG = JC_BYTES + 8;
const PAGES = Math.ceil((JC_BYTES + 16) / 65536);

/** The jump cache slot (in entries) of virtual pc `lo`. */
export const jcIndex = (lo: number): number => ((lo >>> 1) ^ (lo >>> 17)) & (JC_ENTRIES - 1);
/**
 * The pcs of one 4 KiB page fill one aligned run of this many entries: within a page, lo >>> 17 is constant
 * and lo >>> 1 varies in its low 11 bits only.
 */
export const JC_PAGE_RUN = 2048;

const P_BUDGET = 0, P_DSET = 1, P_PCLO = 2, P_PCHI = 3;

export function dispatcherBytes(): Uint8Array<ArrayBuffer> {
  const c = new Code(4);
  const total = c.local(T.i32), e = c.local(T.i32), w = c.local(T.i32), pc = c.local(T.i64);
  c.get(P_PCLO).op(W.i64_extend_i32_u).get(P_PCHI).op(W.i64_extend_i32_u).i64(32).op(W.i64_shl).op(W.i64_or).set(pc);
  c.begin(W.block); // $miss
  c.begin(W.loop); // $next
  // An entry's pcLo and pcHi, read as one i64, are the pc (little-endian).
  c.get(pc).op(W.i32_wrap_i64).tee(e).i32(1).op(W.i32_shr_u).get(e).i32(17).op(W.i32_shr_u).op(W.i32_xor).i32(JC_ENTRIES - 1).op(W.i32_and).i32(4).op(W.i32_shl).tee(e);
  c.mem(W.i64_load, 3, 0).get(pc).op(W.i64_ne);
  c.get(e).mem(W.i32_load, 2, 8).i32(0).mem(W.i32_load, 2, JC_TAG).op(W.i32_ne).op(W.i32_or);
  c.opU(W.br_if, 1);
  c.get(e).mem(W.i32_load, 2, 12).tee(w);
  // (total >> 1) + length > budget: leave it to the interpreter
  c.i32(0xff).op(W.i32_and).get(total).i32(1).op(W.i32_shr_u).op(W.i32_add).get(P_BUDGET).op(W.i32_gt_s);
  c.opU(W.br_if, 1);
  c.get(P_BUDGET).get(P_DSET).get(pc).get(total);
  c.get(w).i32(8).op(W.i32_shr_u);
  c.opU(W.call_indirect, 0); c.bytes.push(0); // type 0 (a block), table 0
  c.set(pc).tee(total);
  c.i32(1).op(W.i32_and).opU(W.br_if, 1); // stopped
  c.opU(W.br, 0);
  c.end(); // loop
  c.end(); // $miss
  c.i32(0).get(pc).mem(W.i64_store, 3, OUT_PC);
  c.get(total);
  return moduleOf({
    types: [{ params: BLOCK_PARAMS, results: BLOCK_RESULTS }, { params: [T.i32, T.i32, T.i32, T.i32], results: [T.i32] }],
    importTable: true, memoryPages: PAGES, funcs: [{ type: 1, code: c }],
  });
}
