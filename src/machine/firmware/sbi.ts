/**
 * Bonsai's built-in SBI (`--bios builtin`): the Supervisor Binary Interface served by the VMM itself
 * instead of M-mode firmware running in the guest (RISC-V SBI specification 2.0).
 *
 * The hart calls the handler for every `ecall` from S-mode, with pc already past the ecall. The calling
 * convention (spec chapter 3): a7 = extension id (EID), a6 = function id (FID), arguments in a0-a5;
 * the result is `struct sbiret { long error; long value; }` in a0/a1, every other register preserved.
 * Legacy extensions (EIDs 0x00-0x0F, chapter 5) ignore a6 and return one value in a0 only.
 *
 * Extensions: Base, TIME, IPI, RFENCE, HSM, SRST, DBCN, and legacy set_timer, console_putchar,
 * console_getchar and shutdown. Everything else answers SBI_ERR_NOT_SUPPORTED.
 *
 * Implementation id: 0x426f6e73 ("Bons" in ASCII). The SBI specification's registry (Base extension,
 * "SBI Implementation IDs") numbers implementations 0, 1, 2, ... in order of registration; Bonsai is not
 * registered, and a four-letter tag stays clear of that sequence. Implementation version:
 * major << 16 | minor << 8 | patch of Bonsai (0.1.0 -> 0x000100).
 *
 * The machine has one hart, so "remote" operations (IPIs, fences) happen on the calling hart.
 */
import {
  ENVCFG_CBCFE, ENVCFG_CBIE, ENVCFG_CBZE, MENVCFG_HI_PBMTE, MENVCFG_HI_STCE, MIP_SEIP, MIP_SSIP, MIP_STIP, Priv,
} from '../riscv/csr.js';
import type { Hart } from '../riscv/hart.js';

// Standard SBI errors (spec 3, table "Standard SBI Errors").
export const SBI_SUCCESS = 0;
export const SBI_ERR_FAILED = -1;
export const SBI_ERR_NOT_SUPPORTED = -2;
export const SBI_ERR_INVALID_PARAM = -3;
export const SBI_ERR_DENIED = -4;
export const SBI_ERR_INVALID_ADDRESS = -5;
export const SBI_ERR_ALREADY_AVAILABLE = -6;

// Extension ids.
export const EID_LEGACY_SET_TIMER = 0x00;
export const EID_LEGACY_PUTCHAR = 0x01;
export const EID_LEGACY_GETCHAR = 0x02;
export const EID_LEGACY_SHUTDOWN = 0x08;
export const EID_BASE = 0x10;
export const EID_TIME = 0x54494d45; // "TIME"
export const EID_IPI = 0x735049; // "sPI"
export const EID_RFENCE = 0x52464e43; // "RFNC"
export const EID_HSM = 0x48534d; // "HSM"
export const EID_SRST = 0x53525354; // "SRST"
export const EID_DBCN = 0x4442434e; // "DBCN"

/** SBI specification 2.0: major << 24 | minor. */
export const SBI_SPEC_VERSION = 2 << 24;
export const SBI_IMPL_ID = 0x426f6e73;
export const SBI_IMPL_VERSION = 0x000100;

/** HSM hart states (spec 9, table "HSM Hart States"). */
export const HSM_STARTED = 0;

/** Largest number of bytes one DBCN console_write or console_read moves; callers loop on partial counts. */
export const DBCN_MAX_CHUNK = 65536;

export type ResetType = 'shutdown' | 'cold-reboot' | 'warm-reboot';
export type ResetReason = 'none' | 'system-failure';

