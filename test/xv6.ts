/**
 * xv6-riscv for the tests and the bench: MIT's teaching kernel is not part of Bonsai, so it is built here
 * from its sources, for one hart, with Debian's riscv64-linux-gnu toolchain. The sources are XV6_DIR's,
 * else ~/.cache/bonsai/xv6-riscv's (the bench clones them there on first use; the tests never clone).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const REPO = 'https://github.com/mit-pdos/xv6-riscv';

/** The built kernel and file system image, or a line saying why there are none. */
export function buildXv6(clone: boolean): { kernel: string; fsImg: string } | string {
  const dir = process.env.XV6_DIR ?? join(homedir(), '.cache', 'bonsai', 'xv6-riscv');
  if (!existsSync(join(dir, 'Makefile'))) {
    if (process.env.XV6_DIR !== undefined) return `XV6_DIR=${dir} holds no xv6-riscv checkout`;
    if (!clone) return `no xv6-riscv sources in ${dir} (set XV6_DIR to a checkout of ${REPO})`;
    mkdirSync(join(dir, '..'), { recursive: true });
    const c = spawnSync('git', ['clone', '--depth', '1', REPO, dir], { encoding: 'utf8' });
    if (c.status !== 0) return `no xv6-riscv sources (git clone ${REPO} failed; set XV6_DIR to a checkout)`;
  }
  if (spawnSync('riscv64-linux-gnu-gcc', ['--version']).status !== 0) return 'no riscv64-linux-gnu-gcc (apt-get install gcc-riscv64-linux-gnu)';
  const make = spawnSync('make', ['-C', dir, 'TOOLPREFIX=riscv64-linux-gnu-', 'CPUS=1', 'kernel/kernel', 'fs.img'], { encoding: 'utf8' });
  if (make.status !== 0) return `xv6 did not build: ${make.stderr.trim().split('\n').slice(-1)[0] ?? ''}`;
  return { kernel: join(dir, 'kernel', 'kernel'), fsImg: join(dir, 'fs.img') };
}
