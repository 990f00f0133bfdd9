import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BonsaiError } from '../../src/errors.js';
import { openDisk } from '../../src/storage/backend.js';
import { createImage, resizeImage } from '../../src/storage/image-ops.js';
import { Qcow2Backend } from '../../src/storage/qcow2.js';
import { exercise, haveQemu, must, qemuCheck, readAll, Rng, scratch, verify } from './fixtures.js';

const MiB = 1 << 20;

for (const clusterSize of [512, 4096, 65536]) {
  test(`random writes, zeroes and discards across ${clusterSize}-byte clusters match a reference buffer, before and after reopening`, async (t) => {
    const dir = scratch(t);
    const file = join(dir, 'disk.qcow2');
    const size = 3 * MiB + 7 * 512; // not a multiple of the cluster size: the last cluster is partial
    await createImage(file, { size, clusterSize });
    const ref = new Uint8Array(size);
    const rng = new Rng(clusterSize);
    let d = await openDisk(file, { readOnly: false });
    assert.equal(d.format, 'qcow2');
    assert.equal(d.size, size);
    await exercise(d, ref, rng, 400, { kind: 'clusters', clusterSize });
    await verify(d, ref, 'before reopening');
    await d.close();
    d = await openDisk(file, { readOnly: false });
    await verify(d, ref, 'after reopening');
    await exercise(d, ref, rng, 200, { kind: 'clusters', clusterSize });
    await d.close();
    d = await openDisk(file, { readOnly: true });
    await verify(d, ref, 'read-only');
    await d.close();
  });
}

test('a disk larger than one refcount table can count grows its refcount table and keeps every byte', async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'big.qcow2');
  // 512-byte clusters: one refcount block counts 256 clusters, the one-cluster table 64 blocks: 8 MiB of file.
  const size = 9 * MiB;
  await createImage(file, { size, clusterSize: 512 });
  const d = await openDisk(file, { readOnly: false });
  const rng = new Rng(7);
  const ref = rng.bytes(size);
  for (let off = 0; off < size; off += MiB) await d.write(off, ref.subarray(off, off + MiB));
  await d.close();
  assert.ok(statSync(file).size > 9 * MiB);
  assert.notEqual(readFileSync(file).readBigUInt64BE(48), 512n, 'the refcount table has moved from cluster 1');
  const r = await openDisk(file, { readOnly: true });
  await verify(r, ref, 'after the refcount table moved');
  await r.close();
});

test('requests issued together without waiting are applied in order', async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'par.qcow2');
  await createImage(file, { size: MiB, clusterSize: 4096 });
  const d = await openDisk(file, { readOnly: false });
  const rng = new Rng(3);
  const ref = new Uint8Array(MiB);
  const pending: Promise<void>[] = [];
  for (let i = 0; i < 200; i++) {
    const off = rng.below(2048 - 16) * 512;
    const data = rng.bytes(512 * (1 + rng.below(16)));
    ref.set(data, off);
    pending.push(d.write(off, data));
    if (i % 7 === 0) pending.push(d.flush());
  }
  await Promise.all(pending);
  await verify(d, ref, 'after parallel writes');
  await d.close();
});

test('an overlay reads its base until written, copies whole clusters on partial writes, and never touches the base', async (t) => {
  const dir = scratch(t);
  const base = join(dir, 'base.raw');
  const size = 2 * MiB;
  const rng = new Rng(11);
  const baseData = rng.bytes(size);
  writeFileSync(base, baseData);
  const overlay = join(dir, 'overlay.qcow2');
  await createImage(overlay, { backing: 'base.raw', clusterSize: 4096 });
  const d = await openDisk(overlay, { readOnly: false });
  assert.equal(d.size, size, 'size taken from the base');
  await verify(d, baseData, 'fresh overlay');
  const ref = baseData.slice();
  // A partial write in the middle of a cluster: the rest of the cluster must still read as the base.
  const data = rng.bytes(1024);
  await d.write(4096 + 1024, data);
  ref.set(data, 4096 + 1024);
  await verify(d, ref, 'after a partial write');
  await exercise(d, ref, rng, 300, { kind: 'clusters', clusterSize: 4096 });
  await d.close();
  assert.deepEqual(new Uint8Array(readFileSync(base)), baseData, 'the base is untouched');
  const r = await openDisk(overlay, { readOnly: true });
  await verify(r, ref, 'after reopening the overlay');
  await r.close();
});

