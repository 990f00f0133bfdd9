/**
 * Address translation: the software TLB, the Sv39/Sv48/Sv57 page-table walk (with Svpbmt and Svnapot) and PMP.
 *
 * TLB: direct-mapped, one set per "MMU index" (the effective privilege, and for S-mode data whether SUM is
 * set), separately for fetch, load and store, like QEMU's softmmu. The tag is the virtual page number as
 * one double (hi * 2^20 + lo >>> 12, exact below 2^53), so the fast path is a single compare; the entry
 * holds the byte offset of the page in the WebAssembly memory, as an int32: offsets of 2 GiB and up (RAM
 * beyond 2 GiB - 64 KiB) wrap negative, so every index made from one is taken unsigned (`>>> 0`, `>>> 2`). Permissions are folded into which table holds
 * the entry: a store entry exists only for a writable page whose PTE is already dirty and that holds no
 * decoded code. NaN marks an empty slot (it never compares equal).
 */
import { Cause, Priv } from './csr.js';
import { TLB_BASE_R, TLB_BASE_W, TLB_ENTRIES, TLB_TAG_R, TLB_TAG_W, TLB_TAGHI_R, TLB_TAGHI_W, TLB_VBASE_R, TLB_VTAG_R, TLB_VTAGHI_R } from './layout.js';

export const TLB_BITS = 9;
export const TLB_SIZE = 1 << TLB_BITS;
export const TLB_MASK = TLB_SIZE - 1;
if (4 * TLB_SIZE !== TLB_ENTRIES) throw new Error('layout.ts TLB_ENTRIES does not match the TLB');
/** MMU indexes: which TLB set an access uses. */
export const MMU_U = 0, MMU_S = 1, MMU_S_SUM = 2, MMU_M = 3;

export const enum Access { Fetch = 0, Load = 1, Store = 2 }

const PTE_V = 1, PTE_R = 2, PTE_W = 4, PTE_X = 8, PTE_U = 16, PTE_A = 64, PTE_D = 128;
/** PTE bits in the high word: N (63, Svnapot), PBMT (62:61, Svpbmt), reserved (60:54). */
const PTE_HI_N = 0x80000000 | 0, PTE_HI_PBMT = 0x60000000, PTE_HI_RESERVED = 0x1fc00000;
const PMP_R = 1, PMP_W = 2, PMP_X = 4, PMP_A = 0x18, PMP_L = 0x80;
const PMP_TOR = 0x08, PMP_NA4 = 0x10;
export const PMP_ENTRIES = 64;

/** What the MMU needs of physical memory: guest RAM inside the shared WebAssembly memory. */
export interface PhysRam {
  readonly base: number; // guest physical address of RAM (0x80000000)
  readonly size: number; // bytes
  readonly offset: number; // byte offset of RAM inside the WebAssembly memory
  readonly i32: Int32Array; // view over the whole WebAssembly memory
  /**
   * Per RAM page: non-zero when stores must take the slow path. Bit 0: decoded code; bit 1: watched
   * (HTIF tohost); bit 2: the dirty log (live migration) has not noted a write to it yet.
   */
  readonly pageFlags: Uint8Array;
}

/** The load victim of slot i (the translator computes the same from the slot's byte index). */
export const victimOf = (i: number): number => ((i >> TLB_BITS) << (TLB_BITS - 1)) | (i & (TLB_SIZE / 2 - 1));

export class Mmu {
  readonly tagX = new Int32Array(4 * TLB_SIZE).fill(1);
  readonly tagXHi = new Int32Array(4 * TLB_SIZE);
  readonly baseX = new Int32Array(4 * TLB_SIZE);
  // The data tables live in the machine's memory when one is given (layout.ts STATE_TLB), where compiled
  // code reads them; the fetch table stays here: only the dispatcher, in JS, looks at it.
  readonly tagR: Int32Array;
  readonly tagW: Int32Array;
  readonly tagRHi: Int32Array;
  readonly tagWHi: Int32Array;
  readonly baseR: Int32Array;
  readonly baseW: Int32Array;
  /**
   * Load victims (layout.ts TLB_VTAG_R): entry victimOf(i) holds what a load fill last pushed out of slot i or
   * of its pair, the slot TLB_SIZE / 2 away in the same set (not the next one: neighbouring pages, as a buffer
   * across two pages, would share a victim; measured, docs/performance.md).
   */
  readonly vtagR: Int32Array;
  readonly vtagRHi: Int32Array;
  readonly vbaseR: Int32Array;

