/**
 * Machine snapshots: every part saves and restores (hart, clock, CLINT, HTIF and the board's composition),
 * a bare-metal program saved at random instants and continued on fresh machines ends exactly as an
 * unsaved run does, and bad or mismatched state is refused with the machine untouched.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { State } from '../../src/devices/stateful.js';
import { BonsaiError } from '../../src/errors.js';
import { boot } from '../../src/machine/boot.js';
import { VirtualClock } from '../../src/machine/clock.js';
import { parseElf } from '../../src/machine/elf.js';
import { Machine, type MachineExit, type MachineState } from '../../src/machine/machine.js';
import { applyRam, captureRam } from '../../src/machine/ram-image.js';
import { prng, repoPath } from '../helpers.js';

const MEM = 64 * 1024 * 1024;
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

interface Rig { m: Machine; out: number[] }

function fresh(out: number[] = [], memoryBytes = MEM): Machine {
  return new Machine({ memoryBytes, log: () => {}, console: (b) => out.push(...b), timeSource: 'instructions' });
}

function program(name: string, out: number[] = []): Rig {
  const file = repoPath('test', 'isa', ...name.split('/'));
  const bytes = new Uint8Array(readFileSync(file));
  const m = fresh(out);
  boot(m, { firmware: 'none', kernel: { name: file, bytes }, append: '' });
  const sym = parseElf(bytes, file).symbols;
  const tohost = sym.get('tohost'), fromhost = sym.get('fromhost');
  if (tohost !== undefined && fromhost !== undefined) m.attachHtif(tohost, fromhost);
  return { m, out };
}

/** Waits until `m` (told to pauseAt before it ran on) is paused; resolves false if it ended first. */
async function paused(m: Machine, done: Promise<MachineExit>): Promise<boolean> {
  let ended = false;
  void done.then(() => { ended = true; });
  while (!m.paused && !ended) await new Promise<void>((r) => setImmediate(r));
  return !ended;
}

test('the hart saved mid-program restores onto a fresh hart exactly, caches rebuilt', async () => {
  const a = program('priv/sv39.elf');
  a.m.pauseAt(3000);
  const done = a.m.run();
  assert.ok(await paused(a.m, done));
  const saved = clone(a.m.hart.save());
  const b = fresh();
  b.hart.restore(saved);
  assert.deepEqual(b.hart.save(), saved);
  assert.equal(b.hart.instret, 3000);
  a.m.stop({ status: 0, reason: 'stop' });
  a.m.resume();
  await done;
});

test('bad hart state is refused with a BonsaiError and changes nothing', () => {
  const { m } = program('rv64i/alu.elf');
  const before = m.hart.save() as { [k: string]: State };
  const bad: State[] = [
    { ...before, priv: 2 }, { ...before, x: [1, ...(before.x as number[]).slice(1)] }, { ...before, pc: [0] },
    { ...before, mstatus: 1 << 30 }, { ...before, satp: { mode: 5, asid: 0, root: 0 } }, { ...before, resv: 12 },
    { ...before, pmpcfg: [] }, { ...before, instret: -1 }, 'hart', null,
    { ...before, menvcfg: [0x100, 0] }, { ...before, menvcfg: [0, 1 << 29] }, { ...before, senvcfg: 0x102 },
    { ...before, satp: { mode: 11, asid: 0, root: 0 } }, { ...before, mcountinhibit: 1 << 19 },
    { ...before, hpmCounter: [...new Array<number>(62).fill(0), 1, 0] }, { ...before, hpmEvent: [7] },
  ];
  for (const s of bad) {
    assert.throws(() => m.hart.restore(clone(s)), BonsaiError);
    assert.deepEqual(m.hart.save(), before);
  }
});

