/**
 * The dispatcher in WebAssembly: runs compiled blocks one after another through the jump cache (layout.ts
 * STATE_JC) and call_indirect, returning to JS only when the next pc has no valid entry, the budget would not
 * hold the next block, or a block stopped before an instruction it leaves to the interpreter. A JS-to-wasm
 * call costs more than a short block (docs/performance.md), so chains of hot blocks stay in wasm.
 *
 *   run(budget, dataSet, resv, pcLo, pcHi) -> 2 * retired + stop, the next pc at STATE_PC
 *
 * The same signature as a block's. dataSet and resv cannot change inside compiled code: what changes them
 * (CSR writes, traps, xRET, LR/SC) is never compiled, so the block before it stops.
 */
import { JC_ENTRIES, STATE_CODE_GEN, STATE_JC, STATE_PC } from '../layout.js';
import { BLOCK_PARAMS, BLOCK_RESULTS } from './translate.js';
import { Code, moduleBytes, T, W } from './wasm.js';

const P_BUDGET = 0, P_DSET = 1, P_RESV = 2, P_PCLO = 3, P_PCHI = 4;

export function dispatcherBytes(): Uint8Array<ArrayBuffer> {
  const c = new Code(BLOCK_PARAMS.length);
  const total = c.local(T.i32), e = c.local(T.i32), w = c.local(T.i32), r = c.local(T.i32);
  const lo = P_PCLO, hi = P_PCHI;
  c.begin(W.block); // $miss: pc back to STATE_PC
  c.begin(W.loop); // $next
  // e = the entry's byte offset (from STATE_JC)
  c.get(lo).i32(1).op(W.i32_shr_u).get(lo).i32(11).op(W.i32_shr_u).op(W.i32_xor).i32(JC_ENTRIES - 1).op(W.i32_and).i32(4).op(W.i32_shl).tee(e);
  c.mem(W.i32_load, 2, STATE_JC).get(lo).op(W.i32_ne);
  c.get(e).mem(W.i32_load, 2, STATE_JC + 4).get(hi).op(W.i32_ne).op(W.i32_or);
  c.get(e).mem(W.i32_load, 2, STATE_JC + 8).i32(0).mem(W.i32_load, 2, STATE_CODE_GEN).op(W.i32_ne).op(W.i32_or);
  c.opU(W.br_if, 1);
  c.get(e).mem(W.i32_load, 2, STATE_JC + 12).tee(w);
  // (total >> 1) + length > budget: leave it to the interpreter
  c.i32(0xff).op(W.i32_and).get(total).i32(1).op(W.i32_shr_u).op(W.i32_add).get(P_BUDGET).op(W.i32_gt_s);
  c.opU(W.br_if, 1);
  c.get(P_BUDGET).get(total).i32(1).op(W.i32_shr_u).op(W.i32_sub).get(P_DSET).get(P_RESV).get(lo).get(hi);
  c.get(w).i32(8).op(W.i32_shr_u);
  c.opU(W.call_indirect, 0); c.bytes.push(0); // type 0, table 0
  c.tee(r).get(total).op(W.i32_add).set(total);
  c.get(r).i32(1).op(W.i32_and).begin(W.if).get(total).op(W.return).end(); // stopped: pc is at STATE_PC
  c.i32(0).mem(W.i32_load, 2, STATE_PC).set(lo);
  c.i32(0).mem(W.i32_load, 2, STATE_PC + 4).set(hi);
  c.opU(W.br, 0);
  c.end(); // loop
  c.end(); // $miss
  c.i32(0).get(lo).mem(W.i32_store, 2, STATE_PC);
  c.i32(0).get(hi).mem(W.i32_store, 2, STATE_PC + 4);
  c.get(total);
  return moduleBytes(BLOCK_PARAMS, BLOCK_RESULTS, [c], true);
}
