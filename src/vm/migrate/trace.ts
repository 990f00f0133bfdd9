/**
 * Where a live migration's pause goes, step by step on both sides: with BONSAI_MIGRATE_TRACE=FILE in the
 * environment of `bonsai migrate`'s VM and of `bonsai receive`, each step of the stop-and-copy appends
 * "TIME PID STEP" to FILE, TIME in ms on the host's clock (both processes' lines compare on one host).
 * Off (one environment lookup per step) otherwise. docs/migration.md#where-the-pause-goes.
 */
import { appendFileSync } from 'node:fs';

const file = process.env.BONSAI_MIGRATE_TRACE;

export function mark(step: string): void {
  if (file === undefined || file === '') return;
  try {
    appendFileSync(file, `${(performance.timeOrigin + performance.now()).toFixed(2)} ${process.pid} ${step}\n`);
  } catch {
    // A diagnostic: a trace that cannot be written never fails a migration.
  }
}
