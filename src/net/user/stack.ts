/**
 * The user-mode network (like QEMU's slirp): the guest's NIC talks to a virtual gateway that is really
 * this process, and its connections leave through ordinary host sockets, so no privileges are needed.
 * This file is the dispatcher: ethernet, ARP and IPv4 input, and ethernet output to the one NIC;
 * icmp.ts, udp.ts (with dhcp.ts, dns.ts, tftp.ts) and tcp.ts each own a protocol.
 */
import { arpReply, ETH_HEADER, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ethernetFrame, parseArpRequest } from '../ethernet.js';
import { DEFAULT_MTU, fragmentIpv4, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, parseIpv4 } from '../ipv4.js';
import type { FrameReceiver, NetBackend, NetBackendState, ReceiveRoom } from '../link.js';
import type { UserNetConfig, UserNetContext } from './context.js';
import type { DnsForward, HostLookup } from './dns.js';
import { Icmp, type Pinger } from './icmp.js';
import { type SavedTcpConn, TcpNat } from './tcp.js';
import { UdpNat } from './udp.js';

/** The gateway's and the DNS server's MAC, as slirp's (52:55 then the gateway's address). */
export const GATEWAY_MAC = Uint8Array.of(0x52, 0x55, 0x0a, 0x00, 0x02, 0x02);

/** Seams for tests; production leaves them out. */
export interface UserNetOptions {
  /** Idle timeout of UDP flows and forward mappings (default 60 s). */
  udpIdleMs?: number;
  /** Replaces running the host's `ping` for echo requests to outside addresses. */
  ping?: Pinger;
  /** Replace the host resolver and the upstream DNS server. */
  dnsLookup?: HostLookup;
  dnsForward?: DnsForward;
}

/** How many internal errors are logged before the rest are only counted. */
const MAX_ERROR_LOGS = 10;

export class UserNet implements NetBackend {
  readonly name = 'user';
  private guestMac: Uint8Array | null = null;
  private receive: FrameReceiver | null = null;
  private room: ReceiveRoom | null = null;
  private readonly counters = new Map<string, number>([['frames-in', 0], ['frames-out', 0]]);
  private readonly ctx: UserNetContext;
  private readonly icmp: Icmp;
  private readonly udp: UdpNat;
  private readonly tcp: TcpNat;
  private readonly mask: number;
  private readonly subnetBroadcast: number;
  private errorLogs = 0;
  private closed = false;

  private constructor(readonly config: UserNetConfig, private readonly log: (line: string) => void, options: UserNetOptions) {
    this.mask = config.prefixLength === 0 ? 0 : (0xffffffff << (32 - config.prefixLength)) >>> 0;
    this.subnetBroadcast = (config.network | ~this.mask) >>> 0;
    this.ctx = {
      config,
      sendIp: (packet) => this.sendIp(packet),
      rxRoom: () => this.rxRoom(),
      drop: (reason) => this.count(`drop-${reason}`),
      count: (name, n = 1) => this.count(name, n),
      log,
    };
    this.icmp = new Icmp(this.ctx, options.ping);
    this.udp = new UdpNat(this.ctx, { idleMs: options.udpIdleMs, dnsLookup: options.dnsLookup, dnsForward: options.dnsForward });
    this.tcp = new TcpNat(this.ctx);
  }

  /**
   * Room for data the guest can wait for: half the ring stays free for what it should not wait for (a
   * new connection's SYN, ACKs, DNS answers), so those queue behind at most half a ring of bulk data.
   */
  private rxRoom(): number {
    if (this.room === null) return Infinity;
    return Math.max(0, this.room.room() - (this.room.capacity() >> 1));
  }

  /** The stack with its forward listeners bound; a BonsaiError names a forward that cannot be. */
  static async create(config: UserNetConfig, log: (line: string) => void = () => {}, options: UserNetOptions = {}): Promise<UserNet> {
    const net = new UserNet(config, log, options);
    try {
      await net.tcp.listen();
      await net.udp.listen();
    } catch (e) {
      await net.close();
      throw e;
    }
    return net;
  }

  attach(mac: Uint8Array, receive: FrameReceiver, room?: ReceiveRoom): void {
    this.guestMac = mac.slice(0, 6);
    this.receive = receive;
    this.room = room ?? null;
    this.room?.onRoom(() => this.tcp.pump());
  }

