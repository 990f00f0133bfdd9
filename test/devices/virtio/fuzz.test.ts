/**
 * Fuzzing: thousands of random and mutated descriptor tables, rings and register writes. Nothing may throw
 * out of a device or run long, and every run must end either in exactly the completions a reference
 * model of the split ring predicts, or in DEVICE_NEEDS_RESET where the model finds a broken rule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_WRITE_ZEROES, VirtioBlk } from '../../../src/devices/virtio/blk.js';
import { VIRTIO_CONSOLE_F_MULTIPORT, VirtioAgentChannel } from '../../../src/devices/virtio/agent-channel.js';
import { VirtioConsole } from '../../../src/devices/virtio/console.js';
import type { VirtioDevice } from '../../../src/devices/virtio/device.js';
import { VirtioPowerButton } from '../../../src/devices/virtio/input.js';
import { RNG_MAX_BYTES, VirtioRng } from '../../../src/devices/virtio/rng.js';
import { MemBackend } from './backend.js';
import {
  Driver, DriverQueue, F_EVENT_IDX, F_INDIRECT, F_VERSION_1, FakeRam, INDIRECT, NEEDS_RESET, NEXT, WRITE, prng,
  rig, settle,
} from './driver.js';

const RAM_SIZE = 64 * 1024;
/** Rings and indirect tables live below DATA; buffers the device writes live at or above it. */
const TABLES = RAM_BASE_OFFSET(0x4000);
const DATA = RAM_BASE_OFFSET(0x8000);
const FILL = 0xa5;
/** A single notification must finish well within this, on any host. */
const RUN_MS = 250;

function RAM_BASE_OFFSET(o: number): number { return 0x80000000 + o; }

interface Rand {
  (): number;
  /** How hostile this run is: the chance of each kind of broken field (some runs are clean, some are wild). */
  noise: number;
  int(n: number): number;
  pick<T>(xs: readonly T[]): T;
  chance(p: number): boolean;
}

function rand(seed: number): Rand {
  const f = prng(seed) as Rand;
  f.int = (n) => Math.floor(f() * n);
  f.pick = (xs) => xs[f.int(xs.length)];
  f.chance = (p) => f() < p;
  f.noise = f.pick([0, 0.005, 0.02, 0.05, 0.2]);
  return f;
}

/** A buffer address: usually in the data area, sometimes anywhere in the 64-bit space. */
function bufAddr(r: Rand, len: number): number {
  if (!r.chance(r.noise)) return DATA + r.int(RAM_SIZE - (DATA - 0x80000000) - Math.min(len, 0x1000));
  return r.pick([0, 0x1000, 0x7ffffff0, 0x80000000 + RAM_SIZE - 4, 0x80000000 + RAM_SIZE, 2 ** 40 + 0x80000000, 2 ** 52]);
}

function bufLen(r: Rand): number {
  if (!r.chance(r.noise)) return r.int(600);
  return r.pick([0, 0xffffffff, RAM_SIZE, 0x10000 + 1]);
}

/** Random descriptor flags; `writable` is how likely a descriptor is device-writable. */
function flags(r: Rand, writable = 0.5): number {
  if (r.chance(r.noise)) return r.int(0x10000);
  let f = 0;
  if (r.chance(0.4)) f |= NEXT;
  if (r.chance(writable)) f |= WRITE;
  if (r.chance(r.noise)) f |= INDIRECT;
  return f;
}

/** An indirect table of random descriptors at a random place in the tables area. */
function randomTable(r: Rand, ram: FakeRam, used: { next: number }, writable: number): { addr: number; len: number } {
  const n = 1 + r.int(12);
  const addr = used.next;
  used.next += 16 * n;
  if (used.next > DATA) { used.next = TABLES; return { addr: TABLES, len: 16 }; }
  for (let i = 0; i < n; i++) {
    const len = bufLen(r);
    const last = i === n - 1 && !r.chance(r.noise);
    writeDesc(ram, addr, i, bufAddr(r, len), len, flags(r, writable) & (last ? ~NEXT : 0xffff), r.chance(r.noise) ? r.int(0x10000) : i + 1);
  }
  return { addr, len: r.chance(r.noise) ? r.pick([0, 8, 16 * n + 16, 0xfff0]) : 16 * n };
}

