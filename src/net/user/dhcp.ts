/**
 * A DHCP server (RFC 2131; options RFC 2132) that also answers plain BOOTP requests (RFC 951). It knows
 * nothing of sockets: `handle` takes a BOOTP message and returns the reply and where it goes, so the
 * user-mode stack and the VM-to-VM switch can both serve it. Clients are keyed by their hardware address
 * (chaddr), and a MAC keeps its address for as long as the server lives, released or not, unless the
 * pool runs out and another client needs it.
 */
import { formatMac } from '../link.js';
import { formatIp, readIp, writeIp } from '../ipv4.js';

/** The BOOTP/DHCP ports (RFC 2131 4.1). */
export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;

export interface DhcpServerOptions {
  /** The server identifier (option 54) and the address replies come from. */
  serverIp: number;
  network: number;
  prefixLength: number;
  router: number | null;
  dns: number | null;
  /** Option 15, the domain clients append to short names. */
  domain: string | null;
  /** Option 67 and the BOOTP `file` field. */
  bootFile: string | null;
  /** Option 66 and `siaddr`, the next server for network boot. */
  tftpServer: number | null;
  /** The pool, inclusive: the first client gets firstIp. */
  firstIp: number;
  lastIp: number;
  leaseSeconds: number;
  /** Told why a message got no reply when that is the client's fault or the pool's (e.g. "dhcp-bad-cookie"). */
  drop?: (reason: string) => void;
  /** Wall clock in milliseconds, for lease expiry (tests pass their own). */
  now?: () => number;
}

export interface DhcpReply {
  reply: Uint8Array;
  /**
   * The client's address the reply is for: yiaddr of an OFFER or ACK, the client's ciaddr for the ACK
   * of an INFORM, 0 for a NAK. A unicast reply goes to this address.
   */
  yiaddr: number;
  /** Send to 255.255.255.255 and ff:ff:ff:ff:ff:ff: the client asked for it or has no address yet. */
  broadcast: boolean;
}

export interface DhcpLease {
  mac: string;
  ip: number;
  hostname: string | null;
}

// The BOOTP message, RFC 2131 section 2 figure 1.
const OP = 0, HTYPE = 1, HLEN = 2, XID = 4, FLAGS = 10, CIADDR = 12, YIADDR = 16, SIADDR = 20, GIADDR = 24;
const CHADDR = 28, FILE = 108, FILE_LEN = 128, COOKIE = 236, OPTIONS = 240;
const MAGIC_COOKIE = 0x63825363; // 99.130.83.99, RFC 2131 section 3
const BOOTREQUEST = 1, BOOTREPLY = 2;
const HTYPE_ETHERNET = 1;
const FLAG_BROADCAST = 0x8000;
/** RFC 1542 section 3.2.1: relay agents and old clients expect at least 300 octets. */
const BOOTP_MIN = 300;

// DHCP message types, RFC 2132 section 9.6.
const DHCPDISCOVER = 1, DHCPOFFER = 2, DHCPREQUEST = 3, DHCPDECLINE = 4, DHCPACK = 5, DHCPNAK = 6;
const DHCPRELEASE = 7, DHCPINFORM = 8;

// Option codes, RFC 2132.
const OPT_PAD = 0, OPT_SUBNET = 1, OPT_ROUTER = 3, OPT_DNS = 6, OPT_HOSTNAME = 12, OPT_DOMAIN = 15;
const OPT_REQUESTED_IP = 50, OPT_LEASE = 51, OPT_MESSAGE_TYPE = 53, OPT_SERVER_ID = 54, OPT_MESSAGE = 56;
const OPT_T1 = 58, OPT_T2 = 59, OPT_TFTP_SERVER = 66, OPT_BOOTFILE = 67, OPT_END = 255;

/** How long an offered address stays reserved for the client that was offered it. */
const OFFER_HOLD_MS = 60_000;
/** RFC 2131 4.3.3: a declined address is marked unusable; this is how long. */
const DECLINE_HOLD_MS = 600_000;

