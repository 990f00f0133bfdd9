import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtioBlk } from '../../../src/devices/virtio/blk.js';
import {
  MMIO_CONFIG, MMIO_CONFIG_GENERATION, MMIO_DEVICE_ID, MMIO_INTERRUPT_ACK, MMIO_INTERRUPT_STATUS,
  MMIO_MAGIC_VALUE, MMIO_QUEUE_DESC_LOW, MMIO_QUEUE_NOTIFY, MMIO_QUEUE_NUM, MMIO_QUEUE_NUM_MAX,
  MMIO_QUEUE_READY, MMIO_QUEUE_SEL, MMIO_SHM_BASE_HIGH, MMIO_SHM_LEN_HIGH, MMIO_SHM_LEN_LOW, MMIO_SHM_SEL,
  MMIO_STATUS, MMIO_VENDOR_ID, MMIO_VERSION, VirtioMmio,
} from '../../../src/devices/virtio/mmio.js';
import { VirtioRng } from '../../../src/devices/virtio/rng.js';
import { IrqLine } from '../../../src/devices/mmio.js';
import {
  ACKNOWLEDGE, DRIVER, DRIVER_OK, Driver, F_EVENT_IDX, F_INDIRECT, F_VERSION_1, FakeRam, FEATURES_OK,
  NEEDS_RESET, rig, roundTrip,
} from './driver.js';
import { MemBackend } from './backend.js';

function rngRig(): ReturnType<typeof rig<VirtioRng>> & { drv: Driver } {
  const r = rig(new VirtioRng());
  return { ...r, drv: new Driver(r.mmio, r.ram) };
}

/** A driver error that QEMU also calls one: a descriptor table outside RAM, made ready. */
function breakDevice(drv: Driver): void {
  drv.negotiate([F_VERSION_1]);
  drv.w(MMIO_QUEUE_SEL, 0);
  drv.w(MMIO_QUEUE_DESC_LOW, 0x10);
  drv.w(MMIO_QUEUE_READY, 1);
}

test('the registers identify a version 2 virtio-mmio device with no shared memory', () => {
  const { drv } = rngRig();
  assert.equal(drv.r(MMIO_MAGIC_VALUE), 0x74726976);
  assert.equal(drv.r(MMIO_VERSION), 2);
  assert.equal(drv.r(MMIO_DEVICE_ID), 4);
  assert.equal(drv.r(MMIO_VENDOR_ID), 0x554d4551);
  drv.w(MMIO_SHM_SEL, 0);
  assert.equal(drv.r(MMIO_SHM_LEN_LOW), 0xffffffff);
  assert.equal(drv.r(MMIO_SHM_LEN_HIGH), 0xffffffff);
  assert.equal(drv.r(MMIO_SHM_BASE_HIGH), 0xffffffff);
  assert.equal(drv.status, 0);
});

test('control registers answer only aligned 32-bit accesses', () => {
  const { mmio } = rngRig();
  assert.equal(mmio.read(MMIO_MAGIC_VALUE, 1), 0);
  assert.equal(mmio.read(MMIO_MAGIC_VALUE, 2), 0);
  assert.equal(mmio.read(MMIO_MAGIC_VALUE + 1, 4), 0);
  mmio.write(MMIO_STATUS, 1, ACKNOWLEDGE);
  assert.equal(mmio.read(MMIO_STATUS, 4), 0);
});

test('the device offers VERSION_1, INDIRECT_DESC and EVENT_IDX beside its own features', () => {
  const r = rig(new VirtioBlk(new MemBackend(4096)));
  const drv = new Driver(r.mmio, r.ram);
  const [lo, hi] = drv.deviceFeatures();
  assert.equal(hi & 1, 1, 'VIRTIO_F_VERSION_1');
  assert.equal((lo >>> F_INDIRECT) & 1, 1);
  assert.equal((lo >>> F_EVENT_IDX) & 1, 1);
  assert.equal((lo >>> 9) & 1, 1, 'VIRTIO_BLK_F_FLUSH');
  drv.w(0x14, 2);
  assert.equal(drv.r(0x10), 0, 'feature words past the second are 0');
});

