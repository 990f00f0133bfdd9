/**
 * The virtio-mmio transport, version 2 (virtio 1.2, 4.2.2): the register block a driver finds at a slot,
 * feature negotiation (3.1.1), virtqueue setup, notifications both ways, and the device's configuration
 * space at 0x100. One transport holds one device.
 *
 * A driver that breaks a rule never takes the machine down: the transport sets DEVICE_NEEDS_RESET (2.1.2),
 * raises a configuration change notification, logs one line for the life of the device, and ignores the
 * device's queues until the driver resets it.
 *
 * Where QEMU's virtio-mmio (hw/virtio/virtio-mmio.c, virtio.c) lets a real driver through, so does this
 * transport, since such drivers exist and run on QEMU: xv6 and other small kernels read only the low 32
 * feature bits and set FEATURES_OK without VIRTIO_F_VERSION_1 (they are modern drivers that forgot the bit:
 * the split ring is the same); U-Boot's legacy-style path sets DRIVER_OK without FEATURES_OK; features the
 * device did not offer are dropped rather than refused; a notification of a queue the device lacks, or that
 * is not ready, is ignored. DEVICE_NEEDS_RESET stays for what QEMU also calls broken (rings outside RAM,
 * bad chains).
 */
import type { IrqLine, MmioDevice } from '../mmio.js';
import type { State, Stateful } from '../stateful.js';
import {
  VIRTIO_F_VERSION_1, VIRTIO_INT_CONFIG, VIRTIO_INT_USED_BUFFER, VIRTIO_RING_F_EVENT_IDX,
  VIRTIO_RING_F_INDIRECT_DESC, VIRTIO_STATUS_DEVICE_NEEDS_RESET, VIRTIO_STATUS_DRIVER_OK,
  VIRTIO_STATUS_FEATURES_OK, type VirtioDevice, type VirtioHost,
} from './device.js';
import { type GuestMemory, Virtqueue, VirtqueueError } from './queue.js';
import { bool, list, record, uint } from '../state.js';

// Register offsets (4.2.2, table "MMIO Device Register Layout").
export const MMIO_MAGIC_VALUE = 0x000;
export const MMIO_VERSION = 0x004;
export const MMIO_DEVICE_ID = 0x008;
export const MMIO_VENDOR_ID = 0x00c;
export const MMIO_DEVICE_FEATURES = 0x010;
export const MMIO_DEVICE_FEATURES_SEL = 0x014;
export const MMIO_DRIVER_FEATURES = 0x020;
export const MMIO_DRIVER_FEATURES_SEL = 0x024;
export const MMIO_QUEUE_SEL = 0x030;
export const MMIO_QUEUE_NUM_MAX = 0x034;
export const MMIO_QUEUE_NUM = 0x038;
export const MMIO_QUEUE_READY = 0x044;
export const MMIO_QUEUE_NOTIFY = 0x050;
export const MMIO_INTERRUPT_STATUS = 0x060;
export const MMIO_INTERRUPT_ACK = 0x064;
export const MMIO_STATUS = 0x070;
export const MMIO_QUEUE_DESC_LOW = 0x080;
export const MMIO_QUEUE_DESC_HIGH = 0x084;
export const MMIO_QUEUE_DRIVER_LOW = 0x090;
export const MMIO_QUEUE_DRIVER_HIGH = 0x094;
export const MMIO_QUEUE_DEVICE_LOW = 0x0a0;
export const MMIO_QUEUE_DEVICE_HIGH = 0x0a4;
export const MMIO_SHM_SEL = 0x0ac;
export const MMIO_SHM_LEN_LOW = 0x0b0;
export const MMIO_SHM_LEN_HIGH = 0x0b4;
export const MMIO_SHM_BASE_LOW = 0x0b8;
export const MMIO_SHM_BASE_HIGH = 0x0bc;
export const MMIO_QUEUE_RESET = 0x0c0;
export const MMIO_CONFIG_GENERATION = 0x0fc;
export const MMIO_CONFIG = 0x100;

const MAGIC = 0x74726976; // "virt"
const VERSION = 2;
const VENDOR = 0x554d4551; // "QEMU", as the empty slots beside it report

/** Feature bits every device gets from the transport and ring (6). */
const TRANSPORT_FEATURES = [VIRTIO_RING_F_INDIRECT_DESC, VIRTIO_RING_F_EVENT_IDX, VIRTIO_F_VERSION_1];

export interface VirtioMmioOptions {
  /** Guest RAM, where the virtqueues and buffers live. */
  mem: GuestMemory;
  /** The slot's interrupt line (a PLIC source on the virt board). */
  irq: IrqLine;
  /** Diagnostics, one line each: at most one per device, when a driver breaks a rule. */
  log: (line: string) => void;
  /**
   * Called whenever the device raises its interrupt. Host I/O completes between execution slices, so a
   * machine asleep in WFI needs this to resume at once rather than at its next deadline.
   */
  wake?: () => void;
  /** Name in log lines; default the device's. */
  name?: string;
}

