/**
 * ICMP (RFC 792) for the user network: echo requests to the gateway and DNS addresses are answered here;
 * those to the outside are tried with the host's `ping`, because Node has no ICMP sockets, and answered
 * when the host's ping was answered. Everything else the guest sends over ICMP is dropped.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { checksum } from '../checksum.js';
import { buildIpv4, formatIp, ICMP_ECHO_REQUEST, icmpEchoReply, IPPROTO_ICMP } from '../ipv4.js';
import type { UserNetContext } from './context.js';

/** Whether `address` (dotted) answered one echo request. Never rejects. */
export type Pinger = (address: string) => Promise<boolean>;

/** Type, code, checksum, identifier, sequence number. */
const ECHO_HEADER = 8;
/** Host pings running at once; more are dropped, so a flood cannot fork the host to death. */
const MAX_PINGS = 8;

export class Icmp {
  private pings = 0;
  private closed = false;
  private pingMissing = false;
  private readonly children = new Set<ChildProcess>();
  private readonly ping: Pinger;
  private readonly mask: number;

  constructor(private readonly ctx: UserNetContext, ping?: Pinger) {
    this.ping = ping ?? ((a) => this.hostPing(a));
    const p = ctx.config.prefixLength;
    this.mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
  }

  /** An ICMP message from the guest (`msg` is the IPv4 payload; it is not kept). */
  input(src: number, dst: number, msg: Uint8Array): void {
    if (msg.length < ECHO_HEADER) return this.ctx.drop('icmp-short');
    if (checksum(msg) !== 0) return this.ctx.drop('icmp-bad-checksum');
    if (msg[0] !== ICMP_ECHO_REQUEST || msg[1] !== 0) return this.ctx.drop('icmp-type');
    const cfg = this.ctx.config;
    if (dst === cfg.gateway || dst === cfg.dns) {
      this.ctx.count('icmp-echo-local');
      this.reply(dst, src, msg);
      return;
    }
    // Other addresses of the virtual network have nobody behind them; 0/8 and 127/8 are the guest's own.
    if (((dst & this.mask) >>> 0) === cfg.network || dst >>> 24 === 0 || dst >>> 24 === 127) return this.ctx.drop('icmp-no-host');
    if (cfg.restrict) return this.ctx.drop('icmp-restricted');
    if (this.pings >= MAX_PINGS) return this.ctx.drop('icmp-busy');
    this.pings++;
    this.ctx.count('icmp-pings');
    const request = msg.slice();
    void this.ping(formatIp(dst)).catch(() => false).then((ok) => {
      this.pings--;
      if (this.closed) return;
      if (!ok) return this.ctx.drop('icmp-no-answer');
      this.ctx.count('icmp-echo-host');
      this.reply(dst, src, request);
    });
  }

  close(): void {
    this.closed = true;
    for (const c of this.children) c.kill();
    this.children.clear();
  }

  private reply(from: number, to: number, request: Uint8Array): void {
    this.ctx.sendIp(buildIpv4(from, to, IPPROTO_ICMP, icmpEchoReply(request)));
  }

  private hostPing(address: string): Promise<boolean> {
    if (this.pingMissing) return Promise.resolve(false);
    return new Promise((resolve) => {
      const child = execFile('ping', ['-c', '1', '-W', '2', '-n', address], { timeout: 5000 }, (err) => {
        this.children.delete(child);
        if (err !== null && err.code === 'ENOENT') {
          this.pingMissing = true;
          this.ctx.log('user net: the host has no ping command; echo requests to outside addresses go unanswered');
        }
        resolve(err === null);
      });
      this.children.add(child);
    });
  }
}
