/**
 * U-Boot's S-mode build (Debian's u-boot-qemu) given as the kernel with no firmware file, as QEMU's
 * `-kernel u-boot.bin` runs it: a raw binary at 0x80200000 under Bonsai's built-in SBI.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseNet } from '../../src/vm/network.js';
import { prng } from '../helpers.js';
import { GuestSession } from './guest.js';

const UBOOT = '/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin';

/** CRC-32 (IEEE 802.3), as U-Boot's crc32 command prints it. */
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of b) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return (c ^ 0xffffffff) >>> 0;
}

test('U-Boot as --kernel under the built-in SBI reaches its prompt, fetches a file over TFTP intact and reboots through SRST', {
  skip: existsSync(UBOOT) ? false : 'u-boot-qemu not installed',
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-uboot-'));
  const blob = new Uint8Array(300_000);
  const rand = prng(7);
  for (let i = 0; i < blob.length; i++) blob[i] = Math.floor(rand() * 256);
  writeFileSync(join(dir, 'blob'), blob);
  try {
    const g = new GuestSession({
      bios: 'builtin', kernel: UBOOT,
      network: { net: parseNet('user'), forwards: [], switches: [], hostname: 'bonsai', tftpRoot: dir },
    });
    await g.expect('U-Boot 20');
    await g.expect('Hit any key to stop autoboot');
    g.send(' ');
    await g.expect('=> ');
    g.send('dhcp; tftpboot 0x84000000 blob\n');
    await g.expect(`Bytes transferred = ${blob.length} (${blob.length.toString(16)} hex)`);
    await g.expect('=> ');
    g.send(`crc32 0x84000000 ${blob.length.toString(16)}\n`);
    await g.expect(new RegExp(`==> ${crc32(blob).toString(16).padStart(8, '0')}`));
    await g.expect('=> ');
    // SRST warm reboot: the machine starts over (bonsai run reboots on a guest reset).
    g.send('reset\n');
    await g.expect('resetting');
    await g.expect('U-Boot 20');
    g.machine?.stop({ status: 0, reason: 'stop' });
    assert.equal((await g.done).reason, 'stop');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
