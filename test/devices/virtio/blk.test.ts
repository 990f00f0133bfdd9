import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IrqLine } from '../../../src/devices/mmio.js';
import {
  BLK_MAX_DISCARD_SEG, BLK_MAX_REQUEST, BLK_SEG_MAX, BLK_SIZE_MAX, VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_RO, VIRTIO_BLK_F_WRITE_ZEROES, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_UNSUPP,
  VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT,
  VIRTIO_BLK_T_WRITE_ZEROES, VirtioBlk,
} from '../../../src/devices/virtio/blk.js';
import { MMIO_CONFIG, MMIO_INTERRUPT_STATUS, VirtioMmio } from '../../../src/devices/virtio/mmio.js';
import { MemBackend } from './backend.js';
import {
  type Added, Driver, DriverQueue, F_EVENT_IDX, F_INDIRECT, F_VERSION_1, FakeRam, NEEDS_RESET, rig, roundTrip,
  settle, str,
} from './driver.js';

const ALL = [F_VERSION_1, F_INDIRECT, F_EVENT_IDX, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_WRITE_ZEROES];

interface BlkUp {
  backend: MemBackend; blk: VirtioBlk; mmio: VirtioMmio; drv: Driver; q: DriverQueue; ram: FakeRam;
  logs: string[]; wakes: { n: number }; irq: IrqLine;
}

function blkUp(opts: { sectors?: number; readOnly?: boolean; serial?: string; features?: number[]; ram?: number } = {}): BlkUp {
  const backend = new MemBackend((opts.sectors ?? 64) * 512, opts.readOnly ?? false);
  const blk = new VirtioBlk(backend, { serial: opts.serial });
  const r = rig(blk, new FakeRam(opts.ram ?? 4 << 20));
  const drv = new Driver(r.mmio, r.ram);
  const [q] = drv.start(opts.features ?? ALL, 1);
  return { backend, blk, mmio: r.mmio, drv, q, ram: r.ram, logs: r.logs, wakes: r.wakes, irq: r.irq };
}

function header(type: number, sector: number): Uint8Array {
  const h = new Uint8Array(16);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, type, true);
  dv.setUint32(8, sector % 0x100000000, true);
  dv.setUint32(12, Math.floor(sector / 0x100000000), true);
  return h;
}

interface Req { added: Added; status: number; data?: number }

/** A request as Linux builds it: header, data segments, status byte. */
function request(q: DriverQueue, type: number, sector: number,
  o: { out?: Uint8Array[]; inLens?: number[]; indirect?: boolean } = {}): Req {
  const b = { out: [header(type, sector), ...(o.out ?? [])], in: [...(o.inLens ?? []), 1] };
  const added = o.indirect ? q.addIndirect(b) : q.add(b);
  return { added, status: added.inAddrs[added.inAddrs.length - 1], data: o.inLens ? added.inAddrs[0] : undefined };
}

function segment(sector: number, count: number, flags = 0): Uint8Array {
  const s = new Uint8Array(16);
  const dv = new DataView(s.buffer);
  dv.setUint32(0, sector, true);
  dv.setUint32(8, count, true);
  dv.setUint32(12, flags, true);
  return s;
}

const pattern = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

test('the configuration space gives capacity in sectors and sane segment limits', () => {
  const { mmio, drv } = blkUp({ sectors: 100 });
  assert.equal(mmio.read(MMIO_CONFIG, 4), 100);
  assert.equal(mmio.read(MMIO_CONFIG + 4, 4), 0);
  assert.equal(mmio.read(MMIO_CONFIG + 8, 4), BLK_SIZE_MAX);
  assert.equal(mmio.read(MMIO_CONFIG + 12, 4), BLK_SEG_MAX);
  assert.ok(BLK_SEG_MAX + 2 <= 256, 'a request fits in the queue');
  assert.equal(mmio.read(MMIO_CONFIG + 36, 4), 1 << 22, 'max_discard_sectors');
  assert.equal(mmio.read(MMIO_CONFIG + 40, 4), BLK_MAX_DISCARD_SEG);
  const [lo] = drv.deviceFeatures();
  assert.equal((lo >>> VIRTIO_BLK_F_RO) & 1, 0);
  assert.equal((lo >>> VIRTIO_BLK_F_DISCARD) & 1, 1);
});

test('a disk whose size is not a whole number of sectors shows its partial last sector', () => {
  const blk = new VirtioBlk(new MemBackend(1000));
  assert.equal(blk.capacity, 2);
});

