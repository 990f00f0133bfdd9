/**
 * The control protocol between a VM's process (the VMM) and its clients, over the Unix socket control.sock
 * in the VM's folder: newline-delimited JSON in the spirit of QEMU's QMP (docs/control.md is the contract).
 *
 *   server → client, once:   {"bonsai": {"protocol": 1, "vm": NAME, "pid": PID}}
 *   client → server:         {"id": ID, "execute": COMMAND, "arguments": {...}}
 *   server → client:         {"id": ID, "return": VALUE}  or  {"id": ID, "error": {"class": C, "desc": TEXT}}
 *   server → client, any time: {"event": NAME, "data": {...}, "timestamp": MS}
 *
 * `console` is the one command that changes the connection: after its reply the socket carries the
 * serial console's raw bytes both ways until either side closes it.
 */

export const PROTOCOL_VERSION = 1;

/** A line longer than this ends the connection (exec's stdin, base64, is the largest legitimate one). */
export const MAX_LINE = 48 * 1024 * 1024;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };
export type JsonObject = { [k: string]: JsonValue };

export interface Greeting { bonsai: { protocol: number; vm: string; pid: number } }
export interface Request { id: string | number; execute: string; arguments?: JsonObject }
export interface ErrorBody { class: ErrorClass; desc: string }
/** What a client can do about an error: fix its request, wait for another state, or give up. */
export type ErrorClass = 'BadRequest' | 'CommandNotFound' | 'WrongState' | 'Unavailable' | 'GuestError';
export type Reply = { id: string | number | null; return: JsonValue } | { id: string | number | null; error: ErrorBody };
export interface Event { event: string; data: JsonObject; timestamp: number }

/** The VM as its process sees it. */
export type RunState = 'running' | 'paused' | 'shutting-down';

/** An error with a class, thrown by a command handler and sent as the reply's error. */
export class CommandError extends Error {
  constructor(readonly errorClass: ErrorClass, message: string) {
    super(message);
  }
}

/** Splits a byte stream into lines; calls `onLine` for each, `onOverflow` once if a line passes MAX_LINE. */
export class LineReader {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly onLine: (line: string) => void, private readonly onOverflow: () => void) {}

  /** Feeds bytes; returns the bytes after a line that stopped reading (see `stop`), else null. */
  feed(chunk: Buffer): Buffer | null {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      const line = this.parts.length === 0 ? piece.toString('utf8') : Buffer.concat([...this.parts, piece]).toString('utf8');
      this.parts = [];
      this.size = 0;
      start = nl + 1;
      this.stopped = false;
      this.onLine(line);
      if (this.stopped) return chunk.subarray(start);
    }
    if (start < chunk.length) {
      this.size += chunk.length - start;
      if (this.size > MAX_LINE) { this.parts = []; this.size = 0; this.onOverflow(); return null; }
      this.parts.push(Buffer.from(chunk.subarray(start)));
    }
    return null;
  }

  private stopped = false;

  /** Called from inside onLine: stop splitting (the connection changes to raw bytes after this line). */
  stop(): void { this.stopped = true; }
}
