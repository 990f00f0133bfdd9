/**
 * Split virtqueues (virtio 1.2, 2.7) as the device sees them in guest RAM: the descriptor table, the
 * available ring the driver fills, the used ring the device fills, and the event indexes that suppress
 * notifications both ways.
 *
 * Everything here is read from memory the guest controls, so nothing is trusted: every address is checked
 * against RAM before it is touched, chain walks are bounded by the queue size, and a driver that breaks a
 * rule gets a VirtqueueError, which the transport turns into DEVICE_NEEDS_RESET.
 */
import type { State } from '../stateful.js';
import { bool, record, uint } from '../state.js';

/** Guest RAM as devices reach it: `u8[pa - base]` is the byte at physical address `pa`. */
export interface GuestMemory {
  readonly base: number;
  readonly size: number;
  /** RAM only; must stay attached (the machine's memory never grows). */
  readonly u8: Uint8Array;
  /** Every byte range a device writes is reported, so the hart drops instructions it decoded there. */
  written(pa: number, length: number): void;
}

/**
 * Guest memory over a view of RAM, reporting each written range as the 4 KiB pages it touches (what
 * `Hart.ramWritten(pa)` takes: one address per page whose decoded instructions must go).
 */
export function guestMemory(base: number, u8: Uint8Array, pageWritten: (pa: number) => void): GuestMemory {
  return {
    base, size: u8.length, u8,
    written(pa: number, length: number): void {
      if (length <= 0) return;
      const end = pa + length;
      for (let page = pa - (pa % 4096); page < end; page += 4096) pageWritten(Math.max(page, pa));
    },
  };
}

// Descriptor flags (2.7.5).
export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
/** avail.flags bit 0: the driver asks for no used buffer notifications (without EVENT_IDX, 2.7.7). */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
/** The largest split queue (2.7). */
export const VIRTQ_MAX_SIZE = 32768;

const DESC_SIZE = 16;
const TWO32 = 0x100000000;

/** The driver broke a virtqueue rule; the device cannot go on with this queue. */
export class VirtqueueError extends Error {}

/** A piece of a buffer: guest physical address and length, wholly inside RAM (checked when the chain was walked). */
export interface Segment { readonly pa: number; readonly len: number }

/**
 * One buffer the driver made available: its device-readable segments, then its device-writable ones
 * (2.7.4: readable ones come first), as found when the chain was walked.
 */
export class DescriptorChain {
  constructor(
    readonly head: number,
    private readonly mem: GuestMemory,
    readonly readable: readonly Segment[],
    readonly writable: readonly Segment[],
    readonly readableLength: number,
    readonly writableLength: number,
  ) {}

  /** Copies readable bytes from `offset` (within the readable part) into `dst`; returns how many. */
  read(offset: number, dst: Uint8Array): number {
    const { u8, base } = this.mem;
    let done = 0;
    let skip = offset;
    for (const s of this.readable) {
      if (done === dst.length) break;
      if (skip >= s.len) { skip -= s.len; continue; }
      const n = Math.min(s.len - skip, dst.length - done);
      const o = s.pa - base + skip;
      dst.set(u8.subarray(o, o + n), done);
      done += n;
      skip = 0;
    }
    return done;
  }

  /** The readable bytes [offset, offset + length), clipped to what the chain holds. */
  readBytes(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(Math.max(0, Math.min(length, this.readableLength - offset)));
    this.read(offset, out);
    return out;
  }

  /** Copies `src` into the writable part from `offset`; returns how many bytes fit. */
  write(offset: number, src: Uint8Array): number {
    const { u8, base } = this.mem;
    let done = 0;
    let skip = offset;
    for (const s of this.writable) {
      if (done === src.length) break;
      if (skip >= s.len) { skip -= s.len; continue; }
      const n = Math.min(s.len - skip, src.length - done);
      const pa = s.pa + skip;
      u8.set(src.subarray(done, done + n), pa - base);
      this.mem.written(pa, n);
      done += n;
      skip = 0;
    }
    return done;
  }
}

