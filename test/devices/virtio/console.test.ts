import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IrqLine } from '../../../src/devices/mmio.js';
import {
  CONSOLE_RX, CONSOLE_TX, VIRTIO_CONSOLE_F_EMERG_WRITE, VIRTIO_CONSOLE_F_SIZE, VirtioConsole,
} from '../../../src/devices/virtio/console.js';
import { MMIO_CONFIG, MMIO_CONFIG_GENERATION, MMIO_INTERRUPT_STATUS, VirtioMmio } from '../../../src/devices/virtio/mmio.js';
import { Driver, DriverQueue, F_EVENT_IDX, F_VERSION_1, FakeRam, NEEDS_RESET, rig, roundTrip, str, text } from './driver.js';

interface Up { con: VirtioConsole; mmio: VirtioMmio; drv: Driver; ram: FakeRam; out: string[]; rx: DriverQueue; tx: DriverQueue; logs: string[] }

function up(opts: { size?: { cols: number; rows: number }; features?: number[] } = {}): Up {
  const out: string[] = [];
  const con = new VirtioConsole((b) => out.push(str(b)), { size: opts.size });
  const r = rig(con);
  const drv = new Driver(r.mmio, r.ram);
  const [rx, tx] = drv.start(opts.features ?? [F_VERSION_1, F_EVENT_IDX, VIRTIO_CONSOLE_F_SIZE], 2);
  return { con, mmio: r.mmio, drv, ram: r.ram, out, rx, tx, logs: r.logs };
}

/** What Linux's virtio_console does at probe: fill the receive queue with buffers and kick. */
function fillRx(rx: DriverQueue, n: number, len: number): number[] {
  const heads: number[] = [];
  for (let i = 0; i < n; i++) heads.push(rx.add({ in: [len] }).inAddrs[0]);
  rx.kick();
  return heads;
}

test('output in the transmit queue leaves at once, within the notification (hvc spins on it)', () => {
  const { tx, out, drv } = up();
  const a = tx.add({ out: [text('hello, '), text('world\n')] });
  tx.kick();
  assert.deepEqual(out, ['hello, world\n']);
  assert.deepEqual(tx.takeUsed(), [{ id: a.head, len: 0 }]);
  assert.equal(drv.r(MMIO_INTERRUPT_STATUS), 1);
});

test('input waits for receive buffers, then fills them in order, nothing dropped', () => {
  const { con, rx, ram } = up();
  con.receive(text('early '));
  con.receive(text('input that is longer than one buffer'));
  assert.equal(con.queued, 42);
  const bufs = fillRx(rx, 4, 16);
  const used = rx.takeUsed();
  assert.deepEqual(used.map((u) => u.len), [16, 16, 10]);
  const got = used.map((u, i) => str(ram.bytes(bufs[i], u.len))).join('');
  assert.equal(got, 'early input that is longer than one buffer');
  assert.equal(con.queued, 0);
  con.receive(text('more'));
  const u = rx.takeUsed();
  assert.deepEqual(u.map((x) => x.len), [4]);
  assert.equal(str(ram.bytes(bufs[3], 4)), 'more');
});

test('input sent before the driver is up is delivered once it is', () => {
  const out: string[] = [];
  const con = new VirtioConsole((b) => out.push(str(b)));
  const r = rig(con);
  con.receive(text('typed ahead'));
  const drv = new Driver(r.mmio, r.ram);
  const [rx] = drv.start([F_VERSION_1], 2);
  const [buf] = fillRx(rx, 1, 64);
  assert.deepEqual(rx.takeUsed().map((u) => u.len), [11]);
  assert.equal(str(r.ram.bytes(buf, 11)), 'typed ahead');
});

test('input is kept when the receive queue is full, and a reset does not lose it', () => {
  const { con, rx, drv, ram } = up();
  fillRx(rx, 1, 4);
  con.receive(text('abcdefgh'));
  assert.equal(rx.takeUsed().length, 1);
  assert.equal(con.queued, 4);
  drv.w(0x70, 0);
  const d2 = new Driver(drv.mmio, ram);
  const [rx2] = d2.start([F_VERSION_1], 2);
  const [buf] = fillRx(rx2, 1, 16);
  assert.equal(str(ram.bytes(buf, 4)), 'efgh');
});

