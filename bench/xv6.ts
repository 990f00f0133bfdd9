/**
 * xv6-riscv's `usertests -q` (MIT's teaching kernel and its own test suite: fork, exec, pipes, sbrk, the file
 * system, faults), run to "ALL TESTS PASSED" on QEMU (`-M virt -bios none`, as xv6's Makefile runs it) and
 * on Bonsai with each engine, timed from the command to that line. xv6 is not part of Bonsai: its sources
 * are built by test/xv6.ts (XV6_DIR, else ~/.cache/bonsai/xv6-riscv, cloned from GitHub on first use).
 * Without them or the toolchain, the part is skipped with a line saying why. `npm run bench -- xv6` (not in the default set: the interpreter takes minutes).
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { repoPath } from '../test/helpers.js';
import { Console } from './linux.js';

export interface Xv6Times { qemuSeconds: number | null; interpSeconds: number; jitSeconds: number }

const PROMPT = /\n\$ $/;
const LIMIT_MS = 40 * 60_000;

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
