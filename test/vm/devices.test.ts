import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { parseDisk, parseShare } from '../../src/vm/devices.js';

test('--disk takes FILE with :ro and :raw or :qcow2, and refuses an unknown option rather than taking it as part of the name', () => {
  assert.deepEqual(parseDisk('a.img'), { path: 'a.img', readOnly: false, format: undefined });
  assert.deepEqual(parseDisk('a.qcow2:ro:qcow2'), { path: 'a.qcow2', readOnly: true, format: 'qcow2' });
  assert.deepEqual(parseDisk('a.img:raw'), { path: 'a.img', readOnly: false, format: 'raw' });
  assert.throws(() => parseDisk('x.qcow2:bogus'), /^BonsaiError: --disk x\.qcow2:bogus: unknown option 'bogus' \(use :ro, :raw, :qcow2\)$/);
  assert.throws(() => parseDisk('x.qcow2:bogus:ro'), /unknown option 'bogus'/);
  assert.throws(() => parseDisk(':ro'), /no file named/);
  // A name that holds ':' is still a name when the file exists.
  const named = join(mkdtempSync(join(tmpdir(), 'bonsai-disk-')), 'disk:2024');
  writeFileSync(named, '');
  assert.deepEqual(parseDisk(`${named}:ro`), { path: named, readOnly: true, format: undefined });
});

test('--share needs a host directory and says what the path is when it is not one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-share-'));
  assert.deepEqual(parseShare(`${dir}:tag:ro`), { dir: resolve(dir), tag: 'tag', readOnly: true });
  assert.throws(() => parseShare(':tag'), /^BonsaiError: --share :tag: no host directory named \(expected HOSTDIR:TAG\[:ro\]\[:mapped\]\)$/);
  assert.deepEqual(parseShare(`${dir}:tag:mapped`), { dir: resolve(dir), tag: 'tag', readOnly: false, mapped: true });
  assert.deepEqual(parseShare(`${dir}:tag:mapped:ro`), { dir: resolve(dir), tag: 'tag', readOnly: true, mapped: true });
  assert.throws(() => parseShare(`${dir}/missing:tag`), /: no such directory$/);
  assert.throws(() => parseShare('/dev/null:tag'), /\/dev\/null: is a character device, not a directory$/);
  assert.throws(() => parseShare(`${dir}:bad tag`), /the tag 'bad tag' must be/);
});
