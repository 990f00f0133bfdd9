/**
 * One proxied TCP connection. Towards the guest we are a TCP endpoint (RFC 9293) speaking for the
 * remote address the guest sees; behind us is a host socket that carries the byte streams. The host
 * socket is the "application": its data is what we send, its end is our FIN; the guest's FIN ends the
 * socket's writing half.
 *
 * Sending follows RFC 6298 (RTO), RFC 5681/6582 (slow start, fast retransmit, NewReno recovery; the
 * guest's NIC ring is the only place a segment is ever lost, and it does get full) and RFC 7323 2
 * (window scale). Memory is bounded both ways: the guest may only send into the window, which is what
 * the host socket has not buffered yet, and the host socket is paused while the guest holds back
 * acknowledgements.
 */
import { connect, type Socket } from 'node:net';
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { buildIpv4, formatIp, IPPROTO_TCP } from '../ipv4.js';
import type { UserNetContext } from './context.js';
import {
  ACK, FIN, newSegment, PSH, RST, segmentLength, seqAdd, seqDiff, seqLe, seqLt, SYN, synOptions,
  TCP_HEADER, type TcpSegment,
} from './tcp-segment.js';
import { SendQueue } from './tcp-send-queue.js';

export interface TcpTunables {
  /** Guest→host: bytes the host socket may hold unwritten; the advertised window is what is left. */
  recvWindow: number;
  /** Host→guest: unacknowledged plus unsent bytes above which the host socket is paused. */
  sendBuffer: number;
  /** Connections at once (the guest's and forwarded ones, including those still flushing). */
  maxConnections: number;
  /** Our MSS (what the link takes: 1500-byte packets); the guest's own is honoured below it. */
  mss: number;
  /** Our window-scale shift (RFC 7323), used when the guest offers scaling too. */
  windowScale: number;
  initialRtoMs: number;
  minRtoMs: number;
  maxRtoMs: number;
  /** Retransmissions (or unanswered window probes) in a row before the connection is reset. */
  maxRetries: number;
  /** How long a host connect may take before the guest's SYN is answered with RST. */
  connectTimeoutMs: number;
  /** How long a forwarded connection waits for the guest's SYN-ACK, SYN retransmissions included. */
  synTimeoutMs: number;
  /** Linger after both FINs, to acknowledge a retransmitted FIN (our short TIME-WAIT). */
  timeWaitMs: number;
  /** Out-of-order segments kept for reassembly; 0 drops them (the guest resends). */
  reassemblySegments: number;
}

/** What a connection needs from the NAT that owns it. */
export interface TcpConnOwner {
  readonly ctx: UserNetContext;
  readonly tun: TcpTunables;
  /** The guest side is done but the socket still flushes: leave the table, keep counting. */
  retire(conn: TcpConn): void;
  /** Entirely done: forget it. */
  forget(conn: TcpConn): void;
  /** Calls conn.flushAck() once the current burst of input has been processed. */
  deferAck(conn: TcpConn): void;
  /** The connection has new segments to send: it calls conn.sendOne() when its turn comes. */
  wake(conn: TcpConn): void;
}

export type TcpState = 'connecting' | 'syn-sent' | 'syn-received' | 'established' | 'fin-wait-1'
  | 'fin-wait-2' | 'close-wait' | 'closing' | 'last-ack' | 'time-wait' | 'closed';

/** A connection as a machine snapshot records it (TcpConn.saved). */
export interface SavedTcpConn { guestIp: number; guestPort: number; remoteIp: number; remotePort: number; seq: number; ack: number }

/** A snapshot for status output and tests. */
export interface TcpConnInfo {
  guest: string;
  remote: string;
  state: TcpState;
  /** Host→guest bytes held (unacknowledged and unsent). */
  sendQueued: number;
  /** Whether reading from the host socket is paused. */
  hostPaused: boolean;
  /** Guest→host bytes the host socket has not written yet. */
  hostBuffered: number;
}

/** RFC 9293 3.7.1: the MSS to assume when the guest sends none. */
const DEFAULT_MSS = 536;
const MIN_MSS = 64;
/** RFC 6928: initial window of 10 segments. */
const INITIAL_WINDOW_SEGMENTS = 10;
const MAX_CWND = 1 << 30;
/** IPv4 and TCP headers: what a segment costs the scheduler beyond its data. */
const SEGMENT_OVERHEAD = 40;

interface OutOfOrder { seq: number; data: Uint8Array; fin: boolean }

type Timer = ReturnType<typeof setTimeout>;

const now = (): number => performance.now();

/**
 * RFC 9293 3.10.7.4, first check: whether a segment of `len` (SYN and FIN included) at `seq` overlaps
 * the receive window [rcvNxt, rcvNxt + wnd).
 */
function acceptable(seq: number, len: number, rcvNxt: number, wnd: number): boolean {
  const first = seqDiff(seq, rcvNxt);
  if (len === 0) return wnd === 0 ? first === 0 : first >= 0 && first < wnd;
  if (wnd === 0) return false;
  const last = seqDiff(seqAdd(seq, len - 1), rcvNxt);
  return (first >= 0 && first < wnd) || (last >= 0 && last < wnd);
}

