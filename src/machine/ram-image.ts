/**
 * Guest RAM as a snapshot holds it: only the 4 KiB pages that are not all zero, with a bitmap of which.
 * captureRam() is what runs while the guest is paused, so it only scans and copies (no compression);
 * the caller resumes the guest and encodes the copy afterwards (vm/snapshot/state-file.ts).
 */
import { BonsaiError } from '../errors.js';

export const RAM_PAGE = 4096;

export interface RamImage {
  /** RAM size in bytes (a multiple of RAM_PAGE). */
  readonly bytes: number;
  /** One bit per page, least significant bit first: set when the page is in `data`. */
  readonly present: Uint8Array;
  /** The present pages, in address order. */
  readonly data: Uint8Array;
}

/** Pages compared at once: most of an idle guest's RAM is zero in long runs, so whole blocks are skipped. */
const BLOCK_PAGES = 16;
const ZERO_BLOCK = Buffer.alloc(BLOCK_PAGES * RAM_PAGE);

/** Whether pages [first, first + n) of `ram` are all zero (memcmp against zeros: native speed). */
function zeroPages(ram: Buffer, first: number, n: number): boolean {
  return ram.compare(ZERO_BLOCK, 0, n * RAM_PAGE, first * RAM_PAGE, (first + n) * RAM_PAGE) === 0;
}

/** The bitmap of `ram`'s non-zero pages, and how many there are. */
function scan(ram: Uint8Array): { present: Uint8Array; count: number } {
  const pages = ram.length / RAM_PAGE;
  const buf = Buffer.from(ram.buffer, ram.byteOffset, ram.byteLength);
  const present = new Uint8Array(Math.ceil(pages / 8));
  let count = 0;
  for (let block = 0; block < pages; block += BLOCK_PAGES) {
    const n = Math.min(BLOCK_PAGES, pages - block);
    if (zeroPages(buf, block, n)) continue;
    for (let p = block; p < block + n; p++) {
      if (!zeroPages(buf, p, 1)) { present[p >> 3] |= 1 << (p & 7); count++; }
    }
  }
  return { present, count };
}

/** Copies the non-zero pages of `ram` aside. */
export function captureRam(ram: Uint8Array): RamImage {
  if (ram.length % RAM_PAGE !== 0) throw new RangeError('captureRam: RAM is not a whole number of pages');
  const pages = ram.length / RAM_PAGE;
  const { present, count } = scan(ram);
  const data = new Uint8Array(count * RAM_PAGE);
  let at = 0;
  forRuns(present, pages, true, (first, end) => {
    data.set(ram.subarray(first * RAM_PAGE, end * RAM_PAGE), at);
    at += (end - first) * RAM_PAGE;
  });
  return { bytes: ram.length, present, data };
}

/** Pages set in a bitmap. */
export function countPresent(present: Uint8Array, pages: number): number {
  let n = 0;
  for (let p = 0; p < pages; p++) if (present[p >> 3] & (1 << (p & 7))) n++;
  return n;
}

/** Throws unless `image` is well formed for RAM of `bytes`. */
export function checkRamImage(image: RamImage, bytes: number): void {
  const pages = bytes / RAM_PAGE;
  if (image.bytes !== bytes) {
    throw new BonsaiError(`snapshot: RAM is ${mib(image.bytes)} MiB, this machine has ${mib(bytes)} MiB`);
  }
  if (image.present.length !== Math.ceil(pages / 8) || image.data.length !== countPresent(image.present, pages) * RAM_PAGE) {
    throw new BonsaiError('snapshot: the RAM image does not match its page bitmap');
  }
  // Bits past the last page would name pages that do not exist.
  for (let p = pages; p < image.present.length * 8; p++) {
    if (image.present[p >> 3] & (1 << (p & 7))) throw new BonsaiError('snapshot: the RAM page bitmap names pages past the end of RAM');
  }
}

/**
 * Makes `ram` hold `image`: present pages copied, every other page zero. Pages already zero are only
 * read, never written, so restoring onto a fresh machine commits no host memory for the guest's zeros.
 */
export function applyRam(ram: Uint8Array, image: RamImage): void {
  checkRamImage(image, ram.length);
  const pages = ram.length / RAM_PAGE;
  const buf = Buffer.from(ram.buffer, ram.byteOffset, ram.byteLength);
  let at = 0;
  forRuns(image.present, pages, true, (first, end) => {
    ram.set(image.data.subarray(at, at + (end - first) * RAM_PAGE), first * RAM_PAGE);
    at += (end - first) * RAM_PAGE;
  });
  forRuns(image.present, pages, false, (first, end) => {
    for (let p = first; p < end; p += BLOCK_PAGES) {
      const n = Math.min(BLOCK_PAGES, end - p);
      if (!zeroPages(buf, p, n)) ram.fill(0, p * RAM_PAGE, (p + n) * RAM_PAGE);
    }
  });
}

/** Calls `fn(first, end)` for each run of pages whose bit is `set`. */
function forRuns(present: Uint8Array, pages: number, set: boolean, fn: (first: number, end: number) => void): void {
  let p = 0;
  while (p < pages) {
    const bit = (present[p >> 3] & (1 << (p & 7))) !== 0;
    if (bit !== set) { p++; continue; }
    const first = p;
    while (p < pages && ((present[p >> 3] & (1 << (p & 7))) !== 0) === set) p++;
    fn(first, p);
  }
}

const mib = (bytes: number): string => String(Math.round(bytes / 1048576 * 100) / 100);
