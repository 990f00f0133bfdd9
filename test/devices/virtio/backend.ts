/** An in-memory BlockBackend for tests, whose operations can be held back and released in any order. */
import type { BlockBackend, DiskFormat } from '../../../src/storage/backend.js';

export class MemBackend implements BlockBackend {
  readonly format: DiskFormat = 'raw';
  data: Uint8Array;
  flushes = 0;
  /** Every operation, in the order it reached the backend: [kind, offset, length]. */
  calls: [string, number, number][] = [];
  /** While set, operations wait in `held` until released. */
  hold = false;
  /** Operations on these byte offsets fail. */
  failAt = new Set<number>();
  private held: { what: string; go: () => void }[] = [];

  constructor(size: number, readonly readOnly = false) {
    this.data = new Uint8Array(size);
  }

  get size(): number { return this.data.length; }

  resize(size: number): void {
    const d = new Uint8Array(size);
    d.set(this.data.subarray(0, Math.min(size, this.data.length)));
    this.data = d;
  }

  /** Operations waiting to be released. */
  get waiting(): string[] { return this.held.map((h) => h.what); }

  /** Releases the held operation at `index` (default: all of them, oldest first). */
  release(index?: number): void {
    if (index === undefined) {
      const all = this.held;
      this.held = [];
      for (const h of all) h.go();
      return;
    }
    const [h] = this.held.splice(index, 1);
    h.go();
  }

  private async gate(what: string, offset: number, length: number): Promise<void> {
    this.calls.push([what, offset, length]);
    if (this.hold) await new Promise<void>((go) => this.held.push({ what: `${what}@${offset}`, go }));
    if (this.failAt.has(offset)) throw new Error(`${what} failed at ${offset}`);
    if (offset < 0 || offset + length > this.data.length || offset % 512 !== 0 || length % 512 !== 0) {
      throw new RangeError(`${what}: bad range ${offset}+${length}`);
    }
  }

  async read(offset: number, dst: Uint8Array): Promise<void> {
    await this.gate('read', offset, dst.length);
    dst.set(this.data.subarray(offset, offset + dst.length));
  }

  async write(offset: number, src: Uint8Array): Promise<void> {
    await this.gate('write', offset, src.length);
    if (this.readOnly) throw new Error('read-only');
    this.data.set(src, offset);
  }

  async settle(): Promise<void> {}

  async flush(): Promise<void> {
    await this.gate('flush', 0, 0);
    this.flushes++;
  }

  async discard(offset: number, length: number): Promise<void> {
    await this.gate('discard', offset, length);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    await this.gate('writeZeroes', offset, length);
    this.data.fill(0, offset, offset + length);
  }

  async close(): Promise<void> {}
}
