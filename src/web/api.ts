/**
 * The JSON API of `bonsai serve`: one route per thing the CLI does, each calling the same functions in
 * src/vm the CLI calls (the store, launch.ts, the control protocol), so there is no second way into a VMM.
 * openapi.ts documents these routes; a test holds the two together.
 *
 * Errors are `{"error": "one line"}` with a status: 400 a bad request (body, name, argument), 404 an unknown
 * VM, snapshot or template, 409 the VM is in the wrong state for it, 503 the guest agent is not there.
 */
import { BonsaiError } from '../errors.js';
import { parseSize } from '../storage/image-ops.js';
import { defaultSshKeys } from '../vm/config-archive.js';
import { ControlError } from '../vm/control/client.js';
import type { JsonObject, JsonValue } from '../vm/control/protocol.js';
import { cloneVm, createTemplate, createVm, DEFAULT_TEMPLATE, ensureDefaultTemplate, removeTemplate, removeVm } from '../vm/manage.js';
import { migrateVm, parseHostPort } from '../vm/migrate/client.js';
import { parseCompression } from '../vm/migrate/send.js';
import { checkNetwork, parseForward, parseNet } from '../vm/network.js';
import { readConsoleLog } from '../vm/process/console-log.js';
import { connectVm, killVm, startVm, stopVm } from '../vm/process/launch.js';
import { files, vmState } from '../vm/process/runtime.js';
import { forkVm } from '../vm/snapshot/fork.js';
import { createSnapshot, listSnapshots, removeSnapshot, restoreSnapshot } from '../vm/snapshot/manage.js';
import { checkSnapshotName, loadTree } from '../vm/snapshot/tree.js';
import { checkMemory, type Settings } from '../vm/spec.js';
import { listVms, vmStatus } from '../vm/status.js';
import { checkVmName, type Store } from '../vm/store/store.js';

/** An error with its HTTP status. */
export class HttpError extends BonsaiError {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export interface Answer { status: number; body: JsonValue | Buffer; type?: string }

export interface RouteContext {
  store: Store;
  params: Record<string, string>;
  body: JsonObject;
  query: URLSearchParams;
}

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** OpenAPI style: /api/vms/{name}. */
  path: string;
  /** Whether the route changes the store or a VM (the events are pushed again after it). */
  changes: boolean;
  handler(ctx: RouteContext): Promise<Answer>;
}

const ok = (body: JsonValue, status = 200): Answer => ({ status, body });
const json = (v: unknown): JsonValue => JSON.parse(JSON.stringify(v)) as JsonValue;

// --- checking what a request carries --------------------------------------------------------------

function bad(message: string): HttpError { return new HttpError(400, message); }

/** Runs a checker that throws BonsaiError; its message becomes a 400. */
function checked<T>(f: () => T): T {
  try { return f(); } catch (e) { throw e instanceof BonsaiError && !(e instanceof HttpError) ? bad(e.message) : e; }
}

function str(body: JsonObject, key: string, required: true): string;
function str(body: JsonObject, key: string, required?: false): string | undefined;
function str(body: JsonObject, key: string, required = false): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) {
    if (required) throw bad(`'${key}' is required (a string)`);
    return undefined;
  }
  if (typeof v !== 'string') throw bad(`'${key}' must be a string`);
  return v;
}

function bool(body: JsonObject, key: string): boolean {
  const v = body[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw bad(`'${key}' must be true or false`);
  return v;
}

function num(body: JsonObject, key: string, min: number): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw bad(`'${key}' must be a number, ${min} or more`);
  return v;
}

/** A size: bytes as a number, or text such as "256M". */
function size(body: JsonObject, key: string): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return v;
  if (typeof v === 'string') return checked(() => parseSize(v));
  throw bad(`'${key}' must be a size: bytes, or text such as "256M"`);
}

function strings(body: JsonObject, key: string): string[] | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(`'${key}' must be a list of strings`);
  return v as string[];
}

/** The VM named in the path, which must exist. */
function vm(ctx: RouteContext): string {
  const name = checked(() => checkVmName(ctx.params.name));
  if (!ctx.store.hasVm(name)) throw new HttpError(404, `no VM named '${name.slice(0, 80)}'`);
  return name;
}

function snapshot(ctx: RouteContext, name: string): string {
  const snap = checked(() => checkSnapshotName(ctx.params.snapshot));
  if (!loadTree(ctx.store.vmDir(name)).snapshots.some((s) => s.name === snap)) throw new HttpError(404, `VM '${name}' has no snapshot '${snap}'`);
  return snap;
}