/** What the SBI needs of the board. */
export interface SbiEnv {
  /** Console output (DBCN writes, legacy putchar). The bytes are a copy: the board may keep them. */
  consoleWrite(bytes: Uint8Array): void;
  /** Takes up to `max` bytes of pending console input; an empty array when there is none. Never blocks. */
  consoleRead(max: number): Uint8Array;
  /**
   * Programs the supervisor timer: STIP must be pending from the moment the machine's clock (mtime ticks)
   * reaches stime_value, and clear before then, whether or not the interrupt is enabled.
   * stime_value is the guest's 64-bit value in 32-bit halves (lo, hi), exact; 2^64-1 means "never".
   * Bonsai's hart has Sstc, so the board implements this with `programStimecmp` below.
   */
  setTimer(hart: Hart, lo: number, hi: number): void;
  /**
   * Makes the supervisor software interrupt (SSIP) pending on `hart`, as M-mode firmware does by setting
   * mip.SSIP: the guest must be able to clear it again through sip.
   */
  raiseSoftwareInterrupt(hart: Hart): void;
  /**
   * FENCE.I on behalf of the guest. The interpreter needs nothing (stores drop stale decoded code and an
   * SBI call already ends the decoded block), so a board may pass a no-op; a JIT drops translated code here.
   */
  fenceI(hart: Hart): void;
  /**
   * System reset or shutdown (SRST, legacy shutdown). Must not resume the guest after the ecall: stop the
   * machine (the SBI writes no registers after this call, so a board may also reset the hart here).
   */
  reset(type: ResetType, reason: ResetReason): void;
  /**
   * A live view of guest physical memory [pa, pa + length) when all of it is RAM, else null.
   * `length` may be 0. The SBI tells the hart about bytes it writes through the view (hart.ramWritten).
   */
  physMemory(pa: number, length: number): Uint8Array | null;
}

/**
 * The Sstc way to implement SbiEnv.setTimer: write stimecmp and let the hart drive STIP from it (the
 * machine already calls hart.updateTimer every slice and sleeps in WFI until hart.stimecmpDeadline()).
 * Requires menvcfg.STCE, which bootSupervisor sets.
 */
export function programStimecmp(hart: Hart, lo: number, hi: number, now: number): void {
  hart.stimecmpLo = lo | 0;
  hart.stimecmpHi = hi | 0;
  hart.updateTimer(now);
}

const TWO32 = 4294967296;
// Register indexes into hart.x (register i: lo = x[2i], hi = x[2i + 1]).
const A0 = 20, A1 = 22, A2 = 24, A6 = 32, A7 = 34;

/** Returns the `hart.sbi` handler that serves SBI calls from S-mode. */
export function createSbi(env: SbiEnv): (hart: Hart) => void {
  return (hart: Hart): void => {
    const x = hart.x;
    const eid = x[A7];
    // EIDs and FIDs are signed 32-bit values, sign-extended in their registers (spec 3).
    if (x[A7 + 1] !== eid >> 31) { ret(x, SBI_ERR_NOT_SUPPORTED, 0); return; }
    if (eid >= 0 && eid <= 0x0f) { legacy(env, hart, eid); return; }
    const fid = x[A6];
    if (x[A6 + 1] !== fid >> 31) { ret(x, SBI_ERR_NOT_SUPPORTED, 0); return; }
    switch (eid) {
      case EID_BASE: base(x, fid); return;
      case EID_TIME:
        if (fid !== 0) break;
        env.setTimer(hart, x[A0], x[A0 + 1]);
        ret(x, SBI_SUCCESS, 0);
        return;
      case EID_IPI: {
        if (fid !== 0) break;
        const t = targets(hart);
        if (t < 0) { ret(x, SBI_ERR_INVALID_PARAM, 0); return; }
        if (t > 0) env.raiseSoftwareInterrupt(hart);
        ret(x, SBI_SUCCESS, 0);
        return;
      }
      case EID_RFENCE: rfence(env, hart, fid); return;
      case EID_HSM: hsm(hart, fid); return;
      case EID_SRST: {
        if (fid !== 0) break;
        const type = x[A0] >>> 0, reason = x[A1] >>> 0;
        const t: ResetType | null = type === 0 ? 'shutdown' : type === 1 ? 'cold-reboot' : type === 2 ? 'warm-reboot' : null;
        const r: ResetReason | null = reason === 0 ? 'none' : reason === 1 ? 'system-failure' : null;
        if (t === null || r === null) { ret(x, SBI_ERR_INVALID_PARAM, 0); return; }
        env.reset(t, r);
        return; // does not return to the guest
      }
      case EID_DBCN: dbcn(env, hart, fid); return;
      default: break;
    }
    ret(x, SBI_ERR_NOT_SUPPORTED, 0);
  };
}

