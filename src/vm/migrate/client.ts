/**
 * Migrating a running VM away, as a client of its process (`bonsai migrate`, the HTTP API): asks its VMM
 * to send it (send.ts), waits for that process to end, then removes the VM from this store (or keeps it,
 * stopped).
 */
import { BonsaiError } from '../../errors.js';
import type { JsonObject } from '../control/protocol.js';
import { removeVm } from '../manage.js';
import { connectVm, waitGone } from '../process/launch.js';
import { readPidFile } from '../process/runtime.js';
import type { Store } from '../store/store.js';
import type { Compression, MigrateResult, Progress } from './send.js';

/** `[ADDR:]PORT` or `HOST:PORT`; port 0 (any free port) only where `anyPort` says so. */
export function parseHostPort(text: string, what: string, defaultHost?: string, anyPort = false): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d{1,5})$/.exec(text);
  const port = m === null ? NaN : Number(m[2]);
  const host = m?.[1] ?? defaultHost;
  if (m === null || port < (anyPort ? 0 : 1) || port > 65535 || host === undefined || host === '') throw new BonsaiError(`${what} ${text}: expected ${defaultHost === undefined ? 'HOST:PORT' : '[ADDR:]PORT'}`);
  return { host, port };
}

export interface MigrateVmOptions {
  host: string; port: number; withDisks: boolean; maxDowntimeMs: number;
  bandwidth?: number; token?: string; compress?: Compression;
  /** Leave the VM here, stopped, instead of removing it. */
  keepSource: boolean;
}

export async function migrateVm(store: Store, name: string, o: MigrateVmOptions, onProgress?: (p: Progress) => void): Promise<MigrateResult> {
  const pid = readPidFile(store.vmDir(name))?.pid;
  const c = await connectVm(store, name);
  c.onEvent = (e) => { if (e.event === 'MIGRATE') onProgress?.(e.data as unknown as Progress); };
  const args: JsonObject = { host: o.host, port: o.port, withDisks: o.withDisks, maxDowntimeMs: o.maxDowntimeMs };
  if (o.token !== undefined) args.token = o.token;
  if (o.bandwidth !== undefined) args.bandwidth = o.bandwidth;
  if (o.compress !== undefined) args.compress = o.compress;
  let r: MigrateResult;
  try {
    r = await c.request('migrate', args) as unknown as MigrateResult;
  } finally {
    c.close();
  }
  // The VM's process here ends on its own; then the VM leaves this store (or stays, stopped).
  if (pid !== undefined) await waitGone(pid, Date.now() + 30_000);
  if (!o.keepSource) await removeVm(store, name);
  return r;
}
