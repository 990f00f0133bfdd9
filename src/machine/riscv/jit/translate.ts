/**
 * The translator: runs of decoded guest instructions (RV64I, M, A, Zba's shNadd, FP loads and stores) within
 * one physical page become one WebAssembly function over the machine's Memory.
 *
 * A block starts at an entry offset and ends after the first branch or jump, before the first instruction it
 * does not translate (CSRs, FP arithmetic, system instructions, a 32-bit instruction crossing the page), at the
 * end of the page, or at MAX_BLOCK instructions. A function holds a region: the entry's block and the blocks
 * of the page its direct branches and fall-throughs reach (MAX_REGION_BLOCKS). The function is
 *
 *   (budget, dataSet, pc, count) -> (count + 2 * retired + stop, next pc)
 *
 * with the virtual pc of the entry given (the code is keyed by physical address: the same code mapped at
 * two virtual addresses runs with either). It keeps the registers it names more than once in wasm locals,
 * writes the ones it changed back at every exit, and returns the next pc. A load or store whose translation is
 * not in the data TLB (layout.ts STATE_TLB; for a load, nor in its slot's victim) or is misaligned exits *before* the
 * access with stop = 1: the interpreter then runs that one instruction, through the slow path that takes
 * faults exactly as it always does, so pc, registers, instret and xtval are the interpreter's by construction.
 * Moving from block to block inside the region (a loop back to the entry too) checks the budget first.
 */
import { Op } from '../decode.js';
import {
  STATE_F, STATE_FP_DIRTY, STATE_RESV, STATE_X, TLB_BASE_R, TLB_BASE_W, TLB_TAG_R, TLB_TAG_W, TLB_TAGHI_R, TLB_TAGHI_W, TLB_VBASE_R, TLB_VTAG_R,
  TLB_VTAGHI_R,
} from '../layout.js';
import { TLB_BITS, TLB_MASK, TLB_SIZE } from '../mmu.js';
import { Code, T, W } from './wasm.js';

/**
 * The most instructions in one block: it bounds compile time and the instructions between interrupt checks
 * (blocks average 7 instructions in the CPU benchmark, so it rarely decides; docs/performance.md).
 */
export const MAX_BLOCK = 64;

/**
 * The function type of every block: (budget, dataSet, pc, count so far) -> (count, next pc), the count being
 * 2 * instructions retired since the dispatcher's entry + stop: a block adds to the dispatcher's count, and
 * checks the budget against it, without a subtraction on either side.
 */
export const BLOCK_PARAMS: readonly T[] = [T.i32, T.i32, T.i64, T.i32];
export const BLOCK_RESULTS: readonly T[] = [T.i32, T.i64];
const P_BUDGET = 0, P_DSET = 1, P_PC = 2, P_COUNT = 3;

/** The decoded instructions of one page, as the hart caches them (one slot per halfword). */
export interface CodePage {
  readonly ops: Uint8Array;
  readonly ins: Int32Array;
  readonly imm: Int32Array;
}

/** A translated block: its function body and how many instructions one pass through it retires. */
export interface Translation { code: Code; length: number; fp: boolean }

const enum Kind { Alu, Load, Store, Amo, Lr, Sc, FpLoad, FpStore, Branch, Jal, Jalr, Stop }

function kindOf(op: Op): Kind {
  switch (op) {
    case Op.NOP: case Op.FENCE: case Op.LUI: case Op.AUIPC:
    case Op.ADDI: case Op.SLTI: case Op.SLTIU: case Op.XORI: case Op.ORI: case Op.ANDI: case Op.SLLI: case Op.SRLI: case Op.SRAI:
    case Op.ADD: case Op.SUB: case Op.SLL: case Op.SLT: case Op.SLTU: case Op.XOR: case Op.SRL: case Op.SRA: case Op.OR: case Op.AND:
    case Op.ADDIW: case Op.SLLIW: case Op.SRLIW: case Op.SRAIW: case Op.ADDW: case Op.SUBW: case Op.SLLW: case Op.SRLW: case Op.SRAW:
    case Op.MUL: case Op.MULH: case Op.MULHSU: case Op.MULHU: case Op.DIV: case Op.DIVU: case Op.REM: case Op.REMU:
    case Op.MULW: case Op.DIVW: case Op.DIVUW: case Op.REMW: case Op.REMUW: case Op.SHADD: case Op.SHADD_UW:
      return Kind.Alu;
    case Op.LB: case Op.LH: case Op.LW: case Op.LD: case Op.LBU: case Op.LHU: case Op.LWU: return Kind.Load;
    case Op.SB: case Op.SH: case Op.SW: case Op.SD: return Kind.Store;
    case Op.AMO_W: case Op.AMO_D: return Kind.Amo;
    case Op.LR_W: case Op.LR_D: return Kind.Lr;
    case Op.SC_W: case Op.SC_D: return Kind.Sc;
    // FP loads and stores (setjmp/longjmp move 24 FP registers): run only while mstatus.FS is on (hart.ts).
    case Op.FLW: case Op.FLD: return Kind.FpLoad;
    case Op.FSW: case Op.FSD: return Kind.FpStore;
    case Op.BEQ: case Op.BNE: case Op.BLT: case Op.BGE: case Op.BLTU: case Op.BGEU: return Kind.Branch;
    case Op.JAL: return Kind.Jal;
    case Op.JALR: return Kind.Jalr;
    default: return Kind.Stop;
  }
}

