/**
 * Where a live migration's pause goes, step by step on both sides: with BONSAI_MIGRATE_TRACE=FILE in the
 * environment of `bonsai migrate`'s VM and of `bonsai receive`, each step of the stop-and-copy appends
 * "TIME PID STEP" to FILE, TIME in ms on the host's clock (both processes' lines compare on one host).
 * Off (one environment lookup per step) otherwise. docs/migration.md#where-the-pause-goes.
 */
import { appendFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';

const file = process.env.BONSAI_MIGRATE_TRACE;

const GC_KINDS: { [kind: number]: string } = { 1: 'minor', 4: 'major', 8: 'incremental', 16: 'weak callbacks' };

// Garbage collections go in the timeline too (a major one can stop a process for tens of ms).
if (file !== undefined && file !== '') {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = ((e as PerformanceEntry & { detail?: { kind?: number } }).detail)?.kind;
      if (e.duration >= 1) line(performance.timeOrigin + e.startTime, `gc ${GC_KINDS[kind ?? 0] ?? kind} ${e.duration.toFixed(1)} ms`);
    }
  }).observe({ entryTypes: ['gc'] });
}

function line(at: number, step: string): void {
  try {
    appendFileSync(file as string, `${at.toFixed(2)} ${process.pid} ${step}\n`);
  } catch {
    // A diagnostic: a trace that cannot be written never fails a migration.
  }
}

export function mark(step: string): void {
  if (file === undefined || file === '') return;
  line(performance.timeOrigin + performance.now(), step);
}
