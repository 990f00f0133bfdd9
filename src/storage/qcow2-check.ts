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
import type { FileHandle } from 'node:fs/promises';
import { hex } from './util.js';
import { TWO32, type Qcow2Header } from './qcow2-header.js';

/** Host clusters counted per pass: a 16 MiB array, enough for a 1 TiB file of 64 KiB clusters in one pass. */
const WINDOW = 1 << 24;
const COPIED_BIT = 0x80;
const COUNT_MAX = 0x7f;

export interface CheckInput {
  fh: FileHandle;
  header: Qcow2Header;
  fileSize: number;
  /** The L1 table and the refcount table as read from the file. */
  l1: DataView;
  rt: DataView;
}

/** One reference to a run of host clusters, `copied` if written in place through it. */
type Visit = (first: number, count: number, copied: boolean) => void;

/**
 * Returns a description of the first inconsistency that could cost data if the image were written, or null.
 * Reads only; never writes.
 */
export async function checkRefcounts(inp: CheckInput): Promise<string | null> {
  const h = inp.header;
  const c = 2 ** h.clusterBits;
  const fileClusters = Math.ceil(inp.fileSize / c);
  const l2buf = new Uint8Array(c);
  const l2 = new DataView(l2buf.buffer);
  let problem: string | null = null;

  const read = async (pos: number, dst: Uint8Array): Promise<void> => {
    let done = 0;
    while (done < dst.length) {
      const { bytesRead } = await inp.fh.read(dst, done, dst.length - done, pos + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    dst.fill(0, done);
  };

  /** Calls visit for every use of a host cluster; returns a problem found in the tables themselves. */
  const walk = async (visit: Visit): Promise<string | null> => {
    visit(0, 1, false); // the header
    if (h.l1Size > 0) visit(h.l1TableOffset / c, Math.ceil((h.l1Size * 8) / c), false);
    visit(h.refcountTableOffset / c, h.refcountTableClusters, false);
    for (let t = 0; t < inp.rt.byteLength / 8; t++) {
      const off = inp.rt.getUint32(t * 8) * TWO32 + ((inp.rt.getUint32(t * 8 + 4) & 0xfffffe00) >>> 0);
      if (off !== 0) visit(off / c, 1, false);
    }
    const xHi = 70 - h.clusterBits - 32; // compressed descriptor: offset bits in the high word
    for (let i = 0; i < h.l1Size; i++) {
      const hi1 = inp.l1.getUint32(i * 8);
      const l2Off = (hi1 & 0x00ffffff) * TWO32 + inp.l1.getUint32(i * 8 + 4);
      if (l2Off === 0) continue;
      visit(l2Off / c, 1, (hi1 & 0x80000000) !== 0);
      await read(l2Off, l2buf);
      for (let k = 0; k < c / 8; k++) {
        const hi = l2.getUint32(k * 8);
        const lo = l2.getUint32(k * 8 + 4);
        if (hi === 0 && lo === 0) continue;
        const where = `L2 table ${hex(l2Off)} entry ${k}`;
        if (hi & 0x40000000) {
          const host = (hi & ((1 << xHi) - 1)) * TWO32 + lo;
          const sectors = ((hi >>> xHi) & ((1 << (h.clusterBits - 8)) - 1)) + 1;
          const end = Math.floor(host / 512) * 512 + sectors * 512;
          if (host < c || host >= inp.fileSize) return `${where} points at ${hex(host)}, outside the file`;
          const first = Math.floor(host / c);
          visit(first, Math.floor((end - 1) / c) - first + 1, false);
          continue;
        }
        const host = (hi & 0x00ffffff) * TWO32 + ((lo & 0xfffffe00) >>> 0);
        if (host === 0) continue;
        if (host % c !== 0) return `${where} points at ${hex(host)}, not a cluster boundary`;
        if (host >= inp.fileSize) return `${where} points at ${hex(host)}, beyond the end of the file`;
        visit(host / c, 1, (hi & 0x80000000) !== 0);
      }
    }
    return null;
  };

  // Pass over windows of host clusters; each pass also finds the next window that has any use in it.
  const rbEntries = c / 2;
  const rbBuf = new Uint8Array(c);
  const rb = new DataView(rbBuf.buffer);
  const counts = new Uint8Array(Math.min(WINDOW, Math.max(fileClusters, 1)));
  let from = 0;
  while (from < Infinity && problem === null) {
    const to = from + counts.length;
    counts.fill(0);
    let next = Infinity;
    const walkProblem = await walk((first, n, copied) => {
      for (let i = first; i < first + n; i++) {
        if (i < from || i >= to) {
          if (i >= to && i < next) next = i;
          continue;
        }
        const v = counts[i - from];
        counts[i - from] = ((v & COUNT_MAX) === COUNT_MAX ? v : v + 1) | (copied ? COPIED_BIT : 0);
      }
    });
    if (walkProblem !== null) return walkProblem;
    // Compare with the refcounts, one refcount block at a time.
    let loadedBlock = -1;
    for (let i = from; i < to && problem === null; i++) {
      const v = counts[i - from];
      if (v === 0) continue;
      const t = Math.floor(i / rbEntries);
      let rc = 0;
      if (t < inp.rt.byteLength / 8) {
        const off = inp.rt.getUint32(t * 8) * TWO32 + ((inp.rt.getUint32(t * 8 + 4) & 0xfffffe00) >>> 0);
        if (off !== 0) {
          if (loadedBlock !== t) {
            await read(off, rbBuf);
            loadedBlock = t;
          }
          rc = rb.getUint16((i - t * rbEntries) * 2);
        }
      }
      const uses = v & COUNT_MAX;
      const usesText = uses === COUNT_MAX ? `${COUNT_MAX} or more times` : uses === 1 ? 'once' : uses === 2 ? 'twice' : `${uses} times`;
      if (rc === 0 || (uses < COUNT_MAX && rc < uses)) problem = `cluster ${hex(i * c)} is in use ${usesText} but its refcount is ${rc}`;
      else if ((v & COPIED_BIT) !== 0 && (uses !== 1 || rc !== 1)) {
        problem = `cluster ${hex(i * c)} is written in place (its copied flag is set) but is in use ${usesText} with refcount ${rc}`;
      }
    }
    from = next;
  }
  return problem;
}
