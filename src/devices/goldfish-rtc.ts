/**
 * Goldfish RTC ("google,goldfish-rtc"; Android emulator goldfish platform docs, GOLDFISH-VIRTUAL-HARDWARE.TXT)
 * as on QEMU's virt board: a 64-bit nanosecond count since the Unix epoch, read and written as 32-bit
 * halves, plus one alarm. The count is the host's wall clock plus an offset the guest sets by writing it.
 * The device keeps no timers: the board asks nextAlarmNs() and calls poll() between execution slices.
 *
 * Counts near the present exceed 2^53, so the 64-bit arithmetic is done exactly on 32-bit halves (no
 * BigInt, DESIGN.md); only the host's wall clock, a double, is as coarse as a double that size is.
 */
import type { IrqLine, MmioDevice } from './mmio.js';
import type { State, Stateful } from './stateful.js';

const TIME_LOW = 0x00;
const TIME_HIGH = 0x04;
const ALARM_LOW = 0x08;
const ALARM_HIGH = 0x0c;
const IRQ_ENABLED = 0x10;
const CLEAR_ALARM = 0x14;
const ALARM_STATUS = 0x18;
const CLEAR_INTERRUPT = 0x1c;

const TWO32 = 4294967296;

/** An unsigned 64-bit value as [high, low] 32-bit halves. */
type U64 = readonly [number, number];

function fromNumber(ns: number): U64 {
  const t = Math.min(Math.max(0, Math.floor(ns)), TWO32 * TWO32 - 2048); // the largest double below 2^64
  const hi = Math.floor(t / TWO32);
  return [hi, t - hi * TWO32];
}

function add(a: U64, b: U64): U64 {
  const lo = a[1] + b[1];
  return [(a[0] + b[0] + (lo >= TWO32 ? 1 : 0)) >>> 0, lo >>> 0];
}

function sub(a: U64, b: U64): U64 {
  const lo = a[1] - b[1];
  return [(a[0] - b[0] - (lo < 0 ? 1 : 0)) >>> 0, lo >>> 0];
}

function atLeast(a: U64, b: U64): boolean {
  return a[0] > b[0] || (a[0] === b[0] && a[1] >= b[1]);
}

export class GoldfishRtc implements MmioDevice, Stateful {
  /** Guest count minus host wall-clock time, modulo 2^64. */
  private offset: U64 = [0, 0];
  /** TIME_HIGH as latched by the last read of TIME_LOW, so the two halves read as one instant. */
  private timeHigh = 0;
  private alarmLow = 0;
  private alarmHigh = 0;
  private alarmRunning = false;
  private irqEnabled = false;
  private irqPending = false;

  constructor(private readonly irq: IrqLine, private readonly wallClockNs: () => number) {}

  /**
   * Host wall-clock time (the domain of wallClockNs) at which the armed alarm fires, or null. The alarm
   * compares with the guest's count, so it moves if the guest sets the time (QEMU fixes it when armed).
   */
  nextAlarmNs(): number | null {
    if (!this.alarmRunning) return null;
    const [hi, lo] = sub([this.alarmHigh, this.alarmLow], this.offset);
    return hi * TWO32 + lo;
  }

  /** Fires the alarm if its time has come by host wall-clock time `nowNs`. */
  poll(nowNs: number = this.wallClockNs()): void {
    if (this.alarmRunning && atLeast(this.guestNow(nowNs), [this.alarmHigh, this.alarmLow])) {
      this.alarmRunning = false;
      this.irqPending = true;
      this.update();
    }
  }

  read(offset: number, size: number): number {
    if (size !== 4 || (offset & 3) !== 0) return 0; // 32-bit registers only, as QEMU
    this.poll();
    switch (offset) {
      case TIME_LOW: {
        const [hi, lo] = this.guestNow(this.wallClockNs());
        this.timeHigh = hi;
        return lo | 0;
      }
      case TIME_HIGH: return this.timeHigh | 0;
      case ALARM_LOW: return this.alarmLow | 0;
      case ALARM_HIGH: return this.alarmHigh | 0;
      case IRQ_ENABLED: return this.irqEnabled ? 1 : 0;
      case ALARM_STATUS: return this.alarmRunning ? 1 : 0;
      default: return 0;
    }
  }

  write(offset: number, size: number, value: number): void {
    if (size !== 4 || (offset & 3) !== 0) return;
    this.poll();
    const v = value >>> 0;
    switch (offset) {
      case TIME_LOW:
      case TIME_HIGH: {
        // Each half replaces its half of the running count, the other half keeps running (as QEMU);
        // Linux writes the high half first.
        const wall = fromNumber(this.wallClockNs());
        const [hi, lo] = add(wall, this.offset);
        this.offset = sub(offset === TIME_LOW ? [hi, v] : [v, lo], wall);
        break;
      }
      case ALARM_LOW: this.alarmLow = v; this.arm(); break;
      case ALARM_HIGH: this.alarmHigh = v; break;
      case IRQ_ENABLED: this.irqEnabled = (v & 1) !== 0; break;
      case CLEAR_ALARM: this.alarmRunning = false; break;
      case CLEAR_INTERRUPT: this.irqPending = false; break;
      default: return;
    }
    this.update();
  }

  /** Writing ALARM_LOW arms the alarm; one already due fires at once instead. */
  private arm(): void {
    this.alarmRunning = true;
    this.poll();
  }

  private guestNow(wallNs: number): U64 {
    return add(fromNumber(wallNs), this.offset);
  }

  private update(): void {
    this.irq.set(this.irqPending && this.irqEnabled);
  }

  save(): State {
    return {
      offsetHigh: this.offset[0], offsetLow: this.offset[1], timeHigh: this.timeHigh,
      alarmLow: this.alarmLow, alarmHigh: this.alarmHigh,
      alarmRunning: this.alarmRunning, irqEnabled: this.irqEnabled, irqPending: this.irqPending,
    };
  }

  restore(s: State): void {
    if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new Error('goldfish-rtc state: not an object');
    const offset: U64 = [u32(s.offsetHigh, 'offsetHigh'), u32(s.offsetLow, 'offsetLow')];
    const timeHigh = u32(s.timeHigh, 'timeHigh'), alarmLow = u32(s.alarmLow, 'alarmLow'), alarmHigh = u32(s.alarmHigh, 'alarmHigh');
    const alarmRunning = flag(s.alarmRunning, 'alarmRunning'), irqEnabled = flag(s.irqEnabled, 'irqEnabled');
    const irqPending = flag(s.irqPending, 'irqPending');
    this.offset = offset;
    this.timeHigh = timeHigh;
    this.alarmLow = alarmLow;
    this.alarmHigh = alarmHigh;
    this.alarmRunning = alarmRunning;
    this.irqEnabled = irqEnabled;
    this.irqPending = irqPending;
    this.update();
  }
}

function u32(v: State | undefined, key: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= TWO32) throw new Error(`goldfish-rtc state: bad ${key}`);
  return v;
}

function flag(v: State | undefined, key: string): boolean {
  if (typeof v !== 'boolean') throw new Error(`goldfish-rtc state: bad ${key}`);
  return v;
}
