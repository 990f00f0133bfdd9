/**
 * Image operations behind `bonsai image`: create, info, convert, resize, snapshot. Files that hold state are built
 * under a temporary name in the destination's folder, flushed, then renamed into place; a failed operation
 * leaves what existed before.
 */
import { constants as fsConstants } from 'node:fs';
import { access, open, realpath, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BonsaiError, fsErrorWords } from '../errors.js';
import { MAX_CHAIN_DEPTH, openDisk, sniffFormat, type BlockBackend, type DiskFormat } from './backend.js';
import { openImageFile } from './file.js';
import { Qcow2Backend, type Qcow2Snapshot } from './qcow2.js';
import { COMPAT_LAZY_REFCOUNTS, EXT_BACKING_FORMAT, EXT_BITMAPS, EXT_FEATURE_TABLE, formatQcow2, INCOMPAT_CORRUPT } from './qcow2-header.js';
import { alignUp } from './util.js';

const UNITS: Record<string, number> = { '': 1, B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40, P: 2 ** 50 };

/** Parses 1G, 512M, 10GiB, 65536, 1.5T into bytes (binary units). */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:i?B)?$/i.exec(text.trim());
  if (m === null) throw new BonsaiError(`'${text}' is not a size (examples: 10G, 512M, 65536)`);
  const bytes = Math.round(Number(m[1]) * UNITS[m[2].toUpperCase()]);
  if (!Number.isSafeInteger(bytes)) throw new BonsaiError(`'${text}' is too large`);
  return bytes;
}

