/**
 * A tiny virtio driver for tests: fake guest RAM (a Uint8Array), and a driver that negotiates features
 * through the MMIO registers, lays out split virtqueues, builds descriptor chains (direct or indirect) and
 * reads the used ring, the way Linux's virtio_mmio and virtio_ring do.
 */
import { IrqLine } from '../../../src/devices/mmio.js';
import type { State } from '../../../src/devices/stateful.js';
import type { VirtioDevice } from '../../../src/devices/virtio/device.js';
import {
  MMIO_DEVICE_FEATURES, MMIO_DEVICE_FEATURES_SEL, MMIO_DRIVER_FEATURES, MMIO_DRIVER_FEATURES_SEL,
  MMIO_INTERRUPT_ACK, MMIO_INTERRUPT_STATUS, MMIO_QUEUE_DESC_HIGH, MMIO_QUEUE_DESC_LOW,
  MMIO_QUEUE_DEVICE_HIGH, MMIO_QUEUE_DEVICE_LOW, MMIO_QUEUE_DRIVER_HIGH, MMIO_QUEUE_DRIVER_LOW,
  MMIO_QUEUE_NOTIFY, MMIO_QUEUE_NUM, MMIO_QUEUE_NUM_MAX, MMIO_QUEUE_READY, MMIO_QUEUE_SEL, MMIO_STATUS,
  VirtioMmio,
} from '../../../src/devices/virtio/mmio.js';
import type { GuestMemory } from '../../../src/devices/virtio/queue.js';

export const RAM_BASE = 0x80000000;

export const ACKNOWLEDGE = 1, DRIVER = 2, DRIVER_OK = 4, FEATURES_OK = 8, NEEDS_RESET = 64;
export const F_INDIRECT = 28, F_EVENT_IDX = 29, F_VERSION_1 = 32;
export const NEXT = 1, WRITE = 2, INDIRECT = 4;

/** Guest RAM in a Uint8Array, recording every range a device reports writing. */
export class FakeRam implements GuestMemory {
  readonly u8: Uint8Array;
  readonly dv: DataView;
  /** Ranges reported through written(). */
  writes: [number, number][] = [];
  private next: number;

  constructor(readonly size = 1 << 20, readonly base = RAM_BASE) {
    this.u8 = new Uint8Array(size);
    this.dv = new DataView(this.u8.buffer);
    this.next = base + 0x1000;
  }

  written(pa: number, length: number): void {
    if (pa < this.base || pa + length > this.base + this.size) throw new Error(`device reported a write outside RAM at ${pa.toString(16)}`);
    this.writes.push([pa, length]);
  }

  /** Whether [pa, pa + len) was reported written. */
  reported(pa: number, len: number): boolean {
    return this.writes.some(([a, l]) => a <= pa && pa + len <= a + l);
  }

  /** Bump allocation of guest memory. */
  alloc(len: number, align = 16): number {
    this.next = Math.ceil(this.next / align) * align;
    const pa = this.next;
    this.next += Math.max(len, 1);
    if (this.next > this.base + this.size) throw new Error('test RAM exhausted');
    return pa;
  }

  o(pa: number): number { return pa - this.base; }
  u16(pa: number): number { return this.dv.getUint16(this.o(pa), true); }
  u32(pa: number): number { return this.dv.getUint32(this.o(pa), true); }
  setU16(pa: number, v: number): void { this.dv.setUint16(this.o(pa), v, true); }
  setU32(pa: number, v: number): void { this.dv.setUint32(this.o(pa), v >>> 0, true); }
  setU64(pa: number, v: number): void {
    this.setU32(pa, v % 0x100000000);
    this.setU32(pa + 4, Math.floor(v / 0x100000000));
  }
  bytes(pa: number, len: number): Uint8Array { return this.u8.slice(this.o(pa), this.o(pa) + len); }
  set(pa: number, data: Uint8Array): void { this.u8.set(data, this.o(pa)); }

  /** A copy with the same contents (a restored machine's RAM). */
  clone(): FakeRam {
    const r = new FakeRam(this.size, this.base);
    r.u8.set(this.u8);
    r.next = this.next;
    return r;
  }
}

export interface Rig<D extends VirtioDevice> {
  ram: FakeRam;
  irq: IrqLine;
  dev: D;
  mmio: VirtioMmio;
  logs: string[];
  wakes: { n: number };
}

export function rig<D extends VirtioDevice>(dev: D, ram = new FakeRam()): Rig<D> {
  const logs: string[] = [];
  const wakes = { n: 0 };
  const irq = new IrqLine(() => {});
  const mmio = new VirtioMmio(dev, { mem: ram, irq, log: (l) => logs.push(l), wake: () => { wakes.n++; } });
  return { ram, irq, dev, mmio, logs, wakes };
}

