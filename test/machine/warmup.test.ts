/**
 * The warm-up (src/machine/warmup.ts): its program reaches its end on both engines, holds every operation of
 * the interpreter's loop, and runs once per engine in a process, before the first machine of that engine.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Machine, warmedUpEngines } from '../../src/machine/machine.js';
import { decodeOp, expandCompressed, Op } from '../../src/machine/riscv/decode.js';
import { Priv } from '../../src/machine/riscv/csr.js';
import { runWarmUp, WARM_UP_RAM, warmUpProgram } from '../../src/machine/warmup.js';

const scratch = (engine: 'interp' | 'jit'): Machine =>
  new Machine({ memoryBytes: WARM_UP_RAM, engine, warmUp: false, log: () => {}, console: () => {} });

test('a machine is built after the warm-up of its engine, which runs once a process', () => {
  assert.equal(warmedUpEngines().size, 0);
  scratch('jit');
  assert.equal(warmedUpEngines().size, 0, 'a machine made with warmUp false warms nothing');
  const m = new Machine({ memoryBytes: 1 << 20, engine: 'jit', log: () => {}, console: () => {} });
  assert.deepEqual([...warmedUpEngines()], ['jit']);
  assert.equal(m.hart.instret, 0, 'the machine itself ran nothing');
  new Machine({ memoryBytes: 1 << 20, log: () => {}, console: () => {} });
  assert.deepEqual([...warmedUpEngines()].sort(), ['interp', 'jit']);
});

for (const engine of ['interp', 'jit'] as const) {
  test(`the warm-up program runs to its end, in U-mode, on a scratch machine (${engine})`, () => {
    const m = scratch(engine);
    const traps: number[] = [];
    m.hart.onTrap = (cause) => traps.push(cause);
    const r = runWarmUp(m);
    const end = 0x80000000 + (warmUpProgram().labels.get('end') ?? -1);
    assert.equal(r.endPc >>> 0, end);
    assert.equal(r.endPriv, Priv.U);
    // Every round takes the same traps: faults of each access kind, ecall and ebreak, illegal ones, an interrupt.
    assert.equal(traps.length % 4, 0);
    for (const cause of [2, 3, 5, 7, 8, 11]) assert.ok(traps.includes(cause), `cause ${cause} taken`);
    if (engine === 'jit') assert.ok((m.hart.jit?.stats.blocksCompiled ?? 0) > 0, 'blocks were compiled');
  });
}

test('the warm-up program holds every operation of the interpreter but WFI', () => {
  const { mem } = warmUpProgram();
  const seen = new Set<Op>();
  let next = -1; // where the next instruction starts, within a run of halfwords
  for (const at of [...mem.keys()].sort((x, y) => x - y)) {
    if (at < next) continue;
    const lo = mem.get(at) ?? 0;
    next = at + ((lo & 3) === 3 ? 4 : 2);
    if ((lo & 3) !== 3) { const e = expandCompressed(lo); seen.add(e === -1 ? Op.ILLEGAL : decodeOp(e)); }
    else if (at % 4096 === 4094) seen.add(Op.CROSS); // fetched in two halves, run from a scratch page
    else seen.add(decodeOp(lo | ((mem.get(at + 2) ?? 0) << 16)));
  }
  const missing: number[] = [];
  for (let op = Op.ILLEGAL; op <= Op.SHADD_UW; op++) if (op !== Op.WFI && !seen.has(op)) missing.push(op);
  assert.deepEqual(missing, []);
});
