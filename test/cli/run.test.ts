/**
 * The bonsai command as a user runs it: a child process, its exit status and what it prints.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoPath } from '../helpers.js';

const BIN = repoPath('bin', 'bonsai.js');

test('bad network options get one line on stderr and exit status 1, before any machine starts', () => {
  for (const [args, message] of [
    [['--forward', 'tcp:22'], /^bonsai: --forward tcp:22: expected tcp:\[HOSTADDR:\]HOSTPORT-:GUESTPORT/],
    [['--net', 'none', '--forward', 'tcp:2222-:22'], /^bonsai: --forward needs the user-mode network/],
    [['--net', 'bridge'], /^bonsai: --net bridge: use 'user'/],
    [['--switch', 'a/b'], /^bonsai: switch name 'a\/b' is not/],
    [['--tftp', '/nonexistent-bonsai'], /^bonsai: --tftp \/nonexistent-bonsai: no such directory/],
    [['--ssh-key', '/etc/hostname'], /^bonsai: --ssh-key \/etc\/hostname: /],
    [['--name', '-x'], /^bonsai: --name -x: /],
    [['--net', 'tap:bonsai-none0'], /^bonsai: --net tap:bonsai-none0: no such network interface/],
    [['--forward', 'tcp:-1-:22'], /^bonsai: --forward tcp:-1-:22: '-1' is not a port \(1-65535\)$/m],
    [['--share', ':tag'], /^bonsai: --share :tag: no host directory named/],
    [['--share', '/etc/hostname:tag'], /^bonsai: --share \/etc\/hostname:tag: \/etc\/hostname: is a regular file, not a directory$/m],
    [['--disk', 'x.qcow2:bogus'], /^bonsai: --disk x\.qcow2:bogus: unknown option 'bogus' \(use :ro, :raw, :qcow2\)$/m],
    [['--engine', 'tcg'], /^bonsai: --engine tcg: use 'interp' or 'jit'$/m],
  ] as const) {
    const r = spawnSync(process.execPath, [BIN, 'run', ...args], { encoding: 'utf8', input: '' });
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(r.stdout, '');
  }
});

test('bonsai run --engine jit --stats runs a program through compiled blocks and says what the JIT did', () => {
  const r = spawnSync(process.execPath, [BIN, 'run', '--bios', 'none', '--kernel', repoPath('test', 'isa', 'bench-program', 'bench.elf'),
    '-m', '64M', '--engine', 'jit', '--stats'], { encoding: 'utf8', input: '', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const m = /bonsai: jit: (\d+) blocks compiled in \d+ ms .* (\d+) instructions \(([\d.]+) %\)/.exec(r.stderr);
  assert.ok(m !== null, r.stderr);
  assert.ok(Number(m[1]) > 0 && Number(m[3]) > 50, r.stderr);
});

test('a crafted key file cannot send escape sequences to the terminal through the error that quotes it', () => {
  const key = join(mkdtempSync(join(tmpdir(), 'bonsai-evil-')), 'evil.pub');
  writeFileSync(key, '\x1b]0;pwned\x07\x1b[2J\u009b2J ssh-ed25519\n');
  const r = spawnSync(process.execPath, [BIN, 'run', '--ssh-key', key], { encoding: 'utf8', input: '' });
  assert.equal(r.status, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/, 'no control character but the final newline');
  assert.match(r.stderr, /^bonsai: --ssh-key .*evil\.pub: '\\x1b\]0;pwned\\x07\\x1b\[2J\\x9b2J ssh-ed25519' is not an OpenSSH public key line\n$/);
});

test('-m is checked when it is parsed, in words, and --help shows its default as a size', () => {
  for (const m of ['100000000000000000000000', '9G', '4G', '512K', '1000001']) {
    const r = spawnSync(process.execPath, [BIN, 'run', '-m', m], { encoding: 'utf8', input: '' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /guest RAM is 1 MiB to 4 GiB - 64 KiB, a multiple of 4 KiB\n$/);
    assert.doesNotMatch(r.stderr, /e\+\d/);
  }
  const help = spawnSync(process.execPath, [BIN, 'run', '--help'], { encoding: 'utf8' });
  assert.match(help.stdout, /-m, --memory <SIZE> +guest RAM \(e\.g\. 256M, 1G\) \(default: 256M\)/);
  assert.doesNotMatch(help.stdout, /268435456/);
});

test('bonsai run names the guest with --name, networks it by default and reports the network with --stats', async () => {
  const p = spawn(process.execPath, [BIN, 'run', '--name', 'clivm', '--ssh-key', 'none', '--stats'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '', err = '';
  p.stderr.on('data', (b: Buffer) => { err += b.toString(); });
  const prompt = new Promise<void>((resolve) => p.stdout.on('data', (b: Buffer) => {
    out += b.toString('latin1');
    if (/clivm:\/root# /.test(out)) resolve();
  }));
  await prompt;
  p.stdin.write('ip -4 -o addr show eth0; poweroff\n');
  const status = await new Promise<number | null>((resolve) => p.on('close', resolve));
  assert.equal(status, 0, err);
  assert.match(out, /eth0\s+inet 10\.0\.2\.15\/24/);
  assert.match(err, /^bonsai: net user: .*dhcp-requests=\d/m);
});
