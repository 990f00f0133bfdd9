/**
 * The machine options of `bonsai create` and `bonsai set`, checked as `run` checks them and turned into
 * the settings a VM's spec keeps (host paths made absolute: the VM's process runs elsewhere).
 */
import { Command, InvalidArgumentError } from 'commander';
import { resolve } from 'node:path';
import { BonsaiError, fsErrorWords } from '../errors.js';
import { parseSize } from '../storage/image-ops.js';
import { checkNetwork, parseForward, parseNet } from '../vm/network.js';
import { parseDisk, parseShare } from '../vm/devices.js';
import { defaultSshKeys, readSshKeys } from '../vm/config-archive.js';
import { notRegular } from '../vm/files.js';
import { statSync, type Stats } from 'node:fs';
import { checkMemory, type Settings } from '../vm/spec.js';

/** `--engine KIND`, for run, create and set. */
export function parseEngine(kind: string): 'interp' | 'jit' {
  if (kind !== 'interp' && kind !== 'jit') throw new BonsaiError(`--engine ${kind}: use 'interp' or 'jit'`);
  return kind;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export function sizeOption(text: string): number {
  try { return parseSize(text); } catch (e) { throw new InvalidArgumentError((e as Error).message); }
}

function memoryOption(text: string): number {
  const bytes = sizeOption(text);
  try { return checkMemory(bytes); } catch (e) { throw new InvalidArgumentError((e as Error).message); }
}

export interface MachineCliOptions {
  memory?: number; bios?: string; kernel?: string; initrd?: string; append?: string;
  disk?: string[]; share?: string[]; console?: string; net?: string; forward?: string[];
  tftp?: string; bootFile?: string; switch?: string[]; sshKey?: string; engine?: string;
}

/** Adds the options; none has a default, so `set` changes only what is given. */
export function addMachineOptions(cmd: Command, forSet: boolean): Command {
  const list = forSet ? " (replaces the list; 'none' empties it)" : '; repeatable';
  return cmd
    .option('-m, --memory <SIZE>', 'guest RAM (e.g. 256M, 1G; default 256M)', memoryOption)
    .option('--bios <FIRMWARE>', "'builtin', 'none' or a firmware file")
    .option('--kernel <FILE>', 'a kernel (default: the bundled guest)')
    .option('--initrd <FILE>', 'an initial ramdisk')
    .option('--append <ARGS>', 'kernel command line')
    .option('--disk <FILE[:ro][:raw|:qcow2]>', `a further virtio-blk disk (after the root disk)${list}`, collect)
    .option('--share <HOSTDIR:TAG[:ro][:mapped]>', `a host folder shared over 9p${list}`, collect)
    .option('--console <KIND>', "'serial' or 'virtio'")
    .option('--engine <KIND>', "what runs guest code: 'interp' (the interpreter; default) or 'jit' (hot code compiled to WebAssembly)")
    .option('--net <KIND>', "'user', 'user,restrict', 'tap:IFNAME' or 'none'")
    .option('--forward <tcp|udp:[HOSTADDR:]HOSTPORT-:GUESTPORT>', `forward a host port to the guest${list}`, collect)
    .option('--tftp <DIR>', 'serve DIR over TFTP at 10.0.2.2')
    .option('--boot-file <NAME>', 'the boot file DHCP offers')
    .option('--switch <NAME>', `a card on the virtual switch NAME${list}`, collect)
    .option('--ssh-key <PUBKEY>', "public key(s) for root's ssh logins ('none'; default at create: ~/.ssh/id_ed25519.pub or id_rsa.pub)");
}

/** A file the VM will read, checked now so that `create` refuses what `start` would. */
function existingFile(path: string, what: string, blockDeviceOk = false): string {
  let st: Stats;
  try { st = statSync(path); } catch (e) { throw new BonsaiError(`${what} ${path}: ${fsErrorWords(e)}`); }
  const problem = notRegular(st);
  if (problem !== null && !(blockDeviceOk && st.isBlockDevice())) throw new BonsaiError(`${what} ${path}: ${problem}`);
  return resolve(path);
}

const listOf = (v: string[] | undefined): string[] | undefined => (v === undefined ? undefined : v.length === 1 && v[0] === 'none' ? [] : v);

/** The settings the options describe, checked; `base` is what they change (for the network combination). */
export function settingsFromOptions(o: MachineCliOptions, base: Settings, creating: boolean): Partial<Settings> {
  const s: Partial<Settings> = {};
  if (o.memory !== undefined) s.memory = o.memory;
  if (o.bios !== undefined) s.bios = o.bios === 'builtin' || o.bios === 'none' ? o.bios : existingFile(o.bios, '--bios');
  if (o.kernel !== undefined) s.kernel = existingFile(o.kernel, '--kernel');
  if (o.initrd !== undefined) s.initrd = existingFile(o.initrd, '--initrd');
  if (o.append !== undefined) s.append = o.append;
  const disks = listOf(o.disk);
  if (disks !== undefined) {
    s.disks = disks.map((text) => {
      const d = parseDisk(text);
      return { file: existingFile(d.path, '--disk', true), readOnly: d.readOnly, ...(d.format === undefined ? {} : { format: d.format }) };
    });
  }
  const shares = listOf(o.share);
  if (shares !== undefined) s.shares = shares.map((text) => parseShare(text));
  if (o.console !== undefined) {
    if (o.console !== 'serial' && o.console !== 'virtio') throw new BonsaiError(`--console ${o.console}: use 'serial' or 'virtio'`);
    s.console = o.console;
  }
  if (o.engine !== undefined) s.engine = parseEngine(o.engine);
  if (o.net !== undefined) { parseNet(o.net); s.net = o.net; }
  const forwards = listOf(o.forward);
  if (forwards !== undefined) { for (const f of forwards) parseForward(f); s.forwards = forwards; }
  if (o.tftp !== undefined) s.tftp = resolve(o.tftp);
  if (o.bootFile !== undefined) s.bootFile = o.bootFile;
  const switches = listOf(o.switch);
  if (switches !== undefined) s.switches = switches;
  if (o.sshKey !== undefined) s.sshKeys = o.sshKey === 'none' ? [] : readSshKeys(o.sshKey);
  else if (creating) s.sshKeys = defaultSshKeys();
  const next = { ...base, ...s };
  checkNetwork({
    net: parseNet(next.net), forwards: next.forwards.map((f) => parseForward(f)), tftpRoot: next.tftp, bootFile: next.bootFile,
    switches: next.switches, hostname: 'check',
  });
  return s;
}
