/**
 * The live-migration stream (docs/migration.md): frames over one TCP connection, each
 * `u32 type, u32 length, u32 CRC-32 of the payload` (little-endian) and the payload, so every section is
 * checked as it arrives. JSON frames carry the handshake and the machine state; binary frames carry RAM
 * pages and disk data.
 */
import { crc32 } from 'node:zlib';
import type { Socket } from 'node:net';
import { BonsaiError } from '../../errors.js';

export const MIGRATE_MAGIC = 'BONSAI-MIGRATE';
/** 2: CompressedPages. */
export const MIGRATE_VERSION = 2;
/** The largest frame: a batch of RAM pages or a piece of a disk. */
export const MAX_FRAME = 64 * 1024 * 1024;
/** The payload of a full Pages frame: u32 count, then 1024 × (u32 page, 4096 bytes). */
export const BATCH_FRAME = 4 + 1024 * (4 + 4096);

export const enum Frame {
  /** destination → source: {magic, version, challenge} */
  Hello = 1,
  /** source → destination: {version, proof, challenge, spec, tree, config, withDisks, files} */
  Offer = 2,
  /** destination → source: {proof} */
  Accept = 3,
  /** either way: {message}: the sender gives up; the connection ends */
  Error = 4,
  /** source → destination: u32 count, then count × (u32 page, 4096 bytes) */
  Pages = 5,
  /** source → destination: u32 count, then count × u32 page: pages that are zero now */
  ZeroPages = 6,
  /** source → destination: u32 file index, f64 position, bytes */
  FileData = 7,
  /** source → destination: {round, sent, dirty}: progress, for the destination's display */
  Round = 8,
  /** source → destination: {state, sizes}: the machine's parts and each file's final length; the guest is paused */
  Final = 9,
  /** destination → source: {}: the machine is built and restored, waiting for Go */
  Ready = 10,
  /** source → destination: {}: run it (the source will not resume) */
  Go = 11,
  /** destination → source: {}: the guest runs on the destination */
  Running = 12,
  /** source → destination: u32 count, count × u32 page, then the pages' 4096 × count bytes, deflate-raw compressed */
  CompressedPages = 13,
}

export interface Received { type: Frame; payload: Buffer }

/** Writes frames, honouring the socket's back-pressure. */
export class FrameWriter {
  bytes = 0;
  constructor(private readonly sock: Socket) {}

  /** Sends a frame; `written`, if given, is called once the socket is done with `payload` (it may be used again). */
  async send(type: Frame, payload: Uint8Array | object, written?: () => void): Promise<void> {
    const body = payload instanceof Uint8Array ? payload : Buffer.from(JSON.stringify(payload));
    const head = Buffer.alloc(12);
    head.writeUInt32LE(type, 0);
    head.writeUInt32LE(body.length, 4);
    head.writeUInt32LE(crc32(body), 8);
    if (this.sock.destroyed || this.sock.writableEnded) throw new BonsaiError('the connection closed');
    this.bytes += 12 + body.length;
    this.sock.write(head);
    const done = written === undefined ? undefined : (e: Error | null | undefined): void => { if (e === undefined || e === null) written(); };
    if (!this.sock.write(body, done)) await this.drained();
  }

  /**
   * Waits until the socket takes more. A socket that is already gone never emits 'close' again: waiting
   * for it then would hang the migration forever, so that is checked first.
   */
  private drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      const gone = (): boolean => this.sock.destroyed || this.sock.writableEnded || this.sock.closed;
      if (gone()) { reject(new BonsaiError('the connection closed')); return; }
      const done = (): void => { this.sock.off('close', closed); resolve(); };
      const closed = (): void => { this.sock.off('drain', done); reject(new BonsaiError('the connection closed')); };
      this.sock.once('drain', done).once('close', closed);
    });
  }
}

/** The message of an Error frame (a peer's damaged one said as much: never an exception in the socket's handler). */
function errorMessage(payload: Buffer): string {
  try {
    const m = (JSON.parse(payload.toString()) as { message?: unknown } | null)?.message;
    return typeof m === 'string' ? m : 'failed (its message was not text)';
  } catch {
    return 'failed (its message was damaged)';
  }
}

/**
 * Buffers of one size, used again instead of allocated per frame: a migration moves the guest's RAM in
 * 4 MiB frames, and as many fresh buffers (memory outside V8's heap) made V8 run major collections of
 * 5-20 ms every few hundred MiB, one of which could land in the guest's pause.
 */
export class BufferPool {
  private free: Buffer[] = [];
  constructor(readonly size: number, private readonly keep = 4) {}
  /** A buffer of `len` bytes (at most `size`), contents undefined. */
  take(len: number): Buffer {
    const b = this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
    return b.subarray(0, len);
  }
  /** Gives back a buffer from take(); nothing may use it afterwards. Others are left to the collector. */
  give(b: Buffer): void {
    if (b.byteOffset !== 0 || b.buffer.byteLength !== this.size || this.free.length >= this.keep) return;
    this.free.push(Buffer.from(b.buffer, 0, this.size));
  }
}

