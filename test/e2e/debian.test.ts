/**
 * Smoke test: the Debian trixie riscv64 image of `npm run compat` (images/debian/build.sh) boots on Bonsai by
 * direct kernel boot, its own kernel and initramfs, until systemd runs from the root disk (the initramfs
 * found vda1 through virtio-blk, mounted it and switched to it). Kept short: the whole boot to login takes
 * minutes here. Skipped when the image is not in the cache; `npm run compat` builds it and checks the rest
 * (login, U-Boot, systemd's state, DHCP, ssh) beside QEMU.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIRECT_APPEND, debianCache, debianImage, overlay } from '../../bench/compat.js';
import { GuestSession } from './guest.js';

const img = debianImage();

test('Debian trixie boots by direct kernel boot through its initramfs to systemd on its root disk', {
  skip: img === null ? `no Debian image in ${debianCache()} (npm run compat builds it)` : false,
  timeout: 900_000,
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
  } finally {
    g.machine?.stop({ status: 0, reason: 'stop' });
    await g.done;
    ov.remove();
  }
});
