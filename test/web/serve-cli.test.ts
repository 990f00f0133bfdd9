/** `bonsai serve`'s own bad input: where it may listen, and a port that is taken. */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { cliStore } from '../e2e/cli-store.js';
import { isLoopback } from '../../src/cli/serve.js';

const { bonsai } = cliStore('bonsai-serve-cli-');

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
