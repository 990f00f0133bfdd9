import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IrqLine } from '../../src/devices/mmio.js';
import { Uart16550 } from '../../src/devices/uart16550.js';

const RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;

interface Rig { uart: Uart16550; irq: IrqLine; out: number[] }

function rig(): Rig {
  const out: number[] = [];
  const irq = new IrqLine(() => {});
  const uart = new Uart16550(irq, (bytes) => out.push(...bytes));
  return { uart, irq, out };
}

const w = (u: Uart16550, reg: number, v: number): void => u.write(reg, 1, v);
const r = (u: Uart16550, reg: number): number => u.read(reg, 1);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** What Linux's 8250 driver does for a 16550A at 115200 8N1: divisor, FIFOs (trigger 8), DTR|RTS|OUT2. */
function linuxInit(u: Uart16550): void {
  w(u, IER, 0);
  w(u, LCR, 0x80);
  w(u, DLL, 2);
  w(u, DLM, 0);
  w(u, LCR, 0x03);
  w(u, FCR, 0x01);
  w(u, FCR, 0x07);
  w(u, FCR, 0x00);
  w(u, FCR, 0x81);
  w(u, MCR, 0x0b);
}

/** Reads every byte the receiver offers, as a polling driver does. */
function drain(u: Uart16550): number[] {
  const got: number[] = [];
  while (r(u, LSR) & 0x01) got.push(r(u, RBR));
  return got;
}

test('a Linux-like init sequence programs the divisor, line control and FIFOs', () => {
  const { uart, irq } = rig();
  linuxInit(uart);
  w(uart, LCR, 0x83);
  assert.equal(r(uart, DLL), 2);
  assert.equal(r(uart, DLM), 0);
  w(uart, LCR, 0x03);
  assert.equal(r(uart, LCR), 0x03);
  assert.equal(r(uart, MCR), 0x0b);
  assert.equal(r(uart, LSR), 0x60, 'transmitter empty, no data');
  assert.equal(r(uart, IIR), 0xc1, 'FIFOs enabled, no interrupt');
  assert.equal(r(uart, MSR) & 0xf0, 0xb0, 'CTS, DSR and DCD asserted');
  w(uart, SCR, 0x5a);
  assert.equal(r(uart, SCR), 0x5a);
  assert.equal(irq.level, false);
});

test('enabling the THRE interrupt with THR empty raises it at once, again after re-enabling (Linux THRE test)', () => {
  const { uart, irq } = rig();
  linuxInit(uart);
  w(uart, IER, 0x02);
  assert.equal(irq.level, true);
  assert.equal(r(uart, IIR), 0xc2);
  assert.equal(irq.level, false, 'reading IIR cleared THRE as the reported source');
  assert.equal(r(uart, IIR), 0xc1);
  w(uart, IER, 0);
  w(uart, IER, 0x02);
  assert.equal(r(uart, IIR), 0xc2);
  w(uart, IER, 0);
  assert.equal(irq.level, false);
});

test('polled output goes to the host byte by byte as soon as THR is written', () => {
  const { uart, out } = rig();
  linuxInit(uart);
  for (const b of bytes('hello\n')) {
    while (!(r(uart, LSR) & 0x20)) { /* wait for THRE */ }
    w(uart, THR, b);
    assert.equal(out[out.length - 1], b);
  }
  assert.equal(new TextDecoder().decode(Uint8Array.from(out)), 'hello\n');
  assert.equal(r(uart, LSR) & 0x60, 0x60);
});

test('received data below the trigger level reports a character timeout, at the level data available', () => {
  const { uart, irq } = rig();
  linuxInit(uart);
  w(uart, IER, 0x01);
  assert.equal(irq.level, false);
  uart.receive(bytes('abc'));
  assert.equal(irq.level, true);
  assert.equal(r(uart, IIR), 0xcc);
  uart.receive(bytes('defgh'));
  assert.equal(r(uart, IIR), 0xc4, '8 bytes reach the trigger level');
  assert.equal(r(uart, RBR), 'a'.charCodeAt(0));
  assert.equal(r(uart, IIR), 0xcc, '7 bytes: below the trigger again');
  assert.deepEqual(drain(uart), [...bytes('bcdefgh')]);
  assert.equal(irq.level, false);
  assert.equal(r(uart, IIR), 0xc1);
  assert.equal(r(uart, RBR), 0, 'an empty receiver reads 0');
});

