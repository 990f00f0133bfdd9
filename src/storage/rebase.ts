/**
 * Renaming a qcow2 image's backing file in place (`qemu-img rebase -u`: the data is not touched, so the
 * new name must hold the same content). The name lives in the header cluster after the header
 * extensions (qcow2 specification, "Header"); the new one is written where the old one starts, so it may
 * be as long as the room left in that cluster.
 */
import { open } from 'node:fs/promises';
import { BonsaiError } from '../errors.js';
import { MAX_BACKING_NAME, parseHeader, QCOW2_MAGIC } from './qcow2-header.js';

/** Renames; the file is flushed after, unless `sync` is false (a caller that syncs it later itself). */
export async function setBackingName(path: string, name: string, opts: { sync: boolean } = { sync: true }): Promise<void> {
  const bytes = new TextEncoder().encode(name);
  if (bytes.length === 0 || bytes.length > MAX_BACKING_NAME) throw new BonsaiError(`${path}: a backing file name of ${bytes.length} bytes is not allowed (1-${MAX_BACKING_NAME})`);
  const fh = await open(path, 'r+');
  try {
    const head = new Uint8Array(2 * 1024 * 1024);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const buf = head.subarray(0, bytesRead);
    const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    if (buf.length < 72 || v.getUint32(0) !== QCOW2_MAGIC) throw new BonsaiError(`${path}: not a qcow2 image`);
    const h = parseHeader(buf, (msg) => new BonsaiError(`${path}: ${msg}`));
    if (h.backingFileOffset === 0) throw new BonsaiError(`${path}: has no backing file to rename`);
    const clusterSize = 2 ** h.clusterBits;
    if (h.backingFileOffset + bytes.length > clusterSize) {
      throw new BonsaiError(`${path}: the backing file name '${name}' does not fit in the header cluster (${clusterSize - h.backingFileOffset} bytes left)`);
    }
    await fh.write(bytes, 0, bytes.length, h.backingFileOffset);
    const size = new Uint8Array(4);
    new DataView(size.buffer).setUint32(0, bytes.length);
    await fh.write(size, 0, 4, 16);
    if (opts.sync) await fh.sync();
  } finally {
    await fh.close();
  }
}
