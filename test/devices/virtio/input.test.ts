import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IrqLine } from '../../../src/devices/mmio.js';
import {
  BUS_VIRTUAL, EV_KEY, EV_SYN, INPUT_CFG_SELECT, INPUT_CFG_SIZE, INPUT_CFG_SUBSEL, INPUT_CFG_UNION, INPUT_EVENTQ,
  INPUT_STATUSQ, KEY_POWER, MAX_PENDING_EVENTS, POWER_BUTTON_NAME, SYN_REPORT, VIRTIO_INPUT_CFG_ABS_INFO,
  VIRTIO_INPUT_CFG_EV_BITS, VIRTIO_INPUT_CFG_ID_DEVIDS, VIRTIO_INPUT_CFG_ID_NAME, VIRTIO_INPUT_CFG_ID_SERIAL,
  VIRTIO_INPUT_CFG_PROP_BITS, VIRTIO_INPUT_CFG_UNSET, VirtioPowerButton,
} from '../../../src/devices/virtio/input.js';
import { MMIO_CONFIG, MMIO_DEVICE_ID, MMIO_INTERRUPT_STATUS, MMIO_STATUS, VirtioMmio } from '../../../src/devices/virtio/mmio.js';
import { Driver, DriverQueue, F_EVENT_IDX, F_INDIRECT, F_VERSION_1, FakeRam, NEEDS_RESET, rig, roundTrip, str } from './driver.js';

const EV_REL = 0x02, EV_ABS = 0x03, EV_MSC = 0x04, EV_SW = 0x05, EV_LED = 0x11, EV_SND = 0x12, EV_REP = 0x14;
const LED_NUML = 0;

interface Up { dev: VirtioPowerButton; mmio: VirtioMmio; drv: Driver; ram: FakeRam; evq: DriverQueue; stq: DriverQueue; logs: string[] }

function up(features = [F_VERSION_1, F_INDIRECT, F_EVENT_IDX]): Up {
  const r = rig(new VirtioPowerButton());
  const drv = new Driver(r.mmio, r.ram);
  const [evq, stq] = drv.start(features, 2);
  return { dev: r.dev, mmio: r.mmio, drv, ram: r.ram, evq, stq, logs: r.logs };
}

/** What Linux's virtinput_cfg_select does: one byte write each for select and subsel, one byte read of size. */
function select(mmio: VirtioMmio, sel: number, subsel: number): number {
  mmio.write(MMIO_CONFIG + INPUT_CFG_SELECT, 1, sel);
  mmio.write(MMIO_CONFIG + INPUT_CFG_SUBSEL, 1, subsel);
  return mmio.read(MMIO_CONFIG + INPUT_CFG_SIZE, 1);
}

/** The union, byte by byte, as virtio_cread_bytes reads it. */
function union(mmio: VirtioMmio, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => mmio.read(MMIO_CONFIG + INPUT_CFG_UNION + i, 1));
}

/** The bit numbers set in a bitmap (bit n is bit n % 8 of byte n / 8, 5.8.4). */
function bits(b: Uint8Array): number[] {
  const out: number[] = [];
  b.forEach((byte, i) => { for (let k = 0; k < 8; k++) if (byte & (1 << k)) out.push(8 * i + k); });
  return out;
}

/** What Linux's virtinput_fill_evt does: one 8-byte device-writable buffer per ring entry, then a kick. */
function post(q: DriverQueue, n: number): number[] {
  const addrs: number[] = [];
  for (let i = 0; i < n; i++) addrs.push(q.add({ in: [8] }).inAddrs[0]);
  q.kick();
  return addrs;
}

function event(ram: FakeRam, pa: number): [number, number, number] {
  return [ram.dv.getUint16(ram.o(pa), true), ram.dv.getUint16(ram.o(pa) + 2, true), ram.dv.getInt32(ram.o(pa) + 4, true)];
}

const PRESS: [number, number, number][] = [[EV_KEY, KEY_POWER, 1], [EV_SYN, SYN_REPORT, 0], [EV_KEY, KEY_POWER, 0], [EV_SYN, SYN_REPORT, 0]];

test('the device is virtio-input (18) with no feature bits of its own and two queues', () => {
  const r = rig(new VirtioPowerButton());
  const drv = new Driver(r.mmio, r.ram);
  assert.equal(drv.r(MMIO_DEVICE_ID), 18);
  const [lo] = drv.deviceFeatures();
  assert.equal(lo & 0xffffff, 0);
  assert.deepEqual(r.dev.queueSizes, [64, 64]);
});

