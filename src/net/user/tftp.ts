/**
 * TFTP server at the gateway: RFC 1350 read requests in modes octet and netascii, with option
 * negotiation (RFC 2347) for blksize (RFC 2348), tsize and timeout (RFC 2349). Read-only, confined to
 * `--tftp DIR`.
 *
 * Every reply is sent synchronously from inside input(): a boot loader that busy-polls its NIC (U-Boot,
 * iPXE, OpenSBI-era loaders) gets the next block at once instead of waiting for the event loop, so
 * blocks are read with fs.readSync from an fd each transfer keeps open.
 */
import { closeSync, constants, fstatSync, openSync, readSync, realpathSync } from 'node:fs';
import { join, sep } from 'node:path';
import { buildUdp } from '../ipv4.js';
import type { UserNetContext } from './context.js';

export const TFTP_PORT = 69;

const OP_RRQ = 1, OP_WRQ = 2, OP_DATA = 3, OP_ACK = 4, OP_ERROR = 5, OP_OACK = 6;

// RFC 1350 appendix, RFC 2347 (8).
const ERR_UNDEFINED = 0, ERR_NOT_FOUND = 1, ERR_ACCESS = 2, ERR_ILLEGAL = 4, ERR_UNKNOWN_TID = 5;

/** RFC 1350's block size, used when the client does not ask for another. */
const DEFAULT_BLKSIZE = 512;
/**
 * The largest block whose DATA packet fits an ethernet MTU of 1500: 1500 − 20 (IPv4) − 8 (UDP) − 4 (TFTP).
 * The stack never fragments, so a larger block would never arrive.
 */
export const TFTP_MAX_BLKSIZE = 1468;
/** RFC 2348: "Valid values range between 8 and 65464 octets, inclusive." */
const BLKSIZE_MIN = 8, BLKSIZE_MAX = 65464;
/** Transfer IDs (the server's port per transfer) come from the dynamic range, RFC 6335. */
const FIRST_TID = 49152, LAST_TID = 65535;

export interface TftpTunables {
  /** Retransmission timeout when the client sets none (ms); 1000. */
  timeoutMs?: number;
  /** Retransmissions of one packet before the transfer is dropped; 5. */
  retries?: number;
  /** Upper bound for blksize; TFTP_MAX_BLKSIZE. */
  maxBlksize?: number;
  /** Transfers at once; 64. */
  maxTransfers?: number;
}

/** Why a request is refused: the TFTP error code and its message. */
class Refusal {
  constructor(readonly code: number, readonly message: string) {}
}

interface Request {
  filename: string;
  mode: string;
  /** Option names lower-cased, first occurrence wins (RFC 2347 leaves duplicates undefined). */
  options: Map<string, string>;
}

/** One read transfer: the file, where the client is, and the last packet in case it must go again. */
interface Transfer {
  readonly tid: number;
  readonly clientIp: number;
  readonly clientPort: number;
  /** The RRQ's bytes, to tell a retransmitted request from a new one. */
  readonly request: Uint8Array;
  readonly fd: number;
  readonly blksize: number;
  readonly netascii: boolean;
  readonly timeoutMs: number;
  /** The number of the last DATA sent, not wrapped; 0 while an OACK waits for ACK 0. */
  block: number;
  /** The last DATA sent was shorter than blksize: its ACK ends the transfer. */
  last: boolean;
  /** Whether the client has acknowledged anything yet. */
  acked: boolean;
  /** The last packet sent (a whole IPv4 packet), for retransmission. */
  packet: Uint8Array;
  tries: number;
  timer: NodeJS.Timeout | null;
  /** Reusable block buffer. */
  readonly buf: Uint8Array;
  /** octet: the file offset of the next block. netascii: the offset of the next raw read. */
  offset: number;
  // netascii conversion state: raw bytes read ahead, and a byte of a CR LF / CR NUL pair that did not fit.
  raw: Uint8Array | null;
  rawPos: number;
  rawLen: number;
  carry: number;
}

export class TftpServer {
  private readonly transfers = new Map<number, Transfer>();
  private nextTid = FIRST_TID;
  private closed = false;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly maxBlksize: number;
  private readonly maxTransfers: number;

  constructor(private readonly ctx: UserNetContext, private readonly root: string, tunables: TftpTunables = {}) {
    this.timeoutMs = tunables.timeoutMs ?? 1000;
    this.retries = tunables.retries ?? 5;
    this.maxBlksize = Math.max(BLKSIZE_MIN, Math.min(tunables.maxBlksize ?? TFTP_MAX_BLKSIZE, BLKSIZE_MAX));
    // Bounded well below the 16384 transfer ports, so allocTid always finds a free one.
    this.maxTransfers = Math.min(tunables.maxTransfers ?? 64, 1024);
  }

