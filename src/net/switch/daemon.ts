/**
 * The switch daemon: one process per switch name, a learning ethernet bridge between the Bonsai
 * processes (members) connected to its Unix socket, plus the segment's services station.
 *
 * It outlives any member (the first member starts it detached) and leaves by itself once it has been
 * empty for a while. Exactly one daemon holds a name: binding a Unix socket path that exists fails,
 * and only a daemon holding the lock file ever removes a socket file, after checking that nobody
 * answers on it (its daemon died).
 */
import { closeSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { BonsaiError } from '../../errors.js';
import { formatMac } from '../link.js';
import { FrameDecoder, MAX_FRAME, MIN_FRAME, encodeFrame } from './framing.js';
import { ensureSwitchDir, switchPaths, type SwitchPaths } from './paths.js';
import { SegmentServer, type SegmentServices } from './services.js';

export interface SwitchDaemonOptions {
  /** The switch folder (default: BONSAI_SWITCH_DIR or the per-user folder in the temp dir). */
  dir?: string;
  /** Leave after this long without members (ms); 30 s. 0 or Infinity: never. */
  idleMs?: number;
  /** Bytes queued for one member beyond which frames to it are dropped; 4 MiB. */
  queueLimit?: number;
  /** MAC addresses learned per member; beyond, frames from new ones still pass but to them are flooded. */
  macsPerMember?: number;
  /** The segment's services station; default a SegmentServer, null for none. */
  services?: SegmentServices | null;
  log?: (line: string) => void;
  /** Create the switch folder if it is missing (default true). */
  createDir?: boolean;
}

/** Start refused because a live daemon already serves the name. */
export class SwitchAlreadyRunning extends BonsaiError {
  constructor(name: string, socket: string) {
    super(`switch '${name}' is already running at ${socket}`);
    this.name = 'SwitchAlreadyRunning';
  }
}

interface Member {
  readonly id: number;
  readonly socket: Socket;
  readonly decoder: FrameDecoder;
  /** MACs learned behind this member, to forget them when it leaves. */
  readonly macs: Set<number>;
}

/** A lock file older than this was left by a daemon that died while replacing a stale socket. */
const STALE_LOCK_MS = 10_000;
/** How long start() keeps trying to take a contested name before giving up. */
const START_TIMEOUT_MS = 10_000;

export class SwitchDaemon {
  /** Resolves when the daemon has closed (by close() or after being idle). */
  readonly closed: Promise<void>;
  private readonly members = new Set<Member>();
  /** MAC (as a 48-bit number) → the member it was last seen behind. */
  private readonly table = new Map<number, Member>();
  private readonly counters = new Map<string, number>();
  private readonly services: SegmentServices | null;
  private readonly servicesKey: number;
  private readonly idleMs: number;
  private readonly queueLimit: number;
  private readonly macsPerMember: number;
  private readonly log: (line: string) => void;
  private idleTimer: NodeJS.Timeout | null = null;
  private nextId = 1;
  private closing = false;
  private resolveClosed: () => void = () => {};

  private constructor(readonly name: string, readonly paths: SwitchPaths, private readonly server: Server, opts: SwitchDaemonOptions) {
    this.services = opts.services === undefined ? new SegmentServer() : opts.services;
    this.servicesKey = this.services === null ? -1 : macKey(this.services.mac, 0);
    this.idleMs = opts.idleMs ?? 30_000;
    this.queueLimit = opts.queueLimit ?? 4 * 1024 * 1024;
    this.macsPerMember = opts.macsPerMember ?? 256;
    this.log = opts.log ?? (() => {});
    this.closed = new Promise((resolve) => { this.resolveClosed = resolve; });
    server.on('connection', (s) => this.join(s));
    // A failing accept (EMFILE) must not take the daemon down; the member will retry.
    server.on('error', (e) => this.log(`switch ${name}: ${e.message}`));
    this.armIdle();
  }

  /**
   * Takes the name and starts serving. Rejects with SwitchAlreadyRunning when another daemon answers
   * on the socket, and with a BonsaiError for a bad name or folder.
   */
  static async start(name: string, opts: SwitchDaemonOptions = {}): Promise<SwitchDaemon> {
    const paths = switchPaths(name, opts.dir);
    ensureSwitchDir(paths.dir, opts.createDir ?? true);
    const server = await takeSocket(name, paths);
    const d = new SwitchDaemon(name, paths, server, opts);
    writePid(paths.pid);
    d.log(`switch ${name}: listening at ${paths.socket} (pid ${process.pid})`);
    return d;
  }

  get memberCount(): number {
    return this.members.size;
  }

  stats(): Record<string, number> {
    return { members: this.members.size, macs: this.table.size, ...Object.fromEntries(this.counters) };
  }

  /** Stops listening (which removes the socket file), disconnects every member. */
  close(): Promise<void> {
    if (this.closing) return this.closed;
    this.closing = true;
    if (this.idleTimer !== null) { clearTimeout(this.idleTimer); this.idleTimer = null; }
    for (const m of this.members) m.socket.destroy();
    this.server.close(() => {
      removePid(this.paths.pid);
      this.log(`switch ${this.name}: closed`);
      this.resolveClosed();
    });
    return this.closed;
  }

  // --- members ---

  private join(socket: Socket): void {
    if (this.closing) { socket.destroy(); return; }
    const m: Member = { id: this.nextId++, socket, decoder: new FrameDecoder(), macs: new Set() };
    this.members.add(m);
    if (this.idleTimer !== null) { clearTimeout(this.idleTimer); this.idleTimer = null; }
    this.count('joins');
    socket.on('data', (chunk: Buffer) => {
      const err = m.decoder.push(chunk, (f) => this.forward(f, m));
      if (err !== null) {
        this.count('protocol-errors');
        this.log(`switch ${this.name}: member #${m.id} disconnected: ${err}`);
        socket.destroy();
      }
    });
    socket.on('error', () => { /* 'close' follows and cleans up */ });
    socket.on('close', () => this.leave(m));
  }

  private leave(m: Member): void {
    if (!this.members.delete(m)) return;
    for (const k of m.macs) if (this.table.get(k) === m) this.table.delete(k);
    this.count('leaves');
    if (this.members.size === 0) this.armIdle();
  }

  private armIdle(): void {
    if (this.closing || !(this.idleMs > 0 && Number.isFinite(this.idleMs))) return;
    this.idleTimer = setTimeout(() => {
      this.log(`switch ${this.name}: no members for ${this.idleMs} ms; exiting`);
      void this.close();
    }, this.idleMs);
    // The listening socket keeps a daemon process alive; the timer need not (and must not in tests).
    this.idleTimer.unref();
  }

  // --- the bridge ---

  /**
   * One frame from a member (or from the services when `from` is null). IEEE 802.1D in miniature:
   * learn where the source lives, send a unicast frame where its destination was learned, and flood
   * group and unknown frames to every other member; never back where it came from.
   */
  private forward(frame: Uint8Array, from: Member | null): void {
    this.count('frames-in');
    const dst = macKey(frame, 0);
    if (from !== null) this.learn(macKey(frame, 6), frame[6], from);
    const group = (frame[0] & 1) !== 0;
    if (!group && dst === this.servicesKey) {
      if (from !== null) this.toServices(frame);
      return;
    }
    if (!group) {
      const to = this.table.get(dst);
      if (to === from) { this.count('drop-same-port'); return; }
      if (to !== undefined) { this.write(to, encodeFrame(frame)); return; }
      this.count('floods');
    }
    const out = encodeFrame(frame);
    for (const m of this.members) if (m !== from) this.write(m, out);
    if (from !== null && dst === BROADCAST_KEY) this.toServices(frame);
  }

  private learn(src: number, firstOctet: number, m: Member): void {
    // A group address is never a source (802.3 3.2.3); the services' MAC is not a member's to take.
    if ((firstOctet & 1) !== 0 || src === 0 || src === this.servicesKey) return;
    const was = this.table.get(src);
    if (was === m) return;
    if (m.macs.size >= this.macsPerMember) { this.count('mac-limit'); return; }
    if (was !== undefined) was.macs.delete(src);
    this.table.set(src, m);
    m.macs.add(src);
  }

  private toServices(frame: Uint8Array): void {
    const services = this.services;
    if (services === null) return;
    try {
      services.handle(frame, (reply) => {
        if (reply.length < MIN_FRAME || reply.length > MAX_FRAME) { this.count('drop-services-bad-frame'); return; }
        this.forward(reply, null);
      });
    } catch (e) {
      // A bug in a service must not take the segment down with it.
      this.count('services-errors');
      this.log(`switch ${this.name}: services failed on a frame from ${formatMac(frame.subarray(6, 12))}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private write(m: Member, data: Buffer): void {
    const s = m.socket;
    if (s.destroyed || !s.writable) { this.count('drop-closing'); return; }
    // A member that stops reading must not make the daemon grow: beyond the bound its frames are
    // dropped, as a switch port's full output queue does.
    if (s.writableLength + data.length > this.queueLimit) { this.count('drop-queue-full'); return; }
    this.count('frames-out');
    s.write(data);
  }

  private count(name: string, n = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + n);
  }
}

const BROADCAST_KEY = 0xffff_ffff_ffff;

/** The 6 bytes at `o` as one number (48 bits fit a double exactly). */
function macKey(b: Uint8Array, o: number): number {
  return ((b[o] << 8) | b[o + 1]) * 0x1_0000_0000 + (((b[o + 2] << 24) | (b[o + 3] << 16) | (b[o + 4] << 8) | b[o + 5]) >>> 0);
}

// --- taking the name ---

async function takeSocket(name: string, paths: SwitchPaths): Promise<Server> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    // Binding fails with EADDRINUSE while the file exists, so of any number of daemons racing for
    // a free name exactly one gets it.
    const first = await listen(paths.socket);
    if (typeof first !== 'string') return first;
    if (first !== 'EADDRINUSE') throw new BonsaiError(`switch '${name}': cannot listen at ${paths.socket}: ${first}`);
    if (await answers(paths.socket)) throw new SwitchAlreadyRunning(name, paths.socket);
    // The file is there but nobody answers: its daemon died. Replace it, but only while holding the
    // lock, and only after checking again under it: two daemons that both saw it dead must not
    // both unlink and bind (the second would remove the first's fresh socket).
    if (takeLock(paths.lock)) {
      try {
        if (await answers(paths.socket)) throw new SwitchAlreadyRunning(name, paths.socket);
        try { unlinkSync(paths.socket); } catch { /* gone already */ }
        const second = await listen(paths.socket);
        if (typeof second !== 'string') return second;
        if (second !== 'EADDRINUSE') throw new BonsaiError(`switch '${name}': cannot listen at ${paths.socket}: ${second}`);
        // Someone bound the free name between our unlink and bind: go round and find them.
      } finally {
        try { unlinkSync(paths.lock); } catch { /* removed as stale by another */ }
      }
    } else {
      await sleep(20 + Math.random() * 30);
    }
    if (Date.now() > deadline) throw new BonsaiError(`switch '${name}': could not take ${paths.socket} (a stale lock ${paths.lock}?)`);
  }
}

function listen(path: string): Promise<Server | string> {
  return new Promise((resolve) => {
    const server = createServer();
    const onError = (e: NodeJS.ErrnoException): void => resolve(e.code ?? e.message);
    server.once('error', onError);
    server.listen(path, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

/** Whether a daemon answers on `path`: refused or missing means dead; anything else, alive. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    const timer = setTimeout(() => { s.destroy(); resolve(true); }, 1000);
    s.once('connect', () => { clearTimeout(timer); s.destroy(); resolve(true); });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(!(e.code === 'ECONNREFUSED' || e.code === 'ENOENT' || e.code === 'ENOTSOCK'));
    });
  });
}

function takeLock(path: string): boolean {
  try {
    closeSync(openSync(path, 'wx', 0o600));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new BonsaiError(`switch lock ${path}: ${(e as Error).message}`);
    try {
      if (Date.now() - statSync(path).mtimeMs > STALE_LOCK_MS) unlinkSync(path);
    } catch { /* released meanwhile */ }
    return false;
  }
}

function writePid(path: string): void {
  try {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${process.pid}\n`);
    renameSync(tmp, path);
  } catch { /* informational only */ }
}

function removePid(path: string): void {
  try {
    if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
  } catch { /* not ours or gone */ }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
