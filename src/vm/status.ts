/**
 * A VM's state as its clients show it (`bonsai list`, `bonsai info`, the HTTP API): from its folder, and for
 * a running one from its process over the control socket (paused, uptime, addresses).
 */
import type { ControlClient } from './control/client.js';
import type { JsonObject } from './control/protocol.js';
import { connectVm } from './process/launch.js';
import { vmState } from './process/runtime.js';
import type { VmSpec } from './spec.js';
import type { Store } from './store/store.js';

export interface VmStatus {
  /** `stopped`, `running`, `paused`, `shutting-down`, `crashed`, `unresponsive` (its process does not answer). */
  state: string;
  /** Seconds since the current boot (a running VM). */
  uptime?: number;
  memory: number; addresses: string[]; forwards: string[]; agent?: boolean;
  pid?: number; sshPort?: number | null; crash?: string;
}

/** How long a running VM's process has to answer a status. */
const STATUS_TIMEOUT_MS = 3000;

/** A VM's state: from its folder, and for a running one from its process (paused, uptime, addresses). */
export async function vmStatus(store: Store, name: string, spec: VmSpec): Promise<VmStatus> {
  const s = vmState(store.vmDir(name));
  const base: VmStatus = { state: s.state, memory: spec.memory, addresses: [], forwards: spec.forwards, crash: s.crash };
  if (s.state !== 'running') return base;
  let c: ControlClient | null = null;
  let timer: NodeJS.Timeout | undefined;
  try {
    c = await connectVm(store, name);
    const late = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), STATUS_TIMEOUT_MS); });
    const r = await Promise.race([c.request('status'), late]) as JsonObject | null;
    if (r === null) return { ...base, state: 'unresponsive', pid: s.pid?.pid };
    return {
      state: String(r.state), uptime: Number(r.uptime), memory: spec.memory, addresses: (r.addresses as string[]) ?? [],
      forwards: (r.forwards as string[]) ?? spec.forwards, agent: r.agent === true, pid: Number(r.pid), sshPort: r.sshPort as number | null,
    };
  } catch {
    return { ...base, state: 'unresponsive', pid: s.pid?.pid };
  } finally {
    clearTimeout(timer);
    c?.close();
  }
}

export type VmRow = VmStatus & { name: string; error?: string };

/** Every VM in the store with its state, each running one asked at once (each answers for itself). */
export function listVms(store: Store): Promise<VmRow[]> {
  return Promise.all(store.vmNames().map(async (name): Promise<VmRow> => {
    let spec: VmSpec;
    try { spec = store.loadVm(name); } catch (e) {
      return { name, state: 'damaged', memory: 0, addresses: [], forwards: [], error: (e as Error).message };
    }
    return { name, ...(await vmStatus(store, name, spec)) };
  }));
}
