/**
 * Linux workloads measured the same way on Bonsai and on QEMU TCG: boot to the shell prompt, then an
 * in-guest CPU-bound shell loop, timed from the host (wall clock) between sending the command and its marker.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { gunzipSync } from 'node:zlib';
import { bundledImage, runMachine } from '../src/vm/run.js';

export interface LinuxTimes {
  bootSeconds: number; loopSeconds: number; idlePercent: number;
  /** Sequential virtio-blk throughput measured in the guest (MiB/s), when a disk was attached. */
  diskWriteMiBs?: number; diskReadMiBs?: number;
}

/** 64 MiB sequential write then read of /dev/vda with O_DIRECT, timed by the host around each dd. */
const DD_WRITE = 'dd if=/dev/zero of=/dev/vda bs=1M count=64 oflag=direct 2>/dev/null; echo dd-write-done';
const DD_READ = 'dd if=/dev/vda of=/dev/null bs=1M count=64 iflag=direct 2>/dev/null; echo dd-read-done';

const IDLE_SECONDS = 10;
/** Seconds after the start before the idle window opens (the guest's own start-up work is over by then). */
const IDLE_FROM_SECONDS = 15;

/** The shell loop: 20,000 iterations of arithmetic and a test in busybox ash. */
export const LOOP = 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo loop-$i-done';
const PROMPT = /# (?:\x1b\[6n)?$/;

/** Drives a console: collects output, waits for patterns, sends input. */
export class Console {
  text = '';
  private wake: (() => void) | null = null;
  constructor(private readonly send: (s: string) => void) {}
  push(s: string): void { this.text += s; this.wake?.(); }
  async until(re: RegExp, from: number, limitMs = 300_000): Promise<number> {
    const end = Date.now() + limitMs;
    for (;;) {
      const m = re.exec(this.text.slice(from));
      if (m !== null) return from + m.index + m[0].length;
      if (Date.now() > end) throw new Error(`timed out waiting for ${String(re)}: ${this.text.slice(-300)}`);
      await new Promise<void>((r) => { const t = setTimeout(r, 200); this.wake = () => { clearTimeout(t); r(); }; });
    }
  }
  write(s: string): void { this.send(s); }
}

/** CPU seconds used so far by the process running the guest. */
type CpuClock = () => number;

async function measure(con: Console, started: number, cpu: CpuClock, withDisk: boolean, phase: (name: string) => void = () => {}): Promise<LinuxTimes> {
  let at = await con.until(/Run \/init/, 0, 600_000);
  at = await con.until(PROMPT, at, 600_000);
  const bootSeconds = (performance.now() - started) / 1000;
  phase('boot');
  const t0 = performance.now();
  con.write(`${LOOP}\n`);
  at = await con.until(/\nloop-20000-done/, at, 600_000);
  const loopSeconds = (performance.now() - t0) / 1000;
  phase('loop');
  at = await con.until(PROMPT, at, 60_000);
  let diskWriteMiBs: number | undefined, diskReadMiBs: number | undefined;
  if (withDisk) {
    let t = performance.now();
    con.write(`${DD_WRITE}\n`);
    at = await con.until(/\ndd-write-done/, at, 600_000);
    diskWriteMiBs = 64 / ((performance.now() - t) / 1000);
    at = await con.until(PROMPT, at, 60_000);
    t = performance.now();
    con.write(`${DD_READ}\n`);
    at = await con.until(/\ndd-read-done/, at, 600_000);
    diskReadMiBs = 64 / ((performance.now() - t) / 1000);
    await con.until(PROMPT, at, 60_000);
    phase('disk');
  }
  // Idle at the prompt: host CPU used while the guest waits for input. Not before IDLE_FROM_SECONDS after
  // the start, whoever got to the prompt first: the guest agent looks for its port once a second for its
  // first ~5 s (images/agent, a fork and exec each, ~0.75 million instructions), and a faster engine
  // reached this window while it still did (docs/performance.md).
  await new Promise((r) => setTimeout(r, Math.max(2000, started + IDLE_FROM_SECONDS * 1000 - performance.now())));
  phase('idle-from');
  const c0 = cpu();
  const w0 = performance.now();
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  const idlePercent = ((cpu() - c0) / ((performance.now() - w0) / 1000)) * 100;
  phase('idle');
  con.write('poweroff\n');
  return { bootSeconds, loopSeconds, idlePercent, diskWriteMiBs, diskReadMiBs };
}

