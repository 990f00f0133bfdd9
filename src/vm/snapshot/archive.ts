/**
 * `bonsai export NAME FILE` / `bonsai import FILE [NEWNAME]`: a VM as one file (docs/snapshot-format.md,
 * "Export archive"): its definition, its snapshot tree, its disks as they are (their qcow2 snapshots in
 * them) with every image of their backing chains, and machine state files. A SHA-256 over the whole file
 * is checked on import before anything is created; a damaged or truncated file creates nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, createReadStream, createWriteStream, existsSync, rmSync, statSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { BonsaiError } from '../../errors.js';
import { imageInfo, type ImageInfo } from '../../storage/image-ops.js';
import { setBackingName } from '../../storage/rebase.js';
import { printable } from '../../text.js';
import { ownedDisks, refuseExisting, requireStopped, withLocks } from '../manage.js';
import { files as runtimeFiles } from '../process/runtime.js';
import { formatSpec, parseSpec, type VmSpec } from '../spec.js';
import { syncDir } from '../store/atomic.js';
import { checkVmName, type Store } from '../store/store.js';
import { findSnapshot, loadTree, parseTree, saveTree, stateDir, statePath, type SnapshotTree } from './tree.js';

export const ARCHIVE_MAGIC = 'BONSAIVX';
export const ARCHIVE_VERSION = 1;
const HEAD = 16;
const DIGEST = 32;
const MAX_MANIFEST = 16 * 1024 * 1024;

type FileKind = 'disk' | 'layer' | 'state';
interface ArchiveFile {
  kind: FileKind;
  /** disk: the VM's disk file name; layer: the image's base name; state: the snapshot's name. */
  name: string;
  size: number;
  /** The index (in `files`) of the image this one is backed by; null without a backing file. */
  backing: number | null;
}
interface Manifest { version: typeof ARCHIVE_VERSION; created: string; vm: string; tree: SnapshotTree; files: ArchiveFile[] }

export type Progress = (done: number, total: number) => void;

/** Writes VM `name` (stopped) to `file`: all snapshots' state, or only `snapshot`'s. Returns the file's size. */
export async function exportVm(store: Store, name: string, file: string, opts: { snapshot?: string; onProgress?: Progress } = {}): Promise<number> {
  const spec = store.loadVm(name);
  if (existsSync(file)) throw new BonsaiError(`${file}: exists; export writes a new file`);
  return withLocks([store.lockVm(name)], async () => {
    requireStopped(store, name, 'exporting it');
    const dir = store.vmDir(name);
    if (existsSync(runtimeFiles(dir).forkState)) throw new BonsaiError(`VM '${name}' is a fork that has not started yet; start it once before exporting it`);
    const outside = spec.disks.filter((d) => isAbsolute(d.file));
    if (outside.length > 0) throw new BonsaiError(`VM '${name}': its disk ${outside[0].file} is outside its folder; an export carries only the VM's own disks (bonsai set ${name} --disk ... to drop it)`);
    const tree = loadTree(dir);
    if (opts.snapshot !== undefined) findSnapshot(tree, name, opts.snapshot);
    const list: ArchiveFile[] = [];
    const paths: string[] = [];
    const byPath = new Map<string, number>();
    // An image's chain: each backing image once, however many disks share it.
    const addImage = (info: ImageInfo, kind: FileKind, nameInArchive: string): number => {
      const backing = info.backing !== undefined && 'format' in info.backing ? addImage(info.backing, 'layer', basename(info.backing.path)) : null;
      if (info.backing !== undefined && !('format' in info.backing)) throw new BonsaiError(`${info.path}: its backing file cannot be read`);
      const known = byPath.get(info.path);
      if (known !== undefined && kind === 'layer') return known;
      list.push({ kind, name: nameInArchive, size: statSync(info.path).size, backing });
      paths.push(info.path);
      byPath.set(info.path, list.length - 1);
      return list.length - 1;
    };
    for (const d of ownedDisks(spec)) addImage(await imageInfo(store.diskPath(name, d.file)), 'disk', d.file);
    const states = tree.snapshots.filter((s) => s.running && (opts.snapshot === undefined || s.name === opts.snapshot));
    for (const s of states) {
      const p = statePath(dir, s.name);
      if (!existsSync(p)) throw new BonsaiError(`VM '${name}': the state file of snapshot '${s.name}' is missing (${p})`);
      list.push({ kind: 'state', name: s.name, size: statSync(p).size, backing: null });
      paths.push(p);
    }
    // Snapshots whose machine state stays behind keep their disks' part.
    const carried = new Set(states.map((s) => s.name));
    const outTree: SnapshotTree = { ...tree, snapshots: tree.snapshots.map((s) => (s.running && !carried.has(s.name) ? { ...s, running: false, stateBytes: 0 } : s)) };
    const manifest = Buffer.from(JSON.stringify({ version: ARCHIVE_VERSION, created: new Date().toISOString(), vm: formatSpec(spec), tree: outTree, files: list } satisfies Manifest));
    const head = Buffer.alloc(HEAD);
    head.write(ARCHIVE_MAGIC, 0, 'latin1');
    head.writeUInt32LE(ARCHIVE_VERSION, 8);
    head.writeUInt32LE(manifest.length, 12);
    const total = list.reduce((a, f) => a + f.size, 0);
    const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
    const sha = createHash('sha256');
    const out = createWriteStream(tmp, { mode: 0o600 });
    const put = (b: Uint8Array): Promise<void> => new Promise((resolve, reject) => {
      sha.update(b);
      if (out.write(b)) resolve(); else out.once('drain', resolve).once('error', reject);
    });
    try {
      await put(head);
      await put(manifest);
      let done = 0;
      for (const p of paths) {
        for await (const chunk of createReadStream(p, { highWaterMark: 1 << 20 })) {
          await put(chunk as Buffer);
          done += (chunk as Buffer).length;
          opts.onProgress?.(done, total);
        }
      }
      out.write(sha.digest());
      await new Promise<void>((resolve, reject) => { out.end(() => resolve()); out.once('error', reject); });
      const fh = await open(tmp, 'r');
      try { await fh.sync(); } finally { await fh.close(); }
      await rename(tmp, file);
      syncDir(dirname(file));
    } catch (e) {
      out.destroy();
      rmSync(tmp, { force: true });
      throw e instanceof BonsaiError ? e : new BonsaiError(`${file}: cannot write the export: ${(e as Error).message}`);
    }
    return statSync(file).size;
  });
}

