/**
 * The guest agent's channel: a virtio-console device (virtio 1.2, 5.3) with VIRTIO_CONSOLE_F_MULTIPORT and
 * exactly one port, id 0, named "org.bonsai.agent.0". Linux makes it a plain character device,
 * /dev/vportNp0, with the name in /sys/class/virtio-ports/vportNp0/name, not a console.
 *
 * Queues (5.3.2): 0/1 port 0's receive/transmit, 2/3 the control receive/transmit queues. With MULTIPORT a
 * driver adds no port until the device names one over the control queue (5.3.6.1), so the handshake is:
 *   driver DEVICE_READY(1)       → device DEVICE_ADD(0)
 *   driver PORT_READY(0, 1)      → device PORT_NAME(0) + the name, PORT_OPEN(0, 1): the host end is open
 *   driver PORT_OPEN(0, 1 or 0)  a guest process opened or closed /dev/vportNp0 (onOpen)
 * Linux's generic ports throw away data that arrives while no process has the port open, so host data
 * waits here until one does and the driver has posted receive buffers; nothing is dropped, up to `limit`.
 * Control and port output leave within the notification that brings them: Linux spins until a buffer it
 * sent on either transmit queue is used.
 */
import { BonsaiError } from '../../errors.js';
import type { State } from '../stateful.js';
import { ConfigSpace, VIRTIO_ID_CONSOLE, type VirtioDevice, type VirtioHost } from './device.js';
import { HostInput } from './host-input.js';
import { VirtqueueError, type DescriptorChain } from './queue.js';
import { blob, bool, list, record, toBlob } from '../state.js';

// Feature bits (5.3.3).
export const VIRTIO_CONSOLE_F_MULTIPORT = 1;

/** Queue indexes (5.3.2). */
export const AGENT_RX = 0;
export const AGENT_TX = 1;
export const AGENT_CTRL_RX = 2;
export const AGENT_CTRL_TX = 3;

// Control events (5.3.6.2).
export const VIRTIO_CONSOLE_DEVICE_READY = 0;
export const VIRTIO_CONSOLE_DEVICE_ADD = 1;
export const VIRTIO_CONSOLE_PORT_READY = 3;
export const VIRTIO_CONSOLE_PORT_OPEN = 6;
export const VIRTIO_CONSOLE_PORT_NAME = 7;
/** struct virtio_console_control: le32 id, le16 event, le16 value. */
export const CONTROL_SIZE = 8;

export const AGENT_PORT_NAME = 'org.bonsai.agent.0';

// Configuration space (5.3.4): cols, rows, max_nr_ports, emerg_wr.
const CFG_MAX_NR_PORTS = 4;
const CONFIG_SIZE = 12;

/** Host data the channel holds for the guest at most, by default. */
export const AGENT_INPUT_LIMIT = 64 * 1024 * 1024;
/**
 * Control messages waiting for control receive buffers. The device sends at most three per handshake, so
 * more than this means a driver that keeps asking (DEVICE_READY, PORT_READY) without posting buffers.
 */
const MAX_PENDING_CONTROL = 32;

export interface AgentChannelOptions {
  /** Bytes of host data that may wait for the guest (default AGENT_INPUT_LIMIT). */
  limit?: number;
}

