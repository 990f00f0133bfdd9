/**
 * The machine: one WebAssembly.Memory holding architectural state and RAM, the hart, the bus with its
 * devices, the virtual clock, and the run loop that slices execution between host events.
 */
import { performance } from 'node:perf_hooks';
import { Clint } from '../devices/clint.js';
import { GoldfishRtc } from '../devices/goldfish-rtc.js';
import { IrqLine } from '../devices/mmio.js';
import { Plic } from '../devices/plic.js';
import { Syscon } from '../devices/syscon.js';
import { Uart16550 } from '../devices/uart16550.js';
import type { VirtioDevice } from '../devices/virtio/device.js';
import { EmptyVirtioSlot } from '../devices/virtio/empty.js';
import { VirtioMmio } from '../devices/virtio/mmio.js';
import { guestMemory } from '../devices/virtio/queue.js';
import { BonsaiError } from '../errors.js';
import { Bus } from './bus.js';
import { VirtualClock } from './clock.js';
import { Htif } from './htif.js';
import { VIRT } from './layout.js';
import { IRQ_MEI, IRQ_MSI, IRQ_MTI, IRQ_SEI } from './riscv/csr.js';
import { Hart } from './riscv/hart.js';
import { RAM_OFFSET, WASM_PAGE } from './riscv/layout.js';
import type { PhysRam } from './riscv/mmu.js';

export const RAM_BASE = VIRT.ram;
/** Instructions between checks of the clock and host events. */
const SLICE = 8192;
/** Host milliseconds the machine runs before yielding to the event loop. */
const TURN_MS = 8;

export interface MachineOptions {
  memoryBytes: number;
  /** Diagnostics (one line each); default: stderr. */
  log?: (line: string) => void;
  /** virtio devices, placed in the virtio-mmio slots in order (the first disk is the guest's vda). */
  virtio?: VirtioDevice[];
  /** Console output of the guest (UART, SBI console, HTIF); default: stdout. */
  console?: (bytes: Uint8Array) => void;
}

export interface MachineExit {
  status: number;
  /**
   * Why the machine stopped: 'htif' (guest exit through HTIF), 'poweroff' and 'fail' (the guest, through the
   * test finisher or SBI), 'reset' (the guest asked for a reboot), 'limit' (instruction limit), 'stop' (host).
   */
  reason: 'htif' | 'poweroff' | 'fail' | 'reset' | 'limit' | 'stop';
}

export class Machine {
  readonly memory: WebAssembly.Memory;
  readonly ram: PhysRam;
  readonly bus: Bus;
  readonly clock = new VirtualClock();
  readonly hart: Hart;
  readonly clint: Clint;
  readonly plic: Plic;
  readonly uart: Uart16550;
  readonly rtc: GoldfishRtc;
  private htif: Htif | null = null;
  /** The device tree the machine booted with (for --dump-dtb). */
  dtb: Uint8Array | null = null;
  private readonly u8: Uint8Array;
  private readonly i32: Int32Array;
  private exit: MachineExit | null = null;
  private wake: (() => void) | null = null;
  readonly log: (line: string) => void;
  private readonly out: (bytes: Uint8Array) => void;

