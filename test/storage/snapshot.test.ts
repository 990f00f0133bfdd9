/**
 * qcow2 internal snapshots: Bonsai's against QEMU's tools and QEMU's against Bonsai, a randomized run against
 * an in-memory model, and the formats' corners (backing files, compressed clusters, version 2, resizing).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BonsaiError } from '../../src/errors.js';
import { openDisk } from '../../src/storage/backend.js';
import { changeImageSnapshot, createImage, listImageSnapshots } from '../../src/storage/image-ops.js';
import { Qcow2Backend } from '../../src/storage/qcow2.js';
import { extent, firstDiff, haveQemu, must, QEMU_SKIP, qemuCheck, qemuRead, readAll, Rng, run, scratch } from './fixtures.js';

const MiB = 1 << 20;
const skip = haveQemu ? false : QEMU_SKIP;

async function openQcow2(file: string): Promise<Qcow2Backend> {
  const d = await openDisk(file, { readOnly: false });
  assert.ok(d instanceof Qcow2Backend);
  return d;
}

function assertClean(file: string, what: string): void {
  const c = qemuCheck(file);
  assert.equal(c.corruptions, 0, `${what}: ${c.raw}`);
  assert.equal(c.leaks, 0, `${what}: ${c.raw}`);
  assert.equal(c.status, 0, `${what}: ${c.raw}`);
}

/** A snapshot's content as QEMU reads it, without changing the image. */
const qemuSnapshot = (dir: string, file: string, name: string): Uint8Array => qemuRead(dir, file, name);
const qemuActive = (dir: string, file: string): Uint8Array => qemuRead(dir, file);

/** `qemu-img snapshot -l`: [id, name, date, vm clock] per line. */
function qemuList(file: string): string[][] {
  const out = must('qemu-img', ['snapshot', '-U', '-l', file]);
  return out.split('\n').slice(2).filter((l) => l.trim() !== '').map((l) => l.trim().split(/\s+/)).map((f) => [f[0], f[1], `${f[4]} ${f[5]}`, f[6]]);
}

function assertSame(got: Uint8Array, want: Uint8Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const d = firstDiff(got, want);
  assert.equal(d, -1, `${what}: differs at ${d}`);
}

async function writeModel(d: Qcow2Backend, model: Uint8Array, off: number, data: Uint8Array): Promise<void> {
  await d.write(off, data);
  model.set(data, off);
}

test('Bonsai-made snapshots are listed by qemu-img with name, date and VM clock, and each holds its content', { skip }, async (t) => {
  const dir = scratch(t);
  for (const clusterSize of [512, 65536]) {
    const file = join(dir, `b${clusterSize}.qcow2`);
    const size = 4 * MiB;
    await createImage(file, { size, clusterSize });
    const rng = new Rng(clusterSize);
    const active = new Uint8Array(size);
    const held = new Map<string, Uint8Array>();
    let d = await openQcow2(file);
    await writeModel(d, active, 0, rng.bytes(2 * MiB));
    const date = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678));
    const s1 = await d.createSnapshot({ name: 'one', vmClockNs: 3723_456_000_000, date });
    assert.deepEqual(s1, { id: '1', name: 'one', vmStateSize: 0, date, vmClockNs: 3723_456_000_000, diskSize: size });
    held.set('one', active.slice());
    await writeModel(d, active, 512 * 7, rng.bytes(512 * 3));
    await writeModel(d, active, MiB + 4096, rng.bytes(65536 + 512));
    await d.discard(0, 65536);
    active.fill(0, 0, 65536);
    await d.createSnapshot({ name: 'two', vmClockNs: 5e9 });
    held.set('two', active.slice());
    await writeModel(d, active, 3 * MiB, rng.bytes(MiB));
    await d.createSnapshot({ name: 'three' });
    held.set('three', active.slice());
    await writeModel(d, active, 100 * 512, rng.bytes(200 * 512));
    await d.close();
    assertClean(file, 'after three creates and writes');
    const list = qemuList(file);
    assert.deepEqual(list.map((r) => [r[0], r[1], r[3]]), [['1', 'one', '01:02:03.456'], ['2', 'two', '00:00:05.000'], ['3', 'three', '00:00:00.000']]);
    const local = `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}-${String(date.getDate()).padStart(2, '0')} ${String(date.getHours()).padStart(2, '0')}:04:05`;
    assert.equal(list[0][2], local);
    for (const [name, want] of held) assertSame(qemuSnapshot(dir, file, name), want, `QEMU reads snapshot ${name}`);
    assertSame(qemuActive(dir, file), active, 'QEMU reads the active disk');

    // Delete the middle one (its clusters are shared both ways), then revert in several orders.
    d = await openQcow2(file);
    await d.deleteSnapshot('two');
    held.delete('two');
    await d.close();
    assertClean(file, 'after deleting the middle snapshot');
    for (const [name, want] of held) assertSame(qemuSnapshot(dir, file, name), want, `snapshot ${name} after the delete`);
    for (const name of ['one', 'three', 'one']) {
      d = await openQcow2(file);
      await d.revertToSnapshot(name);
      assertSame(await readAll(d), held.get(name)!, `Bonsai reads ${name} after reverting to it`);
      // A write after the revert must not reach the snapshot.
      await d.write(512, new Uint8Array(1024).fill(0xee));
      await d.close();
      assertClean(file, `after reverting to ${name} and writing`);
      assertSame(qemuSnapshot(dir, file, name), held.get(name)!, `snapshot ${name} kept after a write over it`);
    }
    d = await openQcow2(file);
    await d.deleteSnapshot('1');
    await d.deleteSnapshot('three');
    assert.deepEqual(await d.listSnapshots(), []);
    await d.close();
    assertClean(file, 'after deleting every snapshot');
    assert.equal(run('qemu-img', ['snapshot', '-l', file]).stdout.trim(), '');
  }
});

