/**
 * virtio-net (virtio 1.2, 5.1) with one receive and one transmit queue, a MAC address and link status.
 * No checksum or segmentation offloads are offered, so every frame is a plain ethernet frame of at most
 * 1514 bytes behind a 12-byte virtio_net_hdr (5.1.6: with VIRTIO_F_VERSION_1 the header always has
 * num_buffers). A driver that did not accept VIRTIO_F_VERSION_1 (nor MRG_RXBUF, which is not offered) uses
 * the 10-byte header without it, as QEMU's virtio-net gives such drivers.
 *
 * Transmitted frames leave within the notification that brings them, so a backend that answers at once
 * (the user-mode stack's ARP, DHCP, TFTP) reaches a polling boot loader with no delay. Frames for the
 * guest wait in a bounded host-side queue until the driver offers receive buffers; beyond the bound they
 * are dropped and counted, as a real NIC drops on a full ring (TCP retransmits).
 */
import { formatMac, type FrameReceiver, type NetBackend, type NetBackendState, type ReceiveRoom } from '../../net/link.js';
import type { State } from '../stateful.js';
import { ConfigSpace, VIRTIO_F_VERSION_1, VIRTIO_ID_NET, type VirtioDevice, type VirtioHost } from './device.js';
import { VirtqueueError } from './queue.js';
import { blob, list, record, toBlob } from '../state.js';

// Feature bits (5.1.3).
export const VIRTIO_NET_F_MAC = 5;
export const VIRTIO_NET_F_STATUS = 16;

export const VIRTIO_NET_S_LINK_UP = 1;

export const NET_RX = 0;
export const NET_TX = 1;
export const NET_QUEUE_SIZE = 256;

/** struct virtio_net_hdr (5.1.6): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers. */
export const VIRTIO_NET_HDR_SIZE = 12;
/** The header without num_buffers (5.1.6.1, legacy interface: no VIRTIO_F_VERSION_1, no MRG_RXBUF). */
export const VIRTIO_NET_HDR_SIZE_NO_V1 = 10;
const HDR_NUM_BUFFERS = 10;

/** Ethernet header plus the largest payload without offloads (1500). */
const MIN_FRAME = 14;
const MAX_FRAME = 1514;
/** Host-side receive queue bounds: enough for a burst, never unbounded memory. */
const RX_QUEUE_FRAMES = 512;

// Configuration space (5.1.4): mac[6], status u16.
const CFG_MAC = 0;
const CFG_STATUS = 6;
const CONFIG_SIZE = 8;

export interface NetCounters {
  txFrames: number; rxFrames: number;
  txDropped: number; rxDropped: number;
}

