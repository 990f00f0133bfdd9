/**
 * 9P2000.L wire format: message numbers (Linux include/net/9p/9p.h, enum p9_msg_t), little-endian
 * integers, strings as length[2] bytes[length], qids as type[1] version[4] path[8].
 */

export const Tlerror = 6;
export const Rlerror = 7;
export const Tstatfs = 8;
export const Tlopen = 12;
export const Tlcreate = 14;
export const Tsymlink = 16;
export const Tmknod = 18;
export const Trename = 20;
export const Treadlink = 22;
export const Tgetattr = 24;
export const Tsetattr = 26;
export const Txattrwalk = 30;
export const Txattrcreate = 32;
export const Treaddir = 40;
export const Tfsync = 50;
export const Tlock = 52;
export const Tgetlock = 54;
export const Tlink = 70;
export const Tmkdir = 72;
export const Trenameat = 74;
export const Tunlinkat = 76;
export const Tversion = 100;
export const Tauth = 102;
export const Tattach = 104;
export const Tflush = 108;
export const Twalk = 110;
export const Tread = 116;
export const Twrite = 118;
export const Tclunk = 120;
export const Tremove = 122;

/** size[4] type[1] tag[2] */
export const HEADER_SIZE = 7;
export const NOTAG = 0xffff;
export const NOFID = 0xffffffff;
/** Twalk carries at most this many names (MAXWELEM in the Plan 9 manuals). */
export const MAXWELEM = 16;

export const QTDIR = 0x80;
export const QTSYMLINK = 0x02;
export const QTFILE = 0x00;

export interface Qid {
  type: number;
  version: number;
  /** The server's unique id for the file: 64 bits. */
  path: bigint;
}

/** A message that ends early or whose fields do not fit: answered with EINVAL. */
export class MalformedMessage extends Error {
  constructor(what: string) {
    super(`malformed 9P message: ${what}`);
    this.name = 'MalformedMessage';
  }
}

const TWO32 = 0x1_0000_0000;

/** Reads the fields of one message in order; every read is bounds-checked against the message's size[4]. */
export class Reader {
  private readonly view: DataView;
  private pos: number;

  constructor(
    private readonly msg: Uint8Array,
    start: number,
    private readonly end: number,
  ) {
    this.view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
    this.pos = start;
  }

  private take(n: number): number {
    const at = this.pos;
    if (at + n > this.end) throw new MalformedMessage(`field at byte ${at} runs past the end (${this.end})`);
    this.pos = at + n;
    return at;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    return this.view.getUint8(this.take(1));
  }

  u16(): number {
    return this.view.getUint16(this.take(2), true);
  }

  u32(): number {
    return this.view.getUint32(this.take(4), true);
  }

  /** A 64-bit field as a number; exact below 2^53, callers that need exactness check Number.isSafeInteger. */
  u64(): number {
    const at = this.take(8);
    return this.view.getUint32(at + 4, true) * TWO32 + this.view.getUint32(at, true);
  }

  u64big(): bigint {
    return this.view.getBigUint64(this.take(8), true);
  }

  /** The raw bytes of a string[s]; a view into the message, which the server owns. */
  str(): Buffer {
    const len = this.u16();
    const at = this.take(len);
    return Buffer.from(this.msg.buffer, this.msg.byteOffset + at, len);
  }

  bytes(n: number): Uint8Array {
    const at = this.take(n);
    return this.msg.subarray(at, at + n);
  }
}

/** Builds one R-message; the header is filled in by finish(). */
export class Writer {
  private buf: Buffer;
  private pos = HEADER_SIZE;

  constructor(initial = 256) {
    // Zero-filled and unpooled: the reply's ArrayBuffer is its own and holds no stale host memory.
    this.buf = Buffer.alloc(Math.max(initial, HEADER_SIZE + 16));
  }

  private room(n: number): number {
    const at = this.pos;
    if (at + n > this.buf.length) {
      const bigger = Buffer.alloc(Math.max(this.buf.length * 2, at + n));
      this.buf.copy(bigger, 0, 0, at);
      this.buf = bigger;
    }
    this.pos = at + n;
    return at;
  }

  get length(): number {
    return this.pos;
  }

  // Each method takes its room before touching this.buf: room() may replace the buffer.

  u8(v: number): this {
    const at = this.room(1);
    this.buf.writeUInt8(v & 0xff, at);
    return this;
  }

  u16(v: number): this {
    const at = this.room(2);
    this.buf.writeUInt16LE(v & 0xffff, at);
    return this;
  }

  u32(v: number): this {
    const at = this.room(4);
    this.buf.writeUInt32LE(v >>> 0, at);
    return this;
  }

  /** A non-negative integer below 2^53. */
  u64(v: number): this {
    const at = this.room(8);
    this.buf.writeUInt32LE(v % TWO32 >>> 0, at);
    this.buf.writeUInt32LE(Math.floor(v / TWO32) >>> 0, at + 4);
    return this;
  }

  /** Any bigint, wrapped to 64 bits (negative times become two's complement, as in the C structs). */
  u64big(v: bigint): this {
    const at = this.room(8);
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, v), at);
    return this;
  }

  str(s: Uint8Array): this {
    if (s.length > 0xffff) throw new RangeError('9P string longer than 65535 bytes');
    this.u16(s.length);
    const at = this.room(s.length);
    this.buf.set(s, at);
    return this;
  }

  qid(q: Qid): this {
    return this.u8(q.type).u32(q.version).u64big(q.path);
  }

  /** n bytes the caller fills in place (a read straight into the reply); shrink with truncate(). */
  reserve(n: number): Buffer {
    const at = this.room(n);
    return this.buf.subarray(at, at + n);
  }

  truncate(length: number): void {
    if (length < HEADER_SIZE || length > this.pos) throw new RangeError('truncate outside the message');
    this.pos = length;
  }

  /** Overwrites a u32 written earlier (a count known only after the data). */
  patchU32(at: number, v: number): void {
    this.buf.writeUInt32LE(v >>> 0, at);
  }

  finish(type: number, tag: number): Uint8Array {
    this.buf.writeUInt32LE(this.pos, 0);
    this.buf.writeUInt8(type, 4);
    this.buf.writeUInt16LE(tag & 0xffff, 5);
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.pos);
  }
}

export function lerror(tag: number, errno: number): Uint8Array {
  return new Writer(16).u32(errno).finish(Rlerror, tag);
}
