/**
 * The disks' part of a snapshot: a qcow2 internal snapshot (the qcow2 specification's snapshot table) of
 * the snapshot's name in every writable disk, so that each disk stays one file that `qemu-img snapshot -l`
 * lists. Read-only disks cannot change and are left out; a writable raw disk cannot hold a snapshot.
 */
import { BonsaiError } from '../../errors.js';
import { openDisk, type BlockBackend } from '../../storage/backend.js';
import type { Qcow2Backend } from '../../storage/qcow2.js';
import type { SpecDisk, VmSpec } from '../spec.js';
import type { Store } from '../store/store.js';

/** What Qcow2Backend offers for snapshots. */
export type DiskSnapshots = Pick<Qcow2Backend, 'listSnapshots' | 'createSnapshot' | 'revertToSnapshot' | 'deleteSnapshot'>;

/** A writable disk of the VM with its open backend. */
export interface SnapshotDisk { file: string; path: string; backend: DiskSnapshots }

/** The VM's disks in slot order (the root first), as runOptionsOf lists them. */
export function vmDisks(spec: VmSpec): SpecDisk[] {
  return [...(spec.root === undefined ? [] : [spec.root]), ...spec.disks];
}

/** The snapshot interface of an open disk, or a one-line error saying why it has none. */
export function snapshotsOf(b: BlockBackend, path: string, vm: string): DiskSnapshots {
  const q = b as Partial<DiskSnapshots> & BlockBackend;
  if (b.format !== 'qcow2' || typeof q.createSnapshot !== 'function') {
    throw new BonsaiError(`VM '${vm}': its disk ${path} is ${b.format}, and only qcow2 disks hold snapshots `
      + `(convert it: bonsai image convert ${path} NEW.qcow2 --format qcow2, then bonsai set ${vm} --disk NEW.qcow2)`);
  }
  return q as DiskSnapshots;
}

/** The writable disks of a running VM, from the backends its VMM opened (in slot order). */
export function liveDisks(store: Store, spec: VmSpec, backends: BlockBackend[]): SnapshotDisk[] {
  const out: SnapshotDisk[] = [];
  vmDisks(spec).forEach((d, i) => {
    if (d.readOnly) return;
    const path = store.diskPath(spec.name, d.file);
    const b = backends[i];
    if (b === undefined) throw new BonsaiError(`VM '${spec.name}': its disk ${path} is not open`);
    out.push({ file: d.file, path, backend: snapshotsOf(b, path, spec.name) });
  });
  return out;
}

/** Opens the writable disks of a stopped VM for `fn`, and closes them (flushed) whatever happens. */
export async function withStoppedDisks<T>(store: Store, spec: VmSpec, fn: (disks: SnapshotDisk[]) => Promise<T>): Promise<T> {
  const open: BlockBackend[] = [];
  try {
    const disks: SnapshotDisk[] = [];
    for (const d of vmDisks(spec)) {
      if (d.readOnly) continue;
      const path = store.diskPath(spec.name, d.file);
      const b = await openDisk(path, { readOnly: false, format: d.format });
      open.push(b);
      disks.push({ file: d.file, path, backend: snapshotsOf(b, path, spec.name) });
    }
    return await fn(disks);
  } finally {
    for (const b of open) await b.close();
  }
}

/** Creates the disk snapshot `name` in every disk; on a failure the ones made are deleted again. */
export async function createDiskSnapshots(disks: SnapshotDisk[], name: string, vmClockNs: number): Promise<void> {
  const made: SnapshotDisk[] = [];
  try {
    for (const d of disks) {
      await d.backend.createSnapshot({ name, vmClockNs, date: new Date() });
      made.push(d);
    }
  } catch (e) {
    for (const d of made) await d.backend.deleteSnapshot(name).catch(() => undefined);
    throw e;
  }
}

/** Checks every disk has the snapshot `name` before any is reverted, then reverts them all. */
export async function revertDiskSnapshots(disks: SnapshotDisk[], name: string, only: string[]): Promise<void> {
  const wanted = disks.filter((d) => only.includes(d.file));
  for (const d of wanted) {
    const list = await d.backend.listSnapshots();
    if (!list.some((s) => s.name === name)) throw new BonsaiError(`${d.path}: holds no snapshot '${name}' (was it deleted with qemu-img?)`);
  }
  for (const d of wanted) await d.backend.revertToSnapshot(name);
}

/** Deletes the disk snapshot `name` where it exists (a disk without it is fine: gone already). */
export async function deleteDiskSnapshots(disks: SnapshotDisk[], name: string): Promise<void> {
  for (const d of disks) {
    const list = await d.backend.listSnapshots();
    if (list.some((s) => s.name === name)) await d.backend.deleteSnapshot(name);
  }
}
