/**
 * The machine's one virtual clock: guest time = host monotonic time minus an offset, at 10 MHz (mtime).
 * Frozen while the machine is paused, so a paused, restored or migrated guest sees no jump.
 */
import { performance } from 'node:perf_hooks';

export const TIMEBASE_HZ = 10_000_000;

export class VirtualClock {
  /** Guest ticks = host ticks - offset, while running. */
  private offset: number;
  private frozenAt: number | null = null;

  constructor(start = 0) {
    this.offset = VirtualClock.hostTicks() - start;
  }

  static hostTicks(): number {
    return Math.floor(performance.now() * (TIMEBASE_HZ / 1000));
  }

  now(): number {
    return this.frozenAt ?? VirtualClock.hostTicks() - this.offset;
  }

  set(ticks: number): void {
    if (this.frozenAt !== null) this.frozenAt = ticks;
    else this.offset = VirtualClock.hostTicks() - ticks;
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

  /** Host milliseconds until guest time reaches `ticks` (0 if already there). */
  msUntil(ticks: number): number {
    return Math.max(0, (ticks - this.now()) / (TIMEBASE_HZ / 1000));
  }
}
