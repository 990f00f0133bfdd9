/**
 * Driver sequences that QEMU's virtio-mmio lets through and so must Bonsai's: the way xv6, U-Boot and other
 * small kernels drive a device, beside the spec's strict order (3.1.1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_T_IN, VirtioBlk } from '../../../src/devices/virtio/blk.js';
import {
  MMIO_DEVICE_FEATURES, MMIO_DEVICE_FEATURES_SEL, MMIO_DRIVER_FEATURES, MMIO_DRIVER_FEATURES_SEL,
  MMIO_QUEUE_NOTIFY, MMIO_STATUS,
} from '../../../src/devices/virtio/mmio.js';
import { VIRTIO_NET_F_MAC, VirtioNet } from '../../../src/devices/virtio/net.js';
import type { FrameReceiver, NetBackend } from '../../../src/net/link.js';
import { VirtioRng } from '../../../src/devices/virtio/rng.js';
import { MemBackend } from './backend.js';
import {
  ACKNOWLEDGE, DRIVER, DRIVER_OK, Driver, type DriverQueue, F_EVENT_IDX, F_VERSION_1, FEATURES_OK, NEEDS_RESET,
  rig, settle,
} from './driver.js';

const SECTOR = 512;

/** A disk whose sector n is filled with the byte n + 1. */
function disk(sectors: number): MemBackend {
  const b = new MemBackend(sectors * SECTOR);
  for (let s = 0; s < sectors; s++) b.data.fill(s + 1, s * SECTOR, (s + 1) * SECTOR);
  return b;
}

/** A read of one sector as xv6's virtio_disk_rw builds it: header, data, status, three descriptors. */
function readSector(q: DriverQueue, sector: number): { data: number; status: number } {
  const h = new Uint8Array(16);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, VIRTIO_BLK_T_IN, true);
  dv.setUint32(8, sector, true);
  const added = q.add({ out: [h], in: [SECTOR, 1] });
  return { data: added.inAddrs[0], status: added.inAddrs[1] };
}

