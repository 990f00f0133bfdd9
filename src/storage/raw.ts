/** Raw images: the file is the disk, byte for byte. */
import type { FileHandle } from 'node:fs/promises';
import { BonsaiError, fsErrorWords } from '../errors.js';
import type { BlockBackend } from './backend.js';
import { checkRange } from './util.js';

const ZERO_CHUNK = 1 << 20;

export interface RawOpenOptions {
  readOnly: boolean;
  /**
   * The format was detected rather than forced. Then a guest may not write a qcow2 magic into the first
   * sector: on the next detection the disk would be read as qcow2, and its header could name any host file
   * as a backing file.
   */
  probed: boolean;
  /** The disk's size (a block device's capacity; fstat says 0 for those). */
  size: number;
  /** Called once the disk is closed (releases its lock). */
  onClose?: () => Promise<void>;
}

export class RawBackend implements BlockBackend {
  onFileWrite: ((pos: number, length: number) => void) | null = null;
  readonly format = 'raw' as const;
  private closed = false;

  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    readonly size: number,
    readonly readOnly: boolean,
    private readonly probed: boolean,
    private readonly onClose: (() => Promise<void>) | undefined,
  ) {}

  /** Takes ownership of an open file handle (of a regular file or a block device: see file.ts). */
  static async open(fh: FileHandle, path: string, opts: RawOpenOptions): Promise<RawBackend> {
    return new RawBackend(fh, path, opts.size, opts.readOnly, opts.probed, opts.onClose);
  }

  async read(offset: number, dst: Uint8Array): Promise<void> {
    this.live();
    checkRange(this.size, offset, dst.length, `${this.path}: read`);
    let done = 0;
    while (done < dst.length) {
      const { bytesRead } = await this.io(() => this.fh.read(dst, done, dst.length - done, offset + done));
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    // Past the end of the file (a size that is not a multiple of 512, or a file truncated under us) reads as zeros.
    dst.fill(0, done);
  }

  async write(offset: number, src: Uint8Array): Promise<void> {
    this.writable();
    checkRange(this.size, offset, src.length, `${this.path}: write`);
    if (this.probed && offset === 0 && src.length >= 4 && src[0] === 0x51 && src[1] === 0x46 && src[2] === 0x49 && src[3] === 0xfb) {
      throw new BonsaiError(`${this.path}: refused a write of a qcow2 header into a raw disk whose format was detected (open it with format raw to allow it)`);
    }
    // A size that is not a multiple of 512 leaves a partial last sector: never grow the file past it.
    await this.writeAll(offset, src.subarray(0, Math.max(0, Math.min(src.length, this.size - offset))));
  }

  async flush(): Promise<void> {
    this.live();
    if (!this.readOnly) await this.io(() => this.fh.sync());
  }

  /** Raw writes go straight to the file: nothing to write back. */
  async settle(): Promise<void> {
    this.live();
  }

  /** Advisory and a no-op: Node.js cannot punch holes, and writing zeros would cost more than it saves. */
  async discard(offset: number, length: number): Promise<void> {
    this.writable();
    checkRange(this.size, offset, length, `${this.path}: discard`);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    this.writable();
    checkRange(this.size, offset, length, `${this.path}: write zeroes`);
    const zeros = new Uint8Array(Math.min(length, ZERO_CHUNK));
    for (let done = 0; done < length; done += zeros.length) {
      await this.writeAll(offset + done, zeros.subarray(0, Math.max(0, Math.min(zeros.length, length - done, this.size - offset - done))));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.fh.close();
    } finally {
      await this.onClose?.();
    }
  }

  private async writeAll(offset: number, src: Uint8Array): Promise<void> {
    let done = 0;
    while (done < src.length) {
      const { bytesWritten } = await this.io(() => this.fh.write(src, done, src.length - done, offset + done));
      done += bytesWritten;
    }
    this.onFileWrite?.(offset, src.length);
  }

  private async io<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw new BonsaiError(`${this.path}: I/O error: ${fsErrorWords(e)}`);
    }
  }

  private live(): void {
    if (this.closed) throw new Error(`${this.path}: used after close`);
  }

  private writable(): void {
    this.live();
    if (this.readOnly) throw new BonsaiError(`${this.path}: the disk is read-only`);
  }
}
