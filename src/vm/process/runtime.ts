/**
 * What the store knows of a VM's process without asking it: the VMM writes vmm.pid when it starts and
 * removes it when it ends; a pid file whose process is gone means the VMM died (killed, or crashed). The
 * first command that notices records that in `crashed` (with the tail of the VMM's log), removes the dead
 * socket, and reports the VM as crashed until it is started again.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pidAlive } from '../store/lock.js';
import { writeFileAtomic } from '../store/atomic.js';

export interface PidFile { pid: number; started: string }

export type VmState = 'stopped' | 'running' | 'crashed';

export const files = (dir: string) => ({
  pid: join(dir, 'vmm.pid'),
  socket: join(dir, 'control.sock'),
  log: join(dir, 'vmm.log'),
  console: join(dir, 'console.log'),
  consoleOld: join(dir, 'console.log.0'),
  crashed: join(dir, 'crashed'),
  knownHosts: join(dir, 'known_hosts'),
  /** A fork's machine state, resumed from at its first start (vm/snapshot/fork.ts). */
  forkState: join(dir, 'fork.state'),
});

export function readPidFile(dir: string): PidFile | null {
  try {
    const v = JSON.parse(readFileSync(files(dir).pid, 'utf8')) as PidFile;
    return Number.isInteger(v.pid) ? v : null;
  } catch {
    return null;
  }
}

/** The last `lines` lines of a file (a log), or '' when there is none. */
export function tail(path: string, lines: number): string {
  try {
    const text = readFileSync(path, 'utf8');
    return text.split('\n').filter((l) => l.trim() !== '').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Whether `pid` is a live VMM (on Linux its command line says so: a recycled pid is not mistaken for one). */
export function vmmAlive(pid: number): boolean {
  if (!pidAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').includes('vmm');
  } catch {
    return true; // no /proc (or not ours to read): trust the pid
  }
}

/** The VM's state from its folder; notices and records a dead VMM. */
export function vmState(dir: string): { state: VmState; pid?: PidFile; crash?: string } {
  const f = files(dir);
  const pid = readPidFile(dir);
  if (pid !== null && vmmAlive(pid.pid)) return { state: 'running', pid };
  if (pid !== null || (existsSync(f.pid) && pid === null)) {
    const log = tail(f.log, 5);
    const consoleTail = tail(f.console, 5);
    const report = `the VM's process (pid ${pid?.pid ?? '?'}) died without stopping the VM` +
      (log !== '' ? `\n--- vmm.log ---\n${log}` : '') + (consoleTail !== '' ? `\n--- console.log ---\n${consoleTail}` : '');
    try {
      writeFileAtomic(f.crashed, `${report}\n`);
      rmSync(f.socket, { force: true });
      rmSync(f.pid, { force: true });
    } catch { /* a read-only store: still report it */ }
    return { state: 'crashed', crash: report };
  }
  if (existsSync(f.crashed)) {
    let crash = '';
    try { crash = readFileSync(f.crashed, 'utf8').trim(); } catch { /* gone meanwhile */ }
    return { state: 'crashed', crash };
  }
  return { state: 'stopped' };
}
