/** The bonsai command: parses arguments, prints, exits. No machine logic lives here. */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { BonsaiError } from '../errors.js';
import { printable, printableLines } from '../text.js';
import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import type { Machine } from '../machine/machine.js';
import { OutputFile } from '../vm/files.js';
import { parseDisk, parseShare } from '../vm/devices.js';
import { monitorCommand } from '../vm/monitor.js';
import { DEFAULT_APPEND, runMachine } from '../vm/run.js';
import { checkName, defaultSshKeys, readSshKeys } from '../vm/config-archive.js';
import { parseForward, parseNet, type NetworkOptions } from '../vm/network.js';
import { registerImageCommands } from './image.js';
import { parseEngine } from './vm-options.js';
import { Store } from '../vm/store/store.js';
import { checkMemory } from '../vm/spec.js';
import { registerSnapshotCommands } from './snapshot.js';
import { registerMigrateCommands } from './migrate.js';
import { registerServeCommand } from './serve.js';
import { registerVmCommands } from './vm.js';
import { Terminal } from './terminal.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

interface RunCliOptions {
  disk: string[]; share: string[]; console: string;
  bios: string; kernel?: string; initrd?: string; append?: string; memory: number; dumpDtb?: string;
  maxInstructions?: number; stats?: boolean; trace?: string; engine: string;
  net: string; forward: string[]; tftp?: string; bootFile?: string; switch: string[]; sshKey?: string; name?: string;
}

/** The network cards and the guest's name and keys, from the run options. */
function networkOptions(opts: RunCliOptions): NetworkOptions {
  return {
    net: parseNet(opts.net), forwards: opts.forward.map((f) => parseForward(f)),
    tftpRoot: opts.tftp, bootFile: opts.bootFile, switches: opts.switch, hostname: opts.name ?? 'bonsai',
  };
}

/** Parses a size such as 256M, 1G, 65536 or 64K into bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+)([KMG]?)i?B?$/i.exec(text.trim());
  if (m === null) throw new InvalidArgumentError(`'${text}' is not a size (examples: 256M, 1G, 65536)`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Number(m[1]) * unit;
}

const MiB = 1024 * 1024;

/** `-m SIZE`: parseSize, within what the machine supports (checked before any file is read). */
function parseMemory(text: string): number {
  try { return checkMemory(parseSize(text)); } catch (e) { throw new InvalidArgumentError((e as Error).message); }
}

/** The signals that end `bonsai run`, at any stage. */
const END_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

