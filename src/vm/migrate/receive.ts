/**
 * The destination side of a live migration (docs/migration.md). `bonsai receive` listens, lets only
 * allowed addresses in, checks the sender's proof of the token and its offer, makes the VM's folder and
 * hands the connection to the VM's process (`bonsai vmm --incoming`, started when receive starts listening,
 * as QEMU's is with -incoming), which receives the disks' files and RAM, builds the machine over them,
 * restores every part and runs it when the source says so.
 * A failure at any point removes everything received: nothing is left in the store.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { inflateRawSync } from 'node:zlib';
import { dirname, join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BonsaiError } from '../../errors.js';
import { guestMemoryFor } from '../../machine/machine.js';
import { RAM_OFFSET } from '../../machine/riscv/layout.js';
import { setBackingName } from '../../storage/rebase.js';
import { refuseExisting } from '../manage.js';
import { files as runtimeFiles } from '../process/runtime.js';
import { parseSpec, type VmSpec } from '../spec.js';
import { checkVmName, type Store } from '../store/store.js';
import { storeError } from '../store/errors.js';
import { parseTree, saveTree, stateDir, statePath } from '../snapshot/tree.js';
import type { State } from '../../devices/stateful.js';
import { BIN } from '../process/launch.js';
import { FILE_CHUNK, PAGE, proofOf, type Offer, type Progress } from './send.js';
import { Frame, FrameReader, FrameWriter, MAX_FRAME, MIGRATE_MAGIC, MIGRATE_VERSION } from './stream.js';
import { collectGarbage } from './gc.js';
import { mark } from './trace.js';

export interface ReceiveOptions {
  host: string;
  port: number;
  name?: string;
  /** Addresses allowed to connect (default: loopback). */
  allow: string[];
  token?: string;
  /** Told of each step: listening, refused connections, progress. */
  log: (line: string) => void;
  onProgress?: (p: Progress) => void;
}

/** What the VMM reports to `bonsai receive` over its IPC channel. */
/** `done.warning`: the VM runs here, but its received files could not all be made durable (fsync failed). */
export type IncomingMessage = { progress: Progress } | { done: { name: string; warning?: string } } | { failed: string };

const LOOPBACK = ['127.0.0.1', '::1'];
const plain = (a: string | undefined): string => (a ?? '').replace(/^::ffff:/, '');

/** Waits for one VM and brings it in; resolves with its name once it runs here. */
export async function receiveVm(store: Store, opts: ReceiveOptions): Promise<string> {
  const allow = new Set((opts.allow.length === 0 ? LOOPBACK : opts.allow).map(plain));
  const server = createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new BonsaiError(`cannot listen on ${opts.host}:${opts.port}: ${e.message}`)));
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address();
  opts.log(`waiting for a VM on ${opts.host}:${typeof addr === 'object' && addr !== null ? addr.port : opts.port}`);
  let waiting: Standby | null = standby(store);
  try {
    for (;;) {
      const sock = await accept(server);
      const from = plain(sock.remoteAddress);
      if (!allow.has(from)) {
        opts.log(`refused a connection from ${from}: not in --allow`);
        sock.destroy();
        continue;
      }
      const r = await handshake(store, sock, from, opts);
      if (r === null) continue;
      const sb = waiting.alive() ? waiting : standby(store);
      if (sb !== waiting) waiting.dismiss();
      waiting = null;
      return await handOver(store, sock, r, opts, sb);
    }
  } finally {
    server.close();
    waiting?.dismiss();
  }
}

/**
 * A VM process started before any VM comes, as QEMU's destination is started with -incoming: by the time a
 * source connects it has loaded Bonsai (~0.3 s of a migration's total otherwise). It writes to a log in the
 * store's folder until the VM is named; that file then moves into the VM's folder, open as it is.
 */
interface Standby { child: ChildProcess; log: string; alive(): boolean; dismiss(): void }