const isRunning = (store: Store, name: string): boolean => vmState(store.vmDir(name)).state === 'running';

function needRunning(store: Store, name: string): void {
  if (!isRunning(store, name)) throw new HttpError(409, `VM '${name}' is not running`);
}

function needStopped(store: Store, name: string, doing: string): void {
  if (isRunning(store, name)) throw new HttpError(409, `VM '${name}' is running; stop it before ${doing}`);
}

/** A request to the VM's process, as the CLI's pause/resume/exec make it. */
async function ask(store: Store, name: string, execute: string, args?: JsonObject): Promise<JsonValue> {
  needRunning(store, name);
  const c = await connectVm(store, name);
  try { return await c.request(execute, args); } finally { c.close(); }
}

/** The settings a create request gives, checked as `bonsai create` checks its options. */
function createSettings(body: JsonObject, base: Settings): Partial<Settings> {
  const s: Partial<Settings> = {};
  const memory = size(body, 'memory');
  if (memory !== undefined) s.memory = checked(() => checkMemory(memory));
  const net = str(body, 'net');
  if (net !== undefined) { checked(() => parseNet(net)); s.net = net; }
  const forwards = strings(body, 'forwards');
  if (forwards !== undefined) { for (const f of forwards) checked(() => parseForward(f)); s.forwards = forwards; }
  const keys = strings(body, 'sshKeys');
  s.sshKeys = keys ?? defaultSshKeys();
  for (const k of s.sshKeys) if (!/^(ssh|ecdsa|sk)-[\w@.-]+ [A-Za-z0-9+/=]+( [^\n]*)?$/.test(k)) throw bad(`'sshKeys': '${k.slice(0, 40)}' is not an OpenSSH public key line`);
  const next = { ...base, ...s };
  checked(() => checkNetwork({ net: parseNet(next.net), forwards: next.forwards.map((f) => parseForward(f)), switches: next.switches, hostname: 'check' }));
  return s;
}

const KNOWN_CREATE = new Set(['name', 'template', 'memory', 'diskSize', 'net', 'forwards', 'sshKeys']);

function onlyKeys(body: JsonObject, known: Set<string>): void {
  for (const k of Object.keys(body)) if (!known.has(k)) throw bad(`unknown field '${k.slice(0, 40)}' (expected ${[...known].join(', ')})`);
}

// --- the routes ------------------------------------------------------------------------------------

