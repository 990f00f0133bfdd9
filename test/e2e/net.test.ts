/**
 * End to end with networking: the bundled guest takes its address by DHCP at boot and fetches a file
 * from an HTTP server on the host's loopback through the gateway; an ssh client on the host runs a
 * command in the guest through a port forward; two VMs on one switch find each other by name and
 * exchange data over TCP; U-Boot boots a kernel and initramfs over TFTP.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { parseNet, type NetworkOptions } from '../../src/vm/network.js';
import { bundledImage } from '../../src/vm/run.js';
import { GuestSession } from './guest.js';
import { freePort } from '../helpers.js';

const PROMPT = /# (?:\x1b\[6n)?$/;
const OPENSBI = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin';
const UBOOT = '/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin';
const has = (cmd: string, arg = '-V'): boolean => spawnSync(cmd, [arg], { stdio: 'ignore' }).error === undefined;

function userNet(extra: Partial<NetworkOptions> = {}): NetworkOptions {
  return { net: parseNet('user'), forwards: [], switches: [], hostname: 'bonsai', ...extra };
}


test('the guest gets 10.0.2.15 by DHCP at boot and fetches a file from the host loopback through 10.0.2.2', async () => {
  const body = 'x'.repeat(200_000);
  const http = createHttpServer((req, res) => res.end(req.url === '/big' ? body : `hello ${req.url}\n`));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as AddressInfo).port;
  try {
    const g = new GuestSession({ network: userNet() });
    await g.expect(PROMPT);
    assert.match(await g.run('ip -4 addr show eth0'), /inet 10\.0\.2\.15\/24/);
    assert.match(await g.run('ip route'), /default via 10\.0\.2\.2 dev eth0/);
    assert.match(await g.run('cat /etc/resolv.conf'), /nameserver 10\.0\.2\.3/);
    assert.equal(await g.run(`wget -q -O - http://10.0.2.2:${port}/file`), 'hello /file');
    assert.equal(await g.run(`wget -q -O - http://10.0.2.2:${port}/big | wc -c`), '200000');
    assert.match(await g.run('ping -c 1 10.0.2.2'), /1 packets received/);
    assert.match(await g.run('nslookup localhost 10.0.2.3'), /127\.0\.0\.1/);
    g.send('poweroff\n');
    assert.equal((await g.done).reason, 'poweroff');
  } finally {
    http.close();
  }
});

test('with --net user,restrict the guest still gets DHCP and DNS but cannot reach the host or beyond', async () => {
  const http = createHttpServer((_req, res) => res.end('should not be reached\n'));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as AddressInfo).port;
  try {
    const g = new GuestSession({ network: userNet({ net: parseNet('user,restrict') }) });
    await g.expect(PROMPT);
    assert.match(await g.run('ip -4 addr show eth0'), /inet 10\.0\.2\.15\/24/);
    assert.match(await g.run('nslookup localhost 10.0.2.3'), /127\.0\.0\.1/);
    assert.match(await g.run(`wget -q -O - http://10.0.2.2:${port}/ 2>&1; echo status=$?`), /Connection refused[\s\S]*status=1/);
    g.send('poweroff\n');
    const r = await g.done;
    assert.equal(r.reason, 'poweroff');
    assert.ok((r.network?.[0].counters['tcp-restricted'] ?? 0) >= 1);
  } finally {
    http.close();
  }
});

test('an ssh client on the host runs a command in the guest through --forward tcp:PORT-:22, with the key only', {
  skip: has('ssh') && has('ssh-keygen', '-?') ? false : 'needs ssh and ssh-keygen (apt-get install openssh-client)',
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-ssh-'));
  const key = join(dir, 'id_ed25519');
  assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]).status, 0);
  const port = await freePort();
  const g = new GuestSession({
    network: userNet({ forwards: [{ protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: port, guestPort: 22 }] }),
    guestConfig: { hostname: 'sshvm', sshKeys: [readFileSync(`${key}.pub`, 'utf8').trim()] },
  });
  await g.expect(PROMPT);
  const ssh = (args: string[]): Promise<{ status: number | null; out: string }> => new Promise((resolve) => {
    const p = spawn('ssh', ['-p', String(port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=60', '-o', 'LogLevel=ERROR', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    p.stderr.on('data', (b: Buffer) => { out += b.toString(); });
    p.on('close', (status) => resolve({ status, out }));
  });
  try {
    // dropbear starts beside the console shell; wait until it listens.
    await g.run("until netstat -ltn | grep -q ':22 '; do sleep 0.2; done");
    const r = await ssh(['-i', key, 'root@127.0.0.1', 'hostname; id -u; echo over-ssh']);
    assert.equal(r.status, 0, r.out);
    assert.equal(r.out, 'sshvm\n0\nover-ssh\n');
    // No password (or keyboard-interactive) login is possible: without the key the server refuses.
    const denied = await ssh(['-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password,keyboard-interactive', 'root@127.0.0.1', 'true']);
    assert.notEqual(denied.status, 0);
    assert.match(denied.out, /Permission denied/);
  } finally {
    g.send('poweroff\n');
    await g.done;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two VMs on one switch get addresses by DHCP, find each other by name and exchange data over TCP', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-switch-'));
  const saved = process.env.BONSAI_SWITCH_DIR, savedIdle = process.env.BONSAI_SWITCH_IDLE_MS;
  process.env.BONSAI_SWITCH_DIR = dir;
  process.env.BONSAI_SWITCH_IDLE_MS = '2000';
  const name = `e2e${process.pid}`;
  const vm = (hostname: string): GuestSession => new GuestSession({
    network: { net: { kind: 'none' }, forwards: [], switches: [name], hostname },
    guestConfig: { hostname, sshKeys: [] },
  });
  const a = vm('vma');
  const b = vm('vmb');
  try {
    await Promise.all([a.expect(PROMPT), b.expect(PROMPT)]);
    assert.match(await a.run('ip -4 addr show eth0'), /inet 10\.0\.3\.\d+\/24/);
    assert.match(await b.run('ip -4 addr show eth0'), /inet 10\.0\.3\.\d+\/24/);
    b.send('nc -l -p 5000 > /tmp/got; echo nc-done\n');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await a.run('seq 1 20000 | nc vmb 5000; echo sent'), 'sent');
    await b.expect('nc-done');
    await b.expect(PROMPT);
    assert.equal(await b.run('md5sum < /tmp/got'), await a.run('seq 1 20000 | md5sum'));
    assert.match(await a.run('ping -c 1 vmb'), /1 packets received/);
  } finally {
    a.send('poweroff\n');
    b.send('poweroff\n');
    await Promise.all([a.done, b.done]);
    if (saved === undefined) delete process.env.BONSAI_SWITCH_DIR; else process.env.BONSAI_SWITCH_DIR = saved;
    if (savedIdle === undefined) delete process.env.BONSAI_SWITCH_IDLE_MS; else process.env.BONSAI_SWITCH_IDLE_MS = savedIdle;
  }
});

test('U-Boot fetches the kernel (the DHCP boot file) and the initramfs over TFTP and boots them', {
  skip: existsSync(OPENSBI) && existsSync(UBOOT) ? false : 'opensbi or u-boot-qemu not installed',
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-tftp-'));
  writeFileSync(join(dir, 'Image'), gunzipSync(readFileSync(bundledImage('Image.gz'))));
  copyFileSync(bundledImage('initramfs.cpio.gz'), join(dir, 'initrd'));
  const g = new GuestSession({ bios: OPENSBI, kernel: UBOOT, network: userNet({ tftpRoot: dir, bootFile: 'Image' }) });
  await g.expect('Hit any key');
  g.send(' ');
  await g.expect('=> ');
  g.send('dhcp ${kernel_addr_r}\n');
  await g.expect(/Bytes transferred = \d+/);
  await g.expect('=> ');
  g.send('tftpboot ${ramdisk_addr_r} initrd\n');
  await g.expect('=> ');
  g.send('setenv bootargs console=ttyS0; booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdtcontroladdr}\n');
  await g.expect(PROMPT);
  assert.match(await g.run('uname -r'), /^6\.1\./);
  g.send('poweroff\n');
  assert.equal((await g.done).reason, 'poweroff');
  rmSync(dir, { recursive: true, force: true });
});

test('with --net tap:IFNAME the guest reaches the host kernel through an existing TAP device (needs root)', {
  skip: process.getuid?.() === 0 && existsSync('/dev/net/tun') && spawnSync('ip', ['-V'], { stdio: 'ignore' }).status === 0
    && has('perl', '-v') ? false : 'needs root, /dev/net/tun, iproute2 and perl',
}, async (t) => {
  const ifname = `btap${process.pid % 100000}`;
  const ip = (...args: string[]): void => { assert.equal(spawnSync('ip', args, { stdio: 'inherit' }).status, 0, `ip ${args.join(' ')}`); };
  if (spawnSync('ip', ['tuntap', 'add', ifname, 'mode', 'tap'], { stdio: 'ignore' }).status !== 0) {
    t.skip('this host does not let us create a TAP device (no CAP_NET_ADMIN)');
    return;
  }
  try {
    ip('addr', 'add', '10.0.9.1/24', 'dev', ifname);
    ip('link', 'set', ifname, 'up');
    const g = new GuestSession({ network: { net: parseNet(`tap:${ifname}`), forwards: [], switches: [], hostname: 'tapvm' } });
    await g.expect(PROMPT);
    // No DHCP server on this link: the guest's udhcpc went to the background; configure by hand.
    await g.run('ip addr add 10.0.9.2/24 dev eth0');
    assert.match(await g.run('ping -c 1 -W 5 10.0.9.1'), /1 packets received/);
    g.send('poweroff\n');
    assert.equal((await g.done).reason, 'poweroff');
  } finally {
    spawnSync('ip', ['tuntap', 'del', ifname, 'mode', 'tap']);
  }
});
