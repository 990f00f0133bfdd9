/**
 * The machine's one virtual clock: guest time = a source's ticks minus an offset, at 10 MHz (mtime).
 * The source is host monotonic time, or, for a deterministic machine, the hart's retired instructions.
 * Frozen while the machine is paused, so a paused, restored or migrated guest sees no jump: a snapshot
 * keeps the tick count (save()), and restore() sets the clock to it, to run on from that instant.
 */
import { performance } from 'node:perf_hooks';
import { record, uint } from '../devices/state.js';
import type { State, Stateful } from '../devices/stateful.js';

export const TIMEBASE_HZ = 10_000_000;

export class VirtualClock implements Stateful {
  /** Guest ticks = source ticks - offset, while running. */
  private offset: number;
  private frozenAt: number | null = null;

  /** `source`: ticks of 100 ns that only go forward; host monotonic time by default. */
  constructor(start = 0, private readonly source: () => number = VirtualClock.hostTicks) {
    this.offset = source() - start;
  }

  static hostTicks(): number {
    return Math.floor(performance.now() * (TIMEBASE_HZ / 1000));
  }

  now(): number {
    return this.frozenAt ?? this.source() - this.offset;
  }

  set(ticks: number): void {
    if (this.frozenAt !== null) this.frozenAt = ticks;
    else this.offset = this.source() - ticks;
  }

  pause(): void {
    if (this.frozenAt === null) this.frozenAt = this.now();
  }

  resume(): void {
    if (this.frozenAt === null) return;
    const t = this.frozenAt;
    this.frozenAt = null;
    this.set(t);
  }

  get paused(): boolean { return this.frozenAt !== null; }

  /** Host milliseconds until guest time reaches `ticks` (0 if already there). */
  msUntil(ticks: number): number {
    return Math.max(0, (ticks - this.now()) / (TIMEBASE_HZ / 1000));
  }

  /** The guest's time now (mtime). Whether the clock is paused is the machine's, not the snapshot's. */
  save(): State {
    return { ticks: this.now() };
  }

  /** Guest time goes on from the saved instant (frozen there if this clock is paused). */
  restore(s: State): void {
    const o = record(s, 'clock');
    this.set(uint(o, 'ticks', Number.MAX_SAFE_INTEGER, 'clock'));
  }
}