/** A 96 MiB raw scratch disk for the dd measurements. */
export function scratchDisk(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-bench-'));
  const path = join(dir, 'disk.raw');
  writeFileSync(path, new Uint8Array(0));
  truncateSync(path, 96 * 1024 * 1024);
  return path;
}

export async function bonsaiLinux(disk?: string, engine: 'interp' | 'jit' = 'interp'): Promise<LinuxTimes> {
  let con: Console | null = null;
  const started = performance.now();
  let times: Promise<LinuxTimes> | null = null;
  const done = runMachine({
    bios: 'builtin', memoryBytes: 256 * 1024 * 1024, log: () => {}, engine,
    disks: disk === undefined ? [] : [{ path: disk, readOnly: false, format: 'raw' }],
    console: (b) => con?.push(Buffer.from(b).toString('latin1')),
    onMachine: (m) => {
      con = new Console((s) => m.input(new TextEncoder().encode(s)));
      // BONSAI_BENCH_STATS=1: the JIT's figures after each phase, on stderr.
      const phase = process.env.BONSAI_BENCH_STATS === undefined ? undefined
        : (name: string) => { console.error(name, JSON.stringify({ seconds: (performance.now() - started) / 1000, instret: m.hart.instret, ...m.hart.jit?.stats })); };
      times = measure(con, started, () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; }, disk !== undefined, phase);
    },
  });
  const r = await done;
  if (r.reason !== 'poweroff') throw new Error(`Bonsai guest ended with ${r.reason}`);
  return times as unknown as Promise<LinuxTimes>;
}

/** The bundled kernel unpacked once for QEMU 7.2, which does not take a gzip-compressed Image. */
let qemuImage: string | null = null;

/** The bundled guest under QEMU TCG (`-M virt -bios default`) with `extra` arguments, on a Console. */
export function startQemu(extra: string[]): { q: ChildProcessByStdio<Writable, Readable, null>; con: Console; exited: Promise<void> } {
  if (qemuImage === null) {
    qemuImage = join(mkdtempSync(join(tmpdir(), 'bonsai-bench-')), 'Image');
    writeFileSync(qemuImage, gunzipSync(readFileSync(bundledImage('Image.gz'))));
  }
  const q = spawn('qemu-system-riscv64', ['-M', 'virt', '-m', '256M', '-smp', '1', '-nographic', '-bios', 'default',
    '-kernel', qemuImage, '-initrd', bundledImage('initramfs.cpio.gz'), '-append', 'console=ttyS0', ...extra],
  { stdio: ['pipe', 'pipe', 'inherit'] });
  const con = new Console((s) => q.stdin.write(s));
  q.stdout.on('data', (b: Buffer) => con.push(b.toString('latin1')));
  const exited = new Promise<void>((r) => q.on('exit', () => r()));
  return { q, con, exited };
}

export async function qemuLinux(disk?: string): Promise<LinuxTimes> {
  const started = performance.now();
  const { q, con, exited } = startQemu(disk === undefined ? []
    : ['-drive', `file=${disk},format=raw,if=none,id=d0,cache=none`, '-device', 'virtio-blk-device,drive=d0']);
  try {
    const t = await measure(con, started, () => {
      // utime and stime (fields 14 and 15 of /proc/PID/stat), in clock ticks of 1/100 s.
      const f = readFileSync(`/proc/${q.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(f[11]) + Number(f[12])) / 100;
    }, disk !== undefined);
    await exited;
    return t;
  } finally {
    q.kill();
  }
}

/** `node dist/bench/linux.js bonsai DISK [interp|jit]`: one cold measurement in a fresh process, printed as JSON. */
if (process.argv[1]?.endsWith('linux.js') && process.argv[2] === 'bonsai') {
  bonsaiLinux(process.argv[3], process.argv[4] === 'jit' ? 'jit' : 'interp').then((t) => { process.stdout.write(`${JSON.stringify(t)}\n`); }, (e: Error) => { console.error(e.message); process.exit(1); });
}
