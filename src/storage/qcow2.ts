/**
 * qcow2 images, after QEMU docs/interop/qcow2.txt: version 3 (version 2 too), 16-bit refcounts, backing chains,
 * zero clusters, discard, and zlib-compressed clusters for reading.
 *
 * Metadata (L2 tables, refcount blocks, the L1 and refcount tables) is cached and written back in an order
 * that keeps the image consistent at every instant, so that a process killed (or a host that loses power)
 * at any point leaves at worst leaked clusters:
 *   guest data -> never-referenced new tables -> refcount increments -> refcount table / header
 *   -> L2 tables and L1 entries that point at the new clusters -> refcount decrements of freed clusters,
 * with an fsync between steps. Freed clusters are not reused before the write-back that drops their last
 * reference from the disk. Write-back runs on flush(), on close(), and when too much metadata is dirty.
 */
import type { FileHandle } from 'node:fs/promises';
import { fstatSync, readSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { constants as zlibConstants, inflateRawSync } from 'node:zlib';
import { BonsaiError, fsErrorWords } from '../errors.js';
import type { BlockBackend, DiskFormat } from './backend.js';
import { alignUp, checkRange, hex, Mutex } from './util.js';
import {
  INCOMPAT_COMPRESSION, INCOMPAT_CORRUPT, INCOMPAT_DATA_FILE, INCOMPAT_DIRTY, INCOMPAT_EXTL2, MAX_L1_BYTES, MAX_REFTABLE_BYTES,
  MAX_CLUSTER_BITS, MIN_CLUSTER_BITS, parseHeader, TWO32, type Qcow2Header,
} from './qcow2-header.js';
import { checkRefcounts } from './qcow2-check.js';
import {
  describeEntry, encodeSnapshotTable, findSnapshot, MAX_SNAPSHOT_TABLE, MAX_SNAPSHOTS, nextSnapshotId, parseSnapshotTable, type SnapshotEntry,
} from './qcow2-snapshot.js';

// Table entries are big-endian 64-bit words, handled as two 32-bit halves (no BigInt on the I/O path).
const OFLAG_COPIED = 0x80000000; // bit 63, high word: the refcount is exactly one, writes may go in place
const OFLAG_COMPRESSED = 0x40000000; // bit 62, high word
const OFLAG_ZERO = 1; // bit 0, low word (version 3): the cluster reads as zeros

/** Write-back starts by itself once this many tables are dirty. */
const DIRTY_TABLE_LIMIT = 256;
/** Clean tables kept in each cache (beyond those the current operation touches). */
const CACHE_TABLES = 512;

export interface Qcow2OpenOptions {
  readOnly: boolean;
  /** Opens a backing file (read-only); null: do not open the backing chain (for inspecting one image). */
  openBacking: ((path: string, format: DiskFormat | undefined) => Promise<BlockBackend>) | null;
  /** Called once the image is closed (releases its lock). */
  onClose?: () => Promise<void>;
  /**
   * Skip the refcount check a writable open makes (reload only: the image was checked when it was first
   * opened, and written since only by a Bonsai keeping it consistent, its pieces checksummed on the way).
   */
  trusted?: boolean;
  /**
   * Read the metadata with blocking calls (from the page cache, microseconds each) instead of through
   * libuv's thread pool, whose turn can come milliseconds later on a busy host: for a reload in a live
   * migration's pause, where the guest waits for nothing else.
   */
  blocking?: boolean;
}

/** What the user reads once an image has been found inconsistent (QEMU's corrupt bit, qcow2.txt bit 1). */
const CORRUPT_ADVICE = "open it read-only to read it, or repair it with 'qemu-img check -r all'";

/**
 * Sets the corrupt bit in the header (qcow2.txt: no writes until repaired), so that neither Bonsai nor QEMU
 * writes to the image again before it is checked. Returns what became of the image, for the message.
 */
async function markCorrupt(fh: FileHandle, h: Qcow2Header): Promise<string> {
  // Version 2 has no feature bits: byte 72 on is where its extensions begin.
  if (h.version === 2) return 'a version 2 image has no corrupt bit to set';
  try {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, h.incompatibleFeatures | INCOMPAT_CORRUPT);
    await fh.write(b, 0, 8, 72);
    await fh.sync();
    h.incompatibleFeatures |= INCOMPAT_CORRUPT;
    return 'marked the image corrupt';
  } catch {
    return 'could not mark the image corrupt';
  }
}

function corruptMessage(problem: string, marked: string, atOpen: boolean): string {
  return `corrupt metadata: ${problem}; ${marked}, ${atOpen ? 'nothing was written' : 'it takes no more writes'} (${CORRUPT_ADVICE})`;
}

/** A cached L2 table or refcount block: one cluster. */
interface Table {
  offset: number;
  buf: Uint8Array;
  view: DataView;
  dirty: boolean;
  /** Not yet referenced from the disk: may be written before anything else. */
  fresh: boolean;
}

const UNALLOCATED = 0;
const ZERO = 1;
const DATA = 2;
const COMPRESSED = 3;

/** What an L2 entry says about one guest cluster. */
interface Mapping {
  kind: typeof UNALLOCATED | typeof ZERO | typeof DATA | typeof COMPRESSED;
  /** Host offset (may be 0 for ZERO); for COMPRESSED, the first byte of the compressed data. */
  host: number;
  copied: boolean;
  /** COMPRESSED: bytes from host to the end of the last sector holding compressed data. */
  bytes: number;
}

const UNMAPPED: Mapping = { kind: UNALLOCATED, host: 0, copied: false, bytes: 0 };

interface Slot {
  table: Table;
  index: number;
}

function newTable(offset: number, size: number, fresh: boolean): Table {
  const buf = new Uint8Array(size);
  return { offset, buf, view: new DataView(buf.buffer), dirty: fresh, fresh };
}

/** A snapshot as the VMM and the CLI see it. */
export interface Qcow2Snapshot {
  /** Unique in the image: a decimal number for those Bonsai and QEMU make. */
  id: string;
  name: string;
  /** Bytes of VM state saved in the image with it (0 for Bonsai's: its machine state lives beside the disk). */
  vmStateSize: number;
  date: Date;
  /** The guest's clock when it was taken, in nanoseconds. */
  vmClockNs: number;
  /** The virtual disk's size when it was taken. */
  diskSize: number;
  /** QEMU's record/replay instruction count, when one was recorded. */
  icount?: number;
}

function publicSnapshot(e: SnapshotEntry): Qcow2Snapshot {
  const s: Qcow2Snapshot = {
    id: e.id, name: e.name, vmStateSize: e.vmStateSize,
    date: new Date(e.dateSec * 1000 + Math.floor(e.dateNsec / 1e6)),
    vmClockNs: Number(e.vmClockNs), diskSize: e.diskSize,
  };
  if (e.icount !== undefined) s.icount = Number(e.icount);
  return s;
}

/** A backing file could not be opened; `link` is the error of the link that failed. */
export class BackingChainError extends BonsaiError {
  constructor(message: string, readonly link: string) {
    super(message);
  }
}

/** Where a Shadow finds the refcounts as they are on disk. */
interface ShadowSource {
  /** Refcount block t as it is now, or null if there is none. */
  block(t: number): Promise<{ offset: number; buf: Uint8Array } | null>;
  isMeta(cluster: number): boolean;
  hint: number;
  corrupt(problem: string): Promise<BonsaiError>;
  path: string;
}

/**
 * A change to the image built beside it: the refcount blocks it changes, as they will be (each to be
 * written to a new cluster), and the new clusters it takes, all of them free in the image as it is on disk.
 */
class Shadow {
  /** Refcount table index -> the block's new contents and new offset (-1 until placed), and its old offset. */
  readonly blocks = new Map<number, { offset: number; buf: Uint8Array; view: DataView; old: number }>();
  readonly taken = new Set<number>();
  readonly writes: { offset: number; data: Uint8Array }[] = [];
  /** New L2 tables by offset, for the cache once the change is made. */
  readonly l2Copies = new Map<number, Uint8Array>();
  private hint: number;

  constructor(private readonly c: number, private readonly rbEntries: number, private readonly src: ShadowSource) {
    this.hint = Math.max(1, src.hint);
  }

  write(offset: number, data: Uint8Array): void {
    this.writes.push({ offset, data });
  }

  private async oldRc(i: number): Promise<number> {
    const t = Math.floor(i / this.rbEntries);
    const b = await this.src.block(t);
    if (b === null) return 0;
    return (b.buf[(i - t * this.rbEntries) * 2] << 8) | b.buf[(i - t * this.rbEntries) * 2 + 1];
  }

  /** The refcount of cluster i once the change is made. */
  async rc(i: number): Promise<number> {
    const t = Math.floor(i / this.rbEntries);
    const b = this.blocks.get(t);
    return b === undefined ? this.oldRc(i) : b.view.getUint16((i - t * this.rbEntries) * 2);
  }

  async add(i: number, delta: number): Promise<void> {
    const t = Math.floor(i / this.rbEntries);
    let b = this.blocks.get(t);
    if (b === undefined) {
      const old = await this.src.block(t);
      const buf = old === null ? new Uint8Array(this.c) : old.buf.slice();
      b = { offset: -1, buf, view: new DataView(buf.buffer), old: old?.offset ?? 0 };
      this.blocks.set(t, b);
    }
    const k = (i - t * this.rbEntries) * 2;
    const v = b.view.getUint16(k) + delta;
    if (v < 0) throw await this.src.corrupt(`cluster ${hex(i * this.c)} is freed more often than it is used`);
    if (v > 0xffff) throw new BonsaiError(`${this.src.path}: cluster ${hex(i * this.c)} would be used more than 65535 times (too many snapshots)`);
    b.view.setUint16(k, v);
  }

  private async isFree(i: number): Promise<boolean> {
    return !this.taken.has(i) && !this.src.isMeta(i) && (await this.oldRc(i)) === 0 && (await this.rc(i)) === 0;
  }

  /** The first of n contiguous clusters free both on disk and in the change; they get refcount 1. */
  async alloc(n: number): Promise<number> {
    let i = this.hint;
    for (let k = 0; k < n; k++) {
      if (!(await this.isFree(i + k))) {
        i = i + k + 1;
        k = -1;
      }
    }
    for (let k = 0; k < n; k++) {
      this.taken.add(i + k);
      await this.add(i + k, +1);
    }
    if (n === 1) this.hint = i + 1;
    return i;
  }

