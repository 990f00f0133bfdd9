import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';

/** The repository root: the nearest folder above the working directory whose package.json is bonsai's. */
export function repoRoot(): string {
  let dir = resolve(process.cwd());
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'bonsai') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('run the tests from inside the bonsai repository');
    dir = up;
  }
}

export function repoPath(...parts: string[]): string {
  return join(repoRoot(), ...parts);
}

/** A seeded PRNG (mulberry32) so that fuzz failures reproduce. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * The processes running with `BONSAI_HOME=home` whose command line matches `pattern` (all of them without
 * one): a store's VMs and commands carry the store only in their environment, not in their arguments.
 */
export function storeProcesses(home: string, pattern?: RegExp): number[] {
  const pids: number[] = [];
  let entries: string[] = [];
  try { entries = readdirSync('/proc'); } catch { return pids; }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${e}/environ`, 'latin1').split('\0');
      if (!env.includes(`BONSAI_HOME=${home}`)) continue;
      if (pattern !== undefined && !pattern.test(readFileSync(`/proc/${e}/cmdline`, 'latin1').split('\0').join(' '))) continue;
      pids.push(Number(e));
    } catch { /* gone, or not ours to read */ }
  }
  return pids;
}

/** Kills (SIGKILL) the processes of a store, as storeProcesses() finds them; how many there were. */
export function killStore(home: string, pattern?: RegExp): number {
  const pids = storeProcesses(home, pattern);
  for (const p of pids) {
    try { process.kill(p, 'SIGKILL'); } catch { /* already gone */ }
  }
  return pids.length;
}
