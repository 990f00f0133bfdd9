/**
 * The store without running VMs: definitions, locks, templates, linked and full clones, removal and the
 * one-line errors for bad names and damaged files.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { imageInfo } from '../../src/storage/image-ops.js';
import { openDisk } from '../../src/storage/backend.js';
import { cloneVm, createTemplate, createVm, removeTemplate, removeVm, setVm } from '../../src/vm/manage.js';
import { takeLock } from '../../src/vm/store/lock.js';
import { defaultHome, Store } from '../../src/vm/store/store.js';
import { parseSpec } from '../../src/vm/spec.js';

function newStore(): Store {
  return new Store(mkdtempSync(join(tmpdir(), 'bonsai-store-')));
}

test('the store lives in BONSAI_HOME, else XDG_DATA_HOME/bonsai, else ~/.local/share/bonsai', () => {
  assert.equal(defaultHome({ BONSAI_HOME: '/x/y' }), '/x/y');
  assert.equal(defaultHome({ XDG_DATA_HOME: '/d' }), '/d/bonsai');
  assert.match(defaultHome({}), /\.local\/share\/bonsai$/);
});

test('create makes a VM with its own root overlay over the default template and a fresh identity', async () => {
  const store = newStore();
  const a = await createVm(store, 'a');
  const b = await createVm(store, 'b', { settings: { memory: 128 * 1024 * 1024, forwards: ['tcp:8080-:80'] } });
  assert.deepEqual(store.vmNames(), ['a', 'b']);
  assert.equal(b.memory, 128 * 1024 * 1024);
  assert.deepEqual(store.loadVm('b').forwards, ['tcp:8080-:80']);
  const info = await imageInfo(store.diskPath('a', 'root.qcow2'));
  assert.equal(info.backingFile, '../../templates/default/root.qcow2');
  assert.equal(info.virtualSize, 2 * 1024 ** 3);
  assert.notEqual(a.identity.mac, b.identity.mac);
  assert.notEqual(a.identity.machineId, b.identity.machineId);
  assert.notEqual(a.identity.hostKey, b.identity.hostKey);
  assert.equal(statSync(join(store.templateDir('default'), 'root.qcow2')).mode & 0o222, 0, 'the template layer is read-only');
  // vm.json is written whole: no temporary files remain beside it.
  assert.deepEqual(readdirSync(store.vmDir('a')).sort(), ['root.qcow2', 'vm.json']);
});

test('bad and duplicate names, unknown VMs and templates are one-line errors listing what exists', async () => {
  const store = newStore();
  await createVm(store, 'web');
  await assert.rejects(createVm(store, 'web'), /^BonsaiError: a VM named 'web' already exists$/m);
  for (const bad of ['-x', 'a_b', 'a/b', '', 'x'.repeat(64), '..']) {
    await assert.rejects(createVm(store, bad), /is not a valid VM name/);
  }
  assert.throws(() => store.loadVm('db'), /no VM named 'db'; there are: web/);
  await assert.rejects(createVm(store, 'x', { template: 'nope' }), /no template named 'nope'; there are: default/);
});

test('a damaged vm.json gives one line naming the file and the field; other VMs still load', async () => {
  const store = newStore();
  await createVm(store, 'good');
  await createVm(store, 'bad');
  const file = join(store.vmDir('bad'), 'vm.json');
  writeFileSync(file, '{"version": 1, "name": "bad"');
  assert.throws(() => store.loadVm('bad'), (e: Error) => e.message.startsWith(`${file}: not valid JSON`) && !e.message.includes('\n'));
  const spec = JSON.parse(readFileSync(join(store.vmDir('good'), 'vm.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify({ ...spec, name: 'bad', memory: 'lots' }));
  assert.throws(() => store.loadVm('bad'), new RegExp(`${file.replace(/[.]/g, '\\.')}: 'memory' must be a whole number$`));
  writeFileSync(file, JSON.stringify({ ...spec, name: 'bad', version: 99 }));
  assert.throws(() => store.loadVm('bad'), /version 99 is not one this Bonsai reads/);
  assert.equal(store.loadVm('good').name, 'good');
  assert.deepEqual(store.vmNames(), ['bad', 'good']);
  assert.throws(() => parseSpec('[]', 'x.json'), /x\.json must be an object/);
});

test('a lock is exclusive across processes, and a dead holder\'s lock is taken over', async () => {
  const store = newStore();
  const path = join(store.ensureDir(join(store.home, 'locks')), 'vm-a.lock');
  // A process that holds the lock file and then dies leaves it stale.
  const child = spawn(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(path)}, process.pid + '\\n')`]);
  await new Promise((r) => child.on('exit', r));
  const lock = await takeLock(path, "VM 'a'", 1000);
  assert.equal(readFileSync(path, 'utf8').trim(), String(process.pid));
  // A live holder (this process, through another lock object) makes a second taker wait, then give up.
  const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 5000)']);
  lock.release();
  writeFileSync(path, `${live.pid}\n`);
  await assert.rejects(takeLock(path, "VM 'a'", 200), /VM 'a' is busy: another bonsai command \(pid \d+\)/);
  live.kill();
  await new Promise((r) => live.on('exit', r));
  (await takeLock(path, "VM 'a'", 1000)).release();
  assert.equal(existsSync(path), false);
});

test('racing commands on one VM never corrupt it: concurrent sets all land, one at a time', async () => {
  const store = newStore();
  await createVm(store, 'a');
  await Promise.all(Array.from({ length: 8 }, (_, i) => setVm(store, 'a', { memory: (64 + i) * 1024 * 1024 })));
  const m = store.loadVm('a').memory / (1024 * 1024);
  assert.ok(m >= 64 && m < 72);
});

test('a linked clone of a stopped VM shares a frozen layer; both keep their own writes', async () => {
  const store = newStore();
  await createVm(store, 'src', { diskSize: 1024 ** 3 });
  const w = await openDisk(store.diskPath('src', 'root.qcow2'), { readOnly: false });
  await w.write(0, new Uint8Array(4096).fill(7));
  await w.close();
  const t0 = performance.now();
  const c = await cloneVm(store, 'src', 'dst');
  const ms = performance.now() - t0;
  assert.ok(ms < 5000, `clone took ${ms} ms`); // a sanity bound, not a figure: bench/ measures it
  assert.equal(c.origin, 'src');
  await cloneVm(store, 'src', 'dst2');
  for (const vm of ['src', 'dst', 'dst2']) {
    const d = await openDisk(store.diskPath(vm, 'root.qcow2'), { readOnly: false });
    const b = new Uint8Array(4096);
    await d.read(0, b);
    assert.equal(b[0], 7, `${vm} sees the source's data`);
    await d.write(0, new Uint8Array(4096).fill(vm.length));
    await d.close();
  }
  for (const vm of ['src', 'dst', 'dst2']) {
    const d = await openDisk(store.diskPath(vm, 'root.qcow2'), { readOnly: true });
    const b = new Uint8Array(4096);
    await d.read(0, b);
    assert.equal(b[0], vm.length, `${vm} keeps its own write`);
    await d.close();
  }
  const layers = readdirSync(store.layersDir);
  assert.equal(layers.length, 2);
  // Removing the VMs collects the layers no chain reaches any more.
  await removeVm(store, 'dst');
  await removeVm(store, 'dst2');
  await removeVm(store, 'src');
  assert.deepEqual(readdirSync(store.layersDir), []);
});

test('a full clone is independent of its source', async () => {
  const store = newStore();
  await createVm(store, 'src');
  await cloneVm(store, 'src', 'copy', { full: true });
  const info = await imageInfo(store.diskPath('copy', 'root.qcow2'));
  assert.equal(info.backingFile, undefined);
  await removeVm(store, 'src');
  assert.equal(store.loadVm('copy').origin, 'src');
});

test('a template frozen from a VM serves new VMs and cannot be removed while they depend on it', async () => {
  const store = newStore();
  await createVm(store, 'base');
  const w = await openDisk(store.diskPath('base', 'root.qcow2'), { readOnly: false });
  await w.write(65536, new Uint8Array(512).fill(9));
  await w.close();
  await createTemplate(store, 'golden', 'base');
  await assert.rejects(createTemplate(store, 'golden', 'base'), /a template named 'golden' already exists/);
  const vm = await createVm(store, 'web', { template: 'golden' });
  assert.equal(vm.origin, 'golden');
  const d = await openDisk(store.diskPath('web', 'root.qcow2'), { readOnly: true });
  const b = new Uint8Array(512);
  await d.read(65536, b);
  assert.equal(b[0], 9);
  await d.close();
  await assert.rejects(removeTemplate(store, 'golden'), /template 'golden' is the base of VM 'base', VM 'web'; remove them first/);
  await assert.rejects(removeTemplate(store, 'default'), /built in/);
  await removeVm(store, 'web');
  await removeVm(store, 'base');
  await removeTemplate(store, 'golden');
  assert.deepEqual(store.templateNames(), ['default']);
});

test('a store on a read-only filesystem is a one-line error, and nothing is lost', async (t) => {
  if (process.getuid?.() === 0) { t.skip('root ignores file modes'); return; }
  const store = newStore();
  await createVm(store, 'a');
  chmodSync(store.vmDir('a'), 0o555);
  await assert.rejects(setVm(store, 'a', { memory: 64 << 20 }), /cannot write: permission denied/);
  chmodSync(store.vmDir('a'), 0o755);
  assert.equal(store.loadVm('a').memory, 256 << 20);
  rmSync(store.home, { recursive: true, force: true });
});
