import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MMIO_CONFIG, MMIO_STATUS } from '../../../src/devices/virtio/mmio.js';
import { NET_QUEUE_SIZE, VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS, VIRTIO_NET_HDR_SIZE, VirtioNet } from '../../../src/devices/virtio/net.js';
import type { FrameReceiver, NetBackend } from '../../../src/net/link.js';
import { Driver, DriverQueue, F_VERSION_1, FakeRam, NEEDS_RESET, rig, roundTrip } from './driver.js';

/** A backend that records what the guest sends and can answer within send() (as the user stack does). */
class LoopBackend implements NetBackend {
  readonly name = 'loop';
  sent: Uint8Array[] = [];
  mac: Uint8Array | null = null;
  receive: FrameReceiver | null = null;
  echo = false;
  attach(mac: Uint8Array, receive: FrameReceiver): void { this.mac = mac; this.receive = receive; }
  send(frame: Uint8Array): void {
    this.sent.push(frame.slice());
    if (this.echo) this.receive?.(frame.slice());
  }
  stats(): Record<string, number> { return {}; }
  async close(): Promise<void> {}
}

const MAC = Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56);

function frame(len: number, fill: number): Uint8Array {
  const f = new Uint8Array(len).fill(fill);
  f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0);
  f.set(MAC, 6);
  f[12] = 0x08; f[13] = 0x00;
  return f;
}

interface Up { net: VirtioNet; be: LoopBackend; drv: Driver; ram: FakeRam; rx: DriverQueue; tx: DriverQueue }

function up(): Up {
  const be = new LoopBackend();
  const net = new VirtioNet(be, MAC);
  const r = rig(net);
  const drv = new Driver(r.mmio, r.ram);
  const [rx, tx] = drv.start([F_VERSION_1, VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS], 2);
  return { net, be, drv, ram: r.ram, rx, tx };
}

function post(rx: DriverQueue, n: number, len = VIRTIO_NET_HDR_SIZE + 1514): number[] {
  const addrs: number[] = [];
  for (let i = 0; i < n; i++) addrs.push(rx.add({ in: [len] }).inAddrs[0]);
  rx.kick();
  return addrs;
}

test('the MAC address and link-up status are in the configuration space', () => {
  const { drv, be } = up();
  const mac = Array.from({ length: 6 }, (_, i) => drv.mmio.read(MMIO_CONFIG + i, 1));
  assert.deepEqual(mac, Array.from(MAC));
  assert.equal(drv.mmio.read(MMIO_CONFIG + 6, 2), 1);
  assert.deepEqual(be.mac, MAC);
});

test('a transmitted frame reaches the backend without its virtio_net_hdr, within the notification', () => {
  const { tx, be, net } = up();
  const f = frame(60, 0xab);
  const hdr = new Uint8Array(VIRTIO_NET_HDR_SIZE);
  const a = tx.add({ out: [hdr, f] });
  tx.kick();
  assert.equal(be.sent.length, 1);
  assert.deepEqual(be.sent[0], f);
  assert.deepEqual(tx.takeUsed(), [{ id: a.head, len: 0 }]);
  assert.equal(net.counters.txFrames, 1);
});

test('runts and frames over the MTU are dropped and counted, and their buffers still returned', () => {
  const { tx, be, net } = up();
  tx.add({ out: [new Uint8Array(VIRTIO_NET_HDR_SIZE + 10)] });
  tx.add({ out: [new Uint8Array(VIRTIO_NET_HDR_SIZE + 1515)] });
  tx.kick();
  assert.equal(be.sent.length, 0);
  assert.equal(net.counters.txDropped, 2);
  assert.equal(tx.takeUsed().length, 2);
});

test('frames for the guest fill receive buffers behind a header with num_buffers = 1', () => {
  const { rx, be, ram } = up();
  const [a] = post(rx, 1);
  const f = frame(100, 0x5a);
  be.receive?.(f);
  const used = rx.takeUsed();
  assert.deepEqual(used.map((u) => u.len), [VIRTIO_NET_HDR_SIZE + 100]);
  const got = ram.bytes(a, VIRTIO_NET_HDR_SIZE + 100);
  assert.equal(got[10], 1);
  assert.deepEqual(got.subarray(VIRTIO_NET_HDR_SIZE), f);
});

test('frames wait for receive buffers, in order, and a backend may answer inside send()', () => {
  const { rx, tx, be, ram } = up();
  be.echo = true;
  const f1 = frame(64, 1), f2 = frame(64, 2);
  tx.add({ out: [new Uint8Array(VIRTIO_NET_HDR_SIZE), f1] });
  tx.add({ out: [new Uint8Array(VIRTIO_NET_HDR_SIZE), f2] });
  tx.kick();
  const bufs = post(rx, 2);
  const used = rx.takeUsed();
  assert.equal(used.length, 2);
  assert.deepEqual(ram.bytes(bufs[0] + VIRTIO_NET_HDR_SIZE, 64), f1);
  assert.deepEqual(ram.bytes(bufs[1] + VIRTIO_NET_HDR_SIZE, 64), f2);
});

test('the host-side receive queue is bounded: a guest that never reads drops frames, it does not grow', () => {
  const { be, net } = up();
  for (let i = 0; i < 10_000; i++) be.receive?.(frame(1514, i & 0xff));
  assert.ok(net.counters.rxDropped >= 10_000 - 1024);
  assert.equal(roundTrip(net.save()) !== null, true);
});

test('a receive buffer too small for the frame is returned empty and the frame counted as dropped', () => {
  const { rx, be, net } = up();
  post(rx, 1, 64);
  be.receive?.(frame(200, 3));
  assert.deepEqual(rx.takeUsed().map((u) => u.len), [0]);
  assert.equal(net.counters.rxDropped, 1);
});

test('frames that arrive before the driver is up are dropped', () => {
  const be = new LoopBackend();
  const net = new VirtioNet(be, MAC);
  rig(net);
  be.receive?.(frame(60, 0));
  assert.equal(net.counters.rxDropped, 1);
});

test('a writable buffer in the transmit queue puts the device in DEVICE_NEEDS_RESET', () => {
  const { tx, drv, be } = up();
  tx.add({ in: [1600] });
  tx.kick();
  assert.ok(drv.r(MMIO_STATUS) & NEEDS_RESET);
  assert.equal(be.sent.length, 0);
});

test('queued frames survive a save and restore mid-operation', () => {
  const { net, be } = up();
  be.receive?.(frame(80, 7));
  const s = roundTrip(net.save());
  const be2 = new LoopBackend();
  const net2 = new VirtioNet(be2, MAC);
  const r = rig(net2);
  const drv = new Driver(r.mmio, r.ram);
  const [rx] = drv.start([F_VERSION_1, VIRTIO_NET_F_MAC], 2);
  net2.restore(s);
  const [a] = post(rx, 1);
  assert.deepEqual(rx.takeUsed().map((u) => u.len), [VIRTIO_NET_HDR_SIZE + 80]);
  assert.deepEqual(r.ram.bytes(a + VIRTIO_NET_HDR_SIZE, 80), frame(80, 7));
  assert.throws(() => new VirtioNet(be2, Uint8Array.of(1, 2, 3, 4, 5, 6)).restore(s), /MAC/);
  assert.equal(NET_QUEUE_SIZE, 256);
});