function writeDesc(ram: FakeRam, table: number, i: number, addr: number, len: number, f: number, next: number): void {
  const pa = table + 16 * i;
  ram.setU64(pa, addr); ram.setU32(pa + 8, len); ram.setU16(pa + 12, f); ram.setU16(pa + 14, next);
}

/** Fills the queue's descriptor table with random descriptors, some pointing at random indirect tables. */
function randomDescriptors(r: Rand, q: DriverQueue, tables: { next: number }, writable = 0.5, indirect = true): void {
  for (let i = 0; i < q.size; i++) {
    // Chains run forward through the table; with noise, next may point anywhere (loops, beyond the table).
    const next = r.chance(r.noise) ? (r.chance(0.5) ? r.int(0x10000) : r.int(q.size)) : (i + 1) % q.size;
    if (r.chance(0.1) && (indirect || r.chance(r.noise))) {
      const t = randomTable(r, q.ram, tables, writable);
      writeDesc(q.ram, q.desc, i, r.chance(r.noise) ? bufAddr(r, t.len) : t.addr, t.len, INDIRECT | (r.chance(r.noise) ? NEXT : 0), next);
    } else {
      const len = bufLen(r);
      writeDesc(q.ram, q.desc, i, bufAddr(r, len), len, flags(r, writable), next);
    }
  }
}

/** Makes `count` random heads available (some beyond the table), or sets a wild available index. */
function randomAvail(r: Rand, q: DriverQueue, count: number): void {
  for (let i = 0; i < count; i++) q.publish(r.chance(r.noise) ? r.int(0x10000) : r.int(q.size));
  if (r.chance(r.noise)) {
    q.availIdx = r.int(0x10000);
    q.ram.setU16(q.avail + 2, q.availIdx);
  }
}

// --- the reference model: the split ring's rules (2.7), written independently of queue.ts --------------

interface Seg { pa: number; len: number }
interface ModelChain { readable: Seg[]; writable: Seg[]; r: number; w: number }

function u64(ram: FakeRam, pa: number): number { return ram.u32(pa) + ram.u32(pa + 4) * 0x100000000; }
function inRam(ram: FakeRam, pa: number, len: number): boolean { return pa >= ram.base && pa + len <= ram.base + ram.size; }

/** The chain at `head`, or null when it breaks a rule. */
function walk(ram: FakeRam, q: { desc: number; size: number }, head: number, indirectOk: boolean): ModelChain | null {
  if (head >= q.size) return null;
  let table = q.desc, entries = q.size, inIndirect = false, count = 0, seenWritable = false;
  let seen = new Set<number>();
  const c: ModelChain = { readable: [], writable: [], r: 0, w: 0 };
  for (let i = head; ;) {
    if (seen.has(i)) return null; // a loop
    seen.add(i);
    const pa = table + 16 * i;
    const addr = u64(ram, pa), len = ram.u32(pa + 8), f = ram.u16(pa + 12), next = ram.u16(pa + 14);
    if (f & INDIRECT) {
      if (!indirectOk || inIndirect || (f & NEXT) || len === 0 || len % 16 !== 0 || !inRam(ram, addr, len)) return null;
      table = addr; entries = len / 16; inIndirect = true; seen = new Set(); i = 0;
      continue;
    }
    if (++count > q.size) return null;
    if (len > 0 && !inRam(ram, addr, len)) return null;
    if (f & WRITE) { seenWritable = true; if (len) c.writable.push({ pa: addr, len }); c.w += len; }
    else { if (seenWritable) return null; if (len) c.readable.push({ pa: addr, len }); c.r += len; }
    if (c.r + c.w > 0xffffffff) return null;
    if (!(f & NEXT)) return c;
    if (next >= entries) return null;
    i = next;
  }
}

/** What the entropy device must do with what is available: completions, and whether it must give up. */
class RngModel {
  nextAvail = 0;
  used: { id: number; len: number }[] = [];
  failed = false;

  constructor(readonly ram: FakeRam, readonly q: DriverQueue, readonly indirect: boolean) {}