function standby(store: Store): Standby {
  const log = join(store.ensureDir(store.home), `incoming-${process.pid}-${randomBytes(4).toString('hex')}.log`);
  let fd: number;
  try {
    fd = openSync(log, 'w', 0o600);
  } catch (e) {
    throw storeError(e, log, 'receiving a VM');
  }
  const child = spawn(process.execPath, [BIN, 'vmm', '--incoming', '--standby-log', log], {
    detached: true, stdio: ['ignore', fd, fd, 'ipc'], env: { ...process.env, BONSAI_HOME: store.home },
  });
  closeSync(fd);
  child.on('error', () => undefined);
  return {
    child, log,
    alive: () => child.exitCode === null && child.signalCode === null && child.connected,
    dismiss: () => {
      child.kill('SIGKILL');
      child.unref();
      rmSync(log, { force: true });
    },
  };
}

function accept(server: Server): Promise<Socket> {
  return new Promise((resolve) => server.once('connection', resolve));
}

interface Handshake { offer: Offer; spec: VmSpec; challenge: string }

/** Hello, the offer, the token's proof and the store's checks; null (logged) when this sender is refused. */
async function handshake(store: Store, sock: Socket, from: string, opts: ReceiveOptions): Promise<Handshake | null> {
  sock.resume();
  const reader = new FrameReader(sock, `the source ${from}`);
  const writer = new FrameWriter(sock);
  const challenge = randomBytes(32).toString('hex');
  try {
    await writer.send(Frame.Hello, { magic: MIGRATE_MAGIC, version: MIGRATE_VERSION, challenge });
    const offer = await withTimeout(reader.json<Offer>(Frame.Offer), 30_000, 'the source sent no offer');
    if (opts.token !== undefined && offer.proof !== proofOf(opts.token, challenge)) throw new BonsaiError('wrong or missing token');
    if (offer.version !== MIGRATE_VERSION) throw new BonsaiError(`the source speaks migration version ${offer.version}; this Bonsai speaks ${MIGRATE_VERSION}`);
    const saved = parseSpec(offer.spec, 'the VM offered');
    const name = checkVmName(opts.name ?? saved.name);
    refuseExisting(store, name);
    parseTree(offer.tree, 'the snapshot tree offered');
    sock.pause();
    reader.detach();
    return { offer, spec: { ...saved, name }, challenge };
  } catch (e) {
    const msg = (e as Error).message;
    opts.log(`refused the VM from ${from}: ${msg}`);
    await writer.send(Frame.Error, { message: `the destination refused: ${msg}` }).catch(() => undefined);
    sock.destroy();
    return null;
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => { t = setTimeout(() => reject(new BonsaiError(what)), ms); })]);
  } finally {
    clearTimeout(t);
  }
}

/** Makes the VM's folder and gives the connection to the waiting process; resolves when the VM runs. */
async function handOver(store: Store, sock: Socket, h: Handshake, opts: ReceiveOptions, sb: Standby): Promise<string> {
  const { spec } = h;
  const { child } = sb;
  store.saveVm(spec);
  const dir = store.vmDir(spec.name);
  // Named here, so that what a child killed outright leaves behind can be removed here.
  const layerDir = join(store.layersDir, `migrate-${spec.name}-${randomBytes(4).toString('hex')}`);
  try {
    renameSync(sb.log, runtimeFiles(dir).log);
  } catch (e) {
    sb.dismiss();
    rmSync(dir, { recursive: true, force: true });
    throw storeError(e, runtimeFiles(dir).log, 'receiving the VM');
  }
  try {
    return await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new BonsaiError(`the VM's process ended (status ${code ?? 'killed'}) before it ran; see nothing: it was removed`)));
      child.on('message', (m: IncomingMessage) => {
        if ('progress' in m) opts.onProgress?.(m.progress);
        else if ('done' in m) {
          if (m.done.warning !== undefined) opts.log(`bonsai: warning: ${m.done.warning}`);
          resolve(m.done.name);
        }
        else if ('failed' in m) reject(new BonsaiError(m.failed));
      });
      const handoff: IncomingHandoff = { name: spec.name, offer: h.offer, challenge: h.challenge, token: opts.token ?? null, layerDir };
      child.send(handoff, sock);
    });
  } catch (e) {
    // The process cleans up after itself and ends: a kill at once would cut its word to the source (the
    // Error frame) off with the connection. One that does not end within 3 s, or died without cleaning
    // up, is killed and its folder removed.
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((r) => { const t = setTimeout(r, 3000); child.once('exit', () => { clearTimeout(t); r(); }); });
    }
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    rmSync(layerDir, { recursive: true, force: true });
    throw e;
  } finally {
    sock.destroy();
    child.removeAllListeners();
    if (child.connected) child.disconnect();
    child.unref();
  }
}