test('a chain of three levels with relative backing names resolves each against its own folder', async (t) => {
  const dir = scratch(t);
  mkdirSync(join(dir, 'a'));
  mkdirSync(join(dir, 'a', 'b'));
  const size = MiB;
  const rng = new Rng(5);
  const l0 = join(dir, 'l0.qcow2');
  const l1 = join(dir, 'a', 'l1.qcow2');
  const l2 = join(dir, 'a', 'b', 'l2.qcow2');
  await createImage(l0, { size, clusterSize: 4096 });
  const ref = new Uint8Array(size);
  let d = await openDisk(l0, { readOnly: false });
  await exercise(d, ref, rng, 150, { kind: 'clusters', clusterSize: 4096 });
  await d.close();
  const snap0 = ref.slice();
  await createImage(l1, { backing: '../l0.qcow2', clusterSize: 65536 });
  d = await openDisk(l1, { readOnly: false });
  await exercise(d, ref, rng, 150, { kind: 'clusters', clusterSize: 65536 });
  await d.close();
  const snap1 = ref.slice();
  // Larger than its base: past the base's end the top reads zeros.
  await createImage(l2, { backing: '../l1.qcow2', size: size + 64 * 1024, clusterSize: 512 });
  const big = new Uint8Array(size + 64 * 1024);
  big.set(ref);
  d = await openDisk(l2, { readOnly: false });
  await verify(d, big, 'three-level chain, fresh top');
  await exercise(d, big, rng, 300, { kind: 'clusters', clusterSize: 512 });
  await verify(d, big, 'three-level chain after writes');
  await d.close();
  // The lower levels still hold what they held.
  const r0 = await openDisk(l0, { readOnly: true });
  await verify(r0, snap0, 'level 0');
  await r0.close();
  const r1 = await openDisk(l1, { readOnly: true });
  await verify(r1, snap1, 'level 1 (through level 0)');
  await r1.close();
});

test('the backing format extension is written and honoured, even when the base looks like qcow2', async (t) => {
  const dir = scratch(t);
  const base = join(dir, 'base.img');
  await createImage(base, { size: MiB, format: 'raw' });
  const overlay = join(dir, 'top.qcow2');
  await createImage(overlay, { backing: 'base.img' });
  const top = await openDisk(overlay, { readOnly: true });
  assert.ok(top instanceof Qcow2Backend);
  assert.equal(top.header.backingFormat, 'raw');
  assert.equal(top.header.backingFile, 'base.img');
  await top.close();
  // Bytes in the raw base that spell a qcow2 header stay data: the extension says raw.
  const fake = new Uint8Array(512);
  fake.set([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]);
  const fh = await import('node:fs/promises').then((m) => m.open(base, 'r+'));
  await fh.write(fake, 0, 512, 0);
  await fh.close();
  const again = await openDisk(overlay, { readOnly: true });
  const first = new Uint8Array(512);
  await again.read(0, first);
  assert.deepEqual(first, fake);
  await again.close();
});

test('writeZeroes and discard free clusters: the file stops growing when space is reused', async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'reuse.qcow2');
  await createImage(file, { size: 4 * MiB, clusterSize: 65536 });
  const rng = new Rng(9);
  const d = await openDisk(file, { readOnly: false });
  await d.write(0, rng.bytes(2 * MiB));
  await d.flush();
  const grown = statSync(file).size;
  await d.discard(0, 2 * MiB);
  await d.flush();
  const zeros = new Uint8Array(2 * MiB);
  const got = new Uint8Array(2 * MiB);
  await d.read(0, got);
  assert.deepEqual(got, zeros);
  await d.write(2 * MiB, rng.bytes(2 * MiB));
  await d.writeZeroes(2 * MiB, MiB);
  await d.close();
  assert.ok(statSync(file).size <= grown + 65536, `file grew from ${grown} to ${statSync(file).size} although freed clusters were free`);
});