  kick(): void {
    if (this.failed) return;
    const { ram, q } = this;
    for (;;) {
      const idx = ram.u16(q.avail + 2);
      if (((idx - this.used.length) & 0xffff) > q.size) { this.failed = true; return; }
      if (idx === (this.nextAvail & 0xffff)) return;
      const head = ram.u16(q.avail + 4 + 2 * (this.nextAvail % q.size));
      const c = walk(ram, q, head, this.indirect);
      if (c === null || c.r > 0) { this.failed = true; return; }
      let left = Math.min(c.w, RNG_MAX_BYTES);
      const len = left;
      for (const s of c.writable) {
        const n = Math.min(s.len, left);
        ram.u8.fill(FILL, ram.o(s.pa), ram.o(s.pa) + n);
        left -= n;
      }
      this.used.push({ id: head, len });
      this.nextAvail++;
    }
  }
}

function timed(what: string, f: () => void): void {
  const t0 = performance.now();
  assert.doesNotThrow(f, what);
  const ms = performance.now() - t0;
  assert.ok(ms < RUN_MS, `${what} took ${ms.toFixed(1)} ms`);
}

test('random descriptor tables and rings end in exactly the predicted completions or DEVICE_NEEDS_RESET (virtio-rng)', () => {
  let failures = 0, completions = 0;
  for (let seed = 1; seed <= 3000; seed++) {
    const r = rand(seed);
    const features = [F_VERSION_1, ...(r.chance(0.7) ? [F_INDIRECT] : []), ...(r.chance(0.5) ? [F_EVENT_IDX] : [])];
    const ram = new FakeRam(RAM_SIZE);
    const rg = rig(new VirtioRng((d) => d.fill(FILL)), ram);
    const drv = new Driver(rg.mmio, ram);
    drv.negotiate(features);
    const q = drv.setupQueue(0, r.pick([1, 2, 4, 16, 64]));
    drv.driverOk();
    const shadow = ram.clone();
    const model = new RngModel(shadow, Object.assign(Object.create(DriverQueue.prototype) as DriverQueue, q, { drv: new Driver(rg.mmio, shadow) }), features.includes(F_INDIRECT));
    const tables = { next: TABLES };
    const used: { id: number; len: number }[] = [];
    for (let round = 0, rounds = 1 + r.int(3); round < rounds; round++) {
      randomDescriptors(r, q, tables, 1 - r.noise, features.includes(F_INDIRECT));
      randomAvail(r, q, r.int(q.size + (r.chance(r.noise) ? 3 : 1)));
      // The model sees the same driver writes.
      shadow.u8.set(ram.u8.subarray(0, DATA - ram.base), 0);
      model.kick();
      timed(`seed ${seed}`, () => q.kick());
      used.push(...q.takeUsed());
    }
    const broken = (drv.status & NEEDS_RESET) !== 0;
    assert.equal(broken, model.failed, `seed ${seed}: DEVICE_NEEDS_RESET`);
    assert.deepEqual(used, model.used, `seed ${seed}: used ring`);
    assert.deepEqual(ram.u8.subarray(DATA - ram.base), shadow.u8.subarray(DATA - ram.base), `seed ${seed}: buffer contents`);
    assert.ok(!rg.logs.some((l) => l.includes('internal error')), `seed ${seed}: ${rg.logs.join('; ')}`);
    assert.ok(rg.logs.length <= 1);
    if (broken) failures++;
    completions += used.length;
  }
  // The generator must exercise both outcomes substantially.
  console.log(`virtio-rng fuzz: ${failures} runs ended in DEVICE_NEEDS_RESET, ${completions} completions`);
  assert.ok(failures > 300 && failures < 2700, `failures ${failures}`);
  assert.ok(completions > 1000, `completions ${completions}`);
});

