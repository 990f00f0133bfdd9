/**
 * Running a machine from the user's options: read the files, build the board, boot, run; a guest reboot
 * builds a fresh machine in the same process and boots it again.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BonsaiError } from '../errors.js';
import { boot, type BootConfig, type GuestFile } from '../machine/boot.js';
import { parseElf } from '../machine/elf.js';
import { Machine, type MachineExit } from '../machine/machine.js';
import type { Engine } from '../machine/riscv/hart.js';
import type { GuestAgent } from './agent.js';
import { openDevices, type DiskSpec, type MachineDevices, type ShareSpec } from './devices.js';
import { VirtioBlk } from '../devices/virtio/blk.js';
import { Qcow2Backend } from '../storage/qcow2.js';
import { readGuestFile } from './files.js';
import { configArchive, type GuestConfig } from './config-archive.js';
import { openNetworks, type NetworkOptions, type Networks } from './network.js';
import type { PowerButton } from './power-button.js';
import type { StateFile } from './snapshot/state-file.js';
import type { State } from '../devices/stateful.js';
import type { BlockBackend } from '../storage/backend.js';
import { mark } from './migrate/trace.js';

export interface RunOptions {
  /** 'builtin', 'none', or a firmware file. */
  bios: string;
  kernel?: string;
  initrd?: string;
  append?: string;
  memoryBytes: number;
  maxInstructions?: number;
  log?: (line: string) => void;
  console?: (bytes: Uint8Array) => void;
  /** Called with each new machine (the CLI wires the terminal to it) and its disks' backends (snapshots). */
  onMachine?: (m: Machine, ctx: MachineContext) => void;
  /**
   * What each virtio slot's device stands for (a disk's file), recorded in a snapshot's configuration
   * and compared on restore (MachineOptions.identities).
   */
  identities?: (string | null)[];
  /** The first machine is not booted but put in this saved state (a snapshot restored onto a stopped VM). */
  restore?: StateFile;
  /** The restored state is a fork's (vm/snapshot/fork.ts): its network cards keep this run's MACs, not the saved ones. */
  fork?: boolean;
  /**
   * The first machine comes in by live migration (vm/migrate/receive.ts): its RAM and state are received
   * before its disks are opened (the last of their data arrives with the state), and it runs once ready()
   * has told the source and heard its go.
   */
  incoming?: {
    /**
     * Resolves once the state is in (the guest paused on the source). `prepare` is run once before that,
     * while the guest still runs there, with the memory RAM is being received into; `refresh` after it at
     * the end of a round that wrote into the received files, so that the pause has only the last section's.
     */
    receive(memoryBytes: number, prepare: (memory: WebAssembly.Memory) => Promise<void>, refresh: () => Promise<void>): Promise<{ memory: WebAssembly.Memory; state: State }>;
    /** Whether the file at this path was written into after `prepare` or the last `refresh` (a backend opened before is stale). */
    changedSinceBuild(path: string): boolean;
    /** The machine is restored: tells the source so, without waiting. */
    built(): void;
    ready(): Promise<void>;
  };
  traceTraps?: boolean;
  /** The engine that runs guest code (MachineOptions.engine). */
  engine?: Engine;
  disks?: DiskSpec[];
  shares?: ShareSpec[];
  /** The guest's console is virtio-console (hvc1: hvc0 is the SBI console) instead of the UART. */
  virtioConsole?: boolean;
  /** Network cards; none when absent. */
  network?: NetworkOptions;
  /**
   * The guest's name and ssh keys, appended to the initrd as /etc/bonsai/ (config-archive.ts). Always
   * given to the bundled initramfs; to another initrd only when set.
   */
  guestConfig?: GuestConfig;
  /** The guest agent: each boot gets an agent channel device (after every other device but the power button) attached to it. */
  agent?: GuestAgent;
  /**
   * The power button (for guests without the agent): each boot gets a virtio-input device with KEY_POWER
   * (after every other device, the agent channel included) attached to it, when a virtio slot is free.
   */
  powerButton?: PowerButton;
}

export interface MachineContext {
  /** The disks' backends, in --disk order (virtio slots 0..). */
  disks: BlockBackend[];
}

export interface RunResult extends MachineExit {
  instructions: number;
  seconds: number;
  machine: Machine;
  /** Each network backend's counters (frames, drops by reason) when the run ended. */
  network?: { name: string; counters: Record<string, number> }[];
}

/** The bundled guest: images/ at the package root. */
export function bundledImage(name: string): string {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  return join(root, 'images', name);
}

export const DEFAULT_APPEND = 'console=ttyS0';

