import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MMIO_INTERRUPT_STATUS } from '../../../src/devices/virtio/mmio.js';
import { guestMemory, Virtqueue, VirtqueueError } from '../../../src/devices/virtio/queue.js';
import { VirtioRng } from '../../../src/devices/virtio/rng.js';
import {
  Driver, DriverQueue, F_EVENT_IDX, F_INDIRECT, F_VERSION_1, FakeRam, INDIRECT, NEEDS_RESET, NEXT, WRITE, rig,
  text,
} from './driver.js';

/** An rng device with its queue set up and DRIVER_OK: the simplest device that fills what it is given. */
function rngUp(features = [F_VERSION_1, F_INDIRECT, F_EVENT_IDX]): {
  drv: Driver; q: DriverQueue; ram: FakeRam; logs: string[]; broken: () => boolean;
} {
  const r = rig(new VirtioRng((dst) => dst.fill(0x5a)));
  const drv = new Driver(r.mmio, r.ram);
  const [q] = drv.start(features, 1);
  return { drv, q, ram: r.ram, logs: r.logs, broken: () => (drv.status & NEEDS_RESET) !== 0 };
}

/** A bare queue over fake RAM, laid out like a driver would, for walking chains directly. */
function bareQueue(size = 8): { vq: Virtqueue; ram: FakeRam; desc: number; avail: number; used: number } {
  const ram = new FakeRam();
  const vq = new Virtqueue(ram, size);
  const desc = ram.alloc(16 * size, 16), avail = ram.alloc(6 + 2 * size, 2), used = ram.alloc(6 + 8 * size, 4);
  vq.descLo = desc; vq.driverLo = avail; vq.deviceLo = used;
  vq.indirect = true;
  vq.enable();
  return { vq, ram, desc, avail, used };
}

function desc(ram: FakeRam, table: number, i: number, addr: number, len: number, flags: number, next: number): void {
  const pa = table + 16 * i;
  ram.setU64(pa, addr); ram.setU32(pa + 8, len); ram.setU16(pa + 12, flags); ram.setU16(pa + 14, next);
}

test('a chain splits into readable then writable segments, and reads and writes cross segment boundaries', () => {
  const { vq, ram, desc: table } = bareQueue();
  const a = ram.alloc(3), b = ram.alloc(5), c = ram.alloc(2), d = ram.alloc(6);
  ram.set(a, text('abc')); ram.set(b, text('defgh'));
  desc(ram, table, 2, a, 3, NEXT, 5);
  desc(ram, table, 5, b, 5, NEXT, 1);
  desc(ram, table, 1, c, 2, WRITE | NEXT, 7);
  desc(ram, table, 7, d, 6, WRITE, 0);
  const chain = vq.chainAt(2);
  assert.equal(chain.readableLength, 8);
  assert.equal(chain.writableLength, 8);
  assert.equal(new TextDecoder().decode(chain.readBytes(2, 4)), 'cdef');
  assert.equal(chain.readBytes(6, 10).length, 2, 'clipped to the chain');
  assert.equal(chain.write(1, text('XYZW')), 4);
  assert.deepEqual([...ram.bytes(c, 2)], [0, 0x58]);
  assert.equal(new TextDecoder().decode(ram.bytes(d, 3)), 'YZW');
  assert.ok(ram.reported(c + 1, 1) && ram.reported(d, 3), 'device writes are reported');
  assert.equal(chain.write(7, text('1234')), 1, 'only what fits');
});

