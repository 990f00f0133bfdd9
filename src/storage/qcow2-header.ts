/**
 * The qcow2 header cluster (QEMU docs/interop/qcow2.txt "Header", "Header extensions"): parsing with checks,
 * and the bytes of a new, empty image.
 */
import { BonsaiError } from '../errors.js';
import type { DiskFormat } from './backend.js';
import { alignUp, hex } from './util.js';

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
export const TWO32 = 4294967296;

/** Header extension types (qcow2.txt "Header extensions"). */
export const EXT_BACKING_FORMAT = 0xe2792aca;
export const EXT_FEATURE_TABLE = 0x6803f857;
export const EXT_BITMAPS = 0x23852875;
export const EXT_CRYPTO = 0x0537be77;
export const EXT_DATA_FILE = 0x44415441;

export const INCOMPAT_DIRTY = 1n;
export const INCOMPAT_CORRUPT = 2n;
export const INCOMPAT_DATA_FILE = 4n;
export const INCOMPAT_COMPRESSION = 8n;
export const INCOMPAT_EXTL2 = 16n;
export const COMPAT_LAZY_REFCOUNTS = 1n;

export const MIN_CLUSTER_BITS = 9;
export const MAX_CLUSTER_BITS = 21; // QEMU's limit: 2 MB clusters
export const MAX_L1_BYTES = 32 << 20; // QEMU's limit
export const MAX_REFTABLE_BYTES = 8 << 20; // QEMU's limit
export const MAX_BACKING_NAME = 1023;

export interface HeaderExtension {
  type: number;
  data: Uint8Array;
}

export interface Qcow2Header {
  version: 2 | 3;
  backingFileOffset: number;
  backingFileSize: number;
  clusterBits: number;
  size: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatibleFeatures: bigint;
  compatibleFeatures: bigint;
  autoclearFeatures: bigint;
  refcountOrder: number;
  headerLength: number;
  compressionType: number;
  /** Every extension in the header cluster, in order, known or not (they are never rewritten). */
  extensions: HeaderExtension[];
  backingFile: string | null;
  backingFormat: string | null;
  /** Feature name table: `${type}:${bit}` (type 0 incompatible, 1 compatible, 2 autoclear) to name. */
  featureNames: Map<string, string>;
}


/** Reads a 64-bit big-endian field that must be a safe integer, or throws with the field's name. */
function u64(view: DataView, pos: number, fail: (msg: string) => BonsaiError, what: string): number {
  const v = view.getBigUint64(pos);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`${what} ${hex(Number(v))} is impossibly large`);
  return Number(v);
}


