/**
 * TCP NAT of the user-mode network, as QEMU's slirp does it: every connection the guest opens is
 * carried by a host socket (the gateway address stands for the host's loopback), and each
 * `--forward tcp:` listener opens connections into the guest from the gateway. The TCP the guest
 * speaks with is tcp-conn.ts; this file checks segments, finds or refuses connections, and owns the
 * table, the listeners and the gateway's ephemeral ports.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { BonsaiError } from '../../errors.js';
import { buildIpv4, formatIp, IPPROTO_TCP } from '../ipv4.js';
import type { PortForward, UserNetContext } from './context.js';
import { type SavedTcpConn, sendResetFor, TcpConn, type TcpConnInfo, type TcpConnOwner, type TcpTunables } from './tcp-conn.js';
import { FlowScheduler } from './tcp-scheduler.js';
import { ACK, newSegment, parseTcp, RST, SYN, type TcpSegment } from './tcp-segment.js';

export type { SavedTcpConn, TcpConnInfo, TcpState } from './tcp-conn.js';

/** Tunables, mostly for tests; see TcpTunables for what each means. */
export type TcpNatOptions = Partial<TcpTunables>;

const DEFAULTS: TcpTunables = {
  recvWindow: 256 * 1024,
  sendBuffer: 256 * 1024,
  maxConnections: 1024,
  mss: 1460,
  windowScale: 7,
  // RFC 6298 asks for 1 s; the guest is on the same machine, and Linux's 200 ms floor suits a LAN.
  initialRtoMs: 200,
  minRtoMs: 200,
  maxRtoMs: 30_000,
  maxRetries: 10,
  connectTimeoutMs: 20_000,
  synTimeoutMs: 5_000,
  timeWaitMs: 2_000,
  reassemblySegments: 32,
};

const LOOPBACK = 0x7f000001;
/** Gateway ports for forwarded connections: the IANA dynamic range. */
const EPHEMERAL_FIRST = 49152;
const EPHEMERAL_LAST = 65535;

function connKey(guestIp: number, guestPort: number, remoteIp: number, remotePort: number): string {
  return `${guestIp}:${guestPort}>${remoteIp}:${remotePort}`;
}

function forwardName(f: PortForward): string {
  return `--forward tcp:${f.hostAddress}:${f.hostPort}-:${f.guestPort}`;
}

function listenError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE': return 'address in use';
    case 'EACCES': return 'permission denied';
    case 'EADDRNOTAVAIL': return 'address not available on this host';
    case 'ENOTFOUND': return 'unknown host address';
    default: return err.code ?? err.message;
  }
}

export class TcpNat {
  /** Connections the guest can still talk to, by (guest, port, remote, port). */
  private readonly byKey = new Map<string, TcpConn>();
  /** Connections done with the guest whose host socket is still writing out what the guest sent. */
  private readonly draining = new Set<TcpConn>();
  private readonly servers: Server[] = [];
  private readonly portsInUse = new Set<number>();
  private nextPort = EPHEMERAL_FIRST;
  private ackQueue: TcpConn[] = [];
  private ackFlushQueued = false;
  private closed = false;
  private readonly mask: number;
  private readonly owner: TcpConnOwner;
  /** Data segments to the guest go out in turns, as its receive ring has room (tcp-scheduler.ts). */
  private readonly scheduler: FlowScheduler<TcpConn>;

  constructor(private readonly ctx: UserNetContext, opts: TcpNatOptions = {}) {
    const tun: TcpTunables = { ...DEFAULTS };
    for (const k of Object.keys(DEFAULTS) as (keyof TcpTunables)[]) {
      const v = opts[k];
      if (v !== undefined) tun[k] = v;
    }
    const p = ctx.config.prefixLength;
    this.mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
    // The connections see the NAT only through this.
    this.owner = {
      ctx, tun,
      retire: (c) => this.retire(c),
      forget: (c) => this.forget(c),
      deferAck: (c) => this.deferAck(c),
      wake: (c) => this.scheduler.wake(c),
    };
    this.scheduler = new FlowScheduler(() => ctx.rxRoom());
  }

  /** Starts the `--forward tcp:` listeners; rejects with a BonsaiError when one cannot listen. */
  async listen(): Promise<void> {
    try {
      for (const f of this.ctx.config.forwards) {
        if (f.protocol === 'tcp') await this.listenOne(f);
      }
    } catch (err) {
      await this.closeServers();
      throw err;
    }
  }

  /** A TCP segment from the guest: the IPv4 header was checked; `segment` is the TCP header and data. */
  input(src: number, dst: number, segment: Uint8Array): void {
    if (this.closed) return;
    try {
      this.inputSegment(src, dst, segment);
    } catch (err) {
      // Never reached by design; a bug must not take the VM down with it.
      this.ctx.count('tcp-internal-errors');
      this.ctx.log(`tcp: internal error: ${String(err)}`);
    }
  }