  send(frame: Uint8Array): void {
    this.count('frames-in');
    if (this.closed) return this.drop('closed');
    if (frame.length < ETH_HEADER) return this.drop('eth-short');
    const type = (frame[12] << 8) | frame[13];
    try {
      switch (type) {
        case ETHERTYPE_IPV4: return this.ipv4(frame.subarray(ETH_HEADER));
        case ETHERTYPE_ARP: return this.arp(frame.subarray(ETH_HEADER));
        case ETHERTYPE_IPV6: return this.drop('ipv6');
        default: return this.drop('ethertype');
      }
    } catch (e) {
      // A bug here must not take the VM down with it: count it, and say so a few times.
      this.drop('internal-error');
      if (this.errorLogs++ < MAX_ERROR_LOGS) this.log(`user net: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    }
  }

  stats(): Record<string, number> {
    return Object.fromEntries(this.counters);
  }

  /** The guest's TCP connections through the NAT (a snapshot resets them after a restore). */
  save(): NetBackendState {
    return { tcp: this.tcp.save().map((c) => [c.guestIp, c.guestPort, c.remoteIp, c.remotePort, c.seq, c.ack]) };
  }

  /**
   * The guest was put back to a snapshot: connections it made since are dropped and those it had then
   * are reset, so it holds none half-open. Forwards stay open; UDP flows and DHCP need nothing (the
   * guest's address is fixed by the network's configuration, so its lease renews as it was).
   */
  restored(s: NetBackendState | null): void {
    const saved: SavedTcpConn[] = [];
    const list = s !== null && typeof s === 'object' && !Array.isArray(s) ? s.tcp : undefined;
    if (Array.isArray(list)) {
      for (const e of list) {
        if (!Array.isArray(e) || e.length !== 6 || e.some((v) => typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff)) continue;
        const [guestIp, guestPort, remoteIp, remotePort, seq, ack] = e as number[];
        if (guestPort > 0xffff || remotePort > 0xffff) continue;
        saved.push({ guestIp, guestPort, remoteIp, remotePort, seq, ack });
      }
    }
    this.tcp.reset(saved);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.icmp.close();
    await Promise.all([this.udp.close(), this.tcp.close()]);
  }

  private count(name: string, n = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + n);
  }

  private drop(reason: string): void {
    this.count(`drop-${reason}`);
  }

  private inSubnet(ip: number): boolean {
    return ((ip & this.mask) >>> 0) === this.config.network;
  }

  /**
   * Requests for any address of the virtual network are answered with the gateway's MAC: every host
   * there is us. Not for the guest's own address (or what it claims as its own), the network's or its
   * broadcast: answering those would tell the guest its address is taken. Nothing is learned.
   */
  private arp(a: Uint8Array): void {
    const r = parseArpRequest(a);
    if (typeof r === 'string') return this.drop(r);
    const { spa, tpa } = r;
    if (!this.inSubnet(tpa) || tpa === this.config.guest || tpa === spa || tpa === this.config.network || tpa === this.subnetBroadcast) {
      return this.drop('arp-not-ours');
    }
    this.output(ETHERTYPE_ARP, arpReply(r, GATEWAY_MAC));
  }

  /** Checked IPv4 (parseIpv4), then the protocol's module. */
  private ipv4(p: Uint8Array): void {
    const ip = parseIpv4(p);
    if (typeof ip === 'string') return this.drop(ip);
    const { src, dst, payload } = ip;
    if (src === 0xffffffff || src >>> 28 === 0xe) return this.drop('ipv4-bad-source');
    switch (ip.protocol) {
      case IPPROTO_UDP: return this.udp.input(src, dst, payload);
      case IPPROTO_ICMP:
        if (this.isBroadcast(dst)) return this.drop('ipv4-broadcast');
        return this.icmp.input(src, dst, payload);
      case IPPROTO_TCP:
        if (this.isBroadcast(dst)) return this.drop('ipv4-broadcast');
        return this.tcp.input(src, dst, payload);
      default: return this.drop('ipv4-protocol');
    }
  }

  /** Broadcast, multicast (224/4) or reserved (240/4): no ICMP or TCP peer is there. */
  private isBroadcast(ip: number): boolean {
    return ip === this.subnetBroadcast || ip >>> 28 >= 0xe;
  }

  private sendIp(packet: Uint8Array): void {
    for (const p of fragmentIpv4(packet, DEFAULT_MTU)) this.output(ETHERTYPE_IPV4, p);
  }

  /** One frame to the guest, from the gateway's MAC. */
  private output(type: number, payload: Uint8Array): void {
    if (this.closed) return;
    if (this.receive === null || this.guestMac === null) return this.drop('no-nic');
    this.count('frames-out');
    this.receive(ethernetFrame(this.guestMac, GATEWAY_MAC, type, payload));
  }
}