test('snapshot names and IDs are unique, unknown ones are refused with one line, and a raw disk has none', async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'n.qcow2');
  await createImage(file, { size: MiB, clusterSize: 4096 });
  const d = await openQcow2(file);
  await d.createSnapshot({ name: 'a' });
  await d.createSnapshot({ name: 'b', id: '7' });
  assert.equal((await d.createSnapshot({ name: 'c' })).id, '8');
  await assert.rejects(d.createSnapshot({ name: 'a' }), (e: Error) => e instanceof BonsaiError && /already a snapshot 'a'.*name must be new/.test(e.message));
  await assert.rejects(d.createSnapshot({ name: 'x', id: '7' }), (e: Error) => e instanceof BonsaiError && /ID must be new/.test(e.message));
  await assert.rejects(d.createSnapshot({ name: '' }), BonsaiError);
  await assert.rejects(d.revertToSnapshot('zz'), (e: Error) => e instanceof BonsaiError && /no snapshot with the name or ID 'zz'/.test(e.message) && !e.message.includes('\n'));
  await assert.rejects(d.deleteSnapshot('zz'), BonsaiError);
  await d.deleteSnapshot('7'); // by ID
  assert.deepEqual((await d.listSnapshots()).map((s) => s.name), ['a', 'c']);
  await d.close();
  const ro = await openDisk(file, { readOnly: true });
  assert.ok(ro instanceof Qcow2Backend);
  assert.equal((await ro.listSnapshots()).length, 2);
  await assert.rejects(ro.createSnapshot({ name: 'z' }), /read-only/);
  await ro.close();
  await changeImageSnapshot(file, { action: 'create', name: 'cli' });
  assert.deepEqual((await listImageSnapshots(file)).map((s) => [s.id, s.name]), [['1', 'a'], ['8', 'c'], ['9', 'cli']]);
  const raw = join(dir, 'r.raw');
  await createImage(raw, { format: 'raw', size: MiB });
  await assert.rejects(changeImageSnapshot(raw, { action: 'create', name: 'x' }), /r\.raw: is a raw image, which has no internal snapshots \(convert it/);
});

