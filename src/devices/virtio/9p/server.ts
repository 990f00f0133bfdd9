/**
 * A 9P2000.L file server over one host directory, as a pure message handler: the virtio-9p transport hands
 * it whole T-messages and sends back whatever R-message it resolves to. Message layouts follow diod's
 * protocol.md (the 9P2000.L description), numbers Linux's include/net/9p/9p.h.
 *
 * Requests are served one at a time, in arrival order. That keeps a guest from racing its own requests
 * against each other (a rename under a walk, say), makes Tflush trivially correct (by the time it is
 * served, every earlier request has been answered), and costs little: the guest waits on the host's
 * disk either way. Confinement of paths to the shared root is confine.ts's job; this file never builds a
 * host path except as child(dir, name) from a confined directory and a name that passed checkName.
 */
import { constants, type BigIntStats } from 'node:fs';
import {
  link, lstat, lutimes, lchown, mkdir, open, readdir, readlink, rename, rmdir, statfs, symlink, unlink,
  chmod, chown, truncate, utimes, type FileHandle,
} from 'node:fs/promises';
import { BonsaiError } from '../../../errors.js';
import type { State, Stateful } from '../../stateful.js';
import { checkName, child, ShareRoot, type Confinement, type DirRef, type FileId } from './confine.js';
import {
  EBADF, EBUSY, EEXIST, EFBIG, EINVAL, EIO, EISDIR, ELOOP, EMFILE, ENAMETOOLONG, ENFILE, ENODATA, ENOENT,
  ENOTDIR, ENXIO, EOPNOTSUPP, EPERM, ERANGE, EROFS, errnoOf, P9Error,
} from './errno.js';
import { LockTable, LOCK_RDLCK, LOCK_UNLCK, LOCK_WRLCK } from './locks.js';
import {
  HOST_DIR_MODE, HOST_FILE_MODE, isMetaName, makeDev, mappedType, MetadataStore, S_IFBLK, S_IFCHR, S_IFDIR,
  S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, type MappedAttrs,
} from './mapped.js';
import {
  HEADER_SIZE, lerror, MalformedMessage, MAXWELEM, NOTAG, QTDIR, QTFILE, QTSYMLINK, Reader, Writer,
  Tattach, Tauth, Tclunk, Tflush, Tfsync, Tgetattr, Tgetlock, Tlcreate, Tlink, Tlock, Tlopen, Tmkdir, Tmknod,
  Tread, Treaddir, Treadlink, Tremove, Trename, Trenameat, Tsetattr, Tstatfs, Tsymlink, Tunlinkat, Tversion,
  Twalk, Twrite, Txattrcreate, Txattrwalk, type Qid,
} from './wire.js';

export type SecurityModel = 'passthrough' | 'mapped';

export interface P9Options {
  /** The host directory the guest sees as the root of the share. */
  root: string;
  /** Refuse every modifying operation with EROFS. */
  readOnly: boolean;
  /** The mount tag the guest names the share by (virtio-9p config space). */
  tag: string;
  /** The largest msize agreed to in Tversion; 512 KiB unless given. */
  maxMsize?: number;
  /** How host paths are confined to root (see confine.ts); 'auto', the default, prefers procfd. */
  confinement?: Confinement | 'auto';
  /**
   * 'passthrough' (the default): owners, modes and symlinks the guest sets are the host files' own,
   * as far as the host lets the Bonsai user set them. 'mapped': they are recorded beside the files
   * (mapped.ts, QEMU's mapped-file), and host files stay the Bonsai user's, 0600/0700, never symlinks.
   */
  security?: SecurityModel;
  /**
   * Told of every exception that is neither the guest's fault nor the host's answer (a bug in the server).
   * The guest still gets an Rlerror; this is for tests and --debug.
   */
  onInternalError?: (error: unknown) => void;
}

/** The Linux client refuses anything smaller, and a 4095-byte symlink target must fit a reply. */
export const MIN_MSIZE = 4096;
export const DEFAULT_MAX_MSIZE = 512 * 1024;
/** Bounds on what a guest can make the host hold: fids (memory) and open files (descriptors). */
export const MAX_FIDS = 65536;
export const MAX_OPEN_FILES = 4096;
/** size[4] type[1] tag[2] count[4]: the header of Rread and Rreaddir, before their data. */
const IOHDR = 11;
const VERSION = Buffer.from('9P2000.L');
const UNKNOWN = Buffer.from('unknown');
const DOT = Buffer.from('.');
const PATH_MAX = 4096;

// Tgetattr valid bits.
const GETATTR_BASIC = 0x7ff;
const GETATTR_BTIME = 0x800;
// Tsetattr valid bits.
const SETATTR_MODE = 0x1;
const SETATTR_UID = 0x2;
const SETATTR_GID = 0x4;
const SETATTR_SIZE = 0x8;
const SETATTR_ATIME = 0x10;
const SETATTR_MTIME = 0x20;
const SETATTR_ATIME_SET = 0x80;
const SETATTR_MTIME_SET = 0x100;
const SETATTR_CHANGES = SETATTR_MODE | SETATTR_UID | SETATTR_GID | SETATTR_SIZE | SETATTR_ATIME | SETATTR_MTIME;

// Open flags as the Linux guest sends them (P9_DOTL_*, the asm-generic numbers), whatever the host uses.
const L_O_ACCMODE = 0o3;
const L_O_WRONLY = 0o1;
const L_O_RDWR = 0o2;
const L_O_CREAT = 0o100;
const L_O_EXCL = 0o200;
const L_O_TRUNC = 0o1000;
const L_O_APPEND = 0o2000;
const L_O_DSYNC = 0o10000;
const L_O_DIRECTORY = 0o200000;
const L___O_SYNC = 0o4000000;
/** Tunlinkat flags. */
const AT_REMOVEDIR = 0x200;

const S_ISUID = 0o4000;
const S_ISGID = 0o2000;

interface OpenFile {
  readonly handle: FileHandle;
  /** The guest's open flags, less those that act only at open time (O_TRUNC, O_CREAT, O_EXCL). */
  readonly flags: number;
  readonly dir: boolean;
  readonly readable: boolean;
  readonly writable: boolean;
  /** Treaddir's view of the directory: "." and ".." then the names, taken when reading from offset 0. */
  listing: Buffer[] | null;
}

/** A fid naming a file by its components below the root. */
interface PathFid {
  readonly kind: 'path';
  readonly id: number;
  path: Buffer[];
  qtype: number;
  /** n_uname from Tattach: the owner new files are given where the host allows it. */
  readonly uid: number;
  open: OpenFile | null;
  /** Set by restore(): the flags to open the file with again when the guest next uses the fid for I/O. */
  reopen: number | null;
}

/** A fid from Txattrwalk: the attribute's value, read with Tread. */
interface XattrFid {
  readonly kind: 'xattr';
  readonly id: number;
  readonly data: Uint8Array;
}

type Fid = PathFid | XattrFid;

/** What Tsetattr does to an object, whichever way it is reached. */
interface AttrTarget {
  chmod(mode: number): Promise<void>;
  chown(uid: number, gid: number): Promise<void>;
  truncate(size: number): Promise<void>;
  utimes(atime: number, mtime: number): Promise<void>;
}

