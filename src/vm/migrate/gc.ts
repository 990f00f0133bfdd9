/**
 * A full garbage collection on demand, for the two sides of a live migration: each runs one while the
 * guest still runs (after the first copy of RAM), so that V8 does not choose the guest's pause for a major
 * collection of the copy's garbage (2-20 ms, seen in most runs before). --expose-gc is turned on here, once,
 * rather than on every VM process's command line.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | null = null;

export function collectGarbage(): void {
  if (gc === null) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}
