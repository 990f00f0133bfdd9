/**
 * Ethernet II framing and ARP for IPv4 (RFC 826): what both the user-mode stack's gateway and the
 * switch's services station need to sit on a segment.
 */
import { readIp, writeIp } from './ipv4.js';

export const ETH_HEADER = 14;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
/** The shortest ethernet frame without FCS; shorter ones are padded, as a wire would carry them. */
export const ETH_MIN = 60;

/** A frame from `src` to `dst` carrying `payload` of ethertype `type`, padded to ETH_MIN. */
export function ethernetFrame(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(Math.max(ETH_MIN, ETH_HEADER + payload.length));
  f.set(dst.subarray(0, 6), 0);
  f.set(src.subarray(0, 6), 6);
  f[12] = type >>> 8; f[13] = type & 0xff;
  f.set(payload, ETH_HEADER);
  return f;
}

const ARP_LENGTH = 28;
const ARP_HTYPE_ETHERNET = 1;
const ARP_REQUEST = 1;
const ARP_REPLY = 2;

export interface ArpRequest {
  /** Sender hardware and protocol address: who asks. */
  sha: Uint8Array;
  spa: number;
  /** Target protocol address: the address asked for. */
  tpa: number;
}

/** An ARP request (the ethernet payload) for IPv4 over ethernet, or the reason it is none. */
export function parseArpRequest(a: Uint8Array): ArpRequest | string {
  if (a.length < ARP_LENGTH) return 'arp-short';
  const htype = (a[0] << 8) | a[1];
  const ptype = (a[2] << 8) | a[3];
  if (htype !== ARP_HTYPE_ETHERNET || ptype !== ETHERTYPE_IPV4 || a[4] !== 6 || a[5] !== 4) return 'arp-format';
  if (((a[6] << 8) | a[7]) !== ARP_REQUEST) return 'arp-not-request';
  return { sha: a.slice(8, 14), spa: readIp(a, 14), tpa: readIp(a, 24) };
}

/** The ARP reply (ethernet payload) saying that `r.tpa` is at `mac`. */
export function arpReply(r: ArpRequest, mac: Uint8Array): Uint8Array {
  const p = new Uint8Array(ARP_LENGTH);
  p[1] = ARP_HTYPE_ETHERNET; p[2] = ETHERTYPE_IPV4 >>> 8; p[4] = 6; p[5] = 4; p[7] = ARP_REPLY;
  p.set(mac.subarray(0, 6), 8);
  writeIp(p, 14, r.tpa);
  p.set(r.sha, 18);
  writeIp(p, 24, r.spa);
  return p;
}
