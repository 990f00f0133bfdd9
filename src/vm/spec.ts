/**
 * A VM's definition, as kept in its store folder (vm.json): every `run` option that describes the machine,
 * plus the identity that belongs to the VM rather than to its disk. `checkSpec` validates a parsed file so
 * that a damaged vm.json gives one line naming the field, never a crash later.
 */
import { BonsaiError } from '../errors.js';
import type { DiskFormat } from '../storage/backend.js';
import { MEMORY_LIMITS, memorySupported } from '../machine/riscv/layout.js';

export const SPEC_VERSION = 1;

/** A disk of the VM. `file` is relative to the VM's folder (a disk the store owns) or absolute (the user's). */
export interface SpecDisk { file: string; readOnly: boolean; format?: DiskFormat }
/** `mapped`: the 9p mapped security model (guest owners, modes and symlinks kept in metadata files). */
export interface SpecShare { dir: string; tag: string; readOnly: boolean; mapped?: boolean }

/** What makes one VM distinct from its clones: new for every create and clone. */
export interface Identity {
  /** The first network card's MAC (aa:bb:cc:dd:ee:ff); further cards count up from it. */
  mac: string;
  /** 32 hex digits: /etc/machine-id in the guest. */
  machineId: string;
  /** The guest's ssh host key: dropbear's ed25519 private key format, base64. */
  hostKey: string;
  /** Its public half, an OpenSSH public key line (for known_hosts). */
  hostKeyPublic: string;
  /** 32 bytes, base64, fed to the guest's random pool at boot. */
  randomSeed: string;
}

/** How the machine is built: what a VM and a template share. */
export interface Settings {
  /** Guest RAM in bytes. */
  memory: number;
  /** 'builtin', 'none', or a firmware file. */
  bios: string;
  /** Absent: the bundled guest's kernel (and initrd). */
  kernel?: string;
  initrd?: string;
  append?: string;
  /** Further disks, /dev/vdb onwards (or /dev/vda without a root disk). */
  disks: SpecDisk[];
  shares: SpecShare[];
  /** `--net` as given: user, user,restrict, none, tap:IFNAME. */
  net: string;
  /** `--forward` specs as given (tcp:[ADDR:]PORT-:PORT). */
  forwards: string[];
  switches: string[];
  tftp?: string;
  bootFile?: string;
  console: 'serial' | 'virtio';
  /** What runs guest code (`--engine`): absent means the interpreter. */
  engine?: 'interp' | 'jit';
  /** Public-key lines that may log in as root (the store's own key is always added at boot). */
  sshKeys: string[];
}

