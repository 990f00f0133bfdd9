/**
 * Store files are replaced, never edited in place: written to a temporary name beside the target, flushed,
 * renamed over it, and the folder flushed, so a crash leaves either the old file or the new one.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { storeError } from './errors.js';

export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    const fd = openSync(tmp, 'w', mode);
    try {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw storeError(e, path, 'cannot write');
  }
  syncDir(dirname(path));
}

/** Flushes a folder's entries (a rename or a new file) to disk; best effort where the OS has no such thing. */
export function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  } catch { /* not supported here (e.g. Windows): the rename itself is still atomic */ }
}