export class VirtioMmio implements MmioDevice, Stateful {
  readonly queues: readonly Virtqueue[];
  private readonly offered: [number, number];
  private status = 0;
  private needsReset = false;
  /** One log line per device, even across resets: a guest that breaks its device in a loop cannot flood the log. */
  private logged = false;
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private driverFeatures: [number, number] = [0, 0];
  /** The features in force, fixed when FEATURES_OK was accepted. */
  private negotiated: [number, number] = [0, 0];
  private queueSel = 0;
  private interruptStatus = 0;
  private configGeneration = 0;
  private readonly irq: IrqLine;
  private readonly log: (line: string) => void;
  private readonly wake: () => void;
  private readonly name: string;

  constructor(readonly device: VirtioDevice, opts: VirtioMmioOptions) {
    this.irq = opts.irq;
    this.log = opts.log;
    this.wake = opts.wake ?? (() => {});
    this.name = opts.name ?? device.name;
    this.queues = device.queueSizes.map((n) => new Virtqueue(opts.mem, n));
    const offered: [number, number] = [0, 0];
    for (const bit of [...device.features, ...TRANSPORT_FEATURES]) {
      if (!Number.isInteger(bit) || bit < 0 || bit > 63) throw new Error(`${this.name}: feature bit ${bit} out of range`);
      offered[bit >> 5] = (offered[bit >> 5] | (1 << (bit & 31))) >>> 0;
    }
    this.offered = offered;
    const self = this;
    const host: VirtioHost = {
      mem: opts.mem,
      queues: this.queues,
      hasFeature: (bit) => self.hasFeature(bit),
      get active() { return (self.status & VIRTIO_STATUS_DRIVER_OK) !== 0 && !self.needsReset; },
      usedBuffers: (index) => self.usedBuffers(index),
      configChanged: () => self.configChanged(),
      fail: (reason) => self.fail(reason),
      guard: (work) => self.guard(work),
    };
    device.attach(host);
  }

  /** Whether DEVICE_NEEDS_RESET is set (the device gave up on its driver). */
  get broken(): boolean { return this.needsReset; }

  read(offset: number, size: number): number {
    if (offset >= MMIO_CONFIG) return this.device.readConfig(offset - MMIO_CONFIG, size) >>> 0;
    // 4.2.2.2: the control registers are 32 bits wide and aligned; anything else reads as 0.
    if (size !== 4 || (offset & 3) !== 0) return 0;
    const q = this.queues[this.queueSel];
    switch (offset) {
      case MMIO_MAGIC_VALUE: return MAGIC;
      case MMIO_VERSION: return VERSION;
      case MMIO_DEVICE_ID: return this.device.deviceId;
      case MMIO_VENDOR_ID: return VENDOR;
      case MMIO_DEVICE_FEATURES: return this.deviceFeaturesSel < 2 ? this.offered[this.deviceFeaturesSel] : 0;
      case MMIO_QUEUE_NUM_MAX: return q === undefined ? 0 : q.maxSize;
      case MMIO_QUEUE_READY: return q !== undefined && q.ready ? 1 : 0;
      case MMIO_INTERRUPT_STATUS: return this.interruptStatus;
      case MMIO_STATUS: return (this.status | (this.needsReset ? VIRTIO_STATUS_DEVICE_NEEDS_RESET : 0)) >>> 0;
      // No shared memory regions: length and base of every one read as -1 (4.2.2).
      case MMIO_SHM_LEN_LOW: case MMIO_SHM_LEN_HIGH: case MMIO_SHM_BASE_LOW: case MMIO_SHM_BASE_HIGH:
        return 0xffffffff;
      case MMIO_CONFIG_GENERATION: return this.configGeneration;
      default: return 0; // write-only registers, QueueReset (VIRTIO_F_RING_RESET is not offered), holes
    }
  }

