/**
 * End to end: the bundled guest with its agent and a disk root (bonsai.root=/dev/vda). The first boot makes
 * a filesystem on a blank qcow2 disk and copies the system onto it; the agent runs commands, applies the
 * configuration archive's identity and powers the guest off through init; a second boot from the same disk
 * finds what the first wrote, and a system that an older initramfs left on the disk is brought up to date.
 * A disk with something else on it is left alone and the initramfs is the root.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { createImage } from '../../src/storage/image-ops.js';
import { GuestAgent } from '../../src/vm/agent.js';
import { makeDropbearEd25519Key, type GuestConfig } from '../../src/vm/config-archive.js';
import type { DiskSpec } from '../../src/vm/devices.js';
import { bundledImage } from '../../src/vm/run.js';
import { GuestSession } from './guest.js';

const dec = (b: Uint8Array): string => Buffer.from(b).toString();
const MACHINE_ID = '5eed0123456789abcdef0123456789ab';

function boot(disks: DiskSpec[], cfg: GuestConfig, agent: GuestAgent): GuestSession {
  return new GuestSession({ agent, disks, guestConfig: cfg, append: 'console=ttyS0 bonsai.root=/dev/vda' });
}

async function sh(agent: GuestAgent, script: string): Promise<string> {
  const r = await agent.exec(['sh', '-c', script]);
  assert.equal(r.status, 0, `${script}: ${dec(r.stderr)}`);
  return dec(r.stdout);
}

/** The initramfs's build-id, read from the committed archive (cpio newc) without unpacking it. */
function initramfsBuildId(): string {
  const a = gunzipSync(readFileSync(bundledImage('initramfs.cpio.gz')));
  const name = Buffer.from('lib/bonsai/build-id\0');
  const at = a.indexOf(name);
  assert.ok(at > 110, 'the initramfs has /lib/bonsai/build-id');
  const size = parseInt(a.subarray(at - 110 + 54, at - 110 + 62).toString(), 16);
  const data = (at + name.length + 3) & ~3;
  return a.subarray(data, data + size).toString().trim();
}