/** Reads and checks an archive's head and manifest; the digest over the whole file is checked by checkArchive. */
async function readManifest(file: string): Promise<{ manifest: Manifest; spec: VmSpec; dataAt: number }> {
  const fail = (what: string): never => { throw new BonsaiError(`${file}: ${what}`); };
  let size: number;
  try { size = statSync(file).size; } catch { return fail('cannot be read'); }
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(HEAD);
    await fh.read(head, 0, HEAD, 0);
    if (size < HEAD || head.toString('latin1', 0, 8) !== ARCHIVE_MAGIC) fail('not a Bonsai export (bonsai export)');
    const version = head.readUInt32LE(8);
    if (version !== ARCHIVE_VERSION) fail(`export format version ${version}; this Bonsai reads version ${ARCHIVE_VERSION}`);
    const n = head.readUInt32LE(12);
    if (n > MAX_MANIFEST || HEAD + n + DIGEST > size) fail(`truncated (${size} bytes)`);
    const m = Buffer.alloc(n);
    await fh.read(m, 0, n, HEAD);
    let v: unknown;
    try { v = JSON.parse(m.toString('utf8')); } catch { return fail('damaged (its manifest is not JSON)'); }
    const manifest = checkManifest(v, fail);
    const expected = HEAD + n + manifest.files.reduce((a, f) => a + f.size, 0) + DIGEST;
    if (size < expected) fail(`truncated (${size} of ${expected} bytes)`);
    if (size > expected) fail(`${size - expected} bytes more than its manifest describes`);
    const spec = parseSpec(manifest.vm, `${file} (the VM's definition)`);
    return { manifest, spec, dataAt: HEAD + n };
  } finally {
    await fh.close();
  }
}

