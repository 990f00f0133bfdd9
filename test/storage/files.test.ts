/**
 * Only regular files and block devices are disks: anything else is refused by kind, at once (a FIFO never
 * blocks), with one line; a deep backing chain's error stays one short line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BonsaiError } from '../../src/errors.js';
import { openDisk } from '../../src/storage/backend.js';
import { convertImage, createImage, imageInfo } from '../../src/storage/image-ops.js';
import { formatQcow2 } from '../../src/storage/qcow2-header.js';
import { scratch } from './fixtures.js';

async function oneLine(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof BonsaiError, `a BonsaiError, not ${String(e)}`);
    assert.ok(!e.message.includes('\n'), e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

/** A qcow2 overlay naming `backing` (which need not be an image, or exist), written without checking it. */
function overlay(file: string, backing: string, backingFormat: 'raw' | 'qcow2' = 'raw'): void {
  writeFileSync(file, formatQcow2(1 << 20, { backingFile: backing, backingFormat }));
}

const nonDisks: [string, (dir: string) => string, RegExp][] = [
  ['a FIFO', (dir) => {
    const f = join(dir, 'fifo');
    assert.equal(spawnSync('mkfifo', [f]).status, 0);
    return f;
  }, /is a FIFO \(named pipe\), not a disk image/],
  ['a directory', (dir) => {
    const d = join(dir, 'folder');
    mkdirSync(d);
    return d;
  }, /is a directory/],
  ['/dev/zero', () => '/dev/zero', /is a character device, not a disk image/],
  ['/dev/null', () => '/dev/null', /is a character device/],
];

for (const [name, make, pattern] of nonDisks) {
  test(`${name} is refused at once as a disk, as a backing file, and by info and convert`, { timeout: 10_000 }, async (t) => {
    const dir = scratch(t);
    const path = make(dir);
    await oneLine(openDisk(path, { readOnly: false }), new RegExp(`^${path}: cannot open disk image: ${pattern.source}`));
    await oneLine(openDisk(path, { readOnly: true, format: 'raw' }), pattern);
    await oneLine(imageInfo(path), new RegExp(`^${path}: cannot open: ${pattern.source}`));
    const top = join(dir, 'top.qcow2');
    overlay(top, path);
    await oneLine(openDisk(top, { readOnly: false }), new RegExp(`^${top}: in its backing chain: ${path}: cannot open disk image: ${pattern.source}`));
    const info = await imageInfo(top);
    assert.ok(info.backing !== undefined && 'error' in info.backing && pattern.test(info.backing.error), JSON.stringify(info.backing));
    await oneLine(convertImage(top, join(dir, 'out.qcow2')), pattern);
    await oneLine(createImage(join(dir, 'new.qcow2'), { backing: path }), pattern);
  });
}

test('a backing chain 70 deep is refused with one short line naming the top image and where it stopped', async (t) => {
  const dir = scratch(t);
  await createImage(join(dir, 'l0.qcow2'), { size: 1 << 20, clusterSize: 4096 });
  for (let i = 1; i < 70; i++) overlay(join(dir, `l${i}.qcow2`), `l${i - 1}.qcow2`, 'qcow2');
  const top = join(dir, 'l69.qcow2');
  await assert.rejects(openDisk(top, { readOnly: true }), (e: unknown) => {
    assert.ok(e instanceof BonsaiError);
    assert.equal(e.message, `${top}: in its backing chain: ${join(dir, 'l5.qcow2')}: backing chain is deeper than 64 images`);
    return true;
  });
  const info = await imageInfo(top);
  let depth = 0;
  for (let cur: typeof info.backing = info.backing; cur !== undefined && !('error' in cur); cur = cur.backing) depth++;
  assert.equal(depth, 63, 'info follows the chain as far as an open would');
});

test('a block device is a raw disk of its real capacity', { skip: process.getuid?.() === 0 && spawnSync('losetup', ['--version']).status === 0 ? false : 'needs root and losetup' }, async (t) => {
  const dir = scratch(t);
  const backing = join(dir, 'dev.img');
  writeFileSync(backing, new Uint8Array(3 << 20).fill(0x5a));
  const r = spawnSync('losetup', ['--find', '--show', backing], { encoding: 'utf8' });
  if (r.status !== 0) {
    t.skip(`losetup failed: ${r.stderr.trim()}`);
    return;
  }
  const dev = r.stdout.trim();
  t.after(() => { spawnSync('losetup', ['-d', dev]); });
  const d = await openDisk(dev, { readOnly: true });
  assert.equal(d.format, 'raw');
  assert.equal(d.size, 3 << 20);
  const b = new Uint8Array(512);
  await d.read((3 << 20) - 512, b);
  assert.ok(b.every((x) => x === 0x5a));
  await d.close();
  assert.equal((await imageInfo(dev)).virtualSize, 3 << 20);
});
