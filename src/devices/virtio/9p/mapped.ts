/**
 * The mapped security model (QEMU's `security_model=mapped-file`): what the guest believes about owners,
 * modes, device numbers and symlinks is kept beside the files instead of being applied to them. The host
 * file is always a plain file or directory owned by the user Bonsai runs as, with mode 0600 or 0700; the
 * guest's uid, gid, mode (file type included) and rdev live in a small text file:
 *
 *   DIR/.virtfs_metadata/NAME    for DIR/NAME
 *   ROOT/.virtfs_metadata_root   for the share's root itself
 *
 * one `virtfs.KEY=DECIMAL` line per attribute (uid, gid, mode, rdev), as QEMU writes them, so a share made
 * by one can be used by the other. A guest symlink is a regular file holding the target, with S_IFLNK in
 * its mode; device nodes, FIFOs and sockets are empty regular files. The two names are reserved: the guest
 * can neither see nor name them (isMetaName), so it cannot read or forge its own metadata.
 *
 * Why files and not extended attributes (QEMU's mapped-xattr, user.virtfs.*): Node has no xattr calls
 * (no fs.getxattr/setxattr in Node 20), and reaching them would take a native addon or a helper process
 * per request. Files also survive copying with tools that drop xattrs, and work on tmpfs without
 * user xattrs.
 */
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rmdir, unlink } from 'node:fs/promises';
import { child, type DirRef, type ShareRoot } from './confine.js';
import { EEXIST, ELOOP, ENOENT, ENOTDIR, errnoOf, P9Error } from './errno.js';

export const META_DIR = '.virtfs_metadata';
export const META_ROOT = '.virtfs_metadata_root';
const META_DIR_B = Buffer.from(META_DIR);
const META_ROOT_B = Buffer.from(META_ROOT);
/** A metadata file is a few short lines; anything longer was not written by us or QEMU. */
const MAX_META = 1024;

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;
export const S_IFSOCK = 0o140000;

/** The host modes of what the guest creates: the Bonsai user's alone. */
export const HOST_FILE_MODE = 0o600;
export const HOST_DIR_MODE = 0o700;

/** What the guest set; absent keys fall back to the host's own values. */
export interface MappedAttrs {
  uid?: number;
  gid?: number;
  mode?: number;
  rdev?: number;
}

const KEYS = ['uid', 'gid', 'mode', 'rdev'] as const;

/** Whether a guest's name is one of the reserved metadata names. */
export function isMetaName(name: Uint8Array): boolean {
  return Buffer.from(name.buffer, name.byteOffset, name.byteLength).equals(META_DIR_B)
    || Buffer.from(name.buffer, name.byteOffset, name.byteLength).equals(META_ROOT_B);
}

/** Parses a metadata file, ignoring what it does not understand (a host user may have edited it). */
export function parseAttrs(text: string): MappedAttrs {
  const out: MappedAttrs = {};
  for (const line of text.split('\n')) {
    const m = /^virtfs\.(uid|gid|mode|rdev)=(\d{1,10})$/.exec(line.trim());
    if (m === null) continue;
    const v = Number(m[2]);
    if (v <= 0xffffffff) out[m[1] as (typeof KEYS)[number]] = v;
  }
  return out;
}

export function formatAttrs(a: MappedAttrs): string {
  return KEYS.filter((k) => a[k] !== undefined).map((k) => `virtfs.${k}=${a[k]}\n`).join('');
}

/**
 * The file type the guest is shown: a host directory is always one (the guest walks through it), a host
 * symlink made by host tools stays one; a regular file is what its metadata says it stands for.
 */
export function mappedType(hostMode: number, attrs: MappedAttrs): number {
  const host = hostMode & S_IFMT;
  if (host !== S_IFREG || attrs.mode === undefined) return host;
  const t = attrs.mode & S_IFMT;
  return t === S_IFLNK || t === S_IFCHR || t === S_IFBLK || t === S_IFIFO || t === S_IFSOCK ? t : S_IFREG;
}

