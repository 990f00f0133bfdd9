/**
 * 16550A UART as on QEMU's virt board (National Semiconductor PC16550D datasheet): 8-bit registers at
 * reg-shift 0, 3.6864 MHz input clock. Transmission is instantaneous, so the transmitter is always empty;
 * the divisor is kept for the guest but paces nothing. Host input that does not fit the receiver waits in
 * a host-side queue and moves in as the guest reads: nothing the host sends is dropped.
 */
import type { IrqLine, MmioDevice } from './mmio.js';
import type { State, Stateful } from './stateful.js';

export const UART_CLOCK_HZ = 3686400;

// Register offsets (reg-shift 0); with LCR.DLAB set, offsets 0 and 1 are the divisor latch DLL/DLM.
const RBR_THR = 0;
const IER = 1;
const IIR_FCR = 2;
const LCR = 3;
const MCR = 4;
const LSR = 5;
const MSR = 6;
const SCR = 7;

const FIFO_SIZE = 16;
/** Receiver trigger levels selected by FCR[7:6] (PC16550D Table III). */
const RX_TRIGGER = [1, 4, 8, 14] as const;

const IER_ERBFI = 0x01; // received data available
const IER_ETBEI = 0x02; // transmitter holding register empty
const IER_ELSI = 0x04; // receiver line status
const IER_EDSSI = 0x08; // modem status

// IIR values (PC16550D Table IV), bit 0 clear = interrupt pending; bits 7:6 set while FIFOs are enabled.
const IIR_NONE = 0x01;
const IIR_RLS = 0x06;
const IIR_RDA = 0x04;
const IIR_CTI = 0x0c;
const IIR_THRE = 0x02;
const IIR_MS = 0x00;
const IIR_FIFOS = 0xc0;

const FCR_ENABLE = 0x01;
const FCR_CLEAR_RX = 0x02;

const LCR_DLAB = 0x80;

const MCR_DTR = 0x01;
const MCR_RTS = 0x02;
const MCR_OUT1 = 0x04;
const MCR_OUT2 = 0x08;
const MCR_LOOP = 0x10;

const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;

const MSR_DCTS = 0x01;
const MSR_DDSR = 0x02;
const MSR_TERI = 0x04;
const MSR_DDCD = 0x08;
const MSR_CTS = 0x10;
const MSR_DSR = 0x20;
const MSR_RI = 0x40;
const MSR_DCD = 0x80;
/** Outside loopback the host end holds CTS, DSR and DCD asserted (a connected terminal), RI never. */
const MSR_HOST_LINES = MSR_CTS | MSR_DSR | MSR_DCD;

export class Uart16550 implements MmioDevice, Stateful {
  private readonly rx = new Uint8Array(FIFO_SIZE);
  private rxHead = 0;
  private rxCount = 0;
  /** Host input not yet in the receiver: chunks, the first consumed from `queuePos`. */
  private queue: Uint8Array[] = [];
  private queuePos = 0;

  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private scr = 0;
  private dll = 0;
  private dlm = 0;
  private fifoEnabled = false;
  private rxTrigger = 0; // index into RX_TRIGGER
  private overrun = false;
  private msrDelta = 0;
  private thrIpending = false;

  constructor(private readonly irq: IrqLine, private readonly output: (bytes: Uint8Array) => void) {}

  /** Host input: appended to what the guest has not read yet. */
  receive(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.queue.push(bytes.slice());
    this.refill();
    this.update();
  }

  /** Bytes of host input waiting for room in the receiver (for backpressure). */
  get queued(): number {
    let n = 0;
    for (const c of this.queue) n += c.length;
    return n - this.queuePos;
  }

  read(offset: number, _size: number): number {
    // Each register is one byte; a wider access reaches only the register at its address (as QEMU).
    switch (offset) {
      case RBR_THR: return this.lcr & LCR_DLAB ? this.dll : this.readRbr();
      case IER: return this.lcr & LCR_DLAB ? this.dlm : this.ier;
      case IIR_FCR: return this.readIir();
      case LCR: return this.lcr;
      case MCR: return this.mcr;
      case LSR: return this.readLsr();
      case MSR: return this.readMsr();
      case SCR: return this.scr;
      default: return 0;
    }
  }

  write(offset: number, _size: number, value: number): void {
    const v = value & 0xff;
    switch (offset) {
      case RBR_THR: if (this.lcr & LCR_DLAB) this.dll = v; else this.transmit(v); break;
      case IER: if (this.lcr & LCR_DLAB) this.dlm = v; else this.writeIer(v); break;
      case IIR_FCR: this.writeFcr(v); break;
      case LCR: this.lcr = v; break;
      case MCR: this.writeMcr(v); break;
      case SCR: this.scr = v; break;
      default: break; // LSR and MSR are read-only
    }
  }