test('driver features are fixed once FEATURES_OK is set', () => {
  const r = rig(new VirtioBlk(new MemBackend(4096)));
  const drv = new Driver(r.mmio, r.ram);
  assert.ok(drv.negotiate([F_VERSION_1]));
  drv.writeFeatures([F_VERSION_1, 9]); // too late: ignored
  drv.setupQueue(0);
  drv.driverOk();
  const state = r.mmio.save() as { negotiated: number[] };
  assert.deepEqual(state.negotiated, [0, 1]);
});

test('rings that are unaligned, outside RAM or of a size that is not a power of 2 are refused when made ready', () => {
  const cases: [string, (drv: Driver) => void][] = [
    ['unaligned descriptor table', (d) => d.w(MMIO_QUEUE_DESC_LOW, 0x80002008)],
    ['unaligned available ring', (d) => d.w(0x90, 0x80001001)],
    ['unaligned used ring', (d) => d.w(0xa0, 0x80001002)],
    ['descriptor table outside RAM', (d) => d.w(MMIO_QUEUE_DESC_LOW, 0x1000)],
    ['used ring past the end of RAM', (d) => d.w(0xa0, 0x80100000 - 8)],
    ['high address half', (d) => d.w(0x84, 1)],
    ['size not a power of 2', (d) => d.w(MMIO_QUEUE_NUM, 48)],
    ['size above QueueNumMax', (d) => d.w(MMIO_QUEUE_NUM, 128)],
    ['size 0', (d) => d.w(MMIO_QUEUE_NUM, 0)],
  ];
  for (const [what, spoil] of cases) {
    const { drv, logs } = rngRig();
    assert.ok(drv.negotiate([F_VERSION_1]));
    drv.w(MMIO_QUEUE_SEL, 0);
    const n = drv.r(MMIO_QUEUE_NUM_MAX);
    drv.w(MMIO_QUEUE_NUM, n);
    drv.w(MMIO_QUEUE_DESC_LOW, 0x80002000);
    drv.w(0x90, 0x80003000);
    drv.w(0xa0, 0x80004000);
    spoil(drv);
    drv.w(MMIO_QUEUE_READY, 1);
    assert.equal(drv.status & NEEDS_RESET, NEEDS_RESET, what);
    assert.equal(drv.r(MMIO_QUEUE_READY), 0, what);
    assert.equal(logs.length, 1, what);
  }
});

test('writing 0 to Status resets the device, which then works again; the log stays at one line', () => {
  const { drv, irq, logs, ram } = rngRig();
  breakDevice(drv);
  assert.equal(drv.status & NEEDS_RESET, NEEDS_RESET);
  drv.w(MMIO_STATUS, 0);
  assert.equal(drv.status, 0);
  assert.equal(irq.level, false);
  assert.equal(drv.r(MMIO_INTERRUPT_STATUS), 0);
  drv.w(MMIO_QUEUE_SEL, 0);
  assert.equal(drv.r(MMIO_QUEUE_READY), 0, 'reset clears QueueReady');
  const d2 = new Driver(drv.mmio, ram);
  const [q] = d2.start([F_VERSION_1], 1);
  q.add({ in: [16] });
  q.kick();
  assert.deepEqual(q.takeUsed().map((u) => u.len), [16]);
  breakDevice(d2);
  assert.equal(d2.status & NEEDS_RESET, NEEDS_RESET);
  assert.equal(logs.length, 1, 'one line per device, however often it is broken');
});

test('the driver cannot set DEVICE_NEEDS_RESET itself', () => {
  const { drv } = rngRig();
  drv.w(MMIO_STATUS, ACKNOWLEDGE | NEEDS_RESET);
  assert.equal(drv.status, ACKNOWLEDGE);
});

