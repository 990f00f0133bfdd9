import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IrqLine } from '../../../src/devices/mmio.js';
import {
  AGENT_CTRL_RX, AGENT_CTRL_TX, AGENT_PORT_NAME, AGENT_RX, AGENT_TX, VIRTIO_CONSOLE_DEVICE_ADD, VIRTIO_CONSOLE_DEVICE_READY,
  VIRTIO_CONSOLE_F_MULTIPORT, VIRTIO_CONSOLE_PORT_NAME, VIRTIO_CONSOLE_PORT_OPEN, VIRTIO_CONSOLE_PORT_READY, VirtioAgentChannel,
} from '../../../src/devices/virtio/agent-channel.js';
import { MMIO_CONFIG, VirtioMmio } from '../../../src/devices/virtio/mmio.js';
import { BonsaiError } from '../../../src/errors.js';
import { Driver, DriverQueue, F_EVENT_IDX, F_VERSION_1, FakeRam, NEEDS_RESET, rig, roundTrip, str, text } from './driver.js';

interface Msg { id: number; event: number; value: number; extra: string }

/** The driver side of Linux's virtio_console with multiport: control buffers posted, messages read back. */
class Guest {
  readonly ctrlBufs = new Map<number, number>();
  readonly rxBufs = new Map<number, number>();
  readonly data: string[] = [];
  readonly opens: boolean[] = [];
  constructor(readonly ch: VirtioAgentChannel, readonly mmio: VirtioMmio, readonly drv: Driver, readonly ram: FakeRam) {
    ch.onData = (b) => this.data.push(str(b));
    ch.onOpen = (o) => this.opens.push(o);
  }
  q(i: number): DriverQueue { return this.drv.queues[i]; }
  postControl(n: number, len = 4096): void {
    for (let i = 0; i < n; i++) {
      const a = this.q(AGENT_CTRL_RX).add({ in: [len] });
      this.ctrlBufs.set(a.head, a.inAddrs[0]);
    }
    this.q(AGENT_CTRL_RX).kick();
  }
  postRx(n: number, len: number): void {
    for (let i = 0; i < n; i++) {
      const a = this.q(AGENT_RX).add({ in: [len] });
      this.rxBufs.set(a.head, a.inAddrs[0]);
    }
    this.q(AGENT_RX).kick();
  }
  control(event: number, value: number, id = 0): void {
    const m = new Uint8Array(8);
    const v = new DataView(m.buffer);
    v.setUint32(0, id, true); v.setUint16(4, event, true); v.setUint16(6, value, true);
    this.q(AGENT_CTRL_TX).add({ out: [m] });
    this.q(AGENT_CTRL_TX).kick();
  }
  /** Control messages the device has sent since the last call. */
  messages(): Msg[] {
    return this.q(AGENT_CTRL_RX).takeUsed().map(({ id, len }) => {
      const pa = this.ctrlBufs.get(id) as number;
      const v = new DataView(this.ram.bytes(pa, len).buffer);
      return { id: v.getUint32(0, true), event: v.getUint16(4, true), value: v.getUint16(6, true), extra: str(this.ram.bytes(pa + 8, len - 8)) };
    });
  }
  received(): string {
    return this.q(AGENT_RX).takeUsed().map(({ id, len }) => str(this.ram.bytes(this.rxBufs.get(id) as number, len))).join('');
  }
  write(s: string): void {
    this.q(AGENT_TX).add({ out: [text(s)] });
    this.q(AGENT_TX).kick();
  }
}

function up(opts: { features?: number[]; limit?: number } = {}): Guest {
  const ch = new VirtioAgentChannel({ limit: opts.limit });
  const r = rig(ch);
  const drv = new Driver(r.mmio, r.ram);
  drv.start(opts.features ?? [F_VERSION_1, F_EVENT_IDX, VIRTIO_CONSOLE_F_MULTIPORT], 4);
  return new Guest(ch, r.mmio, drv, r.ram);
}

/** Linux's probe and add_port: control buffers, DEVICE_READY, then PORT_READY once DEVICE_ADD arrives. */
function handshake(g: Guest): Msg[] {
  g.postControl(8);
  g.control(VIRTIO_CONSOLE_DEVICE_READY, 1, 0xffffffff);
  const add = g.messages();
  assert.deepEqual(add, [{ id: 0, event: VIRTIO_CONSOLE_DEVICE_ADD, value: 1, extra: '' }]);
  g.postRx(4, 64);
  g.control(VIRTIO_CONSOLE_PORT_READY, 1);
  return g.messages();
}