/**
 * The RST that answers `seg`, which belongs to no connection (RFC 9293 3.5.2 / 3.10.7.1): it carries
 * the ACK number as its sequence number, or acknowledges the segment when it had no ACK.
 */
export function sendResetFor(ctx: UserNetContext, guestIp: number, remoteIp: number, seg: TcpSegment): void {
  const r = (seg.flags & ACK) !== 0
    ? newSegment(seg.dstPort, seg.srcPort, seg.ack, 0, RST, 0, 0, 0)
    : newSegment(seg.dstPort, seg.srcPort, 0, seqAdd(seg.seq, segmentLength(seg)), RST | ACK, 0, 0, 0);
  ctx.sendIp(buildIpv4(remoteIp, guestIp, IPPROTO_TCP, r));
}

export class TcpConn {
  state: TcpState = 'closed';
  /** An ACK is owed and will go with the next segment or when the owner flushes. */
  ackPending = false;

  private sock: Socket | null = null;
  private sockClosed = false;

  // Send sequence space (RFC 9293 3.3.1). sndMax is the highest sequence sent: after a timeout sndNxt
  // goes back to sndUna and climbs again ("go back N"), so ACKs are checked against sndMax.
  private readonly iss = randomInt(0x100000000);
  private sndUna: number;
  private sndNxt: number;
  private sndMax: number;
  private sndWnd = 0;
  private maxSndWnd = 0;
  private sndWl1 = 0;
  private sndWl2 = 0;
  private sndScale = 0;
  private sndMss = DEFAULT_MSS;
  /** Data from sndUna on; the FIN, once the host ended, sits right after it in sequence space. */
  private readonly queue = new SendQueue();
  private hostEof = false;
  private finSent = false;
  private finAcked = false;
  private hostPaused = false;

  // Congestion control (RFC 5681, RFC 6582).
  private cwnd = INITIAL_WINDOW_SEGMENTS * DEFAULT_MSS;
  private ssthresh = MAX_CWND;
  private dupAcks = 0;
  private recovering = false;
  private recover = 0;

  // Receive sequence space. rcvEdge is the right edge of the window we last advertised: it never
  // moves left (RFC 9293 3.8.6.2.2), and the acceptability test uses it.
  private irs = 0;
  private rcvNxt = 0;
  private rcvEdge = 0;
  private rcvScale = 0;
  /** Whether the guest's SYN offered window scaling (then our SYN-ACK does too, RFC 7323 1.3). */
  private scaling = false;
  private guestFin = false;
  private outOfOrder: OutOfOrder[] = [];

  // Timers: one Node timer per connection, re-armed lazily: moving the deadline later (every ACK)
  // costs nothing, the timer re-arms itself for what is left when it fires early.
  private rto: number;
  private srtt = -1;
  private rttvar = 0;
  private timing = false;
  private rttSeq = 0;
  private rttStart = 0;
  private retries = 0;
  private probeBackoff = 0;
  private probesUnanswered = 0;
  private synGiveUpAt = 0;
  private timerMode: 'none' | 'rtx' | 'persist' = 'none';
  private deadline = 0;
  private timer: Timer | null = null;
  private timerAt = 0;

  constructor(
    private readonly owner: TcpConnOwner,
    readonly key: string,
    readonly guestIp: number,
    readonly guestPort: number,
    /** The address and port the guest talks to (10.0.2.2:22 or an outside address). */
    readonly remoteIp: number,
    readonly remotePort: number,
    /** The gateway port allocated for a forwarded connection; 0 for those the guest opened. */
    readonly forwardPort: number,
  ) {
    this.sndUna = this.sndNxt = this.sndMax = this.recover = this.iss;
    this.rto = owner.tun.initialRtoMs;
  }

  // ---- Opening ----

  /** The guest's SYN: connect to `host`, and answer the guest once the host has answered. */
  openToHost(syn: TcpSegment, host: string): void {
    this.irs = syn.seq;
    this.rcvNxt = seqAdd(syn.seq, 1);
    this.rcvEdge = this.rcvNxt;
    this.takeSynOptions(syn);
    // RFC 7323 2.2: the window in a SYN is never scaled.
    this.sndWnd = this.maxSndWnd = syn.window;
    this.sndWl1 = syn.seq;
    this.sndWl2 = this.iss;
    this.state = 'connecting';
    this.armIn(this.owner.tun.connectTimeoutMs);
    let sock: Socket;
    try {
      sock = connect({ host, port: syn.dstPort, allowHalfOpen: true, noDelay: true });
    } catch {
      this.owner.ctx.count('tcp-connect-failed');
      this.abort(true);
      return;
    }
    this.attach(sock);
    sock.once('connect', this.onConnect);
  }

  /** A host connection to a `--forward` port: SYN to the guest; the socket reads once it is answered. */
  openToGuest(sock: Socket): void {
    this.state = 'syn-sent';
    this.scaling = true;
    this.attach(sock);
    sock.setNoDelay(true);
    sock.pause();
    this.hostPaused = true;
    this.synGiveUpAt = now() + this.owner.tun.synTimeoutMs;
    this.sendSyn();
  }