interface Lease {
  mac: string;
  ip: number;
  hostname: string | null;
  state: 'offered' | 'bound' | 'released';
  expires: number;
}

type Options = Map<number, Uint8Array>;

export class DhcpServer {
  private readonly byMac = new Map<string, Lease>();
  private readonly byIp = new Map<number, Lease>();
  private readonly declined = new Map<number, number>();
  private readonly mask: number;
  private readonly now: () => number;

  constructor(private readonly o: DhcpServerOptions) {
    this.mask = o.prefixLength === 0 ? 0 : (0xffffffff << (32 - o.prefixLength)) >>> 0;
    this.now = o.now ?? Date.now;
  }

  /** A BOOTP/DHCP message from a client; null when there is nothing to send (see `drop` for why). */
  handle(payload: Uint8Array): DhcpReply | null {
    if (payload.length < OPTIONS) return this.fail('dhcp-short');
    if (payload[OP] !== BOOTREQUEST) return this.fail('dhcp-not-request');
    if (payload[HTYPE] !== HTYPE_ETHERNET || payload[HLEN] !== 6) return this.fail('dhcp-hardware-type');
    if (readIp(payload, COOKIE) !== MAGIC_COOKIE) return this.fail('dhcp-bad-cookie');
    const opts = parseOptions(payload, OPTIONS);
    if (opts === null) return this.fail('dhcp-bad-options');

    const mac = formatMac(payload.subarray(CHADDR, CHADDR + 6));
    const type = opts.get(OPT_MESSAGE_TYPE);
    const requested = ipOption(opts, OPT_REQUESTED_IP);
    const serverId = ipOption(opts, OPT_SERVER_ID);
    if (type !== undefined && type.length !== 1) return this.fail('dhcp-bad-options');
    if (requested === undefined || serverId === undefined) return this.fail('dhcp-bad-options');
    const hostname = textOption(opts.get(OPT_HOSTNAME));
    const ciaddr = readIp(payload, CIADDR);

    if (type === undefined) return this.bootp(payload, mac, hostname);
    switch (type[0]) {
      case DHCPDISCOVER: return this.discover(payload, mac, requested, hostname);
      case DHCPREQUEST: return this.request(payload, mac, requested, serverId, ciaddr, hostname);
      case DHCPDECLINE: return this.decline(mac, requested, serverId);
      case DHCPRELEASE: return this.release(mac, ciaddr, serverId);
      case DHCPINFORM: return this.inform(payload, ciaddr);
      default: return this.fail('dhcp-message-type');
    }
  }

  /** The clients that hold an address now. */
  leases(): DhcpLease[] {
    const now = this.now();
    const out: DhcpLease[] = [];
    for (const l of this.byMac.values()) {
      if (l.state === 'bound' && l.expires > now) out.push({ mac: l.mac, ip: l.ip, hostname: l.hostname });
    }
    return out;
  }

  /** The address of the client that called itself `name` (option 12), with or without the domain. */
  lookupName(name: string): number | null {
    let n = name.toLowerCase();
    if (n.endsWith('.')) n = n.slice(0, -1);
    const domain = this.o.domain?.toLowerCase();
    if (domain !== undefined && domain !== '' && n.endsWith(`.${domain}`)) n = n.slice(0, -domain.length - 1);
    if (n === '') return null;
    for (const l of this.leases()) if (l.hostname !== null && l.hostname.toLowerCase() === n) return l.ip;
    return null;
  }

  private fail(reason: string): null {
    this.o.drop?.(reason);
    return null;
  }

  private discover(req: Uint8Array, mac: string, requested: number | null, hostname: string | null): DhcpReply | null {
    const ip = this.allocate(mac, requested);
    if (ip === null) return this.fail('dhcp-pool-exhausted');
    const lease = this.take(mac, ip);
    if (lease.state !== 'bound' || lease.expires <= this.now()) {
      lease.state = 'offered';
      lease.expires = this.now() + OFFER_HOLD_MS;
    }
    if (hostname !== null) lease.hostname = hostname;
    return this.reply(req, DHCPOFFER, ip, 0, true);
  }