  /** Gives back clusters alloc took. */
  async release(first: number, n: number): Promise<void> {
    for (let k = 0; k < n; k++) {
      this.taken.delete(first + k);
      await this.add(first + k, -1);
    }
    this.hint = Math.min(this.hint, first);
  }

  maxBlock(): number {
    let max = -1;
    for (const t of this.blocks.keys()) max = Math.max(max, t);
    return max;
  }

  /** One past the highest cluster taken. */
  end(): number {
    let max = 0;
    for (const i of this.taken) max = Math.max(max, i + 1);
    return max;
  }

  /**
   * Gives every changed block a new cluster (whose refcount may change another block, and so on) and frees
   * the old one. False if a block falls outside a refcount table of rtEntries entries.
   */
  async placeBlocks(rtEntries: number): Promise<boolean> {
    for (;;) {
      const unplaced = [...this.blocks].filter(([, b]) => b.offset < 0);
      if (unplaced.length === 0) return this.maxBlock() < rtEntries;
      for (const [t, b] of unplaced) {
        if (t >= rtEntries) return false;
        b.offset = (await this.alloc(1)) * this.c;
        if (b.old !== 0) await this.add(b.old / this.c, -1);
      }
    }
  }

  /** Clusters in use on disk that the change frees. */
  async freed(): Promise<number[]> {
    const out: number[] = [];
    for (const [t, b] of this.blocks) {
      const old = await this.src.block(t);
      if (old === null) continue;
      for (let k = 0; k < this.rbEntries; k++) {
        if (b.view.getUint16(k * 2) === 0 && (old.buf[k * 2] | old.buf[k * 2 + 1]) !== 0) out.push(t * this.rbEntries + k);
      }
    }
    return out;
  }
}

export class Qcow2Backend implements BlockBackend {
  onFileWrite: ((pos: number, length: number) => void) | null = null;
  readonly format = 'qcow2' as const;
  /** The backing file's path, resolved against this image's folder. */
  readonly backingPath: string | null;

  private readonly c: number;
  private readonly cbits: number;
  private readonly l2Entries: number;
  private readonly rbEntries: number;
  private readonly mutex = new Mutex();
  private closed = false;

  private virtualSize: number;
  private l1: Uint8Array;
  private l1v: DataView;
  private l1Offset: number;
  private l1Size: number;
  private l1DirtyLo = Infinity;
  private l1DirtyHi = -1;

  private rt: Uint8Array;
  private rtv: DataView;
  private rtOffset: number;
  private rtClusters: number;
  private rtEntries: number;
  private rtDirtyLo = Infinity;
  private rtDirtyHi = -1;
  /** The refcount table was moved in memory; the header still points at the old one. */
  private rtMoved = false;