function handleTarget(h: FileHandle): AttrTarget {
  return {
    chmod: (m) => h.chmod(m),
    chown: (u, g) => h.chown(u, g),
    truncate: (n) => h.truncate(n),
    utimes: (a, m) => h.utimes(a, m),
  };
}

/** A path that is not a symlink (confine.ts withObject): the calls may follow it. */
function pathTarget(p: Buffer): AttrTarget {
  return {
    chmod: (m) => chmod(p, m),
    chown: (u, g) => chown(p, u, g),
    truncate: (n) => truncate(p, n),
    utimes: (a, m) => utimes(p, a, m),
  };
}

/** A symlink itself: only the calls that act on the link, never on what it names. */
function symlinkTarget(p: Buffer): AttrTarget {
  return {
    chmod: () => Promise.reject(new P9Error(EOPNOTSUPP)),
    chown: (u, g) => lchown(p, u, g),
    truncate: () => Promise.reject(new P9Error(EINVAL)),
    utimes: (a, m) => lutimes(p, a, m),
  };
}

function qidType(mode: bigint): number {
  const fmt = Number(mode) & S_IFMT;
  if (fmt === 0o040000) return QTDIR;
  if (fmt === 0o120000) return QTSYMLINK;
  return QTFILE;
}

/** The d_type of a directory entry (DT_DIR = 4, ...), which is the S_IFMT nibble. */
function direntType(mode: bigint): number {
  return (Number(mode) >> 12) & 0xf;
}

function seconds(ns: bigint): number {
  return Number(ns) / 1e9;
}

/**
 * Mode bits the server will set. Set-user-ID is never granted, nor set-group-ID on files: the server may run
 * as root, and a guest must not be able to plant a privileged program in a host directory.
 */
function safeMode(mode: number, isDir: boolean): number {
  const m = mode & 0o7777 & ~S_ISUID;
  return isDir ? m : m & ~S_ISGID;
}

/** uid or gid from the wire: ~0 means "leave as is", which Node spells -1. */
function idArg(v: number): number {
  return v === 0xffffffff ? -1 : v;
}

function fileKey(st: FileId): string {
  return `${st.dev}:${st.ino}`;
}

function startsWith(path: readonly Buffer[], prefix: readonly Buffer[]): boolean {
  if (prefix.length > path.length) return false;
  for (let i = 0; i < prefix.length; i++) if (!path[i].equals(prefix[i])) return false;
  return true;
}

/** Ownership is best effort: a host that will not give a file to the guest's user still keeps the file. */
async function bestEffort(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (e) {
    const n = errnoOf(e);
    if (n !== EPERM && n !== EINVAL) throw e;
  }
}

/** Errors that are answers, not bugs: the guest's bad request, or the host's errno from a system call. */
function expected(e: unknown): boolean {
  if (e instanceof P9Error || e instanceof MalformedMessage) return true;
  if (typeof e !== 'object' || e === null) return false;
  const { code, syscall } = e as { code?: unknown; syscall?: unknown };
  return typeof code === 'string' && typeof syscall === 'string' && code.startsWith('E');
}

async function closeQuietly(h: FileHandle): Promise<void> {
  try {
    await h.close();
  } catch {
    // Already closed or failing to close: the descriptor is released either way.
  }
}

export class P9Server implements Stateful {
  private readonly root: string;
  private readonly readOnly: boolean;
  private readonly tag: string;
  private readonly maxMsize: number;
  private readonly confinement: Confinement | 'auto';
  private readonly security: SecurityModel;
  /** The mapped model's metadata, once the root is open; null in passthrough. */
  private meta: MetadataStore | null = null;
  private readonly onInternalError: ((error: unknown) => void) | undefined;

  private share: ShareRoot | null = null;
  private msize: number;
  private readonly fids = new Map<number, Fid>();
  private openFiles = 0;
  private readonly locks = new LockTable();
  /** Device numbers other than the root's, each given a few high bits of qid.path. */
  private readonly devices = new Map<bigint, number>();
  /** Bumped by reset(): a request that was waiting when the device reset is not served. */
  private epoch = 0;
  private tail: Promise<void> = Promise.resolve();

  constructor(opts: P9Options) {
    if (typeof opts.root !== 'string' || opts.root === '') throw new BonsaiError('9p share: no host directory given');
    const tagBytes = Buffer.byteLength(opts.tag ?? '', 'utf8');
    if (tagBytes === 0 || tagBytes > 0xffff) {
      throw new BonsaiError(`9p share ${opts.root}: the mount tag must be 1 to 65535 bytes long`);
    }
    const max = opts.maxMsize ?? DEFAULT_MAX_MSIZE;
    if (!Number.isInteger(max) || max < MIN_MSIZE || max > 0x7fffffff) {
      throw new BonsaiError(`9p share ${opts.root}: msize ${max} is outside ${MIN_MSIZE}..${0x7fffffff}`);
    }
    this.root = opts.root;
    this.readOnly = opts.readOnly;
    this.tag = opts.tag;
    this.maxMsize = max;
    this.msize = max;
    this.confinement = opts.confinement ?? 'auto';
    this.security = opts.security ?? 'passthrough';
    this.onInternalError = opts.onInternalError;
  }

  /** The virtio-9p config space (virtio 1.2 §5.11.4): tag_len le16, then the tag, not NUL-terminated. */
  configSpace(): Uint8Array {
    const tag = Buffer.from(this.tag, 'utf8');
    const out = new Uint8Array(2 + tag.length);
    out[0] = tag.length & 0xff;
    out[1] = tag.length >>> 8;
    out.set(tag, 2);
    return out;
  }

  /** Handles one T-message (size[4] type[1] tag[2] ...); resolves to the R-message, never rejects. */
  handle(request: Uint8Array): Promise<Uint8Array> {
    // The request may be a view of guest memory: copy it now, so the guest cannot change a name between
    // the check and the use.
    let msg: Uint8Array;
    try {
      msg = Uint8Array.prototype.slice.call(request);
    } catch {
      return Promise.resolve(lerror(NOTAG, EINVAL));
    }
    const epoch = this.epoch;
    const reply = this.tail.then(() => this.dispatch(msg, epoch));
    this.tail = reply.then(
      () => undefined,
      () => undefined,
    );
    return reply;
  }

  /** Drops every fid and lock (device reset); requests still queued are answered EIO without being served. */
  reset(): void {
    this.epoch++;
    this.msize = this.maxMsize;
    this.dropAllLater();
  }

  /** Drops every fid and releases the root: for the owner of the server when the machine goes away. */
  async close(): Promise<void> {
    this.reset();
    await this.tail;
    const share = this.share;
    this.share = null;
    if (share !== null) await share.close();
  }

  /**
   * Snapshot state (DESIGN.md, Stateful): the session's msize and every fid, by its path below the root.
   * Files open at the time are reopened, with the guest's flags, when the guest next does I/O on them; a
   * file unlinked while open cannot be, and fails that I/O. Advisory locks and readdir listings are not
   * kept: a restored guest's Treaddir at offset n lists the directory again and resumes at entry n.
   */
  save(): State {
    const fids: State[] = [];
    for (const f of this.fids.values()) {
      if (f.kind === 'xattr') {
        fids.push({ id: f.id, xattr: Buffer.from(f.data).toString('base64') });
      } else {
        const open = f.open !== null ? f.open.flags : f.reopen;
        fids.push({ id: f.id, path: f.path.map((c) => c.toString('base64')), qtype: f.qtype, uid: f.uid, open });
      }
    }
    return { msize: this.msize, fids };
  }