  /** RFC 2131 4.3.2: the client's state shows in which of server id, requested address and ciaddr it fills in. */
  private request(req: Uint8Array, mac: string, requested: number | null, serverId: number | null,
    ciaddr: number, hostname: string | null): DhcpReply | null {
    const lease = this.byMac.get(mac);
    let ip: number;
    if (serverId !== null) {
      // SELECTING: the client has chosen among the offers.
      if (serverId !== this.o.serverIp) {
        // It chose another server's: let our offer go, and say nothing.
        if (lease !== undefined && lease.state === 'offered') lease.expires = 0;
        return null;
      }
      ip = requested ?? ciaddr;
      if (lease === undefined || lease.ip !== ip || !this.usable(ip)) return this.nak(req, 'address not offered');
    } else if (requested !== null) {
      // INIT-REBOOT: the client asks for an address it had. The RFC lets a server with no record of it
      // stay silent; granting a free address instead saves the client a long timeout after we restart.
      ip = requested;
      if (!this.grantable(mac, ip)) return this.nak(req, 'address not available');
    } else if (ciaddr !== 0) {
      // RENEWING or REBINDING.
      ip = ciaddr;
      if (!this.grantable(mac, ip)) return this.nak(req, 'lease not renewable');
    } else {
      return this.fail('dhcp-bad-request');
    }
    const l = this.take(mac, ip);
    l.state = 'bound';
    l.expires = this.now() + this.o.leaseSeconds * 1000;
    if (hostname !== null) l.hostname = hostname;
    // Table 3: ciaddr is copied from the request; a renewing client is reached at its address.
    return this.reply(req, DHCPACK, ip, ciaddr, ciaddr === 0);
  }

  private decline(mac: string, requested: number | null, serverId: number | null): null {
    if (serverId !== null && serverId !== this.o.serverIp) return null;
    const lease = this.byMac.get(mac);
    if (requested === null || lease === undefined || lease.ip !== requested) return this.fail('dhcp-bad-decline');
    // Someone else answers at this address: never hand it out for a while, and give the client another.
    this.byMac.delete(mac);
    this.byIp.delete(lease.ip);
    this.declined.set(lease.ip, this.now() + DECLINE_HOLD_MS);
    return null;
  }

  private release(mac: string, ciaddr: number, serverId: number | null): null {
    if (serverId !== null && serverId !== this.o.serverIp) return null;
    const lease = this.byMac.get(mac);
    if (lease === undefined || lease.ip !== ciaddr) return this.fail('dhcp-bad-release');
    // Kept, not forgotten, so the client gets the same address when it comes back.
    lease.state = 'released';
    lease.expires = 0;
    return null;
  }

  /** RFC 2131 4.3.5: configuration only, no lease; the ACK goes to the client's own address. */
  private inform(req: Uint8Array, ciaddr: number): DhcpReply {
    const r = this.reply(req, DHCPACK, 0, ciaddr, ciaddr === 0, false);
    return { reply: r.reply, yiaddr: ciaddr, broadcast: r.broadcast };
  }

  /** A plain BOOTP request (no option 53): an address with no lease time, as RFC 951 had it. */
  private bootp(req: Uint8Array, mac: string, hostname: string | null): DhcpReply | null {
    const ip = this.allocate(mac, null);
    if (ip === null) return this.fail('dhcp-pool-exhausted');
    const l = this.take(mac, ip);
    l.state = 'bound';
    l.expires = this.now() + this.o.leaseSeconds * 1000;
    if (hostname !== null) l.hostname = hostname;
    return this.reply(req, 0, ip, 0, true, false);
  }

