/**
 * The JIT's compiler side: translated blocks become WebAssembly instances over the machine's Memory, and
 * the figures `--stats` reports are kept here. Which blocks to compile, where they are cached and when they
 * are dropped is the hart's business (hart.ts runJit): they hang off its decoded pages, so every path that
 * drops decoded code (stores to a code page, DMA through ramWritten, fence.i, reset, restore) drops the
 * compiled code with it.
 */
import { BLOCK_PARAMS, BLOCK_RESULTS, translate, type CodePage } from './translate.js';
import { moduleBytes } from './wasm.js';
import { dispatcherBytes } from './dispatch.js';
import { JC_ENTRIES, STATE_CODE_GEN, STATE_JC } from '../layout.js';

/** Slots of the function table compiled blocks are called through; a full table flushes the cache. */
export const TABLE_SLOTS = 32768;

/** A compiled block: (budget, dataSet, resv, pcLo, pcHi) -> 2 * instructions retired + stop-before-next. */
export type BlockFn = (budget: number, dataSet: number, resv: number, pcLo: number, pcHi: number) => number;

export interface CompiledBlock {
  readonly fn: BlockFn;
  /** Its slot in the function table (the jump cache names it by this). */
  readonly index: number;
  /** Instructions one pass retires: the block is entered only with at least this much budget. */
  readonly length: number;
}

/** What `bonsai run --stats` prints about the JIT. */
export interface JitStats {
  blocksCompiled: number;
  /** Milliseconds spent translating and compiling. */
  compileMs: number;
  /** Blocks whose entry could not be translated (its first instruction is the interpreter's). */
  untranslatable: number;
  /** Calls into compiled code, and the instructions they retired. */
  blockRuns: number;
  jitInstructions: number;
  /** Runs that stopped before an instruction left to the interpreter (a TLB miss, a CSR, an atomic). */
  stops: number;
  /** Milliseconds in compiled code, estimated from a sample of the calls (only when `timing` is on). */
  jitMs: number;
  /** Decoded pages with compiled code dropped because they were written (or everything flushed). */
  invalidations: number;
  /** Times the cache reached its bound and every compiled block was dropped. */
  flushes: number;
}

export class Jit {
  readonly stats: JitStats = {
    blocksCompiled: 0, compileMs: 0, untranslatable: 0, blockRuns: 0, jitInstructions: 0, stops: 0, jitMs: 0, invalidations: 0, flushes: 0,
  };
  /** Blocks compiled since the last flush (the cache bound counts these). */
  live = 0;
  /** Measure time in compiled code (for --stats). */
  timing = false;
  private readonly imports: WebAssembly.Imports;
  private readonly table: WebAssembly.Table;
  /** The next free table slot. */
  slots = 0;
  /** Runs compiled blocks from pc on, through the jump cache (dispatch.ts). */
  readonly run: BlockFn;
  private readonly m32: Int32Array;

  constructor(memory: WebAssembly.Memory) {
    this.imports = { env: { memory } };
    this.table = new WebAssembly.Table({ element: 'anyfunc', initial: TABLE_SLOTS });
    const dispatcher = new WebAssembly.Instance(new WebAssembly.Module(dispatcherBytes()), { env: { memory, table: this.table } });
    this.run = dispatcher.exports.f0 as BlockFn;
    this.m32 = new Int32Array(memory.buffer);
    this.invalidateJumps();
  }

  /** Whether the table has room for another block (else the caller flushes the cache first). */
  get full(): boolean { return this.slots >= TABLE_SLOTS; }

  /** Forgets every jump cache entry at once (a new generation): what a pc runs may have changed. */
  invalidateJumps(): void {
    this.m32[STATE_CODE_GEN >> 2]++;
  }

  /** Notes in the jump cache that virtual pc (lo, hi) runs `b`, until the generation changes. */
  noteJump(lo: number, hi: number, b: CompiledBlock): void {
    const m32 = this.m32;
    const e = (STATE_JC >> 2) + (((lo >>> 1) & (JC_ENTRIES - 1)) << 2);
    m32[e] = lo; m32[e + 1] = hi; m32[e + 2] = m32[STATE_CODE_GEN >> 2]; m32[e + 3] = (b.index << 8) | b.length;
  }

  /** Compiles the block at byte `start` of `page`, or null when it has none. */
  compile(page: CodePage, start: number, decode: (off: number) => number): CompiledBlock | null {
    const t0 = performance.now();
    const tr = translate(page, start, decode);
    if (tr === null) {
      this.stats.untranslatable++;
      this.stats.compileMs += performance.now() - t0;
      return null;
    }
    const mod = new WebAssembly.Module(moduleBytes(BLOCK_PARAMS, BLOCK_RESULTS, [tr.code]));
    const inst = new WebAssembly.Instance(mod, this.imports);
    const fn = inst.exports.f0 as BlockFn;
    const index = this.slots++;
    this.table.set(index, fn);
    this.stats.blocksCompiled++;
    this.live++;
    this.stats.compileMs += performance.now() - t0;
    return { fn, index, length: tr.length };
  }
}