const isElf = (b: Uint8Array): boolean => b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;

async function guestFile(path: string, what: string, maxBytes?: number): Promise<GuestFile> {
  return { name: path, bytes: await readGuestFile(path, what, maxBytes) };
}

export async function runMachine(opts: RunOptions): Promise<RunResult> {
  const usingBundled = opts.kernel === undefined;
  const kernelPath = opts.kernel ?? bundledImage('Image.gz');
  if (usingBundled && !existsSync(kernelPath)) {
    throw new BonsaiError(`the bundled guest is missing (${kernelPath}); pass --kernel FILE`);
  }
  const initrdPath = opts.initrd ?? (usingBundled ? bundledImage('initramfs.cpio.gz') : undefined);
  const kernel = await guestFile(kernelPath, 'the kernel');
  // An initrd is loaded whole into RAM (a gzip one inflated): one larger than RAM can never fit.
  const initrd = initrdPath === undefined ? undefined : await guestFile(initrdPath, 'the initrd', opts.memoryBytes);
  const firmware = opts.bios === 'builtin' || opts.bios === 'none' ? opts.bios : await guestFile(opts.bios, 'the firmware');
  const append = opts.append ?? (opts.virtioConsole ? 'console=hvc1' : DEFAULT_APPEND);
  const guestConfig = opts.guestConfig ?? (usingBundled && opts.initrd === undefined ? { hostname: 'bonsai', sshKeys: [] } : undefined);
  const initrdAppend = initrd === undefined || guestConfig === undefined ? undefined : configArchive(guestConfig);
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const networks: Networks = opts.network === undefined ? { nics: [], close: async () => {} } : await openNetworks(opts.network, log);
  try {
    const nicCounters: Record<string, number>[] = [];
    const r = await runBoots(opts, { firmware, kernel, initrd, initrdAppend, append }, networks, nicCounters);
    return { ...r, network: networks.nics.map((n, i) => ({ name: n.backend.name, counters: { ...nicCounters[i], ...n.backend.stats() } })) };
  } finally {
    await networks.close();
  }
}

/** A machine built, with its devices, before its state is in. */
interface Built { devs: MachineDevices; machine: Machine }

function openAll(opts: RunOptions, out: (b: Uint8Array) => void, networks: Networks, fork: boolean): Promise<MachineDevices> {
  return openDevices(opts.disks ?? [], opts.shares ?? [], opts.virtioConsole ? out : null, networks.nics,
    { agentChannel: opts.agent !== undefined, powerButton: opts.powerButton !== undefined, newMacs: fork });
}

/**
 * A live migration's machine, built while the guest still runs on the source (RAM and disks have come over
 * once): opening the disks and building the machine then takes them out of the guest's pause. Null when
 * that cannot be done now (a disk still held by the source on this host, say): the machine is then built
 * once the state is in, as for any other start.
 */
async function buildEarly(opts: RunOptions, out: (b: Uint8Array) => void, networks: Networks, memory: WebAssembly.Memory): Promise<Built | null> {
  const devs = await openAll(opts, out, networks, false).catch(() => null);
  if (devs === null) return null;
  try {
    const machine = new Machine({ memoryBytes: opts.memoryBytes, log: opts.log, console: out, virtio: devs.devices, identities: opts.identities, memory, engine: opts.engine });
    // Restored once onto itself (its reset state, RAM untouched) so that the restore in the guest's pause
    // runs code V8 has already compiled: cold, the hart's and devices' restore took ~6 ms there, warm ~1.
    machine.restoreInPlace(machine.save());
    return { devs, machine };
  } catch {
    await devs.close();
    return null;
  }
}

/**
 * The early machine's writable qcow2 disks read their metadata again where the migration wrote pieces of
 * their files since they were opened or last reloaded (at the end of each round that wrote some, and in the
 * pause only for what the last section brought: an idle guest's disks usually had none).
 */
async function reloadDisks(devs: MachineDevices, changed: (path: string) => boolean): Promise<void> {
  const blks = devs.devices.filter((d): d is VirtioBlk => d instanceof VirtioBlk);
  for (const [i, b] of devs.disks.entries()) {
    if (!(b instanceof Qcow2Backend) || b.readOnly || !changed(b.path)) continue;
    const nb = await b.reload();
    devs.disks[i] = nb;
    blks[i].replaceBackend(nb);
  }
}

