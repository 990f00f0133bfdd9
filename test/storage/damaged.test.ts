/**
 * Damaged qcow2 metadata never costs more data: images whose refcounts undercount what is in use are
 * refused for writing (and marked corrupt, as QEMU does), and no byte that could be read before changes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BonsaiError } from '../../src/errors.js';
import { openDisk, type BlockBackend } from '../../src/storage/backend.js';
import { createImage } from '../../src/storage/image-ops.js';
import { haveQemu, must, QEMU_SKIP, qemuCheck, Rng, run, scratch } from './fixtures.js';

const C = 512; // small clusters: one refcount block counts 256 of them, so writes soon need new blocks
const SIZE = 1 << 20;

/** Reads a 64-bit table entry's offset (bits 9..55). */
const entryOffset = (b: Buffer, pos: number): number => Number(b.readBigUInt64BE(pos) & 0x00fffffffffffe00n);

interface Layout {
  bytes: Buffer;
  refTable: number;
  /** Host offsets of the first L2 table and of the data clusters its first entries map. */
  l2: number;
  data: number[];
}

/** An image with 300 KiB of data: two L2 tables, data in several refcount blocks' ranges. */
async function sample(file: string): Promise<Layout> {
  await createImage(file, { size: SIZE, clusterSize: C });
  const d = await openDisk(file, { readOnly: false });
  const rng = new Rng(5);
  for (let off = 0; off < 300 * 1024; off += 4096) await d.write(off, rng.bytes(4096));
  await d.write(SIZE - 8192, rng.bytes(8192));
  await d.close();
  const bytes = readFileSync(file);
  const l1 = Number(bytes.readBigUInt64BE(40));
  const l2 = entryOffset(bytes, l1);
  const data: number[] = [];
  for (let k = 0; k < 8; k++) data.push(entryOffset(bytes, l2 + 8 * k));
  return { bytes, refTable: Number(bytes.readBigUInt64BE(48)), l2, data };
}

/** Where cluster `host`'s 16-bit refcount lives in the file. */
function refcountPos(b: Buffer, refTable: number, host: number): number {
  const cluster = host / C;
  const block = entryOffset(b, refTable + 8 * Math.floor(cluster / (C / 2)));
  return block + 2 * (cluster % (C / 2));
}

const COPIED = 1n << 63n;

const damages: [string, (b: Buffer, l: Layout) => void][] = [
  ['a compressed L2 entry pointing at a live data cluster', (b, l) => {
    // Entry 40 (guest cluster 40) claims to be compressed data at guest cluster 1's host cluster.
    b.writeBigUInt64BE((1n << 62n) | BigInt(l.data[1]), l.l2 + 8 * 40);
  }],
  ['a refcount table entry set to 0', (b, l) => {
    b.writeBigUInt64BE(0n, l.refTable + 8);
  }],
  ['every refcount zeroed', (b, l) => {
    for (let t = 0; t < 64; t++) {
      const block = entryOffset(b, l.refTable + 8 * t);
      if (block !== 0) b.fill(0, block, block + C);
    }
  }],
  ['a data cluster mapped twice', (b, l) => {
    b.writeBigUInt64BE(COPIED | BigInt(l.data[2]), l.l2 + 8 * 3);
  }],
  ['a live data cluster with refcount 0', (b, l) => {
    b.writeUInt16BE(0, refcountPos(b, l.refTable, l.data[4]));
  }],
  ['an L2 table with refcount 0', (b, l) => {
    b.writeUInt16BE(0, refcountPos(b, l.refTable, l.l2));
  }],
  ['a cluster mapped twice with refcount 2 but written in place (copied)', (b, l) => {
    b.writeBigUInt64BE(COPIED | BigInt(l.data[2]), l.l2 + 8 * 3);
    b.writeUInt16BE(2, refcountPos(b, l.refTable, l.data[2]));
  }],
];

/** Every sector that reads without an error, by offset. */
async function readable(d: BlockBackend): Promise<Map<number, Uint8Array>> {
  const out = new Map<number, Uint8Array>();
  for (let off = 0; off < d.size; off += 512) {
    const b = new Uint8Array(512);
    try {
      await d.read(off, b);
      out.set(off, b);
    } catch (e) {
      if (!(e instanceof BonsaiError)) throw e;
    }
  }
  return out;
}

/** What a guest does: rewrite, fill holes, write far (new L2 tables and refcount blocks), discard, flush. */
async function guestWrites(d: BlockBackend, known: Map<number, Uint8Array>): Promise<void> {
  const rng = new Rng(99);
  const put = async (off: number, len: number): Promise<void> => {
    const data = rng.bytes(len);
    await d.write(off, data);
    for (let s = 0; s < len; s += 512) known.set(off + s, data.subarray(s, s + 512));
  };
  await put(40 * C, C); // the damaged entries
  await put(3 * C, C);
  await put(0, 512);
  for (let off = 320 * 1024; off < 900 * 1024; off += 8192) await put(off, 8192);
  await d.discard(100 * 1024, 16 * 1024);
  for (let s = 100 * 1024; s < 116 * 1024; s += 512) known.delete(s); // discarded sectors may read as zeros
  await d.flush();
  for (let off = 120 * 1024; off < 200 * 1024; off += 4096) await put(off, 4096);
  await d.flush();
}