test('the agent runs commands on a disk root that persists across boots and is refreshed from the initramfs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-agent-'));
  const disk = join(dir, 'root.qcow2');
  await createImage(disk, { format: 'qcow2', size: 256 * 1024 * 1024 });
  const disks = [{ path: disk, readOnly: false, format: 'qcow2' as const }];
  const key = makeDropbearEd25519Key();
  const cfg: GuestConfig = { hostname: 'agentvm', sshKeys: [], machineId: MACHINE_ID, hostKey: key.privateKey, randomSeed: new Uint8Array(32).fill(7) };
  const agent = new GuestAgent();
  const changes: boolean[] = [];
  agent.onConnectedChange = (c) => changes.push(c);

  // First boot: a blank disk.
  const g1 = boot(disks, cfg, agent);
  await g1.expect('bonsai.root=/dev/vda is blank: making a filesystem');
  assert.equal(await agent.waitConnected(120_000), true, g1.output.slice(-1500));
  const r = await agent.exec(['sh', '-c', 'echo hi; echo err >&2; exit 3']);
  assert.deepEqual([r.status, dec(r.stdout), dec(r.stderr)], [3, 'hi\n', 'err\n']);
  // Arguments reach the command as they are: no shell in between.
  const words = ['a b', '$(poweroff)', "it's", '', 'new\nline\n'];
  assert.equal(dec((await agent.exec(['printf', '[%s]', ...words])).stdout), words.map((w) => `[${w}]`).join(''));
  assert.equal(dec((await agent.exec(['cat'], { stdin: new TextEncoder().encode('piped\n') })).stdout), 'piped\n');
  assert.match(await sh(agent, 'mount'), /^\/dev\/vda on \/ type ext4 \(rw/m);
  assert.equal(await sh(agent, 'hostname; cat /etc/machine-id'), `agentvm\n${MACHINE_ID}\n`);
  assert.equal(await sh(agent, '[ ! -e /etc/bonsai/random-seed ] && echo used once'), 'used once\n');
  // dropbear reads the host's key, and the running server was given it.
  const pub = await sh(agent, 'dropbearkey -y -f /etc/bonsai/dropbear_ed25519_host_key; ps');
  assert.ok(pub.includes(key.publicLine.split(' ').slice(0, 2).join(' ')), pub);
  assert.match(pub, /dropbear -F -p 22 -r \/etc\/bonsai\/dropbear_ed25519_host_key/);
  await sh(agent, 'echo kept > /root/note');
  // What an older initramfs would have left: another build-id and an agent that no longer works.
  await sh(agent, 'echo older > /lib/bonsai/build-id; printf "#!/bin/sh\\nexec sleep 1000\\n" > /lib/bonsai/agent');
  await agent.poweroff();
  const e1 = await g1.done;
  assert.equal(e1.reason, 'poweroff');
  assert.match(g1.output, /The system is going down NOW!/, 'through busybox init, not poweroff -f');
  assert.equal(agent.connected, false);

  // Second boot from the same disk: the note is there, the agent and build-id are the initramfs's again.
  const g2 = boot(disks, { ...cfg, hostname: 'renamed' }, agent);
  assert.equal(await agent.waitConnected(120_000), true, g2.output.slice(-1500));
  assert.doesNotMatch(g2.output, /is blank/);
  assert.equal(await sh(agent, 'cat /root/note; hostname'), 'kept\nrenamed\n');
  assert.equal((await sh(agent, 'cat /lib/bonsai/build-id')).trim(), initramfsBuildId());
  await agent.setHostname('by-agent');
  assert.equal(await sh(agent, 'hostname; cat /etc/hostname'), 'by-agent\nby-agent\n');
  await agent.setTime(Date.UTC(2030, 0, 2, 3, 4, 5));
  assert.match(await sh(agent, 'date -u +%Y-%m-%dT%H:%M'), /^2030-01-02T03:0[45]/);
  await assert.rejects(agent.exec(['sleep', '10'], { timeoutMs: 1000 }), /exec sleep: timed out after 1 s/);
  await agent.poweroff();
  assert.equal((await g2.done).reason, 'poweroff');
  assert.deepEqual(changes, [true, false, true, false]);
});

test('a disk that holds something else is left alone and the guest boots from the initramfs; the agent comes back after a reboot', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-agent-'));
  const disk = join(dir, 'data.raw');
  const junk = Buffer.alloc(1024 * 1024, 0x5a);
  writeFileSync(disk, junk);
  const agent = new GuestAgent();
  const g = boot([{ path: disk, readOnly: false, format: 'raw' }], { hostname: 'fallback', sshKeys: [] }, agent);
  await g.expect('not an ext2/3/4 filesystem; not touching it');
  await g.expect('booting from the initramfs instead');
  assert.equal(await agent.waitConnected(120_000), true, g.output.slice(-1500));
  assert.match(await sh(agent, 'mount'), /^rootfs on \/ type rootfs/m);
  // A guest reboot is a new machine in the same run, with a new channel attached to the same agent.
  const seen: boolean[] = [];
  const back = new Promise<void>((resolve) => {
    agent.onConnectedChange = (c) => { seen.push(c); if (c) resolve(); };
  });
  // init may stop the agent before it answers: either is right.
  await agent.exec(['reboot']).catch((e: Error) => assert.match(e.message, /exec reboot: the guest agent closed its channel/));
  await back;
  assert.deepEqual(seen, [false, true]);
  assert.equal(g.output.split('booting from the initramfs instead').length, 3, 'two boots');
  assert.equal(await sh(agent, 'echo again'), 'again\n');
  await agent.poweroff();
  assert.equal((await g.done).reason, 'poweroff');
  assert.deepEqual(readFileSync(disk), junk, 'not a byte changed');
});
