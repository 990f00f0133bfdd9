/**
 * IPv4 addresses as unsigned 32-bit numbers, and building IPv4 packets (RFC 791). Parsing and checking
 * of incoming packets is the user-mode stack's (user/stack.ts); this is what every protocol
 * needs to answer.
 */
import { checksum, transportChecksum } from './checksum.js';
import { BonsaiError } from '../errors.js';

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

export const IPV4_HEADER = 20;
/** 255.255.255.255 (RFC 919). */
export const LIMITED_BROADCAST = 0xffffffff;

/** "10.0.2.15" → 0x0a00020f; throws BonsaiError on anything else. */
export function parseIp(text: string, what = 'address'): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (m === null) throw new BonsaiError(`${what} '${text}' is not an IPv4 address`);
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const n = Number(m[i]);
    if (n > 255) throw new BonsaiError(`${what} '${text}' is not an IPv4 address`);
    v = v * 256 + n;
  }
  return v >>> 0;
}

export function formatIp(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`;
}

export function readIp(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

export function writeIp(b: Uint8Array, o: number, ip: number): void {
  b[o] = ip >>> 24; b[o + 1] = (ip >>> 16) & 0xff; b[o + 2] = (ip >>> 8) & 0xff; b[o + 3] = ip & 0xff;
}

let nextId = 1;

/**
 * An IPv4 packet from `src` to `dst` carrying `payload` (no options, DF set, TTL 64). For UDP and TCP,
 * `payload` is the whole segment with its checksum field zero: the checksum is filled in here.
 */
export function buildIpv4(src: number, dst: number, protocol: number, payload: Uint8Array, ttl = 64): Uint8Array {
  const total = IPV4_HEADER + payload.length;
  if (total > 0xffff) throw new RangeError(`IPv4 packet of ${total} bytes`);
  const p = new Uint8Array(total);
  p[0] = 0x45;
  p[2] = total >>> 8; p[3] = total & 0xff;
  const id = nextId; nextId = (nextId + 1) & 0xffff;
  p[4] = id >>> 8; p[5] = id & 0xff;
  p[6] = 0x40; // DF
  p[8] = ttl;
  p[9] = protocol;
  writeIp(p, 12, src);
  writeIp(p, 16, dst);
  const hc = checksum(p, 0, IPV4_HEADER);
  p[10] = hc >>> 8; p[11] = hc & 0xff;
  p.set(payload, IPV4_HEADER);
  if (protocol === IPPROTO_UDP) {
    p[IPV4_HEADER + 6] = 0; p[IPV4_HEADER + 7] = 0;
    let c = transportChecksum(src, dst, protocol, p, IPV4_HEADER, total);
    if (c === 0) c = 0xffff; // RFC 768: a computed 0 is sent as all ones
    p[IPV4_HEADER + 6] = c >>> 8; p[IPV4_HEADER + 7] = c & 0xff;
  } else if (protocol === IPPROTO_TCP) {
    p[IPV4_HEADER + 16] = 0; p[IPV4_HEADER + 17] = 0;
    const c = transportChecksum(src, dst, protocol, p, IPV4_HEADER, total);
    p[IPV4_HEADER + 16] = c >>> 8; p[IPV4_HEADER + 17] = c & 0xff;
  }
  return p;
}

export const UDP_HEADER = 8;

/** An IPv4/UDP packet (RFC 768) with its checksums. */
export function buildUdp(src: number, srcPort: number, dst: number, dstPort: number, data: Uint8Array, ttl = 64): Uint8Array {
  const seg = new Uint8Array(UDP_HEADER + data.length);
  seg[0] = srcPort >>> 8; seg[1] = srcPort & 0xff;
  seg[2] = dstPort >>> 8; seg[3] = dstPort & 0xff;
  seg[4] = seg.length >>> 8; seg[5] = seg.length & 0xff;
  seg.set(data, UDP_HEADER);
  return buildIpv4(src, dst, IPPROTO_UDP, seg, ttl);
}

/** The largest IPv4 packet the guest's NIC takes in one frame (ethernet MTU). */
export const DEFAULT_MTU = 1500;

/**
 * Splits `packet` (an IPv4 packet as buildIpv4 makes it) into fragments of at most `mtu` bytes, RFC 791
 * section 2.3 ("Fragmentation"): every fragment but the last carries a multiple of 8 data bytes and MF;
 * the offset counts 8-byte units. A packet that fits is returned as it is. The packets are our own, so
 * DF is cleared rather than honoured: the alternative is a datagram the guest never sees.
 */
export function fragmentIpv4(packet: Uint8Array, mtu = DEFAULT_MTU): Uint8Array[] {
  if (packet.length <= mtu) return [packet];
  const hlen = (packet[0] & 0x0f) * 4;
  const step = (mtu - hlen) & ~7;
  if (step <= 0) throw new RangeError(`MTU ${mtu} leaves no room for data`);
  const out: Uint8Array[] = [];
  for (let off = hlen; off < packet.length; off += step) {
    const end = Math.min(off + step, packet.length);
    const f = new Uint8Array(hlen + end - off);
    f.set(packet.subarray(0, hlen));
    f.set(packet.subarray(off, end), hlen);
    f[2] = f.length >>> 8; f[3] = f.length & 0xff;
    const units = (off - hlen) >>> 3;
    const more = end < packet.length ? 0x2000 : 0;
    f[6] = (more | units) >>> 8; f[7] = units & 0xff;
    f[10] = 0; f[11] = 0;
    const hc = checksum(f, 0, hlen);
    f[10] = hc >>> 8; f[11] = hc & 0xff;
    out.push(f);
  }
  return out;
}

/** A checked IPv4 packet: its addresses, protocol and payload (a view into the packet). */
export interface Ipv4Packet { src: number; dst: number; protocol: number; payload: Uint8Array }

/**
 * RFC 791 section 3.1 checks of a received packet, or the reason it fails them. Options are skipped;
 * fragments are refused (nothing here reassembles: guests send at most their MTU with DF, and a
 * fragment flood is a memory attack). Bytes past the total length are ethernet padding.
 */
export function parseIpv4(p: Uint8Array): Ipv4Packet | string {
  if (p.length < IPV4_HEADER) return 'ipv4-short';
  if (p[0] >>> 4 !== 4) return 'ipv4-version';
  const ihl = (p[0] & 0x0f) * 4;
  if (ihl < IPV4_HEADER || ihl > p.length) return 'ipv4-header-length';
  const total = (p[2] << 8) | p[3];
  if (total > p.length || total < ihl) return 'ipv4-length';
  if (checksum(p, 0, ihl) !== 0) return 'ipv4-bad-checksum';
  if ((((p[6] << 8) | p[7]) & 0x3fff) !== 0) return 'ipv4-fragment';
  return { src: readIp(p, 12), dst: readIp(p, 16), protocol: p[9], payload: p.subarray(ihl, total) };
}

/** A checked UDP datagram: ports and data (a view into the segment). */
export interface UdpDatagram { srcPort: number; dstPort: number; data: Uint8Array }

/** RFC 768 checks of a UDP segment from `src` to `dst`, or the reason it fails them. */
export function parseUdp(src: number, dst: number, segment: Uint8Array): UdpDatagram | string {
  if (segment.length < UDP_HEADER) return 'udp-short';
  const length = (segment[4] << 8) | segment[5];
  if (length < UDP_HEADER || length > segment.length) return 'udp-bad-length';
  const seg = segment.subarray(0, length);
  // A zero checksum means the sender computed none.
  if (((seg[6] << 8) | seg[7]) !== 0 && transportChecksum(src, dst, IPPROTO_UDP, seg) !== 0) return 'udp-bad-checksum';
  return { srcPort: (seg[0] << 8) | seg[1], dstPort: (seg[2] << 8) | seg[3], data: seg.subarray(UDP_HEADER) };
}

export const ICMP_ECHO_REPLY = 0;
export const ICMP_ECHO_REQUEST = 8;

/** The echo reply to an echo request: same identifier, sequence number and data (RFC 792). */
export function icmpEchoReply(request: Uint8Array): Uint8Array {
  const m = request.slice();
  m[0] = ICMP_ECHO_REPLY;
  m[2] = 0; m[3] = 0;
  const c = checksum(m);
  m[2] = c >>> 8; m[3] = c & 0xff;
  return m;
}
