/**
 * Guest RAM past 2 GiB of the machine's WebAssembly memory, where offsets no longer fit an int32: the
 * bare-metal program test/isa/highmem/highmem.S with 3 GiB of RAM (the memory is reserved, not touched).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runProgram } from '../../src/vm/program.js';
import { repoPath } from '../helpers.js';

test('loads, stores, atomics, FP accesses and code beyond 2 GiB of RAM work, through the slow path and the TLB', async () => {
  const log: string[] = [];
  const r = await runProgram(repoPath('test', 'isa', 'highmem', 'highmem.elf'), {
    memoryBytes: 3 * 1024 ** 3, maxInstructions: 1_000_000, log: (line) => log.push(line), console: () => {},
  });
  assert.equal(r.reason, 'htif', `did not finish: ${r.reason} after ${r.instructions} instructions`);
  assert.equal(r.status, 0, `failed: ${log.join('; ')}`);
});