  /** Whether UDP port `port` on the gateway is the server's (69, or a transfer's own port). */
  owns(port: number): boolean {
    return !this.closed && this.root !== '' && (port === TFTP_PORT || this.transfers.has(port));
  }

  /** A UDP datagram from the guest to the gateway at `dstPort`. Replies go out through ctx.sendIp. */
  input(srcIp: number, srcPort: number, dstPort: number, data: Uint8Array): void {
    if (this.closed) { this.ctx.drop('tftp-closed'); return; }
    if (data.length < 4) { this.ctx.drop('tftp-short'); return; }
    const op = (data[0] << 8) | data[1];
    if (dstPort === TFTP_PORT) { this.request(srcIp, srcPort, op, data); return; }
    const t = this.transfers.get(dstPort);
    if (t === undefined) { this.ctx.drop('tftp-no-transfer'); return; }
    if (srcIp !== t.clientIp || srcPort !== t.clientPort) {
      // RFC 1350 4: a packet from a stranger gets ERROR 5 and leaves the transfer alone.
      this.ctx.drop('tftp-unknown-tid');
      this.sendError(srcIp, srcPort, dstPort, ERR_UNKNOWN_TID, 'unknown transfer ID');
      return;
    }
    if (op === OP_ACK) this.ack(t, (data[2] << 8) | data[3]);
    else if (op === OP_ERROR) {
      // The client gives up (or refuses our OACK with error 8, RFC 2347): no reply to an ERROR.
      this.ctx.count('tftp-client-errors');
      this.end(t);
    } else this.ctx.drop('tftp-unexpected-opcode');
  }

  /** Closes every transfer's file and timer. */
  close(): void {
    this.closed = true;
    for (const t of [...this.transfers.values()]) this.end(t);
  }

  // --- requests on port 69 ---

  private request(srcIp: number, srcPort: number, op: number, data: Uint8Array): void {
    if (op !== OP_RRQ && op !== OP_WRQ) { this.ctx.drop('tftp-unexpected-opcode'); return; }
    const req = parseRequest(data);
    if (req === null) { this.ctx.drop('tftp-malformed'); return; }
    if (op === OP_WRQ) {
      this.ctx.count('tftp-refused');
      this.sendError(srcIp, srcPort, this.allocTid(), ERR_ACCESS, 'read-only server');
      return;
    }
    // A client that heard nothing asks again from the same port. While it has acknowledged nothing, it
    // gets the same first packet from the same TID; after that, a request means it started over.
    for (const t of this.transfers.values()) {
      if (t.clientIp !== srcIp || t.clientPort !== srcPort) continue;
      if (!t.acked && sameBytes(t.request, data)) {
        this.ctx.count('tftp-duplicate-requests');
        this.resend(t);
        return;
      }
      this.end(t);
      break;
    }
    const mode = req.mode.toLowerCase();
    if (mode !== 'octet' && mode !== 'netascii') {
      this.ctx.count('tftp-refused');
      this.sendError(srcIp, srcPort, this.allocTid(), ERR_ILLEGAL, `mode '${req.mode}' not supported`);
      return;
    }
    if (this.transfers.size >= this.maxTransfers) {
      this.ctx.count('tftp-refused');
      this.sendError(srcIp, srcPort, this.allocTid(), ERR_UNDEFINED, 'too many transfers');
      return;
    }
    const tid = this.allocTid();
    let fd: number;
    let size: number;
    try {
      ({ fd, size } = this.open(req.filename));
    } catch (e) {
      this.ctx.count('tftp-refused');
      const r = e instanceof Refusal ? e : new Refusal(ERR_UNDEFINED, 'cannot read the file');
      this.sendError(srcIp, srcPort, tid, r.code, r.message);
      return;
    }

    // RFC 2347: the OACK carries only the options the server accepts; unknown or invalid ones are left out.
    const netascii = mode === 'netascii';
    const oack: [string, string][] = [];
    let blksize = DEFAULT_BLKSIZE;
    let timeoutMs = this.timeoutMs;
    const want = req.options.get('blksize');
    if (want !== undefined && /^\d{1,5}$/.test(want)) {
      const n = Number(want);
      if (n >= BLKSIZE_MIN && n <= BLKSIZE_MAX) {
        // RFC 2348: the server may answer with a smaller size, which the client then uses.
        blksize = Math.min(n, this.maxBlksize);
        oack.push(['blksize', String(blksize)]);
      }
    }
    // RFC 2349: the client sends tsize 0 and learns the size. A netascii transfer's size is only known
    // after converting the whole file, so it is not offered there (as tftp-hpa does).
    const tsize = req.options.get('tsize');
    if (tsize !== undefined && /^\d{1,20}$/.test(tsize) && !netascii) oack.push(['tsize', String(size)]);
    const timeout = req.options.get('timeout');
    if (timeout !== undefined && /^\d{1,3}$/.test(timeout)) {
      const s = Number(timeout);
      // RFC 2349: 1 to 255 seconds.
      if (s >= 1 && s <= 255) { timeoutMs = s * 1000; oack.push(['timeout', String(s)]); }
    }

    const t: Transfer = {
      tid, clientIp: srcIp, clientPort: srcPort, request: new Uint8Array(data), fd, blksize, netascii, timeoutMs,
      block: 0, last: false, acked: false, packet: new Uint8Array(0), tries: 0, timer: null,
      buf: new Uint8Array(blksize), offset: 0, raw: null, rawPos: 0, rawLen: 0, carry: -1,
    };
    this.transfers.set(tid, t);
    this.ctx.count('tftp-transfers');
    if (oack.length > 0) this.sendPacket(t, encodeOack(oack));
    else this.nextData(t);
  }