  write(offset: number, size: number, value: number): void {
    if (offset >= MMIO_CONFIG) {
      this.device.writeConfig(offset - MMIO_CONFIG, size, value);
      return;
    }
    if (size !== 4 || (offset & 3) !== 0) return;
    const v = value >>> 0;
    const q = this.queues[this.queueSel];
    // 4.2.2.2: the queue's layout registers are not touched while it is ready; writes then are ignored.
    const idle = q !== undefined && !q.ready ? q : undefined;
    switch (offset) {
      case MMIO_DEVICE_FEATURES_SEL: this.deviceFeaturesSel = v; break;
      case MMIO_DRIVER_FEATURES_SEL: this.driverFeaturesSel = v; break;
      case MMIO_DRIVER_FEATURES:
        // Features are fixed once FEATURES_OK (or, without it, DRIVER_OK) is set (3.1.1).
        if (this.driverFeaturesSel < 2 && !(this.status & (VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK))) {
          this.driverFeatures[this.driverFeaturesSel] = v;
        }
        break;
      case MMIO_QUEUE_SEL: this.queueSel = v; break;
      case MMIO_QUEUE_NUM: if (idle) idle.size = v; break;
      case MMIO_QUEUE_READY: this.writeQueueReady(v); break;
      case MMIO_QUEUE_NOTIFY: this.notify(v); break;
      case MMIO_INTERRUPT_ACK:
        this.interruptStatus &= ~v;
        this.irq.set(this.interruptStatus !== 0);
        break;
      case MMIO_STATUS: this.writeStatus(v & 0xff); break;
      case MMIO_QUEUE_DESC_LOW: if (idle) idle.descLo = v; break;
      case MMIO_QUEUE_DESC_HIGH: if (idle) idle.descHi = v; break;
      case MMIO_QUEUE_DRIVER_LOW: if (idle) idle.driverLo = v; break;
      case MMIO_QUEUE_DRIVER_HIGH: if (idle) idle.driverHi = v; break;
      case MMIO_QUEUE_DEVICE_LOW: if (idle) idle.deviceLo = v; break;
      case MMIO_QUEUE_DEVICE_HIGH: if (idle) idle.deviceHi = v; break;
      default: break; // read-only registers, SHMSel, QueueReset, holes
    }
  }

  private hasFeature(bit: number): boolean {
    return bit >= 0 && bit < 64 && ((this.negotiated[bit >> 5] >>> (bit & 31)) & 1) === 1;
  }

  private writeQueueReady(v: number): void {
    const q = this.queues[this.queueSel];
    if (q === undefined) return;
    if ((v & 1) === 0) { q.ready = false; return; }
    if (q.ready || this.needsReset) return;
    q.indirect = this.hasFeature(VIRTIO_RING_F_INDIRECT_DESC);
    q.eventIdx = this.hasFeature(VIRTIO_RING_F_EVENT_IDX);
    this.guard(() => q.enable());
  }

  /** 3.1.1: the driver sets status bits one step at a time; 0 resets the device. */
  private writeStatus(v: number): void {
    if (v === 0) { this.reset(); return; }
    const before = this.status;
    const next = v & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET; // the device's bit, not the driver's
    const settle = !(before & (VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK));
    // Features take effect at FEATURES_OK or, for a driver that never sets it (U-Boot without VERSION_1;
    // QEMU keeps its features as they are then), at DRIVER_OK.
    if (settle && (next & (VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK))) {
      this.negotiated = this.acceptFeatures();
      for (const q of this.queues) {
        q.indirect = this.hasFeature(VIRTIO_RING_F_INDIRECT_DESC);
        q.eventIdx = this.hasFeature(VIRTIO_RING_F_EVENT_IDX);
      }
    }
    this.status = next;
    if ((next & VIRTIO_STATUS_DRIVER_OK) && !(before & VIRTIO_STATUS_DRIVER_OK) && !this.needsReset) {
      if (!this.guard(() => this.device.activate())) return;
      // Buffers a driver made available (and notified) before DRIVER_OK are taken now: QEMU serves such
      // notifications at once; the spec (3.1.1) lets the device wait until DRIVER_OK.
      for (let i = 0; i < this.queues.length && !this.needsReset; i++) {
        const q = this.queues[i];
        if (q.live) this.guard(() => { if (q.hasAvailable()) this.device.notify(i); });
      }
    }
  }

  /**
   * The features in force: what the driver accepted of what the device offered. QEMU's
   * virtio_set_features() drops bits that were not offered and its virtio-mmio ignores the refusal, and
   * accepts a driver without VIRTIO_F_VERSION_1 as it is (a modern ring either way), so FEATURES_OK always
   * sticks.
   */
  private acceptFeatures(): [number, number] {
    const [lo, hi] = this.driverFeatures;
    return [(lo & this.offered[0]) >>> 0, (hi & this.offered[1]) >>> 0];
  }

  private notify(v: number): void {
    if (this.needsReset) return;
    const index = v & 0xffff; // without VIRTIO_F_NOTIFICATION_DATA the value is the queue index
    const q = this.queues[index];
    // QEMU ignores a notification of a queue that does not exist or has no rings; one before DRIVER_OK
    // waits (3.1.1) and its buffers are taken when the driver sets DRIVER_OK.
    if (q === undefined || !q.ready || !(this.status & VIRTIO_STATUS_DRIVER_OK)) return;
    this.guard(() => this.device.notify(index));
  }