test('version 2 images are read and written; whole-cluster zeroes over a base are written as data', async (t) => {
  const dir = scratch(t);
  const base = join(dir, 'base.qcow2');
  await createImage(base, { size: MiB, clusterSize: 4096 });
  const rng = new Rng(21);
  const ref = rng.bytes(MiB);
  const b = await openDisk(base, { readOnly: false });
  await b.write(0, ref);
  await b.close();
  // Make a version 2 overlay by hand: version field 2, header length 72 (the v3 fields become padding).
  const top = join(dir, 'v2.qcow2');
  await createImage(top, { backing: 'base.qcow2', clusterSize: 4096 });
  const bytes = readFileSync(top);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  v.setUint32(4, 2);
  // A v2 header has no extensions area of its own at 104: move the end marker to 72.
  bytes.fill(0, 72, 104);
  writeFileSync(top, bytes);
  const d = await openDisk(top, { readOnly: false });
  assert.ok(d instanceof Qcow2Backend);
  assert.equal(d.header.version, 2);
  await verify(d, ref, 'v2 overlay');
  await d.writeZeroes(8192, 8192);
  ref.fill(0, 8192, 16384);
  await exercise(d, ref, rng, 200, { kind: 'keep' });
  await d.close();
  const r = await openDisk(top, { readOnly: true });
  await verify(r, ref, 'v2 overlay reopened');
  await r.close();
});

test('growing an image keeps its data and makes the new space usable, also past the first L1 cluster', async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'grow.qcow2');
  // 512-byte clusters: one L2 table maps 32 KiB, one L1 cluster 2 MiB; growing to 6 MiB moves the L1 table.
  await createImage(file, { size: MiB, clusterSize: 512 });
  const rng = new Rng(4);
  const ref = new Uint8Array(6 * MiB);
  let d = await openDisk(file, { readOnly: false });
  const first = rng.bytes(MiB);
  await d.write(0, first);
  ref.set(first);
  await d.close();
  await resizeImage(file, 6 * MiB);
  d = await openDisk(file, { readOnly: false });
  assert.equal(d.size, 6 * MiB);
  await verify(d, ref, 'after growing');
  await exercise(d, ref, rng, 200, { kind: 'clusters', clusterSize: 512 });
  await d.close();
  d = await openDisk(file, { readOnly: true });
  await verify(d, ref, 'grown and reopened');
  await d.close();
  await assert.rejects(resizeImage(file, MiB), (e: unknown) => e instanceof BonsaiError && /shrinking a qcow2 image/.test(e.message));
});

test('a read-only disk refuses writes and leaves its file alone', async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'ro.qcow2');
  await createImage(file, { size: MiB });
  const before = readFileSync(file);
  const d = await openDisk(file, { readOnly: true });
  await assert.rejects(d.write(0, new Uint8Array(512)), BonsaiError);
  await assert.rejects(d.discard(0, 512), BonsaiError);
  await d.flush();
  await d.close();
  assert.deepEqual(readFileSync(file), before);
  const again = await openDisk(file, { readOnly: true });
  assert.deepEqual(await readAll(again), new Uint8Array(MiB));
  await again.close();
});

