import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { TapBackend } from '../../src/net/tap.js';

const IF = 'bonsaitap9';
const ip = (...args: string[]): boolean => spawnSync('ip', args, { stdio: 'ignore' }).status === 0;

/** An ARP request from 52:54:00:12:34:56 (10.0.9.2) for 10.0.9.1. */
function arpRequest(): Uint8Array {
  const f = new Uint8Array(42);
  f.fill(0xff, 0, 6);
  f.set([0x52, 0x54, 0, 0x12, 0x34, 0x56], 6);
  f.set([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1], 12);
  f.set([0x52, 0x54, 0, 0x12, 0x34, 0x56, 10, 0, 9, 2], 22);
  f.set([0, 0, 0, 0, 0, 0, 10, 0, 9, 1], 32);
  return f;
}

test('a TAP device that does not exist, or an interface that is not TAP, gives one line', {
  skip: existsSync('/sys/class/net/lo') ? false : 'needs Linux sysfs',
}, async () => {
  await assert.rejects(TapBackend.open('bonsai-no-such'), /^BonsaiError: --net tap:bonsai-no-such: no such network interface \(make one: sudo ip tuntap add bonsai-no-such mode tap user \$USER\)$/);
  await assert.rejects(TapBackend.open('lo'), /^BonsaiError: --net tap:lo: lo is not a TUN\/TAP device$/);
});

test('frames reach the host kernel through a TAP device, and its answers come back (needs root)', async (t) => {
  const perl = spawnSync('perl', ['-v'], { stdio: 'ignore' }).status === 0;
  if (process.getuid?.() !== 0 || !existsSync('/dev/net/tun') || !perl || !ip('tuntap', 'add', IF, 'mode', 'tap')) {
    t.skip('needs root (CAP_NET_ADMIN), /dev/net/tun, iproute2 and perl');
    return;
  }
  try {
    assert.ok(ip('addr', 'add', '10.0.9.1/24', 'dev', IF) && ip('link', 'set', IF, 'up'));
    const tap = await TapBackend.open(IF);
    const got = new Promise<Uint8Array>((resolve) => tap.attach(new Uint8Array(6), (f) => {
      if (f[12] === 0x08 && f[13] === 0x06 && f[21] === 2) resolve(f);
    }));
    const timer = setInterval(() => tap.send(arpRequest()), 100);
    const reply = await got;
    clearInterval(timer);
    assert.deepEqual(Array.from(reply.subarray(28, 32)), [10, 0, 9, 1]);
    assert.ok(tap.stats()['frames-in'] >= 1);
    await tap.close();
  } finally {
    ip('tuntap', 'del', IF, 'mode', 'tap');
  }
});
