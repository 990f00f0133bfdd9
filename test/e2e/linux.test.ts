/**
 * End to end: the bundled Linux guest boots to a root shell, runs commands, and powers off cleanly; the
 * same through Debian's OpenSBI (fw_dynamic.bin) when it is installed.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { bundledImage } from '../../src/vm/run.js';
import { GuestSession } from './guest.js';

const OPENSBI = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin';
const PROMPT = /# (?:\x1b\[6n)?$/;

async function bootRunPoweroff(bios: string, engine: 'interp' | 'jit' = 'interp'): Promise<void> {
  const g = new GuestSession({ bios, engine });
  await g.expect('Linux version 6.1');
  await g.expect(PROMPT);
  assert.equal(await g.run('echo hello $((6 * 7))'), 'hello 42');
  assert.equal(await g.run('uname -m'), 'riscv64');
  // Of the extensions beyond RV64GC in riscv,isa, Linux 6.1 reports Zihintpause (later kernels report more).
  assert.match(await g.run('cat /proc/cpuinfo'), /isa\s*:\s*rv64imafdc\S*_zihintpause/);
  // Job control: Ctrl-C interrupts the foreground command, and the shell lives on.
  g.send('sleep 1000\n');
  await new Promise((r) => setTimeout(r, 1500));
  g.send('\x03');
  await g.expect(PROMPT);
  assert.equal(await g.run('echo still here'), 'still here');
  g.send('poweroff\n');
  const r = await g.done;
  assert.equal(r.reason, 'poweroff');
  assert.equal(r.status, 0);
}

test('the bundled guest boots to a root shell, runs commands and powers off', async () => {
  assert.ok(existsSync(bundledImage('Image.gz')), 'images/Image.gz is committed');
  await bootRunPoweroff('builtin');
});

test('the bundled guest boots to a root shell, runs commands and powers off with the JIT', async () => {
  await bootRunPoweroff('builtin', 'jit');
});

test('the bundled guest boots through OpenSBI fw_dynamic.bin', { skip: existsSync(OPENSBI) ? false : `${OPENSBI} not installed (apt-get install opensbi)` }, async () => {
  await bootRunPoweroff(OPENSBI);
});

const UBOOT = '/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin';
test('U-Boot (qemu-riscv64_smode) boots as the kernel payload of OpenSBI and answers at its prompt', {
  skip: existsSync(OPENSBI) && existsSync(UBOOT) ? false : 'opensbi or u-boot-qemu not installed',
}, async () => {
  const g = new GuestSession({ bios: OPENSBI, kernel: UBOOT });
  await g.expect('U-Boot 20');
  await g.expect('Hit any key to stop autoboot');
  g.send(' ');
  await g.expect('=> ');
  g.send('fdt addr $fdtcontroladdr; fdt print /chosen bootargs\n');
  await g.expect(/bootargs = "console=ttyS0"/);
  g.machine?.stop({ status: 0, reason: 'stop' });
  assert.equal((await g.done).reason, 'stop');
});
