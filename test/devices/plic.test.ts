import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IrqLine } from '../../src/devices/mmio.js';
import { Plic } from '../../src/devices/plic.js';

const PRIORITY = (n: number): number => 4 * n;
const PENDING = 0x1000;
const ENABLE = (ctx: number, word = 0): number => 0x2000 + 0x80 * ctx + 4 * word;
const THRESHOLD = (ctx: number): number => 0x200000 + 0x1000 * ctx;
const CLAIM = (ctx: number): number => 0x200004 + 0x1000 * ctx;

/** Two harts: contexts 0 (hart 0 M), 1 (hart 0 S), 2 (hart 1 M), 3 (hart 1 S). */
function rig(): { plic: Plic; outs: IrqLine[] } {
  const outs = [0, 1, 2, 3].map(() => new IrqLine(() => {}));
  return { plic: new Plic(outs), outs };
}

const rd = (p: Plic, off: number): number => p.read(off, 4) >>> 0;
const wr = (p: Plic, off: number, v: number): void => p.write(off, 4, v);
const levels = (outs: IrqLine[]): boolean[] => outs.map((l) => l.level);

test('priorities keep bits 2:0 and source 0 is hardwired to priority 0', () => {
  const { plic } = rig();
  wr(plic, PRIORITY(10), 0xff);
  assert.equal(rd(plic, PRIORITY(10)), 7);
  wr(plic, PRIORITY(95), 3);
  assert.equal(rd(plic, PRIORITY(95)), 3);
  wr(plic, PRIORITY(0), 5);
  assert.equal(rd(plic, PRIORITY(0)), 0);
  assert.equal(rd(plic, PRIORITY(96)), 0, 'beyond the sources is a hole');
});

test('pending bits follow a level-triggered line and ignore writes', () => {
  const { plic } = rig();
  plic.source(10).set(true);
  plic.source(33).set(true);
  plic.source(95).set(true);
  assert.equal(rd(plic, PENDING), 1 << 10);
  assert.equal(rd(plic, PENDING + 4), 1 << 1);
  assert.equal(rd(plic, PENDING + 8), 0x80000000);
  wr(plic, PENDING, 0);
  assert.equal(rd(plic, PENDING), 1 << 10);
  plic.source(10).set(false);
  assert.equal(rd(plic, PENDING), 0);
  assert.equal(rd(plic, PENDING + 12), 0);
});

test('enables are per context, bit 0 is hardwired to zero, and contexts past the board are holes', () => {
  const { plic } = rig();
  wr(plic, ENABLE(1, 0), 0xffffffff);
  wr(plic, ENABLE(3, 2), 0x80000000);
  assert.equal(rd(plic, ENABLE(1, 0)), 0xfffffffe);
  assert.equal(rd(plic, ENABLE(0, 0)), 0);
  assert.equal(rd(plic, ENABLE(3, 2)), 0x80000000);
  wr(plic, ENABLE(4, 0), 0xffffffff);
  assert.equal(rd(plic, ENABLE(4, 0)), 0);
  wr(plic, ENABLE(1, 3), 0xffffffff);
  assert.equal(rd(plic, ENABLE(1, 3)), 0);
  wr(plic, THRESHOLD(4), 1);
  assert.equal(rd(plic, THRESHOLD(4)), 0);
  assert.equal(rd(plic, CLAIM(4)), 0);
});

test('a context line is high iff an enabled pending source has priority above its threshold', () => {
  const { plic, outs } = rig();
  plic.source(10).set(true);
  assert.deepEqual(levels(outs), [false, false, false, false], 'priority 0 never interrupts');
  wr(plic, PRIORITY(10), 2);
  assert.deepEqual(levels(outs), [false, false, false, false], 'not enabled anywhere');
  wr(plic, ENABLE(1), 1 << 10);
  assert.deepEqual(levels(outs), [false, true, false, false]);
  wr(plic, THRESHOLD(1), 2);
  assert.equal(rd(plic, THRESHOLD(1)), 2);
  assert.equal(outs[1].level, false, 'priority must exceed the threshold');
  assert.equal(rd(plic, CLAIM(1)), 0, 'nothing to claim under the threshold');
  wr(plic, THRESHOLD(1), 1);
  assert.equal(outs[1].level, true);
  wr(plic, ENABLE(2), 1 << 10);
  assert.deepEqual(levels(outs), [false, true, true, false]);
  plic.source(10).set(false);
  assert.deepEqual(levels(outs), [false, false, false, false]);
});