  /** The guest's NIC has room again: the connections waiting for it send, in turn. */
  pump(): void {
    if (this.closed) return;
    try {
      this.scheduler.pump();
    } catch (err) {
      this.ctx.count('tcp-internal-errors');
      this.ctx.log(`tcp: internal error: ${String(err)}`);
    }
  }

  /** Destroys every connection, listener and timer. */
  async close(): Promise<void> {
    this.closed = true;
    this.dropAll();
    await this.closeServers();
  }

  /** Destroys every connection (their host peers get a reset) and forgets them. */
  private dropAll(): void {
    for (const c of this.byKey.values()) c.destroy();
    for (const c of this.draining) c.destroy();
    this.byKey.clear();
    this.draining.clear();
    this.portsInUse.clear();
    this.ackQueue = [];
    this.scheduler.clear();
  }

  /** The connections the guest knows, for a machine snapshot. */
  save(): SavedTcpConn[] {
    const out: SavedTcpConn[] = [];
    for (const c of this.byKey.values()) { const s = c.saved(); if (s !== null) out.push(s); }
    return out;
  }

  /**
   * After the guest was put back to a snapshot: the connections of the timeline it left are dropped
   * (their host peers get a reset), and every connection it had when the snapshot was taken is reset
   * towards the guest, so none is left half-open. The RST carries the sequence number the guest
   * expects; one it finds out of window draws a challenge ACK, which is answered with a reset that
   * matches it exactly (inputSegment: no such connection).
   */
  reset(saved: readonly SavedTcpConn[]): void {
    this.dropAll();
    for (const s of saved) {
      const r = newSegment(s.remotePort, s.guestPort, s.seq, s.ack, RST | ACK, 0, 0, 0);
      this.ctx.sendIp(buildIpv4(s.remoteIp, s.guestIp, IPPROTO_TCP, r));
      this.ctx.count('tcp-reset-after-restore');
    }
  }

  /** The connections, for status output and tests. */
  connections(): TcpConnInfo[] {
    return [...this.byKey.values(), ...this.draining].map((c) => c.info());
  }

  private inputSegment(src: number, dst: number, segment: Uint8Array): void {
    const seg = parseTcp(src, dst, segment);
    if (typeof seg === 'string') return this.ctx.drop(seg);
    const key = connKey(src, seg.srcPort, dst, seg.dstPort);
    const conn = this.byKey.get(key);
    const f = seg.flags;
    if (conn !== undefined) {
      // RFC 9293 3.10.7.4 (TIME-WAIT): a new SYN may reuse the pair; our linger is only a courtesy.
      if (!(conn.state === 'time-wait' && (f & (SYN | ACK)) === SYN)) return conn.input(seg);
      conn.endTimeWait();
    }
    if (f & RST) return this.ctx.drop('tcp-no-connection');
    if ((f & (SYN | ACK)) !== SYN) {
      // RFC 9293 3.10.7.1: anything but a SYN for a connection that does not exist gets a reset.
      sendResetFor(this.ctx, src, dst, seg);
      return this.ctx.drop('tcp-no-connection');
    }
    this.openFromGuest(src, dst, seg, key);
  }

  private openFromGuest(src: number, dst: number, syn: TcpSegment, key: string): void {
    if (this.ctx.config.restrict) {
      this.ctx.count('tcp-restricted');
      return sendResetFor(this.ctx, src, dst, syn);
    }
    const target = this.hostAddressFor(dst);
    if (target === null) {
      this.ctx.count('tcp-unreachable');
      return sendResetFor(this.ctx, src, dst, syn);
    }
    if (!this.makeRoom()) {
      this.ctx.count('tcp-table-full');
      return sendResetFor(this.ctx, src, dst, syn);
    }
    const conn = new TcpConn(this.owner, key, src, syn.srcPort, dst, syn.dstPort, 0);
    this.byKey.set(key, conn);
    this.ctx.count('tcp-connections');
    conn.openToHost(syn, formatIp(target));
  }

  /**
   * Where a guest's connection to `dst` goes: the gateway is the host itself (its loopback); DNS, the
   * rest of the guest's subnet, and addresses that are not unicast hosts have nobody behind them.
   */
  private hostAddressFor(dst: number): number | null {
    const c = this.ctx.config;
    if (dst === c.gateway) return LOOPBACK;
    if (dst === c.dns) return null;
    if (((dst & this.mask) >>> 0) === ((c.network & this.mask) >>> 0)) return null;
    const first = dst >>> 24;
    // 0.0.0.0/8 ("this network"), 127.0.0.0/8 (the guest's own loopback), 224.0.0.0 and up (multicast,
    // reserved, broadcast).
    if (first === 0 || first === 127 || first >= 224) return null;
    return dst;
  }

