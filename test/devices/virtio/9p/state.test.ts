import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { State } from '../../../../src/devices/stateful.js';
import { P9Server } from '../../../../src/devices/virtio/9p/server.js';
import { Client, E, errnoOf, O } from './client.js';
import { MODES, rig } from './fixture.js';

for (const mode of MODES) {
  test(`its state round-trips mid-operation (${mode}): fids keep their paths, open files reopen, readdir resumes`, async () => {
    const r = await rig({ confinement: mode });
    const other = new P9Server({ root: r.root, readOnly: false, tag: 'share', confinement: mode });
    try {
      await r.c.version(16384);
      await r.c.attach(0);
      await r.c.walk(0, 1, ['dir']);
      await r.c.walk(0, 2, ['hello.txt']);
      await r.c.lopen(2, O.RDWR | O.TRUNC);
      await r.c.write(2, 0, 'HELLO');
      await r.c.walk(0, 3, []);
      await r.c.lopen(3, O.RDONLY | O.DIRECTORY);
      const first = await r.c.readdir(3, 0, 60);
      assert.ok(first.length >= 1);
      await r.c.xattrwalk(0, 4, '');

      const saved = JSON.parse(JSON.stringify(r.server.save())) as State;
      await r.server.close();
      other.restore(saved);
      const c = new Client(other);

      assert.equal((await c.read(2, 0, 100)).toString(), 'HELLO', 'reopened without truncating again');
      await c.write(2, 5, '!');
      assert.equal(await readFile(join(r.root, 'hello.txt'), 'utf8'), 'HELLO!');
      const rest = await c.listAll(3);
      const names = [...first, ...(await c.readdir(3, first[first.length - 1].offset, 8000))].map((e) => e.name.toString());
      assert.deepEqual([...new Set(names)].sort(), rest.map((e) => e.name.toString()).sort());
      assert.equal((await c.getattr(1)).qid.type, 0x80);
      assert.equal(await errnoOf(c.lopen(2, O.RDONLY)), E.EBADF, 'still open');
      assert.equal((await c.read(4, 0, 10)).length, 0);
      assert.deepEqual((other.save() as { msize: State }).msize, 16384);
      await c.clunk(2);
      assert.equal(other.openFileCount, 1);
    } finally {
      await other.close();
      await r.close();
    }
  });
}

test('a restored fid whose file is gone fails its I/O and can still be clunked', async () => {
  const r = await rig();
  const other = new P9Server({ root: r.root, readOnly: false, tag: 'share' });
  try {
    await r.c.mount();
    await r.c.walk(0, 1, ['hello.txt']);
    await r.c.lopen(1, O.RDONLY);
    const saved = r.server.save();
    await unlink(join(r.root, 'hello.txt'));
    other.restore(saved);
    const c = new Client(other);
    assert.equal(await errnoOf(c.read(1, 0, 10)), E.ENOENT);
    await c.clunk(1);
    assert.equal(other.fidCount, 1);
  } finally {
    await other.close();
    await r.close();
  }
});

test('nonsense state is rejected and leaves the session as it was', async () => {
  const r = await rig();
  try {
    await r.c.mount();
    await r.c.walk(0, 1, ['hello.txt']);
    const dotdot = Buffer.from('..').toString('base64');
    const bad: State[] = [
      0, null, [], 'x', { msize: 'big', fids: [] }, { msize: 100, fids: [] }, { msize: 8192 },
      { msize: 8192, fids: [{ id: 1, path: [dotdot], qtype: 0, uid: 0, open: null }] },
      { msize: 8192, fids: [{ id: 1, path: [Buffer.from('a/b').toString('base64')], qtype: 0, uid: 0, open: null }] },
      { msize: 8192, fids: [{ id: 1, path: [], qtype: 0, uid: 0, open: null }, { id: 1, path: [], qtype: 0, uid: 0, open: null }] },
      { msize: 8192, fids: [{ id: -1, path: [], qtype: 0, uid: 0, open: null }] },
      { msize: 8192, fids: [{ id: 1, path: [], qtype: 0, uid: 0, open: 'rw' }] },
      { msize: 8192, fids: [{ id: 1, path: [], qtype: 300, uid: 0, open: null }] },
    ];
    for (const s of bad) assert.throws(() => r.server.restore(s), Error, JSON.stringify(s));
    assert.equal((await r.c.getattr(1)).size, 13, 'the session survived');
  } finally {
    await r.close();
  }
});
