/**
 * virtio-rng, the entropy device (virtio 1.2, 5.4): every buffer the driver offers comes back filled with
 * random bytes from the host's CSPRNG, at once.
 */
import { randomFillSync } from 'node:crypto';
import type { State } from '../stateful.js';
import { VIRTIO_ID_RNG, type VirtioDevice, type VirtioHost } from './device.js';
import { VirtqueueError } from './queue.js';
import { record } from '../state.js';

export const RNG_QUEUE_SIZE = 64;
/**
 * Bytes given per buffer at most. The device may fill less than offered (the used length says how much),
 * and a guest offering gigabytes would otherwise stall the machine inside one notification.
 */
export const RNG_MAX_BYTES = 64 * 1024;

export class VirtioRng implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_RNG;
  readonly name = 'virtio-rng';
  readonly features: readonly number[] = [];
  readonly queueSizes = [RNG_QUEUE_SIZE];
  private host!: VirtioHost;

  /** Where the entropy comes from (node:crypto by default; tests may pass their own). */
  constructor(private readonly fill: (dst: Uint8Array) => void = (dst) => { randomFillSync(dst); }) {}

  attach(host: VirtioHost): void { this.host = host; }
  readConfig(): number { return 0; } // no configuration space
  writeConfig(): void {}
  activate(): void {}
  reset(): void {}

  notify(index: number): void {
    const q = this.host.queues[index];
    let done = false;
    for (let chain = q.pop(); chain !== null; chain = q.pop()) {
      // 5.4.6.1: the driver offers only device-writable buffers.
      if (chain.readableLength > 0) throw new VirtqueueError('device-readable buffer in the entropy queue');
      const bytes = new Uint8Array(Math.min(chain.writableLength, RNG_MAX_BYTES));
      this.fill(bytes);
      q.push(chain.head, chain.write(0, bytes));
      done = true;
    }
    if (done) this.host.usedBuffers(index);
  }

  /** Nothing beyond the queues: buffers are answered within the notification that brings them. */
  save(): State { return {}; }
  restore(s: State): void { record(s, 'virtio-rng'); }
}
