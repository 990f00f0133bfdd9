/**
 * The JIT's compiler side: translated blocks become WebAssembly instances over the machine's Memory, and
 * the figures `--stats` reports are kept here. Which blocks to compile, where they are cached and when they
 * are dropped is the hart's business (hart.ts dispatch): they hang off its decoded pages, so every path that
 * drops decoded code (stores to a code page, DMA through ramWritten, fence.i, reset, restore) drops the
 * compiled code with it.
 */
import { BLOCK_PARAMS, BLOCK_RESULTS, translate, type CodePage } from './translate.js';
import { moduleOf, type Code } from './wasm.js';
import { dispatcherBytes, jcIndex, JC_PAGE_RUN, JC_TAG, OUT_PC } from './dispatch.js';

/** Slots of the function table compiled blocks are called through; a full table flushes the cache. */
export const TABLE_SLOTS = 32768;

/** The dispatcher: (budget, dataSet, pcLo, pcHi) -> 2 * instructions retired + stop-before-next. */
export type DispatchFn = (budget: number, dataSet: number, pcLo: number, pcHi: number) => number;

export interface CompiledBlock {
  /** Its slot in the function table (the jump cache names it by this). */
  readonly index: number;
  /** Instructions one pass retires: the block is entered only with at least this much budget. */
  readonly length: number;
  /** It loads or stores FP registers: it may run only while mstatus.FS is on. */
  readonly fp: boolean;
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

/** A translated block waiting to be compiled; `install` puts it in place, or says false when its page has gone. */
interface Queued { code: Code; length: number; fp: boolean; install: (b: CompiledBlock) => boolean }

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
  /** Runs compiled blocks from pc on, through the jump cache (dispatch.ts); the next pc is then at outPc. */
  readonly run: DispatchFn;
  /** The dispatcher's memory: the jump cache, its tag and the pc it returns. */
  private readonly m32: Int32Array;
  readonly outPc = OUT_PC >> 2;

  constructor(memory: WebAssembly.Memory) {
    this.imports = { env: { memory } };
    this.table = new WebAssembly.Table({ element: 'anyfunc', initial: TABLE_SLOTS });
    const dispatcher = new WebAssembly.Instance(new WebAssembly.Module(dispatcherBytes()), { env: { table: this.table } });
    this.run = dispatcher.exports.f0 as DispatchFn;
    this.m32 = new Int32Array((dispatcher.exports.memory as WebAssembly.Memory).buffer);
    this.invalidateJumps();
  }

  /** The pc the dispatcher returned with (lo, hi). */
  get pcLo(): number { return this.m32[this.outPc]; }
  get pcHi(): number { return this.m32[this.outPc + 1]; }

  /** Whether the table has room for another block (else the caller flushes the cache first). */
  get full(): boolean { return this.slots >= TABLE_SLOTS; }

  /**
   * The jump cache's tag: (generation << 2) | the fetch MMU index. A new generation forgets every entry at
   * once (what a pc runs may have changed); a privilege change only selects other entries, so the kernel's
   * and a process's survive the traps between them (measured: bumping the generation on each trap sent
   * most block-to-block transitions of a Linux shell loop back to JS).
   */
  private gen = 0;
  private fetchIndex = 0;
  /** mstatus.FS is on: entries noted with it on are the only ones that may reach a block with FP accesses. */
  fpOn = false;
  private writeTag(): void { this.m32[JC_TAG >> 2] = (this.gen << 3) | (this.fpOn ? 4 : 0) | this.fetchIndex; }

  invalidateJumps(): void {
    this.gen = (this.gen % 0x1fffffff) + 1; // never 0: invalidatePage's tag 0 matches no generation
    this.writeTag();
  }

  /**
   * Forgets the jump cache's entries for pcs in one virtual page (sfence.vma of an address), leaving the rest:
   * the pcs of a page share one aligned run of JC_PAGE_RUN entries (dispatch.ts jcIndex). Measured: Linux's
   * boot flushes single pages ~8,600 times, and a new generation for each sent every block entered after it
   * back through the hart's dispatch (docs/performance.md).
   */
  invalidatePage(lo: number): void {
    const m32 = this.m32;
    const first = jcIndex(lo & -4096) & -JC_PAGE_RUN;
    for (let e = first; e < first + JC_PAGE_RUN; e++) m32[(e << 2) + 2] = 0;
  }

