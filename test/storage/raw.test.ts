import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BonsaiError } from '../../src/errors.js';
import { openDisk } from '../../src/storage/backend.js';
import { createImage } from '../../src/storage/image-ops.js';
import { exercise, readAll, Rng, scratch, verify } from './fixtures.js';

const MiB = 1 << 20;

test('random writes, zeroes and discards on a raw disk match a reference buffer and the file itself', async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'disk.raw');
  await createImage(file, { size: 2 * MiB, format: 'raw' });
  const ref = new Uint8Array(2 * MiB);
  const rng = new Rng(1);
  let d = await openDisk(file, { readOnly: false });
  assert.equal(d.format, 'raw');
  assert.equal(d.size, 2 * MiB);
  await exercise(d, ref, rng, 500, { kind: 'keep' });
  await d.close();
  assert.deepEqual(new Uint8Array(readFileSync(file)), ref, 'the file is the disk, byte for byte');
  d = await openDisk(file, { readOnly: false });
  await verify(d, ref, 'after reopening');
  await exercise(d, ref, rng, 200, { kind: 'keep' });
  await d.close();
});

test('a raw file whose size is not a multiple of 512 reads zeros past its end and never grows', async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'odd.img');
  const data = new Rng(2).bytes(1000);
  writeFileSync(file, data);
  const d = await openDisk(file, { readOnly: false });
  assert.equal(d.size, 1000);
  const got = new Uint8Array(1024);
  await d.read(0, got);
  assert.deepEqual(got.subarray(0, 1000), data);
  assert.deepEqual(got.subarray(1000), new Uint8Array(24));
  await d.write(512, new Uint8Array(512).fill(3));
  await d.close();
  const after = readFileSync(file);
  assert.equal(after.length, 1000);
  assert.ok(after.subarray(512).every((b) => b === 3));
});

test('requests outside the disk or not sector-aligned are contract errors, not silent truncation', async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'small.raw');
  await createImage(file, { size: 4096, format: 'raw' });
  const d = await openDisk(file, { readOnly: false });
  await assert.rejects(d.read(4096, new Uint8Array(512)), RangeError);
  await assert.rejects(d.read(100, new Uint8Array(512)), RangeError);
  await assert.rejects(d.write(0, new Uint8Array(100)), RangeError);
  await assert.rejects(d.writeZeroes(3584, 1024), RangeError);
  await d.close();
});

test('a detected raw disk refuses a guest write that would make it look like qcow2; a forced one allows it', async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'guest.raw');
  await createImage(file, { size: MiB, format: 'raw' });
  const header = new Uint8Array(512);
  header.set([0x51, 0x46, 0x49, 0xfb]);
  let d = await openDisk(file, { readOnly: false });
  await assert.rejects(d.write(0, header), (e: unknown) => e instanceof BonsaiError && /qcow2 header/.test(e.message));
  await d.write(512, header); // anywhere else is just data
  await d.close();
  d = await openDisk(file, { readOnly: false, format: 'raw' });
  await d.write(0, header);
  await d.close();
  // Now detection says qcow2 (and the image is not a valid one), but forcing raw still reads the bytes.
  await assert.rejects(openDisk(file, { readOnly: true }), BonsaiError);
  d = await openDisk(file, { readOnly: true, format: 'raw' });
  assert.deepEqual((await readAll(d)).subarray(0, 512), header);
  await d.close();
});

test('other image formats are refused instead of being shown to the guest as raw bytes', async (t) => {
  const dir = scratch(t);
  for (const [magic, name] of [['KDMV', 'VMDK'], ['vhdxfile', 'VHDX'], ['conectix', 'VHD']]) {
    const file = join(dir, `x.${name}`);
    const b = new Uint8Array(4096);
    b.set(new TextEncoder().encode(magic));
    writeFileSync(file, b);
    await assert.rejects(openDisk(file, { readOnly: true }), (e: unknown) => e instanceof BonsaiError && e.message.includes(`is a ${name} image`));
    const forced = await openDisk(file, { readOnly: true, format: 'raw' });
    await forced.close();
  }
});

test('missing files, folders and read-only disks give one-line errors', async (t) => {
  const dir = scratch(t);
  await assert.rejects(openDisk(join(dir, 'none.raw'), { readOnly: true }), (e: unknown) => e instanceof BonsaiError && /none\.raw: cannot open disk image: no such file$/.test(e.message));
  await assert.rejects(openDisk(dir, { readOnly: false }), (e: unknown) => e instanceof BonsaiError && /is a directory/.test(e.message));
  await assert.rejects(openDisk(dir, { readOnly: true }), (e: unknown) => e instanceof BonsaiError && /is a directory/.test(e.message));
  const file = join(dir, 'ro.raw');
  await createImage(file, { size: MiB, format: 'raw' });
  const d = await openDisk(file, { readOnly: true });
  await assert.rejects(d.write(0, new Uint8Array(512)), (e: unknown) => e instanceof BonsaiError && /read-only/.test(e.message));
  await assert.rejects(d.writeZeroes(0, 512), BonsaiError);
  await d.close();
});
