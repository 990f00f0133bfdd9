/**
 * The check a qcow2 image passes before Bonsai writes to it: every cluster in use (header, tables, data) has a
 * refcount at least as high as the number of times it is used, and no cluster written in place (the L1/L2
 * "copied" flag) is shared. Leaks (refcounts higher than the uses) are harmless and allowed.
 *
 * Why at open, for every read-write open: the allocator hands out clusters whose refcount is 0. On an image
 * whose refcounts undercount (a refcount table entry or block zeroed, a cluster mapped twice, a compressed
 * entry pointing into a data cluster) that would place new data or a new refcount block over data the guest
 * can still read. QEMU checks only metadata overlaps at write time (block/qcow2-refcount.c); this check
 * covers data too, and costs one read of each L2 table and refcount block (figures in docs/images.md).
 */
import { readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { hex } from './util.js';
import { TWO32, type Qcow2Header } from './qcow2-header.js';

/** Host clusters counted per pass: at most a 64 MiB array (a 2 TiB file of 64 KiB clusters, 16 GiB of 512-byte ones). */
const WINDOW = 1 << 25;
const COPIED_BIT = 0x8000;
const COUNT_MAX = 0x7fff;

export interface CheckInput {
  fh: FileHandle;
  header: Qcow2Header;
  fileSize: number;
  /** The L1 table and the refcount table as read from the file. */
  l1: DataView;
  rt: DataView;
  /** Each snapshot's L1 table (their copied flags mean nothing: qcow2.txt, only the active tables' are exact). */
  snapshotL1s?: { offset: number; table: DataView }[];
  snapshotTable?: { offset: number; bytes: number };
}

const where = (l2: number, k: number): string => `L2 table ${hex(l2)} entry ${k}`;

/** Tables closer than this are read in one request with what lies between them, up to SPAN bytes. */
const GAP = 16 * 1024;
const SPAN = 1 << 20;
/** The check reads synchronously (see read below) but gives the event loop a turn this often (ms). */
const SLICE_MS = 20;

type Reader = (pos: number, dst: Uint8Array) => Promise<void>;

/**
 * Reads the cluster-sized tables at `offsets` and hands each to fn (in no particular order), neighbours in one
 * read: one request costs far more than the bytes it carries (with 512-byte clusters a 4 GiB image has
 * 131,072 L2 tables). Stops at the first problem fn returns.
 */
async function eachTable(read: Reader, offsets: number[], c: number, fn: (index: number, view: DataView) => string | null): Promise<string | null> {
  const order = offsets.map((_, i) => i).sort((a, b) => offsets[a] - offsets[b]);
  const span = Math.max(SPAN, c);
  const runs: [number, number][] = []; // [first, last] positions in `order`
  for (let k = 0; k < order.length; k++) {
    const last = runs.length > 0 ? runs[runs.length - 1] : null;
    if (last !== null) {
      const start = offsets[order[last[0]]];
      const end = offsets[order[last[1]]] + c;
      const off = offsets[order[k]];
      if (off - end <= GAP && off + c - start <= span) {
        last[1] = k;
        continue;
      }
    }
    runs.push([k, k]);
  }
  const buf = new Uint8Array(span);
  for (const [a, b] of runs) {
    const start = offsets[order[a]];
    await read(start, buf.subarray(0, offsets[order[b]] + c - start));
    for (let k = a; k <= b; k++) {
      const found = fn(order[k], new DataView(buf.buffer, offsets[order[k]] - start, c));
      if (found !== null) return found;
    }
  }
  return null;
}

/**
 * Returns a description of the first inconsistency that could cost data if the image were written, or null.
 * Reads only; never writes.
 */
export async function checkRefcounts(inp: CheckInput): Promise<string | null> {
  const h = inp.header;
  const c = 2 ** h.clusterBits;
  const fileClusters = Math.ceil(inp.fileSize / c);
  const rtEntries = inp.rt.byteLength / 8;
  const rtEntry = (t: number): number => inp.rt.getUint32(t * 8) * TWO32 + ((inp.rt.getUint32(t * 8 + 4) & 0xfffffe00) >>> 0);
  // Each distinct L2 table once, with how many L1 entries (active and snapshots') point at it: every cluster
  // it maps is used that many times (qcow2.txt "Snapshots": a snapshot adds one to everything it reaches).
  const l2Index = new Map<number, number>();
  const l2Tables: number[] = [];
  const l2Refs: number[] = [];
  /** Whether the active L1 table reaches it: only then do its entries' copied flags count. */
  const l2Active: boolean[] = [];
  const l2Copied: boolean[] = [];
  const addL1 = (l1: DataView, size: number, active: boolean): void => {
    for (let i = 0; i < size; i++) {
      const hi = l1.getUint32(i * 8);
      const off = (hi & 0x00ffffff) * TWO32 + ((l1.getUint32(i * 8 + 4) & 0xfffffe00) >>> 0);
      if (off === 0) continue;
      let n = l2Index.get(off);
      if (n === undefined) {
        n = l2Tables.length;
        l2Index.set(off, n);
        l2Tables.push(off);
        l2Refs.push(0);
        l2Active.push(false);
        l2Copied.push(false);
      }
      l2Refs[n]++;
      if (active) {
        l2Active[n] = true;
        if (hi & 0x80000000) l2Copied[n] = true;
      }
    }
  };
  addL1(inp.l1, h.l1Size, true);
  for (const sl1 of inp.snapshotL1s ?? []) addL1(sl1.table, sl1.table.byteLength / 8, false);

  // Synchronous reads: a fully mapped 4 GiB image of 512-byte clusters has 131,072 L2 tables, and each
  // asynchronous read costs a thread-pool round trip, measured 6x slower than readSync (docs/images.md).
  // The event loop still gets a turn every SLICE_MS.
  let sliceStart = Date.now();
  const read = async (pos: number, dst: Uint8Array): Promise<void> => {
    if (Date.now() - sliceStart > SLICE_MS) {
      await new Promise((r) => setImmediate(r));
      sliceStart = Date.now();
    }
    let done = 0;
    while (done < dst.length) {
      const n = readSync(inp.fh.fd, dst, done, dst.length - done, pos + done);
      if (n === 0) break;
      done += n;
    }
    dst.fill(0, done);
  };

  // Passes over windows of host clusters: counts[i - from] is how often cluster i is used (saturating at
  // COUNT_MAX), with COPIED_BIT if any use writes it in place. Each pass finds the next window with a use.
  const counts = new Uint16Array(Math.min(WINDOW, Math.max(fileClusters, 1)));
  let from = 0;
  let to = 0;
  let next = Infinity;
  const use = (first: number, n: number, copied: boolean, times = 1): void => {
    for (let i = first; i < first + n; i++) {
      if (i < from || i >= to) {
        if (i >= to && i < next) next = i;
        continue;
      }
      const v = counts[i - from];
      counts[i - from] = Math.min((v & COUNT_MAX) + times, COUNT_MAX) | (v & COPIED_BIT) | (copied ? COPIED_BIT : 0);
    }
  };

  const xHi = 70 - h.clusterBits - 32; // compressed descriptor: offset bits in the high word
  /** Counts the uses in one L2 table; returns a problem with an entry. */
  const cbits = h.clusterBits;
  const perHighWord = TWO32 / c; // clusters per unit of an entry's high word
  const offMask = (c - 1) & 0xfffffe00; // offset bits that must be 0 in a cluster-aligned entry
  const scanL2 = (l2Off: number, l2: DataView, times: number, active: boolean): string | null => {
    // The window in locals: this loop runs once per guest cluster (16 million for 1 TiB of 64 KiB clusters).
    const lo0 = from;
    const hi0 = to;
    const cnt = counts;
    const copiedMask = active ? 0x80000000 : 0;
    for (let k = 0; k < c / 8; k++) {
      const hi = l2.getUint32(k * 8);
      const lo = l2.getUint32(k * 8 + 4);
      if (hi === 0 && lo === 0) continue;
      if (hi & 0x40000000) {
        const host = (hi & ((1 << xHi) - 1)) * TWO32 + lo;
        const sectors = ((hi >>> xHi) & ((1 << (h.clusterBits - 8)) - 1)) + 1;
        const end = Math.floor(host / 512) * 512 + sectors * 512;
        if (host < c || host >= inp.fileSize) return `${where(l2Off, k)} points at ${hex(host)}, outside the file`;
        const first = Math.floor(host / c);
        use(first, Math.floor((end - 1) / c) - first + 1, false, times);
        continue;
      }
      if ((hi & 0x00ffffff) === 0 && (lo & 0xfffffe00) === 0) continue; // a zero cluster without a host cluster
      const i = (hi & 0x00ffffff) * perHighWord + (lo >>> cbits);
      if ((lo & offMask) !== 0) return `${where(l2Off, k)} points at ${hex(i * c + (lo & offMask))}, not a cluster boundary`;
      if (i >= fileClusters) return `${where(l2Off, k)} points at ${hex(i * c)}, beyond the end of the file`;
      const copied = (hi & copiedMask) !== 0;
      if (i >= lo0 && i < hi0) {
        const v = cnt[i - lo0];
        cnt[i - lo0] = Math.min((v & COUNT_MAX) + times, COUNT_MAX) | (v & COPIED_BIT) | (copied ? COPIED_BIT : 0);
      } else use(i, 1, copied, times);
    }
    return null;
  };

  /** Counts every use of a cluster in the window: the header, the tables, and what the L2 tables map. */
  const countWindow = async (): Promise<string | null> => {
    use(0, 1, false);
    if (h.l1Size > 0) use(h.l1TableOffset / c, Math.ceil((h.l1Size * 8) / c), false);
    use(h.refcountTableOffset / c, h.refcountTableClusters, false);
    for (let t = 0; t < rtEntries; t++) {
      const off = rtEntry(t);
      if (off !== 0) use(off / c, 1, false);
    }
    for (const sl1 of inp.snapshotL1s ?? []) if (sl1.table.byteLength > 0) use(sl1.offset / c, Math.ceil(sl1.table.byteLength / c), false);
    const st = inp.snapshotTable;
    if (st !== undefined && st.bytes > 0) use(st.offset / c, Math.ceil(st.bytes / c), false);
    for (let n = 0; n < l2Tables.length; n++) use(l2Tables[n] / c, 1, l2Copied[n], l2Refs[n]);
    return eachTable(read, l2Tables, c, (n, view) => scanL2(l2Tables[n], view, l2Refs[n], l2Active[n]));
  };

  const rbEntries = c / 2;
  const zeros = new DataView(new ArrayBuffer(c));
  /** Compares the uses of clusters lo..hi-1 (in refcount block t's range) with the refcounts in rb. */
  const compare = (t: number, rb: DataView): string | null => {
    const lo = Math.max(from, t * rbEntries);
    const hi = Math.min(to, (t + 1) * rbEntries);
    for (let i = lo; i < hi; i++) {
      const v = counts[i - from];
      if (v === 0) continue;
      const rc = rb.getUint16((i - t * rbEntries) * 2);
      const uses = v & COUNT_MAX;
      if (rc >= uses && ((v & COPIED_BIT) === 0 || (uses === 1 && rc === 1))) continue;
      const usesText = uses === COUNT_MAX ? `${COUNT_MAX} or more times` : uses === 1 ? 'once' : uses === 2 ? 'twice' : `${uses} times`;
      if (rc === 0 || (uses < COUNT_MAX && rc < uses)) return `cluster ${hex(i * c)} is in use ${usesText} but its refcount is ${rc}`;
      return `cluster ${hex(i * c)} is written in place (its copied flag is set) but is in use ${usesText} with refcount ${rc}`;
    }
    return null;
  };
  /** Compares the window's uses with the refcounts, block by block. */
  const compareWindow = async (): Promise<string | null> => {
    const blocks: number[] = [];
    const offsets: number[] = [];
    for (let t = Math.floor(from / rbEntries); t * rbEntries < to; t++) {
      const off = t < rtEntries ? rtEntry(t) : 0;
      if (off !== 0) {
        blocks.push(t);
        offsets.push(off);
        continue;
      }
      // No refcount block: every cluster in its range has refcount 0.
      const problem = compare(t, zeros);
      if (problem !== null) return problem;
    }
    return eachTable(read, offsets, c, (n, view) => compare(blocks[n], view));
  };

  while (from !== Infinity) {
    to = from + counts.length;
    next = Infinity;
    counts.fill(0);
    const problem = (await countWindow()) ?? (await compareWindow());
    if (problem !== null) return problem;
    from = next;
  }
  return null;
}