test('writes and reads round-trip through the backend, completing later with an interrupt', async () => {
  const { q, ram, backend, drv, wakes, irq } = blkUp();
  const data = pattern(1024, 3);
  const w = request(q, VIRTIO_BLK_T_OUT, 4, { out: [data.subarray(0, 512), data.subarray(512)] });
  q.kick();
  assert.equal(q.usedIdx, 0, 'host I/O completes between slices, not inside the notification');
  await settle();
  assert.deepEqual(q.takeUsed(), [{ id: w.added.head, len: 1 }]);
  assert.equal(ram.bytes(w.status, 1)[0], VIRTIO_BLK_S_OK);
  assert.deepEqual(backend.data.subarray(2048, 3072), data);
  assert.equal(irq.level, true);
  assert.ok(wakes.n > 0);
  drv.ack();
  const r = request(q, VIRTIO_BLK_T_IN, 4, { inLens: [512, 512] });
  q.kick();
  await settle();
  assert.deepEqual(q.takeUsed(), [{ id: r.added.head, len: 1025 }]);
  assert.equal(ram.bytes(r.status, 1)[0], VIRTIO_BLK_S_OK);
  assert.deepEqual(ram.bytes(r.added.inAddrs[0], 512), data.subarray(0, 512));
  assert.deepEqual(ram.bytes(r.added.inAddrs[1], 512), data.subarray(512));
  assert.ok(ram.reported(r.added.inAddrs[0], 512), 'data written to RAM is reported');
  assert.equal(drv.r(MMIO_INTERRUPT_STATUS), 1);
});

test('requests through indirect descriptors work', async () => {
  const { q, ram, backend } = blkUp();
  backend.data.set(pattern(512, 9), 512 * 7);
  const r = request(q, VIRTIO_BLK_T_IN, 7, { inLens: [512], indirect: true });
  q.kick();
  await settle();
  assert.equal(ram.bytes(r.status, 1)[0], VIRTIO_BLK_S_OK);
  assert.deepEqual(ram.bytes(r.data ?? 0, 512), pattern(512, 9));
});

test('completions may come out of order and the used ring stays right', async () => {
  const { q, ram, backend } = blkUp();
  backend.hold = true;
  const a = request(q, VIRTIO_BLK_T_IN, 0, { inLens: [512] });
  const b = request(q, VIRTIO_BLK_T_OUT, 1, { out: [pattern(512, 1)] });
  const c = request(q, VIRTIO_BLK_T_IN, 2, { inLens: [1024] });
  q.kick();
  await settle();
  assert.deepEqual(backend.waiting, ['read@0', 'write@512', 'read@1024']);
  backend.release(2);
  await settle();
  backend.release(0);
  await settle();
  assert.deepEqual(q.takeUsed(), [{ id: c.added.head, len: 1025 }, { id: a.added.head, len: 513 }]);
  backend.release();
  await settle();
  assert.deepEqual(q.takeUsed(), [{ id: b.added.head, len: 1 }]);
  for (const r of [a, b, c]) assert.equal(ram.bytes(r.status, 1)[0], VIRTIO_BLK_S_OK);
});

test('FLUSH reaches the backend and completes after it', async () => {
  const { q, ram, backend } = blkUp();
  backend.hold = true;
  const f = request(q, VIRTIO_BLK_T_FLUSH, 0);
  q.kick();
  await settle();
  assert.equal(backend.flushes, 0);
  assert.equal(q.usedIdx, 0);
  backend.release();
  await settle();
  assert.equal(backend.flushes, 1);
  assert.equal(ram.bytes(f.status, 1)[0], VIRTIO_BLK_S_OK);
});

test('without VIRTIO_BLK_F_FLUSH negotiated, every write is flushed before it completes', async () => {
  const { q, backend } = blkUp({ features: [F_VERSION_1] });
  request(q, VIRTIO_BLK_T_OUT, 0, { out: [pattern(512, 0)] });
  q.kick();
  await settle();
  assert.deepEqual(backend.calls.map((c) => c[0]), ['write', 'flush']);
  assert.equal(q.takeUsed().length, 1);
});

test('GET_ID returns the serial, NUL-padded to 20 bytes', async () => {
  const { q, ram } = blkUp({ serial: 'bonsai-disk-0' });
  const r = request(q, VIRTIO_BLK_T_GET_ID, 0, { inLens: [20] });
  q.kick();
  assert.deepEqual(q.takeUsed(), [{ id: r.added.head, len: 21 }]);
  const id = ram.bytes(r.data ?? 0, 20);
  assert.equal(str(id.subarray(0, 13)), 'bonsai-disk-0');
  assert.deepEqual([...id.subarray(13)], new Array(7).fill(0));
  assert.equal(ram.bytes(r.status, 1)[0], VIRTIO_BLK_S_OK);
  const long = blkUp({ serial: 'x'.repeat(30) });
  const r2 = request(long.q, VIRTIO_BLK_T_GET_ID, 0, { inLens: [20] });
  long.q.kick();
  assert.equal(str(long.ram.bytes(r2.data ?? 0, 20)), 'x'.repeat(20));
});

