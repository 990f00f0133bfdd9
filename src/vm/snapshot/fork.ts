/**
 * `bonsai clone SRC DST --snapshot SNAP`: a fork. DST gets copies of SRC's disks as they were at SNAP
 * (each copy reverted to it, its other snapshots dropped) and, when SNAP holds the running machine, that
 * machine's state: DST's first start resumes from it and gives the guest DST's own identity (name, MAC,
 * machine-id, a reseeded random pool) through the guest agent (live.ts afterRestore).
 */
import { constants, copyFileSync, existsSync, rmSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { BonsaiError } from '../../errors.js';
import { newIdentity } from '../identity.js';
import { ownedDisks, refuseExisting, requireStopped, withLocks } from '../manage.js';
import { files } from '../process/runtime.js';
import type { VmSpec } from '../spec.js';
import { checkVmName, type Store } from '../store/store.js';
import { snapshotsOf } from './disks.js';
import { readStateFile } from './state-file.js';
import { findSnapshot, loadTree, statePath } from './tree.js';
import { openDisk } from '../../storage/backend.js';

export async function forkVm(store: Store, src: string, dst: string, snap: string): Promise<VmSpec> {
  checkVmName(dst);
  store.loadVm(src);
  if (src === dst) throw new BonsaiError(`cannot fork '${src}' onto itself`);
  return withLocks([store.lockVm(src), store.lockVm(dst)], async () => {
    const spec = store.loadVm(src);
    const srcDir = store.vmDir(src);
    const entry = findSnapshot(loadTree(srcDir), src, snap);
    requireStopped(store, src, `forking it (its disks are copied as they were at '${snap}')`);
    refuseExisting(store, dst);
    for (const d of spec.disks) {
      if (isAbsolute(d.file) && !d.readOnly) {
        throw new BonsaiError(`VM '${src}': its disk ${d.file} is outside its folder and writable; a fork cannot share it (bonsai set ${src} --disk ... to make it :ro, or remove it)`);
      }
    }
    if (entry.running) await readStateFile(statePath(srcDir, snap)); // checked whole before anything is made
    const dir = store.vmDir(dst);
    store.ensureDir(dir);
    try {
      for (const d of ownedDisks(spec)) {
        const to = join(dir, d.file);
        copyFileSync(store.diskPath(src, d.file), to, constants.COPYFILE_FICLONE);
        if (d.readOnly || !entry.disks.includes(d.file)) continue;
        const b = await openDisk(to, { readOnly: false, format: d.format });
        try {
          const disk = snapshotsOf(b, to, dst);
          await disk.revertToSnapshot(snap);
          for (const s of await disk.listSnapshots()) await disk.deleteSnapshot(s.name);
        } finally {
          await b.close();
        }
      }
      if (entry.running) copyFileSync(statePath(srcDir, snap), files(dir).forkState);
      const fork: VmSpec = { ...spec, name: dst, identity: newIdentity(dst), origin: `${src}@${snap}`, created: new Date().toISOString() };
      store.saveVm(fork);
      return fork;
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  });
}

export const isFork = (store: Store, name: string): boolean => existsSync(files(store.vmDir(name)).forkState);
