/**
 * A VM's snapshots: `snapshots.json` in its folder names each snapshot, its parent, when it was taken and
 * whether it holds the running machine (a state file in `snapshots/`), and which one the VM is at now.
 * The disks' part of a snapshot is a qcow2 internal snapshot of the same name in each writable disk.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BonsaiError } from '../../errors.js';
import { printable } from '../../text.js';
import { writeFileAtomic } from '../store/atomic.js';

export const TREE_VERSION = 1;

export interface SnapshotEntry {
  name: string;
  /** The snapshot the VM was at when this one was taken (null: none). */
  parent: string | null;
  /** ISO time. */
  created: string;
  /** Whether the machine was running: then a state file holds its processor, devices and RAM. */
  running: boolean;
  /** Size of the state file in bytes (0 without one). */
  stateBytes: number;
  /** The guest's clock when taken (ns), as the disks' snapshot tables record it. */
  vmClockNs: number;
  /** The disks (as the VM's definition names them) that hold a qcow2 snapshot of this name. */
  disks: string[];
  /** The VM's machine settings when taken, compared before a restore onto a stopped VM. */
  settings: string;
  /** Whether the guest agent was connected when taken (a restore then waits for it to answer again). */
  agent: boolean;
}

export interface SnapshotTree {
  version: typeof TREE_VERSION;
  /** The snapshot the VM is at: the last one taken or restored (null: none). */
  current: string | null;
  snapshots: SnapshotEntry[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkSnapshotName(name: string): string {
  if (!NAME.test(name)) {
    throw new BonsaiError(`'${printable(name.slice(0, 70))}' is not a snapshot name (1-64 letters, digits, '.', '_' and '-', starting with a letter or digit)`);
  }
  return name;
}

export function treePath(vmDir: string): string { return join(vmDir, 'snapshots.json'); }
export function stateDir(vmDir: string): string { return join(vmDir, 'snapshots'); }
export function statePath(vmDir: string, snap: string): string { return join(stateDir(vmDir), `${snap}.state`); }

/** The VM's snapshot tree; an empty one when it has none. A damaged file is a one-line error naming it. */
export function loadTree(vmDir: string): SnapshotTree {
  const path = treePath(vmDir);
  if (!existsSync(path)) return { version: TREE_VERSION, current: null, snapshots: [] };
  let v: unknown;
  try { v = JSON.parse(readFileSync(path, 'utf8')) as unknown; } catch (e) {
    throw new BonsaiError(`${path}: ${e instanceof SyntaxError ? 'not valid JSON' : (e as Error).message}`);
  }
  return parseTree(v, path);
}

export function saveTree(vmDir: string, tree: SnapshotTree): void {
  writeFileAtomic(treePath(vmDir), `${JSON.stringify(tree, null, 2)}\n`);
}

export function parseTree(v: unknown, where: string): SnapshotTree {
  const fail = (what: string): never => { throw new BonsaiError(`${where}: ${what}`); };
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!isObj(v)) return fail('not a snapshot list');
  if (v.version !== TREE_VERSION) fail(`version ${String(v.version)}; this Bonsai reads version ${TREE_VERSION}`);
  if (!Array.isArray(v.snapshots)) fail("'snapshots' is not a list");
  const snapshots = (v.snapshots as unknown[]).map((e, i): SnapshotEntry => {
    const at = `snapshot ${i + 1}`;
    if (!isObj(e)) return fail(`${at} is not an object`);
    const str = (k: string): string => (typeof e[k] === 'string' ? e[k] as string : fail(`${at}: '${k}' is not a string`));
    const num = (k: string): number => (typeof e[k] === 'number' && Number.isFinite(e[k]) && (e[k] as number) >= 0 ? e[k] as number : fail(`${at}: '${k}' is not a number`));
    const name = str('name');
    if (!NAME.test(name)) fail(`${at}: bad name`);
    const parent = e.parent === null ? null : str('parent');
    if (typeof e.running !== 'boolean') fail(`${at}: 'running' is not true or false`);
    if (!Array.isArray(e.disks) || e.disks.some((d) => typeof d !== 'string')) fail(`${at}: 'disks' is not a list of names`);
    return {
      name, parent, created: str('created'), running: e.running as boolean, stateBytes: num('stateBytes'),
      vmClockNs: num('vmClockNs'), disks: e.disks as string[], settings: str('settings'), agent: e.agent === true,
    };
  });
  const names = new Set(snapshots.map((s) => s.name));
  if (names.size !== snapshots.length) fail('a snapshot name appears twice');
  for (const s of snapshots) if (s.parent !== null && !names.has(s.parent)) fail(`snapshot '${s.name}': its parent '${s.parent}' is not in the list`);
  const current = v.current === null ? null : typeof v.current === 'string' && names.has(v.current) ? v.current : fail("'current' names no snapshot");
  return { version: TREE_VERSION, current, snapshots };
}

export function findSnapshot(tree: SnapshotTree, vm: string, name: string): SnapshotEntry {
  const s = tree.snapshots.find((e) => e.name === name);
  if (s === undefined) {
    const known = tree.snapshots.map((e) => e.name);
    throw new BonsaiError(`VM '${vm}' has no snapshot '${printable(name.slice(0, 70))}'${known.length === 0 ? ' (it has none)' : ` (it has: ${known.join(', ')})`}`);
  }
  return s;
}

/** The tree drawn for `snapshot list`: one line a snapshot, children indented under their parent. */
export function drawTree(tree: SnapshotTree): { entry: SnapshotEntry; prefix: string }[] {
  const out: { entry: SnapshotEntry; prefix: string }[] = [];
  const children = (p: string | null): SnapshotEntry[] => tree.snapshots.filter((s) => s.parent === p)
    .sort((a, b) => a.created.localeCompare(b.created));
  const walk = (p: string | null, lead: string): void => {
    const kids = children(p);
    kids.forEach((k, i) => {
      const last = i === kids.length - 1;
      out.push({ entry: k, prefix: p === null ? '' : `${lead}${last ? '└─ ' : '├─ '}` });
      walk(k.name, p === null ? '' : `${lead}${last ? '   ' : '│  '}`);
    });
  };
  walk(null, '');
  return out;
}
