/**
 * virtio-9p (device id 9 in virtio 1.2, 5; the 9P transport of QEMU and Linux): one request queue; each buffer carries a
 * T-message in its device-readable part and room for the R-message in its device-writable part. Requests
 * are served one at a time by the P9Server (host I/O is asynchronous) and completed in order.
 */
import type { State } from '../../stateful.js';
import type { VirtioDevice, VirtioHost } from '../device.js';
import { VirtqueueError, type DescriptorChain } from '../queue.js';
import { record } from '../../state.js';
import type { P9Server } from './server.js';

export const VIRTIO_ID_9P = 9;
/** VIRTIO_9P_MOUNT_TAG: the configuration space holds the mount tag. */
const VIRTIO_9P_MOUNT_TAG = 0;
const QUEUE_SIZE = 128;
/** The largest T-message accepted (msize is negotiated far below this). */
const MAX_REQUEST = 1 << 20;

export class Virtio9p implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_9P;
  readonly name = 'virtio-9p';
  readonly features: readonly number[] = [VIRTIO_9P_MOUNT_TAG];
  readonly queueSizes = [QUEUE_SIZE];
  private host!: VirtioHost;
  private readonly config: Uint8Array;
  /** Bumped on reset: replies to requests of an earlier epoch are dropped. */
  private epoch = 0;
  private pending: DescriptorChain[] = [];
  private busy = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly server: P9Server) {
    this.config = server.configSpace();
  }

  attach(host: VirtioHost): void { this.host = host; }

  readConfig(offset: number, size: number): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= (this.config[offset + i] ?? 0) << (8 * i);
    return v >>> 0;
  }

  writeConfig(): void { /* read-only */ }
  activate(): void {}

  reset(): void {
    this.epoch++;
    this.pending = [];
    this.server.reset();
  }

  notify(index: number): void {
    const q = this.host.queues[index];
    for (let chain = q.pop(); chain !== null; chain = q.pop()) {
      if (chain.readableLength < 7 || chain.readableLength > MAX_REQUEST) throw new VirtqueueError('9p request of impossible size');
      this.pending.push(chain);
    }
    void this.serve();
  }

  private async serve(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.pending.length > 0) {
        const epoch = this.epoch;
        const chain = this.pending.shift() as DescriptorChain;
        const reply = await this.server.handle(chain.readBytes(0, chain.readableLength));
        if (epoch !== this.epoch) continue; // the driver reset the device meanwhile
        this.host.guard(() => {
          const q = this.host.queues[0];
          q.push(chain.head, chain.write(0, reply));
          this.host.usedBuffers(0);
        });
      }
    } finally {
      this.busy = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /**
   * Resolves once every request taken is answered. A 9P request cannot be replayed (a Tremove or Twrite
   * done twice is not the same), so the machine waits for this, paused, before it is saved.
   */
  idle(): Promise<void> {
    if (!this.busy && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  hostWorking(): boolean { return this.busy; }

  /** Requests in flight are not kept across a snapshot (drain them first: idle()); the fid table lives in the server's own state. */
  save(): State { return { server: this.server.save() }; }
  restore(s: State): void {
    const r = record(s, 'virtio-9p');
    this.epoch++;
    this.pending = [];
    this.server.restore(r.server ?? null);
  }
}
