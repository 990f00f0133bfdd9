/** One image, one writer: within a process, across processes, against stale locks and against QEMU. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { linkSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BonsaiError } from '../../src/errors.js';
import { openDisk } from '../../src/storage/backend.js';
import { createImage, imageInfo } from '../../src/storage/image-ops.js';
import { hasTool, haveQemu, QEMU_SKIP, scratch } from './fixtures.js';

const backendUrl = new URL('../../src/storage/backend.js', import.meta.url).href;

/** A fresh lock folder per test, so that tests running side by side never see each other's locks. */
function setup(t: { after: (fn: () => void) => void }): string {
  const dir = scratch(t);
  const locks = join(dir, 'locks');
  const saved = process.env.BONSAI_LOCK_DIR;
  process.env.BONSAI_LOCK_DIR = locks;
  t.after(() => {
    if (saved === undefined) delete process.env.BONSAI_LOCK_DIR;
    else process.env.BONSAI_LOCK_DIR = saved;
  });
  return dir;
}

async function refusedWith(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof BonsaiError, String(e));
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('the same image opened for writing twice in one process is refused, by any name', async (t) => {
  const dir = setup(t);
  const file = join(dir, 'a.qcow2');
  await createImage(file, { size: 1 << 20 });
  symlinkSync(file, join(dir, 'link.qcow2'));
  linkSync(file, join(dir, 'hard.qcow2'));
  const d = await openDisk(file, { readOnly: false });
  for (const name of [file, join(dir, 'link.qcow2'), join(dir, 'hard.qcow2'), `${dir}/./a.qcow2`]) {
    await refusedWith(openDisk(name, { readOnly: false }), new RegExp(`^${name.replace(/[.]/g, '\\.')}: is already open for writing in this VM`));
    await refusedWith(openDisk(name, { readOnly: true }), /is already open for writing in this VM/);
  }
  await d.close();
  const again = await openDisk(join(dir, 'link.qcow2'), { readOnly: false });
  await again.close();
});

test('read-only users share an image; a writer is refused while they hold it, backing files included', async (t) => {
  const dir = setup(t);
  const base = join(dir, 'base.qcow2');
  const top = join(dir, 'top.qcow2');
  await createImage(base, { size: 1 << 20 });
  await createImage(top, { backing: 'base.qcow2' });
  const r1 = await openDisk(base, { readOnly: true });
  const r2 = await openDisk(base, { readOnly: true });
  await refusedWith(openDisk(base, { readOnly: false }), /base\.qcow2: is already open read-only in this VM \(a :ro disk or a backing file\), so it cannot also be written/);
  await r1.close();
  await r2.close();
  const overlay = await openDisk(top, { readOnly: false });
  const shared = await openDisk(base, { readOnly: true });
  await refusedWith(openDisk(base, { readOnly: false }), /is already open read-only in this VM/);
  await overlay.close();
  await shared.close();
  const w = await openDisk(base, { readOnly: false });
  await refusedWith(openDisk(top, { readOnly: false }), /top\.qcow2: in its backing chain: .*base\.qcow2: is already open for writing in this VM/);
  await w.close();
  assert.deepEqual(readdirSync(join(dir, 'locks')), [], 'every lock released');
});

test('forceShare reads an image that is open for writing, without a lock', async (t) => {
  const dir = setup(t);
  const file = join(dir, 'a.raw');
  await createImage(file, { size: 1 << 20, format: 'raw' });
  const w = await openDisk(file, { readOnly: false });
  const r = await openDisk(file, { readOnly: true, forceShare: true });
  await r.close();
  const info = await imageInfo(file);
  assert.equal(info.format, 'raw');
  await w.close();
});

/**
 * A second process holding an image: prints "open" once it is open; "close" closes it and exits, "exit"
 * exits without closing it, "kill" SIGKILLs itself.
 */
function holder(file: string, mode: 'rw' | 'ro', env: NodeJS.ProcessEnv): Promise<ChildProcessWithoutNullStreams> {
  const code = `
const { openDisk } = await import(${JSON.stringify(backendUrl)});
const d = await openDisk(process.argv[1], { readOnly: process.argv[2] === 'ro' });
process.stdout.write('open\\n');
process.stdin.on('data', async (b) => {
  if (String(b).includes('kill')) process.kill(process.pid, 'SIGKILL');
  if (String(b).includes('exit')) process.exit(0);
  await d.close();
  process.exit(0);
});`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code, file, mode], { env, stdio: 'pipe' });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (b: Buffer) => { err += String(b); });
    child.stdout.once('data', () => resolve(child));
    child.once('exit', (status) => reject(new Error(`holder exited (${status}): ${err}`)));
  });
}

