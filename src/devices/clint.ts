/**
 * Core-local interruptor (SiFive CLINT, as on QEMU's virt board): msip at 0x0000 + 4*hart, mtimecmp at
 * 0x4000 + 8*hart, mtime at 0xbff8. mtime is the machine's virtual clock (10 MHz), saved and restored
 * with the clock itself: the CLINT's own state is msip and mtimecmp.
 */
import type { IrqLine, MmioDevice } from './mmio.js';
import { badState, int32s, record, uints } from './state.js';
import type { State, Stateful } from './stateful.js';

export interface ClintClock {
  now(): number;
  set(ticks: number): void;
}

export interface ClintHart {
  msip: IrqLine;
  mtip: IrqLine;
}

const TWO32 = 4294967296;

export class Clint implements MmioDevice, Stateful {
  private readonly msip: Uint8Array;
  private readonly cmpLo: Int32Array;
  private readonly cmpHi: Int32Array;

  constructor(private readonly clock: ClintClock, private readonly harts: ClintHart[]) {
    this.msip = new Uint8Array(harts.length);
    this.cmpLo = new Int32Array(harts.length).fill(-1);
    this.cmpHi = new Int32Array(harts.length).fill(-1);
  }

  read(offset: number, size: number): number {
    if (offset < 0x4000) {
      const h = offset >> 2;
      return h < this.harts.length && (offset & 3) === 0 ? this.msip[h] : 0;
    }
    if (offset < 0xbff8) {
      const h = (offset - 0x4000) >> 3;
      if (h >= this.harts.length) return 0;
      const v = (offset & 4) ? this.cmpHi[h] : this.cmpLo[h];
      return size === 4 ? v : (v >>> (8 * (offset & 3))) & (size === 1 ? 0xff : 0xffff);
    }
    const now = this.clock.now();
    const v = (offset & 4) ? Math.floor(now / TWO32) | 0 : now % TWO32 | 0;
    return size === 4 ? v : (v >>> (8 * (offset & 3))) & (size === 1 ? 0xff : 0xffff);
  }

  write(offset: number, size: number, value: number): void {
    if (offset < 0x4000) {
      const h = offset >> 2;
      if (h >= this.harts.length || (offset & 3) !== 0) return;
      this.msip[h] = value & 1;
      this.harts[h].msip.set((value & 1) !== 0);
      return;
    }
    if (offset < 0xbff8) {
      const h = (offset - 0x4000) >> 3;
      if (h >= this.harts.length || size !== 4) return;
      if (offset & 4) this.cmpHi[h] = value; else this.cmpLo[h] = value;
      this.update(this.clock.now());
      return;
    }
    if (size !== 4) return;
    const now = this.clock.now();
    const lo = (offset & 4) ? now % TWO32 : value >>> 0;
    const hi = (offset & 4) ? value >>> 0 : Math.floor(now / TWO32);
    this.clock.set(hi * TWO32 + lo);
    this.update(this.clock.now());
  }

  /** Raises or lowers each hart's timer line for time `now`. */
  update(now: number): void {
    for (let h = 0; h < this.harts.length; h++) this.harts[h].mtip.set(now >= this.deadline(h));
  }

  /** When hart `h`'s timer fires (mtime ticks). */
  deadline(h: number): number {
    return (this.cmpHi[h] >>> 0) * TWO32 + (this.cmpLo[h] >>> 0);
  }

  /** msip and mtimecmp (as [lo, hi] halves) of every hart; mtime is the clock's. */
  save(): State {
    const n = this.harts.length;
    return {
      msip: Array.from(this.msip),
      mtimecmp: Array.from({ length: n }, (_, h) => [this.cmpLo[h], this.cmpHi[h]]),
    };
  }

  /** Restore the clock first: the timer lines are driven again for its time. */
  restore(s: State): void {
    const what = 'clint';
    const o = record(s, what);
    const n = this.harts.length;
    const msip = uints(o, 'msip', n, 1, what);
    const cmp = o.mtimecmp;
    if (!Array.isArray(cmp) || cmp.length !== n) badState(what, 'bad mtimecmp');
    const halves = cmp.map((c) => int32s({ mtimecmp: c }, 'mtimecmp', 2, what));
    for (let h = 0; h < n; h++) {
      this.msip[h] = msip[h];
      this.cmpLo[h] = halves[h][0];
      this.cmpHi[h] = halves[h][1];
      this.harts[h].msip.set(msip[h] !== 0);
    }
    this.update(this.clock.now());
  }
}
