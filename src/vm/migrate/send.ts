/**
 * The source side of a live migration (docs/migration.md), run inside the VM's process (the VMM) when
 * `bonsai migrate` asks for it: pre-copy of RAM (and, with --with-disks, of the disks' files) while the
 * guest runs, rounds of what was dirtied meanwhile until the rest fits in the downtime, then the guest
 * pauses, the last pages and every part's state go over, and the destination resumes it. Any failure
 * before the destination was told to run leaves the guest running here, as it was.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { fstatSync, readSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { deflateRaw, deflateRawSync } from 'node:zlib';
import { BonsaiError } from '../../errors.js';
import type { Machine } from '../../machine/machine.js';
import type { BlockBackend } from '../../storage/backend.js';
import { imageInfo, type ImageInfo } from '../../storage/image-ops.js';
import { ownedDisks } from '../manage.js';
import { formatSpec, type VmSpec } from '../spec.js';
import type { Store } from '../store/store.js';
import { vmDisks } from '../snapshot/disks.js';
import { loadTree, statePath } from '../snapshot/tree.js';
import { BATCH_FRAME, BufferPool, Frame, FrameReader, FrameWriter, MIGRATE_MAGIC, MIGRATE_VERSION } from './stream.js';
import { collectGarbage } from './gc.js';
import { mark } from './trace.js';

export const PAGE = 4096;
/** Pages per Pages frame (4 MiB of data: BATCH_FRAME). */
const BATCH = 1024;
/** Disk files are copied in pieces of this size (at most, in a FileData frame)... */
export const FILE_CHUNK = 1 << 20;
/** ...and writes to them tracked in pieces of this: a guest's 4 KiB write (and the qcow2 metadata beside it) sends 64 KiB again, not 1 MiB. */
const DIRTY_CHUNK = 1 << 16;
const MAX_ROUNDS = 30;
/** Pages deflated to sample the compressor while compressing does not pay (128 KiB). */
const SAMPLE_PAGES = 32;
/** Pages compared against zero at once in the first copy of RAM (256 KiB). */
const ZERO_RUN = 64;
/** Dirty pages few enough to send in the pause without trying another round (256 KiB). */
const FEW_PAGES = 64;

export type FileKind = 'disk' | 'layer' | 'state';
export interface OfferFile {
  kind: FileKind;
  /** disk: the file name in the VM's folder; layer: its base name; state: the snapshot's name. */
  name: string;
  size: number;
  /** Index of the image this one is backed by, or null. */
  backing: number | null;
}

export interface Offer {
  version: number;
  proof: string | null;
  challenge: string;
  spec: string;
  tree: unknown;
  config: unknown;
  withDisks: boolean;
  files: OfferFile[];
}

export interface MigrateOptions {
  host: string;
  port: number;
  token?: string;
  withDisks: boolean;
  maxDowntimeMs: number;
  /** Bytes per second; unlimited when absent. */
  bandwidth?: number;
  /** RAM pages deflated: where that pays (auto, the default), every batch, or none. */
  compress?: Compression;
}

export const COMPRESSIONS = ['auto', 'always', 'never'] as const;
export type Compression = typeof COMPRESSIONS[number];

/** `auto`, `always` or `never`, else a one-line error naming `what`. */
export function parseCompression(text: string, what: string): Compression {
  const c = COMPRESSIONS.find((k) => k === text);
  if (c === undefined) throw new BonsaiError(`${what} ${text}: expected auto, always or never`);
  return c;
}

export interface Progress { phase: 'disks' | 'ram' | 'stop'; round: number; sentBytes: number; dirtyPages: number; expectedDowntimeMs: number; throttle: number }
/**
 * Where the guest's pause went, in ms: taking the state here, sending the rest until it reached the
 * destination, the destination putting it in place and restoring the machine, the final handshake.
 */
export interface DowntimePhases { stateMs: number; sendMs: number; buildMs: number; goMs: number }
export interface MigrateResult {
  /** The guest's pause: from the stop here until the destination said it runs the guest. */
  downtimeMs: number;
  /**
   * The part of the pause until the last of the state was written to the connection: what QEMU's `info
   * migrate` calls downtime (it leaves out the destination's loading and resuming).
   */
  sourceMs: number;
  totalMs: number; bytes: number; rounds: number; phases: DowntimePhases;
  /** Pages that went over deflate-compressed (CompressionGauge: where the link is slower than compressing). */
  compressedPages: number;
}

