/**
 * The qcow2 snapshot table (QEMU docs/interop/qcow2.txt "Snapshots"): a contiguous run of variable-length
 * entries, each 8-byte aligned: a 40-byte header, extra data, the ID string, then the name.
 *
 *   0  l1_table_offset (u64)     8 l1_size (u32)      12 id_str_size (u16)   14 name_size (u16)
 *  16  date_sec (u32)           20 date_nsec (u32)    24 vm_clock_nsec (u64)
 *  32  vm_state_size (u32)      36 extra_data_size (u32)
 *  extra data: 0 vm_state_size_large (u64), 8 disk_size (u64), 16 icount (u64, -1: none); the rest is kept as is
 */
import { hex } from './util.js';

/** QEMU's limits (block/qcow2.h): entries, extra data per entry, bytes of the whole table. */
export const MAX_SNAPSHOTS = 65536;
export const MAX_SNAPSHOT_EXTRA = 1024;
export const MAX_SNAPSHOT_TABLE = 64 << 20;
/** The extra data Bonsai writes: vm_state_size_large, disk_size, icount (as QEMU 5.0 and later do). */
const EXTRA = 24;
const ENTRY_HEADER = 40;
const NO_ICOUNT = 0xffffffffffffffffn;

/** One entry of the snapshot table, with every field as stored (so an unchanged entry is rewritten byte for byte). */
export interface SnapshotEntry {
  l1Offset: number;
  l1Size: number;
  id: string;
  name: string;
  dateSec: number;
  dateNsec: number;
  vmClockNs: bigint;
  vmStateSize: number;
  diskSize: number;
  /** Undefined when not recorded (-1 in the image, or no room for it in the extra data). */
  icount: bigint | undefined;
  /** Extra data beyond the fields above, kept for rewriting (qcow2.txt: unknown fields must be ignored). */
  unknownExtra: Uint8Array;
}

const align8 = (n: number): number => Math.ceil(n / 8) * 8;

/**
 * Parses nb entries of the table in buf (which starts at the table). defaultDiskSize stands in for entries
 * too old to record their disk size. Returns the entries and the table's length, or a problem.
 */
export function parseSnapshotTable(buf: Uint8Array, nb: number, defaultDiskSize: number): { entries: SnapshotEntry[]; length: number } | string {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dec = new TextDecoder('utf-8', { fatal: false });
  const entries: SnapshotEntry[] = [];
  let pos = 0;
  const u64 = (at: number, what: string, i: number): number | string => {
    const x = v.getBigUint64(at);
    return x > BigInt(Number.MAX_SAFE_INTEGER) ? `snapshot ${i}: ${what} ${x} is impossibly large` : Number(x);
  };
  for (let i = 0; i < nb; i++) {
    pos = align8(pos);
    if (pos + ENTRY_HEADER > buf.length) return `snapshot table entry ${i} runs past the end of the table`;
    const l1Offset = u64(pos, 'L1 table offset', i);
    if (typeof l1Offset === 'string') return l1Offset;
    const l1Size = v.getUint32(pos + 8);
    const idSize = v.getUint16(pos + 12);
    const nameSize = v.getUint16(pos + 14);
    const extraSize = v.getUint32(pos + 36);
    if (extraSize > MAX_SNAPSHOT_EXTRA) return `snapshot table entry ${i} has ${extraSize} bytes of extra data (at most ${MAX_SNAPSHOT_EXTRA})`;
    const end = pos + ENTRY_HEADER + extraSize + idSize + nameSize;
    if (end > buf.length) return `snapshot table entry ${i} runs past the end of the table`;
    const x = pos + ENTRY_HEADER;
    let vmStateSize = v.getUint32(pos + 32);
    if (extraSize >= 8) {
      const large = u64(x, 'VM state size', i);
      if (typeof large === 'string') return large;
      vmStateSize = large;
    }
    let diskSize = defaultDiskSize;
    if (extraSize >= 16) {
      const d = u64(x + 8, 'disk size', i);
      if (typeof d === 'string') return d;
      diskSize = d;
    }
    let icount: bigint | undefined;
    if (extraSize >= 24) {
      const ic = v.getBigUint64(x + 16);
      if (ic !== NO_ICOUNT) icount = ic;
    }
    entries.push({
      l1Offset, l1Size,
      id: dec.decode(buf.subarray(x + extraSize, x + extraSize + idSize)),
      name: dec.decode(buf.subarray(x + extraSize + idSize, end)),
      dateSec: v.getUint32(pos + 16),
      dateNsec: v.getUint32(pos + 20),
      vmClockNs: v.getBigUint64(pos + 24),
      vmStateSize, diskSize, icount,
      unknownExtra: buf.slice(x + Math.min(extraSize, EXTRA), x + extraSize),
    });
    pos = end;
    if (pos > MAX_SNAPSHOT_TABLE) return `the snapshot table is larger than ${MAX_SNAPSHOT_TABLE} bytes`;
  }
  return { entries, length: pos };
}