  /** satp: mode 0 (Bare), 8 (Sv39), 9 (Sv48) or 10 (Sv57); root page-table physical address; ASID. */
  satpMode = 0;
  satpRoot = 0;
  satpAsid = 0;
  /** menvcfg.PBMTE: Svpbmt's PTE bits 62:61 may be non-zero (else they are reserved, and fault). */
  pbmte = false;

  readonly pmpcfg = new Uint8Array(PMP_ENTRIES);
  /** pmpaddr registers as 32-bit halves (54-bit values: bits 55:2 of an address). */
  readonly pmpaddrLo = new Int32Array(PMP_ENTRIES);
  readonly pmpaddrHi = new Int32Array(PMP_ENTRIES);
  private readonly pmpStart = new Float64Array(PMP_ENTRIES);
  private readonly pmpEnd = new Float64Array(PMP_ENTRIES);
  private pmpActive = 0;
  /**
   * Virtual page numbers (hi * 2^20 + lo >>> 12) covered by superpage translations that may be in the TLB,
   * which caches them as 4 KiB entries: sfence.vma of an address in this range must drop them all.
   */
  private superFirst = Infinity;
  private superLast = -Infinity;

  /** Set by translate() when it returns -1: the exception cause. */
  faultCause = 0;

  constructor(private readonly ram: PhysRam, memory?: ArrayBuffer) {
    const n = 4 * TLB_SIZE;
    const table = (offset: number, entries = n): Int32Array => memory === undefined ? new Int32Array(entries) : new Int32Array(memory, offset, entries);
    this.tagR = table(TLB_TAG_R).fill(1);
    this.tagRHi = table(TLB_TAGHI_R).fill(0);
    this.baseR = table(TLB_BASE_R).fill(0);
    this.tagW = table(TLB_TAG_W).fill(1);
    this.tagWHi = table(TLB_TAGHI_W).fill(0);
    this.baseW = table(TLB_BASE_W).fill(0);
    this.vtagR = table(TLB_VTAG_R, n / 2).fill(1);
    this.vtagRHi = table(TLB_VTAGHI_R, n / 2).fill(0);
    this.vbaseR = table(TLB_VBASE_R, n / 2).fill(0);
  }

  /** Called when a fetch translation may go (the JIT's jump cache holds virtual pcs). */
  onFlush: (() => void) | null = null;
  /** Called when the fetch translations of one virtual page (pc low half `lo`, any high half) may go. */
  onFlushPage: ((lo: number) => void) | null = null;

  flushAll(): void {
    this.onFlush?.();
    this.superFirst = Infinity;
    this.superLast = -Infinity;
    this.tagX.fill(1);
    this.tagR.fill(1);
    this.vtagR.fill(1);
    this.tagW.fill(1);
  }

  /**
   * Drops every store entry that maps the RAM page at memory offset `base` (it now holds decoded code):
   * a scan of the store table, far cheaper than flushing it, which would make every hot page walk again.
   */
  dropWritesTo(offset: number): void {
    const base = offset | 0; // as baseW holds it
    const tagW = this.tagW, baseW = this.baseW;
    for (let i = 0; i < baseW.length; i++) if (baseW[i] === base) tagW[i] = 1;
  }

  /** sfence.vma with an address: drop that page from every set (ASIDs are not kept in the TLB, so any ASID). */
  flushPage(lo: number, hi: number): void {
    const vpn = hi * 1048576 + (lo >>> 12);
    // In a superpage, the leaf PTE also maps the other 4 KiB pages cached from it (spec 4.2.1).
    if (vpn >= this.superFirst && vpn <= this.superLast) { this.flushAll(); return; }
    this.onFlushPage?.(lo);
    const key = lo & -4096;
    const idx = (lo >>> 12) & TLB_MASK;
    for (let set = 0; set < 4; set++) {
      const i = set * TLB_SIZE + idx;
      if (this.tagX[i] === key && this.tagXHi[i] === hi) this.tagX[i] = 1;
      if (this.tagR[i] === key && this.tagRHi[i] === hi) this.tagR[i] = 1;
      const v = victimOf(i);
      if (this.vtagR[v] === key && this.vtagRHi[v] === hi) this.vtagR[v] = 1;
      if (this.tagW[i] === key && this.tagWHi[i] === hi) this.tagW[i] = 1;
    }
  }

