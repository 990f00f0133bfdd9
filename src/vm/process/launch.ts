/**
 * Starting, reaching and ending a VM's process from a client (the CLI, tests, the HTTP API of bonsai serve).
 * Everything past the start itself goes through the control socket.
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BonsaiError } from '../../errors.js';
import { ControlClient, ControlError } from '../control/client.js';
import { pidAlive } from '../store/lock.js';
import type { Store } from '../store/store.js';
import { files, tail, vmState } from './runtime.js';

/** bin/bonsai.js of this package (from dist/src/vm/process/). */
export const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'bin', 'bonsai.js');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Connects to a running VM's control socket; a VM that is not running is a one-line error. */
export async function connectVm(store: Store, name: string): Promise<ControlClient> {
  store.loadVm(name);
  const s = vmState(store.vmDir(name));
  if (s.state === 'crashed') throw new BonsaiError(`VM '${name}' crashed: ${s.crash?.split('\n').slice(0, 1).join('') ?? ''} (bonsai logs ${name}; bonsai start ${name})`);
  if (s.state !== 'running') throw new BonsaiError(`VM '${name}' is not running (bonsai start ${name})`);
  return ControlClient.connect(files(store.vmDir(name)).socket, name);
}

export interface StartResult { pid: number; wasCrashed: boolean }

/**
 * Starts a VM's process, detached from this one (its own session: no terminal, no signals from ours), and
 * waits until its control socket answers, or reports why it did not come up (the tail of vmm.log).
 */
export interface StartOptions {
  timeoutMs?: number;
  /** Resume from this machine state file (the disks already put back to match) instead of booting. */
  restore?: string;
  /** The caller holds the VM's lock already. */
  locked?: boolean;
}

export async function startVm(store: Store, name: string, optsOrTimeout: number | StartOptions = {}): Promise<StartResult> {
  const o: StartOptions = typeof optsOrTimeout === 'number' ? { timeoutMs: optsOrTimeout } : optsOrTimeout;
  const timeoutMs = o.timeoutMs ?? 60_000;
  const lock = o.locked === true ? null : await store.lockVm(name);
  try {
    const spec = store.loadVm(name);
    const dir = store.vmDir(name);
    const s = vmState(dir);
    if (s.state === 'running') throw new BonsaiError(`VM '${name}' is running already`);
    for (const d of [...(spec.root === undefined ? [] : [spec.root]), ...spec.disks]) {
      const p = store.diskPath(name, d.file);
      if (!existsSync(p)) throw new BonsaiError(`VM '${name}': its disk ${p} is missing`);
    }
    const f = files(dir);
    rmSync(f.crashed, { force: true });
    const logFd = openSync(f.log, 'w', 0o600);
    let exited: number | null = null;
    // A fork's first start resumes from the snapshot it was made from (vm/snapshot/fork.ts).
    const fork = o.restore === undefined && existsSync(files(dir).forkState);
    const args = [BIN, 'vmm', name, ...(o.restore === undefined ? [] : ['--restore', o.restore]),
      ...(fork ? ['--restore', files(dir).forkState, '--fork'] : [])];
    const child = spawn(process.execPath, args, {
      detached: true, stdio: ['ignore', logFd, logFd], env: { ...process.env, BONSAI_HOME: store.home },
    });
    closeSync(logFd);
    child.on('exit', (code, signal) => { exited = code ?? (signal === null ? 1 : 128); });
    child.unref();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exited !== null) {
        const why = tail(f.log, 1).replace(/^\S+Z /, '').replace(/^bonsai: /, '');
        throw new BonsaiError(`VM '${name}' did not start: ${why === '' ? `its process exited with status ${exited}` : why}`);
      }
      if (existsSync(f.socket)) {
        try {
          // Up once its machine is built: its disks are open by then, so a disk another process holds
          // is reported here, not after start said the VM runs.
          const c = await ControlClient.connect(f.socket, name, 2000);
          const st = await c.request('status').finally(() => c.close());
          if (typeof st === 'object' && st !== null && !Array.isArray(st) && st.built === true) {
            return { pid: child.pid ?? 0, wasCrashed: s.state === 'crashed' };
          }
        } catch { /* not listening yet */ }
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new BonsaiError(`VM '${name}' did not start within ${timeoutMs / 1000} s (see ${f.log})`);
      }
      await sleep(50);
    }
  } finally {
    lock?.release();
  }
}

export async function waitGone(pid: number, deadline: number): Promise<boolean> {
  while (pidAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

function runningPid(store: Store, name: string): number {
  const s = vmState(store.vmDir(name));
  if (s.state !== 'running' || s.pid === undefined) throw new BonsaiError(`VM '${name}' is not running`);
  return s.pid.pid;
}

/**
 * Ends a VM at once (`bonsai kill`): the VMM stops the machine and flushes its disks; a VMM that does not
 * answer within a few seconds is killed with SIGKILL.
 */
export async function killVm(store: Store, name: string): Promise<void> {
  const pid = runningPid(store, name);
  try {
    const c = await ControlClient.connect(files(store.vmDir(name)).socket, name, 2000);
    await c.request('quit').catch(() => undefined);
    c.close();
  } catch { /* unresponsive: SIGKILL below */ }
  if (!(await waitGone(pid, Date.now() + 5000))) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone meanwhile */ }
    await waitGone(pid, Date.now() + 5000);
    vmState(store.vmDir(name)); // records the killed VMM as such and removes its socket
    rmSync(files(store.vmDir(name)).crashed, { force: true }); // killed on purpose, not crashed
  }
}

/**
 * Asks the guest to power off (`bonsai stop`): through the guest agent, which a booting guest may not
 * have started yet (asked again until it has), else with the power button (pressed again every 3 s);
 * after `timeoutMs` the VM is killed.
 * Resolves to how it ended.
 */
export async function stopVm(store: Store, name: string, timeoutMs = 30_000, onNote?: (s: string) => void): Promise<'graceful' | 'killed'> {
  const pid = runningPid(store, name);
  const deadline = Date.now() + timeoutMs;
  const c = await connectVm(store, name);
  let noted = false;
  try {
    for (;;) {
      try {
        const r = await c.request('shutdown') as { method?: string };
        if (r.method === 'agent') break;
        // A power button press: heard once the guest's logind (or acpid-like daemon) listens; press again.
        if (await waitGone(pid, Math.min(deadline, Date.now() + 3000))) return 'graceful';
      } catch (e) {
        if (!(e instanceof ControlError) || e.errorClass !== 'Unavailable') break; // the VM went away meanwhile
        if (!noted) { onNote?.(`${e.message}; asking again until the timeout, then killing it`); noted = true; }
        await sleep(500);
      }
      if (Date.now() > deadline) break;
    }
  } finally {
    c.close();
  }
  if (await waitGone(pid, deadline)) return 'graceful';
  await killVm(store, name);
  return 'killed';
}
