/**
 * virtio-blk (virtio 1.2, 5.2): one request queue over a BlockBackend. Host I/O is asynchronous: a notify
 * takes the requests and starts them; each completes later, between execution slices, in whatever order the
 * backend finishes, and only then is it written back to guest RAM and the used ring.
 *
 * Data goes through host buffers rather than straight into guest RAM, so an operation that finishes after
 * a reset or a restore (which bump `epoch`) is dropped without touching memory the guest now uses for
 * something else. Buffers in flight are bounded by INFLIGHT_BUDGET; requests beyond it wait their turn.
 */
import type { BlockBackend } from '../../storage/backend.js';
import type { State } from '../stateful.js';
import { ConfigSpace, VIRTIO_ID_BLOCK, type VirtioDevice, type VirtioHost } from './device.js';
import { type DescriptorChain, VirtqueueError } from './queue.js';
import { list, record, uint } from '../state.js';

// Feature bits (5.2.3).
export const VIRTIO_BLK_F_SIZE_MAX = 1;
export const VIRTIO_BLK_F_SEG_MAX = 2;
export const VIRTIO_BLK_F_RO = 5;
export const VIRTIO_BLK_F_FLUSH = 9;
export const VIRTIO_BLK_F_DISCARD = 13;
export const VIRTIO_BLK_F_WRITE_ZEROES = 14;

// Request types and status values (5.2.6).
export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_T_FLUSH = 4;
export const VIRTIO_BLK_T_GET_ID = 8;
export const VIRTIO_BLK_T_DISCARD = 11;
export const VIRTIO_BLK_T_WRITE_ZEROES = 13;
export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;

/** virtio_blk_discard_write_zeroes.flags.unmap */
export const VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP = 1;

export const SECTOR = 512;
export const BLK_QUEUE_SIZE = 256;
/** Data segments per request: the queue less the header and status descriptors. */
export const BLK_SEG_MAX = BLK_QUEUE_SIZE - 2;
export const BLK_SIZE_MAX = 64 * 1024;
/**
 * The most data one request may move; more is IOERR, so a request's host buffer stays bounded. Not
 * seg_max × size_max: those tell a driver that negotiates them how to split (Linux does), and the
 * specification does not make the device refuse more. U-Boot negotiates neither and reads a whole
 * contiguous run of a file in one request (Debian's 42 MB initramfs); QEMU takes requests up to about
 * 2 GiB (BDRV_REQUEST_MAX_BYTES).
 */
export const BLK_MAX_REQUEST = 1 << 30;
export const BLK_MAX_DISCARD_SECTORS = 1 << 22;
export const BLK_MAX_DISCARD_SEG = 32;
export const BLK_MAX_WRITE_ZEROES_SECTORS = 1 << 22;
export const BLK_MAX_WRITE_ZEROES_SEG = 32;
/** Discard granularity advertised, in sectors (4 KiB). */
const DISCARD_ALIGNMENT = 8;
/** Host bytes held by requests in flight before further requests wait. */
const INFLIGHT_BUDGET = 64 * 1024 * 1024;
/** The device ID string is up to 20 bytes, NUL-padded (5.2.6). */
export const BLK_ID_BYTES = 20;

const HEADER = 16;
const SEGMENT = 16;
const CONFIG_SIZE = 60; // through write_zeroes_may_unmap and unused1

// Configuration space offsets (5.2.4).
const CFG_CAPACITY = 0;
const CFG_SIZE_MAX = 8;
const CFG_SEG_MAX = 12;
const CFG_NUM_QUEUES = 34;
const CFG_MAX_DISCARD_SECTORS = 36;
const CFG_MAX_DISCARD_SEG = 40;
const CFG_DISCARD_SECTOR_ALIGNMENT = 44;
const CFG_MAX_WRITE_ZEROES_SECTORS = 48;
const CFG_MAX_WRITE_ZEROES_SEG = 52;

export interface VirtioBlkOptions {
  /** The device ID string for VIRTIO_BLK_T_GET_ID (ASCII, at most 20 bytes are used). */
  serial?: string;
}

