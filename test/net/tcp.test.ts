import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { TcpNat, type TcpNatOptions } from '../../src/net/user/tcp.js';
import { defaultUserNetConfig, type UserNetConfig, type UserNetContext } from '../../src/net/user/context.js';
import { checksum, transportChecksum } from '../../src/net/checksum.js';
import { BonsaiError } from '../../src/errors.js';
import { freePort, prng } from '../helpers.js';

const GUEST = 0x0a00020f;
const GATEWAY = 0x0a000202;
const DNS = 0x0a000203;
const FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;
/** MSS 1460, NOP, window scale 7: what a Linux guest offers. */
const LINUX_SYN_OPTIONS = [2, 4, 0x05, 0xb4, 1, 3, 3, 7];

// ---- The fake guest: packets the NAT sends, parsed and checked here ----

interface Packet {
  src: number; dst: number;
  srcPort: number; dstPort: number;
  seq: number; ack: number; flags: number; window: number;
  mss: number | null; wscale: number | null;
  data: Uint8Array;
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

/** Parses an IPv4/TCP packet from the NAT, checking both checksums and every length. */
function parsePacket(p: Uint8Array): Packet {
  assert.equal(p[0], 0x45, 'IPv4 without options');
  assert.equal((p[2] << 8) | p[3], p.length, 'IP total length');
  assert.ok(p.length <= 1500, `packet of ${p.length} bytes exceeds the MTU`);
  assert.equal(p[9], 6, 'protocol TCP');
  assert.equal(checksum(p, 0, 20), 0, 'IP header checksum');
  const src = u32(p, 12), dst = u32(p, 16);
  const t = p.subarray(20);
  assert.equal(transportChecksum(src, dst, 6, t), 0, 'TCP checksum');
  const hlen = (t[12] >>> 4) * 4;
  assert.ok(hlen >= 20 && hlen <= t.length, 'TCP data offset');
  let mss: number | null = null, wscale: number | null = null;
  for (let o = 20; o < hlen;) {
    if (t[o] === 0) break;
    if (t[o] === 1) { o++; continue; }
    if (t[o] === 2) mss = (t[o + 2] << 8) | t[o + 3];
    if (t[o] === 3) wscale = t[o + 2];
    o += t[o + 1];
  }
  return {
    src, dst, srcPort: (t[0] << 8) | t[1], dstPort: (t[2] << 8) | t[3],
    seq: u32(t, 4), ack: u32(t, 8), flags: t[13] & 0x3f, window: (t[14] << 8) | t[15],
    mss, wscale, data: t.slice(hlen),
  };
}

class FakeNet implements UserNetContext {
  readonly config: UserNetConfig;
  packets: Packet[] = [];
  readonly drops = new Map<string, number>();
  readonly counters = new Map<string, number>();
  readonly logs: string[] = [];

  constructor(config: Partial<UserNetConfig> = {}) {
    this.config = { ...defaultUserNetConfig(), ...config };
  }

  sendIp(packet: Uint8Array): void { this.packets.push(parsePacket(packet)); }
  rxRoom(): number { return Infinity; }
  drop(reason: string): void { this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1); }
  count(name: string, n = 1): void { this.counters.set(name, (this.counters.get(name) ?? 0) + n); }
  log(line: string): void { this.logs.push(line); }

  /** Takes every packet received so far. */
  take(): Packet[] {
    const p = this.packets;
    this.packets = [];
    return p;
  }

  /** Waits for the first packet matching `pred`, and removes it (and nothing else). */
  async next(pred: (p: Packet) => boolean, what = 'a packet', ms = 2000): Promise<Packet> {
    return until(() => {
      const i = this.packets.findIndex(pred);
      return i < 0 ? undefined : this.packets.splice(i, 1)[0];
    }, what, ms);
  }
}

/** Waits for `f` to hold; the limit only guards against a hang (a loaded CI host is slow, not stuck). */
async function until<T>(f: () => T | undefined | null | false, what: string, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(2);
  }
}

interface SegmentFields {
  src?: number; dst?: number;
  sport: number; dport: number;
  seq: number; ack?: number; flags: number; window?: number;
  options?: number[]; data?: Uint8Array;
}

/** A TCP segment as the guest would send it, checksum included. */
function segment(s: SegmentFields): Uint8Array {
  const opts = s.options ?? [];
  const hlen = 20 + Math.ceil(opts.length / 4) * 4;
  const data = s.data ?? new Uint8Array(0);
  const b = new Uint8Array(hlen + data.length);
  b[0] = s.sport >>> 8; b[1] = s.sport & 0xff; b[2] = s.dport >>> 8; b[3] = s.dport & 0xff;
  const w32 = (o: number, v: number): void => { b[o] = v >>> 24; b[o + 1] = (v >>> 16) & 0xff; b[o + 2] = (v >>> 8) & 0xff; b[o + 3] = v & 0xff; };
  w32(4, s.seq >>> 0); w32(8, (s.ack ?? 0) >>> 0);
  b[12] = (hlen / 4) << 4; b[13] = s.flags;
  const w = s.window ?? 0xffff;
  b[14] = w >>> 8; b[15] = w & 0xff;
  b.set(opts, 20);
  b.set(data, hlen);
  const c = transportChecksum(s.src ?? GUEST, s.dst ?? GATEWAY, 6, b);
  b[16] = c >>> 8; b[17] = c & 0xff;
  return b;
}

