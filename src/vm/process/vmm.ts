/**
 * The VMM: the detached process that owns one running VM (`bonsai vmm NAME`, started by `bonsai start`).
 * It builds the machine from the VM's spec, keeps the console log, serves the control socket, and ends when
 * the guest powers off or a client asks it to quit. Its own diagnostics go to stderr (vmm.log).
 */
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { BonsaiError } from '../../errors.js';
import type { Machine } from '../../machine/machine.js';
import { GuestAgent } from '../agent.js';
import { PowerButton } from '../power-button.js';
import { CommandError, type JsonObject, type JsonValue, type RunState } from '../control/protocol.js';
import { ControlServer, type Handler } from '../control/server.js';
import { parseDisk, parseShare } from '../devices.js';
import { macBytes } from '../identity.js';
import { monitorCommand } from '../monitor.js';
import { nicMac, parseForward, parseNet } from '../network.js';
import { formatMac } from '../../net/link.js';
import { DEFAULT_APPEND, runMachine, type RunOptions } from '../run.js';
import type { VmSpec } from '../spec.js';
import { writeFileAtomic } from '../store/atomic.js';
import { storeKey } from '../store/keys.js';
import type { BlockBackend } from '../../storage/backend.js';
import { deleteDiskSnapshots, liveDisks } from '../snapshot/disks.js';
import { afterRestore, restoreSnapshot, takeSnapshot, type NewIdentity } from '../snapshot/live.js';
import { readStateFile } from '../snapshot/state-file.js';
import { checkSnapshotName, stateDir, statePath } from '../snapshot/tree.js';
import { migrateOut, parseCompression, type Compression, type MigrateResult } from '../migrate/send.js';
import type { Incoming } from '../migrate/receive.js';
import { pidAlive } from '../store/lock.js';
import type { Store } from '../store/store.js';
import { ConsoleLog } from './console-log.js';
import { files, readPidFile } from './runtime.js';

/** A free TCP port on 127.0.0.1 for the ssh forward `bonsai shell` uses. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Claims the VM: vmm.pid, created exclusively; a pid file of a dead VMM is taken over. */
function claim(dir: string, name: string): void {
  const path = files(dir).pid;
  for (let tries = 0; tries < 3; tries++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      try { writeSync(fd, JSON.stringify({ pid: process.pid, started: new Date().toISOString() })); } finally { closeSync(fd); }
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = readPidFile(dir);
      if (holder !== null && pidAlive(holder.pid)) throw new BonsaiError(`VM '${name}' is already running (pid ${holder.pid})`);
      rmSync(path, { force: true });
    }
  }
  throw new BonsaiError(`VM '${name}': cannot claim ${path}`);
}

/** The kernel command line: the bundled guest is told to run from its root disk. */
export function kernelCommandLine(spec: VmSpec): string | undefined {
  if (spec.kernel !== undefined || spec.root === undefined) return spec.append;
  const base = spec.append ?? (spec.console === 'virtio' ? 'console=hvc1' : DEFAULT_APPEND);
  return /\bbonsai\.root=/.test(base) ? base : `${base} bonsai.root=/dev/vda`;
}