function buildProgram(): Command {
  const program = new Command();
  program
    .name('bonsai')
    .description('Bonsai: a virtual machine monitor. Runs a RISC-V RV64GC machine (QEMU virt memory map) in Node.js.')
    .option('--debug', 'show stack traces for errors')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program
    .command('run')
    .description('run a machine (with no options: the bundled Linux guest)')
    .option('--bios <FIRMWARE>', "'builtin' (Bonsai's own SBI, kernel in S-mode), 'none' (kernel in M-mode at its entry) or a firmware file (e.g. OpenSBI fw_dynamic.bin)", 'builtin')
    .option('--kernel <FILE>', 'kernel: RISC-V Linux Image, gzip-compressed Image, or ELF (default: the bundled guest)')
    .option('--initrd <FILE>', 'initial ramdisk (default with the bundled kernel: its initramfs)')
    .option('--append <ARGS>', `kernel command line (default: "${DEFAULT_APPEND}")`)
    .addOption(new Option('-m, --memory <SIZE>', 'guest RAM (e.g. 256M, 1G)').argParser(parseMemory).default(256 * MiB, '256M'))
    .option('--disk <FILE[:ro][:raw|:qcow2]>', 'a virtio-blk disk (raw or qcow2, detected unless given; repeatable: /dev/vda, /dev/vdb, ...)', collect, [])
    .option('--share <HOSTDIR:TAG[:ro][:mapped]>', 'a host folder the guest mounts with 9p (mount -t 9p -o trans=virtio TAG /mnt); :mapped keeps guest owners, modes and symlinks in metadata files; repeatable', collect, [])
    .option('--console <KIND>', "the guest console: 'serial' (the 16550 UART, ttyS0) or 'virtio' (virtio-console, hvc1)", 'serial')
    .option('--net <KIND>', "the first network card: 'user' (built-in NAT, 10.0.2.15 behind gateway 10.0.2.2), 'user,restrict' (no way out but forwards and the gateway's services), 'tap:IFNAME' or 'none'", 'user')
    .option('--forward <tcp|udp:[HOSTADDR:]HOSTPORT-:GUESTPORT>', 'forward a host port (on 127.0.0.1 unless HOSTADDR is given) to the guest; repeatable', collect, [])
    .option('--tftp <DIR>', 'serve DIR read-only over TFTP at the gateway, 10.0.2.2')
    .option('--boot-file <NAME>', 'the boot file DHCP offers (e.g. for U-Boot: dhcp; tftpboot)')
    .option('--switch <NAME>', 'add a network card on the virtual switch NAME, shared with other bonsai processes (10.0.3.0/24, DHCP, DNS by VM name); repeatable', collect, [])
    .option('--name <NAME>', "the VM's name: the guest's hostname, and its DNS name on a switch (default: bonsai; with --switch, vm-XXXX)")
    .option('--ssh-key <PUBKEY>', "public key(s) for root's ssh logins in the bundled guest ('none' for none; default ~/.ssh/id_ed25519.pub or id_rsa.pub)")
    .option('--dump-dtb <FILE>', 'write the generated device tree blob to FILE and exit')
    .option('--max-instructions <N>', 'stop after N instructions (exit status 1)', (v) => {
      if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`'${v}' is not a whole number`);
      return Number(v);
    })
    .option('--trace <WHAT>', "diagnostics: 'traps' logs every trap to stderr")
    .option('--stats', 'print the instruction count and speed (and what the JIT did) when the machine stops')
    .option('--engine <KIND>', "what runs guest code: 'interp' (the interpreter) or 'jit' (hot code compiled to WebAssembly)", 'interp')
    .action(async (opts: RunCliOptions) => {
      // A signal ends the run at every stage. Before the machine exists that is at once; a running machine
      // stops as at poweroff (its disks flushed, the terminal restored), with a deadline in case closing hangs.
      let terminal: Terminal | null = null;
      let machine: Machine | null = null;
      let signalStatus: number | null = null;
      const onSignal = (signal: NodeJS.Signals): void => {
        const status = 128 + (osConstants.signals[signal] ?? 15);
        terminal?.restore();
        if (machine === null || signalStatus !== null) process.exit(status);
        signalStatus = status;
        process.stderr.write(`\nbonsai: ${signal}: stopping the machine\n`);
        machine.stop({ status, reason: 'stop' });
        setTimeout(() => process.exit(status), 5000).unref();
      };
      for (const s of END_SIGNALS) process.on(s, onSignal);
      try {
        await run(opts, {
          setMachine: (m) => { machine = m; if (signalStatus !== null) m.stop({ status: signalStatus, reason: 'stop' }); },
          setTerminal: (t) => { terminal = t; },
        });
      } finally {
        (terminal as Terminal | null)?.stop();
        for (const s of END_SIGNALS) process.off(s, onSignal);
      }
    });
  registerImageCommands(program);
  registerVmCommands(program);
  registerSnapshotCommands(program, () => new Store());
  registerMigrateCommands(program, () => new Store());
  registerServeCommand(program, () => new Store());
  return program;
}

interface RunHooks { setMachine(m: Machine): void; setTerminal(t: Terminal | null): void }

