/** `bonsai snapshot create|list|restore|rm`: a VM's snapshot tree (vm/snapshot/). Parses, prints, exits. */
import type { Command } from 'commander';
import { formatSize } from '../storage/image-ops.js';
import { exportVm, importVm } from '../vm/snapshot/archive.js';
import { ProgressBar } from './image.js';
import { createSnapshot, listSnapshots, removeSnapshot, restoreSnapshot } from '../vm/snapshot/manage.js';
import { drawTree } from '../vm/snapshot/tree.js';
import type { Store } from '../vm/store/store.js';

const when = (iso: string): string => iso.replace('T', ' ').replace(/\.\d+Z$/, '');

export function registerSnapshotCommands(program: Command, store: () => Store): void {
  const snapshot = program.command('snapshot').description('snapshots of a VM: its running machine and disks at one instant');
  snapshot
    .command('create <name> <snapshot>')
    .description('take a snapshot (a running VM: processor, devices, RAM and disks; a stopped one: its disks)')
    .action(async (name: string, snap: string) => {
      const r = await createSnapshot(store(), name, snap);
      const what = r.entry.running ? `the running machine (${formatSize(r.entry.stateBytes)} of state; the guest paused ${r.pauseMs?.toFixed(0) ?? '?'} ms)` : 'the disks of the stopped VM';
      process.stdout.write(`snapshot '${snap}' of ${name}: ${what}\n`);
    });
  snapshot
    .command('list <name>').alias('ls')
    .description('the snapshot tree: parent and children, time, size, and the one the VM is at (*)')
    .option('--json', 'as JSON')
    .action((name: string, o: { json?: boolean }) => {
      const tree = listSnapshots(store(), name);
      if (o.json === true) { process.stdout.write(`${JSON.stringify(tree, null, 2)}\n`); return; }
      if (tree.snapshots.length === 0) { process.stdout.write(`VM '${name}' has no snapshots (bonsai snapshot create ${name} NAME)\n`); return; }
      const rows = drawTree(tree).map(({ entry, prefix }) => [
        `${prefix}${entry.name}${entry.name === tree.current ? ' *' : ''}`, when(entry.created),
        entry.running ? 'running' : 'disks only', entry.running ? formatSize(entry.stateBytes) : '-',
      ]);
      const head = ['SNAPSHOT', 'TAKEN', 'MACHINE', 'STATE SIZE'];
      const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => [...r[i]].length)));
      for (const r of [head, ...rows]) process.stdout.write(`${r.map((c, i) => c + ' '.repeat(width[i] - [...c].length)).join('  ').trimEnd()}\n`);
    });
  snapshot
    .command('restore <name> <snapshot>')
    .description('put the VM back to a snapshot (running again if it was running when taken)')
    .action(async (name: string, snap: string) => {
      const r = await restoreSnapshot(store(), name, snap);
      const how = r.running ? `running${r.pauseMs === null ? '' : ` (the guest paused ${r.pauseMs.toFixed(0)} ms)`}` : `stopped, its disks as they were${r.stopped ? ' (the running VM was stopped)' : ''}`;
      process.stdout.write(`${name} is at snapshot '${snap}': ${how}\n`);
    });
  snapshot
    .command('rm <name> <snapshot>')
    .description('delete a snapshot (its children keep working)')
    .action(async (name: string, snap: string) => {
      await removeSnapshot(store(), name, snap);
    });

  program
    .command('export <name> <file>')
    .description('write a stopped VM to one file: definition, disks with their snapshots, machine state')
    .option('--snapshot <SNAP>', "carry only this snapshot's machine state (the others keep their disks' part)")
    .action(async (name: string, file: string, o: { snapshot?: string }) => {
      const bar = new ProgressBar('exporting');
      const t0 = performance.now();
      let size: number;
      try { size = await exportVm(store(), name, file, { snapshot: o.snapshot, onProgress: (d, t) => bar.update(d, t) }); } finally { bar.done(); }
      process.stdout.write(`exported ${name} to ${file} (${formatSize(size)}) in ${((performance.now() - t0) / 1000).toFixed(2)} s\n`);
    });
  program
    .command('import <file> [name]')
    .description('bring in a VM written by bonsai export (checked whole before anything is created)')
    .action(async (file: string, name: string | undefined) => {
      const bar = new ProgressBar('checking');
      const t0 = performance.now();
      let spec;
      try { spec = await importVm(store(), file, name, (d, t) => bar.update(d, t)); } finally { bar.done(); }
      process.stdout.write(`imported ${spec.name} from ${file} in ${((performance.now() - t0) / 1000).toFixed(2)} s\n`);
    });
}
