/**
 * xv6-riscv's `usertests -q` (MIT's teaching kernel and its own test suite: fork, exec, pipes, sbrk, the file
 * system, faults), run to "ALL TESTS PASSED" on QEMU (`-M virt -bios none`, as xv6's Makefile runs it) and
 * on Bonsai with each engine, timed from the command to that line. xv6 is not part of Bonsai: its sources
 * are taken from XV6_DIR, else from ~/.cache/bonsai/xv6-riscv (cloned from GitHub on first use), and built
 * here for one hart (CPUS=1) with Debian's riscv64-linux-gnu toolchain. Without either, the part is skipped
 * with a line saying why. `npm run bench -- xv6` (not in the default set: the interpreter takes minutes).
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { repoPath } from '../test/helpers.js';
import { Console } from './linux.js';

export interface Xv6Times { qemuSeconds: number | null; interpSeconds: number; jitSeconds: number }

const REPO = 'https://github.com/mit-pdos/xv6-riscv';
const PROMPT = /\n\$ $/;
const LIMIT_MS = 40 * 60_000;

/** The built kernel and file system image, or a line saying why there are none. */
export function buildXv6(): { kernel: string; fsImg: string } | string {
  const dir = process.env.XV6_DIR ?? join(homedir(), '.cache', 'bonsai', 'xv6-riscv');
  if (!existsSync(join(dir, 'Makefile'))) {
    if (process.env.XV6_DIR !== undefined) return `XV6_DIR=${dir} holds no xv6-riscv checkout`;
    mkdirSync(join(dir, '..'), { recursive: true });
    const clone = spawnSync('git', ['clone', '--depth', '1', REPO, dir], { encoding: 'utf8' });
    if (clone.status !== 0) return `no xv6-riscv sources (git clone ${REPO} failed; set XV6_DIR to a checkout)`;
  }
  if (spawnSync('riscv64-linux-gnu-gcc', ['--version']).status !== 0) return 'no riscv64-linux-gnu-gcc (apt-get install gcc-riscv64-linux-gnu)';
  const make = spawnSync('make', ['-C', dir, 'TOOLPREFIX=riscv64-linux-gnu-', 'CPUS=1', 'kernel/kernel', 'fs.img'], { encoding: 'utf8' });
  if (make.status !== 0) return `xv6 did not build: ${make.stderr.trim().split('\n').slice(-1)[0] ?? ''}`;
  return { kernel: join(dir, 'kernel', 'kernel'), fsImg: join(dir, 'fs.img') };
}

/** Runs `usertests -q` in the machine `cmd args` started with, on a fresh copy of the file system; seconds. */
async function usertests(cmd: string, args: (img: string) => string[], fsImg: string): Promise<number> {
  const tmp = mkdtempSync(join(tmpdir(), 'bonsai-xv6-'));
  const img = join(tmp, 'fs.img');
  copyFileSync(fsImg, img);
  const child = spawn(cmd, args(img), { stdio: ['pipe', 'pipe', 'pipe'] });
  const con = new Console((s) => child.stdin.write(s));
  child.stdout.on('data', (b: Buffer) => con.push(b.toString('latin1')));
  child.stderr.on('data', (b: Buffer) => con.push(b.toString('latin1')));
  try {
    let at = await con.until(PROMPT, 0, 120_000);
    const t0 = performance.now();
    con.write('usertests -q\n');
    at = await con.until(/ALL TESTS PASSED|SOME TESTS FAILED|panic/, at, LIMIT_MS);
    if (!con.text.slice(0, at).endsWith('ALL TESTS PASSED')) throw new Error(`usertests failed on ${cmd}: ${con.text.slice(-400)}`);
    return (performance.now() - t0) / 1000;
  } finally {
    child.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  }
}

export async function xv6Usertests(kernel: string, fsImg: string, qemu: boolean): Promise<Xv6Times> {
  const bonsai = (engine: string) => (img: string): string[] => [
    repoPath('bin', 'bonsai.js'),
    'run', '--bios', 'none', '--kernel', kernel, '-m', '128M', '--disk', `${img}:raw`, '--net', 'none', '--engine', engine];
  const qemuSeconds = qemu ? await usertests('qemu-system-riscv64', (img) => ['-M', 'virt', '-bios', 'none', '-kernel', kernel, '-m', '128M', '-smp', '1',
    '-nographic', '-global', 'virtio-mmio.force-legacy=false', '-drive', `file=${img},if=none,format=raw,id=x0`, '-device', 'virtio-blk-device,drive=x0,bus=virtio-mmio-bus.0'], fsImg) : null;
  const jitSeconds = await usertests(process.execPath, bonsai('jit'), fsImg);
  const interpSeconds = await usertests(process.execPath, bonsai('interp'), fsImg);
  return { qemuSeconds, interpSeconds, jitSeconds };
}