  /** Replaces the session with a saved one; throws, changing nothing, if s is not one. */
  restore(s: State): void {
    const bad = (what: string): never => {
      throw new Error(`9p state: ${what}`);
    };
    const u32 = (v: State | undefined, what: string): number =>
      typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : bad(what);
    if (typeof s !== 'object' || s === null || Array.isArray(s)) return bad('not an object');
    const msize = u32(s.msize, 'msize');
    if (msize < MIN_MSIZE) bad('msize');
    const list = s.fids;
    if (!Array.isArray(list) || list.length > MAX_FIDS) return bad('fids');
    const fids: Fid[] = [];
    const seen = new Set<number>();
    for (const e of list) {
      if (typeof e !== 'object' || e === null || Array.isArray(e)) return bad('fid');
      const id = u32(e.id, 'fid id');
      if (seen.has(id)) bad(`fid ${id} twice`);
      seen.add(id);
      if (e.xattr !== undefined) {
        if (typeof e.xattr !== 'string') bad('xattr');
        fids.push({ kind: 'xattr', id, data: new Uint8Array(Buffer.from(String(e.xattr), 'base64')) });
        continue;
      }
      const comps = e.path;
      if (!Array.isArray(comps)) return bad('fid path');
      const path = comps.map((c) => {
        if (typeof c !== 'string') return bad('path component');
        const b = Buffer.from(c, 'base64');
        try {
          checkName(b); // a doctored snapshot must not lead out of the share either
          if (this.security === 'mapped' && isMetaName(b)) throw new P9Error(ENOENT); // nor into its metadata
        } catch {
          bad('path component');
        }
        return b;
      });
      const qtype = u32(e.qtype, 'qtype');
      if (qtype > 0xff) bad('qtype');
      const reopen = e.open === null ? null : u32(e.open, 'open flags');
      fids.push({ kind: 'path', id, path, qtype, uid: u32(e.uid, 'uid'), open: null, reopen });
    }
    this.epoch++;
    this.dropAllLater();
    this.msize = Math.min(msize, this.maxMsize);
    for (const f of fids) this.fids.set(f.id, f);
  }

  /** Open host files held for the guest (for tests and monitoring). */
  get openFileCount(): number {
    return this.openFiles;
  }

  get fidCount(): number {
    return this.fids.size;
  }

  /** Forgets every fid and lock now; returns the open files, which the caller must close. */
  private detachAll(): FileHandle[] {
    const handles: FileHandle[] = [];
    for (const f of this.fids.values()) {
      if (f.kind === 'path' && f.open !== null) handles.push(f.open.handle);
    }
    this.fids.clear();
    this.openFiles = 0;
    this.locks.clear();
    return handles;
  }

  /** From inside a request: drops everything and closes the files. */
  private async dropAll(): Promise<void> {
    await Promise.all(this.detachAll().map(closeQuietly));
  }

  /**
   * From outside a request (reset, restore): drops everything now but closes the files only once the
   * request being served is done with them. A readdir names its directory by descriptor number; closing
   * under it would let that number be reused for some other file while the request still uses it.
   */
  private dropAllLater(): void {
    const handles = this.detachAll();
    if (handles.length === 0) return;
    this.tail = this.tail.then(() => Promise.all(handles.map(closeQuietly))).then(() => undefined);
  }

  private async dispatch(msg: Uint8Array, epoch: number): Promise<Uint8Array> {
    if (msg.length < HEADER_SIZE) return lerror(NOTAG, EINVAL);
    const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
    const size = view.getUint32(0, true);
    const type = msg[4];
    const tag = view.getUint16(5, true);
    if (size < HEADER_SIZE || size > msg.length || size > this.msize) return lerror(tag, EINVAL);
    if (epoch !== this.epoch) return lerror(tag, EIO);
    try {
      const w = new Writer();
      await this.serve(type, new Reader(msg, HEADER_SIZE, size), w, epoch);
      if (w.length > this.msize && type !== Tversion) return lerror(tag, ERANGE);
      return w.finish(type + 1, tag);
    } catch (e) {
      if (this.onInternalError !== undefined && !expected(e)) this.onInternalError(e);
      return lerror(tag, e instanceof MalformedMessage ? EINVAL : errnoOf(e));
    }
  }

  private serve(type: number, r: Reader, w: Writer, epoch: number): Promise<void> {
    switch (type) {
      case Tversion: return this.version(r, w);
      case Tauth: throw new P9Error(EOPNOTSUPP);
      case Tattach: return this.attach(r, w, epoch);
      case Tflush: r.u16(); return Promise.resolve();
      case Twalk: return this.walk(r, w, epoch);
      case Tgetattr: return this.getattr(r, w);
      case Tsetattr: return this.setattr(r);
      case Tlopen: return this.lopen(r, w, epoch);
      case Tlcreate: return this.lcreate(r, w, epoch);
      case Tread: return this.read(r, w);
      case Twrite: return this.write(r, w);
      case Tclunk: return this.clunk(r);
      case Tremove: return this.remove(r);
      case Treaddir: return this.readdir(r, w);
      case Tmkdir: return this.mkdir(r, w);
      case Tsymlink: return this.symlink(r, w);
      case Treadlink: return this.readlink(r, w);
      case Tmknod: return this.mknod(r, w);
      case Tlink: return this.link(r);
      case Trename: return this.rename(r);
      case Trenameat: return this.renameat(r);
      case Tunlinkat: return this.unlinkat(r);
      case Tstatfs: return this.statfs(r, w);
      case Tfsync: return this.fsync(r);
      case Tlock: return this.lock(r, w);
      case Tgetlock: return this.getlock(r, w);
      case Txattrwalk: return this.xattrwalk(r, w, epoch);
      case Txattrcreate: return this.xattrcreate(r);
      default: throw new P9Error(EOPNOTSUPP);
    }
  }

  // ---- state helpers ----

  private async ready(): Promise<ShareRoot> {
    if (this.share === null) {
      this.share = await ShareRoot.open(this.root, this.confinement);
      if (this.security === 'mapped') this.meta = new MetadataStore(this.share);
    }
    return this.share;
  }

  /**
   * checkName, and in the mapped model the metadata names are not there for the guest: ENOENT when it
   * looks one up, EINVAL when it would create one (as QEMU answers).
   */
  private guestName(name: Uint8Array, lookup: boolean): void {
    checkName(name);
    if (this.security === 'mapped' && isMetaName(name)) throw new P9Error(lookup ? ENOENT : EINVAL);
  }

  /** The mapped attributes of dir/name; none in passthrough. */
  private async mappedOf(dir: DirRef, name: Uint8Array): Promise<MappedAttrs> {
    return this.meta === null ? {} : this.meta.read(dir, name);
  }

  /** The mapped attributes of what fid names; none if its name is gone (unlinked while open). */
  private async mappedOfFid(f: PathFid): Promise<MappedAttrs> {
    if (this.meta === null) return {};
    const share = await this.ready();
    try {
      return await share.withParent(f.path, (dir, name) => this.mappedOf(dir, name));
    } catch (e) {
      if (errnoOf(e) === ENOENT || errnoOf(e) === ENOTDIR) return {};
      throw e;
    }
  }