/** A JSON round trip, as a snapshot file would carry it. */
export function roundTrip(s: State): State {
  return JSON.parse(JSON.stringify(s)) as State;
}

export interface BufferSpec { out?: Uint8Array[]; in?: number[] }
export interface Added { head: number; inAddrs: number[]; outAddrs: number[] }

/** The driver's side of one split virtqueue. */
export class DriverQueue {
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  availIdx = 0;
  lastUsed = 0;
  private nextDesc = 0;

  constructor(readonly drv: Driver, readonly index: number, readonly size: number) {
    const ram = drv.ram;
    this.desc = ram.alloc(16 * size, 16);
    this.avail = ram.alloc(6 + 2 * size, 2);
    this.used = ram.alloc(6 + 8 * size, 4);
  }

  get ram(): FakeRam { return this.drv.ram; }

  /** Writes descriptor `i` of the table at `table`. */
  writeDesc(table: number, i: number, addr: number, len: number, flags: number, next: number): void {
    const pa = table + 16 * i;
    this.ram.setU64(pa, addr);
    this.ram.setU32(pa + 8, len);
    this.ram.setU16(pa + 12, flags);
    this.ram.setU16(pa + 14, next);
  }

  /** Buffers in RAM for the chain's parts: readable ones filled from `out`, writable ones of the given lengths. */
  private parts(b: BufferSpec): { addr: number; len: number; flags: number }[] {
    const out = (b.out ?? []).map((data) => {
      const addr = this.ram.alloc(data.length);
      this.ram.set(addr, data);
      return { addr, len: data.length, flags: 0 };
    });
    const ins = (b.in ?? []).map((len) => {
      const addr = this.ram.alloc(len);
      this.ram.u8.fill(0xee, this.ram.o(addr), this.ram.o(addr) + len);
      return { addr, len, flags: WRITE };
    });
    return [...out, ...ins];
  }

  /** Adds a direct chain and makes it available (without notifying). */
  add(b: BufferSpec): Added {
    const parts = this.parts(b);
    const ids = parts.map(() => this.takeDesc());
    parts.forEach((p, k) => {
      const last = k === parts.length - 1;
      this.writeDesc(this.desc, ids[k], p.addr, p.len, p.flags | (last ? 0 : NEXT), last ? 0 : ids[k + 1]);
    });
    this.publish(ids[0]);
    return this.added(ids[0], parts);
  }

  /** Adds a chain through one indirect descriptor (VIRTIO_RING_F_INDIRECT_DESC). */
  addIndirect(b: BufferSpec): Added {
    const parts = this.parts(b);
    const table = this.ram.alloc(16 * parts.length, 16);
    parts.forEach((p, k) => {
      const last = k === parts.length - 1;
      this.writeDesc(table, k, p.addr, p.len, p.flags | (last ? 0 : NEXT), last ? 0 : k + 1);
    });
    const head = this.takeDesc();
    this.writeDesc(this.desc, head, table, 16 * parts.length, INDIRECT, 0);
    this.publish(head);
    return this.added(head, parts);
  }

  private added(head: number, parts: { addr: number; len: number; flags: number }[]): Added {
    return {
      head,
      outAddrs: parts.filter((p) => !(p.flags & WRITE)).map((p) => p.addr),
      inAddrs: parts.filter((p) => p.flags & WRITE).map((p) => p.addr),
    };
  }

  takeDesc(): number {
    const i = this.nextDesc;
    this.nextDesc = (this.nextDesc + 1) % this.size;
    return i;
  }

  /** Puts `head` in the next available slot and bumps avail.idx. */
  publish(head: number): void {
    this.ram.setU16(this.avail + 4 + 2 * (this.availIdx % this.size), head);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.ram.setU16(this.avail + 2, this.availIdx);
  }

  kick(): void { this.drv.mmio.write(MMIO_QUEUE_NOTIFY, 4, this.index); }

  get usedIdx(): number { return this.ram.u16(this.used + 2); }

  /** Used entries the driver has not seen yet. */
  takeUsed(): { id: number; len: number }[] {
    const out: { id: number; len: number }[] = [];
    while (this.lastUsed !== this.usedIdx) {
      const e = this.used + 4 + 8 * (this.lastUsed % this.size);
      out.push({ id: this.ram.u32(e), len: this.ram.u32(e + 4) });
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
    }
    this.usedEvent = this.lastUsed; // as Linux's virtqueue_enable_cb: interrupt me for the next one
    return out;
  }

