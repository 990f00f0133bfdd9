/** Building and taking apart the frames a guest would send to the user network, for tests. */
import { checksum, transportChecksum } from '../../src/net/checksum.js';
import { buildIpv4, buildUdp, IPPROTO_ICMP, IPPROTO_UDP, readIp, writeIp } from '../../src/net/ipv4.js';
import { defaultMac } from '../../src/net/link.js';
import type { NetBackend } from '../../src/net/link.js';
import { GATEWAY_MAC } from '../../src/net/user/stack.js';

export const GUEST_MAC = defaultMac(0);
export const BROADCAST_MAC = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
export const GATEWAY = 0x0a000202;
export const DNS = 0x0a000203;
export const GUEST = 0x0a00020f;

export function ethernet(type: number, payload: Uint8Array, dst: Uint8Array = GATEWAY_MAC, src: Uint8Array = GUEST_MAC): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = type >>> 8; f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

export function arpRequest(spa: number, tpa: number, sha: Uint8Array = GUEST_MAC): Uint8Array {
  const a = new Uint8Array(28);
  a[1] = 1; a[2] = 0x08; a[4] = 6; a[5] = 4; a[7] = 1;
  a.set(sha, 8);
  writeIp(a, 14, spa);
  writeIp(a, 24, tpa);
  return ethernet(0x0806, a, BROADCAST_MAC);
}

export function ipFrame(packet: Uint8Array): Uint8Array {
  return ethernet(0x0800, packet);
}

export function udpFrame(src: number, srcPort: number, dst: number, dstPort: number, data: Uint8Array): Uint8Array {
  return ipFrame(buildUdp(src, srcPort, dst, dstPort, data));
}

export function icmpEcho(src: number, dst: number, id: number, seq: number, data: Uint8Array, type = 8): Uint8Array {
  const m = new Uint8Array(8 + data.length);
  m[0] = type;
  m[4] = id >>> 8; m[5] = id & 0xff;
  m[6] = seq >>> 8; m[7] = seq & 0xff;
  m.set(data, 8);
  const c = checksum(m);
  m[2] = c >>> 8; m[3] = c & 0xff;
  return ipFrame(buildIpv4(src, dst, IPPROTO_ICMP, m));
}

export interface DhcpFields {
  type: number | null;
  mac?: Uint8Array;
  xid?: number;
  ciaddr?: number;
  requested?: number;
  serverId?: number;
  hostname?: string;
  broadcastFlag?: boolean;
}

/** A BOOTREQUEST with the magic cookie and the given options. */
export function dhcpMessage(f: DhcpFields): Uint8Array {
  const opts: number[] = [];
  if (f.type !== null) opts.push(53, 1, f.type);
  const ip = (code: number, v: number): void => { opts.push(code, 4, v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff); };
  if (f.requested !== undefined) ip(50, f.requested);
  if (f.serverId !== undefined) ip(54, f.serverId);
  if (f.hostname !== undefined) opts.push(12, f.hostname.length, ...Array.from(f.hostname, (c) => c.charCodeAt(0)));
  opts.push(55, 4, 1, 3, 6, 15, 255);
  const m = new Uint8Array(240 + opts.length);
  m[0] = 1; m[1] = 1; m[2] = 6;
  writeIp(m, 4, f.xid ?? 0x12345678);
  if (f.broadcastFlag === true) m[10] = 0x80;
  writeIp(m, 12, f.ciaddr ?? 0);
  m.set(f.mac ?? GUEST_MAC, 28);
  m.set([99, 130, 83, 99], 236);
  m.set(opts, 240);
  return m;
}

/** The options of a BOOTP reply, by code. */
export function dhcpOptions(m: Uint8Array): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  let p = 240;
  while (p < m.length && m[p] !== 255) {
    if (m[p] === 0) { p++; continue; }
    out.set(m[p], m.subarray(p + 2, p + 2 + m[p + 1]));
    p += 2 + m[p + 1];
  }
  return out;
}

export function dhcpFrame(f: DhcpFields): Uint8Array {
  return udpFrame(0, 68, 0xffffffff, 67, dhcpMessage(f));
}