test('the emergency write register prints a byte even before the driver set anything up', () => {
  const out: string[] = [];
  const con = new VirtioConsole((b) => out.push(str(b)));
  const r = rig(con);
  const [lo] = new Driver(r.mmio, r.ram).deviceFeatures();
  assert.equal((lo >>> VIRTIO_CONSOLE_F_EMERG_WRITE) & 1, 1);
  assert.equal((lo >>> VIRTIO_CONSOLE_F_SIZE) & 1, 0, 'no size offered without a terminal size');
  r.mmio.write(MMIO_CONFIG + 8, 4, 0x121);
  assert.deepEqual(out, ['!']);
});

test('with VIRTIO_CONSOLE_F_SIZE the size is in the config space and a resize is a configuration change', () => {
  const { con, mmio, drv } = up({ size: { cols: 80, rows: 24 } });
  assert.equal(mmio.read(MMIO_CONFIG, 2), 80);
  assert.equal(mmio.read(MMIO_CONFIG + 2, 2), 24);
  const gen = drv.r(MMIO_CONFIG_GENERATION);
  con.resize(132, 50);
  assert.equal(mmio.read(MMIO_CONFIG, 4), (50 << 16) | 132);
  assert.notEqual(drv.r(MMIO_CONFIG_GENERATION), gen);
  assert.equal(drv.r(MMIO_INTERRUPT_STATUS) & 2, 2);
});

test('a writable buffer in the transmit queue or a readable one in the receive queue is a driver error', () => {
  const a = up();
  a.tx.add({ in: [4] });
  a.tx.kick();
  assert.equal(a.drv.status & NEEDS_RESET, NEEDS_RESET);
  const b = up();
  b.con.receive(text('x'));
  b.rx.add({ out: [text('no')] });
  b.rx.kick();
  assert.equal(b.drv.status & NEEDS_RESET, NEEDS_RESET);
  assert.match(b.logs[0], /device-readable buffer in the receive queue/);
  b.con.receive(text('more')); // a broken device keeps the input and does not throw
  assert.equal(b.con.queued, 5);
});

test('state saved with input queued and receive buffers posted resumes on a restored machine', () => {
  const a = up({ size: { cols: 100, rows: 30 } });
  const [b0] = fillRx(a.rx, 1, 8);
  a.con.receive(text('0123456789abc'));
  assert.equal(a.rx.takeUsed().length, 1);
  a.con.resize(90, 20);
  const saved = roundTrip(a.mmio.save());
  const ram = a.ram.clone();
  const out: string[] = [];
  const con = new VirtioConsole((b) => out.push(str(b)), { size: { cols: 1, rows: 1 } });
  const mmio = new VirtioMmio(con, { mem: ram, irq: new IrqLine(() => {}), log: () => {} });
  mmio.restore(saved);
  assert.deepEqual(mmio.save(), saved);
  assert.equal(con.queued, 5);
  assert.equal(mmio.read(MMIO_CONFIG, 2), 90, 'the size the guest saw comes back');
  assert.equal(str(ram.bytes(b0, 8)), '01234567');
  const d = a.drv.over(mmio, ram);
  const [b1] = fillRx(d.queues[CONSOLE_RX], 1, 8);
  assert.equal(str(ram.bytes(b1, 5)), '89abc');
  const t = d.queues[CONSOLE_TX];
  t.add({ out: [text('after restore')] });
  t.kick();
  assert.deepEqual(out, ['after restore']);
  for (const bad of [{ input: '!!', cols: 1, rows: 1 }, { input: '', cols: -1, rows: 1 }, 'x']) {
    assert.throws(() => mmio.restore(roundTrip({ ...(saved as object), device: bad } as never)), Error);
  }
});
