import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkName } from '../../../../src/devices/virtio/9p/confine.js';
import { EINVAL, ENAMETOOLONG, errnoOf, P9Error } from '../../../../src/devices/virtio/9p/errno.js';
import { LockTable, LOCK_BLOCKED, LOCK_ERROR, LOCK_RDLCK, LOCK_SUCCESS, LOCK_UNLCK, LOCK_WRLCK } from '../../../../src/devices/virtio/9p/locks.js';
import { MalformedMessage, Reader, Writer } from '../../../../src/devices/virtio/9p/wire.js';

test('a Writer grows across many fields without losing any, and frames the message', () => {
  const w = new Writer(16);
  for (let i = 0; i < 1000; i++) w.u8(i).u16(i).u32(i * 65537).u64(i * 2 ** 40).u64big(BigInt(-i)).str(Buffer.from(`n${i}`));
  const msg = w.finish(41, 0x1234);
  const r = new Reader(msg, 7, msg.length);
  assert.equal(new DataView(msg.buffer, msg.byteOffset).getUint32(0, true), msg.length);
  assert.equal(msg[4], 41);
  for (let i = 0; i < 1000; i++) {
    assert.equal(r.u8(), i & 0xff);
    assert.equal(r.u16(), i & 0xffff);
    assert.equal(r.u32(), (i * 65537) >>> 0);
    assert.equal(r.u64(), i * 2 ** 40);
    assert.equal(r.u64big(), BigInt.asUintN(64, BigInt(-i)));
    assert.equal(r.str().toString(), `n${i}`);
  }
  assert.equal(r.remaining, 0);
  assert.throws(() => r.u8(), MalformedMessage);
});

test('a Reader never reads past size[4], even when the buffer goes on', () => {
  const buf = new Uint8Array([11, 0, 0, 0, 24, 1, 0, 5, 0, 0, 0, 0xaa, 0xbb]);
  const r = new Reader(buf, 7, 11);
  assert.equal(r.u32(), 5);
  assert.throws(() => r.u8(), MalformedMessage);
  const s = new Reader(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 9, 0, 0x61]), 7, 10);
  assert.throws(() => s.str(), MalformedMessage);
});

test('checkName takes one plain component and nothing else', () => {
  for (const ok of ['a', '...', '.a', 'a.', ' ', '\u00fc', 'x'.repeat(255)]) checkName(Buffer.from(ok));
  for (const bad of ['', '.', '..', 'a/b', '/', 'a\0', '\0']) {
    assert.throws(() => checkName(Buffer.from(bad)), (e: unknown) => e instanceof P9Error && e.errno === EINVAL, bad);
  }
  assert.throws(() => checkName(Buffer.from('x'.repeat(256))), (e: unknown) => errnoOf(e) === ENAMETOOLONG);
});

test('locks split on partial unlock, run to EOF with length 0, and are bounded in number', () => {
  const t = new LockTable(4);
  const a = { procId: 1, clientId: 'c' };
  const b = { procId: 2, clientId: 'c' };
  assert.equal(t.set('f', { ...a, type: LOCK_WRLCK, start: 0n, length: 0n }, 1), LOCK_SUCCESS);
  assert.equal(t.set('f', { ...b, type: LOCK_RDLCK, start: 1n << 62n, length: 1n }, 2), LOCK_BLOCKED);
  assert.equal(t.set('f', { ...a, type: LOCK_UNLCK, start: 10n, length: 10n }, 1), LOCK_SUCCESS);
  assert.equal(t.size, 2);
  assert.equal(t.set('f', { ...b, type: LOCK_RDLCK, start: 12n, length: 5n }, 2), LOCK_SUCCESS);
  assert.equal(t.set('f', { ...b, type: LOCK_RDLCK, start: 19n, length: 2n }, 2), LOCK_BLOCKED);
  assert.equal(t.conflict('f', { ...b, type: LOCK_WRLCK, start: 25n, length: 0n })?.start, 20n);
  assert.equal(LockTable.lengthOf(t.conflict('f', { ...b, type: LOCK_WRLCK, start: 25n, length: 0n })!), 0n);
  assert.equal(t.conflict('g', { ...b, type: LOCK_WRLCK, start: 0n, length: 0n }), null);
  assert.equal(t.set('g', { ...b, type: LOCK_RDLCK, start: 0n, length: 1n }, 3), LOCK_SUCCESS);
  assert.equal(t.set('h', { ...b, type: LOCK_RDLCK, start: 0n, length: 1n }, 3), LOCK_ERROR, 'the table is full');
  t.releaseFid(1);
  assert.equal(t.size, 2);
  t.clear();
  assert.equal(t.size, 0);
});
