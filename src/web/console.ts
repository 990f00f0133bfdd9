/**
 * A VM's serial console over a WebSocket (/api/vms/NAME/console): each viewer is a console client of the
 * VM's process (the control protocol's `console`, as `bonsai console` is), so several viewers watch the same
 * console and what each types reaches the guest.
 *
 * Frames: binary both ways are the console's bytes. A text frame from the page is a JSON message:
 * `{"resize": {"cols": C, "rows": R}}` sets the guest's terminal size through the guest agent (stty on its
 * console), so programs in the guest wrap and redraw to the page's terminal. On attach, the page first gets
 * the last few KiB of the console log (what was on the screen), then the live stream.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { WebSocket, RawData } from 'ws';
import { connectVm } from '../vm/process/launch.js';
import { files } from '../vm/process/runtime.js';
import type { Store } from '../vm/store/store.js';

/** How much of the console log a new viewer is shown first. */
const REPLAY_BYTES = 16 * 1024;
/** A viewer that has this much unsent is too slow; it is dropped rather than let memory grow. */
const MAX_BUFFERED = 4 << 20;

/** WebSocket close codes (private range) the page shows as the reason. */
export const CLOSE_NOT_RUNNING = 4409;
export const CLOSE_VM_ENDED = 4000;

function logTail(path: string, bytes: number): Buffer {
  let fd: number;
  try { fd = openSync(path, 'r'); } catch { return Buffer.alloc(0); }
  try {
    const size = statSync(path).size;
    const n = Math.min(size, bytes);
    const b = Buffer.alloc(n);
    readSync(fd, b, 0, n, size - n);
    return b;
  } finally {
    closeSync(fd);
  }
}

function resizeMessage(data: RawData): { cols: number; rows: number } | null {
  try {
    const v = JSON.parse(data.toString()) as { resize?: { cols?: unknown; rows?: unknown } };
    const { cols, rows } = v.resize ?? {};
    if (typeof cols !== 'number' || typeof rows !== 'number') return null;
    if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 2 || cols > 1000 || rows < 2 || rows > 1000) return null;
    return { cols, rows };
  } catch {
    return null;
  }
}

/** Sets the guest console's size through the agent; a guest without one keeps its size. */
async function resizeGuest(store: Store, name: string, cols: number, rows: number): Promise<void> {
  const c = await connectVm(store, name);
  try {
    const script = `for t in /dev/ttyS0 /dev/hvc1; do [ -c "$t" ] && stty -F "$t" rows ${rows} cols ${cols} 2>/dev/null; done; true`;
    await c.request('exec', { argv: ['sh', '-c', script], timeoutMs: 3000 });
  } finally {
    c.close();
  }
}

/** Bridges `ws` to VM `name`'s console until either side ends. */
export async function bridgeConsole(store: Store, name: string, ws: WebSocket): Promise<void> {
  // What the page sends before the console is attached (its first resize, early keys) waits for it.
  const early: [RawData, boolean][] = [];
  const keep = (data: RawData, isBinary: boolean): void => { early.push([data, isBinary]); };
  ws.on('message', keep);
  let c;
  try {
    c = await connectVm(store, name);
  } catch (e) {
    ws.close(CLOSE_NOT_RUNNING, (e as Error).message.split('\n')[0].slice(0, 120));
    return;
  }
  const client = c;
  const send = (b: Buffer): void => {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED) { ws.terminate(); return; }
    ws.send(b, { binary: true });
  };
  send(logTail(files(store.vmDir(name)).console, REPLAY_BYTES));
  let con: { write(b: Uint8Array): void };
  try {
    con = await client.console(send);
  } catch (e) {
    client.close();
    ws.close(CLOSE_NOT_RUNNING, (e as Error).message.split('\n')[0].slice(0, 120));
    return;
  }
  client.onClose = () => { if (ws.readyState === ws.OPEN) ws.close(CLOSE_VM_ENDED, `VM '${name}' stopped`); };
  let resizing: Promise<void> = Promise.resolve();
  const onMessage = (data: RawData, isBinary: boolean): void => {
    if (isBinary) {
      const chunks = Array.isArray(data) ? data : [Buffer.from(data as Buffer)];
      for (const b of chunks) con.write(new Uint8Array(b));
      return;
    }
    const size = resizeMessage(data);
    if (size !== null) resizing = resizing.then(() => resizeGuest(store, name, size.cols, size.rows)).catch(() => undefined);
  };
  ws.off('message', keep);
  for (const [data, isBinary] of early) onMessage(data, isBinary);
  ws.on('message', onMessage);
  ws.on('close', () => client.close());
  ws.on('error', () => { ws.terminate(); client.close(); });
}