test('claim returns the highest priority, ties to the lowest id, and clears the pending bit', () => {
  const { plic, outs } = rig();
  for (const n of [3, 7, 40, 41]) {
    plic.source(n).set(true);
    wr(plic, PRIORITY(n), n >= 40 ? 5 : 1);
  }
  wr(plic, ENABLE(1, 0), (1 << 3) | (1 << 7));
  wr(plic, ENABLE(1, 1), (1 << 8) | (1 << 9));
  plic.source(95).set(true);
  wr(plic, PRIORITY(95), 7);
  wr(plic, ENABLE(1, 2), 0x80000000);
  assert.equal(rd(plic, CLAIM(1)), 95);
  assert.equal(rd(plic, CLAIM(1)), 40);
  assert.equal(rd(plic, PENDING + 4) & (1 << 8), 0);
  assert.equal(rd(plic, CLAIM(1)), 41);
  assert.equal(rd(plic, CLAIM(1)), 3);
  assert.equal(rd(plic, CLAIM(1)), 7);
  assert.equal(outs[1].level, false);
  assert.equal(rd(plic, CLAIM(1)), 0);
});

test('a claimed source stays unpended while its line is high and pends again on completion', () => {
  const { plic, outs } = rig();
  const line = plic.source(10);
  wr(plic, PRIORITY(10), 1);
  wr(plic, ENABLE(1), 1 << 10);
  line.set(true);
  assert.equal(rd(plic, CLAIM(1)), 10);
  assert.equal(outs[1].level, false);
  line.set(false);
  line.set(true);
  assert.equal(rd(plic, PENDING), 0, 'the gateway holds new requests until completion');
  wr(plic, CLAIM(1), 10);
  assert.equal(rd(plic, PENDING), 1 << 10, 'level still high: pending again');
  assert.equal(outs[1].level, true);
  assert.equal(rd(plic, CLAIM(1)), 10);
  line.set(false);
  wr(plic, CLAIM(1), 10);
  assert.equal(rd(plic, PENDING), 0, 'level low at completion: nothing pends');
  assert.equal(outs[1].level, false);
});


/** A rig with source `n` at priority 1 enabled for context `ctx`, its line raised and the source claimed there. */
function claimedSource(n: number, ctx: number): ReturnType<typeof rig> & { line: IrqLine } {
  const r = rig();
  const line = r.plic.source(n);
  wr(r.plic, PRIORITY(n), 1);
  wr(r.plic, ENABLE(ctx), 1 << n);
  line.set(true);
  assert.equal(rd(r.plic, CLAIM(ctx)), n);
  return { ...r, line };
}

test('completion of a source not enabled for the context is ignored', () => {
  const { plic, outs, line } = claimedSource(5, 0);
  wr(plic, CLAIM(1), 5);
  assert.equal(outs[0].level, false, 'context 1 does not enable source 5');
  wr(plic, CLAIM(0), 0);
  wr(plic, CLAIM(0), 96);
  wr(plic, CLAIM(0), 0xffffffff);
  assert.equal(outs[0].level, false);
  wr(plic, ENABLE(0), 0);
  wr(plic, CLAIM(0), 5);
  assert.equal(rd(plic, PENDING), 0, 'disabled: still claimed');
  wr(plic, ENABLE(0), 1 << 5); // what Linux's EOI does for a masked source
  wr(plic, CLAIM(0), 5);
  wr(plic, ENABLE(0), 0);
  assert.equal(rd(plic, PENDING), 0, 'completed: the line still high is no new request (as QEMU)');
  line.set(true);
  assert.equal(rd(plic, PENDING), 1 << 5, 'the device raising it again is');
});

