/**
 * virtio-console with a single port (virtio 1.2, 5.3; no VIRTIO_CONSOLE_F_MULTIPORT), which Linux makes
 * hvc0. Output leaves within the notification that brings it: Linux's hvc driver spins until its transmit
 * buffer is used. Host input waits in a host-side queue until the driver offers receive buffers, so
 * nothing the host sends is dropped.
 */
import type { State } from '../stateful.js';
import { ConfigSpace, VIRTIO_ID_CONSOLE, type VirtioDevice, type VirtioHost } from './device.js';
import { HostInput } from './host-input.js';
import { VirtqueueError } from './queue.js';
import { blob, record, toBlob, uint } from '../state.js';

// Feature bits (5.3.3).
export const VIRTIO_CONSOLE_F_SIZE = 0;
export const VIRTIO_CONSOLE_F_EMERG_WRITE = 2;

/** Port 0's queues (5.3.2). */
export const CONSOLE_RX = 0;
export const CONSOLE_TX = 1;
export const CONSOLE_QUEUE_SIZE = 64;

// Configuration space (5.3.4): cols, rows, max_nr_ports, emerg_wr.
const CFG_COLS = 0;
const CFG_ROWS = 2;
const CFG_EMERG_WR = 8;
const CONFIG_SIZE = 12;

export interface VirtioConsoleOptions {
  /** The terminal's size, offered with VIRTIO_CONSOLE_F_SIZE; without it the feature is not offered. */
  size?: { cols: number; rows: number };
}

export class VirtioConsole implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_CONSOLE;
  readonly name = 'virtio-console';
  readonly features: readonly number[];
  readonly queueSizes = [CONSOLE_QUEUE_SIZE, CONSOLE_QUEUE_SIZE];
  private host!: VirtioHost;
  private readonly config = new ConfigSpace(CONFIG_SIZE);
  /** Host input not yet in a receive buffer. */
  private readonly input = new HostInput();

  constructor(private readonly output: (bytes: Uint8Array) => void, opts: VirtioConsoleOptions = {}) {
    const f = [VIRTIO_CONSOLE_F_EMERG_WRITE];
    if (opts.size !== undefined) {
      f.push(VIRTIO_CONSOLE_F_SIZE);
      this.setSize(opts.size.cols, opts.size.rows);
    }
    this.features = f;
  }

  attach(host: VirtioHost): void { this.host = host; }

  readConfig(offset: number, size: number): number { return this.config.read(offset, size); }

  /** 5.3.5.1: emerg_wr takes a byte at any time, even before the driver set anything up. */
  writeConfig(offset: number, _size: number, value: number): void {
    if (offset === CFG_EMERG_WR) this.output(Uint8Array.of(value & 0xff));
  }

  /** The host terminal changed size: with VIRTIO_CONSOLE_F_SIZE the driver hears of it (5.3.6). */
  resize(cols: number, rows: number): void {
    if (!this.features.includes(VIRTIO_CONSOLE_F_SIZE)) return;
    this.setSize(cols, rows);
    this.host.configChanged();
  }

  private setSize(cols: number, rows: number): void {
    this.config.setU16(CFG_COLS, Math.max(0, Math.min(0xffff, Math.floor(cols))));
    this.config.setU16(CFG_ROWS, Math.max(0, Math.min(0xffff, Math.floor(rows))));
  }

  /** Host input for the guest: delivered as receive buffers allow, in order, none dropped. */
  receive(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.input.push(bytes);
    this.deliver();
  }

  /** Bytes of host input waiting for receive buffers. */
  get queued(): number { return this.input.length; }

  activate(): void { this.deliver(); }

  notify(index: number): void {
    if (index === CONSOLE_RX) { this.fillReceive(); return; }
    const q = this.host.queues[index];
    let done = false;
    for (let chain = q.pop(); chain !== null; chain = q.pop()) {
      // 5.3.6.1: the transmit queue holds only device-readable buffers.
      if (chain.writableLength > 0) throw new VirtqueueError('device-writable buffer in the transmit queue');
      if (chain.readableLength > 0) this.output(chain.readBytes(0, chain.readableLength));
      q.push(chain.head, 0);
      done = true;
    }
    if (done) this.host.usedBuffers(index);
  }

  /** Moves queued input into receive buffers, when the driver is up; host-side callers land here. */
  private deliver(): void {
    if (this.host === undefined || !this.host.active || this.input.length === 0) return;
    this.host.guard(() => this.fillReceive());
  }

  private fillReceive(): void {
    const q = this.host.queues[CONSOLE_RX];
    let done = false;
    while (this.input.length > 0 && q.hasAvailable()) {
      const chain = q.pop();
      if (chain === null) break;
      // 5.3.6.1: the receive queue holds only device-writable buffers.
      if (chain.readableLength > 0) throw new VirtqueueError('device-readable buffer in the receive queue');
      q.push(chain.head, this.input.fill(chain));
      done = true;
    }
    if (done) this.host.usedBuffers(CONSOLE_RX);
  }

  /** Queued input stays across a reset: it is the host's, and the next driver gets it. */
  reset(): void {}

  save(): State {
    return {
      input: toBlob(this.input.bytes()),
      cols: this.config.read(CFG_COLS, 2), rows: this.config.read(CFG_ROWS, 2),
    };
  }

  restore(s: State): void {
    const what = 'virtio-console';
    const o = record(s, what);
    const input = blob(o, 'input', what);
    const cols = uint(o, 'cols', 0xffff, what);
    const rows = uint(o, 'rows', 0xffff, what);
    this.input.set(input);
    this.setSize(cols, rows);
    this.deliver();
  }
}
