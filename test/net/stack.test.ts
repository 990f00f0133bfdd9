import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BonsaiError } from '../../src/errors.js';
import { buildIpv4, IPPROTO_ICMP, readIp } from '../../src/net/ipv4.js';
import { defaultUserNetConfig, type UserNetConfig } from '../../src/net/user/context.js';
import { GATEWAY_MAC, UserNet, type UserNetOptions } from '../../src/net/user/stack.js';
import {
  arpRequest, bytes, checksumsHold, dhcpFrame, dhcpOptions, dnsQuery, DNS, ethernet, frameType, GATEWAY, Guest, GUEST,
  GUEST_MAC, icmpEcho, ipFrame, parseIpv4, parseUdp, sleep, text, udpFrame,
} from './frames.js';

async function rig(change: Partial<UserNetConfig> = {}, options: UserNetOptions = {}): Promise<{ net: UserNet; guest: Guest }> {
  const net = await UserNet.create({ ...defaultUserNetConfig(), ...change }, () => {}, options);
  return { net, guest: new Guest(net) };
}

/** A host UDP server on 127.0.0.1 that echoes each datagram back prefixed with "re:". */
async function echoServer(): Promise<{ socket: Socket; port: number; seen: { port: number; data: string }[] }> {
  const socket = createSocket('udp4');
  const seen: { port: number; data: string }[] = [];
  socket.on('message', (msg, rinfo) => {
    seen.push({ port: rinfo.port, data: msg.toString() });
    socket.send(Buffer.concat([Buffer.from('re:'), msg]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return { socket, port: socket.address().port, seen };
}

function closeSocket(s: Socket): Promise<void> {
  return new Promise((r) => s.close(() => r()));
}

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await closeSocket(s);
  return port;
}

const isArp = (f: Uint8Array): boolean => frameType(f) === 0x0806;

test('an ARP request for any other address of the network is answered with the gateway MAC', async () => {
  const { net, guest } = await rig();
  try {
    for (const target of [GATEWAY, DNS, 0x0a000263]) {
      guest.send(arpRequest(GUEST, target));
      const f = await guest.next(isArp);
      assert.deepEqual(f.subarray(0, 6), GUEST_MAC);
      assert.deepEqual(f.subarray(6, 12), GATEWAY_MAC);
      const a = f.subarray(14);
      assert.equal((a[6] << 8) | a[7], 2, 'a reply');
      assert.deepEqual(a.subarray(8, 14), GATEWAY_MAC);
      assert.equal(readIp(a, 14), target);
      assert.deepEqual(a.subarray(18, 24), GUEST_MAC);
      assert.equal(readIp(a, 24), GUEST);
    }
    assert.equal(net.stats()['frames-out'], 3);
  } finally {
    await net.close();
  }
});

test('ARP for the guest itself or outside the network, IPv6 and other ethertypes are counted and not answered', async () => {
  const { net, guest } = await rig();
  try {
    guest.send(arpRequest(GUEST, GUEST));
    guest.send(arpRequest(0x0a000210, 0x0a000210)); // gratuitous: the guest announcing an address it took
    guest.send(arpRequest(GUEST, 0x08080808));
    guest.send(arpRequest(GUEST, 0x0a0002ff)); // the network's broadcast address
    guest.send(ethernet(0x86dd, new Uint8Array(40)));
    guest.send(ethernet(0x88cc, new Uint8Array(40)));
    guest.send(new Uint8Array(10));
    const s = net.stats();
    assert.equal(s['drop-arp-not-ours'], 4);
    assert.equal(s['drop-ipv6'], 1);
    assert.equal(s['drop-ethertype'], 1);
    assert.equal(s['drop-eth-short'], 1);
    assert.equal(s['frames-in'], 7);
    assert.equal(s['frames-out'], 0);
    assert.equal(guest.received.length, 0);
  } finally {
    await net.close();
  }
});

test('DHCP DISCOVER is offered 10.0.2.15 with the network options, and REQUEST is acknowledged', async () => {
  const { net, guest } = await rig({ bootFile: 'pxelinux.0', tftpRoot: '/srv/tftp', hostname: 'lab' });
  try {
    guest.send(dhcpFrame({ type: 1, xid: 0xabcd0001 }));
    const offer = await guest.nextUdp(68);
    assert.equal(offer.src, GATEWAY);
    assert.equal(offer.srcPort, 67);
    assert.equal(offer.dst, 0xffffffff);
    const m = offer.data;
    assert.equal(m[0], 2, 'BOOTREPLY');
    assert.equal(readIp(m, 4), 0xabcd0001);
    assert.equal(readIp(m, 16), GUEST, 'yiaddr');
    assert.equal(readIp(m, 20), GATEWAY, 'siaddr: the TFTP server');
    assert.equal(text(m.subarray(108, 118)), 'pxelinux.0');
    const o = dhcpOptions(m);
    assert.deepEqual([...o.get(53) ?? []], [2]);
    assert.equal(readIp(o.get(54) ?? new Uint8Array(4), 0), GATEWAY);
    assert.equal(readIp(o.get(1) ?? new Uint8Array(4), 0), 0xffffff00);
    assert.equal(readIp(o.get(3) ?? new Uint8Array(4), 0), GATEWAY);
    assert.equal(readIp(o.get(6) ?? new Uint8Array(4), 0), DNS);
    assert.equal(o.get(15), undefined, 'no domain is offered (as in slirp)');
    assert.equal(text(o.get(66) ?? new Uint8Array()), '10.0.2.2');
    assert.equal(text(o.get(67) ?? new Uint8Array()), 'pxelinux.0');
    assert.ok(o.has(51) && o.has(58) && o.has(59));

    guest.send(dhcpFrame({ type: 3, xid: 0xabcd0002, requested: GUEST, serverId: GATEWAY }));
    const frame = await guest.next((x) => parseUdp(x)?.dstPort === 68);
    assert.ok(checksumsHold(frame));
    const ack = parseUdp(frame) ?? assert.fail('not UDP');
    assert.deepEqual([...dhcpOptions(ack.data).get(53) ?? []], [5]);
    assert.equal(readIp(ack.data, 16), GUEST);
  } finally {
    await net.close();
  }
});

test('an echo request to the gateway comes back with its id, sequence and data; a bad checksum gets nothing', async () => {
  const { net, guest } = await rig();
  try {
    const data = bytes('abcdefgh-ping');
    guest.send(icmpEcho(GUEST, GATEWAY, 0x1234, 7, data));
    const f = await guest.next((x) => parseIpv4(x)?.protocol === IPPROTO_ICMP);
    assert.ok(checksumsHold(f));
    const ip = parseIpv4(f);
    assert.ok(ip !== null);
    assert.equal(ip.src, GATEWAY);
    assert.equal(ip.dst, GUEST);
    const m = ip.payload;
    assert.equal(m[0], 0, 'echo reply');
    assert.equal((m[4] << 8) | m[5], 0x1234);
    assert.equal((m[6] << 8) | m[7], 7);
    assert.deepEqual(m.subarray(8), data);

    const bad = icmpEcho(GUEST, DNS, 1, 1, data);
    bad[14 + 20 + 9] ^= 0xff; // a data byte: the ICMP checksum no longer holds
    guest.send(bad);
    assert.equal(net.stats()['drop-icmp-bad-checksum'], 1);
  } finally {
    await net.close();
  }
});

test('an echo to an outside address is answered when the host ping is, and not in restrict mode or past 8 at once', async () => {
  const asked: string[] = [];
  const pending: ((ok: boolean) => void)[] = [];
  const ping = (a: string): Promise<boolean> => { asked.push(a); return new Promise((r) => pending.push(r)); };
  const { net, guest } = await rig({}, { ping });
  try {
    for (let i = 0; i < 10; i++) guest.send(icmpEcho(GUEST, 0x01020304, 9, i, bytes(`n${i}`)));
    assert.equal(asked.length, 8);
    assert.equal(asked[0], '1.2.3.4');
    assert.equal(net.stats()['drop-icmp-busy'], 2);
    pending[0](true);
    pending[1](false);
    const f = await guest.next((x) => parseIpv4(x)?.protocol === IPPROTO_ICMP);
    const ip = parseIpv4(f);
    assert.ok(ip !== null);
    assert.equal(ip.src, 0x01020304);
    assert.equal((ip.payload[6] << 8) | ip.payload[7], 0, 'the first sequence number');
    await sleep(10);
    assert.equal(net.stats()['drop-icmp-no-answer'], 1);
    for (const r of pending.slice(2)) r(false);
  } finally {
    await net.close();
  }
  const restricted = await rig({ restrict: true }, { ping });
  try {
    restricted.guest.send(icmpEcho(GUEST, 0x01020304, 9, 1, bytes('x')));
    assert.equal(restricted.net.stats()['drop-icmp-restricted'], 1);
    restricted.guest.send(icmpEcho(GUEST, GATEWAY, 9, 2, bytes('x')));
    await restricted.guest.next((x) => parseIpv4(x)?.protocol === IPPROTO_ICMP);
  } finally {
    await restricted.net.close();
  }
});

test('an echo to the host\'s own address goes through the host ping command when there is one', async (t) => {
  const own = Object.values(networkInterfaces()).flat().find((i) => i !== undefined && i.family === 'IPv4' && !i.internal);
  const hasPing = own !== undefined
    && await new Promise<boolean>((r) => execFile('ping', ['-c', '1', '-W', '2', '-n', own.address], (e) => r(e === null)));
  if (own === undefined || !hasPing) {
    t.skip('no working ping or no address to ping on this host');
    return;
  }
  const { net, guest } = await rig();
  try {
    const addr = own.address.split('.').reduce((v, x) => v * 256 + Number(x), 0);
    guest.send(icmpEcho(GUEST, addr, 3, 4, bytes('host')));
    const f = await guest.next((x) => parseIpv4(x)?.protocol === IPPROTO_ICMP, 4000);
    assert.equal(parseIpv4(f)?.src, addr);
  } finally {
    await net.close();
  }
});

test('without an injected pinger the host ping command is run as ping -c 1 -W 2 -n ADDR; a missing one is logged once', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bonsai-ping-'));
  const savedPath = process.env.PATH;
  const lines: string[] = [];
  try {
    await writeFile(join(dir, 'ping'), `#!/bin/sh\necho "$@" >> "${dir}/args"\n[ "$6" = "192.0.2.9" ]\n`, { mode: 0o755 });
    process.env.PATH = `${dir}:${savedPath ?? ''}`;
    const { net, guest } = await rig();
    try {
      guest.send(icmpEcho(GUEST, 0xc0000209, 1, 1, bytes('a')));
      guest.send(icmpEcho(GUEST, 0xc000020a, 1, 2, bytes('b')));
      const f = await guest.next((x) => parseIpv4(x)?.protocol === IPPROTO_ICMP);
      assert.equal(parseIpv4(f)?.src, 0xc0000209);
      await sleep(50);
      assert.equal(net.stats()['drop-icmp-no-answer'], 1, 'the host ping failed');
      assert.deepEqual((await readFile(join(dir, 'args'), 'utf8')).trim().split('\n').sort(),
        ['-c 1 -W 2 -n 192.0.2.10', '-c 1 -W 2 -n 192.0.2.9']);
    } finally {
      await net.close();
    }
    process.env.PATH = dir; // nothing called ping there now
    await rm(join(dir, 'ping'));
    const missing = await UserNet.create(defaultUserNetConfig(), (l) => lines.push(l));
    const g = new Guest(missing);
    try {
      for (let i = 0; i < 3; i++) {
        g.send(icmpEcho(GUEST, 0xc0000209, 1, i, bytes('x')));
        await sleep(30);
      }
      assert.equal(g.received.length, 0);
      assert.equal(lines.filter((l) => l.includes('no ping')).length, 1);
    } finally {
      await missing.close();
    }
  } finally {
    process.env.PATH = savedPath;
    await rm(dir, { recursive: true, force: true });
  }
});

test('a DNS query for localhost through the stack is answered 127.0.0.1', async () => {
  const { net, guest } = await rig();
  try {
    guest.send(udpFrame(GUEST, 40000, DNS, 53, dnsQuery(0x4242, 'localhost')));
    const r = await guest.nextUdp(40000);
    assert.equal(r.src, DNS);
    assert.equal(r.srcPort, 53);
    assert.equal((r.data[0] << 8) | r.data[1], 0x4242);
    assert.equal(r.data[3] & 0x0f, 0, 'NOERROR');
    assert.ok(((r.data[6] << 8) | r.data[7]) >= 1, 'an answer');
    assert.deepEqual([...r.data.subarray(r.data.length - 4)], [127, 0, 0, 1]);
  } finally {
    await net.close();
  }
});

test('UDP to the gateway reaches a host server on 127.0.0.1 and its reply comes back from the gateway', async () => {
  const server = await echoServer();
  const { net, guest } = await rig();
  try {
    guest.send(udpFrame(GUEST, 5000, GATEWAY, server.port, bytes('hello')));
    const r = await guest.nextUdp(5000);
    assert.equal(r.src, GATEWAY);
    assert.equal(r.srcPort, server.port);
    assert.equal(r.dst, GUEST);
    assert.equal(text(r.data), 're:hello');
    // The same guest port goes out through the same host socket (endpoint-independent mapping).
    guest.send(udpFrame(GUEST, 5000, GATEWAY, server.port, bytes('again')));
    await guest.nextUdp(5000);
    assert.equal(server.seen.length, 2);
    assert.equal(server.seen[0].port, server.seen[1].port);
    assert.equal(net.stats()['udp-flows-opened'], 1);
  } finally {
    await net.close();
    await closeSocket(server.socket);
  }
});

test('a large UDP reply reaches the guest as fragments of at most 1500 bytes', async () => {
  const server = createSocket('udp4');
  server.on('message', (_msg, rinfo) => server.send(Buffer.alloc(4000, 0x61), rinfo.port, rinfo.address));
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
  const { net, guest } = await rig();
  try {
    guest.send(udpFrame(GUEST, 5001, GATEWAY, server.address().port, bytes('big')));
    const frags: Uint8Array[] = [];
    while (frags.length < 3) frags.push(await guest.next((x) => parseIpv4(x) !== null));
    let data = 0;
    for (const f of frags) {
      assert.ok(f.length - 14 <= 1500);
      assert.ok(checksumsHold(f));
      data += parseIpv4(f)?.payload.length ?? 0;
    }
    assert.equal(data, 4008);
    assert.equal((parseIpv4(frags[2])?.flags ?? 0) & 0x2000, 0, 'the last has no MF');
  } finally {
    await net.close();
    await closeSocket(server);
  }
});

test('a UDP forward carries host datagrams into the guest and the guest replies back to each peer', async () => {
  const hostPort = await freeUdpPort();
  const { net, guest } = await rig({ forwards: [{ protocol: 'udp', hostAddress: '127.0.0.1', hostPort, guestPort: 7000 }] });
  const a = createSocket('udp4');
  const b = createSocket('udp4');
  try {
    const got: string[] = [];
    const answers = new Promise<void>((resolve) => {
      const on = (name: string) => (msg: Buffer): void => { got.push(`${name}:${msg.toString()}`); if (got.length === 2) resolve(); };
      a.on('message', on('a'));
      b.on('message', on('b'));
    });
    a.send('from a', hostPort, '127.0.0.1');
    const ia = await guest.nextUdp(7000);
    b.send('from b', hostPort, '127.0.0.1');
    const ib = await guest.nextUdp(7000);
    assert.equal(ia.src, GATEWAY);
    assert.equal(ia.dst, GUEST);
    assert.equal(text(ia.data), 'from a');
    assert.notEqual(ia.srcPort, ib.srcPort, 'each peer is its own gateway port');
    guest.send(udpFrame(GUEST, 7000, GATEWAY, ib.srcPort, bytes('to b')));
    guest.send(udpFrame(GUEST, 7000, GATEWAY, ia.srcPort, bytes('to a')));
    await answers;
    assert.deepEqual(got.sort(), ['a:to a', 'b:to b']);
  } finally {
    await net.close();
    await Promise.all([closeSocket(a), closeSocket(b)]);
  }
});

test('a UDP forward to a port in use fails with one line naming it', async () => {
  const taken = createSocket('udp4');
  await new Promise<void>((r) => taken.bind(0, '127.0.0.1', r));
  const port = taken.address().port;
  try {
    await assert.rejects(
      UserNet.create({ ...defaultUserNetConfig(), forwards: [{ protocol: 'udp', hostAddress: '127.0.0.1', hostPort: port, guestPort: 53 }] }),
      (e: unknown) => e instanceof BonsaiError && e.message === `--forward udp:127.0.0.1:${port}-:53: address in use`,
    );
  } finally {
    await closeSocket(taken);
  }
});

test('restrict mode drops UDP to outside addresses and the host, but DHCP and DNS still work', async () => {
  const server = await echoServer();
  const { net, guest } = await rig({ restrict: true });
  try {
    guest.send(udpFrame(GUEST, 5000, 0xc0000201, 9999, bytes('out')));
    guest.send(udpFrame(GUEST, 5000, GATEWAY, server.port, bytes('host')));
    assert.equal(net.stats()['drop-udp-restricted'], 2);
    guest.send(dhcpFrame({ type: 1 }));
    assert.equal(readIp((await guest.nextUdp(68)).data, 16), GUEST);
    guest.send(udpFrame(GUEST, 40001, DNS, 53, dnsQuery(7, 'localhost')));
    const r = await guest.nextUdp(40001);
    assert.deepEqual([...r.data.subarray(r.data.length - 4)], [127, 0, 0, 1]);
    await sleep(20);
    assert.equal(server.seen.length, 0);
    assert.equal(net.stats()['udp-flows-opened'], undefined);
  } finally {
    await net.close();
    await closeSocket(server.socket);
  }
});

test('an idle UDP flow is closed after the timeout and its host port no longer reaches the guest', async () => {
  const server = await echoServer();
  const { net, guest } = await rig({}, { udpIdleMs: 60 });
  try {
    guest.send(udpFrame(GUEST, 5002, GATEWAY, server.port, bytes('x')));
    await guest.nextUdp(5002);
    const flowPort = server.seen[0].port;
    await sleep(200);
    assert.equal(net.stats()['udp-flows-expired'], 1);
    server.socket.send('late', flowPort, '127.0.0.1');
    await sleep(30);
    assert.equal(guest.received.length, 0);
  } finally {
    await net.close();
    await closeSocket(server.socket);
  }
});

test('bad IPv4 headers, fragments and UDP with a bad checksum or length are dropped and counted', async () => {
  const { net, guest } = await rig();
  try {
    const good = buildIpv4(GUEST, GATEWAY, IPPROTO_ICMP, new Uint8Array(8));
    const variant = (edit: (p: Uint8Array) => void, fixChecksum = true): Uint8Array => {
      const p = good.slice();
      edit(p);
      if (fixChecksum) {
        p[10] = 0; p[11] = 0;
        let s = 0;
        for (let i = 0; i < 20; i += 2) s += (p[i] << 8) | p[i + 1];
        while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
        const c = ~s & 0xffff;
        p[10] = c >>> 8; p[11] = c & 0xff;
      }
      return ipFrame(p);
    };
    guest.send(variant((p) => { p[0] = 0x65; }));
    guest.send(variant((p) => { p[0] = 0x44; }));
    guest.send(variant((p) => { p[3] = 0xff; }));
    guest.send(variant((p) => { p[3] = 10; }));
    guest.send(variant((p) => { p[12] ^= 1; }, false));
    guest.send(variant((p) => { p[6] = 0x20; }));
    guest.send(variant((p) => { p[7] = 0x08; }));
    guest.send(variant((p) => { p[9] = 99; }));
    guest.send(ipFrame(good.subarray(0, 12)));
    const udp = buildIpv4(GUEST, 0x0a000299, 17, Uint8Array.of(0, 1, 0, 2, 0, 9, 0, 0, 1));
    const badSum = udp.slice(); badSum[26] = 0x12; badSum[27] = 0x34;
    guest.send(ipFrame(badSum));
    const badLen = udp.slice(); badLen[25] = 50;
    guest.send(ipFrame(badLen));
    const s = net.stats();
    assert.equal(s['drop-ipv4-version'], 1);
    assert.equal(s['drop-ipv4-header-length'], 1);
    assert.equal(s['drop-ipv4-length'], 2);
    assert.equal(s['drop-ipv4-bad-checksum'], 1);
    assert.equal(s['drop-ipv4-fragment'], 2);
    assert.equal(s['drop-ipv4-protocol'], 1);
    assert.equal(s['drop-ipv4-short'], 1);
    assert.equal(s['drop-udp-bad-checksum'], 1);
    assert.equal(s['drop-udp-bad-length'], 1);
    assert.equal(s['frames-out'], 0);
  } finally {
    await net.close();
  }
});

test('IPv4 options are skipped and ethernet padding after the packet is ignored', async () => {
  const { net, guest } = await rig();
  try {
    const plain = icmpEcho(GUEST, GATEWAY, 5, 6, bytes('opt')).subarray(14);
    // Rebuild with a 4-byte NOP option block (IHL 6) and 10 bytes of padding after.
    const p = new Uint8Array(plain.length + 4 + 10);
    p.set(plain.subarray(0, 20));
    p.set([1, 1, 1, 0], 20);
    p.set(plain.subarray(20), 24);
    p[0] = 0x46;
    const total = plain.length + 4;
    p[2] = total >>> 8; p[3] = total & 0xff;
    p[10] = 0; p[11] = 0;
    let s = 0;
    for (let i = 0; i < 24; i += 2) s += (p[i] << 8) | p[i + 1];
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    p[10] = (~s >>> 8) & 0xff; p[11] = ~s & 0xff;
    guest.send(ipFrame(p));
    const f = await guest.next((x) => parseIpv4(x)?.protocol === IPPROTO_ICMP);
    assert.equal(text(parseIpv4(f)?.payload.subarray(8) ?? new Uint8Array()), 'opt');
  } finally {
    await net.close();
  }
});

test('frames for the guest are dropped while no NIC is attached', async () => {
  const net = await UserNet.create(defaultUserNetConfig());
  try {
    net.send(icmpEcho(GUEST, GATEWAY, 1, 1, bytes('x')));
    assert.equal(net.stats()['drop-no-nic'], 1);
    assert.equal(net.stats()['frames-out'], 0);
  } finally {
    await net.close();
  }
});