/** Frames at least this large are read into the reader's pool (recycle() gives them back). */
const POOLED_FRAME = 64 * 1024;

/** Reads frames: next() resolves with the next whole, checked frame, or rejects when the connection ends. */
export class FrameReader {
  private queue: Received[] = [];
  private ended: Error | null = null;
  private wake: (() => void) | null = null;
  bytes = 0;
  /** The frame being read: its header (12 bytes once whole), then its payload, filled as data comes. */
  private head = Buffer.alloc(12);
  private headFill = 0;
  private body: Buffer | null = null;
  private bodyFill = 0;
  /** Payloads of large frames, each copied once from the socket's chunks into one of these. */
  private pool: BufferPool | null = null;

  private readonly onData = (b: Buffer): void => {
    let off = 0;
    while (off < b.length && this.ended === null) {
      if (this.body === null) {
        const n = Math.min(12 - this.headFill, b.length - off);
        b.copy(this.head, this.headFill, off, off + n);
        this.headFill += n;
        off += n;
        if (this.headFill < 12) break;
        const len = this.head.readUInt32LE(4);
        if (len > MAX_FRAME) { this.end(new BonsaiError(`${this.peer} sent a frame of ${len} bytes: not a Bonsai migration stream`)); return; }
        if (b.length - off >= len && len < POOLED_FRAME) {
          // Small and whole in this chunk (handshakes, rounds, the state): no copy.
          this.frame(b.subarray(off, off + len));
          off += len;
          continue;
        }
        this.body = len >= POOLED_FRAME ? this.poolFor(len).take(len) : Buffer.allocUnsafe(len);
        this.bodyFill = 0;
      }
      const body = this.body;
      const n = Math.min(body.length - this.bodyFill, b.length - off);
      b.copy(body, this.bodyFill, off, off + n);
      this.bodyFill += n;
      off += n;
      if (this.bodyFill === body.length) { this.body = null; this.frame(body); }
    }
    this.wake?.();
  };

  private poolFor(len: number): BufferPool {
    if (this.pool === null || this.pool.size < len) this.pool = new BufferPool(Math.max(len, BATCH_FRAME));
    return this.pool;
  }

  /** A whole frame (header in `head`): checked and queued. */
  private frame(payload: Buffer): void {
    this.headFill = 0;
    const type = this.head.readUInt32LE(0), sum = this.head.readUInt32LE(8);
    if (crc32(payload) !== sum) { this.end(new BonsaiError(`the stream from ${this.peer} is damaged (a frame's checksum does not match)`)); return; }
    this.bytes += 12 + payload.length;
    if (type === Frame.Error) this.failure ??= new BonsaiError(`${this.peer}: ${errorMessage(payload)}`);
    this.queue.push({ type: type as Frame, payload });
  }

  /** Gives a received payload's memory back for the frames to come; nothing may use `payload` afterwards. */
  recycle(payload: Buffer): void {
    this.pool?.give(payload);
  }

  private readonly onClose = (): void => this.end(new BonsaiError(`${this.peer} closed the connection`));
  private readonly onError = (e: Error): void => this.end(new BonsaiError(`${this.peer}: ${e.message}`));

  constructor(private readonly sock: Socket, private readonly peer: string) {
    sock.on('data', this.onData).on('close', this.onClose).on('error', this.onError);
  }

  /** Stops reading the socket (it is handed to another process); nothing may be buffered. */
  detach(): void {
    this.sock.off('data', this.onData).off('close', this.onClose).off('error', this.onError);
    this.sock.on('error', () => undefined); // the process it goes to reports its errors
    if (this.headFill > 0 || this.body !== null || this.queue.length > 0) throw new BonsaiError(`${this.peer} sent more than its offer before the answer`);
  }

  /** What the peer said went wrong (an Error frame), once one came: the cause, whatever else failed after it. */
  private failure: BonsaiError | null = null;
  peerError(): BonsaiError | null { return this.failure; }

  /**
   * From now on what arrives is read and dropped: a socket closed with data unread sends a reset, which can
   * take the Error frame just written with it (the peer then only learns that the connection closed).
   */
  drain(): void {
    this.sock.off('data', this.onData).on('data', () => undefined);
  }

  private end(e: Error): void {
    this.ended ??= e;
    this.wake?.();
  }

  async next(): Promise<Received> {
    for (;;) {
      const f = this.queue.shift();
      if (f !== undefined) {
        if (f.type === Frame.Error) throw this.failure ?? new BonsaiError(`${this.peer} failed`);
        return f;
      }
      if (this.ended !== null) throw this.ended;
      await new Promise<void>((r) => { this.wake = r; });
      this.wake = null;
    }
  }

  /** The next frame, which must be of `type`, parsed as JSON. */
  async json<T>(type: Frame): Promise<T> {
    const f = await this.next();
    if (f.type !== type) throw new BonsaiError(`${this.peer} sent frame ${f.type} where ${type} was due`);
    return JSON.parse(f.payload.toString()) as T;
  }
}