test('QEMU-made snapshots open in Bonsai, revert correctly, and Bonsai writes over shared clusters keep every snapshot intact', { skip }, async (t) => {
  const dir = scratch(t);
  for (const clusterSize of [4096, 65536]) {
    const file = join(dir, `q${clusterSize}.qcow2`);
    must('qemu-img', ['create', '-f', 'qcow2', '-o', `cluster_size=${clusterSize}`, file, '4M']);
    must('qemu-io', ['-c', 'write -P 0x11 0 2M', '-c', 'write -c -P 0x22 2M 128k', file]);
    must('qemu-img', ['snapshot', '-c', 'q1', file]);
    must('qemu-io', ['-c', 'write -P 0x33 64k 64k', '-c', 'write -z 1M 64k', file]);
    must('qemu-img', ['snapshot', '-c', 'q2', file]);
    must('qemu-io', ['-c', 'write -P 0x44 0 4k', file]);
    const want = new Map<string, Uint8Array>();
    for (const name of ['q1', 'q2']) want.set(name, qemuSnapshot(dir, file, name));
    let active = qemuActive(dir, file);

    let d = await openQcow2(file);
    assert.deepEqual((await d.listSnapshots()).map((s) => [s.id, s.name, s.diskSize]), [['1', 'q1', 4 * MiB], ['2', 'q2', 4 * MiB]]);
    assertSame(await readAll(d), active, 'Bonsai reads the active disk');
    // Writes over clusters (and L2 tables) every snapshot shares, a compressed one among them.
    const rng = new Rng(clusterSize + 5);
    for (let i = 0; i < 40; i++) {
      const [off, len] = extent(rng, 4 * MiB, 64);
      const data = rng.bytes(len);
      await d.write(off, data);
      active.set(data, off);
    }
    await d.write(2 * MiB + 4096, new Uint8Array(512).fill(0x55));
    active.fill(0x55, 2 * MiB + 4096, 2 * MiB + 4096 + 512);
    await d.close();
    assertClean(file, 'after Bonsai wrote over shared clusters');
    for (const [name, bytes] of want) assertSame(qemuSnapshot(dir, file, name), bytes, `QEMU's snapshot ${name} after Bonsai's writes`);
    assertSame(qemuActive(dir, file), active, 'QEMU reads what Bonsai wrote');

    d = await openQcow2(file);
    await d.revertToSnapshot('q1');
    assertSame(await readAll(d), want.get('q1')!, 'Bonsai reverted to QEMU\'s q1');
    await d.write(0, new Uint8Array(8192).fill(0x66));
    await d.close();
    assertClean(file, 'after revert to q1 and a write');
    // QEMU applies the other snapshot to what Bonsai left.
    must('qemu-img', ['snapshot', '-a', 'q2', file]);
    active = qemuActive(dir, file);
    assertSame(active, want.get('q2')!, 'qemu-img snapshot -a q2');
    assertSame(qemuSnapshot(dir, file, 'q1'), want.get('q1')!, 'q1 intact');
    d = await openQcow2(file);
    await d.deleteSnapshot('q1');
    await d.createSnapshot({ name: 'b3' });
    await d.write(3 * MiB, new Uint8Array(MiB).fill(0x77));
    await d.close();
    assertClean(file, 'after Bonsai deleted q1 and made b3');
    must('qemu-img', ['snapshot', '-d', 'q2', file]);
    assertClean(file, 'after QEMU deleted q2');
    assertSame(qemuSnapshot(dir, file, 'b3'), want.get('q2')!, 'b3 as QEMU reads it');
  }
});

test('snapshots of an overlay, of compressed clusters and of a version 2 image stay right', { skip }, async (t) => {
  const dir = scratch(t);
  const size = 2 * MiB;
  const base = new Rng(9).bytes(size);
  writeFileSync(join(dir, 'base.raw'), base);
  const cases: [string, () => void][] = [
    ['overlay', () => must('qemu-img', ['create', '-f', 'qcow2', '-o', 'cluster_size=4096', '-F', 'raw', '-b', 'base.raw', join(dir, 'overlay.qcow2')])],
    ['compressed', () => must('qemu-img', ['convert', '-c', '-O', 'qcow2', '-o', 'cluster_size=4096', join(dir, 'base.raw'), join(dir, 'compressed.qcow2')])],
    ['v2', () => must('qemu-img', ['convert', '-O', 'qcow2', '-o', 'compat=0.10,cluster_size=4096', join(dir, 'base.raw'), join(dir, 'v2.qcow2')])],
  ];
  for (const [name, make] of cases) {
    make();
    const file = join(dir, `${name}.qcow2`);
    const active = base.slice();
    const held = new Map<string, Uint8Array>();
    const d = await openQcow2(file);
    assertSame(await readAll(d), active, `${name}: reads the base`);
    await d.createSnapshot({ name: 's0' });
    held.set('s0', active.slice());
    const rng = new Rng(name.length);
    for (let round = 1; round <= 3; round++) {
      for (let i = 0; i < 20; i++) {
        const [off, len] = extent(rng, size, 24);
        const data = rng.bytes(len);
        await d.write(off, data);
        active.set(data, off);
      }
      await d.createSnapshot({ name: `s${round}` });
      held.set(`s${round}`, active.slice());
    }
    await d.deleteSnapshot('s1');
    held.delete('s1');
    await d.revertToSnapshot('s0');
    assertSame(await readAll(d), held.get('s0')!, `${name}: s0 after the revert`);
    await d.write(0, new Uint8Array(4096).fill(1));
    await d.close();
    assertClean(file, name);
    for (const [s, want] of held) assertSame(qemuSnapshot(dir, file, s), want, `${name}: QEMU reads ${s}`);
  }
});