  private anyFid(id: number): Fid {
    const f = this.fids.get(id);
    if (f === undefined) throw new P9Error(EBADF);
    return f;
  }

  private pathFid(id: number): PathFid {
    const f = this.anyFid(id);
    if (f.kind !== 'path') throw new P9Error(EBADF);
    return f;
  }

  /** Throws unless id may become a new fid (a fid being replaced by itself, `self`, is fine). */
  private checkNewFid(id: number, self?: number): void {
    if (id === self) return;
    if (this.fids.has(id)) throw new P9Error(EBADF);
    if (this.fids.size >= MAX_FIDS) throw new P9Error(ENFILE);
  }

  /** Installs a fid unless the device was reset while the request ran. */
  private install(f: Fid, epoch: number): void {
    if (epoch !== this.epoch) throw new P9Error(EIO);
    const old = this.fids.get(f.id);
    if (old !== undefined && old !== f) void this.forget(old);
    this.fids.set(f.id, f);
  }

  /** Gives fid f its open file, or closes the file if f went away (reset) while it was being opened. */
  private async bindOpen(f: PathFid, open: OpenFile, epoch: number): Promise<void> {
    if (epoch !== this.epoch || this.fids.get(f.id) !== f) {
      await closeQuietly(open.handle);
      throw new P9Error(EIO);
    }
    f.open = open;
    this.openFiles++;
  }

  /**
   * The open file of fid f, reopening it first if the fid was restored from a snapshot while open.
   * A file that cannot be reopened (gone, or no longer permitted) fails the request that needed it.
   */
  private async opened(f: PathFid): Promise<OpenFile | null> {
    if (f.open !== null || f.reopen === null) return f.open;
    const epoch = this.epoch;
    const flags = f.reopen;
    const acc = flags & L_O_ACCMODE;
    const writable = acc === L_O_WRONLY || acc === L_O_RDWR;
    if (writable) this.checkWritable();
    this.checkOpenLimit();
    const share = await this.ready();
    const { h, st } = await share.withParent(f.path, (dir, name) => this.openExisting(dir, name, this.hostFlags(flags)));
    await this.bindOpen(f, { handle: h, flags, dir: st.isDirectory(), readable: acc !== L_O_WRONLY, writable, listing: null }, epoch);
    f.reopen = null;
    return f.open;
  }

  /** Drops fid f; resolves once its open file, if any, is closed. */
  private forget(f: Fid): Promise<void> {
    this.fids.delete(f.id);
    this.locks.releaseFid(f.id);
    if (f.kind !== 'path') return Promise.resolve();
    f.reopen = null;
    if (f.open === null) return Promise.resolve();
    const h = f.open.handle;
    f.open = null;
    this.openFiles--;
    return closeQuietly(h);
  }

  private checkWritable(): void {
    if (this.readOnly) throw new P9Error(EROFS);
  }

  /** The mode the guest sees: the host's, or in the mapped model the recorded type and bits. */
  private modeOf(st: BigIntStats, a: MappedAttrs): number {
    const host = Number(st.mode);
    if (this.meta === null) return host;
    const perm = a.mode !== undefined ? a.mode & 0o7777 : host & 0o7777;
    return mappedType(host, a) | perm;
  }

  private qid(st: BigIntStats, mode: number = Number(st.mode)): Qid {
    let path = st.ino;
    if (this.share !== null && st.dev !== this.share.dev) {
      // Files on another filesystem mounted inside the share: keep their qids apart from the root's.
      let n = this.devices.get(st.dev);
      if (n === undefined) {
        n = (this.devices.size % 0xffff) + 1;
        this.devices.set(st.dev, n);
      }
      path = BigInt.asUintN(64, (BigInt(n) << 48n) ^ st.ino);
    }
    const version = Number(BigInt.asUintN(32, st.mtimeNs ^ (st.mtimeNs >> 32n) ^ (st.size << 8n)));
    return { type: qidType(BigInt(mode)), version, path };
  }

  private async lstatIn(dir: DirRef, name: Uint8Array): Promise<BigIntStats> {
    return lstat(child(dir.path, name), { bigint: true });
  }

  /** The attributes of what fid names: through its open file if it has one (it may be unlinked). */
  private async statFid(f: PathFid): Promise<BigIntStats> {
    if (f.open !== null) return f.open.handle.stat({ bigint: true });
    const share = await this.ready();
    return share.withParent(f.path, (dir, name) => this.lstatIn(dir, name));
  }

  /** Host open(2) flags for the guest's: access mode and the flags that matter, never following a symlink. */
  private hostFlags(l: number): number {
    const acc = l & L_O_ACCMODE;
    let h = acc === L_O_WRONLY ? constants.O_WRONLY : acc === L_O_RDWR ? constants.O_RDWR : constants.O_RDONLY;
    if (l & L_O_TRUNC) h |= constants.O_TRUNC;
    if (l & L_O_APPEND) h |= constants.O_APPEND;
    if (l & L_O_DSYNC) h |= constants.O_DSYNC;
    if (l & L___O_SYNC) h |= constants.O_SYNC;
    if (l & L_O_DIRECTORY) h |= constants.O_DIRECTORY;
    // O_NONBLOCK: a FIFO swapped in behind our back must not hang the open; regular files ignore it.
    return h | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
  }

  /**
   * Opens an existing regular file or directory in dir. Anything else (symlink, device, FIFO, socket) is
   * refused before it is opened, so that opening has no side effect on the host, and checked again after.
   */
  private async openExisting(dir: DirRef, name: Uint8Array, flags: number): Promise<{ h: FileHandle; st: BigIntStats }> {
    const before = await this.lstatIn(dir, name);
    if (before.isSymbolicLink()) throw new P9Error(ELOOP);
    if (!before.isFile() && !before.isDirectory()) throw new P9Error(ENXIO);
    if (this.meta !== null) {
      // What the guest made a symlink or a device is a plain host file, but not one to open as such.
      const t = mappedType(Number(before.mode), await this.mappedOf(dir, name));
      if (t === S_IFLNK) throw new P9Error(ELOOP);
      if (t === S_IFCHR || t === S_IFBLK || t === S_IFIFO || t === S_IFSOCK) throw new P9Error(ENXIO);
    }
    const h = await open(child(dir.path, name), flags);
    try {
      const st = await h.stat({ bigint: true });
      if (st.dev !== before.dev || st.ino !== before.ino) throw new P9Error(ENOENT);
      return { h, st };
    } catch (e) {
      await closeQuietly(h);
      throw e;
    }
  }

  private checkOpenLimit(): void {
    if (this.openFiles >= MAX_OPEN_FILES) throw new P9Error(EMFILE);
  }

  /** After a rename: fids below the old name follow the file to its new one. */
  private renamed(from: readonly Buffer[], to: readonly Buffer[]): void {
    const oldPath = from.slice();
    const newPath = to.slice();
    for (const f of this.fids.values()) {
      if (f.kind === 'path' && startsWith(f.path, oldPath)) f.path = newPath.concat(f.path.slice(oldPath.length));
    }
  }

  // ---- messages ----

  private async version(r: Reader, w: Writer): Promise<void> {
    const msize = r.u32();
    const version = r.str();
    // A Tversion starts a new session: every fid of the old one is clunked (version(5)).
    await this.dropAll();
    if (msize < MIN_MSIZE || version.length < VERSION.length || !version.subarray(0, VERSION.length).equals(VERSION)) {
      w.u32(Math.min(msize, this.maxMsize)).str(UNKNOWN);
      return;
    }
    this.msize = Math.min(msize, this.maxMsize);
    w.u32(this.msize).str(VERSION);
  }