test('DISCARD and WRITE_ZEROES reach the backend as byte ranges, within the config limits', async () => {
  const { q, ram, backend } = blkUp();
  backend.data.fill(0xaa);
  const d = request(q, VIRTIO_BLK_T_DISCARD, 0, { out: [segment(2, 4), segment(10, 1)] });
  const z = request(q, VIRTIO_BLK_T_WRITE_ZEROES, 0, { out: [segment(20, 2, 1)] });
  q.kick();
  await settle();
  assert.equal(ram.bytes(d.status, 1)[0], VIRTIO_BLK_S_OK);
  assert.equal(ram.bytes(z.status, 1)[0], VIRTIO_BLK_S_OK);
  // The two requests run concurrently; each one's ranges go in order.
  assert.deepEqual(backend.calls.filter((c) => c[0] === 'discard'), [['discard', 1024, 2048], ['discard', 5120, 512]]);
  assert.deepEqual(backend.calls.filter((c) => c[0] === 'writeZeroes'), [['writeZeroes', 10240, 1024]]);
  assert.deepEqual([...backend.data.subarray(10240, 11264)], new Array(1024).fill(0));
  assert.equal(backend.data[10239], 0xaa);
});

test('bad DISCARD and WRITE_ZEROES requests fail with the status the spec names', async () => {
  const { q, ram, backend } = blkUp();
  const tooMany = Array.from({ length: BLK_MAX_DISCARD_SEG + 1 }, (_, i) => segment(i, 1));
  const cases: [string, Req, number][] = [
    ['unmap on discard', request(q, VIRTIO_BLK_T_DISCARD, 0, { out: [segment(0, 1, 1)] }), VIRTIO_BLK_S_UNSUPP],
    ['unknown flag', request(q, VIRTIO_BLK_T_WRITE_ZEROES, 0, { out: [segment(0, 1, 2)] }), VIRTIO_BLK_S_UNSUPP],
    ['beyond the disk', request(q, VIRTIO_BLK_T_DISCARD, 0, { out: [segment(60, 8)] }), VIRTIO_BLK_S_IOERR],
    ['too many segments', request(q, VIRTIO_BLK_T_DISCARD, 0, { out: tooMany }), VIRTIO_BLK_S_IOERR],
    ['partial segment', request(q, VIRTIO_BLK_T_WRITE_ZEROES, 0, { out: [new Uint8Array(8)] }), VIRTIO_BLK_S_IOERR],
  ];
  q.kick();
  await settle();
  for (const [what, r, status] of cases) assert.equal(ram.bytes(r.status, 1)[0], status, what);
  assert.deepEqual(backend.calls, []);
  assert.equal(q.takeUsed().length, cases.length);
});

test('DISCARD without the feature negotiated is unsupported', async () => {
  const { q, ram } = blkUp({ features: [F_VERSION_1, VIRTIO_BLK_F_FLUSH] });
  const r = request(q, VIRTIO_BLK_T_DISCARD, 0, { out: [segment(0, 1)] });
  q.kick();
  assert.equal(ram.bytes(r.status, 1)[0], VIRTIO_BLK_S_UNSUPP);
});

test('a read-only disk offers VIRTIO_BLK_F_RO, fails writes without writing, and still reads', async () => {
  const { q, ram, backend, drv } = blkUp({ readOnly: true });
  const [lo] = drv.deviceFeatures();
  assert.equal((lo >>> VIRTIO_BLK_F_RO) & 1, 1);
  assert.equal((lo >>> VIRTIO_BLK_F_DISCARD) & 1, 0);
  assert.equal((lo >>> VIRTIO_BLK_F_WRITE_ZEROES) & 1, 0);
  backend.data.set(pattern(512, 5), 0);
  const w = request(q, VIRTIO_BLK_T_OUT, 0, { out: [new Uint8Array(512)] });
  const r = request(q, VIRTIO_BLK_T_IN, 0, { inLens: [512] });
  q.kick();
  await settle();
  assert.equal(ram.bytes(w.status, 1)[0], VIRTIO_BLK_S_IOERR);
  assert.ok(!backend.calls.some((c) => c[0] === 'write'));
  assert.deepEqual(backend.data.subarray(0, 512), pattern(512, 5));
  assert.equal(ram.bytes(r.status, 1)[0], VIRTIO_BLK_S_OK);
  assert.deepEqual(ram.bytes(r.data ?? 0, 512), pattern(512, 5));
});

