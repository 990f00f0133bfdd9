import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IrqLine } from '../../../src/devices/mmio.js';
import { MMIO_INTERRUPT_STATUS, VirtioMmio } from '../../../src/devices/virtio/mmio.js';
import { RNG_MAX_BYTES, VirtioRng } from '../../../src/devices/virtio/rng.js';
import { Driver, F_EVENT_IDX, F_INDIRECT, F_VERSION_1, FakeRam, NEEDS_RESET, rig, roundTrip, text } from './driver.js';

test('the entropy device fills each buffer from the host CSPRNG and says how much it wrote', () => {
  const r = rig(new VirtioRng());
  const drv = new Driver(r.mmio, r.ram);
  const [q] = drv.start([F_VERSION_1, F_INDIRECT, F_EVENT_IDX], 1);
  const a = q.add({ in: [64] });
  const b = q.add({ in: [16, 16] });
  q.kick();
  assert.deepEqual(q.takeUsed(), [{ id: a.head, len: 64 }, { id: b.head, len: 32 }]);
  const bytes = r.ram.bytes(a.inAddrs[0], 64);
  assert.ok(bytes.some((x) => x !== 0xee) && new Set(bytes).size > 16, 'looks random');
  assert.notDeepEqual(r.ram.bytes(b.inAddrs[0], 16), r.ram.bytes(b.inAddrs[1], 16));
  assert.equal(drv.r(MMIO_INTERRUPT_STATUS), 1);
  assert.ok(r.ram.reported(a.inAddrs[0], 64));
});

test('a huge buffer gets at most RNG_MAX_BYTES, so one notification stays short', () => {
  const r = rig(new VirtioRng(), new FakeRam(1 << 20));
  const drv = new Driver(r.mmio, r.ram);
  const [q] = drv.start([F_VERSION_1], 1);
  const a = q.add({ in: [RNG_MAX_BYTES + 4096] });
  q.kick();
  assert.deepEqual(q.takeUsed(), [{ id: a.head, len: RNG_MAX_BYTES }]);
});

test('a device-readable buffer in the entropy queue is a driver error', () => {
  const r = rig(new VirtioRng());
  const drv = new Driver(r.mmio, r.ram);
  const [q] = drv.start([F_VERSION_1], 1);
  q.add({ out: [text('hi')], in: [8] });
  q.kick();
  assert.equal(drv.status & NEEDS_RESET, NEEDS_RESET);
  assert.match(r.logs[0], /device-readable buffer in the entropy queue/);
});

test('state saved with buffers waiting restores into a device that fills them', () => {
  const r = rig(new VirtioRng());
  const drv = new Driver(r.mmio, r.ram);
  const [q] = drv.start([F_VERSION_1, F_EVENT_IDX], 1);
  q.add({ in: [8] });
  q.kick();
  q.takeUsed();
  const waiting = q.add({ in: [12] }); // made available, not yet notified
  const saved = roundTrip(r.mmio.save());
  const ram = r.ram.clone();
  const mmio = new VirtioMmio(new VirtioRng((d) => d.fill(7)), { mem: ram, irq: new IrqLine(() => {}), log: () => {} });
  mmio.restore(saved);
  assert.deepEqual(mmio.save(), saved);
  const d2 = drv.over(mmio, ram);
  d2.queues[0].kick();
  assert.deepEqual(d2.queues[0].takeUsed(), [{ id: waiting.head, len: 12 }]);
  assert.deepEqual([...ram.bytes(waiting.inAddrs[0], 12)], new Array(12).fill(7));
  assert.throws(() => mmio.restore(roundTrip({ ...(saved as object), device: 5 } as never)), Error);
});
