/** `bonsai serve`'s own bad input: where it may listen, and a port that is taken. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { BIN, cliStore } from '../e2e/cli-store.js';
import { isLoopback } from '../../src/cli/serve.js';

const { home, bonsai } = cliStore('bonsai-serve-cli-');

test('loopback addresses are told apart from the others', () => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.equal(isLoopback(a), true, a);
  for (const a of ['0.0.0.0', '192.168.1.2', '::', '10.0.0.1', '127.0.0.1.example.com']) assert.equal(isLoopback(a), false, a);
});

test('bonsai serve refuses a non-loopback address without --allow-remote, a malformed one, and a taken port', async () => {
  const remote = await bonsai(['serve', '--listen', '0.0.0.0:0']);
  assert.equal(remote.status, 1);
  assert.match(remote.stderr, /^bonsai: --listen 0\.0\.0\.0:0: not a loopback address; .*--allow-remote/);
  const bad = await bonsai(['serve', '--listen', 'here:port']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^bonsai: --listen here:port: expected \[ADDR:\]PORT\n$/);
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  const port = (taken.address() as { port: number }).port;
  try {
    const busy = await bonsai(['serve', '--listen', `127.0.0.1:${port}`]);
    assert.equal(busy.status, 1);
    assert.equal(busy.stderr, `bonsai: cannot listen on 127.0.0.1:${port}: the port is in use\n`);
  } finally {
    taken.close();
  }
});

test('with --allow-remote it listens on every address and warns that the token is all that guards the VMs', async () => {
  const p = spawn(process.execPath, [BIN, 'serve', '--listen', '0.0.0.0:0', '--allow-remote'], { env: { ...process.env, BONSAI_HOME: home } });
  let out = '', err = '';
  p.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  p.stderr.on('data', (b: Buffer) => { err += b.toString(); });
  try {
    const deadline = Date.now() + 20_000;
    while (!out.includes('token=') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.match(err, /^bonsai: warning: listening on 0\.0\.0\.0, reachable from other hosts over plain HTTP: the token is all that guards the VMs\n$/);
    const m = /open http:\/\/127\.0\.0\.1:(\d+)\/\?token=([0-9a-f]{64})\n/.exec(out);
    assert.ok(m !== null, out);
    const r = await fetch(`http://127.0.0.1:${m[1]}/api/vms`, { headers: { Authorization: `Bearer ${m[2]}` } });
    assert.equal(r.status, 200);
  } finally {
    p.kill('SIGTERM');
  }
  const code = await new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
  assert.equal(code, 0, 'SIGTERM ends it cleanly');
});