export class Virtqueue {
  /** QueueSize as the driver set it (a power of 2, at most maxSize). */
  size: number;
  /** QueueReady: the driver enabled the queue and its layout checked out. */
  ready = false;
  descLo = 0; descHi = 0;
  driverLo = 0; driverHi = 0;
  deviceLo = 0; deviceHi = 0;
  /** Negotiated VIRTIO_RING_F_INDIRECT_DESC and VIRTIO_RING_F_EVENT_IDX. */
  indirect = false;
  eventIdx = false;
  /** Free-running 16-bit indexes: next available entry to take, next used entry to fill. */
  nextAvail = 0;
  nextUsed = 0;
  /** used.idx when the device last decided whether to notify the driver. */
  private signalledUsed = 0;
  /** Set when the device gave up on the driver; the queue is dead until reset. */
  private broken = false;
  private readonly dv: DataView;

  constructor(private readonly mem: GuestMemory, readonly maxSize: number) {
    if (!Number.isInteger(maxSize) || maxSize < 1 || maxSize > VIRTQ_MAX_SIZE || (maxSize & (maxSize - 1)) !== 0) {
      throw new Error(`virtqueue: size ${maxSize} is not a power of 2 up to ${VIRTQ_MAX_SIZE}`);
    }
    this.size = maxSize;
    this.dv = new DataView(mem.u8.buffer, mem.u8.byteOffset, mem.u8.byteLength);
  }

  get desc(): number { return this.descHi * TWO32 + this.descLo; }
  get avail(): number { return this.driverHi * TWO32 + this.driverLo; }
  get used(): number { return this.deviceHi * TWO32 + this.deviceLo; }

  /** Ready and not given up on: the device may touch the rings. */
  get live(): boolean { return this.ready && !this.broken; }

  reset(): void {
    this.size = this.maxSize;
    this.ready = false;
    this.descLo = this.descHi = this.driverLo = this.driverHi = this.deviceLo = this.deviceHi = 0;
    this.indirect = this.eventIdx = false;
    this.nextAvail = this.nextUsed = this.signalledUsed = 0;
    this.broken = false;
  }

  /** The device gave up: the rings are not touched again until reset. */
  stop(): void { this.broken = true; }

  /**
   * QueueReady = 1: checks the layout the driver wrote (2.7, alignment and size table) so that every later
   * ring access is inside RAM. The driver may reuse a queue after a reset, so the indexes start over.
   */
  enable(): void {
    this.check();
    this.ready = true;
    this.nextAvail = this.nextUsed = this.signalledUsed = 0;
  }

  private check(): void {
    const n = this.size;
    if (n < 1 || n > this.maxSize || (n & (n - 1)) !== 0) {
      throw new VirtqueueError(`queue size ${n} is not a power of 2 up to ${this.maxSize}`);
    }
    this.area('descriptor table', this.desc, 16, DESC_SIZE * n);
    this.area('available ring', this.avail, 2, 6 + 2 * n);
    this.area('used ring', this.used, 4, 6 + 8 * n);
  }

  private area(what: string, pa: number, align: number, len: number): void {
    if (pa % align !== 0) throw new VirtqueueError(`${what} at ${hex(pa)} is not ${align}-byte aligned`);
    if (!this.inRam(pa, len)) throw new VirtqueueError(`${what} at ${hex(pa)} (${len} bytes) is outside RAM`);
  }

  private inRam(pa: number, len: number): boolean {
    return pa >= this.mem.base && pa + len <= this.mem.base + this.mem.size;
  }

  private u16(pa: number): number { return this.dv.getUint16(pa - this.mem.base, true); }

  private setU16(pa: number, v: number): void {
    this.dv.setUint16(pa - this.mem.base, v, true);
    this.mem.written(pa, 2);
  }

  /** avail.idx minus the next entry to take: buffers made available and not taken yet. */
  private pending(): number {
    const idx = this.u16(this.avail + 2);
    // 2.7.6: the driver never has more than Queue Size buffers outstanding, taken or not.
    if (((idx - this.nextUsed) & 0xffff) > this.size) {
      throw new VirtqueueError(`available index ${idx} puts more buffers in the queue than its size ${this.size} (used ${this.nextUsed})`);
    }
    return (idx - this.nextAvail) & 0xffff;
  }

  /** How many buffers wait in the available ring (0 while the queue is not live). */
  availableCount(): number {
    return this.live ? this.pending() : 0;
  }

