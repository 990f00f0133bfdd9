/**
 * A power button as a virtio-input device (virtio 1.2, 5.8): an evdev keyboard with a single key,
 * KEY_POWER, so that a guest without Bonsai's agent can be asked to power off the way a PC's ACPI power
 * button asks it. On Linux, virtio_input makes it an input device; udev's input_id sees a key below
 * BTN_MISC and sets ID_INPUT_KEY, systemd's 70-power-switch.rules tags the event node "power-switch",
 * and logind watches it and acts on KEY_POWER (HandlePowerKey=, poweroff by default).
 *
 * Configuration (5.8.4): the driver writes `select` and `subsel`, then reads `size` and that many bytes
 * of the union at offset 8. Everything the device does not have answers with size 0 (5.8.5.2).
 * Queues (5.8.2): 0 is the eventq, buffers the driver posts for the device to fill with one
 * struct virtio_input_event each; 1 is the statusq, the driver's feedback (LEDs, sounds), which a device
 * with neither never asks for: what arrives there is read and ignored.
 */
import type { State } from '../stateful.js';
import { ConfigSpace, VIRTIO_ID_INPUT, type VirtioDevice, type VirtioHost } from './device.js';
import { VirtqueueError } from './queue.js';
import { blob, record, toBlob, uint } from '../state.js';

/** Queue indexes (5.8.2). */
export const INPUT_EVENTQ = 0;
export const INPUT_STATUSQ = 1;
export const INPUT_QUEUE_SIZE = 64;

// Configuration selects (5.8.4).
export const VIRTIO_INPUT_CFG_UNSET = 0x00;
export const VIRTIO_INPUT_CFG_ID_NAME = 0x01;
export const VIRTIO_INPUT_CFG_ID_SERIAL = 0x02;
export const VIRTIO_INPUT_CFG_ID_DEVIDS = 0x03;
export const VIRTIO_INPUT_CFG_PROP_BITS = 0x10;
export const VIRTIO_INPUT_CFG_EV_BITS = 0x11;
export const VIRTIO_INPUT_CFG_ABS_INFO = 0x12;

// Configuration layout (5.8.4): u8 select, u8 subsel, u8 size, u8 reserved[5], then a 128-byte union.
export const INPUT_CFG_SELECT = 0;
export const INPUT_CFG_SUBSEL = 1;
export const INPUT_CFG_SIZE = 2;
export const INPUT_CFG_UNION = 8;
const UNION_SIZE = 128;

// evdev codes, as in Linux's include/uapi/linux/input-event-codes.h and input.h (5.8 defers to them).
export const EV_SYN = 0x00;
export const EV_KEY = 0x01;
export const SYN_REPORT = 0;
export const KEY_POWER = 116;
export const BUS_VIRTUAL = 0x06;

/** struct virtio_input_event (5.8.6): le16 type, le16 code, le32 value. */
export const INPUT_EVENT_SIZE = 8;

export const POWER_BUTTON_NAME = 'Bonsai power button';
/** struct virtio_input_devids. No vendor: on BUS_VIRTUAL, 0 claims to be nobody's hardware. */
export const POWER_BUTTON_IDS = { bustype: BUS_VIRTUAL, vendor: 0x0000, product: 0x0001, version: 0x0001 } as const;

/** Events waiting for eventq buffers at most: 16 presses. Further presses are dropped whole (5.8.6.2). */
export const MAX_PENDING_EVENTS = 64;

export interface InputEvent { type: number; code: number; value: number }

/** One press: key down, report, key up, report. */
export const POWER_PRESS: readonly InputEvent[] = [
  { type: EV_KEY, code: KEY_POWER, value: 1 },
  { type: EV_SYN, code: SYN_REPORT, value: 0 },
  { type: EV_KEY, code: KEY_POWER, value: 0 },
  { type: EV_SYN, code: SYN_REPORT, value: 0 },
];

export function encodeEvent(e: InputEvent): Uint8Array {
  const b = new Uint8Array(INPUT_EVENT_SIZE);
  const v = new DataView(b.buffer);
  v.setUint16(0, e.type, true);
  v.setUint16(2, e.code, true);
  v.setUint32(4, e.value >>> 0, true);
  return b;
}

