/**
 * Snapshots of a running machine, inside its VMM: taken with the guest paused only while its state is
 * copied aside (the disks' snapshot tables written, the parts saved, the non-zero pages of RAM copied);
 * compression and writing happen after the guest runs again. A restore reads and checks the whole state
 * file first, so a bad one leaves the VM exactly as it was.
 */
import { randomBytes } from 'node:crypto';
import type { Machine, MachineState } from '../../machine/machine.js';
import type { GuestAgent } from '../agent.js';
import { captureRam, readStateFile, writeStateFile } from './state-file.js';
import { createDiskSnapshots, deleteDiskSnapshots, revertDiskSnapshots, type SnapshotDisk } from './disks.js';

export interface TakenSnapshot {
  /** How long the guest was paused, in ms. */
  pauseMs: number;
  stateBytes: number;
  vmClockNs: number;
}

/** The guest's clock in a saved state, in ns (the virtual clock counts at 10 MHz). */
export function vmClockNs(state: MachineState): number {
  const c = state.parts.clock;
  const ticks = c !== null && typeof c === 'object' && !Array.isArray(c) && typeof c.ticks === 'number' ? c.ticks : 0;
  return ticks * 100;
}

/** Takes snapshot `name`: the disks' internal snapshots and the machine's state file at `path`. */
export async function takeSnapshot(machine: Machine, disks: SnapshotDisk[], name: string, path: string): Promise<TakenSnapshot> {
  const t0 = performance.now();
  const wasPaused = machine.paused;
  if (!wasPaused) machine.pause();
  let state: MachineState;
  let ram: ReturnType<typeof captureRam>;
  try {
    await machine.quiesce();
    state = machine.save();
    await createDiskSnapshots(disks, name, vmClockNs(state));
    ram = captureRam(machine.ramBytes());
  } finally {
    if (!wasPaused) machine.resume();
  }
  const pauseMs = performance.now() - t0;
  try {
    const stateBytes = await writeStateFile(path, state, ram);
    return { pauseMs, stateBytes, vmClockNs: vmClockNs(state) };
  } catch (e) {
    await deleteDiskSnapshots(disks, name).catch(() => undefined);
    throw e;
  }
}

/**
 * Puts the running machine back to snapshot `name` (state file `path`): checked whole before anything
 * changes, then the disks reverted and every part restored while paused. Returns the pause in ms.
 */
export async function restoreSnapshot(machine: Machine, disks: SnapshotDisk[], name: string, path: string, diskFiles: string[]): Promise<number> {
  const { state, ram } = await readStateFile(path);
  machine.checkRestore(state, ram);
  const t0 = performance.now();
  const wasPaused = machine.paused;
  if (!wasPaused) machine.pause();
  try {
    await machine.quiesce();
    await revertDiskSnapshots(disks, name, diskFiles);
    machine.restore(state, ram);
  } finally {
    machine.resume();
  }
  return performance.now() - t0;
}

/** A fork's own identity: its name, its cards' MACs (eth0, eth1, ... in order) and machine-id. */
export interface NewIdentity { hostname: string; macs: string[]; machineId: string }

/**
 * What the guest hears after a restore, through its agent once it answers: its wall clock set to the
 * host's (its monotonic clock went on from the saved instant), fresh bytes for its random pool, and for a
 * fork its new name and MAC (and a new DHCP lease under them). Failures are logged, not fatal: a guest
 * without the agent runs on as restored.
 */
export async function afterRestore(agent: GuestAgent, log: (line: string) => void, identity?: NewIdentity): Promise<void> {
  agent.restored();
  if (!(await agent.waitConnected(10_000))) { log('restore: the guest agent did not answer; the guest\'s clock and random pool are as saved'); return; }
  const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    try { await fn(); } catch (e) { log(`restore: ${what}: ${(e as Error).message}`); }
  };
  await step('set the clock', () => agent.setTime(Date.now()));
  await step('reseed the random pool', () => agent.exec(['sh', '-c', 'cat > /dev/urandom'], { stdin: new Uint8Array(randomBytes(64)), timeoutMs: 5000 }));
  if (identity !== undefined) {
    await step('set the hostname', () => agent.setHostname(identity.hostname));
    // The cards have the fork's MACs; the guest's interfaces still have those its driver read at probe
    // time. They take the new ones, and leases under them and the new name (udhcpc started again as at boot).
    const script = [
      `echo ${identity.machineId} > /etc/machine-id`,
      `set -- ${identity.macs.join(' ')}`,
      'for dev in /sys/class/net/eth*; do [ $# -gt 0 ] || break; n=${dev##*/}; ip link set dev $n down; ip link set dev $n address $1; ip link set dev $n up; shift; done',
      'killall udhcpc',
      `for dev in /sys/class/net/eth*; do udhcpc -b -S -t 3 -T 1 -i \${dev##*/} -x hostname:${identity.hostname} -s /etc/udhcpc/default.script </dev/null >/dev/null 2>&1; done`,
      'true',
    ].join('\n');
    await step('apply the new MACs', () => agent.exec(['sh', '-c', script], { timeoutMs: 10_000 }));
  }
}