  private usedBuffers(index: number): void {
    const q = this.queues[index];
    if (q !== undefined && q.needsInterrupt()) this.raise(VIRTIO_INT_USED_BUFFER);
  }

  private configChanged(): void {
    this.configGeneration = (this.configGeneration + 1) >>> 0;
    if (this.status & VIRTIO_STATUS_DRIVER_OK) this.raise(VIRTIO_INT_CONFIG);
  }

  private raise(bit: number): void {
    this.interruptStatus |= bit;
    this.irq.set(true);
    this.wake();
  }

  private fail(reason: string): void {
    if (this.needsReset) return;
    this.needsReset = true;
    for (const q of this.queues) q.stop();
    this.raise(VIRTIO_INT_CONFIG);
    if (!this.logged) {
      this.logged = true;
      this.log(`${this.name}: ${reason}; device needs reset`);
    }
  }

  private guard(work: () => void): boolean {
    try {
      work();
      return true;
    } catch (e) {
      if (e instanceof VirtqueueError) this.fail(`driver error: ${e.message}`);
      else this.fail(`internal error: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    }
  }

  /**
   * Device reset (2.4): everything the driver set up is forgotten. The driver does this by writing 0 to
   * Status; the board does it when the machine resets.
   */
  reset(): void {
    this.status = 0;
    this.needsReset = false;
    this.deviceFeaturesSel = this.driverFeaturesSel = 0;
    this.driverFeatures = [0, 0];
    this.negotiated = [0, 0];
    this.queueSel = 0;
    this.interruptStatus = 0;
    this.irq.set(false);
    for (const q of this.queues) q.reset();
    this.guard(() => this.device.reset());
  }

  save(): State {
    return {
      ...this.transportState(),
      queues: this.queues.map((q) => q.save()),
      device: this.device.save(),
    };
  }

  restore(s: State): void {
    const what = this.name;
    const o = record(s, what);
    const u32 = (k: string): number => uint(o, k, 0xffffffff, what);
    const pair = (k: string): [number, number] => {
      const a = list(o, k, what);
      const [lo, hi] = a;
      const ok = (x: State | undefined): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
      if (a.length !== 2 || !ok(lo) || !ok(hi)) throw new Error(`${what} state: bad ${k}`);
      return [lo, hi];
    };
    const v: TransportState = {
      status: uint(o, 'status', 0xff, what), needsReset: bool(o, 'needsReset', what), logged: bool(o, 'logged', what),
      deviceFeaturesSel: u32('deviceFeaturesSel'), driverFeaturesSel: u32('driverFeaturesSel'),
      driverFeatures: pair('driverFeatures'), negotiated: pair('negotiated'),
      queueSel: u32('queueSel'), interruptStatus: uint(o, 'interruptStatus', 3, what),
      configGeneration: u32('configGeneration'),
    };
    const queues = list(o, 'queues', what);
    if (queues.length !== this.queues.length) throw new Error(`${what} state: ${queues.length} queues, the device has ${this.queues.length}`);
    const device = o.device;
    if (device === undefined) throw new Error(`${what} state: no device state`);
    const prior = this.transportState();
    const priorQueues = this.queues.map((q) => q.save());
    try {
      // The device resumes its buffers in flight last, when the transport and the queues are back.
      this.take(v);
      this.queues.forEach((q, i) => q.restore(queues[i]));
      this.device.restore(device);
    } catch (e) {
      this.take(prior);
      this.queues.forEach((q, i) => q.restore(priorQueues[i]));
      throw e;
    }
    this.irq.set(this.interruptStatus !== 0);
  }

  private transportState(): TransportState {
    return {
      status: this.status, needsReset: this.needsReset, logged: this.logged,
      deviceFeaturesSel: this.deviceFeaturesSel, driverFeaturesSel: this.driverFeaturesSel,
      driverFeatures: [...this.driverFeatures], negotiated: [...this.negotiated],
      queueSel: this.queueSel, interruptStatus: this.interruptStatus, configGeneration: this.configGeneration,
    };
  }

  private take(v: TransportState): void {
    this.status = v.status;
    this.needsReset = v.needsReset;
    this.logged = v.logged;
    this.deviceFeaturesSel = v.deviceFeaturesSel;
    this.driverFeaturesSel = v.driverFeaturesSel;
    this.driverFeatures = [...v.driverFeatures];
    this.negotiated = [...v.negotiated];
    this.queueSel = v.queueSel;
    this.interruptStatus = v.interruptStatus;
    this.configGeneration = v.configGeneration;
  }
}

interface TransportState {
  status: number; needsReset: boolean; logged: boolean;
  deviceFeaturesSel: number; driverFeaturesSel: number;
  driverFeatures: [number, number]; negotiated: [number, number];
  queueSel: number; interruptStatus: number; configGeneration: number;
}
