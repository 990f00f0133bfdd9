import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseElf } from '../../src/machine/elf.js';
import { BonsaiError } from '../../src/errors.js';
import { repoPath } from '../helpers.js';

const NAME = 'add.elf';
const original = new Uint8Array(readFileSync(repoPath('test', 'isa', 'smoke', 'add.elf')));

/** A copy of the smoke binary with `edit` applied to it. */
function patched(edit: (v: DataView, b: Uint8Array) => void): Uint8Array {
  const b = original.slice();
  edit(new DataView(b.buffer), b);
  return b;
}

const PHOFF = 64; // e_phoff of add.elf
const phdr = (i: number): number => PHOFF + i * 56; // program header 1 is the first PT_LOAD
const SHOFF = 13136;

/** Asserts that parsing throws a one-line BonsaiError naming the file and matching `pattern`. */
function rejects(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => parseElf(bytes, NAME),
    (e: unknown) => {
      assert.ok(e instanceof BonsaiError, `expected BonsaiError, got ${String(e)}`);
      assert.ok(e.message.startsWith(`${NAME}: `), e.message);
      assert.ok(!e.message.includes('\n'), e.message);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

test('a riscv-tests style binary yields its entry point, both PT_LOAD segments and its symbols', () => {
  const elf = parseElf(original, NAME);
  assert.equal(elf.entry, 0x80000000);
  assert.equal(elf.segments.length, 2);
  const [text, data] = elf.segments;
  assert.deepEqual(
    { paddr: text.paddr, vaddr: text.vaddr, filesz: text.data.length, memSize: text.memSize },
    { paddr: 0x80000000, vaddr: 0x80000000, filesz: 0x66, memSize: 0x66 },
  );
  assert.deepEqual(
    { paddr: data.paddr, vaddr: data.vaddr, filesz: data.data.length, memSize: data.memSize },
    { paddr: 0x80001000, vaddr: 0x80001000, filesz: 0x105e, memSize: 0x4000 },
  );
  assert.deepEqual(text.data, original.subarray(0x1000, 0x1066));
  assert.deepEqual(data.data, original.subarray(0x2000, 0x305e));
  assert.equal(elf.symbols.get('tohost'), 0x80001000);
  assert.equal(elf.symbols.get('fromhost'), 0x80001040);
  assert.equal(elf.symbols.get('_start'), 0x80000000);
  assert.equal(elf.symbols.get('_end'), 0x80005000);
  assert.equal(elf.symbols.has(''), false);
  assert.equal(elf.symbols.has('.text'), false, 'section symbols are left out');
});

test('an ET_DYN executable is accepted with its addresses as they are', () => {
  const elf = parseElf(patched((v) => v.setUint16(16, 3, true)), NAME);
  assert.equal(elf.entry, 0x80000000);
  assert.equal(elf.segments[0].paddr, 0x80000000);
});

test('a file shorter than an ELF header or with the wrong magic is not an ELF file', () => {
  rejects(new Uint8Array(0), /not an ELF file \(bad magic\)/);
  rejects(new TextEncoder().encode('#!/bin/sh\necho hello\n'), /not an ELF file \(bad magic\)/);
  rejects(original.subarray(0, 20), /truncated ELF header/);
});

test('32-bit, big-endian, foreign-machine and non-executable ELF files are refused by name', () => {
  rejects(patched((_, b) => (b[4] = 1)), /32-bit/);
  rejects(patched((_, b) => (b[5] = 2)), /big-endian/);
  rejects(patched((v) => v.setUint16(18, 62, true)), /ELF machine is x86-64, not RISC-V/);
  rejects(patched((v) => v.setUint16(18, 183, true)), /ELF machine is AArch64, not RISC-V/);
  rejects(patched((v) => v.setUint16(18, 9999, true)), /ELF machine is 9999, not RISC-V/);
  rejects(patched((v) => v.setUint16(16, 1, true)), /relocatable object/);
  rejects(patched((v) => v.setUint16(16, 4, true)), /core dump/);
});

test('program headers or segment data beyond the end of the file are refused', () => {
  rejects(patched((v) => v.setUint32(32, original.length - 10, true)), /program headers at .* beyond the end of the file/);
  rejects(patched((v) => v.setUint16(56, 400, true)), /400 program headers/);
  rejects(patched((v) => v.setUint32(phdr(2) + 8, original.length - 0x100, true)), /program header 2 \(PT_LOAD\) data/);
  rejects(patched((v) => v.setUint16(54, 32, true)), /program header entry size 32/);
});

test('a segment whose file size exceeds its memory size is refused', () => {
  rejects(patched((v) => v.setUint32(phdr(2) + 40, 0x1000, true)), /file size 0x105e exceeds its memory size 0x1000/);
});

test('64-bit fields of 2^53 or more are refused instead of losing precision', () => {
  rejects(patched((v) => v.setUint32(28, 0xffffffff, true)), /entry point 0xffffffff80000000 is too large/);
  rejects(patched((v) => v.setUint32(phdr(1) + 12, 0x00200000, true)), /offset .* too large/);
  const nearLimit = (v: DataView): void => {
    v.setUint32(phdr(2) + 24, 0xffffff00, true);
    v.setUint32(phdr(2) + 28, 0x001fffff, true);
  };
  rejects(patched(nearLimit), /\(0x4000 bytes at 0x1fffffffffff00\) runs past the 2\^53 address limit/);
});

test('section headers or sections beyond the end of the file are refused', () => {
  rejects(original.subarray(0, SHOFF + 100), /section headers at 0x3350 lie beyond the end of the file/);
  rejects(patched((v) => v.setUint32(40, original.length + 8, true)), /section headers .* beyond the end/);
  // Section 6 is .symtab: move it past the end.
  rejects(patched((v) => v.setUint32(SHOFF + 6 * 64 + 24, original.length, true)), /section 6 .* beyond the end of the file/);
});

test('a symbol table with a broken string-table link or name is refused', () => {
  rejects(patched((v) => v.setUint32(SHOFF + 6 * 64 + 40, 50, true)), /links to missing string table 50/);
  rejects(patched((v) => v.setUint32(SHOFF + 6 * 64 + 40, 1, true)), /not a string table/);
  // Symbol 17 (tohost) at .symtab offset 0x30b8: point its name past the string table.
  rejects(patched((v) => v.setUint32(0x30b8 + 17 * 24, 0x1000, true)), /symbol 17 name offset/);
});

test('a file without section headers loads with no symbols', () => {
  const elf = parseElf(
    patched((v) => {
      v.setUint32(40, 0, true);
      v.setUint32(44, 0, true);
    }),
    NAME,
  );
  assert.equal(elf.segments.length, 2);
  assert.equal(elf.symbols.size, 0);
});

test('2000 random truncations and byte flips either parse or throw a one-line BonsaiError', () => {
  let seed = 0x1234567;
  const next = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  // Flips aim mostly at the structures the parser reads: ELF header, program headers, symtab, section headers.
  const hot = [
    [0, 64 + 3 * 56],
    [0x30b8, 0x3350],
    [SHOFF, original.length],
  ];
  let parsed = 0;
  for (let i = 0; i < 2000; i++) {
    let bytes: Uint8Array;
    if (i % 4 === 0) {
      bytes = original.subarray(0, next() % original.length);
    } else {
      bytes = original.slice();
      const flips = 1 + (next() % 6);
      for (let f = 0; f < flips; f++) {
        const [from, to] = next() % 8 === 0 ? [0, original.length] : hot[next() % hot.length];
        const at = from + (next() % (to - from));
        bytes[at] = next() % 3 === 0 ? 0xff : bytes[at] ^ (1 << next() % 8);
      }
    }
    try {
      parseElf(bytes, NAME);
      parsed++;
    } catch (e) {
      if (!(e instanceof BonsaiError)) assert.fail(`case ${i}: ${String(e)}`);
      assert.ok(e.message.startsWith(`${NAME}: `) && !e.message.includes('\n'), e.message);
    }
  }
  assert.ok(parsed > 0 && parsed < 2000, `parsed ${parsed} of 2000`);
});