  private readRbr(): number {
    if (this.rxCount === 0) return 0;
    const b = this.rx[this.rxHead];
    this.rxHead = (this.rxHead + 1) % FIFO_SIZE;
    this.rxCount--;
    this.refill();
    this.update();
    return b;
  }

  private readIir(): number {
    const id = this.interruptId();
    // Reading IIR clears a THRE interrupt only when THRE is the source it reports (Table IV).
    if (id === IIR_THRE) {
      this.thrIpending = false;
      this.update();
    }
    return id | (this.fifoEnabled ? IIR_FIFOS : 0);
  }

  // The line is driven again (a raise is a new request to the PLIC) where QEMU's 16550 drives it: not on a
  // read of LSR or MSR that changed nothing, which xv6 makes in its interrupt handler, nor on a write of
  // IER that changed nothing.

  private readLsr(): number {
    const v = (this.rxCount > 0 ? LSR_DR : 0) | (this.overrun ? LSR_OE : 0) | LSR_THRE | LSR_TEMT;
    if (this.overrun) {
      this.overrun = false; // error bits clear on read, ending a receiver line status interrupt
      this.update();
    }
    return v;
  }

  private readMsr(): number {
    const v = this.modemLines() | this.msrDelta;
    if (this.msrDelta !== 0) {
      this.msrDelta = 0;
      this.update();
    }
    return v;
  }

  private transmit(b: number): void {
    if (this.mcr & MCR_LOOP) this.loopback(b);
    else this.output(Uint8Array.of(b));
    // Writing THR clears a THRE interrupt, but the byte leaves at once and THR is empty again, which
    // raises it again: the net effect is that the interrupt stays pending, so a driver that fills the
    // FIFO from its THRE handler is called back for the rest.
    this.thrIpending = true;
    this.update();
  }

  private writeIer(v: number): void {
    const changed = (v & 0x0f) !== this.ier;
    const enabling = (v & IER_ETBEI) !== 0 && (this.ier & IER_ETBEI) === 0;
    this.ier = v & 0x0f;
    // The 16550A raises THRE as soon as ETBEI is set with THR empty; Linux's 8250 startup tests for it.
    if (enabling) this.thrIpending = true;
    if (changed) this.update();
  }

  private writeFcr(v: number): void {
    const enable = (v & FCR_ENABLE) !== 0;
    // Changing FCR0 clears both FIFOs; with FCR0 clear the other bits are not programmed (Section 8.6).
    if (enable !== this.fifoEnabled) {
      this.fifoEnabled = enable;
      this.clearRx();
    }
    if (enable) {
      if (v & FCR_CLEAR_RX) this.clearRx();
      this.rxTrigger = v >> 6;
    }
    this.refill();
    this.update();
  }

  private writeMcr(v: number): void {
    const before = this.modemLines();
    this.mcr = v & 0x1f;
    const after = this.modemLines();
    const changed = before ^ after;
    if (changed & MSR_CTS) this.msrDelta |= MSR_DCTS;
    if (changed & MSR_DSR) this.msrDelta |= MSR_DDSR;
    if (changed & MSR_DCD) this.msrDelta |= MSR_DDCD;
    if ((before & MSR_RI) && !(after & MSR_RI)) this.msrDelta |= MSR_TERI; // trailing edge only
    const rx = this.rxCount;
    this.refill(); // leaving loopback reconnects the host's input
    if (changed !== 0 || this.rxCount !== rx) this.update();
  }

  /** CTS, DSR, RI, DCD: in loopback wired from RTS, DTR, OUT1, OUT2 (Section 8.5, MCR bit 4). */
  private modemLines(): number {
    const m = this.mcr;
    if (!(m & MCR_LOOP)) return MSR_HOST_LINES;
    return (m & MCR_RTS ? MSR_CTS : 0) | (m & MCR_DTR ? MSR_DSR : 0) |
      (m & MCR_OUT1 ? MSR_RI : 0) | (m & MCR_OUT2 ? MSR_DCD : 0);
  }

  private get rxCapacity(): number {
    return this.fifoEnabled ? FIFO_SIZE : 1;
  }

  private clearRx(): void {
    this.rxHead = 0;
    this.rxCount = 0;
  }

  private push(b: number): void {
    this.rx[(this.rxHead + this.rxCount) % FIFO_SIZE] = b;
    this.rxCount++;
  }

  /**
   * A byte looped back from the transmitter. A full receiver overruns (LSR.OE): in FIFO mode the FIFO
   * keeps its contents and the new byte is lost; in 16450 mode it overwrites RBR (LSR bit 1).
   */
  private loopback(b: number): void {
    if (this.rxCount < this.rxCapacity) this.push(b);
    else {
      this.overrun = true;
      if (!this.fifoEnabled) this.rx[this.rxHead] = b;
    }
  }

