/**
 * Running a bare-metal program (`bonsai run --bios none --kernel PROGRAM.elf`): the machine is built
 * from the options, the ELF loaded at its physical addresses, and the hart started in M-mode at its entry.
 */
import { readFile } from 'node:fs/promises';
import { BonsaiError } from '../errors.js';
import { parseElf } from '../machine/elf.js';
import { Machine, type MachineExit } from '../machine/machine.js';

export interface ProgramOptions {
  memoryBytes?: number;
  maxInstructions?: number;
  log?: (line: string) => void;
  console?: (bytes: Uint8Array) => void;
  /** Log every trap (cause, epc, tval) through `log`. */
  traceTraps?: boolean;
}

export interface ProgramResult extends MachineExit {
  instructions: number;
  seconds: number;
}

export async function readGuestFile(file: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : String((e as Error).message);
    throw new BonsaiError(`${file}: cannot read ${what}: ${why}`);
  }
}

/** Builds a machine, loads the ELF program and runs it to its end. */
export async function runProgram(file: string, opts: ProgramOptions = {}): Promise<ProgramResult> {
  const bytes = await readGuestFile(file, 'the kernel');
  const image = parseElf(bytes, file);
  const machine = new Machine({ memoryBytes: opts.memoryBytes ?? 256 * 1024 * 1024, log: opts.log, console: opts.console });
  machine.loadElf(image, file);
  if (opts.traceTraps) {
    machine.hart.onTrap = (cause, interrupt, epc, tval, from) => machine.log(
      `trap: ${interrupt ? 'interrupt' : 'exception'} ${cause} from ${'USHM'[from]} at pc 0x${epc.toString(16)} tval 0x${tval.toString(16)}`);
  }
  const start = performance.now();
  const exit = await machine.run(opts.maxInstructions);
  return { ...exit, instructions: machine.instructions, seconds: (performance.now() - start) / 1000 };
}