test('a hart state from before Zihpm (no hpm counters) restores with them at zero; the new fields round-trip', () => {
  const { m } = program('rv64i/alu.elf');
  const s = m.hart.save() as { [k: string]: State };
  const { hpmCounter: _c, hpmEvent: _e, ...rest } = s;
  const old = { ...rest, menvcfg: [0xf0, 0xc0000000 | 0], senvcfg: 0xf1, satp: { mode: 10, asid: 3, root: 0x80100000 } };
  const b = fresh();
  b.hart.restore(clone(old));
  const back = b.hart.save() as { [k: string]: State };
  assert.deepEqual(back.hpmCounter, new Array<number>(64).fill(0));
  assert.deepEqual(back.menvcfg, [0xf0, 0xc0000000 | 0]);
  assert.equal(back.senvcfg, 0xf1);
  assert.deepEqual(back.satp, { mode: 10, asid: 3, root: 0x80100000 });
  assert.equal(b.hart.mmu.pbmte, true, 'PBMTE reaches the MMU on restore');
  const counters = new Array<number>(64).fill(0);
  counters[6] = 5; counters[37] = -1; // mhpmcounter3 = 5, mhpmcounter18's high half
  b.hart.restore(clone({ ...back, hpmCounter: counters }));
  assert.deepEqual((b.hart.save() as { [k: string]: State }).hpmCounter, counters);
});

test('the virtual clock restores to the saved tick count: guest time goes on from there, no jump', async () => {
  const a = new VirtualClock(123_456_789);
  const saved = clone(a.save());
  await new Promise((r) => setTimeout(r, 30));
  const b = new VirtualClock(5);
  b.restore(saved);
  const t = b.now() - (saved as { ticks: number }).ticks;
  assert.ok(t >= 0 && t < 100_000, `restored clock is ${t} ticks past the saved instant`); // < 10 ms
  const p = new VirtualClock(0);
  p.pause();
  p.restore(saved);
  assert.equal(p.now(), (saved as { ticks: number }).ticks); // frozen there while paused
  assert.throws(() => b.restore({ ticks: -1 }), BonsaiError);
});

test('the CLINT keeps mtimecmp and msip, and drives its lines again on restore', () => {
  const a = fresh();
  a.clint.write(0x4000, 4, 1000); a.clint.write(0x4004, 4, 0);
  a.clint.write(0, 4, 1);
  const saved = clone(a.clint.save());
  const b = fresh();
  b.clock.set(2000);
  b.clint.restore(saved);
  assert.deepEqual(b.clint.save(), saved);
  assert.equal(b.clint.read(0x4000, 4), 1000);
  assert.equal(b.hart.mip & (1 << 3), 1 << 3, 'MSIP raised');
  assert.equal(b.hart.mip & (1 << 7), 1 << 7, 'MTIP raised: 2000 >= 1000');
  assert.throws(() => b.clint.restore({ msip: [2], mtimecmp: [[0, 0]] }), BonsaiError);
  assert.throws(() => b.clint.restore({ msip: [0], mtimecmp: [[0]] }), BonsaiError);
  assert.deepEqual(b.clint.save(), saved);
});

/** Runs a program through saves at `points`, each continued on a fresh machine; returns the last run's result. */
async function hopping(name: string, points: number[]): Promise<{ exit: MachineExit; instret: number; out: number[] }> {
  const out: number[] = [];
  let m = program(name, out).m;
  m.pauseAt(points[0] ?? Infinity);
  let done = m.run();
  for (let i = 0; i < points.length; i++) {
    if (!(await paused(m, done))) break;
    const state = clone(m.save());
    const ram = captureRam(m.ramBytes());
    const next = fresh(out);
    next.restore(state, ram);
    m.stop({ status: 0, reason: 'stop' });
    m.resume();
    await done;
    m = next;
    m.pauseAt(points[i + 1] ?? Infinity);
    done = m.run();
  }
  const exit = await done;
  return { exit, instret: m.instructions, out };
}