  private takeSynOptions(seg: TcpSegment): void {
    this.sndMss = Math.max(MIN_MSS, Math.min(seg.mss ?? DEFAULT_MSS, this.owner.tun.mss));
    this.cwnd = INITIAL_WINDOW_SEGMENTS * this.sndMss;
    // RFC 7323 1.3: scaling is on only when both SYNs carry the option.
    if (seg.wscale !== null) {
      this.scaling = true;
      this.sndScale = seg.wscale;
      this.rcvScale = this.owner.tun.windowScale;
    } else {
      this.scaling = false;
      this.sndScale = 0;
      this.rcvScale = 0;
    }
  }

  private attach(sock: Socket): void {
    this.sock = sock;
    sock.on('data', this.onData);
    sock.on('end', this.onEnd);
    sock.on('drain', this.onDrain);
    sock.on('error', this.onError);
    sock.on('close', this.onClose);
  }

  /** Our SYN (forward) or SYN-ACK (the guest's connection), first time or again. */
  private sendSyn(): void {
    const t = this.owner.tun;
    const active = this.state === 'syn-sent';
    const options = synOptions(t.mss, active || this.scaling ? t.windowScale : null);
    const window = Math.min(t.recvWindow, 0xffff);
    if (!active) this.rcvEdge = seqAdd(this.rcvNxt, window);
    const seg = newSegment(this.remotePort, this.guestPort, this.iss, active ? 0 : this.rcvNxt,
      active ? SYN : SYN | ACK, window, options.length, 0);
    seg.set(options, TCP_HEADER);
    this.sndNxt = this.sndMax = seqAdd(this.iss, 1);
    // Karn's rule (RFC 6298 3): only a SYN sent once gives an RTT sample.
    if (this.retries === 0) {
      this.timing = true;
      this.rttSeq = this.sndNxt;
      this.rttStart = now();
    } else {
      this.timing = false;
    }
    this.emit(seg);
    this.armIn(active ? Math.max(1, Math.min(this.rto, this.synGiveUpAt - now())) : this.rto);
  }

  private established(): void {
    this.state = 'established';
    this.retries = 0;
    this.timerMode = 'none';
    this.deadline = 0;
  }

  // ---- Host socket events ----

  private readonly onConnect = (): void => this.guard(() => {
    if (this.state !== 'connecting') return;
    this.state = 'syn-received';
    this.sendSyn();
  });

  private readonly onData = (chunk: Buffer): void => this.guard(() => {
    if (this.state === 'closed') return;
    this.queue.push(chunk);
    if (!this.hostPaused && this.queue.length >= this.owner.tun.sendBuffer) {
      this.hostPaused = true;
      this.sock?.pause();
    }
    this.output();
  });

  private readonly onEnd = (): void => this.guard(() => {
    if (this.state === 'closed') return;
    this.hostEof = true;
    this.output();
  });

  private readonly onDrain = (): void => this.guard(() => {
    if (!this.synchronized() || this.guestFin) return;
    // Receiver SWS avoidance (RFC 9293 3.8.6.2.2): announce the window once it can move right by
    // min(buffer / 2, MSS); that is nearly always true when the socket has written everything.
    const t = this.owner.tun;
    const opened = t.recvWindow - (this.sock?.writableLength ?? 0) - seqDiff(this.rcvEdge, this.rcvNxt);
    if (opened >= Math.min(t.recvWindow / 2, this.sndMss)) this.sendAck();
  });

  private readonly onError = (err: NodeJS.ErrnoException): void => this.guard(() => {
    if (this.state === 'connecting') {
      this.owner.ctx.count(err.code === 'ECONNREFUSED' ? 'tcp-refused' : 'tcp-connect-failed');
    } else if (this.state !== 'closed') {
      this.owner.ctx.count('tcp-host-errors');
    }
    this.abort(true);
  });

  private readonly onClose = (hadError: boolean): void => this.guard(() => {
    this.sockClosed = true;
    if (this.state === 'closed') {
      this.owner.forget(this);
    } else if (hadError || !this.guestFin) {
      // A clean close while the guest may still send cannot happen with allowHalfOpen; treat it as
      // a failure rather than lose data silently.
      this.abort(true);
    }
    // Otherwise both halves ended on the host: the guest still gets what is queued, then our FIN.
  });

  // ---- Segments from the guest ----

  input(seg: TcpSegment): void {
    this.guard(() => {
      switch (this.state) {
        case 'closed': return;
        case 'connecting': return this.inputConnecting(seg);
        case 'syn-sent': return this.inputSynSent(seg);
        default: return this.inputSynchronized(seg);
      }
    });
  }

  private inputConnecting(seg: TcpSegment): void {
    if (seg.flags & RST) {
      if (seg.seq !== this.rcvNxt) return this.drop('tcp-out-of-window');
      this.owner.ctx.count('tcp-reset-by-guest');
      return this.abort(false);
    }
    // The guest sending its SYN again while the host connect is under way: the same connection.
    if ((seg.flags & (SYN | ACK)) === SYN && seg.seq === this.irs) return;
    this.drop('tcp-unexpected');
  }

