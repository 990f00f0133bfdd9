/**
 * Running a bare-metal program (`bonsai run --bios none --kernel PROGRAM.elf`): the ELF is loaded at its
 * physical addresses and the hart started in M-mode at its entry; HTIF ends the run.
 */
import { runMachine, type RunResult } from './run.js';
import type { Engine } from '../machine/riscv/hart.js';
import type { Machine } from '../machine/machine.js';

export { readGuestFile } from './files.js';

export interface ProgramOptions {
  memoryBytes?: number;
  maxInstructions?: number;
  log?: (line: string) => void;
  console?: (bytes: Uint8Array) => void;
  /** Log every trap (cause, epc, tval) through `log`. */
  traceTraps?: boolean;
  /** The engine that runs the program (MachineOptions.engine). */
  engine?: Engine;
  /** Called with the machine before it runs (tests reach the hart through it). */
  onMachine?: (m: Machine) => void;
}

/** Builds a machine, loads the ELF program and runs it to its end. */
export function runProgram(file: string, opts: ProgramOptions = {}): Promise<RunResult> {
  return runMachine({ bios: 'none', kernel: file, memoryBytes: opts.memoryBytes ?? 256 * 1024 * 1024, ...opts });
}
