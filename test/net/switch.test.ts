import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BonsaiError } from '../../src/errors.js';
import { checksum } from '../../src/net/checksum.js';
import { IPPROTO_ICMP, buildIpv4, readIp, writeIp } from '../../src/net/ipv4.js';
import { defaultMac } from '../../src/net/link.js';
import { SwitchBackend, type SwitchConnectOptions } from '../../src/net/switch/client.js';
import { SwitchAlreadyRunning, SwitchDaemon, type SwitchDaemonOptions } from '../../src/net/switch/daemon.js';
import { encodeFrame } from '../../src/net/switch/framing.js';
import { switchPaths } from '../../src/net/switch/paths.js';
import { SERVICES_IP, SERVICES_MAC } from '../../src/net/switch/services.js';

// Every switch here lives in a private temporary folder, never the user's real one; a daemon that
// outlives a failed test leaves by itself after 3 s.
const dir = mkdtempSync(join(tmpdir(), 'bsw-'));
process.env.BONSAI_SWITCH_DIR = dir;
process.env.BONSAI_SWITCH_IDLE_MS = '3000';
after(() => {
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.pid')) continue;
    const pid = Number(readFileSync(join(dir, f), 'utf8'));
    try { if (pid !== process.pid) process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  rmSync(dir, { recursive: true, force: true });
});

let serial = 0;
const uniqueName = (): string => `t${process.pid}-${serial++}`;

const BCAST = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
const TEST_TYPE = 0x88b5; // IEEE 802 local experimental ethertype

interface Port { b: SwitchBackend; mac: Uint8Array; got: Uint8Array[] }

async function member(name: string, index: number, opts: SwitchConnectOptions = {}): Promise<Port> {
  const b = await SwitchBackend.connect(name, { dir, startDaemon: false, ...opts });
  const mac = defaultMac(index);
  const got: Uint8Array[] = [];
  b.attach(mac, (f) => got.push(Uint8Array.from(f)));
  return { b, mac, got };
}

function frame(dst: Uint8Array, src: Uint8Array, tag: number, length = 60): Uint8Array {
  const f = new Uint8Array(length);
  f.set(dst, 0); f.set(src, 6);
  f[12] = TEST_TYPE >>> 8; f[13] = TEST_TYPE & 0xff;
  f[14] = tag;
  return f;
}

/** The tags of the test frames a port received, in order. */
const tags = (p: Port): number[] => p.got.filter((f) => ((f[12] << 8) | f[13]) === TEST_TYPE).map((f) => f[14]);

async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Waits until the daemon has accepted `n` members. A member's connect() completes when the kernel
 * queues the connection; frames it sends before the daemon accepts the others miss them.
 */
async function joined(d: SwitchDaemon, n: number): Promise<void> {
  await waitFor(() => d.memberCount === n, `${n} members`);
}

/** Sends `f` every 20 ms until `cond` holds: for the detached daemon, whose members' joining we cannot see. */
async function sendUntil(p: Port, f: Uint8Array, cond: () => boolean, what: string, ms = 3000): Promise<void> {
  let last = 0;
  await waitFor(() => {
    if (cond()) return true;
    if (Date.now() - last >= 20) { p.b.send(f); last = Date.now(); }
    return false;
  }, what, ms);
}

async function daemon(name: string, opts: SwitchDaemonOptions = {}): Promise<SwitchDaemon> {
  return SwitchDaemon.start(name, { dir, ...opts });
}

test('bad switch names are refused with a one-line BonsaiError', async () => {
  for (const name of ['', 'a/b', '../x', 'x'.repeat(65), 'a b', 'caf\u00e9', 'nul\0']) {
    const oneLine = (e: unknown): boolean => e instanceof BonsaiError && !e.message.includes('\n');
    await assert.rejects(SwitchBackend.connect(name, { dir, startDaemon: false }), oneLine, JSON.stringify(name));
    await assert.rejects(SwitchDaemon.start(name, { dir }), oneLine, JSON.stringify(name));
  }
  assert.doesNotThrow(() => switchPaths('lab_1.test-2', dir));
});

test('with no daemon and none to start, connect gives up with one line', async () => {
  const err = await SwitchBackend.connect(uniqueName(), { dir, startDaemon: false, timeoutMs: 100 }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof BonsaiError);
  assert.match(err.message, /no switch daemon answers/);
});

test('a broadcast reaches every other member but not its sender; unicast goes only where the MAC was learned', async () => {
  const name = uniqueName();
  const d = await daemon(name, { services: null });
  const [a, b, c] = [await member(name, 0), await member(name, 1), await member(name, 2)];
  await joined(d, 3);
  assert.equal(a.b.name, `switch:${name}`);

  a.b.send(frame(BCAST, a.mac, 1));
  await waitFor(() => tags(b).includes(1) && tags(c).includes(1), 'the broadcast');
  b.b.send(frame(a.mac, b.mac, 2)); // the switch knows a from its broadcast
  c.b.send(frame(BCAST, c.mac, 3)); // after 2 on the switch; it shows 2 has passed everyone
  await waitFor(() => tags(a).includes(3) && tags(b).includes(3), 'the second broadcast');
  assert.deepEqual(tags(a), [2, 3]);
  assert.deepEqual(tags(b), [1, 3], 'its own unicast does not come back');
  assert.deepEqual(tags(c), [1], 'no copy of the unicast, and not its own broadcast');

  a.b.send(frame(b.mac, a.mac, 4));
  a.b.send(frame(BCAST, a.mac, 5));
  await waitFor(() => tags(b).includes(5) && tags(c).includes(5), 'the sentinel');
  assert.deepEqual(tags(b), [1, 3, 4, 5]);
  assert.deepEqual(tags(c), [1, 5]);

  // A destination nobody has shown is flooded to all but the sender.
  a.b.send(frame(defaultMac(9), a.mac, 6));
  await waitFor(() => tags(b).includes(6) && tags(c).includes(6), 'the flood');
  assert.ok(!tags(a).includes(6));
  // Multicast (group bit set) is flooded too.
  c.b.send(frame(Uint8Array.of(0x01, 0x00, 0x5e, 0, 0, 1), c.mac, 7));
  await waitFor(() => tags(a).includes(7) && tags(b).includes(7), 'the multicast');

  // Frames are passed through whole, large ones included.
  const big = frame(b.mac, a.mac, 8, 9000);
  for (let i = 15; i < big.length; i++) big[i] = i & 0xff;
  a.b.send(big);
  await waitFor(() => tags(b).includes(8), 'the jumbo frame');
  assert.deepEqual(b.got[b.got.length - 1], big);

  assert.equal(a.b.stats()['frames-out'], 5);
  for (const p of [a, b, c]) await p.b.close();
  await d.close();
});

test('a member leaving leaves the switch working for the others, and its MACs are forgotten', async () => {
  const name = uniqueName();
  const d = await daemon(name, { services: null });
  const [a, b, c] = [await member(name, 0), await member(name, 1), await member(name, 2)];
  await joined(d, 3);
  for (const [i, p] of [a, b, c].entries()) p.b.send(frame(BCAST, p.mac, 10 + i));
  await waitFor(() => tags(a).length === 2 && tags(b).length === 2 && tags(c).length === 2, 'everyone learned');
  await a.b.close();
  await waitFor(() => d.memberCount === 2, 'the daemon to notice');
  a.b.send(frame(BCAST, a.mac, 99));
  assert.equal(a.b.stats()['drop-disconnected'], 1, 'a closed port drops');

  b.b.send(frame(c.mac, b.mac, 20));
  c.b.send(frame(b.mac, c.mac, 21));
  await waitFor(() => tags(c).includes(20) && tags(b).includes(21), 'unicast between the others');
  // a's MAC is unknown again, so a frame to it is flooded (to c) rather than sent into the void.
  b.b.send(frame(a.mac, b.mac, 22));
  await waitFor(() => tags(c).includes(22), 'the flood to a forgotten MAC');
  await b.b.close();
  await c.b.close();
  await d.close();
});

test('ARP for 10.0.3.1 is answered by the segment services, and ping too', async () => {
  const name = uniqueName();
  const d = await daemon(name);
  const a = await member(name, 0);
  const b = await member(name, 1);
  await joined(d, 2);
  const A_IP = 0x0a000332;
  const arp = (target: number): Uint8Array => {
    const f = new Uint8Array(42);
    f.set(BCAST, 0); f.set(a.mac, 6); f[12] = 0x08; f[13] = 0x06;
    f.set([0, 1, 0x08, 0, 6, 4, 0, 1], 14);
    f.set(a.mac, 22); writeIp(f, 28, A_IP); writeIp(f, 38, target);
    return f;
  };
  const isArp = (f: Uint8Array): boolean => f[12] === 0x08 && f[13] === 0x06;

  a.b.send(arp(SERVICES_IP));
  await waitFor(() => a.got.some(isArp), 'the ARP reply');
  const r = a.got.find(isArp) as Uint8Array;
  assert.deepEqual(r.subarray(0, 6), a.mac, 'to the asker');
  assert.deepEqual(r.subarray(6, 12), SERVICES_MAC);
  assert.equal((r[20] << 8) | r[21], 2, 'a reply');
  assert.deepEqual(r.subarray(22, 28), SERVICES_MAC);
  assert.equal(readIp(r, 28), SERVICES_IP);
  assert.deepEqual(r.subarray(32, 38), a.mac);
  assert.equal(readIp(r, 38), A_IP);
  await waitFor(() => b.got.some(isArp), 'the request, broadcast to b too');
  assert.equal(b.got.filter(isArp).length, 1, 'b sees the request but not the reply');

  // Someone else's address gets no answer from the services.
  a.got.length = 0;
  a.b.send(arp(0x0a000309));
  b.b.send(frame(BCAST, b.mac, 1));
  await waitFor(() => tags(a).includes(1), 'the sentinel');
  assert.ok(!a.got.some(isArp));

  // ICMP echo to 10.0.3.1.
  const echo = Uint8Array.of(8, 0, 0, 0, 0x12, 0x34, 0, 1, 0xde, 0xad, 0xbe, 0xef);
  const c = checksum(echo); echo[2] = c >>> 8; echo[3] = c & 0xff;
  const ip = buildIpv4(A_IP, SERVICES_IP, IPPROTO_ICMP, echo);
  const f = new Uint8Array(14 + ip.length);
  f.set(SERVICES_MAC, 0); f.set(a.mac, 6); f[12] = 0x08; f.set(ip, 14);
  a.b.send(f);
  const isIcmp = (g: Uint8Array): boolean => g[12] === 0x08 && g[13] === 0 && g[14 + 9] === IPPROTO_ICMP;
  await waitFor(() => a.got.some(isIcmp), 'the echo reply');
  const reply = a.got.find(isIcmp) as Uint8Array;
  assert.equal(readIp(reply, 14 + 12), SERVICES_IP);
  assert.equal(readIp(reply, 14 + 16), A_IP);
  assert.equal(reply[34], 0, 'echo reply');
  assert.deepEqual(reply.subarray(38, 46), echo.subarray(4));
  assert.ok(!b.got.some(isIcmp), 'frames to the services MAC are not flooded');

  await a.b.close();
  await b.b.close();
  await d.close();
});

function rawConnect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

test('a member that breaks the framing is disconnected alone, with one log line', async () => {
  const name = uniqueName();
  const lines: string[] = [];
  const d = await daemon(name, { log: (l) => lines.push(l), services: null });
  const a = await member(name, 0);
  const b = await member(name, 1);
  await joined(d, 2);
  const before = lines.length;
  for (const bad of [Uint8Array.of(0, 0, 0, 5, 1, 2, 3, 4, 5), Uint8Array.of(0, 1, 0x11, 0x70), Uint8Array.of(0xff, 0xff, 0xff, 0xff)]) {
    const s = await rawConnect(switchPaths(name, dir).socket);
    s.on('error', () => {});
    // A good frame first: the member is a member until it errs.
    s.write(encodeFrame(frame(BCAST, defaultMac(7), 30)));
    s.write(bad);
    await new Promise((r) => s.once('close', r));
  }
  assert.equal(lines.length - before, 3, lines.join('\n'));
  assert.ok(lines.slice(before).every((l) => l.includes('disconnected') && !l.includes('\n')));
  assert.equal(d.memberCount, 2);
  assert.equal(d.stats()['protocol-errors'], 3);
  a.b.send(frame(b.mac, a.mac, 31));
  b.b.send(frame(a.mac, b.mac, 32));
  await waitFor(() => tags(a).includes(32) && tags(b).includes(31), 'the others still talking');
  await a.b.close();
  await b.b.close();
  await d.close();
});

test('bad data from the daemon makes a member reconnect, not crash', async () => {
  const name = uniqueName();
  const path = switchPaths(name, dir).socket;
  let connections = 0;
  const fake = createServer((s) => {
    connections++;
    s.on('error', () => {});
    if (connections === 1) s.write(Uint8Array.of(0, 0, 0, 1, 0));
  });
  await new Promise<void>((r) => fake.listen(path, r));
  const lines: string[] = [];
  const a = await member(name, 0, { log: (l) => lines.push(l) });
  await waitFor(() => connections === 2 && a.b.connected, 'the reconnection');
  assert.equal(a.b.stats()['protocol-errors'], 1);
  assert.equal(a.b.stats().reconnects, 1);
  assert.ok(lines.some((l) => /bad data/.test(l)));
  await a.b.close();
  await new Promise((r) => fake.close(r));
});

test('a member that stops reading gets frames dropped beyond its queue bound', async () => {
  const name = uniqueName();
  const d = await daemon(name, { services: null, queueLimit: 64 * 1024 });
  const path = switchPaths(name, dir).socket;
  const stuck = await rawConnect(path);
  stuck.pause();
  const writer = await rawConnect(path);
  await joined(d, 2);
  const f = encodeFrame(frame(BCAST, defaultMac(1), 40, 1500));
  const burst = Buffer.concat(Array.from({ length: 2000 }, () => f)); // 3 MB
  writer.write(burst);
  await waitFor(() => (d.stats()['frames-in'] ?? 0) === 2000, 'the burst to pass the switch');
  assert.ok((d.stats()['drop-queue-full'] ?? 0) > 0, 'frames dropped for the stuck member');
  assert.ok((d.stats()['frames-out'] ?? 0) < 2000);
  writer.destroy();
  stuck.destroy();
  await d.close();
});

test('daemons started at once end as one, and a dead daemon\'s socket is replaced', async () => {
  const name = uniqueName();
  const paths = switchPaths(name, dir);
  const race = await Promise.allSettled([daemon(name), daemon(name), daemon(name)]);
  const won = race.filter((r): r is PromiseFulfilledResult<SwitchDaemon> => r.status === 'fulfilled');
  assert.equal(won.length, 1);
  for (const r of race) if (r.status === 'rejected') assert.ok(r.reason instanceof SwitchAlreadyRunning, String(r.reason));
  await won[0].value.close();
  assert.equal(existsSync(paths.socket), false, 'closing removes the socket');

  // A daemon killed outright leaves its socket file behind.
  const script = `require('net').createServer().listen(${JSON.stringify(paths.socket)}, () => process.kill(process.pid, 'SIGKILL'))`;
  spawnSync(process.execPath, ['-e', script]);
  assert.ok(existsSync(paths.socket), 'a stale socket');
  const race2 = await Promise.allSettled([daemon(name), daemon(name), daemon(name)]);
  const won2 = race2.filter((r): r is PromiseFulfilledResult<SwitchDaemon> => r.status === 'fulfilled');
  assert.equal(won2.length, 1);
  const a = await member(name, 0);
  const b = await member(name, 1);
  await joined(won2[0].value, 2);
  a.b.send(frame(BCAST, a.mac, 50));
  await waitFor(() => tags(b).includes(50), 'traffic through the new daemon');
  await a.b.close();
  await b.b.close();
  await won2[0].value.close();
});

test('members reconnect when their daemon goes away and another comes', async () => {
  const name = uniqueName();
  const d1 = await daemon(name);
  const lines: string[] = [];
  const a = await member(name, 0, { log: (l) => lines.push(l) });
  const b = await member(name, 1);
  await d1.close();
  await waitFor(() => !a.b.connected && !b.b.connected, 'the members to notice');
  a.b.send(frame(BCAST, a.mac, 60));
  assert.equal(a.b.stats()['drop-disconnected'], 1);
  const d2 = await daemon(name);
  await waitFor(() => a.b.connected && b.b.connected, 'the reconnection', 5000);
  await joined(d2, 2);
  a.b.send(frame(BCAST, a.mac, 61));
  await waitFor(() => tags(b).includes(61), 'traffic through the new daemon');
  assert.deepEqual(lines.map((l) => l.replace(/^switch \S+: /, '')), ['lost the switch daemon; reconnecting in the background', 'reconnected']);
  await a.b.close();
  await b.b.close();
  await d2.close();
});

test('the daemon leaves by itself after being empty for its idle time', async () => {
  const name = uniqueName();
  const d = await daemon(name, { idleMs: 150 });
  const a = await member(name, 0);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(d.memberCount, 1, 'a member keeps it');
  await a.b.close();
  await d.closed;
  assert.equal(existsSync(switchPaths(name, dir).socket), false);
});

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

test('the first members start one detached daemon, which outlives them and comes back if killed', async () => {
  const name = uniqueName();
  const paths = switchPaths(name, dir);
  const readPid = (): number => (existsSync(paths.pid) ? Number(readFileSync(paths.pid, 'utf8')) : 0);
  // Two members at once: both may start a daemon; one daemon must be left.
  const [a, b] = await Promise.all([member(name, 0, { startDaemon: true }), member(name, 1, { startDaemon: true })]);
  const c = await member(name, 2, { startDaemon: true });
  await waitFor(() => readPid() !== 0, 'the pid file');
  const pid = readPid();
  assert.notEqual(pid, process.pid);
  await sendUntil(a, frame(BCAST, a.mac, 70), () => tags(b).includes(70) && tags(c).includes(70), 'one segment for all three');

  // The member that started it leaves; the switch stays.
  await a.b.close();
  b.b.send(frame(BCAST, b.mac, 71));
  c.b.send(frame(b.mac, c.mac, 72));
  await waitFor(() => tags(c).includes(71) && tags(b).includes(72), 'the others still talking');
  assert.ok(!tags(a).includes(71), 'a closed port hears nothing');
  assert.ok(alive(pid));

  // Killed, it is restarted by the members, who reconnect.
  process.kill(pid, 'SIGKILL');
  await waitFor(() => readPid() !== pid && readPid() !== 0 && b.b.connected && c.b.connected, 'a new daemon', 8000);
  const pid2 = readPid();
  await sendUntil(b, frame(BCAST, b.mac, 73), () => tags(c).includes(73), 'traffic through the new daemon');

  await b.b.close();
  await c.b.close();
  process.kill(pid2, 'SIGTERM');
  await waitFor(() => !alive(pid2), 'the daemon to exit');
  assert.equal(existsSync(paths.socket), false, 'it removes its socket');
  assert.equal(existsSync(paths.pid), false, 'and its pid file');
  await stopLateDaemons(paths.pid);
});

/**
 * When the daemon was killed, b and c may each have started one; one won, and another still starting
 * up may take the free name after the winner is gone (it would leave after its idle time). Stop any
 * such until none has appeared for a while.
 */
async function stopLateDaemons(pidFile: string): Promise<void> {
  let quietSince = Date.now();
  while (Date.now() - quietSince < 500) {
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
    if (pid > 0 && alive(pid)) {
      process.kill(pid, 'SIGTERM');
      await waitFor(() => !alive(pid), 'a late daemon to exit');
      quietSince = Date.now();
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