  /** The address for `mac`: the one it has, the one it asks for if free, or the first free one. */
  private allocate(mac: string, requested: number | null): number | null {
    const had = this.byMac.get(mac);
    if (had !== undefined && this.usable(had.ip)) return had.ip;
    if (requested !== null && this.grantable(mac, requested)) return requested;
    for (let ip = this.o.firstIp; ip <= this.o.lastIp; ip++) {
      if (this.usable(ip) && !this.byIp.has(ip)) return ip;
    }
    // The pool is full: take back the address whose holder let it go longest ago.
    const now = this.now();
    let oldest: Lease | null = null;
    for (const l of this.byIp.values()) {
      if (l.mac === mac || (l.state === 'bound' && l.expires > now) || (l.state === 'offered' && l.expires > now)) continue;
      if (!this.usable(l.ip)) continue;
      if (oldest === null || l.expires < oldest.expires) oldest = l;
    }
    return oldest?.ip ?? null;
  }

  /** Whether `mac` may have `ip`: in the pool, not declined, and held by nobody else. */
  private grantable(mac: string, ip: number): boolean {
    if (!this.usable(ip)) return false;
    const holder = this.byIp.get(ip);
    if (holder === undefined || holder.mac === mac) return true;
    const now = this.now();
    return holder.state === 'released' || holder.expires <= now;
  }

  private usable(ip: number): boolean {
    if (ip < this.o.firstIp || ip > this.o.lastIp) return false;
    if ((ip & this.mask) >>> 0 !== this.o.network) return false;
    const host = (ip & ~this.mask) >>> 0;
    if (host === 0 || host === (~this.mask >>> 0)) return false;
    if (ip === this.o.serverIp || ip === this.o.router || ip === this.o.dns || ip === this.o.tftpServer) return false;
    const until = this.declined.get(ip);
    if (until === undefined) return true;
    if (until > this.now()) return false;
    this.declined.delete(ip);
    return true;
  }

  /** Gives `ip` to `mac`, taking it from whoever held it and freeing the address `mac` held before. */
  private take(mac: string, ip: number): Lease {
    let lease = this.byMac.get(mac);
    const holder = this.byIp.get(ip);
    if (holder !== undefined && holder.mac !== mac) this.byMac.delete(holder.mac);
    if (lease === undefined) {
      lease = { mac, ip, hostname: null, state: 'offered', expires: 0 };
      this.byMac.set(mac, lease);
    } else if (lease.ip !== ip) {
      this.byIp.delete(lease.ip);
      lease.ip = ip;
    }
    this.byIp.set(ip, lease);
    return lease;
  }

  private nak(req: Uint8Array, message: string): DhcpReply {
    const r = this.build(req, DHCPNAK, 0, 0, [[OPT_MESSAGE, new TextEncoder().encode(message)]], false);
    // RFC 2131 4.3.2: with giaddr zero, a NAK is broadcast (the client's address is in doubt).
    return { reply: r, yiaddr: 0, broadcast: true };
  }

  /** An OFFER or ACK (or a BOOTP reply, type 0) carrying the configuration. */
  private reply(req: Uint8Array, type: number, yiaddr: number, ciaddr: number, noAddress: boolean, lease = true): DhcpReply {
    const o = this.o;
    const opts: [number, Uint8Array][] = [];
    if (lease) {
      opts.push([OPT_LEASE, u32(o.leaseSeconds)]);
      // RFC 2131 4.4.5 defaults: T1 at half the lease, T2 at seven eighths.
      opts.push([OPT_T1, u32(Math.floor(o.leaseSeconds / 2))]);
      opts.push([OPT_T2, u32(Math.floor(o.leaseSeconds * 7 / 8))]);
    }
    opts.push([OPT_SUBNET, u32(this.mask)]);
    if (o.router !== null) opts.push([OPT_ROUTER, u32(o.router)]);
    if (o.dns !== null) opts.push([OPT_DNS, u32(o.dns)]);
    if (o.domain !== null && o.domain !== '') opts.push([OPT_DOMAIN, text(o.domain)]);
    if (o.tftpServer !== null) opts.push([OPT_TFTP_SERVER, text(formatIp(o.tftpServer))]);
    if (o.bootFile !== null && o.bootFile !== '') opts.push([OPT_BOOTFILE, text(o.bootFile)]);
    const r = this.build(req, type, yiaddr, ciaddr, opts, true);
    const broadcast = (((req[FLAGS] << 8) | req[FLAGS + 1]) & FLAG_BROADCAST) !== 0 || noAddress;
    return { reply: r, yiaddr, broadcast };
  }