  /**
   * Opens `filename` under the root, or throws a Refusal. No path outside the root is ever served: '..'
   * is refused outright, and what is left is resolved with realpath (so symlinks are followed) and must
   * still be inside the root's realpath.
   */
  private open(filename: string): { fd: number; size: number } {
    const rel = filename.replace(/^\/+/, '');
    if (rel === '' || rel.includes('\0')) throw new Refusal(ERR_NOT_FOUND, 'file not found');
    if (rel.split('/').includes('..')) throw new Refusal(ERR_ACCESS, 'access violation');
    let root: string;
    try {
      root = realpathSync(this.root);
    } catch {
      throw new Refusal(ERR_NOT_FOUND, 'file not found');
    }
    let real: string;
    try {
      real = realpathSync(join(root, rel));
    } catch (e) {
      throw new Refusal(errnoOf(e) === 'EACCES' ? ERR_ACCESS : ERR_NOT_FOUND, errnoOf(e) === 'EACCES' ? 'access violation' : 'file not found');
    }
    const inside = root === sep ? real.startsWith(sep) : real.startsWith(root + sep);
    if (!inside) throw new Refusal(ERR_ACCESS, 'access violation');
    let fd: number;
    try {
      // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer and hang the VM.
      // O_NOFOLLOW: the path was just resolved, so a symlink here is one swapped in since.
      fd = openSync(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    } catch (e) {
      throw new Refusal(errnoOf(e) === 'ENOENT' ? ERR_NOT_FOUND : ERR_ACCESS, errnoOf(e) === 'ENOENT' ? 'file not found' : 'access violation');
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new Refusal(ERR_ACCESS, 'not a regular file');
      return { fd, size: st.size };
    } catch (e) {
      closeSync(fd);
      throw e instanceof Refusal ? e : new Refusal(ERR_ACCESS, 'access violation');
    }
  }

  /** The next free port from 49152 up, wrapping; a port in use by a transfer is skipped. */
  private allocTid(): number {
    for (;;) {
      const tid = this.nextTid;
      this.nextTid = tid === LAST_TID ? FIRST_TID : tid + 1;
      if (!this.transfers.has(tid)) return tid;
    }
  }

  // --- a transfer ---

  private ack(t: Transfer, n: number): void {
    // RFC 1123 4.2.3.1: only the ACK of the block just sent moves the transfer on. Answering a duplicate
    // ACK with the next block again would double every packet from then on (the Sorcerer's Apprentice).
    if (n !== (t.block & 0xffff)) { this.ctx.count('tftp-stale-acks'); return; }
    t.acked = true;
    if (t.last) { this.ctx.count('tftp-completed'); this.end(t); return; }
    this.nextData(t);
  }

  private nextData(t: Transfer): void {
    let n: number;
    try {
      n = t.netascii ? this.fillNetascii(t) : this.fillOctet(t);
    } catch (e) {
      this.ctx.log(`tftp: read failed: ${e instanceof Error ? e.message : String(e)}`);
      this.sendError(t.clientIp, t.clientPort, t.tid, ERR_UNDEFINED, 'read error');
      this.end(t);
      return;
    }
    t.block++;
    t.last = n < t.blksize;
    const msg = new Uint8Array(4 + n);
    msg[0] = 0; msg[1] = OP_DATA;
    // RFC 1350 leaves block numbers at 16 bits; past 65535 they wrap to 0, as tftp-hpa, U-Boot and
    // iPXE expect, so files over 32 MiB (at 512-byte blocks) still go through.
    msg[2] = (t.block >>> 8) & 0xff; msg[3] = t.block & 0xff;
    msg.set(t.buf.subarray(0, n), 4);
    this.sendPacket(t, msg);
  }

  /** Reads the next block of raw bytes into t.buf; fewer than blksize only at the end of the file. */
  private fillOctet(t: Transfer): number {
    let n = 0;
    while (n < t.blksize) {
      const got = readSync(t.fd, t.buf, n, t.blksize - n, t.offset + n);
      if (got === 0) break;
      n += got;
    }
    t.offset += n;
    return n;
  }

  /** Fills t.buf with the next block of netascii (RFC 764: LF → CR LF, CR → CR NUL). */
  private fillNetascii(t: Transfer): number {
    const out = t.buf;
    let i = 0;
    if (t.carry >= 0) { out[i++] = t.carry; t.carry = -1; }
    while (i < t.blksize) {
      if (t.rawPos === t.rawLen) {
        if (t.raw === null) t.raw = new Uint8Array(t.blksize);
        t.rawLen = readSync(t.fd, t.raw, 0, t.raw.length, t.offset);
        t.rawPos = 0;
        t.offset += t.rawLen;
        if (t.rawLen === 0) break;
      }
      const b = (t.raw as Uint8Array)[t.rawPos++];
      if (b === 0x0a || b === 0x0d) {
        out[i++] = 0x0d;
        const second = b === 0x0a ? 0x0a : 0x00;
        if (i < t.blksize) out[i++] = second;
        else t.carry = second;
      } else out[i++] = b;
    }
    return i;
  }

  /** Sends a new packet of the transfer and arms its retransmission. */
  private sendPacket(t: Transfer, msg: Uint8Array): void {
    t.packet = buildUdp(this.ctx.config.gateway, t.tid, t.clientIp, t.clientPort, msg);
    t.tries = 0;
    this.ctx.sendIp(t.packet);
    if (t.timer === null) {
      t.timer = setTimeout(() => this.timeout(t), t.timeoutMs);
      t.timer.unref();
    } else t.timer.refresh();
  }

  private resend(t: Transfer): void {
    this.ctx.sendIp(t.packet);
    t.timer?.refresh();
  }

  private timeout(t: Transfer): void {
    if (this.transfers.get(t.tid) !== t) return;
    if (t.tries >= this.retries) {
      this.ctx.count('tftp-timeouts');
      this.end(t);
      return;
    }
    t.tries++;
    this.ctx.count('tftp-retransmits');
    this.resend(t);
  }

  private end(t: Transfer): void {
    if (t.timer !== null) { clearTimeout(t.timer); t.timer = null; }
    if (this.transfers.get(t.tid) === t) {
      this.transfers.delete(t.tid);
      try { closeSync(t.fd); } catch { /* already gone: nothing to release */ }
    }
  }

  private sendError(dstIp: number, dstPort: number, srcPort: number, code: number, message: string): void {
    const text = new TextEncoder().encode(message);
    const msg = new Uint8Array(5 + text.length);
    msg[1] = OP_ERROR;
    msg[3] = code;
    msg.set(text, 4);
    this.ctx.sendIp(buildUdp(this.ctx.config.gateway, srcPort, dstIp, dstPort, msg));
  }
}

/** RRQ/WRQ: opcode, filename NUL, mode NUL, then (RFC 2347) option NUL value NUL pairs. Null if malformed. */
function parseRequest(data: Uint8Array): Request | null {
  const fields: string[] = [];
  let start = 2;
  for (let i = 2; i < data.length; i++) {
    if (data[i] !== 0) continue;
    fields.push(Buffer.from(data.buffer, data.byteOffset + start, i - start).toString('utf8'));
    start = i + 1;
  }
  // Every field must be NUL-terminated; filename and mode are required and options come in pairs.
  if (start !== data.length || fields.length < 2 || fields.length % 2 !== 0) return null;
  const options = new Map<string, string>();
  for (let i = 2; i < fields.length; i += 2) {
    const name = fields[i].toLowerCase();
    if (!options.has(name)) options.set(name, fields[i + 1]);
  }
  return { filename: fields[0], mode: fields[1], options };
}

function encodeOack(options: [string, string][]): Uint8Array {
  const text = options.map(([k, v]) => `${k}\0${v}\0`).join('');
  const body = new TextEncoder().encode(text);
  const msg = new Uint8Array(2 + body.length);
  msg[1] = OP_OACK;
  msg.set(body, 2);
  return msg;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}
