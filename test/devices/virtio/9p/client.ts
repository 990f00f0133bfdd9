/**
 * A tiny 9P2000.L client for the tests: encodes T-messages by hand (independently of the server's wire.ts),
 * sends them to a P9Server and decodes the replies, checking their framing on the way.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { P9Server } from '../../../../src/devices/virtio/9p/server.js';

export const T = {
  lerror: 6, statfs: 8, lopen: 12, lcreate: 14, symlink: 16, mknod: 18, rename: 20, readlink: 22,
  getattr: 24, setattr: 26, xattrwalk: 30, xattrcreate: 32, readdir: 40, fsync: 50, lock: 52, getlock: 54,
  link: 70, mkdir: 72, renameat: 74, unlinkat: 76, version: 100, auth: 102, attach: 104, flush: 108,
  walk: 110, open: 112, create: 114, read: 116, write: 118, clunk: 120, remove: 122, stat: 124, wstat: 126,
} as const;
export const RLERROR = 7;

export const E = {
  EPERM: 1, ENOENT: 2, EIO: 5, ENXIO: 6, EBADF: 9, EACCES: 13, EBUSY: 16, EEXIST: 17, ENOTDIR: 20, EISDIR: 21,
  EINVAL: 22, EFBIG: 27, EROFS: 30, ENAMETOOLONG: 36, ENOTEMPTY: 39, ELOOP: 40, ENODATA: 61, EOPNOTSUPP: 95,
} as const;

/** Linux open flags as the guest sends them. */
export const O = {
  RDONLY: 0, WRONLY: 1, RDWR: 2, CREAT: 0o100, EXCL: 0o200, TRUNC: 0o1000, APPEND: 0o2000, DIRECTORY: 0o200000,
} as const;

export type Field =
  | ['u8', number]
  | ['u16', number]
  | ['u32', number]
  | ['u64', number | bigint]
  | ['s', string | Uint8Array]
  | ['raw', Uint8Array];

function bytesOf(s: string | Uint8Array): Buffer {
  return typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s);
}

/** size[4] type[1] tag[2] then the fields, little-endian. */
export function encode(type: number, tag: number, fields: readonly Field[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of fields) {
    switch (f[0]) {
      case 'u8': parts.push(Buffer.from([f[1] & 0xff])); break;
      case 'u16': { const b = Buffer.alloc(2); b.writeUInt16LE(f[1] & 0xffff); parts.push(b); break; }
      case 'u32': { const b = Buffer.alloc(4); b.writeUInt32LE(f[1] >>> 0); parts.push(b); break; }
      case 'u64': { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(f[1]))); parts.push(b); break; }
      case 's': {
        const s = bytesOf(f[1]);
        const b = Buffer.alloc(2);
        b.writeUInt16LE(s.length & 0xffff);
        parts.push(b, s);
        break;
      }
      case 'raw': parts.push(Buffer.from(f[1])); break;
    }
  }
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(7);
  head.writeUInt32LE(7 + body.length, 0);
  head.writeUInt8(type, 4);
  head.writeUInt16LE(tag, 5);
  return Buffer.concat([head, body]);
}

export interface Qid {
  type: number;
  version: number;
  path: bigint;
}

export class Dec {
  private pos = 7;
  constructor(readonly buf: Buffer) {}
  u8(): number { const v = this.buf.readUInt8(this.pos); this.pos += 1; return v; }
  u16(): number { const v = this.buf.readUInt16LE(this.pos); this.pos += 2; return v; }
  u32(): number { const v = this.buf.readUInt32LE(this.pos); this.pos += 4; return v; }
  u64(): bigint { const v = this.buf.readBigUInt64LE(this.pos); this.pos += 8; return v; }
  num(): number { return Number(this.u64()); }
  bytes(n: number): Buffer { const v = this.buf.subarray(this.pos, this.pos + n); assert.equal(v.length, n, 'reply ends early'); this.pos += n; return v; }
  str(): Buffer { return this.bytes(this.u16()); }
  qid(): Qid { return { type: this.u8(), version: this.u32(), path: this.u64() }; }
  get done(): boolean { return this.pos === this.buf.length; }
}

/** An Rlerror, as a rejection. */
export class Lerror extends Error {
  constructor(readonly errno: number) {
    super(`Rlerror ${errno}`);
  }
}

/** Checks what every reply must be: framed by its size, tagged as the request, an R of the right kind. */
export function checkFrame(req: Uint8Array, reply: Uint8Array): void {
  assert.ok(reply instanceof Uint8Array, 'reply is bytes');
  assert.ok(reply.length >= 7, 'reply has a header');
  const b = Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength);
  assert.equal(b.readUInt32LE(0), reply.length, 'size[4] is the reply length');
  const type = b[4];
  if (req.length >= 7) {
    const rq = Buffer.from(req.buffer, req.byteOffset, req.byteLength);
    assert.equal(b.readUInt16LE(5), rq.readUInt16LE(5), 'tag echoed');
    assert.ok(type === RLERROR || type === rq[4] + 1, `reply type ${type} answers ${rq[4]}`);
  }
  if (type === RLERROR) assert.equal(reply.length, 11, 'Rlerror is size tag ecode');
}