  private async attach(r: Reader, w: Writer, epoch: number): Promise<void> {
    const id = r.u32();
    r.u32(); // afid: there is no authentication
    r.str(); // uname
    r.str(); // aname: there is one tree, the share
    const uid = r.u32();
    this.checkNewFid(id);
    const share = await this.ready();
    const st = await this.lstatIn(share.root, DOT);
    this.install({ kind: 'path', id, path: [], qtype: QTDIR, uid, open: null, reopen: null }, epoch);
    w.qid(this.qid(st));
  }

  private async walk(r: Reader, w: Writer, epoch: number): Promise<void> {
    const f = this.pathFid(r.u32());
    const newId = r.u32();
    const n = r.u16();
    if (n > MAXWELEM) throw new P9Error(EINVAL);
    const names: Buffer[] = [];
    for (let i = 0; i < n; i++) names.push(Buffer.from(r.str()));
    this.checkNewFid(newId, f.id);
    // walk(5): a fid open for I/O may be cloned but not moved.
    if (newId === f.id && n > 0 && (f.open !== null || f.reopen !== null)) throw new P9Error(EBADF);
    const share = await this.ready();
    const qids: Qid[] = [];
    let failure: unknown = null;
    if (n > 0) {
      let dir: DirRef | null = null;
      try {
        dir = await share.dir(f.path);
        for (let i = 0; i < n; i++) {
          this.guestName(names[i], true);
          const st = await this.lstatIn(dir, names[i]);
          qids.push(this.qid(st, this.modeOf(st, await this.mappedOf(dir, names[i]))));
          if (i === n - 1) break;
          // Only a real directory can be walked through; a symlink is the guest's to resolve.
          if (!st.isDirectory()) throw new P9Error(ENOTDIR);
          const next: DirRef = await share.openChild(dir, names[i]);
          share.release(dir);
          dir = next;
        }
      } catch (e) {
        failure = e;
      } finally {
        if (dir !== null) share.release(dir);
      }
    }
    // walk(5): if the first name fails, an error; if a later one does, the qids so far and no new fid.
    if (failure !== null && qids.length === 0) throw failure;
    if (failure === null) {
      const path = f.path.concat(names);
      if (newId === f.id) {
        if (epoch !== this.epoch) throw new P9Error(EIO);
        f.path = path;
        if (n > 0) f.qtype = qids[n - 1].type;
      } else {
        const qtype = n > 0 ? qids[n - 1].type : f.qtype;
        this.install({ kind: 'path', id: newId, path, qtype, uid: f.uid, open: null, reopen: null }, epoch);
      }
    }
    w.u16(qids.length);
    for (const q of qids) w.qid(q);
  }

  private async getattr(r: Reader, w: Writer): Promise<void> {
    const f = this.pathFid(r.u32());
    r.u64(); // request_mask: everything basic is cheap, so it is all returned
    const st = await this.statFid(f);
    const a = await this.mappedOfFid(f);
    const mode = this.modeOf(st, a);
    const btime = st.birthtimeNs > 0n;
    w.u64(GETATTR_BASIC | (btime ? GETATTR_BTIME : 0));
    w.qid(this.qid(st, mode));
    w.u32(mode).u32(a.uid ?? Number(st.uid)).u32(a.gid ?? Number(st.gid));
    const rdev = a.rdev !== undefined && (mode & S_IFMT) !== S_IFREG ? BigInt(a.rdev) : st.rdev;
    w.u64big(st.nlink).u64big(rdev).u64big(st.size).u64big(st.blksize).u64big(st.blocks);
    for (const ns of [st.atimeNs, st.mtimeNs, st.ctimeNs, btime ? st.birthtimeNs : 0n]) {
      let sec = ns / 1_000_000_000n;
      let nsec = ns - sec * 1_000_000_000n;
      if (nsec < 0n) {
        sec -= 1n; // before 1970: seconds round down, nanoseconds stay in [0, 1e9) as in struct timespec
        nsec += 1_000_000_000n;
      }
      w.u64big(sec).u64big(nsec);
    }
    w.u64(0).u64(0); // gen, data_version
  }

  private async setattr(r: Reader): Promise<void> {
    const f = this.pathFid(r.u32());
    const valid = r.u32();
    const mode = r.u32();
    const uid = r.u32();
    const gid = r.u32();
    const size = r.u64();
    const atime = Number(BigInt.asIntN(64, r.u64big())) + r.u64() / 1e9;
    const mtime = Number(BigInt.asIntN(64, r.u64big())) + r.u64() / 1e9;
    if ((valid & SETATTR_CHANGES) === 0) return; // ctime alone: the host sets that itself
    this.checkWritable();
    if ((valid & SETATTR_SIZE) !== 0 && !Number.isSafeInteger(size)) throw new P9Error(EFBIG);

    const meta = this.meta;
    // Mapped: mode and ownership are the metadata's; only size and times reach the host file.
    const hostBits = meta === null ? valid : valid & ~(SETATTR_MODE | SETATTR_UID | SETATTR_GID);
    const apply = async (t: AttrTarget, st: BigIntStats): Promise<void> => {
      if (hostBits & SETATTR_MODE) await t.chmod(safeMode(mode, st.isDirectory()));
      if (hostBits & (SETATTR_UID | SETATTR_GID)) {
        await bestEffort(t.chown(hostBits & SETATTR_UID ? idArg(uid) : -1, hostBits & SETATTR_GID ? idArg(gid) : -1));
      }
      if (hostBits & SETATTR_SIZE) await t.truncate(size);
      if (hostBits & (SETATTR_ATIME | SETATTR_MTIME)) {
        const now = Date.now() / 1000;
        const a = hostBits & SETATTR_ATIME ? (hostBits & SETATTR_ATIME_SET ? atime : now) : seconds(st.atimeNs);
        const m = hostBits & SETATTR_MTIME ? (hostBits & SETATTR_MTIME_SET ? mtime : now) : seconds(st.mtimeNs);
        await t.utimes(a, m);
      }
    };

    const share = await this.ready();
    try {
      await share.withParent(f.path, async (dir, name) => {
        const st = await this.lstatIn(dir, name);
        let recorded: MappedAttrs | null = null;
        if (meta !== null) {
          const a = await meta.read(dir, name);
          const type = mappedType(Number(st.mode), a);
          const changes: MappedAttrs = {};
          // As for a real symlink: its mode cannot be changed, nor its size; nor a device's size.
          if (valid & SETATTR_MODE) {
            if (type === S_IFLNK) throw new P9Error(EOPNOTSUPP);
            changes.mode = type | (mode & 0o7777);
          }
          if ((valid & SETATTR_SIZE) && type !== S_IFREG && type !== S_IFDIR) throw new P9Error(EINVAL);
          if ((valid & SETATTR_UID) && uid !== 0xffffffff) changes.uid = uid;
          if ((valid & SETATTR_GID) && gid !== 0xffffffff) changes.gid = gid;
          if (Object.keys(changes).length > 0) recorded = { ...a, ...changes };
        }
        if (hostBits & (SETATTR_SIZE | SETATTR_ATIME | SETATTR_MTIME | SETATTR_MODE | SETATTR_UID | SETATTR_GID)) {
          if (st.isSymbolicLink()) await apply(symlinkTarget(child(dir.path, name)), st);
          else await share.withObject(dir, name, st, (p) => apply(pathTarget(p), st));
        }
        if (meta !== null && recorded !== null) await meta.write(dir, name, recorded);
      });
    } catch (e) {
      // An open file whose name is gone (unlinked while open) is still reachable through its descriptor.
      const o = f.open;
      if (errnoOf(e) !== ENOENT || o === null || o.dir) throw e;
      const h = o.handle;
      await apply(handleTarget(h), await h.stat({ bigint: true }));
    }
  }