/** What the VM's process is given by `bonsai receive`. */
export interface IncomingHandoff { name: string; offer: Offer; challenge: string; token: string | null; /** where backing images go */ layerDir: string }

/**
 * Waits for the handoff (the VM's name, the message and the connection) from `bonsai receive`, however long
 * it waits for a source; null when receive went away first (its standby log is then removed here).
 */
export function awaitHandoff(standbyLog: string | undefined): Promise<{ h: IncomingHandoff; sock: Socket } | null> {
  return new Promise((resolve, reject) => {
    const gone = (): void => {
      if (standbyLog !== undefined) rmSync(standbyLog, { force: true });
      resolve(null);
    };
    if (!process.connected) { gone(); return; }
    process.once('disconnect', gone);
    process.once('message', (m: IncomingHandoff, sock: Socket | undefined) => {
      process.off('disconnect', gone);
      if (sock === undefined || typeof m?.name !== 'string') reject(new BonsaiError('the handoff came without its connection'));
      else resolve({ h: m, sock });
    });
  });
}

export function report(m: IncomingMessage): void {
  if (process.connected) process.send?.(m);
}

/**
 * In the VM's process: receives the files and RAM into place. Resolves with the guest memory and the
 * machine state once the source paused the guest and sent the rest; `ready()` then tells the source the
 * machine is built and waits for its Go.
 */
export class Incoming {
  private readonly reader: FrameReader;
  private readonly writer: FrameWriter;
  private readonly placed: string[] = [];
  private readonly layerDir: string;
  /** When the final section came in: the destination's part of the pause runs from here to built(). */
  private finalAt = 0;
  /** Whether the early machine was built (prepare ran), and the files written into after that. */
  private prepared = false;
  private readonly writtenAfterPrepare = new Set<string>();

  constructor(private readonly store: Store, private readonly spec: VmSpec, private readonly sock: Socket, private readonly h: IncomingHandoff) {
    this.reader = new FrameReader(sock, 'the source');
    this.writer = new FrameWriter(sock);
    this.layerDir = h.layerDir;
    sock.setNoDelay(true); // small frames (ready, round answers) go at once
    sock.resume();
  }