export interface Attr {
  valid: bigint;
  qid: Qid;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  rdev: number;
  size: number;
  blksize: number;
  blocks: number;
  atime: [number, number];
  mtime: [number, number];
  ctime: [number, number];
}

export interface Dirent {
  qid: Qid;
  offset: number;
  type: number;
  name: Buffer;
}

export class Client {
  private nextTag = 1;
  constructor(readonly server: P9Server) {}

  async raw(msg: Uint8Array): Promise<Buffer> {
    const reply = await this.server.handle(msg);
    checkFrame(msg, reply);
    return Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength);
  }

  async call(type: number, fields: readonly Field[]): Promise<Dec> {
    const tag = this.nextTag;
    this.nextTag = (this.nextTag % 0xfffe) + 1;
    const reply = await this.raw(encode(type, tag, fields));
    if (reply[4] === RLERROR) throw new Lerror(reply.readUInt32LE(7));
    assert.equal(reply[4], type + 1);
    return new Dec(reply);
  }

  async version(msize = 65536, version = '9P2000.L'): Promise<{ msize: number; version: string }> {
    const d = await this.call(T.version, [['u32', msize], ['s', version]]);
    return { msize: d.u32(), version: d.str().toString() };
  }

  async attach(fid: number, uid = 0): Promise<Qid> {
    return (await this.call(T.attach, [['u32', fid], ['u32', 0xffffffff], ['s', 'root'], ['s', ''], ['u32', uid]])).qid();
  }

  /** version + attach as fid 0. */
  async mount(): Promise<Qid> {
    await this.version();
    return this.attach(0);
  }

  async walk(fid: number, newfid: number, names: readonly (string | Uint8Array)[]): Promise<Qid[]> {
    const d = await this.call(T.walk, [['u32', fid], ['u32', newfid], ['u16', names.length], ...names.map((n): Field => ['s', n])]);
    const n = d.u16();
    const qids: Qid[] = [];
    for (let i = 0; i < n; i++) qids.push(d.qid());
    return qids;
  }

  async getattr(fid: number): Promise<Attr> {
    const d = await this.call(T.getattr, [['u32', fid], ['u64', 0x3fff]]);
    const a: Attr = {
      valid: d.u64(), qid: d.qid(), mode: d.u32(), uid: d.u32(), gid: d.u32(), nlink: d.num(), rdev: d.num(),
      size: d.num(), blksize: d.num(), blocks: d.num(), atime: [d.num(), d.num()], mtime: [d.num(), d.num()],
      ctime: [d.num(), d.num()],
    };
    d.num(); d.num(); d.num(); d.num(); // btime, gen, data_version
    assert.ok(d.done);
    return a;
  }

  async setattr(
    fid: number,
    s: { mode?: number; uid?: number; gid?: number; size?: number | bigint; atime?: [number, number] | 'now'; mtime?: [number, number] | 'now' },
  ): Promise<void> {
    let valid = 0;
    if (s.mode !== undefined) valid |= 0x1;
    if (s.uid !== undefined) valid |= 0x2;
    if (s.gid !== undefined) valid |= 0x4;
    if (s.size !== undefined) valid |= 0x8;
    if (s.atime !== undefined) valid |= s.atime === 'now' ? 0x10 : 0x90;
    if (s.mtime !== undefined) valid |= s.mtime === 'now' ? 0x20 : 0x120;
    const at = s.atime === undefined || s.atime === 'now' ? [0, 0] : s.atime;
    const mt = s.mtime === undefined || s.mtime === 'now' ? [0, 0] : s.mtime;
    await this.call(T.setattr, [
      ['u32', fid], ['u32', valid], ['u32', s.mode ?? 0], ['u32', s.uid ?? 0], ['u32', s.gid ?? 0], ['u64', s.size ?? 0],
      ['u64', at[0]], ['u64', at[1]], ['u64', mt[0]], ['u64', mt[1]],
    ]);
  }

  async lopen(fid: number, flags: number): Promise<{ qid: Qid; iounit: number }> {
    const d = await this.call(T.lopen, [['u32', fid], ['u32', flags]]);
    return { qid: d.qid(), iounit: d.u32() };
  }

  async lcreate(fid: number, name: string | Uint8Array, flags: number, mode: number, gid = 0): Promise<Qid> {
    return (await this.call(T.lcreate, [['u32', fid], ['s', name], ['u32', flags], ['u32', mode], ['u32', gid]])).qid();
  }

  async read(fid: number, offset: number, count: number): Promise<Buffer> {
    const d = await this.call(T.read, [['u32', fid], ['u64', offset], ['u32', count]]);
    return Buffer.from(d.bytes(d.u32()));
  }

  async write(fid: number, offset: number, data: string | Uint8Array): Promise<number> {
    const b = bytesOf(data);
    return (await this.call(T.write, [['u32', fid], ['u64', offset], ['u32', b.length], ['raw', b]])).u32();
  }

  async clunk(fid: number): Promise<void> {
    await this.call(T.clunk, [['u32', fid]]);
  }

  async remove(fid: number): Promise<void> {
    await this.call(T.remove, [['u32', fid]]);
  }

  async readdir(fid: number, offset: number, count: number): Promise<Dirent[]> {
    const d = await this.call(T.readdir, [['u32', fid], ['u64', offset], ['u32', count]]);
    const n = d.u32();
    const data = new Dec(Buffer.concat([Buffer.alloc(7), d.bytes(n)]));
    const out: Dirent[] = [];
    while (!data.done) out.push({ qid: data.qid(), offset: data.num(), type: data.u8(), name: Buffer.from(data.str()) });
    assert.ok(d.done);
    return out;
  }

  /** Every entry, by readdir calls of at most count bytes, each resuming where the last one ended. */
  async listAll(fid: number, count = 8192): Promise<Dirent[]> {
    const all: Dirent[] = [];
    let offset = 0;
    for (;;) {
      const part = await this.readdir(fid, offset, count);
      if (part.length === 0) return all;
      all.push(...part);
      offset = part[part.length - 1].offset;
    }
  }

  async mkdir(dfid: number, name: string | Uint8Array, mode = 0o755, gid = 0): Promise<Qid> {
    return (await this.call(T.mkdir, [['u32', dfid], ['s', name], ['u32', mode], ['u32', gid]])).qid();
  }

  async symlink(dfid: number, name: string | Uint8Array, target: string | Uint8Array, gid = 0): Promise<Qid> {
    return (await this.call(T.symlink, [['u32', dfid], ['s', name], ['s', target], ['u32', gid]])).qid();
  }

  async readlink(fid: number): Promise<string> {
    return (await this.call(T.readlink, [['u32', fid]])).str().toString();
  }

  async mknod(dfid: number, name: string, mode: number, major = 0, minor = 0, gid = 0): Promise<Qid> {
    return (await this.call(T.mknod, [['u32', dfid], ['s', name], ['u32', mode], ['u32', major], ['u32', minor], ['u32', gid]])).qid();
  }

  async link(dfid: number, fid: number, name: string | Uint8Array): Promise<void> {
    await this.call(T.link, [['u32', dfid], ['u32', fid], ['s', name]]);
  }

  async rename(fid: number, dfid: number, name: string | Uint8Array): Promise<void> {
    await this.call(T.rename, [['u32', fid], ['u32', dfid], ['s', name]]);
  }

  async renameat(olddir: number, oldname: string | Uint8Array, newdir: number, newname: string | Uint8Array): Promise<void> {
    await this.call(T.renameat, [['u32', olddir], ['s', oldname], ['u32', newdir], ['s', newname]]);
  }

  async unlinkat(dfid: number, name: string | Uint8Array, flags = 0): Promise<void> {
    await this.call(T.unlinkat, [['u32', dfid], ['s', name], ['u32', flags]]);
  }

  async statfs(fid: number): Promise<{ type: number; bsize: number; blocks: bigint; bfree: bigint; bavail: bigint; files: bigint; ffree: bigint; fsid: bigint; namelen: number }> {
    const d = await this.call(T.statfs, [['u32', fid]]);
    return { type: d.u32(), bsize: d.u32(), blocks: d.u64(), bfree: d.u64(), bavail: d.u64(), files: d.u64(), ffree: d.u64(), fsid: d.u64(), namelen: d.u32() };
  }

  async fsync(fid: number, datasync = 0): Promise<void> {
    await this.call(T.fsync, [['u32', fid], ['u32', datasync]]);
  }

  async lock(fid: number, type: number, start: number, length: number, procId: number, clientId = 'guest', flags = 0): Promise<number> {
    const d = await this.call(T.lock, [['u32', fid], ['u8', type], ['u32', flags], ['u64', start], ['u64', length], ['u32', procId], ['s', clientId]]);
    return d.u8();
  }

  async getlock(fid: number, type: number, start: number, length: number, procId: number, clientId = 'guest'): Promise<{ type: number; start: number; length: number; procId: number; clientId: string }> {
    const d = await this.call(T.getlock, [['u32', fid], ['u8', type], ['u64', start], ['u64', length], ['u32', procId], ['s', clientId]]);
    return { type: d.u8(), start: d.num(), length: d.num(), procId: d.u32(), clientId: d.str().toString() };
  }

  async xattrwalk(fid: number, newfid: number, name: string): Promise<number> {
    return (await this.call(T.xattrwalk, [['u32', fid], ['u32', newfid], ['s', name]])).num();
  }

  async flush(oldtag: number): Promise<void> {
    await this.call(T.flush, [['u16', oldtag]]);
  }
}

/** The errno a call failed with, or 0 if it succeeded. */
export async function errnoOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 0;
  } catch (e) {
    if (e instanceof Lerror) return e.errno;
    throw e;
  }
}

/** A fresh temporary folder, removed by the returned cleanup. */
export async function tempBase(): Promise<{ base: string; cleanup: () => Promise<void> }> {
  const base = await mkdtemp(join(tmpdir(), 'bonsai-9p-'));
  return { base, cleanup: () => rm(base, { recursive: true, force: true }) };
}
