/**
 * The virtio devices of a machine, from the user's options: disks (`--disk FILE[:ro][:raw|:qcow2]`),
 * shared folders (`--share HOSTDIR:TAG[:ro]`), network cards (their backends are opened by network.ts),
 * the entropy source, and the virtio console.
 * Disks are opened before the machine starts and closed (flushed) when it ends.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Virtio9p } from '../devices/virtio/9p/device.js';
import { VirtioAgentChannel } from '../devices/virtio/agent-channel.js';
import { P9Server } from '../devices/virtio/9p/server.js';
import { VirtioBlk } from '../devices/virtio/blk.js';
import { VirtioConsole } from '../devices/virtio/console.js';
import type { VirtioDevice } from '../devices/virtio/device.js';
import { VirtioPowerButton } from '../devices/virtio/input.js';
import { VirtioNet } from '../devices/virtio/net.js';
import { VirtioRng } from '../devices/virtio/rng.js';
import { BonsaiError } from '../errors.js';
import { VIRT } from '../machine/layout.js';
import type { BlockBackend, DiskFormat } from '../storage/backend.js';
import { openDisk } from '../storage/backend.js';
import { directoryProblem } from './files.js';
import type { Nic } from './network.js';

export interface DiskSpec { path: string; readOnly: boolean; format?: DiskFormat }
/** `mapped`: the 9p server's mapped security model (devices/virtio/9p/mapped.ts); absent is passthrough. */
export interface ShareSpec { dir: string; tag: string; readOnly: boolean; mapped?: boolean }

const DISK_OPTIONS = ['ro', 'raw', 'qcow2'];

/**
 * Parses `FILE[:ro][:raw|:qcow2]`. A name may hold ':' (a file that exists by the whole text is that file),
 * but an unknown option after the last ':' is refused, not taken as part of the name.
 */
export function parseDisk(text: string): DiskSpec {
  const parts = text.split(':');
  let readOnly = false;
  let format: DiskFormat | undefined;
  while (parts.length > 1) {
    const last = parts[parts.length - 1];
    if (last === 'ro') readOnly = true;
    else if (last === 'raw' || last === 'qcow2') format = last;
    else break;
    parts.pop();
  }
  const path = parts.join(':');
  if (path === '') throw new BonsaiError(`--disk ${text}: no file named`);
  if (parts.length > 1 && !existsSync(path)) {
    throw new BonsaiError(`--disk ${text}: unknown option '${parts[parts.length - 1]}' (use ${DISK_OPTIONS.map((o) => `:${o}`).join(', ')})`);
  }
  return { path, readOnly, format };
}

/** Parses `HOSTDIR:TAG[:ro][:mapped]` (the two flags in either order). */
export function parseShare(text: string): ShareSpec {
  const parts = text.split(':');
  let readOnly = false;
  let mapped = false;
  for (;;) {
    const last = parts[parts.length - 1];
    if (parts.length > 2 && last === 'ro' && !readOnly) readOnly = true;
    else if (parts.length > 2 && last === 'mapped' && !mapped) mapped = true;
    else break;
    parts.pop();
  }
  if (parts.length < 2) throw new BonsaiError(`--share ${text}: expected HOSTDIR:TAG[:ro][:mapped]`);
  const tag = parts.pop() as string;
  const dir = parts.join(':');
  if (dir === '') throw new BonsaiError(`--share ${text}: no host directory named (expected HOSTDIR:TAG[:ro][:mapped])`);
  if (!/^[A-Za-z0-9_.-]{1,31}$/.test(tag)) throw new BonsaiError(`--share ${text}: the tag '${tag}' must be 1-31 letters, digits, '_', '.' or '-'`);
  const problem = directoryProblem(dir);
  if (problem !== null) throw new BonsaiError(`--share ${text}: ${dir}: ${problem}`);
  return { dir: resolve(dir), tag, readOnly, ...(mapped ? { mapped } : {}) };
}

export interface MachineDevices {
  devices: VirtioDevice[];
  console: VirtioConsole | null;
  nics: VirtioNet[];
  /** The guest agent's channel (vm/agent.ts), when asked for. */
  agentChannel: VirtioAgentChannel | null;
  /** The power button (vm/power-button.ts), when asked for and a slot was left for it. */
  powerButton: VirtioPowerButton | null;
  /** The disks' backends, in order. */
  disks: BlockBackend[];
  close(): Promise<void>;
}

/**
 * Opens every backend and builds the devices, in slot order: disks, shares, network cards (eth0, eth1, ...), rng,
 * console, the agent channel, then the power button (last, so that it moves no other device's slot). The
 * button takes only a slot that is free: a machine that used every slot before it existed still starts,
 * without one.
 */
export async function openDevices(disks: DiskSpec[], shares: ShareSpec[], virtioConsole: ((b: Uint8Array) => void) | null,
  nets: Nic[] = [], opts: { agentChannel?: boolean; powerButton?: boolean; newMacs?: boolean } = {}): Promise<MachineDevices> {
  const backends: BlockBackend[] = [];
  const servers: P9Server[] = [];
  const close = async (): Promise<void> => {
    for (const b of backends) await b.close().catch(() => undefined);
    for (const s of servers) await s.close().catch(() => undefined);
  };
  try {
    const devices: VirtioDevice[] = [];
    for (const [i, d] of disks.entries()) {
      const b = await openDisk(d.path, { readOnly: d.readOnly, format: d.format });
      backends.push(b);
      devices.push(new VirtioBlk(b, { serial: `bonsai-disk${i}` }));
    }
    const tags = new Set<string>();
    for (const s of shares) {
      if (tags.has(s.tag)) throw new BonsaiError(`--share: the tag '${s.tag}' is used twice`);
      tags.add(s.tag);
      const server = new P9Server({ root: s.dir, readOnly: s.readOnly, tag: s.tag, security: s.mapped === true ? 'mapped' : 'passthrough' });
      servers.push(server);
      devices.push(new Virtio9p(server));
    }
    const nics = nets.map((n) => new VirtioNet(n.backend, n.mac, { newMac: opts.newMacs === true }));
    devices.push(...nics);
    devices.push(new VirtioRng());
    const con = virtioConsole === null ? null : new VirtioConsole(virtioConsole);
    if (con !== null) devices.push(con);
    // The agent channel and the button take free slots only: a machine the user filled still starts.
    const agentChannel = opts.agentChannel === true && devices.length < VIRT.virtioSlots ? new VirtioAgentChannel() : null;
    if (agentChannel !== null) devices.push(agentChannel);
    const powerButton = opts.powerButton === true && devices.length < VIRT.virtioSlots ? new VirtioPowerButton() : null;
    if (powerButton !== null) devices.push(powerButton);
    return { devices, console: con, nics, agentChannel, powerButton, disks: backends, close };
  } catch (e) {
    await close();
    throw e;
  }
}
