import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { detectKernel, gunzipKernel, parseRiscvImage } from '../../src/machine/loader.js';
import { BonsaiError } from '../../src/errors.js';

const NAME = 'Image';

/** A synthetic RV64 Linux Image: the 64-byte header (boot-image-header.rst) and `body` bytes of "code". */
function image(opts: { textOffset?: number; imageSize?: number; flags?: number; body?: number; magic?: boolean; magic2?: boolean } = {}): Uint8Array {
  const body = opts.body ?? 4096;
  const b = new Uint8Array(64 + body);
  const v = new DataView(b.buffer);
  v.setUint32(0x00, 0x0400006f, true); // code0: j 0x40 (over the header)
  v.setUint32(0x04, 0, true);
  v.setBigUint64(0x08, BigInt(opts.textOffset ?? 0x200000), true);
  v.setBigUint64(0x10, BigInt(opts.imageSize ?? 0x1400000), true);
  v.setBigUint64(0x18, BigInt(opts.flags ?? 0), true);
  v.setUint32(0x20, 2, true); // version 0.2
  if (opts.magic ?? true) b.set(new TextEncoder().encode('RISCV\0\0\0'), 0x30);
  if (opts.magic2 ?? true) b.set(new TextEncoder().encode('RSC\x05'), 0x38);
  for (let i = 64; i < b.length; i++) b[i] = i & 0xff;
  return b;
}

/** Asserts that `fn` throws a one-line BonsaiError naming the file and matching `pattern`. */
function rejects(fn: () => unknown, pattern: RegExp, name = NAME): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BonsaiError, `expected BonsaiError, got ${String(e)}`);
    assert.ok(e.message.startsWith(`${name}: `), e.message);
    assert.ok(!e.message.includes('\n'), e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

test('an ELF file, a RISC-V Image and a gzip file are told apart by their magic numbers', () => {
  assert.deepEqual(detectKernel(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), 'vmlinux'), { kind: 'elf' });
  assert.deepEqual(detectKernel(image(), NAME), { kind: 'image' });
  assert.deepEqual(detectKernel(gzipSync(image()), 'Image.gz'), { kind: 'gzip' });
  assert.deepEqual(detectKernel(image({ magic: false }), NAME), { kind: 'image' }, 'magic2 alone suffices');
  assert.deepEqual(detectKernel(image({ magic2: false }), NAME), { kind: 'image' }, 'so does the deprecated magic');
});

test('files that are not a bootable kernel are named for what they are', () => {
  rejects(() => detectKernel(new Uint8Array(0), NAME), /empty/);
  rejects(() => detectKernel(new Uint8Array(100), NAME), /neither ELF, a RISC-V Linux Image, nor gzip/);
  const arm = image({ magic: false, magic2: false });
  arm.set(new TextEncoder().encode('ARM\x64'), 0x38);
  rejects(() => detectKernel(arm, NAME), /arm64/);
  const x86 = new Uint8Array(0x300);
  x86.set(new TextEncoder().encode('HdrS'), 0x202);
  rejects(() => detectKernel(x86, NAME), /x86/);
  const zboot = new Uint8Array(64);
  zboot.set(new TextEncoder().encode('MZ\0\0zimg'), 0);
  rejects(() => detectKernel(zboot, NAME), /zboot/);
  rejects(() => detectKernel(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0, 0]), NAME), /zstd/);
  rejects(() => detectKernel(new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]), NAME), /xz/);
  rejects(() => detectKernel(new Uint8Array([0xd0, 0x0d, 0xfe, 0xed, 0, 0, 0, 0]), NAME), /devicetree/);
});

test('an Image yields its load offset, its size in memory and its bytes unchanged', () => {
  const b = image({ textOffset: 0x200000, imageSize: 0x1400000 });
  const img = parseRiscvImage(b, NAME);
  assert.equal(img.textOffset, 0x200000);
  assert.equal(img.imageSize, 0x1400000);
  assert.equal(img.data, b, 'no copy of an uncompressed Image');
});