  private async lopen(r: Reader, w: Writer, epoch: number): Promise<void> {
    const f = this.pathFid(r.u32());
    const flags = r.u32();
    if (f.open !== null || f.reopen !== null) throw new P9Error(EBADF);
    const acc = flags & L_O_ACCMODE;
    const writable = acc === L_O_WRONLY || acc === L_O_RDWR;
    if (writable || (flags & L_O_TRUNC) !== 0) this.checkWritable();
    this.checkOpenLimit();
    const share = await this.ready();
    const { h, st } = await share.withParent(f.path, (dir, name) => this.openExisting(dir, name, this.hostFlags(flags)));
    const keep = flags & ~(L_O_TRUNC | L_O_CREAT | L_O_EXCL);
    await this.bindOpen(f, { handle: h, flags: keep, dir: st.isDirectory(), readable: acc !== L_O_WRONLY, writable, listing: null }, epoch);
    f.qtype = qidType(st.mode);
    w.qid(this.qid(st)).u32(0);
  }

  private async lcreate(r: Reader, w: Writer, epoch: number): Promise<void> {
    const f = this.pathFid(r.u32());
    const name = Buffer.from(r.str());
    const flags = r.u32();
    const mode = r.u32();
    const gid = r.u32();
    this.checkWritable();
    this.guestName(name, false);
    if (f.open !== null || f.reopen !== null) throw new P9Error(EBADF);
    this.checkOpenLimit();
    const share = await this.ready();
    const meta = this.meta;
    const perm = meta !== null ? HOST_FILE_MODE : safeMode(mode, false);
    const base = this.hostFlags(flags);
    const { h, st } = await share.withDir(f.path, async (dir) => {
      let h: FileHandle;
      try {
        h = await open(child(dir.path, name), base | constants.O_CREAT | constants.O_EXCL, perm);
      } catch (e) {
        // Without O_EXCL, creating a file that exists opens it, as open(2) with O_CREAT does.
        if (errnoOf(e) === EEXIST && (flags & L_O_EXCL) === 0) return this.openExisting(dir, name, base);
        throw e;
      }
      try {
        await h.chmod(perm); // the host's umask is not the guest's: the guest already applied its own
        if (meta !== null) await meta.write(dir, name, { uid: f.uid, gid, mode: S_IFREG | (mode & 0o7777) });
        else await bestEffort(h.chown(idArg(f.uid), idArg(gid)));
        return { h, st: await h.stat({ bigint: true }) };
      } catch (e) {
        await closeQuietly(h);
        // Mapped: a file without its metadata would show the guest the wrong owner; it goes again.
        if (meta !== null) await unlink(child(dir.path, name)).catch(() => undefined);
        throw e;
      }
    });
    if (!st.isFile()) {
      await closeQuietly(h);
      throw new P9Error(EISDIR);
    }
    const acc = flags & L_O_ACCMODE;
    const writable = acc === L_O_WRONLY || acc === L_O_RDWR;
    const keep = flags & ~(L_O_TRUNC | L_O_CREAT | L_O_EXCL);
    await this.bindOpen(f, { handle: h, flags: keep, dir: false, readable: acc !== L_O_WRONLY, writable, listing: null }, epoch);
    f.path = f.path.concat([name]);
    f.qtype = QTFILE;
    w.qid(this.qid(st)).u32(0);
  }

  private async read(r: Reader, w: Writer): Promise<void> {
    const f = this.anyFid(r.u32());
    const offset = r.u64();
    const count = Math.min(r.u32(), this.msize - IOHDR);
    if (f.kind === 'xattr') {
      const data = Number.isSafeInteger(offset) && offset < f.data.length ? f.data.subarray(offset, offset + count) : new Uint8Array(0);
      w.u32(data.length);
      w.reserve(data.length).set(data);
      return;
    }
    const o = await this.opened(f);
    if (o === null || !o.readable) throw new P9Error(EBADF);
    if (o.dir) throw new P9Error(EISDIR);
    const at = w.length;
    w.u32(0);
    if (!Number.isSafeInteger(offset) || count <= 0) return; // beyond any file: end of file
    const buf = w.reserve(count);
    const { bytesRead } = await o.handle.read(buf, 0, count, offset);
    w.truncate(at + 4 + bytesRead);
    w.patchU32(at, bytesRead);
  }

  private async write(r: Reader, w: Writer): Promise<void> {
    const f = this.anyFid(r.u32());
    const offset = r.u64();
    const count = r.u32();
    const data = r.bytes(count);
    this.checkWritable();
    if (f.kind !== 'path') throw new P9Error(EBADF);
    const o = await this.opened(f);
    if (o === null || !o.writable) throw new P9Error(EBADF);
    if (!Number.isSafeInteger(offset + count)) throw new P9Error(EFBIG);
    let done = 0;
    while (done < count) {
      const { bytesWritten } = await o.handle.write(data, done, count - done, offset + done);
      if (bytesWritten <= 0) break;
      done += bytesWritten;
    }
    w.u32(done);
  }

  private async clunk(r: Reader): Promise<void> {
    await this.forget(this.anyFid(r.u32()));
  }

  private async remove(r: Reader): Promise<void> {
    const f = this.anyFid(r.u32());
    // remove(5): the fid is clunked whether or not the file could be removed.
    await this.forget(f);
    if (f.kind !== 'path') throw new P9Error(EBADF);
    this.checkWritable();
    if (f.path.length === 0) throw new P9Error(EBUSY);
    const share = await this.ready();
    await share.withParent(f.path, async (dir, name) => {
      const st = await this.lstatIn(dir, name);
      const p = child(dir.path, name);
      if (st.isDirectory()) {
        await this.clearMetaDir(share, dir, name);
        await rmdir(p);
      } else {
        await unlink(p);
      }
      await this.meta?.remove(dir, name);
    });
  }

  /** Mapped: before dir/name is removed, the metadata of its (former) entries goes (mapped.ts). */
  private async clearMetaDir(share: ShareRoot, dir: DirRef, name: Uint8Array): Promise<void> {
    if (this.meta === null) return;
    let sub: DirRef;
    try {
      sub = await share.openChild(dir, name);
    } catch {
      return; // not a directory after all: rmdir will say what it is
    }
    try {
      await this.meta.clearDirectory(sub);
    } finally {
      share.release(sub);
    }
  }