export function proofOf(token: string, challenge: string): string {
  return createHmac('sha256', token).update(`${MIGRATE_MAGIC} ${challenge}`).digest('hex');
}

function dial(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    const t = setTimeout(() => { s.destroy(); reject(new BonsaiError(`${host}:${port}: no answer within 10 s`)); }, 10_000);
    s.once('connect', () => { clearTimeout(t); s.setNoDelay(true); resolve(s); });
    s.once('error', (e) => { clearTimeout(t); reject(new BonsaiError(`${host}:${port}: ${e.message}`)); });
  });
}

/** Byte ranges of a file written since last taken, in DIRTY_CHUNK pieces. */
class DirtyChunks {
  private set = new Set<number>();
  add(pos: number, len: number): void {
    for (let c = Math.floor(pos / DIRTY_CHUNK); c * DIRTY_CHUNK < pos + len; c++) this.set.add(c);
  }
  take(): number[] { const s = [...this.set].sort((a, b) => a - b); this.set.clear(); return s; }
  get size(): number { return this.set.size; }
}

/** The files a migration with disks carries: the VM's own disks, their backing chains, snapshot states. */
async function offerFiles(store: Store, spec: VmSpec): Promise<{ files: OfferFile[]; paths: string[] }> {
  const files: OfferFile[] = [];
  const paths: string[] = [];
  const byPath = new Map<string, number>();
  const add = (info: ImageInfo, kind: FileKind, name: string): number => {
    if (info.backing !== undefined && !('format' in info.backing)) throw new BonsaiError(`${info.path}: its backing file cannot be read`);
    const backing = info.backing !== undefined && 'format' in info.backing ? add(info.backing, 'layer', info.backing.path.split('/').pop() ?? 'layer') : null;
    const known = byPath.get(info.path);
    if (known !== undefined && kind === 'layer') return known;
    files.push({ kind, name, size: statSync(info.path).size, backing });
    paths.push(info.path);
    byPath.set(info.path, files.length - 1);
    return files.length - 1;
  };
  for (const d of ownedDisks(spec)) add(await imageInfo(store.diskPath(spec.name, d.file)), 'disk', d.file);
  for (const s of loadTree(store.vmDir(spec.name)).snapshots.filter((x) => x.running)) {
    const p = statePath(store.vmDir(spec.name), s.name);
    files.push({ kind: 'state', name: s.name, size: statSync(p).size, backing: null });
    paths.push(p);
  }
  return { files, paths };
}

const deflate = promisify(deflateRaw);

/**
 * Whether compressing RAM pages pays: compressing a batch and sending what is left must take less time than
 * sending it as it is, i.e. the link carries fewer bytes per ms than deflate takes in times the share it saves
 * (link < speed * (1 - ratio)). On loopback (~1 GB/s) it never does; behind --bandwidth 4M it does for any
 * page that compresses at all. The link is measured by the time sends wait on the socket and the pacer, the
 * compressor by timing what it does: every batch while it pays, and while it does not, the first
 * SAMPLE_PAGES pages of the first batch and of every SAMPLE_EVERY-th, so a change either way is seen.
 */
class CompressionGauge {
  private static readonly SAMPLE_EVERY = 16;
  /** Bytes per ms in (compression), fraction of bytes left, bytes per ms of the link; decayed averages. */
  private speed = 0;
  private ratio = 1;
  private linkBytes = 0;
  private linkMs = 0;
  private batches = 0;
  compressedPages = 0;
  constructor(bandwidth: number | undefined, private readonly mode: Compression) {
    // A set --bandwidth is the link's rate until sends measure it (pacing makes them wait accordingly).
    if (bandwidth !== undefined) { this.linkBytes = bandwidth / 1000; this.linkMs = 1; }
  }
  link(bytes: number, ms: number): void {
    this.linkBytes = this.linkBytes * 0.9 + bytes;
    this.linkMs = this.linkMs * 0.9 + ms;
  }
  compressed(bytes: number, left: number, ms: number): void {
    const sp = bytes / Math.max(ms, 0.01), r = left / bytes;
    const first = this.speed === 0;
    this.speed = first ? sp : this.speed * 0.7 + sp * 0.3;
    this.ratio = first ? r : this.ratio * 0.7 + r * 0.3;
  }
  /** Whether this batch is to be sampled: in auto mode the first, and every SAMPLE_EVERY-th while compressing does not pay. */
  sampleDue(): boolean {
    if (this.mode !== 'auto') return false;
    this.batches++;
    return this.speed === 0 || (this.batches % CompressionGauge.SAMPLE_EVERY === 0 && !this.pays());
  }
  pays(): boolean {
    if (this.mode !== 'auto') return this.mode === 'always';
    if (this.linkMs <= 0) return false;
    return this.linkBytes / this.linkMs < this.speed * (1 - this.ratio);
  }
}