/** Writes sbiret: error in a0, value in a1, both sign-extended from 32 bits. */
function ret(x: Int32Array, error: number, value: number): void {
  x[A0] = error; x[A0 + 1] = error >> 31;
  x[A1] = value; x[A1 + 1] = value >> 31;
}

/** Writes an unsigned value (below 2^53) to a1 with success in a0. */
function retUnsigned(x: Int32Array, value: number): void {
  x[A0] = 0; x[A0 + 1] = 0;
  x[A1] = value % TWO32 | 0; x[A1 + 1] = Math.floor(value / TWO32) | 0;
}

/** A register as an unsigned number (exact below 2^53; larger values round but stay larger than any RAM). */
const reg = (x: Int32Array, r: number): number => (x[r + 1] >>> 0) * TWO32 + (x[r] >>> 0);

function probe(eid: number): number {
  switch (eid) {
    case EID_LEGACY_SET_TIMER: case EID_LEGACY_PUTCHAR: case EID_LEGACY_GETCHAR: case EID_LEGACY_SHUTDOWN:
    case EID_BASE: case EID_TIME: case EID_IPI: case EID_RFENCE: case EID_HSM: case EID_SRST: case EID_DBCN:
      return 1;
    default:
      return 0;
  }
}

function base(x: Int32Array, fid: number): void {
  switch (fid) {
    case 0: ret(x, SBI_SUCCESS, SBI_SPEC_VERSION); return;
    case 1: ret(x, SBI_SUCCESS, SBI_IMPL_ID); return;
    case 2: ret(x, SBI_SUCCESS, SBI_IMPL_VERSION); return;
    case 3: ret(x, SBI_SUCCESS, x[A0 + 1] === x[A0] >> 31 ? probe(x[A0]) : 0); return;
    // mvendorid, marchid, mimpid: the values the hart's own CSRs hold (docs/hart.md).
    case 4: ret(x, SBI_SUCCESS, 0); return;
    case 5: ret(x, SBI_SUCCESS, 0); return;
    case 6: ret(x, SBI_SUCCESS, 1); return;
    default: ret(x, SBI_ERR_NOT_SUPPORTED, 0);
  }
}

/**
 * The hart list in hart_mask (a0) and hart_mask_base (a1) (spec 3.1): 1 when it names the calling hart,
 * 0 when it names no hart, -1 when it names a hart that does not exist.
 */
function targets(hart: Hart): number {
  const x = hart.x;
  if (x[A1] === -1 && x[A1 + 1] === -1) return 1; // hart_mask_base = -1: every hart
  const maskLo = x[A0], maskHi = x[A0 + 1];
  if (maskLo === 0 && maskHi === 0) return 0;
  const base = reg(x, A1), id = hart.hartId;
  if (base > id || id - base >= 64) return -1;
  const bit = id - base;
  const wantLo = bit < 32 ? 1 << bit : 0, wantHi = bit >= 32 ? 1 << (bit - 32) : 0;
  return maskLo === wantLo && maskHi === wantHi ? 1 : -1;
}

function rfence(env: SbiEnv, hart: Hart, fid: number): void {
  const x = hart.x;
  if (fid < 0 || fid > 2) { ret(x, SBI_ERR_NOT_SUPPORTED, 0); return; } // HFENCE.*: no hypervisor extension
  const t = targets(hart);
  if (t < 0) { ret(x, SBI_ERR_INVALID_PARAM, 0); return; }
  if (t > 0) {
    if (fid === 0) env.fenceI(hart);
    else hart.mmu.flushAll(); // any range and ASID: the TLB holds no ASIDs, and a full flush is one fill
  }
  ret(x, SBI_SUCCESS, 0);
}