/** A bitmap in which bit `n` is bit n % 8 of byte n / 8, as long as its highest set bit needs. */
function bitmap(...bits: number[]): Uint8Array {
  const b = new Uint8Array((Math.max(...bits) >> 3) + 1);
  for (const n of bits) b[n >> 3] |= 1 << (n & 7);
  return b;
}

const NAME = new TextEncoder().encode(POWER_BUTTON_NAME); // no NUL terminator (5.8.4)
const DEVIDS = ((): Uint8Array => {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint16(0, POWER_BUTTON_IDS.bustype, true);
  v.setUint16(2, POWER_BUTTON_IDS.vendor, true);
  v.setUint16(4, POWER_BUTTON_IDS.product, true);
  v.setUint16(6, POWER_BUTTON_IDS.version, true);
  return b;
})();
const KEY_BITS = bitmap(KEY_POWER);
const SYN_BITS = bitmap(SYN_REPORT);
const NOTHING = new Uint8Array(0);

/** What the device answers for `select`/`subsel`: the bytes of the union, empty for "not supported". */
function answer(select: number, subsel: number): Uint8Array {
  switch (select) {
    // For the ID selects subsel is zero (5.8.4); any other is a combination the device does not support.
    case VIRTIO_INPUT_CFG_ID_NAME: return subsel === 0 ? NAME : NOTHING;
    case VIRTIO_INPUT_CFG_ID_DEVIDS: return subsel === 0 ? DEVIDS : NOTHING;
    case VIRTIO_INPUT_CFG_EV_BITS:
      if (subsel === EV_KEY) return KEY_BITS;
      if (subsel === EV_SYN) return SYN_BITS;
      return NOTHING; // no EV_REP (no autorepeat), no EV_LED, nothing relative or absolute
    // UNSET; ID_SERIAL (none); PROP_BITS (no INPUT_PROP_*); ABS_INFO (no axes); unknown selects.
    default: return NOTHING;
  }
}