test('the handshake adds port 0, names it and reports the host end open; max_nr_ports is 1', () => {
  const g = up();
  assert.equal(g.mmio.read(MMIO_CONFIG + 4, 4), 1);
  assert.deepEqual(handshake(g), [
    { id: 0, event: VIRTIO_CONSOLE_PORT_NAME, value: 1, extra: AGENT_PORT_NAME },
    { id: 0, event: VIRTIO_CONSOLE_PORT_OPEN, value: 1, extra: '' },
  ]);
  assert.equal(g.ch.guestOpen, false);
  g.control(VIRTIO_CONSOLE_PORT_OPEN, 1);
  assert.deepEqual(g.opens, [true]);
  assert.equal(g.ch.guestOpen, true);
  g.control(VIRTIO_CONSOLE_PORT_OPEN, 0);
  assert.deepEqual(g.opens, [true, false]);
});

test('data flows both ways once a guest process has the port open; host data waits for it', () => {
  const g = up();
  handshake(g);
  g.ch.send(text('early'));
  assert.equal(g.received(), '', 'Linux would throw data for a closed port away');
  g.control(VIRTIO_CONSOLE_PORT_OPEN, 1);
  assert.equal(g.received(), 'early');
  g.ch.send(text('hello 1\n'));
  assert.equal(g.received(), 'hello 1\n');
  g.write('1 ok\n');
  g.write('2 ok');
  assert.deepEqual(g.data, ['1 ok\n', '2 ok']);
  assert.equal(g.drv.status & NEEDS_RESET, 0);
});

test('host data waits for receive buffers posted late, in order, split across buffers, nothing dropped', () => {
  const g = up();
  g.postControl(8);
  g.control(VIRTIO_CONSOLE_DEVICE_READY, 1);
  g.control(VIRTIO_CONSOLE_PORT_READY, 1);
  g.control(VIRTIO_CONSOLE_PORT_OPEN, 1);
  const msg = 'x'.repeat(100) + 'y'.repeat(50);
  g.ch.send(text(msg));
  assert.equal(g.ch.queued, 150);
  g.postRx(1, 64);
  assert.equal(g.received(), msg.slice(0, 64));
  assert.equal(g.ch.queued, 86);
  g.postRx(3, 64);
  assert.equal(g.received(), msg.slice(64));
  assert.equal(g.ch.queued, 0);
});

test('control messages wait for control receive buffers posted late', () => {
  const g = up();
  g.control(VIRTIO_CONSOLE_DEVICE_READY, 1);
  g.postControl(1);
  assert.equal(g.messages()[0].event, VIRTIO_CONSOLE_DEVICE_ADD);
  g.control(VIRTIO_CONSOLE_PORT_READY, 1);
  assert.deepEqual(g.messages(), []);
  g.postControl(1);
  assert.equal(g.messages()[0].event, VIRTIO_CONSOLE_PORT_NAME);
  g.postControl(1);
  assert.equal(g.messages()[0].event, VIRTIO_CONSOLE_PORT_OPEN);
});

test('the host data bound refuses more with a BonsaiError and keeps what it has', () => {
  const g = up({ limit: 10 });
  g.ch.send(text('12345678'));
  assert.throws(() => g.ch.send(text('abc')), BonsaiError);
  assert.equal(g.ch.queued, 8);
  g.ch.discard();
  assert.equal(g.ch.queued, 0);
});

