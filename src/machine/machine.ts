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
import { VirtioBlk } from '../devices/virtio/blk.js';
import { badState, bool, record, uint } from '../devices/state.js';
import type { State } from '../devices/stateful.js';
import { BonsaiError } from '../errors.js';
import { Bus } from './bus.js';
import { VirtualClock } from './clock.js';
import { createSbi, programStimecmp } from './firmware/sbi.js';
import { Htif } from './htif.js';
import { runWarmUp, WARM_UP_RAM } from './warmup.js';
import { applyRam, captureRam, checkRamImage, type RamImage } from './ram-image.js';
import { VIRT } from './layout.js';
import { IRQ_MEI, IRQ_MSI, IRQ_MTI, IRQ_SEI } from './riscv/csr.js';
import { Hart, type Engine } from './riscv/hart.js';
import { MEMORY_LIMITS, RAM_OFFSET, WASM_PAGE, memorySupported } from './riscv/layout.js';

import type { PhysRam } from './riscv/mmu.js';

export const RAM_BASE = VIRT.ram;
/** Instructions between checks of the clock and host events. */
const SLICE = 8192;
/** Host milliseconds the machine runs before yielding to the event loop. */
const TURN_MS = 8;
/**
 * The turn while a device's host work is under way: its completion is delivered by the event loop, so a
 * guest that polls for it (U-Boot's virtio-blk spins on the used ring) sees it within this, not within
 * TURN_MS. One yield per millisecond costs a busy guest well under 1% (a yield is a few microseconds).
 */
const IO_TURN_MS = 1;

export interface MachineOptions {
  memoryBytes: number;
  /** Diagnostics (one line each); default: stderr. */
  log?: (line: string) => void;
  /** virtio devices, placed in the virtio-mmio slots in order (the first disk is the guest's vda). */
  virtio?: VirtioDevice[];
  /** Console output of the guest (UART, SBI console, HTIF); default: stdout. */
  console?: (bytes: Uint8Array) => void;
  /**
   * Per virtio device (the order of `virtio`), a caller's string naming what backs it, e.g. a disk's
   * identity: part of the configuration a snapshot records and restore() compares.
   */
  identities?: (string | null | undefined)[];
  /**
   * What drives guest time: 'host' (default) monotonic host time; 'instructions' one tick (100 ns) per
   * INSTRUCTIONS_PER_TICK retired instructions, jumping to the next timer deadline when the hart waits
   * in WFI. The second makes a machine deterministic given the same input at the same instruction counts
   * (tests compare a restored machine with its original exactly).
   */
  timeSource?: 'host' | 'instructions';
  /**
   * The WebAssembly memory to run in, from guestMemoryFor(memoryBytes) (a live migration receives RAM
   * into it before the machine is built); default: a new one.
   */
  memory?: WebAssembly.Memory;
  /** What runs guest code: 'interp' (default) the interpreter, 'jit' the interpreter and compiled hot blocks. */
  engine?: Engine;
  /**
   * Run the warm-up program (warmup.ts) on a scratch machine first, when this process has not yet for this
   * engine (default true; the scratch machine itself is made with false).
   */
  warmUp?: boolean;
}

/** Engines this process has run the warm-up for. */
const warmedUp = new Set<Engine>();
/** The engines this process has run the warm-up for (tests). */
export function warmedUpEngines(): ReadonlySet<Engine> { return warmedUp; }

/** A WebAssembly memory laid out for a machine of `memoryBytes`; RAM starts at byte RAM_OFFSET. */
export function guestMemoryFor(memoryBytes: number): WebAssembly.Memory {
  const pages = Math.ceil((RAM_OFFSET + memoryBytes) / WASM_PAGE);
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: pages });
  } catch {
    throw new BonsaiError(`cannot allocate ${Math.floor(memoryBytes / 1048576)} MiB of guest memory on this host`);
  }
}

/** Guest time of a machine driven by its instructions (timeSource 'instructions'): a nominal 100 MIPS. */
export const INSTRUCTIONS_PER_TICK = 10;

/** The virtio slots' names on the bus, in order. */
export const VIRTIO_SLOT_NAMES = Array.from({ length: VIRT.virtioSlots }, (_, i) => `virtio${i}`);