function ended(child: ChildProcessWithoutNullStreams, say: 'close' | 'exit' | 'kill'): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.stdin.write(`${say}\n`);
  });
}

test('across processes: a writer excludes everyone, readers share, and the lock goes with the process', async (t) => {
  const dir = setup(t);
  const env = { ...process.env };
  const file = join(dir, 'a.qcow2');
  await createImage(file, { size: 1 << 20 });

  const w = await holder(file, 'rw', env);
  await refusedWith(openDisk(file, { readOnly: false }), new RegExp(`a\\.qcow2: is open for writing by pid ${w.pid} \\(node\\); is another VM using it\\?`));
  await refusedWith(openDisk(file, { readOnly: true }), /is open for writing by pid \d+/);
  assert.equal((await imageInfo(file)).format, 'qcow2', 'info reads an image in use');
  await ended(w, 'close');
  const mine = await openDisk(file, { readOnly: false });
  await mine.close();

  const r = await holder(file, 'ro', env);
  const alsoReading = await openDisk(file, { readOnly: true });
  await alsoReading.close();
  await refusedWith(openDisk(file, { readOnly: false }), new RegExp(`is open read-only by pid ${r.pid} \\(node\\) .*so it cannot be written; is another VM using it\\?`));
  await ended(r, 'close');
  assert.deepEqual(readdirSync(join(dir, 'locks')), []);

  const e = await holder(file, 'rw', env);
  await ended(e, 'exit');
  assert.deepEqual(readdirSync(join(dir, 'locks')), [], 'a process that exits without closing leaves no lock');
});

test('a lock left by a killed process (dead pid) or by a pid now reused is stale and ignored', async (t) => {
  const dir = setup(t);
  const file = join(dir, 'a.qcow2');
  await createImage(file, { size: 1 << 20 });
  const w = await holder(file, 'rw', { ...process.env });
  await ended(w, 'kill');
  assert.equal(readdirSync(join(dir, 'locks')).length, 1, 'SIGKILL left the lock file behind');
  const d = await openDisk(file, { readOnly: false });
  assert.equal(readdirSync(join(dir, 'locks')).length, 1, 'the stale one was removed, ours is there');
  await d.close();

  // Stale files of other images go too, whenever the folder is read.
  const other = join(dir, 'b.qcow2');
  await createImage(other, { size: 1 << 20 });
  const k = await holder(other, 'rw', { ...process.env });
  await ended(k, 'kill');
  assert.equal(readdirSync(join(dir, 'locks')).length, 1);
  await (await openDisk(file, { readOnly: true })).close();
  assert.deepEqual(readdirSync(join(dir, 'locks')), []);

  // A live pid (our parent) that started at another time than the lock says: the pid was reused.
  const probe = await openDisk(file, { readOnly: true });
  const name = readdirSync(join(dir, 'locks'))[0];
  await probe.close();
  const fake = join(dir, 'locks', name.replace(/\.r\.\d+\./, `.w.${process.ppid}.`));
  writeFileSync(fake, JSON.stringify({ pid: process.ppid, start: 1, path: file }));
  const d2 = await openDisk(file, { readOnly: false });
  await d2.close();
  // Without a start time (another system's lock file, say) a live pid is taken at its word.
  writeFileSync(fake, JSON.stringify({ pid: process.ppid, path: file }));
  await refusedWith(openDisk(file, { readOnly: false }), new RegExp(`is open for writing by pid ${process.ppid}`));
});

/** qemu-io holding an image open until its stdin closes. */
function qemuHolder(file: string, args: string[]): Promise<ChildProcessWithoutNullStreams> {
  const child = spawn('qemu-io', [...args, '-f', 'qcow2', file], { stdio: 'pipe' });
  return new Promise((resolve, reject) => {
    // qemu-io prints its prompt once the image is open (and its locks taken).
    child.stdout.once('data', () => resolve(child));
    child.once('exit', (s) => reject(new Error(`qemu-io exited ${s}`)));
  });
}

