/**
 * Live migration end to end, between two stores on loopback through the real `bonsai` command: a guest
 * with a loop writing a counter to its disk every 0.1 s moves with its disks and carries on (the same
 * process, its uptime continuing, the file written during the move on the destination's disk); a wrong
 * token and an address not allowed are refused with the source running on; a destination killed in the
 * middle, at several points, or whose disk is full, leaves the source running and the destination's store
 * empty.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import { test } from 'node:test';
import { cliStore } from './cli-store.js';
import { killStore, storeProcesses } from '../helpers.js';
import { MIGRATE_VERSION } from '../../src/vm/migrate/stream.js';

const src = cliStore('bonsai-mig-src-');
const dst = cliStore('bonsai-mig-dst-');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let nextPort = 20000 + (process.pid % 20000);

/** A migration stream frame: u32 type, u32 length, u32 CRC-32, then the JSON payload (docs/migration.md). */
function frame(type: number, payload: object): Buffer {
  const body = Buffer.from(JSON.stringify(payload));
  const head = Buffer.alloc(12);
  head.writeUInt32LE(type, 0);
  head.writeUInt32LE(body.length, 4);
  head.writeUInt32LE(crc32(body), 8);
  return Buffer.concat([head, body]);
}

/** The first line a TCP server on the port says, retried while the port is closed (20 s at most). */
async function banner(port: number): Promise<string> {
  for (let i = 0; ; i++) {
    const line = await new Promise<string | null>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      let text = '';
      s.setTimeout(3000, () => { s.destroy(); resolve(null); });
      s.on('data', (b: Buffer) => { text += b.toString('latin1'); if (text.includes('\n')) { s.destroy(); resolve(text.split('\n')[0]); } });
      s.on('error', () => resolve(null)).on('close', () => resolve(text === '' ? null : text));
    });
    if (line !== null || i >= 40) return line ?? 'nothing';
    await sleep(500);
  }
}

/** Until the process receive started for a VM that did not come has removed its log (it ends with receive). */
async function noStandbyLeft(home: string): Promise<void> {
  const left = (): string[] => readdirSync(home).filter((f) => f.startsWith('incoming-'));
  for (let k = 0; k < 40 && left().length > 0; k++) await sleep(50);
  assert.deepEqual(left(), [], 'no standby log left in the store');
}

/** The destination's store holds nothing: no VM folder, no layer received. */
function dstEmpty(): void {
  const vms = join(dst.home, 'vms'), layers = join(dst.home, 'layers');
  assert.deepEqual(existsSync(vms) ? readdirSync(vms) : [], [], 'no VM left on the destination');
  assert.deepEqual(existsSync(layers) ? readdirSync(layers).filter((l) => l.startsWith('migrate-')) : [], [], 'no layer left on the destination');
}

