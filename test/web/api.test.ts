/**
 * The HTTP API of `bonsai serve`, end to end: the real command over a throwaway store and a real VM (the
 * bundled guest). Every endpoint, with bad input (unknown VM, invalid body, wrong state, missing token)
 * answered with the right status and a one-line message; every answer checked against the OpenAPI document
 * the server serves, and the document's operations against the routes the server has.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { routes } from '../../src/web/api.js';
import { cliStore } from '../e2e/cli-store.js';
import { check } from './schema.js';
import { serve, type Served } from './serve.js';

const { home, ok, bonsai } = cliStore('bonsai-web-');

type Obj = Record<string, unknown>;
type Doc = Obj & { paths: Record<string, Record<string, { responses: Record<string, Obj> }>> };

/** Follows a local $ref (#/a/b) in the document. */
function deref(doc: Doc, o: Obj): Obj {
  if (typeof o.$ref !== 'string') return o;
  return o.$ref.replace(/^#\//, '').split('/').reduce<unknown>((x, k) => (x as Obj)[k], doc) as Obj;
}

/** Asserts the answer's status, that the document lists that status for the operation, and that the body fits. */
function conforms(doc: Doc, method: string, path: string, r: { status: number; json: unknown }, status: number): void {
  assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.json)}`);
  const op = doc.paths[path]?.[method.toLowerCase()];
  assert.ok(op !== undefined, `${method} ${path} is not in the OpenAPI document`);
  const documented = op.responses[String(status)];
  assert.ok(documented !== undefined, `${method} ${path}: status ${status} is not documented`);
  const content = deref(doc, documented).content as Record<string, { schema: Obj }> | undefined;
  const schema = content?.['application/json']?.schema;
  if (schema !== undefined) assert.deepEqual(check(doc, schema, r.json), [], `${method} ${path} ${status}: the answer does not match the document`);
  if (status >= 400) {
    const e = (r.json as { error: string }).error;
    assert.ok(!e.includes('\n') && e.length > 0 && e.length < 300, `a one-line error: ${e}`);
  }
}

async function wsOpen(url: string, headers: Record<string, string>): Promise<{ ws: WebSocket } | { status: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => { resolve({ status: res.statusCode ?? 0 }); ws.terminate(); });
    ws.once('error', () => undefined);
  });
}

test('the HTTP API: every endpoint against a real store and a real VM, good and bad requests', { timeout: 300_000 }, async (t) => {
  const s: Served = await serve(home);
  // A VM left running by a failed run would outlive its store (its process names no store on its command line).
  t.after(async () => { await bonsai(['kill', 'web']); });
  const docR = await s.call('GET', '/api/openapi.json');
  assert.equal(docR.status, 200);
  const doc = docR.json as Doc;
  const api = (method: string, path: string, template: string, status: number, body?: unknown, headers?: Record<string, string>) =>
    s.call(method, path, body, headers).then((r) => { conforms(doc, method, template, r, status); return r; });

  await t.test('the OpenAPI document names exactly the operations the server has', () => {
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)).sort();
    const implemented = [...routes.map((r) => `${r.method} ${r.path}`), 'GET /api/openapi.json', 'GET /api/events', 'GET /api/vms/{name}/console'].sort();
    assert.deepEqual(documented, implemented);
  });

  await t.test('without the token, or with a wrong one, every request gets 401 and changes nothing', async () => {
    for (const headers of [{ Authorization: '' }, { Authorization: `Bearer ${'0'.repeat(64)}` }, { Authorization: 'Basic eDp5' }]) {
      await api('GET', '/api/vms', '/api/vms', 401, undefined, headers);
      await api('POST', '/api/vms', '/api/vms', 401, { name: 'intruder' }, headers);
      const page = await s.call('GET', '/', undefined, headers);
      assert.equal(page.status, 401);
    }
    const wrongUrl = await fetch(`${s.base}/?token=${'f'.repeat(64)}`, { redirect: 'manual' });
    assert.equal(wrongUrl.status, 401);
    assert.equal(wrongUrl.headers.get('set-cookie'), null);
    assert.equal(existsSync(join(home, 'vms', 'intruder')), false, 'the refused create made nothing');
    const ws = await wsOpen(`ws://${new URL(s.base).host}/api/events`, {});
    assert.deepEqual(ws, { status: 401 });
  });

  await t.test('the printed URL sets the token as a cookie, which then opens the API and the page', async () => {
    const r = await fetch(`${s.base}/?token=${s.token}`, { redirect: 'manual' });
    assert.equal(r.status, 303);
    const cookie = (r.headers.get('set-cookie') ?? '').split(';')[0];
    assert.match(r.headers.get('set-cookie') ?? '', /HttpOnly; SameSite=Strict/);
    const list = await s.call('GET', '/api/vms', undefined, { Authorization: '', Cookie: cookie });
    assert.equal(list.status, 200);
    const page = await s.call('GET', '/', undefined, { Authorization: '', Cookie: cookie });
    assert.equal(page.status, 200);
    assert.match(page.text, /<script type="module" src="\/app.js">/);
  });

  await t.test('another site\'s page cannot change anything or open a WebSocket (Origin)', async () => {
    await s.call('POST', '/api/vms', { name: 'csrf' }, { Origin: 'http://evil.example' }).then((r) => assert.equal(r.status, 403));
    assert.equal(existsSync(join(home, 'vms', 'csrf')), false);
    const ws = await wsOpen(`ws://${new URL(s.base).host}/api/events`, { Authorization: `Bearer ${s.token}`, Origin: 'http://evil.example' });
    assert.deepEqual(ws, { status: 403 });
    // A form can only send form encodings: refused before anything is read as a request.
    await s.call('POST', '/api/vms', 'name=form', { 'Content-Type': 'application/x-www-form-urlencoded' }).then((r) => assert.equal(r.status, 415));
  });

  await t.test('create: bad bodies are 400, an unknown template 404, a second VM of a name 409', async () => {
    await api('POST', '/api/vms', '/api/vms', 400, '{"name": ', {});
    await api('POST', '/api/vms', '/api/vms', 400, '[1]', {});
    await api('POST', '/api/vms', '/api/vms', 400, {});
    await api('POST', '/api/vms', '/api/vms', 400, { name: 'bad name' });
    await api('POST', '/api/vms', '/api/vms', 400, { name: 'x', memory: '5G' });
    await api('POST', '/api/vms', '/api/vms', 400, { name: 'x', memory: true });
    await api('POST', '/api/vms', '/api/vms', 400, { name: 'x', colour: 'red' });
    await api('POST', '/api/vms', '/api/vms', 400, { name: 'x', forwards: ['tcp:nonsense'] });
    await api('POST', '/api/vms', '/api/vms', 400, { name: 'x', sshKeys: ['not a key'] });
    await api('POST', '/api/vms', '/api/vms', 404, { name: 'x', template: 'nope' });
    const r = await api('POST', '/api/vms', '/api/vms', 201, { name: 'web', memory: '192M', sshKeys: [] });
    assert.deepEqual(r.json, { name: 'web', template: 'default', memory: 192 * 1024 * 1024 });
    await api('POST', '/api/vms', '/api/vms', 409, { name: 'web' });
    // The CLI sees what the API made: one store, one set of code paths.
    assert.match(await ok(['list']), /^web\s+stopped\s+192 MiB/m);
  });

  await t.test('an unknown VM is 404 on every VM endpoint; a malformed name 400', async () => {
    for (const r of routes.filter((x) => x.path.startsWith('/api/vms/{name}'))) {
      const path = r.path.replace('{name}', 'ghost').replace('{snapshot}', 's1');
      const body = r.method === 'POST' ? { name: 'n2', argv: ['true'], to: '127.0.0.1:1' } : undefined;
      await api(r.method, path, r.path, 404, body);
    }
    await api('GET', '/api/vms/bad_name', '/api/vms/{name}', 400);
    await api('GET', '/api/vms/web/snapshots', '/api/vms/{name}/snapshots', 200);
    await api('DELETE', '/api/vms/web/snapshots/none', '/api/vms/{name}/snapshots/{snapshot}', 404);
    const other = await s.call('GET', '/api/nothing');
    assert.equal(other.status, 404);
    const wrongMethod = await s.call('PUT', '/api/vms');
    assert.equal(wrongMethod.status, 405);
  });

  await t.test('a stopped VM: what needs it running is 409', async () => {
    for (const what of ['stop', 'kill', 'pause', 'resume']) await api('POST', `/api/vms/web/${what}`, `/api/vms/{name}/${what}`, 409);
    await api('POST', '/api/vms/web/exec', '/api/vms/{name}/exec', 409, { argv: ['true'] });
    await api('POST', '/api/vms/web/exec', '/api/vms/{name}/exec', 400, { argv: [] });
    await api('POST', '/api/vms/web/migrate', '/api/vms/{name}/migrate', 409, { to: '127.0.0.1:9' });
    await api('POST', '/api/vms/web/migrate', '/api/vms/{name}/migrate', 400, { to: 'nowhere' });
    const info = await api('GET', '/api/vms/web', '/api/vms/{name}', 200);
    assert.equal((info.json as { status: { state: string } }).status.state, 'stopped');
    assert.equal((info.json as { identity: Record<string, unknown> }).identity.hostKey, undefined, 'no secrets in the answer');
  });

  await t.test('a running VM: start, events pushed, exec, pause/resume, snapshots, consoles, stop', async (t2) => {
    const events = await wsOpen(`ws://${new URL(s.base).host}/api/events`, { Authorization: `Bearer ${s.token}` });
    assert.ok('ws' in events);
    const states: string[] = [];
    let waiters: (() => void)[] = [];
    events.ws.on('message', (m: Buffer) => {
      const msg = JSON.parse(m.toString()) as { type: string; vms: { name: string; state: string }[] };
      const w = msg.vms.find((v) => v.name === 'web');
      if (w !== undefined && states.at(-1) !== w.state) states.push(w.state);
      for (const f of waiters) f();
      waiters = [];
    });
    /** Waits until the events say `state`, at or after the `from`th change seen. */
    const seen = async (state: string, from = 0, ms = 15_000): Promise<void> => {
      const deadline = Date.now() + ms;
      while (!states.slice(from).includes(state)) {
        assert.ok(Date.now() < deadline, `the events never said '${state}' (${states.join(', ')})`);
        await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 500); });
      }
    };

    const started = await api('POST', '/api/vms/web/start', '/api/vms/{name}/start', 200);
    assert.ok((started.json as { pid: number }).pid > 0);
    await seen('running');
    await api('POST', '/api/vms/web/start', '/api/vms/{name}/start', 409);
    // The guest agent starts late in the boot: 503 until then.
    let r = await s.call('POST', '/api/vms/web/exec', { argv: ['uname', '-m'] });
    const deadline = Date.now() + 120_000;
    while (r.status === 503 && Date.now() < deadline) {
      conforms(doc, 'POST', '/api/vms/{name}/exec', r, 503);
      await new Promise((res) => setTimeout(res, 500));
      r = await s.call('POST', '/api/vms/web/exec', { argv: ['uname', '-m'] });
    }
    conforms(doc, 'POST', '/api/vms/{name}/exec', r, 200);
    assert.equal(Buffer.from((r.json as { stdout: string }).stdout, 'base64').toString(), 'riscv64\n');

    await t2.test('a change made by the CLI is pushed to the page too', async () => {
      const before = states.length;
      await ok(['pause', 'web']);
      await seen('paused', before);
      await api('POST', '/api/vms/web/pause', '/api/vms/{name}/pause', 409);
      await api('POST', '/api/vms/web/exec', '/api/vms/{name}/exec', 409, { argv: ['true'] });
      const paused = states.length;
      await api('POST', '/api/vms/web/resume', '/api/vms/{name}/resume', 200);
      await seen('running', paused);
    });

    await t2.test('two viewers on one console: what one types, both see', async () => {
      const url = `ws://${new URL(s.base).host}/api/vms/web/console`;
      const a = await wsOpen(url, { Authorization: `Bearer ${s.token}` });
      const b = await wsOpen(url, { Authorization: `Bearer ${s.token}` });
      assert.ok('ws' in a && 'ws' in b);
      let outA = '', outB = '';
      a.ws.on('message', (m: Buffer) => { outA += m.toString('latin1'); });
      b.ws.on('message', (m: Buffer) => { outB += m.toString('latin1'); });
      await new Promise((res) => setTimeout(res, 300));
      a.ws.send(Buffer.from('echo viewer-$((6*7))\r'), { binary: true });
      const until = Date.now() + 20_000;
      while (!(outA.includes('viewer-42') && outB.includes('viewer-42')) && Date.now() < until) await new Promise((res) => setTimeout(res, 100));
      assert.match(outA, /viewer-42/);
      assert.match(outB, /viewer-42/);
      // A resize message sets the guest's terminal size (through the agent).
      a.ws.send(JSON.stringify({ resize: { cols: 123, rows: 45 } }));
      let size = '';
      for (let i = 0; i < 40 && size !== '45 123'; i++) {
        await new Promise((res) => setTimeout(res, 250));
        const x = await s.call('POST', '/api/vms/web/exec', { argv: ['stty', '-F', '/dev/ttyS0', 'size'] });
        size = Buffer.from((x.json as { stdout: string }).stdout ?? '', 'base64').toString().trim();
      }
      assert.equal(size, '45 123');
      a.ws.close(); b.ws.close();
    });

    await t2.test('snapshots of the running VM: take, list, refuse a duplicate, restore, delete', async () => {
      await api('POST', '/api/vms/web/snapshots', '/api/vms/{name}/snapshots', 400, { name: '-bad' });
      const taken = await api('POST', '/api/vms/web/snapshots', '/api/vms/{name}/snapshots', 201, { name: 's1' });
      assert.equal((taken.json as { running: boolean }).running, true);
      await api('POST', '/api/vms/web/snapshots', '/api/vms/{name}/snapshots', 409, { name: 's1' });
      await api('POST', '/api/vms/web/snapshots', '/api/vms/{name}/snapshots', 201, { name: 's2' });
      const tree = await api('GET', '/api/vms/web/snapshots', '/api/vms/{name}/snapshots', 200);
      assert.deepEqual((tree.json as { snapshots: { name: string; parent: string | null }[] }).snapshots.map((x) => [x.name, x.parent]), [['s1', null], ['s2', 's1']]);
      const back = await api('POST', '/api/vms/web/snapshots/s1/restore', '/api/vms/{name}/snapshots/{snapshot}/restore', 200);
      assert.equal((back.json as { running: boolean }).running, true);
      await api('POST', '/api/vms/web/snapshots/nope/restore', '/api/vms/{name}/snapshots/{snapshot}/restore', 404);
      await api('DELETE', '/api/vms/web/snapshots/s2', '/api/vms/{name}/snapshots/{snapshot}', 200);
      assert.match(await ok(['snapshot', 'list', 'web']), /^s1 \*/m);
    });

    await t2.test('a running VM is not cloned, removed without force, or made a template; a failed migration leaves it running', async () => {
      await api('POST', '/api/vms/web/clone', '/api/vms/{name}/clone', 409, { name: 'web2' });
      await api('DELETE', '/api/vms/web', '/api/vms/{name}', 409);
      await api('POST', '/api/templates', '/api/templates', 409, { name: 'tpl', from: 'web' });
      // Nothing listens on port 9 of this host: the VM's process reports the failure and the guest runs on.
      await api('POST', '/api/vms/web/migrate', '/api/vms/{name}/migrate', 503, { to: '127.0.0.1:9' });
      const list = await api('GET', '/api/vms', '/api/vms', 200);
      assert.equal((list.json as { name: string; state: string }[]).find((v) => v.name === 'web')?.state, 'running');
    });

    const logs = await s.call('GET', '/api/vms/web/logs');
    assert.equal(logs.status, 200);
    assert.match(logs.text, /viewer-42/);
    const running = states.length;
    const stopped = await api('POST', '/api/vms/web/stop', '/api/vms/{name}/stop', 200, { timeout: 60 });
    assert.equal((stopped.json as { how: string }).how, 'graceful');
    await seen('stopped', running);
    events.ws.close();
  });

  await t.test('clone, template, remove: the store changes as the CLI would make them', async () => {
    await api('POST', '/api/vms/web/clone', '/api/vms/{name}/clone', 400, { name: 'web2', full: 'yes' });
    await api('POST', '/api/vms/web/clone', '/api/vms/{name}/clone', 404, { name: 'fork', snapshot: 'nope' });
    await api('POST', '/api/vms/web/clone', '/api/vms/{name}/clone', 201, { name: 'fork', snapshot: 's1' });
    await api('POST', '/api/vms/web/clone', '/api/vms/{name}/clone', 201, { name: 'web2' });
    await api('POST', '/api/vms/web/clone', '/api/vms/{name}/clone', 409, { name: 'web2' });
    await api('POST', '/api/templates', '/api/templates', 201, { name: 'tpl', from: 'web2' });
    await api('POST', '/api/templates', '/api/templates', 409, { name: 'tpl', from: 'web2' });
    await api('POST', '/api/templates', '/api/templates', 404, { name: 'tpl2', from: 'ghost' });
    const ts = await api('GET', '/api/templates', '/api/templates', 200);
    assert.deepEqual((ts.json as { name: string }[]).map((x) => x.name).sort(), ['default', 'tpl']);
    await api('DELETE', '/api/templates/tpl', '/api/templates/{template}', 409);
    await api('DELETE', '/api/templates/ghost', '/api/templates/{template}', 404);
    await api('POST', '/api/vms', '/api/vms', 201, { name: 'fromtpl', template: 'tpl', sshKeys: [] });
    for (const n of ['fromtpl', 'web2', 'fork']) await api('DELETE', `/api/vms/${n}`, '/api/vms/{name}', 200);
    await api('DELETE', '/api/templates/tpl', '/api/templates/{template}', 200);
    const list = await api('GET', '/api/vms', '/api/vms', 200);
    assert.deepEqual((list.json as { name: string }[]).map((v) => v.name), ['web']);
  });
});
