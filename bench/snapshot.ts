/**
 * Snapshots beside QEMU's savevm/loadvm, on the bundled guest idle at its prompt (256 MiB, 1 hart):
 * how long the guest is paused to take a snapshot and to restore one, the whole command's time, and the
 * state's size on disk. QEMU (TCG, a qcow2 disk to hold the snapshot) stops the guest for the whole of
 * `savevm` and `loadvm`, timed through its monitor socket.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { bonsai, untilPrompt } from './lifecycle.js';
import { startQemu } from './linux.js';
import { killStore } from '../test/helpers.js';

export interface SnapshotFigures {
  /** Medians over the runs, in seconds (pauses) and bytes (state). */
  createPause: number;
  createCommand: number;
  restorePause: number;
  restoreCommand: number;
  stateBytes: number;
}

const RUNS = 3;
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function bonsaiSnapshots(): Promise<SnapshotFigures> {
  const home = mkdtempSync(join(tmpdir(), 'bonsai-bench-snap-'));
  try {
    bonsai(home, ['create', 'snap', '--ssh-key', 'none', '-m', '256M']);
    bonsai(home, ['start', 'snap']);
    await untilPrompt(home, 'snap');
    await sleep(3000);
    const cp: number[] = [], cc: number[] = [], rp: number[] = [], rc: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      let t0 = performance.now();
      const out = bonsai(home, ['snapshot', 'create', 'snap', `s${i}`]);
      cc.push((performance.now() - t0) / 1000);
      const m = /the guest paused (\d+) ms/.exec(out);
      if (m === null) throw new Error(`snapshot create said: ${out}`);
      cp.push(Number(m[1]) / 1000);
      await sleep(1000);
      t0 = performance.now();
      bonsai(home, ['snapshot', 'restore', 'snap', `s${i}`]);
      rc.push((performance.now() - t0) / 1000);
      const pauses = [...readFileSync(join(home, 'vms', 'snap', 'vmm.log'), 'utf8').matchAll(/restored \(the guest was paused ([\d.]+) ms\)/g)];
      rp.push(Number(pauses[pauses.length - 1][1]) / 1000);
      await sleep(1000);
    }
    const tree = JSON.parse(bonsai(home, ['snapshot', 'list', 'snap', '--json'])) as { snapshots: { stateBytes: number }[] };
    return { createPause: median(cp), createCommand: median(cc), restorePause: median(rp), restoreCommand: median(rc), stateBytes: median(tree.snapshots.map((s) => s.stateBytes)) };
  } finally {
    killStore(home);
    rmSync(home, { recursive: true, force: true });
  }
}

/** A QEMU human monitor on a socket: one command at a time, answered when the prompt comes back. */
/** Connects to QEMU's Unix socket `path` (`what` it is, for the error), retrying for up to 10 s while QEMU starts. */
export async function connectQemu(path: string, what: string): Promise<Socket> {
  for (let i = 0; i < 100; i++) {
    const sock = await new Promise<Socket | null>((resolve) => {
      const s = connect(path);
      s.once('connect', () => resolve(s)).once('error', () => resolve(null));
    });
    if (sock !== null) return sock;
    await sleep(100);
  }
  throw new Error(`QEMU's ${what} ${path} does not answer`);
}

export async function monitor(path: string): Promise<{ run(cmd: string): Promise<string>; close(): void }> {
  const s = await connectQemu(path, 'monitor');
  let text = '';
  let wake: (() => void) | null = null;
  s.on('data', (b: Buffer) => { text += b.toString('latin1'); wake?.(); });
  const prompt = async (): Promise<string> => {
    while (!text.includes('(qemu) ')) await new Promise<void>((r) => { wake = r; });
    const [before] = text.split('(qemu) ');
    text = text.slice(text.indexOf('(qemu) ') + 7);
    return before;
  };
  await prompt();
  return { run: async (cmd) => { s.write(`${cmd}\n`); return prompt(); }, close: () => s.destroy() };
}

export async function qemuSnapshots(): Promise<SnapshotFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-bench-qsnap-'));
  const disk = join(dir, 'disk.qcow2');
  spawnSync('qemu-img', ['create', '-f', 'qcow2', disk, '2G'], { stdio: 'ignore' });
  const sockPath = join(dir, 'monitor.sock');
  const { q, con, exited } = startQemu(['-drive', `file=${disk},format=qcow2,if=none,id=d0`, '-device', 'virtio-blk-device,drive=d0',
    '-monitor', `unix:${sockPath},server=on,wait=off`]);
  try {
    await con.until(/# (?:\x1b\[6n)?$/, 0, 300_000);
    await sleep(3000);
    const mon = await monitor(sockPath);
    const save: number[] = [], load: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      let t0 = performance.now();
      const said = await mon.run(`savevm s${i}`);
      save.push((performance.now() - t0) / 1000);
      if (/Error/i.test(said)) throw new Error(`QEMU savevm: ${said}`);
      await sleep(1000);
      t0 = performance.now();
      await mon.run(`loadvm s${i}`);
      load.push((performance.now() - t0) / 1000);
      await sleep(1000);
    }
    // "ID TAG VM SIZE DATE VM CLOCK ...": the sizes, as QEMU prints them (e.g. 14.2 MiB).
    const info = await mon.run('info snapshots');
    const units: { [u: string]: number } = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
    const sizes = [...info.matchAll(/\s([\d.]+) ?(B|KiB|MiB|GiB)\s/g)].map((m) => Number(m[1]) * units[m[2]]);
    mon.close();
    return { createPause: median(save), createCommand: median(save), restorePause: median(load), restoreCommand: median(load), stateBytes: sizes.length > 0 ? median(sizes) : NaN };
  } finally {
    q.kill();
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}