test('live migration: a running VM moves with its disks and carries on; refusals and failures leave the source running', async (t) => {
  // A forward with a fixed host port: on one host the destination can only open it once the source let go.
  const fwdPort = nextPort++;
  await src.ok(['create', 'mv', '--ssh-key', 'none', '-m', '192M', '--forward', `tcp:127.0.0.1:${fwdPort}-:22`]);
  await src.ok(['start', 'mv']);
  // A loop in the guest, detached from the agent: a counter on the disk every 0.1 s.
  await src.guest('mv', "setsid sh -c 'echo $$ > /tmp/loop.pid; i=0; while :; do i=$((i+1)); echo $i > /root/counter; sleep 0.1; done' </dev/null >/dev/null 2>&1 & sleep 0.5; cat /tmp/loop.pid");
  const loopPid = (await src.guest('mv', 'cat /tmp/loop.pid')).trim();
  const counter = async (s: typeof src): Promise<number> => Number((await s.guest('mv', 'cat /root/counter')).trim());
  /** The counter moves on within 20 s (a loaded host runs the guest slowly; no timing is asserted). */
  const countsOn = async (s: typeof src): Promise<boolean> => {
    const before = await counter(s);
    for (let i = 0; i < 40; i++) {
      await sleep(500);
      if (await counter(s) > before) return true;
    }
    return false;
  };

  await t.test('a wrong token is refused; the source runs on', async () => {
    const port = nextPort++;
    const recv = dst.bonsai(['receive', '--listen', String(port), '--token', 'right']);
    await sleep(1500);
    const r = await src.bonsai(['migrate', 'mv', '--to', `127.0.0.1:${port}`, '--with-disks', '--token', 'wrong']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^bonsai: .*wrong or missing token\n$/);
    assert.ok(await counter(src) > 0);
    spawnSync('pkill', ['-f', `receive --listen ${port}`]);
    await recv;
    dstEmpty();
    await noStandbyLeft(dst.home);
  });

  await t.test('a destination of another stream version, or not a Bonsai at all, is refused in the handshake', async () => {
    for (const [hello, said] of [
      [frame(1, { magic: 'BONSAI-MIGRATE', version: 99, challenge: 'x' }), new RegExp(`^bonsai: .*the destination speaks migration version 99; this Bonsai speaks ${MIGRATE_VERSION}\\n$`)],
      [Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'), /^bonsai: .*not a Bonsai migration stream\n$/],
    ] as const) {
      const server = createServer((sock) => { sock.on('error', () => undefined); sock.write(hello); });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as AddressInfo).port;
      const r = await src.bonsai(['migrate', 'mv', '--to', `127.0.0.1:${port}`, '--with-disks']);
      server.close();
      assert.equal(r.status, 1);
      assert.match(r.stderr, said);
      assert.match((await src.ok(['list'])), /^mv\s+running/m);
    }
    assert.ok(await countsOn(src), 'the guest runs on');
  });

  await t.test('an address not in --allow is refused', async () => {
    const port = nextPort++;
    const recv = dst.bonsai(['receive', '--listen', String(port), '--allow', '192.0.2.1']);
    await sleep(1500);
    const r = await src.bonsai(['migrate', 'mv', '--to', `127.0.0.1:${port}`, '--with-disks']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    spawnSync('pkill', ['-f', `receive --listen ${port}`]);
    const rr = await recv;
    assert.match(rr.stderr, /refused a connection from 127\.0\.0\.1: not in --allow/);
    assert.ok(await counter(src) > 0);
    dstEmpty();
    await noStandbyLeft(dst.home);
  });

  await t.test('the destination killed mid-disks, mid-RAM and late leaves the source running and nothing behind', async () => {
    // The VM's process on the destination killed at a random point of each part of the move (the disks
    // and RAM take about 7 s at 4 MB/s, uncompressed: compression would make the length depend on how
    // fast this host deflates): bonsai receive removes what it left; then the whole destination (receive
    // too) killed, as when its host goes away: what it leaves is removed by hand.
    const points = [100 + Math.random() * 1200, 2000 + Math.random() * 2000, 5000 + Math.random() * 1000, Math.random() * 6000];
    for (const [i, killAfterMs] of points.entries()) {
      const whole = i === points.length - 1;
      const port = nextPort++;
      const recv = dst.bonsai(['receive', '--listen', String(port)]);
      await sleep(1500);
      const mig = src.bonsai(['migrate', 'mv', '--to', `127.0.0.1:${port}`, '--with-disks', '--bandwidth', '4M', '--compress', 'never']);
      // From the moment the VM's folder is made on the destination (the handshake is over; its process,
      // started when receive began to listen, has the connection from then on).
      for (let k = 0; k < 100 && !existsSync(join(dst.home, 'vms', 'mv')); k++) await sleep(50);
      assert.equal(storeProcesses(dst.home, / vmm --incoming/).length, 1, 'one VM process waits on the destination');
      await sleep(killAfterMs);
      killStore(dst.home, whole ? / receive --listen | vmm --incoming/ : / vmm --incoming/);
      const r = await mig;
      const rr = await recv;
      const at = `after a kill at ${killAfterMs.toFixed(0)} ms`;
      assert.notEqual(r.status, 0, `the move ended before the kill at ${killAfterMs.toFixed(0)} ms`);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
      assert.match((await src.ok(['list'])), /^mv\s+running/m, at);
      assert.ok(await countsOn(src), `the guest runs on at the source ${at}`);
      if (whole) {
        spawnSync('rm', ['-rf', join(dst.home, 'vms'), join(dst.home, 'layers')]);
      } else {
        assert.equal(rr.status, 1, rr.stderr);
        assert.equal(rr.stderr.trimEnd().split('\n').filter((l) => l.startsWith('bonsai:')).length, 1, rr.stderr);
        dstEmpty();
      }
    }
  });

  await t.test('a destination whose disk is full says so; the source runs on and nothing is left there', async (tt) => {
    // A store on a 2 MiB tmpfs (the VM's disk is several MiB): needs root and a kernel that lets us mount.
    const full = cliStore('bonsai-mig-full-');
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', full.home]);
    if (mounted.status !== 0) { tt.skip(`cannot mount a small tmpfs here (${mounted.stderr.toString().trim() || 'not root'})`); return; }
    try {
      const port = nextPort++;
      const recv = full.bonsai(['receive', '--listen', String(port)]);
      await sleep(1500);
      const r = await src.bonsai(['migrate', 'mv', '--to', `127.0.0.1:${port}`, '--with-disks']);
      const rr = await recv;
      assert.equal(r.status, 1);
      assert.match(r.stderr, /^bonsai: .*root\.qcow2: receiving the VM's disk: no space left on the device\n$/);
      assert.equal(rr.status, 1);
      assert.match(rr.stderr, /^bonsai: .*no space left on the device$/m);
      assert.match(await src.ok(['list']), /^mv\s+running/m);
      assert.ok(await countsOn(src), 'the guest runs on at the source');
      const vms = join(full.home, 'vms');
      assert.deepEqual(existsSync(vms) ? readdirSync(vms) : [], [], 'no VM left on the full destination');
    } finally {
      killStore(full.home);
      spawnSync('umount', ['-l', full.home]);
    }
  });

  await t.test('the VM moves with its disks: the same loop goes on counting, uptime continues', async () => {
    const port = nextPort++;
    const recv = dst.bonsai(['receive', '--listen', String(port), '--token', 'tok']);
    await sleep(1500);
    const before = await counter(src);
    const uptimeBefore = Number((await src.guest('mv', 'cat /proc/uptime')).split(' ')[0]);
    // Compressed (on loopback auto never compresses: the link is faster than deflate): the guest's RAM
    // comes through the deflate path whole, or the loop and the uptime below would not carry on.
    const out = await src.ok(['migrate', 'mv', '--to', `127.0.0.1:${port}`, '--with-disks', '--token', 'tok', '--compress', 'always']);
    assert.match(out, /^migrated mv to 127\.0\.0\.1:\d+: downtime [\d.]+ ms, [\d.]+ s in all, .* sent in \d+ rounds \(\d+ pages compressed\)$/m);
    const rr = await recv;
    assert.equal(rr.status, 0, rr.stderr);
    assert.match(rr.stdout, /received VM 'mv'/);
    assert.doesNotMatch(await src.ok(['list']), /^mv\s/m, 'gone from the source');
    assert.match(await dst.ok(['list']), /^mv\s+running/m);
    assert.equal((await dst.guest('mv', 'cat /tmp/loop.pid')).trim(), loopPid, 'the same loop process');
    const c1 = await counter(dst);
    assert.ok(c1 >= before, `the counter went on from ${before}: ${c1}`);
    assert.ok(await countsOn(dst), 'and keeps counting on the destination');
    assert.match(await banner(fwdPort), /^SSH-2\.0-/, 'the forward is open on the destination');
    const uptimeAfter = Number((await dst.guest('mv', 'cat /proc/uptime')).split(' ')[0]);
    assert.ok(uptimeAfter > uptimeBefore, `no reboot: uptime ${uptimeBefore} then ${uptimeAfter}`);
    // The disk came along, with the counter written during the move: sync (the guest's file system has no
    // journal, and kill is a power cut), kill, start, read it back.
    await dst.guest('mv', 'sync');
    await dst.ok(['kill', 'mv']);
    await dst.ok(['start', 'mv']);
    assert.ok(Number((await dst.guest('mv', 'cat /root/counter')).trim()) >= c1, 'the counter file is on the destination\'s disk');
    await dst.ok(['kill', 'mv']);
  });
});
