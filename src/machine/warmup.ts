/**
 * Warm-up: a short program that takes every path of the interpreter's loop once, run on a scratch machine
 * before the first guest instruction, so V8 has type feedback for all of them when it optimises the loop.
 *
 * Why (docs/performance.md, "Warm-up"): TurboFan compiles a path that never ran into a deoptimisation
 * ("insufficient type feedback"), so a cold boot, whose firmware, kernel and user space reach new paths one
 * after another, had `Hart.execute` optimised 20-27 times (2-3 s of TurboFan on the worker threads) and
 * spent much of its time in unoptimised code between the compiles. The scratch machine is a real Machine
 * (the same classes, so the feedback is the guest's own shapes) with its own Memory; nothing of it reaches
 * the machines built after it.
 */
import type { Machine } from './machine.js';
import { VIRT } from './layout.js';
import { bType, iType, jType, rType, sType } from './riscv/decode.js';
import { RAM_OFFSET } from './riscv/layout.js';

// --- a small assembler: the 32-bit formats (decode.ts) and a few RVC forms -----------------------------------

const R = rType, I = iType, S = sType, B = bType, J = jType;
const U = (imm20: number, rd: number, opc: number): number => (((imm20 & 0xfffff) << 12) | (rd << 7) | opc) >>> 0;
const CSR = (f3: number, csr: number, rs1: number, rd: number): number => I(csr, rs1, f3, rd, 0x73);

/** Registers by ABI role in the program. */
const ZERO = 0, RA = 1, SP = 2, GP = 3, TP = 4, T0 = 5, S0 = 8, S1 = 9, A0 = 10, A6 = 16, A7 = 17, T6 = 31;
/** Registers the program fills with pseudo-random values and computes with. */
const WORK = [6, 7, 11, 12, 13, 14, 15, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30];

/** Halfwords at byte offsets from RAM_BASE, with labels patched once the program is laid out. */
class Asm {
  readonly mem = new Map<number, number>();
  at = 0;
  readonly labels = new Map<string, number>();
  private readonly fixups: { at: number; from: number; label: string; make: (delta: number) => number }[] = [];

  org(at: number): this { this.at = at; return this; }
  label(name: string): this { this.labels.set(name, this.at); return this; }
  private half(h: number): void {
    if (this.mem.has(this.at)) throw new Error(`warm-up: code overlaps at ${this.at.toString(16)}`);
    this.mem.set(this.at, h & 0xffff);
    this.at += 2;
  }
  w(word: number): this { this.half(word & 0xffff); this.half(word >>> 16); return this; }
  c(half: number): this { this.half(half); return this; }
  /** An instruction with a field relative to `from` (default: itself) that names `label`. */
  rel(label: string, make: (delta: number) => number, from = this.at): this {
    this.fixups.push({ at: this.at, from, label, make });
    return this.w(0);
  }
  /** rd = the address of `label` (auipc + addi). */
  la(rd: number, label: string): this {
    const from = this.at;
    this.rel(label, (d) => U((d + 0x800) >> 12, rd, 0x17));
    return this.rel(label, (d) => I(d, rd, 0, rd, 0x13), from);
  }
  /** rd = a 32-bit constant, sign-extended (lui + addiw). */
  li(rd: number, v: number): this {
    const lo = (v << 20) >> 20;
    this.w(U(((v - lo) >>> 12) & 0xfffff, rd, 0x37));
    return this.w(I(lo, rd, 0, rd, 0x1b));
  }
  link(): void {
    for (const f of this.fixups) {
      const target = this.labels.get(f.label);
      if (target === undefined) throw new Error(`warm-up: no label ${f.label}`);
      const word = f.make(target - f.from);
      this.mem.set(f.at, word & 0xffff);
      this.mem.set(f.at + 2, word >>> 16);
    }
  }
}

// Where things are, as offsets from RAM_BASE.
const MAIN = 0x0000; // runs on into the next page
const M_TRAP = 0x3000;
const S_TRAP = 0x3400;
const FAR = 0x4000; // a function on another page, and an instruction that crosses into the page after it
const SMC = 0x7000; // code the program rewrites
const DATA = 0x8000; // two pages of data
const CLINT = VIRT.clint;
/** No device answers here: loads and stores fault. */
const NOTHING = 0x3000;
const UART = VIRT.uart;

