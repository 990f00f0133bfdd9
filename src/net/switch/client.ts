/**
 * A VM's port on a switch (`--switch NAME`): a NetBackend whose frames travel over the switch
 * daemon's Unix socket. The first member to find no daemon starts one, detached, so the switch
 * outlives it; if the daemon goes away later, the port keeps trying to reconnect (and to start a new
 * daemon) in the background while frames are dropped, as on an unplugged cable.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { BonsaiError } from '../../errors.js';
import type { FrameReceiver, NetBackend } from '../link.js';
import { FrameDecoder, MAX_FRAME, MIN_FRAME, encodeFrame } from './framing.js';
import { ensureSwitchDir, switchPaths, type SwitchPaths } from './paths.js';

export interface SwitchConnectOptions {
  log?: (line: string) => void;
  /** Start the daemon when none answers (default true); tests that run their own pass false. */
  startDaemon?: boolean;
  /** The switch folder (default: BONSAI_SWITCH_DIR or the per-user folder in the temp dir). */
  dir?: string;
  /** How long connect() waits for a daemon (ms); 5000. */
  timeoutMs?: number;
  /** Bytes waiting in the socket beyond which frames from the guest are dropped; 1 MiB. */
  sendLimit?: number;
}

/** The daemon's entry point, compiled next to this file. */
const MAIN_JS = fileURLToPath(new URL('./main.js', import.meta.url));

/** Don't start daemons faster than this while none answers: a new one needs a moment to listen. */
const SPAWN_INTERVAL_MS = 1000;
const MAX_RETRY_MS = 1000;

export class SwitchBackend implements NetBackend {
  readonly name: string;
  private socket: Socket | null = null;
  private receiver: FrameReceiver | null = null;
  private closed = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private lastSpawn = -Infinity;
  private lastError = '';
  private readonly counters = new Map<string, number>();
  private readonly log: (line: string) => void;
  private readonly startDaemon: boolean;
  private readonly sendLimit: number;

  private constructor(private readonly switchName: string, private readonly paths: SwitchPaths, opts: SwitchConnectOptions) {
    this.name = `switch:${switchName}`;
    this.log = opts.log ?? (() => {});
    this.startDaemon = opts.startDaemon ?? true;
    this.sendLimit = opts.sendLimit ?? 1024 * 1024;
  }

  /**
   * Connects to switch `name`, starting its daemon if none answers, and retrying for up to 5 s.
   * Rejects with a BonsaiError for a bad name, a folder that is not private, or no daemon in time.
   */
  static async connect(name: string, opts: SwitchConnectOptions = {}): Promise<SwitchBackend> {
    const paths = switchPaths(name, opts.dir);
    ensureSwitchDir(paths.dir);
    const b = new SwitchBackend(name, paths, opts);
    const deadline = Date.now() + (opts.timeoutMs ?? 5000);
    let delay = 10;
    for (;;) {
      const r = await tryConnect(paths.socket);
      if (typeof r !== 'string') { b.adopt(r); return b; }
      if (!daemonMissing(r) && !transient(r)) throw new BonsaiError(`switch '${name}': cannot connect to ${paths.socket}: ${r}`);
      if (b.startDaemon && daemonMissing(r)) b.spawnDaemon(true);
      if (Date.now() >= deadline) {
        throw new BonsaiError(`switch '${name}': no switch daemon answers at ${paths.socket}${b.startDaemon ? '' : ' (and starting one is off)'}`);
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 200);
    }
  }

  attach(mac: Uint8Array, receive: FrameReceiver): void {
    void mac; // the switch learns the guest's MAC from its frames
    this.receiver = receive;
  }

  send(frame: Uint8Array): void {
    const s = this.socket;
    if (s === null || s.destroyed) { this.count('drop-disconnected'); return; }
    if (frame.length < MIN_FRAME || frame.length > MAX_FRAME) { this.count('drop-bad-length'); return; }
    // The daemon reads as fast as it can; if it still falls behind, drop here rather than queue
    // without bound in this process (TCP in the guests retransmits).
    if (s.writableLength > this.sendLimit) { this.count('drop-backlog'); return; }
    this.count('frames-out');
    s.write(encodeFrame(frame));
  }

  stats(): Record<string, number> {
    return { connected: this.socket === null ? 0 : 1, ...Object.fromEntries(this.counters) };
  }