  /**
   * Translates virtual address (lo, hi) for an access of `size` bytes by a hart at privilege `priv`
   * (the effective one for data), returning the physical address or -1 with faultCause set.
   * When the page is RAM and the access rights hold for the whole page, the TLB entry of `set` is filled.
   */
  translate(lo: number, hi: number, size: number, access: Access, priv: Priv, set: number, sum: boolean, mxr: boolean): number {
    let pa: number;
    let writableClean = true; // for stores: may the TLB keep this page writable?
    if (priv === Priv.M || this.satpMode === 0) {
      pa = (hi >>> 0) * 4294967296 + (lo >>> 0);
    } else {
      pa = this.walk(lo, hi, access, priv, sum, mxr);
      if (pa < 0) return -1;
      writableClean = this.walkWritable;
    }
    if (!this.pmpCheck(pa, size, access, priv)) {
      this.faultCause = access === Access.Fetch ? Cause.InsnAccess : access === Access.Load ? Cause.LoadAccess : Cause.StoreAccess;
      return -1;
    }
    const ram = this.ram;
    const page = pa - (pa % 4096);
    if (page >= ram.base && page < ram.base + ram.size && this.pmpPageOk(page, access, priv)) {
      const key = lo & -4096;
      const i = set * TLB_SIZE + ((lo >>> 12) & TLB_MASK);
      const base = ram.offset + (page - ram.base);
      if (access === Access.Fetch) {
        this.tagX[i] = key; this.tagXHi[i] = hi; this.baseX[i] = base;
      } else if (access === Access.Load) {
        // The entry it replaces becomes its pair's victim (layout.ts), unless it is this page's already.
        const old = this.tagR[i];
        if (old !== 1 && (old !== key || this.tagRHi[i] !== hi)) {
          const v = victimOf(i);
          this.vtagR[v] = old; this.vtagRHi[v] = this.tagRHi[i]; this.vbaseR[v] = this.baseR[i];
        }
        this.tagR[i] = key; this.tagRHi[i] = hi; this.baseR[i] = base;
      } else if (writableClean && ram.pageFlags[(page - ram.base) / 4096] === 0) {
        this.tagW[i] = key; this.tagWHi[i] = hi; this.baseW[i] = base;
        // A store entry implies the page is readable too only if R was set: loads fill their own entry.
      }
    }
    return pa;
  }

  /** Set by walk(): whether the leaf allows a store with no further A/D update. */
  private walkWritable = false;

