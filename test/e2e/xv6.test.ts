/**
 * xv6-riscv (test/xv6.ts builds it when its sources are at hand; skipped otherwise) on both engines: it
 * boots in M-mode with --bios none, reaches its shell, lists its file system from the virtio disk, runs
 * programs through a pipe, writes a file and reads it back, and forks until its process table is full. It once never got past "xv6 kernel is booting": its UART handler leaves the
 * THR-empty cause standing, and a PLIC that pends a still-high line at every completion stormed it.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseNet } from '../../src/vm/network.js';
import { buildXv6 } from '../xv6.js';
import { GuestSession } from './guest.js';

const built = buildXv6(false);

for (const engine of ['interp', 'jit'] as const) {
  test(`xv6-riscv boots to its shell, runs pipes, forks and writes its disk (${engine})`, {
    skip: typeof built === 'string' ? built : false, timeout: 600_000,
  }, async () => {
    if (typeof built === 'string') return;
    const dir = mkdtempSync(join(tmpdir(), 'bonsai-xv6-'));
    const img = join(dir, 'fs.img');
    copyFileSync(built.fsImg, img);
    const g = new GuestSession({
      bios: 'none', kernel: built.kernel, memoryBytes: 128 * 1024 * 1024, engine,
      disks: [{ path: img, readOnly: false, format: 'raw' }],
      network: { net: parseNet('none'), forwards: [], switches: [], hostname: 'bonsai' },
    });
    try {
      await g.expect('init: starting sh');
      await g.expect(/\n\$ $/);
      g.send('ls\n');
      const listing = await g.expect(/\n\$ $/);
      assert.match(listing, /usertests\s+2 \d+ \d+/, 'the file system read from the virtio disk');
      const sh = async (line: string): Promise<string> => {
        g.send(`${line}\n`);
        return (await g.expect(/\n\$ $/, 300_000)).replace(/\r/g, '');
      };
      assert.match(await sh('echo typed at the console'), /\ntyped at the console\n/);
      // exec and a pipe between two programs
      assert.match(await sh('cat README | grep xv6'), /xv6 is a re-implementation/);
      // the file system written through the virtio disk, and read back
      await sh('mkdir d');
      await sh('echo written by the guest > d/f');
      assert.match(await sh('cat d/f'), /\nwritten by the guest\n/);
      // fork until the process table is full, every child reaped (the timer preempts them)
      assert.match(await sh('forktest'), /fork test OK/);
      assert.match(await sh('stressfs'), /stressfs starting/);
    } finally {
      g.machine?.stop({ status: 0, reason: 'stop' });
      await g.done;
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