test('an xv6-style driver that reads only the low feature word and never accepts VERSION_1 gets FEATURES_OK and a working disk', async () => {
  const r = rig(new VirtioBlk(disk(8)));
  const drv = new Driver(r.mmio, r.ram);
  drv.w(MMIO_STATUS, 0);
  drv.w(MMIO_STATUS, ACKNOWLEDGE);
  drv.w(MMIO_STATUS, ACKNOWLEDGE | DRIVER);
  // xv6: features = *R(DEVICE_FEATURES) (select 0 only), a few bits cleared, written back to word 0.
  const features = drv.r(MMIO_DEVICE_FEATURES) & ~(1 << F_EVENT_IDX) & ~(1 << 28);
  drv.w(MMIO_DRIVER_FEATURES, features);
  drv.w(MMIO_STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK);
  assert.equal(drv.status & FEATURES_OK, FEATURES_OK, 'FEATURES_OK reads back set');
  const q = drv.setupQueue(0, 8);
  drv.w(MMIO_STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
  const req = readSector(q, 3);
  q.kick();
  await settle();
  assert.equal(r.ram.bytes(req.status, 1)[0], 0, 'VIRTIO_BLK_S_OK');
  assert.deepEqual(r.ram.bytes(req.data, SECTOR), new Uint8Array(SECTOR).fill(4));
  assert.deepEqual(q.takeUsed(), [{ id: 0, len: SECTOR + 1 }]);
  assert.equal(r.mmio.broken, false);
  assert.deepEqual(r.logs, []);
  const state = r.mmio.save() as { negotiated: number[] };
  assert.deepEqual(state.negotiated, [features >>> 0, 0], 'the low word as accepted, no VERSION_1');
  assert.equal((features >>> VIRTIO_BLK_F_FLUSH) & 1, 1);
});

test('features the device did not offer are dropped, not refused: FEATURES_OK sticks with the offered ones', () => {
  const r = rig(new VirtioRng());
  const drv = new Driver(r.mmio, r.ram);
  drv.w(MMIO_STATUS, ACKNOWLEDGE | DRIVER);
  drv.writeFeatures([F_VERSION_1, 5, 40]);
  drv.w(MMIO_STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK);
  assert.equal(drv.status & FEATURES_OK, FEATURES_OK);
  const state = r.mmio.save() as { negotiated: number[] };
  assert.deepEqual(state.negotiated, [0, 1], 'only VERSION_1 of the three was offered');
});

test('a U-Boot-style driver that sets DRIVER_OK without FEATURES_OK runs with the features it wrote', async () => {
  const r = rig(new VirtioBlk(disk(8)));
  const drv = new Driver(r.mmio, r.ram);
  drv.w(MMIO_STATUS, 0);
  drv.w(MMIO_STATUS, ACKNOWLEDGE);
  drv.w(MMIO_STATUS, ACKNOWLEDGE | DRIVER);
  drv.w(MMIO_DEVICE_FEATURES_SEL, 0);
  drv.w(MMIO_DRIVER_FEATURES_SEL, 0);
  drv.w(MMIO_DRIVER_FEATURES, drv.r(MMIO_DEVICE_FEATURES) & (1 << F_EVENT_IDX));
  drv.w(MMIO_DRIVER_FEATURES_SEL, 1);
  drv.w(MMIO_DRIVER_FEATURES, 0);
  const q = drv.setupQueue(0, 16);
  drv.w(MMIO_STATUS, ACKNOWLEDGE | DRIVER | DRIVER_OK);
  assert.equal(drv.status & NEEDS_RESET, 0);
  drv.w(MMIO_DRIVER_FEATURES_SEL, 0);
  drv.w(MMIO_DRIVER_FEATURES, 0); // too late: the features were fixed at DRIVER_OK
  q.usedEvent = 0;
  const req = readSector(q, 5);
  q.kick();
  assert.equal(q.availEvent, 1, 'EVENT_IDX is in force: the device publishes avail_event');
  await settle();
  assert.deepEqual(r.ram.bytes(req.data, 4), new Uint8Array(4).fill(6));
  assert.equal(r.mmio.broken, false);
  assert.deepEqual(r.logs, []);
});

test('buffers notified before DRIVER_OK wait, and are served once the driver sets it', async () => {
  const r = rig(new VirtioBlk(disk(8)));
  const drv = new Driver(r.mmio, r.ram);
  assert.ok(drv.negotiate([F_VERSION_1]));
  const q = drv.setupQueue(0);
  const req = readSector(q, 2);
  q.kick();
  await settle();
  assert.equal(drv.status & NEEDS_RESET, 0);
  assert.equal(q.usedIdx, 0, 'nothing is served before DRIVER_OK');
  drv.driverOk();
  await settle();
  assert.deepEqual(q.takeUsed(), [{ id: 0, len: SECTOR + 1 }]);
  assert.deepEqual(r.ram.bytes(req.data, 4), new Uint8Array(4).fill(3));
  assert.deepEqual(r.logs, []);
});

test('a notification of a queue the device lacks, or one not ready, is ignored and the device goes on', async () => {
  const r = rig(new VirtioBlk(disk(8)));
  const drv = new Driver(r.mmio, r.ram);
  assert.ok(drv.negotiate([F_VERSION_1]));
  drv.driverOk();
  drv.w(MMIO_QUEUE_NOTIFY, 0); // queue 0 not set up yet
  drv.w(MMIO_QUEUE_NOTIFY, 7); // no queue 7
  drv.w(MMIO_QUEUE_NOTIFY, 0xffff);
  assert.equal(drv.status & NEEDS_RESET, 0);
  const q = drv.setupQueue(0);
  const req = readSector(q, 0);
  q.kick();
  await settle();
  assert.deepEqual(r.ram.bytes(req.data, 4), new Uint8Array(4).fill(1));
  assert.deepEqual(r.logs, []);
});

test('rings outside RAM still mark the device broken (as QEMU does), with one log line', () => {
  const r = rig(new VirtioBlk(disk(8)));
  const drv = new Driver(r.mmio, r.ram);
  assert.ok(drv.negotiate([F_VERSION_1]));
  drv.w(0x030, 0); // QueueSel
  drv.w(0x080, 0x10); // descriptor table below RAM
  drv.w(0x044, 1);
  assert.equal(drv.status & NEEDS_RESET, NEEDS_RESET);
  assert.equal(r.logs.length, 1);
});

class Loop implements NetBackend {
  readonly name = 'loop';
  sent: Uint8Array[] = [];
  rx: FrameReceiver = () => {};
  attach(_mac: Uint8Array, receive: FrameReceiver): void { this.rx = receive; }
  send(frame: Uint8Array): void { this.sent.push(frame.slice()); }
  stats(): Record<string, number> { return {}; }
  close(): Promise<void> { return Promise.resolve(); }
}

test('virtio-net without VERSION_1 uses the 10-byte header both ways, as QEMU gives such drivers', () => {
  for (const [wanted, hdr] of [[[VIRTIO_NET_F_MAC], 10], [[VIRTIO_NET_F_MAC, F_VERSION_1], 12]] as const) {
    const backend = new Loop();
    const r = rig(new VirtioNet(backend, Uint8Array.of(2, 0, 0, 0, 0, 1)));
    const drv = new Driver(r.mmio, r.ram);
    const [rx, tx] = drv.start([...wanted], 2);
    const frame = new Uint8Array(60).fill(0xab);
    tx.add({ out: [new Uint8Array(hdr), frame] });
    tx.kick();
    assert.equal(backend.sent.length, 1, `header ${hdr}`);
    assert.deepEqual(backend.sent[0], frame);
    const got = rx.add({ in: [1514 + hdr] });
    rx.kick();
    backend.rx(frame);
    assert.deepEqual(rx.takeUsed(), [{ id: got.head, len: hdr + frame.length }]);
    assert.deepEqual(r.ram.bytes(got.inAddrs[0] + hdr, frame.length), frame);
  }
});
