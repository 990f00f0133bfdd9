/**
 * Core-local interruptor (SiFive CLINT, as on QEMU's virt board): msip at 0x0000 + 4*hart, mtimecmp at
 * 0x4000 + 8*hart, mtime at 0xbff8. mtime is the machine's virtual clock (10 MHz).
 */
import type { IrqLine, MmioDevice } from './mmio.js';

export interface ClintClock {
  now(): number;
  set(ticks: number): void;
}

export interface ClintHart {
  msip: IrqLine;
  mtip: IrqLine;
}

const TWO32 = 4294967296;

export class Clint implements MmioDevice {
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
}
