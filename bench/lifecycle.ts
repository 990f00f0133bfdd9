/**
 * Persistent VMs: `bonsai start` to the guest's shell prompt (first boot, which fills the blank root
 * disk, and later boots), `bonsai clone` of a VM with 1 GiB of data on its disk (linked and full), and
 * the host memory (RSS) of an idle 256 MiB VM beside QEMU's for the same guest.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openDisk } from '../src/storage/backend.js';
import { killStore, repoPath } from '../test/helpers.js';
import { startQemu } from './linux.js';

export interface LifecycleFigures {
  firstStartSeconds: number;
  startSeconds: number;
  linkedCloneSeconds: number;
  fullCloneSeconds: number;
  idleRssMiB: number;
  /** Host CPU of the idle VM's process over 10 s, percent of one core. */
  idleCpuPercent: number;
}

const BIN = repoPath('bin', 'bonsai.js');

export function bonsai(home: string, args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, BONSAI_HOME: home }, encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`bonsai ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function untilPrompt(home: string, name: string): Promise<void> {
  const log = join(home, 'vms', name, 'console.log');
  const deadline = Date.now() + 300_000;
  while (!(existsSync(log) && readFileSync(log, 'latin1').includes(`${name}:/root# `))) {
    if (Date.now() > deadline) throw new Error(`${name} never reached its prompt`);
    await sleep(20);
  }
}

async function timedStart(home: string, name: string): Promise<number> {
  const t0 = performance.now();
  bonsai(home, ['start', name]);
  await untilPrompt(home, name);
  return (performance.now() - t0) / 1000;
}

/** CPU seconds a process has used (utime + stime, fields 14 and 15 of /proc/PID/stat, in 1/100 s). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Resident memory of a process, MiB (VmRSS in /proc/PID/status). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]) / 1024;
}

export async function bonsaiLifecycle(): Promise<LifecycleFigures> {
  const home = mkdtempSync(join(tmpdir(), 'bonsai-bench-home-'));
  try {
    bonsai(home, ['create', 'b1', '--ssh-key', 'none']);
    const firstStartSeconds = await timedStart(home, 'b1');
    await sleep(5000); // idle at the prompt
    const pid = (JSON.parse(readFileSync(join(home, 'vms', 'b1', 'vmm.pid'), 'utf8')) as { pid: number }).pid;
    const idleRssMiB = rssMiB(pid);
    const c0 = cpuSeconds(pid);
    await sleep(10_000);
    const idleCpuPercent = (cpuSeconds(pid) - c0) * 10;
    bonsai(home, ['stop', 'b1']);
    const startSeconds = await timedStart(home, 'b1');
    bonsai(home, ['stop', 'b1']);
    // 1 GiB of data on the clone source's disk.
    bonsai(home, ['create', 'big', '--ssh-key', 'none', '--disk-size', '2G']);
    const disk = await openDisk(join(home, 'vms', 'big', 'root.qcow2'), { readOnly: false });
    const chunk = new Uint8Array(4 << 20).fill(0x5a);
    for (let off = 0; off < 1024 ** 3; off += chunk.length) await disk.write(off, chunk);
    await disk.close();
    let t0 = performance.now();
    bonsai(home, ['clone', 'big', 'linked']);
    const linkedCloneSeconds = (performance.now() - t0) / 1000;
    t0 = performance.now();
    bonsai(home, ['clone', 'big', 'full', '--full']);
    const fullCloneSeconds = (performance.now() - t0) / 1000;
    return { firstStartSeconds, startSeconds, linkedCloneSeconds, fullCloneSeconds, idleRssMiB, idleCpuPercent };
  } finally {
    killStore(home);
    rmSync(home, { recursive: true, force: true });
  }
}

/** QEMU's resident memory for the same guest (256 MiB, the bundled kernel and initramfs), idle at its prompt. */
export async function qemuIdleRss(): Promise<number> {
  const { q, con, exited } = startQemu([]);
  try {
    await con.until(/# (?:\x1b\[6n)?$/, 0, 300_000);
    await sleep(5000);
    return rssMiB(q.pid ?? 0);
  } finally {
    q.kill();
    await exited;
  }
}
