/**
 * A process writing through the qcow2 backend dies by SIGKILL. The image must stay consistent (qemu-img check:
 * no corruption; leaked clusters allowed), every write before the last completed flush() must be there, and
 * every other write must show, sector by sector, either its new data or the old.
 *
 * Two ways to die: at a random moment (as in life), and just before the k-th write the backend issues, for
 * every k through several flush cycles (so every step of the write-back order is a crash point).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDisk } from '../../src/storage/backend.js';
import { createImage } from '../../src/storage/image-ops.js';
import { firstDiff, haveQemu, must, QEMU_SKIP, qemuCheck, readAll, Rng, scratch } from './fixtures.js';

const SLOT = 16384;
const FLUSH_EVERY = 4;

/** Write number i: a unique slot of the disk, a random place and length inside it, random bytes. */
function writeNo(seed: number, i: number): { off: number; data: Uint8Array } {
  const rng = new Rng(seed * 65536 + i + 1);
  const sub = rng.below(16) * 512;
  const len = (1 + rng.below(16)) * 512;
  return { off: i * SLOT + sub, data: rng.bytes(len) };
}

// The child: the same write sequence, a flush every FLUSH_EVERY writes, announced only once it completed.
// With killAt > 0 it SIGKILLs itself just before its killAt-th write to the image file. (A kill just before an
// fsync leaves the same file as one just before the next write: the page cache outlives the process.)
const CHILD = `
const [backendUrl, fixturesUrl, file, seedText, writesText, killAtText, zeroText] = process.argv.slice(1);
const { openDisk } = await import(backendUrl);
const { Rng } = await import(fixturesUrl);
const seed = Number(seedText);
const killAt = Number(killAtText);
const d = await openDisk(file, { readOnly: false });
const fh = Reflect.get(d, 'fh');
const zero = Number(zeroText);
let calls = 0;
let counting = zero === 0;
for (const name of ['write', 'writev']) {
  const real = fh[name].bind(fh);
  fh[name] = (...args) => {
    if (counting) calls++;
    if (counting && calls === killAt) process.kill(process.pid, 'SIGKILL');
    return real(...args);
  };
}
for (let i = 0; i < Number(writesText); i++) {
  const rng = new Rng(seed * 65536 + i + 1);
  const sub = rng.below(16) * 512;
  const len = (1 + rng.below(16)) * 512;
  await d.write(i * ${SLOT} + sub, rng.bytes(len));
  if ((i + 1) % ${FLUSH_EVERY} === 0) {
    await d.flush();
    process.stdout.write('flushed ' + (i + 1) + '\\n');
  }
}
if (zero > 0) {
  // Second phase: the first slots go back to zeros, one whole slot at a time (their clusters are freed).
  await d.flush();
  counting = true;
  for (let i = 0; i < zero; i++) {
    await d.writeZeroes(i * ${SLOT}, ${SLOT});
    if ((i + 1) % 2 === 0) {
      await d.flush();
      process.stdout.write('zeroed ' + (i + 1) + '\\n');
    }
  }
}
await d.close();
process.stdout.write('done ' + calls + '\\n');
`;

interface Outcome {
  flushed: number;
  /** Slots zeroed and flushed in the second phase. */
  zeroed: number;
  /** The child finished and closed the image; calls is how many writes it issued. */
  done: boolean;
  calls: number;
}

interface RunOptions {
  seed: number;
  writes: number;
  /** Self-kill before this write (0: never); counted in the second phase when there is one. */
  killAt: number;
  /** A second phase that zeroes this many slots. */
  zero?: number;
  /** Or: SIGKILL from outside once this many writes were flushed, after delayMs. */
  killAfterFlushed?: number;
  delayMs?: number;
}