  set availFlags(v: number) { this.ram.setU16(this.avail, v); }
  /** used_event, at the end of the available ring (EVENT_IDX). */
  set usedEvent(v: number) { this.ram.setU16(this.avail + 4 + 2 * this.size, v); }
  /** avail_event, at the end of the used ring (EVENT_IDX). */
  get availEvent(): number { return this.ram.u16(this.used + 4 + 8 * this.size); }
}

export class Driver {
  readonly queues: DriverQueue[] = [];

  constructor(readonly mmio: VirtioMmio, readonly ram: FakeRam) {}

  r(off: number): number { return this.mmio.read(off, 4) >>> 0; }
  w(off: number, v: number): void { this.mmio.write(off, 4, v); }

  get status(): number { return this.r(MMIO_STATUS); }

  deviceFeatures(): [number, number] {
    this.w(MMIO_DEVICE_FEATURES_SEL, 0);
    const lo = this.r(MMIO_DEVICE_FEATURES);
    this.w(MMIO_DEVICE_FEATURES_SEL, 1);
    return [lo, this.r(MMIO_DEVICE_FEATURES)];
  }

  writeFeatures(bits: number[]): void {
    const words = [0, 0];
    for (const b of bits) words[b >> 5] = (words[b >> 5] | (1 << (b & 31))) >>> 0;
    this.w(MMIO_DRIVER_FEATURES_SEL, 0);
    this.w(MMIO_DRIVER_FEATURES, words[0]);
    this.w(MMIO_DRIVER_FEATURES_SEL, 1);
    this.w(MMIO_DRIVER_FEATURES, words[1]);
  }

  /** Reset, ACKNOWLEDGE, DRIVER, features (those wanted that the device offers), FEATURES_OK (3.1.1). */
  negotiate(wanted: number[]): boolean {
    this.w(MMIO_STATUS, 0);
    this.w(MMIO_STATUS, ACKNOWLEDGE);
    this.w(MMIO_STATUS, ACKNOWLEDGE | DRIVER);
    const offered = this.deviceFeatures();
    this.writeFeatures(wanted.filter((b) => ((offered[b >> 5] >>> (b & 31)) & 1) === 1));
    this.w(MMIO_STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK);
    return (this.status & FEATURES_OK) !== 0;
  }

  setupQueue(index: number, size?: number): DriverQueue {
    this.w(MMIO_QUEUE_SEL, index);
    const n = size ?? this.r(MMIO_QUEUE_NUM_MAX);
    const q = new DriverQueue(this, index, n);
    this.w(MMIO_QUEUE_NUM, n);
    this.w(MMIO_QUEUE_DESC_LOW, q.desc % 0x100000000);
    this.w(MMIO_QUEUE_DESC_HIGH, Math.floor(q.desc / 0x100000000));
    this.w(MMIO_QUEUE_DRIVER_LOW, q.avail % 0x100000000);
    this.w(MMIO_QUEUE_DRIVER_HIGH, Math.floor(q.avail / 0x100000000));
    this.w(MMIO_QUEUE_DEVICE_LOW, q.used % 0x100000000);
    this.w(MMIO_QUEUE_DEVICE_HIGH, Math.floor(q.used / 0x100000000));
    this.w(MMIO_QUEUE_READY, 1);
    this.queues[index] = q;
    return q;
  }

  driverOk(): void { this.w(MMIO_STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK); }

  /** Negotiates, sets up `count` queues and sets DRIVER_OK. */
  start(wanted: number[], count: number): DriverQueue[] {
    if (!this.negotiate(wanted)) throw new Error('FEATURES_OK refused');
    const qs: DriverQueue[] = [];
    for (let i = 0; i < count; i++) qs.push(this.setupQueue(i));
    this.driverOk();
    return qs;
  }

  /** Reads and acknowledges InterruptStatus, as an interrupt handler does. */
  ack(): number {
    const s = this.r(MMIO_INTERRUPT_STATUS);
    this.w(MMIO_INTERRUPT_ACK, s);
    return s;
  }

  /** The same driver state over another transport (a restored machine): queues keep their places. */
  over(mmio: VirtioMmio, ram: FakeRam): Driver {
    const d = new Driver(mmio, ram);
    for (const q of this.queues) {
      if (q === undefined) continue;
      const c = Object.assign(Object.create(DriverQueue.prototype) as DriverQueue, q, { drv: d });
      d.queues[q.index] = c;
    }
    return d;
  }
}

/** Lets pending promise callbacks (backend completions) run, as the machine does between slices. */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export { prng } from '../../helpers.js';

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (b: Uint8Array): string => new TextDecoder().decode(b);
