/**
 * Confinement of every host path to the shared root.
 *
 * The guest names files only by components it walked from the root, and a component is never "." or "..",
 * never contains '/' or NUL, and is never followed when it is a symlink: the guest's own kernel resolves
 * symlinks (a 9P2000.L walk returns the link's qid and Treadlink its text), so the server has no reason to
 * follow one, and walking through one fails with ENOTDIR.
 *
 * Two ways to enforce that, chosen once per server:
 * - procfd (Linux): each directory on the way is opened with O_PATH|O_DIRECTORY|O_NOFOLLOW relative to the
 *   previous one through its /proc/self/fd/N link, which the kernel resolves to the very directory that was
 *   opened, as openat(2) would. Nothing renamed, or swapped for a symlink, between two steps (by the guest
 *   or by anyone on the host) can redirect a lookup outside the root.
 * - lstat (elsewhere): each component is checked with lstat to be a real directory before its path is used.
 *   The server handles one request at a time, so the guest cannot race itself; only a host process changing
 *   the shared folder during a request could slip a symlink in between the check and the use.
 *
 * Final components are looked at with lstat and opened with O_NOFOLLOW; the calls that would follow a final
 * symlink (chmod, chown, truncate, utimes) go through withObject, which never hands out a symlink's name.
 */
import { constants } from 'node:fs';
import { lstat, open, realpath, type FileHandle } from 'node:fs/promises';
import { EINVAL, ELOOP, ENAMETOOLONG, ENOENT, ENOTDIR, P9Error } from './errno.js';

export type Confinement = 'procfd' | 'lstat';

/** Linux's O_PATH (010000000 on every architecture Node runs on); fs.constants does not export it. */
const O_PATH = 0o10000000;
const SLASH = 0x2f;
/** NAME_MAX on Linux and the BSDs. */
export const NAME_MAX = 255;

const DOT = Buffer.from('.');

/** A directory inside the share; children are reached as child(dir.path, name). */
export interface DirRef {
  readonly path: Buffer;
}

/** The identity of a file: what makes two looks at "the same name" the same object. */
export interface FileId {
  dev: bigint;
  ino: bigint;
}

/**
 * Throws unless name is one plain path component: not empty, not "." or "..", no '/' or NUL, at most
 * NAME_MAX bytes. Every name from the guest passes through here before it touches a path.
 */
export function checkName(name: Uint8Array): void {
  if (name.length === 0) throw new P9Error(EINVAL);
  if (name.length > NAME_MAX) throw new P9Error(ENAMETOOLONG);
  if (name[0] === 0x2e && (name.length === 1 || (name.length === 2 && name[1] === 0x2e))) {
    throw new P9Error(EINVAL);
  }
  for (let i = 0; i < name.length; i++) {
    const c = name[i];
    if (c === SLASH || c === 0) throw new P9Error(EINVAL);
  }
}

export function child(dir: Buffer, name: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(dir.length + 1 + name.length);
  dir.copy(out, 0);
  out[dir.length] = SLASH;
  out.set(name, dir.length + 1);
  return out;
}

class Held implements DirRef {
  constructor(
    readonly path: Buffer,
    readonly handle: FileHandle | null,
  ) {}
}

async function closeQuietly(h: FileHandle | null): Promise<void> {
  if (h === null) return;
  try {
    await h.close();
  } catch {
    // Nothing useful to do: the descriptor is gone either way.
  }
}

/** The shared root and the means to reach, without escaping, anything beneath it. */
export class ShareRoot {
  /** Descriptors being closed in the background (a close is one less round trip for the request). */
  private readonly closing = new Set<Promise<void>>();

  private constructor(
    readonly mode: Confinement,
    private readonly top: Held,
    /** The device of the root: qids of files on it need no device bits. */
    readonly dev: bigint,
  ) {}

  /** Opens the root directory; 'auto' picks procfd wherever /proc/self/fd behaves as openat. */
  static async open(root: string, mode: Confinement | 'auto'): Promise<ShareRoot> {
    if (mode !== 'lstat' && process.platform === 'linux') {
      let h: FileHandle | null = null;
      try {
        h = await open(root, O_PATH | constants.O_DIRECTORY);
        const direct = await h.stat({ bigint: true });
        const path = Buffer.from(`/proc/self/fd/${h.fd}`);
        const via = await lstat(child(path, DOT), { bigint: true });
        if (direct.isDirectory() && via.ino === direct.ino && via.dev === direct.dev) {
          return new ShareRoot('procfd', new Held(path, h), direct.dev);
        }
      } catch (e) {
        if (mode === 'procfd') {
          await closeQuietly(h);
          throw e;
        }
      }
      await closeQuietly(h);
      if (mode === 'procfd') throw new P9Error(EINVAL);
    } else if (mode === 'procfd') {
      throw new P9Error(EINVAL);
    }
    const real = await realpath(root);
    const st = await lstat(real, { bigint: true });
    if (!st.isDirectory()) throw new P9Error(ENOTDIR);
    return new ShareRoot('lstat', new Held(Buffer.from(real), null), st.dev);
  }

