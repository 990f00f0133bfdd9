/**
 * Per-VM (and per-template) locks, so two bonsai commands racing on one VM never interleave their writes.
 * A lock is a file created exclusively (O_EXCL) holding the owner's pid; a lock whose pid is dead is stale
 * (its owner was killed) and is taken over. Locks are short-lived: held for the length of one command's
 * changes to the store, never while a VM runs (a running VM is known by its VMM's pid file instead).
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { BonsaiError } from '../../errors.js';
import { processRuns } from '../../storage/lock.js';
import { storeError } from './errors.js';

/** Whether process `pid` runs (a zombie does not): one answer for the store's locks and the image locks. */
export const pidAlive = processRuns;

const readPid = (path: string): number | null => {
  try { return Number.parseInt(readFileSync(path, 'utf8'), 10); } catch { return null; }
};

export interface Lock { release(): void }

/**
 * Takes the lock file `path` for `what` (a name for messages), waiting up to `waitMs` for a live holder to
 * let go; a holder in this same process (a server doing two things at once) is waited for like any other.
 */
export async function takeLock(path: string, what: string, waitMs = 10_000): Promise<Lock> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      try { writeSync(fd, `${process.pid}\n`); } finally { closeSync(fd); }
      let held = true;
      return {
        release: () => {
          if (!held) return;
          held = false;
          if (readPid(path) === process.pid) rmSync(path, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw storeError(e, path, 'cannot take the lock');
    }
    const holder = readPid(path);
    if (holder !== null && !Number.isNaN(holder) && !pidAlive(holder)) {
      // Stale: its owner died. Remove it only if it is still that owner's (another taker may have been first).
      if (readPid(path) === holder) rmSync(path, { force: true });
      continue;
    }
    if (holder === null || Number.isNaN(holder)) {
      // Being written this instant, or left empty by a crash between create and write: give it a moment.
      await new Promise((r) => setTimeout(r, 50));
      if (readPid(path) === null || Number.isNaN(readPid(path) as number)) rmSync(path, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new BonsaiError(`${what} is busy: another bonsai command (pid ${holder}) is changing it; try again`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
