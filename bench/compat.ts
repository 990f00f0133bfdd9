/**
 * `npm run compat`: a Debian trixie riscv64 system (images/debian/build.sh, built once into the cache) booted
 * each way QEMU users boot it, on Bonsai and on QEMU TCG with the same image, memory and one hart:
 *   uboot-opensbi   OpenSBI fw_dynamic.bin + U-Boot (S-mode), distro boot from the virtio disk (extlinux.conf)
 *   uboot-builtin   U-Boot as the kernel under the default firmware (Bonsai's built-in SBI; QEMU's OpenSBI)
 *   direct          the Debian kernel and initramfs given directly, root=/dev/vda1
 * Each boot runs on its own qcow2 overlay of the image, so every one starts from the same disk. For each it
 * prints the time to `login:` on ttyS0, logs in as root, waits for `systemctl is-system-running`, lists the
 * failed units, the address DHCP gave, logs in over ssh through a port forward, and U-Boot's disk read rate.
 *
 *   npm run compat [-- [--bonsai-only|--qemu-only] [--memory 2G] [WAY ...]]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort, repoPath } from '../test/helpers.js';
import { Console } from './linux.js';

export const UBOOT = '/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin';
export const OPENSBI = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin';
export const DIRECT_APPEND = 'root=/dev/vda1 rw console=ttyS0';

/** Where build.sh leaves the image: $BONSAI_CACHE/debian, or ~/.cache/bonsai/debian. */
export function debianCache(): string {
  return join(process.env.BONSAI_CACHE ?? join(homedir(), '.cache', 'bonsai'), 'debian');
}

export interface DebianImage { dir: string; disk: string; vmlinux: string; initrd: string; key: string }

/** The built image's files, or null when build.sh has not finished one. */
export function debianImage(dir = debianCache()): DebianImage | null {
  const img = { dir, disk: join(dir, 'debian.img'), vmlinux: join(dir, 'vmlinux'), initrd: join(dir, 'initrd.img'), key: join(dir, 'id_ed25519') };
  return [img.disk, img.vmlinux, img.initrd, img.key].every((f) => existsSync(f)) ? img : null;
}

