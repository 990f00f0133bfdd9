/**
 * The lifecycle commands' bad input, as a user meets it: one line on stderr, exit status 1, nothing lost.
 * No guest boots here (test/e2e/lifecycle.test.ts does that).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseSpec } from '../../src/vm/spec.js';
import { repoPath } from '../helpers.js';

const BIN = repoPath('bin', 'bonsai.js');

function bonsai(home: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, BONSAI_HOME: home }, encoding: 'utf8', input: '' });
}

/** One line on stderr and status 1 (2 for what commander itself refuses: a usage error). */
function oneLine(r: { status: number | null; stderr: string }, re: RegExp, what: string): void {
  assert.equal(r.status, r.stderr.startsWith('error:') ? 2 : 1, `${what}: ${r.stderr}`);
  assert.match(r.stderr, re, what);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `${what}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /internal error/);
}

test('bad names, unknown VMs and wrong states get one line each, exit status 1', () => {
  const home = mkdtempSync(join(tmpdir(), 'bonsai-cli-'));
  assert.equal(bonsai(home, ['create', 'web', '--ssh-key', 'none']).status, 0);
  assert.equal(bonsai(home, ['create', 'db', '--ssh-key', 'none', '-m', '128M', '--forward', 'tcp:5432-:5432']).status, 0);
  for (const [args, re] of [
    [['create', 'web'], /^bonsai: a VM named 'web' already exists$/m],
    [['create', 'bad_name'], /^bonsai: 'bad_name' is not a valid VM name/],
    [['create', 'x', '--template', 'nope'], /^bonsai: no template named 'nope'; there are: default$/m],
    [['create', 'x', '--disk', '/nonexistent.qcow2'], /^bonsai: --disk \/nonexistent\.qcow2: no such file$/m],
    [['create', 'x', '--forward', 'tcp:22'], /^bonsai: --forward tcp:22: expected/],
    [['create', 'x', '-m', '5T'], /guest RAM is 1 MiB to 4 GiB - 64 KiB/],
    [['start', 'nope'], /^bonsai: no VM named 'nope'; there are: db, web$/m],
    [['stop', 'web'], /^bonsai: VM 'web' is not running$/m],
    [['kill', 'web'], /^bonsai: VM 'web' is not running$/m],
    [['pause', 'web'], /^bonsai: VM 'web' is not running \(bonsai start web\)$/m],
    [['exec', 'web', '--', 'true'], /^bonsai: VM 'web' is not running/],
    [['console', 'web'], /^bonsai: VM 'web' is not running/],
    [['cp', 'a', 'b'], /^bonsai: bonsai cp: exactly one side must be NAME:PATH/],
    [['clone', 'web', 'db'], /^bonsai: a VM named 'db' already exists$/m],
    [['clone', 'nope', 'x'], /^bonsai: no VM named 'nope'; there are: db, web$/m],
    [['set', 'web'], /^bonsai: bonsai set: give at least one option/],
    [['rm', 'nope'], /^bonsai: no VM named 'nope'/],
    [['template', 'rm', 'default'], /^bonsai: 'default' is built in/],
    [['template', 'create', 't1', '--from', 'nope'], /^bonsai: no VM named 'nope'/],
    [['info', 'nope'], /^bonsai: no VM named 'nope'/],
  ] as const) oneLine(bonsai(home, [...args]), re, args.join(' '));
  // A disk that went missing since create: start refuses with the path, nothing started.
  const extra = join(home, 'extra.raw');
  writeFileSync(extra, Buffer.alloc(1 << 20));
  assert.equal(bonsai(home, ['create', 'disky', '--ssh-key', 'none', '--disk', extra]).status, 0);
  rmSync(extra);
  oneLine(bonsai(home, ['start', 'disky']), new RegExp(`^bonsai: VM 'disky': its disk ${extra.replace(/\./g, '\\.')} is missing$`, 'm'), 'start with a missing disk');
  assert.match(bonsai(home, ['list']).stdout, /^disky\s+stopped/m);
  assert.equal(bonsai(home, ['rm', 'disky']).status, 0);
  // Nothing was lost on the way.
  const list = bonsai(home, ['list']);
  assert.match(list.stdout, /^db\s+stopped\s+128 MiB\s+-\s+-\s+tcp:5432-:5432$/m);
  assert.match(list.stdout, /^web\s+stopped\s+256 MiB/m);
  rmSync(home, { recursive: true, force: true });
});

test('a VM whose disk another process is writing does not start: one line naming the disk and the holder, at once', async () => {
  const home = mkdtempSync(join(tmpdir(), 'bonsai-cli-'));
  assert.equal(bonsai(home, ['create', 'held', '--ssh-key', 'none']).status, 0);
  const disk = join(home, 'vms', 'held', 'root.qcow2');
  const holder = spawn(process.execPath, [BIN, 'run', '--disk', disk, '--net', 'none', '--ssh-key', 'none'], { stdio: ['pipe', 'pipe', 'ignore'] });
  // The guest's first console output: its disk is open (and locked) by then.
  await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
  try {
    // A VM process that lingered after failing would leave start waiting for its socket ("did not start within").
    oneLine(bonsai(home, ['start', 'held']), /^bonsai: VM 'held' did not start: .*root\.qcow2: is open for writing by pid \d+ .*is another VM using it\?$/m, 'start with a held disk');
    assert.match(bonsai(home, ['list']).stdout, /^held\s+stopped/m);
  } finally {
    holder.kill('SIGKILL');
    await new Promise((r) => holder.on('close', r));
    rmSync(home, { recursive: true, force: true });
  }
});

test('a damaged vm.json is one line naming the file; the other VMs still work', () => {
  const home = mkdtempSync(join(tmpdir(), 'bonsai-cli-'));
  bonsai(home, ['create', 'good', '--ssh-key', 'none']);
  bonsai(home, ['create', 'bad', '--ssh-key', 'none']);
  const file = join(home, 'vms', 'bad', 'vm.json');
  writeFileSync(file, '{"version": 1, \x1b]0;pwned\x07');
  oneLine(bonsai(home, ['info', 'bad']), new RegExp(`^bonsai: ${file.replace(/\./g, '\\.')}: not valid JSON`), 'info bad');
  const list = bonsai(home, ['list']);
  assert.equal(list.status, 0);
  assert.match(list.stdout, /^bad\s+damaged/m);
  assert.match(list.stdout, /^good\s+stopped/m);
  assert.doesNotMatch(list.stderr, /\x1b/);
  assert.equal(bonsai(home, ['set', 'good', '-m', '64M']).status, 0);
  rmSync(home, { recursive: true, force: true });
});

test('commands racing on one VM from several processes leave a whole vm.json', async () => {
  const home = mkdtempSync(join(tmpdir(), 'bonsai-cli-'));
  bonsai(home, ['create', 'race', '--ssh-key', 'none']);
  const runs = Array.from({ length: 6 }, (_, i) => new Promise<number | null>((resolve) => {
    const p = spawn(process.execPath, [BIN, 'set', 'race', '-m', `${64 + i}M`, '--forward', `tcp:${9000 + i}-:80`], { env: { ...process.env, BONSAI_HOME: home }, stdio: 'ignore' });
    p.on('close', resolve);
  }));
  assert.deepEqual(await Promise.all(runs), [0, 0, 0, 0, 0, 0]);
  const file = join(home, 'vms', 'race', 'vm.json');
  const spec = parseSpec(readFileSync(file, 'utf8'), file);
  const i = spec.memory / (1024 * 1024) - 64;
  assert.deepEqual(spec.forwards, [`tcp:${9000 + i}-:80`], 'memory and forwards come from the same command');
  rmSync(home, { recursive: true, force: true });
});

test('a store on a read-only filesystem: one line, and the VMs there still list', (t) => {
  const home = mkdtempSync(join(tmpdir(), 'bonsai-cli-'));
  const src = join(home, 'src'), mnt = join(home, 'mnt');
  mkdirSync(src);
  mkdirSync(mnt);
  bonsai(src, ['create', 'keep', '--ssh-key', 'none']);
  const bind = spawnSync('mount', ['--bind', src, mnt]);
  if (bind.status !== 0) { t.skip('cannot bind-mount here (needs root)'); rmSync(home, { recursive: true, force: true }); return; }
  try {
    if (spawnSync('mount', ['-o', 'remount,bind,ro', mnt]).status !== 0) { t.skip('cannot remount read-only'); return; }
    oneLine(bonsai(mnt, ['create', 'new', '--ssh-key', 'none']), /read-only filesystem/, 'create on a read-only store');
    oneLine(bonsai(mnt, ['set', 'keep', '-m', '64M']), /read-only filesystem/, 'set on a read-only store');
    const list = bonsai(mnt, ['list']);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /^keep\s+stopped\s+256 MiB/m);
  } finally {
    spawnSync('umount', [mnt]);
    rmSync(home, { recursive: true, force: true });
  }
});

test('the engine a VM is created with is kept in its definition, shown by info and changed by set', () => {
  const home = mkdtempSync(join(tmpdir(), 'bonsai-engine-'));
  try {
    assert.equal(bonsai(home, ['create', 'e', '--engine', 'jit', '--ssh-key', 'none']).status, 0);
    assert.match(bonsai(home, ['info', 'e']).stdout, /^engine: jit$/m);
    assert.equal(bonsai(home, ['set', 'e', '--engine', 'interp']).status, 0);
    assert.match(bonsai(home, ['info', 'e']).stdout, /^engine: interp$/m);
    oneLine(bonsai(home, ['create', 'f', '--engine', 'fast', '--ssh-key', 'none']), /^bonsai: --engine fast: use 'interp' or 'jit'$/m, 'create --engine fast');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
