/**
 * A machine's network cards, from the user's options: `--net user[,restrict]|none|tap:IFNAME` (the
 * first card), `--forward`, `--tftp`, `--boot-file` (user mode only), and one more card per
 * `--switch NAME`. Backends are opened once per `bonsai run` and outlive guest reboots, so forwards
 * keep listening and the switch keeps the machine's place.
 */
import { resolve } from 'node:path';
import { BonsaiError } from '../errors.js';
import { directoryProblem } from './files.js';
import { parseIp } from '../net/ipv4.js';
import { createHash } from 'node:crypto';
import { defaultMac, type NetBackend } from '../net/link.js';
import { defaultUserNetConfig, type PortForward } from '../net/user/context.js';
import { UserNet } from '../net/user/stack.js';
import { TapBackend } from '../net/tap.js';
import { SwitchBackend } from '../net/switch/client.js';
import { checkSwitchName } from '../net/switch/paths.js';

export type NetSpec =
  | { kind: 'user'; restrict: boolean }
  | { kind: 'none' }
  | { kind: 'tap'; ifname: string };

export interface NetworkOptions {
  net: NetSpec;
  forwards: PortForward[];
  tftpRoot?: string;
  bootFile?: string;
  switches: string[];
  /** The VM's name: its hostname, and its DNS name on a switch. */
  hostname: string;
  /** A VM in the store has a MAC of its own (its identity): card i gets it plus i. */
  mac?: Uint8Array;
  /** TCP forwards whose port is in use are retried this long (UserNetConfig.busyForwardRetryMs). */
  busyForwardRetryMs?: number;
}

/** Parses `user`, `user,restrict`, `none` or `tap:IFNAME`. */
export function parseNet(text: string): NetSpec {
  if (text === 'none') return { kind: 'none' };
  if (text.startsWith('tap:')) {
    const ifname = text.slice(4);
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(ifname)) throw new BonsaiError(`--net ${text}: '${ifname}' is not a network interface name`);
    return { kind: 'tap', ifname };
  }
  const [kind, ...flags] = text.split(',');
  if (kind !== 'user') throw new BonsaiError(`--net ${text}: use 'user', 'user,restrict', 'none' or 'tap:IFNAME'`);
  let restrict = false;
  for (const f of flags) {
    if (f === 'restrict' || f === 'restrict=on') restrict = true;
    else if (f !== 'restrict=off') throw new BonsaiError(`--net ${text}: unknown option '${f}' (only 'restrict')`);
  }
  return { kind: 'user', restrict };
}

function port(text: string, spec: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new BonsaiError(`--forward ${spec}: '${text}' is not a port (1-65535)`);
  }
  return Number(text);
}

/** Parses `tcp|udp:[HOSTADDR:]HOSTPORT-[GUESTADDR]:GUESTPORT`; HOSTADDR defaults to 127.0.0.1. */
export function parseForward(text: string, guest = defaultUserNetConfig().guest): PortForward {
  // The host and guest halves split at the last '-' (neither an IPv4 address nor a port holds one), so a
  // stray '-' is reported in the port it belongs to ('-1' is not a port), not shifted into the guest address.
  const m = /^(tcp|udp):(?:([^:]*):)?([^:]*)-([^:-]*):([^:]*)$/.exec(text);
  if (m === null) throw new BonsaiError(`--forward ${text}: expected tcp:[HOSTADDR:]HOSTPORT-:GUESTPORT (or udp:...)`);
  const hostAddress = m[2] === undefined || m[2] === '' ? '127.0.0.1' : m[2];
  parseIp(hostAddress, `--forward ${text}: the host address`);
  const hostPort = port(m[3], text);
  if (m[4] !== '' && parseIp(m[4], `--forward ${text}: the guest address`) !== guest) {
    throw new BonsaiError(`--forward ${text}: the guest is 10.0.2.15; leave the guest address out`);
  }
  return { protocol: m[1] as 'tcp' | 'udp', hostAddress, hostPort, guestPort: port(m[5], text) };
}

/** Checks the combination and the TFTP folder before anything is opened. */
export function checkNetwork(o: NetworkOptions): void {
  for (const name of o.switches) checkSwitchName(name);
  if (o.net.kind !== 'user') {
    const what = o.forwards.length > 0 ? '--forward' : o.tftpRoot !== undefined ? '--tftp' : o.bootFile !== undefined ? '--boot-file' : null;
    if (what !== null) throw new BonsaiError(`${what} needs the user-mode network (--net user)`);
  }
  const seen = new Set<string>();
  for (const f of o.forwards) {
    const key = `${f.protocol}:${f.hostAddress}:${f.hostPort}`;
    if (seen.has(key)) throw new BonsaiError(`--forward ${key}: forwarded twice`);
    seen.add(key);
  }
  if (o.tftpRoot !== undefined) {
    const problem = o.tftpRoot === '' ? 'no directory named' : directoryProblem(o.tftpRoot);
    if (problem !== null) throw new BonsaiError(`--tftp ${o.tftpRoot}: ${problem}`);
  }
  if (o.bootFile !== undefined && (o.bootFile === '' || o.bootFile.length > 127 || /[\0\n]/.test(o.bootFile))) {
    throw new BonsaiError('--boot-file: a name of 1-127 characters');
  }
}

/** A network card: its backend and its MAC address. */
export interface Nic { backend: NetBackend; mac: Uint8Array }

export interface Networks {
  nics: Nic[];
  close(): Promise<void>;
}

/**
 * The MAC of card `index`. A user-network card has QEMU's default, 52:54:00:12:34:56, as every VM may:
 * it is alone on its link. A card on a switch or a TAP device (often bridged) may share its segment with
 * other VMs, so its MAC is derived from the VM's name (stable across runs, so DHCP gives the same
 * address again).
 */
export function nicMac(index: number, shared: boolean, hostname: string, base?: Uint8Array): Uint8Array {
  if (base !== undefined) {
    const m = base.slice();
    m[5] = (m[5] + index) & 0xff;
    return m;
  }
  if (!shared) return defaultMac(index);
  const h = createHash('sha256').update(`${hostname}\0${index}`).digest();
  return Uint8Array.of(0x52, 0x54, 0x00, h[0], h[1], h[2]);
}

export async function openNetworks(o: NetworkOptions, log: (line: string) => void): Promise<Networks> {
  checkNetwork(o);
  const nics: Nic[] = [];
  const close = async (): Promise<void> => {
    for (const n of nics.splice(0)) await n.backend.close().catch(() => undefined);
  };
  const add = (backend: NetBackend, shared: boolean): void => { nics.push({ backend, mac: nicMac(nics.length, shared, o.hostname, o.mac) }); };
  try {
    if (o.net.kind === 'user') {
      const config = {
        ...defaultUserNetConfig(), restrict: o.net.restrict, forwards: o.forwards, busyForwardRetryMs: o.busyForwardRetryMs ?? 0,
        tftpRoot: o.tftpRoot === undefined ? null : resolve(o.tftpRoot), bootFile: o.bootFile ?? null, hostname: o.hostname,
      };
      add(await UserNet.create(config, log), false);
    } else if (o.net.kind === 'tap') {
      add(await TapBackend.open(o.net.ifname), true);
    }
    for (const name of o.switches) add(await SwitchBackend.connect(name, { log }), true);
    return { nics, close };
  } catch (e) {
    await close();
    throw e;
  }
}
