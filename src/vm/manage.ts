/**
 * Changes to the store that need no running VM: create, clone, templates, set, rm. Each takes the locks of
 * what it changes, checks everything before it writes, and undoes its own partial work on failure, so a
 * failed command leaves the store as it was.
 *
 * Disk layering. Every image in the store sits two folders below $BONSAI_HOME (vms/NAME/, templates/T/,
 * layers/ID/), and backing files are stored as relative names ("../../templates/T/root.qcow2"), so an image
 * can move between those folders (a VM's disk frozen into a template) and the store as a whole can move.
 * A linked clone of a stopped VM freezes the source's disk into layers/ID/ (read-only from then on) and
 * gives the source and the clone a fresh overlay each: instant whatever the disk's size.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { BonsaiError } from '../errors.js';
import { convertImage, createImage, imageInfo, resizeImage, type ImageInfo } from '../storage/image-ops.js';
import { newIdentity } from './identity.js';
import { vmState } from './process/runtime.js';
import { SPEC_VERSION, settingsOf, type Settings, type SpecDisk, type TemplateSpec, type VmSpec } from './spec.js';
import { storeError } from './store/errors.js';
import type { Lock } from './store/lock.js';
import { checkVmName, type Store } from './store/store.js';

export const DEFAULT_TEMPLATE = 'default';
/** The default template's blank root disk (the bundled guest fills it on first boot). */
export const DEFAULT_ROOT_SIZE = 2 * 1024 ** 3;

export function defaultSettings(): Settings {
  return {
    memory: 256 * 1024 * 1024, bios: 'builtin', disks: [], shares: [], net: 'user', forwards: [], switches: [],
    console: 'serial', sshKeys: [],
  };
}

export async function withLocks<T>(locks: Promise<Lock>[], fn: () => Promise<T>): Promise<T> {
  const held: Lock[] = [];
  try {
    for (const l of locks) held.push(await l);
    return await fn();
  } finally {
    for (const l of held.reverse()) l.release();
  }
}

/** The built-in template: the bundled guest with a blank root disk. Made on first use. */
export async function ensureDefaultTemplate(store: Store): Promise<TemplateSpec> {
  if (existsSync(join(store.templateDir(DEFAULT_TEMPLATE), 'template.json'))) return store.loadTemplate(DEFAULT_TEMPLATE);
  return withLocks([store.lockTemplate(DEFAULT_TEMPLATE)], async () => {
    const dir = store.templateDir(DEFAULT_TEMPLATE);
    if (existsSync(join(dir, 'template.json'))) return store.loadTemplate(DEFAULT_TEMPLATE);
    store.ensureDir(dir);
    const root = join(dir, 'root.qcow2');
    rmSync(root, { force: true });
    await createImage(root, { format: 'qcow2', size: DEFAULT_ROOT_SIZE });
    chmodSync(root, 0o444);
    const t: TemplateSpec = { version: SPEC_VERSION, name: DEFAULT_TEMPLATE, created: new Date().toISOString(), root: 'root.qcow2', settings: defaultSettings() };
    store.saveTemplate(t);
    return t;
  });
}

function loadTemplate(store: Store, name: string): Promise<TemplateSpec> | TemplateSpec {
  return name === DEFAULT_TEMPLATE ? ensureDefaultTemplate(store) : store.loadTemplate(name);
}

/** A new qcow2 overlay at `path` over `base` (stored relative to the overlay's folder). */
async function overlay(path: string, base: string, size?: number): Promise<void> {
  await createImage(path, { format: 'qcow2', backing: relative(dirname(path), base), size });
}

export function refuseExisting(store: Store, name: string): void {
  if (store.hasVm(name)) throw new BonsaiError(`a VM named '${name}' already exists`);
  if (existsSync(store.vmDir(name))) throw new BonsaiError(`${store.vmDir(name)}: exists but holds no vm.json; remove it or choose another name`);
}

export interface CreateOptions {
  template?: string;
  /** Settings given on the command line, over the template's. */
  settings?: Partial<Settings>;
  /** The root disk's virtual size (default: the template's). */
  diskSize?: number;
}

