import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { setImmediate as turn } from 'node:timers/promises';
import { FlowScheduler, QUANTUM, type ScheduledFlow } from '../../src/net/user/tcp-scheduler.js';
import { defaultUserNetConfig } from '../../src/net/user/context.js';
import { UserNet } from '../../src/net/user/stack.js';
import { parseTcp, type TcpSegment } from '../../src/net/user/tcp-segment.js';
import { GATEWAY, GUEST, parseIpv4, RingNic, tcpFrame } from './frames.js';
import { freePort } from '../helpers.js';

const SYN = 0x02, ACK = 0x10, PSH = 0x08;
/** MSS 1460, NOP, window scale 7: what a Linux guest offers. */
const LINUX_SYN_OPTIONS = [2, 4, 0x05, 0xb4, 1, 3, 3, 7];

/** The NIC's room, which each segment sent uses up. */
class Room { n = 0; }

/** A flow with `segments` segments of `size` bytes to send, recording the order of turns in `log`. */
class Bulk implements ScheduledFlow {
  constructor(readonly name: string, public segments: number, readonly log: string[], readonly room: Room, readonly size = 1460) {}
  sendOne(): number {
    if (this.segments === 0) return -1;
    this.segments--;
    this.room.n--;
    this.log.push(this.name);
    return this.size + 40;
  }
}

function setup(): { room: Room; log: string[]; s: FlowScheduler<Bulk>; bulk: (name: string, segments?: number, size?: number) => Bulk } {
  const room = new Room();
  const log: string[] = [];
  const s = new FlowScheduler<Bulk>(() => room.n);
  return { room, log, s, bulk: (name, segments = 100, size = 1460) => new Bulk(name, segments, log, room, size) };
}

/** `names` each `times` in a row: the turns of one round. */
const turns = (names: string[], times = QUANTUM / 1500): string[] => names.flatMap((n) => Array<string>(times).fill(n));

test('the scheduler sends only while there is room, a quantum of full segments per flow and round', () => {
  const { room, log, s, bulk } = setup();
  for (const f of [bulk('a'), bulk('b'), bulk('c')]) s.wake(f);
  assert.deepEqual(log, [], 'nothing without room');
  room.n = 9 * QUANTUM / 1500;
  s.pump();
  assert.deepEqual(log, [...turns(['a', 'b', 'c']), ...turns(['a', 'b', 'c']), ...turns(['a', 'b', 'c'])]);
  assert.equal(s.waiting, 3);
  assert.equal(QUANTUM % 1500, 0, 'a quantum is whole segments');
});

test('a flow that wakes after being idle goes before the flows that are already sending', () => {
  const { room, log, s, bulk } = setup();
  const q = QUANTUM / 1500;
  s.wake(bulk('a'));
  s.wake(bulk('b'));
  room.n = 4 * q;
  s.pump();
  assert.deepEqual(log, [...turns(['a', 'b']), ...turns(['a', 'b'])]);
  log.length = 0;
  s.wake(bulk('ssh', 2, 100));
  room.n = 2 + 2 * q + 1;
  s.pump();
  // Small segments: the new flow's quantum covers both; then the bulk flows take their turns again,
  // and the new flow, dry, leaves once its turn on the old list finds it empty.
  assert.deepEqual(log, ['ssh', 'ssh', ...turns(['a', 'b']), 'a']);
  assert.equal(s.waiting, 2);
});

test('a flow cannot stay new by sending one segment at a time: a new flow that runs dry queues behind the others', () => {
  const { room, log, s, bulk } = setup();
  const q = QUANTUM / 1500;
  s.wake(bulk('a'));
  s.wake(bulk('b'));
  room.n = 4 * q;
  s.pump();
  log.length = 0;
  const sly = bulk('sly', 1, 100);
  s.wake(sly);
  room.n = 2;
  s.pump();
  assert.deepEqual(log, ['sly', 'a']);
  // It has a segment again at once, but it is on the old list now, behind a, which was there first:
  // a flow that is really new goes before both.
  sly.segments = 1;
  s.wake(sly);
  s.wake(bulk('fresh'));
  room.n = 2 * q + 1;
  log.length = 0;
  s.pump();
  assert.deepEqual(log, [...turns(['fresh']), ...turns(['a']).slice(1), 'sly', 'b']);
});

// ---- The stack under load: many bulk flows to the guest, and a forward opening beside them ----

interface GuestFlow { sport: number; seq: number; ack: number; established: boolean; got: number; advanced: boolean }

function tcpOf(f: Uint8Array): { seg: TcpSegment; src: number } | null {
  const ip = parseIpv4(f);
  if (ip === null || ip.protocol !== 6) return null;
  const seg = parseTcp(ip.src, ip.dst, ip.payload);
  return typeof seg === 'string' ? null : { seg, src: ip.src };
}

