/**
 * Smoke test: the Debian trixie riscv64 image of `npm run compat` (images/debian/build.sh) boots on Bonsai by
 * direct kernel boot, its own kernel and initramfs, to systemd's getty on ttyS0, and root logs in. Skipped
 * when the image is not in the cache; `npm run compat` builds it and checks the rest (U-Boot, systemd's
 * state, DHCP, ssh) beside QEMU.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIRECT_APPEND, debianCache, debianImage, overlay } from '../../bench/compat.js';
import { GuestSession } from './guest.js';

const img = debianImage();

test('Debian trixie boots by direct kernel boot to login: on ttyS0, and root logs in', {
  skip: img === null ? `no Debian image in ${debianCache()} (npm run compat builds it)` : false,
  timeout: 1_500_000,
}, async () => {
  if (img === null) return;
  const ov = overlay(img);
  const g = new GuestSession({
    kernel: img.vmlinux, initrd: img.initrd, append: DIRECT_APPEND, memoryBytes: 1024 * 1024 * 1024,
    disks: [{ path: ov.path, readOnly: false, format: 'qcow2' }],
  });
  try {
    await g.expect('Linux version 6.12', 600_000);
    await g.expect(/Welcome to .*Debian GNU\/Linux/, 600_000);
    await g.expect(/debian login: $/, 900_000);
    g.send('root\n');
    await g.expect('Password: ', 60_000);
    g.send('bonsai\n');
    await g.expect(/root@debian:~# $/, 300_000);
    // Not g.run: bash's bracketed-paste switch (ESC [?2004l) starts the line its output begins on.
    g.send('cat /etc/debian_version\n');
    await g.expect(/[\r\n]13\.\d+\r?\n/, 120_000);
  } finally {
    g.machine?.stop({ status: 0, reason: 'stop' });
    await g.done;
    ov.remove();
  }
});