test('a line left high after completion pends again only when its device raises it again (QEMU, and xv6 relies on it)', () => {
  const { plic, outs, line } = claimedSource(10, 1);
  wr(plic, CLAIM(1), 10);
  assert.equal(rd(plic, PENDING), 0);
  assert.equal(outs[1].level, false, 'no interrupt storm from a cause the driver left standing');
  line.set(true);
  assert.equal(outs[1].level, true);
  assert.equal(rd(plic, CLAIM(1)), 10);
  line.set(true); // raised again while claimed: held until completion
  assert.equal(rd(plic, PENDING), 0);
  assert.equal(outs[1].level, false);
  wr(plic, CLAIM(1), 10);
  assert.equal(rd(plic, PENDING), 1 << 10);
  assert.equal(outs[1].level, true);
  line.set(false);
  assert.equal(rd(plic, PENDING), 0, 'the line dropping withdraws the request (QEMU 7.2)');
  assert.equal(outs[1].level, false);
});

test('sub-word and misaligned accesses neither read nor act', () => {
  const { plic } = rig();
  const line = plic.source(1);
  wr(plic, PRIORITY(1), 1);
  wr(plic, ENABLE(0), 2);
  line.set(true);
  assert.equal(plic.read(CLAIM(0), 1), 0);
  assert.equal(plic.read(CLAIM(0), 2), 0);
  assert.equal(plic.read(CLAIM(0) + 1, 4), 0);
  plic.write(PRIORITY(1), 1, 7);
  assert.equal(rd(plic, PRIORITY(1)), 1);
  assert.equal(rd(plic, CLAIM(0)), 1, 'still claimable');
  assert.equal(rd(plic, THRESHOLD(0) + 8), 0);
});

test('sources outside 1..95 cannot be wired', () => {
  const { plic } = rig();
  assert.throws(() => plic.source(0), RangeError);
  assert.throws(() => plic.source(96), RangeError);
  assert.equal(plic.source(7), plic.source(7));
});

test('state saved mid-claim restores to a PLIC that continues identically', () => {
  const a = rig();
  const setup = (p: Plic): void => {
    for (const n of [1, 10, 11]) wr(p, PRIORITY(n), n === 1 ? 1 : 4);
    wr(p, ENABLE(1), (1 << 1) | (1 << 10) | (1 << 11));
    wr(p, ENABLE(2), 1 << 11);
    wr(p, THRESHOLD(2), 3);
  };
  setup(a.plic);
  for (const n of [1, 10, 11]) a.plic.source(n).set(true);
  assert.equal(rd(a.plic, CLAIM(1)), 10);
  const saved = JSON.parse(JSON.stringify(a.plic.save()));

  const b = rig();
  for (const n of [1, 10, 11]) b.plic.source(n).set(true); // the devices re-drive their lines, then the PLIC is restored
  b.plic.restore(saved);
  assert.deepEqual(levels(b.outs), levels(a.outs));
  const trace = (x: { plic: Plic; outs: IrqLine[] }): number[] => {
    const t = [rd(x.plic, PENDING), rd(x.plic, CLAIM(2)), rd(x.plic, CLAIM(1))];
    wr(x.plic, CLAIM(1), 10);
    t.push(rd(x.plic, PENDING), rd(x.plic, CLAIM(1)), rd(x.plic, CLAIM(1)), rd(x.plic, CLAIM(1)));
    x.plic.source(10).set(false);
    for (const n of [10, 11, 1]) wr(x.plic, CLAIM(1), n);
    t.push(rd(x.plic, PENDING), ...x.outs.map((l) => (l.level ? 1 : 0)));
    return t;
  };
  assert.deepEqual(trace(b), trace(a));
  assert.deepEqual(b.plic.save(), a.plic.save());
});

test('restore rejects nonsense with an Error and keeps the state it had', () => {
  const { plic } = rig();
  wr(plic, PRIORITY(3), 2);
  const before = plic.save();
  const good = plic.save() as Record<string, unknown>;
  const priority = new Array(96).fill(0);
  for (const bad of [null, 'x', [], { ...good, priority: [1] }, { ...good, priority: [1, ...priority.slice(1)] },
    { ...good, priority: priority.map(() => 8) }, { ...good, enable: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] },
    { ...good, enable: [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0] },
    { ...good, enable: new Array(6).fill(0) }, { ...good, threshold: [0, 0, 0, 9] }, { ...good, claimed: [0] },
    { ...good, claimed: [96] }, { ...good, claimed: 'all' }]) {
    assert.throws(() => plic.restore(JSON.parse(JSON.stringify(bad))), Error);
  }
  assert.deepEqual(plic.save(), before);
});
