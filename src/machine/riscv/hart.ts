/**
 * One RV64GC hart: the interpreter loop, traps and interrupts, loads and stores.
 *
 * Registers live in the machine's WebAssembly.Memory as 32-bit halves (layout.ts). The interpreter runs a
 * physical page of decoded instructions at a time: instructions are decoded once into per-page arrays
 * (op, instruction word, immediate) and executed from there until control leaves the page, a trap or an
 * event that changes how instructions are fetched (CSR write, mret, fence.i). Stores never hit decoded pages
 * through the TLB fast path (mmu.ts keeps such pages out of the store TLB), so self-modifying code drops the
 * page's decoded instructions on the slow path.
 *
 * With the JIT (engine 'jit', jit/), run() dispatches at block boundaries: a block entered often enough is
 * compiled to WebAssembly and from then on runs compiled, block to block, until it stops before something
 * the interpreter does; compiled blocks hang off the decoded page they came from and go with it.
 *
 * The hart sees physical memory through PhysRam and the HartBus; it never imports a device.
 */
import {
  ALL_INTERRUPTS, Cause, Csr, IRQ_MEI, IRQ_MSI, IRQ_MTI, IRQ_SEI, IRQ_SSI, IRQ_STI, MEDELEG_WRITABLE, MIP_MEIP,
  MIP_MSIP, MIP_MTIP, MIP_SEIP, MIP_SSIP, MIP_STIP, MISA_HI, MISA_LO, MSTATUS_FS, MSTATUS_HI_XL,
  MSTATUS_MIE, MSTATUS_MPIE, MSTATUS_MPP, MSTATUS_MPP_SHIFT, MSTATUS_MPRV, MSTATUS_MXR, MSTATUS_SIE,
  MSTATUS_SPIE, MSTATUS_SPP, MSTATUS_SUM, MSTATUS_TSR, MSTATUS_TVM, MSTATUS_TW, MSTATUS_WRITABLE, Priv,
  S_INTERRUPTS, SSTATUS_MASK, ENVCFG_CBCFE, ENVCFG_CBIE, ENVCFG_CBZE, MENVCFG_HI_PBMTE, MENVCFG_WRITABLE_HI, MENVCFG_WRITABLE_LO, SENVCFG_WRITABLE,
} from './csr.js';
import { execBitmanip } from './bitmanip.js';
import { C_ILLEGAL, decodeImm, decodeOp, expandCompressed, Op } from './decode.js';
import { createFpu, FP_ILLEGAL } from './fpu.js';
import { div64, divu64, divuw, divw, mul64, mulh, mulhsu, mulhu, rem64, remu64, remuw, remw, res } from './int64.js';
import { CACHE_BLOCK_BYTES } from './isa.js';
import { STATE_F, STATE_FP_DIRTY, STATE_RESV, STATE_X } from './layout.js';
import { Jit, type CompiledBlock } from './jit/jit.js';
import { badState, bool, int32, int32s, pair, record, uint, uints } from '../../devices/state.js';
import type { State, Stateful } from '../../devices/stateful.js';
import { Access, Mmu, MMU_M, MMU_S, MMU_S_SUM, MMU_U, PMP_ENTRIES, TLB_MASK, TLB_SIZE, type PhysRam } from './mmu.js';

/** Memory-mapped devices as the hart sees them: physical addresses outside RAM. */
export interface HartBus {
  /** Reads 1, 2 or 4 bytes; sets `ok` false when no device answers at `pa`. */
  read(pa: number, size: number): number;
  write(pa: number, size: number, value: number): void;
  ok: boolean;
}

/** The machine's virtual clock as the hart needs it: mtime, in ticks of 10 MHz. */
export interface HartClock { now(): number }

const PAGE_SLOTS = 2048;

/** Zihpm: the last implemented hpm counter (3..18: sixteen, QEMU's default pmu-num). */
const HPM_LAST = 18;
/** mcountinhibit: CY (0), IR (2) and HPM3..HPM_LAST. */
const MCOUNTINHIBIT_WRITABLE = 5 | (((1 << (HPM_LAST + 1)) - 1) & ~7);

/** Decoded instructions of one physical page, one slot per halfword. */
class DecodedPage {
  readonly ops = new Uint8Array(PAGE_SLOTS);
  readonly ins = new Int32Array(PAGE_SLOTS);
  readonly imm = new Int32Array(PAGE_SLOTS);
  /** JIT: entries counted per slot (HOT_UNTRANSLATABLE: none to compile), and the blocks compiled; lazily made. */
  hot: Uint16Array | null = null;
  blocks: (CompiledBlock | undefined)[] | null = null;
}

/**
 * JIT: a block is compiled on its HOT_THRESHOLD-th entry (docs/performance.md has the figures), and the
 * cache holds at most MAX_LIVE_BLOCKS before it is flushed whole (QEMU's TCG flushes its buffer the same way).
 */
export const HOT_THRESHOLD = 1000;
const HOT_UNTRANSLATABLE = 0xffff;
const HOT_QUEUED = 0xfffe;
const HOT_COMPILED = 0xfffd;
const MAX_LIVE_BLOCKS = 16384;
const JIT_SAMPLE = 64;
/** The interpreter's counts when it counts nothing (no JIT). */
const NO_COUNTS = new Uint16Array(0);

/** Which engine runs guest code: the interpreter alone, or the interpreter plus compiled blocks. */
export type Engine = 'interp' | 'jit';

const TWO32 = 4294967296;
const u64 = (lo: number, hi: number): number => (hi >>> 0) * TWO32 + (lo >>> 0);

export class Hart implements Stateful {
  readonly x: Int32Array;
  readonly f: Int32Array;
  readonly mmu: Mmu;
  private readonly fpExec: (insn: number, frm: number) => number;
  private readonly m8: Uint8Array;
  private readonly s8: Int8Array;
  private readonly m16: Uint16Array;
  private readonly s16: Int16Array;
  private readonly m32: Int32Array;
  private readonly pages: (DecodedPage | undefined)[];
  private readonly crossPage = new DecodedPage();
  /** The JIT, when the engine is 'jit'. */
  readonly jit: Jit | null;
  /** The interpreter counts each block entry (taken branches, jumps, page changes) and leaves at hot ones (the JIT). */
  private readonly stepBlocks: boolean;
  /** Entries before a block is compiled (below HOT_COMPILED); tests lower it to compile everything at once. */
  hotThreshold = HOT_THRESHOLD;

  pcLo = 0;
  pcHi = 0;
  priv: Priv = Priv.M;
  /** Waiting in WFI for an interrupt. */
  wfi = false;
  /** Set by the machine (HTIF exit, power-off) to leave run() at the next block boundary. */
  halted = false;
  /** Instructions retired (drives instret and cycle). */
  instret = 0;

  // CSR state. 64-bit CSRs are lo/hi pairs.
  mstatus = 0; // low 32 bits; the high half is MSTATUS_HI_XL plus SD
  fflags = 0;
  frm = 0;
  medeleg = 0;
  mideleg = 0;
  mie = 0;
  /** Software-writable pending bits (SSIP, STIP, SEIP) and lines driven by devices and timers. */
  private mipSoft = 0;
  private mipHw = 0;
  /** The effective mip: mipSoft | mipHw. */
  mip = 0;
  mtvecLo = 0; mtvecHi = 0;
  stvecLo = 0; stvecHi = 0;
  mepcLo = 0; mepcHi = 0;
  sepcLo = 0; sepcHi = 0;
  mcauseLo = 0; mcauseHi = 0;
  scauseLo = 0; scauseHi = 0;
  mtvalLo = 0; mtvalHi = 0;
  stvalLo = 0; stvalHi = 0;
  mscratchLo = 0; mscratchHi = 0;
  sscratchLo = 0; sscratchHi = 0;
  mcounteren = 0;
  scounteren = 0;
  mcountinhibit = 0;
  menvcfgLo = 0; menvcfgHi = 0;
  senvcfg = 0;
  stimecmpLo = -1; stimecmpHi = -1;
  /** minstret = instret + instretDelta; mcycle = instret + cycleDelta (or frozen while inhibited). */
  private instretDelta = 0;
  private cycleDelta = 0;
  private instretFrozen = 0;
  private cycleFrozen = 0;
  /**
   * Zihpm: mhpmcounter3..HPM_LAST and mhpmevent3..HPM_LAST hold what was written (lo, hi at 2n, 2n + 1) and
   * count nothing; the counters above HPM_LAST read zero.
   */
  private readonly hpmCounter = new Int32Array(64);
  private readonly hpmEvent = new Int32Array(64);

  // LR/SC reservation: the memory offset of the reserved doubleword as an int32 (o & ~7: offsets of 2 GiB and
  // up wrap negative, as the TLB holds them), or -1, which no multiple of 8 is.
  private resv = -1;

  /** TLB sets in use for fetch and data (MMU indexes × TLB_SIZE). */
  private fetchSet = MMU_M * TLB_SIZE;
  private dataSet = MMU_M * TLB_SIZE;
  private lastMxr = false;

  /** Traps taken, and instret after the step that took the last one (run()'s livelock rule). */
  private traps = 0;
  private instretAtTrap = -1;
  /** Set by a trap taken in a slow path, so the interpreter loop leaves. */
  private trapped = false;
  /** High half of a 64-bit load done by the slow path. */
  private loadHi = 0;
  /**
   * The built-in SBI (`--bios builtin`): called for every ecall from S-mode with pc already past the ecall;
   * it reads a0-a7 and writes a0/a1 like M-mode firmware would.
   */
  sbi: ((hart: Hart) => void) | null = null;
  /** Observer of every trap (diagnostics: `bonsai run --trace traps`). */
  onTrap: ((cause: number, interrupt: boolean, epc: number, tval: number, from: Priv) => void) | null = null;
  /** Called after a store to a RAM page flagged as watched (HTIF tohost). */
  onWatchedWrite: ((pa: number) => void) | null = null;

  constructor(
    memory: WebAssembly.Memory,
    private readonly ram: PhysRam,
    private readonly bus: HartBus,
    private readonly clock: HartClock,
    readonly hartId = 0,
    engine: Engine = 'interp',
  ) {
    const buf = memory.buffer;
    this.x = new Int32Array(buf, STATE_X, 64);
    this.f = new Int32Array(buf, STATE_F, 64);
    this.m8 = new Uint8Array(buf);
    this.s8 = new Int8Array(buf);
    this.m16 = new Uint16Array(buf);
    this.s16 = new Int16Array(buf);
    this.m32 = new Int32Array(buf);
    this.mmu = new Mmu(ram, buf);
    this.mmu.onPteWrite = (pa) => this.ramWritten(pa);
    this.fpExec = createFpu(this.x, this.f);
    this.pages = new Array<DecodedPage | undefined>(Math.ceil(ram.size / 4096));
    this.crossPage.ops.fill(Op.CROSS);
    const jit = engine === 'jit' ? new Jit(memory) : null;
    this.jit = jit;
    if (jit !== null) {
      jit.setFetchIndex(this.fetchSet / TLB_SIZE);
      this.mmu.onFlush = () => jit.invalidateJumps(); // the jump cache maps virtual pcs
      this.mmu.onFlushPage = (lo) => jit.invalidatePage(lo);
    }
    this.stepBlocks = jit !== null;
    this.reset(0x80000000, 0);
  }

  /** Puts the hart in its reset state at `pc` (privileged spec 3.4): M-mode, MIE = 0, MPRV = 0. */
  reset(pcLo: number, pcHi: number): void {
    this.x.fill(0);
    this.f.fill(0);
    this.pcLo = pcLo | 0;
    this.pcHi = pcHi | 0;
    this.priv = Priv.M;
    this.mstatus = 0;
    this.mie = this.mipSoft = 0;
    this.medeleg = this.mideleg = 0;
    this.mmu.satpMode = 0;
    this.mmu.pmpcfg.fill(0);
    this.mmu.pmpaddrLo.fill(0);
    this.mmu.pmpaddrHi.fill(0);
    this.mmu.pmpUpdate();
    this.menvcfgLo = this.menvcfgHi = 0;
    this.senvcfg = 0;
    this.hpmCounter.fill(0);
    this.hpmEvent.fill(0);
    this.syncPbmte();
    this.wfi = false;
    this.halted = false;
    this.resv = -1;
    this.refreshMip();
    this.invalidateAllCode();
    this.mmu.flushAll();
    this.updateMmuContext();
  }

  /** Changes the privilege mode from outside an instruction (firmware entering the kernel). */
  setPrivilege(priv: Priv): void {
    this.priv = priv;
    this.updateMmuContext();
  }

  // --- interrupts ------------------------------------------------------------------------------------

  /** Drives an interrupt line into mip (MSIP, MTIP, MEIP, SEIP from the CLINT and PLIC). */
  setInterrupt(bit: number, level: boolean): void {
    if (level) this.mipHw |= 1 << bit;
    else this.mipHw &= ~(1 << bit);
    this.refreshMip();
  }

  /** Makes the supervisor software interrupt pending, as M-mode firmware does for an SBI IPI. */
  raiseSsip(): void {
    this.mipSoft |= MIP_SSIP;
    this.refreshMip();
  }

  private refreshMip(): void {
    // With Sstc on, STIP is stimecmp's alone: a software STIP left from before does not count.
    const soft = (this.menvcfgHi & 0x80000000) !== 0 ? this.mipSoft & ~MIP_STIP : this.mipSoft;
    this.mip = (soft | this.mipHw) & ALL_INTERRUPTS;
  }

  /**
   * Tells the MMU whether menvcfg.PBMTE is set; firmware that sets menvcfgHi directly (the built-in SBI)
   * calls this too. A change flushes the TLB: translations made under the other rule are stale.
   */
  syncPbmte(): void {
    const on = (this.menvcfgHi & MENVCFG_HI_PBMTE) !== 0;
    if (on !== this.mmu.pbmte) { this.mmu.pbmte = on; this.mmu.flushAll(); }
  }