/** A qcow2 overlay of the image in a fresh temporary folder, so a boot leaves the image as it was. */
export function overlay(img: DebianImage): { path: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-compat-'));
  const path = join(dir, 'overlay.qcow2');
  const r = spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', img.disk, '-F', 'raw', path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`qemu-img create: ${r.stderr}`);
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

type Way = 'uboot-opensbi' | 'uboot-builtin' | 'direct';
const WAYS: Way[] = ['direct', 'uboot-builtin', 'uboot-opensbi'];

function bonsaiArgs(way: Way, img: DebianImage, disk: string, memory: string, port: number): string[] {
  const common = ['--memory', memory, '--disk', `${disk}:qcow2`, '--forward', `tcp:127.0.0.1:${port}-:22`];
  switch (way) {
    case 'uboot-opensbi': return ['--bios', OPENSBI, '--kernel', UBOOT, ...common];
    case 'uboot-builtin': return ['--kernel', UBOOT, ...common];
    case 'direct': return ['--kernel', img.vmlinux, '--initrd', img.initrd, '--append', DIRECT_APPEND, ...common];
  }
}

function qemuArgs(way: Way, img: DebianImage, disk: string, memory: string, port: number): string[] {
  const common = ['-M', 'virt', '-smp', '1', '-m', memory, '-nographic',
    '-drive', `file=${disk},format=qcow2,if=none,id=hd0`, '-device', 'virtio-blk-device,drive=hd0',
    '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:22`, '-device', 'virtio-net-device,netdev=n0'];
  switch (way) {
    case 'uboot-opensbi': return ['-bios', OPENSBI, '-kernel', UBOOT, ...common];
    case 'uboot-builtin': return ['-bios', 'default', '-kernel', UBOOT, ...common];
    case 'direct': return ['-bios', 'default', '-kernel', img.vmlinux, '-initrd', img.initrd, '-append', DIRECT_APPEND, ...common];
  }
}

export interface BootResult {
  engine: 'bonsai' | 'qemu'; way: Way;
  loginSeconds: number;
  /** What `systemctl is-system-running --wait` printed, and the failed units. */
  state: string; failed: string[];
  /** The IPv4 address and route DHCP gave the NIC. */
  address: string;
  /** A name looked up in the guest (its resolv.conf names the user-mode network's DNS, 10.0.2.3). */
  dns: string;
  ssh: string;
  /**
   * U-Boot reading the kernel and initramfs from the disk (extlinux.conf): seconds from its "Retrieving
   * file: /boot/initrd.img-..." to the "Starting kernel" after both, timed on the host as the console
   * shows them (U-Boot 2023.01's sysboot prints no byte counts), and the bytes of the two files.
   */
  ubootRead?: { seconds: number; bytes: number };
  error?: string;
}

const PROMPT = /root@debian:~# $/;
/** Looked up in the guest through the user-mode network's DNS, as apt would (the mirror the image came from). */
const DNS_NAME = 'deb.debian.org';

async function shell(con: Console, at: number, command: string, limitMs = 300_000): Promise<{ at: number; out: string }> {
  // The markers as printed (B42id) differ from the command line's echo of them (B$((6*7))id).
  const id = Math.random().toString(36).slice(2, 8);
  con.write(`echo B$((6*7))${id}; ${command}; echo E$((6*7))${id}\n`);
  const start = await con.until(new RegExp(`B42${id}\\r?\\n`), at, limitMs);
  const end = await con.until(new RegExp(`E42${id}\\r?\\n`), start, limitMs);
  const out = con.text.slice(start, con.text.lastIndexOf(`E42${id}`, end)).replace(/\r/g, '').trim();
  return { at: await con.until(PROMPT, end, 60_000), out };
}

/** Boots one way on one engine and checks the system; the guest is powered off (or killed) at the end. */
export async function boot(engine: 'bonsai' | 'qemu', way: Way, img: DebianImage, memory: string, log?: (s: string) => void): Promise<BootResult> {
  const ov = overlay(img);
  const port = await freePort();
  const [cmd, args] = engine === 'bonsai'
    ? [process.execPath, [repoPath('bin', 'bonsai.js'), 'run', ...bonsaiArgs(way, img, ov.path, memory, port)]]
    : ['qemu-system-riscv64', qemuArgs(way, img, ov.path, memory, port)];
  const started = performance.now();
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const con = new Console((s) => child.stdin.write(s));
  // When each piece of output arrived: U-Boot's file reads are timed from it.
  const arrivals: { end: number; t: number }[] = [];
  child.stdout.on('data', (b: Buffer) => { const s = b.toString('latin1'); con.push(s); arrivals.push({ end: con.text.length, t: performance.now() }); log?.(s); });
  child.stderr.on('data', (b: Buffer) => { const s = b.toString('latin1'); con.push(s); log?.(s); });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const r: BootResult = { engine, way, loginSeconds: NaN, state: '', failed: [], address: '', dns: '', ssh: '' };
  // A guest that ends early fails the boot at once instead of at the end of a wait.
  const ended = exited.then(() => { throw new Error(`${engine} ended before the checks were done`); });
  ended.catch(() => {});
  try {
    let at = await Promise.race([ended, con.until(/login: $|Dependency failed for .*Serial Getty|\n=> $/, 0, 3_600_000)]);
    if (con.text.slice(0, at).endsWith('=> ')) throw new Error(`U-Boot did not boot: ${con.text.slice(Math.max(0, at - 400), at)}`);
    if (!con.text.slice(0, at).endsWith('login: ')) throw new Error('the serial getty failed to start (no login: on ttyS0)');
    r.loginSeconds = (performance.now() - started) / 1000;
    r.ubootRead = ubootRead(con.text, arrivals, img);
    con.write('root\n');
    at = await con.until(/Password: $/, at, 120_000);
    con.write('bonsai\n');
    at = await con.until(PROMPT, at, 300_000);
    // Wide lines: readline redraws a command line that wraps, which would break the markers apart.
    con.write('stty cols 500\n');
    at = await con.until(PROMPT, at, 60_000);
    let o = await shell(con, at, 'export SYSTEMD_PAGER= SYSTEMD_COLORS=0', 60_000);
    o = await shell(con, o.at, 'systemctl is-system-running --wait', 900_000);
    r.state = o.out;
    o = await shell(con, o.at, 'systemctl list-units --failed --no-legend --plain | cut -d" " -f1');
    r.failed = o.out.split('\n').filter((l) => l !== '');
    o = await shell(con, o.at, "ip -4 -o addr show scope global | awk '{print $2, $4}'; ip -4 route show default | awk '{print \"via\", $3}'");
    r.address = o.out.replace(/\n/g, ' ');
    o = await shell(con, o.at, `getent ahostsv4 ${DNS_NAME} | head -1 || echo 'no answer'`, 120_000);
    r.dns = `${DNS_NAME}: ${o.out.trim() || 'no answer'}`;
    const ssh = spawnSync('ssh', ['-i', img.key, '-p', String(port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=120', '-o', 'LogLevel=ERROR', 'root@127.0.0.1', 'echo ssh-ok $(hostname) $(uname -r)'],
    { encoding: 'utf8', timeout: 600_000 });
    r.ssh = ssh.status === 0 ? ssh.stdout.trim() : `failed (${ssh.status ?? 'timeout'}): ${ssh.stderr.trim()}`;
    con.write('poweroff\n');
    await Promise.race([exited, new Promise((res) => setTimeout(res, 600_000).unref())]);
  } catch (e) {
    r.error = (e as Error).message;
  } finally {
    child.kill('SIGKILL');
    await exited;
    ov.remove();
  }
  return r;
}

/** The host time at which the console text up to `index` had arrived. */
function arrivedAt(arrivals: { end: number; t: number }[], index: number): number {
  return arrivals.find((a) => a.end > index)?.t ?? NaN;
}

function ubootRead(text: string, arrivals: { end: number; t: number }[], img: DebianImage): BootResult['ubootRead'] {
  const from = text.indexOf('Retrieving file: /boot/initrd.img');
  const to = text.indexOf('Starting kernel', from);
  if (from < 0 || to < 0) return undefined;
  return { seconds: (arrivedAt(arrivals, to) - arrivedAt(arrivals, from)) / 1000, bytes: statSync(img.vmlinux).size + statSync(img.initrd).size };
}

function formatResult(r: BootResult): string {
  if (r.error !== undefined && Number.isNaN(r.loginSeconds)) return `${r.engine} ${r.way}: FAILED: ${r.error.slice(0, 400)}`;
  return [
    `${r.engine} ${r.way}: login: after ${r.loginSeconds.toFixed(1)} s`,
    `  system: ${r.state}${r.failed.length > 0 ? `; failed units: ${r.failed.join(' ')}` : ''}`,
    `  network: ${r.address}`,
    `  dns: ${r.dns}`,
    `  ssh: ${r.ssh}`,
    ...(r.ubootRead !== undefined ? [`  U-Boot: kernel + initramfs (${(r.ubootRead.bytes / 1048576).toFixed(1)} MiB) read and started in ${r.ubootRead.seconds.toFixed(2)} s (${(r.ubootRead.bytes / 1048576 / r.ubootRead.seconds).toFixed(1)} MiB/s)`] : []),
    ...(r.error !== undefined ? [`  error: ${r.error.slice(0, 400)}`] : []),
  ].join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const memIdx = argv.indexOf('--memory');
  const memory = memIdx >= 0 ? argv[memIdx + 1] : '2G';
  const ways = argv.filter((a) => (WAYS as string[]).includes(a)) as Way[];
  const engines: ('bonsai' | 'qemu')[] = argv.includes('--qemu-only') ? ['qemu'] : argv.includes('--bonsai-only') ? ['bonsai'] : ['bonsai', 'qemu'];
  const verbose = argv.includes('--verbose');
  let img = debianImage();
  if (img === null) {
    console.log(`compat: building the Debian image into ${debianCache()} (images/debian/build.sh; tens of minutes)`);
    const b = spawnSync('bash', [repoPath('images', 'debian', 'build.sh'), debianCache()], { stdio: 'inherit' });
    if (b.status !== 0) throw new Error('images/debian/build.sh failed');
    img = debianImage();
    if (img === null) throw new Error(`no image in ${debianCache()} after build.sh`);
  }
  const results: BootResult[] = [];
  for (const way of ways.length > 0 ? ways : WAYS) {
    for (const engine of engines) {
      const r = await boot(engine, way, img, memory, verbose ? (s) => process.stdout.write(s) : undefined);
      console.log(formatResult(r));
      results.push(r);
    }
  }
  console.log(`\nDebian trixie riscv64, ${memory}, 1 hart: time to login: on ttyS0`);
  console.log(['way'.padEnd(16), 'bonsai'.padEnd(10), 'qemu'.padEnd(10), 'bonsai/qemu'].join(' '));
  for (const way of ways.length > 0 ? ways : WAYS) {
    const b = results.find((r) => r.engine === 'bonsai' && r.way === way)?.loginSeconds;
    const q = results.find((r) => r.engine === 'qemu' && r.way === way)?.loginSeconds;
    const s = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '-' : `${v.toFixed(1)} s`);
    const ratio = b !== undefined && q !== undefined && !Number.isNaN(b) && !Number.isNaN(q) ? `${(b / q).toFixed(1)}x` : '-';
    console.log([way.padEnd(16), s(b).padEnd(10), s(q).padEnd(10), ratio].join(' '));
  }
  if (results.some((r) => r.error !== undefined)) process.exitCode = 1;
}

if (process.argv[1]?.endsWith('compat.js')) main().catch((e: Error) => { console.error(`compat: ${e.message}`); process.exit(1); });
