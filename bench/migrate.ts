/**
 * Live migration beside QEMU's, on loopback, the bundled guest in a 256 MiB VM, idle at its prompt and busy
 * (a shell loop rewriting a 1.6 MB file in the guest's RAM-backed root over and over): the guest's pause
 * (downtime), the whole migration's time and the bytes sent. Bonsai moves a VM from one store to another
 * (`bonsai receive` / `bonsai migrate --with-disks`: its root disk, a qcow2 overlay, goes along); QEMU
 * (TCG, no disk: its RAM only) migrates from one process to another started with `-incoming tcp:...`, driven
 * through the source's monitor (`migrate`, then `info migrate` for QEMU's own downtime and total time).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bonsai, untilPrompt } from './lifecycle.js';
import { killStore, repoPath } from '../test/helpers.js';
import { startQemu } from './linux.js';
import { monitor } from './snapshot.js';

export interface MigrationFigures {
  /** Each run's downtime and total time in ms, and bytes sent. */
  runs: { downtimeMs: number; totalMs: number; bytes: number }[];
}

const RUNS = 3;
const BUSY = 'while :; do cat /bin/busybox > /tmp/dirty; done &';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let port = 24000 + (process.pid % 4000);

/** Until the guest agent answers (a migrated VM's console log starts empty: no prompt to wait for). */
async function untilAgent(home: string, name: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const r = spawnSync(process.execPath, [repoPath('bin', 'bonsai.js'), 'exec', name, '--', 'true'], { env: { ...process.env, BONSAI_HOME: home } });
    if (r.status === 0) return;
    await sleep(100);
  }
  throw new Error(`the agent of ${name} never answered`);
}

export async function bonsaiMigration(busy: boolean): Promise<MigrationFigures> {
  const homes = [mkdtempSync(join(tmpdir(), 'bonsai-bench-mig-a-')), mkdtempSync(join(tmpdir(), 'bonsai-bench-mig-b-'))];
  try {
    bonsai(homes[0], ['create', 'mig', '--ssh-key', 'none', '-m', '256M']);
    bonsai(homes[0], ['start', 'mig']);
    await untilPrompt(homes[0], 'mig');
    if (busy) bonsai(homes[0], ['exec', 'mig', '--', 'sh', '-c', `setsid sh -c '${BUSY.replace(' &', '')}' </dev/null >/dev/null 2>&1 &`]);
    await sleep(3000);
    const runs: MigrationFigures['runs'] = [];
    // Back and forth between the two stores.
    for (let i = 0; i < RUNS; i++) {
      const [from, to] = i % 2 === 0 ? homes : [homes[1], homes[0]];
      const p = port++;
      const recv = spawn(process.execPath, [repoPath('bin', 'bonsai.js'), 'receive', '--listen', String(p)], { env: { ...process.env, BONSAI_HOME: to }, stdio: 'ignore' });
      const done = new Promise<number | null>((r) => recv.on('exit', (c) => r(c)));
      await sleep(1500);
      const out = bonsai(from, ['migrate', 'mig', '--to', `127.0.0.1:${p}`, '--with-disks', '--json']);
      if (await done !== 0) throw new Error('bonsai receive failed');
      const r = JSON.parse(out) as { downtimeMs: number; totalMs: number; bytes: number };
      runs.push({ downtimeMs: r.downtimeMs, totalMs: r.totalMs, bytes: r.bytes });
      await untilAgent(to, 'mig');
      await sleep(2000);
    }
    return { runs };
  } finally {
    for (const h of homes) {
      killStore(h);
      rmSync(h, { recursive: true, force: true });
    }
  }
}

export async function qemuMigration(busy: boolean): Promise<MigrationFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-bench-qmig-'));
  const runs: MigrationFigures['runs'] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const p = port++;
      const sockPath = join(dir, `monitor-${i}.sock`);
      const source = startQemu(['-monitor', `unix:${sockPath},server=on,wait=off`]);
      const dest = startQemu(['-incoming', `tcp:127.0.0.1:${p}`]);
      try {
        await source.con.until(/# (?:\x1b\[6n)?$/, 0, 300_000);
        if (busy) source.con.write(`${BUSY}\n`);
        await sleep(3000);
        const mon = await monitor(sockPath);
        await mon.run(`migrate -d tcp:127.0.0.1:${p}`);
        let info = '';
        for (let k = 0; k < 6000; k++) {
          info = await mon.run('info migrate');
          if (/Migration status: (completed|failed)/.test(info)) break;
          await sleep(10);
        }
        mon.close();
        if (!/Migration status: completed/.test(info)) throw new Error(`QEMU's migration did not complete: ${info}`);
        const num = (re: RegExp): number => Number(re.exec(info)?.[1] ?? NaN);
        runs.push({ downtimeMs: num(/\ndowntime: (\d+) ms/), totalMs: num(/total time: (\d+) ms/), bytes: num(/transferred ram: (\d+) kbytes/) * 1024 });
      } finally {
        source.q.kill();
        dest.q.kill();
        await Promise.all([source.exited, dest.exited]);
      }
    }
    return { runs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
