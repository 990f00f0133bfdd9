/**
 * TCP segments for the user-mode stack: parsing what the guest sends, building what goes back
 * (RFC 9293 3.1 header, 3.2 options; RFC 7323 2 window scale), and sequence-number arithmetic
 * modulo 2^32 (RFC 9293 3.4).
 */
import { transportChecksum } from '../checksum.js';
// Sequence numbers are big-endian 32-bit words, as addresses are: one reader and writer for both.
import { IPPROTO_TCP, readIp as readU32, writeIp as writeU32 } from '../ipv4.js';

export const TCP_HEADER = 20;

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;

const OPT_EOL = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;
const OPT_WSCALE = 3;
/** RFC 7323 2.3: a larger shift is treated as 14. */
export const MAX_WSCALE = 14;

/** A checked segment from the guest. `data` is a view into the caller's buffer: copy what you keep. */
export interface TcpSegment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  /** The window field as sent (unscaled). */
  window: number;
  /** Options that matter on a SYN; null when absent. */
  mss: number | null;
  wscale: number | null;
  data: Uint8Array;
}

/** Parses and checks a segment; returns the drop reason when it is malformed. */
export function parseTcp(src: number, dst: number, b: Uint8Array): TcpSegment | string {
  if (b.length < TCP_HEADER) return 'tcp-short';
  const hlen = (b[12] >>> 4) * 4;
  if (hlen < TCP_HEADER || hlen > b.length) return 'tcp-bad-offset';
  if (transportChecksum(src, dst, IPPROTO_TCP, b) !== 0) return 'tcp-bad-checksum';
  const srcPort = (b[0] << 8) | b[1];
  const dstPort = (b[2] << 8) | b[3];
  if (srcPort === 0 || dstPort === 0) return 'tcp-bad-port';
  const flags = b[13] & 0x3f;
  // SYN with FIN or RST has no meaning in any state; such combinations are scans, not connections.
  if ((flags & SYN) !== 0 && (flags & (FIN | RST)) !== 0) return 'tcp-bad-flags';
  let mss: number | null = null;
  let wscale: number | null = null;
  // RFC 9293 3.2: an option with an impossible length must not crash us; we drop the segment.
  for (let o = TCP_HEADER; o < hlen;) {
    const kind = b[o];
    if (kind === OPT_EOL) break;
    if (kind === OPT_NOP) { o++; continue; }
    if (o + 1 >= hlen) return 'tcp-bad-option';
    const len = b[o + 1];
    if (len < 2 || o + len > hlen) return 'tcp-bad-option';
    if (kind === OPT_MSS) {
      if (len !== 4) return 'tcp-bad-option';
      mss = (b[o + 2] << 8) | b[o + 3];
    } else if (kind === OPT_WSCALE) {
      if (len !== 3) return 'tcp-bad-option';
      wscale = Math.min(b[o + 2], MAX_WSCALE);
    }
    o += len;
  }
  return {
    srcPort, dstPort,
    seq: readU32(b, 4), ack: readU32(b, 8),
    flags, window: (b[14] << 8) | b[15],
    mss, wscale,
    data: b.subarray(hlen),
  };
}

/** Sequence space a segment occupies: data, plus one each for SYN and FIN. */
export function segmentLength(s: TcpSegment): number {
  return s.data.length + (s.flags & SYN ? 1 : 0) + (s.flags & FIN ? 1 : 0);
}

/**
 * A segment of `optionsLength + dataLength` bytes after the header, with the header written and the
 * checksum zero (buildIpv4 fills it). The caller copies options and data in at TCP_HEADER.
 */
export function newSegment(srcPort: number, dstPort: number, seq: number, ack: number, flags: number, window: number,
  optionsLength: number, dataLength: number): Uint8Array {
  const hlen = TCP_HEADER + optionsLength;
  const b = new Uint8Array(hlen + dataLength);
  b[0] = srcPort >>> 8; b[1] = srcPort & 0xff;
  b[2] = dstPort >>> 8; b[3] = dstPort & 0xff;
  writeU32(b, 4, seq);
  writeU32(b, 8, ack);
  b[12] = (hlen / 4) << 4;
  b[13] = flags;
  b[14] = window >>> 8; b[15] = window & 0xff;
  return b;
}

/** SYN options: MSS, then NOP + window scale when `wscale` is not null (8 bytes, a multiple of 4). */
export function synOptions(mss: number, wscale: number | null): Uint8Array {
  return wscale === null
    ? Uint8Array.of(OPT_MSS, 4, mss >>> 8, mss & 0xff)
    : Uint8Array.of(OPT_MSS, 4, mss >>> 8, mss & 0xff, OPT_NOP, OPT_WSCALE, 3, wscale);
}

/** a - b as a signed distance in sequence space. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}