/** The program: M-mode integer, memory, FP, atomic, CSR and system instructions, then S-mode and U-mode. */
export function warmUpProgram(): Asm {
  const a = new Asm();
  const r = (i: number): number => WORK[i % WORK.length];
  a.org(MAIN).label('start');
  a.li(T0, -1).w(CSR(1, 0x3b0, T0, ZERO)).li(T0, 0x1f).w(CSR(1, 0x3a0, T0, ZERO)); // PMP: S and U reach everything
  a.la(T0, 'mtrap').w(CSR(1, 0x305, T0, ZERO)); // csrw mtvec
  a.la(T0, 'strap').w(CSR(1, 0x105, T0, ZERO)); // csrw stvec
  a.li(T0, 0x6000).w(CSR(2, 0x300, T0, ZERO)); // csrs mstatus, FS
  a.li(T0, 7).w(CSR(1, 0x306, T0, ZERO)).w(CSR(1, 0x106, T0, ZERO)); // mcounteren, scounteren
  a.li(T0, (1 << 8) | (1 << 2)).w(CSR(1, 0x302, T0, ZERO)); // medeleg: U ecall, illegal instruction
  // Integer: every R, I and W form, results in the work registers (x0 too: a NOP).
  let k = 0;
  for (const [f7, f3] of [[0, 0], [0x20, 0], [0, 1], [0, 2], [0, 3], [0, 4], [0, 5], [0x20, 5], [0, 6], [0, 7],
    [1, 0], [1, 1], [1, 2], [1, 3], [1, 4], [1, 5], [1, 6], [1, 7]]) {
    a.w(R(f7, r(k + 1), r(k + 2), f3, r(k), 0x33)); k += 3;
    a.w(R(f7, ZERO, r(k + 2), f3, r(k), 0x33)); k += 1; // x0 operand: division by zero among them
  }
  for (const [f7, f3] of [[0, 0], [0x20, 0], [0, 1], [0, 5], [0x20, 5], [1, 0], [1, 4], [1, 5], [1, 6], [1, 7]]) {
    a.w(R(f7, r(k + 1), r(k + 2), f3, r(k), 0x3b)); k += 3;
  }
  for (const f3 of [0, 2, 3, 4, 6, 7]) for (const imm of [5, -1, 0x7ff, -0x800]) { a.w(I(imm, r(k + 1), f3, r(k), 0x13)); k += 2; }
  // Compares whose high halves are equal (x0 against an immediate, a register against itself).
  for (const f3 of [2, 3]) for (const imm of [5, -1]) { a.w(I(imm, ZERO, f3, r(k), 0x13)); k++; }
  for (const f3 of [2, 3]) { a.w(R(0, r(k + 1), r(k + 1), f3, r(k), 0x33)).w(R(0, ZERO, ZERO, f3, r(k + 2), 0x33)); k += 3; }
  for (const [f6, f3] of [[0, 1], [0, 5], [0x10, 5]]) for (const sh of [1, 31, 32, 63]) { a.w(I((f6 << 6) | sh, r(k + 1), f3, r(k), 0x13)); k += 2; }
  for (const imm of [1, -1]) { a.w(I(imm, r(k + 1), 0, r(k), 0x1b)); k += 2; }
  for (const [f7, f3] of [[0, 1], [0, 5], [0x20, 5]]) for (const sh of [1, 31]) { a.w(I((f7 << 5) | sh, r(k + 1), f3, r(k), 0x1b)); k += 2; }
  a.w(U(0x12345, r(k++), 0x37)).w(U(0xfffff, r(k++), 0x37)).w(U(0x80000, r(k++), 0x17)).w(U(1, r(k++), 0x17));
  a.w(R(0, r(1), r(2), 0, ZERO, 0x33)); // add x0: a NOP
  // Zba/Zbb/Zbs/Zbc/Zicond.
  for (const [f7, f3, opc] of [[0x10, 2, 0x33], [0x10, 4, 0x33], [0x10, 6, 0x33], [4, 0, 0x3b], [0x10, 4, 0x3b],
    [0x20, 7, 0x33], [0x20, 6, 0x33], [0x20, 4, 0x33], [5, 6, 0x33], [5, 4, 0x33], [0x14, 1, 0x33], [0x24, 1, 0x33],
    [0x24, 5, 0x33], [0x30, 1, 0x33], [5, 1, 0x33], [7, 5, 0x33]]) {
    a.w(R(f7, r(k + 1), r(k + 2), f3, r(k), opc)); k += 3;
  }
  for (const imm of [0x600, 0x601, 0x602, 0x604, 0x605]) { a.w(I(imm, r(k + 1), 1, r(k), 0x13)); k += 2; }
  for (const imm of [0x6b8, 0x287, 0x605]) { a.w(I(imm, r(k + 1), 5, r(k), 0x13)); k += 2; }
  // Compressed: c.addi, c.li, c.mv, c.add, c.slli, c.nop.
  a.c(0x0001 | (r(0) << 7) | (3 << 2)).c(0x4001 | (r(1) << 7) | (31 << 2) | (1 << 12)).c(0x8002 | (r(2) << 7) | (r(3) << 2))
    .c(0x9002 | (r(4) << 7) | (r(5) << 2)).c(0x0002 | (r(6) << 7) | (5 << 2)).c(0x0001);
  // Branches of every kind, taken or not by the values; one always and one never taken, one loop.
  for (const f3 of [0, 1, 4, 5, 6, 7]) {
    a.w(B(8, r(k + 1), r(k), f3)).w(I(1, r(k + 2), 0, r(k + 2), 0x13)); k += 3;
    a.w(B(8, r(k), r(k), f3)).w(I(1, r(k + 2), 0, r(k + 2), 0x13)); k += 3; // equal operands: the low halves decide
  }
  a.w(B(8, ZERO, ZERO, 0)).w(0).w(B(8, ZERO, ZERO, 1)); // the word skipped is illegal: never runs
  a.li(T0, 3).label('loop').w(I(-1, T0, 0, T0, 0x13)).rel('loop', (d) => B(d, ZERO, T0, 1)); // bnez t0, loop
  // Calls: on the page (jal, jalr back) and to another page and back.
  a.rel('local', (d) => J(d, RA)).rel('far', (d) => J(d, RA)).la(S1, 'far').w(I(0, S1, 0, RA, 0x67)); // jalr ra, s1
  a.rel('cross', (d) => J(d, RA)).rel('fall', (d) => J(d, RA));
  // Loads and stores of every width: each once after a TLB flush (the slow path fills the TLB), once from
  // where nothing answers (a fault), then twice more on the fast path; misaligned, and MMIO.
  for (const [f3, opc] of [[0, 3], [1, 3], [2, 3], [3, 3], [4, 3], [5, 3], [6, 3], [0, 0x23], [1, 0x23], [2, 0x23], [3, 0x23],
    [2, 7], [3, 7], [1, 7], [2, 0x27], [3, 0x27], [1, 0x27]]) {
    const fp = opc === 7 || opc === 0x27;
    const reg = fp ? 1 + (k % 8) : r(k);
    k++;
    for (const base of [S0, GP]) {
      a.w(opc === 3 || opc === 7 ? I(8, base, f3, reg, opc) : S(8, reg, base, f3, opc)).w(0x12000073); // sfence.vma
    }
  }
  for (const f3 of [2, 3]) for (const f5 of [2, 3, 1, 0]) for (const base of [S0, GP]) {
    a.w(R(f5 << 2, f5 === 2 ? 0 : r(k), base, f3, r(k + 1), 0x2f)).w(0x12000073); k += 2;
  }
  a.li(T0, 2).label('mem');
  for (const [f3, off] of [[0, 1], [1, 2], [2, 4], [3, 8], [4, 3], [5, 6], [6, 12]]) { a.w(I(off, S0, f3, r(k), 0x03)); k++; }
  for (const [f3, off] of [[0, 16], [1, 18], [2, 20], [3, 24]]) { a.w(S(off, r(k), S0, f3, 0x23)); k++; }
  a.w(I(0x800 - 8, SP, 3, r(k++), 0x03)).w(S(-8, r(k++), SP, 3, 0x23)); // the second data page
  a.w(I(0, S0, 3, ZERO, 0x03)); // a load into x0
  a.w(I(-1, T0, 0, T0, 0x13)).rel('mem', (d) => B(d, ZERO, T0, 1));
  a.w(I(1, S0, 2, r(k++), 0x03)).w(S(3, r(k++), S0, 3, 0x23)).w(I(5, S0, 3, r(k++), 0x03)).w(S(1, r(k++), S0, 1, 0x23));
  a.w(I(5, TP, 4, r(k++), 0x03)).w(S(7, ZERO, TP, 0, 0x23)); // UART LSR, scratch register
  a.w(I(0, GP, 3, r(k++), 0x03)).w(S(0, r(k++), GP, 3, 0x23)); // nothing there: access faults
  // FP: loads and stores, arithmetic, conversions, moves, compares, fused; Zfhmin.
  for (const [f3, off] of [[2, 32], [3, 40], [1, 48]]) { a.w(I(off, S0, f3, 1 + (k++ % 8), 0x07)); }
  for (let f = 0; f < 8; f++) a.w(R(0x79, 0, WORK[f], 0, f, 0x53)); // fmv.d.x
  for (const [f7, rs2, f3] of [[1, 1, 7], [5, 2, 7], [9, 3, 7], [0xd, 4, 7], [0x2d, 0, 7], [0x11, 5, 0], [0x15, 6, 0],
    [0x51, 7, 2], [0x51, 1, 1], [0x71, 0, 0], [0x61, 2, 1], [0x69, 2, 7], [0x21, 0, 7], [0x20, 1, 7], [0, 3, 7], [8, 4, 7]]) {
    const rd = f7 === 0x51 || f7 === 0x71 || f7 === 0x61 ? r(k++) : 1 + (k++ % 8);
    a.w(R(f7, rs2, f7 === 0x69 ? r(k++) : 2 + (k % 6), f3, rd, 0x53));
  }
  a.w(((3 << 27) | (1 << 25) | (2 << 20) | (1 << 15) | (7 << 12) | (4 << 7) | 0x43) >>> 0); // fmadd.d
  for (const [f3, off] of [[2, 56], [3, 64], [1, 72]]) a.w(S(off, 1 + (k++ % 8), S0, f3, 0x27));
  a.w(CSR(2, 0x003, ZERO, r(k++))).w(CSR(5, 0x002, 0, ZERO)).w(CSR(1, 0x001, ZERO, ZERO));
  // Atomics: LR/SC (the reservation cleared by a store in between once), AMOs of both widths.
  for (const f3 of [2, 3]) {
    a.w(R(0x08, 0, S0, f3, r(k++), 0x2f)).w(R(0x0c, r(k), S0, f3, r(k + 1), 0x2f)); k += 2;
    a.w(R(0x08, 0, S0, f3, r(k++), 0x2f)).w(S(0, ZERO, S0, 3, 0x23)).w(R(0x0c, r(k), S0, f3, r(k + 1), 0x2f)); k += 2;
    for (const f5 of [0, 1, 4, 8, 12, 16, 20, 24, 28]) { a.w(R((f5 << 2) | 1, r(k), S0, f3, r(k + 1), 0x2f)); k += 2; }
  }
  a.w(R(0x08, 0, GP, 3, r(k++), 0x2f)); // lr.d of nothing: a fault
  // CSRs: the forms, M-mode registers, counters.
  for (const csr of [0x340, 0x341, 0x343]) a.w(CSR(1, csr, r(k), r(k + 1))).w(CSR(2, csr, ZERO, r(k + 2))).w(CSR(3, csr, ZERO, r(k + 3)));
  k += 4;
  for (const csr of [0x300, 0x301, 0x304, 0x344, 0xf14, 0xc00, 0xc01, 0xc02, 0xb00, 0x180, 0x30a, 0x100, 0x140, 0x342]) a.w(CSR(2, csr, ZERO, r(k++)));
  a.w(CSR(6, 0x340, 3, ZERO)).w(CSR(7, 0x340, 1, ZERO)).w(CSR(5, 0x340, 9, r(k++)));
  a.w(CSR(1, 0x7ff, ZERO, ZERO)); // no such CSR: illegal instruction (delegated to S? not from M: M's handler)
  // System: fences, sfence.vma, cbo.zero, ecall, ebreak, an illegal word; code rewritten then fence.i.
  a.w(0x0ff0000f).w(0x12000073).w((0x0040200f | (S0 << 15)) >>> 0).w(0x00000073).w(0x00100073).w(0x0000000b);
  a.rel('smc', (d) => J(d, RA)).la(S1, 'smc').li(T0, I(2, A0, 0, A0, 0x13) | 0).w(S(0, T0, S1, 2, 0x23)).w(0x0000100f);
  a.rel('smc', (d) => J(d, RA));
  // An interrupt: msip raised by a store to the CLINT, taken by M-mode at once.
  a.li(T0, 8).w(CSR(2, 0x304, T0, ZERO)).w(CSR(6, 0x300, 8, ZERO)).li(T0, 1).li(S1, CLINT).w(S(0, T0, S1, 2, 0x23));
  a.w(CSR(7, 0x300, 8, ZERO));
  // S-mode (bare): loads, stores, sstatus as Linux writes it, an SBI call; then U-mode.
  a.li(T0, 0x1000).w(CSR(3, 0x300, T0, ZERO)).li(T0, 0x800).w(CSR(2, 0x300, T0, ZERO)); // MPP = S
  a.la(T0, 'smode').w(CSR(1, 0x341, T0, ZERO)).w(0x30200073);
  a.org(0x1400).label('smode');
  for (let i = 0; i < 2; i++) {
    for (const [f3, off] of [[3, 8], [2, 4], [4, 1]]) a.w(I(off, S0, f3, r(k++), 0x03));
    a.w(S(24, r(k++), S0, 3, 0x23));
    a.w(CSR(6, 0x100, 2, ZERO)).w(CSR(7, 0x100, 2, ZERO)).li(T0, 0x40000).w(CSR(2, 0x100, T0, ZERO)).w(CSR(3, 0x100, T0, ZERO));
    a.w(CSR(2, 0x100, ZERO, r(k++))).w(CSR(1, 0x140, r(k), r(k + 1))).w(CSR(2, 0xc01, ZERO, r(k + 2))); k += 3;
    a.li(A7, 0x10).li(A6, 0).w(0x00000073); // sbi_get_spec_version
    a.w(0x12000073); // sfence.vma
  }
  a.w(0x0000000b); // illegal: delegated to S
  a.li(T0, 0x100).w(CSR(3, 0x100, T0, ZERO)).la(T0, 'umode').w(CSR(1, 0x141, T0, ZERO)).w(0x10200073); // SPP = U; sret
  a.label('umode');
  for (const [f3, off] of [[3, 8], [2, 4]]) a.w(I(off, S0, f3, r(k++), 0x03));
  a.w(S(24, r(k++), S0, 3, 0x23)).w(R(0, r(k), r(k + 1), 0, r(k + 2), 0x33)); k += 3;
  a.w(0x00000073); // ecall from U: delegated to S
  a.label('end').rel('end', (d) => J(d, ZERO));
  // On the main page: a local function.
  a.org(0x2000).label('local').w(I(1, A0, 0, A0, 0x13)).w(I(0, RA, 0, ZERO, 0x67));
  // Trap handlers: skip the instruction (all trapping ones are 4 bytes), or clear msip for the interrupt.
  a.org(M_TRAP).label('mtrap').w(CSR(2, 0x342, ZERO, T6)).rel('mirq', (d) => B(d, ZERO, T6, 4));
  a.w(CSR(2, 0x341, ZERO, T6)).w(I(4, T6, 0, T6, 0x13)).w(CSR(1, 0x341, T6, ZERO)).w(0x30200073);
  a.label('mirq').li(T6, CLINT).w(S(0, ZERO, T6, 2, 0x23)).w(0x30200073);
  a.org(S_TRAP).label('strap').w(CSR(2, 0x141, ZERO, T6)).w(I(4, T6, 0, T6, 0x13)).w(CSR(1, 0x141, T6, ZERO)).w(0x10200073);
  a.org(FAR + 0x800).label('far').w(I(1, A0, 0, A0, 0x13)).rel('farb', (d) => B(d, ZERO, ZERO, 0)); // on to the next page
  a.org(FAR + 0x1100).label('farb').w(I(0, RA, 0, ZERO, 0x67));
  a.org(FAR + 0x1ff8).label('fall').w(I(1, A0, 0, A0, 0x13)).w(I(1, A0, 0, A0, 0x13)).w(I(0, RA, 0, ZERO, 0x67));
  // A 32-bit instruction across the page end, then falling off a page into the next.
  a.org(FAR + 0xff8).label('cross').w(I(1, A0, 0, A0, 0x13)).c(0x0001).w(I(1, A0, 0, A0, 0x13)).w(I(0, RA, 0, ZERO, 0x67));
  a.org(SMC).label('smc').w(I(1, A0, 0, A0, 0x13)).w(I(0, RA, 0, ZERO, 0x67));
  a.link();
  return a;
}