  /** The next time (mtime ticks) at which Sstc's stimecmp fires, or Infinity. */
  stimecmpDeadline(): number {
    if ((this.menvcfgHi & 0x80000000) === 0) return Infinity;
    return u64(this.stimecmpLo, this.stimecmpHi);
  }

  /** Updates STIP from stimecmp (Sstc) at time `now`. */
  updateTimer(now: number): void {
    if ((this.menvcfgHi & 0x80000000) === 0) return;
    const level = now >= u64(this.stimecmpLo, this.stimecmpHi);
    if (level !== ((this.mipHw & MIP_STIP) !== 0)) this.setInterrupt(IRQ_STI, level);
  }

  /** Takes the highest-priority enabled pending interrupt, if any (privileged spec 1.12, 3.1.9). */
  private checkInterrupts(): void {
    const pending = this.mip & this.mie;
    if (pending === 0) return;
    let irqs = 0;
    if (this.priv < Priv.M || (this.mstatus & MSTATUS_MIE) !== 0) irqs = pending & ~this.mideleg;
    if (irqs === 0 && (this.priv < Priv.S || (this.priv === Priv.S && (this.mstatus & MSTATUS_SIE) !== 0))) {
      irqs = pending & this.mideleg;
    }
    if (irqs === 0) return;
    const cause = irqs & MIP_MEIP ? IRQ_MEI : irqs & MIP_MSIP ? IRQ_MSI : irqs & MIP_MTIP ? IRQ_MTI :
      irqs & MIP_SEIP ? IRQ_SEI : irqs & MIP_SSIP ? IRQ_SSI : IRQ_STI;
    this.trap(cause, true, 0, 0, this.pcLo, this.pcHi);
  }

  // --- traps -----------------------------------------------------------------------------------------

  /** Enters the trap handler for `cause`, delegating to S-mode where medeleg/mideleg say so. */
  private trap(cause: number, interrupt: boolean, tvalLo: number, tvalHi: number, epcLo: number, epcHi: number): void {
    const deleg = interrupt ? this.mideleg : this.medeleg;
    this.onTrap?.(cause, interrupt, u64(epcLo, epcHi), u64(tvalLo, tvalHi), this.priv);
    this.resv = -1;
    this.trapped = true;
    this.traps++;
    let st = this.mstatus;
    if (this.priv <= Priv.S && ((deleg >>> cause) & 1) !== 0) {
      this.scauseLo = cause; this.scauseHi = interrupt ? 0x80000000 | 0 : 0;
      this.sepcLo = epcLo; this.sepcHi = epcHi;
      this.stvalLo = tvalLo; this.stvalHi = tvalHi;
      st = (st & ~(MSTATUS_SPIE | MSTATUS_SIE | MSTATUS_SPP)) | ((st & MSTATUS_SIE) ? MSTATUS_SPIE : 0) |
        (this.priv === Priv.S ? MSTATUS_SPP : 0);
      this.priv = Priv.S;
      this.setPcToVector(this.stvecLo, this.stvecHi, cause, interrupt);
    } else {
      this.mcauseLo = cause; this.mcauseHi = interrupt ? 0x80000000 | 0 : 0;
      this.mepcLo = epcLo; this.mepcHi = epcHi;
      this.mtvalLo = tvalLo; this.mtvalHi = tvalHi;
      st = (st & ~(MSTATUS_MPIE | MSTATUS_MIE | MSTATUS_MPP)) | ((st & MSTATUS_MIE) ? MSTATUS_MPIE : 0) |
        (this.priv << MSTATUS_MPP_SHIFT);
      this.priv = Priv.M;
      this.setPcToVector(this.mtvecLo, this.mtvecHi, cause, interrupt);
    }
    this.mstatus = st;
    this.updateMmuContext();
  }

  private setPcToVector(tvecLo: number, tvecHi: number, cause: number, interrupt: boolean): void {
    const baseLo = tvecLo & ~3;
    if (interrupt && (tvecLo & 3) === 1) {
      const lo = (baseLo >>> 0) + 4 * cause;
      this.pcLo = lo | 0;
      this.pcHi = (tvecHi + (lo >= TWO32 ? 1 : 0)) | 0;
    } else {
      this.pcLo = baseLo;
      this.pcHi = tvecHi;
    }
  }

  /** Raises an exception at pc (lo, hi) with the given tval. */
  raise(cause: Cause, tvalLo: number, tvalHi: number, pcLo: number, pcHi: number): void {
    this.trap(cause, false, tvalLo, tvalHi, pcLo, pcHi);
  }

  /** Chooses the TLB sets for the current privilege, MPRV and SUM; flushes on an MXR change. */
  private updateMmuContext(): void {
    const st = this.mstatus;
    const mxr = (st & MSTATUS_MXR) !== 0;
    if (mxr !== this.lastMxr) { this.lastMxr = mxr; this.mmu.flushAll(); }
    const fetchSet = (this.priv === Priv.M ? MMU_M : this.priv === Priv.S ? MMU_S : MMU_U) * TLB_SIZE;
    // The jump cache maps virtual pcs as the old privilege fetched them.
    if (fetchSet !== this.fetchSet) this.jit?.setFetchIndex(fetchSet / TLB_SIZE);
    this.fetchSet = fetchSet;
    const dp = this.dataPriv();
    this.dataSet = (dp === Priv.M ? MMU_M : dp === Priv.U ? MMU_U : (st & MSTATUS_SUM) ? MMU_S_SUM : MMU_S) * TLB_SIZE;
  }

  /** The privilege loads and stores run with: MPP when M-mode sets MPRV. */
  private dataPriv(): Priv {
    if (this.priv === Priv.M && (this.mstatus & MSTATUS_MPRV) !== 0) {
      const mpp = (this.mstatus & MSTATUS_MPP) >>> MSTATUS_MPP_SHIFT;
      return mpp as Priv;
    }
    return this.priv;
  }

  // --- decoded code ----------------------------------------------------------------------------------

  /** Forgets every decoded instruction (after DMA into guest RAM, or on reset and restore). */
  invalidateAllCode(): void {
    this.jit?.dropPending();
    for (let i = 0; i < this.pages.length; i++) {
      const p = this.pages[i];
      if (p !== undefined) {
        if (p.blocks !== null) this.dropBlocks(p);
        this.pages[i] = undefined;
        this.ram.pageFlags[i] &= ~1;
      }
    }
  }

  /**
   * Pages written since the log was armed (live migration): one bit per RAM page. A page is logged
   * through pageFlags bit 4, which sends its stores down the slow path until its first write is noted.
   */
  dirtyLog: Uint8Array | null = null;

  /** Notes a write to RAM page `page` in the dirty log; its stores may take the fast path again. */
  private logWrite(page: number): void {
    const log = this.dirtyLog;
    if (log !== null) log[page >> 3] |= 1 << (page & 7);
    this.ram.pageFlags[page] &= ~4;
  }

  /** Tells the hart that guest RAM at physical `pa` changed outside its stores (DMA, PTE update). */
  ramWritten(pa: number): void {
    const page = Math.floor((pa - this.ram.base) / 4096);
    if (page < 0 || page >= this.pages.length) return;
    if (this.ram.pageFlags[page] & 4) this.logWrite(page);
    const p = this.pages[page];
    if (p !== undefined) {
      if (p.blocks !== null) this.dropBlocks(p);
      this.pages[page] = undefined;
      this.ram.pageFlags[page] &= ~1;
    }
  }

  /** A decoded page with compiled blocks goes: the blocks no longer count against the cache bound. */
  private dropBlocks(p: DecodedPage): void {
    const jit = this.jit;
    if (jit === null || p.blocks === null) return;
    jit.stats.invalidations++;
    jit.invalidateJumps();
    let live = 0;
    for (const b of p.blocks) if (b !== undefined) live++;
    jit.live -= live;
    p.blocks = null;
  }

  private decodedPage(base: number): DecodedPage {
    const index = (base - this.ram.offset) >>> 12;
    let page = this.pages[index];
    if (page === undefined) {
      page = new DecodedPage();
      this.pages[index] = page;
      // Stores to this page must now take the slow path, which drops the decoded instructions.
      this.ram.pageFlags[index] |= 1;
      this.mmu.dropWritesTo(base);
    }
    return page;
  }

  /** Decodes the instruction at byte `off` of the page at memory offset `base` into its slot. */
  private decodeSlot(page: DecodedPage, base: number, off: number): number {
    const slot = off >> 1;
    const lowHalf = this.m16[(base + off) >>> 1];
    let op: Op;
    let ins: number;
    if ((lowHalf & 3) !== 3) {
      const expanded = expandCompressed(lowHalf);
      if (expanded === C_ILLEGAL) { op = Op.ILLEGAL; ins = lowHalf; } else {
        op = decodeOp(expanded);
        ins = expanded & ~1; // bit 0 clear marks "compressed": length 2
        page.imm[slot] = decodeImm(op, expanded);
      }
    } else if (off === 4094) {
      op = Op.CROSS; // a 32-bit instruction that crosses into the next page: fetched apart
      ins = 0;
    } else {
      ins = lowHalf | (this.m16[(base + off + 2) >>> 1] << 16);
      op = decodeOp(ins);
      page.imm[slot] = decodeImm(op, ins);
    }
    page.ins[slot] = ins;
    page.ops[slot] = op;
    return op;
  }

  // --- the interpreter -------------------------------------------------------------------------------

  /**
   * Runs up to `budget` instructions (fewer when the hart waits in WFI); returns how many were used.
   * Interrupts are checked before every block, so a caller running short slices sees timely delivery.
   */
  run(budget: number): number {
    const jit = this.jit;
    let left = budget;
    while (left > 0) {
      if (this.wfi) {
        if ((this.mip & this.mie) === 0) break;
        this.wfi = false;
      }
      const before = left, traps = this.traps;
      if ((this.mip & this.mie) !== 0) this.checkInterrupts();
      left = jit === null ? this.execute(left) : this.dispatch(left, jit);
      // A trap with nothing retired since the last one (a handler that faults at once) still uses budget, or
      // run() never returns. Counted by instructions, not by steps, so the charge is the same whichever engine
      // ran (their steps end at different places).
      if (this.traps !== traps) {
        if (this.instret === this.instretAtTrap) left--;
        this.instretAtTrap = this.instret;
      } else if (left === before) left--;
      if (this.wfi || this.halted) break;
    }
    if (jit !== null && jit.queued > 0 && this.instret - jit.queuedSince >= jit.batchAge) jit.compileQueued();
    return budget - left;
  }

  /**
   * One step at pc: the compiled block there (compiling it on its HOT_THRESHOLD-th entry), or the interpreter
   * up to the next block boundary. Keyed by the physical page, found through the fetch TLB as execute() finds
   * it, so satp, sfence.vma and privilege changes are honoured by the translation, not by the cache.
   */
  private dispatch(left: number, jit: Jit): number {
    const mmu = this.mmu;
    const lo = this.pcLo, hi = this.pcHi;
    const fi = this.fetchSet + ((lo >>> 12) & TLB_MASK);
    if (mmu.tagX[fi] !== (lo & -4096) || mmu.tagXHi[fi] !== hi) return this.execute(left);
    const base = mmu.baseX[fi];
    const page = this.pages[(base - this.ram.offset) >>> 12];
    if (page === undefined) return this.execute(left);
    const off = lo & 0xfff, slot = off >> 1;
    let blk = page.blocks === null ? undefined : page.blocks[slot];
    if (blk === undefined) {
      const hot = page.hot ??= new Uint16Array(PAGE_SLOTS);
      const h = hot[slot];
      const threshold = this.hotThreshold;
      if (h < threshold) { hot[slot] = h + 1; return this.execute(left); }
      if (h !== threshold) return this.execute(left);
      if (jit.live + jit.queued >= MAX_LIVE_BLOCKS || jit.full) this.flushBlocks(jit);
      const index = (base - this.ram.offset) >>> 12;
      const install = (b: CompiledBlock): boolean => {
        if (this.pages[index] !== page) return false; // written (or flushed) since: the translation is stale
        (page.blocks ??= new Array<CompiledBlock | undefined>(PAGE_SLOTS))[slot] = b;
        if (page.hot !== null) page.hot[slot] = HOT_COMPILED;
        return true;
      };
      const queued = jit.enqueue(page, off, (o) => this.decodeSlot(page, base, o), install, this.instret);
      hot[slot] = queued ? HOT_QUEUED : HOT_UNTRANSLATABLE;
      if (jit.queued >= jit.batch) jit.compileQueued();
      blk = page.blocks === null ? undefined : page.blocks[slot];
      if (blk === undefined) return this.execute(left);
    }
    if (blk.length > left) return this.execute(left);
    // The jump cache's tag says whether FS is on, so blocks with FP accesses are reached only while it is
    // (checked here, where compiled code is entered: firmware may set mstatus directly between runs).
    const fpOn = (this.mstatus & MSTATUS_FS) !== 0;
    if (fpOn !== jit.fpOn) jit.setFpOn(fpOn);
    if (blk.fp && !fpOn) return this.execute(left);
    // Time in compiled code, sampled: a clock read costs more than a short block (one call in JIT_SAMPLE).
    const timed = jit.timing && (jit.stats.blockRuns & (JIT_SAMPLE - 1)) === 0;
    const t0 = timed ? performance.now() : 0;
    jit.noteJump(lo, hi, blk);
    const m32 = this.m32;
    m32[STATE_RESV >> 2] = this.resv; // compiled LR/SC and stores read and write it there
    const r = jit.run(left, this.dataSet, lo, hi);
    if (timed) jit.stats.jitMs += (performance.now() - t0) * JIT_SAMPLE;
    this.pcLo = jit.pcLo; this.pcHi = jit.pcHi;
    this.resv = m32[STATE_RESV >> 2];
    if (m32[STATE_FP_DIRTY >> 2] !== 0) { m32[STATE_FP_DIRTY >> 2] = 0; this.setFsDirty(); }
    const n = r >>> 1;
    this.instret += n;
    jit.stats.blockRuns++;
    jit.stats.jitInstructions += n;
    left -= n;
    // It stopped before an instruction it leaves to the interpreter (a TLB miss, a CSR): that one, then on.
    if ((r & 1) !== 0 && left > 0) { jit.stats.stops++; left = left - 1 + this.execute(1); }
    return left;
  }