  /**
   * Sv39/Sv48/Sv57 walk (privileged spec 1.12, 4.3.2, 4.5, 4.6), with hardware A/D updates (Svadu), Svpbmt
   * (the memory type is accepted and has no effect: Bonsai's memory is coherent and unordered accesses never
   * show) and Svnapot (64 KiB NAPOT ranges of 4 KiB pages).
   */
  private walk(lo: number, hi: number, access: Access, priv: Priv, sum: boolean, mxr: boolean): number {
    const pageFault = access === Access.Fetch ? Cause.InsnPageFault : access === Access.Load ? Cause.LoadPageFault : Cause.StorePageFault;
    const accessFault = access === Access.Fetch ? Cause.InsnAccess : access === Access.Load ? Cause.LoadAccess : Cause.StoreAccess;
    const levels = this.satpMode - 5; // 8 Sv39: 3, 9 Sv48: 4, 10 Sv57: 5
    // Bits 63..VA_BITS-1 must all equal bit VA_BITS-1.
    const top = levels === 3 ? hi >> 6 : levels === 4 ? hi >> 15 : hi >> 24;
    if (top !== 0 && top !== -1) { this.faultCause = pageFault; return -1; }
    const ram = this.ram;
    let table = this.satpRoot;
    for (let level = levels - 1; level >= 0; level--) {
      let vpn: number;
      if (level === 0) vpn = (lo >>> 12) & 0x1ff;
      else if (level === 1) vpn = (lo >>> 21) & 0x1ff;
      else if (level === 2) vpn = ((lo >>> 30) | (hi << 2)) & 0x1ff;
      else if (level === 3) vpn = (hi >>> 7) & 0x1ff;
      else vpn = (hi >>> 16) & 0x1ff;
      const pteAddr = table + vpn * 8;
      // PTE accesses are implicit S-mode accesses, checked by PMP (spec 3.7.1).
      if (pteAddr < ram.base || pteAddr + 8 > ram.base + ram.size || !this.pmpCheck(pteAddr, 8, Access.Load, Priv.S)) {
        this.faultCause = accessFault; return -1;
      }
      const w = (ram.offset + (pteAddr - ram.base)) >>> 2;
      const pteLo = ram.i32[w];
      const pteHi = ram.i32[w + 1];
      // V = 0, W without R, or reserved bits 60:54 set: page fault.
      if ((pteLo & PTE_V) === 0 || (pteLo & (PTE_R | PTE_W)) === PTE_W || (pteHi & PTE_HI_RESERVED) !== 0) {
        this.faultCause = pageFault; return -1;
      }
      const ppn = (pteLo >>> 10) + (pteHi & 0x3fffff) * 4194304;
      if ((pteLo & (PTE_R | PTE_X)) === 0) { // pointer to the next level
        // N and PBMT are reserved in a pointer (Svnapot, Svpbmt).
        if (level === 0 || (pteHi & (PTE_HI_N | PTE_HI_PBMT)) !== 0) { this.faultCause = pageFault; return -1; }
        table = ppn * 4096;
        continue;
      }
      // Svpbmt: without menvcfg.PBMTE the bits are reserved; with it, PBMT = 3 is.
      const pbmt = pteHi & PTE_HI_PBMT;
      if (pbmt !== 0 && (!this.pbmte || pbmt === PTE_HI_PBMT)) { this.faultCause = pageFault; return -1; }
      // Leaf: permission checks.
      if (priv === Priv.U) {
        if ((pteLo & PTE_U) === 0) { this.faultCause = pageFault; return -1; }
      } else if ((pteLo & PTE_U) !== 0 && (access === Access.Fetch || !sum)) {
        this.faultCause = pageFault; return -1;
      }
      if (access === Access.Fetch) {
        if ((pteLo & PTE_X) === 0) { this.faultCause = pageFault; return -1; }
      } else if (access === Access.Load) {
        if ((pteLo & PTE_R) === 0 && !(mxr && (pteLo & PTE_X) !== 0)) { this.faultCause = pageFault; return -1; }
      } else if ((pteLo & PTE_W) === 0) { this.faultCause = pageFault; return -1; }
      // Svnapot: N marks a naturally aligned range of 4 KiB pages; only 64 KiB (PPN[3:0] = 1000) exists.
      const napot = (pteHi & PTE_HI_N) !== 0;
      if (napot && (level !== 0 || (pteLo & (15 << 10)) !== (8 << 10))) { this.faultCause = pageFault; return -1; }
      // Superpage alignment: the low PPN fields must be zero. A NAPOT range spans 16 pages.
      const span = napot ? 16 : level === 0 ? 1 : level === 1 ? 512 : level === 2 ? 262144 : level === 3 ? 134217728 : 68719476736;
      if (!napot && ppn % span !== 0) { this.faultCause = pageFault; return -1; }
      // Svadu: set A, and D on a store, atomically with the walk (single-threaded here).
      let newLo = pteLo | PTE_A;
      if (access === Access.Store) newLo |= PTE_D;
      if (newLo !== pteLo) {
        if (!this.pmpCheck(pteAddr, 8, Access.Store, Priv.S)) { this.faultCause = accessFault; return -1; }
        ram.i32[w] = newLo;
        const page = (pteAddr - ram.base) / 4096 | 0;
        if (ram.pageFlags[page] !== 0) this.onPteWrite?.(pteAddr);
      }
      this.walkWritable = (newLo & PTE_D) !== 0;
      const vpnLow = span === 1 ? 0 : ((hi * 1048576 + (lo >>> 12)) % span + span) % span;
      if (span !== 1) {
        const first = hi * 1048576 + (lo >>> 12) - vpnLow;
        if (first < this.superFirst) this.superFirst = first;
        if (first + span - 1 > this.superLast) this.superLast = first + span - 1;
      }
      return (ppn - ppn % span + vpnLow) * 4096 + (lo & 0xfff);
    }
    this.faultCause = pageFault;
    return -1;
  }

