/**
 * The DNS server at the user network's DNS address (RFC 1035). A and AAAA questions are answered from
 * the host's resolver (getaddrinfo: /etc/hosts, then whatever the host uses), so the guest sees what a
 * program on the host sees; other questions are passed as they are to the host's first name server.
 */
// The default import is node:dns's own exports object: after dns.setServers() its getServers() sees
// the new servers, where a named import keeps the resolver there was when this module loaded.
import nodeDns from 'node:dns';
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { writeIp } from '../ipv4.js';

/** The host's addresses for `name` in `family`; rejects with an error carrying node:dns's `code`. */
export const DNS_PORT = 53;

export type HostLookup = (name: string, family: 4 | 6) => Promise<string[]>;
/** Sends a raw query upstream and resolves to the raw response, or null on failure or timeout. */
export type DnsForward = (query: Uint8Array) => Promise<Uint8Array | null>;

export interface DnsServerOptions {
  /** Names this network knows itself (the guest, DHCP clients): their IPv4 address, or null. */
  localName?: (name: string) => number | null;
  /** Told why a query got no answer (malformed, too many in flight). */
  drop?: (reason: string) => void;
  lookup?: HostLookup;
  forward?: DnsForward;
  /** How long a forwarded query waits for the upstream server. */
  forwardTimeoutMs?: number;
}

const HEADER = 12;
const TYPE_A = 1, TYPE_AAAA = 28, CLASS_IN = 1;
const RCODE_NOERROR = 0, RCODE_SERVFAIL = 2, RCODE_NXDOMAIN = 3, RCODE_NOTIMP = 4;
const TTL = 60;
/** RFC 1035 2.3.4: a name is at most 255 octets on the wire (a label's 63 is its length byte's 6 bits). */
const MAX_NAME = 255;
/** More pointers than this in one name can only be a loop or an attack. */
const MAX_POINTERS = 16;
/** RFC 1035 4.2.1: a UDP answer without EDNS fits in 512 octets; we drop answers rather than truncate. */
const MAX_UDP_REPLY = 512;
const MAX_IN_FLIGHT = 64;
const FORWARD_TIMEOUT_MS = 3000;

export interface DnsQuestion {
  id: number;
  /** RD, copied into the answer. */
  recursionDesired: boolean;
  opcode: number;
  /** The labels, as bytes, and joined with dots for the host resolver (null when a label is not a plain host label). */
  labels: Uint8Array[];
  name: string | null;
  qtype: number;
  qclass: number;
  /** The question section's bytes, echoed into the answer (offset HEADER, so its pointers stay right). */
  question: Uint8Array;
}

/**
 * Parses a query: a 12-byte header with QR clear, exactly one question and no answer or authority
 * records. Null when it is anything else or runs out of bytes.
 */
export function parseQuery(q: Uint8Array): DnsQuestion | null {
  if (q.length < HEADER) return null;
  const flags = (q[2] << 8) | q[3];
  if ((flags & 0x8000) !== 0) return null; // a response: never answer one (no loops)
  const qdcount = (q[4] << 8) | q[5];
  const ancount = (q[6] << 8) | q[7];
  const nscount = (q[8] << 8) | q[9];
  if (qdcount !== 1 || ancount !== 0 || nscount !== 0) return null;
  const labels = readName(q, HEADER);
  if (labels === null) return null;
  const end = labels.end;
  if (end + 4 > q.length) return null;
  return {
    id: (q[0] << 8) | q[1],
    recursionDesired: (flags & 0x0100) !== 0,
    opcode: (flags >>> 11) & 0x0f,
    labels: labels.labels,
    name: hostName(labels.labels),
    qtype: (q[end] << 8) | q[end + 1],
    qclass: (q[end + 2] << 8) | q[end + 3],
    question: q.slice(HEADER, end + 4),
  };
}

/**
 * The labels of the name at `start` and where the name ends in place (after its first pointer, or its
 * root label). RFC 1035 4.1.4 pointers refer to a prior occurrence; here each must point before the
 * run of labels it ends, so following them always ends. (In a query's only question that refuses
 * every pointer: nothing but the header comes before it.)
 */
function readName(b: Uint8Array, start: number): { labels: Uint8Array[]; end: number } | null {
  const labels: Uint8Array[] = [];
  let p = start;
  let end = -1;
  let wire = 0;
  let pointers = 0;
  let limit = start; // pointers must go strictly backwards from the last one followed
  for (;;) {
    if (p >= b.length) return null;
    const len = b[p];
    if ((len & 0xc0) === 0xc0) {
      if (p + 1 >= b.length) return null;
      const target = ((len & 0x3f) << 8) | b[p + 1];
      if (end < 0) end = p + 2;
      if (++pointers > MAX_POINTERS || target < HEADER || target >= limit) return null;
      limit = target;
      p = target;
      continue;
    }
    if ((len & 0xc0) !== 0) return null; // 0x40 and 0x80 label types (RFC 6891 obsoleted them)
    wire += len + 1;
    if (wire > MAX_NAME) return null;
    if (len === 0) {
      if (end < 0) end = p + 1;
      return { labels, end };
    }
    if (p + 1 + len > b.length) return null;
    labels.push(b.slice(p + 1, p + 1 + len));
    p += 1 + len;
  }
}