  private listenOne(f: PortForward, retryUntil = 0): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: true },
        (sock) => this.acceptForward(f, sock));
      const fail = (err: NodeJS.ErrnoException): void => {
        server.close();
        const retryMs = this.ctx.config.busyForwardRetryMs;
        if (err.code === 'EADDRINUSE' && retryMs > 0 && !this.closed) {
          // Its holder is about to let go (a live migration's source): try again in the background.
          const until = retryUntil === 0 ? Date.now() + retryMs : retryUntil;
          if (retryUntil === 0) this.ctx.log(`user net: ${forwardName(f)}: address in use; retrying for ${Math.round(retryMs / 1000)} s`);
          if (Date.now() < until) {
            setTimeout(() => { if (!this.closed) this.listenOne(f, until).catch((e: Error) => this.ctx.log(`user net: ${e.message}`)); }, 200).unref();
            resolve();
            return;
          }
        }
        reject(new BonsaiError(`${forwardName(f)}: ${listenError(err)}`));
      };
      server.once('error', fail);
      server.listen({ host: f.hostAddress === '' ? undefined : f.hostAddress, port: f.hostPort }, () => {
        server.off('error', fail);
        // Errors after listening (e.g. EMFILE on accept) are the host's trouble; count them.
        server.on('error', () => this.ctx.count('tcp-forward-errors'));
        if (this.closed) { server.close(); resolve(); return; }
        if (retryUntil !== 0) this.ctx.log(`user net: ${forwardName(f)}: listening`);
        this.servers.push(server);
        resolve();
      });
    });
  }

  private acceptForward(f: PortForward, sock: Socket): void {
    // Errors before the connection owns the socket must not become uncaught exceptions.
    sock.on('error', () => {});
    if (this.closed || !this.makeRoom()) {
      this.ctx.count('tcp-table-full');
      sock.destroy();
      return;
    }
    const c = this.ctx.config;
    const port = this.allocatePort(c.guest, f.guestPort, c.gateway);
    if (port === 0) {
      this.ctx.count('tcp-table-full');
      sock.destroy();
      return;
    }
    const key = connKey(c.guest, f.guestPort, c.gateway, port);
    const conn = new TcpConn(this.owner, key, c.guest, f.guestPort, c.gateway, port, port);
    this.byKey.set(key, conn);
    this.ctx.count('tcp-forward-connections');
    conn.openToGuest(sock);
  }

  /** A gateway port no live connection uses, so each forwarded connection is its own 4-tuple. */
  private allocatePort(guest: number, guestPort: number, gateway: number): number {
    for (let i = 0; i <= EPHEMERAL_LAST - EPHEMERAL_FIRST; i++) {
      const p = this.nextPort;
      this.nextPort = p === EPHEMERAL_LAST ? EPHEMERAL_FIRST : p + 1;
      if (!this.portsInUse.has(p) && !this.byKey.has(connKey(guest, guestPort, gateway, p))) {
        this.portsInUse.add(p);
        return p;
      }
    }
    return 0;
  }

  private size(): number {
    return this.byKey.size + this.draining.size;
  }

  /**
   * Whether a new connection fits. A full table first gives up its TIME-WAIT lingerers, which only
   * wait for a FIN retransmission that a lossless link almost never needs: a guest opening many short
   * connections must not be refused because of them.
   */
  private makeRoom(): boolean {
    const max = this.owner.tun.maxConnections;
    if (this.size() < max) return true;
    for (const c of [...this.byKey.values()]) {
      if (c.state !== 'time-wait') continue;
      c.endTimeWait();
      if (this.size() < max) return true;
    }
    return false;
  }

  private retire(conn: TcpConn): void {
    if (this.byKey.get(conn.key) === conn) this.byKey.delete(conn.key);
    if (!this.closed) this.draining.add(conn);
  }

  private forget(conn: TcpConn): void {
    if (this.byKey.get(conn.key) === conn) this.byKey.delete(conn.key);
    this.draining.delete(conn);
    if (conn.forwardPort !== 0) this.portsInUse.delete(conn.forwardPort);
  }

  private deferAck(conn: TcpConn): void {
    this.ackQueue.push(conn);
    if (this.ackFlushQueued) return;
    this.ackFlushQueued = true;
    // A microtask runs once the dispatcher has handed over everything in this burst of frames.
    queueMicrotask(this.flushAcks);
  }

  private readonly flushAcks = (): void => {
    this.ackFlushQueued = false;
    const q = this.ackQueue;
    this.ackQueue = [];
    for (const c of q) c.flushAck();
  };

  private async closeServers(): Promise<void> {
    const servers = this.servers.splice(0);
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