/** 1073741824 -> "1 GiB"; sizes that are not whole units keep a decimal. */
export function formatSize(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${bytes} bytes` : `${Number.isInteger(v) ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Builds a new file under a temporary name next to dst, then renames it into place (and syncs the folder).
 * An existing dst is refused: images are too precious to overwrite by accident.
 */
async function writeNewFile(dst: string, build: (tmp: string) => Promise<void>): Promise<void> {
  if (await exists(dst)) throw new BonsaiError(`${dst}: already exists (Bonsai does not overwrite images; remove it first)`);
  const dir = dirname(dst);
  const tmp = join(dir, `.${basename(dst)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await build(tmp);
    await rename(tmp, dst);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    if (e instanceof BonsaiError) throw e;
    throw new BonsaiError(`${dst}: cannot write: ${fsErrorWords(e)}`);
  }
  try {
    const d = await open(dir, 'r');
    await d.sync().finally(() => d.close());
  } catch {
    // Some file systems cannot sync a folder; the rename itself has happened.
  }
}

/** Creates the temporary file tmp for dst; errors name dst, the file the user asked for. */
async function createFile(tmp: string, dst: string): Promise<FileHandle> {
  try {
    return await open(tmp, 'wx');
  } catch (e) {
    throw new BonsaiError(`${dst}: cannot create: ${fsErrorWords(e)}`);
  }
}

export interface CreateOptions {
  format?: DiskFormat;
  /** Virtual size in bytes; with a backing file it defaults to the backing file's. Rounded up to 512. */
  size?: number;
  /** Backing file as it will be stored: a relative name is relative to the new image's folder. */
  backing?: string;
  /** qcow2 cluster size in bytes (default 64 KiB). */
  clusterSize?: number;
}

/** Creates an empty image (a sparse raw file, or a qcow2 image, optionally over a backing file). */
export async function createImage(path: string, opts: CreateOptions): Promise<void> {
  const format = opts.format ?? 'qcow2';
  let size = opts.size;
  let backingFormat: DiskFormat | undefined;
  if (opts.backing !== undefined) {
    if (format === 'raw') throw new BonsaiError(`${path}: a raw image cannot have a backing file (use --format qcow2)`);
    const resolved = isAbsolute(opts.backing) ? opts.backing : resolve(dirname(path), opts.backing);
    if (!(await exists(resolved))) {
      const hint = !isAbsolute(opts.backing) && (await exists(opts.backing))
        ? ` (a relative backing path is relative to the new image's folder, ${dirname(resolve(path))}; give '${resolve(opts.backing)}' or a path from that folder)`
        : '';
      throw new BonsaiError(`${path}: backing file ${resolved}: no such file${hint}`);
    }
    const base = await openDisk(resolved, { readOnly: true });
    try {
      backingFormat = base.format;
      size ??= base.size;
    } finally {
      await base.close();
    }
  }
  if (size === undefined) throw new BonsaiError(`${path}: give a size (or a backing file to take it from)`);
  if (!Number.isSafeInteger(size) || size < 0) throw new BonsaiError(`${path}: invalid size ${size}`);
  size = alignUp(size, 512);
  let clusterBits: number | undefined;
  if (opts.clusterSize !== undefined) {
    clusterBits = Math.log2(opts.clusterSize);
    if (format === 'raw') throw new BonsaiError(`${path}: raw images have no clusters`);
    if (!Number.isInteger(clusterBits) || clusterBits < 9 || clusterBits > 21) {
      throw new BonsaiError(`cluster size ${opts.clusterSize} is not a power of two from 512 bytes to 2 MiB`);
    }
  }
  const finalSize = size;
  await writeNewFile(path, async (tmp) => {
    const fh = await createFile(tmp, path);
    try {
      if (format === 'raw') await fh.truncate(finalSize);
      else await fh.writeFile(formatQcow2(finalSize, { clusterBits, backingFile: opts.backing, backingFormat }));
      await fh.sync();
    } finally {
      await fh.close();
    }
  });
}

export interface ImageInfo {
  path: string;
  format: DiskFormat;
  virtualSize: number;
  /** Bytes the file occupies on the host's disk (allocated blocks). */
  diskSize: number;
  /** Length of the file. */
  fileLength: number;
  qcow2?: {
    version: number;
    clusterSize: number;
    refcountBits: number;
    lazyRefcounts: boolean;
    corrupt: boolean;
    snapshots: number;
    /** Header extensions by name (unknown ones by type). */
    extensions: string[];
  };
  /** The backing file name as stored in the image. */
  backingFile?: string;
  /** The backing file name resolved against the image's folder. */
  backingPath?: string;
  backingFormat?: string;
  /** The next image down the chain, or why it could not be read. */
  backing?: ImageInfo | { path: string; error: string };
}

/** Describes an image and its backing chain without opening anything for writing. */
export async function imageInfo(path: string): Promise<ImageInfo> {
  return inspect(path, []);
}

async function inspect(path: string, seen: string[]): Promise<ImageInfo> {
  if (seen.length >= MAX_CHAIN_DEPTH) throw new BonsaiError(`${path}: backing chain is deeper than ${MAX_CHAIN_DEPTH} images`);
  // No lock: info only reads, like qemu-img info -U, so it also describes an image a VM has open.
  const file = await openImageFile(path, true, 'cannot open');
  const fh = file.fh;
  let info: ImageInfo;
  try {
    const st = await fh.stat();
    const head = new Uint8Array(512);
    const { bytesRead } = await fh.read(head, 0, 512, 0);
    const format = sniffFormat(head.subarray(0, bytesRead), path);
    info = { path, format, virtualSize: file.size, diskSize: st.blocks * 512, fileLength: file.size };
    if (format === 'qcow2') {
      const q = await Qcow2Backend.open(fh, path, { readOnly: true, openBacking: null });
      const h = q.header;
      const extNames: Record<number, string> = { [EXT_BACKING_FORMAT]: 'backing format', [EXT_FEATURE_TABLE]: 'feature names', [EXT_BITMAPS]: 'bitmaps' };
      info.virtualSize = q.size;
      info.qcow2 = {
        version: h.version,
        clusterSize: q.clusterSize,
        refcountBits: 2 ** h.refcountOrder,
        lazyRefcounts: (h.compatibleFeatures & COMPAT_LAZY_REFCOUNTS) !== 0n,
        corrupt: (h.incompatibleFeatures & INCOMPAT_CORRUPT) !== 0n,
        snapshots: h.nbSnapshots,
        extensions: h.extensions.map((e) => extNames[e.type] ?? `0x${e.type.toString(16).padStart(8, '0')}`),
      };
      if (h.backingFile !== null) {
        info.backingFile = h.backingFile;
        info.backingPath = q.backingPath ?? undefined;
        if (h.backingFormat !== null) info.backingFormat = h.backingFormat;
      }
    }
  } finally {
    await fh.close();
  }
  if (info.backingPath !== undefined) {
    const bp = info.backingPath;
    try {
      const chain = [...seen, await realpath(path)];
      const next = await realpath(bp).catch(() => null); // a missing file is reported by inspect
      if (next !== null && chain.includes(next)) throw new BonsaiError(`${bp}: backing chain loops back to ${bp}`);
      info.backing = await inspect(bp, chain);
    } catch (e) {
      if (!(e instanceof BonsaiError)) throw e;
      info.backing = { path: bp, error: e.message };
    }
  }
  return info;
}

export interface ConvertOptions {
  format?: DiskFormat;
  /** qcow2 cluster size of the destination. */
  clusterSize?: number;
  /** Called as data is copied: bytes done of total. */
  onProgress?: (done: number, total: number) => void;
}

const CONVERT_CHUNK = 2 << 20;

function allZero(b: Uint8Array): boolean {
  const words = new Uint32Array(b.buffer, b.byteOffset, b.length >>> 2);
  for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
  for (let i = words.length * 4; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** Copies a disk (its whole backing chain flattened) into a new image; zero areas stay unallocated. */
export async function convertImage(src: string, dst: string, opts: ConvertOptions = {}): Promise<void> {
  const format = opts.format ?? 'qcow2';
  if (await exists(dst)) {
    // Checked before the source is opened so that SRC == DST fails early and harmlessly.
    throw new BonsaiError(`${dst}: already exists (Bonsai does not overwrite images; remove it first)`);
  }
  const from = await openDisk(src, { readOnly: true });
  try {
    const total = from.size;
    await writeNewFile(dst, async (tmp) => {
      const fh = await createFile(tmp, dst);
      try {
        if (format === 'raw') await fh.truncate(total);
        else {
          const bits = opts.clusterSize === undefined ? undefined : Math.log2(opts.clusterSize);
          await fh.writeFile(formatQcow2(alignUp(total, 512), { clusterBits: bits }));
        }
      } finally {
        await fh.close();
      }
      const to = await openDisk(tmp, { readOnly: false, format });
      try {
        await copy(from, to, total, opts.onProgress);
        await to.flush();
      } finally {
        await to.close();
      }
    });
  } finally {
    await from.close();
  }
}

async function copy(from: BlockBackend, to: BlockBackend, total: number, onProgress?: (done: number, total: number) => void): Promise<void> {
  const buf = new Uint8Array(CONVERT_CHUNK);
  const end = alignUp(total, 512);
  onProgress?.(0, total);
  for (let off = 0; off < end; off += CONVERT_CHUNK) {
    const n = Math.min(CONVERT_CHUNK, end - off);
    const chunk = buf.subarray(0, n);
    const skip = from instanceof Qcow2Backend && !(await from.allocated(off, n));
    if (!skip) {
      await from.read(off, chunk);
      if (!allZero(chunk)) await to.write(off, chunk);
    }
    onProgress?.(Math.min(off + n, total), total);
  }
}

export interface ResizeOptions {
  /** Allow a raw image to shrink (data past the new end is lost). */
  shrink?: boolean;
}

/** Changes an image's virtual size: qcow2 images grow only; raw images shrink with opts.shrink. */
export async function resizeImage(path: string, size: number, opts: ResizeOptions = {}): Promise<void> {
  const disk = await openDisk(path, { readOnly: false });
  try {
    if (disk instanceof Qcow2Backend) {
      const newSize = alignUp(size, 512);
      if (newSize < disk.size) throw new BonsaiError(`${path}: shrinking a qcow2 image is not supported (its size is ${disk.size} bytes)`);
      await disk.grow(newSize);
      return;
    }
  } finally {
    await disk.close();
  }
  const st = await stat(path);
  if (size < st.size && opts.shrink !== true) {
    throw new BonsaiError(`${path}: ${size} bytes would shrink the disk from ${st.size} bytes and lose the data past the new end; pass --shrink to do it anyway`);
  }
  const fh = await open(path, 'r+');
  try {
    await fh.truncate(size);
    await fh.sync();
  } catch (e) {
    throw new BonsaiError(`${path}: cannot resize: ${fsErrorWords(e)}`);
  } finally {
    await fh.close();
  }
}

export type SnapshotAction = { action: 'create' | 'apply' | 'delete'; name: string };

/** Opens an image for a snapshot command: qcow2 only (a raw image has nowhere to keep snapshots). */
async function openForSnapshots(path: string, readOnly: boolean): Promise<Qcow2Backend> {
  const disk = await openDisk(path, { readOnly });
  if (disk instanceof Qcow2Backend) return disk;
  await disk.close();
  throw new BonsaiError(`${path}: is a raw image, which has no internal snapshots (convert it: bonsai image convert ${path} NEW.qcow2)`);
}

/** The internal snapshots of a (stopped) image, like `qemu-img snapshot -l`. */
export async function listImageSnapshots(path: string): Promise<Qcow2Snapshot[]> {
  const disk = await openForSnapshots(path, true);
  try {
    return await disk.listSnapshots();
  } finally {
    await disk.close();
  }
}

/** Creates, applies (reverts the disk to) or deletes an internal snapshot of a stopped image, like `qemu-img snapshot -c|-a|-d`. */
export async function changeImageSnapshot(path: string, op: SnapshotAction): Promise<void> {
  const disk = await openForSnapshots(path, false);
  try {
    if (op.action === 'create') await disk.createSnapshot({ name: op.name });
    else if (op.action === 'apply') await disk.revertToSnapshot(op.name);
    else await disk.deleteSnapshot(op.name);
    await disk.flush();
  } finally {
    await disk.close();
  }
}