test('state saved mid-operation (data queued, a control message waiting, the port open) resumes on a restored machine', () => {
  const g = up();
  handshake(g);
  g.control(VIRTIO_CONSOLE_PORT_OPEN, 1);
  g.ch.send(text('z'.repeat(256)));
  assert.equal(g.received().length, 256, 'four 64-byte buffers were posted');
  g.ch.send(text('queued'));
  // Use up the control buffers, then a second PORT_READY (Linux sends one again for a DEVICE_ADD of a
  // port it has): its two answers wait in the device.
  for (let i = 0; i < 5; i++) g.control(VIRTIO_CONSOLE_DEVICE_READY, 1);
  g.control(VIRTIO_CONSOLE_PORT_READY, 1);
  const saved = roundTrip(g.mmio.save());
  const ram = g.ram.clone();
  const ch = new VirtioAgentChannel();
  const opens: boolean[] = [];
  ch.onOpen = (o) => opens.push(o);
  const mmio = new VirtioMmio(ch, { mem: ram, irq: new IrqLine(() => {}), log: () => {} });
  mmio.restore(saved);
  assert.deepEqual(mmio.save(), saved);
  assert.deepEqual(opens, [true], 'the host hears that the port is open');
  assert.equal(ch.guestOpen, true);
  const g2 = new Guest(ch, mmio, g.drv.over(mmio, ram), ram);
  for (const [k, v] of g.ctrlBufs) g2.ctrlBufs.set(k, v);
  for (const [k, v] of g.rxBufs) g2.rxBufs.set(k, v);
  g2.postRx(1, 64);
  assert.equal(g2.received(), 'queued');
  g2.postControl(4);
  assert.deepEqual(g2.messages().map((m) => m.event).slice(-2), [VIRTIO_CONSOLE_PORT_NAME, VIRTIO_CONSOLE_PORT_OPEN]);
  g2.write('after restore');
  assert.deepEqual(g2.data, ['after restore']);
  for (const bad of [{ ...(saved as object), device: { input: '', control: [], portReady: false, open: true } }, { ...(saved as object), device: 'x' },
    { ...(saved as object), device: { input: '', control: ['AA=='], portReady: true, open: true } }]) {
    assert.throws(() => mmio.restore(roundTrip(bad as never)), Error);
  }
});

test('garbage control messages are ignored; a short control buffer or a writable transmit buffer is a driver error', () => {
  const g = up();
  g.postControl(8);
  g.control(VIRTIO_CONSOLE_PORT_READY, 1, 5); // no such port
  g.control(VIRTIO_CONSOLE_PORT_OPEN, 1); // port 0 not added yet
  g.control(0x4242, 7);
  g.q(AGENT_CTRL_TX).add({ out: [text('abc')] }); // shorter than a message
  g.q(AGENT_CTRL_TX).kick();
  g.control(VIRTIO_CONSOLE_DEVICE_READY, 0); // the driver failed
  assert.deepEqual(g.messages(), []);
  assert.deepEqual(g.opens, []);
  g.write('before the port exists');
  assert.deepEqual(g.data, []);
  assert.equal(g.drv.status & NEEDS_RESET, 0);
  handshake(g);

  const s = up();
  s.postControl(2, 12);
  s.control(VIRTIO_CONSOLE_DEVICE_READY, 1);
  s.control(VIRTIO_CONSOLE_PORT_READY, 1);
  assert.equal(s.drv.status & NEEDS_RESET, NEEDS_RESET, 'a 12-byte buffer cannot take the port name');

  const t = up();
  handshake(t);
  t.q(AGENT_TX).add({ in: [8] });
  t.q(AGENT_TX).kick();
  assert.equal(t.drv.status & NEEDS_RESET, NEEDS_RESET);
  t.ch.send(text('still fine')); // a broken device keeps host data and does not throw
  assert.equal(t.ch.queued, 10);
});

test('a driver that keeps asking without posting control buffers is stopped, not fed without bound', () => {
  const g = up();
  for (let i = 0; i < 40; i++) g.control(VIRTIO_CONSOLE_DEVICE_READY, 1);
  assert.equal(g.drv.status & NEEDS_RESET, NEEDS_RESET);
});

test('a reset closes the port for the host; a driver without MULTIPORT gets no port', () => {
  const g = up();
  handshake(g);
  g.control(VIRTIO_CONSOLE_PORT_OPEN, 1);
  g.drv.w(0x70, 0);
  assert.deepEqual(g.opens, [true, false]);
  const p = up({ features: [F_VERSION_1] });
  p.postControl(1);
  p.write('nobody listens');
  assert.deepEqual(p.data, []);
  p.ch.send(text('x'));
  p.postRx(1, 8);
  assert.equal(p.received(), '');
  assert.equal(p.q(AGENT_CTRL_RX).takeUsed().length, 0);
});