function hsm(hart: Hart, fid: number): void {
  const x = hart.x;
  const isSelf = (r: number): boolean => x[r] === hart.hartId && x[r + 1] === 0;
  switch (fid) {
    case 0: // hart_start(hartid, start_addr, opaque)
      ret(x, isSelf(A0) ? SBI_ERR_ALREADY_AVAILABLE : SBI_ERR_INVALID_PARAM, 0);
      return;
    case 1: // hart_stop: the only hart cannot stop, or nothing could ever start it again
      ret(x, SBI_ERR_FAILED, 0);
      return;
    case 2: // hart_get_status(hartid)
      if (isSelf(A0)) ret(x, SBI_SUCCESS, HSM_STARTED);
      else ret(x, SBI_ERR_INVALID_PARAM, 0);
      return;
    case 3: { // hart_suspend(suspend_type, resume_addr, opaque)
      const type = x[A0] >>> 0;
      if (type === 0) {
        // Default retentive suspend: sleep as WFI does, until an interrupt is pending and enabled in sie
        // (whatever sstatus.SIE says), then return success.
        ret(x, SBI_SUCCESS, 0);
        if ((hart.mip & hart.mie) === 0) hart.wfi = true;
        return;
      }
      // Default non-retentive suspend is valid but not offered; everything else is reserved or
      // platform-specific, which this platform defines none of.
      ret(x, type === 0x80000000 ? SBI_ERR_NOT_SUPPORTED : SBI_ERR_INVALID_PARAM, 0);
      return;
    }
    default:
      ret(x, SBI_ERR_NOT_SUPPORTED, 0);
  }
}

function dbcn(env: SbiEnv, hart: Hart, fid: number): void {
  const x = hart.x;
  if (fid === 2) { // console_write_byte(byte)
    env.consoleWrite(Uint8Array.of(x[A0] & 0xff));
    ret(x, SBI_SUCCESS, 0);
    return;
  }
  if (fid !== 0 && fid !== 1) { ret(x, SBI_ERR_NOT_SUPPORTED, 0); return; }
  // console_write / console_read(num_bytes, base_addr_lo, base_addr_hi): a physical range (spec 3.2).
  const count = reg(x, A0);
  const addrHigh = x[A2] !== 0 || x[A2 + 1] !== 0; // base_addr_hi: bits 64 and up of the address
  const pa = reg(x, A1);
  const whole = addrHigh ? null : env.physMemory(pa, count);
  if (whole === null) { ret(x, SBI_ERR_INVALID_PARAM, 0); return; }
  const n = Math.min(count, DBCN_MAX_CHUNK);
  if (fid === 0) {
    if (n > 0) env.consoleWrite(whole.slice(0, n));
    retUnsigned(x, n);
    return;
  }
  const input = n > 0 ? env.consoleRead(n) : new Uint8Array(0);
  const got = Math.min(input.length, n);
  if (got > 0) {
    whole.set(input.subarray(0, got));
    // Decoded instructions of the pages written are stale now.
    for (let page = pa - (pa % 4096); page < pa + got; page += 4096) hart.ramWritten(page);
  }
  retUnsigned(x, got);
}

function legacy(env: SbiEnv, hart: Hart, eid: number): void {
  const x = hart.x;
  const a0 = (v: number): void => { x[A0] = v; x[A0 + 1] = v >> 31; };
  switch (eid) {
    case EID_LEGACY_SET_TIMER:
      env.setTimer(hart, x[A0], x[A0 + 1]);
      a0(0);
      return;
    case EID_LEGACY_PUTCHAR:
      env.consoleWrite(Uint8Array.of(x[A0] & 0xff));
      a0(0);
      return;
    case EID_LEGACY_GETCHAR: {
      const b = env.consoleRead(1);
      a0(b.length > 0 ? b[0] : -1);
      return;
    }
    case EID_LEGACY_SHUTDOWN:
      env.reset('shutdown', 'none');
      return;
    default:
      a0(SBI_ERR_NOT_SUPPORTED); // clear_ipi, send_ipi and the legacy remote fences are not offered
  }
}