  constructor(opts: MachineOptions) {
    const size = opts.memoryBytes;
    if (!Number.isInteger(size) || size < 1 << 20 || size > 2047 * 1024 * 1024 || size % 4096 !== 0) {
      throw new BonsaiError(`memory size ${size} bytes is not supported (1 MiB to 2047 MiB, a multiple of 4 KiB)`);
    }
    const pages = Math.ceil((RAM_OFFSET + size) / WASM_PAGE);
    try {
      this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    } catch {
      throw new BonsaiError(`cannot allocate ${size >> 20} MiB of guest memory on this host`);
    }
    this.log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.out = opts.console ?? ((bytes) => process.stdout.write(bytes));
    this.u8 = new Uint8Array(this.memory.buffer);
    this.i32 = new Int32Array(this.memory.buffer);
    this.ram = {
      base: RAM_BASE, size, offset: RAM_OFFSET, i32: this.i32,
      pageFlags: new Uint8Array(size / 4096),
    };
    this.bus = new Bus(this.log);
    this.hart = new Hart(this.memory, this.ram, this.bus, this.clock, 0);
    const hart = this.hart;
    this.clint = new Clint(this.clock, [{
      msip: new IrqLine((level) => hart.setInterrupt(IRQ_MSI, level)),
      mtip: new IrqLine((level) => hart.setInterrupt(IRQ_MTI, level)),
    }]);
    this.bus.map(VIRT.clint, 0x10000, this.clint, 'clint');
    this.plic = new Plic([
      new IrqLine((level) => hart.setInterrupt(IRQ_MEI, level)),
      new IrqLine((level) => hart.setInterrupt(IRQ_SEI, level)),
    ]);
    this.bus.map(VIRT.plic, 0x600000, this.plic, 'plic');
    this.uart = new Uart16550(this.plic.source(VIRT.uartIrq), (bytes) => this.out(bytes));
    this.bus.map(VIRT.uart, 0x100, this.uart, 'uart');
    this.rtc = new GoldfishRtc(this.plic.source(VIRT.rtcIrq), () => Date.now() * 1e6);
    this.bus.map(VIRT.rtc, 0x1000, this.rtc, 'rtc');
    this.bus.map(VIRT.syscon, 0x1000, new Syscon(
      () => this.stop({ status: 0, reason: 'poweroff' }),
      () => this.stop({ status: 0, reason: 'reset' }),
      (code) => this.stop({ status: code === 0 ? 1 : Math.min(code, 255), reason: 'fail' }),
    ), 'syscon');
    const devices = opts.virtio ?? [];
    if (devices.length > VIRT.virtioSlots) throw new BonsaiError(`${devices.length} virtio devices asked for; the board has ${VIRT.virtioSlots} slots`);
    const mem = guestMemory(RAM_BASE, this.u8.subarray(RAM_OFFSET, RAM_OFFSET + size), (pa) => hart.ramWritten(pa));
    for (let i = 0; i < VIRT.virtioSlots; i++) {
      const dev = devices[i];
      const slot = dev === undefined ? new EmptyVirtioSlot()
        : new VirtioMmio(dev, { mem, irq: this.plic.source(VIRT.virtioIrq + i), log: this.log, wake: () => this.kick(), name: `${dev.name} (slot ${i})` });
      this.bus.map(VIRT.virtio + i * 0x1000, 0x1000, slot, `virtio${i}`);
    }
    this.hart.onWatchedWrite = () => this.htif?.poll();
  }

  /** Wires HTIF (the RISC-V test-suite host interface) to the 64-bit words at `tohost` and `fromhost`. */
  attachHtif(tohost: number, fromhost: number): void {
    const inRam = (pa: number): boolean => pa >= RAM_BASE && pa + 8 <= RAM_BASE + this.ram.size;
    if (!inRam(tohost) || !inRam(fromhost)) return;
    const word = (pa: number): number => (RAM_OFFSET + pa - RAM_BASE) >> 2;
    this.htif = new Htif({
      readWord: (pa) => inRam(pa) ? this.i32[word(pa)] : 0,
      writeWord: (pa, v) => { if (inRam(pa)) this.i32[word(pa)] = v; },
      readBytes: (pa, len) => pa >= RAM_BASE && pa + len <= RAM_BASE + this.ram.size
        ? this.u8.slice(RAM_OFFSET + pa - RAM_BASE, RAM_OFFSET + pa - RAM_BASE + len) : null,
      console: (bytes) => this.out(bytes),
      exit: (code) => this.stop({ status: code === 0 ? 0 : Math.min(code, 255), reason: 'htif' }, code),
    }, tohost, fromhost);
    const page = Math.floor((tohost - RAM_BASE) / 4096);
    this.ram.pageFlags[page] |= 2;
    this.hart.mmu.dropWritesTo(RAM_OFFSET + page * 4096); // stores to tohost now take the slow path
  }