  /** RFC 9293 3.10.7.3, for our SYN to the guest (a forward). */
  private inputSynSent(seg: TcpSegment): void {
    const f = seg.flags;
    if ((f & ACK) && seg.ack !== this.sndMax) {
      if (!(f & RST)) sendResetFor(this.owner.ctx, this.guestIp, this.remoteIp, seg);
      return this.drop('tcp-bad-ack');
    }
    if (f & RST) {
      if (!(f & ACK)) return this.drop('tcp-unexpected');
      this.owner.ctx.count('tcp-forward-refused');
      return this.abort(false);
    }
    // Only a SYN-ACK; a simultaneous open is nothing a guest does to the gateway's ephemeral port.
    if ((f & (SYN | ACK)) !== (SYN | ACK)) return this.drop('tcp-unexpected');
    this.irs = seg.seq;
    this.rcvNxt = this.rcvEdge = seqAdd(seg.seq, 1);
    this.takeSynOptions(seg);
    this.sndUna = seg.ack;
    this.sndWnd = this.maxSndWnd = seg.window;
    this.sndWl1 = seg.seq;
    this.sndWl2 = seg.ack;
    this.rttAck(seg.ack);
    this.established();
    this.sendAck();
    this.resumeHostIfRoom();
    this.output();
  }

  /** RFC 9293 3.10.7.4: SYN-RECEIVED and every state after it. */
  private inputSynchronized(seg: TcpSegment): void {
    const f = seg.flags;
    // Our SYN-ACK was lost and the guest sends its SYN again: what it needs is the SYN-ACK.
    if (this.state === 'syn-received' && (f & (SYN | ACK)) === SYN && seg.seq === this.irs) {
      this.sendSyn();
      return;
    }
    const wnd = Math.max(0, seqDiff(this.rcvEdge, this.rcvNxt));
    let textAllowed = true;
    if (!acceptable(seg.seq, segmentLength(seg), this.rcvNxt, wnd)) {
      // With a zero window no data is acceptable, but the ACK of a segment at RCV.NXT still counts
      // (RFC 9293 3.10.7.4: "special allowance should be made to accept valid ACKs"). So does a bare
      // FIN, as Linux takes it: it costs no buffer, and refusing it only delays the close by an RTO.
      if (wnd === 0 && seg.seq === this.rcvNxt && (f & (ACK | RST | SYN)) === ACK) {
        textAllowed = seg.data.length === 0;
      } else {
        if (this.state === 'time-wait' && (f & FIN)) this.armIn(this.owner.tun.timeWaitMs);
        if (!(f & RST)) this.sendAck();
        return this.drop('tcp-out-of-window');
      }
    }
    if (f & RST) {
      // RFC 1337: a RST must not cut TIME-WAIT short in a way that hurts; here the host socket may
      // still be writing bytes the guest was told had arrived, so it ends as if the linger were over.
      if (this.state === 'time-wait') return this.finish();
      this.owner.ctx.count('tcp-reset-by-guest');
      return this.abort(false);
    }
    if (f & SYN) {
      // RFC 5961 4.2: a SYN inside a synchronized connection gets a challenge ACK, not a reset.
      this.sendAck();
      return this.drop('tcp-unexpected-syn');
    }
    if (!(f & ACK)) return this.drop('tcp-no-ack');
    if (this.state === 'syn-received') {
      if (seg.ack !== this.sndMax) {
        sendResetFor(this.owner.ctx, this.guestIp, this.remoteIp, seg);
        return this.drop('tcp-bad-ack');
      }
      this.sndUna = seg.ack;
      this.rttAck(seg.ack);
      this.established();
      this.sndWnd = seg.window * (1 << this.sndScale);
      this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
    } else if (!this.processAck(seg)) {
      return;
    }
    if (this.isClosed()) return;
    if (textAllowed) {
      this.receive(seg);
    } else {
      this.sendAck();
      this.drop('tcp-out-of-window');
    }
    if (this.isClosed()) return;
    this.output();
  }