/** Linux's dev_t encoding (new_encode_dev, as glibc's makedev for 32-bit numbers). */
export function makeDev(major: number, minor: number): number {
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

/** No metadata directory, or something else under its name (never followed): no metadata there. */
function absent(e: unknown): boolean {
  const n = errnoOf(e);
  return n === ENOENT || n === ENOTDIR || e instanceof P9Error;
}

/** Reads and writes the metadata of objects in confined directories (confine.ts), never following a link. */
export class MetadataStore {
  constructor(private readonly share: ShareRoot) {}

  /** The attributes of dir/name ("." is the directory itself, which only the root asks for). */
  async read(dir: DirRef, name: Uint8Array): Promise<MappedAttrs> {
    return (await this.readMany(dir, [name]))[0];
  }

  /** The attributes of several names in one directory, opening its metadata directory once. */
  async readMany(dir: DirRef, names: readonly Uint8Array[]): Promise<MappedAttrs[]> {
    const out: MappedAttrs[] = names.map(() => ({}));
    const rootOwn = names.findIndex((n) => n.length === 1 && n[0] === 0x2e);
    if (rootOwn >= 0) out[rootOwn] = await this.readFile(child(dir.path, META_ROOT_B));
    if (names.length === (rootOwn >= 0 ? 1 : 0)) return out;
    let meta: DirRef;
    try {
      meta = await this.share.openChild(dir, META_DIR_B);
    } catch (e) {
      if (absent(e)) return out;
      throw e;
    }
    try {
      await Promise.all(names.map(async (n, i) => {
        if (i !== rootOwn) out[i] = await this.readFile(child(meta.path, n));
      }));
    } finally {
      this.share.release(meta);
    }
    return out;
  }

  /** Merges `attrs` into the metadata of dir/name. */
  async update(dir: DirRef, name: Uint8Array, attrs: MappedAttrs): Promise<void> {
    const cur = await this.read(dir, name);
    await this.write(dir, name, { ...cur, ...attrs });
  }

  /** Replaces the metadata of dir/name. */
  async write(dir: DirRef, name: Uint8Array, attrs: MappedAttrs): Promise<void> {
    const text = formatAttrs(attrs);
    if (name.length === 1 && name[0] === 0x2e) return this.writeFile(child(dir.path, META_ROOT_B), text);
    const meta = await this.metaDir(dir, true);
    try {
      await this.writeFile(child(meta.path, name), text);
    } finally {
      this.share.release(meta);
    }
  }

  /** Forgets the metadata of dir/name (it was removed, or replaced by something without any). */
  async remove(dir: DirRef, name: Uint8Array): Promise<void> {
    const meta = await this.metaDir(dir, false).catch((e: unknown) => (absent(e) ? null : Promise.reject(e)));
    if (meta === null) return;
    try {
      await unlink(child(meta.path, name));
    } catch (e) {
      if (errnoOf(e) !== ENOENT) throw e;
    } finally {
      this.share.release(meta);
    }
  }

  /** After renaming odir/oname to ndir/nname: the metadata goes along, or the target's old one goes. */
  async move(odir: DirRef, oname: Uint8Array, ndir: DirRef, nname: Uint8Array): Promise<void> {
    const attrs = await this.read(odir, oname);
    if (Object.keys(attrs).length === 0) return this.remove(ndir, nname);
    const from = await this.metaDir(odir, false);
    try {
      const to = await this.metaDir(ndir, true);
      try {
        await rename(child(from.path, oname), child(to.path, nname));
      } finally {
        this.share.release(to);
      }
    } finally {
      this.share.release(from);
    }
  }

  /** A hard link has metadata of its own name: a copy of the original's. */
  async copy(odir: DirRef, oname: Uint8Array, ndir: DirRef, nname: Uint8Array): Promise<void> {
    const attrs = await this.read(odir, oname);
    if (Object.keys(attrs).length > 0) await this.write(ndir, nname, attrs);
  }

  /**
   * Before the guest removes directory `dir` (which it sees as empty): its metadata directory, which
   * only holds what was left by names now gone, goes first, or rmdir(2) would find it not empty.
   */
  async clearDirectory(dir: DirRef): Promise<void> {
    const names = await readdir(dir.path, { encoding: 'buffer' });
    if (names.some((n) => !n.equals(META_DIR_B))) return; // not empty to the guest either: rmdir says so
    let meta: DirRef;
    try {
      meta = await this.share.openChild(dir, META_DIR_B);
    } catch (e) {
      if (absent(e)) return;
      throw e;
    }
    try {
      // Only plain files are in it; anything else a host user put there stays, and rmdir says ENOTEMPTY.
      for (const n of await readdir(meta.path, { encoding: 'buffer' })) {
        await unlink(child(meta.path, n)).catch(() => undefined);
      }
    } finally {
      this.share.release(meta);
    }
    await rmdir(child(dir.path, META_DIR_B)).catch(() => undefined);
  }

  /** The metadata directory of dir, made (0700) when `create` and missing. Release it after use. */
  private async metaDir(dir: DirRef, create: boolean): Promise<DirRef> {
    try {
      return await this.share.openChild(dir, META_DIR_B);
    } catch (e) {
      if (!create || errnoOf(e) !== ENOENT) throw e;
    }
    try {
      await mkdir(child(dir.path, META_DIR_B), HOST_DIR_MODE);
    } catch (e) {
      if (errnoOf(e) !== EEXIST) throw e;
    }
    return this.share.openChild(dir, META_DIR_B);
  }

  private async readFile(path: Buffer): Promise<MappedAttrs> {
    let h;
    try {
      h = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (e) {
      // Missing, or a symlink or worse put there by someone else: no metadata.
      const n = errnoOf(e);
      if (n === ENOENT || n === ELOOP) return {};
      throw e;
    }
    try {
      if (!(await h.stat()).isFile()) return {};
      const buf = Buffer.alloc(MAX_META);
      const { bytesRead } = await h.read(buf, 0, MAX_META, 0);
      return parseAttrs(buf.subarray(0, bytesRead).toString('latin1'));
    } finally {
      await h.close().catch(() => undefined);
    }
  }

  private async writeFile(path: Buffer, text: string): Promise<void> {
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW | constants.O_NONBLOCK;
    // Only ever a plain file: whatever else a host user left under the name is not opened (a FIFO would
    // block, a device node would be written to).
    const old = await lstat(path).catch(() => null);
    if (old !== null && !old.isFile()) throw new P9Error(EEXIST);
    const h = await open(path, flags, HOST_FILE_MODE);
    try {
      if (!(await h.stat()).isFile()) throw new P9Error(ENOENT);
      await h.write(text, 0, 'latin1');
    } finally {
      await h.close().catch(() => undefined);
    }
  }
}