  /** mstatus.FS went on or off. */
  setFpOn(on: boolean): void {
    this.fpOn = on;
    this.writeTag();
  }

  /** The hart fetches with another MMU index (privilege) now. */
  setFetchIndex(index: number): void {
    this.fetchIndex = index;
    this.writeTag();
  }


  /** Notes in the jump cache that virtual pc (lo, hi) runs `b`, until the generation changes. */
  noteJump(lo: number, hi: number, b: CompiledBlock): void {
    const m32 = this.m32;
    const e = jcIndex(lo) << 2;
    m32[e] = lo; m32[e + 1] = hi; m32[e + 2] = m32[JC_TAG >> 2]; m32[e + 3] = (b.index << 8) | b.length;
  }

  /**
   * Blocks per module: compiling and instantiating a module costs ~0.2 ms whatever it holds, so hot blocks
   * wait (interpreted) until `batch` of them are queued, or `batchAge` instructions have passed since the
   * first was (docs/performance.md).
   */
  batch = 16;
  batchAge = 20_000;
  private readonly queue: Queued[] = [];
  /** instret when the oldest queued block was queued. */
  queuedSince = 0;
  get queued(): number { return this.queue.length; }

  /**
   * Translates the block at byte `start` of `page` and queues it; false when it has none. `install` puts the
   * compiled block in place, or says false when its page has gone meanwhile.
   */
  enqueue(page: CodePage, start: number, decode: (off: number) => number, install: (b: CompiledBlock) => boolean, now: number): boolean {
    const t0 = performance.now();
    const tr = translate(page, start, decode);
    this.stats.compileMs += performance.now() - t0;
    if (tr === null) { this.stats.untranslatable++; return false; }
    if (this.queue.length === 0) this.queuedSince = now;
    this.queue.push({ code: tr.code, length: tr.length, fp: tr.fp, install });
    return true;
  }

  /**
   * Compile off the main thread: WebAssembly.instantiate() compiles on V8's background threads while the
   * hart goes on interpreting the queued blocks, and installs them when it resolves (docs/performance.md).
   * Off, the module is compiled and installed on the spot (the tests, which run the machine synchronously).
   */
  asyncCompile = true;
  /** Bumped when pending compiles must not install (reset, restore): a batch installs only in its epoch. */
  private epoch = 0;
  private readonly inFlight = new Set<Promise<void>>();
  /** Batches compiling in the background. */
  get pending(): number { return this.inFlight.size; }

  /** Compiles every queued block into one module and installs them (now, or when the compile is done). */
  compileQueued(): void {
    const q = this.queue.splice(0);
    if (q.length === 0) return;
    const t0 = performance.now();
    const bytes = moduleOf({
      types: [{ params: BLOCK_PARAMS, results: BLOCK_RESULTS }], importMemory: true, funcs: q.map((e) => ({ type: 0, code: e.code })),
    });
    if (!this.asyncCompile) {
      this.install(q, new WebAssembly.Instance(new WebAssembly.Module(bytes), this.imports).exports);
      this.stats.compileMs += performance.now() - t0;
      return;
    }
    this.stats.compileMs += performance.now() - t0;
    const epoch = this.epoch;
    const done: Promise<void> = WebAssembly.instantiate(bytes, this.imports).then(({ instance }) => {
      this.inFlight.delete(done);
      if (epoch !== this.epoch) return;
      const t1 = performance.now();
      this.install(q, instance.exports);
      this.stats.compileMs += performance.now() - t1;
    }, (e: unknown) => { this.inFlight.delete(done); throw e; });
    this.inFlight.add(done);
  }

  private install(q: readonly Queued[], exports: WebAssembly.Exports): void {
    for (let i = 0; i < q.length && this.slots < TABLE_SLOTS; i++) {
      const fn = exports[`f${i}`];
      const index = this.slots++;
      this.table.set(index, fn);
      if (q[i].install({ index, length: q[i].length, fp: q[i].fp })) { this.live++; this.stats.blocksCompiled++; }
    }
  }

  /** Forgets the queue and every compile in flight (the code they hold is gone: reset, restore). */
  dropPending(): void {
    this.queue.length = 0;
    this.epoch++;
  }

  /** Resolves when every compile in flight has installed its blocks (or been dropped). */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }
}
