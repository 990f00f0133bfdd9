/** The bonsai command: parses arguments, prints, exits. No machine logic lives here. */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { BonsaiError } from '../errors.js';
import { runProgram } from '../vm/program.js';

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
    .description('run a machine')
    .option('--bios <FIRMWARE>', "firmware: 'none' runs the kernel in M-mode at its entry", 'none')
    .option('--kernel <FILE>', 'kernel or bare-metal program (ELF)')
    .option('-m, --memory <SIZE>', 'guest RAM (e.g. 256M, 1G)', parseSize, 256 * 1024 * 1024)
    .option('--max-instructions <N>', 'stop after N instructions (exit status 1)', (v) => {
      if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`'${v}' is not a whole number`);
      return Number(v);
    })
    .option('--trace <WHAT>', "diagnostics: 'traps' logs every trap to stderr")
    .option('--stats', 'print the instruction count and speed when the machine stops')
    .action(async (opts: { bios: string; kernel?: string; memory: number; maxInstructions?: number; stats?: boolean; trace?: string }) => {
      if (opts.bios !== 'none') throw new BonsaiError(`--bios ${opts.bios}: only 'none' is supported in this version`);
      if (opts.kernel === undefined) throw new BonsaiError('run: --kernel FILE is required (the bundled Linux guest arrives in a later version)');
      if (opts.trace !== undefined && opts.trace !== 'traps') throw new BonsaiError(`--trace ${opts.trace}: only 'traps' is supported`);
      const r = await runProgram(opts.kernel, {
        memoryBytes: opts.memory, maxInstructions: opts.maxInstructions, traceTraps: opts.trace === 'traps',
      });
      if (opts.stats) {
        process.stderr.write(`bonsai: ${r.instructions} instructions in ${r.seconds.toFixed(3)} s ` +
          `(${(r.instructions / r.seconds / 1e6).toFixed(1)} MIPS)\n`);
      }
      if (r.reason === 'limit') process.stderr.write(`bonsai: stopped after ${r.instructions} instructions (--max-instructions)\n`);
      process.exitCode = r.status;
    });
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