  private async readdir(r: Reader, w: Writer): Promise<void> {
    const f = this.pathFid(r.u32());
    const offset = r.u64();
    const count = Math.min(r.u32(), this.msize - IOHDR);
    const o = await this.opened(f);
    if (o === null) throw new P9Error(EBADF);
    if (!o.dir) throw new P9Error(ENOTDIR);
    const share = await this.ready();
    const at = w.length;
    w.u32(0);
    await this.withOpenDir(share, f, o, async (dirPath) => {
      if (offset === 0 || o.listing === null) {
        const all = await readdir(dirPath, { encoding: 'buffer' });
        const names = this.meta === null ? all : all.filter((n) => !isMetaName(n));
        o.listing = [Buffer.from('.'), Buffer.from('..'), ...names];
      }
      const listing = o.listing;
      if (!Number.isSafeInteger(offset) || offset >= listing.length) return;
      // An entry's offset is its index + 1 in the listing: where the next Treaddir resumes.
      let end = offset;
      let bytes = 0;
      while (end < listing.length && bytes + 24 + listing[end].length <= count) bytes += 24 + listing[end++].length;
      if (end === offset) throw new P9Error(EINVAL); // not even one entry fits in count
      const stats = await Promise.all(
        listing.slice(offset, end).map((name, k) => this.direntStat(share, f, dirPath, offset + k, name).catch(() => null)),
      );
      // "." and ".." are directories whatever their metadata says; the other entries' types are mapped.
      const attrs = this.meta === null ? [] : await this.meta.readMany({ path: dirPath }, listing.slice(Math.max(offset, 2), end));
      let written = 0;
      for (let k = 0; k < stats.length; k++) {
        const st = stats[k];
        if (st === null) continue; // gone since the listing was taken
        const name = listing[offset + k];
        const i = offset + k;
        const mode = BigInt(i < 2 || this.meta === null ? Number(st.mode) : this.modeOf(st, attrs[i - Math.max(offset, 2)]));
        w.qid(this.qid(st, Number(mode))).u64(i + 1).u8(direntType(mode)).str(name);
        written += 24 + name.length;
      }
      w.patchU32(at, written);
    });
  }

  /** The attributes of entry i of a directory listing; ".." of the root is the root itself. */
  private async direntStat(share: ShareRoot, f: PathFid, dirPath: Buffer, i: number, name: Buffer): Promise<BigIntStats> {
    if (i === 0 || (i === 1 && f.path.length === 0)) return lstat(child(dirPath, DOT), { bigint: true });
    if (i === 1) return share.withParent(f.path, (parent) => this.lstatIn(parent, DOT));
    return lstat(child(dirPath, name), { bigint: true });
  }

  /** fn(path of the directory f has open): its descriptor's /proc link, or its confined path. */
  private async withOpenDir(share: ShareRoot, f: PathFid, o: OpenFile, fn: (dirPath: Buffer) => Promise<void>): Promise<void> {
    if (share.mode === 'procfd') return fn(Buffer.from(`/proc/self/fd/${o.handle.fd}`));
    return share.withDir(f.path, (dir) => fn(dir.path));
  }

  private async mkdir(r: Reader, w: Writer): Promise<void> {
    const f = this.pathFid(r.u32());
    const name = Buffer.from(r.str());
    const mode = r.u32();
    const gid = r.u32();
    this.checkWritable();
    this.guestName(name, false);
    const share = await this.ready();
    const meta = this.meta;
    const perm = meta !== null ? HOST_DIR_MODE : safeMode(mode, true);
    const st = await share.withDir(f.path, async (dir) => {
      await mkdir(child(dir.path, name), perm);
      const made = await this.lstatIn(dir, name);
      await share.withObject(dir, name, made, async (p) => {
        await chmod(p, perm);
        if (meta === null) await bestEffort(chown(p, idArg(f.uid), idArg(gid)));
        else await meta.write(dir, name, { uid: f.uid, gid, mode: S_IFDIR | (mode & 0o7777) }).catch(async (e: unknown) => {
          await rmdir(p).catch(() => undefined);
          throw e;
        });
      });
      return made;
    });
    w.qid(this.qid(st));
  }

  private async symlink(r: Reader, w: Writer): Promise<void> {
    const f = this.pathFid(r.u32());
    const name = Buffer.from(r.str());
    const target = Buffer.from(r.str());
    const gid = r.u32();
    this.checkWritable();
    this.guestName(name, false);
    // The target is only text stored in the link; the server never follows it.
    if (target.length === 0) throw new P9Error(ENOENT);
    if (target.length >= PATH_MAX) throw new P9Error(ENAMETOOLONG);
    if (target.includes(0)) throw new P9Error(EINVAL);
    const share = await this.ready();
    const meta = this.meta;
    const st = await share.withDir(f.path, async (dir) => {
      const p = child(dir.path, name);
      if (meta === null) {
        await symlink(target, p);
        await bestEffort(lchown(p, idArg(f.uid), idArg(gid)));
        return this.lstatIn(dir, name);
      }
      // Mapped: a plain file holding the target, which no host tool will follow.
      await this.createPlain(dir, name, target, { uid: f.uid, gid, mode: S_IFLNK | 0o777 });
      return this.lstatIn(dir, name);
    });
    w.qid(this.qid(st, meta === null ? Number(st.mode) : S_IFLNK | 0o777));
  }

