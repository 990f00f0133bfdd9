/**
 * Kernel image loading: recognising what a kernel file is, and the RISC-V Linux Image format
 * (Linux Documentation/riscv/boot-image-header.rst; boot.rst for where it must be placed).
 *
 * An Image is the kernel's flat binary with a 64-byte header in front (all fields little-endian):
 *
 *   0x00 u32 code0, u32 code1   executable code (a jump over the header; "MZ" when the Image is also an EFI app)
 *   0x08 u64 text_offset        where to load it: this many bytes past the start of RAM (2 MiB on RV64)
 *   0x10 u64 image_size         the memory it occupies once running, .bss included
 *   0x18 u64 flags              bit 0: big-endian kernel
 *   0x20 u32 version            major << 16 | minor (0.2 today)
 *   0x24 u32 res1, 0x28 u64 res2
 *   0x30 u64 magic              "RISCV\0\0\0" (deprecated since header version 0.2)
 *   0x38 u32 magic2             "RSC\x05"
 *   0x3c u32 res3               PE/COFF header offset
 *
 * Image.gz (gzip of the same bytes) is inflated here with a cap on the output size, so a hostile
 * "zip bomb" becomes an error line instead of an exhausted host.
 */
import { constants } from 'node:buffer';
import { gunzipSync } from 'node:zlib';
import { BonsaiError } from '../errors.js';

export type KernelKind = 'elf' | 'image' | 'gzip' | 'raw';

export interface RiscvImage {
  /** Bytes past the start of RAM at which the Image must be loaded (text_offset). */
  textOffset: number;
  /** Memory the kernel occupies from its load address: image_size, at least the file's length. */
  imageSize: number;
  /** The Image itself (inflated when the file was gzip-compressed), to be copied to RAM as it is. */
  data: Uint8Array;
}

export interface ImageOptions {
  /** Largest inflated size accepted for a gzip-compressed Image (default 256 MiB). */
  maxInflatedBytes?: number;
}

const HEADER_SIZE = 64;
const DEFAULT_MAX_INFLATED = 256 * 1024 * 1024;
/** text_offset and image_size beyond this are not a kernel for a machine of at most 2 GiB of RAM. */
const MAX_FIELD = 2 ** 32;

const ascii = (b: Uint8Array, off: number, s: string): boolean => {
  if (b.length < off + s.length) return false;
  for (let i = 0; i < s.length; i++) if (b[off + i] !== s.charCodeAt(i)) return false;
  return true;
};

const isElf = (b: Uint8Array): boolean => ascii(b, 0, '\x7fELF');
const isGzip = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
const hasMagic2 = (b: Uint8Array): boolean => ascii(b, 0x38, 'RSC\x05');
const hasMagic = (b: Uint8Array): boolean => ascii(b, 0x30, 'RISCV\0\0\0');

const NOT_A_KERNEL = 'not a kernel Bonsai can boot (neither ELF, a RISC-V Linux Image, nor gzip)';

/** What a file that is not a kernel Bonsai can boot most likely is, for the error line. */
function describeOther(b: Uint8Array): string {
  if (ascii(b, 0x38, 'ARM\x64')) return 'an arm64 Linux Image, not a RISC-V one';
  if (ascii(b, 0x202, 'HdrS')) return 'an x86 Linux bzImage, not a RISC-V kernel';
  if (ascii(b, 0, 'MZ') && ascii(b, 4, 'zimg')) {
    return 'an EFI zboot kernel (vmlinuz.efi), which needs UEFI firmware; use the plain Image or Image.gz';
  }
  if (ascii(b, 0, '\x28\xb5\x2f\xfd')) return 'zstd-compressed; decompress it first (only gzip is inflated)';
  if (ascii(b, 0, '\xfd7zXZ\0')) return 'xz-compressed; decompress it first (only gzip is inflated)';
  if (ascii(b, 0, 'BZh')) return 'bzip2-compressed; decompress it first (only gzip is inflated)';
  if (ascii(b, 0, '\x02\x21\x4c\x18') || ascii(b, 0, '\x04\x22\x4d\x18')) return 'lz4-compressed; decompress it first (only gzip is inflated)';
  if (ascii(b, 0, '\x27\x05\x19\x56')) return 'a U-Boot legacy uImage; use the Image inside it';
  if (ascii(b, 0, '\xd0\x0d\xfe\xed')) return 'a devicetree blob, not a kernel';
  return NOT_A_KERNEL;
}