export class VirtioPowerButton implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_INPUT;
  readonly name = 'virtio-input';
  readonly features: readonly number[] = []; // 5.8.3: none
  readonly queueSizes = [INPUT_QUEUE_SIZE, INPUT_QUEUE_SIZE];
  private host!: VirtioHost;
  private readonly config = new ConfigSpace(INPUT_CFG_UNION + UNION_SIZE);
  /** Encoded events not yet in an eventq buffer, oldest first. */
  private pending: Uint8Array[] = [];

  constructor() { this.query(VIRTIO_INPUT_CFG_UNSET, 0); }

  attach(host: VirtioHost): void { this.host = host; }

  /** The guest's driver is up (DRIVER_OK, the eventq enabled, the device not given up on): a press reaches it. */
  get ready(): boolean {
    return this.host !== undefined && this.host.active && this.host.queues[INPUT_EVENTQ].ready;
  }

  /** Events waiting for eventq buffers. */
  get queued(): number { return this.pending.length; }

  /**
   * Presses and releases the button: four events, delivered as the driver posts buffers. Returns false,
   * queueing nothing, when MAX_PENDING_EVENTS would be passed (a sequence is buffered or dropped whole,
   * 5.8.6.2). Never throws: a driver that breaks a rule on the way gets DEVICE_NEEDS_RESET.
   */
  press(): boolean {
    if (this.pending.length + POWER_PRESS.length > MAX_PENDING_EVENTS) return false;
    for (const e of POWER_PRESS) this.pending.push(encodeEvent(e));
    this.deliver();
    return true;
  }

  readConfig(offset: number, size: number): number { return this.config.read(offset, size); }

  /** 5.8.5.1: the driver writes select and subsel, in any order, and no other field. */
  writeConfig(offset: number, size: number, value: number): void {
    let select = this.config.bytes[INPUT_CFG_SELECT];
    let subsel = this.config.bytes[INPUT_CFG_SUBSEL];
    for (let i = 0; i < size; i++) {
      const at = offset + i;
      const byte = (value >>> (8 * i)) & 0xff; // size is 1, 2 or 4
      if (at === INPUT_CFG_SELECT) select = byte;
      else if (at === INPUT_CFG_SUBSEL) subsel = byte;
      else {
        this.host.fail(`driver wrote configuration byte ${at}; only select (0) and subsel (1) are the driver's`);
        return;
      }
    }
    this.query(select, subsel);
  }

  /** Sets select and subsel and puts the answer behind them: size, and the union zeroed past the answer. */
  private query(select: number, subsel: number): void {
    const a = answer(select, subsel);
    const b = this.config.bytes;
    b.fill(0);
    b[INPUT_CFG_SELECT] = select;
    b[INPUT_CFG_SUBSEL] = subsel;
    b[INPUT_CFG_SIZE] = a.length;
    b.set(a, INPUT_CFG_UNION);
  }

  activate(): void { this.deliver(); }

  notify(index: number): void {
    if (index === INPUT_EVENTQ) this.fillEvents();
    else if (index === INPUT_STATUSQ) this.takeStatus();
  }

  /** Moves pending events into eventq buffers when the driver is up; host-side callers land here. */
  private deliver(): void {
    if (this.host === undefined || !this.host.active || this.pending.length === 0) return;
    this.host.guard(() => this.fillEvents());
  }

  /**
   * Buffers are taken only for events: ones posted while nothing happens stay in the ring, so none is in
   * the device's hands when the machine is saved.
   */
  private fillEvents(): void {
    const q = this.host.queues[INPUT_EVENTQ];
    let done = false;
    while (this.pending.length > 0) {
      const chain = q.pop();
      if (chain === null) break;
      // 5.8.6.1: eventq buffers are device-writable and hold at least one struct virtio_input_event.
      if (chain.readableLength > 0) throw new VirtqueueError('device-readable buffer in the event queue');
      if (chain.writableLength < INPUT_EVENT_SIZE) {
        throw new VirtqueueError(`event buffer of ${chain.writableLength} bytes is smaller than an event (${INPUT_EVENT_SIZE})`);
      }
      q.push(chain.head, chain.write(0, this.pending[0]));
      this.pending.shift();
      done = true;
    }
    if (done) this.host.usedBuffers(INPUT_EVENTQ);
  }

  /** Status events (LEDs and the like) mean nothing to a power button: each buffer is given back unread. */
  private takeStatus(): void {
    const q = this.host.queues[INPUT_STATUSQ];
    let done = false;
    for (let chain = q.pop(); chain !== null; chain = q.pop()) {
      // 5.8.6.1: a statusq buffer carries at least one struct virtio_input_event from the driver.
      if (chain.writableLength > 0) throw new VirtqueueError('device-writable buffer in the status queue');
      if (chain.readableLength < INPUT_EVENT_SIZE) {
        throw new VirtqueueError(`status buffer of ${chain.readableLength} bytes is smaller than an event (${INPUT_EVENT_SIZE})`);
      }
      q.push(chain.head, 0);
      done = true;
    }
    if (done) this.host.usedBuffers(INPUT_STATUSQ);
  }

  /**
   * Unlike a console's input, pending presses do not wait for the next driver: a press is for the guest
   * that was there, and one kept across a reset (a kexec, a driver reload) would power off a system that
   * nobody asked to.
   */
  reset(): void {
    this.pending = [];
    this.query(VIRTIO_INPUT_CFG_UNSET, 0);
  }

  save(): State {
    const all = new Uint8Array(this.pending.length * INPUT_EVENT_SIZE);
    this.pending.forEach((e, i) => all.set(e, i * INPUT_EVENT_SIZE));
    return {
      select: this.config.bytes[INPUT_CFG_SELECT],
      subsel: this.config.bytes[INPUT_CFG_SUBSEL],
      pending: toBlob(all),
    };
  }

  restore(s: State): void {
    const what = 'virtio-input';
    const o = record(s, what);
    const select = uint(o, 'select', 0xff, what);
    const subsel = uint(o, 'subsel', 0xff, what);
    const all = blob(o, 'pending', what);
    if (all.length % INPUT_EVENT_SIZE !== 0 || all.length > MAX_PENDING_EVENTS * INPUT_EVENT_SIZE) {
      throw new Error(`${what} state: bad pending`);
    }
    this.pending = [];
    for (let i = 0; i < all.length; i += INPUT_EVENT_SIZE) this.pending.push(all.slice(i, i + INPUT_EVENT_SIZE));
    this.query(select, subsel);
    this.deliver();
  }
}
