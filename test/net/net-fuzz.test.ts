import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { checksum, transportChecksum } from '../../src/net/checksum.js';
import { buildIpv4, IPPROTO_TCP, IPPROTO_UDP } from '../../src/net/ipv4.js';
import { defaultUserNetConfig } from '../../src/net/user/context.js';
import type { HostLookup } from '../../src/net/user/dns.js';
import { GATEWAY_MAC, UserNet } from '../../src/net/user/stack.js';
import {
  arpRequest, bytes, checksumsHold, dhcpFrame, dnsQuery, DNS, ethernet, frameType, GATEWAY, Guest, GUEST, GUEST_MAC,
  icmpEcho, ipFrame, sleep, udpFrame,
} from './frames.js';
import { prng } from '../helpers.js';


const lookup: HostLookup = async (name, family) => {
  if (name === 'known' && family === 4) return ['192.0.2.1'];
  throw Object.assign(new Error('no'), { code: 'ENOTFOUND' });
};

/** Frames a guest might send, valid to begin with; the fuzzer breaks them. */
function seeds(): Uint8Array[] {
  const tcp = new Uint8Array(20);
  tcp[0] = 0x9c; tcp[1] = 0x40; tcp[3] = 22; tcp[12] = 0x50; tcp[13] = 0x02; // SYN to :22
  return [
    arpRequest(GUEST, GATEWAY),
    arpRequest(GUEST, 0x0a000263),
    icmpEcho(GUEST, GATEWAY, 1, 2, bytes('ping payload')),
    icmpEcho(GUEST, 0x08080808, 1, 2, bytes('outside')),
    dhcpFrame({ type: 1, hostname: 'fuzz' }),
    dhcpFrame({ type: 3, requested: GUEST, serverId: GATEWAY }),
    dhcpFrame({ type: 3, ciaddr: GUEST }),
    dhcpFrame({ type: 7, ciaddr: GUEST, serverId: GATEWAY }),
    dhcpFrame({ type: 8, ciaddr: GUEST }),
    dhcpFrame({ type: null }),
    udpFrame(GUEST, 40000, DNS, 53, dnsQuery(1, 'known')),
    udpFrame(GUEST, 40000, DNS, 53, dnsQuery(2, 'fuzz', 28)),
    udpFrame(GUEST, 40000, DNS, 53, dnsQuery(3, 'example.test', 15)),
    udpFrame(GUEST, 5000, GATEWAY, 7, bytes('to the host')),
    udpFrame(GUEST, 5000, 0xc0000201, 7, bytes('to the outside')),
    ipFrame(buildIpv4(GUEST, GATEWAY, IPPROTO_TCP, tcp)),
    ethernet(0x86dd, new Uint8Array(60)),
  ];
}

/** Recomputes the IPv4 header checksum (and the UDP one) so a mutation gets past the first check. */
function fixChecksums(f: Uint8Array, udpToo: boolean): void {
  if (f.length < 34 || frameType(f) !== 0x0800) return;
  const p = f.subarray(14);
  const ihl = (p[0] & 15) * 4;
  if (ihl < 20 || ihl > p.length) return;
  p[10] = 0; p[11] = 0;
  const c = checksum(p, 0, ihl);
  p[10] = c >>> 8; p[11] = c & 0xff;
  const total = Math.min((p[2] << 8) | p[3], p.length);
  if (!udpToo || p[9] !== IPPROTO_UDP || total < ihl + 8) return;
  const seg = p.subarray(ihl, total);
  seg[6] = 0; seg[7] = 0;
  const src = ((p[12] << 24) | (p[13] << 16) | (p[14] << 8) | p[15]) >>> 0;
  const dst = ((p[16] << 24) | (p[17] << 16) | (p[18] << 8) | p[19]) >>> 0;
  const u = transportChecksum(src, dst, IPPROTO_UDP, seg);
  seg[6] = u >>> 8; seg[7] = u & 0xff;
}

function mutate(rand: () => number, seed: Uint8Array): Uint8Array {
  const int = (n: number): number => Math.floor(rand() * n);
  let f = seed.slice();
  const edits = 1 + int(3);
  for (let e = 0; e < edits; e++) {
    switch (int(8)) {
      case 0: f = f.slice(0, int(f.length + 1)); break; // truncation
      case 1: for (let i = int(6); i >= 0 && f.length > 0; i--) f[int(f.length)] ^= 1 << int(8); break;
      case 2: if (f.length > 0) f[int(f.length)] = int(256); break;
      case 3: if (f.length > 17) { f[16] = 0xff; f[17] = int(256); } break; // absurd IPv4 total length
      case 4: if (f.length > 14) f[14] = 0x40 | int(16); break; // any IHL
      case 5: if (f.length > 39) { f[38] = int(256); f[39] = int(256); } break; // UDP length
      case 6: if (f.length > 21) { f[20] = int(256); f[21] = int(256); } break; // fragment flags and offset
      case 7: { // grow with junk
        const g = new Uint8Array(f.length + int(64));
        g.set(f);
        for (let i = f.length; i < g.length; i++) g[i] = int(256);
        f = g;
        break;
      }
    }
  }
  if (rand() < 0.7) fixChecksums(f, rand() < 0.7);
  return f;
}