  /** Whether the port is connected to a daemon now. */
  get connected(): boolean {
    return this.socket !== null && !this.socket.destroyed;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== null) { clearTimeout(this.retryTimer); this.retryTimer = null; }
    const s = this.socket;
    this.socket = null;
    if (s !== null && !s.closed) {
      await new Promise<void>((resolve) => { s.once('close', () => resolve()); s.destroy(); });
    }
  }

  private adopt(s: Socket): void {
    const decoder = new FrameDecoder();
    this.socket = s;
    s.on('data', (chunk: Buffer) => {
      const err = decoder.push(chunk, (f) => this.deliver(f));
      if (err !== null) {
        this.count('protocol-errors');
        this.log(`switch ${this.switchName}: bad data from the switch daemon (${err}); reconnecting`);
        s.destroy();
      }
    });
    s.on('error', () => { /* 'close' follows */ });
    s.on('close', () => this.lost(s));
  }

  private deliver(frame: Uint8Array): void {
    if (this.receiver === null) { this.count('drop-no-receiver'); return; }
    this.count('frames-in');
    this.receiver(frame);
  }

  private lost(s: Socket): void {
    if (this.socket !== s) return;
    this.socket = null;
    if (this.closed) return;
    this.count('disconnects');
    this.log(`switch ${this.switchName}: lost the switch daemon; reconnecting in the background`);
    this.retry(20);
  }

  private retry(delay: number): void {
    this.retryTimer = setTimeout(() => void this.reconnect(delay), delay);
    // Reconnecting is no reason to keep a finished process alive.
    this.retryTimer.unref();
  }

  private async reconnect(delay: number): Promise<void> {
    this.retryTimer = null;
    if (this.closed) return;
    const r = await tryConnect(this.paths.socket);
    if (this.closed) {
      if (typeof r !== 'string') r.destroy();
      return;
    }
    if (typeof r !== 'string') {
      this.adopt(r);
      this.count('reconnects');
      this.log(`switch ${this.switchName}: reconnected`);
      return;
    }
    if (this.startDaemon && daemonMissing(r)) {
      try {
        ensureSwitchDir(this.paths.dir); // a temp cleaner may have taken it
        this.spawnDaemon(false);
      } catch (e) {
        // Once, not every second.
        const msg = e instanceof Error ? e.message : String(e);
        if (msg !== this.lastError) this.log(msg);
        this.lastError = msg;
      }
    }
    this.retry(Math.min(delay * 2, MAX_RETRY_MS));
  }

  /**
   * Starts `node main.js NAME` detached and forgets it: the daemon belongs to no member. When two
   * members start one at once, the daemons sort it out (the loser exits).
   */
  private spawnDaemon(throwErrors: boolean): void {
    const now = Date.now();
    if (now - this.lastSpawn < SPAWN_INTERVAL_MS) return;
    this.lastSpawn = now;
    if (!existsSync(MAIN_JS)) {
      const msg = `switch '${this.switchName}': cannot start the switch daemon: ${MAIN_JS} is missing`;
      if (throwErrors) throw new BonsaiError(msg);
      this.log(msg);
      return;
    }
    this.count('daemon-starts');
    const child = spawn(process.execPath, [MAIN_JS, this.switchName], {
      detached: true,
      stdio: 'ignore',
      cwd: '/',
      env: { ...process.env, BONSAI_SWITCH_DIR: this.paths.dir },
    });
    child.on('error', (e) => this.log(`switch ${this.switchName}: cannot start the switch daemon: ${e.message}`));
    child.unref();
  }

  private count(name: string, n = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + n);
  }
}

/**
 * Errors worth another try: a full accept queue, or a daemon closing (leaving when idle) just as we
 * connected.
 */
function transient(code: string): boolean {
  return code === 'EAGAIN' || code === 'ECONNRESET' || code === 'EPIPE';
}

/** The errors that mean no daemon is there (yet): nothing at the path, or a dead daemon's file. */
function daemonMissing(code: string): boolean {
  return code === 'ENOENT' || code === 'ECONNREFUSED';
}

function tryConnect(path: string): Promise<Socket | string> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    const onError = (e: NodeJS.ErrnoException): void => resolve(e.code ?? e.message);
    s.once('error', onError);
    s.once('connect', () => { s.off('error', onError); resolve(s); });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