export class VirtioAgentChannel implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_CONSOLE;
  readonly name = 'virtio-agent-channel';
  readonly features = [VIRTIO_CONSOLE_F_MULTIPORT];
  readonly queueSizes = [64, 64, 16, 16];
  readonly limit: number;
  /** Bytes the guest wrote to the port. */
  onData: (bytes: Uint8Array) => void = () => {};
  /** A guest process opened (true) or closed (false) the port. */
  onOpen: (open: boolean) => void = () => {};
  private host!: VirtioHost;
  private readonly config = new ConfigSpace(CONFIG_SIZE);
  /** Host data not yet in a receive buffer. */
  private readonly input = new HostInput();
  /** Control messages for the driver, waiting for control receive buffers. */
  private control: Uint8Array[] = [];
  /** The driver has added port 0 (PORT_READY 1) and heard its name. */
  private portReady = false;
  private open = false;

  constructor(opts: AgentChannelOptions = {}) {
    this.limit = opts.limit ?? AGENT_INPUT_LIMIT;
    this.config.setU32(CFG_MAX_NR_PORTS, 1);
  }

  attach(host: VirtioHost): void { this.host = host; }

  /** Whether a guest process has the port open. */
  get guestOpen(): boolean { return this.open; }

  /** Bytes of host data waiting for the guest. */
  get queued(): number { return this.input.length; }

  /** Host data for the guest: delivered in order once a guest process has the port open. */
  send(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.queued + bytes.length > this.limit) {
      throw new BonsaiError(`the guest agent channel holds ${this.queued} bytes the guest has not read; ${bytes.length} more would pass its ${this.limit}-byte limit`);
    }
    this.input.push(bytes);
    this.deliver();
  }

  /** Forgets host data the guest has not read (what was meant for a guest process that went away). */
  discard(): void { this.input.clear(); }

  readConfig(offset: number, size: number): number { return this.config.read(offset, size); }

  /** emerg_wr is not offered (no VIRTIO_CONSOLE_F_EMERG_WRITE): the configuration space is read-only. */
  writeConfig(): void {}

  activate(): void { this.deliver(); }

  notify(index: number): void {
    switch (index) {
      case AGENT_RX: this.fillReceive(); break;
      case AGENT_TX: this.transmit(); break;
      case AGENT_CTRL_RX: this.fillControl(); break;
      case AGENT_CTRL_TX: this.controlMessages(); break;
    }
  }

  private multiport(): boolean { return this.host.hasFeature(VIRTIO_CONSOLE_F_MULTIPORT); }

  private transmit(): void {
    const q = this.host.queues[AGENT_TX];
    const out: Uint8Array[] = [];
    let used = 0;
    for (let chain = q.pop(); chain !== null; chain = q.pop(), used++) {
      // 5.3.6.1: a transmit queue holds only device-readable buffers.
      if (chain.writableLength > 0) throw new VirtqueueError('device-writable buffer in the transmit queue');
      // Only a named port has a reader on the host; a driver without MULTIPORT gets nothing through.
      if (chain.readableLength > 0 && this.portReady) out.push(chain.readBytes(0, chain.readableLength));
      q.push(chain.head, 0);
    }
    if (used > 0) this.host.usedBuffers(AGENT_TX);
    // After the buffers are back: the host may answer from inside onData.
    for (const b of out) this.onData(b);
  }

  /** The driver's control messages (5.3.6.2); ones that make no sense are ignored, as a device may. */
  private controlMessages(): void {
    const q = this.host.queues[AGENT_CTRL_TX];
    const events: [number, number, number][] = [];
    let used = 0;
    for (let chain = q.pop(); chain !== null; chain = q.pop(), used++) {
      if (chain.writableLength > 0) throw new VirtqueueError('device-writable buffer in the control transmit queue');
      if (chain.readableLength >= CONTROL_SIZE) {
        const m = new DataView(chain.readBytes(0, CONTROL_SIZE).buffer);
        events.push([m.getUint32(0, true), m.getUint16(4, true), m.getUint16(6, true)]);
      }
      q.push(chain.head, 0);
    }
    if (used > 0) this.host.usedBuffers(AGENT_CTRL_TX);
    for (const [id, event, value] of events) this.controlEvent(id, event, value);
  }

  private controlEvent(id: number, event: number, value: number): void {
    if (event === VIRTIO_CONSOLE_DEVICE_READY) {
      // value 0: the driver could not set itself up; it will not take ports.
      if (value === 1) this.sendControl(0, VIRTIO_CONSOLE_DEVICE_ADD, 1);
      return;
    }
    if (id !== 0) return; // there is no other port
    if (event === VIRTIO_CONSOLE_PORT_READY) {
      if (value !== 1) return; // the driver failed to add the port
      this.portReady = true;
      this.sendControl(0, VIRTIO_CONSOLE_PORT_NAME, 1, new TextEncoder().encode(AGENT_PORT_NAME));
      this.sendControl(0, VIRTIO_CONSOLE_PORT_OPEN, 1);
    } else if (event === VIRTIO_CONSOLE_PORT_OPEN && this.portReady) {
      this.setOpen(value !== 0);
      this.deliver();
    }
  }

  private setOpen(open: boolean): void {
    if (open === this.open) return;
    this.open = open;
    this.onOpen(open);
  }

  private sendControl(id: number, event: number, value: number, extra = new Uint8Array(0)): void {
    if (this.control.length >= MAX_PENDING_CONTROL) throw new VirtqueueError('the driver posts no control receive buffers but keeps asking for control messages');
    const m = new Uint8Array(CONTROL_SIZE + extra.length);
    const v = new DataView(m.buffer);
    v.setUint32(0, id, true);
    v.setUint16(4, event, true);
    v.setUint16(6, value, true);
    m.set(extra, CONTROL_SIZE);
    this.control.push(m);
    this.fillControl();
  }

  private fillControl(): void {
    if (!this.host.active || !this.multiport()) return;
    const q = this.host.queues[AGENT_CTRL_RX];
    if (!q.ready) return;
    let done = false;
    while (this.control.length > 0) {
      const chain = q.pop();
      if (chain === null) break;
      this.checkReceive(chain);
      const m = this.control[0];
      // Linux reads a control message without looking at the used length: a short buffer cannot be used.
      if (chain.writableLength < m.length) throw new VirtqueueError(`control receive buffer of ${chain.writableLength} bytes is too small for a ${m.length}-byte message`);
      q.push(chain.head, chain.write(0, m));
      this.control.shift();
      done = true;
    }
    if (done) this.host.usedBuffers(AGENT_CTRL_RX);
  }

  private checkReceive(chain: DescriptorChain): void {
    // 5.3.6.1: receive queues hold only device-writable buffers.
    if (chain.readableLength > 0) throw new VirtqueueError('device-readable buffer in a receive queue');
  }

  /** Moves queued host data into receive buffers when a guest process can take it; host callers land here. */
  private deliver(): void {
    if (this.host === undefined || this.queued === 0 || !this.host.active) return;
    this.host.guard(() => this.fillReceive());
  }

  private fillReceive(): void {
    if (!this.open) return;
    const q = this.host.queues[AGENT_RX];
    let done = false;
    while (this.input.length > 0) {
      const chain = q.pop();
      if (chain === null) break;
      this.checkReceive(chain);
      q.push(chain.head, this.input.fill(chain));
      done = true;
    }
    if (done) this.host.usedBuffers(AGENT_RX);
  }

  /** A reset forgets the port (the next driver adds it again); host data stays, it is the host's. */
  reset(): void {
    this.control = [];
    this.portReady = false;
    this.setOpen(false);
  }

  save(): State {
    return {
      input: toBlob(this.input.bytes()),
      control: this.control.map(toBlob),
      portReady: this.portReady,
      open: this.open,
    };
  }

  restore(s: State): void {
    const what = 'virtio-agent-channel';
    const o = record(s, what);
    const input = blob(o, 'input', what);
    const controlList = list(o, 'control', what);
    if (controlList.length > MAX_PENDING_CONTROL) throw new Error(`${what} state: bad control`);
    const control = controlList.map((c, i) => {
      const m = blob({ c }, 'c', what);
      if (m.length < CONTROL_SIZE) throw new Error(`${what} state: bad control[${i}]`);
      return m;
    });
    const portReady = bool(o, 'portReady', what);
    const open = bool(o, 'open', what);
    if (open && !portReady) throw new Error(`${what} state: bad open`);
    this.input.set(input);
    this.control = control;
    this.portReady = portReady;
    this.setOpen(open);
    this.deliver();
  }
}