test('bad chains are VirtqueueErrors, never exceptions of another kind or hangs', () => {
  const cases: [string, (ram: FakeRam, table: number) => void, RegExp][] = [
    ['a loop', (r, t) => { desc(r, t, 0, 0x80010000, 4, NEXT, 1); desc(r, t, 1, 0x80010000, 4, NEXT, 0); }, /loops/],
    ['a self loop', (r, t) => desc(r, t, 0, 0x80010000, 4, NEXT, 0), /loops/],
    ['next beyond the table', (r, t) => desc(r, t, 0, 0x80010000, 4, NEXT, 8), /beyond its table/],
    ['a buffer below RAM', (r, t) => desc(r, t, 0, 0x1000, 4, 0, 0), /outside RAM/],
    ['a buffer past the end of RAM', (r, t) => desc(r, t, 0, 0x800ffff0, 0x20, 0, 0), /outside RAM/],
    ['a buffer at a 64-bit address', (r, t) => desc(r, t, 0, 2 ** 40 + 0x80000000, 4, 0, 0), /outside RAM/],
    ['readable after writable', (r, t) => { desc(r, t, 0, 0x80010000, 4, WRITE | NEXT, 1); desc(r, t, 1, 0x80010000, 4, 0, 0); }, /readable descriptor after/],
    ['indirect with NEXT', (r, t) => desc(r, t, 0, 0x80010000, 32, INDIRECT | NEXT, 1), /NEXT/],
    ['indirect of odd length', (r, t) => desc(r, t, 0, 0x80010000, 24, INDIRECT, 0), /multiple of 16/],
    ['indirect table outside RAM', (r, t) => desc(r, t, 0, 0x10000, 32, INDIRECT, 0), /outside RAM/],
    ['indirect inside indirect', (r, t) => { desc(r, t, 0, 0x80010000, 32, INDIRECT, 0); desc(r, 0x80010000, 0, 0x80020000, 16, INDIRECT, 0); }, /inside an indirect/],
    ['a loop in an indirect table', (r, t) => { desc(r, t, 0, 0x80010000, 32, INDIRECT, 0); desc(r, 0x80010000, 0, 0x80020000, 4, NEXT, 1); desc(r, 0x80010000, 1, 0x80020000, 4, NEXT, 0); }, /loops/],
  ];
  for (const [what, build, message] of cases) {
    const { vq, ram, desc: table } = bareQueue();
    build(ram, table);
    assert.throws(() => vq.chainAt(0), (e: unknown) => e instanceof VirtqueueError && message.test(e.message), what);
  }
});

test('a chain may hold at most the queue size of descriptors, indirect ones included', () => {
  const { vq, ram, desc: table } = bareQueue(8);
  const ind = ram.alloc(16 * 9, 16);
  for (let i = 0; i < 9; i++) desc(ram, ind, i, 0x80030000, 4, i < 8 ? NEXT : 0, i + 1);
  desc(ram, table, 0, ind, 16 * 9, INDIRECT, 0);
  assert.throws(() => vq.chainAt(0), /longer than the queue size 8/);
  desc(ram, ind, 7, 0x80030000, 4, 0, 0); // end after 8
  assert.equal(vq.chainAt(0).readable.length, 8);
});

test('direct descriptors may lead into one indirect table (2.7.5.3.2)', () => {
  const { vq, ram, desc: table } = bareQueue();
  const ind = ram.alloc(32, 16);
  desc(ram, table, 3, 0x80030000, 16, NEXT, 4);
  desc(ram, table, 4, ind, 32, INDIRECT | WRITE, 0); // WRITE on the table pointer is ignored
  desc(ram, ind, 0, 0x80031000, 8, NEXT, 1);
  desc(ram, ind, 1, 0x80032000, 100, WRITE, 0);
  const chain = vq.chainAt(3);
  assert.deepEqual(chain.readable, [{ pa: 0x80030000, len: 16 }, { pa: 0x80031000, len: 8 }]);
  assert.deepEqual(chain.writable, [{ pa: 0x80032000, len: 100 }]);
});

test('indirect descriptors are followed when negotiated', () => {
  const { q, ram, broken } = rngUp();
  const a = q.addIndirect({ in: [10, 20] });
  q.kick();
  assert.deepEqual(q.takeUsed(), [{ id: a.head, len: 30 }]);
  assert.deepEqual([...ram.bytes(a.inAddrs[0], 10)], new Array(10).fill(0x5a));
  assert.deepEqual([...ram.bytes(a.inAddrs[1], 20)], new Array(20).fill(0x5a));
  assert.equal(broken(), false);
});

test('an indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC is a driver error', () => {
  const { q, broken, logs } = rngUp([F_VERSION_1]);
  q.addIndirect({ in: [10] });
  q.kick();
  assert.equal(broken(), true);
  assert.match(logs[0], /indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC/);
  assert.deepEqual(q.takeUsed(), []);
});

test('an available index more than the queue size ahead is a driver error', () => {
  const { q, ram, broken } = rngUp();
  ram.setU16(q.avail + 2, q.size + 1);
  q.kick();
  assert.equal(broken(), true);
});