/**
 * Exceptions delegated to S-mode. With the built-in SBI there is no M-mode trap handler at all, so every
 * exception S-mode software can handle goes to it: instruction misaligned (0), access faults (1, 5, 7),
 * illegal instruction (2), breakpoint (3), load/store misaligned (4, 6: only LR/SC/AMOs, the hart performs
 * other misaligned accesses), ecall from U (8), page faults (12, 13, 15). OpenSBI delegates fewer and
 * redirects the rest from its handler; the guest sees the same traps. Ecall from S (9) is the SBI itself.
 */
export const BOOT_MEDELEG = 0xb1ff;
/** Interrupts delegated to S-mode: SSIP, STIP, SEIP. */
export const BOOT_MIDELEG = MIP_SSIP | MIP_STIP | MIP_SEIP;

/**
 * Puts `hart` in the state M-mode firmware leaves it in when it jumps to an S-mode kernel
 * (Linux Documentation/riscv/boot.rst): S-mode at `entry`, a0 = hartid, a1 = the DTB's physical address,
 * satp = 0, interrupts disabled; traps and S interrupts delegated, counters and Sstc opened to S-mode,
 * and one PMP entry granting S/U-mode all of memory.
 */
export function bootSupervisor(hart: Hart, entry: number, dtbAddr: number): void {
  hart.reset(entry % TWO32 | 0, Math.floor(entry / TWO32) | 0);
  hart.medeleg = BOOT_MEDELEG;
  hart.mideleg = BOOT_MIDELEG;
  hart.mcounteren = -1; // cycle, time, instret and the hpmcounters readable from S-mode
  hart.scounteren = 7; // cycle, time, instret readable from U-mode, as OpenSBI leaves it (Linux never sets it)
  // menvcfg as OpenSBI sets it: cbo.zero (CBZE), cbo.clean/flush (CBCFE) and cbo.inval as an invalidate
  // (CBIE = 11) opened to S-mode, Svpbmt's memory types (PBMTE), and Sstc (STCE: stimecmp exists and STIP
  // follows it). A stale timer must not fire.
  hart.menvcfgLo = ENVCFG_CBZE | ENVCFG_CBCFE | ENVCFG_CBIE;
  hart.menvcfgHi = (MENVCFG_HI_STCE | MENVCFG_HI_PBMTE) | 0;
  hart.syncPbmte();
  hart.stimecmpLo = -1;
  hart.stimecmpHi = -1;
  hart.updateTimer(0); // stimecmp is the maximum: clears any STIP left from before
  // pmpaddr0 all ones with A = NAPOT covers every address; R, W and X granted (privileged spec 3.7.1).
  hart.mmu.pmpaddrLo[0] = -1;
  hart.mmu.pmpaddrHi[0] = 0x3fffff;
  hart.mmu.pmpcfg[0] = 0x1f; // A = NAPOT (3 << 3) | X | W | R
  hart.mmu.pmpUpdate();
  hart.stvecLo = hart.stvecHi = 0;
  hart.sscratchLo = hart.sscratchHi = 0;
  hart.sepcLo = hart.sepcHi = 0;
  hart.scauseLo = hart.scauseHi = 0;
  hart.stvalLo = hart.stvalHi = 0;
  hart.senvcfg = 0;
  // What mret with MPP = S would do (reset left MIE, SIE and MPRV clear).
  hart.setPrivilege(Priv.S);
  // TLB entries cached before (e.g. by a guest before a reboot) would outlive the reset.
  hart.mmu.flushAll();
  const x = hart.x;
  x[A0] = hart.hartId; x[A0 + 1] = 0;
  x[A1] = dtbAddr % TWO32 | 0; x[A1 + 1] = Math.floor(dtbAddr / TWO32) | 0;
}