export const routes: Route[] = [
  {
    method: 'GET', path: '/api/vms', changes: false,
    handler: async (ctx) => ok(json((await listVms(ctx.store)).map(({ crash: _c, ...r }) => r))),
  },
  {
    method: 'POST', path: '/api/vms', changes: true,
    handler: async (ctx) => {
      onlyKeys(ctx.body, KNOWN_CREATE);
      const name = checked(() => checkVmName(str(ctx.body, 'name', true)));
      const template = str(ctx.body, 'template') ?? DEFAULT_TEMPLATE;
      if (template !== DEFAULT_TEMPLATE && !ctx.store.templateNames().includes(template)) throw new HttpError(404, `no template named '${template.slice(0, 80)}'`);
      if (ctx.store.hasVm(name)) throw new HttpError(409, `a VM named '${name}' already exists`);
      const base = template === DEFAULT_TEMPLATE ? (await ensureDefaultTemplate(ctx.store)).settings : ctx.store.loadTemplate(template).settings;
      const settings = createSettings(ctx.body, base);
      const spec = await createVm(ctx.store, name, { template, settings, diskSize: size(ctx.body, 'diskSize') });
      return ok({ name: spec.name, template, memory: spec.memory }, 201);
    },
  },
  {
    method: 'GET', path: '/api/vms/{name}', changes: false,
    handler: async (ctx) => {
      const name = vm(ctx);
      const spec = ctx.store.loadVm(name);
      const { hostKey: _k, randomSeed: _r, ...identity } = spec.identity;
      return ok(json({ ...spec, identity, status: await vmStatus(ctx.store, name, spec) }));
    },
  },
  {
    method: 'DELETE', path: '/api/vms/{name}', changes: true,
    handler: async (ctx) => {
      const name = vm(ctx);
      if (isRunning(ctx.store, name)) {
        if (ctx.query.get('force') !== 'true') throw new HttpError(409, `VM '${name}' is running; stop it first or give ?force=true`);
        await killVm(ctx.store, name);
      }
      await removeVm(ctx.store, name);
      return ok({ removed: name });
    },
  },
  {
    method: 'POST', path: '/api/vms/{name}/start', changes: true,
    handler: async (ctx) => {
      const name = vm(ctx);
      if (isRunning(ctx.store, name)) throw new HttpError(409, `VM '${name}' is running already`);
      const r = await startVm(ctx.store, name);
      return ok({ pid: r.pid, wasCrashed: r.wasCrashed });
    },
  },
  {
    method: 'POST', path: '/api/vms/{name}/stop', changes: true,
    handler: async (ctx) => {
      const name = vm(ctx);
      const timeout = num(ctx.body, 'timeout', 0) ?? 30;
      needRunning(ctx.store, name);
      return ok({ how: await stopVm(ctx.store, name, timeout * 1000) });
    },
  },
  {
    method: 'POST', path: '/api/vms/{name}/restart', changes: true,
    handler: async (ctx) => {
      const name = vm(ctx);
      const timeout = num(ctx.body, 'timeout', 0) ?? 30;
      if (isRunning(ctx.store, name)) await stopVm(ctx.store, name, timeout * 1000);
      return ok({ pid: (await startVm(ctx.store, name)).pid });
    },
  },
  {
    method: 'POST', path: '/api/vms/{name}/kill', changes: true,
    handler: async (ctx) => {
      const name = vm(ctx);
      needRunning(ctx.store, name);
      await killVm(ctx.store, name);
      return ok({});
    },
  },
  {
    method: 'POST', path: '/api/vms/{name}/pause', changes: true,
    handler: async (ctx) => { await ask(ctx.store, vm(ctx), 'pause'); return ok({}); },
  },
  {
    method: 'POST', path: '/api/vms/{name}/resume', changes: true,
    handler: async (ctx) => { await ask(ctx.store, vm(ctx), 'resume'); return ok({}); },
  },
  {
    method: 'POST', path: '/api/vms/{name}/exec', changes: false,
    handler: async (ctx) => {
      const name = vm(ctx);
      const argv = strings(ctx.body, 'argv');
      if (argv === undefined || argv.length === 0) throw bad("'argv' is required (a non-empty list of strings)");
      const args: JsonObject = { argv };
      const stdin = str(ctx.body, 'stdin');
      if (stdin !== undefined) args.stdin = stdin;
      const timeoutMs = num(ctx.body, 'timeoutMs', 1);
      if (timeoutMs !== undefined) args.timeoutMs = timeoutMs;
      return ok(await ask(ctx.store, name, 'exec', args));
    },
  },
  {
    method: 'GET', path: '/api/vms/{name}/logs', changes: false,
    handler: async (ctx) => {
      const f = files(ctx.store.vmDir(vm(ctx)));
      return { status: 200, body: readConsoleLog(f.console, f.consoleOld), type: 'text/plain; charset=utf-8' };
    },
  },
  {
    method: 'POST', path: '/api/vms/{name}/clone', changes: true,
    handler: async (ctx) => {
      const name = vm(ctx);
      onlyKeys(ctx.body, new Set(['name', 'full', 'snapshot']));
      const dst = checked(() => checkVmName(str(ctx.body, 'name', true)));
      if (ctx.store.hasVm(dst)) throw new HttpError(409, `a VM named '${dst}' already exists`);
      const snap = str(ctx.body, 'snapshot');
      const full = bool(ctx.body, 'full');
      if (snap !== undefined) {
        if (full) throw bad("'snapshot' makes a copy of its own; 'full' does not apply");
        await forkVm(ctx.store, name, dst, snapshot({ ...ctx, params: { ...ctx.params, snapshot: snap } }, name));
      } else {
        needStopped(ctx.store, name, 'cloning it');
        await cloneVm(ctx.store, name, dst, { full });
      }
      return ok({ name: dst }, 201);
    },
  },
  {
    method: 'GET', path: '/api/vms/{name}/snapshots', changes: false,
    handler: async (ctx) => ok(json(listSnapshots(ctx.store, vm(ctx)))),
  },
  {
    method: 'POST', path: '/api/vms/{name}/snapshots', changes: true,
    handler: async (ctx) => {
      const name = vm(ctx);
      const snap = checked(() => checkSnapshotName(str(ctx.body, 'name', true)));
      if (loadTree(ctx.store.vmDir(name)).snapshots.some((s) => s.name === snap)) throw new HttpError(409, `VM '${name}' has a snapshot '${snap}' already`);
      const r = await createSnapshot(ctx.store, name, snap);
      return ok(json({ ...r.entry, pauseMs: r.pauseMs }), 201);
    },
  },
  {
    method: 'POST', path: '/api/vms/{name}/snapshots/{snapshot}/restore', changes: true,
    handler: async (ctx) => {
      const name = vm(ctx);
      return ok(json(await restoreSnapshot(ctx.store, name, snapshot(ctx, name))));
    },
  },
  {
    method: 'DELETE', path: '/api/vms/{name}/snapshots/{snapshot}', changes: true,
    handler: async (ctx) => {
      const name = vm(ctx);
      const snap = snapshot(ctx, name);
      await removeSnapshot(ctx.store, name, snap);
      return ok({ removed: snap });
    },
  },
  {
    method: 'POST', path: '/api/vms/{name}/migrate', changes: true,
    handler: async (ctx) => {
      const name = vm(ctx);
      onlyKeys(ctx.body, new Set(['to', 'withDisks', 'token', 'maxDowntimeMs', 'bandwidth', 'compress', 'keepSource']));
      const { host, port } = checked(() => parseHostPort(str(ctx.body, 'to', true), "'to'"));
      const withDisks = bool(ctx.body, 'withDisks'), keepSource = bool(ctx.body, 'keepSource');
      const maxDowntimeMs = num(ctx.body, 'maxDowntimeMs', 1) ?? 100;
      const bandwidth = size(ctx.body, 'bandwidth');
      const token = str(ctx.body, 'token');
      const c = str(ctx.body, 'compress');
      const compress = c === undefined ? undefined : checked(() => parseCompression(c, "'compress'"));
      needRunning(ctx.store, name);
      return ok(json(await migrateVm(ctx.store, name, { host, port, withDisks, maxDowntimeMs, bandwidth, compress, token, keepSource })));
    },
  },
  {
    method: 'GET', path: '/api/templates', changes: false,
    handler: async (ctx) => {
      await ensureDefaultTemplate(ctx.store);
      return ok(json(ctx.store.templateNames().map((n) => {
        try {
          const t = ctx.store.loadTemplate(n);
          return { name: n, from: t.from ?? null, created: t.created, memory: t.settings.memory };
        } catch (e) {
          return { name: n, error: (e as Error).message };
        }
      })));
    },
  },
  {
    method: 'POST', path: '/api/templates', changes: true,
    handler: async (ctx) => {
      onlyKeys(ctx.body, new Set(['name', 'from']));
      const name = checked(() => checkVmName(str(ctx.body, 'name', true), 'template'));
      const from = str(ctx.body, 'from', true);
      if (!ctx.store.hasVm(from)) throw new HttpError(404, `no VM named '${from.slice(0, 80)}'`);
      needStopped(ctx.store, from, 'making a template of it');
      if (name === DEFAULT_TEMPLATE || ctx.store.templateNames().includes(name)) throw new HttpError(409, `a template named '${name}' already exists`);
      await createTemplate(ctx.store, name, from);
      return ok({ name }, 201);
    },
  },
  {
    method: 'DELETE', path: '/api/templates/{template}', changes: true,
    handler: async (ctx) => {
      const name = checked(() => checkVmName(ctx.params.template, 'template'));
      if (name !== DEFAULT_TEMPLATE && !ctx.store.templateNames().includes(name)) throw new HttpError(404, `no template named '${name.slice(0, 80)}'`);
      await removeTemplate(ctx.store, name);
      return ok({ removed: name });
    },
  },
];

/** The HTTP status of an error a route threw, and its one line. */
export function errorAnswer(e: unknown): Answer {
  const line = (m: string): string => m.split('\n')[0];
  if (e instanceof HttpError) return { status: e.status, body: { error: line(e.message) } };
  if (e instanceof ControlError) {
    const status = { BadRequest: 400, CommandNotFound: 501, WrongState: 409, Unavailable: 503, GuestError: 502 }[e.errorClass];
    return { status, body: { error: line(e.message) } };
  }
  // The store's refusals (locked, depends on, not running...) are about its state at this moment.
  if (e instanceof BonsaiError) return { status: 409, body: { error: line(e.message) } };
  return { status: 500, body: { error: `internal error: ${line((e as Error).message ?? String(e))}` } };
}

/** Matches a request path against a route's pattern; the path parameters, or null. */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split('/'), a = path.split('/');
  if (p.length !== a.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    const m = /^\{(\w+)\}$/.exec(p[i]);
    if (m !== null) {
      let v: string;
      try { v = decodeURIComponent(a[i]); } catch { return null; }
      if (v === '') return null;
      params[m[1]] = v;
    } else if (p[i] !== a[i]) return null;
  }
  return params;
}
