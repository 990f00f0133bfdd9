/**
 * The one list of what Bonsai's hart implements. misa, the device tree's `riscv,isa`, `riscv,isa-base`,
 * `riscv,isa-extensions`, `mmu-type` and the cache-block sizes are all made from it, so software that reads
 * any of them (Linux, OpenSBI, U-Boot) sees the same hart. An extension joins the list when the hart
 * implements it: the list is what the guest is told it may use.
 */

/** Single-letter extensions, in canonical order (unprivileged spec, chapter 27 "ISA Extension Naming"). */
export const ISA_LETTERS: readonly string[] = ['i', 'm', 'a', 'f', 'd', 'c'];

/** Privilege modes besides M, reported in misa only (S and U are not ISA-string extensions). */
const MISA_MODES: readonly string[] = ['s', 'u'];

/**
 * Multi-letter extensions. Listed in any order: isaString() puts them in canonical order.
 * Zicbom/Zicbop/Zicboz: cache-block operations with CACHE_BLOCK_BYTES blocks; Zihpm: hpmcounter3-31
 * (counting nothing); Sv57, Svpbmt, Svnapot, Svinval: the MMU (mmu.ts); Svadu: hardware A/D updates.
 * Zfh (and Zfhmin, which it implies; both named, as QEMU does), Zfa: the FPU (fpu.ts, fp16.ts).
 * Zba, Zbb, Zbc, Zbs, Zicond: bitmanip.ts; Zcb: decode.ts's compressed expansion;
 * Zihintpause: pause runs as the FENCE hint it is; Zkt: the interpreter's timing never depends on data.
 */
export const ISA_EXTENSIONS: readonly string[] = [
  'zicbom', 'zicbop', 'zicboz', 'zicntr', 'zicsr', 'zifencei', 'zihpm',
  'zfa', 'zfh', 'zfhmin',
  'zicond', 'zihintpause', 'zcb', 'zba', 'zbb', 'zbc', 'zbs', 'zkt',
  'sstc', 'svadu', 'svinval', 'svnapot', 'svpbmt',
];

/** Size of a cache block for Zicbom, Zicbop and Zicboz (bytes): QEMU's default for all three. */
export const CACHE_BLOCK_BYTES = 64;

/** The widest virtual-memory scheme (satp.MODE 10): Sv39, Sv48 and Sv57 are all supported. */
export const MMU_TYPE = 'riscv,sv57';

const misaBit = (letter: string): number => 1 << (letter.charCodeAt(0) - 97);

/** misa low half: one bit per single letter and per privilege mode below M. */
export const MISA_LO = [...ISA_LETTERS, ...MISA_MODES].reduce((v, l) => v | misaBit(l), 0);
/** misa high half: MXL = 2 (64-bit). */
export const MISA_HI = 0x80000000 | 0;

/**
 * Canonical order of multi-letter extensions (chapter 27): Z extensions first, grouped by the single-letter
 * category their second letter names (in the canonical letter order), alphabetical within a group; then S
 * extensions alphabetically.
 */
const CATEGORY_ORDER = 'imafdqlcbkjtpvnh';
function canonicalRank(ext: string): [number, number, string] {
  if (ext[0] === 'z') {
    const c = CATEGORY_ORDER.indexOf(ext[1]);
    return [0, c < 0 ? CATEGORY_ORDER.length : c, ext];
  }
  return [1, 0, ext];
}

/** The extensions in canonical order. */
export function canonicalExtensions(exts: readonly string[] = ISA_EXTENSIONS): string[] {
  return [...exts].sort((a, b) => {
    const ra = canonicalRank(a), rb = canonicalRank(b);
    return ra[0] - rb[0] || ra[1] - rb[1] || (ra[2] < rb[2] ? -1 : ra[2] > rb[2] ? 1 : 0);
  });
}

/** The ISA string of the device tree's `riscv,isa`: rv64imafdc_zicbom_..._svpbmt. */
export function isaString(exts: readonly string[] = ISA_EXTENSIONS): string {
  return ['rv64' + ISA_LETTERS.join(''), ...canonicalExtensions(exts)].join('_');
}

/** `riscv,isa-extensions`: every extension as its own string, single letters first. */
export function isaExtensionList(exts: readonly string[] = ISA_EXTENSIONS): string[] {
  return [...ISA_LETTERS, ...canonicalExtensions(exts)];
}