test('a head index beyond the queue size is a driver error', () => {
  const { q, broken } = rngUp();
  q.publish(q.size);
  q.kick();
  assert.equal(broken(), true);
});

test('buffers before a bad one complete; nothing is touched after DEVICE_NEEDS_RESET', () => {
  const { q, ram, broken } = rngUp();
  const good = q.add({ in: [8] });
  q.publish(q.size + 3);
  const after = q.add({ in: [8] });
  q.kick();
  assert.equal(broken(), true);
  assert.deepEqual(q.takeUsed(), [{ id: good.head, len: 8 }]);
  assert.equal(ram.bytes(after.inAddrs[0], 1)[0], 0xee);
  const writes = ram.writes.length;
  q.kick();
  assert.equal(ram.writes.length, writes);
});

test('without EVENT_IDX, VIRTQ_AVAIL_F_NO_INTERRUPT suppresses used buffer notifications', () => {
  const { drv, q } = rngUp([F_VERSION_1]);
  q.availFlags = 1;
  q.add({ in: [4] });
  q.kick();
  assert.equal(q.takeUsed().length, 1);
  assert.equal(drv.r(MMIO_INTERRUPT_STATUS), 0);
  q.availFlags = 0;
  q.add({ in: [4] });
  q.kick();
  assert.equal(drv.r(MMIO_INTERRUPT_STATUS), 1);
});

test('with EVENT_IDX the device interrupts only when used.idx passes used_event, and ignores the NO_INTERRUPT flag', () => {
  const { drv, q } = rngUp();
  q.availFlags = 1; // must be ignored with EVENT_IDX
  q.usedEvent = 2; // interrupt when the third buffer is used
  for (let i = 0; i < 2; i++) { q.add({ in: [4] }); q.kick(); }
  assert.equal(q.usedIdx, 2);
  assert.equal(drv.r(MMIO_INTERRUPT_STATUS), 0, 'used.idx has not passed used_event yet');
  q.add({ in: [4] }); q.kick();
  assert.equal(drv.r(MMIO_INTERRUPT_STATUS), 1, 'entry 2 written: used.idx reached used_event + 1');
  drv.ack();
  q.add({ in: [4] }); q.kick();
  assert.equal(drv.r(MMIO_INTERRUPT_STATUS), 0, 'used_event is behind: no new interrupt');
  q.usedEvent = 4; // entry 4 is the first of the next batch of two: that batch notifies
  q.add({ in: [4] }); q.add({ in: [4] }); q.kick();
  assert.equal(drv.r(MMIO_INTERRUPT_STATUS), 1);
});

test('with EVENT_IDX the device publishes avail_event as the next entry it will take', () => {
  const { q } = rngUp();
  q.add({ in: [4] }); q.add({ in: [4] }); q.add({ in: [4] });
  q.kick();
  assert.equal(q.availEvent, 3);
  assert.equal(q.takeUsed().length, 3);
});

test('the used ring and its index are reported as written', () => {
  const { q, ram } = rngUp();
  q.add({ in: [4] });
  q.kick();
  assert.ok(ram.reported(q.used + 2, 2));
  assert.ok(ram.reported(q.used + 4, 8));
});

test('indexes wrap at 65536', () => {
  const { q, ram } = rngUp([F_VERSION_1, F_EVENT_IDX]);
  const buf = ram.alloc(1);
  for (let i = 1; i <= 70000; i++) {
    const h = q.takeDesc();
    q.writeDesc(q.desc, h, buf, 1, WRITE, 0);
    q.publish(h);
    if (i % 7 === 0) {
      q.kick();
      assert.equal(q.takeUsed().length, 7);
    }
  }
  assert.equal(q.usedIdx, 70000 & 0xffff);
});

test('guestMemory reports each 4 KiB page a write touches, with an address inside the write', () => {
  const pages: number[] = [];
  const mem = guestMemory(0x80000000, new Uint8Array(0x10000), (pa) => pages.push(pa));
  assert.equal(mem.size, 0x10000);
  mem.written(0x80000ff0, 0x20);
  assert.deepEqual(pages, [0x80000ff0, 0x80001000]);
  pages.length = 0;
  mem.written(0x80002000, 0x1000);
  assert.deepEqual(pages, [0x80002000]);
  pages.length = 0;
  mem.written(0x80003000, 0);
  assert.deepEqual(pages, []);
});
