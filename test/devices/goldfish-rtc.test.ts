import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IrqLine } from '../../src/devices/mmio.js';
import { GoldfishRtc } from '../../src/devices/goldfish-rtc.js';

const TIME_LOW = 0x00, TIME_HIGH = 0x04, ALARM_LOW = 0x08, ALARM_HIGH = 0x0c, IRQ_ENABLED = 0x10;
const CLEAR_ALARM = 0x14, ALARM_STATUS = 0x18, CLEAR_INTERRUPT = 0x1c;
const TWO32 = 4294967296;
const SEC = 1e9;
/** 2023-11-14T22:13:20Z in ns: a multiple of 2^17, so exact as a double. */
const T0 = 1_700_000_000 * SEC;

interface Rig { rtc: GoldfishRtc; irq: IrqLine; clock: { ns: number } }

function rig(clock = { ns: T0 }): Rig {
  const irq = new IrqLine(() => {});
  return { rtc: new GoldfishRtc(irq, () => clock.ns), irq, clock };
}

const rd = (x: Rig, off: number): number => x.rtc.read(off, 4) >>> 0;
const wr = (x: Rig, off: number, v: number): void => x.rtc.write(off, 4, v);
/** Linux's read_time: TIME_LOW (latching the high half), then TIME_HIGH. */
const readTime = (x: Rig): number => { const lo = rd(x, TIME_LOW); return rd(x, TIME_HIGH) * TWO32 + lo; };
/** Linux's set_time: TIME_HIGH, then TIME_LOW. */
const setTime = (x: Rig, ns: number): void => { wr(x, TIME_HIGH, Math.floor(ns / TWO32)); wr(x, TIME_LOW, ns % TWO32); };
/** Linux's set_alarm with the alarm enabled. */
const setAlarm = (x: Rig, ns: number): void => {
  wr(x, ALARM_HIGH, Math.floor(ns / TWO32));
  wr(x, ALARM_LOW, ns % TWO32);
  wr(x, IRQ_ENABLED, 1);
};

test('the time is the host wall clock in ns since the epoch, its high half latched by reading TIME_LOW', () => {
  const x = rig();
  assert.equal(readTime(x), T0);
  const lo = rd(x, TIME_LOW);
  x.clock.ns += 10 * TWO32; // the high half moves on
  assert.equal(rd(x, TIME_HIGH), Math.floor(T0 / TWO32), 'TIME_HIGH holds the value latched with TIME_LOW');
  assert.equal(lo, T0 % TWO32);
  assert.equal(readTime(x), T0 + 10 * TWO32);
});

test('the guest sets the time as an offset from the wall clock, which keeps running', () => {
  const x = rig();
  const want = 946_684_800 * SEC; // 2000-01-01
  setTime(x, want);
  assert.equal(readTime(x), want);
  x.clock.ns += 5 * SEC;
  assert.equal(readTime(x), want + 5 * SEC);
  wr(x, TIME_LOW, 7);
  assert.equal(rd(x, TIME_LOW), 7, 'one half replaces only its half');
  assert.equal(rd(x, TIME_HIGH), Math.floor((want + 5 * SEC) / TWO32));
});

test('an alarm in the future runs until polled past its time, then interrupts until cleared', () => {
  const x = rig();
  assert.equal(x.rtc.nextAlarmNs(), null);
  setAlarm(x, T0 + 3 * SEC);
  assert.equal(rd(x, ALARM_STATUS), 1);
  assert.equal(rd(x, ALARM_HIGH) * TWO32 + rd(x, ALARM_LOW), T0 + 3 * SEC);
  assert.equal(rd(x, IRQ_ENABLED), 1);
  assert.equal(x.rtc.nextAlarmNs(), T0 + 3 * SEC);
  x.rtc.poll(T0 + 3 * SEC - 4096);
  assert.equal(x.irq.level, false);
  x.clock.ns = T0 + 3 * SEC;
  x.rtc.poll();
  assert.equal(x.irq.level, true);
  assert.equal(rd(x, ALARM_STATUS), 0);
  assert.equal(x.rtc.nextAlarmNs(), null);
  wr(x, CLEAR_INTERRUPT, 1);
  assert.equal(x.irq.level, false);
});

test('an alarm already due fires when armed', () => {
  const x = rig();
  setAlarm(x, T0 - SEC);
  assert.equal(x.irq.level, true);
  assert.equal(rd(x, ALARM_STATUS), 0);
});

