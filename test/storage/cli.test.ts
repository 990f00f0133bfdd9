/** `bonsai image ...` through commander, as the CLI runs it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { register } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BonsaiError } from '../../src/errors.js';
import { openDisk } from '../../src/storage/backend.js';
import { parseSize } from '../../src/storage/image-ops.js';
import { repoRoot } from '../helpers.js';
import { readAll, scratch } from './fixtures.js';

// Compiled outside the repository (tsc --outDir /tmp/...), the CLI's bare import of 'commander' finds no
// node_modules; then let it fall back to the repository's (found from the working directory).
try {
  await import('commander');
} catch {
  const repoUrl = pathToFileURL(join(repoRoot(), 'package.json')).href;
  register(`data:text/javascript,${encodeURIComponent(`
export async function resolve(spec, ctx, next) {
  try { return await next(spec, ctx); }
  catch (e) { if (spec === 'commander') return next(spec, { ...ctx, parentURL: ${JSON.stringify(repoUrl)} }); throw e; }
}`)}`);
}
const { Command } = await import('commander');
const { ProgressBar, registerImageCommands } = await import('../../src/cli/image.js');

/** Runs `bonsai image ARGS...`; returns what it printed on stdout. */
async function bonsai(...args: string[]): Promise<string> {
  let out = '';
  const program = new Command().name('bonsai').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: (s) => { out += s; } });
  registerImageCommands(program);
  await program.parseAsync(['node', 'bonsai', 'image', ...args]);
  return out;
}

test('create, info, convert and resize work from the command line', async (t) => {
  const dir = scratch(t);
  const base = join(dir, 'base.raw');
  const top = join(dir, 'top.qcow2');
  await bonsai('create', '--format', 'raw', base, '2M');
  assert.equal(statSync(base).size, 2 << 20);
  await bonsai('create', top, '--backing', 'base.raw');
  const text = await bonsai('info', top);
  assert.match(text, /^image: .*top\.qcow2$/m);
  assert.match(text, /^format: qcow2 \(version 3\)$/m);
  assert.match(text, /^virtual size: 2 MiB \(2097152 bytes\)$/m);
  assert.match(text, /^cluster size: 65536$/m);
  assert.match(text, /^backing file: base\.raw \(.*base\.raw\)$/m);
  assert.match(text, /^backing file format: raw$/m);
  assert.match(text, /^backing chain:\n {2}.*top\.qcow2 \(qcow2, 2 MiB\)\n {2}.*base\.raw \(raw, 2 MiB\)$/m);
  const json = JSON.parse(await bonsai('info', '--json', top)) as { virtualSize: number; backing: { format: string } };
  assert.equal(json.virtualSize, 2 << 20);
  assert.equal(json.backing.format, 'raw');

  const d = await openDisk(top, { readOnly: false });
  await d.write(4096, new Uint8Array(4096).fill(9));
  await d.close();
  const flat = join(dir, 'flat.raw');
  await bonsai('convert', '--format', 'raw', top, flat);
  const bytes = readFileSync(flat);
  assert.equal(bytes.length, 2 << 20);
  assert.equal(bytes[4096], 9);
  assert.equal(bytes[0], 0);

  await bonsai('resize', top, '+1M');
  assert.match(await bonsai('info', top), /virtual size: 3 MiB/);
  await assert.rejects(bonsai('resize', flat, '1M'), (e: unknown) => e instanceof BonsaiError && /--shrink/.test(e.message));
  await bonsai('resize', '--shrink', flat, '1M');
  assert.equal(statSync(flat).size, 1 << 20);
});

test('existing files are never overwritten and failed operations leave no temporary files behind', async (t) => {
  const dir = scratch(t);
  const a = join(dir, 'a.qcow2');
  await bonsai('create', a, '1M');
  const before = readFileSync(a);
  await assert.rejects(bonsai('create', a, '2M'), (e: unknown) => e instanceof BonsaiError && /already exists/.test(e.message));
  await assert.rejects(bonsai('convert', a, a), (e: unknown) => e instanceof BonsaiError && /already exists/.test(e.message));
  assert.deepEqual(readFileSync(a), before);
  // A source that fails half-way: a qcow2 image with a bad L2 table.
  const bad = join(dir, 'bad.qcow2');
  await bonsai('create', bad, '1M', '--cluster-size', '4K');
  const d = await openDisk(bad, { readOnly: false });
  await d.write(0, new Uint8Array(512).fill(1));
  await d.close();
  const img = readFileSync(bad);
  const l2 = Number(img.readBigUInt64BE(3 * 4096) & 0xfffffffffe00n);
  img.writeBigUInt64BE((1n << 63n) | 4096n, l2); // guest cluster 0 -> the refcount table
  writeFileSync(bad, img);
  await assert.rejects(bonsai('convert', bad, join(dir, 'out.qcow2')), (e: unknown) => e instanceof BonsaiError && /holds image metadata/.test(e.message));
  assert.deepEqual(readdirSync(dir).sort(), ['a.qcow2', 'bad.qcow2']);
  await assert.rejects(bonsai('create', join(dir, 'x.qcow2')), (e: unknown) => e instanceof BonsaiError && /give a size/.test(e.message));
  await assert.rejects(bonsai('create', join(dir, 'y.qcow2'), '--backing', 'nope.raw'), (e: unknown) => e instanceof BonsaiError && /nope\.raw: no such file/.test(e.message));
  await assert.rejects(bonsai('info', join(dir, 'missing.qcow2')), (e: unknown) => e instanceof BonsaiError && /missing\.qcow2: cannot open: no such file/.test(e.message));
});