/**
 * A region: the blocks reachable from the entry through direct branches and fall-throughs within the page,
 * at most MAX_REGION_BLOCKS and about MAX_REGION instructions, in one function (docs/performance.md).
 */
export const MAX_REGION_BLOCKS = 4;
const MAX_REGION = 128;

/** One guest block of a region: its instructions' offsets, how it ends, and the offset after it. */
interface Scanned { offs: number[]; endKind: Kind; stopBefore: boolean; end: number }

/** The block at byte `start`, or null when its first instruction is not translated. */
function scan(page: CodePage, start: number, decode: (off: number) => number): Scanned | null {
  const offs: number[] = [];
  let off = start;
  let endKind = Kind.Stop; // how the block ends: a control transfer, or falling through to `off`
  let stopBefore = false; // ended before an instruction it does not translate
  while (offs.length < MAX_BLOCK && off < 4096) {
    const slot = off >> 1;
    let op = page.ops[slot] as Op;
    if (op === Op.UNDECODED) op = decode(off) as Op;
    const k = kindOf(op);
    if (k === Kind.Stop) { stopBefore = true; break; }
    offs.push(off);
    off += LEN(page.ins[slot]);
    if (k === Kind.Branch || k === Kind.Jal || k === Kind.Jalr) { endKind = k; break; }
  }
  return offs.length === 0 ? null : { offs, endKind, stopBefore, end: off };
}

/** Where a block goes on within the page: a direct branch's target and fall-through, a jump's target. */
function successors(page: CodePage, b: Scanned): number[] {
  const last = b.offs[b.offs.length - 1];
  const target = last + page.imm[last >> 1];
  const out = b.endKind === Kind.Branch ? [target, b.end] : b.endKind === Kind.Jal ? [target]
    : b.endKind === Kind.Stop && !b.stopBefore ? [b.end] : [];
  return out.filter((t) => t >= 0 && t < 4096);
}

const RD = (ins: number): number => (ins >>> 7) & 31;
const RS1 = (ins: number): number => (ins >>> 15) & 31;
const RS2 = (ins: number): number => (ins >>> 20) & 31;
const LEN = (ins: number): number => 2 + ((ins & 1) << 1); // bit 0 clear: an expanded compressed instruction

/**
 * Translates the block at byte `start` of `page`; `decode(off)` fills a slot not decoded yet and returns its
 * op. Returns null when the first instruction is not one the translator handles.
 */
