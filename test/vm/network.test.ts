import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkNetwork, nicMac, parseForward, parseNet } from '../../src/vm/network.js';

test('--net takes user, user,restrict, none and tap:IFNAME', () => {
  assert.deepEqual(parseNet('user'), { kind: 'user', restrict: false });
  assert.deepEqual(parseNet('user,restrict'), { kind: 'user', restrict: true });
  assert.deepEqual(parseNet('none'), { kind: 'none' });
  assert.deepEqual(parseNet('tap:tap0'), { kind: 'tap', ifname: 'tap0' });
  assert.throws(() => parseNet('bridge'), /use 'user'/);
  assert.throws(() => parseNet('user,fast'), /unknown option 'fast'/);
  assert.throws(() => parseNet('tap:'), /not a network interface name/);
  assert.throws(() => parseNet('tap:a/b'), /not a network interface name/);
});

test('--forward parses tcp and udp, with 127.0.0.1 as the default host address', () => {
  assert.deepEqual(parseForward('tcp:2222-:22'), { protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: 2222, guestPort: 22 });
  assert.deepEqual(parseForward('udp:0.0.0.0:5353-:53'), { protocol: 'udp', hostAddress: '0.0.0.0', hostPort: 5353, guestPort: 53 });
  assert.deepEqual(parseForward('tcp::8080-10.0.2.15:80'), { protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: 8080, guestPort: 80 });
  for (const [bad, msg] of [
    ['tcp:2222:22', /expected tcp:/], ['sctp:1-:2', /expected tcp:/], ['tcp:0-:22', /not a port/],
    ['tcp:70000-:22', /not a port/], ['tcp:2222-:', /not a port/], ['tcp:1.2.3:22-:22', /not an IPv4 address/],
    ['tcp:2222-10.0.2.16:22', /the guest is 10\.0\.2\.15/],
    ['tcp:-1-:22', /: '-1' is not a port/], ['tcp:1-2-:22', /: '1-2' is not a port/], ['tcp:2222--1:22', /'2222-' is not a port/],
  ] as const) assert.throws(() => parseForward(bad), msg, bad);
});

test('forwards, TFTP and a boot file need the user-mode network; a TFTP folder must exist', () => {
  const base = { forwards: [], switches: [], hostname: 'bonsai' };
  assert.throws(() => checkNetwork({ ...base, net: { kind: 'none' }, forwards: [parseForward('tcp:1-:2')] }), /--forward needs the user-mode network/);
  assert.throws(() => checkNetwork({ ...base, net: { kind: 'none' }, tftpRoot: '/tmp' }), /--tftp needs/);
  assert.throws(() => checkNetwork({ ...base, net: { kind: 'user', restrict: false }, tftpRoot: '/nonexistent-dir' }), /--tftp \/nonexistent-dir: no such directory/);
  assert.throws(() => checkNetwork({ ...base, net: { kind: 'user', restrict: false }, tftpRoot: '/etc/hostname' }), /is a regular file, not a directory/);
  assert.throws(() => checkNetwork({ ...base, net: { kind: 'user', restrict: false }, tftpRoot: '/dev/null' }), /is a character device, not a directory/);
  assert.throws(() => checkNetwork({ ...base, net: { kind: 'user', restrict: false }, forwards: [parseForward('tcp:1-:2'), parseForward('tcp:1-:3')] }), /forwarded twice/);
  checkNetwork({ ...base, net: { kind: 'user', restrict: false }, tftpRoot: '/tmp', bootFile: 'Image' });
});

test('a user-network card has QEMU\'s MAC; cards on a switch or TAP get one from the VM name', () => {
  assert.deepEqual(Array.from(nicMac(0, false, 'a')), [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
  const a = nicMac(1, true, 'web'), b = nicMac(1, true, 'db');
  assert.deepEqual(Array.from(a.subarray(0, 3)), [0x52, 0x54, 0]);
  assert.notDeepEqual(a, b);
  assert.deepEqual(a, nicMac(1, true, 'web'));
  assert.equal(a[0] & 1, 0); // unicast
});
