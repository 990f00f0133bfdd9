/**
 * Disk backends: the host side of a virtual disk. Every format implements BlockBackend; the virtio-blk
 * device calls it between instruction slices (host I/O is asynchronous and never runs inside an instruction).
 */
import { realpath } from 'node:fs/promises';
import { BonsaiError, fsErrorWords } from '../errors.js';
import { openImageFile } from './file.js';
import { lockImage, type ImageLock } from './lock.js';
import { RawBackend } from './raw.js';
import { Qcow2Backend } from './qcow2.js';
import { QCOW2_MAGIC } from './qcow2-header.js';

export type DiskFormat = 'raw' | 'qcow2';

export interface BlockBackend {
  readonly format: DiskFormat;
  /** Virtual size in bytes. */
  readonly size: number;
  readonly readOnly: boolean;
  /** Reads dst.length bytes at offset. Offset and length are multiples of 512 within the disk. */
  read(offset: number, dst: Uint8Array): Promise<void>;
  /** Writes src at offset. Offset and length are multiples of 512 within the disk. */
  write(offset: number, src: Uint8Array): Promise<void>;
  /** Makes everything written so far durable (fsync), image metadata included. */
  flush(): Promise<void>;
  /**
   * Puts everything written so far in the file (cached metadata written back) without making it durable:
   * what a copy of the file needs, which an fsync would only slow down (live migration's stop).
   */
  settle(): Promise<void>;
  /**
   * Tells the backend the range is no longer needed. Advisory: afterwards the range reads either as before
   * or as zeros (raw keeps the bytes; qcow2 frees whole clusters, which then read as zeros).
   */
  discard(offset: number, length: number): Promise<void>;
  /** Makes the range read as zeros, freeing space where the format can. */
  writeZeroes(offset: number, length: number): Promise<void>;
  /** Writes back what is pending and releases the file (and the backing chain). */
  close(): Promise<void>;
  /**
   * Told of every write to the image's own file (byte position and length in the file, metadata
   * included), after it completed: live migration copies the file while the guest runs.
   */
  onFileWrite?: ((pos: number, length: number) => void) | null;
}

export interface OpenDiskOptions {
  readOnly: boolean;
  /** Forces a format instead of detecting it from the header. */
  format?: DiskFormat;
  /**
   * Read-only opens only: take no lock, so the image may be read while another VM writes it (QEMU's
   * force-share). What the reader sees may then change under it. The backing chain is opened the same way.
   */
  forceShare?: boolean;
}

/** Backing chains longer than this are refused (they are almost certainly a loop or a mistake). */
export const MAX_CHAIN_DEPTH = 64;

/** Opens a disk image, detecting raw or qcow2 from its header unless the format is forced. */
export function openDisk(path: string, opts: OpenDiskOptions): Promise<BlockBackend> {
  return openChained(path, opts, []);
}

async function openChained(path: string, opts: OpenDiskOptions, chain: string[]): Promise<BlockBackend> {
  const forceShare = opts.forceShare === true && opts.readOnly;
  if (chain.length >= MAX_CHAIN_DEPTH) throw new BonsaiError(`${path}: backing chain is deeper than ${MAX_CHAIN_DEPTH} images`);
  const file = await openImageFile(path, opts.readOnly, 'cannot open disk image');
  const fh = file.fh;
  let lock: ImageLock | null = null;
  try {
    const real = await realpath(path);
    if (chain.includes(real)) throw new BonsaiError(`${path}: backing chain loops back to ${path}`);
    // Before the first byte is read: a writer elsewhere may be halfway through changing the metadata.
    if (!forceShare) lock = await lockImage(path, file, opts.readOnly ? 'shared' : 'write');
    const onClose = async (): Promise<void> => { await lock?.release(); };
    const head = new Uint8Array(512);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const format = opts.format ?? sniffFormat(head.subarray(0, bytesRead), path);
    if (format === 'raw') return await RawBackend.open(fh, path, { readOnly: opts.readOnly, probed: opts.format === undefined, size: file.size, onClose });
    return await Qcow2Backend.open(fh, path, {
      readOnly: opts.readOnly,
      openBacking: (p, f) => openChained(p, { readOnly: true, format: f, forceShare }, [...chain, real]),
      onClose,
    });
  } catch (e) {
    await fh.close().catch(() => undefined);
    await lock?.release();
    if (e instanceof BonsaiError || e instanceof RangeError) throw e;
    throw new BonsaiError(`${path}: cannot open disk image: ${fsErrorWords(e)}`);
  }
}

/** Detects the format from the first sector; refuses other image formats rather than showing them as raw. */
export function sniffFormat(head: Uint8Array, path: string): DiskFormat {
  if (head.length >= 4) {
    const magic = ((head[0] << 24) | (head[1] << 16) | (head[2] << 8) | head[3]) >>> 0;
    if (magic === QCOW2_MAGIC) return 'qcow2';
  }
  const ascii = String.fromCharCode(...head.subarray(0, 64));
  const other: [string, string][] = [['KDMV', 'VMDK'], ['vhdxfile', 'VHDX'], ['conectix', 'VHD'], ['<<< Oracle VM VirtualBox Disk Image >>>', 'VDI']];
  for (const [sig, name] of other) {
    if (ascii.startsWith(sig)) {
      throw new BonsaiError(`${path}: is a ${name} image, which Bonsai does not read; convert it with 'qemu-img convert -O qcow2' (or force --format raw)`);
    }
  }
  return 'raw';
}