  private readonly l2Cache = new Map<number, Table>();
  private readonly rbCache = new Map<number, Table>();
  /** Cluster indices that hold metadata: data clusters must never point into them. */
  private readonly metaClusters = new Set<number>();
  /** Host byte ranges [offset, bytes] whose refcount drops at the end of the next write-back. */
  private pendingFrees: number[] = [];
  /** Bytes of file in use: the file's size, or more once clusters are allocated in memory. */
  private fileEnd: number;
  /** One past the highest cluster allocated or present in the file. */
  private endCluster: number;
  private freeHint = 1;
  private reservedFrom = 0;
  private reservedTo = 0;
  /** Something was written since the last fsync. */
  private unsynced = false;
  private lastCompressed: { host: number; data: Uint8Array } | null = null;
  /** Inconsistent metadata was found while open: no more writes. */
  private corrupt = false;
  /** The snapshot table as it is on disk, and its length in bytes. */
  private snapshots: SnapshotEntry[] = [];
  private snapshotsBytes = 0;
  private onClose: (() => Promise<void>) | undefined;
  private openBacking: Qcow2OpenOptions['openBacking'] = null;

  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    readonly header: Qcow2Header,
    readonly readOnly: boolean,
    readonly backing: BlockBackend | null,
    backingPath: string | null,
    fileSize: number,
    l1: Uint8Array,
    rt: Uint8Array,
  ) {
    this.backingPath = backingPath;
    this.cbits = header.clusterBits;
    this.c = 2 ** header.clusterBits;
    this.l2Entries = this.c / 8;
    this.rbEntries = this.c / 2;
    this.virtualSize = header.size;
    this.l1 = l1;
    this.l1v = new DataView(l1.buffer);
    this.l1Offset = header.l1TableOffset;
    this.l1Size = header.l1Size;
    this.rt = rt;
    this.rtv = new DataView(rt.buffer);
    this.rtOffset = header.refcountTableOffset;
    this.rtClusters = header.refcountTableClusters;
    this.rtEntries = rt.length / 8;
    this.fileEnd = fileSize;
    this.endCluster = Math.ceil(fileSize / this.c);
  }

  get size(): number {
    return this.virtualSize;
  }

  get clusterSize(): number {
    return this.c;
  }

  /**
   * Takes ownership of an open file handle. Checks the whole layout before anything else happens and never
   * writes to an image it refuses.
   */
  static async open(fh: FileHandle, path: string, opts: Qcow2OpenOptions): Promise<Qcow2Backend> {
    const fail = (msg: string): BonsaiError => new BonsaiError(`${path}: ${msg}`);
    const blocking = opts.blocking === true;
    const st = blocking ? fstatSync(fh.fd) : await fh.stat();
    if (!st.isFile()) throw fail('is not a regular file');
    const fileSize = st.size;
    const pread = async (pos: number, len: number): Promise<Uint8Array> => {
      const b = new Uint8Array(len);
      let done = 0;
      while (done < len) {
        const { bytesRead } = blocking ? { bytesRead: readSync(fh.fd, b, done, len - done, pos + done) } : await fh.read(b, done, len - done, pos + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return b.subarray(0, done);
    };
    const first = await pread(0, 112);
    if (first.length < 72) throw fail(`too short to be a qcow2 image (${fileSize} bytes)`);
    // The whole header cluster (or what the file has of it) holds the extensions and the backing file name.
    const cb = new DataView(first.buffer, first.byteOffset, first.byteLength).getUint32(20);
    const headBuf = cb >= MIN_CLUSTER_BITS && cb <= MAX_CLUSTER_BITS ? await pread(0, 2 ** cb) : first;
    const h = parseHeader(headBuf, fail);
    const c = 2 ** h.clusterBits;

    // Features (qcow2.txt: an implementation must refuse unknown incompatible bits).
    const inc = h.incompatibleFeatures;
    if (inc & INCOMPAT_DIRTY) {
      throw fail("has the dirty bit set (it was in use with lazy refcounts when its writer stopped), so its refcounts may be wrong; repair it with 'qemu-img check -r all'");
    }
    if ((inc & INCOMPAT_CORRUPT) && !opts.readOnly) throw fail(`is marked corrupt; ${CORRUPT_ADVICE}`);
    if (inc & INCOMPAT_DATA_FILE) throw fail('keeps its data in an external data file, which Bonsai does not support');
    if (inc & INCOMPAT_COMPRESSION) {
      throw fail(`uses compression type ${h.compressionType}${h.compressionType === 1 ? ' (zstd)' : ''}; Bonsai reads zlib-compressed images only`);
    }
    if (inc & INCOMPAT_EXTL2) throw fail('uses extended L2 entries (subclusters), which Bonsai does not support');
    const unknown = inc & ~(INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2);
    if (unknown !== 0n) {
      let bit = 0;
      while (((unknown >> BigInt(bit)) & 1n) === 0n) bit++;
      const name = h.featureNames.get(`0:${bit}`);
      throw fail(`uses unknown incompatible feature ${name === undefined ? '' : `'${name}' `}(bit ${bit}); Bonsai cannot open it`);
    }
    if (h.compressionType !== 0 && !(inc & INCOMPAT_COMPRESSION)) throw fail(`compression type ${h.compressionType} without its feature bit`);
    if (h.refcountOrder !== 4) {
      const bits = h.refcountOrder <= 6 ? String(2 ** h.refcountOrder) : '?';
      throw fail(`uses ${bits}-bit refcounts (refcount_order ${h.refcountOrder}); Bonsai supports 16-bit refcounts only (convert with 'qemu-img amend -o refcount_bits=16')`);
    }
    if (h.cryptMethod !== 0) throw fail(`is encrypted (method ${h.cryptMethod}), which Bonsai does not support`);
    if (h.backingFormat !== null && h.backingFormat !== 'raw' && h.backingFormat !== 'qcow2') {
      throw fail(`its backing file has format '${h.backingFormat}'; Bonsai reads raw and qcow2 only`);
    }

    // Layout: every table aligned, inside the file, and not overlapping another.
    const l2Entries = c / 8;
    const needL1 = Math.ceil(h.size / (c * l2Entries));
    if (h.l1Size * 8 > MAX_L1_BYTES) throw fail(`L1 table of ${h.l1Size} entries exceeds 32 MB`);
    if (h.l1Size < needL1) throw fail(`L1 table of ${h.l1Size} entries is too small for a virtual size of ${h.size} bytes (needs ${needL1})`);
    const within = (off: number, len: number): boolean => off + len <= fileSize;
    if (h.l1Size > 0) {
      if (h.l1TableOffset % c !== 0 || h.l1TableOffset === 0) throw fail(`L1 table offset ${hex(h.l1TableOffset)} is not a cluster boundary past the header`);
      if (!within(h.l1TableOffset, h.l1Size * 8)) throw fail(`L1 table (${hex(h.l1TableOffset)}, ${h.l1Size} entries) lies beyond the end of the file (${fileSize} bytes)`);
    }
    if (h.refcountTableOffset % c !== 0 || h.refcountTableOffset === 0) throw fail(`refcount table offset ${hex(h.refcountTableOffset)} is not a cluster boundary past the header`);
    if (h.refcountTableClusters === 0 || h.refcountTableClusters * c > MAX_REFTABLE_BYTES) throw fail(`refcount table size of ${h.refcountTableClusters} clusters is invalid`);
    if (!within(h.refcountTableOffset, h.refcountTableClusters * c)) {
      throw fail(`refcount table (${hex(h.refcountTableOffset)}, ${h.refcountTableClusters} clusters) lies beyond the end of the file (${fileSize} bytes)`);
    }
    if (h.nbSnapshots > MAX_SNAPSHOTS) throw fail(`has ${h.nbSnapshots} snapshots (at most ${MAX_SNAPSHOTS})`);
    if (h.nbSnapshots > 0 && (h.snapshotsOffset % c !== 0 || h.snapshotsOffset === 0 || h.snapshotsOffset >= fileSize)) {
      throw fail(`snapshot table offset ${hex(h.snapshotsOffset)} is invalid`);
    }
    const l1Clusters = Math.ceil((h.l1Size * 8) / c);
    const regions: [string, number, number][] = [['header', 0, 1], ['refcount table', h.refcountTableOffset / c, h.refcountTableClusters]];
    if (l1Clusters > 0) regions.push(['L1 table', h.l1TableOffset / c, l1Clusters]);
    for (let i = 0; i < regions.length; i++) {
      for (let j = i + 1; j < regions.length; j++) {
        const [na, a, an] = regions[i];
        const [nb, b, bn] = regions[j];
        if (a < b + bn && b < a + an) throw fail(`${na} and ${nb} overlap`);
      }
    }
    const meta = new Map<number, string>();
    for (const [name, start, n] of regions) for (let k = 0; k < n; k++) meta.set(start + k, name);

    const l1 = new Uint8Array(Math.max(l1Clusters, 1) * c);
    if (h.l1Size > 0) l1.set(await pread(h.l1TableOffset, h.l1Size * 8));
    const l1v = new DataView(l1.buffer);
    for (let i = 0; i < h.l1Size; i++) {
      const hi = l1v.getUint32(i * 8);
      const lo = l1v.getUint32(i * 8 + 4);
      if ((hi & 0x7f000000) !== 0 || (lo & 0x1ff) !== 0) throw fail(`L1 entry ${i} has reserved bits set`);
      const off = (hi & 0x00ffffff) * TWO32 + lo;
      if (off === 0) {
        if (hi !== 0) throw fail(`L1 entry ${i} has flags but no L2 table`);
        continue;
      }
      if (off % c !== 0) throw fail(`L1 entry ${i} points at ${hex(off)}, not a cluster boundary`);
      if (!within(off, c)) throw fail(`L2 table ${hex(off)} (L1 entry ${i}) lies beyond the end of the file (${fileSize} bytes)`);
      const other = meta.get(off / c);
      if (other !== undefined) throw fail(`L2 table ${hex(off)} (L1 entry ${i}) overlaps the ${other}`);
      meta.set(off / c, 'L2 table');
    }
    const rt = new Uint8Array(h.refcountTableClusters * c);
    rt.set(await pread(h.refcountTableOffset, rt.length));
    const rtv = new DataView(rt.buffer);
    for (let i = 0; i < rt.length / 8; i++) {
      const off = rtv.getUint32(i * 8) * TWO32 + rtv.getUint32(i * 8 + 4);
      if (off === 0) continue;
      if (off % c !== 0) throw fail(`refcount table entry ${i} points at ${hex(off)}, not a cluster boundary`);
      if (!within(off, c)) throw fail(`refcount block ${hex(off)} (refcount table entry ${i}) lies beyond the end of the file (${fileSize} bytes)`);
      const other = meta.get(off / c);
      if (other !== undefined) throw fail(`refcount block ${hex(off)} (refcount table entry ${i}) overlaps ${other === 'L2 table' ? 'an L2 table' : `the ${other}`}`);
      meta.set(off / c, 'refcount block');
    }

    // The snapshot table, and each snapshot's L1 table: metadata like the active ones; their L2 tables may be
    // shared with the active L1 table and with each other, but never overlap anything else.
    let snapshots: SnapshotEntry[] = [];
    let snapshotsBytes = 0;
    const snapshotL1s: { offset: number; table: DataView }[] = [];
    if (h.nbSnapshots > 0) {
      const room = Math.min(fileSize - h.snapshotsOffset, MAX_SNAPSHOT_TABLE);
      const parsed = parseSnapshotTable(await pread(h.snapshotsOffset, room), h.nbSnapshots, h.size);
      if (typeof parsed === 'string') throw fail(parsed);
      snapshots = parsed.entries;
      snapshotsBytes = parsed.length;
      const tableClusters = Math.ceil(snapshotsBytes / c);
      const overlap = (start: number, n: number, what: string): void => {
        for (let k = 0; k < n; k++) {
          const other = meta.get(start + k);
          if (other !== undefined) throw fail(`${what} overlaps ${other === 'L2 table' || other === 'refcount block' ? `a ${other}` : `the ${other}`}`);
        }
        for (let k = 0; k < n; k++) meta.set(start + k, what);
      };
      overlap(h.snapshotsOffset / c, tableClusters, 'snapshot table');
      const sharedL2 = new Set<number>();
      for (const [i, sn] of snapshots.entries()) {
        const what = `the L1 table of snapshot ${i} (ID ${JSON.stringify(sn.id)})`;
        if (sn.l1Size * 8 > MAX_L1_BYTES) throw fail(`${what} has ${sn.l1Size} entries, more than 32 MB`);
        if (sn.l1Size === 0) {
          snapshotL1s.push({ offset: 0, table: new DataView(new ArrayBuffer(0)) });
          continue;
        }
        if (sn.l1Offset % c !== 0 || sn.l1Offset === 0) throw fail(`${what} at ${hex(sn.l1Offset)} is not a cluster boundary past the header`);
        if (!within(sn.l1Offset, sn.l1Size * 8)) throw fail(`${what} (${hex(sn.l1Offset)}, ${sn.l1Size} entries) lies beyond the end of the file (${fileSize} bytes)`);
        overlap(sn.l1Offset / c, Math.ceil((sn.l1Size * 8) / c), 'snapshot L1 table');
        const t = await pread(sn.l1Offset, sn.l1Size * 8);
        const tv = new DataView(t.buffer, t.byteOffset, t.byteLength);
        for (let k = 0; k < sn.l1Size; k++) {
          const hi = tv.getUint32(k * 8);
          const lo = tv.getUint32(k * 8 + 4);
          const off = (hi & 0x00ffffff) * TWO32 + (lo & 0xfffffe00);
          if (off === 0) continue;
          if ((hi & 0x7f000000) !== 0 || (lo & 0x1ff) !== 0) throw fail(`${what}: entry ${k} has reserved bits set`);
          if (!within(off, c)) throw fail(`${what}: L2 table ${hex(off)} (entry ${k}) lies beyond the end of the file (${fileSize} bytes)`);
          const other = meta.get(off / c);
          if (other !== undefined && other !== 'L2 table') throw fail(`${what}: L2 table ${hex(off)} (entry ${k}) overlaps the ${other}`);
          sharedL2.add(off / c);
        }
        snapshotL1s.push({ offset: sn.l1Offset, table: tv });
      }
      for (const k of sharedL2) {
        const other = meta.get(k);
        if (other !== undefined && other !== 'L2 table') throw fail(`a snapshot's L2 table ${hex(k * c)} overlaps the ${other}`);
        meta.set(k, 'L2 table');
      }
    }

    // Before anything can be written: refcounts that undercount would let new clusters land on live ones.
    if (!opts.readOnly && opts.trusted !== true) {
      const problem = await checkRefcounts({
        fh, header: h, fileSize, l1: l1v, rt: rtv,
        snapshotL1s, snapshotTable: { offset: h.snapshotsOffset, bytes: snapshotsBytes },
      });
      if (problem !== null) throw fail(corruptMessage(problem, await markCorrupt(fh, h), true));
    }

    let backing: BlockBackend | null = null;
    let backingPath: string | null = null;
    if (h.backingFile !== null) {
      backingPath = isAbsolute(h.backingFile) ? h.backingFile : resolve(dirname(path), h.backingFile);
      if (opts.openBacking !== null) {
        try {
          backing = await opts.openBacking(backingPath, (h.backingFormat ?? undefined) as DiskFormat | undefined);
        } catch (e) {
          // Only the image asked for and the link that failed: a deep chain would otherwise repeat every name.
          if (e instanceof BonsaiError) {
            const inner = e instanceof BackingChainError ? e.link : e.message;
            throw new BackingChainError(`${path}: in its backing chain: ${inner}`, inner);
          }
          throw e;
        }
      }
    }
    const img = new Qcow2Backend(fh, path, h, opts.readOnly, backing, backingPath, fileSize, l1, rt);
    for (const k of meta.keys()) img.metaClusters.add(k);
    img.snapshots = snapshots;
    img.snapshotsBytes = snapshotsBytes;
    img.onClose = opts.onClose;
    img.openBacking = opts.openBacking;
    return img;
  }

  /**
   * The same image read again from its file, which another writer changed while this backend was open and
   * idle (a live migration puts the last pieces of a copied image into place before the guest runs): a new
   * backend over the same file handle and lock, its metadata read afresh and checked as at open, but for
   * the refcounts (the walk over every table that took most of a reload's time, in the guest's pause:
   * the image passed it when first opened, and only a Bonsai keeping it consistent wrote it since), keeping
   * the backing chain unless the header now names another file. This backend is spent afterwards: neither
   * used nor closed again. Only an image nothing was written through may be reloaded.
   */
  async reload(): Promise<Qcow2Backend> {
    this.live();
    if (this.unsynced || this.l1DirtyHi >= 0 || this.rtDirtyHi >= 0 || this.pendingFrees.length > 0 ||
      [...this.l2Cache.values(), ...this.rbCache.values()].some((t) => t.dirty)) {
      throw new Error(`${this.path}: reload of an image written through`);
    }
    const keep = this.backing, keptPath = this.backingPath, openBacking = this.openBacking, onClose = this.onClose;
    this.closed = true;
    let kept = false;
    try {
      const fresh = await Qcow2Backend.open(this.fh, this.path, {
        readOnly: this.readOnly, onClose, trusted: true, blocking: true,
        openBacking: openBacking === null ? null : async (p, f) => {
          if (keep !== null && p === keptPath) { kept = true; return keep; }
          return openBacking(p, f);
        },
      });
      if (!kept) await keep?.close();
      return fresh;
    } catch (e) {
      await this.fh.close().catch(() => undefined);
      await keep?.close().catch(() => undefined); // ours whether or not the failed open took it
      await onClose?.();
      throw e;
    }
  }

  // ---- BlockBackend ----

  async read(offset: number, dst: Uint8Array): Promise<void> {
    this.live();
    checkRange(this.virtualSize, offset, dst.length, `${this.path}: read`);
    return this.mutex.run(async () => {
      await this.readLocked(offset, dst);
      this.trimCaches();
    });
  }

  async write(offset: number, src: Uint8Array): Promise<void> {
    this.writable();
    checkRange(this.virtualSize, offset, src.length, `${this.path}: write`);
    return this.mutex.run(async () => {
      await this.prepareWrite();
      await this.writeLocked(offset, src);
      await this.afterUpdate();
    });
  }

  async flush(): Promise<void> {
    this.live();
    if (this.readOnly) return;
    return this.mutex.run(async () => {
      if (this.corrupt) throw new BonsaiError(`${this.path}: is marked corrupt; ${CORRUPT_ADVICE}`);
      await this.writeBack();
      await this.io(() => this.fh.sync());
      this.unsynced = false;
    });
  }

  async settle(): Promise<void> {
    this.live();
    if (this.readOnly) return;
    return this.mutex.run(async () => {
      if (this.corrupt) throw new BonsaiError(`${this.path}: is marked corrupt; ${CORRUPT_ADVICE}`);
      await this.writeBack();
    });
  }

  async discard(offset: number, length: number): Promise<void> {
    this.writable();
    checkRange(this.virtualSize, offset, length, `${this.path}: discard`);
    return this.mutex.run(async () => {
      await this.prepareWrite();
      await this.zeroLocked(offset, length, true);
      await this.afterUpdate();
    });
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    this.writable();
    checkRange(this.virtualSize, offset, length, `${this.path}: write zeroes`);
    return this.mutex.run(async () => {
      await this.prepareWrite();
      await this.zeroLocked(offset, length, false);
      await this.afterUpdate();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      // Metadata found inconsistent is not written back: the image is left as it was found, plus the bit.
      if (!this.readOnly && !this.corrupt) {
        await this.mutex.run(async () => {
          await this.writeBack();
          if (this.unsynced) await this.io(() => this.fh.sync());
        });
      }
    } finally {
      this.closed = true;
      await this.fh.close().catch(() => undefined);
      try {
        await this.backing?.close();
      } finally {
        await this.onClose?.();
      }
    }
  }

  // ---- beyond BlockBackend ----

  /** Whether any of the range may hold data (in this image or its backing chain); false means it reads as zeros. */
  async allocated(offset: number, length: number): Promise<boolean> {
    this.live();
    return this.mutex.run(async () => {
      const end = Math.min(offset + length, this.virtualSize);
      const below: [number, number][] = [];
      for (let g = Math.floor(offset / this.c); g * this.c < end; g++) {
        const m = await this.lookup(g);
        if (m.kind === DATA || m.kind === COMPRESSED) return true;
        if (m.kind === UNALLOCATED && this.backing !== null) {
          const s = Math.max(offset, g * this.c);
          below.push([s, Math.min(end, (g + 1) * this.c) - s]);
        }
      }
      this.trimCaches();
      for (const [s, n] of below) {
        if (s >= this.backing!.size) continue;
        if (!(this.backing instanceof Qcow2Backend)) return true;
        if (await this.backing.allocated(s, n)) return true;
      }
      return false;
    });
  }

  /** Grows the virtual disk. Shrinking is refused. */
  async grow(newSize: number): Promise<void> {
    this.writable();
    return this.mutex.run(async () => {
      if (!Number.isSafeInteger(newSize) || newSize % 512 !== 0) throw new BonsaiError(`${this.path}: new size ${newSize} is not a multiple of 512`);
      if (newSize < this.virtualSize) throw new BonsaiError(`${this.path}: shrinking a qcow2 image is not supported`);
      await this.prepareWrite();
      await this.writeBack();
      const needL1 = Math.ceil(newSize / (this.c * this.l2Entries));
      if (needL1 * 8 > MAX_L1_BYTES) throw new BonsaiError(`${this.path}: ${newSize} bytes is too large for ${this.c}-byte clusters`);
      let l1Offset = this.l1Offset;
      const l1Size = Math.max(needL1, this.l1Size);
      const oldClusters = Math.ceil((this.l1Size * 8) / this.c);
      if (needL1 > this.l1Size) {
        const newClusters = Math.ceil((needL1 * 8) / this.c);
        const l1 = new Uint8Array(newClusters * this.c);
        l1.set(this.l1.subarray(0, this.l1Size * 8));
        if (newClusters <= oldClusters && l1Offset !== 0) {
          // The new entries fit in the L1 table's last cluster: zero them, then let the header count them.
          await this.pwrite(l1Offset + this.l1Size * 8, l1.subarray(this.l1Size * 8, needL1 * 8));
        } else {
          const first = await this.allocContiguous(newClusters);
          l1Offset = first * this.c;
          await this.pwrite(l1Offset, l1);
          for (let k = 0; k < newClusters; k++) this.metaClusters.add(first + k);
          await this.barrier();
          await this.writeBack(); // the new L1 table's refcounts, before the header points at it
          if (this.l1Offset !== 0 && oldClusters > 0) this.pendingFrees.push(this.l1Offset, oldClusters * this.c);
        }
        this.l1 = l1;
        this.l1v = new DataView(l1.buffer);
      }
      await this.barrier();
      // size, crypt_method, l1_size and l1_table_offset in one write within the first sector
      const hdr = new Uint8Array(24);
      const hv = new DataView(hdr.buffer);
      hv.setBigUint64(0, BigInt(newSize));
      hv.setUint32(8, this.header.cryptMethod);
      hv.setUint32(12, l1Size);
      hv.setBigUint64(16, BigInt(l1Offset));
      await this.pwrite(24, hdr);
      await this.barrier();
      this.virtualSize = newSize;
      this.l1Size = l1Size;
      this.l1Offset = l1Offset;
      this.header.size = newSize;
      this.header.l1Size = l1Size;
      this.header.l1TableOffset = l1Offset;
      await this.writeBack(); // frees the old L1 table
      await this.io(() => this.fh.sync());
    });
  }

  // ---- internal snapshots (qcow2.txt "Snapshots") ----

  /** The snapshots in the image's table, in table order. */
  async listSnapshots(): Promise<Qcow2Snapshot[]> {
    this.live();
    return this.mutex.run(async () => this.snapshots.map(publicSnapshot));
  }

  /**
   * Records the disk as it is now under a new snapshot (disk only: no VM state in the image). The ID defaults
   * to QEMU's choice, one more than the largest; name and ID must both be new.
   */
  async createSnapshot(o: { name: string; id?: string; vmClockNs?: number; date?: Date }): Promise<Qcow2Snapshot> {
    this.writable();
    return this.mutex.run(async () => {
      const id = o.id ?? nextSnapshotId(this.snapshots);
      this.checkNewSnapshot(o.name, id);
      if (this.snapshots.length >= MAX_SNAPSHOTS) throw new BonsaiError(`${this.path}: has ${MAX_SNAPSHOTS} snapshots already, the most an image can hold`);
      const vmClock = o.vmClockNs ?? 0;
      if (!Number.isSafeInteger(vmClock) || vmClock < 0) throw new BonsaiError(`${this.path}: VM clock ${vmClock} ns is not a whole number of nanoseconds`);
      const ms = (o.date ?? new Date()).getTime();
      if (!Number.isFinite(ms) || ms < 0 || ms / 1000 >= TWO32) throw new BonsaiError(`${this.path}: snapshot date is not between 1970 and 2106`);
      await this.prepareWrite();
      await this.writeBack();
      const sh = this.shadow();
      // The current L1 table becomes the snapshot's, as it is (copied flags mean nothing in a snapshot's table);
      // the active image gets a new L1 table. Every cluster it reaches gains a use.
      const l1Clusters = Math.ceil((this.l1Size * 8) / this.c);
      const l1 = new Uint8Array(Math.max(l1Clusters, 1) * this.c);
      const l1v = new DataView(l1.buffer);
      await this.shareTree(sh, this.l1v, this.l1Size, l1v);
      const l1Offset = this.l1Size === 0 ? 0 : (await sh.alloc(l1Clusters)) * this.c;
      if (l1Offset !== 0) sh.write(l1Offset, l1.subarray(0, l1Clusters * this.c));
      const entry: SnapshotEntry = {
        l1Offset: this.l1Offset, l1Size: this.l1Size, id, name: o.name,
        dateSec: Math.floor(ms / 1000), dateNsec: (ms % 1000) * 1e6, vmClockNs: BigInt(vmClock),
        vmStateSize: 0, diskSize: this.virtualSize, icount: undefined, unknownExtra: new Uint8Array(0),
      };
      const table = await this.newSnapshotTable(sh, [...this.snapshots, entry]);
      await this.commit(sh, { size: this.virtualSize, l1: l1Offset === 0 ? null : { offset: l1Offset, size: this.l1Size, table: l1 }, table });
      return publicSnapshot(entry);
    });
  }

  /**
   * Makes the active disk the snapshot's content (and its size, growing or shrinking the disk like QEMU's
   * loadvm). What was written since is gone unless another snapshot holds it.
   */
  async revertToSnapshot(nameOrId: string): Promise<void> {
    this.writable();
    return this.mutex.run(async () => {
      const sn = this.snapshots[this.findSnapshotOrThrow(nameOrId)];
      if (sn.diskSize % 512 !== 0) throw new BonsaiError(`${this.path}: ${describeEntry(sn)} records a disk size of ${sn.diskSize} bytes, not a multiple of 512`);
      const needL1 = Math.ceil(sn.diskSize / (this.c * this.l2Entries));
      const l1Size = Math.max(needL1, sn.l1Size);
      if (l1Size * 8 > MAX_L1_BYTES) throw new BonsaiError(`${this.path}: ${describeEntry(sn)} is too large for ${this.c}-byte clusters`);
      await this.prepareWrite();
      await this.writeBack();
      const sh = this.shadow();
      const snL1 = await this.readSnapshotL1(sn);
      const l1Clusters = Math.max(1, Math.ceil((l1Size * 8) / this.c));
      const l1 = new Uint8Array(l1Clusters * this.c);
      const l1v = new DataView(l1.buffer);
      // Gains first (the snapshot's tree gets a second user), then the old active tree's losses: a cluster
      // both hold never passes through 0.
      await this.shareTree(sh, snL1, sn.l1Size, l1v);
      await this.dropTree(sh, this.l1v, this.l1Size);
      await this.retire(sh, this.l1Offset, this.l1Size * 8);
      const l1Offset = (await sh.alloc(l1Clusters)) * this.c;
      sh.write(l1Offset, l1);
      await this.commit(sh, { size: sn.diskSize, l1: { offset: l1Offset, size: l1Size, table: l1 }, table: null });
    });
  }

  /** Removes a snapshot; the clusters only it held are freed. */
  async deleteSnapshot(nameOrId: string): Promise<void> {
    this.writable();
    return this.mutex.run(async () => {
      const index = this.findSnapshotOrThrow(nameOrId);
      const sn = this.snapshots[index];
      await this.prepareWrite();
      await this.writeBack();
      const sh = this.shadow();
      const snL1 = await this.readSnapshotL1(sn);
      await this.dropTree(sh, snL1, sn.l1Size);
      await this.retire(sh, sn.l1Offset, sn.l1Size * 8);
      const table = await this.newSnapshotTable(sh, this.snapshots.filter((_, k) => k !== index));
      // What the snapshot shared with the active image may now be the active image's alone: its copied
      // flags must say so (qcow2.txt: bit 63 is 1 exactly where the refcount is 1).
      const l1Clusters = Math.max(1, Math.ceil((this.l1Size * 8) / this.c));
      const l1 = new Uint8Array(l1Clusters * this.c);
      const l1v = new DataView(l1.buffer);
      let changed = false;
      for (let i = 0; i < this.l1Size; i++) {
        const t = this.l1Entry(this.l1v, i);
        if (t === 0) continue;
        let entry = t;
        let copied = (await sh.rc(t / this.c)) === 1;
        if (copied) {
          const fixed = await this.exactCopiedFlags(sh, await this.l2Table(t));
          if (fixed !== null) {
            entry = (await sh.alloc(1)) * this.c;
            sh.write(entry, fixed);
            sh.l2Copies.set(entry, fixed);
            await sh.add(t / this.c, -1);
            copied = true;
          }
        }
        const hi = (Math.floor(entry / TWO32) | (copied ? OFLAG_COPIED : 0)) >>> 0;
        l1v.setUint32(i * 8, hi);
        l1v.setUint32(i * 8 + 4, entry % TWO32);
        if (hi !== this.l1v.getUint32(i * 8) || entry % TWO32 !== this.l1v.getUint32(i * 8 + 4)) changed = true;
      }
      let newL1: { offset: number; size: number; table: Uint8Array } | null = null;
      if (changed) {
        await this.retire(sh, this.l1Offset, this.l1Size * 8);
        const offset = (await sh.alloc(l1Clusters)) * this.c;
        sh.write(offset, l1);
        newL1 = { offset, size: this.l1Size, table: l1 };
      }
      await this.commit(sh, { size: this.virtualSize, l1: newL1, table });
    });
  }

  private checkNewSnapshot(name: string, id: string): void {
    const enc = new TextEncoder();
    for (const [what, v] of [['name', name], ['ID', id]] as const) {
      if (v.length === 0) throw new BonsaiError(`${this.path}: a snapshot ${what} cannot be empty`);
      if (enc.encode(v).length > 0xffff) throw new BonsaiError(`${this.path}: snapshot ${what} is longer than 65535 bytes`);
      // Names and IDs are looked up by either: none may be taken as the other either.
      const other = this.snapshots.find((e) => e.name === v || e.id === v);
      if (other !== undefined) throw new BonsaiError(`${this.path}: there is already a ${describeEntry(other)}; a snapshot ${what} must be new`);
    }
  }

  private findSnapshotOrThrow(nameOrId: string): number {
    const i = findSnapshot(this.snapshots, nameOrId);
    if (i < 0) {
      const known = this.snapshots.length === 0 ? 'it has no snapshots' : `its snapshots: ${this.snapshots.map((e) => `${e.id} '${e.name}'`).join(', ')}`;
      throw new BonsaiError(`${this.path}: no snapshot with the name or ID '${nameOrId}' (${known})`);
    }
    return i;
  }

  private l1Entry(v: DataView, i: number): number {
    return (v.getUint32(i * 8) & 0x00ffffff) * TWO32 + ((v.getUint32(i * 8 + 4) & 0xfffffe00) >>> 0);
  }

  private async readSnapshotL1(sn: SnapshotEntry): Promise<DataView> {
    const b = new Uint8Array(sn.l1Size * 8);
    if (sn.l1Size > 0) await this.pread(sn.l1Offset, b);
    return new DataView(b.buffer);
  }

  /** Adds delta to the refcount of every host cluster an L2 table maps. */
  private async addMapped(sh: Shadow, t: Table, delta: number): Promise<void> {
    for (let k = 0; k < this.l2Entries; k++) {
      const m = this.decode(t, k);
      if (m.kind === DATA || (m.kind === ZERO && m.host !== 0)) await sh.add(m.host / this.c, delta);
      else if (m.kind === COMPRESSED) {
        const first = Math.floor(m.host / this.c);
        const last = Math.floor((m.host + m.bytes - 1) / this.c);
        for (let i = first; i <= last; i++) await sh.add(i, delta);
      }
    }
  }

  /**
   * The L2 table the active image uses for a table it now shares with a snapshot: the table itself, one more
   * use, if none of its entries is marked copied; else a copy with the flags cleared (the table itself is then
   * left to the snapshot, its refcount unchanged). Returns the table's offset for the active L1 table.
   */
  private async activeL2(sh: Shadow, t: Table): Promise<number> {
    let copied = false;
    for (let k = 0; k < this.l2Entries && !copied; k++) copied = (t.view.getUint32(k * 8) & OFLAG_COPIED) !== 0;
    let off = t.offset;
    if (copied) {
      const buf = t.buf.slice();
      const v = new DataView(buf.buffer);
      for (let k = 0; k < this.l2Entries; k++) v.setUint32(k * 8, (v.getUint32(k * 8) & ~OFLAG_COPIED) >>> 0);
      off = (await sh.alloc(1)) * this.c;
      sh.write(off, buf);
      sh.l2Copies.set(off, buf);
    } else await sh.add(t.offset / this.c, +1);
    return off;
  }

  /**
   * Gives the active image, in dst, one more use of the tree an L1 table reaches (the active one for a new
   * snapshot, a snapshot's to revert to it). Copied flags go on the entries of tables used once: the copies.
   */
  private async shareTree(sh: Shadow, src: DataView, n: number, dst: DataView): Promise<void> {
    for (let i = 0; i < n; i++) {
      const t = this.l1Entry(src, i);
      if (t === 0) continue;
      const table = await this.l2Table(t);
      await this.addMapped(sh, table, +1);
      const active = await this.activeL2(sh, table);
      dst.setUint32(i * 8, Math.floor(active / TWO32));
      dst.setUint32(i * 8 + 4, active % TWO32);
    }
    for (let i = 0; i < n; i++) {
      const t = this.l1Entry(dst, i);
      if (t !== 0 && (await sh.rc(t / this.c)) === 1) dst.setUint32(i * 8, (dst.getUint32(i * 8) | OFLAG_COPIED) >>> 0);
    }
  }

  /** Takes one use from everything an L1 table reaches (its L2 tables and what they map). */
  private async dropTree(sh: Shadow, l1: DataView, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const t = this.l1Entry(l1, i);
      if (t === 0) continue;
      await this.addMapped(sh, await this.l2Table(t), -1);
      await sh.add(t / this.c, -1);
    }
  }

  /**
   * For an L2 table the active image alone uses: its contents with every copied flag exact under the new
   * refcounts, or null if they already are.
   */
  private async exactCopiedFlags(sh: Shadow, t: Table): Promise<Uint8Array | null> {
    let buf: Uint8Array | null = null;
    for (let k = 0; k < this.l2Entries; k++) {
      const m = this.decode(t, k);
      if (m.kind !== DATA && !(m.kind === ZERO && m.host !== 0)) continue;
      const want = (await sh.rc(m.host / this.c)) === 1;
      if (want === m.copied) continue;
      buf ??= t.buf.slice();
      const v = new DataView(buf.buffer);
      const hi = v.getUint32(k * 8);
      v.setUint32(k * 8, (want ? hi | OFLAG_COPIED : hi & ~OFLAG_COPIED) >>> 0);
    }
    return buf;
  }

  /** Takes one use from each cluster of a table that the change replaces. */
  private async retire(sh: Shadow, offset: number, bytes: number): Promise<void> {
    if (offset === 0 || bytes === 0) return;
    for (let k = 0; k < Math.ceil(bytes / this.c); k++) await sh.add(offset / this.c + k, -1);
  }

  /** Writes a snapshot table for entries to new clusters and retires the old one. */
  private async newSnapshotTable(sh: Shadow, entries: SnapshotEntry[]): Promise<{ entries: SnapshotEntry[]; offset: number; bytes: number }> {
    if (this.snapshots.length > 0) await this.retire(sh, this.header.snapshotsOffset, this.snapshotsBytes);
    if (entries.length === 0) return { entries, offset: 0, bytes: 0 };
    const bytes = encodeSnapshotTable(entries);
    if (bytes.length > MAX_SNAPSHOT_TABLE) throw new BonsaiError(`${this.path}: the snapshot table would exceed ${MAX_SNAPSHOT_TABLE} bytes`);
    const clusters = Math.ceil(bytes.length / this.c);
    const offset = (await sh.alloc(clusters)) * this.c;
    const padded = new Uint8Array(clusters * this.c);
    padded.set(bytes);
    sh.write(offset, padded);
    return { entries, offset, bytes: bytes.length };
  }

  private shadow(): Shadow {
    return new Shadow(this.c, this.rbEntries, {
      block: async (t) => {
        if (t >= this.rtEntries) return null;
        const off = this.rtEntry(t);
        return off === 0 ? null : { offset: off, buf: (await this.refblock(off)).buf };
      },
      isMeta: (i) => this.metaClusters.has(i),
      hint: this.freeHint,
      corrupt: (msg) => this.corruption(msg),
      path: this.path,
    });
  }

  /**
   * Makes a change built in a shadow real (see the top of this file): new refcount blocks and refcount table
   * for every block that changed, then everything new written and flushed, then one header write switches
   * virtual size, L1 table, refcount table and snapshot table at once. A crash before that write leaves the
   * old image untouched (the new clusters are free space in it); after it, the new one, without leaks.
   */
  private async commit(sh: Shadow, to: {
    size: number;
    l1: { offset: number; size: number; table: Uint8Array } | null;
    table: { entries: SnapshotEntry[]; offset: number; bytes: number } | null;
  }): Promise<void> {
    const c = this.c;
    await this.retire(sh, this.rtOffset, this.rtClusters * c);
    // The new refcount table, large enough for every block, itself and the blocks that count it included;
    // then every block that changed (those that count the new blocks too) gets its new home.
    let rtEntries = this.rtEntries;
    let rtStart = -1;
    let rtClusters = 0;
    for (;;) {
      if (rtStart >= 0 && (await sh.placeBlocks(rtEntries))) break;
      if (rtStart >= 0) await sh.release(rtStart, rtClusters);
      const need = Math.max(sh.maxBlock() + 1, Math.ceil((sh.end() + 16) / this.rbEntries) + 1);
      if (need > rtEntries) rtEntries = Math.max(need, this.rtEntries * 2);
      rtClusters = Math.ceil((rtEntries * 8) / c);
      rtEntries = (rtClusters * c) / 8;
      if (rtClusters * c > MAX_REFTABLE_BYTES) throw new BonsaiError(`${this.path}: the image is full (its refcount table would exceed 8 MB)`);
      rtStart = await sh.alloc(rtClusters);
    }
    const rt = new Uint8Array(rtClusters * c);
    rt.set(this.rt.subarray(0, Math.min(this.rt.length, rt.length)));
    const rtv = new DataView(rt.buffer);
    for (const [t, b] of sh.blocks) {
      rtv.setUint32(t * 8, Math.floor(b.offset / TWO32));
      rtv.setUint32(t * 8 + 4, b.offset % TWO32);
    }
    sh.write(rtStart * c, rt);
    for (const b of sh.blocks.values()) sh.write(b.offset, b.buf);
    const freed = await sh.freed();

    for (const w of sh.writes) await this.pwrite(w.offset, w.data);
    await this.barrier();
    // size, crypt_method, l1_size, l1_table_offset, refcount_table_offset, refcount_table_clusters,
    // nb_snapshots, snapshots_offset: bytes 24..71, in one write within the first sector.
    const table = to.table ?? { entries: this.snapshots, offset: this.header.snapshotsOffset, bytes: this.snapshotsBytes };
    const l1 = to.l1 ?? { offset: this.l1Offset, size: this.l1Size, table: this.l1 };
    const hdr = new Uint8Array(48);
    const hv = new DataView(hdr.buffer);
    hv.setBigUint64(0, BigInt(to.size));
    hv.setUint32(8, this.header.cryptMethod);
    hv.setUint32(12, l1.size);
    hv.setBigUint64(16, BigInt(l1.offset));
    hv.setBigUint64(24, BigInt(rtStart * c));
    hv.setUint32(32, rtClusters);
    hv.setUint32(36, table.entries.length);
    hv.setBigUint64(40, BigInt(table.offset));
    await this.pwrite(24, hdr);

    // From here on the new image is the one on disk: memory follows before anything else can fail.
    for (const [t, b] of sh.blocks) {
      const old = t < this.rtEntries ? this.rtEntry(t) : 0;
      if (old !== 0) this.rbCache.delete(old);
      const tb = newTable(b.offset, c, false);
      tb.buf.set(b.buf);
      this.rbCache.set(b.offset, tb);
    }
    this.rt = rt;
    this.rtv = rtv;
    this.rtOffset = rtStart * c;
    this.rtClusters = rtClusters;
    this.rtEntries = rtEntries;
    this.header.refcountTableOffset = this.rtOffset;
    this.header.refcountTableClusters = rtClusters;
    if (to.l1 !== null) {
      this.l1 = to.l1.table;
      this.l1v = new DataView(to.l1.table.buffer);
      this.l1Offset = to.l1.offset;
      this.l1Size = to.l1.size;
      this.header.l1TableOffset = to.l1.offset;
      this.header.l1Size = to.l1.size;
    }
    this.virtualSize = to.size;
    this.header.size = to.size;
    this.snapshots = table.entries;
    this.snapshotsBytes = table.bytes;
    this.header.nbSnapshots = table.entries.length;
    this.header.snapshotsOffset = table.offset;
    for (const [off, buf] of sh.l2Copies) {
      const t = newTable(off, c, false);
      t.buf.set(buf);
      this.l2Cache.set(off, t);
    }
    for (const w of sh.writes) for (let k = 0; k < w.data.length / c; k++) this.metaClusters.add(w.offset / c + k);
    for (const i of freed) {
      this.metaClusters.delete(i);
      this.l2Cache.delete(i * c);
      this.freeHint = Math.min(this.freeHint, i);
    }
    const end = sh.end();
    this.endCluster = Math.max(this.endCluster, end);
    this.fileEnd = Math.max(this.fileEnd, end * c);
    this.lastCompressed = null;
    await this.barrier();
  }

  // ---- reading ----

  private async readLocked(offset: number, dst: Uint8Array): Promise<void> {
    const c = this.c;
    // Runs of contiguous host clusters, and of unallocated clusters, become one read each.
    let hostStart = -1, hostPos = 0, hostLen = 0;
    let belowStart = -1, belowPos = 0, belowLen = 0;
    let pos = 0;
    while (pos < dst.length) {
      const v = offset + pos;
      const g = Math.floor(v / c);
      const o = v - g * c;
      const n = Math.min(c - o, dst.length - pos);
      const m = await this.lookup(g);
      if (m.kind === DATA) {
        if (hostStart >= 0 && hostStart + hostLen === m.host + o && hostPos + hostLen === pos) hostLen += n;
        else {
          if (hostStart >= 0) await this.pread(hostStart, dst.subarray(hostPos, hostPos + hostLen));
          hostStart = m.host + o; hostPos = pos; hostLen = n;
        }
      } else if (m.kind === UNALLOCATED) {
        if (belowStart >= 0 && belowPos + belowLen === pos) belowLen += n;
        else {
          if (belowStart >= 0) await this.readBelow(belowStart, dst.subarray(belowPos, belowPos + belowLen));
          belowStart = v; belowPos = pos; belowLen = n;
        }
      } else if (m.kind === ZERO) {
        dst.fill(0, pos, pos + n);
      } else {
        const data = await this.decompress(m);
        dst.set(data.subarray(o, o + n), pos);
      }
      pos += n;
    }
    if (hostStart >= 0) await this.pread(hostStart, dst.subarray(hostPos, hostPos + hostLen));
    if (belowStart >= 0) await this.readBelow(belowStart, dst.subarray(belowPos, belowPos + belowLen));
  }

  /** Reads what lies beneath this image: the backing file, or zeros past its end or without one. */
  private async readBelow(offset: number, dst: Uint8Array): Promise<void> {
    const b = this.backing;
    if (b === null || offset >= b.size) {
      dst.fill(0);
      return;
    }
    const n = Math.min(dst.length, alignUp(b.size, 512) - offset);
    await b.read(offset, dst.subarray(0, n));
    dst.fill(0, n);
  }

  private async decompress(m: Mapping): Promise<Uint8Array> {
    if (this.lastCompressed !== null && this.lastCompressed.host === m.host) return this.lastCompressed.data;
    const raw = new Uint8Array(m.bytes);
    await this.pread(m.host, raw);
    let out: Uint8Array;
    try {
      out = inflateRawSync(raw, { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: this.c });
    } catch (e) {
      throw new BonsaiError(`${this.path}: compressed cluster at ${hex(m.host)} does not decompress (${(e as Error).message})`);
    }
    if (out.length !== this.c) throw new BonsaiError(`${this.path}: compressed cluster at ${hex(m.host)} decompresses to ${out.length} bytes, not ${this.c}`);
    this.lastCompressed = { host: m.host, data: out };
    return out;
  }

  /** Fills buf (one cluster) with what guest cluster g reads as now. */
  private async clusterContent(g: number, m: Mapping, buf: Uint8Array): Promise<void> {
    if (m.kind === UNALLOCATED) await this.readBelow(g * this.c, buf);
    else if (m.kind === ZERO) buf.fill(0);
    else if (m.kind === COMPRESSED) buf.set(await this.decompress(m));
    else await this.pread(m.host, buf);
  }

  // ---- writing ----

  private async writeLocked(offset: number, src: Uint8Array): Promise<void> {
    const c = this.c;
    // Contiguous host writes become one pwritev.
    let runStart = -1, runLen = 0;
    let runParts: Uint8Array[] = [];
    const flushRun = async (): Promise<void> => {
      if (runStart >= 0) await this.pwritev(runStart, runParts);
      runStart = -1; runLen = 0; runParts = [];
    };
    const emit = async (host: number, data: Uint8Array): Promise<void> => {
      if (runStart >= 0 && runStart + runLen === host) {
        runParts.push(data);
        runLen += data.length;
      } else {
        await flushRun();
        runStart = host; runLen = data.length; runParts = [data];
      }
    };
    // If the data cannot be written (ENOSPC, EIO), the L2 entries changed so far are put back: the old
    // clusters stay referenced and the new ones are merely leaked.
    const undo: { slot: Slot; hi: number; lo: number }[] = [];
    const freesBefore = this.pendingFrees.length;
    try {
      let pos = 0;
      while (pos < src.length) {
        const v = offset + pos;
        const g = Math.floor(v / c);
        const o = v - g * c;
        const n = Math.min(c - o, src.length - pos);
        const piece = src.subarray(pos, pos + n);
        const slot = await this.slot(g, true);
        const m = this.decode(slot.table, slot.index);
        if (m.kind === DATA && m.copied) {
          await emit(m.host + o, piece);
        } else {
          // Copy on write: the whole cluster goes to a cluster of our own, then the L2 entry points at it.
          let cluster: Uint8Array;
          if (n === c) cluster = piece;
          else {
            cluster = new Uint8Array(c);
            await this.clusterContent(g, m, cluster);
            cluster.set(piece, o);
          }
          let host: number;
          if (m.kind === ZERO && m.host !== 0 && m.copied) host = m.host; // a preallocated zero cluster is ours to fill
          else {
            host = (await this.allocCluster()) * c;
            this.freeMapping(m);
          }
          await emit(host, cluster);
          undo.push({ slot, hi: slot.table.view.getUint32(slot.index * 8), lo: slot.table.view.getUint32(slot.index * 8 + 4) });
          this.setL2(slot, host, OFLAG_COPIED);
        }
        pos += n;
      }
      await flushRun();
    } catch (e) {
      for (let k = undo.length - 1; k >= 0; k--) {
        const { slot, hi, lo } = undo[k];
        slot.table.view.setUint32(slot.index * 8, hi);
        slot.table.view.setUint32(slot.index * 8 + 4, lo);
      }
      this.pendingFrees.length = freesBefore;
      throw e;
    }
  }

  private async zeroLocked(offset: number, length: number, discard: boolean): Promise<void> {
    const c = this.c;
    const end = offset + length;
    let pos = offset;
    while (pos < end) {
      const g = Math.floor(pos / c);
      const clusterEnd = Math.min((g + 1) * c, end);
      // The last cluster of a disk whose size is not a cluster multiple counts as whole up to the disk's end.
      const whole = pos === g * c && (clusterEnd === (g + 1) * c || clusterEnd >= this.virtualSize);
      if (whole) await this.zeroCluster(g, discard);
      else if (!discard) await this.writeLocked(pos, new Uint8Array(clusterEnd - pos));
      pos = clusterEnd;
    }
  }

  private async zeroCluster(g: number, discard: boolean): Promise<void> {
    const hasBacking = this.backing !== null && g * this.c < this.backing.size;
    const m = await this.lookup(g);
    if (m.kind === UNALLOCATED && !hasBacking) return;
    if (m.kind === ZERO && m.host === 0) return;
    if (this.header.version === 2 && hasBacking) {
      // No zero flag in version 2: only real zeros hide the backing file.
      if (!discard) await this.writeLocked(g * this.c, new Uint8Array(Math.min(this.c, alignUp(this.virtualSize, 512) - g * this.c)));
      return;
    }
    const slot = await this.slot(g, true);
    this.freeMapping(m);
    if (hasBacking) this.setL2(slot, 0, 0, OFLAG_ZERO);
    else this.setL2(slot, 0, 0);
  }

  /** Clears the autoclear bits before the first change (qcow2.txt: we maintain none of those features). */
  private async prepareWrite(): Promise<void> {
    if (this.header.autoclearFeatures === 0n) return;
    await this.pwrite(88, new Uint8Array(8));
    await this.barrier();
    this.header.autoclearFeatures = 0n;
  }

  private async afterUpdate(): Promise<void> {
    let dirty = 0;
    for (const t of this.l2Cache.values()) if (t.dirty) dirty++;
    for (const t of this.rbCache.values()) if (t.dirty) dirty++;
    if (dirty > DIRTY_TABLE_LIMIT || this.pendingFrees.length > 2 * DIRTY_TABLE_LIMIT) await this.writeBack();
    this.trimCaches();
  }

  // ---- mapping ----

  private async lookup(g: number): Promise<Mapping> {
    const s = await this.slot(g, false);
    return s === null ? UNMAPPED : this.decode(s.table, s.index);
  }

  /** The L2 slot of guest cluster g; with create, allocates the L2 table and makes it writable in place. */
  private slot(g: number, create: true): Promise<Slot>;
  private slot(g: number, create: false): Promise<Slot | null>;
  private async slot(g: number, create: boolean): Promise<Slot | null> {
    const i1 = Math.floor(g / this.l2Entries);
    const index = g - i1 * this.l2Entries;
    if (i1 >= this.l1Size) {
      if (create) throw new Error(`${this.path}: guest cluster ${g} beyond the L1 table`);
      return null;
    }
    const hi = this.l1v.getUint32(i1 * 8);
    const off = (hi & 0x00ffffff) * TWO32 + this.l1v.getUint32(i1 * 8 + 4);
    if (off === 0) {
      if (!create) return null;
      const idx = await this.allocCluster();
      const table = newTable(idx * this.c, this.c, true);
      this.l2Cache.set(table.offset, table);
      this.metaClusters.add(idx);
      this.setL1(i1, table.offset);
      return { table, index };
    }
    const table = await this.l2Table(off);
    if (create && (hi & OFLAG_COPIED) === 0) {
      const rc = await this.getRefcount(off / this.c);
      if (rc === 0) throw await this.corruption(`L2 table ${hex(off)} (L1 entry ${i1}) has refcount 0`);
      if (rc === 1) {
        this.setL1(i1, off);
        return { table, index };
      }
      // Shared with a snapshot: the active image gets its own copy (qcow2.txt "Snapshots": a write must COW).
      // The clusters it maps keep their refcounts: one path to each moves from the old table to the copy.
      // Their copied flags are clear in the copy: every one of them is now used at least twice.
      const idx = await this.allocCluster();
      const copy = newTable(idx * this.c, this.c, true);
      copy.buf.set(table.buf);
      for (let k = 0; k < this.l2Entries; k++) copy.view.setUint32(k * 8, (copy.view.getUint32(k * 8) & ~OFLAG_COPIED) >>> 0);
      this.l2Cache.set(copy.offset, copy);
      this.metaClusters.add(idx);
      this.setL1(i1, copy.offset);
      this.pendingFrees.push(off, this.c);
      return { table: copy, index };
    }
    return { table, index };
  }

  private decode(t: Table, index: number): Mapping {
    const hi = t.view.getUint32(index * 8);
    const lo = t.view.getUint32(index * 8 + 4);
    if (hi === 0 && lo === 0) return UNMAPPED;
    if (hi & OFLAG_COMPRESSED) {
      // qcow2.txt "Compressed Clusters Descriptor": offset in bits 0..x-1, extra sectors in bits x..61.
      const xHi = 70 - this.cbits - 32;
      const host = (hi & ((1 << xHi) - 1)) * TWO32 + lo;
      const sectors = ((hi >>> xHi) & ((1 << (this.cbits - 8)) - 1)) + 1;
      const endByte = Math.floor(host / 512) * 512 + sectors * 512;
      return { kind: COMPRESSED, host, copied: false, bytes: endByte - host };
    }
    const host = (hi & 0x00ffffff) * TWO32 + ((lo & 0xfffffe00) >>> 0);
    return { kind: lo & OFLAG_ZERO ? ZERO : DATA, host, copied: (hi & OFLAG_COPIED) !== 0, bytes: 0 };
  }

  private setL2(s: Slot, host: number, flagsHi: number, flagsLo = 0): void {
    s.table.view.setUint32(s.index * 8, (Math.floor(host / TWO32) | flagsHi) >>> 0);
    s.table.view.setUint32(s.index * 8 + 4, ((host % TWO32) | flagsLo) >>> 0);
    s.table.dirty = true;
  }

  private setL1(i: number, off: number): void {
    this.l1v.setUint32(i * 8, (Math.floor(off / TWO32) | OFLAG_COPIED) >>> 0);
    this.l1v.setUint32(i * 8 + 4, off % TWO32);
    this.l1DirtyLo = Math.min(this.l1DirtyLo, i);
    this.l1DirtyHi = Math.max(this.l1DirtyHi, i);
  }

  private async l2Table(off: number): Promise<Table> {
    const hit = this.l2Cache.get(off);
    if (hit !== undefined) {
      this.l2Cache.delete(off);
      this.l2Cache.set(off, hit);
      return hit;
    }
    const t = newTable(off, this.c, false);
    await this.pread(off, t.buf);
    this.checkL2(t);
    this.l2Cache.set(off, t);
    return t;
  }

  /** An L2 table read from the file must describe only clusters that can exist; otherwise the image is corrupt. */
  private checkL2(t: Table): void {
    const bad = (i: number, what: string): BonsaiError =>
      new BonsaiError(`${this.path}: corrupt L2 table at ${hex(t.offset)}: entry ${i} ${what}`);
    for (let i = 0; i < this.l2Entries; i++) {
      const hi = t.view.getUint32(i * 8);
      const lo = t.view.getUint32(i * 8 + 4);
      if (hi === 0 && lo === 0) continue;
      const m = this.decode(t, i);
      if (m.kind === COMPRESSED) {
        if (hi & OFLAG_COPIED) throw bad(i, 'is compressed and marked copied');
        if (m.host < this.c || m.host >= this.fileEnd) throw bad(i, `points at ${hex(m.host)}, outside the file`);
        continue;
      }
      if ((lo & 0x1fe) !== 0 || (hi & 0x3f000000) !== 0) throw bad(i, 'has reserved bits set');
      if (m.kind === ZERO && this.header.version === 2) throw bad(i, 'has the zero flag in a version 2 image');
      if (m.host === 0) {
        if (m.kind === DATA) throw bad(i, 'is marked copied without a cluster');
        continue;
      }
      if (m.host % this.c !== 0) throw bad(i, `points at ${hex(m.host)}, not a cluster boundary`);
      if (m.host >= this.fileEnd) throw bad(i, `points at ${hex(m.host)}, beyond the end of the file`);
      if (this.metaClusters.has(m.host / this.c)) throw bad(i, `points at ${hex(m.host)}, which holds image metadata`);
    }
  }

  // ---- refcounts and allocation ----

  private async refblock(off: number): Promise<Table> {
    const hit = this.rbCache.get(off);
    if (hit !== undefined) {
      this.rbCache.delete(off);
      this.rbCache.set(off, hit);
      return hit;
    }
    const t = newTable(off, this.c, false);
    await this.pread(off, t.buf);
    this.rbCache.set(off, t);
    return t;
  }

  private rtEntry(t: number): number {
    return this.rtv.getUint32(t * 8) * TWO32 + ((this.rtv.getUint32(t * 8 + 4) & 0xfffffe00) >>> 0);
  }

  private setRtEntry(t: number, off: number): void {
    this.rtv.setUint32(t * 8, Math.floor(off / TWO32));
    this.rtv.setUint32(t * 8 + 4, off % TWO32);
    this.rtDirtyLo = Math.min(this.rtDirtyLo, t);
    this.rtDirtyHi = Math.max(this.rtDirtyHi, t);
  }

  private async getRefcount(cluster: number): Promise<number> {
    const t = Math.floor(cluster / this.rbEntries);
    if (t >= this.rtEntries) return 0;
    const off = this.rtEntry(t);
    if (off === 0) return 0;
    return (await this.refblock(off)).view.getUint16((cluster - t * this.rbEntries) * 2);
  }

  private async setRefcount(cluster: number, value: number): Promise<void> {
    const t = Math.floor(cluster / this.rbEntries);
    if (t >= this.rtEntries) await this.growRefTable(t + 1);
    let off = this.rtEntry(t);
    let block: Table;
    if (off === 0) {
      // A new refcount block; it is itself a cluster that needs a refcount, often one it holds itself.
      const r = await this.findFree();
      this.claim(r);
      off = r * this.c;
      block = newTable(off, this.c, true);
      this.rbCache.set(off, block);
      this.metaClusters.add(r);
      this.setRtEntry(t, off);
      await this.setRefcount(r, 1);
    } else {
      block = await this.refblock(off);
    }
    block.view.setUint16((cluster - t * this.rbEntries) * 2, value);
    block.dirty = true;
  }

  /** The lowest cluster with refcount zero that is neither metadata nor reserved. */
  private async findFree(): Promise<number> {
    let i = this.freeHint;
    for (;;) {
      if (i >= this.reservedFrom && i < this.reservedTo) i = this.reservedTo;
      const t = Math.floor(i / this.rbEntries);
      if (t >= this.rtEntries) return i;
      const off = this.rtEntry(t);
      const end = (t + 1) * this.rbEntries;
      if (off === 0) {
        if (!this.metaClusters.has(i)) return i;
        i++;
        continue;
      }
      const block = await this.refblock(off);
      for (; i < end; i++) {
        if (i >= this.reservedFrom && i < this.reservedTo) break;
        if (block.view.getUint16((i - t * this.rbEntries) * 2) === 0 && !this.metaClusters.has(i)) return i;
      }
    }
  }

  /** Notes that cluster i is taken (its refcount follows at once). */
  private claim(i: number): void {
    this.freeHint = Math.max(this.freeHint, i + 1);
    this.endCluster = Math.max(this.endCluster, i + 1);
    this.fileEnd = Math.max(this.fileEnd, (i + 1) * this.c);
  }

  private async allocCluster(): Promise<number> {
    const i = await this.findFree();
    this.claim(i);
    await this.setRefcount(i, 1);
    return i;
  }

  /** n contiguous clusters at the end of the file. */
  private async allocContiguous(n: number): Promise<number> {
    let first = this.endCluster;
    for (let k = 0; k < n; k++) {
      if ((await this.getRefcount(first + k)) !== 0) {
        first = first + k + 1;
        k = -1;
      }
    }
    this.reservedFrom = first;
    this.reservedTo = first + n;
    this.endCluster = Math.max(this.endCluster, first + n);
    this.fileEnd = Math.max(this.fileEnd, (first + n) * this.c);
    try {
      for (let k = 0; k < n; k++) await this.setRefcount(first + k, 1);
    } finally {
      this.reservedFrom = this.reservedTo = 0;
    }
    return first;
  }

  /** Moves the refcount table to a larger home at the end of the file (the header follows at write-back). */
  private async growRefTable(minEntries: number): Promise<void> {
    const c = this.c;
    let entries = Math.max(minEntries, this.rtEntries * 2);
    for (;;) {
      const clusters = Math.ceil((entries * 8) / c);
      // It must count everything up to the end of the file, itself, and the blocks that count it.
      const cover = this.endCluster + clusters + Math.ceil(clusters / this.rbEntries) + 4;
      const need = Math.ceil(cover / this.rbEntries) + 1;
      if (entries >= need) break;
      entries = need;
    }
    const clusters = Math.ceil((entries * 8) / c);
    if (clusters * c > MAX_REFTABLE_BYTES) throw new BonsaiError(`${this.path}: the image is full (its refcount table would exceed 8 MB)`);
    const rt = new Uint8Array(clusters * c);
    rt.set(this.rt.subarray(0, this.rtEntries * 8));
    const oldOffset = this.rtOffset;
    const oldClusters = this.rtClusters;
    this.rt = rt;
    this.rtv = new DataView(rt.buffer);
    this.rtEntries = (clusters * c) / 8;
    const first = await this.allocContiguous(clusters);
    for (let k = 0; k < clusters; k++) this.metaClusters.add(first + k);
    this.rtOffset = first * c;
    this.rtClusters = clusters;
    this.rtMoved = true;
    this.pendingFrees.push(oldOffset, oldClusters * c);
  }

  /** Schedules the host clusters behind a mapping for freeing at the end of the next write-back. */
  private freeMapping(m: Mapping): void {
    if (m.kind === DATA || (m.kind === ZERO && m.host !== 0)) this.pendingFrees.push(m.host, this.c);
    else if (m.kind === COMPRESSED) {
      const start = Math.floor(m.host / 512) * 512;
      this.pendingFrees.push(start, m.host + m.bytes - start);
    }
  }

  // ---- write-back ----

  /** Writes all dirty metadata in crash-safe order (see the top of this file). */
  private async writeBack(): Promise<void> {
    const l2Dirty = [...this.l2Cache.values()].filter((t) => t.dirty);
    const rbDirty = [...this.rbCache.values()].filter((t) => t.dirty);
    const l1Dirty = this.l1DirtyHi >= 0;
    const rtDirty = this.rtMoved || this.rtDirtyHi >= 0;
    if (l2Dirty.length === 0 && rbDirty.length === 0 && !l1Dirty && !rtDirty && this.pendingFrees.length === 0) return;

    // 1. Tables nothing on disk points at yet (and, before them, the guest data already written).
    for (const t of [...l2Dirty, ...rbDirty]) {
      if (t.fresh) {
        await this.pwrite(t.offset, t.buf);
        t.fresh = false;
        t.dirty = false;
      }
    }
    if (this.rtMoved) await this.pwrite(this.rtOffset, this.rt);
    await this.barrier();
    // 2. Refcount increments in existing blocks: every cluster about to be referenced is counted first.
    for (const t of rbDirty) {
      if (t.dirty) {
        await this.pwrite(t.offset, t.buf);
        t.dirty = false;
      }
    }
    await this.barrier();
    // 3. The refcount table: in place, or the header switches to the moved one.
    if (this.rtMoved) {
      const b = new Uint8Array(12);
      const v = new DataView(b.buffer);
      v.setBigUint64(0, BigInt(this.rtOffset));
      v.setUint32(8, this.rtClusters);
      await this.pwrite(48, b);
      this.header.refcountTableOffset = this.rtOffset;
      this.header.refcountTableClusters = this.rtClusters;
      this.rtMoved = false;
    } else if (this.rtDirtyHi >= 0) {
      await this.pwrite(this.rtOffset + this.rtDirtyLo * 8, this.rt.subarray(this.rtDirtyLo * 8, (this.rtDirtyHi + 1) * 8));
    }
    this.rtDirtyLo = Infinity;
    this.rtDirtyHi = -1;
    await this.barrier();
    // 4. L2 tables in place, then L1 entries: the new references.
    for (const t of l2Dirty) {
      if (t.dirty) {
        await this.pwrite(t.offset, t.buf);
        t.dirty = false;
      }
    }
    if (this.l1DirtyHi >= 0) {
      await this.pwrite(this.l1Offset + this.l1DirtyLo * 8, this.l1.subarray(this.l1DirtyLo * 8, (this.l1DirtyHi + 1) * 8));
      this.l1DirtyLo = Infinity;
      this.l1DirtyHi = -1;
    }
    await this.barrier();
    // 5. Only now that no reference remains on disk do freed clusters lose their refcount.
    if (this.pendingFrees.length > 0) {
      const frees = this.pendingFrees;
      this.pendingFrees = [];
      for (let k = 0; k < frees.length; k += 2) {
        const first = Math.floor(frees[k] / this.c);
        const last = Math.floor((frees[k] + frees[k + 1] - 1) / this.c);
        for (let i = first; i <= last; i++) {
          const rc = await this.getRefcount(i);
          if (rc === 0) throw await this.corruption(`freeing cluster ${hex(i * this.c)} whose refcount is already 0`);
          await this.setRefcount(i, rc - 1);
          if (rc === 1) {
            this.metaClusters.delete(i);
            this.freeHint = Math.min(this.freeHint, i);
            if (this.lastCompressed !== null && Math.floor(this.lastCompressed.host / this.c) === i) this.lastCompressed = null;
          }
        }
      }
      for (const t of this.rbCache.values()) {
        if (t.dirty) {
          await this.pwrite(t.offset, t.buf);
          t.dirty = false;
        }
      }
      await this.barrier();
    }
  }

  private trimCaches(): void {
    for (const cache of [this.l2Cache, this.rbCache]) {
      if (cache.size <= CACHE_TABLES) continue;
      for (const [off, t] of cache) {
        if (cache.size <= CACHE_TABLES) break;
        if (!t.dirty) cache.delete(off);
      }
    }
  }

  // ---- file I/O ----

  private async pread(pos: number, dst: Uint8Array): Promise<void> {
    let done = 0;
    while (done < dst.length) {
      const { bytesRead } = await this.io(() => this.fh.read(dst, done, dst.length - done, pos + done));
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    dst.fill(0, done);
  }

  private async pwrite(pos: number, src: Uint8Array): Promise<void> {
    this.unsynced = true;
    let done = 0;
    while (done < src.length) {
      const { bytesWritten } = await this.io(() => this.fh.write(src, done, src.length - done, pos + done));
      done += bytesWritten;
    }
    this.onFileWrite?.(pos, src.length);
  }

  private async pwritev(pos: number, parts: Uint8Array[]): Promise<void> {
    if (parts.length === 1) return this.pwrite(pos, parts[0]);
    this.unsynced = true;
    const total = parts.reduce((n, p) => n + p.length, 0);
    const { bytesWritten } = await this.io(() => this.fh.writev(parts, pos));
    this.onFileWrite?.(pos, bytesWritten);
    if (bytesWritten < total) {
      // Rare short write: finish the rest piece by piece.
      let skip = bytesWritten;
      let at = pos;
      for (const p of parts) {
        if (skip >= p.length) {
          skip -= p.length;
          at += p.length;
          continue;
        }
        await this.pwrite(at + skip, p.subarray(skip));
        at += p.length;
        skip = 0;
      }
    }
  }

  /** Makes everything written so far durable before the next step depends on it. */
  private async barrier(): Promise<void> {
    if (!this.unsynced) return;
    await this.io(() => this.fh.sync());
    this.unsynced = false;
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
    if (this.corrupt) throw new BonsaiError(`${this.path}: is marked corrupt; ${CORRUPT_ADVICE}`);
  }

  /** Inconsistent metadata found while writing: mark the image corrupt (as QEMU does) and stop writing. */
  private async corruption(problem: string): Promise<BonsaiError> {
    this.corrupt = true;
    return new BonsaiError(`${this.path}: ${corruptMessage(problem, await markCorrupt(this.fh, this.header), false)}`);
  }
}