test('reads and writes past the disk, of partial sectors or too large, are I/O errors; unknown types are unsupported', async () => {
  const { q, ram, backend } = blkUp({ sectors: 8 });
  const cases: [string, Req, number][] = [
    ['read past the end', request(q, VIRTIO_BLK_T_IN, 7, { inLens: [1024] }), VIRTIO_BLK_S_IOERR],
    ['read at a huge sector', request(q, VIRTIO_BLK_T_IN, 2 ** 60, { inLens: [512] }), VIRTIO_BLK_S_IOERR],
    ['write past the end', request(q, VIRTIO_BLK_T_OUT, 8, { out: [new Uint8Array(512)] }), VIRTIO_BLK_S_IOERR],
    ['partial sector', request(q, VIRTIO_BLK_T_IN, 0, { inLens: [100] }), VIRTIO_BLK_S_IOERR],
    ['unknown type', request(q, 99, 0, { inLens: [512] }), VIRTIO_BLK_S_UNSUPP],
    ['the last sector', request(q, VIRTIO_BLK_T_IN, 7, { inLens: [512] }), VIRTIO_BLK_S_OK],
  ];
  q.kick();
  await settle();
  for (const [what, r, status] of cases) assert.equal(ram.bytes(r.status, 1)[0], status, what);
  assert.deepEqual(backend.calls, [['read', 3584, 512]]);
  const used = q.takeUsed();
  assert.equal(used.length, cases.length);
  assert.equal(used.find((u) => u.id === cases[0][1].added.head)?.len, 1, 'a failed read returns only the status');
});

test('a read larger than seg_max × size_max in one descriptor, as U-Boot sends it, is served whole', async () => {
  const bytes = 32 << 20; // more than BLK_SEG_MAX × BLK_SIZE_MAX (16.25 MiB)
  assert.ok(bytes > BLK_SEG_MAX * BLK_SIZE_MAX);
  const { q, ram, backend } = blkUp({ sectors: bytes / 512, ram: 40 << 20 });
  backend.data[bytes - 1] = 0x5a;
  const r = request(q, VIRTIO_BLK_T_IN, 0, { inLens: [bytes] });
  q.kick();
  await settle();
  assert.equal(ram.bytes(r.status, 1)[0], VIRTIO_BLK_S_OK);
  assert.equal(ram.bytes((r.data ?? 0) + bytes - 1, 1)[0], 0x5a);
  assert.deepEqual(backend.calls, [['read', 0, bytes]]);
});

test('a request larger than BLK_MAX_REQUEST is an I/O error, not a host allocation', async () => {
  const ramBytes = 32 << 20;
  const { q, ram, backend } = blkUp({ sectors: 1, ram: ramBytes });
  // Descriptors that each cover all of RAM, more than the limit together: they overlap, which a driver may do.
  const n = BLK_MAX_REQUEST / ramBytes + 1;
  const r = request(q, VIRTIO_BLK_T_IN, 0, { inLens: new Array<number>(n).fill(512) });
  for (let i = 1; i <= n; i++) {
    const d = (r.added.head + i) % q.size;
    q.ram.setU32(q.desc + 16 * d + 8, ramBytes);
    q.ram.setU64(q.desc + 16 * d, 0x80000000);
  }
  q.kick();
  await settle();
  assert.equal(ram.bytes(r.status, 1)[0], VIRTIO_BLK_S_IOERR);
  assert.deepEqual(backend.calls, []);
});

test('a backend failure is an I/O error for the guest', async () => {
  const { q, ram, backend, logs } = blkUp();
  backend.failAt.add(512);
  const r = request(q, VIRTIO_BLK_T_IN, 1, { inLens: [512] });
  q.kick();
  await settle();
  assert.equal(ram.bytes(r.status, 1)[0], VIRTIO_BLK_S_IOERR);
  assert.equal(ram.bytes(r.data ?? 0, 1)[0], 0xee, 'no data from a failed read');
  assert.deepEqual(logs, []);
});

test('a request without a full header or a status byte is a driver error', () => {
  for (const b of [{ out: [new Uint8Array(8)], in: [1] }, { out: [header(VIRTIO_BLK_T_IN, 0)], in: [] }]) {
    const { q, drv, logs } = blkUp();
    q.add(b);
    q.kick();
    assert.equal(drv.status & NEEDS_RESET, NEEDS_RESET);
    assert.equal(logs.length, 1);
  }
});