/** What a warm-up did (the tests check it ran to its end). */
export interface WarmUpResult { instructions: number; endPc: number; endPriv: number }

/**
 * Runs of the program, each with other register values: small non-negative, 32-bit sign-extended, full
 * 64-bit (twice), so that compares and carries take each of their ways.
 */
const ROUNDS = 4;
const value = (round: number, rand: () => number): [number, number] => {
  if (round === 0) return [rand() & 0xff, 0];
  const lo = rand();
  return [lo, round === 1 ? lo >> 31 : rand()];
};

/** RAM of the scratch machine. */
export const WARM_UP_RAM = 1 << 20;
const RAM_BASE = VIRT.ram;

/**
 * Runs the warm-up program on `m`, a scratch machine of WARM_UP_RAM bytes for the engine to be warmed (the
 * board makes it, once a process).
 */
export function runWarmUp(m: Machine): WarmUpResult {
  const program = warmUpProgram();
  m.useBuiltinSbi();
  const hart = m.hart;
  // Compile what runs twice, on the spot, so the translator and the dispatch are warmed as well.
  if (hart.jit !== null) { hart.hotThreshold = 1; hart.jit.asyncCompile = false; hart.jit.batch = 4; }
  const u16 = new Uint16Array(m.memory.buffer, RAM_OFFSET, WARM_UP_RAM >> 1);
  const u32 = new Uint32Array(m.memory.buffer, RAM_OFFSET, WARM_UP_RAM >> 2);
  let seed = 0x9e3779b9;
  const rand = (): number => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return seed | 0; };
  let instructions = 0;
  const end = RAM_BASE + (program.labels.get('end') ?? 0);
  for (let round = 0; round < ROUNDS; round++) {
    // A second SBI closure in the last rounds: the real machine's is a third, and a call site that has seen
    // one closure only is compiled for it (measured: a "wrong call target" deopt of execute in each boot).
    if (round === ROUNDS / 2) m.useBuiltinSbi();
    for (const [at, half] of program.mem) u16[at >> 1] = half;
    for (let i = DATA >> 2; i < (DATA + 0x2000) >> 2; i++) u32[i] = rand() >>> 0;
    hart.reset(RAM_BASE, 0);
    for (const reg of WORK) [hart.x[reg * 2], hart.x[reg * 2 + 1]] = value(round, rand);
    const set = (reg: number, v: number): void => { hart.x[reg * 2] = v | 0; hart.x[reg * 2 + 1] = 0; };
    set(S0, RAM_BASE + DATA); set(SP, RAM_BASE + DATA + 0x1800); set(GP, NOTHING); set(TP, UART);
    for (let step = 0; step < 20 && hart.pcLo !== (end | 0); step++) instructions += hart.run(1000);
  }
  return { instructions, endPc: hart.pcLo, endPriv: hart.priv };
}