/** Every part a MachineState holds. */
const PART_NAMES = ['hart', 'clock', 'clint', 'plic', 'uart', 'rtc', 'syscon', ...VIRTIO_SLOT_NAMES, 'firmware', 'htif'];

/** What a snapshot must be restored onto: compared before anything is touched. */
export type MachineConfig = {
  memoryBytes: number;
  /** Each virtio slot: empty (null) or the device's kind, the caller's identity for it, and a disk's size. */
  virtio: ({ kind: string; identity: string | null; sectors?: number } | null)[];
};

/**
 * A machine's state without its RAM: the configuration, and each part's save() keyed by its name on the
 * board (hart, clock, clint, plic, uart, rtc, syscon, virtio0..7 (null when empty), firmware, htif).
 * Plain JSON.
 */
export type MachineState = { config: MachineConfig; parts: { [name: string]: State } };

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
  readonly clock: VirtualClock;
  readonly hart: Hart;
  readonly clint: Clint;
  readonly plic: Plic;
  readonly uart: Uart16550;
  readonly rtc: GoldfishRtc;
  private readonly syscon: Syscon;
  private htif: Htif | null = null;
  private readonly slots: (VirtioMmio | null)[] = [];
  private readonly identities: (string | null)[];
  private readonly deterministic: boolean;
  /** Whether run() is under way (paused or not). */
  private running = false;
  /** The instruction count at which run() pauses the machine (pauseAt). */
  private pauseAtInstret = Infinity;
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
    if (!memorySupported(size)) {
      throw new BonsaiError(`memory size ${size} bytes is not supported (${MEMORY_LIMITS})`);
    }
    const pages = Math.ceil((RAM_OFFSET + size) / WASM_PAGE);
    if (opts.memory !== undefined && opts.memory.buffer.byteLength !== pages * WASM_PAGE) throw new RangeError('Machine: the memory given is not laid out for this RAM size');
    this.memory = opts.memory ?? guestMemoryFor(size);
    this.log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.out = opts.console ?? ((bytes) => process.stdout.write(bytes));
    this.deterministic = opts.timeSource === 'instructions';
    let hartRef: Hart | null = null;
    this.clock = this.deterministic
      ? new VirtualClock(0, () => hartRef === null ? 0 : Math.floor(hartRef.instret / INSTRUCTIONS_PER_TICK))
      : new VirtualClock();
    this.u8 = new Uint8Array(this.memory.buffer);
    this.i32 = new Int32Array(this.memory.buffer);
    this.ram = {
      base: RAM_BASE, size, offset: RAM_OFFSET, i32: this.i32,
      pageFlags: new Uint8Array(size / 4096),
    };
    const engine = opts.engine ?? 'interp';
    if (opts.warmUp !== false && !warmedUp.has(engine)) {
      warmedUp.add(engine);
      runWarmUp(new Machine({ memoryBytes: WARM_UP_RAM, engine, warmUp: false, log: () => {}, console: () => {} }));
    }
    this.bus = new Bus(this.log);
    this.hart = new Hart(this.memory, this.ram, this.bus, this.clock, 0, engine);
    const hart = this.hart;
    hartRef = hart;
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
    this.syscon = new Syscon(
      () => this.stop({ status: 0, reason: 'poweroff' }),
      () => this.stop({ status: 0, reason: 'reset' }),
      (code) => this.stop({ status: code === 0 ? 1 : Math.min(code, 255), reason: 'fail' }),
    );
    this.bus.map(VIRT.syscon, 0x1000, this.syscon, 'syscon');
    const devices = opts.virtio ?? [];
    this.identities = Array.from({ length: VIRT.virtioSlots }, (_, i) => opts.identities?.[i] ?? null);
    if (devices.length > VIRT.virtioSlots) throw new BonsaiError(`${devices.length} virtio devices asked for; the board has ${VIRT.virtioSlots} slots`);
    const mem = guestMemory(RAM_BASE, this.u8.subarray(RAM_OFFSET, RAM_OFFSET + size), (pa) => hart.ramWritten(pa));
    for (let i = 0; i < VIRT.virtioSlots; i++) {
      const dev = devices[i];
      const slot = dev === undefined ? new EmptyVirtioSlot()
        : new VirtioMmio(dev, { mem, irq: this.plic.source(VIRT.virtioIrq + i), log: this.log, wake: () => this.kick(), name: `${dev.name} (slot ${i})` });
      this.slots.push(slot instanceof VirtioMmio ? slot : null);
      this.bus.map(VIRT.virtio + i * 0x1000, 0x1000, slot, VIRTIO_SLOT_NAMES[i]);
    }
    this.hart.onWatchedWrite = () => this.htif?.poll();
  }

  /**
   * Serves the guest's SBI calls from the VMM (`--bios builtin`, firmware/sbi.ts) instead of M-mode
   * firmware in the guest. Part of the machine's state: a restored machine serves them again.
   */
  useBuiltinSbi(): void {
    this.hart.sbi = createSbi({
      consoleWrite: (bytes) => this.console(bytes),
      consoleRead: () => new Uint8Array(0),
      setTimer: (hart, lo, hi) => programStimecmp(hart, lo, hi, this.clock.now()),
      raiseSoftwareInterrupt: (hart) => hart.raiseSsip(),
      fenceI: () => { /* stores already drop stale decoded code */ },
      reset: (type) => this.stop({ status: 0, reason: type === 'shutdown' ? 'poweroff' : 'reset' }),
      physMemory: (pa, length) => this.physMemory(pa, length),
    });
    this.builtinSbi = true;
  }

  private builtinSbi = false;

  /** Wires HTIF (the RISC-V test-suite host interface) to the 64-bit words at `tohost` and `fromhost`. */
  attachHtif(tohost: number, fromhost: number): void {
    const inRam = (pa: number): boolean => pa >= RAM_BASE && pa + 8 <= RAM_BASE + this.ram.size;
    if (!inRam(tohost) || !inRam(fromhost)) return;
    this.detachHtif();
    const word = (pa: number): number => (RAM_OFFSET + pa - RAM_BASE) >>> 2;
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

  private detachHtif(): void {
    if (this.htif === null) return;
    this.ram.pageFlags[Math.floor((this.htif.tohost - RAM_BASE) / 4096)] &= ~2;
    this.htif = null;
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

  /**
   * Pauses the machine (as pause() does) once the hart has retired `instret` instructions, exactly: for
   * tests and replay. Infinity cancels.
   */
  pauseAt(instret: number): void {
    this.pauseAtInstret = instret;
  }

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
    this.running = true;
    try {
      return await this.runLoop(maxInstructions);
    } finally {
      this.running = false;
    }
  }

  private async runLoop(maxInstructions: number): Promise<MachineExit> {
    const hart = this.hart;
    let total = 0;
    for (;;) {
      while (this.pauseGate !== null && this.exit === null) await this.pauseGate.promise;
      const turnStart = performance.now();
      const turnEnd = turnStart + TURN_MS;
      const ioTurnEnd = turnStart + IO_TURN_MS;
      while (this.exit === null) {
        const now = this.clock.now();
        this.clint.update(now);
        hart.updateTimer(now);
        if (this.rtc.nextAlarmNs() !== null) this.rtc.poll();
        if (hart.instret >= this.pauseAtInstret) { this.pauseAtInstret = Infinity; this.pause(); break; }
        let budget = Math.min(SLICE, maxInstructions - total, this.pauseAtInstret - hart.instret);
        if (this.deterministic) budget = Math.min(budget, this.instructionsToDeadline());
        if (budget <= 0) { this.stop({ status: 1, reason: 'limit' }); break; }
        total += hart.run(budget);
        if (hart.wfi && this.deterministic) {
          // Guest time is the instructions': waiting means jumping to the next timer deadline.
          const deadline = Math.min(this.clint.deadline(0), hart.stimecmpDeadline());
          if (deadline !== Infinity && deadline > this.clock.now()) { this.clock.set(deadline); continue; }
        }
        if (hart.wfi) break;
        const t = performance.now();
        if (t >= turnEnd || (t >= ioTurnEnd && this.hostWorking())) break;
      }
      if (this.exit !== null) return this.exit;
      if (this.pauseGate !== null) continue;
      if (hart.wfi) {
        const alarm = this.rtc.nextAlarmNs();
        const rtcMs = alarm === null ? Infinity : Math.max(0, alarm / 1e6 - Date.now());
        await this.sleep(Math.min(rtcMs, this.clock.msUntil(Math.min(this.clint.deadline(0), hart.stimecmpDeadline()))));
      }
      else if (this.throttled > 0) await new Promise<void>((resolve) => setTimeout(resolve, TURN_MS * this.throttled / (1 - this.throttled)));
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private throttled = 0;

  /** Devices that can have host work under way for the guest (a disk's reads). */
  private ioDevices: VirtioDevice[] | null = null;

  /**
   * Whether a device's host work is under way: the turn then ends after IO_TURN_MS, so its completion,
   * which only the event loop delivers, reaches a guest that polls for it (U-Boot) that soon.
   */
  private hostWorking(): boolean {
    if (this.ioDevices === null) this.ioDevices = this.slots.flatMap((s) => s !== null && s.device.hostWorking !== undefined ? [s.device] : []);
    for (const d of this.ioDevices) if (d.hostWorking?.() === true) return true;
    return false;
  }

  /**
   * Slows the guest to (1 - fraction) of its speed: after each turn the hart rests for its share
   * (live migration's auto-converge, for a guest that dirties memory faster than the link carries). 0 ends it.
   */
  throttle(fraction: number): void {
    this.throttled = Math.max(0, Math.min(0.99, fraction));
  }

  // --- snapshots --------------------------------------------------------------------------------------

  /** Guest RAM as one live view (for snapshots: captureRam, applyRam). */
  ramBytes(): Uint8Array {
    return this.u8.subarray(RAM_OFFSET, RAM_OFFSET + this.ram.size);
  }

  // --- dirty-page log (live migration) --------------------------------------------------------------

  /** Starts logging which RAM pages are written (by the hart, page-table updates and device DMA). */
  startDirtyLog(): void {
    this.hart.dirtyLog = new Uint8Array(Math.ceil(this.ram.size / 4096 / 8));
    this.armDirtyLog(null);
  }

  /**
   * The pages written since the log started or was last taken (a bitmap, one bit per page); re-arms them,
   * unless `rearm` is false (the guest is paused for good: its last pages, without the walk over pageFlags).
   */
  takeDirty(rearm = true): Uint8Array {
    const taken = this.hart.dirtyLog;
    if (taken === null) throw new Error('takeDirty: the dirty log is not started');
    this.hart.dirtyLog = new Uint8Array(taken.length);
    if (rearm) this.armDirtyLog(taken);
    return taken;
  }

  /** Stops logging: every page's stores may take the fast path again. */
  stopDirtyLog(): void {
    this.hart.dirtyLog = null;
    const flags = this.ram.pageFlags;
    for (let p = 0; p < flags.length; p++) flags[p] &= ~4;
  }

  /** Sets pageFlags bit 2 on the pages of `bitmap` (all when null) and drops the TLB's store entries. */
  private armDirtyLog(bitmap: Uint8Array | null): void {
    const flags = this.ram.pageFlags;
    if (bitmap === null) {
      for (let p = 0; p < flags.length; p++) flags[p] |= 4;
    } else {
      // By bytes of the bitmap: this runs cold a few times per migration, mostly over empty bytes.
      for (let b = 0; b < bitmap.length; b++) {
        const v = bitmap[b];
        if (v !== 0) for (let k = 0; k < 8; k++) if (v & (1 << k)) flags[b * 8 + k] |= 4;
      }
    }
    this.hart.mmu.tagW.fill(1);
  }

  /**
   * Restores every part from `s` over RAM as it already is (a live migration filled it): the
   * configuration is checked first; a failure is a one-line BonsaiError.
   */
  restoreInPlace(s: State): void {
    this.requirePaused('restore');
    const top = record(s, 'migration state');
    const parts = record(top.parts, 'migration state parts');
    this.compareConfig(top.config);
    for (const name of PART_NAMES) if (!(name in parts)) throw new BonsaiError(`migration: no state for ${name}`);
    this.restoreParts(parts);
  }

  /** What a snapshot of this machine can be restored onto. */
  config(): MachineConfig {
    return {
      memoryBytes: this.ram.size,
      virtio: this.slots.map((slot, i) => {
        if (slot === null) return null;
        const dev = slot.device;
        const entry: { kind: string; identity: string | null; sectors?: number } = { kind: dev.name, identity: this.identities[i] };
        if (dev instanceof VirtioBlk) entry.sectors = dev.capacity;
        return entry;
      }),
    };
  }

  /**
   * Waits, paused, until no device has host I/O in flight for the guest (disk reads and writes, 9P
   * requests), so that what is saved next is complete: a 9P request cannot be replayed, and a disk
   * request finished now is not replayed at all.
   */
  async quiesce(): Promise<void> {
    this.requirePaused('quiesce');
    await Promise.all(this.slots.map((slot) => slot?.device.idle?.()));
  }

  /**
   * Every part's state (RAM aside: ramBytes()). Only a machine that is paused, or not running, can be
   * saved; call quiesce() first, or requests in flight are carried as the devices can (blk replays them).
   */
  save(): MachineState {
    this.requirePaused('save');
    return { config: this.config(), parts: this.saveParts() };
  }

  /**
   * Takes every part's state and drops it, the machine running or not: a migration does this before the
   * pause, so that the save() in it runs code V8 has compiled (cold, it took ~5 ms there; warm, under 1).
   * Safe at any time: every part's save() only reads.
   */
  warmSave(): void {
    JSON.stringify(this.saveParts());
  }

  private saveParts(): { [name: string]: State } {
    const parts: { [name: string]: State } = {
      hart: this.hart.save(), clock: this.clock.save(), clint: this.clint.save(), plic: this.plic.save(),
      uart: this.uart.save(), rtc: this.rtc.save(), syscon: this.syscon.save(),
    };
    this.slots.forEach((slot, i) => { parts[VIRTIO_SLOT_NAMES[i]] = slot === null ? null : slot.save(); });
    parts.firmware = { builtinSbi: this.builtinSbi };
    parts.htif = this.htif === null ? null : { tohost: this.htif.tohost, fromhost: this.htif.fromhost };
    return parts;
  }

  /**
   * Makes this machine the one saved in `s` with RAM `ram`: the configuration is compared first, then
   * RAM and every part are restored, RAM first (devices pick up the buffers they held from the rings).
   * Bad or mismatched state is a one-line BonsaiError and the machine is left as it was. Guest time
   * goes on from the saved instant. The machine must be paused or not running; build it with the same
   * options (devices, memory, identities) as the saved one, without booting it.
   */
  restore(s: State, ram: RamImage): void {
    this.requirePaused('restore');
    const parts = this.checkRestore(s, ram);
    const priorParts = this.saveParts();
    const priorRam = captureRam(this.ramBytes());
    try {
      applyRam(this.ramBytes(), ram);
      this.restoreParts(parts);
    } catch (e) {
      applyRam(this.ramBytes(), priorRam);
      this.restoreParts(priorParts);
      const msg = e instanceof Error ? e.message : String(e);
      throw new BonsaiError(msg.startsWith('snapshot: ') ? msg : `snapshot: ${msg}`);
    }
  }

  /**
   * Whether `s` and `ram` could be restored onto this machine (the configuration, RAM's size, every part
   * present), without touching anything: what a caller checks before it changes anything else (disks).
   * Returns the parts; a mismatch is a one-line BonsaiError.
   */
  checkRestore(s: State, ram: RamImage): { [name: string]: State } {
    const top = record(s, 'snapshot');
    const parts = record(top.parts, 'snapshot parts');
    this.compareConfig(top.config);
    checkRamImage(ram, this.ram.size);
    for (const name of PART_NAMES) if (!(name in parts)) throw new BonsaiError(`snapshot: no state for ${name}`);
    return parts;
  }

  /** In this order: the clock after the hart (a clock driven by instructions counts the hart's), devices last. */
  private restoreParts(parts: { [name: string]: State }): void {
    this.hart.restore(parts.hart);
    this.clock.restore(parts.clock);
    this.clint.restore(parts.clint);
    this.uart.restore(parts.uart);
    this.rtc.restore(parts.rtc);
    this.syscon.restore(parts.syscon);
    this.slots.forEach((slot, i) => {
      const v = parts[VIRTIO_SLOT_NAMES[i]];
      if (slot === null) { if (v !== null) badState(VIRTIO_SLOT_NAMES[i], 'the slot is empty here'); }
      else slot.restore(v);
    });
    // After the devices, which re-drive their lines (each raise a request): the saved requests are the PLIC's.
    this.plic.restore(parts.plic);
    const fw = record(parts.firmware, 'firmware');
    const sbi = bool(fw, 'builtinSbi', 'firmware');
    if (sbi) this.useBuiltinSbi();
    else { this.hart.sbi = null; this.builtinSbi = false; }
    const h = parts.htif;
    if (h === null) this.detachHtif();
    else {
      const o = record(h, 'htif');
      const limit = RAM_BASE + this.ram.size - 8;
      const tohost = uint(o, 'tohost', limit, 'htif'), fromhost = uint(o, 'fromhost', limit, 'htif');
      if (tohost < RAM_BASE || fromhost < RAM_BASE) badState('htif', 'tohost or fromhost outside RAM');
      this.attachHtif(tohost, fromhost);
    }
  }

  /** One line naming the first difference between a snapshot's configuration and this machine's. */
  private compareConfig(c: State | undefined): void {
    const mine = this.config();
    const o = record(c, 'snapshot configuration');
    const mem = o.memoryBytes;
    if (mem !== mine.memoryBytes) {
      throw new BonsaiError(`snapshot: the machine had ${typeof mem === 'number' ? `${mem / 1048576} MiB` : 'an unknown amount of'} memory, this one has ${mine.memoryBytes / 1048576} MiB`);
    }
    const slots = o.virtio;
    if (!Array.isArray(slots) || slots.length !== mine.virtio.length) throw new BonsaiError('snapshot: bad virtio slot list');
    const describe = (e: State | undefined): string => {
      if (e === null || typeof e !== 'object' || Array.isArray(e) || e === undefined) return 'nothing';
      return String(e.kind);
    };
    mine.virtio.forEach((m, i) => {
      const theirs = slots[i];
      const where = `virtio slot ${i}`;
      if (m === null || theirs === null || typeof theirs !== 'object' || Array.isArray(theirs)) {
        if (m === null && theirs === null) return;
        throw new BonsaiError(`snapshot: ${where} held ${describe(theirs)}, this machine's holds ${m === null ? 'nothing' : m.kind}`);
      }
      if (theirs.kind !== m.kind) throw new BonsaiError(`snapshot: ${where} held ${describe(theirs)}, this machine's holds ${m.kind}`);
      const id = theirs.identity ?? null;
      if (id !== m.identity) {
        throw new BonsaiError(`snapshot: ${where} (${m.kind}) was ${JSON.stringify(id)}, this machine's is ${JSON.stringify(m.identity)}`);
      }
      if ((theirs.sectors ?? undefined) !== m.sectors) {
        throw new BonsaiError(`snapshot: ${where} (${m.kind}) had ${String(theirs.sectors)} sectors, this machine's has ${String(m.sectors)}`);
      }
    });
  }

  private requirePaused(what: string): void {
    if (this.running && this.pauseGate === null && this.exit === null) {
      throw new BonsaiError(`machine: pause it before ${what === 'save' ? 'saving' : what === 'restore' ? 'restoring' : 'quiescing'} it`);
    }
  }

  /**
   * With guest time driven by instructions, a slice ends exactly where the next timer deadline falls, so
   * the timer lines rise at the same instruction whatever the slicing was (a restored machine's slices
   * start at the instant it was saved, not where the original's did).
   */
  private instructionsToDeadline(): number {
    const due = Math.min(this.clint.deadline(0), this.hart.stimecmpDeadline());
    const now = this.clock.now();
    if (due === Infinity || due <= now || this.clock.paused) return SLICE;
    const instret = this.hart.instret;
    // now = floor(instret / INSTRUCTIONS_PER_TICK) - offset, so time reaches `due` at this instret:
    const at = (due - now + Math.floor(instret / INSTRUCTIONS_PER_TICK)) * INSTRUCTIONS_PER_TICK;
    return Math.max(1, Math.min(SLICE, at - instret));
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
