/**
 * Platform-level interrupt controller as on QEMU's virt board (RISC-V PLIC specification 1.0.0): 96
 * sources (1..95; 0 means "none"), 7 priority levels, and two contexts per hart: 2h for M-mode, 2h+1 for
 * S-mode. Sources are level-triggered as QEMU's PLIC (7.2, hw/intc/sifive_plic.c) takes them: each raise of
 * a line, also of one already high, is a request that pends until claimed (or the line drops); completing
 * a source whose line is still high pends nothing by itself. The specification's gateway would forward a new
 * request there; drivers written against QEMU, such as xv6's, complete a UART interrupt whose cause they left
 * (THR empty, nothing to send) and would get it back forever.
 */
import { IrqLine, type MmioDevice } from './mmio.js';
import type { State, Stateful } from './stateful.js';

export const PLIC_SOURCES = 96;
const WORDS = PLIC_SOURCES / 32;
const PRIORITY_MASK = 0x7;

const PENDING_BASE = 0x1000;
const ENABLE_BASE = 0x2000;
const ENABLE_STRIDE = 0x80;
const CONTEXT_BASE = 0x200000;
const CONTEXT_STRIDE = 0x1000;

export class Plic implements MmioDevice, Stateful {
  private readonly priority = new Uint8Array(PLIC_SOURCES);
  /**
   * Requests: set by each raise of a source's line, cleared by its claim or by the line dropping. Saved;
   * the machine restores the PLIC after the devices, which re-drive their lines.
   */
  private readonly requested = new Uint32Array(WORDS);
  /** Line levels as the devices drive them (not saved: each device re-drives its line on restore). */
  private readonly level = new Uint32Array(WORDS);
  /** Claimed and not yet completed: the gateway forwards no new request for these (spec, "Interrupt Gateways"). */
  private readonly claimed = new Uint32Array(WORDS);
  private readonly enable: Uint32Array;
  private readonly threshold: Uint8Array;
  private readonly lines: (IrqLine | undefined)[] = [];

  constructor(private readonly contexts: IrqLine[]) {
    this.enable = new Uint32Array(contexts.length * WORDS);
    this.threshold = new Uint8Array(contexts.length);
  }

  /** The line that source `n` (1..95) drives. */
  source(n: number): IrqLine {
    if (!Number.isInteger(n) || n < 1 || n >= PLIC_SOURCES) throw new RangeError(`plic: no source ${n} (1..${PLIC_SOURCES - 1})`);
    let line = this.lines[n];
    if (line === undefined) {
      const bit = 1 << (n & 31), w = n >> 5;
      line = new IrqLine((high) => {
        if (high) { this.level[w] |= bit; this.requested[w] |= bit; } else { this.level[w] &= ~bit; this.requested[w] &= ~bit; }
        this.update();
      }, true);
      this.lines[n] = line;
    }
    return line;
  }

  read(offset: number, size: number): number {
    // The PLIC's registers are 32 bits wide and QEMU accepts only aligned 32-bit accesses: others read 0.
    if (size !== 4 || (offset & 3) !== 0) return 0;
    if (offset < PENDING_BASE) {
      const n = offset >> 2;
      return n < PLIC_SOURCES ? this.priority[n] : 0;
    }
    if (offset < ENABLE_BASE) {
      const w = (offset - PENDING_BASE) >> 2;
      return w < WORDS ? this.pending(w) | 0 : 0;
    }
    if (offset < CONTEXT_BASE) {
      const ctx = Math.floor((offset - ENABLE_BASE) / ENABLE_STRIDE);
      const w = (offset % ENABLE_STRIDE) >> 2;
      return ctx < this.contexts.length && w < WORDS ? this.enable[ctx * WORDS + w] | 0 : 0;
    }
    const ctx = Math.floor((offset - CONTEXT_BASE) / CONTEXT_STRIDE);
    if (ctx >= this.contexts.length) return 0;
    switch (offset % CONTEXT_STRIDE) {
      case 0: return this.threshold[ctx];
      case 4: return this.claim(ctx);
      default: return 0;
    }
  }

  write(offset: number, size: number, value: number): void {
    if (size !== 4 || (offset & 3) !== 0) return;
    if (offset < PENDING_BASE) {
      const n = offset >> 2;
      if (n >= 1 && n < PLIC_SOURCES) this.priority[n] = value & PRIORITY_MASK; // source 0 is hardwired to 0
    } else if (offset < ENABLE_BASE) {
      return; // pending bits are read-only
    } else if (offset < CONTEXT_BASE) {
      const ctx = Math.floor((offset - ENABLE_BASE) / ENABLE_STRIDE);
      const w = (offset % ENABLE_STRIDE) >> 2;
      if (ctx >= this.contexts.length || w >= WORDS) return;
      this.enable[ctx * WORDS + w] = w === 0 ? value & ~1 : value;
    } else {
      const ctx = Math.floor((offset - CONTEXT_BASE) / CONTEXT_STRIDE);
      if (ctx >= this.contexts.length) return;
      const reg = offset % CONTEXT_STRIDE;
      if (reg === 0) this.threshold[ctx] = value & PRIORITY_MASK;
      else if (reg === 4) this.complete(ctx, value >>> 0);
      else return;
    }
    this.update();
  }