  /**
   * 2.7.10: with EVENT_IDX, asks to be notified of the very next buffer the driver makes available, even
   * though earlier ones are still waiting untaken (pop only asks about the entry after the last taken).
   */
  notifyOnNextBuffer(): void {
    if (this.live && this.eventIdx) this.setU16(this.used + 4 + 8 * this.size, this.u16(this.avail + 2));
  }

  /** Whether a buffer is waiting in the available ring. */
  hasAvailable(): boolean {
    if (!this.live) return false;
    return this.pending() > 0;
  }

  /** Takes the next available buffer, or null when the ring is empty. */
  pop(): DescriptorChain | null {
    if (!this.live) return null;
    if (this.pending() === 0) {
      this.publishAvailEvent();
      return null;
    }
    const head = this.u16(this.avail + 4 + 2 * (this.nextAvail & (this.size - 1)));
    const chain = this.chainAt(head);
    this.nextAvail = (this.nextAvail + 1) & 0xffff;
    this.publishAvailEvent();
    return chain;
  }

  /**
   * 2.7.10: with EVENT_IDX the device asks to be notified once the driver passes avail_event; asking for the
   * next entry means "tell me about every new buffer", as without suppression.
   */
  private publishAvailEvent(): void {
    if (this.eventIdx) this.setU16(this.used + 4 + 8 * this.size, this.nextAvail);
  }

  /**
   * Walks the chain that starts at descriptor `head` (2.7.5): zero or more descriptors in the table,
   * possibly ending in one that points to an indirect table (2.7.5.3). Used for new buffers and again
   * when a restored device picks up buffers it had taken but not finished.
   */
  chainAt(head: number): DescriptorChain {
    const size = this.size;
    if (head >= size) throw new VirtqueueError(`head descriptor ${head} is beyond the queue size ${size}`);
    const dv = this.dv;
    const base = this.mem.base;
    const readable: Segment[] = [];
    const writable: Segment[] = [];
    let readableLength = 0;
    let writableLength = 0;
    let table = this.desc;
    let entries = size;
    let inIndirect = false;
    let steps = 0; // descriptors visited in the current table: more than it holds means a loop
    let count = 0; // buffer descriptors in the whole chain
    let sawWritable = false;
    let i = head;
    for (;;) {
      if (++steps > entries) {
        throw new VirtqueueError(inIndirect ? 'indirect descriptor chain loops' : 'descriptor chain loops');
      }
      const o = table - base + DESC_SIZE * i;
      const addr = dv.getUint32(o, true) + dv.getUint32(o + 4, true) * TWO32;
      const len = dv.getUint32(o + 8, true);
      const flags = dv.getUint16(o + 12, true);
      const next = dv.getUint16(o + 14, true);
      if (flags & VIRTQ_DESC_F_INDIRECT) {
        // 2.7.5.3.1: only with the feature, never inside an indirect table, never together with NEXT.
        if (!this.indirect) throw new VirtqueueError('indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC');
        if (inIndirect) throw new VirtqueueError('indirect descriptor inside an indirect table');
        if (flags & VIRTQ_DESC_F_NEXT) throw new VirtqueueError('indirect descriptor with VIRTQ_DESC_F_NEXT');
        if (len === 0 || len % DESC_SIZE !== 0) throw new VirtqueueError(`indirect table length ${len} is not a multiple of 16`);
        if (!this.inRam(addr, len)) throw new VirtqueueError(`indirect table at ${hex(addr)} (${len} bytes) is outside RAM`);
        table = addr;
        entries = len / DESC_SIZE;
        inIndirect = true;
        steps = 0;
        i = 0;
        continue;
      }
      // 2.7.5.3.1: a chain, indirect part included, is no longer than the queue.
      if (++count > size) throw new VirtqueueError(`descriptor chain is longer than the queue size ${size}`);
      if (len > 0 && !this.inRam(addr, len)) throw new VirtqueueError(`buffer at ${hex(addr)} (${len} bytes) is outside RAM`);
      if (flags & VIRTQ_DESC_F_WRITE) {
        sawWritable = true;
        if (len > 0) writable.push({ pa: addr, len });
        writableLength += len;
      } else {
        // 2.7.4.2: device-writable descriptors come after all device-readable ones.
        if (sawWritable) throw new VirtqueueError('device-readable descriptor after a device-writable one');
        if (len > 0) readable.push({ pa: addr, len });
        readableLength += len;
      }
      // 2.7.5.2: no chain is longer than 2^32 bytes in all.
      if (readableLength + writableLength > 0xffffffff) throw new VirtqueueError('descriptor chain is longer than 4 GiB');
      if (!(flags & VIRTQ_DESC_F_NEXT)) break;
      if (next >= entries) throw new VirtqueueError(`next descriptor ${next} is beyond its table of ${entries}`);
      i = next;
    }
    return new DescriptorChain(head, this.mem, readable, writable, readableLength, writableLength);
  }

