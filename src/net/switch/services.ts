/**
 * The switch's own station on the segment 10.0.3.0/24, at 10.0.3.1: what a home router's LAN side
 * gives its machines. For now it answers ARP and ping; DHCP and DNS plug into onUdp().
 *
 * The daemon hands it every broadcast frame and every frame addressed to its MAC, and forwards what it
 * replies as if a member had sent it.
 */
import { checksum, transportChecksum } from '../checksum.js';
import { IPPROTO_ICMP, IPPROTO_UDP, IPV4_HEADER, buildIpv4, readIp, writeIp } from '../ipv4.js';

export interface SegmentServices {
  /** The services' own MAC: frames to it are delivered to handle(). */
  readonly mac: Uint8Array;
  /**
   * A frame seen on the segment (broadcast or to `mac`). `frame` is valid only during the call. Each
   * frame passed to `reply` (a whole ethernet frame) goes out as if a member had sent it.
   */
  handle(frame: Uint8Array, reply: (frame: Uint8Array) => void): void;
}

export const SEGMENT_NETWORK = 0x0a000300;
export const SEGMENT_PREFIX = 24;
export const SERVICES_IP = 0x0a000301;
/** 52:55 + the IPv4 address, the way QEMU's slirp names its gateway (52:55:0a:00:02:02). */
export const SERVICES_MAC = Uint8Array.of(0x52, 0x55, 0x0a, 0x00, 0x03, 0x01);

const ETH_HEADER = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_ARP = 0x0806;
export const BROADCAST_MAC = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
/** The shortest ethernet frame without FCS; shorter ones are padded, as a NIC would. */
const MIN_ETH_FRAME = 60;

/** A UDP datagram for the services, already checked (IPv4 header and UDP checksum). */
export interface UdpDatagram {
  srcMac: Uint8Array;
  srcIp: number;
  srcPort: number;
  /** SERVICES_IP, 255.255.255.255 or the segment's broadcast address. */
  dstIp: number;
  dstPort: number;
  data: Uint8Array;
}

/**
 * Sends an IPv4 packet (from buildIpv4/buildUdp) from the services' MAC to `dstMac`, by default the
 * MAC the datagram came from. A DHCP server that must broadcast passes BROADCAST_MAC.
 */
export type IpSender = (packet: Uint8Array, dstMac?: Uint8Array) => void;

/**
 * ARP and ICMP echo for SERVICES_IP. Extend by overriding onUdp (DHCP on port 67, DNS on port 53).
 */
export class SegmentServer implements SegmentServices {
  readonly mac: Uint8Array;
  readonly ip: number;
  private readonly network: number;
  private readonly netmask: number;
  protected readonly counters = new Map<string, number>();

  constructor(opts: { mac?: Uint8Array; ip?: number; network?: number; prefixLength?: number } = {}) {
    this.mac = Uint8Array.from(opts.mac ?? SERVICES_MAC);
    this.ip = opts.ip ?? SERVICES_IP;
    const prefix = opts.prefixLength ?? SEGMENT_PREFIX;
    this.netmask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    this.network = ((opts.network ?? SEGMENT_NETWORK) & this.netmask) >>> 0;
  }

  handle(frame: Uint8Array, reply: (frame: Uint8Array) => void): void {
    if (frame.length < ETH_HEADER) return this.drop('short');
    const type = (frame[12] << 8) | frame[13];
    if (type === ETHERTYPE_ARP) this.arp(frame, reply);
    else if (type === ETHERTYPE_IPV4) this.ipv4(frame, reply);
  }

  /** Counters for stats. */
  stats(): Record<string, number> {
    return Object.fromEntries(this.counters);
  }

  /**
   * A UDP datagram to the services. Nothing listens yet: a subclass adds DHCP (port 67) and DNS
   * (port 53). `send` replies with an IPv4 packet.
   */
  protected onUdp(d: UdpDatagram, send: IpSender): void {
    void d; void send;
    this.drop('udp-no-service');
  }

