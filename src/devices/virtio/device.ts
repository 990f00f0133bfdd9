/**
 * What a virtio device is to its transport (virtio 1.2, 2 and 5): an id, feature bits, queues and a
 * configuration space. The transport (mmio.ts) owns the common registers, feature negotiation, the
 * virtqueues and interrupts; a device only turns buffers into work.
 */
import type { State, Stateful } from '../stateful.js';
import type { GuestMemory, Virtqueue } from './queue.js';

// Device IDs (5).
export const VIRTIO_ID_NET = 1;
export const VIRTIO_ID_BLOCK = 2;
export const VIRTIO_ID_CONSOLE = 3;
export const VIRTIO_ID_RNG = 4;
export const VIRTIO_ID_INPUT = 18;

// Device status bits (2.1).
export const VIRTIO_STATUS_ACKNOWLEDGE = 1;
export const VIRTIO_STATUS_DRIVER = 2;
export const VIRTIO_STATUS_DRIVER_OK = 4;
export const VIRTIO_STATUS_FEATURES_OK = 8;
export const VIRTIO_STATUS_DEVICE_NEEDS_RESET = 64;
export const VIRTIO_STATUS_FAILED = 128;

// Reserved feature bits (6) the transport offers for every device.
export const VIRTIO_RING_F_INDIRECT_DESC = 28;
export const VIRTIO_RING_F_EVENT_IDX = 29;
export const VIRTIO_F_VERSION_1 = 32;

// InterruptStatus bits (4.2.2).
export const VIRTIO_INT_USED_BUFFER = 1;
export const VIRTIO_INT_CONFIG = 2;

/** What the transport gives a device: its queues, the negotiated features, and ways to reach the driver. */
export interface VirtioHost {
  readonly mem: GuestMemory;
  readonly queues: readonly Virtqueue[];
  /** Whether the driver accepted feature `bit` (valid once FEATURES_OK is set). */
  hasFeature(bit: number): boolean;
  /** DRIVER_OK is set and the device has not given up: queues may be used. */
  readonly active: boolean;
  /** Buffers were returned on queue `index`: notify the driver unless it suppressed that. */
  usedBuffers(index: number): void;
  /** The device changed its configuration space: new generation, configuration change notification. */
  configChanged(): void;
  /** The driver broke a rule: DEVICE_NEEDS_RESET, configuration change notification, one log line. */
  fail(reason: string): void;
  /**
   * Runs `work` (queue handling), turning a VirtqueueError, or any other exception, into fail(): nothing a
   * driver does escapes the device. Returns false when it failed.
   */
  guard(work: () => void): boolean;
}

export interface VirtioDevice extends Stateful {
  readonly deviceId: number;
  /** Short name for log lines, e.g. "virtio-blk". */
  readonly name: string;
  /** Device-specific feature bits offered (bit numbers below 24); the transport adds the ring features. */
  readonly features: readonly number[];
  /** QueueSizeMax of each queue (powers of 2); their number is the number of queues. */
  readonly queueSizes: readonly number[];
  /** Called once, before anything else, by the transport the device is placed in. */
  attach(host: VirtioHost): void;
  /** Device-specific configuration space (at 0x100 on MMIO); `size` is 1, 2 or 4, little-endian. */
  readConfig(offset: number, size: number): number;
  writeConfig(offset: number, size: number, value: number): void;
  /** The driver set DRIVER_OK. */
  activate(): void;
  /** The driver notified queue `index` (only when active and the queue is ready); may throw VirtqueueError. */
  notify(index: number): void;
  /** Device reset (status 0): forget every buffer; host-side state that is not the driver's (queued input) stays. */
  reset(): void;
  /**
   * Resolves once no host work for the guest's requests is running (Machine.quiesce, before a save).
   * A device whose requests in flight cannot be replayed after a restore answers them all first.
   */
  idle?(): Promise<void>;
  /**
   * Whether host work for the guest's requests is under way. While it is, the machine yields to the event
   * loop every millisecond instead of every 8 ms turn, so a driver that polls for completion (a boot
   * loader) sees its request done about as soon as the host is.
   */
  hostWorking?(): boolean;
  /** Device state beyond the transport's and the queues': buffers in flight, queued host input. */
  save(): State;
  /** Called by the transport after its own and the queues' state is back, so buffers in flight can resume. */
  restore(s: State): void;
}

/** A little-endian configuration structure: the device fills `bytes`, the driver reads them. */
export class ConfigSpace {
  readonly bytes: Uint8Array;
  readonly view: DataView;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  /** Reads outside the structure return 0 (the driver must not make them; 4.2.2.2). */
  read(offset: number, size: number): number {
    if (offset < 0 || offset + size > this.bytes.length) return 0;
    switch (size) {
      case 1: return this.view.getUint8(offset);
      case 2: return this.view.getUint16(offset, true);
      case 4: return this.view.getUint32(offset, true);
      default: return 0;
    }
  }

  setU8(offset: number, v: number): void { this.view.setUint8(offset, v); }
  setU16(offset: number, v: number): void { this.view.setUint16(offset, v, true); }
  setU32(offset: number, v: number): void { this.view.setUint32(offset, v >>> 0, true); }
  setU64(offset: number, v: number): void {
    this.view.setUint32(offset, v % 0x100000000, true);
    this.view.setUint32(offset + 4, Math.floor(v / 0x100000000), true);
  }
}