test('an image QEMU has open is refused as QEMU itself would refuse it (its OFD locks, from /proc/locks)', { skip: haveQemu ? (process.platform === 'linux' ? false : 'Linux only (/proc/locks)') : QEMU_SKIP }, async (t) => {
  const dir = setup(t);
  const file = join(dir, 'a.qcow2');
  await createImage(file, { size: 1 << 20 });
  const w = await qemuHolder(file, []);
  t.after(() => { w.kill(); });
  await refusedWith(openDisk(file, { readOnly: false }), new RegExp(`a\\.qcow2: pid ${w.pid} \\(qemu-io\\) has it open for writing; is another VM using it\\?`));
  await refusedWith(openDisk(file, { readOnly: true }), /has it open for writing/);
  w.stdin.end();
  await new Promise((r) => w.once('exit', r));

  const r = await qemuHolder(file, ['-r']);
  t.after(() => { r.kill(); });
  const reading = await openDisk(file, { readOnly: true });
  await reading.close();
  await refusedWith(openDisk(file, { readOnly: false }), /\(qemu-io\) has it open and lets nobody else write it; is another VM using it\?/);
  r.stdin.end();
  await new Promise((res) => r.once('exit', res));
  const d = await openDisk(file, { readOnly: false });
  await d.close();
});

test('a disk qemu-system-riscv64 is running is refused', { skip: hasTool('qemu-system-riscv64') ? false : 'qemu-system-riscv64 not installed (apt-get install qemu-system-misc)' }, async (t) => {
  const dir = setup(t);
  const file = join(dir, 'a.qcow2');
  await createImage(file, { size: 1 << 20 });
  const q = spawn('qemu-system-riscv64', ['-M', 'virt', '-S', '-display', 'none', '-monitor', 'stdio', '-serial', 'none',
    '-drive', `file=${file},format=qcow2,if=none,id=d0`], { stdio: 'pipe' });
  t.after(() => { q.kill('SIGKILL'); });
  await new Promise<void>((resolve, reject) => {
    q.stdout.once('data', () => resolve());
    q.once('exit', (s) => reject(new Error(`qemu-system-riscv64 exited ${s}`)));
  });
  await refusedWith(openDisk(file, { readOnly: false }), /\(qemu-system-ris[^)]*\) has it open for writing; is another VM using it\?/);
  q.stdin.write('quit\n');
  await new Promise((r) => q.once('exit', r));
  const d = await openDisk(file, { readOnly: false });
  await d.close();
});

test('of writers that start at the same moment in different processes, at most one gets the image', async (t) => {
  const dir = setup(t);
  const file = join(dir, 'a.qcow2');
  await createImage(file, { size: 1 << 20 });
  const code = `
const { openDisk } = await import(${JSON.stringify(backendUrl)});
try {
  const d = await openDisk(process.argv[1], { readOnly: false });
  process.stdout.write('got it\\n');
  setTimeout(() => d.close().then(() => process.exit(0)), 1500);
} catch (e) {
  process.stdout.write('refused: ' + e.message + '\\n');
}`;
  for (let round = 0; round < 3; round++) {
    const outs = await Promise.all(Array.from({ length: 4 }, () => new Promise<string>((resolve) => {
      const c = spawn(process.execPath, ['--input-type=module', '-e', code, file], { env: { ...process.env }, stdio: 'pipe' });
      let out = '';
      c.stdout.on('data', (b: Buffer) => { out += String(b); });
      c.once('exit', () => resolve(out));
    })));
    const winners = outs.filter((o) => o.startsWith('got it')).length;
    assert.ok(winners <= 1, `round ${round}: ${winners} writers at once: ${outs.join(' | ')}`);
    for (const o of outs) if (!o.startsWith('got it')) assert.match(o, /^refused: .*is open for writing by pid \d+ .*is another VM using it\?\n$/);
  }
});

test('locks of other programs count too: flock -s is a reader, flock -x excludes everyone', { skip: process.platform === 'linux' && spawnSync('flock', ['--version']).status === 0 ? false : 'needs Linux and flock(1)' }, async (t) => {
  const dir = setup(t);
  const file = join(dir, 'a.raw');
  await createImage(file, { size: 1 << 20, format: 'raw' });
  for (const [flag, readers] of [['-s', true], ['-x', false]] as const) {
    const f = spawn('flock', [flag, file, 'sh', '-c', 'echo locked; read x'], { stdio: 'pipe' });
    await new Promise<void>((resolve) => f.stdout.once('data', () => resolve()));
    await refusedWith(openDisk(file, { readOnly: false }), new RegExp(`pid \\d+ \\((flock|sh)\\) holds an? (shared|exclusive) lock on it; is another VM using it\\?`));
    if (readers) await (await openDisk(file, { readOnly: true })).close();
    else await refusedWith(openDisk(file, { readOnly: true }), /holds an exclusive lock on it/);
    f.stdin.end('\n');
    await new Promise((r) => f.once('exit', r));
  }
  const d = await openDisk(file, { readOnly: false });
  await d.close();
});
