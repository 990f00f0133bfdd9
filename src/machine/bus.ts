/**
 * The physical address space outside RAM: MMIO devices keyed by address range. An access that hits no
 * device sets `ok` false (the hart turns it into an access fault) and logs one line the first time per page.
 */
import type { MmioDevice } from '../devices/mmio.js';
import type { HartBus } from './riscv/hart.js';

interface Region { start: number; end: number; device: MmioDevice; name: string }

export class Bus implements HartBus {
  ok = true;
  private regions: Region[] = [];
  private readonly reported = new Set<number>();

  constructor(private readonly log: (line: string) => void) {}

  map(start: number, size: number, device: MmioDevice, name: string): void {
    for (const r of this.regions) {
      if (start < r.end && start + size > r.start) throw new Error(`bus: ${name} overlaps ${r.name}`);
    }
    this.regions.push({ start, end: start + size, device, name });
    this.regions.sort((a, b) => a.start - b.start);
  }

  private find(pa: number, size: number): Region | undefined {
    for (const r of this.regions) if (pa >= r.start && pa + size <= r.end) return r;
    return undefined;
  }

  read(pa: number, size: number): number {
    const r = this.find(pa, size);
    if (r === undefined) { this.unmapped(pa, 'read'); return 0; }
    return r.device.read(pa - r.start, size);
  }

  write(pa: number, size: number, value: number): void {
    const r = this.find(pa, size);
    if (r === undefined) { this.unmapped(pa, 'write'); return; }
    r.device.write(pa - r.start, size, value);
  }

  private unmapped(pa: number, what: string): void {
    this.ok = false;
    const page = Math.floor(pa / 4096);
    if (this.reported.has(page)) return;
    this.reported.add(page);
    this.log(`bus: guest ${what} at 0x${pa.toString(16)}: no device there (access fault)`);
  }
}