  /** Returns buffer `head` to the driver with `len` bytes written into it (2.7.8). */
  push(head: number, len: number): void {
    if (!this.live) return;
    const slot = this.used + 4 + 8 * (this.nextUsed & (this.size - 1));
    const o = slot - this.mem.base;
    this.dv.setUint32(o, head, true);
    this.dv.setUint32(o + 4, len, true);
    this.mem.written(slot, 8);
    this.nextUsed = (this.nextUsed + 1) & 0xffff;
    this.setU16(this.used + 2, this.nextUsed);
  }

  /**
   * Whether the buffers used since the last call deserve a used buffer notification: with EVENT_IDX when
   * used.idx has passed used_event (2.7.10, vring_need_event), otherwise unless the driver set
   * VIRTQ_AVAIL_F_NO_INTERRUPT (2.7.7).
   */
  needsInterrupt(): boolean {
    if (!this.live) return false;
    const now = this.nextUsed;
    const old = this.signalledUsed;
    if (now === old) return false;
    this.signalledUsed = now;
    if (this.eventIdx) {
      const event = this.u16(this.avail + 4 + 2 * this.size);
      return ((now - event - 1) & 0xffff) < ((now - old) & 0xffff);
    }
    return (this.u16(this.avail) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
  }

  save(): State {
    return {
      size: this.size, ready: this.ready, broken: this.broken,
      descLo: this.descLo, descHi: this.descHi, driverLo: this.driverLo, driverHi: this.driverHi,
      deviceLo: this.deviceLo, deviceHi: this.deviceHi,
      indirect: this.indirect, eventIdx: this.eventIdx,
      nextAvail: this.nextAvail, nextUsed: this.nextUsed, signalledUsed: this.signalledUsed,
    };
  }

  /** Checks everything first; a ready queue must still fit this machine's RAM. */
  restore(s: State): void {
    const what = 'virtqueue';
    const o = record(s, what);
    const u32 = (k: string): number => uint(o, k, 0xffffffff, what);
    const u16 = (k: string): number => uint(o, k, 0xffff, what);
    const v: QueueState = {
      size: u32('size'), ready: bool(o, 'ready', what), broken: bool(o, 'broken', what),
      descLo: u32('descLo'), descHi: u32('descHi'), driverLo: u32('driverLo'), driverHi: u32('driverHi'),
      deviceLo: u32('deviceLo'), deviceHi: u32('deviceHi'),
      indirect: bool(o, 'indirect', what), eventIdx: bool(o, 'eventIdx', what),
      nextAvail: u16('nextAvail'), nextUsed: u16('nextUsed'), signalledUsed: u16('signalledUsed'),
    };
    const before = this.save();
    this.take(v);
    if (v.ready) {
      try { this.check(); } catch (e) {
        this.restore(before);
        throw new Error(`virtqueue state: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  private take(v: QueueState): void {
    this.size = v.size; this.ready = v.ready; this.broken = v.broken;
    this.descLo = v.descLo; this.descHi = v.descHi;
    this.driverLo = v.driverLo; this.driverHi = v.driverHi;
    this.deviceLo = v.deviceLo; this.deviceHi = v.deviceHi;
    this.indirect = v.indirect; this.eventIdx = v.eventIdx;
    this.nextAvail = v.nextAvail; this.nextUsed = v.nextUsed; this.signalledUsed = v.signalledUsed;
  }
}

interface QueueState {
  size: number; ready: boolean; broken: boolean;
  descLo: number; descHi: number; driverLo: number; driverHi: number; deviceLo: number; deviceHi: number;
  indirect: boolean; eventIdx: boolean; nextAvail: number; nextUsed: number; signalledUsed: number;
}

export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