  private build(req: Uint8Array, type: number, yiaddr: number, ciaddr: number, opts: [number, Uint8Array][], boot: boolean): Uint8Array {
    const all: [number, Uint8Array][] = [];
    if (type !== 0) all.push([OPT_MESSAGE_TYPE, Uint8Array.of(type)], [OPT_SERVER_ID, u32(this.o.serverIp)]);
    all.push(...opts);
    let size = OPTIONS + 1;
    for (const [, v] of all) size += 2 + v.length;
    const r = new Uint8Array(Math.max(BOOTP_MIN, size));
    r[OP] = BOOTREPLY; r[HTYPE] = HTYPE_ETHERNET; r[HLEN] = 6;
    r.set(req.subarray(XID, XID + 4), XID);
    r.set(req.subarray(FLAGS, FLAGS + 2), FLAGS);
    writeIp(r, CIADDR, ciaddr);
    writeIp(r, YIADDR, yiaddr);
    writeIp(r, SIADDR, boot ? this.o.tftpServer ?? 0 : 0);
    r.set(req.subarray(GIADDR, GIADDR + 4), GIADDR);
    r.set(req.subarray(CHADDR, CHADDR + 16), CHADDR);
    if (boot && this.o.bootFile !== null) {
      // The field is NUL-terminated; a longer name is in option 67 only.
      const f = text(this.o.bootFile);
      if (f.length < FILE_LEN) r.set(f, FILE);
    }
    writeIp(r, COOKIE, MAGIC_COOKIE);
    let p = OPTIONS;
    for (const [code, v] of all) {
      r[p++] = code; r[p++] = v.length;
      r.set(v, p); p += v.length;
    }
    r[p] = OPT_END;
    return r;
  }
}

/**
 * The options from `start` to the end (or the end option). RFC 3396: an option that appears more than
 * once is the concatenation of its parts. Null when an option runs past the message.
 */
function parseOptions(b: Uint8Array, start: number): Options | null {
  const opts: Options = new Map();
  let p = start;
  while (p < b.length) {
    const code = b[p++];
    if (code === OPT_PAD) continue;
    if (code === OPT_END) break;
    if (p >= b.length) return null;
    const len = b[p++];
    if (p + len > b.length) return null;
    const v = b.slice(p, p + len);
    p += len;
    const had = opts.get(code);
    if (had === undefined) {
      opts.set(code, v);
    } else {
      const joined = new Uint8Array(had.length + v.length);
      joined.set(had); joined.set(v, had.length);
      opts.set(code, joined);
    }
  }
  return opts;
}

/** An address option: null when absent, undefined when its length is wrong. */
function ipOption(opts: Options, code: number): number | null | undefined {
  const v = opts.get(code);
  if (v === undefined) return null;
  return v.length === 4 ? readIp(v, 0) : undefined;
}

/** A text option, without the NULs some clients end it with; null when absent or empty. */
function textOption(v: Uint8Array | undefined): string | null {
  if (v === undefined) return null;
  let end = v.length;
  while (end > 0 && v[end - 1] === 0) end--;
  if (end === 0) return null;
  return String.fromCharCode(...v.subarray(0, end));
}

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  writeIp(b, 0, v >>> 0);
  return b;
}

/** Text for an option: at most 255 bytes, the most one option holds. */
function text(s: string): Uint8Array {
  return new TextEncoder().encode(s).subarray(0, 255);
}