  /** Ends the run; the promise of run() resolves with `exit`. */
  stop(exit: MachineExit, htifCode?: number): void {
    if (this.exit !== null) return;
    if (exit.reason === 'htif' && htifCode !== undefined && htifCode !== 0) {
      this.log(`bonsai: guest reported failure: test case ${htifCode} failed (tohost = ${htifCode * 2 + 1})`);
    }
    this.exit = exit;
    this.hart.halted = true;
    this.wake?.();
    this.pauseGate?.open(); // a paused machine that is stopped ends too
  }

  private pauseGate: { promise: Promise<void>; open: () => void } | null = null;

  /**
   * Stops the hart at the next turn and freezes the virtual clock, so the guest sees no time pass while
   * paused (timers, mtime and stimecmp deadlines all keep their distance). Devices may still finish host I/O.
   */
  pause(): void {
    if (this.pauseGate !== null || this.exit !== null) return;
    let open = (): void => {};
    const promise = new Promise<void>((resolve) => { open = resolve; });
    this.pauseGate = { promise, open };
    this.clock.pause();
    this.wake?.();
  }

  resume(): void {
    const gate = this.pauseGate;
    if (gate === null) return;
    this.pauseGate = null;
    this.clock.resume();
    gate.open();
  }

  get paused(): boolean { return this.pauseGate !== null; }

  /** Wakes the machine from a WFI sleep: a device finished host I/O and raised its interrupt. */
  kick(): void {
    this.wake?.();
  }

  /** Guest console output (UART, SBI console, HTIF). */
  console(bytes: Uint8Array): void {
    this.out(bytes);
  }

  /** Host input for the guest's console (the UART). */
  input(bytes: Uint8Array): void {
    this.uart.receive(bytes);
    this.wake?.();
  }

  /** Writes `bytes` to guest RAM at physical `pa` (loaders); false when they do not fit in RAM. */
  writePhys(pa: number, bytes: Uint8Array): boolean {
    if (pa < RAM_BASE || pa + bytes.length > RAM_BASE + this.ram.size) return false;
    this.u8.set(bytes, RAM_OFFSET + (pa - RAM_BASE));
    return true;
  }

  /** A live view of guest RAM [pa, pa + length), or null when not all of it is RAM. */
  physMemory(pa: number, length: number): Uint8Array | null {
    if (pa < RAM_BASE || length < 0 || pa + length > RAM_BASE + this.ram.size) return null;
    return this.u8.subarray(RAM_OFFSET + (pa - RAM_BASE), RAM_OFFSET + (pa - RAM_BASE) + length);
  }

  /** Runs until the guest exits (HTIF), `maxInstructions` have run, or stop() is called. */
  async run(maxInstructions = Infinity): Promise<MachineExit> {
    const hart = this.hart;
    let total = 0;
    for (;;) {
      while (this.pauseGate !== null && this.exit === null) await this.pauseGate.promise;
      const turnEnd = performance.now() + TURN_MS;
      while (this.exit === null) {
        const now = this.clock.now();
        this.clint.update(now);
        hart.updateTimer(now);
        if (this.rtc.nextAlarmNs() !== null) this.rtc.poll();
        const budget = Math.min(SLICE, maxInstructions - total);
        if (budget <= 0) { this.stop({ status: 1, reason: 'limit' }); break; }
        total += hart.run(budget);
        if (hart.wfi || performance.now() >= turnEnd) break;
      }
      if (this.exit !== null) return this.exit;
      if (hart.wfi) {
        const alarm = this.rtc.nextAlarmNs();
        const rtcMs = alarm === null ? Infinity : Math.max(0, alarm / 1e6 - Date.now());
        await this.sleep(Math.min(rtcMs, this.clock.msUntil(Math.min(this.clint.deadline(0), hart.stimecmpDeadline()))));
      }
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Host seconds spent asleep in WFI (for --stats and the idle measurement). */
  idleSeconds = 0;

  /** Sleeps until `ms` pass or a device event wakes the machine. */
  private sleep(ms: number): Promise<void> {
    const t0 = performance.now();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.min(ms, 1000));
      const self = this;
      function done(): void { clearTimeout(timer); self.wake = null; self.idleSeconds += (performance.now() - t0) / 1000; resolve(); }
      this.wake = done;
    });
  }

  /** Instructions retired so far. */
  get instructions(): number { return this.hart.instret; }
}
