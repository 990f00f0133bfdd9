/**
 * ELF64 loader for RISC-V executables (System V gABI, "ELF-64 Object File Format"; RISC-V psABI).
 *
 * Only what a bare-metal boot needs: the entry point, the PT_LOAD segments and, when present, the symbol
 * table (test binaries publish `tohost`/`fromhost` there). Every field read from the file is bounds-checked
 * first, so a truncated or corrupt file becomes one BonsaiError line instead of a RangeError.
 */
import { BonsaiError } from '../errors.js';

export interface ElfSegment {
  paddr: number;
  vaddr: number;
  /** The segment's file bytes (p_filesz of them), a view into the parsed buffer. */
  data: Uint8Array;
  /** p_memsz: at least data.length; the bytes past data are zero-filled when loaded. */
  memSize: number;
}

export interface ElfImage {
  entry: number;
  segments: ElfSegment[];
  /** Symbol name -> st_value, from .symtab if present. */
  symbols: Map<string, number>;
}

const EHDR_SIZE = 64;
const PHDR_SIZE = 56;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;

const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const EV_CURRENT = 1;
const ET_REL = 1;
const ET_EXEC = 2;
const ET_DYN = 3;
const ET_CORE = 4;
const EM_RISCV = 243;
const PT_LOAD = 1;
const PN_XNUM = 0xffff;
const SHT_NULL = 0;
const SHT_SYMTAB = 2;
const SHT_STRTAB = 3;
const SHT_NOBITS = 8;
const SHN_UNDEF = 0;
const STB_LOCAL = 0;
const STT_SECTION = 3;
const STT_FILE = 4;

/** Numbers exactly representable as a JS number: everything below 2^53. */
const LIMIT = 2 ** 53;

const MACHINES: ReadonlyMap<number, string> = new Map([
  [2, 'SPARC'],
  [3, 'x86 (i386)'],
  [8, 'MIPS'],
  [20, 'PowerPC'],
  [21, 'PowerPC64'],
  [22, 'S/390'],
  [40, 'ARM'],
  [43, 'SPARC V9'],
  [62, 'x86-64'],
  [183, 'AArch64'],
  [258, 'LoongArch'],
]);

const hex = (n: number): string => '0x' + n.toString(16);