  protected count(name: string, n = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + n);
  }

  protected drop(reason: string): void {
    this.count(`drop-${reason}`);
  }

  /** Wraps an IPv4 packet in ethernet from the services' MAC. */
  protected ethernet(dstMac: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
    const f = new Uint8Array(Math.max(ETH_HEADER + payload.length, MIN_ETH_FRAME));
    f.set(dstMac.subarray(0, 6), 0);
    f.set(this.mac, 6);
    f[12] = type >>> 8; f[13] = type & 0xff;
    f.set(payload, ETH_HEADER);
    return f;
  }

  /** RFC 826: answer a request for our address; everything else is someone else's business. */
  private arp(frame: Uint8Array, reply: (frame: Uint8Array) => void): void {
    const a = ETH_HEADER;
    if (frame.length < a + 28) return this.drop('arp-short');
    const htype = (frame[a] << 8) | frame[a + 1], ptype = (frame[a + 2] << 8) | frame[a + 3];
    if (htype !== 1 || ptype !== ETHERTYPE_IPV4 || frame[a + 4] !== 6 || frame[a + 5] !== 4) return this.drop('arp-unsupported');
    const op = (frame[a + 6] << 8) | frame[a + 7];
    if (op !== 1 || readIp(frame, a + 24) !== this.ip) return;
    const sha = frame.slice(a + 8, a + 14);
    const spa = readIp(frame, a + 14);
    const p = new Uint8Array(28);
    p[1] = 1; p[2] = 0x08; p[4] = 6; p[5] = 4; p[7] = 2;
    p.set(this.mac, 8);
    writeIp(p, 14, this.ip);
    p.set(sha, 18);
    writeIp(p, 24, spa);
    this.count('arp-replies');
    reply(this.ethernet(sha, ETHERTYPE_ARP, p));
  }

  private ipv4(frame: Uint8Array, reply: (frame: Uint8Array) => void): void {
    const o = ETH_HEADER;
    if (frame.length < o + IPV4_HEADER) return this.drop('ip-short');
    const ihl = (frame[o] & 0x0f) * 4;
    const total = (frame[o + 2] << 8) | frame[o + 3];
    if ((frame[o] >>> 4) !== 4 || ihl < IPV4_HEADER || total < ihl || o + total > frame.length) return this.drop('ip-malformed');
    if (checksum(frame, o, o + ihl) !== 0) return this.drop('ip-checksum');
    // Fragments are not reassembled: nothing the services answer needs a packet that large.
    if ((frame[o + 6] & 0x3f) !== 0 || frame[o + 7] !== 0) return this.drop('ip-fragment');
    const srcIp = readIp(frame, o + 12), dstIp = readIp(frame, o + 16);
    const broadcast = dstIp === 0xffffffff || dstIp === ((this.network | ~this.netmask) >>> 0);
    if (dstIp !== this.ip && !broadcast) return;
    const srcMac = frame.slice(6, 12);
    const body = frame.subarray(o + ihl, o + total);
    const protocol = frame[o + 9];
    const send: IpSender = (packet, dstMac = srcMac) => reply(this.ethernet(dstMac, ETHERTYPE_IPV4, packet));

    if (protocol === IPPROTO_UDP) {
      if (body.length < 8) return this.drop('udp-short');
      const len = (body[4] << 8) | body[5];
      if (len < 8 || len > body.length) return this.drop('udp-malformed');
      // RFC 768: a zero checksum means none was computed.
      if (((body[6] << 8) | body[7]) !== 0 && transportChecksum(srcIp, dstIp, IPPROTO_UDP, body, 0, len) !== 0) return this.drop('udp-checksum');
      this.onUdp({
        srcMac, srcIp, dstIp,
        srcPort: (body[0] << 8) | body[1], dstPort: (body[2] << 8) | body[3],
        data: body.slice(8, len),
      }, send);
    } else if (protocol === IPPROTO_ICMP && dstIp === this.ip) {
      // RFC 792 echo: the same message back with type 0.
      if (body.length < 8 || body[0] !== 8 || checksum(body) !== 0) return;
      const echo = body.slice();
      echo[0] = 0; echo[2] = 0; echo[3] = 0;
      const c = checksum(echo);
      echo[2] = c >>> 8; echo[3] = c & 0xff;
      this.count('icmp-echo-replies');
      send(buildIpv4(this.ip, srcIp, IPPROTO_ICMP, echo));
    }
  }
}
