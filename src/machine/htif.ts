/**
 * HTIF, the host-target interface of the RISC-V ISA test suites: the guest writes a command to the
 * 64-bit `tohost` word in RAM; the host answers in `fromhost`. Command word: device (bits 63:56),
 * command (55:48), payload (47:0).
 *  - device 0, command 0, payload odd: exit with status payload >> 1 (1 = pass; else the failing case);
 *    payload even: pointer to a proxied system call (only write(64) to stdout/stderr, and exit(93)).
 *  - device 1, command 1: write the character in the payload's low byte to the console.
 */
const SYS_WRITE = 64;
const SYS_EXIT = 93;

export interface HtifHost {
  /** Guest RAM access by physical address (lo/hi 32-bit halves). */
  readWord(pa: number): number;
  writeWord(pa: number, value: number): void;
  readBytes(pa: number, length: number): Uint8Array | null;
  console(bytes: Uint8Array): void;
  exit(code: number): void;
}

export class Htif {
  constructor(private readonly host: HtifHost, readonly tohost: number, readonly fromhost: number) {}

  /** Handles a pending command in tohost, if any. */
  poll(): void {
    const h = this.host;
    const lo = h.readWord(this.tohost);
    const hi = h.readWord(this.tohost + 4);
    if (lo === 0 && hi === 0) return;
    const device = hi >>> 24;
    const cmd = (hi >>> 16) & 0xff;
    const payloadHi = hi & 0xffff;
    h.writeWord(this.tohost, 0);
    h.writeWord(this.tohost + 4, 0);
    if (device === 0 && cmd === 0) {
      if (lo & 1) {
        h.exit(((lo >>> 1) | (payloadHi << 31)) >>> 0);
        return;
      }
      this.syscall(payloadHi * 4294967296 + (lo >>> 0));
      h.writeWord(this.fromhost, 1);
      h.writeWord(this.fromhost + 4, 0);
    } else if (device === 1 && cmd === 1) {
      h.console(Uint8Array.of(lo & 0xff));
      h.writeWord(this.fromhost, 0);
      h.writeWord(this.fromhost + 4, (1 << 24) | (1 << 16));
    }
  }

  /** A proxied system call: magic memory of eight 64-bit words [number, arg0, arg1, arg2, ...]. */
  private syscall(pa: number): void {
    const h = this.host;
    const which = h.readWord(pa);
    const arg = (i: number): number => (h.readWord(pa + 8 + 8 * i + 4) >>> 0) * 4294967296 + (h.readWord(pa + 8 + 8 * i) >>> 0);
    let ret = -1;
    if (which === SYS_WRITE && (arg(0) === 1 || arg(0) === 2)) {
      const bytes = h.readBytes(arg(1), Math.min(arg(2), 1 << 20));
      if (bytes !== null) { h.console(bytes); ret = bytes.length; }
    } else if (which === SYS_EXIT) {
      h.exit(arg(0) >>> 0);
      return;
    }
    h.writeWord(pa, ret);
    h.writeWord(pa + 4, ret < 0 ? -1 : 0);
  }
}