for (const [name, damage] of damages) {
  test(`an image with ${name} is refused for writing and marked corrupt; no readable byte changes`, async (t) => {
    const dir = scratch(t);
    const file = join(dir, 'damaged.qcow2');
    const layout = await sample(file);
    const b = Buffer.from(layout.bytes);
    damage(b, layout);
    writeFileSync(file, b);

    let d = await openDisk(file, { readOnly: true });
    const before = await readable(d);
    await d.close();
    assert.ok(before.size > 1000, `most of the disk reads (${before.size} sectors)`);

    const expected = new Map(before);
    let error: unknown = null;
    try {
      d = await openDisk(file, { readOnly: false });
      // Not refused: then at least no data may be lost by what a guest does next.
      try {
        await guestWrites(d, expected);
      } finally {
        await d.close().catch(() => undefined);
      }
    } catch (e) {
      error = e;
    }
    d = await openDisk(file, { readOnly: true });
    try {
      for (const [off, want] of expected) {
        const got = new Uint8Array(512);
        await d.read(off, got);
        assert.deepEqual(got, want, `sector at ${off} changed`);
      }
    } finally {
      await d.close();
    }

    assert.ok(error instanceof BonsaiError, `refused for writing (got ${String(error)})`);
    assert.ok(error.message.startsWith(`${file}: corrupt metadata: `), error.message);
    assert.ok(!error.message.includes('\n'), 'one line');
    assert.match(error.message, /marked the image corrupt, nothing was written/);
    const after = readFileSync(file);
    assert.equal(after[79] & 2, 2, 'the corrupt bit is set');
    after[79] &= ~2;
    assert.ok(after.equals(b), 'nothing but the corrupt bit changed');
    await assert.rejects(openDisk(file, { readOnly: false }), /is marked corrupt; open it read-only/);
  });
}

test('QEMU agrees: the images refused are corrupt, and once marked QEMU will not write them either', { skip: haveQemu ? false : QEMU_SKIP }, async (t) => {
  const dir = scratch(t);
  for (const [name, damage] of damages) {
    const file = join(dir, 'damaged.qcow2');
    const layout = await sample(file);
    damage(layout.bytes, layout);
    writeFileSync(file, layout.bytes);
    assert.ok(qemuCheck(file).corruptions > 0, `qemu-img check finds ${name} corrupt`);
    await assert.rejects(openDisk(file, { readOnly: false }));
    const w = run('qemu-io', ['-f', 'qcow2', '-c', 'write 0 512', file]);
    assert.match(w.stderr + w.stdout, /corrupt/i, `${name}: ${w.stderr}${w.stdout}`);
    rmSync(file);
  }
});

test('a damaged version 2 image (it has no corrupt bit) is refused and left byte-identical', { skip: haveQemu ? false : QEMU_SKIP }, async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'v2.qcow2');
  must('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'compat=0.10,cluster_size=512', file, '1M']);
  must('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x11 0 64k', file]);
  const b = readFileSync(file);
  assert.equal(b.readUInt32BE(4), 2);
  const refTable = Number(b.readBigUInt64BE(48));
  const block = entryOffset(b, refTable);
  b.fill(0, block, block + C);
  writeFileSync(file, b);
  await assert.rejects(openDisk(file, { readOnly: false }), /corrupt metadata: .*; a version 2 image has no corrupt bit to set, nothing was written/);
  assert.ok(readFileSync(file).equals(b));
});

test('a sound image passes the check and opens for writing', async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'sound.qcow2');
  await sample(file);
  const d = await openDisk(file, { readOnly: false });
  await d.write(0, new Uint8Array(4096).fill(7));
  await d.close();
  assert.equal(readFileSync(file)[79] & 2, 0);
});

test('images QEMU wrote (compressed clusters sharing host clusters, preallocated metadata) pass the check', { skip: haveQemu ? false : QEMU_SKIP }, async (t) => {
  const dir = scratch(t);
  const raw = join(dir, 'src.raw');
  const rng = new Rng(8);
  const content = new Uint8Array(4 << 20);
  // Compressible and not: QEMU packs several compressed clusters into one host cluster.
  for (let off = 0; off < content.length; off += 65536) content.set(off % (3 * 65536) === 0 ? rng.bytes(65536) : new Uint8Array(65536).fill(off >>> 16), off);
  writeFileSync(raw, content);
  const images = [join(dir, 'compressed.qcow2'), join(dir, 'prealloc.qcow2'), join(dir, 'small.qcow2')];
  must('qemu-img', ['convert', '-c', '-O', 'qcow2', raw, images[0]]);
  must('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'preallocation=metadata', images[1], '64M']);
  must('qemu-img', ['convert', '-O', 'qcow2', '-o', 'cluster_size=512', raw, images[2]]);
  for (const img of images) {
    const d = await openDisk(img, { readOnly: false });
    await d.write(65536, new Uint8Array(4096).fill(9));
    await d.close();
    const c = qemuCheck(img);
    assert.equal(c.corruptions, 0, `${img}: ${c.raw}`);
    assert.equal(readFileSync(img)[79] & 2, 0, img);
  }
});