/** Paces sending to `bandwidth` bytes per second. */
class Pacer {
  private t0 = performance.now();
  private sent = 0;
  constructor(private readonly rate: number | undefined) {}
  async add(bytes: number): Promise<void> {
    this.sent += bytes;
    if (this.rate === undefined) return;
    const due = this.t0 + (this.sent / this.rate) * 1000;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  }
}

/**
 * Migrates the running machine `m` of VM `spec` to the destination. `disks` are the VM's open backends
 * (in vmDisks order). Resolves when the guest runs on the destination: the caller then ends this VM.
 */
export async function migrateOut(m: Machine, store: Store, spec: VmSpec, disks: BlockBackend[], opts: MigrateOptions,
  onProgress: (p: Progress) => void): Promise<MigrateResult> {
  const started = performance.now();
  mark('source: migration starts');
  if (!opts.withDisks) {
    const owned = ownedDisks(spec);
    if (owned.length > 0) {
      throw new BonsaiError(`VM '${spec.name}': its disk ${owned[0].file} is in the store, so the destination cannot reach it; migrate --with-disks to copy it`);
    }
  }
  const { files, paths } = opts.withDisks ? await offerFiles(store, spec) : { files: [], paths: [] };
  const sock = await dial(opts.host, opts.port);
  mark('source: connected');
  const reader = new FrameReader(sock, `the destination ${opts.host}:${opts.port}`);
  const writer = new FrameWriter(sock);
  const pacer = new Pacer(opts.bandwidth);
  const gauge = new CompressionGauge(opts.bandwidth, opts.compress ?? 'auto');
  /** Page batches and pieces of disk files are built in these, each used again once it went out. */
  const frames = new BufferPool(BATCH_FRAME);
  const handles: FileHandle[] = [];
  const dirtyFiles = new Map<number, DirtyChunks>();
  const hooked: BlockBackend[] = [];
  let pausedHere = false;
  let committed = false;
  try {
    const hello = await reader.json<{ magic?: unknown; version?: unknown; challenge?: unknown }>(Frame.Hello);
    if (hello.magic !== MIGRATE_MAGIC) throw new BonsaiError(`${opts.host}:${opts.port} is not a Bonsai receiving a VM (bonsai receive)`);
    if (hello.version !== MIGRATE_VERSION) throw new BonsaiError(`the destination speaks migration version ${String(hello.version)}; this Bonsai speaks ${MIGRATE_VERSION}`);
    const challenge = randomBytes(32).toString('hex');
    const offer: Offer = {
      version: MIGRATE_VERSION, proof: opts.token === undefined ? null : proofOf(opts.token, String(hello.challenge)), challenge,
      spec: formatSpec(spec), tree: loadTree(store.vmDir(spec.name)), config: m.config() as unknown, withDisks: opts.withDisks, files,
    };
    await writer.send(Frame.Offer, offer);
    const accept = await reader.json<{ proof?: unknown }>(Frame.Accept);
    mark('source: offer accepted');
    if (opts.token !== undefined && accept.proof !== proofOf(opts.token, challenge)) throw new BonsaiError('the destination does not know the token');

    /** Waits until the destination has put in place everything sent so far. */
    const caughtUp = async (n: number): Promise<void> => {
      await writer.send(Frame.Round, { round: n });
      const back = await reader.json<{ round?: unknown }>(Frame.Round);
      if (back.round !== n) throw new BonsaiError('the destination lost its place in the stream');
    };
    // Disks: their files whole, while the guest runs; writes meanwhile are tracked and sent again.
    vmDisks(spec).forEach((d, i) => {
      const fi = files.findIndex((f) => f.kind === 'disk' && f.name === d.file);
      const b = disks[i];
      if (fi < 0 || b === undefined || d.readOnly) return;
      const dc = new DirtyChunks();
      dirtyFiles.set(fi, dc);
      b.onFileWrite = (pos, len) => dc.add(pos, len);
      hooked.push(b);
    });
    for (const p of paths) handles.push(await open(p, 'r'));
    /**
     * Sends piece `c` of file `fi`, pieces being `piece` bytes (FILE_CHUNK or DIRTY_CHUNK). Read with
     * blocking calls (from the page cache, a fraction of a millisecond): in the pause, an asynchronous one
     * waits its turn in libuv's thread pool behind whatever else is there (one fstat took 106 ms so).
     */
    const sendChunk = async (fi: number, c: number, piece: number): Promise<void> => {
      const size = fstatSync(handles[fi].fd).size;
      const pos = c * piece;
      if (pos >= size) return;
      const len = Math.min(piece, size - pos);
      const frame = frames.take(12 + len);
      frame.writeUInt32LE(fi, 0);
      frame.writeDoubleLE(pos, 4);
      const bytesRead = readSync(handles[fi].fd, frame, 12, len, pos);
      await writer.send(Frame.FileData, frame.subarray(0, 12 + bytesRead), () => frames.give(frame));
      await pacer.add(12 + bytesRead);
    };
    for (let fi = 0; fi < files.length; fi++) {
      const size = (await handles[fi].stat()).size;
      for (let c = 0; c * FILE_CHUNK < size; c++) {
        await sendChunk(fi, c, FILE_CHUNK);
        if (c % 16 === 0) onProgress({ phase: 'disks', round: 0, sentBytes: writer.bytes, dirtyPages: 0, expectedDowntimeMs: 0, throttle: 0 });
      }
    }

    if (files.length > 0) {
      await caughtUp(-1);
      mark('source: disks copied');
    }

    // RAM: everything once (zero pages skipped: the destination's RAM starts zero), then what was dirtied.
    const ram = m.ramBytes();
    const pages = ram.length / PAGE;
    const ramBuf = Buffer.from(ram.buffer, ram.byteOffset, ram.byteLength);
    const zeroBytes = Buffer.alloc(ZERO_RUN * PAGE);
    /** Whether the `n` pages from page `p` (at most ZERO_RUN) are all zero. */
    const allZero = (p: number, n = 1): boolean => ramBuf.compare(zeroBytes, 0, n * PAGE, p * PAGE, (p + n) * PAGE) === 0;
    /**
     * The pages of RAM not all zero, found ZERO_RUN pages at a time where a whole run is zero (most of a
     * fresh guest's RAM): one comparison per run instead of per page, which took ~85 ms of 256 MiB's first copy.
     */
    const nonZeroPages = (): number[] => {
      const out: number[] = [];
      for (let c = 0; c < pages; c += ZERO_RUN) {
        const end = Math.min(pages, c + ZERO_RUN);
        if (allZero(c, end - c)) continue;
        for (let p = c; p < end; p++) if (!allZero(p)) out.push(p);
      }
      return out;
    };
    /** Sends the pages of `list`; `paused`: in the stop, where a batch is compressed only if that pays (no samples). */
    const sendPages = async (list: number[], round: number, paused = false): Promise<void> => {
      const data: number[] = [], zeros: number[] = [];
      /** Sends a frame, timing how long the link (the socket's back-pressure, the pacer) held it. */
      const carry = async (type: Frame, f: Buffer, written?: () => void): Promise<void> => {
        const t0 = performance.now();
        await writer.send(type, f, written);
        await pacer.add(f.length);
        gauge.link(f.length, performance.now() - t0);
      };
      const flush = async (): Promise<void> => {
        if (data.length > 0) {
          const n = data.length;
          let sent = false;
          // While compressing does not pay, a sample of the batch's first pages keeps the compressor's figures
          // current (deflating whole batches that then went as they were took ~0.1 s of a loopback migration).
          if (!paused && gauge.sampleDue()) {
            const k = Math.min(n, SAMPLE_PAGES);
            const sample = Buffer.allocUnsafe(k * PAGE);
            for (let i = 0; i < k; i++) ramBuf.copy(sample, i * PAGE, data[i] * PAGE, (data[i] + 1) * PAGE);
            const t0 = performance.now();
            const z = deflateRawSync(sample, { level: 1 });
            gauge.compressed(sample.length, z.length, performance.now() - t0);
          }
          if (gauge.pays()) {
            const pagesBuf = Buffer.allocUnsafe(n * PAGE);
            data.forEach((p, i) => ramBuf.copy(pagesBuf, i * PAGE, p * PAGE, (p + 1) * PAGE));
            const t0 = performance.now();
            // In the pause on this thread: a few pages take well under a millisecond, while the thread
            // pool's turn can come tens of ms later on a busy host.
            const z = paused ? deflateRawSync(pagesBuf, { level: 1 }) : await deflate(pagesBuf, { level: 1 });
            gauge.compressed(pagesBuf.length, z.length, performance.now() - t0);
            // The pages may have changed while deflate ran (the guest runs): what was read is what is sent,
            // and a page written since is dirty again, so it goes again.
            if (gauge.pays()) {
              const f = Buffer.allocUnsafe(4 + n * 4 + z.length);
              f.writeUInt32LE(n, 0);
              data.forEach((p, i) => f.writeUInt32LE(p, 4 + i * 4));
              z.copy(f, 4 + n * 4);
              await carry(Frame.CompressedPages, f);
              gauge.compressedPages += n;
              sent = true;
            }
          }
          if (!sent) {
            const f = frames.take(4 + n * (4 + PAGE)); // every byte written below
            f.writeUInt32LE(n, 0);
            data.forEach((p, i) => {
              const at = 4 + i * (4 + PAGE);
              f.writeUInt32LE(p, at);
              ramBuf.copy(f, at + 4, p * PAGE, (p + 1) * PAGE);
            });
            await carry(Frame.Pages, f, () => frames.give(f));
          }
          data.length = 0;
        }
        if (zeros.length > 0) {
          const f = Buffer.alloc(4 + zeros.length * 4);
          f.writeUInt32LE(zeros.length, 0);
          zeros.forEach((p, i) => f.writeUInt32LE(p, 4 + i * 4));
          await writer.send(Frame.ZeroPages, f);
          zeros.length = 0;
        }
      };
      for (const p of list) {
        if (allZero(p)) { if (round > 0) zeros.push(p); } else data.push(p);
        if (data.length >= BATCH || zeros.length >= 16 * BATCH) await flush();
      }
      await flush();
    };
    const pagesOf = (bitmap: Uint8Array): number[] => {
      const out: number[] = [];
      for (let b = 0; b < bitmap.length; b++) {
        const v = bitmap[b];
        if (v !== 0) for (let k = 0; k < 8; k++) if (v & (1 << k)) out.push(b * 8 + k);
      }
      return out;
    };
    m.warmSave();
    m.startDirtyLog();
    let round = 0;
    let t = performance.now();
    let b0 = writer.bytes;
    await sendPages(nonZeroPages(), 0); // the destination's RAM starts zero
    mark('source: RAM written once');
    await caughtUp(0);
    mark('source: RAM copied once');
    // Bytes per ms the link carried in the last round; the first estimate from the first full copy.
    let rate = Math.max(1, (writer.bytes - b0) / Math.max(1, performance.now() - t));
    collectGarbage(); // as the destination does before answering round 0 (after the rate: not the link's time)
    mark('source: garbage collected');
    let dirty: number[] = [];
    let fileDirty = 0;
    let throttle = 0;
    let lastDirty = Infinity;
    for (;;) {
      round++;
      // Let the guest run a little between rounds, so a round measures its dirty rate.
      await new Promise((r) => setImmediate(r));
      dirty = pagesOf(m.takeDirty());
      fileDirty = [...dirtyFiles.values()].reduce((a, d) => a + d.size, 0);
      const bytes = dirty.length * (PAGE + 4) + fileDirty * DIRTY_CHUNK;
      const expectedDowntimeMs = bytes / rate;
      mark(`source: round ${round}: ${dirty.length} pages dirty, ${fileDirty} disk chunks, ${expectedDowntimeMs.toFixed(1)} ms expected`);
      onProgress({ phase: 'ram', round, sentBytes: writer.bytes, dirtyPages: dirty.length, expectedDowntimeMs, throttle });
      // Within the limit, rounds go on while each at least halves what is left: an idle guest's last
      // pages then go over in well under a millisecond instead of up to --max-downtime.
      const shrinking = dirty.length > FEW_PAGES && dirty.length < lastDirty / 2;
      if ((expectedDowntimeMs <= opts.maxDowntimeMs && !shrinking) || round >= MAX_ROUNDS) break;
      // Auto-converge: a guest that dirties as fast as the link carries is slowed, and the user sees it.
      if (round >= 3 && dirty.length >= lastDirty * 0.9) { throttle = Math.min(0.99, throttle + 0.2); m.throttle(throttle); }
      lastDirty = dirty.length;
      t = performance.now();
      b0 = writer.bytes;
      for (const [fi, dc] of dirtyFiles) for (const c of dc.take()) await sendChunk(fi, c, DIRTY_CHUNK);
      await sendPages(dirty, round);
      await caughtUp(round);
      rate = Math.max(1, (writer.bytes - b0) / Math.max(1, performance.now() - t));
    }

    // The disks' cached metadata written back once while the guest still runs, so the settle in the pause
    // has only what changed since (a guest writing its disk left tens of ms of write-back there).
    for (const b of hooked) await b.settle();
    // Stop and copy: the guest pauses, devices finish what is in flight, the rest goes over.
    const stopAt = performance.now();
    mark('source: pause');
    m.pause();
    pausedHere = true;
    await m.quiesce();
    const state = m.save();
    for (const b of hooked) await b.settle(); // in the files (the copy needs no fsync)
    const stateAt = performance.now();
    mark('source: state taken, disks settled');
    onProgress({ phase: 'stop', round, sentBytes: writer.bytes, dirtyPages: dirty.length, expectedDowntimeMs: 0, throttle });
    let lastChunks = 0;
    for (const [fi, dc] of dirtyFiles) for (const c of dc.take()) { lastChunks++; await sendChunk(fi, c, DIRTY_CHUNK); }
    mark(`source: last ${lastChunks} disk chunks sent`);
    const lastList = [...new Set([...dirty, ...pagesOf(m.takeDirty(false))])].sort((a, b) => a - b);
    const compressedBefore = gauge.compressedPages;
    await sendPages(lastList, round, true);
    mark(`source: last ${lastList.length} pages sent (${gauge.compressedPages - compressedBefore} compressed)`);
    const sizes: number[] = [];
    for (const h of handles) sizes.push(fstatSync(h.fd).size);
    await writer.send(Frame.Final, { state, sizes });
    const sentAt = performance.now();
    mark('source: final section sent');
    const ready = await reader.json<{ buildMs?: unknown }>(Frame.Ready);
    const readyAt = performance.now();
    mark('source: destination ready, go');
    committed = true;
    await writer.send(Frame.Go, {});
    await reader.json(Frame.Running);
    const end = performance.now();
    mark('source: destination runs the guest');
    const buildMs = typeof ready.buildMs === 'number' ? ready.buildMs : readyAt - sentAt;
    const phases = { stateMs: stateAt - stopAt, sendMs: Math.max(0, readyAt - stateAt - buildMs), buildMs, goMs: end - readyAt };
    return { downtimeMs: end - stopAt, sourceMs: sentAt - stopAt, totalMs: end - started, bytes: writer.bytes, rounds: round, phases, compressedPages: gauge.compressedPages };
  } catch (caught) {
    // The destination's own word on what went wrong, when it said it before the connection went.
    const e = reader.peerError() ?? caught;
    if (committed) {
      throw new BonsaiError(`the destination was told to run the VM but did not confirm (${(e as Error).message}); the VM is left paused here: bonsai resume ${spec.name} if the destination does not have it`);
    }
    // Tell the destination why, but never wait long on a peer that stopped reading.
    if (!sock.destroyed) {
      await Promise.race([writer.send(Frame.Error, { message: (e as Error).message }).catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
    }
    throw e;
  } finally {
    for (const b of hooked) b.onFileWrite = null;
    for (const h of handles) await h.close().catch(() => undefined);
    m.stopDirtyLog();
    m.throttle(0);
    if (pausedHere && !committed) m.resume();
    sock.destroy();
  }
}