test('reverting to a snapshot of another disk size resizes the disk, as QEMU does', { skip }, async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'r.qcow2');
  await createImage(file, { size: MiB, clusterSize: 512 });
  let d = await openQcow2(file);
  const small = new Rng(3).bytes(MiB);
  await d.write(0, small);
  await d.createSnapshot({ name: 'small' });
  await d.grow(3 * MiB);
  const big = new Uint8Array(3 * MiB);
  big.set(small);
  big.set(new Rng(4).bytes(MiB), 2 * MiB);
  await d.write(2 * MiB, big.subarray(2 * MiB));
  await d.createSnapshot({ name: 'big' });
  assert.equal((await d.listSnapshots())[1].diskSize, 3 * MiB);
  await d.revertToSnapshot('small');
  assert.equal(d.size, MiB);
  assertSame(await readAll(d), small, 'the small disk');
  await d.close();
  assertClean(file, 'after shrinking by revert');
  assert.match(must('qemu-img', ['info', file]), /virtual size: 1 MiB/);
  d = await openQcow2(file);
  await d.revertToSnapshot('big');
  assert.equal(d.size, 3 * MiB);
  assertSame(await readAll(d), big, 'the big disk');
  await d.close();
  assertClean(file, 'after growing by revert');
});

test('random writes, creates, reverts and deletes agree with an in-memory model, and qemu-img check stays clean', { skip }, async (t) => {
  const dir = scratch(t);
  for (const [seed, clusterSize] of [[1, 512], [2, 4096], [3, 65536]] as const) {
    const file = join(dir, `m${seed}.qcow2`);
    const size = 2 * MiB;
    await createImage(file, { size, clusterSize });
    const rng = new Rng(seed * 7919);
    let active = new Uint8Array(size);
    const held = new Map<string, Uint8Array>();
    let next = 0;
    let d = await openQcow2(file);
    for (let op = 0; op < 400; op++) {
      const r = rng.below(100);
      const names = [...held.keys()];
      if (r < 60) {
        const [off, len] = extent(rng, size, 40);
        if (rng.below(8) === 0) {
          await d.writeZeroes(off, len);
          active.fill(0, off, off + len);
        } else {
          const data = rng.bytes(len);
          await d.write(off, data);
          active.set(data, off);
        }
      } else if (r < 72 && held.size < 8) {
        const name = `m${next++}`;
        await d.createSnapshot({ name });
        held.set(name, active.slice());
      } else if (r < 82 && names.length > 0) {
        const name = names[rng.below(names.length)];
        await d.revertToSnapshot(name);
        active = held.get(name)!.slice();
      } else if (r < 92 && names.length > 0) {
        const name = names[rng.below(names.length)];
        await d.deleteSnapshot(name);
        held.delete(name);
      } else if (r < 96) {
        await d.close();
        assertClean(file, `seed ${seed} op ${op}`);
        d = await openQcow2(file); // the open check (qcow2-check.ts) runs too
      } else {
        const [off, len] = extent(rng, size, 64);
        const got = new Uint8Array(len);
        await d.read(off, got);
        assert.equal(firstDiff(got, active.subarray(off, off + len)), -1, `seed ${seed} op ${op}: read`);
      }
    }
    assertSame(await readAll(d), active, `seed ${seed}: the active disk`);
    await d.close();
    assertClean(file, `seed ${seed}: at the end`);
    assert.deepEqual(qemuList(file).map((l) => l[1]), [...held.keys()]);
    for (const [name, want] of held) assertSame(qemuSnapshot(dir, file, name), want, `seed ${seed}: snapshot ${name}`);
  }
});
