/**
 * The control protocol driven directly over its Unix socket: greeting, requests and replies, errors for
 * bad input, events, and the console upgrade.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ControlClient, ControlError } from '../../src/vm/control/client.js';
import { MAX_LINE, PROTOCOL_VERSION, type JsonObject } from '../../src/vm/control/protocol.js';
import { ControlServer, type Handler } from '../../src/vm/control/server.js';
import { CommandError } from '../../src/vm/control/protocol.js';

async function withServer(fn: (path: string, server: ControlServer, typed: Buffer[]) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-ctl-'));
  const path = join(dir, 'control.sock');
  const typed: Buffer[] = [];
  const handlers = new Map<string, Handler>([
    ['echo', (args: JsonObject) => args],
    ['slow', async () => { await new Promise((r) => setTimeout(r, 50)); return 'slow'; }],
    ['busy', () => { throw new CommandError('WrongState', 'not now'); }],
    ['broken', () => { throw new Error('boom'); }],
  ]);
  const server = new ControlServer('vm1', handlers, { input: (b) => typed.push(Buffer.from(b)) });
  await server.listen(path);
  try {
    await fn(path, server, typed);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A raw connection: what the server sends, line by line. */
function raw(path: string): { lines: () => Promise<string[]>; send: (s: string | Buffer) => void; close: () => void; data: () => string } {
  const sock = connect(path);
  sock.on('error', () => {}); // the server may close on us (the oversized-line test)
  let text = '';
  sock.on('data', (b: Buffer) => { text += b.toString('latin1'); });
  return {
    send: (s) => { sock.write(s); },
    lines: async () => { await new Promise((r) => setTimeout(r, 100)); return text.split('\n').filter((l) => l !== ''); },
    close: () => sock.destroy(),
    data: () => text,
  };
}

test('a client is greeted with the protocol version, the VM name and the pid', async () => {
  await withServer(async (path) => {
    const c = await ControlClient.connect(path, 'vm1');
    assert.deepEqual(c.greeting, { protocol: PROTOCOL_VERSION, vm: 'vm1', pid: process.pid });
    c.close();
  });
});

test('requests are answered by id, in whatever order they finish', async () => {
  await withServer(async (path) => {
    const c = await ControlClient.connect(path, 'vm1');
    const [a, b] = await Promise.all([c.request('slow'), c.request('echo', { x: 1 })]);
    assert.equal(a, 'slow');
    assert.deepEqual(b, { x: 1 });
    await assert.rejects(c.request('busy'), (e: unknown) => e instanceof ControlError && e.errorClass === 'WrongState' && e.message === 'not now');
    await assert.rejects(c.request('nope'), (e: unknown) => e instanceof ControlError && e.errorClass === 'CommandNotFound');
    await assert.rejects(c.request('broken'), (e: unknown) => e instanceof ControlError && /boom/.test(e.message));
    c.close();
  });
});

test('bad input gets an error reply and the connection keeps working', async () => {
  await withServer(async (path) => {
    const r = raw(path);
    r.send('not json\n');
    r.send('[1,2]\n');
    r.send('{"execute":"echo"}\n');
    r.send('{"id":7}\n');
    r.send('{"id":8,"execute":"echo","arguments":[1]}\n');
    r.send('\n');
    r.send('{"id":9,"execute":"echo","arguments":{"ok":true}}\n');
    const lines = (await r.lines()).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok('bonsai' in lines[0]);
    const errors = lines.slice(1, 6).map((l) => (l.error as { class: string }).class);
    assert.deepEqual(errors, ['BadRequest', 'BadRequest', 'BadRequest', 'BadRequest', 'BadRequest']);
    assert.deepEqual(lines[6], { id: 9, return: { ok: true } });
    r.close();
  });
});

test('a line longer than the bound closes that connection only', async () => {
  await withServer(async (path) => {
    const big = raw(path);
    const chunk = Buffer.alloc(1 << 20, 0x61);
    for (let n = 0; n <= MAX_LINE; n += chunk.length) big.send(chunk);
    for (let i = 0; i < 200 && !/line too long/.test(big.data()); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(big.data(), /line too long/);
    const c = await ControlClient.connect(path, 'vm1');
    assert.deepEqual(await c.request('echo', { a: 1 }), { a: 1 });
    c.close();
    big.close();
  });
});

test('events reach every protocol client', async () => {
  await withServer(async (path, server) => {
    const c1 = await ControlClient.connect(path, 'vm1');
    const c2 = await ControlClient.connect(path, 'vm1');
    const got: string[] = [];
    c1.onEvent = (e) => got.push(`1:${e.event}:${String(e.data.state)}`);
    c2.onEvent = (e) => got.push(`2:${e.event}:${String(e.data.state)}`);
    await c1.request('echo', {});
    await c2.request('echo', {});
    server.emit('STATE', { state: 'paused' });
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(got.sort(), ['1:STATE:paused', '2:STATE:paused']);
    c1.close();
    c2.close();
  });
});

test('console turns the connection into raw bytes both ways, bytes sent with the request included', async () => {
  await withServer(async (path, server, typed) => {
    const r = raw(path);
    r.send('{"id":1,"execute":"console"}\nls\n');
    await r.lines();
    server.consoleOutput(new TextEncoder().encode('# prompt'));
    server.emit('STATE', { state: 'x' }); // not for raw consoles
    await new Promise((res) => setTimeout(res, 50));
    assert.equal(Buffer.concat(typed).toString(), 'ls\n');
    assert.match(r.data(), /\{"id":1,"return":\{\}\}\n# prompt$/);
    r.close();

    const c = await ControlClient.connect(path, 'vm1');
    let shown = '';
    const con = await c.console((b) => { shown += b.toString(); });
    con.write(new TextEncoder().encode('x'));
    server.consoleOutput(new TextEncoder().encode('output'));
    await new Promise((res) => setTimeout(res, 50));
    assert.equal(shown, 'output');
    assert.equal(Buffer.concat(typed).toString(), 'ls\nx');
    assert.equal(server.consoleCount, 1);
    c.close();
  });
});

test('connecting where no VMM listens is a one-line error naming the VM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-ctl-'));
  await assert.rejects(ControlClient.connect(join(dir, 'control.sock'), 'gone'), /VM 'gone': it is not running/);
  rmSync(dir, { recursive: true, force: true });
});