test('every single byte interrupts, so Linux hears of each keystroke', () => {
  const { uart, irq } = rig();
  linuxInit(uart);
  w(uart, IER, 0x05);
  for (const b of bytes('xyz')) {
    uart.receive(Uint8Array.of(b));
    assert.equal(irq.level, true);
    assert.equal(r(uart, IIR), 0xcc);
    assert.deepEqual(drain(uart), [b]);
    assert.equal(irq.level, false);
  }
});

test('input beyond the 16-byte FIFO waits host-side and moves in as the guest reads: nothing is dropped', () => {
  const { uart } = rig();
  linuxInit(uart);
  const text = 'The quick brown fox jumps over the lazy dog';
  uart.receive(bytes(text.slice(0, 10)));
  uart.receive(bytes(text.slice(10)));
  assert.equal(uart.queued, text.length - 16);
  assert.equal(r(uart, LSR) & 0x02, 0, 'no overrun');
  assert.equal(new TextDecoder().decode(Uint8Array.from(drain(uart))), text);
  assert.equal(uart.queued, 0);
});

test('without FIFOs the receiver holds one byte and IIR shows no FIFO bits', () => {
  const { uart, irq } = rig();
  w(uart, IER, 0x01);
  uart.receive(bytes('hi'));
  assert.equal(uart.queued, 1);
  assert.equal(r(uart, IIR), 0x04);
  assert.equal(r(uart, RBR), 'h'.charCodeAt(0));
  assert.equal(r(uart, IIR), 0x04);
  assert.equal(r(uart, RBR), 'i'.charCodeAt(0));
  assert.equal(irq.level, false);
  assert.equal(r(uart, IIR), 0x01);
});

test('clearing the receive FIFO discards its bytes but not the host-side queue', () => {
  const { uart } = rig();
  linuxInit(uart);
  uart.receive(new Uint8Array(20).map((_, i) => i));
  w(uart, FCR, 0x83);
  assert.deepEqual(drain(uart), [16, 17, 18, 19]);
});

test('THRE is cleared by reading IIR only when it is the reported source; writing THR keeps it pending', () => {
  const { uart, irq, out } = rig();
  linuxInit(uart);
  w(uart, IER, 0x03);
  uart.receive(bytes('k'));
  assert.equal(r(uart, IIR), 0xcc, 'received data outranks THRE');
  assert.equal(r(uart, IIR), 0xcc, 'and reading IIR did not clear THRE behind it');
  r(uart, RBR);
  assert.equal(r(uart, IIR), 0xc2);
  assert.equal(irq.level, false);
  w(uart, THR, 0x41);
  assert.deepEqual(out, [0x41]);
  assert.equal(irq.level, true, 'the byte left at once, so THR is empty again');
  assert.equal(r(uart, IIR), 0xc2);
  w(uart, IER, 0x01);
  w(uart, THR, 0x42);
  assert.equal(irq.level, false, 'no THRE interrupt with ETBEI clear');
});

test('loopback wires the transmitter to the receiver and MCR to MSR, holding host input back', () => {
  const { uart, out } = rig();
  linuxInit(uart);
  w(uart, MCR, 0x10 | 0x0a);
  assert.equal(r(uart, MSR) & 0xf0, 0x90, 'RTS->CTS, OUT2->DCD (the check in Linux autoconfig)');
  w(uart, MCR, 0x10 | 0x05);
  assert.equal(r(uart, MSR), 0x60 | 0x0b, 'DTR->DSR, OUT1->RI, with CTS/DSR/DCD deltas');
  w(uart, MCR, 0x10);
  assert.equal(r(uart, MSR), 0x04 | 0x02, 'RI fell (TERI) and DSR changed');
  uart.receive(bytes('host'));
  w(uart, THR, 0x55);
  assert.deepEqual(out, [], 'looped bytes do not reach the host');
  assert.deepEqual(drain(uart), [0x55], 'host input is disconnected in loopback');
  w(uart, MCR, 0x0b);
  assert.deepEqual(drain(uart), [...bytes('host')]);
});

