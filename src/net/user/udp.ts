/**
 * UDP for the user network (RFC 768). Datagrams to the gateway's services (DHCP, DNS, TFTP) are served
 * here; the rest go out through host sockets, one per guest source port, so any remote can answer the
 * guest on the port it saw (endpoint-independent mapping, RFC 4787 section 4.1). `--forward udp:`
 * sockets on the host carry datagrams into the guest, each host peer appearing as its own gateway port.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { BonsaiError } from '../../errors.js';
import { buildUdp, IPV4_HEADER, LIMITED_BROADCAST, parseIp, parseUdp, UDP_HEADER } from '../ipv4.js';
import type { PortForward, UserNetContext } from './context.js';
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, DhcpServer } from './dhcp.js';
import { DNS_PORT, DnsServer, type DnsForward, type HostLookup } from './dns.js';
import { TftpServer } from './tftp.js';

export interface UdpNatOptions {
  /** A flow or forward mapping unused this long is closed (default 60 s). */
  idleMs?: number;
  /** Flows (and, separately, forward peers) kept at once; the least recently used goes first. */
  maxFlows?: number;
  /** Stand-ins for the host resolver and upstream server (tests). */
  dnsLookup?: HostLookup;
  dnsForward?: DnsForward;
}

const LOOPBACK = 0x7f000001;
const IDLE_MS = 60_000;
const MAX_FLOWS = 512;
/** The largest datagram one IPv4 packet carries. */
const MAX_DATA = 0xffff - IPV4_HEADER - UDP_HEADER;
/**
 * Gateway ports handed to forward peers: high, where host services rarely sit, and below the dynamic
 * range (49152 up) from which TFTP's transfers take theirs, so neither shadows the other.
 */
const PEER_PORT_FIRST = 32768;
const PEER_PORT_LAST = 49151;
/** DHCP pool size after the guest's address, as slirp (NB_BOOTP_CLIENTS). */
const DHCP_POOL = 16;
const LEASE_SECONDS = 86400;

/** A guest source port and the host socket it goes out through. */
interface Flow {
  key: number;
  guestIp: number;
  guestPort: number;
  socket: Socket;
  lastUsed: number;
}

interface Listener {
  spec: PortForward;
  index: number;
  socket: Socket;
}

/** A host peer of a forward, seen by the guest as gateway:port. */
interface Peer {
  port: number;
  key: string;
  listener: Listener;
  address: string;
  peerPort: number;
  lastUsed: number;
}