test('with 220 bulk flows filling the guest\'s ring, a new forward\'s SYN and first bytes wait behind at most half the ring, and nothing is dropped', async (t) => {
  const FLOWS = 220;
  const RING = 256;
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const hostSocks: Socket[] = [];
  const server = createServer((s) => {
    hostSocks.push(s);
    s.on('error', () => {});
    const fill = (): void => { while (s.write(chunk)); };
    s.on('drain', fill);
    fill();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const fwdPort = await freePort();
  const net = await UserNet.create({
    ...defaultUserNetConfig(), forwards: [{ protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: fwdPort, guestPort: 22 }],
  });
  const nic = new RingNic(net, RING);
  const flows = new Map<number, GuestFlow>();
  let client: Socket | null = null;
  try {
    // The guest's side of a round: take a poll's worth of frames, answer SYN-ACKs, ACK in-order data
    // once per flow (as GRO and delayed ACKs do), with a 64 KiB window.
    let fwd: { sport: number; seq: number; ack: number } | null = null;
    let fwdSynAt = -1;
    let fwdDataAt = -1;
    // How many frames were ahead of the forward's SYN and of its first data in the NIC when they came.
    let synAhead = -1;
    let dataAhead = -1;
    nic.onFrame = (f, ahead) => {
      const p = tcpOf(f);
      if (p === null || p.seg.dstPort !== 22) return;
      if ((p.seg.flags & SYN) !== 0 && synAhead < 0) synAhead = ahead;
      if (p.seg.data.length > 0 && dataAhead < 0) dataAhead = ahead;
    };
    const round = (): void => {
      for (const f of nic.poll(64)) {
        const p = tcpOf(f);
        if (p === null) continue;
        const { seg } = p;
        if (seg.dstPort === 22 && (seg.flags & SYN) !== 0 && fwd === null) {
          fwdSynAt = nic.taken;
          fwd = { sport: seg.srcPort, seq: 7000, ack: (seg.seq + 1) >>> 0 };
          nic.send(tcpFrame({ src: GUEST, dst: GATEWAY, sport: 22, dport: seg.srcPort, seq: fwd.seq, ack: fwd.ack,
            flags: SYN | ACK, options: LINUX_SYN_OPTIONS }));
          fwd.seq++;
          continue;
        }
        if (fwd !== null && seg.dstPort === 22 && seg.srcPort === fwd.sport && seg.data.length > 0 && fwdDataAt < 0) {
          fwdDataAt = nic.taken;
          continue;
        }
        const g = flows.get(seg.dstPort);
        if (g === undefined) continue;
        if ((seg.flags & SYN) !== 0) {
          g.ack = (seg.seq + 1) >>> 0;
          g.established = true;
          g.advanced = true;
        } else if (seg.data.length > 0 && seg.seq === g.ack) {
          g.ack = (g.ack + seg.data.length) >>> 0;
          g.got += seg.data.length;
          g.advanced = true;
        }
      }
      for (const g of flows.values()) {
        if (!g.advanced) continue;
        g.advanced = false;
        nic.send(tcpFrame({ src: GUEST, dst: GATEWAY, sport: g.sport, dport: port, seq: g.seq, ack: g.ack, flags: ACK, window: 512 }));
      }
    };

    for (let i = 0; i < FLOWS; i++) {
      const g: GuestFlow = { sport: 30000 + i, seq: 1000, ack: 0, established: false, got: 0, advanced: false };
      flows.set(g.sport, g);
      nic.send(tcpFrame({ src: GUEST, dst: GATEWAY, sport: g.sport, dport: port, seq: g.seq, flags: SYN, options: LINUX_SYN_OPTIONS }));
      g.seq++;
    }
    // Until every flow is established and has data flowing, so the stack has far more to send than fits.
    const loadBy = Date.now() + 20_000;
    while ([...flows.values()].some((g) => g.got === 0) && Date.now() < loadBy) {
      round();
      await turn();
    }
    assert.ok([...flows.values()].every((g) => g.got > 0), 'every bulk flow moves data');
    for (let i = 0; i < 20; i++) { round(); await turn(); }

    client = connect({ host: '127.0.0.1', port: fwdPort });
    client.on('error', () => {});
    client.write('SSH-2.0-client\r\n');
    const fwdBy = Date.now() + 20_000;
    while (fwdDataAt < 0 && Date.now() < fwdBy) {
      round();
      await turn();
    }
    assert.ok(fwdSynAt >= 0, 'the forward\'s SYN reached the guest');
    assert.ok(fwdDataAt >= 0, 'the forward\'s data reached the guest');
    t.diagnostic(`frames ahead of the forward's SYN: ${synAhead}, of its first data: ${dataAhead}; `
      + `frames the guest took from the SYN to the data: ${fwdDataAt - fwdSynAt}`);
    // Neither waits behind more than half a ring: bulk data takes only posted buffers and leaves half
    // of them free, the SYN is not held back at all, and the data, as a new flow, goes first.
    assert.ok(synAhead <= RING / 2, `${synAhead} frames ahead of the SYN`);
    assert.ok(dataAhead <= RING / 2, `${dataAhead} frames ahead of the data`);
    assert.equal(nic.dropped, 0, 'the NIC never had to drop a frame');
    // Fair among the bulk flows too, once all are under way: over the next 200 polls none gets less
    // than half of the average.
    const before = new Map([...flows].map(([k, g]) => [k, g.got]));
    for (let i = 0; i < 200; i++) { round(); await turn(); }
    const got = [...flows].map(([k, g]) => g.got - (before.get(k) ?? 0));
    const mean = got.reduce((a, b) => a + b, 0) / got.length;
    t.diagnostic(`bulk bytes per flow over 200 polls: min ${Math.min(...got)}, mean ${Math.round(mean)}, max ${Math.max(...got)}`);
    assert.ok(Math.min(...got) >= mean / 2, `the least served flow got ${Math.min(...got)} bytes, the mean is ${mean}`);
  } finally {
    client?.destroy();
    for (const s of hostSocks) s.destroy();
    await net.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
