/** A memory-mapped device: offsets are relative to the device's base; sizes are 1, 2 or 4 bytes. */
export interface MmioDevice {
  read(offset: number, size: number): number;
  write(offset: number, size: number, value: number): void;
}

/**
 * An interrupt line: the board wires each device's line to its interrupt controller or the hart. The sink
 * hears changes of level, and with `everyRaise` also each raise of a line already high: a PLIC source
 * takes that as a new request, as QEMU's does (a device raises its line again for each new event).
 */
export class IrqLine {
  private current = false;
  constructor(private readonly sink: (level: boolean) => void, private readonly everyRaise = false) {}
  set(level: boolean): void {
    if (level === this.current && !(level && this.everyRaise)) return;
    this.current = level;
    this.sink(level);
  }
  get level(): boolean { return this.current; }
}