test('random block requests over random chains never throw or hang, and end in correct statuses or DEVICE_NEEDS_RESET', async () => {
  let broken = 0, answered = 0;
  for (let seed = 1; seed <= 1500; seed++) {
    const r = rand(seed * 7919);
    const backend = new MemBackend(64 * 512, r.chance(0.2));
    // Disk bytes 0..2 only: data read over another request's status byte still reads as a status.
    for (let i = 0; i < backend.data.length; i++) backend.data[i] = i % 3;
    const ram = new FakeRam(RAM_SIZE);
    const rg = rig(new VirtioBlk(backend), ram);
    const drv = new Driver(rg.mmio, ram);
    const indirect = r.chance(0.7);
    drv.negotiate([F_VERSION_1, ...(indirect ? [F_INDIRECT] : []), F_EVENT_IDX, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_WRITE_ZEROES]);
    const q = drv.setupQueue(0, r.pick([4, 16, 64]));
    drv.driverOk();
    const tables = { next: TABLES };
    randomDescriptors(r, q, tables, 0.5, indirect);
    // Overwrite some descriptors with plausible requests: header, data, status.
    // Plausible requests (header, data, status) on distinct descriptors, which noise may tangle.
    const free = Array.from({ length: q.size }, (_, i) => i).sort(() => r() - 0.5);
    const desc = (): number => (r.chance(r.noise) || free.length === 0 ? r.int(q.size) : free.pop() ?? 0);
    const heads: number[] = [];
    for (let k = 0; k < 1 + r.int(q.size / 3); k++) {
      const hdr = DATA + r.int(0x7000);
      ram.setU32(hdr, r.pick([0, 0, 1, 1, 4, 8, 11, 13, 99, r.int(0x100000000)]));
      ram.setU64(hdr + 8, r.chance(0.9) ? r.int(70) : r.int(2 ** 52));
      const seg = DATA + r.int(0x6000);
      for (let j = 0; j < 32; j += 16) { ram.setU64(seg + j, r.int(70)); ram.setU32(seg + j + 8, r.int(10)); ram.setU32(seg + j + 12, r.int(3)); }
      const d0 = desc(), d1 = desc(), d2 = desc();
      const type = ram.u32(hdr);
      const dataWritable = type === 0 || type === 8 ? !r.chance(r.noise) : r.chance(r.noise);
      writeDesc(ram, q.desc, d0, hdr, r.chance(r.noise) ? r.int(20) : 16, NEXT, d1);
      writeDesc(ram, q.desc, d1, type === 11 || type === 13 ? seg : bufAddr(r, 1024), r.pick([0, 16, 32, 512, 1024, 20, 100]), NEXT | (dataWritable ? WRITE : 0), d2);
      writeDesc(ram, q.desc, d2, DATA + r.int(0x7f00), r.chance(r.noise) ? 0 : 1, WRITE, 0);
      heads.push(d0);
    }
    for (const h of heads) q.publish(h);
    if (r.chance(r.noise * 5)) randomAvail(r, q, r.int(3));

    // What the model expects: every chain valid with a header and a status byte, or else a reset.
    const idx = ram.u16(q.avail + 2);
    const chains: { head: number; c: ModelChain }[] = [];
    let mustFail = idx > q.size;
    for (let k = 0; !mustFail && k < idx; k++) {
      const head = ram.u16(q.avail + 4 + 2 * (k % q.size));
      const c = walk(ram, q, head, indirect);
      if (c === null || c.r < 16 || c.w < 1) mustFail = true;
      else chains.push({ head, c });
    }
    timed(`seed ${seed}`, () => q.kick());
    await settle(3);
    const isBroken = (drv.status & NEEDS_RESET) !== 0;
    assert.ok(!rg.logs.some((l) => l.includes('internal error')), `seed ${seed}: ${rg.logs.join('; ')}`);
    if (mustFail) {
      assert.equal(isBroken, true, `seed ${seed}: expected DEVICE_NEEDS_RESET`);
      broken++;
      continue;
    }
    assert.equal(isBroken, false, `seed ${seed}: ${rg.logs.join('; ')}`);
    const used = q.takeUsed();
    assert.deepEqual(used.map((u) => u.id).sort((a, b) => a - b), chains.map((c) => c.head).sort((a, b) => a - b), `seed ${seed}: every request answered once`);
    for (const u of used) {
      const { c } = chains.find((x) => x.head === u.id) ?? { c: null };
      assert.ok(c !== null && u.len >= 1 && u.len <= c.w, `seed ${seed}: used length ${u.len}`);
      const last = c.writable[c.writable.length - 1];
      const status = ram.u8[ram.o(last.pa + last.len - 1)];
      assert.ok(status <= 2, `seed ${seed}: status ${status}`);
    }
    answered += used.length;
  }
  console.log(`virtio-blk fuzz: ${broken} runs ended in DEVICE_NEEDS_RESET, ${answered} requests answered`);
  assert.ok(broken > 100 && answered > 1000, `broken ${broken}, answered ${answered}`);
});

