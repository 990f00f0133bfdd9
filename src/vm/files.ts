/**
 * The host files a run reads whole (kernel, initrd, firmware, ssh keys) and the one it writes (--dump-dtb).
 * Each is opened without blocking (O_NONBLOCK: a FIFO with no writer or reader never hangs the process, so
 * signals still end it), checked on the open descriptor (no race with a rename), and refused with one line
 * unless it is a regular file of a bounded size: /dev/zero or a FIFO would otherwise be read without end.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BonsaiError, fsErrorWords } from '../errors.js';

export const GiB = 1024 ** 3;
/** The most a kernel or firmware file may hold (an ELF may carry symbols and debug sections beyond its RAM image). */
export const MAX_IMAGE_FILE = 2 * GiB;
/** The most an ssh public key file may hold: a few hundred keys. */
export const MAX_SSH_KEY_FILE = 64 * 1024;

/**
 * Why opening `file` failed. ENXIO means a socket, or (opening to write) a FIFO nobody reads: the kind says which.
 */
function openProblem(file: string, e: unknown): string {
  if ((e as NodeJS.ErrnoException).code === 'ENXIO') {
    try {
      const st = statSync(file);
      if (st.isFIFO()) return 'is a FIFO with no reader';
      if (st.isSocket()) return 'is a socket, not a regular file';
    } catch { /* gone meanwhile: the errno says it */ }
  }
  return fsErrorWords(e);
}

/** What kind of file `st` is, when it is not a regular file (`null` when it is). */
export function notRegular(st: Stats): string | null {
  if (st.isFile()) return null;
  if (st.isDirectory()) return 'is a directory';
  if (st.isFIFO()) return 'is a FIFO, not a regular file';
  if (st.isCharacterDevice()) return 'is a character device, not a regular file';
  if (st.isBlockDevice()) return 'is a block device, not a regular file';
  if (st.isSocket()) return 'is a socket, not a regular file';
  return 'is not a regular file';
}

/** Why `path` cannot serve as a directory (--share, --tftp), or `null` when it is one. */
export function directoryProblem(path: string): string | null {
  let st: Stats;
  try { st = statSync(path); } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : fsErrorWords(e);
  }
  if (st.isDirectory()) return null;
  return st.isFile() ? 'is a regular file, not a directory' : (notRegular(st) ?? '').replace(/not a regular file$/, 'not a directory');
}

function sizeText(n: number): string {
  for (const [unit, v] of [['GiB', GiB], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (n >= v) return `${Number.isInteger(n / v) ? n / v : (n / v).toFixed(1)} ${unit}`;
  }
  return `${n} bytes`;
}

/** Why a file read whole is refused: not a regular file, or over its bound. */
function refusal(st: Stats, maxBytes: number): string | null {
  return notRegular(st) ?? (st.size > maxBytes ? `is ${sizeText(st.size)}, more than the ${sizeText(maxBytes)} allowed` : null);
}

const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/**
 * Reads a file the guest needs. A missing, unreadable, special or oversized one is a one-line BonsaiError
 * "FILE: cannot read WHAT: WHY".
 */
export async function readGuestFile(file: string, what: string, maxBytes = MAX_IMAGE_FILE): Promise<Uint8Array> {
  const fail = (why: string): BonsaiError => new BonsaiError(`${file}: cannot read ${what}: ${why}`);
  let fh: FileHandle;
  try { fh = await open(file, READ_FLAGS); } catch (e) { throw fail(openProblem(file, e)); }
  try {
    const st = await fh.stat();
    const refused = refusal(st, maxBytes);
    if (refused !== null) throw fail(refused);
    // The size read at the start is what is read: a file that grows meanwhile is not followed.
    const out = new Uint8Array(st.size);
    for (let at = 0; at < out.length;) {
      const { bytesRead } = await fh.read(out, at, out.length - at, at);
      if (bytesRead === 0) return out.subarray(0, at);
      at += bytesRead;
    }
    return out;
  } catch (e) {
    throw e instanceof BonsaiError ? e : fail(fsErrorWords(e));
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** readGuestFile for small files read during option parsing; `fail` words the error. */
export function readSmallFileSync(file: string, maxBytes: number, fail: (why: string) => BonsaiError): Uint8Array {
  let fd: number;
  try { fd = openSync(file, READ_FLAGS); } catch (e) { throw fail(openProblem(file, e)); }
  try {
    const st = fstatSync(fd);
    const refused = refusal(st, maxBytes);
    if (refused !== null) throw fail(refused);
    const out = new Uint8Array(st.size);
    for (let at = 0; at < out.length;) {
      const n = readSync(fd, out, at, out.length - at, at);
      if (n === 0) return out.subarray(0, at);
      at += n;
    }
    return out;
  } catch (e) {
    throw e instanceof BonsaiError ? e : fail(fsErrorWords(e));
  } finally {
    closeSync(fd);
  }
}

/**
 * A file to write one small result to (`--dump-dtb FILE`), opened before the work so that a bad name fails
 * first. A regular file (created if missing, replaced when written), a character device such as /dev/null
 * or a terminal, or a FIFO that has a reader; anything else, or a FIFO nobody reads, is refused.
 */
export class OutputFile {
  private constructor(private readonly fh: FileHandle, private readonly file: string, private readonly regular: boolean,
    private readonly created: boolean, private readonly fail: (why: string) => BonsaiError) {}

  static async open(file: string, option: string): Promise<OutputFile> {
    const fail = (why: string): BonsaiError => new BonsaiError(`${option} ${file}: cannot write: ${why}`);
    const flags = constants.O_WRONLY | constants.O_NONBLOCK;
    let fh: FileHandle;
    let created = false;
    try {
      try {
        fh = await open(file, flags);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        fh = await open(file, flags | constants.O_CREAT | constants.O_EXCL, 0o666);
        created = true;
      }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw fail(code === 'ENOENT' ? `no such directory: ${dirname(file)}` : openProblem(file, e));
    }
    let st: Stats;
    try { st = await fh.stat(); } catch (e) { await fh.close(); throw fail(fsErrorWords(e)); }
    if (!st.isFile() && !st.isCharacterDevice() && !st.isFIFO()) {
      await fh.close();
      throw fail(notRegular(st) ?? 'is not a regular file');
    }
    return new OutputFile(fh, file, st.isFile(), created, fail);
  }

  /** Writes `bytes` as the whole content, then closes the file. */
  async write(bytes: Uint8Array): Promise<void> {
    try {
      if (this.regular) await this.fh.truncate(0);
      for (let at = 0; at < bytes.length;) {
        at += (await this.fh.write(bytes, at, bytes.length - at, this.regular ? at : null)).bytesWritten;
      }
    } catch (e) {
      throw this.fail(fsErrorWords(e));
    } finally {
      await this.fh.close().catch(() => undefined);
    }
  }

  /** Closes without writing; a file that open() created is removed again. */
  async abandon(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    if (this.created) await unlink(this.file).catch(() => undefined);
  }
}