/** Parses and checks the header cluster. Everything else about the layout is checked by Qcow2Backend.open. */
export function parseHeader(buf: Uint8Array, fail: (msg: string) => BonsaiError): Qcow2Header {
  if (buf.length < 72) throw fail(`too short to be a qcow2 image (${buf.length} bytes)`);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (v.getUint32(0) !== QCOW2_MAGIC) throw fail('not a qcow2 image (bad magic)');
  const version = v.getUint32(4);
  if (version === 1) throw fail("is a qcow version 1 image, which Bonsai does not read (convert it with 'qemu-img convert -O qcow2')");
  if (version !== 2 && version !== 3) throw fail(`unsupported qcow2 version ${version} (Bonsai reads versions 2 and 3)`);
  const clusterBits = v.getUint32(20);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    throw fail(`cluster_bits ${clusterBits} is out of range (${MIN_CLUSTER_BITS}..${MAX_CLUSTER_BITS})`);
  }
  const clusterSize = 2 ** clusterBits;
  const h: Qcow2Header = {
    version,
    backingFileOffset: u64(v, 8, fail, 'backing file offset'),
    backingFileSize: v.getUint32(16),
    clusterBits,
    size: u64(v, 24, fail, 'virtual size'),
    cryptMethod: v.getUint32(32),
    l1Size: v.getUint32(36),
    l1TableOffset: u64(v, 40, fail, 'L1 table offset'),
    refcountTableOffset: u64(v, 48, fail, 'refcount table offset'),
    refcountTableClusters: v.getUint32(56),
    nbSnapshots: v.getUint32(60),
    snapshotsOffset: u64(v, 64, fail, 'snapshot table offset'),
    incompatibleFeatures: 0n,
    compatibleFeatures: 0n,
    autoclearFeatures: 0n,
    refcountOrder: 4,
    headerLength: 72,
    compressionType: 0,
    extensions: [],
    backingFile: null,
    backingFormat: null,
    featureNames: new Map(),
  };
  if (version === 3) {
    if (buf.length < 104) throw fail(`too short for a version 3 header (${buf.length} bytes)`);
    h.incompatibleFeatures = v.getBigUint64(72);
    h.compatibleFeatures = v.getBigUint64(80);
    h.autoclearFeatures = v.getBigUint64(88);
    h.refcountOrder = v.getUint32(96);
    h.headerLength = v.getUint32(100);
    if (h.headerLength < 104 || h.headerLength % 8 !== 0 || h.headerLength > clusterSize || h.headerLength > buf.length) {
      throw fail(`header length ${h.headerLength} is invalid`);
    }
    if (h.headerLength > 104) h.compressionType = buf[104];
  }

  // The extensions run from the end of the header to the backing file name, or to the end of the cluster.
  const area = Math.min(clusterSize, buf.length);
  let extEnd = area;
  if (h.backingFileOffset !== 0) {
    if (h.backingFileSize === 0 || h.backingFileSize > MAX_BACKING_NAME) throw fail(`backing file name length ${h.backingFileSize} is invalid`);
    if (h.backingFileOffset < h.headerLength || h.backingFileOffset + h.backingFileSize > area) {
      throw fail(`backing file name (offset ${h.backingFileOffset}, ${h.backingFileSize} bytes) lies outside the header cluster`);
    }
    h.backingFile = new TextDecoder().decode(buf.subarray(h.backingFileOffset, h.backingFileOffset + h.backingFileSize));
    extEnd = h.backingFileOffset;
  }
  let pos = h.headerLength;
  for (;;) {
    if (pos + 8 > extEnd) {
      // A version 2 header may simply stop; anything else must end with an end-of-extensions marker.
      if (version === 2 || pos === extEnd) break;
      throw fail('header extensions run past the header cluster');
    }
    const type = v.getUint32(pos);
    const len = v.getUint32(pos + 4);
    if (type === 0) break;
    if (pos + 8 + len > extEnd) throw fail(`header extension ${hex(type)} (${len} bytes) runs past the header cluster`);
    const data = buf.slice(pos + 8, pos + 8 + len);
    h.extensions.push({ type, data });
    if (type === EXT_BACKING_FORMAT) h.backingFormat = new TextDecoder().decode(data);
    if (type === EXT_FEATURE_TABLE) {
      for (let e = 0; e + 48 <= len; e += 48) {
        const name = new TextDecoder().decode(data.subarray(e + 2, e + 48)).replace(/\0.*$/s, '');
        h.featureNames.set(`${data[e]}:${data[e + 1]}`, name);
      }
    }
    pos += 8 + alignUp(len, 8);
  }
  return h;
}

/** Options for a new, empty image. */
export interface Qcow2CreateOptions {
  clusterBits?: number;
  /** As it is stored: a relative name is resolved against the new image's folder when it is opened. */
  backingFile?: string;
  backingFormat?: DiskFormat;
}

const FEATURE_NAMES: [number, number, string][] = [
  [0, 0, 'dirty bit'], [0, 1, 'corrupt bit'], [0, 2, 'external data file'], [0, 3, 'compression type'],
  [0, 4, 'extended L2 entries'], [1, 0, 'lazy refcounts'], [2, 0, 'bitmaps'], [2, 1, 'raw external data'],
];

/**
 * The bytes of an empty version 3 image: header cluster, refcount table, refcount blocks, L1 table (for
 * ordinary sizes one cluster of each but the L1, the layout QEMU uses too). Clusters past the L1 table are
 * allocated as the disk is written.
 */
