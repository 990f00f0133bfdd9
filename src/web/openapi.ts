/**
 * The API's contract, served at /api/openapi.json (OpenAPI 3.1). Written by hand, apart from the routes in
 * api.ts: a test checks that the two name the same operations and that real answers match the schemas.
 */
import type { JsonObject, JsonValue } from '../vm/control/protocol.js';

const str = { type: 'string' }, int = { type: 'integer' }, bool = { type: 'boolean' }, num = { type: 'number' };
const strings = { type: 'array', items: str };
const size = { description: 'bytes, or text such as "256M"', oneOf: [int, str] };
const obj = (properties: JsonObject, required: string[] = [], extra = true): JsonObject =>
  ({ type: 'object', properties, required, ...(extra ? {} : { additionalProperties: false }) });
const ref = (name: string): JsonObject => ({ $ref: `#/components/schemas/${name}` });

const nameParam = { name: 'name', in: 'path', required: true, schema: str, description: 'the VM' };
const snapParam = { name: 'snapshot', in: 'path', required: true, schema: str, description: 'the snapshot' };

const errors = (...codes: number[]): JsonObject => Object.fromEntries(codes.map((c) => [String(c), { $ref: `#/components/responses/E${c}` }]));

function op(summary: string, o: { params?: JsonValue[]; body?: JsonObject; ok?: JsonObject; code?: number; errs?: number[]; text?: boolean; query?: JsonValue[] }): JsonObject {
  const code = String(o.code ?? 200);
  const content: JsonObject = o.text === true ? { 'text/plain': { schema: str } } : { 'application/json': { schema: o.ok ?? obj({}) } };
  return {
    summary,
    ...(o.params === undefined && o.query === undefined ? {} : { parameters: [...(o.params ?? []), ...(o.query ?? [])] }),
    ...(o.body === undefined ? {} : { requestBody: { required: true, content: { 'application/json': { schema: o.body } } } }),
    responses: { [code]: { description: summary, content }, ...errors(401, ...(o.errs ?? [])) },
  };
}

const vmProps: JsonObject = {
  state: { type: 'string', enum: ['stopped', 'running', 'paused', 'shutting-down', 'crashed', 'unresponsive', 'damaged'] },
  uptime: int, memory: int, addresses: strings, forwards: strings, agent: bool, pid: int, sshPort: { type: ['integer', 'null'] },
};
const vmStatus = obj(vmProps, ['state', 'memory', 'addresses', 'forwards']);
const vmRow = obj({ name: str, ...vmProps, error: str }, ['name', 'state', 'memory', 'addresses', 'forwards']);

const snapshotEntry = obj({
  name: str, parent: { type: ['string', 'null'] }, created: str, running: bool, stateBytes: int, vmClockNs: num,
  disks: strings, settings: str, agent: bool,
}, ['name', 'parent', 'created', 'running', 'stateBytes']);

const timeout = obj({ timeout: { type: 'number', description: 'seconds to wait for the guest (default 30), then the VM is killed' } });