export function translate(page: CodePage, start: number, decode: (off: number) => number): Translation | null {
  // Pass 1: the blocks of the region, from the entry through direct branches and fall-throughs on the page.
  const blocks: Scanned[] = [];
  const index = new Map<number, number>(); // block start -> its place in `blocks`
  const todo = [start];
  let total = 0;
  while (todo.length > 0 && blocks.length < MAX_REGION_BLOCKS && total < MAX_REGION) {
    const s = todo.shift() as number;
    if (index.has(s)) continue;
    const b = scan(page, s, decode);
    if (b === null) { if (s === start) return null; continue; } // a target left to the interpreter: an exit
    index.set(s, blocks.length);
    blocks.push(b);
    total += b.offs.length;
    for (const t of successors(page, b)) if (!index.has(t)) todo.push(t);
  }

  // Registers: one named by two or more instructions of the region (or read and written by one) is cached in
  // a local, loaded at entry, and stored back at exits when written; one named by a single instruction is
  // read from or written to the Memory where it is used (no local to carry through the function: measured,
  // docs/performance.md).
  const c = new Code(BLOCK_PARAMS.length);
  const pc = c.local(T.i64), npc = c.local(T.i64), n = c.local(T.i32), cur = c.local(T.i32);
  const a = c.local(T.i64), lo = c.local(T.i32), ti = c.local(T.i32), o = c.local(T.i32);
  const t: number[] = [];
  for (let i = 0; i < 7; i++) t.push(c.local(T.i64));
  const u1 = c.local(T.i32), u2 = c.local(T.i32), dset4 = c.local(T.i32), v = c.local(T.i64);
  const reg = new Int32Array(32).fill(-1);
  const written = new Uint8Array(32);
  const mentions = new Uint8Array(32), readOnce = new Uint8Array(32), stamp = new Int32Array(32).fill(-1);
  let fp = false;
  let insNo = 0;
  /** Instruction insNo names r (reads it, or writes it when `w`). */
  const use = (r: number, w = false): void => {
    if (r === 0) return;
    if (stamp[r] !== insNo) { stamp[r] = insNo; if (mentions[r] < 255) mentions[r]++; readOnce[r] = 0; }
    if (!w) readOnce[r] = 1;
  };
  for (const f of blocks.flatMap((b) => b.offs)) {
    insNo++;
    const op = page.ops[f >> 1] as Op, ins = page.ins[f >> 1];
    if (op === Op.NOP || op === Op.FENCE) continue;
    const k = kindOf(op);
    if (op !== Op.LUI && op !== Op.AUIPC && op !== Op.JAL) use(RS1(ins));
    const opcode = (ins | 3) & 0x7f; // expanded compressed instructions have bit 0 clear
    if (k === Kind.FpLoad || k === Kind.FpStore) { fp = true; continue; } // rs2 and rd are f registers
    if (k === Kind.Store || k === Kind.Amo || k === Kind.Sc || k === Kind.Branch || (k === Kind.Alu && opcode !== 0x13 && opcode !== 0x1b &&
      op !== Op.LUI && op !== Op.AUIPC)) use(RS2(ins));
    if (k !== Kind.Store && k !== Kind.Branch && RD(ins) !== 0) {
      const rd = RD(ins), wasRead = stamp[rd] === insNo && readOnce[rd] === 1;
      use(rd, true); written[rd] = 1;
      if (wasRead) readOnce[rd] = 2; // read and written by the same instruction
    }
  }
  const inMemory = new Uint8Array(32);
  for (let r = 1; r < 32; r++) {
    if (mentions[r] === 0) continue;
    if (mentions[r] === 1 && readOnce[r] !== 2) { inMemory[r] = 1; written[r] = 0; } else reg[r] = c.local(T.i64);
  }

  // Prologue: pc from its halves, registers from the Memory.
  c.get(P_PC).set(pc);
  c.get(P_COUNT).set(n);
  c.get(P_DSET).i32(2).op(W.i32_shl).set(dset4);
  for (let r = 1; r < 32; r++) if (reg[r] >= 0) c.i32(0).mem(W.i64_load, 3, STATE_X + 8 * r).set(reg[r]);

  // $done, $dispatch (a loop), then one wasm block per guest block, innermost first: guest block i's code
  // follows the end of wasm block i. From block i's code, $dispatch is at depth K - 1 - i and $done at K - i
  // (`depth` below), and block j > i starts at the end of wasm block j, depth j - i - 1: moves forward are
  // plain branches. Moves back go round $dispatch, which goes on at block `cur`: block 0 by a test, others
  // (when there are moves back to them) through a br_table (an indirect jump: measured, docs/performance.md).
  const K = blocks.length;
  let backToLater = false; // a move back to a block other than the entry
  blocks.forEach((b, i) => {
    for (const to of successors(page, b)) { const j = index.get(to); if (j !== undefined && j > 0 && j <= i) backToLater = true; }
  });
  c.begin(W.block); // $done
  c.begin(W.loop); // $dispatch
  for (let i = 0; i < K; i++) c.begin(W.block);
  if (backToLater) {
    c.get(cur).op(W.i32_eqz).opU(W.br_if, 0);
    c.get(cur).brTable(blocks.map((_, i) => i), K - 1);
  }
  let bi = 0; // the guest block whose code is being written
  let depth = 0; // from the current guest block's code, `br depth` leaves to the epilogue
  const get = (r: number): void => {
    if (r === 0) c.i64(0); else if (inMemory[r]) c.i32(0).mem(W.i64_load, 3, STATE_X + 8 * r); else c.get(reg[r]);
  };
  const put = (r: number): void => {
    if (r === 0) c.op(W.drop); else if (inMemory[r]) c.set(v).i32(0).get(v).mem(W.i64_store, 3, STATE_X + 8 * r); else c.set(reg[r]);
  };
  /** Sets npc = pc + delta and n += count2 (2 * instructions + stop), then leaves. */
  const exit = (delta: number, count2: number, extra: number): void => {
    c.get(pc).i64(delta).op(W.i64_add).set(npc);
    c.get(n).i32(count2).op(W.i32_add).set(n);
    c.opU(W.br, depth + extra);
  };
  /**
   * Control goes on at byte `to` of the page, `k2` (2 * instructions + stop) counted for the current block:
   * the region's block there when it has one and the budget holds it, else out with npc at it.
   */
  const goTo = (to: number, count2: number, extra: number): void => {
    const j = index.get(to);
    if (j === undefined) { exit(to - start, count2, extra); return; }
    c.get(n).i32(count2).op(W.i32_add).tee(n);
    c.i32(2 * blocks[j].offs.length).op(W.i32_add).get(P_BUDGET).i32(1).op(W.i32_shl).op(W.i32_le_s).begin(W.if);
    if (j > bi) c.opU(W.br, j - bi - 1 + extra + 1); // forward: the end of wasm block j
    else c.i32(j).set(cur).opU(W.br, depth + extra); // depth + extra + 1 - 1: $dispatch
    c.end();
    c.get(pc).i64(to - start).op(W.i64_add).set(npc);
    c.opU(W.br, depth + extra);
  };
  /**
   * The memory offset of an access at rs1 + imm into local o (through the load or the store TLB), exiting
   * before instruction k (at pc delta) when the TLB misses or the address is misaligned.
   */
  const address = (rs1: number, imm: number, size: number, delta: number, k: number, store: boolean): void => {
    tlbCheck(c, a, lo, ti, dset4, () => get(rs1), imm, size, store);
    exit(delta, 2 * k + 1, 1);
    c.end(); // $page: the base of the page on the stack
    c.get(lo).i32(0xfff).op(W.i32_and).op(W.i32_add).tee(o);
  };
  /** A store's (or AMO's) address into o; a store into the LR reservation's granule clears it, as the interpreter's. */
  const storeAddress = (rs1: number, imm: number, size: number, delta: number, k: number): void => {
    address(rs1, imm, size, delta, k, true);
    c.i32(-8).op(W.i32_and).i32(0).mem(W.i32_load, 2, STATE_RESV).op(W.i32_eq).begin(W.if);
    c.i32(0).i32(-1).mem(W.i32_store, 2, STATE_RESV);
    c.end();
  };

  for (bi = 0; bi < K; bi++) {
  c.end(); // guest block bi's wasm block: its code follows
  depth = K - bi;
  const { offs, endKind, stopBefore, end: off } = blocks[bi];
  const len = offs.length;
  for (let k = 0; k < len; k++) {
    const f = offs[k], slot = f >> 1;
    const op = page.ops[slot] as Op, ins = page.ins[slot], imm = page.imm[slot];
    const delta = f - start;
    const rd = RD(ins), rs1 = RS1(ins), rs2 = RS2(ins);
    switch (op) {
      case Op.NOP: case Op.FENCE: break;
      case Op.LUI: c.i64(imm); put(rd); break;
      case Op.AUIPC: c.get(pc).i64(delta + imm).op(W.i64_add); put(rd); break;
      case Op.ADDI: get(rs1); c.i64(imm).op(W.i64_add); put(rd); break;
      case Op.SLTI: get(rs1); c.i64(imm).op(W.i64_lt_s).op(W.i64_extend_i32_u); put(rd); break;
      case Op.SLTIU: get(rs1); c.i64(imm).op(W.i64_lt_u).op(W.i64_extend_i32_u); put(rd); break;
      case Op.XORI: get(rs1); c.i64(imm).op(W.i64_xor); put(rd); break;
      case Op.ORI: get(rs1); c.i64(imm).op(W.i64_or); put(rd); break;
      case Op.ANDI: get(rs1); c.i64(imm).op(W.i64_and); put(rd); break;
      case Op.SLLI: get(rs1); c.i64(imm).op(W.i64_shl); put(rd); break;
      case Op.SRLI: get(rs1); c.i64(imm).op(W.i64_shr_u); put(rd); break;
      case Op.SRAI: get(rs1); c.i64(imm).op(W.i64_shr_s); put(rd); break;
      case Op.ADD: get(rs1); get(rs2); c.op(W.i64_add); put(rd); break;
      case Op.SUB: get(rs1); get(rs2); c.op(W.i64_sub); put(rd); break;
      case Op.SLL: get(rs1); get(rs2); c.op(W.i64_shl); put(rd); break; // wasm takes the amount mod 64, as RV64 does
      case Op.SRL: get(rs1); get(rs2); c.op(W.i64_shr_u); put(rd); break;
      case Op.SRA: get(rs1); get(rs2); c.op(W.i64_shr_s); put(rd); break;
      case Op.SLT: get(rs1); get(rs2); c.op(W.i64_lt_s).op(W.i64_extend_i32_u); put(rd); break;
      case Op.SLTU: get(rs1); get(rs2); c.op(W.i64_lt_u).op(W.i64_extend_i32_u); put(rd); break;
      case Op.XOR: get(rs1); get(rs2); c.op(W.i64_xor); put(rd); break;
      case Op.OR: get(rs1); get(rs2); c.op(W.i64_or); put(rd); break;
      case Op.AND: get(rs1); get(rs2); c.op(W.i64_and); put(rd); break;
      case Op.ADDIW: get(rs1); c.op(W.i32_wrap_i64).i32(imm).op(W.i32_add).op(W.i64_extend_i32_s); put(rd); break;
      case Op.SLLIW: get(rs1); c.op(W.i32_wrap_i64).i32(imm).op(W.i32_shl).op(W.i64_extend_i32_s); put(rd); break;
      case Op.SRLIW: get(rs1); c.op(W.i32_wrap_i64).i32(imm).op(W.i32_shr_u).op(W.i64_extend_i32_s); put(rd); break;
      case Op.SRAIW: get(rs1); c.op(W.i32_wrap_i64).i32(imm).op(W.i32_shr_s).op(W.i64_extend_i32_s); put(rd); break;
      case Op.ADDW: case Op.SUBW: case Op.SLLW: case Op.SRLW: case Op.SRAW: case Op.MULW: {
        const w = op === Op.ADDW ? W.i32_add : op === Op.SUBW ? W.i32_sub : op === Op.SLLW ? W.i32_shl
          : op === Op.SRLW ? W.i32_shr_u : op === Op.SRAW ? W.i32_shr_s : W.i32_mul;
        get(rs1); c.op(W.i32_wrap_i64); get(rs2); c.op(W.i32_wrap_i64).op(w).op(W.i64_extend_i32_s); put(rd);
        break;
      }
      case Op.MUL: get(rs1); get(rs2); c.op(W.i64_mul); put(rd); break;
      case Op.MULH: case Op.MULHSU: case Op.MULHU: {
        get(rs1); c.set(t[0]); get(rs2); c.set(t[1]);
        // Signed forms: the unsigned high product less b when a < 0 (and less a when b < 0, for MULH).
        if (op === Op.MULHU) c.i64(0).set(t[6]);
        else {
          c.get(t[0]).i64(63).op(W.i64_shr_s).get(t[1]).op(W.i64_and);
          if (op === Op.MULH) c.get(t[1]).i64(63).op(W.i64_shr_s).get(t[0]).op(W.i64_and).op(W.i64_add);
          c.set(t[6]);
        }
        mulhu(c, t);
        c.get(t[6]).op(W.i64_sub); put(rd);
        break;
      }
      case Op.DIV: case Op.DIVU: case Op.REM: case Op.REMU: {
        get(rs1); c.set(t[0]); get(rs2); c.set(t[1]);
        c.get(t[1]).op(W.i64_eqz).begin(W.if, T.i64);
        if (op === Op.DIV || op === Op.DIVU) c.i64(-1); else c.get(t[0]); // division by zero (spec table 7.1)
        c.op(W.else);
        if (op === Op.DIV) {
          // MIN / -1 overflows (a wasm trap): -a wraps to MIN, the result the spec asks for.
          c.get(t[1]).i64(-1).op(W.i64_eq).begin(W.if, T.i64).i64(0).get(t[0]).op(W.i64_sub)
            .op(W.else).get(t[0]).get(t[1]).op(W.i64_div_s).end();
        } else c.get(t[0]).get(t[1]).op(op === Op.DIVU ? W.i64_div_u : op === Op.REM ? W.i64_rem_s : W.i64_rem_u);
        c.end(); put(rd);
        break;
      }
      case Op.DIVW: case Op.DIVUW: case Op.REMW: case Op.REMUW: {
        get(rs1); c.op(W.i32_wrap_i64).set(u1); get(rs2); c.op(W.i32_wrap_i64).set(u2);
        c.get(u2).op(W.i32_eqz).begin(W.if, T.i32);
        if (op === Op.DIVW || op === Op.DIVUW) c.i32(-1); else c.get(u1);
        c.op(W.else);
        if (op === Op.DIVW) {
          c.get(u2).i32(-1).op(W.i32_eq).begin(W.if, T.i32).i32(0).get(u1).op(W.i32_sub)
            .op(W.else).get(u1).get(u2).op(W.i32_div_s).end();
        } else c.get(u1).get(u2).op(op === Op.DIVUW ? W.i32_div_u : op === Op.REMW ? W.i32_rem_s : W.i32_rem_u);
        c.end().op(W.i64_extend_i32_s); put(rd);
        break;
      }
      case Op.SHADD: get(rs1); c.i64(imm).op(W.i64_shl); get(rs2); c.op(W.i64_add); put(rd); break;
      case Op.SHADD_UW:
        get(rs1); c.op(W.i32_wrap_i64).op(W.i64_extend_i32_u).i64(imm).op(W.i64_shl); get(rs2); c.op(W.i64_add); put(rd);
        break;
      case Op.LB: case Op.LH: case Op.LW: case Op.LD: case Op.LBU: case Op.LHU: case Op.LWU: {
        const size = op === Op.LB || op === Op.LBU ? 1 : op === Op.LH || op === Op.LHU ? 2 : op === Op.LD ? 8 : 4;
        address(rs1, imm, size, delta, k, false);
        const w = op === Op.LB ? W.i64_load8_s : op === Op.LBU ? W.i64_load8_u : op === Op.LH ? W.i64_load16_s
          : op === Op.LHU ? W.i64_load16_u : op === Op.LW ? W.i64_load32_s : op === Op.LWU ? W.i64_load32_u : W.i64_load;
        c.mem(w, Math.log2(size), 0);
        put(rd);
        break;
      }
      case Op.SB: case Op.SH: case Op.SW: case Op.SD: {
        const size = op === Op.SB ? 1 : op === Op.SH ? 2 : op === Op.SW ? 4 : 8;
        storeAddress(rs1, imm, size, delta, k);
        c.get(o); get(rs2);
        c.mem(op === Op.SB ? W.i64_store8 : op === Op.SH ? W.i64_store16 : op === Op.SW ? W.i64_store32 : W.i64_store, Math.log2(size), 0);
        break;
      }
      case Op.AMO_W: case Op.AMO_D: {
        // One hart: a read, the operation and a write, through the store TLB (an AMO needs write access).
        const size = op === Op.AMO_W ? 4 : 8;
        storeAddress(rs1, 0, size, delta, k);
        // Both operands as the spec compares them: .W ones sign-extended from 32 bits (which keeps their
        // unsigned order too, for minu/maxu).
        c.get(o).mem(size === 4 ? W.i64_load32_s : W.i64_load, size === 4 ? 2 : 3, 0).set(t[0]);
        get(rs2);
        if (size === 4) c.op(W.i32_wrap_i64).op(W.i64_extend_i32_s);
        c.set(t[1]);
        c.get(o);
        const f5 = ins >>> 27;
        const sel = (cmp: W, pickA: boolean): void => { // select(a, b, cond): min/max
          c.get(t[0]).get(t[1]).get(t[0]).get(t[1]).op(cmp);
          if (!pickA) c.op(W.i32_eqz);
          c.op(W.select);
        };
        switch (f5) {
          case 1: c.get(t[1]); break; // swap
          case 0: c.get(t[0]).get(t[1]).op(W.i64_add); break;
          case 4: c.get(t[0]).get(t[1]).op(W.i64_xor); break;
          case 12: c.get(t[0]).get(t[1]).op(W.i64_and); break;
          case 8: c.get(t[0]).get(t[1]).op(W.i64_or); break;
          case 16: sel(W.i64_lt_s, true); break; // min: a when a < b
          case 20: sel(W.i64_lt_s, false); break; // max
          case 24: sel(W.i64_lt_u, true); break; // minu
          default: sel(W.i64_lt_u, false); break; // 28: maxu
        }
        c.mem(size === 4 ? W.i64_store32 : W.i64_store, size === 4 ? 2 : 3, 0);
        c.get(t[0]); put(rd);
        break;
      }
      case Op.LR_W: case Op.LR_D: {
        // The load, then the reservation on its 8-byte granule (hart.ts execAtomic).
        const size = op === Op.LR_W ? 4 : 8;
        address(rs1, 0, size, delta, k, false);
        c.mem(size === 4 ? W.i64_load32_s : W.i64_load, size === 4 ? 2 : 3, 0); put(rd);
        c.i32(0).get(o).i32(-8).op(W.i32_and).mem(W.i32_store, 2, STATE_RESV);
        break;
      }
      case Op.SC_W: case Op.SC_D: {
        // Stores only while the reservation holds its granule; either way the reservation goes, rd = failed.
        const size = op === Op.SC_W ? 4 : 8;
        address(rs1, 0, size, delta, k, true);
        c.i32(-8).op(W.i32_and).i32(0).mem(W.i32_load, 2, STATE_RESV).op(W.i32_eq).tee(u1);
        c.i32(0).i32(-1).mem(W.i32_store, 2, STATE_RESV);
        c.begin(W.if).get(o); get(rs2);
        c.mem(size === 4 ? W.i64_store32 : W.i64_store, size === 4 ? 2 : 3, 0).end();
        c.get(u1).op(W.i32_eqz).op(W.i64_extend_i32_u); put(rd);
        break;
      }
      case Op.FLW: case Op.FLD: {
        const size = op === Op.FLW ? 4 : 8;
        address(rs1, imm, size, delta, k, false);
        if (size === 4) c.mem(W.i64_load32_u, 2, 0).i64(-1).i64(32).op(W.i64_shl).op(W.i64_or); // NaN-boxed
        else c.mem(W.i64_load, 3, 0);
        c.set(t[0]).i32(0).get(t[0]).mem(W.i64_store, 3, STATE_F + 8 * rd);
        c.i32(0).i32(1).mem(W.i32_store, 2, STATE_FP_DIRTY);
        break;
      }
      case Op.FSW: case Op.FSD: {
        const size = op === Op.FSW ? 4 : 8;
        storeAddress(rs1, imm, size, delta, k);
        c.get(o).i32(0).mem(W.i64_load, 3, STATE_F + 8 * rs2);
        c.mem(size === 4 ? W.i64_store32 : W.i64_store, size === 4 ? 2 : 3, 0);
        c.i32(0).i32(1).mem(W.i32_store, 2, STATE_FP_DIRTY); // as the interpreter, which sets FS dirty on stores too
        break;
      }
      case Op.BEQ: case Op.BNE: case Op.BLT: case Op.BGE: case Op.BLTU: case Op.BGEU: {
        get(rs1); get(rs2);
        c.op(op === Op.BEQ ? W.i64_eq : op === Op.BNE ? W.i64_ne : op === Op.BLT ? W.i64_lt_s : op === Op.BGE ? W.i64_ge_s
          : op === Op.BLTU ? W.i64_lt_u : W.i64_ge_u);
        c.begin(W.if);
        goTo(f + imm, 2 * len, 1);
        c.op(W.else);
        goTo(f + LEN(ins), 2 * len, 1);
        c.end();
        break;
      }
      case Op.JAL: {
        if (rd !== 0) { c.get(pc).i64(delta + LEN(ins)).op(W.i64_add); put(rd); }
        goTo(f + imm, 2 * len, 0);
        break;
      }
      case Op.JALR: {
        get(rs1); c.i64(imm).op(W.i64_add).i64(-2).op(W.i64_and).set(npc); // the target, before rd changes
        if (rd !== 0) { c.get(pc).i64(delta + LEN(ins)).op(W.i64_add); put(rd); }
        c.get(n).i32(2 * len).op(W.i32_add).set(n);
        c.opU(W.br, depth);
        break;
      }
      default: throw new Error(`translate: op ${op} has no translation`);
    }
  }
  if (endKind === Kind.Stop) {
    if (stopBefore) exit(off - start, 2 * len + 1, 0);
    else goTo(off, 2 * len, 0);
  }
  }
  c.end(); // $dispatch
  c.end(); // $done

  // Epilogue: registers written back; the count and the next pc returned.
  for (let r = 1; r < 32; r++) if (written[r]) c.i32(0).get(reg[r]).mem(W.i64_store, 3, STATE_X + 8 * r);
  c.get(n).get(npc);
  return { code: c, length: blocks[0].offs.length, fp };
}