test('the name, the ids and the event bits answer as Linux virtio_input reads them', () => {
  const { mmio } = up();
  const name = select(mmio, VIRTIO_INPUT_CFG_ID_NAME, 0);
  assert.equal(name, POWER_BUTTON_NAME.length);
  assert.equal(str(union(mmio, name)), 'Bonsai power button');
  assert.equal(mmio.read(MMIO_CONFIG + INPUT_CFG_UNION + name, 1), 0, 'no NUL counted, the rest of the union zero');

  assert.equal(select(mmio, VIRTIO_INPUT_CFG_ID_DEVIDS, 0), 8);
  const ids = [0, 2, 4, 6].map((o) => mmio.read(MMIO_CONFIG + INPUT_CFG_UNION + o, 2));
  assert.deepEqual(ids, [BUS_VIRTUAL, 0, 1, 1]);

  const keys = select(mmio, VIRTIO_INPUT_CFG_EV_BITS, EV_KEY);
  assert.equal(keys, 15, 'just long enough for bit 116');
  assert.deepEqual(bits(union(mmio, keys)), [KEY_POWER]);
  assert.equal(mmio.read(MMIO_CONFIG + INPUT_CFG_UNION + 14, 1), 0x10);

  const syn = select(mmio, VIRTIO_INPUT_CFG_EV_BITS, EV_SYN);
  assert.equal(syn, 1);
  assert.deepEqual(bits(union(mmio, syn)), [SYN_REPORT]);
  // select and subsel read back as written; the reserved bytes stay zero.
  assert.equal(mmio.read(MMIO_CONFIG, 4), VIRTIO_INPUT_CFG_EV_BITS | (EV_SYN << 8) | (1 << 16));
  assert.equal(mmio.read(MMIO_CONFIG + 4, 4), 0);
});

test('everything the button does not have answers with size 0 and an empty union (5.8.5.2)', () => {
  const { mmio } = up();
  const none: [number, number, string][] = [
    [VIRTIO_INPUT_CFG_UNSET, 0, 'UNSET'],
    [VIRTIO_INPUT_CFG_ID_SERIAL, 0, 'no serial'],
    [VIRTIO_INPUT_CFG_PROP_BITS, 0, 'no properties'],
    [VIRTIO_INPUT_CFG_ID_NAME, 1, 'a subsel ID_NAME does not take'],
    [VIRTIO_INPUT_CFG_ID_DEVIDS, 3, 'a subsel ID_DEVIDS does not take'],
    ...[EV_REL, EV_ABS, EV_MSC, EV_SW, EV_LED, EV_SND, EV_REP, 0x1f, 0xff].map((t): [number, number, string] => [VIRTIO_INPUT_CFG_EV_BITS, t, `EV_BITS ${t}`]),
    ...[0, 1, 0x2f, 0x3f].map((a): [number, number, string] => [VIRTIO_INPUT_CFG_ABS_INFO, a, `ABS_INFO ${a}`]),
    [0x04, 0, 'an unknown select'], [0x13, 0, 'another'], [0xff, 0xff, 'and another'],
  ];
  for (const [sel, sub, what] of none) {
    select(mmio, VIRTIO_INPUT_CFG_EV_BITS, EV_KEY); // something non-empty first: nothing may linger
    assert.equal(select(mmio, sel, sub), 0, what);
    assert.ok(union(mmio, 128).every((b) => b === 0), what);
  }
  assert.equal(mmio.read(MMIO_CONFIG + 136, 4), 0, 'past the structure');
});

test('select and subsel may come in either order, or in one 16-bit write', () => {
  const { mmio } = up();
  mmio.write(MMIO_CONFIG + INPUT_CFG_SUBSEL, 1, EV_KEY);
  mmio.write(MMIO_CONFIG + INPUT_CFG_SELECT, 1, VIRTIO_INPUT_CFG_EV_BITS);
  assert.equal(mmio.read(MMIO_CONFIG + INPUT_CFG_SIZE, 1), 15);
  mmio.write(MMIO_CONFIG, 2, VIRTIO_INPUT_CFG_ID_NAME);
  assert.equal(mmio.read(MMIO_CONFIG + INPUT_CFG_SIZE, 1), POWER_BUTTON_NAME.length);
});

