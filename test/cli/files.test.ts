/**
 * Every option that names a file, given files of every kind: the real CLI must refuse each wrong one with one
 * line and exit status 1 at once (never read /dev/zero without end, never wait on a FIFO, never an internal
 * error), and signals must end `bonsai run` at any stage.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { after, test } from 'node:test';
import { repoPath } from '../helpers.js';

const BIN = repoPath('bin', 'bonsai.js');
/** Long enough for a loaded machine to start Node and fail; a read without end or a wait on a FIFO takes longer. */
const QUICK_MS = 15_000;

interface Outcome { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }

function bonsai(args: string[], opts: { timeoutMs?: number; onSpawn?: (pid: number) => void } = {}): Promise<Outcome> {
  const start = performance.now();
  const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  p.stdout.on('data', (b: Buffer) => { stdout += b.toString('latin1'); });
  p.stderr.on('data', (b: Buffer) => { stderr += b.toString('latin1'); });
  const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? QUICK_MS);
  if (p.pid !== undefined) opts.onSpawn?.(p.pid);
  return new Promise((resolve) => p.on('close', (status, signal) => {
    clearTimeout(timer);
    resolve({ status, signal, stdout, stderr, ms: performance.now() - start });
  }));
}

// One listening Unix socket serves every case (nothing may create or remove it).
const socketPath = join(mkdtempSync(join(tmpdir(), 'bonsai-sock-')), 'sock');
const socketServer = createServer().listen(socketPath);
after(() => { socketServer.close(); });

function kinds(): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-kinds-'));
  const fifo = join(dir, 'fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  const unreadable = join(dir, 'unreadable');
  writeFileSync(unreadable, 'secret');
  chmodSync(unreadable, 0);
  mkdirSync(join(dir, 'dir'));
  return {
    missing: join(dir, 'missing'), directory: join(dir, 'dir'), FIFO: fifo, '/dev/zero': '/dev/zero', '/dev/null': '/dev/null',
    socket: socketPath, unreadable, 'a file in a missing directory': join(dir, 'no-such-dir', 'file'),
  };
}

/** A small raw image, for the commands that need one good file beside the one under test. */
function goodImage(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'bonsai-good-')), 'good.raw');
  writeFileSync(file, new Uint8Array(1 << 20));
  return file;
}

// The run options are given --net none, --ssh-key none and --dump-dtb /dev/null beside the one under test,
// so that a case that wrongly succeeds ends at once instead of booting the guest.
const RUN = ['run', '--net', 'none'];
const QUIET = ['--ssh-key', 'none', '--dump-dtb', '/dev/null'];

interface FileOption {
  name: string;
  args(path: string, fresh: string): string[];
  /** The kinds this option accepts: their runs must succeed (status 0). */
  ok?: string[];
}

const KINDS = Object.keys(kinds());

const good = goodImage();
const OPTIONS: FileOption[] = [
  { name: '--kernel', args: (p) => [...RUN, ...QUIET, '--kernel', p] },
  { name: '--initrd', args: (p) => [...RUN, ...QUIET, '--initrd', p] },
  { name: '--bios', args: (p) => [...RUN, ...QUIET, '--bios', p] },
  { name: '--ssh-key', args: (p) => [...RUN, '--dump-dtb', '/dev/null', '--ssh-key', p] },
  { name: '--dump-dtb', args: (p) => [...RUN, '--ssh-key', 'none', '--dump-dtb', p], ok: ['missing', '/dev/zero', '/dev/null'] },
  { name: '--share', args: (p) => [...RUN, ...QUIET, '--share', `${p}:tag`], ok: ['directory'] },
  { name: '--tftp', args: (p) => ['run', '--net', 'user,restrict', ...QUIET, '--tftp', p], ok: ['directory'] },
  { name: '--disk', args: (p) => [...RUN, ...QUIET, '--disk', p] },
  { name: 'image info', args: (p) => ['image', 'info', p] },
  { name: 'image create', args: (p) => ['image', 'create', p, '1M'], ok: ['missing'] },
  { name: 'image create --backing', args: (p, fresh) => ['image', 'create', fresh, '--backing', p] },
  { name: 'image convert SRC', args: (p, fresh) => ['image', 'convert', p, fresh] },
  { name: 'image convert DST', args: (p) => ['image', 'convert', good, p], ok: ['missing'] },
  { name: 'image resize', args: (p) => ['image', 'resize', p, '2M'] },
];

