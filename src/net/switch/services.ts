/**
 * The switch's own station on the segment 10.0.3.0/24, at 10.0.3.1: what a home router's LAN side
 * gives its machines. For now it answers ARP and ping; DHCP and DNS plug into onUdp().
 *
 * The daemon hands it every broadcast frame and every frame addressed to its MAC, and forwards what it
 * replies as if a member had sent it.
 */
import { checksum } from '../checksum.js';
import { arpReply, ETH_HEADER, ETHERTYPE_ARP, ETHERTYPE_IPV4, ethernetFrame, parseArpRequest } from '../ethernet.js';
import {
  buildIpv4, ICMP_ECHO_REQUEST, icmpEchoReply, IPPROTO_ICMP, IPPROTO_UDP, LIMITED_BROADCAST, parseIpv4, parseUdp,
} from '../ipv4.js';

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

export const BROADCAST_MAC = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

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

  /** Wraps a payload in ethernet from the services' MAC. */
  protected ethernet(dstMac: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
    return ethernetFrame(dstMac, this.mac, type, payload);
  }

  /** RFC 826: answer a request for our address; everything else is someone else's business. */
  private arp(frame: Uint8Array, reply: (frame: Uint8Array) => void): void {
    const r = parseArpRequest(frame.subarray(ETH_HEADER));
    if (typeof r === 'string') return this.drop(r);
    if (r.tpa !== this.ip) return;
    this.count('arp-replies');
    reply(this.ethernet(r.sha, ETHERTYPE_ARP, arpReply(r, this.mac)));
  }

  private ipv4(frame: Uint8Array, reply: (frame: Uint8Array) => void): void {
    const ip = parseIpv4(frame.subarray(ETH_HEADER));
    if (typeof ip === 'string') return this.drop(ip);
    const { src: srcIp, dst: dstIp, payload: body } = ip;
    const broadcast = dstIp === LIMITED_BROADCAST || dstIp === ((this.network | ~this.netmask) >>> 0);
    if (dstIp !== this.ip && !broadcast) return;
    const srcMac = frame.slice(6, 12);
    const send: IpSender = (packet, dstMac = srcMac) => reply(this.ethernet(dstMac, ETHERTYPE_IPV4, packet));

    if (ip.protocol === IPPROTO_UDP) {
      const d = parseUdp(srcIp, dstIp, body);
      if (typeof d === 'string') return this.drop(d);
      this.onUdp({ srcMac, srcIp, dstIp, srcPort: d.srcPort, dstPort: d.dstPort, data: d.data.slice() }, send);
    } else if (ip.protocol === IPPROTO_ICMP && dstIp === this.ip) {
      if (body.length < 8 || body[0] !== ICMP_ECHO_REQUEST || checksum(body) !== 0) return;
      this.count('icmp-echo-replies');
      send(buildIpv4(this.ip, srcIp, IPPROTO_ICMP, icmpEchoReply(body)));
    }
  }
}