test('a press into buffers posted beforehand: key down, report, key up, report, with an interrupt', () => {
  const { dev, drv, ram, evq } = up();
  const addrs = post(evq, 64);
  assert.deepEqual(evq.takeUsed(), [], 'buffers are kept until there is an event');
  drv.ack();
  assert.equal(dev.ready, true);
  assert.equal(dev.press(), true);
  const used = evq.takeUsed();
  assert.deepEqual(used.map((u) => u.len), [8, 8, 8, 8]);
  assert.deepEqual(used.map((u) => event(ram, addrs[u.id])), PRESS);
  assert.equal(drv.r(MMIO_INTERRUPT_STATUS) & 1, 1);
  assert.equal(dev.queued, 0);
});

test('a press made before buffers are posted waits for them, in order, across several kicks', () => {
  const { dev, ram, evq } = up();
  assert.equal(dev.press(), true);
  assert.equal(dev.press(), true);
  assert.equal(dev.queued, 8);
  const a = post(evq, 3);
  const first = evq.takeUsed();
  assert.deepEqual(first.map((u) => event(ram, a[u.id])), PRESS.slice(0, 3));
  assert.equal(dev.queued, 5);
  assert.equal(evq.availEvent, 3, 'with EVENT_IDX the device asks to hear of the very next buffer');
  // Linux reposts each buffer as it takes its event.
  const b = post(evq, 8);
  const rest = evq.takeUsed();
  assert.deepEqual(rest.map((u) => event(ram, b[u.id - 3])), [...PRESS.slice(3), ...PRESS]);
  assert.equal(dev.queued, 0);
});

test('an event buffer of two descriptors, or a larger one, takes one event and says 8 bytes', () => {
  const { dev, ram, evq } = up();
  const split = evq.add({ in: [3, 5] });
  const big = evq.addIndirect({ in: [64] });
  evq.kick();
  dev.press();
  const used = evq.takeUsed();
  assert.deepEqual(used, [{ id: split.head, len: 8 }, { id: big.head, len: 8 }]);
  const joined = new Uint8Array([...ram.bytes(split.inAddrs[0], 3), ...ram.bytes(split.inAddrs[1], 5)]);
  assert.deepEqual([...joined], [EV_KEY, 0, KEY_POWER, 0, 1, 0, 0, 0]);
  assert.deepEqual(event(ram, big.inAddrs[0]), PRESS[1]);
  assert.equal(ram.u8[ram.o(big.inAddrs[0]) + 8], 0xee, 'nothing written past the event');
});

test('presses queue up to a bound and are then dropped whole, without throwing', () => {
  const { dev, ram, evq } = up();
  for (let i = 0; i < MAX_PENDING_EVENTS / 4; i++) assert.equal(dev.press(), true);
  assert.equal(dev.press(), false);
  assert.equal(dev.queued, MAX_PENDING_EVENTS);
  const a = post(evq, 64);
  const used = evq.takeUsed();
  assert.equal(used.length, MAX_PENDING_EVENTS);
  assert.deepEqual(used.slice(-4).map((u) => event(ram, a[u.id])), PRESS, 'whole presses, none cut');
});

test('status events (LEDs) are taken and given back unread', () => {
  const { dev, evq, stq } = up();
  const led = new Uint8Array(8);
  new DataView(led.buffer).setUint16(0, EV_LED, true);
  new DataView(led.buffer).setUint16(2, LED_NUML, true);
  new DataView(led.buffer).setUint32(4, 1, true);
  const s = stq.add({ out: [led] });
  stq.kick();
  assert.deepEqual(stq.takeUsed(), [{ id: s.head, len: 0 }]);
  post(evq, 4);
  assert.deepEqual(evq.takeUsed(), [], 'no event comes of it');
  assert.equal(dev.queued, 0);
});

test('a reset forgets presses not yet delivered: a press is for the driver that was there', () => {
  const { dev, drv, ram } = up();
  dev.press();
  assert.equal(dev.queued, 4);
  drv.w(MMIO_STATUS, 0);
  assert.equal(dev.ready, false);
  assert.equal(dev.queued, 0);
  assert.equal(select(drv.mmio, VIRTIO_INPUT_CFG_UNSET, 0), 0);
  const d2 = new Driver(drv.mmio, ram);
  const [q] = d2.start([F_VERSION_1], 2);
  post(q, 8);
  assert.deepEqual(q.takeUsed(), []);
});