// Not priv/timer.elf: it polls mtime through the CLINT's registers, and a load from MMIO sees the
// instruction count of the start of the hart's block (only CSR reads of time are exact to the
// instruction), so its run depends on where slices fall, which a restore moves.
for (const name of ['rv64a/lrsc.elf', 'priv/sv39.elf', 'priv/intr-bonsai.elf', 'zicsr/counters.elf',
  'fp/arith.elf', 'priv/pmp.elf', 'priv/counters-bonsai.elf', 'priv/time-bonsai.elf', 'rv64c/rvc.elf',
  'priv/paging-bonsai.elf', 'rv64i/trap.elf', 'priv/sv57.elf', 'ext/zicbo-bonsai.elf', 'ext/zihpm.elf', 'ext/svpbmt-bonsai.elf']) {
  test(`${name} saved at random instants and continued on fresh machines ends as an unsaved run`, async () => {
    const refOut: number[] = [];
    const ref = program(name, refOut).m;
    const refExit = await ref.run(20_000_000);
    assert.equal(refExit.status, 0);
    const total = ref.instructions;
    const rnd = prng(name.length * 7919 + total);
    const points = Array.from({ length: 12 }, () => 1 + Math.floor(rnd() * (total - 1))).sort((x, y) => x - y);
    const r = await hopping(name, [...new Set(points)]);
    assert.deepEqual(r.exit, refExit);
    assert.equal(r.instret, total);
    assert.deepEqual(r.out, refOut);
  });
}

test('a machine is saved only paused or not running', async () => {
  // A program that never ends (every trap refetches from a faulting address): still running when asked.
  const { m } = program('hang/fetch-livelock.elf');
  const done = m.run();
  await new Promise<void>((r) => setImmediate(r));
  assert.throws(() => m.save(), /pause it before saving/);
  m.pause();
  assert.ok(m.save().parts.hart !== undefined);
  m.stop({ status: 0, reason: 'stop' });
  await done;
});

test('a snapshot restores only onto the same configuration: the difference named in one line', () => {
  const { m } = program('rv64i/alu.elf');
  const state = m.save();
  const ram = captureRam(m.ramBytes());
  const other = fresh([], 32 * 1024 * 1024);
  assert.throws(() => other.restore(clone(state), ram), /snapshot: the machine had 64 MiB memory, this one has 32 MiB/);
  const withSlot: MachineState = clone(state);
  withSlot.config.virtio[3] = { kind: 'virtio-blk', identity: 'disk-a', sectors: 8 };
  const target = fresh();
  assert.throws(() => target.restore(withSlot, ram), /snapshot: virtio slot 3 held virtio-blk, this machine's holds nothing/);
});

test('a restore of bad state leaves the machine as it was, RAM included', () => {
  const src = program('rv64i/alu.elf').m;
  const good = src.save();
  const ram = captureRam(src.ramBytes());
  const target = program('priv/sv39.elf').m;
  const before = clone(target.save());
  const beforeRam = Buffer.from(target.ramBytes());
  const bads: MachineState[] = [];
  for (const part of ['hart', 'clock', 'clint', 'plic', 'uart', 'rtc', 'syscon', 'virtio0', 'firmware', 'htif']) {
    const s = clone(good);
    s.parts[part] = part === 'virtio0' || part === 'syscon' || part === 'htif' ? { x: 1 } : { bogus: true };
    bads.push(s);
  }
  const missing = clone(good);
  delete missing.parts.plic;
  bads.push(missing);
  for (const s of bads) {
    assert.throws(() => target.restore(s, ram), (e: unknown) => e instanceof BonsaiError && !e.message.includes('\n'));
    assert.deepEqual(target.save(), before);
    assert.ok(beforeRam.equals(target.ramBytes()), 'RAM unchanged');
  }
  assert.throws(() => target.restore(good, { ...ram, data: ram.data.subarray(4096) }), /RAM image/);
  // And the good one takes.
  target.restore(good, ram);
  assert.deepEqual(target.save().parts, good.parts);
});

test('captureRam keeps only non-zero pages and applyRam brings back exactly that RAM', () => {
  const m = fresh();
  const r = m.ramBytes();
  r[5] = 1; r[4096 * 7 + 4095] = 2; r[r.length - 1] = 3;
  const img = captureRam(r);
  assert.equal(img.data.length, 3 * 4096);
  const n = fresh();
  n.ramBytes()[4096 * 2] = 9; // a page the image has as zero
  applyRam(n.ramBytes(), img);
  assert.ok(Buffer.from(n.ramBytes()).equals(Buffer.from(r)));
});
