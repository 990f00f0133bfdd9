/**
 * `bonsai serve`: an HTTP server over one store. The JSON API (api.ts, documented by openapi.ts), the
 * WebSockets for the VM list (events.ts) and the consoles (console.ts), and the web UI's built files.
 *
 * Every request needs the store's token (auth.ts); one without it gets 401 and touches nothing. Against
 * other sites' pages in the same browser: a GET changes nothing, a POST or DELETE with a body must be JSON
 * (a form cannot send that), and a request or WebSocket whose Origin is not this server is refused.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import { BonsaiError } from '../errors.js';
import type { JsonObject } from '../vm/control/protocol.js';
import { checkVmName, type Store } from '../vm/store/store.js';
import { errorAnswer, matchPath, routes, type Answer } from './api.js';
import { crossOrigin, requestToken, storeToken, tokenCookie, tokenMatches } from './auth.js';
import { bridgeConsole } from './console.js';
import { EventHub } from './events.js';
import { openapi } from './openapi.js';

/** The UI's built files (npm run build: esbuild writes dist/ui from web/): from dist/src/web/. */
export const UI_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'ui');

const MAX_BODY = 1 << 20;

const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

const HEADERS = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
};

function answer(res: ServerResponse, a: Answer, extra: Record<string, string> = {}): void {
  const isText = typeof a.body === 'string' || Buffer.isBuffer(a.body);
  const body = Buffer.isBuffer(a.body) ? a.body : typeof a.body === 'string' ? a.body : `${JSON.stringify(a.body)}\n`;
  res.writeHead(a.status, { ...HEADERS, 'Content-Type': a.type ?? (isText ? 'text/plain; charset=utf-8' : 'application/json'), ...extra });
  res.end(body);
}

const fail = (status: number, error: string): Answer => ({ status, body: { error } });

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size > MAX_BODY) { reject(new BonsaiError(`the request body is over ${MAX_BODY} bytes`)); req.destroy(); return; }
      parts.push(b);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

/** The request's JSON object body ({} for none), or the error to answer. */
async function jsonBody(req: IncomingMessage): Promise<{ body: JsonObject } | { refused: Answer }> {
  let raw: Buffer;
  try { raw = await readBody(req); } catch (e) { return { refused: fail(413, (e as Error).message) }; }
  if (raw.length === 0) return { body: {} };
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return { refused: fail(415, 'a request body must be JSON (Content-Type: application/json)') };
  let v: unknown;
  try { v = JSON.parse(raw.toString('utf8')); } catch { return { refused: fail(400, 'the request body is not valid JSON') }; }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { refused: fail(400, 'the request body must be a JSON object') };
  return { body: v as JsonObject };
}

function validName(name: string): boolean {
  try { checkVmName(name); return true; } catch { return false; }
}

export interface WebServerOptions { host: string; port: number }

