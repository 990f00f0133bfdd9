/** The web server's token: made once and kept private in the store, compared whole, carried by header or cookie. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { crossOrigin, requestToken, storeToken, tokenMatches, tokenPath } from '../../src/web/auth.js';
import { Store } from '../../src/vm/store/store.js';

const req = (headers: Record<string, string>): IncomingMessage => ({ headers } as unknown as IncomingMessage);

test('the token is made at first use, kept with mode 0600, and the same at the next start', (t) => {
  const home = mkdtempSync(join(tmpdir(), 'bonsai-token-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const store = new Store(home);
  const a = storeToken(store);
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.equal(statSync(tokenPath(store)).mode & 0o777, 0o600);
  assert.equal(storeToken(store), a);
  assert.notEqual(storeToken(new Store(mkdtempSync(join(tmpdir(), 'bonsai-token-')))), a, 'another store, another token');
  writeFileSync(tokenPath(store), 'guessable\n');
  assert.throws(() => storeToken(store), /web\/token: not a Bonsai web token \(remove it and a new one is made\)$/);
});

test('a request carries the token in its Authorization header or its cookie; only the whole token matches', () => {
  const token = 'ab'.repeat(32);
  assert.equal(requestToken(req({ authorization: `Bearer ${token}` })), token);
  assert.equal(requestToken(req({ cookie: `other=1; bonsai_token=${token}; x=y` })), token);
  assert.equal(requestToken(req({ authorization: 'Basic abc' })), undefined);
  assert.equal(requestToken(req({})), undefined);
  assert.equal(tokenMatches(token, token), true);
  assert.equal(tokenMatches(token, token.slice(0, 63)), false);
  assert.equal(tokenMatches(token, `${token}0`), false);
  assert.equal(tokenMatches(token, 'cd'.repeat(32)), false);
  assert.equal(tokenMatches(token, undefined), false);
});

test('a request from another origin is told apart from the server\'s own pages and from tools', () => {
  assert.equal(crossOrigin(req({ host: '127.0.0.1:8480', origin: 'http://127.0.0.1:8480' })), false);
  assert.equal(crossOrigin(req({ host: '127.0.0.1:8480' })), false, 'no Origin: curl, scripts');
  assert.equal(crossOrigin(req({ host: '127.0.0.1:8480', origin: 'http://127.0.0.1:3000' })), true, 'another port is another origin');
  assert.equal(crossOrigin(req({ host: '127.0.0.1:8480', origin: 'http://evil.example' })), true);
  assert.equal(crossOrigin(req({ host: '127.0.0.1:8480', origin: 'null' })), true, 'sandboxed frames and file: pages');
});