/** `bonsai create NAME`: a VM from a template, with a root overlay of its own. */
export async function createVm(store: Store, name: string, opts: CreateOptions = {}): Promise<VmSpec> {
  checkVmName(name);
  const t = await loadTemplate(store, opts.template ?? DEFAULT_TEMPLATE);
  return withLocks([store.lockVm(name)], async () => {
    refuseExisting(store, name);
    const dir = store.vmDir(name);
    store.ensureDir(dir);
    try {
      let root: SpecDisk | undefined;
      if (t.root !== undefined) {
        await overlay(join(dir, 'root.qcow2'), join(store.templateDir(t.name), t.root), opts.diskSize);
        root = { file: 'root.qcow2', readOnly: false, format: 'qcow2' };
      } else if (opts.diskSize !== undefined) {
        throw new BonsaiError(`template '${t.name}' has no root disk; --disk-size does not apply`);
      }
      const spec: VmSpec = {
        version: SPEC_VERSION, name, ...t.settings, ...opts.settings, root, identity: newIdentity(name),
        origin: t.name, created: new Date().toISOString(),
      };
      store.saveVm(spec);
      return spec;
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  });
}

export function requireStopped(store: Store, name: string, doing: string): void {
  const s = vmState(store.vmDir(name));
  if (s.state === 'running') throw new BonsaiError(`VM '${name}' is running; stop it before ${doing} (bonsai stop ${name})`);
}

/** Disks the VM's folder owns (relative names), with the root first. */
export function ownedDisks(spec: VmSpec): SpecDisk[] {
  return [...(spec.root === undefined ? [] : [spec.root]), ...spec.disks.filter((d) => !isAbsolute(d.file))];
}

/**
 * Freezes a stopped VM's owned disks into a new read-only layer folder and gives the VM fresh overlays over
 * them; returns the frozen files' paths by disk file name. Undone (files moved back) if anything fails.
 */
async function freeze(store: Store, spec: VmSpec, intoDir: string): Promise<Map<string, string>> {
  const moved: [string, string][] = [];
  const frozen = new Map<string, string>();
  store.ensureDir(intoDir);
  try {
    for (const d of ownedDisks(spec)) {
      const from = store.diskPath(spec.name, d.file);
      const to = join(intoDir, d.file);
      if (!existsSync(from)) throw new BonsaiError(`VM '${spec.name}': its disk ${from} is missing`);
      renameSync(from, to);
      moved.push([from, to]);
      chmodSync(to, 0o444);
      frozen.set(d.file, to);
    }
    for (const d of ownedDisks(spec)) await overlay(store.diskPath(spec.name, d.file), frozen.get(d.file) as string);
    return frozen;
  } catch (e) {
    for (const [from, to] of moved.reverse()) {
      rmSync(from, { force: true });
      try { chmodSync(to, 0o644); renameSync(to, from); } catch { /* leave it where it is: still referenced by nothing */ }
    }
    throw storeError(e, intoDir, 'cannot freeze the disks');
  }
}

export interface CloneOptions {
  full?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** `bonsai clone SRC DST`: from a template or a stopped VM; linked (overlays) unless `full`. */
export async function cloneVm(store: Store, src: string, dst: string, opts: CloneOptions = {}): Promise<VmSpec> {
  checkVmName(dst);
  if (!store.hasVm(src)) {
    if (store.templateNames().includes(src) || src === DEFAULT_TEMPLATE) {
      if (opts.full) throw new BonsaiError(`'${src}' is a template; a VM made from it is already independent of other VMs (bonsai create ${dst} --template ${src})`);
      return createVm(store, dst, { template: src });
    }
    store.loadVm(src); // the "no VM named" error, listing what exists
  }
  if (src === dst) throw new BonsaiError(`cannot clone '${src}' onto itself`);
  return withLocks([store.lockVm(src), store.lockVm(dst)], async () => {
    const spec = store.loadVm(src);
    requireStopped(store, src, 'cloning it');
    refuseExisting(store, dst);
    for (const d of spec.disks) {
      if (isAbsolute(d.file) && !d.readOnly) {
        throw new BonsaiError(`VM '${src}': its disk ${d.file} is outside its folder and writable; a clone cannot share it (bonsai set ${src} --disk ... to make it :ro, or remove it)`);
      }
    }
    const dir = store.vmDir(dst);
    store.ensureDir(dir);
    let layer: string | null = null;
    try {
      if (opts.full) {
        for (const d of ownedDisks(spec)) {
          await convertImage(store.diskPath(src, d.file), join(dir, d.file), { format: 'qcow2', onProgress: opts.onProgress });
        }
      } else {
        layer = join(store.layersDir, `${src}-${randomBytes(4).toString('hex')}`);
        const frozen = await freeze(store, spec, layer);
        for (const d of ownedDisks(spec)) await overlay(join(dir, d.file), frozen.get(d.file) as string);
      }
      const clone: VmSpec = {
        ...spec, name: dst, root: spec.root === undefined ? undefined : { ...spec.root, format: 'qcow2' },
        disks: spec.disks.map((d) => (isAbsolute(d.file) ? d : { ...d, format: 'qcow2' })),
        identity: newIdentity(dst), origin: src, created: new Date().toISOString(),
      };
      store.saveVm(clone);
      return clone;
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  });
}

/** `bonsai template create T --from NAME`: freezes a stopped VM's disks as T's read-only base. */
export async function createTemplate(store: Store, name: string, from: string): Promise<TemplateSpec> {
  checkVmName(name, 'template');
  if (name === DEFAULT_TEMPLATE) throw new BonsaiError(`'${DEFAULT_TEMPLATE}' is the built-in template's name`);
  return withLocks([store.lockVm(from), store.lockTemplate(name)], async () => {
    const spec = store.loadVm(from);
    requireStopped(store, from, 'making a template of it');
    if (existsSync(join(store.templateDir(name), 'template.json'))) throw new BonsaiError(`a template named '${name}' already exists`);
    if (spec.root === undefined) throw new BonsaiError(`VM '${from}' has no root disk to make a template of`);
    const dir = store.templateDir(name);
    rmSync(dir, { recursive: true, force: true });
    // Only the root disk becomes the template's; other owned disks stay the VM's own.
    await freeze(store, { ...spec, disks: [] }, dir);
    const t: TemplateSpec = {
      version: SPEC_VERSION, name, created: new Date().toISOString(), from, root: spec.root.file,
      settings: { ...settingsOf(spec), disks: spec.disks.filter((d) => isAbsolute(d.file) && d.readOnly) },
    };
    store.saveTemplate(t);
    store.saveVm({ ...spec, origin: name });
    return t;
  });
}

/** The store's image files, each with the chain of files beneath it (resolved paths). */
async function chains(store: Store): Promise<{ owner: string; path: string; chain: string[] }[]> {
  const out: { owner: string; path: string; chain: string[] }[] = [];
  const add = async (owner: string, path: string): Promise<void> => {
    if (!existsSync(path)) return;
    const chain: string[] = [];
    let info: ImageInfo | { path: string; error: string } | undefined;
    try { info = await imageInfo(path); } catch { return; }
    while (info !== undefined && 'format' in info && info.backing !== undefined) {
      chain.push(resolve(info.backing.path));
      info = info.backing;
    }
    out.push({ owner, path: resolve(path), chain });
  };
  for (const vm of store.vmNames()) {
    let spec: VmSpec;
    try { spec = store.loadVm(vm); } catch { continue; }
    for (const d of ownedDisks(spec)) await add(`VM '${vm}'`, store.diskPath(vm, d.file));
  }
  for (const t of store.templateNames()) {
    let ts: TemplateSpec;
    try { ts = store.loadTemplate(t); } catch { continue; }
    if (ts.root !== undefined) await add(`template '${t}'`, join(store.templateDir(t), ts.root));
  }
  return out;
}

/** Layer folders no image's chain reaches any more (their last clone was removed). */
async function collectLayers(store: Store): Promise<void> {
  let layers: string[];
  try { layers = readdirSync(store.layersDir); } catch { return; }
  const used = new Set((await chains(store)).flatMap((c) => c.chain.map((p) => dirname(p))));
  for (const l of layers) {
    const dir = join(store.layersDir, l);
    if (!used.has(dir)) rmSync(dir, { recursive: true, force: true });
  }
}

/** `bonsai rm NAME`: the caller has made sure it is stopped (or killed it for --force). */
export async function removeVm(store: Store, name: string): Promise<void> {
  await withLocks([store.lockVm(name)], async () => {
    store.loadVm(name);
    requireStopped(store, name, 'removing it (or give --force)');
    store.removeVm(name);
  });
  await collectLayers(store);
}

/** `bonsai template rm T`: refused while VMs depend on it. */
export async function removeTemplate(store: Store, name: string): Promise<void> {
  if (name === DEFAULT_TEMPLATE) throw new BonsaiError(`'${DEFAULT_TEMPLATE}' is built in; it cannot be removed`);
  await withLocks([store.lockTemplate(name)], async () => {
    const t = store.loadTemplate(name);
    if (t.root !== undefined) {
      const root = resolve(store.templateDir(name), t.root);
      const users = [...new Set((await chains(store)).filter((c) => c.chain.includes(root)).map((c) => c.owner))];
      if (users.length > 0) throw new BonsaiError(`template '${name}' is the base of ${users.join(', ')}; remove ${users.length === 1 ? 'it' : 'them'} first`);
    }
    store.removeTemplate(name);
  });
}

/** `bonsai set NAME`: new settings for a stopped VM; `rootSize` grows its root disk. */
export async function setVm(store: Store, name: string, settings: Partial<Settings>, rootSize?: number): Promise<VmSpec> {
  return withLocks([store.lockVm(name)], async () => {
    const spec = store.loadVm(name);
    requireStopped(store, name, 'changing it');
    if (rootSize !== undefined) {
      if (spec.root === undefined) throw new BonsaiError(`VM '${name}' has no root disk`);
      await resizeImage(store.diskPath(name, spec.root.file), rootSize);
    }
    const next: VmSpec = { ...spec, ...settings };
    store.saveVm(next);
    return next;
  });
}