test('before DRIVER_OK the device is not ready, and a press waits without touching the rings', () => {
  const r = rig(new VirtioPowerButton());
  assert.equal(r.dev.ready, false);
  assert.equal(r.dev.press(), true);
  assert.equal(r.dev.queued, 4);
  const drv = new Driver(r.mmio, r.ram);
  assert.ok(drv.negotiate([F_VERSION_1]), 'negotiation resets the device first');
  const evq = drv.setupQueue(INPUT_EVENTQ);
  drv.setupQueue(INPUT_STATUSQ);
  assert.equal(r.dev.ready, false);
  drv.driverOk();
  assert.equal(r.dev.ready, true);
  post(evq, 4);
  assert.deepEqual(evq.takeUsed(), [], 'the press before the reset is gone');
});

test('state saved mid-query with half a press delivered resumes on a restored machine', () => {
  const a = up();
  post(a.evq, 2);
  a.dev.press();
  assert.equal(a.evq.takeUsed().length, 2);
  a.mmio.write(MMIO_CONFIG + INPUT_CFG_SELECT, 1, VIRTIO_INPUT_CFG_EV_BITS);
  a.mmio.write(MMIO_CONFIG + INPUT_CFG_SUBSEL, 1, EV_KEY); // the driver is about to read size
  const saved = roundTrip(a.mmio.save());
  const ram = a.ram.clone();
  const dev = new VirtioPowerButton();
  const mmio = new VirtioMmio(dev, { mem: ram, irq: new IrqLine(() => {}), log: () => {} });
  mmio.restore(saved);
  assert.deepEqual(mmio.save(), saved);
  assert.equal(dev.ready, true);
  assert.equal(dev.queued, 2);
  assert.equal(mmio.read(MMIO_CONFIG + INPUT_CFG_SIZE, 1), 15, 'the answer the driver asked for is there');
  assert.deepEqual(bits(union(mmio, 15)), [KEY_POWER]);
  const d = a.drv.over(mmio, ram);
  const q = d.queues[INPUT_EVENTQ];
  const addrs = post(q, 4);
  const used = q.takeUsed();
  assert.deepEqual(used.map((u) => event(ram, addrs[u.id - 2])), PRESS.slice(2));
  dev.press();
  assert.deepEqual(q.takeUsed().map((u) => event(ram, addrs[u.id - 2])), PRESS.slice(0, 2));
  assert.equal(dev.queued, 2);
  const bad: unknown[] = [
    { select: 256, subsel: 0, pending: '' },
    { select: 0, subsel: -1, pending: '' },
    { select: 0, subsel: 0, pending: 'AAAA' }, // 3 bytes: not whole events
    { select: 0, subsel: 0, pending: Buffer.alloc(8 * (MAX_PENDING_EVENTS + 1)).toString('base64') },
    { select: 0, subsel: 0 },
    'x',
  ];
  const before = mmio.save();
  for (const b of bad) assert.throws(() => mmio.restore(roundTrip({ ...(saved as object), device: b } as never)), Error);
  assert.deepEqual(mmio.save(), before, 'a refused state changes nothing');
});

test('a driver that breaks the rules gets DEVICE_NEEDS_RESET, and the host can still press', () => {
  const cases: [string, (u: Up) => void, RegExp][] = [
    ['a device-readable event buffer', (u) => { u.evq.add({ out: [new Uint8Array(8)], in: [8] }); u.evq.kick(); u.dev.press(); }, /device-readable buffer in the event queue/],
    ['an event buffer shorter than an event', (u) => { u.evq.add({ in: [4] }); u.evq.kick(); u.dev.press(); }, /event buffer of 4 bytes/],
    ['a device-writable status buffer', (u) => { u.stq.add({ in: [8] }); u.stq.kick(); }, /device-writable buffer in the status queue/],
    ['a status buffer shorter than an event', (u) => { u.stq.add({ out: [new Uint8Array(6)] }); u.stq.kick(); }, /status buffer of 6 bytes/],
    ['a write to size', (u) => { u.mmio.write(MMIO_CONFIG + INPUT_CFG_SIZE, 1, 4); }, /configuration byte 2/],
    ['a write to the union', (u) => { u.mmio.write(MMIO_CONFIG + INPUT_CFG_UNION, 4, 0); }, /configuration byte 8/],
    ['a 32-bit write over select, subsel and size', (u) => { u.mmio.write(MMIO_CONFIG, 4, 0x11); }, /configuration byte 2/],
  ];
  for (const [what, act, log] of cases) {
    const u = up();
    act(u);
    assert.equal(u.drv.status & NEEDS_RESET, NEEDS_RESET, what);
    assert.equal(u.logs.length, 1, what);
    assert.match(u.logs[0], log, what);
    assert.equal(u.dev.ready, false, what);
    assert.doesNotThrow(() => u.dev.press(), what);
  }
});