/** The run options a spec describes (paths of owned disks resolved in the VM's folder). */
export function runOptionsOf(store: Store, spec: VmSpec, sshPort: number | null, extraKey: string): RunOptions {
  const forwards = spec.forwards.map((f) => parseForward(f));
  if (sshPort !== null) forwards.push({ protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: sshPort, guestPort: 22 });
  const disks = [...(spec.root === undefined ? [] : [spec.root]), ...spec.disks].map((d) => ({
    ...parseDisk(store.diskPath(spec.name, d.file)), readOnly: d.readOnly, format: d.format,
  }));
  // What each slot stands for, recorded in a snapshot and compared on restore: disks and shares by name.
  const identities = [...disks.map((_, i) => `disk:${[...(spec.root === undefined ? [] : [spec.root]), ...spec.disks][i].file}`),
    ...spec.shares.map((s) => `share:${s.tag}`)];
  return {
    identities,
    bios: spec.bios, kernel: spec.kernel, initrd: spec.initrd, append: kernelCommandLine(spec), memoryBytes: spec.memory,
    disks, shares: spec.shares.map((s) => parseShare(`${s.dir}:${s.tag}${s.readOnly ? ':ro' : ''}${s.mapped === true ? ':mapped' : ''}`)),
    virtioConsole: spec.console === 'virtio',
    engine: spec.engine ?? 'interp',
    network: {
      net: parseNet(spec.net), forwards, tftpRoot: spec.tftp, bootFile: spec.bootFile, switches: spec.switches,
      hostname: spec.name, mac: macBytes(spec.identity.mac),
    },
    guestConfig: {
      hostname: spec.name, sshKeys: [...spec.sshKeys, extraKey],
      machineId: spec.identity.machineId,
      hostKey: new Uint8Array(Buffer.from(spec.identity.hostKey, 'base64')),
      randomSeed: new Uint8Array(Buffer.from(spec.identity.randomSeed, 'base64')),
    },
  };
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

export interface VmmOptions {
  /** Start from this machine state file instead of booting (the disks were put back to match by the caller). */
  restore?: string;
  /**
   * The VM is a fork of a snapshot (vm/snapshot/fork.ts): the guest is given this VM's name, MAC and
   * machine-id after the restore, and the state file, used once, is removed.
   */
  fork?: boolean;
  /** The VM comes in by live migration through this (vm/migrate/receive.ts). */
  incoming?: Incoming;
}

/** Runs the VM `name` until it ends; resolves to the process's exit status. */
export async function runVmm(store: Store, name: string, vopts: VmmOptions = {}): Promise<number> {
  const spec = store.loadVm(name);
  const dir = store.vmDir(name);
  const f = files(dir);
  claim(dir, name);
  rmSync(f.crashed, { force: true });
  const log = (line: string): void => { process.stderr.write(`${new Date().toISOString()} ${line}\n`); };
  const consoleLog = new ConsoleLog(f.console, f.consoleOld);
  const agent = new GuestAgent();
  const button = new PowerButton();
  let machine: Machine | null = null;
  /**
   * What the guest is told after a restore, a fork or a migration (its clock, its random pool, a fork's
   * name and MACs: afterRestore): a user's exec waits for it, so that it never sees the state before it
   * (a fork answering `hostname` with its parent's name).
   */
  let toldGuest: Promise<void> = Promise.resolve();
  /** Tells the guest (afterRestore), a fork its new identity too; exec waits for it from now on. */
  const tellGuest = (identity?: NewIdentity): Promise<void> => (toldGuest = afterRestore(agent, log, identity).catch(() => undefined));
  let disks: BlockBackend[] = [];
  let state: RunState = 'running';
  let bootedAt = Date.now();
  const startedAt = Date.now();
  let server: ControlServer | null = null;
  const released = (): void => {
    rmSync(f.socket, { force: true });
    rmSync(f.pid, { force: true });
  };
  try {
    const key = storeKey(store);
    const sshPort = parseNet(spec.net).kind === 'user' ? await freePort() : null;
    if (sshPort !== null) writeFileAtomic(f.knownHosts, `[127.0.0.1]:${sshPort} ${spec.identity.hostKeyPublic}\n`);
    else rmSync(f.knownHosts, { force: true });
    const setState = (s: RunState): void => {
      state = s;
      server?.emit('STATE', { state: s });
    };
    let addresses: { at: number; list: string[] } = { at: 0, list: [] };
    const handlers = new Map<string, Handler>();
    const needMachine = (): Machine => {
      if (machine === null) throw new CommandError('WrongState', 'the machine is not built yet');
      return machine;
    };
    const needAgent = (): GuestAgent => {
      if (!agent.connected) throw new CommandError('Unavailable', `the guest agent is not running in VM '${name}' (the bundled guest starts it at boot; other guests have none)`);
      return agent;
    };
    handlers.set('help', () => [...handlers.keys(), 'console']);
    /** The guest's IPv4 addresses, asked of the agent at most every 5 s (never while paused: it could not answer). */
    const refreshAddresses = async (): Promise<void> => {
      if (!agent.connected || state !== 'running' || Date.now() - addresses.at < 5000) return;
      addresses.at = Date.now();
      try {
        const r = await agent.exec(['ip', '-o', '-4', 'addr', 'show'], { timeoutMs: 2000 });
        addresses = { at: Date.now(), list: Buffer.from(r.stdout).toString().split('\n')
          .map((l) => /^\d+:\s+(\S+)\s+inet\s+([\d.]+)\//.exec(l)).filter((m) => m !== null && m[1] !== 'lo')
          .map((m) => (m as RegExpExecArray)[2]) };
      } catch { /* the agent is busy or gone: keep what was known */ }
    };
    handlers.set('status', async () => {
      // A status answers quickly whatever the guest does: a slow agent leaves the addresses as last known.
      await Promise.race([refreshAddresses(), new Promise((r) => setTimeout(r, 1500))]);
      return {
        name, state, pid: process.pid, memory: spec.memory,
        uptime: Math.round((Date.now() - bootedAt) / 1000), running: Math.round((Date.now() - startedAt) / 1000),
        agent: agent.connected, addresses: addresses.list, sshPort,
        forwards: [...spec.forwards, ...(sshPort === null ? [] : [`tcp:127.0.0.1:${sshPort}-:22`])],
        consoles: server?.consoleCount ?? 0,
        instructions: machine?.instructions ?? 0,
        // The machine (its disks open and locked) is built: what `bonsai start` waits for.
        built: machine !== null,
      };
    });
    handlers.set('pause', () => {
      if (state === 'paused') throw new CommandError('WrongState', `VM '${name}' is paused already`);
      needMachine().pause();
      setState('paused');
      return {};
    });
    handlers.set('resume', () => {
      if (state !== 'paused') throw new CommandError('WrongState', `VM '${name}' is not paused`);
      needMachine().resume();
      setState('running');
      // The guest's clock stood still while paused: its wall clock is set right again through the agent.
      if (agent.connected) agent.setTime(Date.now()).catch((e: Error) => log(`agent: cannot set the guest's clock: ${e.message}`));
      return {};
    });
    // The agent powers the guest off where there is one; any other OS hears the power button (systemd-logind
    // acts on KEY_POWER). A press before the guest listens is lost, so clients press again (launch.ts).
    handlers.set('shutdown', async () => {
      if (state === 'paused') { needMachine().resume(); setState('running'); }
      if (agent.connected) {
        setState('shutting-down');
        await agent.poweroff();
        return { method: 'agent' };
      }
      if (button.press()) { setState('shutting-down'); return { method: 'button' }; }
      throw new CommandError('Unavailable', `VM '${name}' has neither a guest agent running nor a power button driver (the guest is booting, or has neither)`);
    });
    handlers.set('quit', () => {
      setTimeout(() => machine?.stop({ status: 0, reason: 'stop' }), 0);
      return {};
    });
    handlers.set('exec', async (args: JsonObject) => {
      const argv = args.argv;
      if (!Array.isArray(argv) || argv.length === 0 || argv.some((a) => typeof a !== 'string')) {
        throw new CommandError('BadRequest', "'argv' must be a non-empty list of strings");
      }
      const stdin = typeof args.stdin === 'string' ? new Uint8Array(Buffer.from(args.stdin, 'base64')) : undefined;
      const timeoutMs = typeof args.timeoutMs === 'number' && args.timeoutMs > 0 ? args.timeoutMs : undefined;
      if (state === 'paused') throw new CommandError('WrongState', `VM '${name}' is paused (bonsai resume ${name})`);
      await toldGuest;
      const r = await needAgent().exec(argv as string[], { stdin, timeoutMs });
      return { status: r.status, stdout: b64(r.stdout), stderr: b64(r.stderr) };
    });
    handlers.set('monitor', (args: JsonObject) => {
      if (typeof args.line !== 'string') throw new CommandError('BadRequest', "'line' must be a string");
      return monitorCommand(needMachine(), args.line) as JsonValue;
    });
    // Snapshots (vm/snapshot/): the CLI holds the VM's lock and keeps snapshots.json; this process does
    // what needs the running machine and its open disks.
    const snapArg = (args: JsonObject): string => {
      if (typeof args.name !== 'string') throw new CommandError('BadRequest', "'name' must be a string");
      try { return checkSnapshotName(args.name); } catch (e) { throw new CommandError('BadRequest', (e as Error).message); }
    };
    const identity = (): NewIdentity => {
      const cards = (parseNet(spec.net).kind === 'none' ? 0 : 1) + spec.switches.length;
      const macs = Array.from({ length: cards }, (_, i) => formatMac(nicMac(i, true, spec.name, macBytes(spec.identity.mac))));
      return { hostname: spec.name, macs, machineId: spec.identity.machineId };
    };
    handlers.set('snapshot-create', async (args: JsonObject) => {
      const snap = snapArg(args);
      store.ensureDir(stateDir(dir));
      const r = await takeSnapshot(needMachine(), liveDisks(store, spec, disks), snap, statePath(dir, snap));
      log(`snapshot ${snap}: the guest was paused ${r.pauseMs.toFixed(1)} ms; ${r.stateBytes} bytes of state`);
      return { pauseMs: r.pauseMs, stateBytes: r.stateBytes, vmClockNs: r.vmClockNs, disks: liveDisks(store, spec, disks).map((d) => d.file), agent: agent.connected };
    });
    handlers.set('snapshot-restore', async (args: JsonObject) => {
      const snap = snapArg(args);
      const only = Array.isArray(args.disks) ? args.disks.filter((d): d is string => typeof d === 'string') : [];
      const m = needMachine();
      const pauseMs = await restoreSnapshot(m, liveDisks(store, spec, disks), snap, statePath(dir, snap), only);
      setState('running');
      log(`snapshot ${snap}: restored (the guest was paused ${pauseMs.toFixed(1)} ms)`);
      // The reply waits (a little) for the agent to answer again, so that what the client does next finds it.
      await Promise.race([tellGuest(), new Promise((res) => setTimeout(res, 5000))]);
      return { pauseMs };
    });
    handlers.set('migrate', async (args: JsonObject) => {
      const m = needMachine();
      if (state !== 'running') throw new CommandError('WrongState', `VM '${name}' is ${state}; only a running VM migrates`);
      if (typeof args.host !== 'string' || typeof args.port !== 'number') throw new CommandError('BadRequest', "'host' and 'port' are required");
      const num = (k: string): number | undefined => (typeof args[k] === 'number' ? args[k] as number : undefined);
      let compress: Compression | undefined;
      try {
        compress = args.compress === undefined ? undefined : parseCompression(String(args.compress), "'compress'");
      } catch (e) {
        throw new CommandError('BadRequest', (e as Error).message);
      }
      log(`migrating to ${args.host}:${args.port}`);
      let r: MigrateResult;
      try {
        r = await migrateOut(m, store, spec, disks, {
          host: args.host, port: args.port, token: typeof args.token === 'string' ? args.token : undefined,
          withDisks: args.withDisks === true, maxDowntimeMs: num('maxDowntimeMs') ?? 100, bandwidth: num('bandwidth'), compress,
        }, (p) => server?.emit('MIGRATE', { ...p }));
      } catch (e) {
        log(`migration failed: ${(e as Error).message}`);
        if (m.paused) setState('paused');
        throw new CommandError('Unavailable', (e as Error).message);
      }
      const ph = r.phases;
      log(`migrated: the guest was paused ${r.downtimeMs.toFixed(1)} ms (state ${ph.stateMs.toFixed(1)}, rest sent ${ph.sendMs.toFixed(1)}, destination built ${ph.buildMs.toFixed(1)}, go ${ph.goMs.toFixed(1)}), ${r.bytes} bytes in ${r.totalMs.toFixed(0)} ms`);
      // The VM runs on the destination now: this process ends once the reply is out.
      setTimeout(() => m.stop({ status: 0, reason: 'stop' }), 50);
      return { ...r, phases: { ...r.phases } };
    });
    handlers.set('snapshot-delete', async (args: JsonObject) => {
      const snap = snapArg(args);
      await deleteDiskSnapshots(liveDisks(store, spec, disks), snap);
      return {};
    });
    server = new ControlServer(name, handlers, { input: (bytes) => machine?.input(bytes) });
    await server.listen(f.socket);
    agent.onConnectedChange = (c) => server?.emit('AGENT', { connected: c });
    const srv = server;
    const stop = (): void => { machine?.stop({ status: 0, reason: 'stop' }); };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => {}); // detached from any terminal: a hangup is not a reason to end
    const opts = runOptionsOf(store, spec, sshPort, key.publicLine);
    // Coming in from the same host, the source still holds the forwards' ports until it ends.
    if (vopts.incoming !== undefined && opts.network !== undefined) opts.network.busyForwardRetryMs = 60_000;
    const restoring = vopts.restore === undefined ? undefined : await readStateFile(vopts.restore);
    const r = await runMachine({
      ...opts, agent, powerButton: button, log, restore: restoring, fork: vopts.fork === true, incoming: vopts.incoming,
      console: (bytes) => { consoleLog.write(bytes); srv.consoleOutput(bytes); },
      onMachine: (m, ctx) => {
        disks = ctx.disks;
        if (restoring !== undefined && machine === null) {
          log(`${vopts.restore}: the machine resumes from this state`);
          // A fork starts from its state once; from then on it boots from its disks like any VM.
          if (vopts.fork === true && vopts.restore !== undefined) rmSync(vopts.restore, { force: true });
          void tellGuest(vopts.fork === true ? identity() : undefined);
        }
        if (vopts.incoming !== undefined && machine === null) {
          log('the machine came in by live migration');
          void tellGuest();
        }
        machine = m;
        bootedAt = Date.now();
        if (state === 'shutting-down') setState('running'); // a reboot instead of a power-off
        srv.emit('BOOT', {});
      },
    });
    log(`the VM stopped: ${r.reason} (status ${r.status})`);
    srv.emit('SHUTDOWN', { reason: r.reason, status: r.status });
    return r.reason === 'poweroff' || r.reason === 'stop' ? 0 : r.status;
  } finally {
    // On every path, the listening socket too: a VMM that failed to build its machine must exit, not linger.
    await server?.close();
    consoleLog.close();
    released();
  }
}