function checkManifest(v: unknown, fail: (what: string) => never): Manifest {
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!isObj(v) || v.version !== ARCHIVE_VERSION || typeof v.vm !== 'string' || !Array.isArray(v.files) || !isObj(v.tree)) return fail('damaged (bad manifest)');
  const files = (v.files as unknown[]).map((f, i): ArchiveFile => {
    if (!isObj(f) || !['disk', 'layer', 'state'].includes(String(f.kind)) || typeof f.name !== 'string'
      || typeof f.size !== 'number' || !Number.isSafeInteger(f.size) || f.size < 0
      || !(f.backing === null || (typeof f.backing === 'number' && Number.isInteger(f.backing) && f.backing >= 0 && f.backing < i))) {
      return fail(`damaged (bad manifest entry ${i + 1})`);
    }
    // Names become file names: one path component, nothing that climbs out of the folder.
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(f.name)) fail(`damaged (bad file name '${printable(String(f.name).slice(0, 40))}')`);
    return { kind: f.kind as FileKind, name: f.name, size: f.size, backing: f.backing as number | null };
  });
  let tree: SnapshotTree;
  try { tree = parseTree(v.tree, 'the snapshot tree'); } catch (e) { return fail(`damaged (${(e as Error).message})`); }
  return { version: ARCHIVE_VERSION, created: String(v.created), vm: v.vm, tree, files };
}

/** The whole file against its digest. */
async function checkArchive(file: string, onProgress?: Progress): Promise<void> {
  const size = statSync(file).size;
  const sha = createHash('sha256');
  let done = 0;
  for await (const chunk of createReadStream(file, { start: 0, end: size - DIGEST - 1, highWaterMark: 1 << 20 })) {
    sha.update(chunk as Buffer);
    done += (chunk as Buffer).length;
    onProgress?.(done, size);
  }
  const fh = await open(file, 'r');
  const digest = Buffer.alloc(DIGEST);
  try { await fh.read(digest, 0, DIGEST, size - DIGEST); } finally { await fh.close(); }
  if (!sha.digest().equals(digest)) throw new BonsaiError(`${file}: checksum mismatch: the file is damaged; nothing was imported`);
}

/** Brings the VM in `file` into the store as `newName` (default: its own name). */
export async function importVm(store: Store, file: string, newName?: string, onProgress?: Progress): Promise<VmSpec> {
  const { manifest, spec: saved, dataAt } = await readManifest(file);
  const name = checkVmName(newName ?? saved.name);
  refuseExisting(store, name);
  await checkArchive(file, onProgress);
  return withLocks([store.lockVm(name)], async () => {
    refuseExisting(store, name);
    const dir = store.vmDir(name);
    const layerDir = join(store.layersDir, `import-${name}-${randomBytes(4).toString('hex')}`);
    const placed: string[] = [];
    try {
      store.ensureDir(dir);
      const layerUsed = manifest.files.some((f) => f.kind === 'layer');
      if (layerUsed) store.ensureDir(layerDir);
      if (manifest.tree.snapshots.some((s) => s.running)) store.ensureDir(stateDir(dir));
      let at = dataAt;
      for (const [i, f] of manifest.files.entries()) {
        const to = f.kind === 'disk' ? join(dir, f.name) : f.kind === 'layer' ? join(layerDir, `${i}-${f.name}`) : statePath(dir, f.name);
        await copyRange(file, at, f.size, to);
        placed.push(to);
        at += f.size;
      }
      // Each image is told where its backing image is now (relative, as the store keeps every name).
      for (const [i, f] of manifest.files.entries()) {
        if (f.backing === null) continue;
        await setBackingName(placed[i], relative(dirname(placed[i]), placed[f.backing]));
      }
      manifest.files.forEach((f, i) => { if (f.kind === 'layer') chmodSync(placed[i], 0o444); });
      const spec: VmSpec = { ...saved, name };
      for (const d of ownedDisks(spec)) if (!existsSync(join(dir, d.file))) throw new BonsaiError(`${file}: damaged (the disk ${d.file} is not in it)`);
      saveTree(dir, manifest.tree);
      store.saveVm(spec);
      return spec;
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      rmSync(layerDir, { recursive: true, force: true });
      throw e;
    }
  });
}

async function copyRange(file: string, start: number, size: number, to: string): Promise<void> {
  const out = createWriteStream(to, { mode: 0o600, flags: 'wx' });
  await new Promise<void>((resolve, reject) => {
    out.once('error', reject);
    if (size === 0) { out.end(() => resolve()); return; }
    const input = createReadStream(file, { start, end: start + size - 1, highWaterMark: 1 << 20 });
    input.once('error', reject);
    input.pipe(out).once('finish', () => resolve());
  });
  const fh = await open(to, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}