  /** Moves queued host input into the receiver while there is room; in loopback the input is disconnected. */
  private refill(): void {
    if (this.mcr & MCR_LOOP) return;
    const cap = this.rxCapacity;
    while (this.rxCount < cap && this.queue.length > 0) {
      const chunk = this.queue[0];
      this.push(chunk[this.queuePos++]);
      if (this.queuePos === chunk.length) {
        this.queue.shift();
        this.queuePos = 0;
      }
    }
  }

  /** The highest-priority pending interrupt (PC16550D Table IV). */
  private interruptId(): number {
    const ier = this.ier;
    if ((ier & IER_ELSI) && this.overrun) return IIR_RLS;
    if ((ier & IER_ERBFI) && this.rxCount > 0) {
      if (!this.fifoEnabled || this.rxCount >= RX_TRIGGER[this.rxTrigger]) return IIR_RDA;
      // Real hardware waits four character times before a timeout; here data below the trigger level is
      // reported at once, so a driver hears of every byte without a timer.
      return IIR_CTI;
    }
    if ((ier & IER_ETBEI) && this.thrIpending) return IIR_THRE;
    if ((ier & IER_EDSSI) && this.msrDelta !== 0) return IIR_MS;
    return IIR_NONE;
  }

  private update(): void {
    this.irq.set(this.interruptId() !== IIR_NONE);
  }

  save(): State {
    const rx: number[] = [];
    for (let i = 0; i < this.rxCount; i++) rx.push(this.rx[(this.rxHead + i) % FIFO_SIZE]);
    const queued: number[] = [];
    this.queue.forEach((c, i) => { for (let j = i === 0 ? this.queuePos : 0; j < c.length; j++) queued.push(c[j]); });
    return {
      ier: this.ier, lcr: this.lcr, mcr: this.mcr, scr: this.scr, dll: this.dll, dlm: this.dlm,
      fcr: this.fifoEnabled ? FCR_ENABLE | (this.rxTrigger << 6) : 0,
      overrun: this.overrun, msrDelta: this.msrDelta, thrIpending: this.thrIpending, rx, queued,
    };
  }

  restore(s: State): void {
    const o = record(s);
    const fcr = byte(o, 'fcr', 0xff);
    if ((fcr & 0x3e) !== 0 || (fcr !== 0 && (fcr & FCR_ENABLE) === 0)) throw new Error('uart16550 state: bad fcr');
    const rx = bytes(o, 'rx');
    if (rx.length > (fcr & FCR_ENABLE ? FIFO_SIZE : 1)) throw new Error('uart16550 state: rx exceeds the receiver');
    const queued = bytes(o, 'queued');
    const ier = byte(o, 'ier', 0x0f), lcr = byte(o, 'lcr', 0xff), mcr = byte(o, 'mcr', 0x1f);
    const scr = byte(o, 'scr', 0xff), dll = byte(o, 'dll', 0xff), dlm = byte(o, 'dlm', 0xff);
    const msrDelta = byte(o, 'msrDelta', 0x0f), overrun = bool(o, 'overrun'), thrIpending = bool(o, 'thrIpending');
    // Validated: now take it all.
    this.ier = ier; this.lcr = lcr; this.mcr = mcr; this.scr = scr; this.dll = dll; this.dlm = dlm;
    this.fifoEnabled = (fcr & FCR_ENABLE) !== 0;
    this.rxTrigger = fcr >> 6;
    this.msrDelta = msrDelta; this.overrun = overrun; this.thrIpending = thrIpending;
    this.clearRx();
    for (const b of rx) this.push(b);
    this.queue = queued.length > 0 ? [Uint8Array.from(queued)] : [];
    this.queuePos = 0;
    this.refill();
    this.update();
  }
}

function record(s: State): { [key: string]: State } {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new Error('uart16550 state: not an object');
  return s;
}

function byte(o: { [key: string]: State }, key: string, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new Error(`uart16550 state: bad ${key}`);
  return v;
}

function bool(o: { [key: string]: State }, key: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') throw new Error(`uart16550 state: bad ${key}`);
  return v;
}

function bytes(o: { [key: string]: State }, key: string): number[] {
  const v = o[key];
  if (!Array.isArray(v)) throw new Error(`uart16550 state: bad ${key}`);
  return v.map((b) => {
    if (typeof b !== 'number' || !Number.isInteger(b) || b < 0 || b > 0xff) throw new Error(`uart16550 state: bad ${key}`);
    return b;
  });
}