test('random register writes, notifications and host input against every device never throw', async () => {
  const make: (() => VirtioDevice)[] = [
    () => new VirtioRng(),
    () => new VirtioBlk(new MemBackend(16 * 512)),
    () => new VirtioConsole(() => {}, { size: { cols: 80, rows: 24 } }),
    () => new VirtioPowerButton(),
    () => new VirtioAgentChannel(),
  ];
  let agentOpened = 0;
  for (let seed = 1; seed <= 1500; seed++) {
    const r = rand(seed * 104729);
    const ram = new FakeRam(RAM_SIZE);
    const dev = make[seed % make.length]();
    const rg = rig(dev, ram);
    const drv = new Driver(rg.mmio, ram);
    if (r.chance(0.7)) {
      drv.negotiate([F_VERSION_1, F_INDIRECT, F_EVENT_IDX, ...(dev instanceof VirtioAgentChannel ? [VIRTIO_CONSOLE_F_MULTIPORT] : [])]);
      for (let i = 0; i < dev.queueSizes.length; i++) drv.setupQueue(i, r.pick([1, 2, 8, 16]));
      drv.driverOk();
    }
    for (let step = 0; step < 40; step++) {
      const choice = r.int(10);
      timed(`seed ${seed} step ${step}`, () => {
        if (choice < 4) {
          const off = r.chance(0.8) ? 4 * r.int(0x48) : r.int(0x200);
          const size = r.pick([1, 2, 4, 4, 4]);
          const v = r.chance(0.5) ? r.int(16) : r.int(0x100000000);
          rg.mmio.write(off, size, v);
          rg.mmio.read(r.int(0x200), size);
        } else if (choice < 7) {
          const q = drv.queues[r.int(dev.queueSizes.length)];
          if (q !== undefined) {
            if (r.chance(0.5)) randomDescriptors(r, q, { next: TABLES });
            randomAvail(r, q, r.int(4));
          }
          rg.mmio.write(0x50, 4, r.chance(0.9) ? r.int(dev.queueSizes.length) : r.int(0x10000));
        } else if (choice < 8) {
          for (let i = 0; i < 64; i++) ram.u8[r.int(RAM_SIZE)] = r.int(256);
        } else if (dev instanceof VirtioConsole) {
          dev.receive(Uint8Array.from({ length: r.int(40) }, () => r.int(256)));
          if (r.chance(0.1)) dev.resize(r.int(300), r.int(100));
        } else if (dev instanceof VirtioAgentChannel) {
          if (r.chance(0.5)) dev.send(Uint8Array.from({ length: r.int(40) }, () => r.int(256)));
          else if (drv.queues[3] !== undefined) {
            // A well-formed control message with a random event, port and value: the handshake's steps
            // come up, in any order, between the garbage.
            const m = new Uint8Array(8);
            const v = new DataView(m.buffer);
            v.setUint32(0, r.chance(0.8) ? 0 : r.int(0x100000000), true);
            v.setUint16(4, r.chance(0.7) ? r.pick([0, 3, 6]) : r.int(9), true);
            v.setUint16(6, r.chance(0.8) ? 1 : 0, true);
            drv.queues[2].add({ in: [r.pick([8, 64, 256])] });
            drv.queues[2].kick();
            drv.queues[3].add({ out: [m] });
            drv.queues[3].kick();
          }
        } else if (dev instanceof VirtioPowerButton && r.chance(0.5)) {
          dev.press();
        } else if (r.chance(0.2)) {
          rg.mmio.restore(JSON.parse(JSON.stringify(rg.mmio.save())));
        }
      });
    }
    await settle(2);
    assert.ok(!rg.logs.some((l) => l.includes('internal error')), `seed ${seed}: ${rg.logs.join('; ')}`);
    assert.ok(rg.logs.length <= 1);
    if (dev instanceof VirtioAgentChannel && dev.guestOpen) agentOpened++;
  }
  console.log(`agent channel fuzz: ${agentOpened} runs ended with the port open`);
  assert.ok(agentOpened > 0);
});
