/**
 * The files a run reads whole and the one it writes: only regular files (and, to write, devices and read
 * FIFOs), never a wait on a FIFO, a bound on the size, and one line naming the file and the reason.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BonsaiError } from '../../src/errors.js';
import { directoryProblem, OutputFile, readGuestFile, readSmallFileSync } from '../../src/vm/files.js';

function scratch(): { dir: string; fifo: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-files-'));
  const fifo = join(dir, 'fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  const file = join(dir, 'file');
  writeFileSync(file, 'hello');
  mkdirSync(join(dir, 'sub'));
  return { dir, fifo, file };
}

test('readGuestFile reads a regular file and refuses every other kind at once, with one line', async () => {
  const { dir, fifo, file } = scratch();
  assert.equal(Buffer.from(await readGuestFile(file, 'the kernel')).toString(), 'hello');
  for (const [path, why] of [
    [join(dir, 'missing'), 'no such file'], [join(dir, 'nodir', 'x'), 'no such file'], [join(file, 'x'), 'a part of the path is not a directory'],
    [join(dir, 'sub'), 'is a directory'], [fifo, 'is a FIFO, not a regular file'],
    ['/dev/zero', 'is a character device, not a regular file'], ['/dev/null', 'is a character device, not a regular file'],
  ] as const) {
    await assert.rejects(readGuestFile(path, 'the kernel'), (e: Error) => e instanceof BonsaiError && e.message === `${path}: cannot read the kernel: ${why}`, path);
  }
});

test('readGuestFile refuses a file over its bound before reading it', async () => {
  const { file } = scratch();
  await assert.rejects(readGuestFile(file, 'the initrd', 4), /: cannot read the initrd: is 5 bytes, more than the 4 bytes allowed$/);
  assert.equal((await readGuestFile(file, 'the initrd', 5)).length, 5);
});

test('readSmallFileSync words its errors through the caller', () => {
  const { fifo, file } = scratch();
  const fail = (why: string): BonsaiError => new BonsaiError(`--opt: ${why}`);
  assert.equal(readSmallFileSync(file, 100, fail).length, 5);
  assert.throws(() => readSmallFileSync(fifo, 100, fail), /^BonsaiError: --opt: is a FIFO, not a regular file$/);
  assert.throws(() => readSmallFileSync(file, 2, fail), /^BonsaiError: --opt: is 5 bytes, more than the 2 bytes allowed$/);
});

test('directoryProblem names the kind of what is not a directory', () => {
  const { dir, fifo, file } = scratch();
  assert.equal(directoryProblem(dir), null);
  assert.equal(directoryProblem(join(dir, 'missing')), 'no such directory');
  assert.equal(directoryProblem(file), 'is a regular file, not a directory');
  assert.equal(directoryProblem(fifo), 'is a FIFO, not a directory');
  assert.equal(directoryProblem('/dev/null'), 'is a character device, not a directory');
});

test('an OutputFile writes a regular file (replacing it) or a device, and refuses a directory, a missing folder or an unread FIFO', async () => {
  const { dir, fifo, file } = scratch();
  const out = await OutputFile.open(file, '--dump-dtb');
  await out.write(Uint8Array.of(1, 2));
  assert.deepEqual([...readFileSync(file)], [1, 2]);
  await (await OutputFile.open('/dev/null', '--dump-dtb')).write(Uint8Array.of(1));
  await assert.rejects(OutputFile.open(join(dir, 'sub'), '--dump-dtb'), /^BonsaiError: --dump-dtb .*\/sub: cannot write: is a directory$/);
  await assert.rejects(OutputFile.open(join(dir, 'nodir', 'x'), '--dump-dtb'), /cannot write: no such directory: .*\/nodir$/);
  await assert.rejects(OutputFile.open(fifo, '--dump-dtb'), /cannot write: is a FIFO with no reader$/);
  const created = join(dir, 'new');
  await (await OutputFile.open(created, '--dump-dtb')).abandon();
  assert.equal(existsSync(created), false, 'a file it created and never wrote is removed');
  await (await OutputFile.open(file, '--dump-dtb')).abandon();
  assert.equal(existsSync(file), true, 'a file that was there stays');
});

test('a Unix socket is named as one, to read and to write', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-sock-'));
  const path = join(dir, 'sock');
  const server = createServer().listen(path);
  await once(server, 'listening');
  try {
    await assert.rejects(readGuestFile(path, 'the kernel'), /: cannot read the kernel: is a socket, not a regular file$/);
    await assert.rejects(OutputFile.open(path, '--dump-dtb'), /: cannot write: is a socket, not a regular file$/);
  } finally {
    server.close();
  }
});
