/**
 * A machine with more than 2 GiB of RAM through a state file: pages past 2 GiB of the WebAssembly memory
 * (offsets beyond int32) are captured, encoded, decoded and restored like any other.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Machine } from '../../../src/machine/machine.js';
import { captureRam } from '../../../src/machine/ram-image.js';
import { decodeStateFile, encodeStateFile } from '../../../src/vm/snapshot/state-file.js';

const GiB = 1024 ** 3;

test('a 3 GiB machine round-trips through a state file, its pages near the top of RAM included', async () => {
  const a = new Machine({ memoryBytes: 3 * GiB, log: () => {}, console: () => {} });
  const top = 0x80000000 + 3 * GiB;
  const marks: [number, number][] = [[0x80000000, 1], [0x80000000 + 2 * GiB + 4096 * 5 + 17, 2], [top - 1, 3]];
  for (const [pa, v] of marks) assert.ok(a.writePhys(pa, Uint8Array.of(v)));
  const ram = captureRam(a.ramBytes());
  assert.equal(ram.data.length, 3 * 4096, 'three non-zero pages');
  const file = Buffer.concat(await encodeStateFile(a.save(), ram));
  const back = await decodeStateFile(file);
  assert.equal(back.ram.bytes, 3 * GiB);
  const b = new Machine({ memoryBytes: 3 * GiB, log: () => {}, console: () => {} });
  b.restore(back.state, back.ram);
  for (const [pa, v] of marks) assert.equal(b.physMemory(pa, 1)?.[0], v, `byte at 0x${pa.toString(16)}`);
  assert.equal(b.physMemory(top - 2, 1)?.[0], 0);
});