function runChild(file: string, o: RunOptions): Promise<Outcome> {
  const backendUrl = new URL('../../src/storage/backend.js', import.meta.url).href;
  const fixturesUrl = new URL('./fixtures.js', import.meta.url).href;
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, backendUrl, fixturesUrl, file, String(o.seed), String(o.writes), String(o.killAt), String(o.zero ?? 0)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Outcome = { flushed: 0, zeroed: 0, done: false, calls: 0 };
  let killing = false;
  let stderr = '';
  let pending = '';
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  return new Promise((resolvePromise, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      if (killing) return;
      pending += b.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^(flushed|zeroed|done) (\d+)$/.exec(line);
        if (m?.[1] === 'flushed') out.flushed = Number(m[2]);
        if (m?.[1] === 'zeroed') out.zeroed = Number(m[2]);
        if (m?.[1] === 'done') {
          out.done = true;
          out.calls = Number(m[2]);
        }
      }
      if (o.killAfterFlushed !== undefined && out.flushed >= o.killAfterFlushed && !killing) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), o.delayMs ?? 0);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL' && !out.done) reject(new Error(`child exited with ${code ?? signal}: ${stderr}`));
      else resolvePromise(out);
    });
  });
}

/** A fresh image for one crash: over a raw base of random bytes, or without one. */
async function freshImage(dir: string, name: string, seed: number, size: number, clusterSize: number, backing: boolean): Promise<{ file: string; base: Uint8Array }> {
  const file = join(dir, `${name}.qcow2`);
  if (!backing) {
    await createImage(file, { size, clusterSize });
    return { file, base: new Uint8Array(size) };
  }
  const base = new Rng(seed).bytes(size);
  writeFileSync(join(dir, `${name}.raw`), base);
  await createImage(file, { backing: `${name}.raw`, clusterSize });
  return { file, base };
}

/** Everything a crash may and may not leave behind. */
async function verifyCrash(what: string, file: string, base: Uint8Array, seed: number, writes: number, o: Outcome, compareWithQemu: boolean, zero = 0): Promise<void> {
  const check = qemuCheck(file);
  assert.equal(check.corruptions, 0, `${what}: ${check.raw}`);
  assert.ok(check.status === 0 || check.status === 3, `${what}: qemu-img check status ${check.status} (0 clean, 3 leaks only): ${check.raw}`);
  const d = await openDisk(file, { readOnly: true });
  const got = await readAll(d);
  await d.close();
  for (let i = 0; i < base.length / SLOT; i++) {
    const slot = i * SLOT;
    if (i < zero) {
      // Written and flushed in the first phase, then zeroed: all zeros once flushed, else old or zero by sector.
      const { off, data } = writeNo(seed, i);
      const before = base.slice(slot, slot + SLOT);
      before.set(data, off - slot);
      for (let s = 0; s < SLOT; s += 512) {
        const sector = got.subarray(slot + s, slot + s + 512);
        const isZero = sector.every((b) => b === 0);
        const isOld = firstDiff(sector, before.subarray(s, s + 512)) === -1;
        if (i < o.zeroed || o.done) assert.ok(isZero, `${what}: slot ${i} was zeroed and flushed but is not zero`);
        else assert.ok(isZero || isOld, `${what}: slot ${i} is neither its old data nor zeros`);
      }
      continue;
    }
    if (i >= writes) {
      assert.equal(firstDiff(got.subarray(slot, slot + SLOT), base.subarray(slot, slot + SLOT)), -1, `${what}: slot ${i} was never written but changed`);
      continue;
    }
    const { off, data } = writeNo(seed, i);
    const tail = off + data.length;
    assert.equal(firstDiff(got.subarray(slot, off), base.subarray(slot, off)), -1, `${what}: write ${i}: bytes before it changed`);
    assert.equal(firstDiff(got.subarray(tail, slot + SLOT), base.subarray(tail, slot + SLOT)), -1, `${what}: write ${i}: bytes after it changed`);
    if (i < o.flushed || o.done || zero > 0) {
      assert.equal(firstDiff(got.subarray(off, tail), data), -1, `${what}: write ${i} was flushed but is not (all) there`);
      continue;
    }
    for (let s = 0; s < data.length; s += 512) {
      const sector = got.subarray(off + s, off + s + 512);
      const isNew = firstDiff(sector, data.subarray(s, s + 512)) === -1;
      const isOld = firstDiff(sector, base.subarray(off + s, off + s + 512)) === -1;
      assert.ok(isNew || isOld, `${what}: unflushed write ${i} left a sector that is neither old nor new`);
    }
  }
  if (!compareWithQemu) return;
  // QEMU sees exactly what Bonsai sees.
  const view = `${file}.view.raw`;
  must('qemu-img', ['convert', '-O', 'raw', file, view]);
  const qemu = await openDisk(view, { readOnly: true, format: 'raw' });
  assert.equal(firstDiff(await readAll(qemu), got), -1, `${what}: QEMU reads differently`);
  await qemu.close();
}