test('a reset drops completions still in flight: nothing lands in RAM afterwards', async () => {
  const { q, ram, backend, drv } = blkUp();
  backend.hold = true;
  const r = request(q, VIRTIO_BLK_T_IN, 0, { inLens: [512] });
  q.kick();
  await settle();
  drv.w(0x70, 0);
  backend.release();
  await settle();
  assert.equal(ram.bytes(r.status, 1)[0], 0xee);
  assert.equal(ram.bytes(r.data ?? 0, 1)[0], 0xee);
  assert.equal(q.usedIdx, 0);
});

test('idle() resolves when the backend has finished', async () => {
  const { q, blk, backend } = blkUp();
  backend.hold = true;
  request(q, VIRTIO_BLK_T_FLUSH, 0);
  q.kick();
  let done = false;
  const idle = blk.idle().then(() => { done = true; });
  await settle();
  assert.equal(done, false);
  assert.equal(blk.pending, 1);
  backend.release();
  await idle;
  assert.equal(blk.pending, 0);
});

test('state saved mid-operation resumes the requests in flight on a restored machine', async () => {
  const a = blkUp({ serial: 'snap' });
  a.backend.data.set(pattern(1024, 1), 0);
  a.backend.hold = true;
  const r1 = request(a.q, VIRTIO_BLK_T_IN, 0, { inLens: [1024] });
  const w1 = request(a.q, VIRTIO_BLK_T_OUT, 4, { out: [pattern(512, 2)] });
  const f1 = request(a.q, VIRTIO_BLK_T_FLUSH, 0);
  a.q.kick();
  await settle();
  a.backend.release(2); // the flush finishes before the snapshot; the rest are still in flight
  await settle();
  assert.deepEqual(a.q.takeUsed(), [{ id: f1.added.head, len: 1 }]);
  const saved = roundTrip(a.mmio.save());
  const ram = a.ram.clone();

  // The restored machine: same RAM and disk contents, fresh objects.
  const backend = new MemBackend(a.backend.size);
  backend.data.set(a.backend.data);
  const blk = new VirtioBlk(backend, { serial: 'snap' });
  const mmio = new VirtioMmio(blk, { mem: ram, irq: new IrqLine(() => {}), log: () => {} });
  mmio.restore(saved);
  assert.equal(blk.pending, 2);
  await settle();
  const drv = a.drv.over(mmio, ram);
  const q = drv.queues[0];
  assert.deepEqual(q.takeUsed().map((u) => u.id).sort(), [r1.added.head, w1.added.head].sort());
  assert.deepEqual(ram.bytes(r1.data ?? 0, 1024), pattern(1024, 1));
  assert.equal(ram.bytes(r1.status, 1)[0], VIRTIO_BLK_S_OK);
  assert.equal(ram.bytes(w1.status, 1)[0], VIRTIO_BLK_S_OK);
  assert.equal(ram.bytes(f1.status, 1)[0], VIRTIO_BLK_S_OK);
  assert.deepEqual(backend.data.subarray(2048, 2560), pattern(512, 2));
  assert.deepEqual(mmio.save(), { ...(roundTrip(mmio.save()) as object) });

  // The restored device keeps working.
  const r2 = request(q, VIRTIO_BLK_T_IN, 4, { inLens: [512] });
  q.kick();
  await settle();
  assert.deepEqual(ram.bytes(r2.data ?? 0, 512), pattern(512, 2));

  // The original, released late, still completes into its own RAM only.
  a.backend.release();
  await settle();
  assert.equal(a.q.usedIdx, 3);
  assert.equal(blk.pending, 0);
});

test('restoring over a running device drops its stale completions', async () => {
  const { q, ram, backend, mmio } = blkUp();
  const saved = roundTrip(mmio.save());
  backend.hold = true;
  const r = request(q, VIRTIO_BLK_T_IN, 0, { inLens: [512] });
  q.kick();
  await settle();
  mmio.restore(saved); // back to before the request was taken
  backend.release();
  await settle();
  assert.equal(ram.bytes(r.status, 1)[0], 0xee);
  assert.equal(q.usedIdx, 0);
});

test('malformed device state is refused', () => {
  const { mmio } = blkUp();
  const good = mmio.save() as Record<string, unknown>;
  for (const device of [{ requests: [{ queue: 1, head: 0 }] }, { requests: [{ queue: 0, head: -1 }] }, { requests: 3 }, []]) {
    assert.throws(() => mmio.restore(roundTrip({ ...good, device } as never)), Error);
  }
  assert.deepEqual(mmio.save(), good);
});
