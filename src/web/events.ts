/**
 * The VMs' state pushed to every open page (the WebSocket /api/events), so a page never needs a reload.
 * Each message is the whole list, as GET /api/vms gives it: `{"type": "vms", "vms": [...], "at": MS}`, sent
 * when a page connects and whenever the list changes (uptimes aside: a page counts those itself from `at`).
 *
 * What makes it look again: a change made through the API (at once), an event from a running VM's
 * process (STATE, AGENT, BOOT, SHUTDOWN: one control connection per running VM, kept while pages are
 * open), and a look at the store every second for what other clients (the CLI) did.
 */
import type { WebSocket } from 'ws';
import { ControlClient } from '../vm/control/client.js';
import { files, vmState } from '../vm/process/runtime.js';
import { listVms, type VmRow } from '../vm/status.js';
import type { Store } from '../vm/store/store.js';

const POLL_MS = 1000;

export class EventHub {
  private readonly pages = new Set<WebSocket>();
  private readonly watched = new Map<string, ControlClient | 'connecting'>();
  private timer: NodeJS.Timeout | null = null;
  private last = '';
  private lastMessage = '';
  private refreshing = false;
  private again = false;
  private closed = false;

  constructor(private readonly store: Store) {}

  /** A page's WebSocket: it gets the list now and every change after. */
  add(ws: WebSocket): void {
    this.pages.add(ws);
    ws.on('close', () => {
      this.pages.delete(ws);
      if (this.pages.size === 0) this.idle();
    });
    ws.on('error', () => ws.terminate());
    if (this.timer === null) {
      this.timer = setInterval(() => this.changed(), POLL_MS);
      this.changed();
    } else if (this.lastMessage !== '') {
      ws.send(this.lastMessage);
    } // else the first look is under way, and its list goes to every page open by then
  }

  get pageCount(): number { return this.pages.size; }

  /** Something may have changed: look again (now, or right after the look under way). */
  changed(): void {
    if (this.closed || this.pages.size === 0) return;
    if (this.refreshing) { this.again = true; return; }
    this.refreshing = true;
    void this.refresh().finally(() => {
      this.refreshing = false;
      if (this.again) { this.again = false; this.changed(); }
    });
  }

  private async refresh(): Promise<void> {
    let vms: VmRow[];
    try { vms = await listVms(this.store); } catch { return; }
    this.watch(vms);
    const rows = vms.map(({ crash: _c, ...r }) => r);
    const key = JSON.stringify(rows.map(({ uptime: _u, ...r }) => r));
    if (key === this.last) return;
    this.last = key;
    this.lastMessage = JSON.stringify({ type: 'vms', vms: rows, at: Date.now() });
    for (const ws of this.pages) {
      if (ws.bufferedAmount > 1 << 20) { ws.terminate(); continue; }
      ws.send(this.lastMessage);
    }
  }

  /** One control connection per running VM, for its events. */
  private watch(vms: VmRow[]): void {
    for (const v of vms) {
      if (this.watched.has(v.name) || vmState(this.store.vmDir(v.name)).state !== 'running') continue;
      this.watched.set(v.name, 'connecting');
      ControlClient.connect(files(this.store.vmDir(v.name)).socket, v.name, 2000).then((c) => {
        if (this.closed || this.pages.size === 0) { c.close(); this.watched.delete(v.name); return; }
        this.watched.set(v.name, c);
        c.onEvent = () => this.changed();
        c.onClose = () => { this.watched.delete(v.name); this.changed(); };
      }, () => { this.watched.delete(v.name); });
    }
  }

  /** No page is open: nothing to push, no connections kept. */
  private idle(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.last = '';
    this.lastMessage = '';
    for (const c of this.watched.values()) if (c !== 'connecting') c.close();
    this.watched.clear();
  }

  close(): void {
    this.closed = true;
    for (const ws of this.pages) ws.terminate();
    this.pages.clear();
    this.idle();
  }
}