  async receive(memoryBytes: number, prepare: (memory: WebAssembly.Memory) => Promise<void>, refresh: () => Promise<void>): Promise<{ memory: WebAssembly.Memory; state: State }> {
    const { offer } = this.h;
    await this.writer.send(Frame.Accept, { proof: this.h.token === null ? null : proofOf(this.h.token, offer.challenge) });
    const dir = this.store.vmDir(this.spec.name);
    const handles: FileHandle[] = [];
    /** Each file's size as written so far (they start empty): no fstat in the pause. */
    const ends: number[] = [];
    try {
      if (offer.files.some((f) => f.kind === 'layer')) mkdirSync(this.layerDir, { recursive: true });
      if (offer.files.some((f) => f.kind === 'state')) this.store.ensureDir(stateDir(dir));
      for (const [i, f] of offer.files.entries()) {
        const to = f.kind === 'disk' ? join(dir, f.name) : f.kind === 'layer' ? join(this.layerDir, `${i}-${f.name}`) : statePath(dir, f.name);
        this.placed.push(to);
        handles.push(await open(to, 'wx', 0o600).catch((e: unknown) => { throw storeError(e, to, 'receiving the VM\'s file'); }));
        ends.push(0);
      }
      /** Files whose first piece (the header) came since their backing file's name was last set. */
      const headerAgain = new Set<number>(offer.files.map((_, i) => i));
      const setBackings = async (): Promise<void> => {
        for (const [i, file] of offer.files.entries()) {
          if (file.backing === null || !headerAgain.delete(i)) continue;
          // No fsync (~4 ms, in the pause when a header came again): ready() syncs every received file.
          await setBackingName(this.placed[i], relative(dirname(this.placed[i]), this.placed[file.backing]), { sync: false });
        }
      };
      // The snapshot tree now (it is an atomic, flushed write): not in the pause. A failure removes the folder.
      saveTree(dir, parseTree(offer.tree, 'the snapshot tree'));
      const memory = guestMemoryFor(memoryBytes);
      const ram = new Uint8Array(memory.buffer, RAM_OFFSET, memoryBytes);
      const pages = memoryBytes / PAGE;
      /** Page number `page` of RAM, which the source must keep within RAM. */
      const at = (page: number): number => {
        if (page >= pages) throw new BonsaiError('the source sent a page past the end of RAM');
        return page * PAGE;
      };
      for (;;) {
        const f = await this.reader.next();
        const p = f.payload;
        if (f.type === Frame.Pages) {
          const n = p.readUInt32LE(0);
          if (p.length !== 4 + n * (4 + PAGE)) throw new BonsaiError('the source sent a damaged page batch');
          for (let i = 0; i < n; i++) {
            const o = 4 + i * (4 + PAGE);
            ram.set(p.subarray(o + 4, o + 4 + PAGE), at(p.readUInt32LE(o)));
          }
        } else if (f.type === Frame.CompressedPages) {
          const n = p.length >= 4 ? p.readUInt32LE(0) : 0;
          if (n === 0 || p.length < 4 + n * 4 || n * PAGE > MAX_FRAME) throw new BonsaiError('the source sent a damaged page batch');
          let raw: Buffer;
          try {
            raw = inflateRawSync(p.subarray(4 + n * 4), { maxOutputLength: n * PAGE });
          } catch {
            throw new BonsaiError('the source sent a damaged compressed page batch');
          }
          if (raw.length !== n * PAGE) throw new BonsaiError('the source sent a damaged compressed page batch');
          for (let i = 0; i < n; i++) ram.set(raw.subarray(i * PAGE, (i + 1) * PAGE), at(p.readUInt32LE(4 + i * 4)));
        } else if (f.type === Frame.ZeroPages) {
          const n = p.readUInt32LE(0);
          for (let i = 0; i < n; i++) {
            const o = at(p.readUInt32LE(4 + i * 4));
            ram.fill(0, o, o + PAGE);
          }
        } else if (f.type === Frame.FileData) {
          const fi = p.readUInt32LE(0), pos = p.readDoubleLE(4);
          if (fi >= handles.length || !Number.isSafeInteger(pos) || pos < 0 || p.length - 12 > FILE_CHUNK) throw new BonsaiError('the source sent damaged disk data');
          // A blocking write (into the page cache): an asynchronous one waits in libuv's thread pool, in the pause too.
          try {
            writeSync(handles[fi].fd, p, 12, p.length - 12, pos);
          } catch (e) {
            throw storeError(e, this.placed[fi], 'receiving the VM\'s disk');
          }
          ends[fi] = Math.max(ends[fi], pos + p.length - 12);
          if (pos === 0) headerAgain.add(fi);
          if (this.prepared) this.writtenAfterPrepare.add(this.placed[fi]);
        } else if (f.type === Frame.Round) {
          // Everything before it is in place: the source measures the link end to end by this answer.
          const r = JSON.parse(p.toString()) as { round?: unknown };
          // Copied images name their copied backing files from the first round on (the disks have come
          // once by then), and again whenever a header came over again; a no-op otherwise.
          await setBackings();
          // The machine is built while the guest runs on, once the disks are in (round -1; with no disks to
          // copy, round 0): after answering round -1, so that the source sends RAM meanwhile (the frames wait
          // in the socket), before answering round 0, so that the source never pauses the guest while this is
          // still under way.
          const buildNow = !this.prepared && (r.round === -1 || r.round === 0);
          const answerFirst = buildNow && r.round === -1;
          // The first copy's garbage (tens of MiB of frames) collected now, while the guest still runs on the
          // source: left to V8, a major collection of it came during the pause (2-20 ms, most runs).
          if (r.round === 0) collectGarbage();
          if (answerFirst) await this.writer.send(Frame.Round, r);
          if (buildNow) { mark('destination: building the machine'); await prepare(memory); this.prepared = true; mark('destination: machine built'); }
          else if (this.prepared && this.writtenAfterPrepare.size > 0) {
            // The disks' pieces of this round read in now (the guest still runs on the source), not in the pause.
            await refresh();
            this.writtenAfterPrepare.clear();
            mark('destination: disks reloaded after the round');
          }
          if (!answerFirst) await this.writer.send(Frame.Round, r);
        } else if (f.type === Frame.Final) {
          this.finalAt = performance.now();
          mark('destination: final section received');
          const fin = JSON.parse(p.toString()) as { state: State; sizes: number[] };
          if (!Array.isArray(fin.sizes) || fin.sizes.length !== handles.length) throw new BonsaiError('the source sent a damaged final section');
          // Made durable once the guest runs (ready()): an fsync here would lengthen the pause.
          for (const [i, fh] of handles.entries()) if (ends[i] !== fin.sizes[i]) await fh.truncate(fin.sizes[i]);
          // Kept open: ready() makes them durable through these once the guest runs, discard() closes them.
          this.files = handles.splice(0);
          await setBackings();
          for (const [i, file] of offer.files.entries()) if (file.kind === 'layer') chmodSync(this.placed[i], 0o444);
          mark('destination: files in place');
          return { memory, state: fin.state };
        } else {
          throw new BonsaiError(`the source sent frame ${f.type} out of order`);
        }
        // Put in place: its memory goes back to the reader for the frames to come (a large one's).
        this.reader.recycle(p);
      }
    } finally {
      for (const fh of handles) await fh.close().catch(() => undefined);
    }
  }