  /** The ACK field and window of a segment in a synchronized state; false when it is dropped. */
  private processAck(seg: TcpSegment): boolean {
    if (seqLt(this.sndMax, seg.ack)) {
      // It acknowledges something never sent (RFC 9293 3.10.7.4, fifth check): ACK and drop.
      this.sendAck();
      this.drop('tcp-bad-ack');
      return false;
    }
    this.probesUnanswered = 0;
    const wnd = seg.window * (1 << this.sndScale);
    if (seqLt(this.sndUna, seg.ack)) {
      this.newAck(seg.ack);
    } else if (seg.ack === this.sndUna && seg.data.length === 0 && !(seg.flags & FIN)
      && wnd === this.sndWnd && this.sndMax !== this.sndUna) {
      this.dupAck();
    }
    // Take the window only from the newest segment (SND.WL1/SND.WL2), never from an old one.
    if (seqLe(this.sndUna, seg.ack)
      && (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLe(this.sndWl2, seg.ack)))) {
      if (wnd > this.sndWnd) this.probeBackoff = 0;
      this.sndWnd = wnd;
      if (wnd > this.maxSndWnd) this.maxSndWnd = wnd;
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
    }
    if (this.finAcked) {
      switch (this.state) {
        case 'fin-wait-1': this.state = 'fin-wait-2'; break;
        case 'closing': this.enterTimeWait(); break;
        case 'last-ack': this.finish(); return false;
        default: break;
      }
    }
    return true;
  }

  private newAck(ack: number): void {
    const acked = seqDiff(ack, this.sndUna);
    const data = Math.min(acked, this.queue.length);
    this.queue.consume(data);
    if (acked > data && this.finSent) this.finAcked = true;
    this.sndUna = ack;
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
    this.rttAck(ack);
    this.retries = 0;
    this.probeBackoff = 0;
    if (this.recovering) {
      if (seqLe(this.recover, ack)) {
        // RFC 6582 3.2 step 3: full acknowledgement, recovery is over.
        this.recovering = false;
        this.dupAcks = 0;
        this.cwnd = this.ssthresh;
      } else {
        // A partial acknowledgement: the next hole is at sndUna; resend it at once.
        this.retransmitHead();
        this.cwnd = Math.max(this.cwnd - acked + this.sndMss, this.sndMss);
      }
    } else {
      this.dupAcks = 0;
      // RFC 5681 3.1: slow start below ssthresh, then about one MSS per round trip.
      this.cwnd += this.cwnd < this.ssthresh
        ? Math.min(acked, this.sndMss)
        : Math.max(1, Math.floor(this.sndMss * this.sndMss / this.cwnd));
      if (this.cwnd > MAX_CWND) this.cwnd = MAX_CWND;
    }
    // RFC 6298 5.2-5.3: restart the timer for what is still out, or stop it.
    if (this.sndMax !== this.sndUna) {
      this.timerMode = 'rtx';
      this.armIn(this.rto);
    } else {
      this.timerMode = 'none';
      this.deadline = 0;
    }
    this.resumeHostIfRoom();
  }

  private dupAck(): void {
    this.dupAcks++;
    if (!this.recovering && this.dupAcks === 3) {
      // RFC 5681 3.2: fast retransmit, then NewReno fast recovery (RFC 6582).
      const flight = seqDiff(this.sndMax, this.sndUna);
      this.ssthresh = Math.max(flight >> 1, 2 * this.sndMss);
      this.recovering = true;
      this.recover = this.sndMax;
      this.owner.ctx.count('tcp-fast-retransmits');
      this.retransmitHead();
      this.cwnd = this.ssthresh + 3 * this.sndMss;
    } else if (this.recovering) {
      this.cwnd = Math.min(this.cwnd + this.sndMss, MAX_CWND);
    }
  }

  /** The segment's text and FIN (RFC 9293 3.10.7.4, seventh and eighth). */
  private receive(seg: TcpSegment): void {
    if (this.guestFin) return;
    let data = seg.data;
    let seq = seg.seq;
    let fin = (seg.flags & FIN) !== 0;
    if (data.length === 0 && !fin) return;
    const old = seqDiff(this.rcvNxt, seq);
    if (old > 0) {
      data = data.subarray(Math.min(old, data.length));
      seq = this.rcvNxt;
    }
    const room = seqDiff(this.rcvEdge, seq);
    if (data.length > room) {
      data = data.subarray(0, Math.max(0, room));
      fin = false;
    }
    if (data.length === 0 && !fin) return;
    if (seq !== this.rcvNxt) {
      // A hole before it: keep it if there is room, and send the duplicate ACK that tells the guest
      // (RFC 5681 4.2: immediately, so its fast retransmit can start).
      this.owner.ctx.count('tcp-out-of-order');
      this.holdOutOfOrder(seq, data, fin);
      this.sendAck();
      return;
    }
    if (!this.deliver(data, fin)) return;
    this.deliverHeld();
    // A FIN was acknowledged at once (guestFinished); data waits for the end of the burst, so a
    // train of segments from the guest costs one ACK.
    if (this.isClosed() || this.guestFin) return;
    this.ackPending = true;
    this.owner.deferAck(this);
  }

  /** Passes in-order bytes (and the FIN after them) to the host socket; false if that failed. */
  private deliver(data: Uint8Array, fin: boolean): boolean {
    if (data.length > 0) {
      if (this.sock === null || this.sockClosed) {
        this.abort(true);
        return false;
      }
      // The segment is the caller's buffer; the socket keeps what it is given until written.
      this.sock.write(Buffer.from(data));
      this.rcvNxt = seqAdd(this.rcvNxt, data.length);
    }
    if (fin) this.guestFinished();
    return true;
  }

  private holdOutOfOrder(seq: number, data: Uint8Array, fin: boolean): void {
    const held = this.outOfOrder;
    if (held.length >= this.owner.tun.reassemblySegments) return;
    for (const h of held) if (h.seq === seq && h.data.length >= data.length && (h.fin || !fin)) return;
    held.push({ seq, data: data.slice(), fin });
    held.sort((a, b) => seqDiff(a.seq, b.seq));
  }

  private deliverHeld(): void {
    while (this.outOfOrder.length > 0 && !this.guestFin && this.state !== 'closed') {
      const h = this.outOfOrder[0];
      const old = seqDiff(this.rcvNxt, h.seq);
      if (old < 0) return;
      this.outOfOrder.shift();
      if (old > h.data.length || (old === h.data.length && !h.fin)) continue;
      if (!this.deliver(h.data.subarray(old), h.fin)) return;
    }
  }

  private guestFinished(): void {
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.guestFin = true;
    this.outOfOrder = [];
    if (this.sock !== null && !this.sockClosed) this.sock.end();
    switch (this.state) {
      case 'established': this.state = 'close-wait'; break;
      case 'fin-wait-1': this.state = 'closing'; break;
      case 'fin-wait-2': this.enterTimeWait(); break;
      default: break;
    }
    this.sendAck();
  }

  private enterTimeWait(): void {
    this.state = 'time-wait';
    this.timerMode = 'none';
    this.armIn(this.owner.tun.timeWaitMs);
  }

  // ---- Sending to the guest ----

  /** A method, not a comparison, so the compiler does not assume calls leave the state alone. */
  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private synchronized(): boolean {
    return this.state !== 'closed' && this.state !== 'connecting' && this.state !== 'syn-sent'
      && this.state !== 'syn-received';
  }

  /**
   * Something may have become sendable (data from the host, an ACK, a window): the NAT's scheduler
   * decides when it goes, so that no connection takes the guest's receive ring from the others.
   */
  private output(): void {
    // Not in TIME-WAIT and FIN-WAIT-2, whose timers are not the sender's.
    if (!this.synchronized() || this.state === 'time-wait' || this.state === 'fin-wait-2') return;
    if (this.sendable() >= 0) this.owner.wake(this);
    this.updateTimer();
  }

  /**
   * The next new segment the windows allow: its data length (0 for a FIN alone), or -1 for none. The
   * FIN goes with the last data, or alone: it takes no window, so a closed window must not hold back
   * the end of stream.
   */
  private sendable(): number {
    if (!this.synchronized() || this.state === 'time-wait' || this.state === 'fin-wait-2') return -1;
    const off = seqDiff(this.sndNxt, this.sndUna);
    const unsent = this.queue.length - off;
    if (unsent > 0) {
      const usable = Math.min(this.sndWnd, this.cwnd) - off;
      if (usable <= 0) return -1;
      const n = Math.min(this.sndMss, unsent, usable);
      // Sender SWS avoidance (RFC 9293 3.8.6.2.1): a short segment goes only when it is all we
      // have, when it is half the largest window seen, or when nothing is in flight to wait for.
      if (n < this.sndMss && n < unsent && off > 0 && n < this.maxSndWnd / 2) return -1;
      return n;
    }
    return unsent === 0 && this.hostEof ? 0 : -1;
  }

  /** The scheduler's turn: sends one segment if there is one; returns its size with headers, or -1. */
  sendOne(): number {
    let cost = -1;
    this.guard(() => {
      const n = this.sendable();
      if (n < 0) return;
      const off = seqDiff(this.sndNxt, this.sndUna);
      const fin = this.hostEof && n === this.queue.length - off;
      this.sendData(this.sndNxt, off, n, fin);
      this.advance(n + (fin ? 1 : 0), fin);
      this.updateTimer();
      cost = n + SEGMENT_OVERHEAD;
    });
    return cost;
  }

  private advance(n: number, fin: boolean): void {
    // Karn's rule: time only segments sent for the first time.
    if (!this.timing && !seqLt(this.sndNxt, this.sndMax)) {
      this.timing = true;
      this.rttSeq = seqAdd(this.sndNxt, n);
      this.rttStart = now();
    }
    this.sndNxt = seqAdd(this.sndNxt, n);
    if (seqLt(this.sndMax, this.sndNxt)) this.sndMax = this.sndNxt;
    if (fin && !this.finSent) {
      this.finSent = true;
      if (this.state === 'established') this.state = 'fin-wait-1';
      else if (this.state === 'close-wait') this.state = 'last-ack';
    }
  }

  private sendData(seq: number, off: number, n: number, fin: boolean): void {
    let flags = ACK;
    if (n > 0 && off + n === this.queue.length) flags |= PSH;
    if (fin) flags |= FIN;
    const seg = newSegment(this.remotePort, this.guestPort, seq, this.rcvNxt, flags, this.windowField(), 0, n);
    if (n > 0) this.queue.copyTo(off, n, seg, TCP_HEADER);
    this.emit(seg);
  }

  /** Resends the first unacknowledged segment, ignoring the windows; returns the sequence it covers. */
  private retransmitHead(): number {
    const n = Math.min(this.sndMss, this.queue.length);
    const fin = this.finSent && n === this.queue.length;
    if (n === 0 && !fin) return 0;
    this.timing = false;
    this.sendData(this.sndUna, 0, n, fin);
    return n + (fin ? 1 : 0);
  }

  private sendAck(): void {
    this.emit(newSegment(this.remotePort, this.guestPort, this.sndNxt, this.rcvNxt, ACK, this.windowField(), 0, 0));
  }

  /** Sends the ACK deferred by receive(), unless a segment carried it meanwhile. */
  flushAck(): void {
    this.guard(() => {
      if (this.ackPending && this.synchronized()) this.sendAck();
    });
  }

  private sendRst(): void {
    const withAck = this.state !== 'syn-sent';
    this.emit(newSegment(this.remotePort, this.guestPort, this.sndMax, withAck ? this.rcvNxt : 0,
      withAck ? RST | ACK : RST, 0, 0, 0));
  }

  private emit(seg: Uint8Array): void {
    if ((seg[13] & ACK) !== 0) this.ackPending = false;
    this.owner.ctx.sendIp(buildIpv4(this.remoteIp, this.guestIp, IPPROTO_TCP, seg));
  }

  /**
   * The window field: the receive limit less what the host socket still holds. The right edge never
   * moves left of what was promised (rounding is upwards for that), and moves right only by a useful
   * step, min(limit / 2, MSS): receiver SWS avoidance (RFC 9293 3.8.6.2.2). Without it a host that
   * reads slowly makes the guest send ever smaller segments instead of seeing the window close.
   */
  private windowField(): number {
    const t = this.owner.tun;
    const buffered = this.sock !== null && !this.sockClosed ? this.sock.writableLength : 0;
    const free = Math.max(0, t.recvWindow - buffered);
    const promised = Math.max(0, seqDiff(this.rcvEdge, this.rcvNxt));
    const wnd = free - promised >= Math.min(t.recvWindow / 2, this.sndMss) ? free : promised;
    const unit = 1 << this.rcvScale;
    const field = Math.min(Math.ceil(wnd / unit), 0xffff);
    const edge = seqAdd(this.rcvNxt, field * unit);
    if (seqLt(this.rcvEdge, edge)) this.rcvEdge = edge;
    return field;
  }

  private resumeHostIfRoom(): void {
    if (this.hostPaused && this.sock !== null && !this.sockClosed && this.synchronized()
      && this.queue.length < this.owner.tun.sendBuffer) {
      this.hostPaused = false;
      this.sock.resume();
    }
  }

  // ---- Timers ----

  private updateTimer(): void {
    if (this.sndMax !== this.sndUna) {
      if (this.timerMode !== 'rtx' || this.deadline === 0) {
        this.timerMode = 'rtx';
        this.armIn(this.rto);
      }
    } else if (this.queue.length > 0 && this.sndWnd === 0) {
      // Data waits and nothing is in flight because the window is closed: probe it (RFC 9293 3.8.6.1).
      // Data that waits for its turn in the scheduler needs no timer: the turn comes.
      if (this.timerMode !== 'persist' || this.deadline === 0) {
        this.timerMode = 'persist';
        this.armIn(this.persistInterval());
      }
    } else {
      this.timerMode = 'none';
      this.deadline = 0;
    }
  }

  private persistInterval(): number {
    return Math.min(this.rto * 2 ** Math.min(this.probeBackoff, 16), this.owner.tun.maxRtoMs);
  }

  private armIn(ms: number): void {
    const at = now() + ms;
    this.deadline = at;
    if (this.timer !== null) {
      if (this.timerAt <= at) return;
      clearTimeout(this.timer);
    }
    this.schedule(at);
  }

  private schedule(at: number): void {
    this.timerAt = at;
    this.timer = setTimeout(this.onTimer, Math.max(0, at - now()));
    this.timer.unref();
  }

  private readonly onTimer = (): void => this.guard(() => {
    this.timer = null;
    if (this.deadline === 0 || this.state === 'closed') return;
    if (this.deadline - now() > 1) {
      this.schedule(this.deadline);
      return;
    }
    this.deadline = 0;
    this.onDeadline();
  });

  private onDeadline(): void {
    const t = this.owner.tun;
    switch (this.state) {
      case 'connecting':
        this.owner.ctx.count('tcp-connect-timeouts');
        return this.abort(true);
      case 'syn-sent':
        if (now() >= this.synGiveUpAt - 1) {
          this.owner.ctx.count('tcp-forward-timeouts');
          return this.abort(true);
        }
        this.retries++;
        this.rto = Math.min(this.rto * 2, t.maxRtoMs);
        return this.sendSyn();
      case 'syn-received':
        if (++this.retries > t.maxRetries) {
          this.owner.ctx.count('tcp-timeouts');
          return this.abort(true);
        }
        this.rto = Math.min(this.rto * 2, t.maxRtoMs);
        return this.sendSyn();
      case 'time-wait':
        return this.finish();
      default:
        break;
    }
    if (this.timerMode === 'rtx') this.retransmitTimeout();
    else if (this.timerMode === 'persist') this.probe();
  }

  private retransmitTimeout(): void {
    const t = this.owner.tun;
    if (this.sndMax === this.sndUna) return this.updateTimer();
    if (++this.retries > t.maxRetries) {
      this.owner.ctx.count('tcp-timeouts');
      return this.abort(true);
    }
    this.owner.ctx.count('tcp-retransmits');
    // RFC 5681 3.1 (equation 4) and RFC 6298 5.5: one segment, a halved threshold, a doubled RTO.
    this.ssthresh = Math.max(seqDiff(this.sndMax, this.sndUna) >> 1, 2 * this.sndMss);
    this.cwnd = this.sndMss;
    this.recovering = false;
    this.dupAcks = 0;
    this.rto = Math.min(this.rto * 2, t.maxRtoMs);
    // Go back N: the rest goes again as the ACKs come (a cumulative ACK skips what the guest kept).
    this.sndNxt = seqAdd(this.sndUna, this.retransmitHead());
    this.timerMode = 'rtx';
    this.armIn(this.rto);
  }

  private probe(): void {
    if (++this.probesUnanswered > this.owner.tun.maxRetries) {
      this.owner.ctx.count('tcp-timeouts');
      return this.abort(true);
    }
    this.probeBackoff++;
    this.owner.ctx.count('tcp-window-probes');
    // A zero-window probe that spends no sequence space (as Linux does): an old sequence number, which
    // the guest must answer with an ACK carrying its current window (RFC 9293 3.10.7.4, first check).
    this.emit(newSegment(this.remotePort, this.guestPort, seqAdd(this.sndUna, -1), this.rcvNxt, ACK,
      this.windowField(), 0, 0));
    this.timerMode = 'persist';
    this.armIn(this.persistInterval());
  }

  private rttAck(ack: number): void {
    if (!this.timing || seqLt(ack, this.rttSeq)) return;
    this.timing = false;
    // RFC 6298 2.2-2.4 (with a clock granularity of 1 ms).
    const r = now() - this.rttStart;
    if (this.srtt < 0) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    const t = this.owner.tun;
    this.rto = Math.min(Math.max(this.srtt + Math.max(1, 4 * this.rttvar), t.minRtoMs), t.maxRtoMs);
  }

  // ---- Ending ----

  /** Ends TIME-WAIT early: the guest opens a new connection with the same ports. */
  endTimeWait(): void {
    if (this.state === 'time-wait') this.guard(() => this.finish());
  }

  /** The guest side ended normally; the socket may still be writing what the guest sent. */
  private finish(): void {
    this.state = 'closed';
    this.stopTimer();
    this.queue.clear();
    if (this.sockClosed || this.sock === null) this.owner.forget(this);
    else this.owner.retire(this);
  }

  /** Ends the connection at once: RST to the guest when `reset`, and the host socket destroyed. */
  abort(reset: boolean): void {
    if (reset && this.state !== 'closed') this.sendRst();
    this.destroy();
    this.owner.forget(this);
  }

  /**
   * Drops everything without telling the guest. The host peer gets a reset, not a FIN: an aborted
   * stream must not look like one that ended cleanly (it could pass for a complete transfer).
   */
  destroy(): void {
    this.state = 'closed';
    this.stopTimer();
    this.queue.clear();
    this.outOfOrder = [];
    const s = this.sock;
    if (s === null || s.destroyed) return;
    // Not after end(): libuv refuses to reset a stream that is shutting down (UV_EINVAL), and Node then
    // drops the handle without closing it (seen on Node 20: the fd leaks, and the process spins at exit).
    if (s.connecting || this.sockClosed || s.writableEnded) s.destroy();
    else s.resetAndDestroy();
  }

  private stopTimer(): void {
    this.deadline = 0;
    this.timerMode = 'none';
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /**
   * What a snapshot keeps of a connection the guest knows: its four-tuple and the sequence numbers the
   * guest expects from us and has sent us. After a restore the guest is reset with them (TcpNat.reset).
   */
  saved(): SavedTcpConn | null {
    if (this.state === 'connecting' || this.state === 'syn-sent' || this.state === 'closed' || this.state === 'time-wait') return null;
    return { guestIp: this.guestIp, guestPort: this.guestPort, remoteIp: this.remoteIp, remotePort: this.remotePort, seq: this.sndMax, ack: this.rcvNxt };
  }

  info(): TcpConnInfo {
    return {
      guest: `${formatIp(this.guestIp)}:${this.guestPort}`,
      remote: `${formatIp(this.remoteIp)}:${this.remotePort}`,
      state: this.state,
      sendQueued: this.queue.length,
      hostPaused: this.hostPaused,
      hostBuffered: this.sock !== null && !this.sockClosed ? this.sock.writableLength : 0,
    };
  }

  private drop(reason: string): void {
    this.owner.ctx.drop(reason);
  }

  /**
   * Nothing the guest sends may crash the VM process: a bug here resets this one connection and is
   * counted, instead of becoming an uncaught exception in an event handler.
   */
  private guard(f: () => void): void {
    try {
      f();
    } catch (err) {
      this.owner.ctx.count('tcp-internal-errors');
      this.owner.ctx.log(`tcp: internal error on ${formatIp(this.guestIp)}:${this.guestPort}: ${String(err)}`);
      try {
        this.abort(this.state !== 'closed');
      } catch {
        // Already failing; the connection is forgotten either way.
        this.owner.forget(this);
      }
    }
  }
}
