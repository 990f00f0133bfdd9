/**
 * The console output of a VM's current (or last) run, kept in its folder for `bonsai logs`: console.log,
 * and when that reaches its bound the older half moves to console.log.0, so the pair never exceeds twice
 * the bound however long the VM runs. A new run starts a new log.
 */
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { BonsaiError } from '../../errors.js';
import { readSmallFileSync } from '../files.js';

export const CONSOLE_LOG_BOUND = 1 << 20;

export class ConsoleLog {
  private fd: number;
  private size = 0;

  constructor(private readonly path: string, private readonly oldPath: string, private readonly bound = CONSOLE_LOG_BOUND) {
    rmSync(oldPath, { force: true });
    this.fd = openSync(path, 'w', 0o600);
  }

  write(bytes: Uint8Array): void {
    if (this.fd < 0) return;
    try {
      writeSync(this.fd, bytes);
      this.size += bytes.length;
      if (this.size >= this.bound) {
        closeSync(this.fd);
        renameSync(this.path, this.oldPath);
        this.fd = openSync(this.path, 'w', 0o600);
        this.size = 0;
      }
    } catch {
      // A full disk must not stop the guest: the log stops instead.
      try { closeSync(this.fd); } catch { /* already closed */ }
      this.fd = -1;
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** The kept console output, oldest first (empty when the VM never ran). */
export function readConsoleLog(path: string, oldPath: string): Buffer {
  const read = (p: string): Buffer => {
    if (!existsSync(p)) return Buffer.alloc(0);
    // The bound is the log's own (twice, for a log being written meanwhile); a FIFO put there is refused.
    return Buffer.from(readSmallFileSync(p, 2 * CONSOLE_LOG_BOUND, (why) => new BonsaiError(`${p}: cannot read: ${why}`)));
  };
  return Buffer.concat([read(oldPath), read(path)]);
}