test('an image_size of zero (or below the file length) counts the file itself', () => {
  assert.equal(parseRiscvImage(image({ imageSize: 0, body: 5000 }), NAME).imageSize, 5064);
  assert.equal(parseRiscvImage(image({ imageSize: 100, body: 5000 }), NAME).imageSize, 5064);
});

test('a gzip-compressed Image is inflated and parsed', () => {
  const b = image({ textOffset: 0x400000, body: 100000 });
  const img = parseRiscvImage(gzipSync(b), 'Image.gz');
  assert.equal(img.textOffset, 0x400000);
  assert.deepEqual(img.data, b);
});

test('inflating past the size cap is refused, not attempted', () => {
  const bomb = gzipSync(new Uint8Array(8 * 1024 * 1024)); // 8 MiB of zeros in a few KiB
  rejects(() => gunzipKernel(bomb, 'bomb.gz', 1 << 20), /more than 1 MiB/, 'bomb.gz');
  rejects(() => parseRiscvImage(bomb, 'bomb.gz', { maxInflatedBytes: 1 << 20 }), /more than 1 MiB/, 'bomb.gz');
});

test('corrupt or truncated gzip data is one error line', () => {
  const gz = gzipSync(image({ body: 50000 }));
  rejects(() => parseRiscvImage(gz.subarray(0, gz.length >> 1), 'Image.gz'), /corrupt gzip data/, 'Image.gz');
  const flipped = Uint8Array.from(gz);
  for (let i = 20; i < 60; i++) flipped[i] ^= 0x5a;
  rejects(() => parseRiscvImage(flipped, 'Image.gz'), /corrupt gzip data/, 'Image.gz');
  rejects(() => parseRiscvImage(gzipSync(new Uint8Array(10)), 'Image.gz'), /gzip-compressed data is too short/, 'Image.gz');
  rejects(() => parseRiscvImage(gzipSync(new Uint8Array(200)), 'Image.gz'), /gzip-compressed data is not a RISC-V Linux Image/, 'Image.gz');
});

test('header mutations are refused with the field they concern', () => {
  rejects(() => parseRiscvImage(image().subarray(0, 40), NAME), /too short .*40 bytes/);
  rejects(() => parseRiscvImage(image({ magic: false, magic2: false }), NAME), /not a RISC-V Linux Image/);
  rejects(() => parseRiscvImage(image({ flags: 1 }), NAME), /big-endian/);
  rejects(() => parseRiscvImage(image({ textOffset: 0x200001 }), NAME), /text_offset 0x200001 is not page-aligned/);
  rejects(() => parseRiscvImage(image({ textOffset: 2 ** 40 }), NAME), /text_offset 0x10000000000 is absurdly large/);
  const huge = image();
  new DataView(huge.buffer).setUint32(0x14, 0xffffffff, true);
  rejects(() => parseRiscvImage(huge, NAME), /image_size 0xffffffff01400000 is absurdly large/);
  rejects(() => parseRiscvImage(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), NAME), /ELF file, not a Linux Image/);
});

test('no mutation of a header byte raises anything but a BonsaiError', () => {
  const base = image({ body: 64 });
  for (let i = 0; i < 64; i++) {
    for (const v of [0x00, 0x01, 0x80, 0xff]) {
      const b = Uint8Array.from(base);
      b[i] = v;
      for (const bytes of [b, gzipSync(b)]) {
        try {
          detectKernel(bytes, NAME);
          parseRiscvImage(bytes, NAME);
        } catch (e) {
          assert.ok(e instanceof BonsaiError, `byte ${i} = ${v}: ${String(e)}`);
        }
      }
    }
  }
  for (let len = 0; len < 80; len++) {
    try {
      parseRiscvImage(base.subarray(0, len), NAME);
    } catch (e) {
      assert.ok(e instanceof BonsaiError, `length ${len}: ${String(e)}`);
    }
  }
});
