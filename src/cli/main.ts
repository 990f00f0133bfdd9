/** The bonsai command: parses arguments, prints, exits. No machine logic lives here. */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { BonsaiError } from '../errors.js';
import { writeFileSync } from 'node:fs';
import { parseDisk, parseShare } from '../vm/devices.js';
import { monitorCommand } from '../vm/monitor.js';
import { DEFAULT_APPEND, runMachine } from '../vm/run.js';
import { registerImageCommands } from './image.js';
import { Terminal } from './terminal.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

interface RunCliOptions {
  disk: string[]; share: string[]; console: string;
  bios: string; kernel?: string; initrd?: string; append?: string; memory: number; dumpDtb?: string;
  maxInstructions?: number; stats?: boolean; trace?: string;
}

/** Parses a size such as 256M, 1G, 65536 or 64K into bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+)([KMG]?)i?B?$/i.exec(text.trim());
  if (m === null) throw new InvalidArgumentError(`'${text}' is not a size (examples: 256M, 1G, 65536)`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Number(m[1]) * unit;
}

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
    .option('-m, --memory <SIZE>', 'guest RAM (e.g. 256M, 1G)', parseSize, 256 * 1024 * 1024)
    .option('--disk <FILE[:ro][:raw]>', 'a virtio-blk disk (raw or qcow2, detected; repeatable: /dev/vda, /dev/vdb, ...)', collect, [])
    .option('--share <HOSTDIR:TAG[:ro]>', 'a host folder the guest mounts with 9p (mount -t 9p -o trans=virtio TAG /mnt); repeatable', collect, [])
    .option('--console <KIND>', "the guest console: 'serial' (the 16550 UART, ttyS0) or 'virtio' (virtio-console, hvc1)", 'serial')
    .option('--dump-dtb <FILE>', 'write the generated device tree blob to FILE and exit')
    .option('--max-instructions <N>', 'stop after N instructions (exit status 1)', (v) => {
      if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`'${v}' is not a whole number`);
      return Number(v);
    })
    .option('--trace <WHAT>', "diagnostics: 'traps' logs every trap to stderr")
    .option('--stats', 'print the instruction count and speed when the machine stops')
    .action(async (opts: RunCliOptions) => {
      if (opts.trace !== undefined && opts.trace !== 'traps') throw new BonsaiError(`--trace ${opts.trace}: only 'traps' is supported`);
      if (opts.console !== 'serial' && opts.console !== 'virtio') throw new BonsaiError(`--console ${opts.console}: use 'serial' or 'virtio'`);
      let terminal: Terminal | null = null;
      const onSignal = (): void => { terminal?.restore(); process.exit(130); };
      process.once('SIGTERM', onSignal);
      process.once('SIGHUP', onSignal);
      try {
        const r = await runMachine({
          bios: opts.bios, kernel: opts.kernel, initrd: opts.initrd, append: opts.append,
          memoryBytes: opts.memory, maxInstructions: opts.maxInstructions, traceTraps: opts.trace === 'traps',
          disks: opts.disk.map(parseDisk), shares: opts.share.map(parseShare), virtioConsole: opts.console === 'virtio',
          onMachine: (m) => {
            if (opts.dumpDtb !== undefined) {
              writeFileSync(opts.dumpDtb, m.dtb ?? new Uint8Array(0));
              m.stop({ status: 0, reason: 'stop' });
              return;
            }
            terminal?.stop();
            terminal = new Terminal({
              input: (bytes) => m.input(bytes),
              quit: () => m.stop({ status: 0, reason: 'stop' }),
              monitor: (line) => monitorCommand(m, line),
            });
            terminal.start();
          },
        });
        if (opts.stats) {
          process.stderr.write(`bonsai: ${r.instructions} instructions in ${r.seconds.toFixed(3)} s ` +
            `(${(r.instructions / r.seconds / 1e6).toFixed(1)} MIPS overall; ${r.machine.idleSeconds.toFixed(3)} s idle in WFI)\n`);
        }
        if (r.reason === 'limit') process.stderr.write(`bonsai: stopped after ${r.instructions} instructions (--max-instructions)\n`);
        process.exitCode = r.status;
      } finally {
        (terminal as Terminal | null)?.stop();
        process.off('SIGTERM', onSignal);
        process.off('SIGHUP', onSignal);
      }
    });
  registerImageCommands(program);
  return program;
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
    if (e instanceof BonsaiError) {
      process.stderr.write(`bonsai: ${e.message}\n`);
      if (debug) process.stderr.write(`${e.stack ?? ''}\n`);
      return 1;
    }
    process.stderr.write(`bonsai: internal error: ${(e as Error).message}\n`);
    if (debug) process.stderr.write(`${(e as Error).stack ?? ''}\n`);
    return 70;
  }
}
