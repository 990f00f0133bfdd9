/**
 * The web server's token: 32 random bytes made at the first `bonsai serve` and kept in the store
 * ($BONSAI_HOME/web/token, readable by its owner only). Every request to the server carries it, in an
 * `Authorization: Bearer TOKEN` header or in the cookie that opening the printed URL (`/?token=TOKEN`) sets.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { BonsaiError } from '../errors.js';
import { writeFileAtomic } from '../vm/store/atomic.js';
import type { Store } from '../vm/store/store.js';

export const COOKIE = 'bonsai_token';
const TOKEN = /^[0-9a-f]{64}$/;

export function tokenPath(store: Store): string { return join(store.home, 'web', 'token'); }

/** The store's token, made (and kept) on first use. */
export function storeToken(store: Store): string {
  const path = tokenPath(store);
  if (existsSync(path)) {
    const t = readFileSync(path, 'utf8').trim();
    if (!TOKEN.test(t)) throw new BonsaiError(`${path}: not a Bonsai web token (remove it and a new one is made)`);
    chmodSync(path, 0o600);
    return t;
  }
  store.ensureDir(join(store.home, 'web'));
  const t = randomBytes(32).toString('hex');
  writeFileAtomic(path, `${t}\n`, 0o600);
  return t;
}

/** Whether `given` is the token, compared in constant time. */
export function tokenMatches(token: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(token), b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function cookieValue(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The token a request carries: its Authorization header, else its cookie. */
export function requestToken(req: IncomingMessage): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return m !== null ? m[1] : cookieValue(req, COOKIE);
}

/**
 * A browser's cross-site request: one whose Origin is not this server's own. Browsers send Origin with
 * every WebSocket handshake and every POST/DELETE, so a page elsewhere (another port on localhost is
 * "same-site" for cookies) can neither change a VM nor open a console. Tools that send no Origin pass.
 */
export function crossOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  return origin !== `http://${req.headers.host ?? ''}`;
}

/** The Set-Cookie header for the token: not readable by scripts, sent only to this server's own pages. */
export function tokenCookie(token: string): string {
  return `${COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict`;
}