/** `bonsai run`: checks and reads what the options name, runs the machine, reports. */
async function run(opts: RunCliOptions, hooks: RunHooks): Promise<void> {
  if (opts.trace !== undefined && opts.trace !== 'traps') throw new BonsaiError(`--trace ${opts.trace}: only 'traps' is supported`);
  const engine = parseEngine(opts.engine);
  if (opts.console !== 'serial' && opts.console !== 'virtio') throw new BonsaiError(`--console ${opts.console}: use 'serial' or 'virtio'`);
  // VMs on one switch need names (and so MACs and DNS names) of their own: without --name, a fresh one.
  const unnamed = opts.name === undefined && opts.switch.length > 0;
  if (unnamed) opts.name = `vm-${randomBytes(2).toString('hex')}`;
  const network = networkOptions(opts);
  const hostname = checkName(opts.name ?? 'bonsai');
  const sshKeys = opts.sshKey === 'none' ? [] : opts.sshKey !== undefined ? readSshKeys(opts.sshKey) : defaultSshKeys();
  const bundled = opts.kernel === undefined && opts.initrd === undefined;
  const explicit = opts.sshKey !== undefined || opts.name !== undefined;
  const disks = opts.disk.map(parseDisk), shares = opts.share.map(parseShare);
  // Opened first, so that a name that cannot be written fails before any machine is built.
  let dtbOut = opts.dumpDtb === undefined ? null : await OutputFile.open(opts.dumpDtb, '--dump-dtb');
  let dtb: Uint8Array | null = null;
  let terminal: Terminal | null = null;
  try {
    const r = await runMachine({
      bios: opts.bios, kernel: opts.kernel, initrd: opts.initrd, append: opts.append,
      memoryBytes: opts.memory, maxInstructions: opts.maxInstructions, traceTraps: opts.trace === 'traps',
      disks, shares, virtioConsole: opts.console === 'virtio', engine,
      network, guestConfig: bundled || explicit ? { hostname, sshKeys } : undefined,
      onMachine: (m) => {
        hooks.setMachine(m);
        if (opts.stats && m.hart.jit !== null) m.hart.jit.timing = true;
        if (dtbOut !== null) {
          dtb = m.dtb ?? new Uint8Array(0);
          m.stop({ status: 0, reason: 'stop' });
          return;
        }
        // Once the networks are up (a bad switch name has been refused by then), before the first boot's console.
        if (unnamed && terminal === null) process.stderr.write(`bonsai: this VM is ${hostname} on the switch (--name sets the name)\n`);
        terminal?.stop();
        terminal = new Terminal({
          input: (bytes) => m.input(bytes),
          quit: () => m.stop({ status: 0, reason: 'stop' }),
          monitor: (line) => monitorCommand(m, line),
        });
        hooks.setTerminal(terminal);
        terminal.start();
      },
    });
    if (dtbOut !== null && dtb !== null) {
      await dtbOut.write(dtb);
      dtbOut = null;
    }
    if (opts.stats) {
      process.stderr.write(`bonsai: ${r.instructions} instructions in ${r.seconds.toFixed(3)} s ` +
        `(${(r.instructions / r.seconds / 1e6).toFixed(1)} MIPS overall; ${r.machine.idleSeconds.toFixed(3)} s idle in WFI)\n`);
      const jit = r.machine.hart.jit?.stats;
      if (jit !== undefined) {
        const pct = r.instructions === 0 ? 0 : (100 * jit.jitInstructions) / r.instructions;
        process.stderr.write(`bonsai: jit: ${jit.blocksCompiled} blocks compiled in ${jit.compileMs.toFixed(0)} ms ` +
          `(${jit.untranslatable} entries left to the interpreter), ${jit.jitInstructions} instructions (${pct.toFixed(1)} %) ` +
          `in ${jit.blockRuns} runs of compiled code, ~${jit.jitMs.toFixed(0)} ms there, ${jit.stops} stops for the interpreter; ` +
          `${jit.invalidations} pages of compiled code invalidated, ${jit.flushes} cache flushes\n`);
      }
      for (const n of r.network ?? []) {
        const c = Object.entries(n.counters).filter(([, v]) => v !== 0).map(([k, v]) => `${k}=${v}`).join(' ');
        process.stderr.write(`bonsai: net ${n.name}: ${c === '' ? 'no traffic' : c}\n`);
      }
    }
    if (r.reason === 'limit') process.stderr.write(`bonsai: stopped after ${r.instructions} instructions (--max-instructions)\n`);
    process.exitCode = r.status;
  } finally {
    await dtbOut?.abandon();
  }
}

/** Runs the CLI; resolves to the exit status. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    // printable(): a message may quote a file or an image; a last line of defence against escape sequences.
    if (e instanceof BonsaiError) {
      process.stderr.write(`bonsai: ${printable(e.message)}\n`);
      if (debug) process.stderr.write(`${printableLines(e.stack ?? '')}\n`);
      return 1;
    }
    process.stderr.write(`bonsai: internal error: ${printable((e as Error).message)}\n`);
    if (debug) process.stderr.write(`${printableLines((e as Error).stack ?? '')}\n`);
    return 70;
  }
}