/**
 * Computes the address rs1 + imm (into a, its low half into lo) and opens a block that yields the memory
 * offset of its page: from the TLB slot (its byte index into ti), or for a load from the slot pair's victim
 * (layout.ts TLB_VTAG_R). The code that follows, inside that block, runs when the access misses: a
 * misaligned address, another page or an empty slot. Each test is a branch of its own (measured: one `if` on
 * their `or` made V8 emit a setcc and a zero-extension for each, docs/performance.md). `dset4` holds the
 * data TLB set's first slot times 4.
 */
function tlbCheck(c: Code, a: number, lo: number, ti: number, dset4: number, base: () => void, imm: number, size: number, store: boolean): void {
  const tag = store ? TLB_TAG_W : TLB_TAG_R, tagHi = store ? TLB_TAGHI_W : TLB_TAGHI_R;
  c.begin(W.block, T.i32); // $page
  c.begin(W.block); // $miss
  if (!store) c.begin(W.block); // $victim
  const miss = store ? 0 : 1;
  /**
   * With the entry's byte index on the stack (and in ti): on to the enclosing block when its page is another,
   * to depth `misaligned` when the address is misaligned, else out of $page (depth `found`) with the base.
   */
  const probe = (tagAt: number, tagHiAt: number, baseAt: number, misaligned: number, found: number): void => {
    c.mem(W.i32_load, 2, tagAt).get(lo).i32(-4096).op(W.i32_and).op(W.i32_ne).opU(W.br_if, 0);
    c.get(ti).mem(W.i32_load, 2, tagHiAt).get(a).i64(32).op(W.i64_shr_u).op(W.i32_wrap_i64).op(W.i32_ne).opU(W.br_if, 0);
    if (size > 1) c.get(lo).i32(size - 1).op(W.i32_and).opU(W.br_if, misaligned);
    c.get(ti).mem(W.i32_load, 2, baseAt).opU(W.br, found);
  };
  base();
  c.i64(imm).op(W.i64_add).tee(a).op(W.i32_wrap_i64).tee(lo);
  c.i32(10).op(W.i32_shr_u).i32(TLB_MASK << 2).op(W.i32_and).get(dset4).op(W.i32_add).tee(ti);
  probe(tag, tagHi, store ? TLB_BASE_W : TLB_BASE_R, miss, miss + 1);
  if (!store) {
    c.end(); // $victim: mmu.ts victimOf(slot), as a byte index
    c.get(ti).i32(TLB_BITS + 2).op(W.i32_shr_u).i32(TLB_BITS + 1).op(W.i32_shl).get(ti).i32((TLB_SIZE / 2 - 1) << 2).op(W.i32_and).op(W.i32_or).tee(ti);
    probe(TLB_VTAG_R, TLB_VTAGHI_R, TLB_VBASE_R, 0, 1);
  }
  c.end(); // $miss: its code follows, inside $page
}

