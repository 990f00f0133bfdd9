/**
 * $BONSAI_HOME: the VMs and templates on this host.
 *
 *   vms/NAME/            vm.json (the spec), root.qcow2 and other disks it owns, console.log,
 *                        vmm.log, and while it runs vmm.pid and control.sock
 *   templates/T/         template.json and its read-only root layer (root.qcow2)
 *   layers/ID.qcow2      read-only layers frozen when a stopped VM is cloned (the source and the clone
 *                        each get an overlay over it)
 *   locks/               one lock file per VM and template (lock.ts)
 *   ssh/id_ed25519       the key pair `bonsai shell` logs in with
 *
 * A VM's name is its folder's name and its guest's hostname, so it is a hostname label.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { BonsaiError } from '../../errors.js';
import { formatSpec, parseSpec, parseTemplate, type TemplateSpec, type VmSpec } from '../spec.js';
import { readSmallFileSync } from '../files.js';
import { writeFileAtomic } from './atomic.js';
import { storeError } from './errors.js';
import { takeLock, type Lock } from './lock.js';

/** The store's folder: $BONSAI_HOME, else $XDG_DATA_HOME/bonsai, else ~/.local/share/bonsai. */
export function defaultHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BONSAI_HOME !== undefined && env.BONSAI_HOME !== '') return resolve(env.BONSAI_HOME);
  if (env.XDG_DATA_HOME !== undefined && env.XDG_DATA_HOME !== '') return join(resolve(env.XDG_DATA_HOME), 'bonsai');
  return join(homedir(), '.local', 'share', 'bonsai');
}

/** A definition file is a few kilobytes; anything past this is not one. */
const MAX_DEFINITION = 1 << 20;

const NAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** VM and template names: a hostname label (the VM's name is its hostname and its DNS name on a switch). */
export function checkVmName(name: string, what = 'VM'): string {
  if (!NAME.test(name)) {
    throw new BonsaiError(`'${name.replace(/[^\x20-\x7e]/g, '?').slice(0, 80)}' is not a valid ${what} name: 1-63 letters, digits and '-', not starting or ending with '-'`);
  }
  return name;
}

/** A VM's or template's folder, its definition first: a crash midway leaves no half-thing that looks whole. */
function removeFolder(dir: string, definition: string): void {
  try {
    rmSync(join(dir, definition), { force: true });
    rmSync(dir, { recursive: true, force: true });
  } catch (e) { throw storeError(e, dir, 'cannot remove'); }
}

export class Store {
  readonly home: string;

  constructor(home = defaultHome()) {
    this.home = home;
  }

  vmDir(name: string): string { return join(this.home, 'vms', name); }
  templateDir(name: string): string { return join(this.home, 'templates', name); }
  get layersDir(): string { return join(this.home, 'layers'); }
  get sshDir(): string { return join(this.home, 'ssh'); }

  /** Makes a store folder (and the store) when missing. */
  ensureDir(dir: string): string {
    try { mkdirSync(dir, { recursive: true }); } catch (e) { throw storeError(e, dir, 'cannot create the folder'); }
    return dir;
  }

  lockVm(name: string): Promise<Lock> {
    return takeLock(join(this.ensureDir(join(this.home, 'locks')), `vm-${name}.lock`), `VM '${name}'`);
  }

  lockTemplate(name: string): Promise<Lock> {
    return takeLock(join(this.ensureDir(join(this.home, 'locks')), `template-${name}.lock`), `template '${name}'`);
  }

  private names(sub: string, file: string): string[] {
    const dir = join(this.home, sub);
    let entries: string[];
    try { entries = readdirSync(dir); } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw storeError(e, dir, 'cannot list');
    }
    return entries.filter((n) => NAME.test(n) && existsSync(join(dir, n, file))).sort();
  }

  /** Every VM's name (folders with a vm.json, damaged or not). */
  vmNames(): string[] { return this.names('vms', 'vm.json'); }

  templateNames(): string[] { return this.names('templates', 'template.json'); }

  hasVm(name: string): boolean { return existsSync(join(this.vmDir(name), 'vm.json')); }

  /** An unknown name's error lists the VMs there are. */
  private unknown(what: string, name: string, have: string[]): BonsaiError {
    const list = have.length === 0 ? `there are none${what === 'VM' ? " (bonsai create NAME makes one)" : ''}` : `there are: ${have.join(', ')}`;
    return new BonsaiError(`no ${what} named '${name.replace(/[^\x20-\x7e]/g, '?').slice(0, 80)}'; ${list}`);
  }

  /** A definition file's text; a missing one is the unknown-name error listing what exists. */
  private readDefinition(file: string, what: 'VM' | 'template', name: string, have: () => string[]): string {
    if (!existsSync(file)) throw this.unknown(what, name, have());
    // Bounded, and never blocking: a FIFO or a device put in its place is refused, not read.
    return new TextDecoder().decode(readSmallFileSync(file, MAX_DEFINITION, (why) => new BonsaiError(`${file}: cannot read: ${why}`)));
  }

  loadVm(name: string): VmSpec {
    const file = join(this.vmDir(name), 'vm.json');
    const spec = parseSpec(this.readDefinition(file, 'VM', name, () => this.vmNames()), file);
    if (spec.name !== name) throw new BonsaiError(`${file}: 'name' is '${spec.name}' but the folder is '${name}'`);
    return spec;
  }

  saveVm(spec: VmSpec): void {
    const dir = this.ensureDir(this.vmDir(spec.name));
    writeFileAtomic(join(dir, 'vm.json'), formatSpec(spec));
  }

  /** Removes a VM's folder (its disks, logs and spec). The caller holds its lock and knows it is stopped. */
  removeVm(name: string): void { removeFolder(this.vmDir(name), 'vm.json'); }

  loadTemplate(name: string): TemplateSpec {
    const file = join(this.templateDir(name), 'template.json');
    return parseTemplate(this.readDefinition(file, 'template', name, () => this.templateNames()), file);
  }

  saveTemplate(t: TemplateSpec): void {
    const dir = this.ensureDir(this.templateDir(t.name));
    writeFileAtomic(join(dir, 'template.json'), formatSpec(t));
  }

  removeTemplate(name: string): void { removeFolder(this.templateDir(name), 'template.json'); }

  /** A disk's path on the host: relative names are in the VM's folder. */
  diskPath(vm: string, file: string): string {
    return resolve(this.vmDir(vm), file);
  }

  /** Size in bytes of the files in a folder (what a VM or template costs on disk). */
  folderBytes(dir: string): number {
    let total = 0;
    try {
      for (const e of readdirSync(dir)) {
        try { total += statSync(join(dir, e)).blocks * 512; } catch { /* removed meanwhile */ }
      }
    } catch { /* no folder */ }
    return total;
  }
}
