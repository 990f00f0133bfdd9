/**
 * The host end of the guest agent (docs/agent.md): a line protocol over the agent channel device
 * (devices/virtio/agent-channel.ts) to the agent script in the bundled guest (images/agent). One GuestAgent
 * lives as long as the VM; each boot's channel attaches to it and detaches when that machine ends.
 *
 * Requests go one line each, `ID VERB ARG...\n`, exec's stdin as raw bytes after its line; replies come
 * back as `ID ok ...` or `ID err MESSAGE`. The agent says `hello 1` when it starts; the host also asks
 * `ID hello` (answered `ID ok 1`) whenever it finds the port open without having heard that, as after a
 * restore, where the greeting is long past. The agent serves one request at a time; the host may have
 * several in flight, answered in order.
 */
import { BonsaiError } from '../errors.js';
import type { VirtioAgentChannel } from '../devices/virtio/agent-channel.js';
import { printable } from '../text.js';

export const AGENT_PROTOCOL = 1;
/** Bytes of exec stdin, and of each of stdout and stderr, at most; the guest cuts longer output off. */
export const AGENT_MAX_DATA = 16 * 1024 * 1024;
export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
/** How long a short request (poweroff, time, hostname) may take. */
const CONTROL_TIMEOUT_MS = 10_000;
/** On top of exec's own timeout (which the guest enforces): moving 2 x 16 MiB of base64 takes a while. */
const EXEC_GRACE_MS = 15_000;
/** setTimeout's longest delay; a longer one fires at once (Node warns TimeoutOverflowWarning). */
const MAX_TIMER_MS = 0x7fffffff;
const B64 = (n: number): number => Math.ceil(n / 3) * 4;
/** The longest line a well-behaved agent sends: an exec reply with both outputs full. */
const MAX_LINE = 64 + 2 * B64(AGENT_MAX_DATA);

export interface ExecResult { status: number; stdout: Uint8Array; stderr: Uint8Array }
export interface ExecOptions { stdin?: Uint8Array; timeoutMs?: number }

/** What GuestAgent needs of a channel: VirtioAgentChannel, or a test's stand-in for one. */
export type AgentChannel = Pick<VirtioAgentChannel, 'onData' | 'onOpen' | 'guestOpen' | 'send' | 'discard'>;

interface Pending {
  what: string;
  resolve: (words: string[]) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  /** When the timer fires (Date.now() terms). */
  deadline: number;
  fire: () => void;
}

const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,61}[A-Za-z0-9])?$/;

