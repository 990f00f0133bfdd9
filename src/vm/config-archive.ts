/**
 * The guest's configuration from the host, as a second initramfs archive appended to the initrd (Linux
 * unpacks concatenated cpio archives, Documentation/driver-api/early-userspace/buffer-format.rst):
 *   /etc/bonsai/hostname          the VM's name (`--name`)
 *   /etc/bonsai/authorized_keys   ssh public keys for root (`--ssh-key`), mode 0600
 *   /etc/bonsai/machine-id        the VM's machine-id, which /init writes to /etc/machine-id
 *   /etc/bonsai/dropbear_ed25519_host_key   the ssh host key, dropbear's format, mode 0600
 *   /etc/bonsai/random-seed       bytes /init writes to /dev/urandom (mixed in, not credited), mode 0600
 * The bundled guest's /init reads both. Nothing else needs a channel this early, and unlike the kernel
 * command line (1 KiB on RISC-V) it has room for any number of keys.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BonsaiError } from '../errors.js';
import { printable } from '../text.js';
import { MAX_SSH_KEY_FILE, readSmallFileSync } from './files.js';
import { dropbearPrivateKey, ed25519Raw, opensshPublicLine } from './ssh-keys.js';

export interface GuestConfig {
  hostname: string;
  /** Public-key lines (OpenSSH authorized_keys format); empty: none. */
  sshKeys: string[];
  /** 32 lowercase hex digits (systemd's machine-id(5) form). */
  machineId?: string;
  /** The ssh host key in dropbear's format (makeDropbearEd25519Key). */
  hostKey?: Uint8Array;
  /** Entropy for the guest's pool at boot, beside the device tree's rng-seed. */
  randomSeed?: Uint8Array;
}

/** A new ed25519 host key: dropbear's private key file for the guest, and the known_hosts form of its public half. */
export function makeDropbearEd25519Key(comment = 'bonsai-host-key'): { privateKey: Uint8Array; publicLine: string } {
  const k = ed25519Raw();
  return { privateKey: dropbearPrivateKey(k), publicLine: opensshPublicLine(k.pub, comment) };
}

interface Entry { name: string; mode: number; data: Uint8Array }

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

/** A newc ("070701") cpio archive of `entries`, then the TRAILER!!! record; every part padded to 4 bytes. */
export function newcArchive(entries: Entry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  const hex = (v: number): string => (v >>> 0).toString(16).padStart(8, '0');
  const pad = (n: number): Uint8Array => new Uint8Array((4 - (n % 4)) % 4);
  let ino = 1;
  for (const e of [...entries, { name: 'TRAILER!!!', mode: 0, data: new Uint8Array(0) }]) {
    const name = enc.encode(`${e.name}\0`);
    const isDir = (e.mode & 0o170000) === S_IFDIR;
    const header = enc.encode('070701' + [
      e.name === 'TRAILER!!!' ? 0 : ino++, e.mode, 0, 0, isDir ? 2 : 1, 0, e.data.length, 0, 0, 0, 0, name.length, 0,
    ].map(hex).join(''));
    parts.push(header, name, pad(header.length + name.length), e.data, pad(e.data.length));
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export function configArchive(cfg: GuestConfig): Uint8Array {
  const enc = new TextEncoder();
  const entries: Entry[] = [
    { name: 'etc', mode: S_IFDIR | 0o755, data: new Uint8Array(0) },
    { name: 'etc/bonsai', mode: S_IFDIR | 0o755, data: new Uint8Array(0) },
    { name: 'etc/bonsai/hostname', mode: S_IFREG | 0o644, data: enc.encode(`${cfg.hostname}\n`) },
  ];
  if (cfg.sshKeys.length > 0) {
    entries.push({ name: 'etc/bonsai/authorized_keys', mode: S_IFREG | 0o600, data: enc.encode(cfg.sshKeys.map((k) => `${k}\n`).join('')) });
  }
  if (cfg.machineId !== undefined) {
    if (!/^[0-9a-f]{32}$/.test(cfg.machineId)) throw new BonsaiError(`machine-id '${printable(cfg.machineId.slice(0, 40))}': not 32 lowercase hex digits`);
    entries.push({ name: 'etc/bonsai/machine-id', mode: S_IFREG | 0o644, data: enc.encode(`${cfg.machineId}\n`) });
  }
  if (cfg.hostKey !== undefined) entries.push({ name: 'etc/bonsai/dropbear_ed25519_host_key', mode: S_IFREG | 0o600, data: cfg.hostKey });
  if (cfg.randomSeed !== undefined && cfg.randomSeed.length > 0) {
    entries.push({ name: 'etc/bonsai/random-seed', mode: S_IFREG | 0o600, data: cfg.randomSeed });
  }
  return newcArchive(entries);
}

/** A VM name is a hostname label (RFC 1123): it is also the guest's DNS name on a switch. */
export function checkName(name: string): string {
  if (!/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(name)) {
    throw new BonsaiError(`--name ${name}: a name is 1-63 letters, digits and '-', not starting or ending with '-'`);
  }
  return name;
}

const KEY_LINE = /^(?:(?:ssh-(?:ed25519|rsa|dss)|ecdsa-sha2-nistp(?:256|384|521)|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,3})(?: [^\r\n]*)?$/;

/** The public keys in `path`: one or more OpenSSH public-key lines; anything else is refused. */
export function readSshKeys(path: string): string[] {
  const text = new TextDecoder().decode(readSmallFileSync(path, MAX_SSH_KEY_FILE, (why) => new BonsaiError(`--ssh-key ${path}: ${why}`)));
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length === 0) throw new BonsaiError(`--ssh-key ${path}: the file holds no public key`);
  for (const l of lines) {
    if (l.includes('PRIVATE KEY')) throw new BonsaiError(`--ssh-key ${path}: this is a private key; pass the .pub file`);
    // The line is the file's, not the user's: it may carry escape sequences.
    if (!KEY_LINE.test(l)) throw new BonsaiError(`--ssh-key ${path}: '${printable(l.slice(0, 40))}' is not an OpenSSH public key line`);
  }
  return lines;
}

/** The user's default key: ~/.ssh/id_ed25519.pub, else ~/.ssh/id_rsa.pub; none when neither exists. */
export function defaultSshKeys(home = homedir()): string[] {
  const p = ['id_ed25519.pub', 'id_rsa.pub'].map((name) => join(home, '.ssh', name)).find((f) => existsSync(f));
  return p === undefined ? [] : readSshKeys(p);
}