/**
 * The dotted name to give getaddrinfo, or null when a label holds bytes no host name has: a dot inside
 * a label, a NUL or a space would make the host resolver look up some other name.
 */
function hostName(labels: Uint8Array[]): string | null {
  const parts: string[] = [];
  for (const l of labels) {
    for (const c of l) {
      const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x5f;
      if (!ok) return null;
    }
    parts.push(String.fromCharCode(...l));
  }
  return parts.join('.');
}

export class DnsServer {
  private inFlight = 0;
  private readonly lookup: HostLookup;
  private readonly forward: DnsForward;

  constructor(private readonly options: DnsServerOptions = {}) {
    this.lookup = options.lookup ?? hostLookup;
    this.forward = options.forward ?? ((query) => forwardToHostServer(query, options.forwardTimeoutMs ?? FORWARD_TIMEOUT_MS));
  }

  /** The answer to `query`, or null when it deserves none. Never rejects. */
  async answer(query: Uint8Array): Promise<Uint8Array | null> {
    const q = parseQuery(query);
    if (q === null) {
      this.options.drop?.('dns-malformed');
      return null;
    }
    if (q.opcode !== 0) return reply(q, RCODE_NOTIMP, [], 0);
    if (this.inFlight >= MAX_IN_FLIGHT) {
      this.options.drop?.('dns-busy');
      return null;
    }
    this.inFlight++;
    try {
      if (q.qclass === CLASS_IN && (q.qtype === TYPE_A || q.qtype === TYPE_AAAA)) return await this.address(q);
      const copy = query.slice();
      const upstream = await this.forward(copy).catch(() => null);
      if (upstream === null || upstream.length < HEADER || upstream[0] !== copy[0] || upstream[1] !== copy[1] || (upstream[2] & 0x80) === 0) {
        return reply(q, RCODE_SERVFAIL, [], 0);
      }
      return upstream;
    } finally {
      this.inFlight--;
    }
  }

  private async address(q: DnsQuestion): Promise<Uint8Array> {
    const family = q.qtype === TYPE_A ? 4 : 6;
    if (q.name === null) return reply(q, RCODE_NXDOMAIN, [], 0);
    if (q.name === '') return reply(q, RCODE_NOERROR, [], 0); // the root has no address
    const local = this.options.localName?.(q.name.toLowerCase()) ?? null;
    if (local !== null) {
      // The name is ours; it has an IPv4 address and no IPv6 one.
      if (family === 6) return reply(q, RCODE_NOERROR, [], 0);
      const rdata = new Uint8Array(4);
      writeIp(rdata, 0, local);
      return reply(q, RCODE_NOERROR, [rdata], TYPE_A);
    }
    const addrs = await this.resolve(q.name, family);
    if (typeof addrs === 'number') return reply(q, addrs, [], 0);
    const rdatas: Uint8Array[] = [];
    for (const a of addrs) {
      const r = family === 4 ? ipv4Bytes(a) : ipv6Bytes(a);
      if (r !== null) rdatas.push(r);
    }
    return reply(q, RCODE_NOERROR, rdatas, q.qtype);
  }

  /** The addresses, or the response code for a failure. */
  private async resolve(name: string, family: 4 | 6): Promise<string[] | number> {
    try {
      return await this.lookup(name, family);
    } catch (e) {
      if (errorCode(e) !== 'ENOTFOUND') return RCODE_SERVFAIL;
      // getaddrinfo says ENOTFOUND both for "no such name" and "no address of this family". An
      // NXDOMAIN for AAAA when the A exists makes some resolvers (musl's) fail the whole lookup, so
      // ask for the other family before saying the name does not exist (RFC 8020: NXDOMAIN means no
      // records of any type).
      try {
        await this.lookup(name, family === 4 ? 6 : 4);
        return [];
      } catch {
        return RCODE_NXDOMAIN;
      }
    }
  }
}