export function parseElf(bytes: Uint8Array, fileName: string): ElfImage {
  const fail = (what: string): never => {
    throw new BonsaiError(`${fileName}: ${what}`);
  };
  const size = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (off: number): number => view.getUint16(off, true);
  const u32 = (off: number): number => view.getUint32(off, true);
  /** A 64-bit field as a number; `what` names it in the error when it is 2^53 or more. */
  const u64 = (off: number, what: string): number => {
    const hi = view.getUint32(off + 4, true);
    const lo = view.getUint32(off, true);
    if (hi >= 0x200000) fail(`${what} ${hex(hi)}${lo.toString(16).padStart(8, '0')} is too large (2^53 or more)`);
    return hi * 2 ** 32 + lo;
  };
  /** True when [off, off + len) lies inside the file; both are below 2^53, so the subtraction is exact. */
  const inFile = (off: number, len: number): boolean => off <= size && len <= size - off;

  if (size < 4 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    fail('not an ELF file (bad magic)');
  }
  if (size < EHDR_SIZE) fail(`truncated ELF header (${size} bytes, need ${EHDR_SIZE})`);
  if (bytes[4] !== ELFCLASS64) {
    fail(bytes[4] === 1 ? 'ELF file is 32-bit (ELFCLASS32), not 64-bit' : `ELF class ${bytes[4]} is not ELFCLASS64`);
  }
  if (bytes[5] !== ELFDATA2LSB) {
    fail(bytes[5] === 2 ? 'ELF file is big-endian, not little-endian' : `ELF data encoding ${bytes[5]} is not little-endian`);
  }
  if (bytes[6] !== EV_CURRENT) fail(`ELF version ${bytes[6]} is not 1 (EV_CURRENT)`);

  const machine = u16(18);
  if (machine !== EM_RISCV) fail(`ELF machine is ${MACHINES.get(machine) ?? `${machine}`}, not RISC-V`);
  const type = u16(16);
  if (type !== ET_EXEC && type !== ET_DYN) {
    const kind =
      type === ET_REL ? 'a relocatable object (ET_REL)' : type === ET_CORE ? 'a core dump (ET_CORE)' : `of type ${type}`;
    fail(`ELF file is ${kind}, not an executable`);
  }

  const entry = u64(24, 'entry point');
  const phoff = u64(32, 'program header offset');
  const shoff = u64(40, 'section header offset');
  const phentsize = u16(54);
  let phnum = u16(56);
  const shentsize = u16(58);
  let shnum = u16(60);

  // Section headers first: with extended numbering (gABI "Sections"), section 0 holds the real counts.
  if (shoff !== 0) {
    if (shentsize < SHDR_SIZE) fail(`section header entry size ${shentsize} is less than ${SHDR_SIZE}`);
    if (!inFile(shoff, SHDR_SIZE)) fail(`section headers at ${hex(shoff)} lie beyond the end of the file (${size} bytes)`);
    if (shnum === 0) shnum = u64(shoff + 32, 'section count');
    if (phnum === PN_XNUM) phnum = u32(shoff + 44);
    if (shnum > (size - shoff) / shentsize) {
      fail(`${shnum} section headers at ${hex(shoff)} lie beyond the end of the file (${size} bytes)`);
    }
  } else {
    shnum = 0;
  }

  if (phnum === 0) fail('ELF file has no program headers');
  if (phentsize < PHDR_SIZE) fail(`program header entry size ${phentsize} is less than ${PHDR_SIZE}`);
  if (!inFile(phoff, 0) || phnum > (size - phoff) / phentsize) {
    fail(`${phnum} program headers at ${hex(phoff)} lie beyond the end of the file (${size} bytes)`);
  }

  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (u32(ph) !== PT_LOAD) continue;
    const what = `program header ${i} (PT_LOAD)`;
    const offset = u64(ph + 8, `${what} offset`);
    const vaddr = u64(ph + 16, `${what} virtual address`);
    const paddr = u64(ph + 24, `${what} physical address`);
    const filesz = u64(ph + 32, `${what} file size`);
    const memsz = u64(ph + 40, `${what} memory size`);
    if (filesz === 0 && memsz === 0) continue;
    if (filesz > memsz) fail(`${what} file size ${hex(filesz)} exceeds its memory size ${hex(memsz)}`);
    if (!inFile(offset, filesz)) {
      fail(`${what} data (${hex(filesz)} bytes at ${hex(offset)}) lies beyond the end of the file (${size} bytes)`);
    }
    if (memsz > LIMIT - paddr || memsz > LIMIT - vaddr) {
      fail(`${what} (${hex(memsz)} bytes at ${hex(paddr)}) runs past the 2^53 address limit`);
    }
    segments.push({ paddr, vaddr, data: bytes.subarray(offset, offset + filesz), memSize: memsz });
  }
  if (segments.length === 0) fail('ELF file has no loadable (PT_LOAD) segments');

  const symbols = new Map<string, number>();
  const sectionAt = (i: number): number => shoff + i * shentsize;
  for (let i = 0; i < shnum; i++) {
    const sh = sectionAt(i);
    const shType = u32(sh + 4);
    if (shType === SHT_NULL || shType === SHT_NOBITS) continue;
    const offset = u64(sh + 24, `section ${i} offset`);
    const shSize = u64(sh + 32, `section ${i} size`);
    if (!inFile(offset, shSize)) {
      fail(`section ${i} (${hex(shSize)} bytes at ${hex(offset)}) lies beyond the end of the file (${size} bytes)`);
    }
  }
  for (let i = 0; i < shnum; i++) {
    const sh = sectionAt(i);
    if (u32(sh + 4) !== SHT_SYMTAB) continue;
    readSymbols(i, sh);
    break; // the gABI allows one SHT_SYMTAB per file
  }

  return { entry, segments, symbols };

  function readSymbols(index: number, sh: number): void {
    const offset = u64(sh + 24, `section ${index} offset`);
    const symSize = u64(sh + 32, `section ${index} size`);
    const entsize = u64(sh + 56, `section ${index} entry size`);
    const link = u32(sh + 40);
    if (entsize < SYM_SIZE) fail(`symbol table (section ${index}) entry size ${entsize} is less than ${SYM_SIZE}`);
    if (link === 0 || link >= shnum) fail(`symbol table (section ${index}) links to missing string table ${link}`);
    const strSh = sectionAt(link);
    if (u32(strSh + 4) !== SHT_STRTAB) fail(`symbol table (section ${index}) links to section ${link}, not a string table`);
    const strOff = u64(strSh + 24, `section ${link} offset`);
    const strSize = u64(strSh + 32, `section ${link} size`);
    const decoder = new TextDecoder('utf-8');
    const globals = new Set<string>();
    const count = Math.floor(symSize / entsize);
    for (let s = 1; s < count; s++) {
      // Symbol 0 is the reserved undefined entry.
      const sym = offset + s * entsize;
      const nameOff = u32(sym);
      const info = bytes[sym + 4];
      const shndx = u16(sym + 6);
      const symType = info & 0xf;
      if (nameOff === 0 || shndx === SHN_UNDEF || symType === STT_SECTION || symType === STT_FILE) continue;
      if (nameOff >= strSize) fail(`symbol ${s} name offset ${hex(nameOff)} lies outside its string table`);
      const start = strOff + nameOff;
      const end = bytes.indexOf(0, start);
      if (end < 0 || end >= strOff + strSize) fail(`symbol ${s} name is not terminated inside its string table`);
      const name = decoder.decode(bytes.subarray(start, end));
      // Values of 2^53 or more (absolute symbols, kernel virtual addresses) cannot be addresses here; skip them.
      if (view.getUint32(sym + 12, true) >= 0x200000) continue;
      const value = u64(sym + 8, `symbol ${s} value`);
      // The first global of a name wins over any local of that name (several objects may each have a
      // local `pass`); among locals, the first one wins.
      if (info >> 4 !== STB_LOCAL) {
        if (globals.has(name)) continue;
        globals.add(name);
      } else if (symbols.has(name)) {
        continue;
      }
      symbols.set(name, value);
    }
  }
}