export const openapi: JsonObject = {
  openapi: '3.1.0',
  info: {
    title: 'Bonsai', version: '1',
    description: 'The VMs of one Bonsai store. Every request carries the token bonsai serve prints: `Authorization: Bearer TOKEN`, or the cookie opening the printed URL sets. Errors are `{"error": "one line"}`.',
  },
  components: {
    securitySchemes: { token: { type: 'http', scheme: 'bearer' }, cookie: { type: 'apiKey', in: 'cookie', name: 'bonsai_token' } },
    schemas: { Error: obj({ error: str }, ['error']), Vm: vmRow, VmStatus: vmStatus, Snapshot: snapshotEntry },
    responses: Object.fromEntries([
      [400, 'the request is malformed (body, name or argument)'], [401, 'the token is missing or wrong'], [404, 'no such VM, snapshot or template'],
      [409, 'not in this state (e.g. start a running VM)'], [503, 'the guest agent is not running'],
    ].map(([c, d]) => [`E${c}`, { description: d, content: { 'application/json': { schema: ref('Error') } } }])),
  },
  security: [{ token: [] }, { cookie: [] }],
  paths: {
    '/api/openapi.json': { get: op('this document', { ok: obj({ openapi: str, paths: { type: 'object' } }, ['openapi', 'paths']) }) },
    '/api/vms': {
      get: op('the VMs with their state (bonsai list)', { ok: { type: 'array', items: ref('Vm') } }),
      post: op('create a VM from a template (bonsai create)', {
        body: obj({
          name: str, template: { type: 'string', description: 'default: the bundled guest' }, memory: size, diskSize: size,
          net: str, forwards: strings, sshKeys: { ...strings, description: "OpenSSH public key lines for root (default: the server's user's ~/.ssh key)" },
        }, ['name'], false),
        code: 201, ok: obj({ name: str, template: str, memory: int }, ['name', 'template', 'memory']), errs: [400, 404, 409],
      }),
    },
    '/api/vms/{name}': {
      get: op("a VM's definition and state (bonsai info)", { params: [nameParam], ok: obj({ name: str, memory: int, status: ref('VmStatus') }, ['name', 'memory', 'status']), errs: [400, 404] }),
      delete: op('remove a stopped VM and its disks (bonsai rm)', {
        params: [nameParam], query: [{ name: 'force', in: 'query', schema: { type: 'string', enum: ['true'] }, description: 'kill it first if it runs' }],
        ok: obj({ removed: str }, ['removed']), errs: [400, 404, 409],
      }),
    },
    '/api/vms/{name}/start': { post: op('start a VM in the background (bonsai start)', { params: [nameParam], ok: obj({ pid: int, wasCrashed: bool }, ['pid']), errs: [400, 404, 409] }) },
    '/api/vms/{name}/stop': { post: op('power a VM off through its guest (bonsai stop)', { params: [nameParam], ok: obj({ how: { type: 'string', enum: ['graceful', 'killed'] } }, ['how']), errs: [400, 404, 409] }) },
    '/api/vms/{name}/restart': { post: op('stop a VM and start it again (bonsai restart)', { params: [nameParam], ok: obj({ pid: int }, ['pid']), errs: [400, 404, 409] }) },
    '/api/vms/{name}/kill': { post: op('stop a VM at once (bonsai kill)', { params: [nameParam], errs: [400, 404, 409] }) },
    '/api/vms/{name}/pause': { post: op("freeze a VM's processor and clock (bonsai pause)", { params: [nameParam], errs: [400, 404, 409] }) },
    '/api/vms/{name}/resume': { post: op('let a paused VM run again (bonsai resume)', { params: [nameParam], errs: [400, 404, 409] }) },
    '/api/vms/{name}/exec': {
      post: op('run a command in the guest through its agent (bonsai exec)', {
        params: [nameParam], body: obj({ argv: strings, stdin: { type: 'string', description: 'base64' }, timeoutMs: num }, ['argv']),
        ok: obj({ status: int, stdout: { type: 'string', description: 'base64' }, stderr: { type: 'string', description: 'base64' } }, ['status', 'stdout', 'stderr']),
        errs: [400, 404, 409, 503],
      }),
    },
    '/api/vms/{name}/logs': { get: op('the console output of the current or last boot (bonsai logs)', { params: [nameParam], text: true, errs: [400, 404] }) },
    '/api/vms/{name}/clone': {
      post: op('a new VM from a stopped one (linked, or full), or a fork at a snapshot (bonsai clone)', {
        params: [nameParam], body: obj({ name: str, full: bool, snapshot: str }, ['name'], false), code: 201,
        ok: obj({ name: str }, ['name']), errs: [400, 404, 409],
      }),
    },
    '/api/vms/{name}/snapshots': {
      get: op("a VM's snapshot tree (bonsai snapshot list)", {
        params: [nameParam], ok: obj({ version: int, current: { type: ['string', 'null'] }, snapshots: { type: 'array', items: ref('Snapshot') } }, ['current', 'snapshots']), errs: [400, 404],
      }),
      post: op('take a snapshot (bonsai snapshot create)', {
        params: [nameParam], body: obj({ name: str }, ['name']), code: 201,
        ok: { allOf: [ref('Snapshot'), obj({ pauseMs: { type: ['number', 'null'] } })] }, errs: [400, 404, 409],
      }),
    },
    '/api/vms/{name}/snapshots/{snapshot}/restore': {
      post: op('put the VM back to a snapshot (bonsai snapshot restore)', {
        params: [nameParam, snapParam], ok: obj({ running: bool, pauseMs: { type: ['number', 'null'] }, stopped: bool }, ['running', 'stopped']), errs: [400, 404, 409],
      }),
    },
    '/api/vms/{name}/snapshots/{snapshot}': {
      delete: op('delete a snapshot (bonsai snapshot rm)', { params: [nameParam, snapParam], ok: obj({ removed: str }, ['removed']), errs: [400, 404, 409] }),
    },
    '/api/vms/{name}/migrate': {
      post: op('move a running VM to another host (bonsai migrate)', {
        params: [nameParam],
        body: obj({ to: { type: 'string', description: 'HOST:PORT of bonsai receive' }, withDisks: bool, token: str, maxDowntimeMs: num, bandwidth: size, compress: { type: 'string', enum: ['auto', 'always', 'never'] }, keepSource: bool }, ['to'], false),
        ok: obj({ downtimeMs: num, sourceMs: num, totalMs: num, bytes: int, rounds: int }, ['downtimeMs', 'sourceMs', 'totalMs', 'bytes', 'rounds']), errs: [400, 404, 409, 503],
      }),
    },
    '/api/templates': {
      get: op('the templates (bonsai template list)', { ok: { type: 'array', items: obj({ name: str, from: { type: ['string', 'null'] }, created: str, memory: int, error: str }, ['name']) } }),
      post: op("freeze a stopped VM's root disk as a template (bonsai template create)", {
        body: obj({ name: str, from: str }, ['name', 'from'], false), code: 201, ok: obj({ name: str }, ['name']), errs: [400, 404, 409],
      }),
    },
    '/api/templates/{template}': {
      delete: op('remove a template no VM depends on (bonsai template rm)', {
        params: [{ name: 'template', in: 'path', required: true, schema: str }], ok: obj({ removed: str }, ['removed']), errs: [400, 404, 409],
      }),
    },
    '/api/events': {
      get: op('WebSocket: the VM list, pushed on every change: {"type": "vms", "vms": [Vm], "at": ms}', { code: 101, ok: obj({}) }),
    },
    '/api/vms/{name}/console': {
      get: op('WebSocket: the serial console; binary frames are its bytes both ways, a text frame {"resize": {"cols", "rows"}} sets the guest\'s terminal size', { params: [nameParam], code: 101, ok: obj({}) }),
    },
  },
};