function randomFrame(rand: () => number): Uint8Array {
  const int = (n: number): number => Math.floor(rand() * n);
  const f = new Uint8Array(int(rand() < 0.9 ? 200 : 1600));
  for (let i = 0; i < f.length; i++) f[i] = int(256);
  if (f.length >= 14 && rand() < 0.6) {
    f[12] = 0x08; f[13] = rand() < 0.7 ? 0x00 : 0x06;
    if (f.length >= 34 && rand() < 0.6) {
      f[14] = 0x45; f[20] = 0; f[21] = 0;
      const total = f.length - 14 - int(4);
      f[16] = total >>> 8; f[17] = total & 0xff;
      f[23] = [1, 17, 6][int(3)];
      fixChecksums(f, rand() < 0.7);
    }
  }
  return f;
}

function total(s: Record<string, number>): number {
  let n = 0;
  for (const [k, v] of Object.entries(s)) if (k !== 'frames-in' && k !== 'frames-out') n += v;
  return n;
}

test('tens of thousands of random and broken frames never throw, and each is counted', async () => {
  const config = { ...defaultUserNetConfig(), restrict: true, hostname: 'fuzz' };
  const net = await UserNet.create(config, () => {}, { ping: async () => false, dnsLookup: lookup, dnsForward: async () => null });
  const guest = new Guest(net);
  const rand = prng(0x5eed);
  const valid = seeds();
  const N = 30000;
  try {
    for (let i = 0; i < N; i++) {
      const f = rand() < 0.25 ? randomFrame(rand) : mutate(rand, valid[Math.floor(rand() * valid.length)]);
      const isTcp = f.length >= 34 && frameType(f) === 0x0800 && f[23] === IPPROTO_TCP;
      const before = total(net.stats());
      const out = guest.received.length;
      net.send(f);
      // Every frame leaves a trace: a counter or a frame for the guest (TCP is tcp.ts's to count).
      if (!isTcp && total(net.stats()) === before && guest.received.length === out) {
        assert.fail(`frame ${i} vanished without a count: ${Buffer.from(f).toString('hex')}`);
      }
      if (i % 200 === 0) await sleep(0); // let DNS answers and pings complete
    }
    await sleep(20);
    const s = net.stats();
    assert.equal(s['frames-in'], N);
    assert.equal(s['drop-internal-error'], undefined);
    for (const [k, v] of Object.entries(s)) assert.ok(Number.isInteger(v) && v >= 0, k);
    for (const reason of ['ipv4-fragment', 'ipv4-bad-checksum', 'ipv4-length', 'ipv4-header-length', 'udp-bad-checksum',
      'udp-bad-length', 'dhcp-bad-options', 'dns-malformed', 'arp-short', 'ethertype', 'ipv6', 'udp-restricted', 'icmp-restricted']) {
      assert.ok((s[`drop-${reason}`] ?? 0) > 0, `drop-${reason} was exercised`);
    }
    assert.equal(s['frames-out'], guest.received.length);
    for (const f of guest.received) {
      assert.deepEqual(f.subarray(0, 6), GUEST_MAC);
      assert.deepEqual(f.subarray(6, 12), GATEWAY_MAC);
      assert.ok(f.length >= 60);
      if (frameType(f) === 0x0800) assert.ok(checksumsHold(f), 'answers carry good checksums');
    }
  } finally {
    await net.close();
  }
});

test('every packet with MF or a fragment offset is dropped as a fragment', async () => {
  const net = await UserNet.create({ ...defaultUserNetConfig(), restrict: true }, () => {}, { dnsLookup: lookup });
  const guest = new Guest(net);
  const rand = prng(42);
  const valid = seeds().filter((f) => frameType(f) === 0x0800);
  try {
    for (let i = 0; i < 2000; i++) {
      const f = valid[i % valid.length].slice();
      const frag = 1 + Math.floor(rand() * 0x3fff); // MF and/or offset, never zero
      f[20] = (f[20] & 0x80) | (frag >>> 8); f[21] = frag & 0xff;
      fixChecksums(f, false);
      net.send(f);
    }
    assert.equal(net.stats()['drop-ipv4-fragment'], 2000);
    assert.equal(guest.received.length, 0);
  } finally {
    await net.close();
  }
});

test('thousands of guest source ports keep at most 512 flows open, evicting the oldest', async () => {
  const sink = createSocket('udp4');
  let received = 0;
  sink.on('message', () => { received++; });
  await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
  const net = await UserNet.create(defaultUserNetConfig());
  new Guest(net);
  try {
    for (let i = 0; i < 1500; i++) {
      net.send(udpFrame(GUEST, 10000 + i, GATEWAY, sink.address().port, bytes('x')));
      if (i % 100 === 0) await sleep(0);
    }
    await sleep(50);
    const s = net.stats();
    assert.equal(s['udp-flows-opened'], 1500);
    assert.equal(s['udp-flows-evicted'], 1500 - 512);
    assert.ok(received > 0);
  } finally {
    await net.close();
    await new Promise<void>((r) => sink.close(() => r()));
  }
});