test('host offsets past 4 GiB are written and read correctly (the high halves of table entries)', async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'high.qcow2');
  const c = 65536;
  await createImage(file, { size: 16 * MiB, clusterSize: c });
  // Mark the first 4 GiB of the file as used, with a second refcount block in cluster 4, and make the file
  // that long (sparse): every new cluster must then land above 4 GiB.
  const img = readFileSync(file);
  const blocks = Buffer.alloc(5 * c);
  img.copy(blocks, 0, 0, 4 * c);
  blocks.writeBigUInt64BE(BigInt(4 * c), c + 8);
  for (let i = 0; i < 32768; i++) {
    blocks.writeUInt16BE(1, 2 * c + 2 * i);
    blocks.writeUInt16BE(1, 4 * c + 2 * i);
  }
  writeFileSync(file, blocks);
  const { truncateSync } = await import('node:fs');
  truncateSync(file, 4 * 1024 * MiB);
  const rng = new Rng(44);
  const ref = new Uint8Array(16 * MiB);
  let d = await openDisk(file, { readOnly: false });
  await exercise(d, ref, rng, 200, { kind: 'clusters', clusterSize: c });
  await d.close();
  assert.ok(statSync(file).size > 4 * 1024 * MiB);
  d = await openDisk(file, { readOnly: true });
  await verify(d, ref, 'above 4 GiB');
  await d.close();
  if (haveQemu) {
    const check = qemuCheck(file);
    assert.equal(check.corruptions, 0, check.raw); // the clusters marked used by hand are leaks, nothing worse
    const view = join(dir, 'view.raw');
    must('qemu-img', ['convert', '-O', 'raw', file, view]);
    assert.deepEqual(new Uint8Array(readFileSync(view)), ref);
  }
});

test('a data write that fails (no space, I/O error) leaves the old contents mapped and the image consistent', async (t) => {
  const dir = scratch(t);
  const base = join(dir, 'base.raw');
  const rng = new Rng(31);
  const baseData = rng.bytes(MiB);
  writeFileSync(base, baseData);
  const file = join(dir, 'top.qcow2');
  await createImage(file, { backing: 'base.raw', clusterSize: 4096 });
  const d = await openDisk(file, { readOnly: false });
  const ref = baseData.slice();
  const first = rng.bytes(8192);
  await d.write(0, first);
  ref.set(first);
  // Make the image file's data writes fail from now on, as a full disk would.
  const fh = Reflect.get(d, 'fh') as { write: unknown; writev: unknown };
  const realWrite = fh.write;
  const realWritev = fh.writev;
  const enospc = (): Promise<never> => Promise.reject(Object.assign(new Error('no space'), { code: 'ENOSPC' }));
  fh.write = enospc;
  fh.writev = enospc;
  await assert.rejects(d.write(4096 + 512, rng.bytes(3 * 4096)), (e: unknown) => e instanceof BonsaiError && /no space left/.test(e.message));
  fh.write = realWrite;
  fh.writev = realWritev;
  await verify(d, ref, 'after the failed write');
  await exercise(d, ref, rng, 100, { kind: 'clusters', clusterSize: 4096 });
  await d.close();
  const r = await openDisk(file, { readOnly: true });
  await verify(r, ref, 'reopened');
  await r.close();
  if (haveQemu) assert.equal(qemuCheck(file).corruptions, 0);
});

test('a backing chain that loops back on itself is refused, both when opening and by image info', async (t) => {
  const dir = scratch(t);
  const a = join(dir, 'a.qcow2');
  const b = join(dir, 'b.qcow2');
  const c = join(dir, 'c.qcow2');
  await createImage(b, { size: MiB });
  await createImage(a, { backing: 'b.qcow2' });
  await createImage(c, { backing: 'a.qcow2' });
  const { renameSync } = await import('node:fs');
  renameSync(c, b); // now b -> a -> b
  await assert.rejects(openDisk(a, { readOnly: true }), (e: unknown) => e instanceof BonsaiError && /backing chain loops back/.test(e.message) && !e.message.includes('\n'));
  const { imageInfo } = await import('../../src/storage/image-ops.js');
  const info = await imageInfo(a);
  const next = info.backing;
  assert.ok(next !== undefined && !('error' in next));
  assert.ok(next.backing !== undefined && 'error' in next.backing && /loops back/.test(next.backing.error));
});
