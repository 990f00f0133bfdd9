/**
 * End to end with devices: a fresh qcow2 disk formatted and written in the guest, read back after a new
 * boot, checked by qemu-img and read by QEMU itself; a shared folder in both directions, escapes refused;
 * entropy from virtio-rng; the shell on virtio-console.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { createImage } from '../../src/storage/image-ops.js';
import { bundledImage } from '../../src/vm/run.js';
import { GuestSession } from './guest.js';

const PROMPT = /# (?:\x1b\[6n)?$/;
const has = (cmd: string): boolean => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;

test('a qcow2 disk and shared folders work from the guest, and the disk survives a reboot', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-e2e-'));
  const disk = join(dir, 'disk.qcow2');
  await createImage(disk, { size: 64 * 1024 * 1024, format: 'qcow2' });
  const share = join(dir, 'share');
  const ro = join(dir, 'ro');
  for (const d of [share, ro]) spawnSync('mkdir', ['-p', d]);
  writeFileSync(join(share, 'from-host.txt'), 'hello from the host\n');
  writeFileSync(join(ro, 'fixed.txt'), 'read only\n');
  writeFileSync(join(dir, 'secret.txt'), 'outside the share\n');

  const g = new GuestSession({
    disks: [{ path: disk, readOnly: false }],
    shares: [{ dir: share, tag: 'host', readOnly: false }, { dir: ro, tag: 'fixed', readOnly: true }],
  });
  await g.expect(PROMPT);
  await g.run('dmesg -n 1'); // keep kernel notices (ext2's 2038 warning) off the console
  // Disk: format, mount, write.
  assert.equal(await g.run('mkfs.ext2 -q /dev/vda >/dev/null && mkdir -p /mnt/d && mount /dev/vda /mnt/d && echo persisted > /mnt/d/file && sync && echo ok'), 'ok');
  assert.equal(await g.run('cat /mnt/d/file'), 'persisted');
  assert.equal(await g.run('cat /sys/block/vda/serial'), 'bonsai-disk0');
  // Shares are mounted at /mnt/TAG by the guest's init.
  assert.equal(await g.run('cat /mnt/host/from-host.txt'), 'hello from the host');
  assert.equal(await g.run('echo from the guest > /mnt/host/from-guest.txt && mkdir /mnt/host/sub && mv /mnt/host/from-guest.txt /mnt/host/sub/ && echo ok'), 'ok');
  // Escapes: .. stays inside the share, symlinks are never followed out of it.
  assert.match(await g.run('ls /mnt/host/..'), /host/);
  await g.run('ln -s /etc /mnt/host/etc-link; ln -s ../secret.txt /mnt/host/up-link');
  assert.match(await g.run('cat /mnt/host/etc-link/passwd 2>&1; cat /mnt/host/up-link 2>&1'), /(No such|Not a directory|Too many|Permission|Invalid|not permitted)/);
  assert.doesNotMatch(await g.run('cat /mnt/host/up-link 2>&1'), /outside the share/);
  // Read-only share.
  assert.equal(await g.run('cat /mnt/fixed/fixed.txt'), 'read only');
  assert.match(await g.run('echo x > /mnt/fixed/new.txt 2>&1; rm /mnt/fixed/fixed.txt 2>&1'), /Read-only file system/);
  // Entropy.
  assert.equal(await g.run('head -c 32 /dev/hwrng | wc -c'), '32');
  assert.equal(await g.run('umount /mnt/d && echo ok'), 'ok');
  g.send('poweroff\n');
  assert.equal((await g.done).reason, 'poweroff');

  assert.equal(readFileSync(join(share, 'sub', 'from-guest.txt'), 'utf8'), 'from the guest\n');
  assert.equal(existsSync(join(ro, 'new.txt')), false);
  assert.equal(readFileSync(join(ro, 'fixed.txt'), 'utf8'), 'read only\n');
  assert.equal(readFileSync(join(dir, 'secret.txt'), 'utf8'), 'outside the share\n');

  if (has('qemu-img')) {
    const check = spawnSync('qemu-img', ['check', disk], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /No errors were found/);
  }

  // A second boot reads what the first wrote.
  const g2 = new GuestSession({ disks: [{ path: disk, readOnly: true }] });
  await g2.expect(PROMPT);
  await g2.run('dmesg -n 1');
  assert.equal(await g2.run('mount -o ro /dev/vda /mnt && cat /mnt/file'), 'persisted');
  assert.match(await g2.run('echo x > /mnt/other 2>&1'), /Read-only/);
  g2.send('poweroff\n');
  assert.equal((await g2.done).reason, 'poweroff');
});

test('QEMU reads the files a Bonsai guest wrote to a qcow2 disk', { skip: has('qemu-system-riscv64') ? false : 'qemu-system-riscv64 not installed' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-e2e-'));
  const disk = join(dir, 'disk.qcow2');
  await createImage(disk, { size: 32 * 1024 * 1024, format: 'qcow2' });
  const g = new GuestSession({ disks: [{ path: disk, readOnly: false }] });
  await g.expect(PROMPT);
  await g.run('dmesg -n 1');
  assert.equal(await g.run('mkfs.ext2 -q /dev/vda >/dev/null && mount /dev/vda /mnt && echo written-by-bonsai > /mnt/note && umount /mnt && echo ok'), 'ok');
  g.send('poweroff\n');
  await g.done;
  const image = join(dir, 'Image');
  writeFileSync(image, gunzipSync(readFileSync(bundledImage('Image.gz'))));
  const q = spawn('qemu-system-riscv64', ['-M', 'virt', '-m', '256M', '-nographic', '-bios', 'default', '-kernel', image,
    '-initrd', bundledImage('initramfs.cpio.gz'), '-append', 'console=ttyS0', '-drive', `file=${disk},format=qcow2,if=none,id=d0`, '-device', 'virtio-blk-device,drive=d0'], { stdio: ['pipe', 'pipe', 'ignore'] });
  let out = '';
  q.stdout.on('data', (b: Buffer) => { out += b.toString('latin1'); });
  const until = async (re: RegExp): Promise<void> => {
    const end = Date.now() + 120_000;
    while (!re.test(out)) {
      if (Date.now() > end) { q.kill(); throw new Error(`QEMU: timed out waiting for ${String(re)}: ${out.slice(-500)}`); }
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  await until(PROMPT);
  q.stdin.write('mount /dev/vda /mnt && cat /mnt/note; poweroff -f\n');
  await until(/written-by-bonsai\r?\n/);
  q.kill();
});

test('the shell runs on virtio-console (hvc1) when asked', async () => {
  const g = new GuestSession({ virtioConsole: true });
  await g.expect(PROMPT);
  assert.equal(await g.run('cat /sys/class/tty/console/active'), 'hvc1');
  g.send('poweroff\n');
  assert.equal((await g.done).reason, 'poweroff');
});