const skip = haveQemu ? false : QEMU_SKIP;

test('a writer killed with SIGKILL at random moments leaves a consistent image that holds every flushed write', { skip }, async (t) => {
  const dir = scratch(t);
  const size = 16 << 20;
  const writes = size / SLOT;
  const rounds = [
    { clusterSize: 65536, backing: true, after: 24, delay: 0 },
    { clusterSize: 4096, backing: true, after: 60, delay: 3 },
  ];
  for (const [n, r] of rounds.entries()) {
    const seed = 17 + n;
    const { file, base } = await freshImage(dir, `random${n}`, seed, size, r.clusterSize, r.backing);
    const o = await runChild(file, { seed, writes, killAt: 0, killAfterFlushed: r.after, delayMs: r.delay });
    assert.ok(o.flushed >= r.after, `round ${n}: the child flushed ${o.flushed} writes`);
    await verifyCrash(`random kill ${n}`, file, base, seed, writes, o, true);
  }
});

test('a writer killed just before each of its writes in turn never leaves more than leaks', { skip }, async (t) => {
  const dir = scratch(t);
  const size = 2 << 20;
  const writes = 14; // three flush cycles and two unflushed writes
  // Every point with 4 KiB clusters over a base; every third without a base with 512-byte clusters (more
  // metadata per write: new refcount blocks, a refcount table that moves).
  for (const [clusterSize, backing, stride] of [[4096, true, 1], [512, false, 2]] as const) {
    const seed = clusterSize;
    // A full run counts the writes; then one crash before each of them.
    const probe = await freshImage(dir, `probe${clusterSize}`, seed, size, clusterSize, backing);
    const full = await runChild(probe.file, { seed, writes, killAt: 0 });
    assert.ok(full.done && full.calls > 10, `the workload issues ${full.calls} writes`);
    const points = Array.from({ length: full.calls }, (_, k) => k + 1).filter((k) => k % stride === 0 || k === full.calls);
    for (let i = 0; i < points.length; i += 4) {
      await Promise.all(points.slice(i, i + 4).map(async (killAt) => {
        const { file, base } = await freshImage(dir, `k${clusterSize}-${killAt}`, seed, size, clusterSize, backing);
        const o = await runChild(file, { seed, writes, killAt });
        assert.ok(!o.done, `killed before call ${killAt}`);
        await verifyCrash(`${clusterSize}-byte clusters, killed before call ${killAt}`, file, base, seed, writes, o, false);
      }));
    }
  }
});

test('a writer killed before each write while freeing clusters never leaves a freed cluster referenced', { skip }, async (t) => {
  const dir = scratch(t);
  const size = 1 << 20;
  const writes = 16;
  const zero = 8;
  const seed = 5;
  const probe = await freshImage(dir, 'zprobe', seed, size, 4096, true);
  const full = await runChild(probe.file, { seed, writes, killAt: 0, zero });
  assert.ok(full.done && full.calls > 6, `the second phase issues ${full.calls} writes`);
  const points = Array.from({ length: full.calls }, (_, k) => k + 1);
  for (let i = 0; i < points.length; i += 4) {
    await Promise.all(points.slice(i, i + 4).map(async (killAt) => {
      const { file, base } = await freshImage(dir, `z${killAt}`, seed, size, 4096, true);
      const o = await runChild(file, { seed, writes, killAt, zero });
      assert.ok(!o.done, `killed before call ${killAt}`);
      await verifyCrash(`zeroing, killed before call ${killAt}`, file, base, seed, writes, o, false, zero);
    }));
  }
});