/** A request the device has taken from the queue and not yet returned. */
interface Request {
  readonly queue: number;
  readonly chain: DescriptorChain;
  readonly epoch: number;
  /** Host buffer bytes it holds while in flight. */
  readonly bytes: number;
  /** The backend work, started when the budget allows; resolves to the status and any data to return. */
  readonly run: () => Promise<Result>;
}

interface Result { status: number; data?: Uint8Array }

export class VirtioBlk implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_BLOCK;
  readonly name = 'virtio-blk';
  readonly features: readonly number[];
  readonly queueSizes = [BLK_QUEUE_SIZE];
  private host!: VirtioHost;
  private readonly config = new ConfigSpace(CONFIG_SIZE);
  private readonly id: Uint8Array;
  /** Bumped on reset and restore: completions from an earlier epoch are dropped. */
  private epoch = 0;
  /** Requests taken and not returned, in the order taken (what a snapshot must carry). */
  private readonly outstanding = new Set<Request>();
  private waiting: Request[] = [];
  private inflightBytes = 0;
  private running = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private backend: BlockBackend, opts: VirtioBlkOptions = {}) {
    const f = [VIRTIO_BLK_F_SIZE_MAX, VIRTIO_BLK_F_SEG_MAX, VIRTIO_BLK_F_FLUSH];
    if (backend.readOnly) f.push(VIRTIO_BLK_F_RO);
    else f.push(VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_WRITE_ZEROES);
    this.features = f;
    this.id = new Uint8Array(BLK_ID_BYTES);
    const serial = opts.serial ?? '';
    for (let i = 0; i < Math.min(serial.length, BLK_ID_BYTES); i++) this.id[i] = serial.charCodeAt(i) & 0x7f;
    const c = this.config;
    c.setU64(CFG_CAPACITY, this.capacity);
    c.setU32(CFG_SIZE_MAX, BLK_SIZE_MAX);
    c.setU32(CFG_SEG_MAX, BLK_SEG_MAX);
    c.setU16(CFG_NUM_QUEUES, 1);
    if (!backend.readOnly) {
      c.setU32(CFG_MAX_DISCARD_SECTORS, BLK_MAX_DISCARD_SECTORS);
      c.setU32(CFG_MAX_DISCARD_SEG, BLK_MAX_DISCARD_SEG);
      c.setU32(CFG_DISCARD_SECTOR_ALIGNMENT, DISCARD_ALIGNMENT);
      c.setU32(CFG_MAX_WRITE_ZEROES_SECTORS, BLK_MAX_WRITE_ZEROES_SECTORS);
      c.setU32(CFG_MAX_WRITE_ZEROES_SEG, BLK_MAX_WRITE_ZEROES_SEG);
      // write_zeroes_may_unmap stays 0: writeZeroes() decides for itself whether space is freed.
    }
  }

  /**
   * Puts another backend for the same image in place (Qcow2Backend.reload() after a live migration wrote
   * the image's last pieces): same size and read-only-ness, since the guest was offered those; before the
   * machine runs, with no request in flight.
   */
  replaceBackend(b: BlockBackend): void {
    if (b.size !== this.backend.size || b.readOnly !== this.backend.readOnly) throw new Error('replaceBackend: another disk');
    this.backend = b;
  }

  /** Capacity in 512-byte sectors; a partial last sector counts (the backend accepts it). */
  get capacity(): number {
    return Math.ceil(this.backend.size / SECTOR);
  }

  attach(host: VirtioHost): void { this.host = host; }

  readConfig(offset: number, size: number): number { return this.config.read(offset, size); }
  writeConfig(): void { /* nothing writable without VIRTIO_BLK_F_CONFIG_WCE */ }
  activate(): void { /* requests arrive by notification */ }

  /** The backend's size changed (a resize): the new capacity reaches the driver as a configuration change. */
  refreshCapacity(): void {
    this.config.setU64(CFG_CAPACITY, this.capacity);
    this.host.configChanged();
  }

  notify(index: number): void {
    const q = this.host.queues[index];
    let done = false;
    for (let chain = q.pop(); chain !== null; chain = q.pop()) {
      if (this.submit(index, chain)) done = true;
    }
    if (done) this.host.usedBuffers(index);
  }

  /** Resolves once no backend operation is running (e.g. before a snapshot, for a quiet disk). */
  idle(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  hostWorking(): boolean { return this.running > 0; }

  /** Number of requests taken from the guest and not yet returned. */
  get pending(): number { return this.outstanding.size; }

  /**
   * Parses a request (5.2.6) and either answers it at once (returns true) or starts its I/O. A request
   * without a full header or a status byte cannot be answered at all: that is a driver error.
   */
  private submit(queue: number, chain: DescriptorChain): boolean {
    if (chain.readableLength < HEADER) throw new VirtqueueError(`request header is ${chain.readableLength} bytes, not 16`);
    if (chain.writableLength < 1) throw new VirtqueueError('request has no status byte');
    const h = new DataView(chain.readBytes(0, HEADER).buffer);
    const type = h.getUint32(0, true);
    const sector = h.getUint32(8, true) + h.getUint32(12, true) * 0x100000000;
    const inLen = chain.writableLength - 1; // what the device may write before the status byte
    const outLen = chain.readableLength - HEADER;
    const be = this.backend;
    const answer = (status: number, data?: Uint8Array): boolean => {
      this.finish(queue, chain, { status, data });
      return true;
    };
    switch (type) {
      case VIRTIO_BLK_T_IN: {
        if (!this.inRange(sector, inLen) || inLen > BLK_MAX_REQUEST) return answer(VIRTIO_BLK_S_IOERR);
        if (inLen === 0) return answer(VIRTIO_BLK_S_OK);
        return this.start(queue, chain, inLen, async () => {
          const buf = new Uint8Array(inLen);
          await be.read(sector * SECTOR, buf);
          return { status: VIRTIO_BLK_S_OK, data: buf };
        });
      }
      case VIRTIO_BLK_T_OUT: {
        // 5.2.6.2: a read-only device fails writes and writes nothing.
        if (be.readOnly || !this.inRange(sector, outLen) || outLen > BLK_MAX_REQUEST) return answer(VIRTIO_BLK_S_IOERR);
        if (outLen === 0) return answer(VIRTIO_BLK_S_OK);
        const data = chain.readBytes(HEADER, outLen);
        // 5.2.6.2: FLUSH offered but not negotiated means every write is stable when it completes.
        const writeThrough = !this.host.hasFeature(VIRTIO_BLK_F_FLUSH);
        return this.start(queue, chain, outLen, async () => {
          await be.write(sector * SECTOR, data);
          if (writeThrough) await be.flush();
          return { status: VIRTIO_BLK_S_OK };
        });
      }
      case VIRTIO_BLK_T_FLUSH:
        return this.start(queue, chain, 0, async () => {
          await be.flush();
          return { status: VIRTIO_BLK_S_OK };
        });
      case VIRTIO_BLK_T_GET_ID:
        return answer(VIRTIO_BLK_S_OK, this.id.subarray(0, Math.min(inLen, BLK_ID_BYTES)));
      case VIRTIO_BLK_T_DISCARD:
      case VIRTIO_BLK_T_WRITE_ZEROES: {
        const discard = type === VIRTIO_BLK_T_DISCARD;
        if (!this.host.hasFeature(discard ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES)) return answer(VIRTIO_BLK_S_UNSUPP);
        if (be.readOnly) return answer(VIRTIO_BLK_S_IOERR);
        const ranges = this.ranges(chain, outLen, discard);
        if (typeof ranges === 'number') return answer(ranges);
        return this.start(queue, chain, 0, async () => {
          for (const [offset, length] of ranges) {
            if (discard) await be.discard(offset, length);
            else await be.writeZeroes(offset, length);
          }
          return { status: VIRTIO_BLK_S_OK };
        });
      }
      default:
        return answer(VIRTIO_BLK_S_UNSUPP);
    }
  }

  /** Whether `length` bytes (a whole number of sectors) from `sector` lie within the disk. */
  private inRange(sector: number, length: number): boolean {
    if (length % SECTOR !== 0) return false;
    const cap = this.capacity;
    return sector <= cap && length / SECTOR <= cap - sector;
  }

  /**
   * The segments of a discard or write zeroes request (5.2.6) as byte ranges, or the status that refuses
   * it: UNSUPP for unknown flags or unmap on a discard (5.2.6.2), IOERR for the rest.
   */
  private ranges(chain: DescriptorChain, length: number, discard: boolean): [number, number][] | number {
    const maxSeg = discard ? BLK_MAX_DISCARD_SEG : BLK_MAX_WRITE_ZEROES_SEG;
    const maxSectors = discard ? BLK_MAX_DISCARD_SECTORS : BLK_MAX_WRITE_ZEROES_SECTORS;
    if (length % SEGMENT !== 0 || length / SEGMENT > maxSeg) return VIRTIO_BLK_S_IOERR;
    const dv = new DataView(chain.readBytes(HEADER, length).buffer);
    const out: [number, number][] = [];
    for (let o = 0; o < length; o += SEGMENT) {
      const sector = dv.getUint32(o, true) + dv.getUint32(o + 4, true) * 0x100000000;
      const count = dv.getUint32(o + 8, true);
      const flags = dv.getUint32(o + 12, true);
      if ((flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) !== 0) return VIRTIO_BLK_S_UNSUPP;
      if (discard && (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) !== 0) return VIRTIO_BLK_S_UNSUPP;
      if (count > maxSectors || !this.inRange(sector, count * SECTOR)) return VIRTIO_BLK_S_IOERR;
      if (count > 0) out.push([sector * SECTOR, count * SECTOR]);
    }
    return out;
  }

  /** Takes a request in; it starts now, or after earlier ones, when host buffers are short. */
  private start(queue: number, chain: DescriptorChain, bytes: number, run: () => Promise<Result>): boolean {
    const req: Request = { queue, chain, epoch: this.epoch, bytes, run };
    this.outstanding.add(req);
    if (this.waiting.length > 0 || (this.inflightBytes > 0 && this.inflightBytes + bytes > INFLIGHT_BUDGET)) {
      this.waiting.push(req);
    } else this.launch(req);
    return false;
  }

  private launch(req: Request): void {
    this.inflightBytes += req.bytes;
    this.running++;
    let work: Promise<Result>;
    try { work = req.run(); } catch (e) { work = Promise.reject(e); }
    work.then(
      (r) => this.settle(req, r),
      () => this.settle(req, { status: VIRTIO_BLK_S_IOERR }), // the backend's failure is the guest's I/O error
    );
  }

  private settle(req: Request, result: Result): void {
    this.inflightBytes -= req.bytes;
    this.running--;
    if (req.epoch === this.epoch && this.outstanding.has(req)) {
      this.outstanding.delete(req);
      this.host.guard(() => {
        this.finish(req.queue, req.chain, result);
        this.host.usedBuffers(req.queue);
      });
    }
    while (this.waiting.length > 0) {
      const next = this.waiting[0];
      if (this.inflightBytes > 0 && this.inflightBytes + next.bytes > INFLIGHT_BUDGET) break;
      this.waiting.shift();
      this.launch(next);
    }
    if (this.running === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Writes the data and the status byte (the last writable byte), and returns the buffer (5.2.6). */
  private finish(queue: number, chain: DescriptorChain, r: Result): void {
    let written = 0;
    if (r.data !== undefined && r.status === VIRTIO_BLK_S_OK) written = chain.write(0, r.data);
    chain.write(chain.writableLength - 1, Uint8Array.of(r.status));
    this.host.queues[queue].push(chain.head, written + 1);
  }

  reset(): void {
    this.epoch++;
    this.outstanding.clear();
    this.waiting = [];
  }

  /** Requests taken and not returned, by queue and head descriptor: a restored device runs them again. */
  save(): State {
    return { requests: [...this.outstanding].map((r) => ({ queue: r.queue, head: r.chain.head })) };
  }

  restore(s: State): void {
    const what = 'virtio-blk';
    const o = record(s, what);
    const requests = list(o, 'requests', what).map((r) => {
      const e = record(r, what);
      return { queue: uint(e, 'queue', this.queueSizes.length - 1, what), head: uint(e, 'head', 0xffff, what) };
    });
    this.reset();
    if (!this.host.active) return;
    // The guest cannot have changed these chains: they are the device's until used (2.7.13). Running a
    // request again is harmless: it was not answered, and reads and writes of the same data repeat.
    this.host.guard(() => {
      for (const { queue, head } of requests) {
        if (this.submit(queue, this.host.queues[queue].chainAt(head))) this.host.usedBuffers(queue);
      }
    });
  }
}