/** The bytes of a snapshot table holding entries (every entry with at least EXTRA bytes of extra data). */
export function encodeSnapshotTable(entries: SnapshotEntry[]): Uint8Array {
  const enc = new TextEncoder();
  const parts = entries.map((e) => ({ e, id: enc.encode(e.id), name: enc.encode(e.name) }));
  let length = 0;
  for (const p of parts) length = align8(length) + ENTRY_HEADER + EXTRA + p.e.unknownExtra.length + p.id.length + p.name.length;
  const buf = new Uint8Array(length);
  const v = new DataView(buf.buffer);
  let pos = 0;
  for (const { e, id, name } of parts) {
    pos = align8(pos);
    v.setBigUint64(pos, BigInt(e.l1Offset));
    v.setUint32(pos + 8, e.l1Size);
    v.setUint16(pos + 12, id.length);
    v.setUint16(pos + 14, name.length);
    v.setUint32(pos + 16, e.dateSec);
    v.setUint32(pos + 20, e.dateNsec);
    v.setBigUint64(pos + 24, e.vmClockNs);
    // A VM state too large for the old field: older readers then see a disk-only snapshot (as QEMU writes it).
    v.setUint32(pos + 32, e.vmStateSize <= 0xffffffff ? e.vmStateSize : 0);
    v.setUint32(pos + 36, EXTRA + e.unknownExtra.length);
    const x = pos + ENTRY_HEADER;
    v.setBigUint64(x, BigInt(e.vmStateSize));
    v.setBigUint64(x + 8, BigInt(e.diskSize));
    v.setBigUint64(x + 16, e.icount ?? NO_ICOUNT);
    buf.set(e.unknownExtra, x + EXTRA);
    buf.set(id, x + EXTRA + e.unknownExtra.length);
    buf.set(name, x + EXTRA + e.unknownExtra.length + id.length);
    pos = x + EXTRA + e.unknownExtra.length + id.length + name.length;
  }
  return buf;
}

/** QEMU's rule for a new ID: one more than the largest decimal ID (non-numeric IDs count as 0). */
export function nextSnapshotId(entries: SnapshotEntry[]): string {
  let max = 0;
  for (const e of entries) {
    const m = /^\d+/.exec(e.id);
    const n = m === null ? 0 : Number(m[0]);
    if (n > max) max = n;
  }
  return String(max + 1);
}

/** The entry an argument names: an ID first, then a name (QEMU's find_snapshot_by_id_or_name). */
export function findSnapshot(entries: SnapshotEntry[], nameOrId: string): number {
  const byId = entries.findIndex((e) => e.id === nameOrId);
  return byId >= 0 ? byId : entries.findIndex((e) => e.name === nameOrId);
}

export function describeEntry(e: SnapshotEntry): string {
  return `snapshot '${e.name}' (ID ${e.id}, L1 table ${hex(e.l1Offset)})`;
}