test('QueueNumMax is 0 for queues the device lacks; QueueReady reads back; layout writes are ignored while ready', () => {
  const { drv, ram } = rngRig();
  drv.w(MMIO_QUEUE_SEL, 1);
  assert.equal(drv.r(MMIO_QUEUE_NUM_MAX), 0);
  drv.w(MMIO_QUEUE_READY, 1);
  assert.equal(drv.r(MMIO_QUEUE_READY), 0);
  assert.ok(drv.negotiate([F_VERSION_1]));
  const q = drv.setupQueue(0);
  drv.driverOk();
  assert.equal(drv.r(MMIO_QUEUE_READY), 1);
  drv.w(MMIO_QUEUE_DESC_LOW, 0x1000); // ignored: the queue is ready
  q.add({ in: [8] });
  q.kick();
  assert.equal(q.takeUsed().length, 1);
  assert.equal(drv.status & NEEDS_RESET, 0);
  drv.w(MMIO_QUEUE_READY, 0);
  assert.equal(drv.r(MMIO_QUEUE_READY), 0);
  assert.ok(ram.writes.length > 0);
});

test('configuration space reads reach the device; device-side changes bump ConfigGeneration and raise a config interrupt', () => {
  const backend = new MemBackend(8 * 512);
  const blk = new VirtioBlk(backend);
  const r = rig(blk);
  const drv = new Driver(r.mmio, r.ram);
  assert.equal(r.mmio.read(MMIO_CONFIG, 4), 8);
  assert.equal(r.mmio.read(MMIO_CONFIG + 4, 4), 0);
  assert.equal(r.mmio.read(MMIO_CONFIG, 1), 8, 'byte access to the config space');
  const gen = drv.r(MMIO_CONFIG_GENERATION);
  drv.start([F_VERSION_1], 1);
  backend.resize(16 * 512);
  blk.refreshCapacity();
  assert.notEqual(drv.r(MMIO_CONFIG_GENERATION), gen);
  assert.equal(r.mmio.read(MMIO_CONFIG, 4), 16);
  assert.equal(drv.r(MMIO_INTERRUPT_STATUS), 2);
  assert.equal(r.irq.level, true);
});

test('InterruptACK clears the bits it names and lowers the line when none remain', () => {
  const { drv, irq } = rngRig();
  const [q] = drv.start([F_VERSION_1], 1);
  q.add({ in: [4] });
  q.kick();
  assert.equal(drv.r(MMIO_INTERRUPT_STATUS), 1);
  assert.equal(irq.level, true);
  drv.w(MMIO_INTERRUPT_ACK, 2);
  assert.equal(irq.level, true);
  drv.w(MMIO_INTERRUPT_ACK, 1);
  assert.equal(irq.level, false);
  assert.equal(drv.r(MMIO_INTERRUPT_STATUS), 0);
});

test('transport state round-trips, and malformed state is refused without changing anything', () => {
  const { drv, mmio, ram } = rngRig();
  const [q] = drv.start([F_VERSION_1, F_EVENT_IDX], 1);
  q.add({ in: [4] });
  q.kick();
  const saved = roundTrip(mmio.save());
  const irq = new IrqLine(() => {});
  const other = new VirtioMmio(new VirtioRng(), { mem: ram, irq, log: () => {} });
  other.restore(saved);
  assert.deepEqual(other.save(), mmio.save());
  assert.equal(irq.level, true, 'the pending interrupt is back on the line');
  const before = mmio.save();
  const bad = (patch: Record<string, unknown>): unknown => ({ ...(saved as Record<string, unknown>), ...patch });
  for (const s of [
    bad({ status: 300 }), bad({ queues: [] }), bad({ driverFeatures: [1] }), bad({ interruptStatus: 4 }),
    bad({ device: undefined }), bad({ queues: [{ size: 256, ready: true }] }), 7, null,
  ]) {
    assert.throws(() => mmio.restore(JSON.parse(JSON.stringify(s ?? null))), Error);
    assert.deepEqual(mmio.save(), before);
  }
});

test('a restored ready queue must fit in RAM', () => {
  const { drv, mmio } = rngRig();
  drv.start([F_VERSION_1], 1);
  const saved = roundTrip(mmio.save());
  const small = new FakeRam(0x1000);
  const other = new VirtioMmio(new VirtioRng(), { mem: small, irq: new IrqLine(() => {}), log: () => {} });
  const before = other.save();
  assert.throws(() => other.restore(saved), /outside RAM/);
  assert.deepEqual(other.save(), before);
});
