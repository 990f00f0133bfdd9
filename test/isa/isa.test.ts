/**
 * Runs every bare-metal ISA test program (test/isa/<group>/<name>.elf, built from the .S beside it by
 * test/isa/build.sh) on a fresh machine; each must end through HTIF with status 0.
 */
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { runProgram } from '../../src/vm/program.js';
import { repoPath } from '../helpers.js';

const root = repoPath('test', 'isa');
const programs: string[] = [];
for (const group of readdirSync(root).sort()) {
  const dir = join(root, group);
  if (!statSync(dir).isDirectory() || group === 'bench-program' || group === 'hang' || group === 'highmem') continue;
  for (const f of readdirSync(dir).sort()) if (f.endsWith('.elf')) programs.push(join(dir, f));
}

test('the ISA test programs are present', () => {
  assert.ok(programs.length >= 10, `found only ${programs.length} programs under ${root}`);
});

// Each program on the interpreter, and with the JIT compiling every block on its first entry (so even code
// that runs once goes through compiled blocks).
for (const engine of ['interp', 'jit'] as const) for (const file of programs) {
  test(`ISA program ${relative(root, file)} passes (${engine})`, async () => {
    const log: string[] = [];
    const out: number[] = [];
    const r = await runProgram(file, {
      memoryBytes: 64 * 1024 * 1024,
      maxInstructions: 20_000_000,
      log: (line) => log.push(line),
      console: (bytes) => out.push(...bytes),
      engine,
      onMachine: (m) => { m.hart.hotThreshold = 0; if (m.hart.jit !== null) { m.hart.jit.batch = 1; m.hart.jit.asyncCompile = false; } },
    });
    assert.ok(r.reason === 'htif' || r.reason === 'poweroff', `did not finish: ${r.reason} after ${r.instructions} instructions`);
    assert.equal(r.status, 0, `failed: ${log.join('; ')} ${Buffer.from(out).toString()}`);
  });
}

// Programs whose trap handler itself faults forever: the machine must still stop at the instruction limit
// (a guest can never hang Bonsai).
for (const name of ['fetch-livelock', 'illegal-livelock']) {
  test(`a trap loop (${name}) still ends at the instruction limit`, async () => {
    const r = await runProgram(join(root, 'hang', `${name}.elf`), { memoryBytes: 16 * 1024 * 1024, maxInstructions: 100_000, log: () => {} });
    assert.equal(r.reason, 'limit');
  });
}