export class UdpNat {
  readonly dhcp: DhcpServer;
  readonly dns: DnsServer;
  private readonly tftp: TftpServer | null;
  private readonly flows = new Map<number, Flow>();
  private readonly listeners: Listener[] = [];
  private readonly peers = new Map<number, Peer>();
  private readonly peerByKey = new Map<string, Peer>();
  private nextPeerPort = PEER_PORT_FIRST;
  private readonly idleMs: number;
  private readonly maxFlows: number;
  private readonly mask: number;
  private readonly subnetBroadcast: number;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly ctx: UserNetContext, options: UdpNatOptions = {}) {
    const cfg = ctx.config;
    this.idleMs = options.idleMs ?? IDLE_MS;
    this.maxFlows = options.maxFlows ?? MAX_FLOWS;
    this.mask = cfg.prefixLength === 0 ? 0 : (0xffffffff << (32 - cfg.prefixLength)) >>> 0;
    this.subnetBroadcast = (cfg.network | ~this.mask) >>> 0;
    this.tftp = cfg.tftpRoot !== null ? new TftpServer(ctx, cfg.tftpRoot) : null;
    this.dhcp = new DhcpServer({
      serverIp: cfg.gateway, network: cfg.network, prefixLength: cfg.prefixLength,
      router: cfg.gateway, dns: cfg.dns, domain: null, bootFile: cfg.bootFile,
      tftpServer: cfg.tftpRoot !== null ? cfg.gateway : null,
      firstIp: cfg.guest, lastIp: Math.min(cfg.guest + DHCP_POOL - 1, this.subnetBroadcast - 1),
      leaseSeconds: LEASE_SECONDS,
      drop: (r) => ctx.drop(r),
    });
    this.dns = new DnsServer({
      localName: (name) => this.localName(name),
      drop: (r) => ctx.drop(r),
      lookup: options.dnsLookup,
      forward: options.dnsForward,
    });
    this.sweeper = setInterval(() => this.sweep(), Math.max(10, Math.floor(this.idleMs / 4)));
    this.sweeper.unref();
  }

  /** Binds the `--forward udp:` sockets; rejects with a BonsaiError naming the one that cannot bind. */
  async listen(): Promise<void> {
    const forwards = this.ctx.config.forwards;
    for (let i = 0; i < forwards.length; i++) {
      const spec = forwards[i];
      if (spec.protocol !== 'udp') continue;
      const socket = createSocket(isIPv6(spec.hostAddress) ? 'udp6' : 'udp4');
      const listener: Listener = { spec, index: i, socket };
      this.listeners.push(listener);
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind({ address: spec.hostAddress, port: spec.hostPort, exclusive: true }, () => {
            socket.off('error', reject);
            resolve();
          });
        });
      } catch (e) {
        throw new BonsaiError(`${forwardName(spec)}: ${socketError(e)}`);
      }
      socket.on('message', (msg, rinfo) => this.fromPeer(listener, msg, rinfo));
      socket.on('error', (e) => this.ctx.log(`user net: ${forwardName(spec)}: ${socketError(e)}`));
    }
  }

  /** A UDP datagram from the guest; `segment` is the IPv4 payload (header and data) and is not kept. */
  input(src: number, dst: number, segment: Uint8Array): void {
    const d = parseUdp(src, dst, segment);
    if (typeof d === 'string') return this.ctx.drop(d);
    const { srcPort, dstPort, data } = d;
    const cfg = this.ctx.config;

    if (dstPort === DHCP_SERVER_PORT && (dst === cfg.gateway || dst === LIMITED_BROADCAST || dst === this.subnetBroadcast)) {
      return this.dhcpInput(data);
    }
    // Only a DHCP client has no address yet (RFC 2131 4.1); port 0 is no port to answer.
    if (src === 0) return this.ctx.drop('udp-bad-source');
    if (srcPort === 0 || dstPort === 0) return this.ctx.drop('udp-port-zero');
    if (dst === cfg.dns) {
      if (dstPort !== DNS_PORT) return this.ctx.drop('udp-no-service');
      return this.dnsInput(src, srcPort, data);
    }
    if (dst === cfg.gateway) {
      if (this.tftp !== null && this.tftp.owns(dstPort)) return this.tftp.input(src, srcPort, dstPort, data);
      const peer = this.peers.get(dstPort);
      if (peer !== undefined) return this.toPeer(peer, data);
      if (cfg.restrict) return this.ctx.drop('udp-restricted');
      // The gateway is the host: its other ports are the host's loopback, as in slirp.
      return this.toRemote(src, srcPort, LOOPBACK, dstPort, data);
    }
    // Multicast, the reserved 240/4 and broadcasts: we route none of them.
    if (dst === this.subnetBroadcast || dst >>> 28 >= 0xe) return this.ctx.drop('udp-broadcast');
    // Nobody else lives on the virtual network (slirp would hand these to the host's loopback), and
    // 0/8 and 127/8 are the guest's own.
    if (((dst & this.mask) >>> 0) === cfg.network || dst >>> 24 === 0 || dst >>> 24 === 127) return this.ctx.drop('udp-no-host');
    if (cfg.restrict) return this.ctx.drop('udp-restricted');
    this.toRemote(src, srcPort, dst, dstPort, data);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    this.tftp?.close();
    const sockets = [...this.flows.values()].map((f) => f.socket).concat(this.listeners.map((l) => l.socket));
    this.flows.clear();
    this.peers.clear();
    this.peerByKey.clear();
    await Promise.all(sockets.map(closeSocket));
  }

  private localName(name: string): number | null {
    const cfg = this.ctx.config;
    if (cfg.hostname !== null && name === cfg.hostname.toLowerCase()) return cfg.guest;
    return this.dhcp.lookupName(name);
  }

  private dhcpInput(data: Uint8Array): void {
    this.ctx.count('dhcp-requests');
    const r = this.dhcp.handle(data);
    if (r === null) return;
    // One NIC: the stack's ethernet header goes to the guest's MAC however the IP packet is addressed.
    const to = r.broadcast ? LIMITED_BROADCAST : r.yiaddr;
    this.ctx.sendIp(buildUdp(this.ctx.config.gateway, DHCP_SERVER_PORT, to, DHCP_CLIENT_PORT, r.reply));
  }

  private dnsInput(src: number, srcPort: number, data: Uint8Array): void {
    this.ctx.count('dns-queries');
    this.dns.answer(data.slice()).then((answer) => {
      if (answer === null || this.closed) return;
      this.ctx.sendIp(buildUdp(this.ctx.config.dns, DNS_PORT, src, srcPort, answer));
    }, () => this.ctx.drop('dns-error'));
  }

  /** Out through the flow of the guest's source port, creating it (and evicting the oldest) as needed. */
  private toRemote(guestIp: number, guestPort: number, dst: number, dstPort: number, data: Uint8Array): void {
    const key = guestIp * 0x10000 + guestPort;
    let flow = this.flows.get(key);
    if (flow !== undefined) {
      this.flows.delete(key); // re-inserted below: the map's order is least recently used first
    } else {
      if (this.flows.size >= this.maxFlows) {
        const oldest = this.flows.values().next();
        if (!oldest.done) this.closeFlow(oldest.value, 'udp-flows-evicted');
      }
      flow = this.openFlow(key, guestIp, guestPort);
    }
    flow.lastUsed = performance.now();
    this.flows.set(key, flow);
    this.ctx.count('udp-out');
    const address = `${dst >>> 24}.${(dst >>> 16) & 0xff}.${(dst >>> 8) & 0xff}.${dst & 0xff}`;
    // Buffer.from copies: the guest's frame may be reused before the send completes.
    flow.socket.send(Buffer.from(data), dstPort, address, (err) => {
      if (err) this.ctx.drop('udp-send-error');
    });
  }

  private openFlow(key: number, guestIp: number, guestPort: number): Flow {
    // Bound implicitly, to an ephemeral port on every address, by the first send.
    const socket = createSocket('udp4');
    const flow: Flow = { key, guestIp, guestPort, socket, lastUsed: performance.now() };
    socket.on('message', (msg, rinfo) => this.fromRemote(flow, msg, rinfo));
    socket.on('error', (e) => {
      this.ctx.log(`user net: udp flow from guest port ${guestPort}: ${socketError(e)}`);
      if (this.flows.get(key) === flow) this.closeFlow(flow, 'udp-flows-failed');
    });
    this.ctx.count('udp-flows-opened');
    return flow;
  }

  private closeFlow(flow: Flow, counter: string): void {
    this.flows.delete(flow.key);
    this.ctx.count(counter);
    void closeSocket(flow.socket);
  }

  private fromRemote(flow: Flow, msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closed || this.flows.get(flow.key) !== flow) return;
    if (msg.length > MAX_DATA) return this.ctx.drop('udp-too-big');
    flow.lastUsed = performance.now();
    this.flows.delete(flow.key);
    this.flows.set(flow.key, flow);
    let from = parseIp(rinfo.address);
    // The host's loopback is the gateway, seen from the guest.
    if (from === LOOPBACK) from = this.ctx.config.gateway;
    this.ctx.sendIp(buildUdp(from, rinfo.port, flow.guestIp, flow.guestPort, msg));
  }

  /** A datagram from a host peer of a forward: to the guest's port, from the gateway port that stands for the peer. */
  private fromPeer(listener: Listener, msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closed) return;
    if (msg.length > MAX_DATA) return this.ctx.drop('udp-too-big');
    const key = `${listener.index}|${rinfo.address}|${rinfo.port}`;
    let peer = this.peerByKey.get(key);
    if (peer === undefined) {
      const port = this.allocatePeerPort();
      if (port === null) return this.ctx.drop('udp-forward-no-port');
      peer = { port, key, listener, address: rinfo.address, peerPort: rinfo.port, lastUsed: 0 };
      this.peerByKey.set(key, peer);
      this.ctx.count('udp-forward-peers');
    } else {
      this.peers.delete(peer.port);
    }
    peer.lastUsed = performance.now();
    this.peers.set(peer.port, peer);
    const cfg = this.ctx.config;
    this.ctx.sendIp(buildUdp(cfg.gateway, peer.port, cfg.guest, listener.spec.guestPort, msg));
  }

  /** The guest's answer to a forward peer goes out of the forward's own socket, so the peer sees the address it used. */
  private toPeer(peer: Peer, data: Uint8Array): void {
    peer.lastUsed = performance.now();
    this.peers.delete(peer.port);
    this.peers.set(peer.port, peer);
    this.ctx.count('udp-out');
    peer.listener.socket.send(Buffer.from(data), peer.peerPort, peer.address, (err) => {
      if (err) this.ctx.drop('udp-send-error');
    });
  }

  private allocatePeerPort(): number | null {
    if (this.peers.size >= this.maxFlows) {
      const oldest = this.peers.values().next();
      if (!oldest.done) this.forgetPeer(oldest.value);
    }
    const span = PEER_PORT_LAST - PEER_PORT_FIRST + 1;
    for (let i = 0; i < span; i++) {
      const p = this.nextPeerPort;
      this.nextPeerPort = p === PEER_PORT_LAST ? PEER_PORT_FIRST : p + 1;
      if (!this.peers.has(p) && (this.tftp === null || !this.tftp.owns(p))) return p;
    }
    return null;
  }

  private forgetPeer(peer: Peer): void {
    this.peers.delete(peer.port);
    this.peerByKey.delete(peer.key);
  }

  /** Closes flows and forgets peers idle for longer than the timeout; both maps are oldest first. */
  private sweep(): void {
    const limit = performance.now() - this.idleMs;
    for (const flow of this.flows.values()) {
      if (flow.lastUsed > limit) break;
      this.closeFlow(flow, 'udp-flows-expired');
    }
    for (const peer of this.peers.values()) {
      if (peer.lastUsed > limit) break;
      this.forgetPeer(peer);
    }
  }
}

/** The forward as the user wrote it (`--forward udp:HOSTADDR:HOSTPORT-:GUESTPORT`). */
function forwardName(f: PortForward): string {
  const host = isIPv6(f.hostAddress) ? `[${f.hostAddress}]` : f.hostAddress;
  return `--forward udp:${host}:${f.hostPort}-:${f.guestPort}`;
}

function closeSocket(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      s.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

/** "address in use" rather than Node's "bind EADDRINUSE 127.0.0.1:5353". */
function socketError(e: unknown): string {
  const code = typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : '';
  switch (code) {
    case 'EADDRINUSE': return 'address in use';
    case 'EADDRNOTAVAIL': return 'address not available on this host';
    case 'EACCES': return 'permission denied';
    case 'EAFNOSUPPORT': return 'address family not supported';
    default: return e instanceof Error ? e.message : String(e);
  }
}
