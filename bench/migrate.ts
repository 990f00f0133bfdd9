/**
 * Live migration beside QEMU's, on loopback, the bundled guest in a 256 MiB VM, idle at its prompt and busy
 * (a shell loop rewriting a 1.6 MB file in the guest's RAM-backed root over and over): the guest's pause
 * (downtime), the whole migration's time and the bytes sent. Bonsai moves a VM from one store to another
 * (`bonsai receive` / `bonsai migrate --with-disks`: its root disk, a qcow2 overlay, goes along); QEMU
 * (TCG, no disk: its RAM only) migrates from one process to another started with `-incoming tcp:...`, driven
 * through the source's monitor (`migrate`, then `info migrate` for QEMU's own downtime and total time).
 *
 * Downtimes measured alike on both: the guest's whole pause on the host's clock (Bonsai: the source's
 * "pause" to the destination's "guest runs" in a BONSAI_MIGRATE_TRACE timeline; QEMU: the source's QMP STOP
 * event to the destination's RESUME), and the source's part of it (until the last of the state was written),
 * which is what QEMU's `info migrate` reports as its downtime. Bonsai's own figure, the one `bonsai migrate`
 * prints (until the source heard that the guest runs: the answer's trip back and the source's turn to read
 * it included), is reported beside them.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bonsai, untilPrompt } from './lifecycle.js';
import { killStore, repoPath } from '../test/helpers.js';
import { startQemu } from './linux.js';
import { connectQemu, monitor } from './snapshot.js';

export interface MigrationFigures {
  /** Each run's guest pause, the source's part of it and the total time in ms, and bytes sent. */
  runs: { downtimeMs: number; sourceMs: number; totalMs: number; bytes: number; reportedMs?: number }[];
}

const RUNS = 5;
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

/** The guest's pause on the host's clock in a migration trace: the source's stop to the guest running again. */
export function tracedPause(trace: string): number {
  const at = (step: string): number => {
    const line = trace.split('\n').find((l) => l.split(' ').slice(2).join(' ') === step);
    if (line === undefined) throw new Error(`the migration trace has no "${step}"`);
    return Number(line.split(' ')[0]);
  };
  return at('destination: guest runs') - at('source: pause');
}

export async function bonsaiMigration(busy: boolean): Promise<MigrationFigures> {
  const homes = [mkdtempSync(join(tmpdir(), 'bonsai-bench-mig-a-')), mkdtempSync(join(tmpdir(), 'bonsai-bench-mig-b-'))];
  // Every bonsai process below (the VMs too) inherits it: each migration's steps, stamped by the host's clock.
  const trace = join(homes[0], 'migrate-trace');
  const before = process.env.BONSAI_MIGRATE_TRACE;
  process.env.BONSAI_MIGRATE_TRACE = trace;
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
      writeFileSync(trace, '');
      const out = bonsai(from, ['migrate', 'mig', '--to', `127.0.0.1:${p}`, '--with-disks', '--json']);
      if (await done !== 0) throw new Error('bonsai receive failed');
      const r = JSON.parse(out) as { downtimeMs: number; sourceMs: number; totalMs: number; bytes: number };
      runs.push({ downtimeMs: tracedPause(readFileSync(trace, 'utf8')), reportedMs: r.downtimeMs, sourceMs: r.sourceMs, totalMs: r.totalMs, bytes: r.bytes });
      await untilAgent(to, 'mig');
      await sleep(2000);
    }
    return { runs };
  } finally {
    if (before === undefined) delete process.env.BONSAI_MIGRATE_TRACE;
    else process.env.BONSAI_MIGRATE_TRACE = before;
    for (const h of homes) {
      killStore(h);
      rmSync(h, { recursive: true, force: true });
    }
  }
}

/**
 * A QMP connection that records the events QEMU sends (name and host-clock time in ms). QEMU's event
 * timestamps come from the host's real-time clock, so two processes' stamps compare on one host.
 */
async function qmpEvents(path: string): Promise<{ at(event: string): Promise<number>; close(): void }> {
  const s = await connectQemu(path, 'QMP socket');
  const seen = new Map<string, number>();
  let text = '';
  s.on('data', (b: Buffer) => {
    text += b.toString();
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
      const msg = JSON.parse(text.slice(0, nl)) as { event?: string; timestamp?: { seconds: number; microseconds: number } };
      text = text.slice(nl + 1);
      if (msg.event !== undefined && msg.timestamp !== undefined && !seen.has(msg.event)) {
        seen.set(msg.event, msg.timestamp.seconds * 1000 + msg.timestamp.microseconds / 1000);
      }
    }
  });
  s.write('{"execute":"qmp_capabilities"}\n');
  return {
    at: async (event) => {
      for (let i = 0; i < 1000 && !seen.has(event); i++) await sleep(10);
      const t = seen.get(event);
      if (t === undefined) throw new Error(`QEMU sent no ${event} event`);
      return t;
    },
    close: () => s.destroy(),
  };
}

export async function qemuMigration(busy: boolean): Promise<MigrationFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-bench-qmig-'));
  const runs: MigrationFigures['runs'] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const p = port++;
      const sockPath = join(dir, `monitor-${i}.sock`);
      const qmp = [join(dir, `qmp-src-${i}.sock`), join(dir, `qmp-dst-${i}.sock`)];
      const source = startQemu(['-monitor', `unix:${sockPath},server=on,wait=off`, '-qmp', `unix:${qmp[0]},server=on,wait=off`]);
      const dest = startQemu(['-incoming', `tcp:127.0.0.1:${p}`, '-qmp', `unix:${qmp[1]},server=on,wait=off`]);
      try {
        await source.con.until(/# (?:\x1b\[6n)?$/, 0, 300_000);
        if (busy) source.con.write(`${BUSY}\n`);
        await sleep(3000);
        const mon = await monitor(sockPath);
        const events = [await qmpEvents(qmp[0]), await qmpEvents(qmp[1])];
        await mon.run(`migrate -d tcp:127.0.0.1:${p}`);
        let info = '';
        for (let k = 0; k < 6000; k++) {
          info = await mon.run('info migrate');
          if (/Migration status: (completed|failed)/.test(info)) break;
          await sleep(10);
        }
        mon.close();
        if (!/Migration status: completed/.test(info)) throw new Error(`QEMU's migration did not complete: ${info}`);
        const pause = (await events[1].at('RESUME')) - (await events[0].at('STOP'));
        for (const e of events) e.close();
        const num = (re: RegExp): number => Number(re.exec(info)?.[1] ?? NaN);
        runs.push({ downtimeMs: pause, sourceMs: num(/\ndowntime: (\d+) ms/), totalMs: num(/total time: (\d+) ms/), bytes: num(/transferred ram: (\d+) kbytes/) * 1024 });
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
