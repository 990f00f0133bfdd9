/** Corrupt or unsupported images are refused at open with one line naming the file, and are never written. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BonsaiError } from '../../src/errors.js';
import { openDisk } from '../../src/storage/backend.js';
import { createImage } from '../../src/storage/image-ops.js';
import { Rng, scratch } from './fixtures.js';

const C = 4096;

/** A small valid image with data, 4 KiB clusters: header, refcount table, refcount block, L1, then L2s and data. */
async function sample(dir: string): Promise<{ file: string; bytes: Buffer }> {
  const file = join(dir, 'good.qcow2');
  await createImage(file, { size: 1 << 20, clusterSize: C });
  const d = await openDisk(file, { readOnly: false });
  const rng = new Rng(1);
  for (let i = 0; i < 20; i++) await d.write(rng.below(2000) * 512, rng.bytes(512 * (1 + rng.below(20))));
  await d.close();
  return { file, bytes: readFileSync(file) };
}

/** The file with the corrupt bit (incompatible feature bit 1, header byte 79) cleared. */
function withoutCorruptBit(b: Buffer): Buffer {
  const c = Buffer.from(b);
  c[79] &= ~2;
  return c;
}

async function refused(file: string, pattern: RegExp): Promise<void> {
  const before = readFileSync(file);
  // Forced to qcow2: detection would (rightly) take a file without the magic for a raw disk.
  await assert.rejects(openDisk(file, { readOnly: false, format: 'qcow2' }), (e: unknown) => {
    assert.ok(e instanceof BonsaiError, `not a BonsaiError: ${String(e)}`);
    assert.ok(e.message.startsWith(`${file}: `), `names the file: ${e.message}`);
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
  assert.deepEqual(readFileSync(file), before, 'the refused image is byte-identical');
}

type Patch = (b: Buffer) => Buffer;
const setU32 = (pos: number, v: number): Patch => (b) => { b.writeUInt32BE(v >>> 0, pos); return b; };
const setU64 = (pos: number, v: bigint): Patch => (b) => { b.writeBigUInt64BE(v, pos); return b; };

const cases: [string, Patch, RegExp][] = [
  ['bad magic', setU32(0, 0x514649fa), /not a qcow2 image \(bad magic\)/],
  ['version 4', setU32(4, 4), /unsupported qcow2 version 4/],
  ['qcow version 1', setU32(4, 1), /qcow version 1/],
  ['cluster_bits 8', setU32(20, 8), /cluster_bits 8 is out of range/],
  ['cluster_bits 22', setU32(20, 22), /cluster_bits 22 is out of range/],
  ['L1 table beyond the file', setU64(40, 1n << 40n), /L1 table .* beyond the end of the file/],
  ['L1 table not aligned', setU64(40, BigInt(3 * C + 8)), /L1 table offset .* not a cluster boundary/],
  ['L1 table too small for the size', setU64(24, 1n << 40n), /L1 table of 1 entries is too small/],
  ['refcount table beyond the file', setU64(48, 1n << 36n), /refcount table .* beyond the end of the file/],
  ['refcount table overlapping the L1 table', setU64(48, BigInt(3 * C)), /overlap/],
  ['refcount table over the header', setU64(48, 0n), /refcount table offset 0x0 is not a cluster boundary past the header/],
  ['L2 table beyond the file', setU64(3 * C, (1n << 63n) | (1n << 40n)), /L2 table .* beyond the end of the file/],
  ['L2 table overlapping the refcount table', setU64(3 * C, (1n << 63n) | BigInt(C)), /L2 table 0x1000 .* overlaps the refcount table/],
  ['L1 entry with reserved bits', setU64(3 * C, (1n << 63n) | (1n << 60n) | BigInt(4 * C)), /L1 entry 0 has reserved bits set/],
  ['refcount block beyond the file', setU64(C, 1n << 40n), /refcount block .* beyond the end of the file/],
  ['refcount block on the L1 table', setU64(C, BigInt(3 * C)), /refcount block 0x3000 .* overlaps the L1 table/],
  ['truncated to its header cluster', (b) => b.subarray(0, C), /beyond the end of the file/],
  ['truncated inside its header', (b) => b.subarray(0, 50), /too short to be a qcow2 image/],
  ['dirty bit', setU64(72, 1n), /dirty bit/],
  ['corrupt bit (writable)', setU64(72, 2n), /marked corrupt/],
  ['external data file', setU64(72, 4n), /external data file/],
  ['zstd compression', (b) => {
    // A 112-byte header with compression_type 1: the extensions move up by 8 bytes.
    b.copy(b, 112, 104, C - 8);
    b.fill(0, 104, 112);
    b[104] = 1;
    b.writeUInt32BE(112, 100);
    b.writeBigUInt64BE(8n, 72);
    return b;
  }, /compression type 1 \(zstd\)/],
  ['extended L2 entries', setU64(72, 16n), /extended L2 entries/],
  ['unknown incompatible feature', setU64(72, 1n << 40n), /unknown incompatible feature \(bit 40\)/],
  ['32-bit refcounts', setU32(96, 5), /32-bit refcounts \(refcount_order 5\).*16-bit/],
  ['1-bit refcounts', setU32(96, 0), /1-bit refcounts/],
  ['header length not a multiple of 8', setU32(100, 108), /header length 108 is invalid/],
  ['encryption', setU32(32, 2), /encrypted/],
  ['backing name outside the header cluster', (b) => { b.writeBigUInt64BE(BigInt(C - 4), 8); b.writeUInt32BE(16, 16); return b; }, /backing file name .* outside the header cluster/],
  ['header extension overrunning the cluster', (b) => { b.writeUInt32BE(0x12345678, 104); b.writeUInt32BE(C, 108); return b; }, /header extension 0x12345678 .* runs past/],
];

for (const [name, patch, pattern] of cases) {
  test(`an image with ${name} is refused with one line and left untouched`, async (t) => {
    const dir = scratch(t);
    const { file, bytes } = await sample(dir);
    writeFileSync(file, patch(Buffer.from(bytes)));
    await refused(file, pattern);
  });
}

test('an unknown incompatible feature is named from the image\'s feature name table', async (t) => {
  const dir = scratch(t);
  const { file, bytes } = await sample(dir);
  const b = Buffer.from(bytes);
  // Bonsai writes a feature name table as the first extension; rename entry 0 to a feature at bit 9.
  assert.equal(b.readUInt32BE(104), 0x6803f857);
  b[112] = 0;
  b[113] = 9;
  b.fill(0, 114, 160);
  b.write('frobnication', 114);
  b.writeBigUInt64BE(1n << 9n, 72);
  writeFileSync(file, b);
  await refused(file, /unknown incompatible feature 'frobnication' \(bit 9\)/);
});

test('an L2 entry pointing into metadata or past the file fails the read with a BonsaiError, not garbage, and is refused for writing', async (t) => {
  const dir = scratch(t);
  const { file, bytes } = await sample(dir);
  const b = Buffer.from(bytes);
  const l2 = Number(b.readBigUInt64BE(3 * C) & 0x00fffffffffffe00n);
  assert.ok(l2 > 0);
  for (const [entry, pattern] of [[(1n << 63n) | BigInt(C), /holds image metadata/], [(1n << 63n) | (1n << 45n), /beyond the end of the file/], [(1n << 63n) | 0x1200n, /not a cluster boundary|reserved bits/]] as const) {
    const c = Buffer.from(b);
    c.writeBigUInt64BE(entry, l2);
    writeFileSync(file, c);
    const d = await openDisk(file, { readOnly: true });
    await assert.rejects(d.read(0, new Uint8Array(512)), (e: unknown) => e instanceof BonsaiError && pattern.test(e.message) && e.message.startsWith(file));
    await d.close();
    assert.deepEqual(readFileSync(file), c);
    // The check before writing finds the same entry; only the corrupt bit changes.
    await assert.rejects(openDisk(file, { readOnly: false }), (e: unknown) => e instanceof BonsaiError && /corrupt metadata: .*marked the image corrupt/.test(e.message));
    assert.deepEqual(withoutCorruptBit(readFileSync(file)), c);
  }
});

test('fuzzed metadata either opens and reads, or is refused with a BonsaiError; the file is never changed but for the corrupt bit', async (t) => {
  const dir = scratch(t);
  const { file, bytes } = await sample(dir);
  const rng = new Rng(2024);
  // The metadata: header, refcount table, refcount block, L1 table, and the first L2 table.
  const hot = [0, 112, C, C + 64, 2 * C, 2 * C + 64, 3 * C, 3 * C + 16, 4 * C, 5 * C];
  let refusedCount = 0;
  let opened = 0;
  for (let i = 0; i < 400; i++) {
    const b = Buffer.from(bytes);
    const flips = 1 + rng.below(4);
    for (let k = 0; k < flips; k++) {
      const region = rng.below(hot.length / 2) * 2;
      const pos = hot[region] + rng.below(hot[region + 1] - hot[region]);
      b[pos] = rng.below(3) === 0 ? 0xff : b[pos] ^ (1 << rng.below(8));
    }
    writeFileSync(file, b);
    try {
      const d = await openDisk(file, { readOnly: false });
      opened++;
      try {
        const buf = new Uint8Array(64 * 1024);
        for (let off = 0; off < d.size && off < (4 << 20); off += buf.length) {
          await d.read(off, buf.subarray(0, Math.min(buf.length, Math.ceil((d.size - off) / 512) * 512)));
        }
      } catch (e) {
        if (!(e instanceof BonsaiError)) throw new Error(`iteration ${i}: read failed with ${String(e)}`);
      } finally {
        await d.close();
      }
    } catch (e) {
      if (!(e instanceof BonsaiError)) throw new Error(`iteration ${i}: open failed with ${String((e as Error).stack)}`);
      assert.ok(!e.message.includes('\n'));
      refusedCount++;
      if (/marked the image corrupt/.test(e.message)) {
        assert.ok(withoutCorruptBit(readFileSync(file)).equals(b), `iteration ${i}: more than the corrupt bit changed`);
        continue;
      }
    }
    assert.ok(readFileSync(file).equals(b), `iteration ${i}: the file changed`);
  }
  assert.ok(refusedCount > 50 && opened > 20, `a fair mix (refused ${refusedCount}, opened ${opened})`);
});