/** `nicCounters[i]` collects card i's device counters (frames, drops) over every boot. */
async function runBoots(opts: RunOptions, cfg: BootConfig, networks: Networks, nicCounters: Record<string, number>[]): Promise<RunResult> {
  const { firmware, kernel } = cfg;
  const start = performance.now();
  let instructions = 0;
  let restoring = opts.restore;
  const out = opts.console ?? ((bytes: Uint8Array) => process.stdout.write(bytes));
  const early: { built: Built | null } = { built: null };
  let incoming = opts.incoming === undefined ? undefined
    : await opts.incoming.receive(opts.memoryBytes, async (memory) => { early.built = await buildEarly(opts, out, networks, memory); },
      async () => { if (early.built !== null) await reloadDisks(early.built.devs, (path) => opts.incoming?.changedSinceBuild(path) ?? true); });
  for (;;) {
    const built = early.built;
    early.built = null;
    const devs = built?.devs ?? await openAll(opts, out, networks, restoring !== undefined && opts.fork === true);
    let machine: Machine;
    try {
      if (built !== null) await reloadDisks(devs, (path) => opts.incoming?.changedSinceBuild(path) ?? true);
      machine = built?.machine ?? new Machine({ memoryBytes: opts.memoryBytes, log: opts.log, console: out, virtio: devs.devices, identities: opts.identities, memory: incoming?.memory, engine: opts.engine });
      // Ready at once: the source's Go is on its way while the rest below is set up.
      if (incoming !== undefined) {
        mark('destination: disks reloaded');
        machine.restoreInPlace(incoming.state);
        opts.incoming?.built();
      } else if (restoring !== undefined) machine.restore(restoring.state, restoring.ram);
      else boot(machine, cfg);
    } catch (e) {
      await devs.close();
      throw e;
    }
    if (firmware === 'none' && isElf(kernel.bytes)) {
      // A bare-metal program: HTIF is wired when it defines tohost and fromhost (the ISA test convention).
      const symbols = parseElf(kernel.bytes, kernel.name).symbols;
      const tohost = symbols.get('tohost'), fromhost = symbols.get('fromhost');
      if (tohost !== undefined && fromhost !== undefined) machine.attachHtif(tohost, fromhost);
    }
    if (opts.traceTraps) {
      machine.hart.onTrap = (cause, interrupt, epc, tval, from) => machine.log(
        `trap: ${interrupt ? 'interrupt' : 'exception'} ${cause} from ${'USHM'[from]} at pc 0x${epc.toString(16)} tval 0x${tval.toString(16)}`);
    }
    /** Connects the machine to the console's input, the agent, the power button and the VMM. */
    const wire = (m: Machine): void => {
      if (devs.console !== null) {
        const con = devs.console;
        m.input = (bytes) => { con.receive(bytes); m.kick(); };
      }
      if (devs.agentChannel !== null) opts.agent?.attach(devs.agentChannel);
      else if (opts.agent !== undefined) opts.log?.('bonsai: every virtio slot is taken; this machine has no guest agent channel');
      if (devs.powerButton !== null) opts.powerButton?.attach(devs.powerButton);
      else if (opts.powerButton !== undefined) opts.log?.('bonsai: every virtio slot is taken; this machine has no power button');
      opts.onMachine?.(m, { disks: devs.disks });
    };
    restoring = undefined; // a reboot after it boots afresh
    let exit: MachineExit;
    try {
      const limit = opts.maxInstructions === undefined ? undefined : opts.maxInstructions - instructions;
      if (incoming !== undefined) {
        // A migrated guest runs first and is wired after its first turn (~3 ms of cold host code that
        // would otherwise lengthen its pause): console input, agent requests and control commands
        // reach it from its second turn on, which its users cannot tell from a slower link.
        await opts.incoming?.ready();
        incoming = undefined;
        mark('destination: guest runs');
        const running = machine.run(limit);
        wire(machine);
        mark('destination: wired (after its first turn)');
        exit = await running;
      } else {
        wire(machine);
        exit = await machine.run(limit);
      }
    } finally {
      if (devs.agentChannel !== null) opts.agent?.detach();
      if (devs.powerButton !== null) opts.powerButton?.detach();
      await devs.close(); // flushes disks: data the guest wrote is on the host's disk when Bonsai exits
    }
    instructions += machine.instructions;
    devs.nics.forEach((nic, i) => {
      const total = nicCounters[i] ??= {};
      for (const [k, v] of Object.entries(nic.counters)) {
        const key = `nic-${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`; // txDropped → nic-tx-dropped
        total[key] = (total[key] ?? 0) + v;
      }
    });
    if (exit.reason !== 'reset') {
      return { ...exit, instructions, seconds: (performance.now() - start) / 1000, machine };
    }
    opts.log?.('bonsai: guest reboot');
  }
}