export interface VmSpec extends Settings {
  version: typeof SPEC_VERSION;
  name: string;
  /**
   * The root disk the store keeps for the VM (a qcow2 overlay in its folder), the guest's /dev/vda; absent
   * for a VM without one. The bundled guest is told to run from it (bonsai.root=/dev/vda).
   */
  root?: SpecDisk;
  identity: Identity;
  /** The template or VM it was made from, for `info`. */
  origin?: string;
  created: string;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

class Fields {
  constructor(private readonly o: Obj, private readonly where: string) {}
  private fail(key: string, what: string): never {
    throw new BonsaiError(`${this.where}: '${key}' ${what}`);
  }
  str(key: string): string {
    const v = this.o[key];
    if (typeof v !== 'string') this.fail(key, 'must be a string');
    return v;
  }
  optStr(key: string): string | undefined {
    return this.o[key] === undefined ? undefined : this.str(key);
  }
  num(key: string): number {
    const v = this.o[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.fail(key, 'must be a whole number');
    return v;
  }
  bool(key: string): boolean {
    const v = this.o[key];
    if (typeof v !== 'boolean') this.fail(key, 'must be true or false');
    return v;
  }
  optBool(key: string): boolean | undefined {
    return this.o[key] === undefined ? undefined : this.bool(key);
  }
  strs(key: string): string[] {
    const v = this.o[key];
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) this.fail(key, 'must be a list of strings');
    return v as string[];
  }
  objs(key: string): Fields[] {
    const v = this.o[key];
    if (!Array.isArray(v)) this.fail(key, 'must be a list');
    return v.map((e, i) => new Fields(asObj(e, `${this.where}: '${key}[${i}]'`), `${this.where}: ${key}[${i}]`));
  }
  obj(key: string): Fields {
    return new Fields(asObj(this.o[key], `${this.where}: '${key}'`), `${this.where}: ${key}`);
  }
  optObj(key: string): Fields | undefined {
    return this.o[key] === undefined ? undefined : this.obj(key);
  }
}

function asObj(v: Json | undefined, where: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BonsaiError(`${where} must be an object`);
  return v;
}

function disk(f: Fields): SpecDisk {
  const format = f.optStr('format');
  if (format !== undefined && format !== 'raw' && format !== 'qcow2') throw new BonsaiError(`disk format '${format}' is not raw or qcow2`);
  return { file: f.str('file'), readOnly: f.bool('readOnly'), ...(format === undefined ? {} : { format }) };
}

function parseJson(text: string, where: string): Fields {
  let raw: Json;
  try { raw = JSON.parse(text) as Json; } catch (e) {
    throw new BonsaiError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  const f = new Fields(asObj(raw, where), where);
  if (f.num('version') !== SPEC_VERSION) throw new BonsaiError(`${where}: version ${String(asObj(raw, where).version)} is not one this Bonsai reads (${SPEC_VERSION})`);
  return f;
}

function parseSettings(f: Fields, where: string): Settings {
  const consoleKind = f.str('console');
  if (consoleKind !== 'serial' && consoleKind !== 'virtio') throw new BonsaiError(`${where}: 'console' must be serial or virtio`);
  const engine = f.optStr('engine');
  if (engine !== undefined && engine !== 'interp' && engine !== 'jit') throw new BonsaiError(`${where}: 'engine' must be interp or jit`);
  return {
    memory: f.num('memory'),
    bios: f.str('bios'),
    kernel: f.optStr('kernel'),
    initrd: f.optStr('initrd'),
    append: f.optStr('append'),
    disks: f.objs('disks').map(disk),
    shares: f.objs('shares').map((s) => ({ dir: s.str('dir'), tag: s.str('tag'), readOnly: s.bool('readOnly'), ...(s.optBool('mapped') ? { mapped: true } : {}) })),
    net: f.str('net'),
    forwards: f.strs('forwards'),
    switches: f.strs('switches'),
    tftp: f.optStr('tftp'),
    bootFile: f.optStr('bootFile'),
    console: consoleKind,
    ...(engine === undefined ? {} : { engine }),
    sshKeys: f.strs('sshKeys'),
  };
}

/** Parses and checks vm.json's text; `where` names the file in errors. */
export function parseSpec(text: string, where: string): VmSpec {
  const f = parseJson(text, where);
  const id = f.obj('identity');
  const root = f.optObj('root');
  const spec: VmSpec = {
    version: SPEC_VERSION,
    name: f.str('name'),
    ...parseSettings(f, where),
    root: root === undefined ? undefined : disk(root),
    identity: {
      mac: id.str('mac'), machineId: id.str('machineId'), hostKey: id.str('hostKey'),
      hostKeyPublic: id.str('hostKeyPublic'), randomSeed: id.str('randomSeed'),
    },
    origin: f.optStr('origin'),
    created: f.str('created'),
  };
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(spec.identity.mac)) throw new BonsaiError(`${where}: identity.mac '${spec.identity.mac}' is not a MAC address`);
  if (!/^[0-9a-f]{32}$/.test(spec.identity.machineId)) throw new BonsaiError(`${where}: identity.machineId must be 32 hex digits`);
  return spec;
}

/**
 * A template (template.json): machine settings and, when `root` is set, a read-only root disk layer in its
 * folder that every VM made from it gets an overlay over.
 */
export interface TemplateSpec {
  version: typeof SPEC_VERSION;
  name: string;
  created: string;
  /** The VM it was made from. */
  from?: string;
  /** The root layer's file name in the template's folder. */
  root?: string;
  settings: Settings;
}

export function parseTemplate(text: string, where: string): TemplateSpec {
  const f = parseJson(text, where);
  return {
    version: SPEC_VERSION, name: f.str('name'), created: f.str('created'), from: f.optStr('from'), root: f.optStr('root'),
    settings: parseSettings(f.obj('settings'), where),
  };
}

/** The settings part of a VM's spec (for a template made from it). */
export function settingsOf(spec: VmSpec): Settings {
  const { memory, bios, kernel, initrd, append, disks, shares, net, forwards, switches, tftp, bootFile, console, engine, sshKeys } = spec;
  return { memory, bios, kernel, initrd, append, disks, shares, net, forwards, switches, tftp, bootFile, console, ...(engine === undefined ? {} : { engine }), sshKeys };
}

/** vm.json's text: stable key order, one field a line, so that diffs and hand edits stay readable. */
export function formatSpec(spec: VmSpec | TemplateSpec): string {
  return `${JSON.stringify(spec, null, 2)}\n`;
}

/** Guest RAM the machine supports (riscv/layout.ts): 1 MiB to 4 GiB - 64 KiB, a multiple of 4 KiB. */
export function checkMemory(bytes: number): number {
  if (!memorySupported(bytes)) {
    throw new BonsaiError(`guest RAM is ${MEMORY_LIMITS}`);
  }
  return bytes;
}