  /** Called when the walker updates a PTE in a page that holds decoded code or is watched. */
  onPteWrite: ((pa: number) => void) | null = null;

  // --- PMP (privileged spec 1.12, 3.7) ---------------------------------------------------------------

  /** Recomputes the region bounds after a pmpcfg/pmpaddr write. */
  pmpUpdate(): void {
    this.pmpActive = 0;
    for (let i = 0; i < PMP_ENTRIES; i++) {
      const cfg = this.pmpcfg[i];
      const a = cfg & PMP_A;
      const lo = this.pmpaddrLo[i], hi = this.pmpaddrHi[i];
      if (a === 0) { this.pmpStart[i] = 0; this.pmpEnd[i] = 0; continue; }
      this.pmpActive++;
      const byteAddr = ((hi >>> 0) * 4294967296 + (lo >>> 0)) * 4; // may round above 2^53: far beyond any RAM
      if (a === PMP_TOR) {
        this.pmpStart[i] = i === 0 ? 0 : ((this.pmpaddrHi[i - 1] >>> 0) * 4294967296 + (this.pmpaddrLo[i - 1] >>> 0)) * 4;
        this.pmpEnd[i] = byteAddr;
      } else if (a === PMP_NA4) {
        this.pmpStart[i] = byteAddr;
        this.pmpEnd[i] = byteAddr + 4;
      } else { // NAPOT: t trailing ones of pmpaddr give a region of 2^(t+3) bytes
        const t = ~lo === 0 ? 32 + Math.min(31 - Math.clz32(~hi & (hi + 1)), 22) : 31 - Math.clz32(~lo & (lo + 1));
        // Clear the low t+1 bits of pmpaddr to find the base.
        const baseLo = t + 1 >= 32 ? 0 : lo & ~((2 ** (t + 1)) - 1);
        const baseHi = t + 1 <= 32 ? hi : hi & ~((2 ** (t + 1 - 32)) - 1);
        const start = ((baseHi >>> 0) * 4294967296 + (baseLo >>> 0)) * 4;
        this.pmpStart[i] = start;
        this.pmpEnd[i] = start + 2 ** (t + 3);
      }
    }
  }

  /** Whether an access of `size` bytes at `pa` is allowed for privilege `priv`. */
  pmpCheck(pa: number, size: number, access: Access, priv: Priv): boolean {
    // With no entry active, M-mode has every access and S/U none (an implemented but unmatched PMP, 3.7.1).
    if (this.pmpActive === 0) return priv === Priv.M;
    const end = pa + size;
    for (let i = 0; i < PMP_ENTRIES; i++) {
      const cfg = this.pmpcfg[i];
      if ((cfg & PMP_A) === 0) continue;
      const s = this.pmpStart[i], e = this.pmpEnd[i];
      if (end <= s || pa >= e) continue;
      if (pa < s || end > e) return false; // partially matching: fails (spec 3.7.1.3)
      if (priv === Priv.M && (cfg & PMP_L) === 0) return true;
      const need = access === Access.Fetch ? PMP_X : access === Access.Load ? PMP_R : PMP_W;
      return (cfg & need) !== 0;
    }
    return priv === Priv.M;
  }

  /** Whether every access within the 4 KiB page at `page` gets the same (allowed) PMP answer. */
  private pmpPageOk(page: number, access: Access, priv: Priv): boolean {
    // Even for M-mode: an entry matching part of an access makes it fail (spec 3.7.1), so a page that
    // holds part of a region is never cached.
    return this.pmpCheck(page, 4096, access, priv);
  }
}