  private async readlink(r: Reader, w: Writer): Promise<void> {
    const f = this.pathFid(r.u32());
    const share = await this.ready();
    const target = await share.withParent(f.path, async (dir, name) => {
      const p = child(dir.path, name);
      if (this.meta === null) return readlink(p, { encoding: 'buffer' });
      const st = await this.lstatIn(dir, name);
      if (st.isSymbolicLink()) return readlink(p, { encoding: 'buffer' }); // one a host tool made
      if (mappedType(Number(st.mode), await this.mappedOf(dir, name)) !== S_IFLNK) throw new P9Error(EINVAL);
      const h = await open(p, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      try {
        const buf = Buffer.alloc(PATH_MAX);
        const { bytesRead } = await h.read(buf, 0, PATH_MAX, 0);
        return buf.subarray(0, bytesRead);
      } finally {
        await closeQuietly(h);
      }
    });
    w.str(target);
  }

  private async mknod(r: Reader, w: Writer): Promise<void> {
    const f = this.pathFid(r.u32());
    const name = Buffer.from(r.str());
    const mode = r.u32();
    const major = r.u32();
    const minor = r.u32();
    const gid = r.u32();
    this.checkWritable();
    this.guestName(name, false);
    const fmt = mode & S_IFMT;
    const meta = this.meta;
    if (meta !== null) {
      // Mapped: any of them, as an empty plain file with the node's type and number recorded.
      const special = fmt === S_IFCHR || fmt === S_IFBLK || fmt === S_IFIFO || fmt === S_IFSOCK;
      if (!special && fmt !== S_IFREG && fmt !== 0) throw new P9Error(EPERM);
      const share = await this.ready();
      const attrs: MappedAttrs = { uid: f.uid, gid, mode: (special ? fmt : S_IFREG) | (mode & 0o7777) };
      if (fmt === S_IFCHR || fmt === S_IFBLK) attrs.rdev = makeDev(major, minor);
      const made = await share.withDir(f.path, async (dir) => {
        await this.createPlain(dir, name, Buffer.alloc(0), attrs);
        return this.lstatIn(dir, name);
      });
      w.qid(this.qid(made, attrs.mode));
      return;
    }
    // Device nodes, FIFOs and sockets are refused: a device node in a host directory is a door out.
    if (fmt !== S_IFREG && fmt !== 0) throw new P9Error(EPERM);
    const share = await this.ready();
    const perm = safeMode(mode, false);
    const st = await share.withDir(f.path, async (dir) => {
      const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_NONBLOCK;
      const h = await open(child(dir.path, name), flags, perm);
      try {
        await h.chmod(perm);
        await bestEffort(h.chown(idArg(f.uid), idArg(gid)));
        return await h.stat({ bigint: true });
      } finally {
        await closeQuietly(h);
      }
    });
    w.qid(this.qid(st));
  }

  /**
   * The mapped model's symlinks and nodes: a new plain host file (0600, never over an existing name)
   * holding `content`, with `attrs` as its metadata; nothing is left behind if either fails.
   */
  private async createPlain(dir: DirRef, name: Uint8Array, content: Uint8Array, attrs: MappedAttrs): Promise<void> {
    const meta = this.meta;
    if (meta === null) throw new P9Error(EINVAL);
    const p = child(dir.path, name);
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_NONBLOCK;
    const h = await open(p, flags, HOST_FILE_MODE);
    try {
      await h.chmod(HOST_FILE_MODE);
      if (content.length > 0) await h.write(content, 0, content.length, 0);
      await meta.write(dir, name, attrs);
    } catch (e) {
      await unlink(p).catch(() => undefined);
      throw e;
    } finally {
      await closeQuietly(h);
    }
  }

  private async link(r: Reader): Promise<void> {
    const d = this.pathFid(r.u32());
    const f = this.pathFid(r.u32());
    const name = Buffer.from(r.str());
    this.checkWritable();
    this.guestName(name, false);
    if (f.path.length === 0) throw new P9Error(EPERM);
    const share = await this.ready();
    await share.withParent(f.path, (sdir, sname) =>
      share.withDir(d.path, async (ddir) => {
        const from = child(sdir.path, sname);
        // link(2) does not follow a final symlink on Linux; elsewhere it may, so links to links are refused.
        if (share.mode !== 'procfd' && (await lstat(from)).isSymbolicLink()) throw new P9Error(EPERM);
        await link(from, child(ddir.path, name));
        await this.meta?.copy(sdir, sname, ddir, name);
      }),
    );
  }

  private async rename(r: Reader): Promise<void> {
    const f = this.pathFid(r.u32());
    const d = this.pathFid(r.u32());
    const name = Buffer.from(r.str());
    this.checkWritable();
    this.guestName(name, false);
    if (f.path.length === 0) throw new P9Error(EBUSY);
    const from = f.path.slice();
    await this.move(from, d.path, name);
  }

  private async renameat(r: Reader): Promise<void> {
    const od = this.pathFid(r.u32());
    const oldName = Buffer.from(r.str());
    const nd = this.pathFid(r.u32());
    const newName = Buffer.from(r.str());
    this.checkWritable();
    this.guestName(oldName, true);
    this.guestName(newName, false);
    await this.move(od.path.concat([oldName]), nd.path, newName);
  }

  private async move(from: Buffer[], toDir: readonly Buffer[], toName: Buffer): Promise<void> {
    const share = await this.ready();
    const to = toDir.concat([toName]);
    await share.withParent(from, (odir, oname) =>
      share.withDir(toDir, async (ndir) => {
        await rename(child(odir.path, oname), child(ndir.path, toName));
        await this.meta?.move(odir, oname, ndir, toName);
      }),
    );
    this.renamed(from, to);
  }

  private async unlinkat(r: Reader): Promise<void> {
    const d = this.pathFid(r.u32());
    const name = Buffer.from(r.str());
    const flags = r.u32();
    this.checkWritable();
    this.guestName(name, true);
    const share = await this.ready();
    await share.withDir(d.path, async (dir) => {
      const p = child(dir.path, name);
      if (flags & AT_REMOVEDIR) {
        await this.clearMetaDir(share, dir, name);
        await rmdir(p);
      } else {
        // unlink(2) of a directory is EISDIR on Linux (and EPERM on some hosts): say what Linux says.
        if ((await lstat(p)).isDirectory()) throw new P9Error(EISDIR);
        await unlink(p);
      }
      await this.meta?.remove(dir, name);
    });
  }

  private async statfs(r: Reader, w: Writer): Promise<void> {
    const f = this.pathFid(r.u32());
    const share = await this.ready();
    const dirOf = f.qtype === QTDIR ? f.path : f.path.slice(0, -1);
    const s = await share.withDir(dirOf, (dir) => statfs(dir.path, { bigint: true }));
    w.u32(Number(BigInt.asUintN(32, s.type))).u32(Number(BigInt.asUintN(32, s.bsize)));
    w.u64big(s.blocks).u64big(s.bfree).u64big(s.bavail).u64big(s.files).u64big(s.ffree);
    w.u64big(share.dev).u32(255);
  }

  private async fsync(r: Reader): Promise<void> {
    const f = this.pathFid(r.u32());
    const datasync = r.u32();
    const o = await this.opened(f);
    if (o === null) throw new P9Error(EBADF);
    await (datasync !== 0 ? o.handle.datasync() : o.handle.sync());
  }

  private lockRequest(r: Reader, withFlags: boolean): { type: number; start: bigint; length: bigint; procId: number; clientId: string } {
    const type = r.u8();
    if (withFlags) r.u32(); // flags: blocking requests are answered BLOCKED and retried by the client
    const start = r.u64big();
    const length = r.u64big();
    const procId = r.u32();
    const client = r.str();
    if (type !== LOCK_RDLCK && type !== LOCK_WRLCK && type !== LOCK_UNLCK) throw new P9Error(EINVAL);
    if (client.length > 1024) throw new P9Error(EINVAL);
    return { type, start, length, procId, clientId: client.toString('latin1') };
  }

  private async lock(r: Reader, w: Writer): Promise<void> {
    const f = this.pathFid(r.u32());
    const req = this.lockRequest(r, true);
    const st = await this.statFid(f);
    w.u8(this.locks.set(fileKey(st), req, f.id));
  }

  private async getlock(r: Reader, w: Writer): Promise<void> {
    const f = this.pathFid(r.u32());
    const req = this.lockRequest(r, false);
    const st = await this.statFid(f);
    const held = req.type === LOCK_UNLCK ? null : this.locks.conflict(fileKey(st), req);
    if (held === null) {
      w.u8(LOCK_UNLCK).u64big(req.start).u64big(req.length).u32(req.procId).str(Buffer.from(req.clientId, 'latin1'));
    } else {
      w.u8(held.type).u64big(held.start).u64big(LockTable.lengthOf(held)).u32(held.procId);
      w.str(Buffer.from(held.clientId, 'latin1'));
    }
  }

  private async xattrwalk(r: Reader, w: Writer, epoch: number): Promise<void> {
    const f = this.pathFid(r.u32());
    const newId = r.u32();
    const name = r.str();
    // Extended attributes are not passed through: the list is empty and no attribute exists.
    if (name.length !== 0) throw new P9Error(ENODATA);
    this.checkNewFid(newId, f.id);
    await this.statFid(f);
    this.install({ kind: 'xattr', id: newId, data: new Uint8Array(0) }, epoch);
    w.u64(0);
  }

  private async xattrcreate(r: Reader): Promise<void> {
    this.pathFid(r.u32());
    r.str();
    r.u64();
    r.u32();
    this.checkWritable();
    throw new P9Error(EOPNOTSUPP);
  }
}