test('a missing backing file is reported after the rest of the information', async (t) => {
  const dir = scratch(t);
  await bonsai('create', '--format', 'raw', join(dir, 'base.raw'), '1M');
  const top = join(dir, 'top.qcow2');
  await bonsai('create', top, '-b', 'base.raw');
  const { unlinkSync } = await import('node:fs');
  unlinkSync(join(dir, 'base.raw'));
  await assert.rejects(bonsai('info', top), (e: unknown) => e instanceof BonsaiError && /backing chain is broken: .*base\.raw: cannot open: no such file/.test(e.message));
  await assert.rejects(openDisk(top, { readOnly: true }), (e: unknown) => e instanceof BonsaiError && /top\.qcow2: in its backing chain: .*base\.raw: cannot open disk image: no such file/.test(e.message));
});

test('sizes parse with binary units and bad ones are refused', () => {
  assert.equal(parseSize('65536'), 65536);
  assert.equal(parseSize('64K'), 65536);
  assert.equal(parseSize('10G'), 10 * 2 ** 30);
  assert.equal(parseSize('1.5M'), 1.5 * 2 ** 20);
  assert.equal(parseSize('2GiB'), 2 ** 31);
  assert.throws(() => parseSize('ten'), BonsaiError);
  assert.throws(() => parseSize('-1G'), BonsaiError);
});

test('the progress bar draws only on a terminal and clears its line when done', () => {
  let drawn = '';
  const tty = { isTTY: true, columns: 80, write: (s: string) => { drawn += s; return true; } } as unknown as NodeJS.WriteStream;
  const bar = new ProgressBar('converting', tty);
  bar.update(0, 100);
  bar.update(50, 100);
  bar.update(50, 100);
  bar.done();
  assert.match(drawn, /converting \[#+-+\]  50%/);
  assert.equal(drawn.split('\r').length, 4, 'repeated progress is not redrawn');
  let piped = '';
  const pipe = { isTTY: false, write: (s: string) => { piped += s; return true; } } as unknown as NodeJS.WriteStream;
  const quiet = new ProgressBar('converting', pipe);
  quiet.update(10, 100);
  quiet.done();
  assert.equal(piped, '');
});

test('a raw image created by the command line is sparse and reads as zeros', async (t) => {
  const dir = scratch(t);
  const f = join(dir, 'sparse.raw');
  await bonsai('create', '-f', 'raw', f, '16M');
  assert.ok(statSync(f).blocks * 512 < (1 << 20));
  const d = await openDisk(f, { readOnly: true });
  assert.equal(d.format, 'raw');
  const all = await readAll(d);
  assert.ok(all.every((b) => b === 0));
  await d.close();
});

test('image info prints names from an image without their control characters, in text and in JSON', async (t) => {
  const dir = scratch(t);
  // A backing file name that would set the terminal's title and clear the screen (ESC, BEL, C1 CSI).
  const evil = 'base\x1b]0;pwned\x07\u009b2J\u202e.raw';
  writeFileSync(join(dir, evil), new Uint8Array(65536));
  const top = join(dir, 'top.qcow2');
  await bonsai('create', top, '-b', evil);
  const text = await bonsai('info', top);
  assert.doesNotMatch(text, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/, 'no control character but the line breaks');
  assert.match(text, /backing file: base\\x1b\]0;pwned\\x07\\x9b2J\\u\{202e\}\.raw/);
  const json = await bonsai('info', '--json', top);
  assert.doesNotMatch(json, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/);
  assert.equal((JSON.parse(json) as { backingFile: string }).backingFile, evil, 'JSON keeps the name exactly');
});
