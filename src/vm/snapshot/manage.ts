/**
 * `bonsai snapshot create|list|restore|rm`: the snapshot tree of a VM (tree.ts), kept under the VM's lock.
 * A running VM's VMM takes and restores the machine's state (live.ts) over the control socket; a stopped
 * VM's disks are handled here directly (disks.ts).
 */
import { existsSync, rmSync, statSync } from 'node:fs';
import { BonsaiError } from '../../errors.js';
import type { JsonObject } from '../control/protocol.js';
import { connectVm, killVm, startVm } from '../process/launch.js';
import { vmState } from '../process/runtime.js';
import { settingsOf, type VmSpec } from '../spec.js';
import type { Store } from '../store/store.js';
import { readStateFile } from './state-file.js';
import { createDiskSnapshots, deleteDiskSnapshots, revertDiskSnapshots, withStoppedDisks } from './disks.js';
import { checkSnapshotName, findSnapshot, loadTree, saveTree, statePath, type SnapshotEntry, type SnapshotTree } from './tree.js';

/** The settings a snapshot's machine state depends on (a restore onto a stopped VM compares them). */
export function machineSettings(spec: VmSpec): string {
  const s = settingsOf(spec);
  return JSON.stringify({ memory: s.memory, bios: s.bios, kernel: s.kernel ?? null, disks: s.disks, shares: s.shares, net: s.net, console: s.console, root: spec.root ?? null });
}

async function withVmLock<T>(store: Store, name: string, fn: () => Promise<T>): Promise<T> {
  const lock = await store.lockVm(name);
  try { return await fn(); } finally { lock.release(); }
}

const running = (store: Store, name: string): boolean => vmState(store.vmDir(name)).state === 'running';

async function ask(store: Store, name: string, execute: string, args: JsonObject): Promise<JsonObject> {
  const c = await connectVm(store, name);
  try {
    const r = await c.request(execute, args);
    return r !== null && typeof r === 'object' && !Array.isArray(r) ? r : {};
  } finally {
    c.close();
  }
}

export interface CreatedSnapshot { entry: SnapshotEntry; pauseMs: number | null }

/** Takes snapshot `snap` of VM `name`: the running machine and its disks, or a stopped VM's disks. */
export async function createSnapshot(store: Store, name: string, snap: string): Promise<CreatedSnapshot> {
  checkSnapshotName(snap);
  const spec = store.loadVm(name);
  return withVmLock(store, name, async () => {
    const dir = store.vmDir(name);
    const tree = loadTree(dir);
    if (tree.snapshots.some((s) => s.name === snap)) throw new BonsaiError(`VM '${name}' has a snapshot '${snap}' already (bonsai snapshot rm ${name} ${snap})`);
    let entry: SnapshotEntry;
    let pauseMs: number | null = null;
    const base = { name: snap, parent: tree.current, created: new Date().toISOString(), settings: machineSettings(spec) };
    if (running(store, name)) {
      const r = await ask(store, name, 'snapshot-create', { name: snap });
      pauseMs = typeof r.pauseMs === 'number' ? r.pauseMs : null;
      entry = {
        ...base, running: true, stateBytes: typeof r.stateBytes === 'number' ? r.stateBytes : 0,
        vmClockNs: typeof r.vmClockNs === 'number' ? r.vmClockNs : 0,
        disks: Array.isArray(r.disks) ? r.disks.filter((d): d is string => typeof d === 'string') : [],
        agent: r.agent === true,
      };
    } else {
      const disks = await withStoppedDisks(store, spec, async (ds) => {
        await createDiskSnapshots(ds, snap, 0);
        return ds.map((d) => d.file);
      });
      entry = { ...base, running: false, stateBytes: 0, vmClockNs: 0, disks, agent: false };
    }
    tree.snapshots.push(entry);
    tree.current = snap;
    saveTree(dir, tree);
    return { entry, pauseMs };
  });
}

export interface RestoreResult { running: boolean; pauseMs: number | null; stopped: boolean }

/**
 * Puts VM `name` back to snapshot `snap`: running again if it was running when taken (restored in its
 * VMM if the VM runs, else a VMM is started from the state), else with its disks as they were and
 * stopped (a running VM is stopped first: its disks are about to change under it).
 */
export async function restoreSnapshot(store: Store, name: string, snap: string): Promise<RestoreResult> {
  const spec = store.loadVm(name);
  return withVmLock(store, name, async () => {
    const dir = store.vmDir(name);
    const tree = loadTree(dir);
    const entry = findSnapshot(tree, name, snap);
    if (entry.running && !existsSync(statePath(dir, snap))) throw new BonsaiError(`VM '${name}': the state file of snapshot '${snap}' is missing (${statePath(dir, snap)})`);
    let result: RestoreResult;
    if (entry.running && running(store, name)) {
      const r = await ask(store, name, 'snapshot-restore', { name: snap, disks: entry.disks });
      result = { running: true, pauseMs: typeof r.pauseMs === 'number' ? r.pauseMs : null, stopped: false };
    } else {
      if (entry.running && entry.settings !== machineSettings(spec)) {
        throw new BonsaiError(`VM '${name}': its machine settings changed since snapshot '${snap}' was taken (bonsai set); set them back to restore it`);
      }
      if (entry.running) {
        // The whole file is checked (length, version, checksum) before a disk is touched.
        await readStateFile(statePath(dir, snap));
      }
      const wasRunning = running(store, name);
      if (wasRunning) await killVm(store, name);
      await withStoppedDisks(store, spec, (ds) => revertDiskSnapshots(ds, snap, entry.disks));
      if (entry.running) {
        await startVm(store, name, { restore: statePath(dir, snap), locked: true });
        if (entry.agent) await waitForAgent(store, name, 5000);
      }
      result = { running: entry.running, pauseMs: null, stopped: wasRunning && !entry.running };
    }
    tree.current = snap;
    saveTree(dir, tree);
    return result;
  });
}

/** Waits (bounded) until the VM's guest agent answers, so that a command right after a restore finds it. */
export async function waitForAgent(store: Store, name: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const s = await ask(store, name, 'status', {}).catch(() => ({} as JsonObject));
    if (s.agent === true) return true;
    await new Promise((res) => setTimeout(res, 100));
  }
  return false;
}

/** Removes snapshot `snap`: its disk snapshots and state file; its children move up to its parent. */
export async function removeSnapshot(store: Store, name: string, snap: string): Promise<void> {
  const spec = store.loadVm(name);
  await withVmLock(store, name, async () => {
    const dir = store.vmDir(name);
    const tree = loadTree(dir);
    const entry = findSnapshot(tree, name, snap);
    if (running(store, name)) await ask(store, name, 'snapshot-delete', { name: snap });
    else await withStoppedDisks(store, spec, (ds) => deleteDiskSnapshots(ds, snap));
    rmSync(statePath(dir, snap), { force: true });
    for (const s of tree.snapshots) if (s.parent === snap) s.parent = entry.parent;
    tree.snapshots = tree.snapshots.filter((s) => s.name !== snap);
    if (tree.current === snap) tree.current = entry.parent;
    saveTree(dir, tree);
  });
}

/** The VM's snapshot tree, with each state file's size on disk. */
export function listSnapshots(store: Store, name: string): SnapshotTree {
  store.loadVm(name);
  const dir = store.vmDir(name);
  const tree = loadTree(dir);
  for (const s of tree.snapshots) {
    if (s.running && existsSync(statePath(dir, s.name))) s.stateBytes = statSync(statePath(dir, s.name)).size;
  }
  return tree;
}