/** Tells an ELF executable, a RISC-V Linux Image and a gzip-compressed file apart by their magic numbers. */
/**
 * With `allowRaw`, a file that is none of these and not recognisably something else is a raw binary to be
 * loaded as it is (as QEMU does for -kernel: U-Boot's u-boot.bin has no Image header).
 */
export function detectKernel(bytes: Uint8Array, fileName: string, allowRaw = false): { kind: KernelKind } {
  if (bytes.length === 0) throw new BonsaiError(`${fileName}: the file is empty`);
  if (isElf(bytes)) return { kind: 'elf' };
  if (isGzip(bytes)) return { kind: 'gzip' };
  if (hasMagic2(bytes) || hasMagic(bytes)) return { kind: 'image' };
  const other = describeOther(bytes);
  if (allowRaw && other === NOT_A_KERNEL) return { kind: 'raw' };
  throw new BonsaiError(`${fileName}: ${other}`);
}

/** Inflates gzip data, refusing output larger than `maxBytes`. */
export function gunzipKernel(bytes: Uint8Array, fileName: string, maxBytes = DEFAULT_MAX_INFLATED): Uint8Array {
  if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new Error(`gunzipKernel: bad size cap ${maxBytes}`);
  let out: Buffer;
  try {
    out = gunzipSync(bytes, { maxOutputLength: Math.min(maxBytes, constants.MAX_LENGTH) });
  } catch (e) {
    const err: NodeJS.ErrnoException = e instanceof Error ? e : new Error(String(e));
    if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      const limit = maxBytes % 1048576 === 0 ? `${maxBytes / 1048576} MiB` : `${maxBytes} bytes`;
      throw new BonsaiError(`${fileName}: inflates to more than ${limit}; refusing to load it`);
    }
    const why = err.message.split('\n')[0];
    throw new BonsaiError(`${fileName}: corrupt gzip data (${why})`);
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Parses a RISC-V Linux Image (or a gzip-compressed one) and returns where and how large it is.
 * The caller places `data` at RAM base + textOffset and keeps [that, + imageSize) free of the DTB and initrd.
 */
export function parseRiscvImage(bytes: Uint8Array, fileName: string, opts: ImageOptions = {}): RiscvImage {
  const fail = (what: string): never => {
    throw new BonsaiError(`${fileName}: ${what}`);
  };
  let data = bytes;
  let inflated = false;
  if (isGzip(bytes)) {
    data = gunzipKernel(bytes, fileName, opts.maxInflatedBytes ?? DEFAULT_MAX_INFLATED);
    inflated = true;
  }
  const what = inflated ? 'the gzip-compressed data' : 'the file';
  if (isElf(data)) {
    fail(inflated ? 'the gzip-compressed data is an ELF file; decompress it and load the ELF file itself'
      : 'is an ELF file, not a Linux Image');
  }
  if (data.length < HEADER_SIZE) {
    fail(`${what} is too short for a RISC-V Linux Image (${data.length} bytes, the header alone is ${HEADER_SIZE})`);
  }
  if (!hasMagic2(data) && !hasMagic(data)) {
    fail(`${what} is not a RISC-V Linux Image (no "RSC\\x05" magic at 0x38)`);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const field = (off: number, name: string): number => {
    const lo = view.getUint32(off, true);
    const hi = view.getUint32(off + 4, true);
    const v = hi * 4294967296 + lo;
    if (v >= MAX_FIELD) fail(`Image header ${name} 0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')} is absurdly large`);
    return v;
  };
  const textOffset = field(0x08, 'text_offset');
  const imageSize = field(0x10, 'image_size');
  const flagsLo = view.getUint32(0x18, true);
  if (flagsLo & 1) fail('is a big-endian kernel (Image header flags bit 0); Bonsai runs little-endian RISC-V');
  if (textOffset % 4096 !== 0) fail(`Image header text_offset 0x${textOffset.toString(16)} is not page-aligned`);
  // Header version 0.1 kernels may leave image_size zero; the file's own length is then the best measure.
  return { textOffset, imageSize: Math.max(imageSize, data.length), data };
}
