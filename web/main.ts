/**
 * The web UI of `bonsai serve`: the VM list (pushed over /api/events), lifecycle buttons, a create form,
 * each VM's snapshot tree, and its serial console in xterm.js over /api/vms/NAME/console. Everything goes
 * through the JSON API; the token is the cookie set when the printed URL was opened.
 */
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import './style.css';

interface Vm {
  name: string; state: string; memory: number; uptime?: number; addresses: string[]; forwards: string[];
  agent?: boolean; error?: string;
}
interface Snapshot { name: string; parent: string | null; created: string; running: boolean; stateBytes: number }
interface Tree { current: string | null; snapshots: Snapshot[] }
interface Template { name: string; error?: string }

const $ = <T extends HTMLElement>(sel: string): T => {
  const e = document.querySelector<T>(sel);
  if (e === null) throw new Error(`the page has no ${sel}`);
  return e;
};

let vms: Vm[] = [];
let listedAt = Date.now();
let selected: string | null = null;

// --- talking to the API ---------------------------------------------------------------------------

async function api<T>(method: string, path: string, body?: object): Promise<T> {
  const r = await fetch(path, {
    method, credentials: 'same-origin',
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let v: unknown = text;
  try { v = JSON.parse(text); } catch { /* text */ }
  if (!r.ok) {
    const why = typeof v === 'object' && v !== null && 'error' in v ? String((v as { error: unknown }).error) : `${r.status} ${r.statusText}`;
    throw new Error(why);
  }
  return v as T;
}

function showError(e: unknown): void {
  const m = $('#message');
  m.textContent = e instanceof Error ? e.message : String(e);
  m.hidden = false;
}

/** Runs an action with its button disabled meanwhile; its error goes to the message bar. */
async function act(button: HTMLButtonElement | null, f: () => Promise<unknown>): Promise<void> {
  $('#message').hidden = true;
  if (button !== null) button.disabled = true;
  document.body.classList.add('busy');
  try { await f(); } catch (e) { showError(e); } finally {
    document.body.classList.remove('busy');
    if (button !== null) button.disabled = false;
  }
}

// --- the VM list ----------------------------------------------------------------------------------

const MiB = 1024 * 1024;
const size = (b: number): string => (b === 0 ? '-' : b % (1024 * MiB) === 0 ? `${b / 1024 / MiB} GiB` : `${Math.round(b / MiB)} MiB`);

function uptime(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

const live = (v: Vm): boolean => v.state === 'running' || v.state === 'paused' || v.state === 'shutting-down';

interface Action { label: string; when(v: Vm): boolean; run(v: Vm): Promise<unknown> }

const actions: Action[] = [
  { label: 'Start', when: (v) => v.state === 'stopped' || v.state === 'crashed', run: (v) => api('POST', `/api/vms/${v.name}/start`) },
  { label: 'Stop', when: (v) => v.state === 'running' || v.state === 'paused', run: (v) => api('POST', `/api/vms/${v.name}/stop`) },
  { label: 'Kill', when: (v) => live(v) || v.state === 'unresponsive', run: (v) => api('POST', `/api/vms/${v.name}/kill`) },
  { label: 'Pause', when: (v) => v.state === 'running', run: (v) => api('POST', `/api/vms/${v.name}/pause`) },
  { label: 'Resume', when: (v) => v.state === 'paused', run: (v) => api('POST', `/api/vms/${v.name}/resume`) },
  {
    label: 'Clone', when: (v) => v.state === 'stopped',
    run: async (v) => {
      const name = prompt(`A name for the clone of ${v.name}`, `${v.name}-clone`);
      if (name !== null && name !== '') await api('POST', `/api/vms/${v.name}/clone`, { name });
    },
  },
  {
    label: 'Remove', when: (v) => !live(v),
    run: async (v) => {
      if (!confirm(`Remove VM ${v.name} and its disks?`)) return;
      await api('DELETE', `/api/vms/${v.name}`);
      if (selected === v.name) select(null);
    },
  },
];

function cell(row: HTMLTableRowElement, text: string, cls?: string): HTMLTableCellElement {
  const td = row.insertCell();
  td.textContent = text;
  if (cls !== undefined) td.className = cls;
  return td;
}

function renderList(): void {
  const body = $<HTMLTableSectionElement>('#vms tbody');
  body.replaceChildren();
  $('#empty').hidden = vms.length > 0;
  const elapsed = Math.floor((Date.now() - listedAt) / 1000);
  for (const v of vms) {
    const row = body.insertRow();
    row.dataset.vm = v.name;
    if (v.name === selected) row.classList.add('selected');
    const name = cell(row, '');
    const open = document.createElement('a');
    open.href = `#${v.name}`;
    open.textContent = v.name;
    open.addEventListener('click', (e) => { e.preventDefault(); select(v.name); });
    name.append(open);
    cell(row, v.state, `state state-${v.state}`).title = v.error ?? '';
    cell(row, size(v.memory));
    cell(row, v.uptime === undefined ? '-' : uptime(v.uptime + (v.state === 'running' ? elapsed : 0)), 'uptime');
    cell(row, v.addresses.join(', ') || '-');
    cell(row, v.forwards.join(', ') || '-');
    const td = cell(row, '');
    for (const a of actions) {
      if (!a.when(v)) continue;
      const b = document.createElement('button');
      b.textContent = a.label;
      b.addEventListener('click', () => { void act(b, () => a.run(v)); });
      td.append(b);
    }
  }
  if (selected !== null) {
    const v = vms.find((x) => x.name === selected);
    if (v === undefined) select(null);
    else syncConsole(v);
  }
}

setInterval(() => {
  const elapsed = Math.floor((Date.now() - listedAt) / 1000);
  for (const v of vms) {
    if (v.uptime === undefined || v.state !== 'running') continue;
    const td = document.querySelector(`#vms tr[data-vm="${v.name}"] td.uptime`);
    if (td !== null) td.textContent = uptime(v.uptime + elapsed);
  }
}, 1000);

/** The live list: a WebSocket that the server pushes every change down; reconnects when lost. */
function connectEvents(): void {
  const ws = new WebSocket(`ws://${location.host}/api/events`);
  const link = $('#link');
  ws.onopen = () => { link.textContent = 'live'; link.className = 'link up'; };
  ws.onmessage = (m) => {
    const msg = JSON.parse(String(m.data)) as { type: string; vms: Vm[]; at: number };
    if (msg.type !== 'vms') return;
    vms = msg.vms;
    listedAt = Date.now();
    renderList();
    if (selected !== null) void loadSnapshots();
  };
  ws.onclose = () => {
    link.textContent = 'reconnecting…'; link.className = 'link down';
    setTimeout(connectEvents, 1000);
  };
}

// --- one VM: its console and snapshots ------------------------------------------------------------

let term: Terminal | null = null;
let fit: FitAddon | null = null;
let consoleWs: WebSocket | null = null;
let consoleOf: string | null = null;

function select(name: string | null): void {
  selected = name;
  $('#detail').hidden = name === null;
  for (const tr of document.querySelectorAll<HTMLTableRowElement>('#vms tbody tr')) tr.classList.toggle('selected', tr.dataset.vm === name);
  if (name === null) { closeConsole(); return; }
  $('#detail-title').textContent = name;
  history.replaceState(null, '', `#${name}`);
  void loadSnapshots();
  const v = vms.find((x) => x.name === name);
  closeConsole();
  if (v !== undefined) syncConsole(v);
}

function ensureTerminal(): Terminal {
  if (term !== null) return term;
  const t = new Terminal({ convertEol: false, cursorBlink: true, fontSize: 14, scrollback: 5000, fontFamily: 'ui-monospace, monospace' });
  fit = new FitAddon();
  t.loadAddon(fit);
  t.open($('#terminal'));
  fit.fit();
  const enc = new TextEncoder();
  t.onData((d) => { if (consoleWs?.readyState === WebSocket.OPEN) consoleWs.send(enc.encode(d)); });
  t.onResize(({ cols, rows }) => { if (consoleWs?.readyState === WebSocket.OPEN) consoleWs.send(JSON.stringify({ resize: { cols, rows } })); });
  // Ctrl+Shift+C / Ctrl+Shift+V: the clipboard (plain Ctrl-C goes to the guest).
  t.attachCustomKeyEventHandler((e) => {
    if (e.type !== 'keydown' || !e.ctrlKey || !e.shiftKey) return true;
    if (e.code === 'KeyC') { if (t.hasSelection()) void navigator.clipboard.writeText(t.getSelection()); return false; }
    if (e.code === 'KeyV') { void navigator.clipboard.readText().then((s) => t.paste(s)); return false; }
    return true;
  });
  new ResizeObserver(() => fit?.fit()).observe($('#terminal'));
  term = t;
  return t;
}

function closeConsole(): void {
  consoleWs?.close();
  consoleWs = null;
  consoleOf = null;
}

/** The console follows the selected VM's state: attached while it runs. */
function syncConsole(v: Vm): void {
  const status = $('#console-status');
  if (!live(v)) {
    if (consoleOf === v.name) closeConsole();
    status.textContent = `${v.name} is ${v.state}`;
    return;
  }
  if (consoleOf === v.name) return;
  closeConsole();
  const t = ensureTerminal();
  t.reset();
  consoleOf = v.name;
  const ws = new WebSocket(`ws://${location.host}/api/vms/${encodeURIComponent(v.name)}/console`);
  ws.binaryType = 'arraybuffer';
  consoleWs = ws;
  status.textContent = `connecting to ${v.name}'s console…`;
  ws.onopen = () => {
    status.textContent = `${v.name}'s serial console`;
    ws.send(JSON.stringify({ resize: { cols: t.cols, rows: t.rows } }));
    t.focus();
  };
  ws.onmessage = (m) => { if (m.data instanceof ArrayBuffer) t.write(new Uint8Array(m.data)); };
  ws.onclose = (e) => {
    if (consoleWs !== ws) return;
    consoleWs = null;
    consoleOf = null;
    status.textContent = e.reason !== '' ? e.reason : 'the console closed';
  };
}

function snapshotTree(tree: Tree): { s: Snapshot; depth: number }[] {
  const out: { s: Snapshot; depth: number }[] = [];
  const walk = (parent: string | null, depth: number): void => {
    for (const s of tree.snapshots.filter((x) => x.parent === parent)) { out.push({ s, depth }); walk(s.name, depth + 1); }
  };
  walk(null, 0);
  // Any whose parent is gone from the list (should not happen) still shows.
  for (const s of tree.snapshots) if (!out.some((o) => o.s === s)) out.push({ s, depth: 0 });
  return out;
}

async function loadSnapshots(): Promise<void> {
  const name = selected;
  if (name === null) return;
  let tree: Tree;
  try { tree = await api<Tree>('GET', `/api/vms/${name}/snapshots`); } catch (e) { showError(e); return; }
  if (selected !== name) return;
  const ul = $('#snapshots');
  ul.replaceChildren();
  if (tree.snapshots.length === 0) { const li = document.createElement('li'); li.textContent = 'none yet'; ul.append(li); }
  for (const { s, depth } of snapshotTree(tree)) {
    const li = document.createElement('li');
    li.dataset.snapshot = s.name;
    if (s.name === tree.current) li.classList.add('current');
    const label = document.createElement('span');
    label.className = 'snap-name';
    label.textContent = `${'  '.repeat(depth)}${depth > 0 ? '└ ' : ''}${s.name}${s.name === tree.current ? ' ●' : ''}`;
    label.style.whiteSpace = 'pre';
    label.title = `${s.created}: ${s.running ? `the running machine (${size(s.stateBytes)})` : 'disks only'}`;
    li.append(label);
    const restore = document.createElement('button');
    restore.textContent = 'Restore';
    restore.addEventListener('click', () => { void act(restore, async () => { await api('POST', `/api/vms/${name}/snapshots/${s.name}/restore`); await loadSnapshots(); }); });
    const del = document.createElement('button');
    del.textContent = 'Delete';
    del.addEventListener('click', () => {
      if (!confirm(`Delete snapshot ${s.name}?`)) return;
      void act(del, async () => { await api('DELETE', `/api/vms/${name}/snapshots/${s.name}`); await loadSnapshots(); });
    });
    li.append(restore, del);
    ul.append(li);
  }
}

// --- the forms ------------------------------------------------------------------------------------

async function loadTemplates(): Promise<void> {
  const sel = $<HTMLSelectElement>('#create select[name=template]');
  const ts = await api<Template[]>('GET', '/api/templates');
  sel.replaceChildren(...ts.filter((t) => t.error === undefined).map((t) => new Option(t.name, t.name, t.name === 'default', t.name === 'default')));
}

$<HTMLFormElement>('#create').addEventListener('submit', (e) => {
  e.preventDefault();
  const f = e.target as HTMLFormElement;
  const data = new FormData(f);
  const button = f.querySelector('button');
  void act(button, async () => {
    // Before the templates have come (a slow host) the list is empty: the server's default then, not "null".
    const template = data.get('template');
    await api('POST', '/api/vms', { name: String(data.get('name')), memory: String(data.get('memory')), ...(template === null || template === '' ? {} : { template: String(template) }) });
    f.reset();
  });
});

$<HTMLFormElement>('#snapshot-create').addEventListener('submit', (e) => {
  e.preventDefault();
  const f = e.target as HTMLFormElement;
  const name = String(new FormData(f).get('name'));
  const vm = selected;
  if (vm === null) return;
  void act(f.querySelector('button'), async () => {
    await api('POST', `/api/vms/${vm}/snapshots`, { name });
    f.reset();
    await loadSnapshots();
  });
});

// The address names the VM shown: /#NAME (a bookmark, or the back button).
window.addEventListener('hashchange', () => {
  const name = location.hash.length > 1 ? decodeURIComponent(location.hash.slice(1)) : null;
  if (name !== selected) select(name);
});

connectEvents();
void loadTemplates().catch(showError);
if (location.hash.length > 1) selected = decodeURIComponent(location.hash.slice(1));
const initial = selected;
if (initial !== null) { selected = null; setTimeout(() => select(initial), 0); }