  get root(): DirRef {
    return this.top;
  }

  /** Releases the root's descriptor once every other one is closed; the ShareRoot is unusable afterwards. */
  async close(): Promise<void> {
    await this.settle();
    await closeQuietly(this.top.handle);
  }

  /** Resolves when every descriptor released so far is closed. */
  async settle(): Promise<void> {
    await Promise.all([...this.closing]);
  }

  private closeLater(h: FileHandle | null): void {
    if (h === null) return;
    const p = closeQuietly(h).finally(() => this.closing.delete(p));
    this.closing.add(p);
  }

  /** The subdirectory name of dir, refusing symlinks and non-directories with ENOTDIR. Release it after use. */
  async openChild(dir: DirRef, name: Uint8Array): Promise<DirRef> {
    checkName(name);
    const path = child(dir.path, name);
    if (this.mode === 'procfd') {
      let h: FileHandle;
      try {
        h = await open(path, O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      } catch (e) {
        throw isCode(e, 'ELOOP') ? new P9Error(ENOTDIR) : e;
      }
      return new Held(Buffer.from(`/proc/self/fd/${h.fd}`), h);
    }
    const st = await lstat(path, { bigint: true });
    if (!st.isDirectory()) throw new P9Error(ENOTDIR);
    return new Held(path, null);
  }

  /** Done with dir: its descriptor is closed (in the background); dir.path must not be used again. */
  release(dir: DirRef): void {
    if (dir instanceof Held && dir !== this.top) this.closeLater(dir.handle);
  }

  /** The directory at components (from the root), every step confined. Release it after use. */
  async dir(components: readonly Uint8Array[]): Promise<DirRef> {
    let cur: DirRef = this.top;
    try {
      for (const c of components) {
        const next = await this.openChild(cur, c);
        this.release(cur);
        cur = next;
      }
      return cur;
    } catch (e) {
      this.release(cur);
      throw e;
    }
  }

  async withDir<T>(components: readonly Uint8Array[], fn: (dir: DirRef) => Promise<T>): Promise<T> {
    const dir = await this.dir(components);
    try {
      return await fn(dir);
    } finally {
      this.release(dir);
    }
  }

  /**
   * fn(parent, last) for the object at components; the root itself is (root, "."), so that callers that
   * lstat or open it need no special case (and those that would rename or unlink it must refuse first).
   */
  async withParent<T>(components: readonly Uint8Array[], fn: (dir: DirRef, name: Uint8Array) => Promise<T>): Promise<T> {
    if (components.length === 0) return fn(this.top, DOT);
    return this.withDir(components.slice(0, -1), (dir) => fn(dir, components[components.length - 1]));
  }

  /**
   * fn(path) with a path that reaches the object name in dir itself even through calls that follow
   * symlinks: in procfd mode a /proc/self/fd link to an O_PATH descriptor of it. The object must not be a
   * symlink (ELOOP) and must still be expected (else ENOENT: it was replaced since the caller looked).
   */
  async withObject<T>(dir: DirRef, name: Uint8Array, expected: FileId, fn: (path: Buffer) => Promise<T>): Promise<T> {
    const path = child(dir.path, name);
    if (this.mode === 'procfd') {
      const h = await open(path, O_PATH | constants.O_NOFOLLOW);
      try {
        const st = await h.stat({ bigint: true });
        if (st.isSymbolicLink()) throw new P9Error(ELOOP);
        if (st.dev !== expected.dev || st.ino !== expected.ino) throw new P9Error(ENOENT);
        return await fn(Buffer.from(`/proc/self/fd/${h.fd}`));
      } finally {
        this.closeLater(h);
      }
    }
    const st = await lstat(path, { bigint: true });
    if (st.isSymbolicLink()) throw new P9Error(ELOOP);
    if (st.dev !== expected.dev || st.ino !== expected.ino) throw new P9Error(ENOENT);
    return fn(path);
  }
}

function isCode(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && 'code' in e && (e as { code: unknown }).code === code;
}