test('every file-taking option refuses each wrong kind of file with one line and status 1, at once', { concurrency: 4 }, async (t) => {
  const root = process.getuid?.() === 0;
  const cases: Promise<void>[] = [];
  for (const option of OPTIONS) {
    for (const kind of KINDS) {
      const skip = kind === 'unreadable' && root ? 'root reads any file' : undefined;
      const expectOk = option.ok?.includes(kind) === true;
      const fresh = join(mkdtempSync(join(tmpdir(), 'bonsai-fresh-')), 'new.img');
      const path = kinds()[kind];
      const label = `${option.name} ${kind}: ${expectOk ? 'accepted' : 'refused with one line'}`;
      cases.push(t.test(label, { skip }, async () => {
        const r = await bonsai(option.args(path, fresh));
        const what = `bonsai ${option.args(path, fresh).join(' ')} → ${r.status ?? r.signal} after ${Math.round(r.ms)} ms: ${JSON.stringify(r.stderr)}`;
        assert.notEqual(r.signal, 'SIGKILL', `did not end within ${QUICK_MS} ms: ${what}`);
        assert.doesNotMatch(r.stderr, /internal error/, what);
        if (expectOk) {
          assert.equal(r.status, 0, what);
          return;
        }
        assert.equal(r.status, 1, what);
        assert.match(r.stderr, /^bonsai: [^\n]*\n$/, `one line starting 'bonsai: ': ${what}`);
        assert.doesNotMatch(r.stderr, /\bE[A-Z]{3,}\b/, `no raw Node error code: ${what}`);
      }));
    }
  }
  await Promise.all(cases);
});

test('a FIFO as --kernel or --initrd is refused at once, with or without a writer, and nothing waits on it', async () => {
  const fifo = kinds().FIFO;
  // A writer that holds the FIFO open and never writes: the old read waited for it forever.
  const writer = spawn('sh', ['-c', `exec 3>"${fifo}"; sleep 30`], { stdio: 'ignore' });
  try {
    for (const option of ['--kernel', '--initrd']) {
      const r = await bonsai([...RUN, ...QUIET, option, fifo]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /^bonsai: .*fifo: cannot read the (kernel|initrd): is a FIFO, not a regular file\n$/);
    }
  } finally {
    writer.kill();
  }
});

test('SIGTERM, SIGINT and SIGHUP end a running machine with status 128+N', async () => {
  const program = repoPath('test', 'isa', 'hang', 'illegal-livelock.elf'); // loops until it is stopped
  assert.ok(existsSync(program), program);
  await Promise.all(([['SIGTERM', 15], ['SIGINT', 2], ['SIGHUP', 1]] as const).map(async ([signal, n]) => {
    let pid = 0;
    const run = bonsai(['run', '--net', 'none', '--bios', 'none', '--kernel', program], { timeoutMs: 30_000, onSpawn: (p) => { pid = p; } });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const sent = performance.now();
    process.kill(pid, signal);
    const r = await run;
    assert.equal(r.status, 128 + n, `${signal}: ${r.status ?? r.signal} ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`bonsai: ${signal}: stopping the machine`));
    assert.ok(performance.now() - sent < 6000, `${signal} took ${Math.round(performance.now() - sent)} ms`);
  }));
});

test('SIGTERM right after the start ends bonsai run, whatever stage it meets', async () => {
  // Sent as soon as the process starts: while Node loads, while options and files are read, or while the
  // networks open (the stages are too short to aim at one); whichever it meets, the process ends.
  const r = await bonsai(['run', '--net', 'user', '--ssh-key', 'none'], { timeoutMs: 20_000, onSpawn: (pid) => setTimeout(() => process.kill(pid, 'SIGTERM'), 150) });
  assert.ok(r.status === 143 || r.signal === 'SIGTERM', `${r.status ?? r.signal} ${r.stderr}`);
});

test('SIGTERM during a run on a terminal puts the terminal back as it was (util-linux script gives a pty)', async (t) => {
  if (spawnSync('script', ['--version']).error !== undefined) { t.skip('script (util-linux) is not installed'); return; }
  const program = repoPath('test', 'isa', 'hang', 'illegal-livelock.elf');
  // In the pty: bonsai runs with the terminal as stdin (raw mode), stty reports the mode during the run and
  // after SIGTERM ended it. A background job's stdin must be named, or sh gives it /dev/null.
  const inner = `"${process.execPath}" "${BIN}" run --net none --bios none --kernel "${program}" </dev/tty & pid=$!; sleep 2; ` +
    'echo "during: $(stty -a </dev/tty | grep -o -- "-\\?icanon")"; kill -TERM $pid; wait $pid; echo "status: $?"; ' +
    'echo "after: $(stty -a </dev/tty | grep -o -- "-\\?icanon")"';
  const r = spawnSync('script', ['-qec', inner, '/dev/null'], { encoding: 'utf8', input: '', timeout: 30_000 });
  assert.match(r.stdout, /during: -icanon/, r.stdout);
  assert.match(r.stdout, /status: 143/, r.stdout);
  assert.match(r.stdout, /after: icanon/, r.stdout);
});