  /**
   * Whether the file at `path` (placed here) was written into after the early machine was built or its
   * disks last refreshed, so that a backend opened before must read it again. Backing names set since
   * count: setBackingName writes there.
   */
  changedSinceBuild(path: string): boolean {
    return !this.prepared || this.writtenAfterPrepare.has(path);
  }

  private readySent: Promise<void> | null = null;
  /** The received files, open from the final section until they are synced (ready) or removed (discard). */
  private files: FileHandle[] = [];

  /** The machine is built and restored: tells the source (once), without waiting for its answer. */
  built(): void {
    if (this.readySent === null) mark('destination: machine restored, ready');
    this.readySent ??= this.writer.send(Frame.Ready, { buildMs: performance.now() - this.finalAt });
  }

  /** Tells the source the machine is ready (unless built() did), waits for Go, confirms. */
  async ready(): Promise<void> {
    this.built();
    await this.readySent;
    await withTimeout(this.reader.json(Frame.Go), 30_000, 'the source did not say go');
    mark('destination: go received');
    this.running = true;
    await this.writer.send(Frame.Running, {}).catch(() => undefined); // the source's to lose now
    this.closeSoon(); // Running may still be queued
    // Durable in the background: the guest runs as soon as this returns (it used to wait for the fsyncs,
    // tens of ms of a pause that the downtime, measured to Running, did not show).
    void this.makeDurable();
  }

  /** Syncs and closes the received files, then tells bonsai receive the VM is here. */
  private async makeDurable(): Promise<void> {
    let problem: string | undefined;
    for (const [i, fh] of this.files.splice(0).entries()) {
      try {
        await fh.sync();
      } catch (e) {
        problem ??= `${this.placed[i]}: not made durable: ${(e as Error).message}`;
      } finally {
        await fh.close().catch(() => undefined);
      }
    }
    report({ done: { name: this.spec.name, ...(problem === undefined ? {} : { warning: problem }) } });
  }

  /**
   * Ends the connection once what is queued went out: destroy() would drop a frame just sent (an Error
   * or Running, so the source only knew that the connection closed). A peer that stopped reading is cut
   * off after 2 s.
   */
  private closeSoon(): void {
    this.sock.end();
    setTimeout(() => this.sock.destroy(), 2000).unref();
  }

  /** Whether the guest runs here (the source was told so): from then on a failure is the VM's own. */
  running = false;

  /** Removes what was received (the caller removes the VM's folder). */
  discard(e: Error): void {
    void this.writer.send(Frame.Error, { message: `the destination failed: ${e.message}` }).catch(() => undefined);
    this.reader.drain();
    this.closeSoon();
    for (const fh of this.files.splice(0)) void fh.close().catch(() => undefined);
    for (const p of this.placed) rmSync(p, { force: true });
    rmSync(this.layerDir, { recursive: true, force: true });
  }
}