test('loopback into a full FIFO overruns: LSR.OE and a receiver line status interrupt until LSR is read', () => {
  const { uart, irq } = rig();
  linuxInit(uart);
  w(uart, MCR, 0x1b);
  w(uart, IER, 0x05);
  for (let i = 0; i < 17; i++) w(uart, THR, i);
  assert.equal(r(uart, IIR), 0xc6);
  assert.equal(r(uart, LSR), 0x63);
  assert.equal(r(uart, IIR), 0xc4, 'OE cleared by the LSR read');
  assert.deepEqual(drain(uart), Array.from({ length: 16 }, (_, i) => i));
  assert.equal(irq.level, false);
});

test('modem status changes interrupt with EDSSI until MSR is read', () => {
  const { uart, irq } = rig();
  w(uart, IER, 0x08);
  assert.equal(irq.level, false);
  w(uart, MCR, 0x10);
  assert.equal(irq.level, true);
  assert.equal(r(uart, IIR), 0x00);
  assert.equal(r(uart, MSR), 0x0b);
  assert.equal(irq.level, false);
});

test('with DLAB set, offsets 0 and 1 reach the divisor, not THR/RBR/IER', () => {
  const { uart, out } = rig();
  w(uart, IER, 0x0f);
  uart.receive(bytes('q'));
  w(uart, LCR, 0x80);
  w(uart, DLL, 0x0c);
  w(uart, DLM, 0x01);
  assert.deepEqual(out, []);
  assert.equal(r(uart, DLL), 0x0c);
  assert.equal(r(uart, DLM), 0x01);
  w(uart, LCR, 0x03);
  assert.equal(r(uart, IER), 0x0f);
  assert.equal(r(uart, RBR), 'q'.charCodeAt(0), 'the divisor reads did not consume the byte');
});

test('holes read 0, read-only registers ignore writes, and wide accesses reach the byte register', () => {
  const { uart } = rig();
  linuxInit(uart);
  for (const off of [8, 0x10, 0xff]) {
    uart.write(off, 4, 0xffffffff);
    assert.equal(uart.read(off, 4), 0);
  }
  w(uart, LSR, 0xff);
  w(uart, MSR, 0xff);
  assert.equal(r(uart, LSR), 0x60);
  uart.receive(bytes('Z'));
  assert.equal(uart.read(RBR, 4), 'Z'.charCodeAt(0));
  uart.write(SCR, 4, 0x12345678);
  assert.equal(r(uart, SCR), 0x78);
});

test('state saved mid-receive with bytes queued restores to a UART that continues identically', () => {
  const a = rig();
  linuxInit(a.uart);
  w(a.uart, IER, 0x07);
  w(a.uart, SCR, 0x33);
  a.uart.receive(new Uint8Array(40).map((_, i) => 0x30 + i));
  for (let i = 0; i < 5; i++) r(a.uart, RBR);
  const saved = JSON.parse(JSON.stringify(a.uart.save()));
  const b = rig();
  b.uart.restore(saved);
  assert.equal(b.irq.level, a.irq.level);
  assert.equal(b.uart.queued, a.uart.queued);
  const trace = (x: Rig): number[] => {
    const t: number[] = [];
    for (let i = 0; i < 40; i++) {
      t.push(r(x.uart, IIR), r(x.uart, LSR), r(x.uart, RBR), x.irq.level ? 1 : 0);
      if (i === 20) { x.uart.receive(bytes('more')); w(x.uart, THR, 0x21); }
    }
    t.push(r(x.uart, SCR), ...x.out);
    return t;
  };
  assert.deepEqual(trace(b), trace(a));
  assert.deepEqual(b.uart.save(), a.uart.save());
});

test('restore rejects nonsense with an Error and keeps the state it had', () => {
  const { uart } = rig();
  linuxInit(uart);
  const before = uart.save();
  const good = uart.save() as Record<string, unknown>;
  for (const bad of [null, 3, [], { ...good, ier: 0x10 }, { ...good, rx: [1, 2, 300] }, { ...good, fcr: 0x40 },
    { ...good, rx: new Array(17).fill(0) }, { ...good, queued: 'abc' }, { ...good, overrun: 1 }]) {
    assert.throws(() => uart.restore(JSON.parse(JSON.stringify(bad))), Error);
  }
  assert.deepEqual(uart.save(), before);
});
