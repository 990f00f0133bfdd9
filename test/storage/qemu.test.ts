/** Bonsai's images against QEMU's own tools: each side reads what the other wrote, and qemu-img check is content. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openDisk } from '../../src/storage/backend.js';
import { convertImage, createImage, imageInfo, resizeImage } from '../../src/storage/image-ops.js';
import { exercise, haveQemu, must, QEMU_SKIP, qemuCheck, qemuRead, readAll, Rng, run, scratch, verify } from './fixtures.js';

const MiB = 1 << 20;
const skip = haveQemu ? false : QEMU_SKIP;

function assertClean(file: string): void {
  const c = qemuCheck(file);
  assert.equal(c.status, 0, `qemu-img check ${file}: ${c.raw}`);
  assert.equal(c.corruptions, 0, c.raw);
  assert.equal(c.leaks, 0, c.raw);
}

test('images Bonsai writes pass qemu-img check without errors or leaks, and QEMU reads the same bytes', { skip }, async (t) => {
  const dir = scratch(t);
  for (const clusterSize of [512, 65536]) {
    const file = join(dir, `b${clusterSize}.qcow2`);
    const size = 3 * MiB;
    await createImage(file, { size, clusterSize });
    assertClean(file);
    const ref = new Uint8Array(size);
    const d = await openDisk(file, { readOnly: false });
    await exercise(d, ref, new Rng(clusterSize + 1), 500, { kind: 'clusters', clusterSize });
    await d.close();
    assertClean(file);
    assert.deepEqual(qemuRead(dir, file), ref, `QEMU sees what Bonsai wrote (${clusterSize}-byte clusters)`);
  }
});

test('a refcount table that had to move, a grown image and an overlay chain all pass qemu-img check', { skip }, async (t) => {
  const dir = scratch(t);
  const big = join(dir, 'big.qcow2');
  await createImage(big, { size: 9 * MiB, clusterSize: 512 });
  const rng = new Rng(77);
  const ref = rng.bytes(9 * MiB);
  let d = await openDisk(big, { readOnly: false });
  await d.write(0, ref);
  await d.discard(MiB, MiB);
  ref.fill(0, MiB, 2 * MiB);
  await d.close();
  assertClean(big);
  await resizeImage(big, 12 * MiB);
  assertClean(big);
  const grown = new Uint8Array(12 * MiB);
  grown.set(ref);
  d = await openDisk(big, { readOnly: false });
  await exercise(d, grown, rng, 200, { kind: 'clusters', clusterSize: 512 });
  await d.close();
  assertClean(big);
  assert.deepEqual(qemuRead(dir, big), grown);

  const top = join(dir, 'top.qcow2');
  await createImage(top, { backing: 'big.qcow2', clusterSize: 4096 });
  d = await openDisk(top, { readOnly: false });
  await exercise(d, grown, rng, 300, { kind: 'clusters', clusterSize: 4096 });
  await d.close();
  assertClean(top);
  assert.deepEqual(qemuRead(dir, top), grown);
});

test('new images of every shape pass qemu-img check: empty, tiny clusters with a big L1 table, 2 MiB clusters', { skip }, async (t) => {
  const dir = scratch(t);
  for (const [size, clusterSize] of [[2 ** 30, 512], [64 * 2 ** 30, 512], [2 ** 40, 2 ** 21], [512, 65536]]) {
    const file = join(dir, `shape-${size}-${clusterSize}.qcow2`);
    await createImage(file, { size, clusterSize });
    assertClean(file);
    const d = await openDisk(file, { readOnly: false });
    await d.write(size - 512, new Uint8Array(512).fill(1));
    await d.close();
    assertClean(file);
  }
});

test('an empty (0-byte) image is clean, grows, and takes data', { skip }, async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'empty.qcow2');
  await createImage(file, { size: 0 });
  assertClean(file);
  await resizeImage(file, MiB);
  assertClean(file);
  const d = await openDisk(file, { readOnly: false });
  await d.write(MiB - 4096, new Uint8Array(4096).fill(0x5c));
  await d.close();
  assertClean(file);
  must('qemu-io', ['-c', 'read -P 0 0 1020k', '-c', 'read -P 0x5c 1020k 4k', file]);
});

test('data qemu-io wrote reads correctly in Bonsai, and Bonsai\'s changes read correctly in qemu-io', { skip }, async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'q.qcow2');
  must('qemu-img', ['create', '-q', '-f', 'qcow2', file, '4M']);
  // Data, a zero cluster without a host cluster, and a preallocated zero cluster (zero flag plus an offset).
  must('qemu-io', ['-c', 'write -P 0xab 0 1M', '-c', 'write -P 0xcd 1572864 4k', '-c', 'write -z 3M 64k',
    '-c', 'write -P 0x33 2560k 128k', '-c', 'write -z 2560k 64k', file]);
  const d = await openDisk(file, { readOnly: false });
  const got = await readAll(d);
  const want = new Uint8Array(4 * MiB);
  want.fill(0xab, 0, MiB);
  want.fill(0xcd, 1572864, 1572864 + 4096);
  want.fill(0x33, 2624 * 1024, 2688 * 1024);
  assert.deepEqual(got, want);
  // Part of a cluster over QEMU's data, into an unallocated cluster, and into the preallocated zero cluster.
  await d.write(32768, new Uint8Array(4096).fill(0x11));
  await d.write(2 * MiB + 512, new Uint8Array(1024).fill(0x22));
  await d.write(2568 * 1024, new Uint8Array(4096).fill(0x44));
  await d.close();
  assertClean(file);
  must('qemu-io', ['-c', 'read -P 0xab 0 32k', '-c', 'read -P 0x11 32k 4k', '-c', 'read -P 0xab 36k 988k',
    '-c', 'read -P 0 2M 512', '-c', 'read -P 0x22 2097664 1k', '-c', 'read -P 0 2098688 1024',
    '-c', 'read -P 0 2560k 8k', '-c', 'read -P 0x44 2568k 4k', '-c', 'read -P 0 2572k 52k', '-c', 'read -P 0x33 2624k 64k', file]);
  const r = run('qemu-io', ['-c', 'read -P 0xab 32k 4k', file]);
  assert.match(r.stdout + r.stderr, /Pattern verification failed/, 'qemu-io notices a wrong pattern (so the reads above did check)');
});

test('a compressed image from qemu-img convert -c reads correctly, and writing over compressed clusters frees them', { skip }, async (t) => {
  const dir = scratch(t);
  const src = join(dir, 'src.raw');
  const size = 4 * MiB;
  const data = new Uint8Array(size);
  const rng = new Rng(99);
  // Compressible but not trivial: runs of random bytes and text.
  for (let off = 0; off < size; off += 4096) {
    if (rng.below(4) === 0) continue;
    const text = new TextEncoder().encode(`block ${off} `.repeat(300));
    data.set(text.subarray(0, 4096 - 64), off);
    data.set(rng.bytes(64), off + 4096 - 64);
  }
  writeFileSync(src, data);
  const comp = join(dir, 'comp.qcow2');
  must('qemu-img', ['convert', '-c', '-O', 'qcow2', src, comp]);
  const info = JSON.parse(must('qemu-img', ['check', '--output=json', comp])) as { 'compressed-clusters'?: number };
  assert.ok((info['compressed-clusters'] ?? 0) > 10, 'qemu-img really compressed clusters');
  const d = await openDisk(comp, { readOnly: false });
  await verify(d, data, 'compressed image');
  const ref = data.slice();
  await exercise(d, ref, rng, 200, { kind: 'clusters', clusterSize: 65536 });
  await d.close();
  assertClean(comp);
  assert.deepEqual(qemuRead(dir, comp), ref);
});

test('version 2 (compat=0.10) images and a three-level chain that qemu-img made read and write correctly', { skip }, async (t) => {
  const dir = scratch(t);
  mkdirSync(join(dir, 'sub'));
  const base = join(dir, 'base.qcow2');
  const mid = join(dir, 'sub', 'mid.qcow2');
  const top = join(dir, 'sub', 'top.qcow2');
  must('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'compat=0.10,cluster_size=4096', base, '2M']);
  must('qemu-io', ['-c', 'write -P 0x01 0 1M', base]);
  must('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', '../base.qcow2', '-F', 'qcow2', mid]);
  must('qemu-io', ['-c', 'write -P 0x02 512k 1M', mid]);
  must('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'compat=0.10', '-b', 'mid.qcow2', '-F', 'qcow2', top]);
  must('qemu-io', ['-c', 'write -P 0x03 1M 4k', top]);
  const want = new Uint8Array(2 * MiB);
  want.fill(0x01, 0, 512 * 1024);
  want.fill(0x02, 512 * 1024, 1536 * 1024);
  want.fill(0x03, MiB, MiB + 4096);
  const d = await openDisk(top, { readOnly: false });
  await verify(d, want, 'qemu-made chain');
  await exercise(d, want, new Rng(12), 200, { kind: 'keep' });
  await d.close();
  assertClean(top);
  assertClean(base);
  assert.deepEqual(qemuRead(dir, top), want);
});

test('qemu-img info agrees with bonsai image info on sizes and the backing chain', { skip }, async (t) => {
  const dir = scratch(t);
  const base = join(dir, 'base.raw');
  const top = join(dir, 'top.qcow2');
  await createImage(base, { size: 3 * MiB, format: 'raw' });
  await createImage(top, { backing: 'base.raw', clusterSize: 4096 });
  const d = await openDisk(top, { readOnly: false });
  await d.write(MiB, new Uint8Array(200 * 1024).fill(5));
  await d.close();
  for (const file of [top, base]) {
    const q = JSON.parse(must('qemu-img', ['info', '--output=json', file])) as Record<string, string | number>;
    const b = await imageInfo(file);
    assert.equal(b.format, q.format);
    assert.equal(b.virtualSize, q['virtual-size']);
    assert.equal(b.diskSize, q['actual-size']);
    if (q['cluster-size'] !== undefined && b.qcow2 !== undefined) assert.equal(b.qcow2.clusterSize, q['cluster-size']);
    assert.equal(b.backingFile, q['backing-filename']);
    if (q['full-backing-filename'] !== undefined) assert.equal(b.backingPath, resolve(String(q['full-backing-filename'])));
    assert.equal(b.backingFormat, q['backing-filename-format']);
  }
  const chain = await imageInfo(top);
  assert.ok(chain.backing !== undefined && !('error' in chain.backing));
  assert.equal(chain.backing.path, resolve(base));
  // And for images QEMU made.
  const qtop = join(dir, 'qtop.qcow2');
  must('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'top.qcow2', '-F', 'qcow2', qtop, '5M']);
  const q = JSON.parse(must('qemu-img', ['info', '--output=json', qtop])) as Record<string, string | number>;
  const b = await imageInfo(qtop);
  assert.equal(b.virtualSize, q['virtual-size']);
  assert.equal(b.diskSize, q['actual-size']);
  assert.equal(b.backingFile, q['backing-filename']);
});

test('header extensions are preserved, and bitmaps are handed back to QEMU as inconsistent, as qcow2.txt asks', { skip }, async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'bm.qcow2');
  must('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'lazy_refcounts=on', file, '4M']);
  must('qemu-img', ['bitmap', '--add', file, 'bm0']);
  const before = readFileSync(file);
  const autoclear = before.readBigUInt64BE(88);
  assert.equal(autoclear & 1n, 1n);
  const d = await openDisk(file, { readOnly: false });
  await d.write(0, new Uint8Array(8192).fill(0x44));
  await d.close();
  const after = readFileSync(file);
  assert.equal(after.readBigUInt64BE(88), 0n, 'the autoclear bits are cleared before the first change');
  // Everything after the autoclear field in the header cluster (extensions, feature table) is unchanged.
  assert.deepEqual(after.subarray(96, 65536), before.subarray(96, 65536));
  const c = qemuCheck(file);
  assert.equal(c.corruptions, 0, c.raw);
  assert.match(c.raw, /bitmaps are now considered inconsistent/);
  must('qemu-io', ['-c', 'read -P 0x44 0 8k', file]);
});

test('bonsai image convert turns a qcow2 chain into raw and qcow2 images QEMU agrees with', { skip }, async (t) => {
  const dir = scratch(t);
  const base = join(dir, 'base.qcow2');
  must('qemu-img', ['create', '-q', '-f', 'qcow2', base, '8M']);
  must('qemu-io', ['-c', 'write -P 0x61 0 3M', '-c', 'write -P 0x62 7M 512k', base]);
  const top = join(dir, 'top.qcow2');
  must('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', top]);
  must('qemu-io', ['-c', 'write -P 0x63 1M 64k', '-c', 'write -z 2M 64k', top]);
  const want = qemuRead(dir, top);
  const raw = join(dir, 'out.raw');
  const q2 = join(dir, 'out.qcow2');
  let calls = 0;
  await convertImage(top, raw, { format: 'raw', onProgress: () => calls++ });
  await convertImage(top, q2, { format: 'qcow2' });
  assert.ok(calls > 1);
  assert.deepEqual(new Uint8Array(readFileSync(raw)), want);
  assertClean(q2);
  assert.deepEqual(qemuRead(dir, q2), want);
  must('qemu-img', ['compare', '-q', top, q2]);
});
