/**
 * `npm run bench`: Bonsai beside QEMU on the same guest, reported as ratios.
 *
 * CPU: the project's CPU-bound benchmark program (test/isa/bench-program/bench.elf: sorting, CRC32, an
 * interpreter loop, matrix multiply, string hashing, a sieve; it checks its own results) runs bare-metal
 * on Bonsai (`--bios none`) and on QEMU TCG (`qemu-system-riscv64 -M spike -bios none`, when installed).
 * The instruction count is the guest's own instret at exit, read from Bonsai; both run the same binary,
 * so QEMU's rate is that count over QEMU's time.
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { runProgram } from '../src/vm/program.js';
import { qemuLinux, scratchDisk, type LinuxTimes } from './linux.js';
import { xv6Usertests } from './xv6.js';
import { buildXv6 } from '../test/xv6.js';
import { qemuNet, type NetTimes } from './net.js';
import { bonsaiLifecycle, qemuIdleRss } from './lifecycle.js';
import { bonsaiSnapshots, qemuSnapshots } from './snapshot.js';
import { bonsaiMigration, qemuMigration } from './migrate.js';
import { repoPath } from '../test/helpers.js';

interface Row { name: string; bonsai: string; qemu: string; ratio: string }

function qemuAvailable(): boolean {
  return spawnSync('qemu-system-riscv64', ['--version'], { stdio: 'ignore' }).status === 0;
}

async function bestOf<T extends { seconds: number }>(runs: number, f: () => Promise<T>): Promise<T> {
  let best: T | null = null;
  for (let i = 0; i < runs; i++) {
    const r = await f();
    if (best === null || r.seconds < best.seconds) best = r;
  }
  return best as T;
}

async function cpuBench(rows: Row[]): Promise<void> {
  const elf = repoPath('test', 'isa', 'bench-program', 'bench.elf');
  let qemuSeconds: number | null = null;
  if (qemuAvailable()) {
    const q = await bestOf(3, async () => {
      const t0 = performance.now();
      const r = spawnSync('qemu-system-riscv64', ['-M', 'spike', '-bios', 'none', '-kernel', elf, '-nographic'], { stdio: 'ignore', timeout: 120_000 });
      if (r.status !== 0) throw new Error(`benchmark program failed on QEMU (status ${r.status})`);
      return { seconds: (performance.now() - t0) / 1000 };
    });
    qemuSeconds = q.seconds;
  }
  // Both engines, each in the same process (the interpreter first, as before the JIT existed).
  for (const engine of ['interp', 'jit'] as const) {
    const b = await bestOf(3, () => runProgram(elf, { memoryBytes: 64 * 1024 * 1024, engine }));
    if (b.status !== 0) throw new Error(`benchmark program failed on Bonsai (${engine}, status ${b.status})`);
    const mips = b.instructions / b.seconds / 1e6;
    const qemu = qemuSeconds === null ? 'not installed' : `${qemuSeconds.toFixed(2)} s (${(b.instructions / qemuSeconds / 1e6).toFixed(0)} MIPS)`;
    const ratio = qemuSeconds === null ? '-' : `${(b.seconds / qemuSeconds).toFixed(1)}x`;
    rows.push({ name: `CPU benchmark (${engine}), ${(b.instructions / 1e6).toFixed(0)}M instructions`, bonsai: `${b.seconds.toFixed(2)} s (${mips.toFixed(1)} MIPS)`, qemu, ratio });
  }
}

async function linuxBench(rows: Row[]): Promise<void> {
  let q: LinuxTimes | null = null;
  if (qemuAvailable()) q = await qemuLinux(scratchDisk());
  for (const engine of ['interp', 'jit'] as const) {
    // In a fresh process, so Bonsai starts as cold as `bonsai run` does (the CPU benchmark warms V8's JIT).
    const child = spawnSync(process.execPath, [repoPath('dist', 'bench', 'linux.js'), 'bonsai', scratchDisk(), engine], { encoding: 'utf8', timeout: 900_000 });
    if (child.status !== 0) throw new Error(`Linux benchmark on Bonsai (${engine}) failed: ${child.stderr}`);
    const b = JSON.parse(child.stdout) as LinuxTimes;
    const cell = (s: number, qs: number | undefined): [string, string, string] =>
      [`${s.toFixed(2)} s`, qs === undefined ? 'not installed' : `${qs.toFixed(2)} s`, qs === undefined ? '-' : `${(s / qs).toFixed(1)}x`];
    const [bb, qb, rb] = cell(b.bootSeconds, q?.bootSeconds);
    rows.push({ name: `Linux boot to shell prompt (${engine})`, bonsai: bb, qemu: qb, ratio: rb });
    const [bl, ql, rl] = cell(b.loopSeconds, q?.loopSeconds);
    rows.push({ name: `shell loop, 20000 iterations (${engine})`, bonsai: bl, qemu: ql, ratio: rl });
    const mbs = (v: number | undefined): string => (v === undefined ? '-' : `${v.toFixed(1)} MiB/s`);
    const slower = (bv: number | undefined, qv: number | undefined): string => (bv === undefined || qv === undefined ? '-' : `${(qv / bv).toFixed(1)}x`);
    rows.push({ name: `virtio-blk write, 64 MiB, O_DIRECT (${engine})`, bonsai: mbs(b.diskWriteMiBs), qemu: q === null ? 'not installed' : mbs(q.diskWriteMiBs), ratio: slower(b.diskWriteMiBs, q?.diskWriteMiBs) });
    rows.push({ name: `virtio-blk read, 64 MiB, O_DIRECT (${engine})`, bonsai: mbs(b.diskReadMiBs), qemu: q === null ? 'not installed' : mbs(q.diskReadMiBs), ratio: slower(b.diskReadMiBs, q?.diskReadMiBs) });
    rows.push({ name: `idle at the shell prompt, host CPU (${engine})`, bonsai: `${b.idlePercent.toFixed(2)} %`, qemu: q === null ? 'not installed' : `${q.idlePercent.toFixed(2)} %`, ratio: '-' });
  }
}

async function netBench(rows: Row[]): Promise<void> {
  const q = qemuAvailable() ? await qemuNet() : null;
  const mbs = (v: number): string => `${v.toFixed(1)} MiB/s`;
  for (const engine of ['interp', 'jit'] as const) {
    const child = spawnSync(process.execPath, [repoPath('dist', 'bench', 'net.js'), 'bonsai', engine], { encoding: 'utf8', timeout: 900_000 });
    if (child.status !== 0) throw new Error(`network benchmark on Bonsai (${engine}) failed: ${child.stderr}`);
    const b = JSON.parse(child.stdout) as NetTimes;
    rows.push({ name: `TCP guest -> host (user net), 32 MiB (${engine})`, bonsai: mbs(b.upMiBs), qemu: q === null ? 'not installed' : mbs(q.upMiBs), ratio: q === null ? '-' : `${(q.upMiBs / b.upMiBs).toFixed(1)}x` });
    rows.push({ name: `TCP host -> guest (forward), 32 MiB (${engine})`, bonsai: mbs(b.downMiBs), qemu: q === null ? 'not installed' : mbs(q.downMiBs), ratio: q === null ? '-' : `${(q.downMiBs / b.downMiBs).toFixed(1)}x` });
  }
}

async function lifecycleBench(rows: Row[]): Promise<void> {
  const b = await bonsaiLifecycle();
  const q = qemuAvailable() ? await qemuIdleRss() : null;
  const s = (v: number): string => `${v.toFixed(2)} s`;
  rows.push({ name: 'bonsai start to prompt, first boot', bonsai: s(b.firstStartSeconds), qemu: '-', ratio: '-' });
  rows.push({ name: 'bonsai start to prompt, later boots', bonsai: s(b.startSeconds), qemu: '-', ratio: '-' });
  rows.push({ name: 'bonsai clone, 1 GiB of data, linked', bonsai: s(b.linkedCloneSeconds), qemu: '-', ratio: '-' });
  rows.push({ name: 'bonsai clone, 1 GiB of data, --full', bonsai: s(b.fullCloneSeconds), qemu: '-', ratio: '-' });
  rows.push({ name: 'idle VM in the background (host CPU)', bonsai: `${b.idleCpuPercent.toFixed(2)} %`, qemu: '-', ratio: '-' });
  rows.push({ name: 'RSS of an idle 256 MiB VM', bonsai: `${b.idleRssMiB.toFixed(0)} MiB`, qemu: q === null ? 'not installed' : `${q.toFixed(0)} MiB`, ratio: q === null ? '-' : `${(b.idleRssMiB / q).toFixed(1)}x` });
}

async function snapshotBench(rows: Row[]): Promise<void> {
  const b = await bonsaiSnapshots();
  const q = qemuAvailable() ? await qemuSnapshots() : null;
  const ms = (v: number): string => `${(v * 1000).toFixed(0)} ms`;
  const cell = (bv: number, qv: number | undefined): [string, string] => [qv === undefined ? 'not installed' : ms(qv), qv === undefined ? '-' : `${(bv / qv).toFixed(1)}x`];
  const [qa, ra] = cell(b.createPause, q?.createPause);
  rows.push({ name: 'snapshot: guest paused to take it', bonsai: ms(b.createPause), qemu: `${qa} (savevm)`, ratio: ra });
  rows.push({ name: 'snapshot create, whole command', bonsai: ms(b.createCommand), qemu: '-', ratio: '-' });
  const [qr, rr] = cell(b.restorePause, q?.restorePause);
  rows.push({ name: 'snapshot: guest paused to restore it', bonsai: ms(b.restorePause), qemu: `${qr} (loadvm)`, ratio: rr });
  rows.push({ name: 'snapshot restore, whole command', bonsai: ms(b.restoreCommand), qemu: '-', ratio: '-' });
  const mib = (v: number): string => `${(v / 1048576).toFixed(1)} MiB`;
  rows.push({ name: 'snapshot state on disk', bonsai: mib(b.stateBytes), qemu: q === null ? 'not installed' : mib(q.stateBytes), ratio: q === null ? '-' : `${(b.stateBytes / q.stateBytes).toFixed(2)}x` });
}

async function migrateBench(rows: Row[]): Promise<void> {
  for (const busy of [false, true]) {
    const b = await bonsaiMigration(busy);
    const q = qemuAvailable() ? await qemuMigration(busy) : null;
    const what = busy ? 'busy' : 'idle';
    const med = (v: number[]): number => [...v].sort((x, y) => x - y)[v.length >> 1];
    // min-max, and the median the ratio is of
    const range = (v: number[], unit: string, f = 1): string => `${(Math.min(...v) / f).toFixed(0)}-${(Math.max(...v) / f).toFixed(0)} ${unit} (${(med(v) / f).toFixed(0)})`;
    const ratio = (bv: number[], qv: number[] | undefined): string => (qv === undefined ? '-' : `${(med(bv) / med(qv)).toFixed(1)}x`);
    for (const [name, key, unit, f] of [['guest paused (host clock)', 'downtimeMs', 'ms', 1], ['paused, source part', 'sourceMs', 'ms', 1], ['total time', 'totalMs', 'ms', 1], ['bytes sent', 'bytes', 'MiB', 1048576]] as const) {
      const bv = b.runs.map((r) => r[key]), qv = q?.runs.map((r) => r[key]);
      rows.push({ name: `migration (${what}): ${name}`, bonsai: range(bv, unit, f), qemu: qv === undefined ? 'not installed' : range(qv, unit, f), ratio: ratio(bv, qv) });
      if (key === 'downtimeMs') {
        const reported = b.runs.map((r) => r.reportedMs ?? NaN);
        rows.push({ name: `migration (${what}): paused, as bonsai migrate says`, bonsai: range(reported, 'ms'), qemu: '-', ratio: '-' });
      }
    }
  }
}

async function xv6Bench(rows: Row[]): Promise<void> {
  const built = buildXv6(true);
  if (typeof built === 'string') { console.log(`bench: xv6 skipped: ${built}`); return; }
  const t = await xv6Usertests(built.kernel, built.fsImg, qemuAvailable());
  const q = t.qemuSeconds;
  for (const [engine, s] of [['interp', t.interpSeconds], ['jit', t.jitSeconds]] as const) {
    rows.push({ name: `xv6 usertests -q (${engine})`, bonsai: `${s.toFixed(1)} s`, qemu: q === null ? 'not installed' : `${q.toFixed(1)} s`, ratio: q === null ? '-' : `${(s / q).toFixed(1)}x` });
  }
}

async function main(): Promise<void> {
  console.log(`bonsai bench on ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores), Node ${process.version}`);
  const rows: Row[] = [];
  // `npm run bench -- lifecycle net`: only those parts.
  const parts = { cpu: cpuBench, linux: linuxBench, net: netBench, lifecycle: lifecycleBench, snapshot: snapshotBench, migrate: migrateBench, xv6: xv6Bench };
  /** Run only when asked for: the interpreter takes many minutes over xv6's usertests. */
  const optIn = new Set(['xv6']);
  const only = process.argv.slice(2);
  for (const [name, run] of Object.entries(parts)) if (only.length === 0 ? !optIn.has(name) : only.includes(name)) await run(rows);
  const w = [40, 28, 28, 11];
  const line = (c: string[]): string => c.map((s, i) => s.padEnd(w[i])).join(' ');
  console.log(line(['workload', 'bonsai', 'qemu (TCG)', 'bonsai/qemu']));
  for (const r of rows) console.log(line([r.name, r.bonsai, r.qemu, r.ratio]));
}

main().catch((e: Error) => { console.error(`bench: ${e.message}`); process.exit(1); });