  /** The cache is full: every compiled block goes (and is compiled again when it is hot again). */
  private flushBlocks(jit: Jit): void {
    // Every count goes, those of blocks queued or compiling too (they install if their page is still there).
    for (const p of this.pages) {
      if (p !== undefined) { p.blocks = null; p.hot = null; }
    }
    jit.live = 0;
    jit.slots = 0;
    jit.invalidateJumps();
    jit.stats.flushes++;
  }

  /** Executes from pc within one page; returns the budget left. */
  private execute(budget: number): number {
    const mmu = this.mmu;
    let pLo = this.pcLo;
    let pHi = this.pcHi;
    let off = pLo & 0xfff;
    pLo = pLo - off;
    // Fetch translation for the page.
    const fi = this.fetchSet + ((pLo >>> 12) & TLB_MASK);
    let base: number;
    if (mmu.tagX[fi] === pLo && mmu.tagXHi[fi] === pHi) base = mmu.baseX[fi];
    else {
      base = this.fetchSlow(this.pcLo, pHi);
      if (base === -1) return budget;
      // Not cached: PMP treats parts of this page differently, so every fetch must be checked. One at a time.
      if (budget > 1 && !(mmu.tagX[fi] === pLo && mmu.tagXHi[fi] === pHi)) return budget - 1 + this.execute(1);
    }
    let page = this.decodedPage(base);
    if (off === 4094 && (this.m16[(base + 4094) >>> 1] & 3) === 3) {
      // A 32-bit instruction whose upper half lies on the next page: run it alone from a scratch page.
      const upper = this.fetchCrossUpper();
      if (upper < 0) return budget;
      const insn = this.m16[(base + 4094) >>> 1] | (upper << 16);
      page = this.crossPage;
      const op = decodeOp(insn);
      page.ops[0] = op;
      page.ins[0] = insn;
      page.imm[0] = decodeImm(op, insn);
      pLo = this.pcLo;
      off = 0;
      base = -1;
    }
    let ops = page.ops, insns = page.ins, imms = page.imm;
    const x = this.x;
    // Target of a jump out of the page (set before `break dispatch`).
    let tLo = 0, tHi = 0;
    const m8 = this.m8, s8 = this.s8, m16 = this.m16, s16 = this.s16, m32 = this.m32;
    const tagR = mmu.tagR, tagW = mmu.tagW, tagRHi = mmu.tagRHi, tagWHi = mmu.tagWHi, baseR = mmu.baseR, baseW = mmu.baseW;
    const dset = this.dataSet;
    // With the JIT, block entries (taken branches, jumps, page changes) are counted and leave when hot: the
    // counts of this page are at hand (measured: counting through a call cost the JIT's boot ~80 ms).
    const stay = !this.stepBlocks;
    const threshold = this.hotThreshold;
    let hot = stay ? NO_COUNTS : (page.hot ??= new Uint16Array(PAGE_SLOTS));
    this.trapped = false;
    let n = budget;
    for (;;) {
      if (n <= 0) break;
      n--;
      const slot = off >> 1;
      let op = ops[slot];
      if (op === Op.UNDECODED) op = this.decodeSlot(page, base, off);
      const ins = insns[slot];
      dispatch: {
      switch (op) {
        case Op.NOP: break;
        case Op.ADDI: {
          const rs1 = (ins >> 14) & 62, rd = (ins >> 6) & 62, imm = imms[slot];
          const a = x[rs1];
          const lo = (a + imm) | 0;
          x[rd + 1] = (x[rs1 + 1] + (imm >> 31) + ((lo >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
          x[rd] = lo;
          break;
        }
        case Op.ADDIW: {
          const v = (x[(ins >> 14) & 62] + imms[slot]) | 0;
          const rd = (ins >> 6) & 62;
          x[rd] = v; x[rd + 1] = v >> 31;
          break;
        }
        case Op.LUI: {
          const rd = (ins >> 6) & 62, v = imms[slot];
          x[rd] = v; x[rd + 1] = v >> 31;
          break;
        }
        case Op.AUIPC: {
          const rd = (ins >> 6) & 62, imm = imms[slot];
          // Integer-only carries: doubles in this function make V8 pessimise the whole loop (measured ~30%).
          const pc = (pLo + off) | 0;
          const pch = (pHi + ((pc >>> 0) < (pLo >>> 0) ? 1 : 0)) | 0;
          const lo = (pc + imm) | 0;
          x[rd] = lo;
          x[rd + 1] = (pch + (imm >> 31) + ((lo >>> 0) < (pc >>> 0) ? 1 : 0)) | 0;
          break;
        }
        case Op.SLTI: {
          const rs1 = (ins >> 14) & 62, imm = imms[slot];
          const ahi = x[rs1 + 1], bhi = imm >> 31;
          const lt = ahi < bhi || (ahi === bhi && (x[rs1] >>> 0) < (imm >>> 0));
          const rd = (ins >> 6) & 62;
          x[rd] = lt ? 1 : 0; x[rd + 1] = 0;
          break;
        }
        case Op.SLTIU: {
          const rs1 = (ins >> 14) & 62, imm = imms[slot];
          const ahi = x[rs1 + 1] >>> 0, bhi = (imm >> 31) >>> 0;
          const lt = ahi < bhi || (ahi === bhi && (x[rs1] >>> 0) < (imm >>> 0));
          const rd = (ins >> 6) & 62;
          x[rd] = lt ? 1 : 0; x[rd + 1] = 0;
          break;
        }
        case Op.XORI: {
          const rs1 = (ins >> 14) & 62, rd = (ins >> 6) & 62, imm = imms[slot];
          x[rd + 1] = x[rs1 + 1] ^ (imm >> 31); x[rd] = x[rs1] ^ imm;
          break;
        }
        case Op.ORI: {
          const rs1 = (ins >> 14) & 62, rd = (ins >> 6) & 62, imm = imms[slot];
          x[rd + 1] = x[rs1 + 1] | (imm >> 31); x[rd] = x[rs1] | imm;
          break;
        }
        case Op.ANDI: {
          const rs1 = (ins >> 14) & 62, rd = (ins >> 6) & 62, imm = imms[slot];
          x[rd + 1] = x[rs1 + 1] & (imm >> 31); x[rd] = x[rs1] & imm;
          break;
        }
        case Op.SLLI: case Op.SRLI: case Op.SRAI: {
          const rs1 = (ins >> 14) & 62;
          this.shift(op, (ins >> 6) & 62, x[rs1], x[rs1 + 1], imms[slot]);
          break;
        }
        case Op.SLLIW: {
          const v = x[(ins >> 14) & 62] << imms[slot], rd = (ins >> 6) & 62;
          x[rd] = v; x[rd + 1] = v >> 31;
          break;
        }
        case Op.SRLIW: {
          const v = (x[(ins >> 14) & 62] >>> imms[slot]) | 0, rd = (ins >> 6) & 62;
          x[rd] = v; x[rd + 1] = v >> 31;
          break;
        }
        case Op.SRAIW: {
          const v = x[(ins >> 14) & 62] >> imms[slot], rd = (ins >> 6) & 62;
          x[rd] = v; x[rd + 1] = v >> 31;
          break;
        }
        case Op.ADD: {
          const rs1 = (ins >> 14) & 62, rs2 = (ins >> 19) & 62, rd = (ins >> 6) & 62;
          const a = x[rs1], b = x[rs2];
          const lo = (a + b) | 0;
          x[rd + 1] = (x[rs1 + 1] + x[rs2 + 1] + ((lo >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
          x[rd] = lo;
          break;
        }
        case Op.SUB: {
          const rs1 = (ins >> 14) & 62, rs2 = (ins >> 19) & 62, rd = (ins >> 6) & 62;
          const a = x[rs1], b = x[rs2];
          x[rd + 1] = (x[rs1 + 1] - x[rs2 + 1] - ((a >>> 0) < (b >>> 0) ? 1 : 0)) | 0;
          x[rd] = (a - b) | 0;
          break;
        }
        case Op.SLL: case Op.SRL: case Op.SRA: {
          const rs1 = (ins >> 14) & 62;
          this.shift(op === Op.SLL ? Op.SLLI : op === Op.SRL ? Op.SRLI : Op.SRAI, (ins >> 6) & 62, x[rs1], x[rs1 + 1],
            x[(ins >> 19) & 62] & 63);
          break;
        }
        case Op.SLT: {
          const rs1 = (ins >> 14) & 62, rs2 = (ins >> 19) & 62;
          const ahi = x[rs1 + 1], bhi = x[rs2 + 1];
          const lt = ahi < bhi || (ahi === bhi && (x[rs1] >>> 0) < (x[rs2] >>> 0));
          const rd = (ins >> 6) & 62;
          x[rd] = lt ? 1 : 0; x[rd + 1] = 0;
          break;
        }
        case Op.SLTU: {
          const rs1 = (ins >> 14) & 62, rs2 = (ins >> 19) & 62;
          const ahi = x[rs1 + 1] >>> 0, bhi = x[rs2 + 1] >>> 0;
          const lt = ahi < bhi || (ahi === bhi && (x[rs1] >>> 0) < (x[rs2] >>> 0));
          const rd = (ins >> 6) & 62;
          x[rd] = lt ? 1 : 0; x[rd + 1] = 0;
          break;
        }
        case Op.XOR: {
          const rs1 = (ins >> 14) & 62, rs2 = (ins >> 19) & 62, rd = (ins >> 6) & 62;
          x[rd] = x[rs1] ^ x[rs2]; x[rd + 1] = x[rs1 + 1] ^ x[rs2 + 1];
          break;
        }
        case Op.OR: {
          const rs1 = (ins >> 14) & 62, rs2 = (ins >> 19) & 62, rd = (ins >> 6) & 62;
          x[rd] = x[rs1] | x[rs2]; x[rd + 1] = x[rs1 + 1] | x[rs2 + 1];
          break;
        }
        case Op.AND: {
          const rs1 = (ins >> 14) & 62, rs2 = (ins >> 19) & 62, rd = (ins >> 6) & 62;
          x[rd] = x[rs1] & x[rs2]; x[rd + 1] = x[rs1 + 1] & x[rs2 + 1];
          break;
        }
        case Op.ADDW: {
          const v = (x[(ins >> 14) & 62] + x[(ins >> 19) & 62]) | 0, rd = (ins >> 6) & 62;
          x[rd] = v; x[rd + 1] = v >> 31;
          break;
        }
        case Op.SUBW: {
          const v = (x[(ins >> 14) & 62] - x[(ins >> 19) & 62]) | 0, rd = (ins >> 6) & 62;
          x[rd] = v; x[rd + 1] = v >> 31;
          break;
        }
        case Op.SLLW: {
          const v = x[(ins >> 14) & 62] << (x[(ins >> 19) & 62] & 31), rd = (ins >> 6) & 62;
          x[rd] = v; x[rd + 1] = v >> 31;
          break;
        }
        case Op.SRLW: {
          const v = (x[(ins >> 14) & 62] >>> (x[(ins >> 19) & 62] & 31)) | 0, rd = (ins >> 6) & 62;
          x[rd] = v; x[rd + 1] = v >> 31;
          break;
        }
        case Op.SRAW: {
          const v = x[(ins >> 14) & 62] >> (x[(ins >> 19) & 62] & 31), rd = (ins >> 6) & 62;
          x[rd] = v; x[rd + 1] = v >> 31;
          break;
        }
        case Op.MUL: case Op.MULH: case Op.MULHSU: case Op.MULHU:
        case Op.DIV: case Op.DIVU: case Op.REM: case Op.REMU: {
          const rs1 = (ins >> 14) & 62, rs2 = (ins >> 19) & 62;
          const alo = x[rs1], ahi = x[rs1 + 1], blo = x[rs2], bhi = x[rs2 + 1];
          switch (op) {
            case Op.MUL: mul64(alo, ahi, blo, bhi); break;
            case Op.MULH: mulh(alo, ahi, blo, bhi); break;
            case Op.MULHSU: mulhsu(alo, ahi, blo, bhi); break;
            case Op.MULHU: mulhu(alo, ahi, blo, bhi); break;
            case Op.DIV: div64(alo, ahi, blo, bhi); break;
            case Op.DIVU: divu64(alo, ahi, blo, bhi); break;
            case Op.REM: rem64(alo, ahi, blo, bhi); break;
            default: remu64(alo, ahi, blo, bhi); break;
          }
          const rd = (ins >> 6) & 62;
          x[rd] = res[0]; x[rd + 1] = res[1];
          break;
        }
        case Op.MULW: {
          const v = Math.imul(x[(ins >> 14) & 62], x[(ins >> 19) & 62]), rd = (ins >> 6) & 62;
          x[rd] = v; x[rd + 1] = v >> 31;
          break;
        }
        case Op.DIVW: case Op.DIVUW: case Op.REMW: case Op.REMUW: {
          const a = x[(ins >> 14) & 62], b = x[(ins >> 19) & 62];
          const v = op === Op.DIVW ? divw(a, b) : op === Op.REMW ? remw(a, b) : op === Op.DIVUW ? divuw(a, b) : remuw(a, b);
          const rd = (ins >> 6) & 62;
          x[rd] = v; x[rd + 1] = v >> 31;
          break;
        }
        case Op.BITMANIP: execBitmanip(x, ins, imms[slot]); break;
        case Op.SHADD: { // sh1add, sh2add, sh3add: rd = (rs1 << n) + rs2
          const rs1 = (ins >> 14) & 62, rs2 = (ins >> 19) & 62, rd = (ins >> 6) & 62, n = imms[slot];
          const a = x[rs1];
          const slo = a << n;
          const lo = (slo + x[rs2]) | 0;
          x[rd + 1] = (((x[rs1 + 1] << n) | (a >>> (32 - n))) + x[rs2 + 1] + ((lo >>> 0) < (slo >>> 0) ? 1 : 0)) | 0;
          x[rd] = lo;
          break;
        }
        case Op.SHADD_UW: { // add.uw, sh1add.uw, sh2add.uw, sh3add.uw: rd = (zext32(rs1) << n) + rs2
          const rs1 = (ins >> 14) & 62, rs2 = (ins >> 19) & 62, rd = (ins >> 6) & 62, n = imms[slot];
          const a = x[rs1];
          const slo = a << n;
          const lo = (slo + x[rs2]) | 0;
          x[rd + 1] = ((n === 0 ? 0 : a >>> (32 - n)) + x[rs2 + 1] + ((lo >>> 0) < (slo >>> 0) ? 1 : 0)) | 0;
          x[rd] = lo;
          break;
        }
        // --- control transfer ---
        case Op.JAL: case Op.JALR: {
          const len = 2 + ((ins & 1) << 1);
          const imm = imms[slot];
          const pc = (pLo + off) | 0;
          const pch = (pHi + ((pc >>> 0) < (pLo >>> 0) ? 1 : 0)) | 0;
          if (op === Op.JAL) {
            tLo = (pc + imm) | 0;
            tHi = (pch + (imm >> 31) + ((tLo >>> 0) < (pc >>> 0) ? 1 : 0)) | 0;
          } else {
            const rs1 = (ins >> 14) & 62;
            const a = x[rs1];
            const t = (a + imm) | 0;
            tHi = (x[rs1 + 1] + (imm >> 31) + ((t >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
            tLo = t & ~1;
          }
          const rd = (ins >> 6) & 62;
          if (rd !== 0) {
            const link = (pc + len) | 0;
            x[rd] = link;
            x[rd + 1] = (pch + ((link >>> 0) < (pc >>> 0) ? 1 : 0)) | 0;
          }
          if (tHi === pHi && ((tLo ^ pLo) >>> 12) === 0 && base !== -1) {
            const t = tLo & 0xfff;
            if (stay) { off = t; continue; }
            // JIT: stay while the target is cold (counted), queued or untranslatable (coldTarget, inline).
            const h = hot[t >> 1];
            if (h < threshold) { hot[t >> 1] = h + 1; off = t; continue; }
            if (h >= HOT_QUEUED) { off = t; continue; }
          }
          break dispatch;
        }
        case Op.BEQ: case Op.BNE: case Op.BLT: case Op.BGE: case Op.BLTU: case Op.BGEU: {
          const rs1 = (ins >> 14) & 62, rs2 = (ins >> 19) & 62;
          let taken: boolean;
          const ahi = x[rs1 + 1], bhi = x[rs2 + 1];
          switch (op) {
            case Op.BEQ: taken = x[rs1] === x[rs2] && ahi === bhi; break;
            case Op.BNE: taken = x[rs1] !== x[rs2] || ahi !== bhi; break;
            case Op.BLT: taken = ahi < bhi || (ahi === bhi && (x[rs1] >>> 0) < (x[rs2] >>> 0)); break;
            case Op.BGE: taken = !(ahi < bhi || (ahi === bhi && (x[rs1] >>> 0) < (x[rs2] >>> 0))); break;
            case Op.BLTU: taken = (ahi >>> 0) < (bhi >>> 0) || (ahi === bhi && (x[rs1] >>> 0) < (x[rs2] >>> 0)); break;
            default: taken = !((ahi >>> 0) < (bhi >>> 0) || (ahi === bhi && (x[rs1] >>> 0) < (x[rs2] >>> 0))); break;
          }
          if (!taken) break;
          const t = off + imms[slot];
          if (t >= 0 && t < 4096 && base !== -1) {
            if (stay) { off = t; continue; }
            const h = hot[t >> 1];
            if (h < threshold) { hot[t >> 1] = h + 1; off = t; continue; }
            if (h >= HOT_QUEUED) { off = t; continue; }
          }
          const pc = (pLo + off) | 0, imm = imms[slot];
          const pch = (pHi + ((pc >>> 0) < (pLo >>> 0) ? 1 : 0)) | 0;
          tLo = (pc + imm) | 0;
          tHi = (pch + (imm >> 31) + ((tLo >>> 0) < (pc >>> 0) ? 1 : 0)) | 0;
          break dispatch;
        }
        // --- loads: TLB hit and aligned is the fast path; everything else goes through slowLoad ---
        case Op.LB: {
          const rs1 = (ins >> 14) & 62, imm = imms[slot];
          const a = x[rs1];
          const lo = (a + imm) | 0;
          const hi = (x[rs1 + 1] + (imm >> 31) + ((lo >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
          const ti = dset + ((lo >>> 12) & TLB_MASK);
          let v: number;
          if (tagR[ti] === (lo & -4096) && tagRHi[ti] === hi) { const o = baseR[ti] + (lo & 0xfff); v = s8[o >>> 0]; } else {
            v = this.slowLoad(op, lo, hi, pLo, pHi, off);
            if (this.trapped) { this.instret += budget - n - 1; return n + 1; }
          }
          const rd = (ins >> 6) & 62;
          if (rd !== 0) { x[rd] = v; x[rd + 1] = v >> 31; }
          break;
        }
        case Op.LBU: {
          const rs1 = (ins >> 14) & 62, imm = imms[slot];
          const a = x[rs1];
          const lo = (a + imm) | 0;
          const hi = (x[rs1 + 1] + (imm >> 31) + ((lo >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
          const ti = dset + ((lo >>> 12) & TLB_MASK);
          let v: number;
          if (tagR[ti] === (lo & -4096) && tagRHi[ti] === hi) { const o = baseR[ti] + (lo & 0xfff); v = m8[o >>> 0]; } else {
            v = this.slowLoad(op, lo, hi, pLo, pHi, off);
            if (this.trapped) { this.instret += budget - n - 1; return n + 1; }
          }
          const rd = (ins >> 6) & 62;
          if (rd !== 0) { x[rd] = v; x[rd + 1] = 0; }
          break;
        }
        case Op.LH: {
          const rs1 = (ins >> 14) & 62, imm = imms[slot];
          const a = x[rs1];
          const lo = (a + imm) | 0;
          const hi = (x[rs1 + 1] + (imm >> 31) + ((lo >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
          const ti = dset + ((lo >>> 12) & TLB_MASK);
          let v: number;
          if (tagR[ti] === (lo & -4096) && tagRHi[ti] === hi && (lo & 1) === 0) { const o = baseR[ti] + (lo & 0xfff); v = s16[o >>> 1]; } else {
            v = this.slowLoad(op, lo, hi, pLo, pHi, off);
            if (this.trapped) { this.instret += budget - n - 1; return n + 1; }
          }
          const rd = (ins >> 6) & 62;
          if (rd !== 0) { x[rd] = v; x[rd + 1] = v >> 31; }
          break;
        }
        case Op.LHU: {
          const rs1 = (ins >> 14) & 62, imm = imms[slot];
          const a = x[rs1];
          const lo = (a + imm) | 0;
          const hi = (x[rs1 + 1] + (imm >> 31) + ((lo >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
          const ti = dset + ((lo >>> 12) & TLB_MASK);
          let v: number;
          if (tagR[ti] === (lo & -4096) && tagRHi[ti] === hi && (lo & 1) === 0) { const o = baseR[ti] + (lo & 0xfff); v = m16[o >>> 1]; } else {
            v = this.slowLoad(op, lo, hi, pLo, pHi, off);
            if (this.trapped) { this.instret += budget - n - 1; return n + 1; }
          }
          const rd = (ins >> 6) & 62;
          if (rd !== 0) { x[rd] = v; x[rd + 1] = 0; }
          break;
        }
        case Op.LW: {
          const rs1 = (ins >> 14) & 62, imm = imms[slot];
          const a = x[rs1];
          const lo = (a + imm) | 0;
          const hi = (x[rs1 + 1] + (imm >> 31) + ((lo >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
          const ti = dset + ((lo >>> 12) & TLB_MASK);
          let v: number;
          if (tagR[ti] === (lo & -4096) && tagRHi[ti] === hi && (lo & 3) === 0) { const o = baseR[ti] + (lo & 0xfff); v = m32[o >>> 2]; } else {
            v = this.slowLoad(op, lo, hi, pLo, pHi, off);
            if (this.trapped) { this.instret += budget - n - 1; return n + 1; }
          }
          const rd = (ins >> 6) & 62;
          if (rd !== 0) { x[rd] = v; x[rd + 1] = v >> 31; }
          break;
        }
        case Op.LWU: {
          const rs1 = (ins >> 14) & 62, imm = imms[slot];
          const a = x[rs1];
          const lo = (a + imm) | 0;
          const hi = (x[rs1 + 1] + (imm >> 31) + ((lo >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
          const ti = dset + ((lo >>> 12) & TLB_MASK);
          let v: number;
          if (tagR[ti] === (lo & -4096) && tagRHi[ti] === hi && (lo & 3) === 0) { const o = baseR[ti] + (lo & 0xfff); v = m32[o >>> 2]; } else {
            v = this.slowLoad(op, lo, hi, pLo, pHi, off);
            if (this.trapped) { this.instret += budget - n - 1; return n + 1; }
          }
          const rd = (ins >> 6) & 62;
          if (rd !== 0) { x[rd] = v; x[rd + 1] = 0; }
          break;
        }
        case Op.LD: {
          const rs1 = (ins >> 14) & 62, imm = imms[slot];
          const a = x[rs1];
          const lo = (a + imm) | 0;
          const hi = (x[rs1 + 1] + (imm >> 31) + ((lo >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
          const ti = dset + ((lo >>> 12) & TLB_MASK);
          let vlo: number, vhi: number;
          if (tagR[ti] === (lo & -4096) && tagRHi[ti] === hi && (lo & 7) === 0) {
            const w = (baseR[ti] + (lo & 0xfff)) >>> 2;
            vlo = m32[w]; vhi = m32[w + 1];
          } else {
            vlo = this.slowLoad(op, lo, hi, pLo, pHi, off);
            if (this.trapped) { this.instret += budget - n - 1; return n + 1; }
            vhi = this.loadHi;
          }
          const rd = (ins >> 6) & 62;
          if (rd !== 0) { x[rd] = vlo; x[rd + 1] = vhi; }
          break;
        }
        // --- stores ---
        case Op.SB: case Op.SH: case Op.SW: case Op.SD: {
          const rs1 = (ins >> 14) & 62, rs2 = (ins >> 19) & 62, imm = imms[slot];
          const a = x[rs1];
          const lo = (a + imm) | 0;
          const hi = (x[rs1 + 1] + (imm >> 31) + ((lo >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
          const ti = dset + ((lo >>> 12) & TLB_MASK);
          const size = op === Op.SB ? 1 : op === Op.SH ? 2 : op === Op.SW ? 4 : 8;
          if (tagW[ti] === (lo & -4096) && tagWHi[ti] === hi && (lo & (size - 1)) === 0) {
            const o = baseW[ti] + (lo & 0xfff);
            if ((o & ~7) === this.resv) this.resv = -1;
            if (size === 4) m32[o >>> 2] = x[rs2];
            else if (size === 8) { m32[o >>> 2] = x[rs2]; m32[(o >>> 2) + 1] = x[rs2 + 1]; }
            else if (size === 1) m8[o >>> 0] = x[rs2];
            else m16[o >>> 1] = x[rs2];
          } else {
            this.pcLo = (pLo + off) | 0; this.pcHi = pHi;
            this.store(lo, hi, size, x[rs2], x[rs2 + 1]);
            if (this.trapped) { this.instret += budget - n - 1; return n + 1; }
            // A device store may have raised an interrupt (CLINT msip, PLIC): leave so run() can take it.
            if (this.halted || (this.mip & this.mie) !== 0) { this.setPcAfter(pLo, pHi, off, ins); this.instret += budget - n; return n; }
          }
          break;
        }
        case Op.FLW: case Op.FLD: case Op.FSW: case Op.FSD: case Op.FP:
        case Op.LR_W: case Op.LR_D: case Op.SC_W: case Op.SC_D: case Op.AMO_W: case Op.AMO_D: {
          this.pcLo = (pLo + off) | 0; this.pcHi = pHi;
          const ok = op === Op.FLW || op === Op.FLD || op === Op.FSW || op === Op.FSD || op === Op.FP
            ? this.execFp(op, ins, imms[slot], base, off)
            : this.execAtomic(op, ins);
          if (!ok) { this.instret += budget - n - 1; return n + 1; }
          break;
        }
        case Op.FLH: case Op.FSH: {
          this.pcLo = (pLo + off) | 0; this.pcHi = pHi;
          if (!this.execFpHalf(op, ins, imms[slot], base, off)) { this.instret += budget - n - 1; return n + 1; }
          break;
        }
        case Op.FENCE: break;
        case Op.FENCE_I: {
          // Stores already dropped stale decoded pages; leave the page so the next fetch sees them.
          this.setPcAfter(pLo, pHi, off, ins);
          this.instret += budget - n;
          return n;
        }
        case Op.CSRRW: case Op.CSRRS: case Op.CSRRC: case Op.CSRRWI: case Op.CSRRSI: case Op.CSRRCI: {
          this.pcLo = (pLo + off) | 0; this.pcHi = pHi;
          this.instret += budget - n - 1; // retired before this instruction
          if (!this.execCsr(op, ins, imms[slot])) return n + 1;
          this.instret += 1;
          this.setPcAfter(pLo, pHi, off, ins);
          return n; // CSR writes may enable interrupts or change translation: re-check before going on
        }
        case Op.ECALL: {
          if (this.priv === Priv.S && this.sbi !== null) {
            // Built-in firmware: the SBI call is served in place of a trap to M-mode (M-mode is Bonsai).
            this.pcLo = (pLo + off) | 0; this.pcHi = pHi;
            this.instret += budget - n;
            this.setPcAfter(pLo, pHi, off, ins);
            this.sbi(this);
            return n;
          }
          this.instret += budget - n - 1;
          this.raise(this.priv === Priv.U ? Cause.EcallU : this.priv === Priv.S ? Cause.EcallS : Cause.EcallM,
            0, 0, (pLo + off) | 0, pHi);
          return n + 1;
        }
        case Op.EBREAK: {
          this.instret += budget - n - 1;
          const pc = (pLo + off) | 0;
          this.raise(Cause.Breakpoint, pc, pHi, pc, pHi);
          return n + 1;
        }
        case Op.MRET: case Op.SRET: case Op.WFI: case Op.SFENCE_VMA: case Op.CBO: {
          this.pcLo = (pLo + off) | 0; this.pcHi = pHi;
          this.instret += budget - n - 1;
          if (!(op === Op.CBO ? this.execCbo(ins) : this.execSystem(op, ins))) return n + 1;
          this.instret += 1;
          if (op !== Op.MRET && op !== Op.SRET) this.setPcAfter(pLo, pHi, off, ins);
          return n;
        }
        case Op.CROSS: {
          // Leave the page at this pc: a 32-bit instruction crossing pages, or the end of a scratch page.
          this.setPc(pLo, pHi, off);
          this.instret += budget - n - 1;
          return n + 1;
        }
        default: { // Op.ILLEGAL
          this.instret += budget - n - 1;
          this.illegal(ins, pLo, pHi, off, base);
          return n + 1;
        }
      }
      off += 2 + ((ins & 1) << 1);
      if (off < 4096) continue;
      tLo = (pLo + off) | 0;
      tHi = (pHi + ((tLo >>> 0) < (pLo >>> 0) ? 1 : 0)) | 0;
      } // dispatch
      // Control left the page: go on in the target page when the fetch TLB knows it, without leaving
      // this function (calls between pages are frequent), with the JIT while the target is cold; otherwise
      // let run() translate it.
      const next = base !== -1 && n > 0 ? this.chain(tLo, tHi, stay) : null;
      if (next === null) {
        this.pcLo = tLo; this.pcHi = tHi;
        this.instret += budget - n;
        return n;
      }
      page = next;
      ops = next.ops; insns = next.ins; imms = next.imm;
      if (!stay) hot = next.hot as Uint16Array; // chain() counted the entry there
      base = this.chainBase;
      pLo = tLo & -4096; pHi = tHi; off = tLo & 0xfff;
    }
    this.pcLo = (pLo + off) | 0;
    this.pcHi = pHi;
    this.instret += budget - n;
    return n;
  }

  private chainBase = 0;

  /**
   * JIT: whether the interpreter goes on at `off` of `page` after a page change (counting the entry; execute()
   * does the same inline for branches and jumps within a page), or leaves for the dispatcher: the block there
   * is compiled, or due to be. Cold code is interpreted without a return to the dispatcher at every branch
   * (measured: that return cost more than the block), and since 2026-12-04 at every jalr and page change too
   * (docs/performance.md).
   */
  private coldTarget(page: DecodedPage, off: number): boolean {
    const hot = page.hot ??= new Uint16Array(PAGE_SLOTS);
    const s = off >> 1, h = hot[s];
    if (h < this.hotThreshold) { hot[s] = h + 1; return true; }
    return h >= HOT_QUEUED;
  }

  /**
   * The decoded page to go on with at pc (lo, hi), when the fetch TLB maps it and nothing needs the
   * slow path (a fresh page, an instruction crossing into the next page); its memory offset in chainBase.
   */
  private chain(lo: number, hi: number, stay: boolean): DecodedPage | null {
    const mmu = this.mmu;
    const fi = this.fetchSet + ((lo >>> 12) & TLB_MASK);
    if (mmu.tagX[fi] !== (lo & -4096) || mmu.tagXHi[fi] !== hi) return null;
    const base = mmu.baseX[fi];
    const page = this.pages[(base - this.ram.offset) >>> 12];
    if (page === undefined || (lo & 0xfff) === 4094 || !(stay || this.coldTarget(page, lo & 0xfff))) return null;
    this.chainBase = base;
    return page;
  }

  /** pc = (pLo, pHi) + off, with the carry a page at the top of a 4 GiB range can produce. */
  private setPc(pLo: number, pHi: number, off: number): void {
    const lo = (pLo + off) | 0;
    this.pcLo = lo;
    this.pcHi = (pHi + ((lo >>> 0) < (pLo >>> 0) ? 1 : 0)) | 0;
  }

  private setPcAfter(pLo: number, pHi: number, off: number, ins: number): void {
    this.setPc(pLo, pHi, off + 2 + ((ins & 1) << 1));
  }

  /** Raises illegal instruction with the instruction bits as tval. */
  private illegal(ins: number, pLo: number, pHi: number, off: number, base: number): void {
    let bits: number;
    if ((ins & 3) === 3) bits = ins; // 32-bit instruction as fetched
    else if ((ins & 3) === 2) bits = base !== -1 ? this.m16[(base + off) >>> 1] : ins; // expanded compressed: re-read
    else bits = ins; // reserved compressed encoding kept raw
    this.raise(Cause.IllegalInsn, bits | 0, 0, (pLo + off) | 0, pHi); // tval: the bits, zero-extended
  }

  private shift(op: Op, rd: number, lo: number, hi: number, s: number): void {
    const x = this.x;
    if (s === 0) { x[rd] = lo; x[rd + 1] = hi; return; }
    if (op === Op.SLLI) {
      if (s < 32) { x[rd + 1] = (hi << s) | (lo >>> (32 - s)); x[rd] = lo << s; } else { x[rd + 1] = lo << (s - 32); x[rd] = 0; }
    } else if (op === Op.SRLI) {
      if (s < 32) { x[rd] = (lo >>> s) | (hi << (32 - s)); x[rd + 1] = (hi >>> s) | 0; } else { x[rd] = (hi >>> (s - 32)) | 0; x[rd + 1] = 0; }
    } else if (s < 32) { x[rd] = (lo >>> s) | (hi << (32 - s)); x[rd + 1] = hi >> s; } else { x[rd] = hi >> (s - 32); x[rd + 1] = hi >> 31; }
  }

  // --- fetch -------------------------------------------------------------------------------------------

  /** Translates pc for fetch; returns the memory offset of its page, or -1 after raising a fault. */
  private fetchSlow(lo: number, hi: number): number {
    const pa = this.mmu.translate(lo, hi, 2, Access.Fetch, this.priv, this.fetchSet / TLB_SIZE, false, this.lastMxr);
    if (pa < 0) { this.raise(this.mmu.faultCause, lo, hi, lo, hi); return -1; }
    const ram = this.ram;
    if (pa < ram.base || pa >= ram.base + ram.size) { this.raise(Cause.InsnAccess, lo, hi, lo, hi); return -1; }
    const page = pa - (pa % 4096);
    return (ram.offset + (page - ram.base)) | 0; // as the TLB holds it (Int32Array): see Mmu.translate
  }

  /** Fetches the upper half of a 32-bit instruction at pc = page + 4094; -1 after raising a fault. */
  private fetchCrossUpper(): number {
    const t = (this.pcLo >>> 0) + 2;
    const lo = t | 0, hi = (this.pcHi + (t >= TWO32 ? 1 : 0)) | 0;
    const pa = this.mmu.translate(lo, hi, 2, Access.Fetch, this.priv, this.fetchSet / TLB_SIZE, false, this.lastMxr);
    if (pa < 0) { this.raise(this.mmu.faultCause, lo, hi, this.pcLo, this.pcHi); return -1; }
    const ram = this.ram;
    if (pa < ram.base || pa + 2 > ram.base + ram.size) { this.raise(Cause.InsnAccess, lo, hi, this.pcLo, this.pcHi); return -1; }
    return this.m16[(ram.offset + (pa - ram.base)) >>> 1];
  }

  // --- loads and stores: slow paths ---------------------------------------------------------------------

  private slowLoad(op: Op, lo: number, hi: number, pLo: number, pHi: number, off: number): number {
    this.pcLo = (pLo + off) | 0; this.pcHi = pHi;
    const size = op === Op.LB || op === Op.LBU ? 1 : op === Op.LH || op === Op.LHU ? 2 : op === Op.LD ? 8 : 4;
    const v = this.load(lo, hi, size);
    if (this.trapped) return 0;
    switch (op) {
      case Op.LB: this.loadHi = (v << 24 >> 24) >> 31; return v << 24 >> 24;
      case Op.LH: this.loadHi = (v << 16 >> 16) >> 31; return v << 16 >> 16;
      case Op.LW: this.loadHi = v >> 31; return v;
      case Op.LD: return v;
      default: this.loadHi = 0; return v; // LBU, LHU, LWU: load() zero-extends
    }
  }

  /**
   * Loads `size` bytes at virtual (lo, hi) for the current data privilege: returns the low 32 bits
   * (zero-extended for sizes 1 and 2), with the high half of 8-byte loads in loadHi. On a fault, raises the
   * exception at this.pc and sets `trapped`.
   */
  load(lo: number, hi: number, size: number): number {
    if ((lo & (size - 1)) !== 0) return this.misaligned(lo, hi, size, Access.Load, 0, 0);
    const dp = this.dataPriv();
    const pa = this.mmu.translate(lo, hi, size, Access.Load, dp, this.dataSet / TLB_SIZE,
      (this.mstatus & MSTATUS_SUM) !== 0, this.lastMxr);
    if (pa < 0) { this.raise(this.mmu.faultCause, lo, hi, this.pcLo, this.pcHi); return 0; }
    const ram = this.ram;
    if (pa >= ram.base && pa + size <= ram.base + ram.size) {
      const o = ram.offset + (pa - ram.base);
      if (size === 1) return this.m8[o >>> 0];
      if (size === 2) return this.m16[o >>> 1];
      if (size === 4) return this.m32[o >>> 2];
      this.loadHi = this.m32[(o >>> 2) + 1];
      return this.m32[o >>> 2];
    }
    const bus = this.bus;
    bus.ok = true;
    let v: number;
    if (size === 8) {
      v = bus.read(pa, 4);
      this.loadHi = bus.read(pa + 4, 4);
    } else v = bus.read(pa, size);
    if (!bus.ok) { this.raise(Cause.LoadAccess, lo, hi, this.pcLo, this.pcHi); return 0; }
    return v;
  }

  /** Stores the low `size` bytes of (vlo, vhi) at virtual (lo, hi); on a fault raises and sets `trapped`. */
  store(lo: number, hi: number, size: number, vlo: number, vhi: number): void {
    if ((lo & (size - 1)) !== 0) { this.misaligned(lo, hi, size, Access.Store, vlo, vhi); return; }
    const pa = this.mmu.translate(lo, hi, size, Access.Store, this.dataPriv(), this.dataSet / TLB_SIZE,
      (this.mstatus & MSTATUS_SUM) !== 0, this.lastMxr);
    if (pa < 0) { this.raise(this.mmu.faultCause, lo, hi, this.pcLo, this.pcHi); return; }
    if (!this.physStore(pa, size, vlo, vhi)) this.raise(Cause.StoreAccess, lo, hi, this.pcLo, this.pcHi);
  }

  /**
   * A misaligned load or store, performed by the hart (docs/hart.md): translated (and PMP-checked) as one
   * access per page it touches, both translations done before any byte moves, then carried out bytewise.
   */
  private misaligned(lo: number, hi: number, size: number, access: Access, vlo: number, vhi: number): number {
    const first = Math.min(size, 4096 - (lo & 0xfff));
    const sum = (this.mstatus & MSTATUS_SUM) !== 0;
    const dp = this.dataPriv(), set = this.dataSet / TLB_SIZE;
    const pa1 = this.mmu.translate(lo, hi, first, access, dp, set, sum, this.lastMxr);
    if (pa1 < 0) { this.raise(this.mmu.faultCause, lo, hi, this.pcLo, this.pcHi); return 0; }
    let pa2 = 0;
    if (first < size) {
      const t = (lo >>> 0) + first;
      const lo2 = t | 0, hi2 = (hi + (t >= TWO32 ? 1 : 0)) | 0;
      pa2 = this.mmu.translate(lo2, hi2, size - first, access, dp, set, sum, this.lastMxr);
      if (pa2 < 0) { this.raise(this.mmu.faultCause, lo2, hi2, this.pcLo, this.pcHi); return 0; }
      // Physically contiguous: PMP sees one access, so an entry matching only part of it fails it (3.7.1).
      if (pa2 === pa1 + first && !this.mmu.pmpCheck(pa1, size, access, dp)) {
        this.raise(access === Access.Store ? Cause.StoreAccess : Cause.LoadAccess, lo, hi, this.pcLo, this.pcHi);
        return 0;
      }
    }
    let rlo = 0, rhi = 0;
    const ram = this.ram, bus = this.bus;
    for (let i = 0; i < size; i++) {
      const pa = i < first ? pa1 + i : pa2 + (i - first);
      if (access === Access.Store) {
        const b = (i < 4 ? vlo >>> (8 * i) : vhi >>> (8 * (i - 4))) & 0xff;
        if (!this.physStore(pa, 1, b, 0)) { this.raise(Cause.StoreAccess, lo, hi, this.pcLo, this.pcHi); return 0; }
        continue;
      }
      let b: number;
      if (pa >= ram.base && pa < ram.base + ram.size) b = this.m8[ram.offset + (pa - ram.base)];
      else {
        bus.ok = true;
        b = bus.read(pa, 1) & 0xff;
        if (!bus.ok) { this.raise(Cause.LoadAccess, lo, hi, this.pcLo, this.pcHi); return 0; }
      }
      if (i < 4) rlo |= b << (8 * i); else rhi |= b << (8 * (i - 4));
    }
    this.loadHi = rhi;
    return rlo;
  }

  /** Stores to a physical address; false when nothing is there. */
  private physStore(pa: number, size: number, vlo: number, vhi: number): boolean {
    const ram = this.ram;
    if (pa >= ram.base && pa + size <= ram.base + ram.size) {
      const o = ram.offset + (pa - ram.base);
      if ((o & ~7) === this.resv) this.resv = -1;
      if (size === 1) this.m8[o >>> 0] = vlo;
      else if (size === 2) this.m16[o >>> 1] = vlo;
      else if (size === 4) this.m32[o >>> 2] = vlo;
      else { this.m32[o >>> 2] = vlo; this.m32[(o >>> 2) + 1] = vhi; }
      const page = (pa - ram.base) / 4096 | 0;
      const flags = ram.pageFlags[page];
      if (flags !== 0) {
        if (flags & 1) this.ramWritten(pa);
        if (flags & 2) this.onWatchedWrite?.(pa);
        if (flags & 4) this.logWrite(page);
      }
      return true;
    }
    const bus = this.bus;
    bus.ok = true;
    if (size === 8) { bus.write(pa, 4, vlo); bus.write(pa + 4, 4, vhi); } else bus.write(pa, size, vlo);
    return bus.ok;
  }

  // --- A extension --------------------------------------------------------------------------------------

  /** LR, SC and AMOs; false when a trap was taken. pc is in this.pc. */
  private execAtomic(op: Op, ins: number): boolean {
    const x = this.x;
    const rs1 = (ins >> 14) & 62, rs2 = (ins >> 19) & 62, rd = (ins >> 6) & 62;
    const lo = x[rs1], hi = x[rs1 + 1];
    const dbl = op === Op.LR_D || op === Op.SC_D || op === Op.AMO_D;
    const size = dbl ? 8 : 4;
    this.trapped = false;
    if ((lo & (size - 1)) !== 0) {
      this.raise(op === Op.LR_W || op === Op.LR_D ? Cause.LoadMisaligned : Cause.StoreMisaligned, lo, hi, this.pcLo, this.pcHi);
      return false;
    }
    const sum = (this.mstatus & MSTATUS_SUM) !== 0;
    const set = this.dataSet / TLB_SIZE;
    const ram = this.ram;
    const mmu = this.mmu;
    const ti = this.dataSet + ((lo >>> 12) & TLB_MASK);
    if (op === Op.LR_W || op === Op.LR_D) {
      const pa = mmu.tagR[ti] === (lo & -4096) && mmu.tagRHi[ti] === hi
        ? ram.base + ((mmu.baseR[ti] - ram.offset) >>> 0) + (lo & 0xfff)
        : mmu.translate(lo, hi, size, Access.Load, this.dataPriv(), set, sum, this.lastMxr);
      if (pa < 0) { this.raise(this.mmu.faultCause, lo, hi, this.pcLo, this.pcHi); return false; }
      if (pa < ram.base || pa + size > ram.base + ram.size) { this.raise(Cause.LoadAccess, lo, hi, this.pcLo, this.pcHi); return false; }
      const o = ram.offset + (pa - ram.base);
      const v = this.m32[o >>> 2];
      if (rd !== 0) { x[rd] = v; x[rd + 1] = dbl ? this.m32[(o >>> 2) + 1] : v >> 31; }
      this.resv = o & ~7;
      return true;
    }
    const pa = mmu.tagW[ti] === (lo & -4096) && mmu.tagWHi[ti] === hi
      ? ram.base + ((mmu.baseW[ti] - ram.offset) >>> 0) + (lo & 0xfff)
      : mmu.translate(lo, hi, size, Access.Store, this.dataPriv(), set, sum, this.lastMxr);
    if (pa < 0) { this.raise(this.mmu.faultCause, lo, hi, this.pcLo, this.pcHi); return false; }
    if (pa < ram.base || pa + size > ram.base + ram.size) { this.raise(Cause.StoreAccess, lo, hi, this.pcLo, this.pcHi); return false; }
    const o = ram.offset + (pa - ram.base);
    const w = o >>> 2;
    const m32 = this.m32;
    if (op === Op.SC_W || op === Op.SC_D) {
      const ok = this.resv === (o & ~7);
      this.resv = -1;
      if (ok) this.physStore(pa, size, x[rs2], x[rs2 + 1]);
      if (rd !== 0) { x[rd] = ok ? 0 : 1; x[rd + 1] = 0; }
      return true;
    }
    // AMO: read, compute, write (one hart: atomic by construction).
    const f5 = ins >>> 27;
    const alo = m32[w], ahi = dbl ? m32[w + 1] : m32[w] >> 31;
    const blo = x[rs2], bhi = dbl ? x[rs2 + 1] : x[rs2] >> 31;
    let rlo: number, rhi: number;
    switch (f5) {
      case 1: rlo = blo; rhi = bhi; break; // swap
      case 0: { // add
        rlo = (alo + blo) | 0;
        rhi = (ahi + bhi + ((rlo >>> 0) < (alo >>> 0) ? 1 : 0)) | 0;
        break;
      }
      case 4: rlo = alo ^ blo; rhi = ahi ^ bhi; break;
      case 12: rlo = alo & blo; rhi = ahi & bhi; break;
      case 8: rlo = alo | blo; rhi = ahi | bhi; break;
      default: { // 16 min, 20 max, 24 minu, 28 maxu
        const signed = f5 === 16 || f5 === 20;
        const ah = signed ? ahi : ahi >>> 0, bh = signed ? bhi : bhi >>> 0;
        const aLess = ah < bh || (ah === bh && (alo >>> 0) < (blo >>> 0));
        const pickA = (f5 === 16 || f5 === 24) ? aLess : !aLess;
        rlo = pickA ? alo : blo; rhi = pickA ? ahi : bhi;
      }
    }
    this.physStore(pa, size, rlo, rhi);
    if (rd !== 0) { x[rd] = alo; x[rd + 1] = ahi; }
    return true;
  }

  // --- F and D ------------------------------------------------------------------------------------------

  private get fsOff(): boolean { return (this.mstatus & MSTATUS_FS) === 0; }
  private setFsDirty(): void { this.mstatus |= MSTATUS_FS; }

  /** FP loads, stores and computation; false when a trap was taken. */
  private execFp(op: Op, ins: number, imm: number, base: number, off: number): boolean {
    this.trapped = false;
    if (this.fsOff) { this.illegal(ins, this.pcLo - off, this.pcHi, off, base); return false; }
    const x = this.x, f = this.f;
    if (op === Op.FP) {
      const flags = this.fpExec(ins, this.frm);
      if (flags === FP_ILLEGAL) { this.illegal(ins, this.pcLo - off, this.pcHi, off, base); return false; }
      this.fflags |= flags;
      this.setFsDirty();
      return true;
    }
    const rs1 = (ins >> 14) & 62;
    const a = x[rs1];
    const lo = (a + imm) | 0;
    const hi = (x[rs1 + 1] + (imm >> 31) + ((lo >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
    // The TLB fast path, as for integer loads and stores (libc's setjmp saves and restores FP registers).
    const mmu = this.mmu, m32 = this.m32;
    const ti = this.dataSet + ((lo >>> 12) & TLB_MASK);
    const size = op === Op.FLW || op === Op.FSW ? 4 : 8;
    const aligned = (lo & (size - 1)) === 0;
    if (op === Op.FLW || op === Op.FLD) {
      const rd = (ins >> 6) & 62;
      if (aligned && mmu.tagR[ti] === (lo & -4096) && mmu.tagRHi[ti] === hi) {
        const w = (mmu.baseR[ti] + (lo & 0xfff)) >>> 2;
        f[rd] = m32[w];
        f[rd + 1] = size === 4 ? -1 : m32[w + 1];
      } else {
        const v = this.load(lo, hi, size);
        if (this.trapped) return false;
        f[rd] = v;
        f[rd + 1] = size === 4 ? -1 : this.loadHi; // NaN-box singles
      }
    } else {
      const rs2 = (ins >> 19) & 62;
      if (aligned && mmu.tagW[ti] === (lo & -4096) && mmu.tagWHi[ti] === hi) {
        const o = mmu.baseW[ti] + (lo & 0xfff);
        if ((o & ~7) === this.resv) this.resv = -1;
        m32[o >>> 2] = f[rs2];
        if (size === 8) m32[(o >>> 2) + 1] = f[rs2 + 1];
      } else {
        this.store(lo, hi, size, f[rs2], f[rs2 + 1]);
        if (this.trapped) return false;
      }
    }
    this.setFsDirty();
    return true;
  }

  /** flh / fsh (Zfhmin): 16-bit FP loads (NaN-boxed into the register) and stores; false when a trap was taken. */
  private execFpHalf(op: Op, ins: number, imm: number, base: number, off: number): boolean {
    this.trapped = false;
    if (this.fsOff) { this.illegal(ins, this.pcLo - off, this.pcHi, off, base); return false; }
    const x = this.x, f = this.f;
    const rs1 = (ins >> 14) & 62;
    const a = x[rs1];
    const lo = (a + imm) | 0;
    const hi = (x[rs1 + 1] + (imm >> 31) + ((lo >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
    if (op === Op.FLH) {
      const v = this.load(lo, hi, 2);
      if (this.trapped) return false;
      const rd = (ins >> 6) & 62;
      f[rd] = v | 0xffff0000;
      f[rd + 1] = -1;
    } else {
      const rs2 = (ins >> 19) & 62;
      this.store(lo, hi, 2, f[rs2], 0);
      if (this.trapped) return false;
    }
    this.setFsDirty();
    return true;
  }

  // --- system instructions --------------------------------------------------------------------------------

  private execSystem(op: Op, ins: number): boolean {
    this.trapped = false;
    const priv = this.priv;
    const st = this.mstatus;
    const bad = (): false => { this.raise(Cause.IllegalInsn, ins, 0, this.pcLo, this.pcHi); return false; };
    switch (op) {
      case Op.MRET: {
        if (priv !== Priv.M) return bad();
        const mpp = ((st & MSTATUS_MPP) >>> MSTATUS_MPP_SHIFT) as Priv;
        let s = (st & ~(MSTATUS_MIE | MSTATUS_MPP)) | ((st & MSTATUS_MPIE) ? MSTATUS_MIE : 0) | MSTATUS_MPIE;
        if (mpp !== Priv.M) s &= ~MSTATUS_MPRV;
        this.mstatus = s;
        this.priv = mpp;
        this.pcLo = this.mepcLo; this.pcHi = this.mepcHi;
        this.updateMmuContext();
        return true;
      }
      case Op.SRET: {
        if (priv === Priv.U || (priv === Priv.S && (st & MSTATUS_TSR) !== 0)) return bad();
        const spp = (st & MSTATUS_SPP) ? Priv.S : Priv.U;
        this.mstatus = (st & ~(MSTATUS_SIE | MSTATUS_SPP | MSTATUS_MPRV)) | ((st & MSTATUS_SPIE) ? MSTATUS_SIE : 0) | MSTATUS_SPIE;
        this.priv = spp;
        this.pcLo = this.sepcLo; this.pcHi = this.sepcHi;
        this.updateMmuContext();
        return true;
      }
      case Op.WFI: {
        if (priv === Priv.U || (priv === Priv.S && (st & MSTATUS_TW) !== 0)) return bad();
        if ((this.mip & this.mie) === 0) this.wfi = true;
        return true;
      }
      default: { // SFENCE.VMA; Svinval: SINVAL.VMA (the same here), SFENCE.W.INVAL and SFENCE.INVAL.IR
        if (priv === Priv.U) return bad();
        // The two fences order sinval.vma against other accesses: in one in-order hart they have nothing to do.
        if ((ins >>> 25) === 0x0c) return true;
        if (priv === Priv.S && (st & MSTATUS_TVM) !== 0) return bad();
        const rs1 = (ins >> 14) & 62;
        if (rs1 === 0) this.mmu.flushAll();
        else this.mmu.flushPage(this.x[rs1], this.x[rs1 + 1]);
        return true;
      }
    }
  }

  // --- Zicbom / Zicboz ------------------------------------------------------------------------------------

  /**
   * cbo.inval/clean/flush/zero on the CACHE_BLOCK_BYTES block holding x[rs1]; false when a trap was taken.
   * Below M-mode each needs its menvcfg enable (CBIE, CBCFE, CBZE), and in U-mode also senvcfg's, else it is
   * an illegal instruction. Memory is coherent, so inval, clean and flush only check access (as a load, or
   * failing that as a store: a store fault when neither is allowed); cbo.zero stores zeros. Faults report the
   * block's address, as QEMU does.
   */
  private execCbo(ins: number): boolean {
    this.trapped = false;
    const f12 = ins >>> 20;
    const enable = f12 === 4 ? ENVCFG_CBZE : f12 === 0 ? ENVCFG_CBIE : ENVCFG_CBCFE;
    if ((this.priv !== Priv.M && (this.menvcfgLo & enable) === 0) || (this.priv === Priv.U && (this.senvcfg & enable) === 0)) {
      this.raise(Cause.IllegalInsn, ins, 0, this.pcLo, this.pcHi);
      return false;
    }
    const rs1 = (ins >> 14) & 62;
    const lo = this.x[rs1] & -CACHE_BLOCK_BYTES, hi = this.x[rs1 + 1];
    const dp = this.dataPriv(), set = this.dataSet / TLB_SIZE, sum = (this.mstatus & MSTATUS_SUM) !== 0;
    const mmu = this.mmu;
    if (f12 !== 4) {
      if (mmu.translate(lo, hi, CACHE_BLOCK_BYTES, Access.Load, dp, set, sum, this.lastMxr) >= 0) return true;
      if (mmu.translate(lo, hi, CACHE_BLOCK_BYTES, Access.Store, dp, set, sum, this.lastMxr) >= 0) return true;
      this.raise(mmu.faultCause, lo, hi, this.pcLo, this.pcHi);
      return false;
    }
    const pa = mmu.translate(lo, hi, CACHE_BLOCK_BYTES, Access.Store, dp, set, sum, this.lastMxr);
    if (pa < 0) { this.raise(mmu.faultCause, lo, hi, this.pcLo, this.pcHi); return false; }
    // RAM in doublewords (physStore keeps decoded code, watched pages and the dirty log right); a device bytewise.
    const ram = this.ram.base <= pa && pa + CACHE_BLOCK_BYTES <= this.ram.base + this.ram.size;
    const step = ram ? 8 : 1;
    for (let i = 0; i < CACHE_BLOCK_BYTES; i += step) {
      if (!this.physStore(pa + i, step, 0, 0)) { this.raise(Cause.StoreAccess, lo, hi, this.pcLo, this.pcHi); return false; }
    }
    return true;
  }

  // --- CSRs -----------------------------------------------------------------------------------------------

  private csrLo = 0;
  private csrHi = 0;

  /** csrrw/csrrs/csrrc and the immediate forms (privileged spec 2.1: access rules). */
  private execCsr(op: Op, ins: number, csr: number): boolean {
    this.trapped = false;
    const x = this.x;
    const rs1 = (ins >>> 15) & 31, rd = (ins >> 6) & 62;
    const imm = op === Op.CSRRWI || op === Op.CSRRSI || op === Op.CSRRCI;
    const slo = imm ? rs1 : x[rs1 * 2], shi = imm ? 0 : x[rs1 * 2 + 1];
    const kind = imm ? op - Op.CSRRWI : op - Op.CSRRW; // 0 write, 1 set, 2 clear
    const writes = kind === 0 || rs1 !== 0;
    const bad = (): false => { this.raise(Cause.IllegalInsn, ins, 0, this.pcLo, this.pcHi); return false; };
    if (((csr >>> 8) & 3) > this.priv) return bad();
    if (writes && (csr >>> 10) === 3) return bad();
    if (!this.csrRead(csr)) return bad();
    const olo = this.csrLo, ohi = this.csrHi;
    if (writes) {
      // mip.SEIP reads as the software bit OR the external line, but only the software bit takes part in
      // the read-modify-write of csrrs/csrrc (spec 3.1.9).
      const rlo = csr === Csr.mip ? (olo & ~MIP_SEIP) | (this.mipSoft & MIP_SEIP) : olo;
      let nlo: number, nhi: number;
      if (kind === 0) { nlo = slo; nhi = shi; } else if (kind === 1) { nlo = rlo | slo; nhi = ohi | shi; } else { nlo = rlo & ~slo; nhi = ohi & ~shi; }
      if (!this.csrWrite(csr, nlo | 0, nhi | 0)) return bad();
    }
    if (rd !== 0) { x[rd] = olo; x[rd + 1] = ohi; }
    return true;
  }

  private counterAllowed(bit: number): boolean {
    if (this.priv === Priv.M) return true;
    if (((this.mcounteren >>> bit) & 1) === 0) return false;
    return this.priv === Priv.S || ((this.scounteren >>> bit) & 1) !== 0;
  }

  private set64(v: number): void {
    this.csrLo = v % TWO32 | 0;
    this.csrHi = Math.floor(v / TWO32) | 0;
  }

  private minstretValue(): number { return (this.mcountinhibit & 4) ? this.instretFrozen : this.instret + this.instretDelta; }
  private mcycleValue(): number { return (this.mcountinhibit & 1) ? this.cycleFrozen : this.instret + this.cycleDelta; }

  /** Reads CSR `csr` into csrLo/csrHi; false if it does not exist or is not accessible. */
  private csrRead(csr: number): boolean {
    let lo = 0, hi = 0;
    switch (csr) {
      case Csr.fflags: case Csr.frm: case Csr.fcsr:
        if (this.fsOff) return false;
        lo = csr === Csr.fflags ? this.fflags : csr === Csr.frm ? this.frm : (this.frm << 5) | this.fflags;
        break;
      case Csr.cycle: if (!this.counterAllowed(0)) return false; this.set64(this.mcycleValue()); return true;
      case Csr.time: if (!this.counterAllowed(1)) return false; this.set64(this.clock.now()); return true;
      case Csr.instret: if (!this.counterAllowed(2)) return false; this.set64(this.minstretValue()); return true;
      case Csr.mcycle: this.set64(this.mcycleValue()); return true;
      case Csr.minstret: this.set64(this.minstretValue()); return true;
      case Csr.sstatus: {
        lo = this.mstatus & SSTATUS_MASK;
        hi = 0x2 | (this.sd() ? 0x80000000 : 0); // UXL = 2
        break;
      }
      case Csr.sie: lo = this.mie & this.mideleg; break;
      case Csr.stvec: lo = this.stvecLo; hi = this.stvecHi; break;
      case Csr.scounteren: lo = this.scounteren; break;
      case Csr.senvcfg: lo = this.senvcfg; break;
      case Csr.sscratch: lo = this.sscratchLo; hi = this.sscratchHi; break;
      case Csr.sepc: lo = this.sepcLo; hi = this.sepcHi; break;
      case Csr.scause: lo = this.scauseLo; hi = this.scauseHi; break;
      case Csr.stval: lo = this.stvalLo; hi = this.stvalHi; break;
      case Csr.sip: lo = this.mip & this.mideleg; break;
      case Csr.stimecmp:
        if (this.priv === Priv.S && ((this.menvcfgHi & 0x80000000) === 0 || (this.mcounteren & 2) === 0)) return false;
        lo = this.stimecmpLo; hi = this.stimecmpHi; break;
      case Csr.satp:
        if (this.priv === Priv.S && (this.mstatus & MSTATUS_TVM) !== 0) return false;
        this.set64(this.mmu.satpRoot / 4096);
        this.csrHi |= (this.mmu.satpAsid << 12) | (this.mmu.satpMode << 28);
        return true;
      case Csr.mvendorid: case Csr.marchid: case Csr.mconfigptr: break;
      case Csr.mimpid: lo = 1; break;
      case Csr.mhartid: lo = this.hartId; break;
      case Csr.mstatus: lo = this.mstatus; hi = MSTATUS_HI_XL | (this.sd() ? 0x80000000 : 0); break;
      case Csr.misa: lo = MISA_LO; hi = MISA_HI; break;
      case Csr.medeleg: lo = this.medeleg; break;
      case Csr.mideleg: lo = this.mideleg; break;
      case Csr.mie: lo = this.mie; break;
      case Csr.mtvec: lo = this.mtvecLo; hi = this.mtvecHi; break;
      case Csr.mcounteren: lo = this.mcounteren; break;
      // ADUE (bit 61) is read-only one: the hart always updates A and D (Svadu; 0 would mean Svade behaviour).
      case Csr.menvcfg: lo = this.menvcfgLo; hi = this.menvcfgHi | (1 << 29); break;
      case Csr.mcountinhibit: lo = this.mcountinhibit; break;
      case Csr.mscratch: lo = this.mscratchLo; hi = this.mscratchHi; break;
      case Csr.mepc: lo = this.mepcLo; hi = this.mepcHi; break;
      case Csr.mcause: lo = this.mcauseLo; hi = this.mcauseHi; break;
      case Csr.mtval: lo = this.mtvalLo; hi = this.mtvalHi; break;
      case Csr.mip: lo = this.mip; break;
      case Csr.mtinst: case Csr.mtval2: return false; // no hypervisor extension
      // Debug triggers (Sdtrig): tselect and tdata1-3 exist and read 0, i.e. "no trigger" (debug spec 5.7),
      // so software that probes for triggers (OpenSBI, the rv64mi breakpoint test) sees none.
      case 0x7a0: case 0x7a1: case 0x7a2: case 0x7a3: break;
      default: {
        if (csr >= Csr.pmpcfg0 && csr < Csr.pmpcfg0 + 16) {
          if (csr & 1) return false; // odd pmpcfg registers do not exist on RV64
          const first = (csr - Csr.pmpcfg0) * 4;
          const c = this.mmu.pmpcfg;
          lo = c[first] | (c[first + 1] << 8) | (c[first + 2] << 16) | (c[first + 3] << 24);
          hi = c[first + 4] | (c[first + 5] << 8) | (c[first + 6] << 16) | (c[first + 7] << 24);
          break;
        }
        if (csr >= Csr.pmpaddr0 && csr < Csr.pmpaddr0 + PMP_ENTRIES) {
          lo = this.mmu.pmpaddrLo[csr - Csr.pmpaddr0]; hi = this.mmu.pmpaddrHi[csr - Csr.pmpaddr0];
          break;
        }
        // hpmcounter3-31 (if counter access allowed), mhpmcounter3-31, mhpmevent3-31 (Zihpm).
        if (csr >= 0xc03 && csr <= 0xc1f) {
          if (!this.counterAllowed(csr - 0xc00)) return false;
          lo = this.hpmCounter[2 * (csr - 0xc00)]; hi = this.hpmCounter[2 * (csr - 0xc00) + 1];
          break;
        }
        if (csr >= 0xb03 && csr <= 0xb1f) { lo = this.hpmCounter[2 * (csr - 0xb00)]; hi = this.hpmCounter[2 * (csr - 0xb00) + 1]; break; }
        if (csr >= 0x323 && csr <= 0x33f) { lo = this.hpmEvent[2 * (csr - 0x320)]; hi = this.hpmEvent[2 * (csr - 0x320) + 1]; break; }
        return false;
      }
    }
    this.csrLo = lo | 0;
    this.csrHi = hi | 0;
    return true;
  }

  private sd(): boolean { return (this.mstatus & MSTATUS_FS) === MSTATUS_FS; }

  /** Writes CSR `csr` (WARL rules applied); false when the write is not allowed. */
  private csrWrite(csr: number, lo: number, hi: number): boolean {
    switch (csr) {
      case Csr.fflags: this.fflags = lo & 31; this.setFsDirty(); return true;
      case Csr.frm: this.frm = lo & 7; this.setFsDirty(); return true;
      case Csr.fcsr: this.fflags = lo & 31; this.frm = (lo >>> 5) & 7; this.setFsDirty(); return true;
      case Csr.mcycle: case Csr.minstret: {
        const v = u64(lo, hi);
        // The write takes the place of this instruction's own increment (the caller adds 1 after us).
        if (csr === Csr.mcycle) { this.cycleDelta = v - this.instret - 1; this.cycleFrozen = v; }
        else { this.instretDelta = v - this.instret - 1; this.instretFrozen = v; }
        return true;
      }
      case Csr.sstatus: this.writeMstatus((this.mstatus & ~SSTATUS_MASK) | (lo & SSTATUS_MASK)); return true;
      case Csr.sie: this.mie = (this.mie & ~this.mideleg) | (lo & this.mideleg); return true;
      case Csr.stvec: this.writeTvec(false, lo, hi); return true;
      case Csr.scounteren: this.scounteren = lo; return true;
      case Csr.senvcfg: this.senvcfg = lo & SENVCFG_WRITABLE; return true;
      case Csr.sscratch: this.sscratchLo = lo; this.sscratchHi = hi; return true;
      case Csr.sepc: this.sepcLo = lo & ~1; this.sepcHi = hi; return true;
      case Csr.scause: this.scauseLo = lo; this.scauseHi = hi; return true;
      case Csr.stval: this.stvalLo = lo; this.stvalHi = hi; return true;
      case Csr.sip: {
        // Only SSIP is writable through sip, and only when delegated.
        const mask = MIP_SSIP & this.mideleg;
        this.mipSoft = (this.mipSoft & ~mask) | (lo & mask);
        this.refreshMip();
        return true;
      }
      case Csr.stimecmp:
        this.stimecmpLo = lo; this.stimecmpHi = hi;
        this.updateTimer(this.clock.now());
        return true;
      case Csr.satp: {
        const mode = hi >>> 28;
        if (mode !== 0 && mode !== 8 && mode !== 9 && mode !== 10) return true; // unsupported mode: the write is ignored
        this.mmu.satpMode = mode;
        this.mmu.satpAsid = (hi >>> 12) & 0xffff;
        this.mmu.satpRoot = ((lo >>> 0) + (hi & 0xfff) * TWO32) * 4096;
        this.mmu.flushAll();
        return true;
      }
      case Csr.mstatus: this.writeMstatus(lo); return true;
      case Csr.misa: return true; // read-only (WARL)
      case Csr.medeleg: this.medeleg = lo & MEDELEG_WRITABLE; return true;
      case Csr.mideleg: this.mideleg = lo & S_INTERRUPTS; return true;
      case Csr.mie: this.mie = lo & ALL_INTERRUPTS; return true;
      case Csr.mtvec: this.writeTvec(true, lo, hi); return true;
      case Csr.mcounteren: this.mcounteren = lo; return true;
      case Csr.menvcfg: {
        this.menvcfgLo = lo & MENVCFG_WRITABLE_LO;
        this.menvcfgHi = hi & MENVCFG_WRITABLE_HI;
        this.syncPbmte();
        this.refreshMip();
        if (this.menvcfgHi === 0 && (this.mipHw & MIP_STIP)) this.setInterrupt(IRQ_STI, false);
        this.updateTimer(this.clock.now());
        return true;
      }
      case Csr.mcountinhibit: {
        const was = this.mcountinhibit;
        const cy = this.mcycleValue(), ir = this.minstretValue();
        this.mcountinhibit = lo & MCOUNTINHIBIT_WRITABLE; // CY, IR and HPM3..HPM_LAST (TM does not exist)
        if ((was ^ this.mcountinhibit) & 1) { this.cycleFrozen = cy; this.cycleDelta = cy - this.instret - 1; }
        if ((was ^ this.mcountinhibit) & 4) { this.instretFrozen = ir; this.instretDelta = ir - this.instret - 1; }
        return true;
      }
      case Csr.mscratch: this.mscratchLo = lo; this.mscratchHi = hi; return true;
      case Csr.mepc: this.mepcLo = lo & ~1; this.mepcHi = hi; return true;
      case Csr.mcause: this.mcauseLo = lo; this.mcauseHi = hi; return true;
      case Csr.mtval: this.mtvalLo = lo; this.mtvalHi = hi; return true;
      case Csr.mip: {
        let mask = MIP_SSIP | MIP_SEIP;
        if ((this.menvcfgHi & 0x80000000) === 0) mask |= MIP_STIP;
        this.mipSoft = (this.mipSoft & ~mask) | (lo & mask);
        this.refreshMip();
        return true;
      }
      default: {
        if (csr >= Csr.pmpcfg0 && csr < Csr.pmpcfg0 + 16) {
          const first = (csr - Csr.pmpcfg0) * 4;
          const c = this.mmu.pmpcfg;
          for (let i = 0; i < 8; i++) {
            if (c[first + i] & 0x80) continue; // locked entries ignore writes
            let v = (i < 4 ? lo >>> (8 * i) : hi >>> (8 * (i - 4))) & 0x9f;
            if ((v & 3) === 2) v &= ~3; // R=0, W=1 is reserved: keep neither
            c[first + i] = v;
          }
          this.mmu.pmpUpdate();
          this.mmu.flushAll();
          return true;
        }
        if (csr >= Csr.pmpaddr0 && csr < Csr.pmpaddr0 + PMP_ENTRIES) {
          const i = csr - Csr.pmpaddr0;
          const c = this.mmu.pmpcfg;
          // Locked, or the base of a locked TOR entry above: ignored.
          if (c[i] & 0x80 || (i + 1 < PMP_ENTRIES && (c[i + 1] & 0x98) === 0x88)) return true;
          this.mmu.pmpaddrLo[i] = lo;
          this.mmu.pmpaddrHi[i] = hi & 0x3fffff;
          this.mmu.pmpUpdate();
          this.mmu.flushAll();
          return true;
        }
        // Zihpm: counters and events 3..HPM_LAST keep what is written; the rest are read-only zero (WARL).
        if (csr >= 0xb03 && csr <= 0xb1f) {
          if (csr - 0xb00 <= HPM_LAST) { this.hpmCounter[2 * (csr - 0xb00)] = lo; this.hpmCounter[2 * (csr - 0xb00) + 1] = hi; }
          return true;
        }
        if (csr >= 0x323 && csr <= 0x33f) {
          if (csr - 0x320 <= HPM_LAST) { this.hpmEvent[2 * (csr - 0x320)] = lo; this.hpmEvent[2 * (csr - 0x320) + 1] = hi; }
          return true;
        }
        if (csr >= 0x7a0 && csr <= 0x7a3) return true; // no triggers: writes ignored
        return false;
      }
    }
  }

  private writeMstatus(v: number): void {
    const old = this.mstatus;
    let s = (old & ~MSTATUS_WRITABLE) | (v & MSTATUS_WRITABLE);
    if (((s & MSTATUS_MPP) >>> MSTATUS_MPP_SHIFT) === 2) s = (s & ~MSTATUS_MPP) | (old & MSTATUS_MPP); // reserved: keep
    this.mstatus = s;
    this.updateMmuContext();
  }

  private writeTvec(machine: boolean, lo: number, hi: number): void {
    const oldLo = machine ? this.mtvecLo : this.stvecLo;
    const mode = (lo & 3) < 2 ? lo & 3 : oldLo & 3; // modes 2 and 3 are reserved: keep the old mode
    const v = (lo & ~3) | mode;
    if (machine) { this.mtvecLo = v; this.mtvecHi = hi; } else { this.stvecLo = v; this.stvecHi = hi; }
  }


  // --- snapshots ------------------------------------------------------------------------------------------

  /**
   * The architectural state between two instructions (Machine.save calls this only while the hart is not
   * running): pc, privilege, x and f registers, every CSR, the counters' offsets and inhibits, PMP, the LR
   * reservation and WFI. Decoded pages and the TLB are caches: restore() rebuilds them from this.
   */
  save(): State {
    const m = this.mmu;
    return {
      pc: [this.pcLo, this.pcHi], priv: this.priv, wfi: this.wfi, instret: this.instret,
      x: Array.from(this.x), f: Array.from(this.f),
      mstatus: this.mstatus, fflags: this.fflags, frm: this.frm,
      medeleg: this.medeleg, mideleg: this.mideleg, mie: this.mie, mipSoft: this.mipSoft, mipHw: this.mipHw,
      mtvec: [this.mtvecLo, this.mtvecHi], stvec: [this.stvecLo, this.stvecHi],
      mepc: [this.mepcLo, this.mepcHi], sepc: [this.sepcLo, this.sepcHi],
      mcause: [this.mcauseLo, this.mcauseHi], scause: [this.scauseLo, this.scauseHi],
      mtval: [this.mtvalLo, this.mtvalHi], stval: [this.stvalLo, this.stvalHi],
      mscratch: [this.mscratchLo, this.mscratchHi], sscratch: [this.sscratchLo, this.sscratchHi],
      mcounteren: this.mcounteren, scounteren: this.scounteren, mcountinhibit: this.mcountinhibit,
      menvcfg: [this.menvcfgLo, this.menvcfgHi], senvcfg: this.senvcfg, stimecmp: [this.stimecmpLo, this.stimecmpHi],
      // minstret = instret + instretDelta, mcycle = instret + cycleDelta (or the frozen values while inhibited).
      instretDelta: this.instretDelta, cycleDelta: this.cycleDelta,
      instretFrozen: this.instretFrozen, cycleFrozen: this.cycleFrozen,
      hpmCounter: Array.from(this.hpmCounter), hpmEvent: Array.from(this.hpmEvent),
      satp: { mode: m.satpMode, asid: m.satpAsid, root: m.satpRoot },
      pmpcfg: Array.from(m.pmpcfg), pmpaddrLo: Array.from(m.pmpaddrLo), pmpaddrHi: Array.from(m.pmpaddrHi),
      // The reservation as a guest physical address (the memory offset is this board's business).
      resv: this.resv === -1 ? -1 : (this.resv >>> 0) - this.ram.offset + this.ram.base,
    };
  }

  /** Checks all of `s` first (BonsaiError, nothing changed); then takes it and drops every cache. */
  restore(s: State): void {
    const what = 'hart';
    const o = record(s, what);
    const u32 = (k: string, max = 0xffffffff): number => uint(o, k, max, what);
    const i32 = (k: string): number => int32(o, k, what);
    // Counter offsets are doubles (differences of 64-bit values): any finite integer.
    const whole = (k: string): number => {
      const v = o[k];
      if (typeof v !== 'number' || !Number.isInteger(v) || Math.abs(v) > 2 ** 66) badState(what, `bad ${k}`);
      return v;
    };
    const pc = pair(o, 'pc', what);
    const priv = u32('priv', 3);
    if (priv === 2) badState(what, 'bad priv');
    const wfi = bool(o, 'wfi', what);
    const instret = uint(o, 'instret', Number.MAX_SAFE_INTEGER, what);
    const x = int32s(o, 'x', 64, what), f = int32s(o, 'f', 64, what);
    if (x[0] !== 0 || x[1] !== 0) badState(what, 'x0 is not zero');
    const mstatus = i32('mstatus');
    if ((mstatus & ~MSTATUS_WRITABLE) !== 0 || ((mstatus & MSTATUS_MPP) >>> MSTATUS_MPP_SHIFT) === 2) badState(what, 'bad mstatus');
    const fflags = u32('fflags', 31), frm = u32('frm', 7);
    const medeleg = u32('medeleg', MEDELEG_WRITABLE), mideleg = u32('mideleg', S_INTERRUPTS);
    const mie = u32('mie', ALL_INTERRUPTS), mipSoft = u32('mipSoft', ALL_INTERRUPTS), mipHw = u32('mipHw', ALL_INTERRUPTS);
    if ((medeleg & ~MEDELEG_WRITABLE) || (mideleg & ~S_INTERRUPTS) || (mie & ~ALL_INTERRUPTS) ||
      (mipSoft & ~(MIP_SSIP | MIP_STIP | MIP_SEIP)) || (mipHw & ~ALL_INTERRUPTS)) badState(what, 'bad interrupt or delegation bits');
    const p = (k: string): [number, number] => pair(o, k, what);
    const mtvec = p('mtvec'), stvec = p('stvec'), mepc = p('mepc'), sepc = p('sepc');
    const mcause = p('mcause'), scause = p('scause'), mtval = p('mtval'), stval = p('stval');
    const mscratch = p('mscratch'), sscratch = p('sscratch'), menvcfg = p('menvcfg'), stimecmp = p('stimecmp');
    if ((mtvec[0] & 3) > 1 || (stvec[0] & 3) > 1 || (mepc[0] & 1) || (sepc[0] & 1)) badState(what, 'bad trap vector or epc');
    if ((menvcfg[0] & ~MENVCFG_WRITABLE_LO) || (menvcfg[1] & ~MENVCFG_WRITABLE_HI)) badState(what, 'bad menvcfg');
    const mcounteren = i32('mcounteren'), scounteren = i32('scounteren');
    const mcountinhibit = u32('mcountinhibit', MCOUNTINHIBIT_WRITABLE), senvcfg = u32('senvcfg', SENVCFG_WRITABLE);
    if (senvcfg & ~SENVCFG_WRITABLE) badState(what, 'bad senvcfg');
    if (mcountinhibit & ~MCOUNTINHIBIT_WRITABLE) badState(what, 'bad mcountinhibit');
    // Zihpm state (absent from states saved before Bonsai had it: zero, as after reset).
    const hpmCounter = o.hpmCounter === undefined ? new Array<number>(64).fill(0) : int32s(o, 'hpmCounter', 64, what);
    const hpmEvent = o.hpmEvent === undefined ? new Array<number>(64).fill(0) : int32s(o, 'hpmEvent', 64, what);
    for (let n = 0; n < 32; n++) {
      if ((n < 3 || n > HPM_LAST) && (hpmCounter[2 * n] | hpmCounter[2 * n + 1] | hpmEvent[2 * n] | hpmEvent[2 * n + 1]) !== 0) {
        badState(what, `bad hpm counter ${n}`);
      }
    }
    const instretDelta = whole('instretDelta'), cycleDelta = whole('cycleDelta');
    const instretFrozen = whole('instretFrozen'), cycleFrozen = whole('cycleFrozen');
    const satp = record(o.satp, 'hart satp');
    const satpMode = uint(satp, 'mode', 10, 'hart satp');
    if (satpMode !== 0 && satpMode !== 8 && satpMode !== 9 && satpMode !== 10) badState(what, 'bad satp mode');
    const satpAsid = uint(satp, 'asid', 0xffff, 'hart satp');
    const satpRoot = uint(satp, 'root', 2 ** 56, 'hart satp');
    if (satpRoot % 4096 !== 0) badState(what, 'bad satp root');
    const pmpcfg = uints(o, 'pmpcfg', PMP_ENTRIES, 0x9f, what);
    const pmpaddrLo = int32s(o, 'pmpaddrLo', PMP_ENTRIES, what);
    const pmpaddrHi = uints(o, 'pmpaddrHi', PMP_ENTRIES, 0x3fffff, what);
    const r = o.resv;
    const ram = this.ram;
    if (typeof r !== 'number' || !Number.isInteger(r) ||
      (r !== -1 && (r % 8 !== 0 || r < ram.base || r + 8 > ram.base + ram.size))) badState(what, 'bad resv');

    // Checked: take it all.
    this.pcLo = pc[0]; this.pcHi = pc[1];
    this.priv = priv as Priv;
    this.wfi = wfi;
    this.halted = false;
    this.instret = instret;
    this.x.set(x); this.f.set(f);
    this.mstatus = mstatus; this.fflags = fflags; this.frm = frm;
    this.medeleg = medeleg; this.mideleg = mideleg; this.mie = mie; this.mipSoft = mipSoft; this.mipHw = mipHw;
    [this.mtvecLo, this.mtvecHi] = mtvec; [this.stvecLo, this.stvecHi] = stvec;
    [this.mepcLo, this.mepcHi] = mepc; [this.sepcLo, this.sepcHi] = sepc;
    [this.mcauseLo, this.mcauseHi] = mcause; [this.scauseLo, this.scauseHi] = scause;
    [this.mtvalLo, this.mtvalHi] = mtval; [this.stvalLo, this.stvalHi] = stval;
    [this.mscratchLo, this.mscratchHi] = mscratch; [this.sscratchLo, this.sscratchHi] = sscratch;
    this.mcounteren = mcounteren; this.scounteren = scounteren; this.mcountinhibit = mcountinhibit;
    [this.menvcfgLo, this.menvcfgHi] = menvcfg; this.senvcfg = senvcfg;
    this.syncPbmte();
    [this.stimecmpLo, this.stimecmpHi] = stimecmp;
    this.instretDelta = instretDelta; this.cycleDelta = cycleDelta;
    this.instretFrozen = instretFrozen; this.cycleFrozen = cycleFrozen;
    this.hpmCounter.set(hpmCounter); this.hpmEvent.set(hpmEvent);
    const m = this.mmu;
    m.satpMode = satpMode; m.satpAsid = satpAsid; m.satpRoot = satpRoot;
    m.pmpcfg.set(pmpcfg); m.pmpaddrLo.set(pmpaddrLo); m.pmpaddrHi.set(pmpaddrHi);
    m.pmpUpdate();
    this.resv = r === -1 ? -1 : (r - ram.base + ram.offset) | 0;
    // Caches: decoded code is RAM's (which the caller replaced), the TLB the old translations'.
    this.invalidateAllCode();
    this.lastMxr = (mstatus & MSTATUS_MXR) !== 0;
    m.flushAll();
    this.refreshMip();
    this.updateMmuContext();
  }
}