/** `-` stands for an empty field: base64 of nothing is nothing, which would vanish between spaces. */
function encodeField(b: Uint8Array): string {
  return b.length === 0 ? '-' : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

function decodeField(s: string | undefined, what: string): Uint8Array {
  if (s === '-') return new Uint8Array(0);
  if (s === undefined || !/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new BonsaiError(`guest agent: ${what}: a malformed reply`);
  return new Uint8Array(Buffer.from(s, 'base64'));
}

export class GuestAgent {
  onConnectedChange?: (connected: boolean) => void;
  private channel: AgentChannel | null = null;
  private isConnected = false;
  /** Random start: a reply still in a restored guest's memory must not match a new request. */
  private nextId = 1 + Math.floor(Math.random() * 0x7fffffff);
  private readonly pending = new Map<number, Pending>();
  private readonly waiters = new Set<() => void>();
  /** The line being received: chunks, `lineBytes` long; `skipping` while a too-long line is thrown away. */
  private line: Uint8Array[] = [];
  private lineBytes = 0;
  private skipping = false;
  private readonly execGraceMs: number;

  /** `execGraceMs`: how much longer than exec's timeout the host waits for the reply (default 15 s). */
  constructor(opts: { execGraceMs?: number } = {}) {
    this.execGraceMs = opts.execGraceMs ?? EXEC_GRACE_MS;
  }

  /** The agent in the guest said hello on this boot and its channel is open. */
  get connected(): boolean { return this.isConnected; }

  attach(channel: AgentChannel): void {
    if (this.channel !== null) this.detach();
    this.channel = channel;
    this.line = [];
    this.lineBytes = 0;
    this.skipping = false;
    channel.onData = (b) => this.data(b);
    channel.onOpen = (open) => this.opened(open);
    // A restored machine's agent may have said hello long ago: ask.
    if (channel.guestOpen) this.probe();
  }

  detach(): void {
    const ch = this.channel;
    if (ch === null) return;
    ch.onData = () => {};
    ch.onOpen = () => {};
    this.channel = null;
    this.lost('the guest is gone');
  }

  /**
   * The machine was put back to a snapshot: requests in flight are failed (the guest that took them is
   * gone), and the agent is asked again whether it is there (its greeting is in the past).
   */
  restored(): void {
    const ch = this.channel;
    if (ch === null) return;
    this.lost('the machine was restored to a snapshot');
    this.line = [];
    this.lineBytes = 0;
    this.skipping = false;
    if (ch.guestOpen) this.probe();
  }

  /** Resolves true once the agent is connected, false if `timeoutMs` passes first. */
  waitConnected(timeoutMs: number): Promise<boolean> {
    if (this.isConnected) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => { clearTimeout(timer); this.waiters.delete(done); resolve(this.isConnected); };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      this.waiters.add(done);
    });
  }

  /**
   * Runs argv[0] (looked up in PATH) with exactly these arguments: no shell comes between, so nothing in
   * argv is interpreted. Output past AGENT_MAX_DATA is cut off by the guest.
   */
  async exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (argv.length === 0) throw new BonsaiError('guest agent: exec needs a command');
    if (argv.some((a) => a.includes('\0'))) throw new BonsaiError('guest agent: exec: an argument holds a NUL byte');
    const stdin = opts.stdin ?? new Uint8Array(0);
    if (stdin.length > AGENT_MAX_DATA) throw new BonsaiError(`guest agent: exec: stdin is ${stdin.length} bytes; at most ${AGENT_MAX_DATA}`);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new BonsaiError(`guest agent: exec: timeout ${timeoutMs} ms is not a positive number`);
    const what = `exec ${printable(argv[0].slice(0, 60))}`;
    const words = argv.map((a) => encodeField(new TextEncoder().encode(a)));
    const seconds = Math.ceil(timeoutMs / 1000);
    const r = await this.request(what, `exec ${seconds} ${stdin.length} ${words.join(' ')}`, stdin, timeoutMs + this.execGraceMs);
    const status = Number(r[0]);
    if (r.length !== 3 || !/^\d{1,3}$/.test(r[0]) || status > 255) throw new BonsaiError(`guest agent: ${what}: a malformed reply`);
    return { status, stdout: decodeField(r[1], what), stderr: decodeField(r[2], what) };
  }

  /** Shuts the guest down through its own init (services stopped, filesystems unmounted); resolves once the agent has started it. */
  async poweroff(): Promise<void> {
    await this.request('poweroff', 'poweroff', undefined, CONTROL_TIMEOUT_MS);
  }

  /** Sets the guest's realtime clock (to the second: busybox date). */
  async setTime(epochMs: number): Promise<void> {
    if (!Number.isFinite(epochMs) || epochMs < 0) throw new BonsaiError(`guest agent: set time: ${epochMs} is not a time`);
    await this.request('set time', `time ${Math.round(epochMs / 1000)}`, undefined, CONTROL_TIMEOUT_MS);
  }

  /** Sets the guest's hostname (and /etc/hostname, /etc/hosts), as /init does from the config archive. */
  async setHostname(name: string): Promise<void> {
    if (!HOSTNAME.test(name)) throw new BonsaiError(`guest agent: '${printable(name.slice(0, 70))}' is not a hostname (1-63 letters, digits, '-' and '.')`);
    await this.request('set hostname', `hostname ${name}`, undefined, CONTROL_TIMEOUT_MS);
  }

  /** Asks an agent that may have greeted before the host listened (`ID hello` → `ID ok VERSION`). */
  private probe(): void {
    this.request('hello', 'hello', undefined, CONTROL_TIMEOUT_MS, true)
      .then((w) => { if (w[0] === String(AGENT_PROTOCOL)) this.setConnected(true); })
      .catch(() => { /* no agent (yet): its own hello will come when it starts */ });
  }

  private request(what: string, line: string, payload: Uint8Array | undefined, timeoutMs: number, probe = false): Promise<string[]> {
    if (this.channel === null || (!this.isConnected && !probe)) return Promise.reject(new BonsaiError(`guest agent: ${what}: the agent is not connected`));
    const id = this.nextId++;
    const head = Buffer.from(`${id} ${line}\n`, 'latin1');
    let bytes: Uint8Array = head;
    if (payload !== undefined && payload.length > 0) {
      bytes = new Uint8Array(head.length + payload.length);
      bytes.set(head);
      bytes.set(payload, head.length);
    }
    const channel = this.channel;
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const fire = (): void => {
        this.pending.delete(id);
        reject(new BonsaiError(`guest agent: ${what}: no answer in ${((Date.now() - started) / 1000).toFixed(1)} s`));
      };
      const timer = setTimeout(fire, Math.min(timeoutMs, MAX_TIMER_MS));
      this.pending.set(id, { what, resolve, reject, timer, deadline: started + timeoutMs, fire });
      try {
        channel.send(bytes);
      } catch (e) {
        this.settle(id)?.reject(e instanceof BonsaiError ? new BonsaiError(`guest agent: ${what}: ${e.message}`) : e as Error);
      }
    });
  }

  private settle(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (p === undefined) return undefined;
    clearTimeout(p.timer);
    this.pending.delete(id);
    return p;
  }

  private opened(open: boolean): void {
    // Usually the agent's own hello follows at once; after a restore only the probe's answer will.
    if (open) { if (!this.isConnected) this.probe(); return; }
    this.channel?.discard(); // meant for the process that closed the port
    this.lost('the guest agent closed its channel');
  }

  private lost(why: string): void {
    this.setConnected(false);
    for (const id of [...this.pending.keys()]) {
      const p = this.settle(id);
      p?.reject(new BonsaiError(`guest agent: ${p.what}: ${why}`));
    }
  }

  private setConnected(c: boolean): void {
    if (c === this.isConnected) return;
    this.isConnected = c;
    if (c) for (const w of [...this.waiters]) w();
    this.onConnectedChange?.(c);
  }

  private data(bytes: Uint8Array): void {
    // Answers come in order, so these bytes are the oldest request's: while they flow (a large output on
    // a slow guest), it has at least another grace period.
    const first = this.pending.values().next();
    if (!first.done) {
      const p = first.value;
      const now = Date.now();
      if (p.deadline - now < this.execGraceMs) {
        clearTimeout(p.timer);
        p.deadline = now + this.execGraceMs;
        p.timer = setTimeout(p.fire, this.execGraceMs);
      }
    }
    let start = 0;
    for (let nl = bytes.indexOf(10); nl >= 0; nl = bytes.indexOf(10, start)) {
      this.take(bytes.subarray(start, nl));
      if (!this.skipping) {
        const whole = this.line.length === 1 ? this.line[0] : Buffer.concat(this.line);
        this.message(Buffer.from(whole.buffer, whole.byteOffset, whole.byteLength).toString('latin1'));
      }
      this.line = [];
      this.lineBytes = 0;
      this.skipping = false;
      start = nl + 1;
    }
    this.take(bytes.subarray(start));
  }

  private take(part: Uint8Array): void {
    if (this.skipping || part.length === 0) return;
    if (this.lineBytes + part.length > MAX_LINE) {
      // Not a line the agent would send: thrown away; whatever it answered times out.
      this.skipping = true;
      this.line = [];
      this.lineBytes = 0;
      return;
    }
    this.line.push(part.slice());
    this.lineBytes += part.length;
  }

  private message(line: string): void {
    const words = line.split(' ');
    if (words[0] === 'hello') {
      // An agent that starts again has forgotten what it was asked.
      if (this.isConnected) this.lost('the guest agent restarted');
      this.setConnected(words[1] === String(AGENT_PROTOCOL));
      return;
    }
    if (!/^\d{1,16}$/.test(words[0])) return;
    const p = this.settle(Number(words[0]));
    if (p === undefined) return; // timed out, or from before a restore
    if (words[1] === 'ok') {
      try { p.resolve(words.slice(2)); } catch (e) { p.reject(e as Error); }
    } else if (words[1] === 'err') {
      p.reject(new BonsaiError(`guest agent: ${p.what}: ${printable(words.slice(2).join(' ').slice(0, 200))}`));
    } else {
      p.reject(new BonsaiError(`guest agent: ${p.what}: a malformed reply`));
    }
  }
}
