/**
 * The VMM's side of the control protocol (protocol.ts): a Unix socket server that greets each client,
 * answers its requests through the handlers it was given, broadcasts events, and turns a connection into
 * a raw console stream on request. Nothing a client sends can throw out of here: bad JSON, unknown
 * commands and failing handlers become error replies; an oversized line closes that one connection.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { CommandError, LineReader, PROTOCOL_VERSION, type ErrorBody, type JsonObject, type JsonValue, type Reply, type Request } from './protocol.js';
import { socketPath } from './path.js';

export type Handler = (args: JsonObject) => Promise<JsonValue> | JsonValue;

export interface ConsoleHooks {
  /** Bytes typed by an attached client, for the guest. */
  input(bytes: Uint8Array): void;
}

export class ControlServer {
  private readonly server: Server;
  private readonly clients = new Set<Socket>();
  private readonly consoles = new Set<Socket>();

  constructor(
    private readonly vm: string,
    private readonly handlers: Map<string, Handler>,
    private readonly consoleHooks: ConsoleHooks,
  ) {
    this.server = createServer((sock) => this.accept(sock));
  }

  listen(path: string): Promise<void> {
    rmSync(path, { force: true }); // a socket left by a crashed VMM (the caller made sure no VMM is alive)
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(socketPath(path), () => { this.server.off('error', reject); resolve(); });
    });
  }

  /** Sends an event to every client that speaks the protocol (not raw consoles). */
  emit(event: string, data: JsonObject): void {
    const line = `${JSON.stringify({ event, data, timestamp: Date.now() })}\n`;
    for (const c of this.clients) if (!this.consoles.has(c)) c.write(line);
  }

  /** Guest console output for every attached console. */
  consoleOutput(bytes: Uint8Array): void {
    for (const c of this.consoles) {
      // A viewer that stopped reading is dropped rather than let the VMM's memory grow without bound.
      if (c.writableLength > 4 << 20) { c.destroy(); continue; }
      c.write(bytes);
    }
  }

  get consoleCount(): number { return this.consoles.size; }

  async close(): Promise<void> {
    for (const c of this.clients) c.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(sock: Socket): void {
    this.clients.add(sock);
    sock.on('error', () => sock.destroy());
    sock.on('close', () => { this.clients.delete(sock); this.consoles.delete(sock); });
    sock.write(`${JSON.stringify({ bonsai: { protocol: PROTOCOL_VERSION, vm: this.vm, pid: process.pid } })}\n`);
    let raw = false;
    const reader = new LineReader((line) => {
      if (line.trim() === '') return;
      const req = parseRequest(line);
      if ('error' in req) { send(sock, req); return; }
      if (req.execute === 'console') {
        send(sock, { id: req.id, return: {} });
        raw = true;
        this.consoles.add(sock);
        reader.stop();
        return;
      }
      void this.dispatch(req).then((reply) => send(sock, reply));
    }, () => {
      send(sock, { id: null, error: { class: 'BadRequest', desc: 'line too long; closing the connection' } });
      sock.end();
    });
    sock.on('data', (chunk: Buffer) => {
      if (raw) { this.consoleHooks.input(new Uint8Array(chunk)); return; }
      const rest = reader.feed(chunk);
      if (rest !== null && rest.length > 0) this.consoleHooks.input(new Uint8Array(rest));
    });
  }

  private async dispatch(req: Request): Promise<Reply> {
    const handler = this.handlers.get(req.execute);
    if (handler === undefined) {
      return { id: req.id, error: { class: 'CommandNotFound', desc: `unknown command '${req.execute.slice(0, 64)}' (try 'help')` } };
    }
    try {
      return { id: req.id, return: await handler(req.arguments ?? {}) };
    } catch (e) {
      if (e instanceof CommandError) return { id: req.id, error: { class: e.errorClass, desc: e.message } };
      return { id: req.id, error: { class: 'GuestError', desc: (e as Error).message } };
    }
  }
}

function send(sock: Socket, reply: Reply): void {
  if (!sock.destroyed) sock.write(`${JSON.stringify(reply)}\n`);
}

type ErrorReply = { id: string | number | null; error: ErrorBody };

function parseRequest(line: string): Request | ErrorReply {
  let v: unknown;
  try { v = JSON.parse(line); } catch {
    return { id: null, error: { class: 'BadRequest', desc: 'not a JSON object' } };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { id: null, error: { class: 'BadRequest', desc: 'not a JSON object' } };
  const o = v as Record<string, unknown>;
  const id = typeof o.id === 'string' || typeof o.id === 'number' ? o.id : null;
  if (typeof o.execute !== 'string') return { id, error: { class: 'BadRequest', desc: "a request needs 'execute' (a command name)" } };
  if (id === null) return { id, error: { class: 'BadRequest', desc: "a request needs an 'id' (a string or a number)" } };
  const args = o.arguments;
  if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args))) {
    return { id, error: { class: 'BadRequest', desc: "'arguments' must be an object" } };
  }
  return { id, execute: o.execute, arguments: args as JsonObject | undefined };
}