export function formatQcow2(size: number, opts: Qcow2CreateOptions = {}): Uint8Array {
  const clusterBits = opts.clusterBits ?? 16;
  if (!Number.isInteger(clusterBits) || clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    throw new BonsaiError(`cluster size must be a power of two from 512 bytes to 2 MB`);
  }
  if (!Number.isSafeInteger(size) || size < 0 || size % 512 !== 0) throw new BonsaiError(`virtual size ${size} is not a multiple of 512`);
  const c = 2 ** clusterBits;
  const l2Entries = c / 8;
  const l1Size = Math.ceil(size / (c * l2Entries));
  if (l1Size * 8 > MAX_L1_BYTES) throw new BonsaiError(`virtual size ${size} is too large for ${c}-byte clusters (its L1 table would exceed 32 MB)`);
  const l1Clusters = Math.ceil((l1Size * 8) / c); // none for an empty disk, as QEMU does
  // Refcount blocks must count every cluster of the image, themselves and the table included.
  let rtClusters = 1;
  let rbClusters = 1;
  for (;;) {
    const total = 1 + rtClusters + rbClusters + l1Clusters;
    const needBlocks = Math.ceil(total / (c / 2));
    const needTable = Math.ceil(needBlocks / (c / 8));
    if (needBlocks <= rbClusters && needTable <= rtClusters) break;
    rbClusters = Math.max(rbClusters, needBlocks);
    rtClusters = Math.max(rtClusters, needTable);
  }
  const l1Start = 1 + rtClusters + rbClusters;
  const used = l1Start + l1Clusters;

  const enc = new TextEncoder();
  const backing = opts.backingFile === undefined ? null : enc.encode(opts.backingFile);
  if (backing !== null && (backing.length === 0 || backing.length > MAX_BACKING_NAME)) {
    throw new BonsaiError(`backing file name must be 1 to ${MAX_BACKING_NAME} bytes long`);
  }
  const exts: { type: number; data: Uint8Array }[] = [];
  if (opts.backingFormat !== undefined) exts.push({ type: EXT_BACKING_FORMAT, data: enc.encode(opts.backingFormat) });
  const table = new Uint8Array(FEATURE_NAMES.length * 48);
  FEATURE_NAMES.forEach(([type, bit, name], i) => {
    table[i * 48] = type;
    table[i * 48 + 1] = bit;
    table.set(enc.encode(name), i * 48 + 2);
  });
  const extBytes = (list: { data: Uint8Array }[]): number => list.reduce((n, e) => n + 8 + alignUp(e.data.length, 8), 0);
  // The feature name table is a courtesy for other tools: leave it out when the header cluster is small.
  if (104 + extBytes([...exts, { data: table }]) + 8 + (backing?.length ?? 0) <= c) exts.push({ type: EXT_FEATURE_TABLE, data: table });
  const backingOffset = 104 + extBytes(exts) + 8;
  if (backingOffset + (backing?.length ?? 0) > c) throw new BonsaiError(`the backing file name does not fit in a ${c}-byte header cluster`);

  const img = new Uint8Array(used * c);
  const v = new DataView(img.buffer);
  v.setUint32(0, QCOW2_MAGIC);
  v.setUint32(4, 3);
  if (backing !== null) {
    v.setBigUint64(8, BigInt(backingOffset));
    v.setUint32(16, backing.length);
    img.set(backing, backingOffset);
  }
  v.setUint32(20, clusterBits);
  v.setBigUint64(24, BigInt(size));
  v.setUint32(36, l1Size);
  v.setBigUint64(40, l1Clusters > 0 ? BigInt(l1Start * c) : 0n);
  v.setBigUint64(48, BigInt(c));
  v.setUint32(56, rtClusters);
  v.setUint32(96, 4);
  v.setUint32(100, 104);
  let pos = 104;
  for (const e of exts) {
    v.setUint32(pos, e.type);
    v.setUint32(pos + 4, e.data.length);
    img.set(e.data, pos + 8);
    pos += 8 + alignUp(e.data.length, 8);
  }
  // Refcount table entry k -> refcount block k, just after the table; together they count clusters 0 .. used-1.
  const rbStart = 1 + rtClusters;
  for (let k = 0; k < rbClusters; k++) v.setBigUint64(c + 8 * k, BigInt((rbStart + k) * c));
  for (let i = 0; i < used; i++) v.setUint16(rbStart * c + 2 * i, 1);
  return img;
}