  /** Pending bits of word `w`: a request came and its source is not claimed. */
  private pending(w: number): number {
    return (this.requested[w] & ~this.claimed[w]) >>> 0;
  }

  /** The source context `ctx` would claim: highest priority above threshold, ties to the lowest id; or 0. */
  private best(ctx: number): number {
    let id = 0;
    let prio = this.threshold[ctx];
    for (let w = 0; w < WORDS; w++) {
      let bits = this.pending(w) & this.enable[ctx * WORDS + w];
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits & -bits);
        bits &= bits - 1;
        const n = w * 32 + b;
        if (this.priority[n] > prio) { prio = this.priority[n]; id = n; }
      }
    }
    return id;
  }

  private claim(ctx: number): number {
    const id = this.best(ctx);
    if (id !== 0) {
      this.claimed[id >> 5] |= 1 << (id & 31);
      this.requested[id >> 5] &= ~(1 << (id & 31));
      this.update();
    }
    return id;
  }

  /**
   * Completion re-arms the source's gateway (a request raised meanwhile pends now); an id not enabled for
   * this context is silently ignored (spec, "Interrupt Completion") — why Linux enables a masked source
   * around its EOI.
   */
  private complete(ctx: number, id: number): void {
    if (id < 1 || id >= PLIC_SOURCES) return;
    if ((this.enable[ctx * WORDS + (id >> 5)] & (1 << (id & 31))) === 0) return;
    this.claimed[id >> 5] &= ~(1 << (id & 31));
    this.update();
  }

  private update(): void {
    for (let ctx = 0; ctx < this.contexts.length; ctx++) this.contexts[ctx].set(this.best(ctx) !== 0);
  }

  save(): State {
    const ids = (bits: Uint32Array): number[] => {
      const out: number[] = [];
      for (let n = 1; n < PLIC_SOURCES; n++) if (bits[n >> 5] & (1 << (n & 31))) out.push(n);
      return out;
    };
    return {
      priority: Array.from(this.priority),
      enable: Array.from(this.enable, (v) => v >>> 0),
      threshold: Array.from(this.threshold),
      claimed: ids(this.claimed),
      requested: ids(this.requested),
    };
  }

  restore(s: State): void {
    if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new Error('plic state: not an object');
    const priority = numbers(s.priority, 'priority', PLIC_SOURCES, PRIORITY_MASK);
    if (priority[0] !== 0) throw new Error('plic state: source 0 has a priority');
    const enable = numbers(s.enable, 'enable', this.enable.length, 0xffffffff);
    if (enable.some((v, i) => i % WORDS === 0 && (v & 1) !== 0)) throw new Error('plic state: source 0 is enabled');
    const threshold = numbers(s.threshold, 'threshold', this.threshold.length, PRIORITY_MASK);
    const sources = (v: State | undefined, key: string): number[] => {
      if (!Array.isArray(v)) throw new Error(`plic state: bad ${key}`);
      return v.map((n) => {
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n >= PLIC_SOURCES) throw new Error(`plic state: bad ${key}`);
        return n;
      });
    };
    const claimed = sources(s.claimed, 'claimed');
    // States from before requests were kept: every high line not claimed was pending then.
    const requested = s.requested === undefined ? null : sources(s.requested, 'requested');
    this.priority.set(priority);
    this.enable.set(enable);
    this.threshold.set(threshold);
    this.claimed.fill(0);
    for (const n of claimed) this.claimed[n >> 5] |= 1 << (n & 31);
    if (requested === null) {
      for (let w = 0; w < WORDS; w++) this.requested[w] = this.level[w] & ~this.claimed[w];
    } else {
      this.requested.fill(0);
      for (const n of requested) this.requested[n >> 5] |= 1 << (n & 31);
    }
    this.update();
  }
}

/** A saved array of exactly `length` integers in 0..max (the context count must match the board's). */
function numbers(v: State | undefined, key: string, length: number, max: number): number[] {
  if (!Array.isArray(v) || v.length !== length) throw new Error(`plic state: bad ${key}`);
  return v.map((x) => {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > max) throw new Error(`plic state: bad ${key}`);
    return x;
  });
}