export class VirtioNet implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_NET;
  readonly name = 'virtio-net';
  readonly features = [VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS];
  readonly queueSizes = [NET_QUEUE_SIZE, NET_QUEUE_SIZE];
  readonly counters: NetCounters = { txFrames: 0, rxFrames: 0, txDropped: 0, rxDropped: 0 };
  private host!: VirtioHost;
  private readonly config = new ConfigSpace(CONFIG_SIZE);
  /** Frames for the guest not yet in a receive buffer. */
  private rxQueue: Uint8Array[] = [];
  private readonly hdr = new Uint8Array(VIRTIO_NET_HDR_SIZE);
  private readonly receiver: FrameReceiver = (frame) => this.receive(frame);
  private onRoom: () => void = () => {};
  /** Lets a backend hold bulk data back until the guest has buffers for it, instead of losing it here. */
  private readonly room: ReceiveRoom = {
    room: () => this.rxRoom(),
    capacity: () => (this.host === undefined ? NET_QUEUE_SIZE : this.host.queues[NET_RX].size),
    onRoom: (ready) => { this.onRoom = ready; },
  };

  /**
   * `newMac`: a restore keeps this card's MAC where the saved one differs (a fork of a snapshot: the guest
   * is told its new address through its agent). Otherwise a restore onto another MAC is refused.
   */
  constructor(readonly backend: NetBackend, readonly mac: Uint8Array, private readonly opts: { newMac?: boolean } = {}) {
    if (mac.length !== 6) throw new RangeError('a MAC address has 6 bytes');
    this.config.bytes.set(mac, CFG_MAC);
    this.config.setU16(CFG_STATUS, VIRTIO_NET_S_LINK_UP);
    this.hdr[HDR_NUM_BUFFERS] = 1;
  }

  attach(host: VirtioHost): void {
    this.host = host;
    this.backend.attach(this.mac, this.receiver, this.room);
  }

  /** Posted receive buffers not spoken for by frames already waiting; 0 while the driver is not up. */
  private rxRoom(): number {
    if (this.host === undefined || !this.host.active) return 0;
    let n = 0;
    // A bad available index is the driver's fault; the guard marks the device broken and room stays 0.
    this.host.guard(() => { n = this.host.queues[NET_RX].availableCount(); });
    return Math.max(0, n - this.rxQueue.length);
  }

  readConfig(offset: number, size: number): number { return this.config.read(offset, size); }

  /** 5.1.4: the whole configuration space is read-only to the driver (no VIRTIO_NET_F_CTRL_MAC_ADDR). */
  writeConfig(): void {}

  /** A frame from the network for the guest. Until the driver is up, there is nowhere for it: dropped. */
  receive(frame: Uint8Array): void {
    if (this.host === undefined || !this.host.active || frame.length < MIN_FRAME || frame.length > MAX_FRAME
      || this.rxQueue.length >= RX_QUEUE_FRAMES) {
      this.counters.rxDropped++;
      return;
    }
    this.rxQueue.push(frame);
    this.host.guard(() => this.fillReceive());
  }

  activate(): void {}

  /** The virtio_net_hdr length the driver negotiated. */
  private get hdrSize(): number {
    return this.host.hasFeature(VIRTIO_F_VERSION_1) ? VIRTIO_NET_HDR_SIZE : VIRTIO_NET_HDR_SIZE_NO_V1;
  }

  notify(index: number): void {
    if (index === NET_RX) {
      this.fillReceive();
      // Called after the notification's own work, so a backend's frames land in the buffers just posted.
      if (this.rxRoom() > 0) this.onRoom();
    }
    else if (index === NET_TX) this.transmit();
  }

  private transmit(): void {
    const q = this.host.queues[NET_TX];
    const hdr = this.hdrSize;
    let done = false;
    for (let chain = q.pop(); chain !== null; chain = q.pop()) {
      // 5.1.6.2: transmit buffers are device-readable only.
      if (chain.writableLength > 0) throw new VirtqueueError('device-writable buffer in the transmit queue');
      const len = chain.readableLength - hdr;
      if (len >= MIN_FRAME && len <= MAX_FRAME) {
        this.counters.txFrames++;
        this.backend.send(chain.readBytes(hdr, len));
      } else {
        this.counters.txDropped++; // a runt or a frame bigger than the MTU allows without offloads
      }
      q.push(chain.head, 0);
      done = true;
    }
    if (done) this.host.usedBuffers(NET_TX);
  }

  private fillReceive(): void {
    const q = this.host.queues[NET_RX];
    const hdr = this.hdrSize;
    let done = false;
    while (this.rxQueue.length > 0 && q.hasAvailable()) {
      const chain = q.pop();
      if (chain === null) break;
      // 5.1.6.3: receive buffers are device-writable only.
      if (chain.readableLength > 0) throw new VirtqueueError('device-readable buffer in the receive queue');
      const frame = this.rxQueue.shift() as Uint8Array;
      if (chain.writableLength < hdr + frame.length) {
        // 5.1.6.3.1: without VIRTIO_NET_F_MRG_RXBUF each buffer must hold a whole 1514-byte frame; one that
        // cannot is returned empty and the frame is lost, as the driver asked for.
        this.counters.rxDropped++;
        q.push(chain.head, 0);
      } else {
        chain.write(0, this.hdr.subarray(0, hdr));
        chain.write(hdr, frame);
        q.push(chain.head, hdr + frame.length);
        this.counters.rxFrames++;
      }
      done = true;
    }
    if (done) this.host.usedBuffers(NET_RX);
    // A backend holding data back for room (ReceiveRoom) must hear of every refill, also while posted
    // buffers remain that it chose not to fill: otherwise a driver with EVENT_IDX would not notify.
    q.notifyOnNextBuffer();
  }

  /** A reset forgets frames not yet delivered: they were for the old driver's connections. */
  reset(): void { this.rxQueue = []; }

  save(): State {
    return { mac: toBlob(this.mac), rx: this.rxQueue.map(toBlob), backend: (this.backend.save?.() ?? null) as State };
  }

  restore(s: State): void {
    const what = 'virtio-net';
    const o = record(s, what);
    const mac = blob(o, 'mac', what);
    if (mac.length !== 6) throw new Error(`${what} state: bad MAC address`);
    // A fork of a snapshot has a MAC of its own: the card keeps it, and the guest is told to take it
    // (its driver read the old one at probe time; vm/snapshot/live.ts applies the new identity).
    if (this.opts.newMac !== true && !mac.every((b, i) => b === this.mac[i])) {
      throw new Error(`${what} state: the card had MAC ${formatMac(mac)}, this one has ${formatMac(this.mac)}`);
    }
    const rx = list(o, 'rx', what).map((f) => blob({ f }, 'f', what));
    if (rx.length > RX_QUEUE_FRAMES || rx.some((f) => f.length < MIN_FRAME || f.length > MAX_FRAME)) throw new Error(`${what} state: bad rx`);
    this.rxQueue = rx;
    // The backend's view of the guest goes back too: the user network resets the guest's connections.
    this.backend.restored?.((o.backend ?? null) as NetBackendState);
    if (this.host !== undefined && this.host.active) this.host.guard(() => this.fillReceive());
  }
}