/** A query with one question, RD set. */
export function dnsQuery(id: number, name: string, qtype = 1): Uint8Array {
  const parts: number[] = [id >>> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
  for (const label of name.split('.').filter((l) => l !== '')) {
    parts.push(label.length, ...Array.from(label, (c) => c.charCodeAt(0)));
  }
  parts.push(0, qtype >>> 8, qtype & 0xff, 0, 1);
  return Uint8Array.from(parts);
}

export interface Ipv4 {
  src: number;
  dst: number;
  protocol: number;
  flags: number;
  payload: Uint8Array;
}

export interface Udp {
  src: number;
  dst: number;
  srcPort: number;
  dstPort: number;
  data: Uint8Array;
}

export function frameType(f: Uint8Array): number {
  return (f[12] << 8) | f[13];
}

/** The IPv4 packet of a frame for the guest; asserts nothing, returns null when it is not one. */
export function parseIpv4(f: Uint8Array): Ipv4 | null {
  if (f.length < 34 || frameType(f) !== 0x0800) return null;
  const p = f.subarray(14);
  const ihl = (p[0] & 15) * 4;
  const total = (p[2] << 8) | p[3];
  return { src: readIp(p, 12), dst: readIp(p, 16), protocol: p[9], flags: (p[6] << 8) | p[7], payload: p.subarray(ihl, total) };
}

export function parseUdp(f: Uint8Array): Udp | null {
  const ip = parseIpv4(f);
  if (ip === null || ip.protocol !== IPPROTO_UDP || ip.payload.length < 8) return null;
  const s = ip.payload;
  return { src: ip.src, dst: ip.dst, srcPort: (s[0] << 8) | s[1], dstPort: (s[2] << 8) | s[3], data: s.subarray(8, (s[4] << 8) | s[5]) };
}

/** Whether the frame's IPv4 header checksum and (for UDP) the UDP checksum hold. */
export function checksumsHold(f: Uint8Array): boolean {
  const p = f.subarray(14);
  const ihl = (p[0] & 15) * 4;
  if (checksum(p, 0, ihl) !== 0) return false;
  const ip = parseIpv4(f);
  if (ip === null) return false;
  if (ip.protocol === IPPROTO_UDP && (ip.flags & 0x3fff) === 0) return transportChecksum(ip.src, ip.dst, IPPROTO_UDP, ip.payload) === 0;
  return true;
}

/** The guest's side of the link: frames it receives, and waiting for one. */
export class Guest {
  readonly received: Uint8Array[] = [];
  private waiters: { match: (f: Uint8Array) => boolean; resolve: (f: Uint8Array) => void }[] = [];

  constructor(readonly net: NetBackend, mac: Uint8Array = GUEST_MAC) {
    net.attach(mac, (f) => this.deliver(f));
  }

  send(frame: Uint8Array): void {
    this.net.send(frame);
  }

  /** The first frame (already received or still to come) that `match` accepts, taking it off the list. */
  next(match: (f: Uint8Array) => boolean, timeoutMs = 2000): Promise<Uint8Array> {
    const i = this.received.findIndex(match);
    if (i >= 0) return Promise.resolve(this.received.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const w = { match, resolve: (f: Uint8Array): void => { clearTimeout(t); resolve(f); } };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`no matching frame in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** The next UDP datagram for the guest's port `port`. */
  async nextUdp(port: number, timeoutMs?: number): Promise<Udp> {
    const f = await this.next((x) => parseUdp(x)?.dstPort === port, timeoutMs);
    const u = parseUdp(f);
    if (u === null) throw new Error('unreachable');
    return u;
  }

  private deliver(f: Uint8Array): void {
    const w = this.waiters.find((x) => x.match(f));
    if (w !== undefined) {
      this.waiters = this.waiters.filter((x) => x !== w);
      w.resolve(f);
    } else {
      this.received.push(f);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

export interface TcpFields {
  src: number; dst: number;
  sport: number; dport: number;
  seq: number; ack?: number; flags: number; window?: number;
  options?: number[]; data?: Uint8Array;
}

/** A TCP segment in an ethernet frame, as the guest would send it, checksums included. */
export function tcpFrame(s: TcpFields): Uint8Array {
  const opts = s.options ?? [];
  const hlen = 20 + Math.ceil(opts.length / 4) * 4;
  const data = s.data ?? new Uint8Array(0);
  const b = new Uint8Array(hlen + data.length);
  b[0] = s.sport >>> 8; b[1] = s.sport & 0xff; b[2] = s.dport >>> 8; b[3] = s.dport & 0xff;
  writeIp(b, 4, s.seq >>> 0);
  writeIp(b, 8, (s.ack ?? 0) >>> 0);
  b[12] = (hlen / 4) << 4; b[13] = s.flags;
  const w = s.window ?? 0xffff;
  b[14] = w >>> 8; b[15] = w & 0xff;
  b.set(opts, 20);
  b.set(data, hlen);
  const c = transportChecksum(s.src, s.dst, 6, b);
  b[16] = c >>> 8; b[17] = c & 0xff;
  return ipFrame(buildIpv4(s.src, s.dst, 6, b));
}

/**
 * A guest NIC with a receive ring, as virtio-net has: `ring` buffers the guest has posted, a host-side
 * queue of `queue` frames behind them, and drops beyond; it tells the backend its room (ReceiveRoom).
 * The guest takes frames out of the ring in turns, like a NAPI poll, which gives the buffers back.
 */
export class RingNic {
  /** Frames in the guest's buffers, not yet processed, then those waiting for a buffer. */
  private inRing: Uint8Array[] = [];
  private waiting: Uint8Array[] = [];
  private ready: () => void = () => {};
  dropped = 0;
  /** Frames the guest has processed so far. */
  taken = 0;
  /** Called with each frame the NIC accepts and how many frames are ahead of it. */
  onFrame: (frame: Uint8Array, ahead: number) => void = () => {};

  constructor(readonly net: NetBackend, readonly ring = 256, readonly queue = 512, mac: Uint8Array = GUEST_MAC) {
    net.attach(mac, (f) => this.deliver(f), {
      room: () => Math.max(0, this.ring - this.inRing.length - this.waiting.length),
      capacity: () => this.ring,
      onRoom: (ready) => { this.ready = ready; },
    });
  }

  send(frame: Uint8Array): void {
    this.net.send(frame);
  }

  /** One poll: up to `budget` frames out of the ring; the freed buffers are posted again. */
  poll(budget = 64): Uint8Array[] {
    const got = this.inRing.splice(0, budget);
    this.taken += got.length;
    while (this.inRing.length < this.ring && this.waiting.length > 0) this.inRing.push(this.waiting.shift() as Uint8Array);
    if (got.length > 0 && this.inRing.length < this.ring) this.ready();
    return got;
  }

  private deliver(f: Uint8Array): void {
    if (this.inRing.length + this.waiting.length < this.ring + this.queue) this.onFrame(f, this.inRing.length + this.waiting.length);
    if (this.inRing.length < this.ring) this.inRing.push(f.slice());
    else if (this.waiting.length < this.queue) this.waiting.push(f.slice());
    else this.dropped++;
  }
}