function text(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

// ---- The host side: a real server on 127.0.0.1 ----

class HostSock {
  chunks: Buffer[] = [];
  ended = false;
  closed = false;
  error: Error | null = null;
  constructor(readonly sock: Socket) {
    sock.on('data', (c: Buffer) => this.chunks.push(c));
    sock.on('end', () => { this.ended = true; });
    sock.on('close', () => { this.closed = true; });
    sock.on('error', (e) => { this.error = e; });
  }
  bytes(): Buffer { return Buffer.concat(this.chunks); }
  text(): string { return this.bytes().toString(); }
}

class HostServer {
  private constructor(readonly server: Server, readonly port: number, readonly accepted: HostSock[]) {}

  static async start(): Promise<HostServer> {
    const accepted: HostSock[] = [];
    const server = createServer({ allowHalfOpen: true }, (s) => accepted.push(new HostSock(s)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new HostServer(server, (server.address() as AddressInfo).port, accepted);
  }

  nth(i: number): Promise<HostSock> {
    return until(() => this.accepted[i], `host connection ${i}`);
  }

  async close(): Promise<void> {
    for (const s of this.accepted) s.sock.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}


/** The guest's end of one connection: its next sequence number and what it expects next. */
interface Flow {
  sport: number;
  dport: number;
  dst: number;
  /** The guest's SND.NXT. */
  seq: number;
  /** The guest's RCV.NXT: the NAT's next sequence number. */
  ack: number;
}

function send(nat: TcpNat, f: Flow, flags: number, data?: Uint8Array, window = 0xffff): void {
  nat.input(GUEST, f.dst, segment({ dst: f.dst, sport: f.sport, dport: f.dport, seq: f.seq, ack: f.ack, flags, window, data }));
  f.seq = (f.seq + (data?.length ?? 0) + (flags & (SYN | FIN) ? 1 : 0)) >>> 0;
}

/** The three-way handshake from the guest to the host server, through the gateway. */
async function establish(net: FakeNet, nat: TcpNat, host: HostServer, sport: number, window = 0xffff,
  options = LINUX_SYN_OPTIONS): Promise<{ flow: Flow; synAck: Packet; sock: HostSock }> {
  const before = host.accepted.length;
  nat.input(GUEST, GATEWAY, segment({ sport, dport: host.port, seq: 1000, flags: SYN, options }));
  const synAck = await net.next((p) => (p.flags & SYN) !== 0 && p.dstPort === sport, 'the SYN-ACK');
  const flow: Flow = { sport, dport: host.port, dst: GATEWAY, seq: 1001, ack: (synAck.seq + 1) >>> 0 };
  send(nat, flow, ACK, undefined, window);
  const sock = await host.nth(before);
  return { flow, synAck, sock };
}

/** Runs `body` with a fake guest, a NAT and a host server, and closes them all whatever happens. */
async function withNat(opts: TcpNatOptions, config: Partial<UserNetConfig>,
  body: (net: FakeNet, nat: TcpNat, host: HostServer) => Promise<void>): Promise<void> {
  const net = new FakeNet(config);
  const nat = new TcpNat(net, opts);
  const host = await HostServer.start();
  try {
    await body(net, nat, host);
    assert.equal(net.counters.get('tcp-internal-errors'), undefined, net.logs.join('\n'));
  } finally {
    await nat.close();
    await host.close();
  }
}


// ---- Tests ----

test('a guest connection to the gateway reaches the host loopback: handshake, data both ways, FIN both ways', async () => {
  await withNat({ timeWaitMs: 30 }, {}, async (net, nat, host) => {
    const { flow, synAck, sock } = await establish(net, nat, host, 40000);
    assert.equal(synAck.flags, SYN | ACK);
    assert.equal(synAck.src, GATEWAY);
    assert.equal(synAck.dst, GUEST);
    assert.equal(synAck.srcPort, host.port);
    assert.equal(synAck.ack, 1001);
    assert.equal(synAck.mss, 1460);
    assert.equal(synAck.wscale, 7);
    assert.equal(net.counters.get('tcp-connections'), 1);

    send(nat, flow, ACK | PSH, text('hello'));
    await until(() => sock.text() === 'hello', 'the host to read hello');
    const ackOfHello = await net.next((p) => p.ack === 1006, 'the ACK of hello');
    assert.equal(ackOfHello.flags, ACK);
    assert.equal(ackOfHello.data.length, 0);
    assert.ok(ackOfHello.window * 128 >= 200 * 1024, 'the scaled window is the receive limit');

    sock.sock.write('world');
    const world = await net.next((p) => p.data.length > 0, 'the host data');
    assert.equal(Buffer.from(world.data).toString(), 'world');
    assert.equal(world.seq, flow.ack);
    assert.equal(world.flags, ACK | PSH);
    assert.equal(world.ack, 1006);
    flow.ack = (flow.ack + 5) >>> 0;
    send(nat, flow, ACK);

    sock.sock.end();
    const fin = await net.next((p) => (p.flags & FIN) !== 0, 'the FIN');
    assert.equal(fin.seq, flow.ack);
    flow.ack = (flow.ack + 1) >>> 0;
    send(nat, flow, ACK);
    assert.equal(nat.connections()[0].state, 'fin-wait-2');
    send(nat, flow, FIN | ACK);
    await until(() => sock.ended, 'the host to see the guest FIN');
    const finAck = await net.next((p) => p.ack === flow.seq, 'the ACK of the guest FIN');
    assert.equal(finAck.flags, ACK);
    await until(() => nat.connections().length === 0, 'the connection to be forgotten');
    assert.deepEqual([...net.drops], []);
  });
});

test('the guest closing first half-closes the host socket, which can still answer', async () => {
  await withNat({}, {}, async (net, nat, host) => {
    const { flow, sock } = await establish(net, nat, host, 40001);
    send(nat, flow, ACK | PSH, text('request'));
    send(nat, flow, FIN | ACK);
    await until(() => sock.ended && sock.text() === 'request', 'the request and the end');
    await net.next((p) => p.ack === flow.seq, 'the ACK of the FIN');
    assert.equal(nat.connections()[0].state, 'close-wait');
    sock.sock.end('response');
    const data = await net.next((p) => p.data.length > 0, 'the response');
    assert.equal(Buffer.from(data.data).toString(), 'response');
    // The FIN rides on the data, or follows it.
    const fin = (data.flags & FIN) !== 0 ? data : await net.next((p) => (p.flags & FIN) !== 0, 'the FIN');
    flow.ack = (fin.seq + fin.data.length + 1) >>> 0;
    assert.equal(nat.connections()[0].state, 'last-ack');
    send(nat, flow, ACK);
    await until(() => nat.connections().length === 0, 'the connection to be forgotten');
  });
});

test('a SYN to a port nobody listens on is answered with RST', async () => {
  await withNat({}, {}, async (net, nat) => {
    const port = await freePort();
    nat.input(GUEST, GATEWAY, segment({ sport: 40002, dport: port, seq: 77, flags: SYN, options: LINUX_SYN_OPTIONS }));
    // A retransmitted SYN for the pending connection is not a second connection.
    nat.input(GUEST, GATEWAY, segment({ sport: 40002, dport: port, seq: 77, flags: SYN, options: LINUX_SYN_OPTIONS }));
    const rst = await net.next((p) => (p.flags & RST) !== 0, 'the RST');
    assert.equal(rst.flags, RST | ACK);
    assert.equal(rst.ack, 78);
    assert.equal(rst.dstPort, 40002);
    assert.equal(net.counters.get('tcp-refused'), 1);
    assert.equal(net.counters.get('tcp-connections'), 1);
    assert.equal(nat.connections().length, 0);
  });
});

test('restrict mode resets every guest connection; DNS, the subnet, loopback and multicast are reset too', async () => {
  await withNat({}, { restrict: true }, async (net, nat, host) => {
    nat.input(GUEST, GATEWAY, segment({ sport: 40003, dport: host.port, seq: 5, flags: SYN }));
    const [rst] = net.take();
    assert.equal(rst.flags, RST | ACK);
    assert.equal(rst.ack, 6);
    assert.equal(net.counters.get('tcp-restricted'), 1);
  });
  await withNat({}, {}, async (net, nat) => {
    for (const dst of [DNS, 0x0a000263, 0x7f000001, 0xe0000001, 0xffffffff]) {
      nat.input(GUEST, dst, segment({ dst, sport: 40004, dport: 80, seq: 5, flags: SYN }));
      const got = net.take();
      assert.equal(got.length, 1);
      assert.equal(got[0].flags, RST | ACK);
      assert.equal(got[0].src, dst);
    }
    assert.equal(net.counters.get('tcp-unreachable'), 5);
    assert.equal(nat.connections().length, 0);
  });
});

test('a segment for no connection gets a reset from its ACK number, and a stray RST gets nothing', async () => {
  await withNat({}, {}, async (net, nat) => {
    nat.input(GUEST, GATEWAY, segment({ sport: 40005, dport: 80, seq: 9, ack: 12345, flags: ACK }));
    nat.input(GUEST, GATEWAY, segment({ sport: 40005, dport: 80, seq: 9, flags: PSH, data: text('abc') }));
    nat.input(GUEST, GATEWAY, segment({ sport: 40005, dport: 80, seq: 9, ack: 1, flags: RST | ACK }));
    const [a, b, ...rest] = net.take();
    assert.deepEqual([a.flags, a.seq], [RST, 12345]);
    assert.deepEqual([b.flags, b.seq, b.ack], [RST | ACK, 0, 12]);
    assert.equal(rest.length, 0);
    assert.equal(net.drops.get('tcp-no-connection'), 3);
  });
});

test('bad checksums, short headers, impossible data offsets and broken options are dropped without an answer', async () => {
  await withNat({}, {}, async (net, nat, host) => {
    const good = segment({ sport: 40006, dport: host.port, seq: 1, flags: SYN, options: LINUX_SYN_OPTIONS, data: text('x') });
    const badSum = good.slice();
    badSum[badSum.length - 1] ^= 0x40;
    nat.input(GUEST, GATEWAY, badSum);
    // The checksum covers the pseudo-header: the right bytes to another address are wrong too.
    nat.input(GUEST, 0x0a000204, good);
    nat.input(GUEST, GATEWAY, good.subarray(0, 19));
    const badOffset = segment({ sport: 40006, dport: host.port, seq: 1, flags: SYN });
    badOffset[12] = 6 << 4;
    const fix = (b: Uint8Array): Uint8Array => {
      b[16] = 0; b[17] = 0;
      const c = transportChecksum(GUEST, GATEWAY, 6, b);
      b[16] = c >>> 8; b[17] = c & 0xff;
      return b;
    };
    nat.input(GUEST, GATEWAY, fix(badOffset));
    const tiny = segment({ sport: 40006, dport: host.port, seq: 1, flags: SYN });
    tiny[12] = 4 << 4;
    nat.input(GUEST, GATEWAY, fix(tiny));
    nat.input(GUEST, GATEWAY, segment({ sport: 40006, dport: host.port, seq: 1, flags: SYN, options: [2, 0, 0, 0] }));
    nat.input(GUEST, GATEWAY, segment({ sport: 40006, dport: host.port, seq: 1, flags: SYN, options: [3, 9, 7, 0] }));
    nat.input(GUEST, GATEWAY, segment({ sport: 40006, dport: host.port, seq: 1, flags: SYN | FIN }));
    nat.input(GUEST, GATEWAY, segment({ sport: 40006, dport: 0, seq: 1, flags: SYN }));
    await delay(20);
    assert.equal(net.packets.length, 0);
    assert.equal(nat.connections().length, 0);
    assert.equal(host.accepted.length, 0);
    assert.deepEqual(Object.fromEntries(net.drops), {
      'tcp-bad-checksum': 2, 'tcp-short': 1, 'tcp-bad-offset': 2, 'tcp-bad-option': 2, 'tcp-bad-flags': 1, 'tcp-bad-port': 1,
    });
  });
});

test('segments outside the receive window are dropped, counted and answered with an ACK', async () => {
  await withNat({}, {}, async (net, nat, host) => {
    const { flow, sock } = await establish(net, nat, host, 40007);
    const future: Flow = { ...flow, seq: (flow.seq + 10_000_000) >>> 0 };
    send(nat, future, ACK | PSH, text('far ahead'));
    const old: Flow = { ...flow, seq: (flow.seq - 5000) >>> 0 };
    send(nat, old, ACK | PSH, text('long ago'));
    assert.equal(net.drops.get('tcp-out-of-window'), 2);
    const acks = net.take();
    assert.equal(acks.length, 2);
    for (const a of acks) assert.deepEqual([a.flags, a.ack], [ACK, flow.seq]);
    // An ACK of data never sent is dropped and answered the same way.
    send(nat, { ...flow, ack: (flow.ack + 100) >>> 0 }, ACK | PSH, text('nope'));
    assert.equal(net.drops.get('tcp-bad-ack'), 1);
    assert.equal(net.take()[0].ack, flow.seq);
    send(nat, flow, ACK | PSH, text('in window'));
    await until(() => sock.text() === 'in window', 'only the good data at the host');
  });
});

test('out-of-order segments are duplicate-ACKed, held, and delivered in order once the hole fills', async () => {
  await withNat({}, {}, async (net, nat, host) => {
    const { flow, sock } = await establish(net, nat, host, 40008);
    const start = flow.seq;
    send(nat, { ...flow, seq: (start + 5) >>> 0 }, ACK, text('world'));
    send(nat, { ...flow, seq: (start + 10) >>> 0 }, ACK | FIN, text('!'));
    const dups = net.take();
    assert.equal(dups.length, 2);
    for (const d of dups) assert.equal(d.ack, start);
    send(nat, flow, ACK, text('hello'));
    await until(() => sock.text() === 'helloworld!' && sock.ended, 'the bytes in order and the FIN');
    await net.next((p) => p.ack === ((start + 12) >>> 0), 'one ACK covering all and the FIN');
  });
});

test('a forward connects a host port to the guest: SYN from the gateway, SYN-ACK, data both ways, FIN', async () => {
  const port = await freePort();
  await withNat({}, { forwards: [{ protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: port, guestPort: 22 }] }, async (net, nat) => {
    await nat.listen();
    const client = new HostSock(connect({ host: '127.0.0.1', port, allowHalfOpen: true }));
    // Written before the guest has answered: the NAT holds it until the handshake is done.
    client.sock.write('early');
    const syn = await net.next((p) => (p.flags & SYN) !== 0, 'the SYN to the guest');
    assert.equal(syn.flags, SYN);
    assert.deepEqual([syn.src, syn.dst, syn.dstPort], [GATEWAY, GUEST, 22]);
    assert.ok(syn.srcPort >= 49152, 'an ephemeral gateway port');
    assert.equal(syn.mss, 1460);
    assert.equal(syn.wscale, 7);
    await delay(20);
    assert.equal(net.packets.length, 0, 'no data before the handshake');

    const flow: Flow = { sport: 22, dport: syn.srcPort, dst: GATEWAY, seq: 5000, ack: (syn.seq + 1) >>> 0 };
    nat.input(GUEST, GATEWAY, segment({ sport: 22, dport: syn.srcPort, seq: 5000, ack: flow.ack, flags: SYN | ACK, options: LINUX_SYN_OPTIONS }));
    flow.seq = 5001;
    const ack = await net.next((p) => p.ack === 5001 && p.data.length === 0, 'the ACK of the SYN-ACK');
    assert.equal(ack.flags, ACK);
    const early = await net.next((p) => p.data.length > 0, 'the early data');
    assert.equal(Buffer.from(early.data).toString(), 'early');
    flow.ack = (flow.ack + 5) >>> 0;
    send(nat, flow, ACK | PSH, text('SSH-2.0-guest\r\n'));
    await until(() => client.text() === 'SSH-2.0-guest\r\n', 'the banner at the host client');

    // A second connection gets a different gateway port.
    const other = connect({ host: '127.0.0.1', port });
    other.on('error', () => {});
    const syn2 = await net.next((p) => (p.flags & SYN) !== 0, 'the second SYN');
    assert.notEqual(syn2.srcPort, syn.srcPort);
    other.destroy();

    send(nat, flow, FIN | ACK);
    await until(() => client.ended, 'the guest FIN at the client');
    client.sock.end();
    const fin = await net.next((p) => (p.flags & FIN) !== 0 && p.dstPort === 22 && p.srcPort === syn.srcPort, 'the FIN to the guest');
    flow.ack = (fin.seq + 1) >>> 0;
    send(nat, flow, ACK);
    await until(() => client.closed, 'the client to close');
    assert.equal(net.counters.get('tcp-forward-connections'), 2);
  });
});

test('a forward closes the host connection when the guest refuses it or never answers', async () => {
  const port = await freePort();
  await withNat({ synTimeoutMs: 300, initialRtoMs: 50 },
    { forwards: [{ protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: port, guestPort: 8080 }] }, async (net, nat) => {
      await nat.listen();
      const refused = new HostSock(connect({ host: '127.0.0.1', port }));
      const syn = await net.next((p) => (p.flags & SYN) !== 0, 'the SYN');
      nat.input(GUEST, GATEWAY, segment({ sport: 8080, dport: syn.srcPort, seq: 0, ack: (syn.seq + 1) >>> 0, flags: RST | ACK, window: 0 }));
      await until(() => refused.closed, 'the refused client to close');
      assert.equal(net.counters.get('tcp-forward-refused'), 1);

      const ignored = new HostSock(connect({ host: '127.0.0.1', port }));
      const first = await net.next((p) => (p.flags & SYN) !== 0, 'the SYN');
      const again = await net.next((p) => (p.flags & SYN) !== 0 && p.srcPort === first.srcPort, 'a retransmitted SYN');
      assert.equal(again.seq, first.seq);
      await until(() => ignored.closed, 'the ignored client to close');
      assert.equal(net.counters.get('tcp-forward-timeouts'), 1);
      assert.equal(nat.connections().length, 0);
    });
});

test('a forward on a port already in use fails with one line that names the forward', async () => {
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const port = (busy.address() as AddressInfo).port;
  try {
    const net = new FakeNet({ forwards: [{ protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: port, guestPort: 80 }] });
    const nat = new TcpNat(net);
    await assert.rejects(nat.listen(), (e: unknown) =>
      e instanceof BonsaiError && e.message === `--forward tcp:127.0.0.1:${port}-:80: address in use`);
    await nat.close();
  } finally {
    await new Promise<void>((resolve) => busy.close(() => resolve()));
  }
});

test('a guest that stops acknowledging pauses the host socket, and 8 MB still arrive intact and in order', async () => {
  const bound = 256 * 1024;
  // The retransmission timer out of the way: on a loaded host the pause below can outlast a 200 ms RTO,
  // and a resend then is right but not what this test is about (it once failed CI so).
  await withNat({ sendBuffer: bound, initialRtoMs: 60_000, minRtoMs: 60_000 }, {}, async (net, nat, host) => {
    const { flow, sock } = await establish(net, nat, host, 40010);
    const payload = randomBytes(8 * 1024 * 1024);
    sock.sock.write(payload);
    // One read from the socket may land after the bound is reached.
    const limit = bound + 64 * 1024;
    await until(() => nat.connections()[0].hostPaused, 'the host socket to be paused');
    await delay(50);
    const [info] = nat.connections();
    assert.ok(info.hostPaused);
    assert.ok(info.sendQueued <= limit, `${info.sendQueued} bytes queued`);
    const unacked = net.take();
    const sent = unacked.reduce((n, p) => n + p.data.length, 0);
    assert.ok(sent > 0 && sent <= info.sendQueued, `${sent} bytes sent unacknowledged`);

    // Now the guest acknowledges what arrives in order; everything must come through.
    const received: Uint8Array[] = [];
    let got = 0;
    const take = (packets: Packet[]): void => {
      for (const p of packets) {
        if (p.data.length === 0 || p.seq !== flow.ack) continue;
        received.push(p.data);
        got += p.data.length;
        flow.ack = (flow.ack + p.data.length) >>> 0;
      }
    };
    take(unacked);
    let maxQueued = 0;
    // Gives up when nothing new arrived for 10 s (a stall), however slow a loaded host is otherwise.
    let progressAt = Date.now();
    while (got < payload.length && Date.now() - progressAt < 10_000) {
      send(nat, flow, ACK);
      await new Promise((resolve) => setImmediate(resolve));
      const before = got;
      take(net.take());
      if (got > before) progressAt = Date.now();
      const c = nat.connections()[0];
      maxQueued = Math.max(maxQueued, c.sendQueued);
    }
    assert.equal(got, payload.length);
    assert.ok(maxQueued <= limit, `${maxQueued} bytes queued at most`);
    assert.ok(Buffer.concat(received).equals(payload), 'the bytes arrive intact and in order');
    assert.equal(net.counters.get('tcp-retransmits'), undefined);
  });
});

test('a lost segment is resent when the retransmission timer fires', async () => {
  await withNat({ initialRtoMs: 40, minRtoMs: 40 }, {}, async (net, nat, host) => {
    const { flow, sock } = await establish(net, nat, host, 40011);
    const payload = randomBytes(4000);
    sock.sock.write(payload);
    const first = await until(() => {
      const n = net.packets.reduce((s, p) => s + p.data.length, 0);
      return n >= 4000 ? net.take().filter((p) => p.data.length > 0) : undefined;
    }, 'the three segments');
    assert.deepEqual(first.slice(0, 3).map((p) => p.data.length), [1460, 1460, 1080]);
    // All three lost: the first comes again after the RTO, alone.
    const again = first[3] ?? await net.next((p) => p.data.length > 0, 'the retransmission');
    assert.ok(first.length <= 4);
    assert.equal(again.seq, flow.ack);
    assert.ok(Buffer.from(again.data).equals(payload.subarray(0, 1460)));
    assert.ok((net.counters.get('tcp-retransmits') ?? 0) >= 1);
    // Acknowledging it brings the rest, again from the queue ("go back N").
    flow.ack = (flow.ack + 1460) >>> 0;
    send(nat, flow, ACK);
    const rest = await until(() => {
      const d = net.packets.filter((p) => p.data.length > 0 && ((p.seq - flow.ack) | 0) >= 0);
      return d.reduce((s, p) => s + p.data.length, 0) >= 2540 ? d : undefined;
    }, 'the rest');
    const seen = Buffer.concat([again.data, ...rest.sort((a, b) => (a.seq - b.seq) | 0).slice(0, 2).map((p) => p.data)]);
    assert.ok(seen.subarray(0, 4000).equals(payload));
  });
});

test('a guest that never acknowledges is given up on: RST to the guest, reset to the host', async () => {
  await withNat({ initialRtoMs: 5, minRtoMs: 5, maxRtoMs: 20, maxRetries: 3 }, {}, async (net, nat, host) => {
    const { flow, sock } = await establish(net, nat, host, 40019);
    sock.sock.write('anyone there?');
    const rst = await net.next((p) => (p.flags & RST) !== 0, 'the RST');
    assert.equal(rst.seq, (flow.ack + 13) >>> 0);
    const resent = net.take().filter((p) => p.data.length > 0);
    assert.equal(resent.length, 4, 'the first transmission and three retries');
    await until(() => sock.closed, 'the host socket to close');
    assert.equal((sock.error as NodeJS.ErrnoException | null)?.code, 'ECONNRESET');
    assert.equal(net.counters.get('tcp-timeouts'), 1);
    assert.equal(nat.connections().length, 0);
  });
});

test('three duplicate ACKs resend the missing segment at once', async () => {
  await withNat({ initialRtoMs: 5000, minRtoMs: 5000 }, {}, async (net, nat, host) => {
    const { flow, sock } = await establish(net, nat, host, 40012);
    sock.sock.write(randomBytes(4 * 1460));
    const segs = await until(() => {
      const d = net.packets.filter((p) => p.data.length > 0);
      return d.length === 4 ? d : undefined;
    }, 'four segments');
    net.take();
    // The guest got the 1st, 3rd and 4th: one new ACK, then a duplicate for each later one, and a third.
    flow.ack = (segs[0].seq + 1460) >>> 0;
    send(nat, flow, ACK);
    send(nat, flow, ACK);
    send(nat, flow, ACK);
    assert.equal(net.packets.filter((p) => p.data.length > 0).length, 0);
    send(nat, flow, ACK);
    const resent = net.packets.filter((p) => p.data.length > 0);
    assert.equal(resent.length, 1);
    assert.equal(resent[0].seq, segs[1].seq);
    assert.ok(Buffer.from(resent[0].data).equals(Buffer.from(segs[1].data)));
    assert.equal(net.counters.get('tcp-fast-retransmits'), 1);
  });
});

test('a zero window holds data back, is probed, and the data flows once it opens', async () => {
  await withNat({ initialRtoMs: 20, minRtoMs: 20 }, {}, async (net, nat, host) => {
    const { flow, sock } = await establish(net, nat, host, 40013, 0);
    sock.sock.write('waiting for room');
    const probe = await net.next((p) => p.seq === ((flow.ack - 1) >>> 0), 'a window probe');
    assert.equal(probe.data.length, 0);
    assert.equal(probe.flags, ACK);
    assert.equal(net.packets.filter((p) => p.data.length > 0).length, 0);
    // The guest answers the probe with its window, still zero, then opens it.
    send(nat, flow, ACK, undefined, 0);
    send(nat, flow, ACK, undefined, 100);
    const data = await net.next((p) => p.data.length > 0, 'the data');
    assert.equal(Buffer.from(data.data).toString(), 'waiting for room');
    assert.ok((net.counters.get('tcp-window-probes') ?? 0) >= 1);
  });
});

test('the connection table is bounded: SYNs beyond it are reset and counted', async () => {
  await withNat({ maxConnections: 2 }, {}, async (net, nat, host) => {
    for (const sport of [41000, 41001, 41002]) {
      nat.input(GUEST, GATEWAY, segment({ sport, dport: host.port, seq: 1, flags: SYN, options: LINUX_SYN_OPTIONS }));
    }
    const rst = net.take();
    assert.equal(rst.length, 1);
    assert.deepEqual([rst[0].flags, rst[0].dstPort], [RST | ACK, 41002]);
    assert.equal(net.counters.get('tcp-table-full'), 1);
    await net.next((p) => p.dstPort === 41000 && (p.flags & SYN) !== 0, 'the first SYN-ACK');
    await net.next((p) => p.dstPort === 41001 && (p.flags & SYN) !== 0, 'the second SYN-ACK');
  });
});

/** Sends from the guest as fast as the NAT's window allows until it closes; returns the bytes sent. */
async function fillWindow(net: FakeNet, nat: TcpNat, flow: Flow, firstWindow: number, payload: Uint8Array, limit: number): Promise<number> {
  let edge = (flow.seq + firstWindow) >>> 0;
  let sent = 0;
  const deadline = Date.now() + 3000;
  for (;;) {
    // Whatever fits, as a sender without SWS avoidance would: the receiver must still close the window.
    for (let room = (edge - flow.seq) | 0; room > 0 && sent < payload.length; room = (edge - flow.seq) | 0) {
      const n = Math.min(room, 1460, payload.length - sent);
      send(nat, flow, ACK, payload.subarray(sent, sent + n));
      sent += n;
    }
    await new Promise((resolve) => setImmediate(resolve));
    for (const p of net.take()) {
      assert.equal(p.data.length, 0);
      edge = (p.ack + p.window * 128) >>> 0;
      if (p.window === 0 && p.ack === flow.seq) return sent;
    }
    const [c] = nat.connections();
    assert.ok(c.hostBuffered <= limit + 1460, `${c.hostBuffered} bytes buffered for the host`);
    assert.ok(sent < payload.length && Date.now() < deadline, 'the window never closed');
  }
}

test('a guest sending faster than the host reads meets a closing window, and an update once the host drains', async () => {
  const window = 64 * 1024;
  await withNat({ recvWindow: window }, {}, async (net, nat, host) => {
    const payload = randomBytes(16 * 1024 * 1024);
    const a = await establish(net, nat, host, 40020);
    a.sock.sock.pause();
    const sent = await fillWindow(net, nat, a.flow, a.synAck.window, payload, window);
    // The host reads again: the socket drains and the guest hears the window open without asking.
    a.sock.sock.resume();
    const update = await net.next((p) => p.window > 0 && p.ack === a.flow.seq, 'a window update');
    assert.equal(update.data.length, 0);
    await until(() => a.sock.bytes().length === sent, 'everything sent to arrive');
    assert.ok(a.sock.bytes().equals(payload.subarray(0, sent)), 'intact and in order');

    // A bare FIN takes no buffer: it is accepted even into a closed window.
    const b = await establish(net, nat, host, 40023);
    b.sock.sock.pause();
    const sentB = await fillWindow(net, nat, b.flow, b.synAck.window, payload, window);
    send(nat, b.flow, FIN | ACK);
    const finAck = await net.next((p) => p.ack === b.flow.seq, 'the ACK of the FIN');
    assert.equal(finAck.window, 0);
    b.sock.sock.resume();
    await until(() => b.sock.ended, 'the end of the stream at the host');
    assert.ok(b.sock.bytes().equals(payload.subarray(0, sentB)), 'intact and in order');
  });
});

test('a SYN reusing the ports of a TIME-WAIT connection opens a new one, and a full table gives up its lingerers', async () => {
  await withNat({ maxConnections: 1, timeWaitMs: 10_000 }, {}, async (net, nat, host) => {
    const close = async (flow: Flow, sock: HostSock): Promise<void> => {
      sock.sock.end();
      const fin = await net.next((p) => (p.flags & FIN) !== 0 && p.dstPort === flow.sport, 'the FIN');
      flow.ack = (fin.seq + 1) >>> 0;
      send(nat, flow, FIN | ACK);
      await until(() => sock.closed, 'the host socket to close');
      assert.equal(nat.connections()[0].state, 'time-wait');
    };
    const a = await establish(net, nat, host, 40021);
    await close(a.flow, a.sock);
    net.take();
    const b = await establish(net, nat, host, 40021);
    assert.equal(b.synAck.ack, 1001);
    await close(b.flow, b.sock);
    const c = await establish(net, nat, host, 40022);
    assert.equal(nat.connections().length, 1);
    send(nat, c.flow, ACK | PSH, text('room'));
    await until(() => c.sock.text() === 'room', 'data on the third connection');
    assert.equal(net.counters.get('tcp-table-full'), undefined);
  });
});

test('a guest RST closes the host socket, and a host reset reaches the guest as RST', async () => {
  await withNat({}, {}, async (net, nat, host) => {
    const a = await establish(net, nat, host, 40014);
    send(nat, a.flow, RST | ACK);
    await until(() => a.sock.closed, 'the host socket to close');
    assert.equal((a.sock.error as NodeJS.ErrnoException | null)?.code, 'ECONNRESET');
    assert.equal(nat.connections().length, 0);

    const b = await establish(net, nat, host, 40015);
    b.sock.sock.resetAndDestroy();
    const rst = await net.next((p) => (p.flags & RST) !== 0 && p.dstPort === 40015, 'the RST to the guest');
    assert.equal(rst.seq, b.flow.ack);
    assert.equal(rst.ack, b.flow.seq);
    await until(() => nat.connections().length === 0, 'the connection to be forgotten');
  });
});

test('thousands of random and mutated segments never throw, and the NAT still works after them', async () => {
  await withNat({ maxConnections: 8, initialRtoMs: 10, minRtoMs: 10, maxRetries: 3, timeWaitMs: 10, connectTimeoutMs: 300 },
    {}, async (net, nat, host) => {
      const { flow } = await establish(net, nat, host, 40016);
      const rnd = prng(0x5eed);
      const int = (n: number): number => Math.floor(rnd() * n);
      const pick = <T>(xs: T[]): T => xs[int(xs.length)];
      const dsts = [GATEWAY, GATEWAY, GATEWAY, DNS, GUEST, 0x0a0002ff];
      for (let i = 0; i < 6000; i++) {
        const dst = pick(dsts);
        let b: Uint8Array;
        if (rnd() < 0.2) {
          b = new Uint8Array(int(80));
          for (let j = 0; j < b.length; j++) b[j] = int(256);
        } else {
          const options = rnd() < 0.3 ? Array.from({ length: int(16) }, () => pick([0, 1, 2, 3, 4, 8, 255, int(256)])) : [];
          b = segment({
            dst,
            sport: pick([flow.sport, 40017, 1 + int(65535)]),
            dport: pick([host.port, host.port, 1 + int(65535), 0]),
            seq: pick([flow.seq, flow.seq + int(3000), flow.seq - int(3000), int(2 ** 32)]) >>> 0,
            ack: pick([flow.ack, flow.ack + int(100), flow.ack - int(100), int(2 ** 32)]) >>> 0,
            flags: int(64),
            window: pick([0, 1, 0xffff, int(0x10000)]),
            options,
            data: Uint8Array.from({ length: pick([0, 0, 1, int(2000)]) }, () => int(256)),
          });
          if (rnd() < 0.1) b[int(b.length)] ^= 1 << int(8);
          if (rnd() < 0.05) b = b.subarray(0, int(b.length));
        }
        nat.input(GUEST, dst, b);
        if (i % 500 === 0) await delay(1);
      }
      await delay(50);
      assert.equal(net.counters.get('tcp-internal-errors'), undefined, net.logs.join('\n'));
      assert.ok(nat.connections().length <= 8);
      // Half-open connections the fuzz left behind give up after their SYN-ACK retries.
      await until(() => nat.connections().length < 8, 'room in the table');
      net.take();
      const fresh = await establish(net, nat, host, 40999);
      send(nat, fresh.flow, ACK | PSH, text('still alive'));
      await until(() => fresh.sock.text() === 'still alive', 'data on a fresh connection');
    });
});

test('after a snapshot restore the guest\'s saved connections are reset exactly and the newer ones are dropped with their host sockets', async () => {
  await withNat({}, {}, async (net, nat, host) => {
    const a = await establish(net, nat, host, 41000);
    send(nat, a.flow, ACK | PSH, text('before'));
    await until(() => a.sock.text() === 'before', 'the host to read it');
    a.sock.sock.write('xyz');
    await net.next((p) => p.data.length === 3, 'the host data');
    a.flow.ack = (a.flow.ack + 3) >>> 0;
    send(nat, a.flow, ACK);
    const saved = nat.save(); // the snapshot: the guest knows connection a
    assert.equal(saved.length, 1);
    assert.deepEqual([saved[0].guestPort, saved[0].remotePort, saved[0].seq, saved[0].ack], [41000, host.port, a.flow.ack, a.flow.seq]);
    // After the snapshot the guest opened b; the restore takes the guest back to before it.
    const b = await establish(net, nat, host, 41001);
    net.take();
    nat.reset(saved);
    const rst = net.take();
    assert.equal(rst.length, 1, 'one reset, for the connection the restored guest knows');
    assert.equal(rst[0].flags, RST | ACK);
    assert.equal(rst[0].dstPort, 41000);
    assert.equal(rst[0].seq, a.flow.ack, 'at exactly the sequence number the guest expects');
    assert.equal(rst[0].ack, a.flow.seq);
    assert.equal(nat.connections().length, 0);
    await until(() => a.sock.closed && b.sock.closed, 'both host sockets to be closed');
    // A segment the guest still sends on the old connection meets no connection: reset from its ACK.
    send(nat, a.flow, ACK | PSH, text('late'));
    const late = await net.next((p) => (p.flags & RST) !== 0, 'the reset of a late segment');
    assert.equal(late.seq, a.flow.ack);
  });
});
