import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Syscon } from '../../src/devices/syscon.js';

function rig(): { dev: Syscon; events: string[] } {
  const events: string[] = [];
  const dev = new Syscon(() => events.push('poweroff'), () => events.push('reset'), (code) => events.push(`fail ${code}`));
  return { dev, events };
}

test('0x5555 powers off, 0x7777 resets, 0x3333 fails with the code in the high half', () => {
  const { dev, events } = rig();
  dev.write(0, 4, 0x5555);
  dev.write(0, 4, 0x7777);
  dev.write(0, 4, (42 << 16) | 0x3333);
  dev.write(0, 4, 0xffff3333 | 0);
  assert.deepEqual(events, ['poweroff', 'reset', 'fail 42', 'fail 65535']);
});

test('a 16-bit command works as in QEMU; bytes, other offsets and other values are ignored', () => {
  const { dev, events } = rig();
  dev.write(0, 2, 0x5555);
  dev.write(0, 2, 0x3333);
  dev.write(0, 1, 0x55);
  dev.write(4, 4, 0x5555);
  dev.write(0, 4, 0x1234);
  dev.write(0, 4, 0x00015556);
  dev.write(0xffc, 4, 0x7777);
  assert.deepEqual(events, ['poweroff', 'fail 0']);
  assert.equal(dev.read(0, 4), 0);
  assert.equal(dev.read(8, 1), 0);
});

test('its empty state round-trips between commands and nonsense is rejected', () => {
  const a = rig();
  a.dev.write(0, 4, 0x7777);
  const saved = JSON.parse(JSON.stringify(a.dev.save()));
  const b = rig();
  b.dev.restore(saved);
  b.dev.write(0, 4, 0x5555);
  assert.deepEqual(b.events, ['poweroff']);
  assert.throws(() => b.dev.restore({ armed: true }), Error);
  assert.throws(() => b.dev.restore(0), Error);
});
