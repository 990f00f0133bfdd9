/** Shared pieces of the storage tests: scratch folders, a seeded PRNG, and QEMU's tools when installed. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlockBackend } from '../../src/storage/backend.js';

/** A scratch folder removed when the test ends. */
export function scratch(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-storage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** xorshift32: the same sequence for the same seed, on every run. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  next(): number {
    let s = this.s;
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    this.s = s >>> 0;
    return this.s;
  }
  below(n: number): number {
    return Math.floor((this.next() / 4294967296) * n);
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.next();
      b[i] = v;
      if (i + 1 < n) b[i + 1] = v >>> 8;
      if (i + 2 < n) b[i + 2] = v >>> 16;
      if (i + 3 < n) b[i + 3] = v >>> 24;
    }
    return b;
  }
}

/** Whether a QEMU tool runs here; tests that need it skip with a message otherwise. */
export function hasTool(name: string): boolean {
  const r = spawnSync(name, ['--version'], { encoding: 'utf8' });
  return r.status === 0;
}

export const QEMU_SKIP = 'qemu-img / qemu-io not installed (apt-get install qemu-utils)';
export const haveQemu = hasTool('qemu-img') && hasTool('qemu-io');

/** Runs a QEMU tool; returns its status and output. */
export function run(cmd: string, args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a QEMU tool that must succeed. */
export function must(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** QEMU's view of an image's bytes (the active disk, or with snapshot, that snapshot's), read without a lock. */
export function qemuRead(dir: string, file: string, snapshot?: string): Uint8Array {
  const out = join(dir, `qemu-view-${Math.random().toString(36).slice(2)}.raw`);
  must('qemu-img', ['convert', '-U', '-O', 'raw', ...(snapshot === undefined ? [] : ['-l', `snapshot.name=${snapshot}`]), file, out]);
  const bytes = new Uint8Array(readFileSync(out));
  rmSync(out);
  return bytes;
}

/** `qemu-img check --output=json`: the exit status and the counts that matter. */
export function qemuCheck(file: string): { status: number; corruptions: number; leaks: number; raw: string } {
  const r = run('qemu-img', ['check', '--output=json', file]);
  let corruptions = -1;
  let leaks = -1;
  try {
    const j = JSON.parse(r.stdout) as { corruptions?: number; leaks?: number; 'check-errors'?: number };
    corruptions = (j.corruptions ?? 0) + (j['check-errors'] ?? 0);
    leaks = j.leaks ?? 0;
  } catch {
    // no JSON: leave -1 so that the assertion shows the raw output
  }
  return { status: r.status, corruptions, leaks, raw: (r.stdout + r.stderr).slice(0, 4000) };
}

/** Reads a whole disk. */
export async function readAll(d: BlockBackend): Promise<Uint8Array> {
  const b = new Uint8Array(Math.ceil(d.size / 512) * 512);
  await d.read(0, b);
  return b.subarray(0, d.size);
}

/** The first differing offset of two buffers, or -1. */
export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** A random 512-aligned extent inside a disk of `size` bytes, at most maxSectors long. */
export function extent(rng: Rng, size: number, maxSectors: number): [number, number] {
  const sectors = size / 512;
  const len = 1 + rng.below(Math.min(maxSectors, sectors));
  const off = rng.below(sectors - len + 1);
  return [off * 512, len * 512];
}

/** How a backend's discard shows in reads: raw keeps the data; qcow2 zeroes whole clusters. */
export type DiscardRule = { kind: 'keep' } | { kind: 'clusters'; clusterSize: number };

/**
 * Drives a disk and a reference buffer with the same random operations and checks that every read agrees.
 * The reference is the truth: it knows nothing about formats.
 */
export async function exercise(d: BlockBackend, ref: Uint8Array, rng: Rng, ops: number, discard: DiscardRule, maxSectors = 80): Promise<void> {
  const size = d.size;
  for (let i = 0; i < ops; i++) {
    const [off, len] = extent(rng, size, maxSectors);
    const end = Math.min(off + len, size);
    const op = rng.below(10);
    if (op < 5) {
      const data = rng.bytes(len);
      await d.write(off, data);
      ref.set(data.subarray(0, end - off), off);
    } else if (op === 5) {
      await d.writeZeroes(off, len);
      ref.fill(0, off, end);
    } else if (op === 6) {
      await d.discard(off, len);
      if (discard.kind === 'clusters') {
        const c = discard.clusterSize;
        const first = Math.ceil(off / c) * c;
        // A cluster counts as whole if it lies in the range, or the range reaches the end of the disk.
        for (let s = first; s < end; s += c) if (s + c <= end || end >= size) ref.fill(0, s, Math.min(s + c, size));
      }
    } else if (op === 7) {
      await d.flush();
    } else {
      const got = new Uint8Array(len);
      await d.read(off, got);
      const diff = firstDiff(got.subarray(0, end - off), ref.subarray(off, end));
      if (diff >= 0) throw new Error(`op ${i}: read at ${off}+${len} differs at disk offset ${off + diff}: got ${got[diff]} want ${ref[off + diff]}`);
    }
  }
}

/** Checks the whole disk against the reference. */
export async function verify(d: BlockBackend, ref: Uint8Array, what: string): Promise<void> {
  const got = await readAll(d);
  const diff = firstDiff(got, ref);
  if (diff >= 0) throw new Error(`${what}: differs at offset ${diff}: got ${got[diff]} want ${ref[diff]}`);
}
