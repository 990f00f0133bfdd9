/**
 * A client of a VMM's control socket (protocol.ts): connects, checks the greeting's protocol version,
 * sends requests and matches replies by id, and passes events on. `console()` turns the connection into
 * the raw console stream.
 */
import { connect, type Socket } from 'node:net';
import { BonsaiError } from '../../errors.js';
import { socketPath } from './path.js';
import { LineReader, PROTOCOL_VERSION, type ErrorClass, type Event, type Greeting, type JsonObject, type JsonValue } from './protocol.js';

/** An error reply: its class tells a caller what happened (e.g. WrongState). */
export class ControlError extends BonsaiError {
  constructor(readonly errorClass: ErrorClass, message: string) {
    super(message);
  }
}

interface Pending { resolve(v: JsonValue): void; reject(e: Error): void }

export class ControlClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closedError: Error | null = null;
  onEvent: ((e: Event) => void) | null = null;
  onClose: (() => void) | null = null;
  private rawHandler: ((b: Buffer) => void) | null = null;
  /** The id of the `console` request whose reply switches the connection to raw bytes. */
  private consoleId: number | null = null;
  private reader: LineReader | null = null;

  private constructor(private readonly sock: Socket, readonly greeting: Greeting['bonsai']) {}

  /** Connects to the socket at `path`; `vm` names the VM in errors. */
  static connect(path: string, vm: string, timeoutMs = 5000): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (msg: string): void => {
        if (settled) return;
        settled = true;
        sock.destroy();
        reject(new BonsaiError(`VM '${vm}': ${msg}`));
      };
      const sock = connect(socketPath(path));
      const timer = setTimeout(() => fail('its process does not answer on its control socket'), timeoutMs);
      let client: ControlClient | null = null;
      const reader = new LineReader((line) => {
        if (client !== null) { client.line(line); return; }
        clearTimeout(timer);
        let g: Greeting;
        try { g = JSON.parse(line) as Greeting; } catch { fail('its control socket did not greet in the Bonsai protocol'); return; }
        if (typeof g?.bonsai?.protocol !== 'number') { fail('its control socket did not greet in the Bonsai protocol'); return; }
        if (g.bonsai.protocol !== PROTOCOL_VERSION) {
          fail(`its process speaks control protocol ${g.bonsai.protocol}, this bonsai ${PROTOCOL_VERSION} (restart the VM with this version)`);
          return;
        }
        client = new ControlClient(sock, g.bonsai);
        client.reader = reader;
        settled = true;
        resolve(client);
      }, () => fail('its control socket sent an oversized line'));
      sock.on('data', (chunk: Buffer) => {
        if (client !== null && client.rawHandler !== null && client.consoleId === null) { client.rawHandler(chunk); return; }
        const rest = reader.feed(chunk);
        if (rest !== null && rest.length > 0) client?.rawHandler?.(rest);
      });
      sock.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (!settled) fail(e.code === 'ECONNREFUSED' || e.code === 'ENOENT' ? 'it is not running (no process on its control socket)' : `control socket: ${e.message}`);
        else client?.closeWith(new BonsaiError(`VM '${vm}': control connection lost: ${e.message}`));
      });
      sock.on('close', () => {
        clearTimeout(timer);
        if (!settled) fail('its process closed the control socket');
        client?.closeWith(new BonsaiError(`VM '${vm}': its process closed the control connection`));
      });
    });
  }

  private line(line: string): void {
    let msg: { id?: unknown; return?: JsonValue; error?: { class: ErrorClass; desc: string }; event?: string };
    try { msg = JSON.parse(line) as typeof msg; } catch { return; }
    if (typeof msg.event === 'string') { this.onEvent?.(msg as Event); return; }
    if (typeof msg.id !== 'number') return;
    if (msg.id === this.consoleId && msg.error === undefined) this.reader?.stop();
    const p = this.pending.get(msg.id);
    if (p === undefined) return;
    this.pending.delete(msg.id);
    if (msg.error !== undefined) p.reject(new ControlError(msg.error.class, msg.error.desc));
    else p.resolve(msg.return ?? null);
  }

  private closeWith(e: Error): void {
    if (this.closedError !== null) return;
    this.closedError = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.onClose?.();
  }

  /** Sends a command; resolves with its return value, rejects with a ControlError. */
  request(execute: string, args?: JsonObject): Promise<JsonValue> {
    if (this.closedError !== null) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.sock.write(`${JSON.stringify(args === undefined ? { id, execute } : { id, execute, arguments: args })}\n`);
    });
  }

  /**
   * Attaches to the serial console: after this resolves, `onOutput` gets the guest's console bytes and
   * `write` sends keys. Other requests cannot share the connection any more.
   */
  async console(onOutput: (b: Buffer) => void): Promise<{ write(b: Uint8Array): void }> {
    this.consoleId = this.nextId;
    const reply = this.request('console');
    // Set before the reply arrives: bytes right after the reply line (in the same chunk) are console output.
    this.rawHandler = onOutput;
    try {
      await reply;
    } catch (e) {
      this.rawHandler = null;
      throw e;
    } finally {
      this.consoleId = null;
    }
    return { write: (b) => { this.sock.write(b); } };
  }

  close(): void {
    this.sock.end();
    this.sock.destroy();
  }
}