test('IRQ_ENABLED gates the line but not the pending interrupt', () => {
  const x = rig();
  wr(x, ALARM_HIGH, Math.floor(T0 / TWO32));
  wr(x, ALARM_LOW, T0 % TWO32);
  assert.equal(x.irq.level, false);
  wr(x, IRQ_ENABLED, 1);
  assert.equal(x.irq.level, true);
  wr(x, IRQ_ENABLED, 0);
  assert.equal(x.irq.level, false);
  wr(x, IRQ_ENABLED, 3);
  assert.equal(rd(x, IRQ_ENABLED), 1);
});

test('CLEAR_ALARM disarms a running alarm', () => {
  const x = rig();
  setAlarm(x, T0 + SEC);
  wr(x, CLEAR_ALARM, 1);
  assert.equal(rd(x, ALARM_STATUS), 0);
  assert.equal(x.rtc.nextAlarmNs(), null);
  x.clock.ns += 2 * SEC;
  x.rtc.poll();
  assert.equal(x.irq.level, false);
});

test('the alarm compares against the guest time, in whatever offset the guest set', () => {
  const x = rig();
  const guest = 1_000_000_000 * SEC;
  setTime(x, guest);
  setAlarm(x, guest + 60 * SEC);
  assert.equal(x.rtc.nextAlarmNs(), T0 + 60 * SEC, 'reported in the host wall-clock domain');
  x.clock.ns = T0 + 60 * SEC;
  x.rtc.poll();
  assert.equal(x.irq.level, true);
});

test('accesses other than aligned 32-bit ones and holes read 0 and do nothing', () => {
  const x = rig();
  assert.equal(x.rtc.read(TIME_LOW, 1), 0);
  assert.equal(x.rtc.read(TIME_LOW + 2, 4), 0);
  x.rtc.write(ALARM_LOW, 2, 5);
  assert.equal(rd(x, ALARM_STATUS), 0);
  wr(x, 0x20, 1);
  assert.equal(rd(x, 0x20), 0);
  assert.equal(rd(x, 0xffc), 0);
});

test('state saved with an alarm running restores to an RTC that continues identically', () => {
  const x = rig();
  setTime(x, 1_234_567_890 * SEC);
  setAlarm(x, 1_234_567_900 * SEC);
  rd(x, TIME_LOW);
  const saved = JSON.parse(JSON.stringify(x.rtc.save()));
  const y = rig({ ns: T0 });
  y.rtc.restore(saved);
  assert.equal(rd(y, TIME_HIGH), rd(x, TIME_HIGH), 'the latch survives');
  assert.equal(y.rtc.nextAlarmNs(), x.rtc.nextAlarmNs());
  const trace = (r: Rig): number[] => {
    const t = [readTime(r), rd(r, ALARM_STATUS), r.irq.level ? 1 : 0];
    r.clock.ns += 10 * SEC;
    r.rtc.poll();
    t.push(readTime(r), rd(r, ALARM_STATUS), r.irq.level ? 1 : 0);
    wr(r, CLEAR_INTERRUPT, 1);
    t.push(r.irq.level ? 1 : 0);
    return t;
  };
  assert.deepEqual(trace(y), trace(x));
  assert.deepEqual(y.rtc.save(), x.rtc.save());
});

test('a restored pending interrupt drives the line at once', () => {
  const x = rig();
  setAlarm(x, T0);
  const y = rig();
  y.rtc.restore(JSON.parse(JSON.stringify(x.rtc.save())));
  assert.equal(y.irq.level, true);
});

test('restore rejects nonsense with an Error and keeps the state it had', () => {
  const x = rig();
  setAlarm(x, T0 + SEC);
  const before = x.rtc.save();
  const good = x.rtc.save() as Record<string, unknown>;
  for (const bad of [null, 1, [], { ...good, offsetLow: 0.5 }, { ...good, offsetHigh: '0' }, { ...good, alarmLow: -1 },
    { ...good, alarmHigh: TWO32 }, { ...good, irqEnabled: 1 }, { ...good, alarmRunning: undefined }]) {
    assert.throws(() => x.rtc.restore(JSON.parse(JSON.stringify(bad))), Error);
  }
  assert.deepEqual(x.rtc.save(), before);
});