export class WebServer {
  readonly token: string;
  private readonly http: Server;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
  readonly events: EventHub;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly store: Store) {
    this.token = storeToken(store);
    this.events = new EventHub(store);
    this.http = createServer((req, res) => { void this.request(req, res); });
    this.http.on('upgrade', (req: IncomingMessage, sock: Socket, head: Buffer) => this.upgrade(req, sock, head));
    this.http.on('connection', (s: Socket) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
  }

  /** Listens; resolves to the address and port (port 0 picks a free one). */
  listen(o: WebServerOptions): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.http.once('error', (e: NodeJS.ErrnoException) => {
        reject(new BonsaiError(`cannot listen on ${o.host}:${o.port}: ${e.code === 'EADDRINUSE' ? 'the port is in use' : e.code === 'EADDRNOTAVAIL' ? 'no such address on this host' : e.message}`));
      });
      this.http.listen(o.port, o.host, () => {
        const a = this.http.address();
        resolve({ host: o.host, port: typeof a === 'object' && a !== null ? a.port : o.port });
      });
    });
  }

  async close(): Promise<void> {
    this.events.close();
    for (const ws of this.wss.clients) ws.terminate();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private authorized(req: IncomingMessage): boolean {
    return tokenMatches(this.token, requestToken(req));
  }

  private async request(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const method = req.method ?? 'GET';
      // Opening the printed URL: the token becomes a cookie, and leaves the address bar.
      if (method === 'GET' && url.pathname === '/' && url.searchParams.has('token')) {
        if (!tokenMatches(this.token, url.searchParams.get('token') ?? undefined)) { this.refuse(res, url.pathname); return; }
        answer(res, { status: 303, body: '' }, { Location: '/', 'Set-Cookie': tokenCookie(this.token) });
        return;
      }
      if (!this.authorized(req)) { this.refuse(res, url.pathname); return; }
      if (method !== 'GET' && method !== 'HEAD' && crossOrigin(req)) { answer(res, fail(403, 'a request from another site (its Origin is not this server)')); return; }
      const page = STATIC[url.pathname];
      if (page !== undefined && method === 'GET') { this.staticFile(res, page); return; }
      if (url.pathname === '/api/openapi.json' && method === 'GET') { answer(res, { status: 200, body: openapi }); return; }
      const candidates = routes.map((r) => ({ r, params: matchPath(r.path, url.pathname) })).filter((m) => m.params !== null);
      if (candidates.length === 0) { answer(res, fail(404, `no such path: ${url.pathname.slice(0, 100)}`)); return; }
      const hit = candidates.find((m) => m.r.method === method);
      if (hit === undefined) {
        answer(res, fail(405, `${method} is not allowed on ${url.pathname.slice(0, 100)} (allowed: ${candidates.map((m) => m.r.method).join(', ')})`), { Allow: candidates.map((m) => m.r.method).join(', ') });
        return;
      }
      const got = method === 'GET' ? { body: {} } : await jsonBody(req);
      if ('refused' in got) { answer(res, got.refused); return; }
      let a: Answer;
      try {
        a = await hit.r.handler({ store: this.store, params: hit.params as Record<string, string>, body: got.body, query: url.searchParams });
      } catch (e) {
        a = errorAnswer(e);
      }
      if (hit.r.changes) this.events.changed();
      answer(res, a);
    } catch (e) {
      if (!res.headersSent) answer(res, errorAnswer(e));
      else res.destroy();
    }
  }

  private refuse(res: ServerResponse, path: string): void {
    if (path.startsWith('/api/')) { answer(res, fail(401, 'missing or wrong token (give Authorization: Bearer TOKEN; bonsai serve prints it)')); return; }
    answer(res, { status: 401, type: 'text/html; charset=utf-8', body: '<!doctype html><title>Bonsai</title><p>Open the address <code>bonsai serve</code> printed (it carries the token).</p>\n' });
  }

  private staticFile(res: ServerResponse, page: { file: string; type: string }): void {
    const path = join(UI_DIR, page.file);
    if (!existsSync(path)) { answer(res, fail(500, `the web UI is not built: ${path} is missing (npm run build)`)); return; }
    answer(res, { status: 200, body: readFileSync(path), type: page.type });
  }

  private upgrade(req: IncomingMessage, sock: Socket, head: Buffer): void {
    const reject = (status: number, why: string): void => {
      sock.end(`HTTP/1.1 ${status} ${why}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(why) + 1}\r\n\r\n${why}\n`);
    };
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (!this.authorized(req)) { reject(401, 'Unauthorized'); return; }
    if (crossOrigin(req)) { reject(403, 'Forbidden'); return; }
    const consoleOf = matchPath('/api/vms/{name}/console', path);
    if (path !== '/api/events' && consoleOf === null) { reject(404, 'Not Found'); return; }
    if (consoleOf !== null && !(validName(consoleOf.name) && this.store.hasVm(consoleOf.name))) { reject(404, 'Not Found'); return; }
    this.wss.handleUpgrade(req, sock, head, (ws: WebSocket) => {
      if (consoleOf === null) this.events.add(ws);
      else void bridgeConsole(this.store, consoleOf.name, ws);
    });
  }
}