/** The high 64 bits of the unsigned product of t[0] and t[1], left on the stack (uses t[2..5]). */
function mulhu(c: Code, t: number[]): void {
  const low = (x: number): void => { c.get(x).op(W.i32_wrap_i64).op(W.i64_extend_i32_u); };
  low(t[0]); c.set(t[2]); // a0
  c.get(t[0]).i64(32).op(W.i64_shr_u).set(t[3]); // a1
  low(t[1]); c.set(t[4]); // b0
  c.get(t[1]).i64(32).op(W.i64_shr_u).set(t[5]); // b1
  c.get(t[2]).get(t[5]).op(W.i64_mul).set(t[0]); // a0 * b1
  c.get(t[3]).get(t[4]).op(W.i64_mul).set(t[1]); // a1 * b0
  // mid = (a0 * b0 >>> 32) + lo(a0 * b1) + lo(a1 * b0): below 3 * 2^32, no overflow
  c.get(t[2]).get(t[4]).op(W.i64_mul).i64(32).op(W.i64_shr_u);
  low(t[0]); c.op(W.i64_add);
  low(t[1]); c.op(W.i64_add);
  c.i64(32).op(W.i64_shr_u); // carry out of the middle word
  c.get(t[3]).get(t[5]).op(W.i64_mul).op(W.i64_add);
  c.get(t[0]).i64(32).op(W.i64_shr_u).op(W.i64_add);
  c.get(t[1]).i64(32).op(W.i64_shr_u).op(W.i64_add);
}
