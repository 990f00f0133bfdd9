/**
 * Opening the host file behind an image: only regular files and block devices are disks. A FIFO, a socket,
 * a terminal or /dev/zero is refused by its kind before anything reads it, and the open itself never waits
 * (O_NONBLOCK: opening a FIFO for reading would otherwise block until a writer appears).
 */
import { constants, type Stats } from 'node:fs';
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { BonsaiError, fsErrorWords } from '../errors.js';

export interface ImageFile {
  fh: FileHandle;
  /** Bytes: the file's length, or a block device's capacity. */
  size: number;
  /** Device and inode: who the file is, whatever name it was opened by. */
  dev: number;
  ino: number;
  blockDevice: boolean;
}

/** Why a file of this kind is no disk, or null for a regular file or a block device. */
function wrongKind(st: Stats): string | null {
  if (st.isFile() || st.isBlockDevice()) return null;
  if (st.isDirectory()) return 'is a directory';
  if (st.isFIFO()) return 'is a FIFO (named pipe), not a disk image';
  if (st.isSocket()) return 'is a socket, not a disk image';
  if (st.isCharacterDevice()) return 'is a character device, not a disk image (Bonsai reads regular files and block devices)';
  return 'is not a regular file or block device';
}

/**
 * Opens path for reading (and writing unless readOnly). `what` begins the error text, e.g. 'cannot open disk
 * image'. Errors are one line naming path.
 */
export async function openImageFile(path: string, readOnly: boolean, what: string): Promise<ImageFile> {
  const fail = (why: string): BonsaiError => new BonsaiError(`${path}: ${what}: ${why}`);
  let before: Stats;
  try {
    before = await stat(path);
  } catch (e) {
    throw fail(fsErrorWords(e));
  }
  const kind = wrongKind(before);
  if (kind !== null) throw fail(kind);
  let fh: FileHandle;
  try {
    fh = await open(path, (readOnly ? constants.O_RDONLY : constants.O_RDWR) | constants.O_NONBLOCK);
  } catch (e) {
    throw fail(fsErrorWords(e));
  }
  try {
    // The name may have changed hands between stat and open: what counts is what was opened.
    const st = await fh.stat();
    const k = wrongKind(st);
    if (k !== null) throw fail(k);
    const size = st.isBlockDevice() ? await blockDeviceSize(st, fail) : st.size;
    return { fh, size, dev: st.dev, ino: st.ino, blockDevice: st.isBlockDevice() };
  } catch (e) {
    await fh.close().catch(() => undefined);
    if (e instanceof BonsaiError) throw e;
    throw fail(fsErrorWords(e));
  }
}

/** fstat gives a block device 0 bytes; Linux's sysfs knows its capacity in 512-byte sectors. */
async function blockDeviceSize(st: Stats, fail: (why: string) => BonsaiError): Promise<number> {
  const [major, minor] = majorMinor(st.rdev);
  try {
    const sectors = Number((await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8')).trim());
    if (Number.isSafeInteger(sectors) && sectors >= 0) return sectors * 512;
  } catch {
    // reported below
  }
  throw fail(`cannot tell the size of block device ${major}:${minor}`);
}

/** Linux's dev_t encoding (glibc's gnu_dev_major/minor): major and minor numbers of a device number. */
export function majorMinor(dev: number): [number, number] {
  const high = Math.floor(dev / 4294967296);
  const low = dev % 4294967296;
  const major = (Math.floor(low / 256) & 0xfff) | (high & ~0xfff);
  const minor = (low & 0xff) | (Math.floor(low / 4096) & 0xfff00);
  return [major >>> 0, minor >>> 0];
}