/** A response to `q` with `rcode` and one answer per rdata, as many as fit in 512 bytes. */
function reply(q: DnsQuestion, rcode: number, rdatas: Uint8Array[], type: number): Uint8Array {
  let size = HEADER + q.question.length;
  let n = 0;
  for (const r of rdatas) {
    const rr = 12 + r.length;
    if (size + rr > MAX_UDP_REPLY) break;
    size += rr;
    n++;
  }
  const b = new Uint8Array(size);
  b[0] = q.id >>> 8; b[1] = q.id & 0xff;
  // QR, the query's opcode, RD as asked, RA: we recurse (through the host).
  b[2] = 0x80 | (q.opcode << 3) | (q.recursionDesired ? 0x01 : 0);
  b[3] = 0x80 | rcode;
  b[5] = 1;
  b[6] = n >>> 8; b[7] = n & 0xff;
  b.set(q.question, HEADER);
  let p = HEADER + q.question.length;
  for (let i = 0; i < n; i++) {
    const r = rdatas[i];
    b[p++] = 0xc0; b[p++] = HEADER; // the name: a pointer to the question's
    b[p++] = type >>> 8; b[p++] = type & 0xff;
    b[p++] = 0; b[p++] = CLASS_IN;
    b[p++] = TTL >>> 24; b[p++] = (TTL >>> 16) & 0xff; b[p++] = (TTL >>> 8) & 0xff; b[p++] = TTL & 0xff;
    b[p++] = r.length >>> 8; b[p++] = r.length & 0xff;
    b.set(r, p); p += r.length;
  }
  return b;
}

function errorCode(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e) {
    const c = (e as { code: unknown }).code;
    return typeof c === 'string' ? c : undefined;
  }
  return undefined;
}

/** The host resolver, as a program on the host would use it (getaddrinfo). */
function hostLookup(name: string, family: 4 | 6): Promise<string[]> {
  return new Promise((resolve, reject) => {
    nodeDns.lookup(name, { all: true, family }, (err, addresses) => {
      if (err !== null) reject(err);
      else resolve(addresses.filter((a) => a.family === family).map((a) => a.address));
    });
  });
}

function ipv4Bytes(a: string): Uint8Array | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(a);
  if (m === null) return null;
  const b = Uint8Array.of(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]));
  return [m[1], m[2], m[3], m[4]].some((x) => Number(x) > 255) ? null : b;
}

/** "2001:db8::1" (or with a dotted IPv4 tail, or a %zone) → 16 bytes. */
function ipv6Bytes(a: string): Uint8Array | null {
  let s = a;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (!isIPv6(s)) return null;
  const words: number[] = [];
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  let tailBytes: Uint8Array | null = null;
  if (tail !== null) {
    tailBytes = ipv4Bytes(tail[1]);
    if (tailBytes === null) return null;
    s = s.slice(0, -tail[1].length) + '0:0';
  }
  const halves = s.split('::');
  const head = halves[0] === '' ? [] : halves[0].split(':');
  const rest = halves.length > 1 && halves[1] !== '' ? halves[1].split(':') : [];
  const fill = 8 - head.length - rest.length;
  for (const h of head) words.push(parseInt(h, 16));
  for (let i = 0; i < (halves.length > 1 ? fill : 0); i++) words.push(0);
  for (const h of rest) words.push(parseInt(h, 16));
  if (words.length !== 8) return null;
  const b = new Uint8Array(16);
  for (let i = 0; i < 8; i++) { b[2 * i] = words[i] >>> 8; b[2 * i + 1] = words[i] & 0xff; }
  if (tailBytes !== null) b.set(tailBytes, 12);
  return b;
}

/** "1.2.3.4", "1.2.3.4:5353", "::1" or "[::1]:5353" (dns.getServers' forms) → address and port. */
export function parseServer(s: string): { address: string; port: number } {
  const bracket = /^\[(.*)\](?::(\d+))?$/.exec(s);
  if (bracket !== null) return { address: bracket[1], port: bracket[2] !== undefined ? Number(bracket[2]) : 53 };
  if (isIPv6(s)) return { address: s, port: 53 };
  const colon = s.lastIndexOf(':');
  if (colon >= 0) return { address: s.slice(0, colon), port: Number(s.slice(colon + 1)) };
  return { address: s, port: 53 };
}

/** The raw query to the host's first name server; the first response with the query's id, or null. */
function forwardToHostServer(query: Uint8Array, timeoutMs: number): Promise<Uint8Array | null> {
  const servers = nodeDns.getServers();
  if (servers.length === 0) return Promise.resolve(null);
  const { address, port } = parseServer(servers[0]);
  return new Promise((resolve) => {
    const sock = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
    let done = false;
    const finish = (r: Uint8Array | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      resolve(r);
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    sock.on('error', () => finish(null));
    sock.on('message', (msg, rinfo) => {
      // Only the server we asked, with our id: anything else is someone guessing.
      if (rinfo.port !== port || msg.length < HEADER || msg[0] !== query[0] || msg[1] !== query[1]) return;
      finish(new Uint8Array(msg));
    });
    sock.send(query, port, address, (err) => { if (err) finish(null); });
  });
}
