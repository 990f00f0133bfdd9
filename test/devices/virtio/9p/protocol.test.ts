import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { link as hostLink, lstat, mkdir, readdir, readFile, readlink, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_MAX_MSIZE, P9Server } from '../../../../src/devices/virtio/9p/server.js';
import { BonsaiError } from '../../../../src/errors.js';
import { Client, E, errnoOf, O, T, encode } from './client.js';
import { MODES, rig } from './fixture.js';

const QTDIR = 0x80;
const QTSYMLINK = 0x02;

test('version negotiates msize down to the server maximum and speaks only 9P2000.L', async () => {
  const r = await rig();
  try {
    assert.deepEqual(await r.c.version(1 << 24), { msize: DEFAULT_MAX_MSIZE, version: '9P2000.L' });
    assert.deepEqual(await r.c.version(8192), { msize: 8192, version: '9P2000.L' });
    assert.equal((await r.c.version(8192, '9P2000.u')).version, 'unknown');
    assert.equal((await r.c.version(8192, '9P2000')).version, 'unknown');
    assert.equal((await r.c.version(100)).version, 'unknown');
  } finally {
    await r.close();
  }
});

test('a message larger than the negotiated msize is refused', async () => {
  const r = await rig();
  try {
    await r.c.version(4096);
    await r.c.attach(0);
    const big = 'x'.repeat(5000);
    assert.equal(await errnoOf(r.c.write(0, 0, big)), E.EINVAL);
    assert.ok((await r.c.getattr(0)).qid.type === QTDIR);
  } finally {
    await r.close();
  }
});

test('the config space is tag_len (le16) then the tag; a share needs a folder and a tag', () => {
  const s = new P9Server({ root: '/nonexistent', readOnly: true, tag: 'hostshare' });
  assert.deepEqual([...s.configSpace()], [9, 0, ...Buffer.from('hostshare')]);
  assert.throws(() => new P9Server({ root: '/tmp', readOnly: true, tag: '' }), BonsaiError);
  assert.throws(() => new P9Server({ root: '', readOnly: true, tag: 't' }), BonsaiError);
  assert.throws(() => new P9Server({ root: '/tmp', readOnly: true, tag: 't', maxMsize: 100 }), BonsaiError);
});

test('attaching to a share whose folder is missing fails with ENOENT, and works once it exists', async () => {
  const r = await rig();
  try {
    const s = new P9Server({ root: join(r.base, 'later'), readOnly: false, tag: 't' });
    const c = new Client(s);
    await c.version();
    assert.equal(await errnoOf(c.attach(0)), E.ENOENT);
    await mkdir(join(r.base, 'later'));
    assert.equal((await c.attach(0)).type, QTDIR);
    await s.close();
  } finally {
    await r.close();
  }
});

for (const mode of MODES) {
  describe(`with ${mode} confinement`, () => {
    test('attach and walk give qids from host inodes with the right types, and getattr mirrors lstat', async () => {
      const r = await rig({ confinement: mode });
      try {
        const rootQid = await r.c.mount();
        assert.equal(rootQid.type, QTDIR);
        assert.equal(rootQid.path, (await stat(r.root, { bigint: true })).ino);
        const qids = await r.c.walk(0, 1, ['dir', 'a.txt']);
        assert.equal(qids.length, 2);
        assert.equal(qids[0].type, QTDIR);
        assert.equal(qids[1].type, 0);
        const host = await lstat(join(r.root, 'dir', 'a.txt'), { bigint: true });
        assert.equal(qids[1].path, host.ino);
        const a = await r.c.getattr(1);
        assert.equal(a.valid & 0x7ffn, 0x7ffn);
        assert.deepEqual(a.qid, qids[1]);
        assert.equal(a.mode, Number(host.mode));
        assert.equal(a.size, 2);
        assert.equal(a.nlink, 1);
        assert.equal(a.uid, Number(host.uid));
        assert.equal(BigInt(a.mtime[0]) * 1_000_000_000n + BigInt(a.mtime[1]), host.mtimeNs);
        const link = await r.c.walk(0, 2, ['etc']);
        assert.equal(link[0].type, QTSYMLINK);
        assert.equal((await r.c.getattr(2)).mode & 0o170000, 0o120000);
      } finally {
        await r.close();
      }
    });

    test('walk stops at a missing name: an error for the first, the qids so far for a later one, no new fid', async () => {
      const r = await rig({ confinement: mode });
      try {
        await r.c.mount();
        assert.equal(await errnoOf(r.c.walk(0, 1, ['nope'])), E.ENOENT);
        assert.equal((await r.c.walk(0, 1, ['dir', 'nope'])).length, 1);
        assert.equal(await errnoOf(r.c.getattr(1)), E.EBADF);
        assert.equal((await r.c.walk(0, 1, ['hello.txt', 'x'])).length, 1); // through a file: ENOTDIR, partial
        assert.equal(await errnoOf(r.c.getattr(1)), E.EBADF);
        assert.deepEqual(await r.c.walk(0, 1, []), []); // clone
        assert.equal((await r.c.getattr(1)).qid.type, QTDIR);
        await r.c.walk(1, 1, ['dir']); // a fid may be walked in place
        assert.equal((await r.c.getattr(1)).qid.type, QTDIR);
        assert.equal(await errnoOf(r.c.walk(0, 1, ['dir'])), E.EBADF); // newfid in use
        const names = Array.from({ length: 17 }, () => 'dir');
        assert.equal(await errnoOf(r.c.walk(0, 5, names)), E.EINVAL);
      } finally {
        await r.close();
      }
    });

    test('a created file is written, read back and seen on the host; reads past the end are empty', async () => {
      const r = await rig({ confinement: mode });
      try {
        await r.c.mount();
        await r.c.walk(0, 1, []);
        const q = await r.c.lcreate(1, 'new.txt', O.RDWR | O.CREAT, 0o640);
        assert.equal(q.type, 0);
        assert.equal(await r.c.write(1, 0, 'hello 9p'), 8);
        assert.equal(await r.c.write(1, 100, 'tail'), 4);
        assert.equal((await r.c.read(1, 0, 8)).toString(), 'hello 9p');
        assert.equal((await r.c.read(1, 104, 10)).length, 0);
        await r.c.clunk(1);
        const host = await readFile(join(r.root, 'new.txt'));
        assert.equal(host.length, 104);
        assert.equal(host.subarray(100).toString(), 'tail');
        assert.equal((await stat(join(r.root, 'new.txt'))).mode & 0o7777, 0o640, 'the guest mode, not the host umask');
        // Read it again through a fresh fid opened read-only; writing through that fid is refused.
        await r.c.walk(0, 2, ['new.txt']);
        await r.c.lopen(2, O.RDONLY);
        assert.equal((await r.c.read(2, 0, 5)).toString(), 'hello');
        assert.equal(await errnoOf(r.c.write(2, 0, 'x')), E.EBADF);
        // Exclusive create of an existing name fails; plain create opens it.
        await r.c.walk(0, 3, []);
        assert.equal(await errnoOf(r.c.lcreate(3, 'new.txt', O.RDWR | O.CREAT | O.EXCL, 0o600)), E.EEXIST);
        await r.c.lcreate(3, 'new.txt', O.RDWR | O.CREAT, 0o600);
        assert.equal((await r.c.read(3, 0, 5)).toString(), 'hello');
        // Opening with O_TRUNC empties the file; O_APPEND writes land at the end.
        await r.c.walk(0, 4, ['new.txt']);
        await r.c.lopen(4, O.WRONLY | O.TRUNC | O.APPEND);
        await r.c.write(4, 0, 'ab');
        await r.c.write(4, 0, 'cd');
        assert.equal(await readFile(join(r.root, 'new.txt'), 'utf8'), 'abcd');
      } finally {
        await r.close();
      }
    });

    test('readdir lists every entry exactly once across small reads that resume at the last offset', async () => {
      const r = await rig({ confinement: mode, populate: false });
      try {
        const names = Array.from({ length: 60 }, (_, i) => `file-${i}-${'x'.repeat(i % 7)}`);
        for (const n of names) await writeFile(join(r.root, n), n);
        await mkdir(join(r.root, 'sub'));
        await r.c.mount();
        await r.c.walk(0, 1, []);
        await r.c.lopen(1, O.RDONLY | O.DIRECTORY);
        const small = await r.c.listAll(1, 100);
        const seen = small.map((e) => e.name.toString());
        assert.deepEqual([...seen].sort(), ['.', '..', 'sub', ...names].sort());
        assert.equal(new Set(seen).size, seen.length);
        const sub = small.find((e) => e.name.toString() === 'sub');
        assert.equal(sub?.type, 4); // DT_DIR
        assert.equal(sub?.qid.type, QTDIR);
        assert.equal(small.find((e) => e.name.toString() === names[0])?.type, 8); // DT_REG
        // One big read from 0 gives the same entries; resuming in the middle gives the same tail.
        const big = await r.c.listAll(1, 65000);
        assert.deepEqual(big.map((e) => e.name.toString()), seen);
        const mid = big[20].offset;
        assert.deepEqual((await r.c.listAll(1, 65000).then(() => r.c.readdir(1, mid, 65000))).map((e) => e.name.toString()), seen.slice(21));
        // ".." of the root is the root.
        const dot = big.find((e) => e.name.toString() === '.');
        const dotdot = big.find((e) => e.name.toString() === '..');
        assert.deepEqual(dotdot?.qid, dot?.qid);
        // A count too small for one entry is an error, not a silent end of directory.
        assert.equal(await errnoOf(r.c.readdir(1, 0, 10)), E.EINVAL);
        // Re-reading from 0 sees files created since.
        await writeFile(join(r.root, 'late'), '');
        assert.ok((await r.c.listAll(1)).some((e) => e.name.toString() === 'late'));
        // readdir needs an opened directory.
        await r.c.walk(0, 2, []);
        assert.equal(await errnoOf(r.c.readdir(2, 0, 1000)), E.EBADF);
      } finally {
        await r.close();
      }
    });

    test('mkdir, renameat, rename and unlinkat change the host tree; fids follow what was renamed', async () => {
      const r = await rig({ confinement: mode });
      try {
        await r.c.mount();
        const q = await r.c.mkdir(0, 'd', 0o750);
        assert.equal(q.type, QTDIR);
        assert.equal((await stat(join(r.root, 'd'))).mode & 0o7777, 0o750);
        await r.c.walk(0, 1, ['d']);
        await r.c.walk(0, 2, ['d']);
        await r.c.lcreate(2, 'f', O.WRONLY | O.CREAT, 0o644);
        await r.c.write(2, 0, 'content');
        await r.c.walk(1, 3, ['f']);
        await r.c.renameat(0, 'd', 0, 'e');
        assert.deepEqual((await readdir(r.root)).includes('e'), true);
        assert.equal((await r.c.getattr(3)).size, 7, 'a fid below a renamed directory still works');
        await r.c.mkdir(1, 'sub'); // fid 1 named "d", now "e"
        assert.ok((await stat(join(r.root, 'e', 'sub'))).isDirectory());
        await r.c.rename(3, 0, 'moved');
        assert.equal(await readFile(join(r.root, 'moved'), 'utf8'), 'content');
        assert.equal((await r.c.getattr(3)).size, 7);
        assert.equal(await errnoOf(r.c.unlinkat(0, 'e')), E.EISDIR);
        assert.equal(await errnoOf(r.c.unlinkat(0, 'e', 0x200)), E.ENOTEMPTY);
        await r.c.unlinkat(1, 'sub', 0x200);
        await r.c.unlinkat(0, 'e', 0x200);
        await r.c.unlinkat(0, 'moved');
        assert.deepEqual((await readdir(r.root)).filter((n) => ['d', 'e', 'moved'].includes(n)), []);
        assert.equal(await errnoOf(r.c.mkdir(0, 'hello.txt')), E.EEXIST);
        assert.equal(await errnoOf(r.c.rename(0, 0, 'x')), E.EBUSY); // the root cannot move
      } finally {
        await r.close();
      }
    });

    test('remove deletes files and empty directories and clunks the fid even when it fails', async () => {
      const r = await rig({ confinement: mode });
      try {
        await r.c.mount();
        await r.c.walk(0, 1, ['hello.txt']);
        await r.c.remove(1);
        assert.equal((await readdir(r.root)).includes('hello.txt'), false);
        assert.equal(await errnoOf(r.c.getattr(1)), E.EBADF);
        await r.c.walk(0, 2, ['dir']);
        assert.equal(await errnoOf(r.c.remove(2)), E.ENOTEMPTY);
        assert.equal(await errnoOf(r.c.getattr(2)), E.EBADF);
        await r.c.walk(0, 3, []);
        assert.equal(await errnoOf(r.c.remove(3)), E.EBUSY);
      } finally {
        await r.close();
      }
    });

    test('symlinks store their target as text: readlink returns it, walk gives a symlink qid', async () => {
      const r = await rig({ confinement: mode });
      try {
        await r.c.mount();
        const q = await r.c.symlink(0, 'ln', 'some/where/../else');
        assert.equal(q.type, QTSYMLINK);
        assert.equal(await readlink(join(r.root, 'ln')), 'some/where/../else');
        await r.c.walk(0, 1, ['ln']);
        assert.equal(await r.c.readlink(1), 'some/where/../else');
        await r.c.walk(0, 2, ['etc']);
        assert.equal(await r.c.readlink(2), '/etc');
        await r.c.walk(0, 3, ['hello.txt']);
        assert.equal(await errnoOf(r.c.readlink(3)), E.EINVAL);
        assert.equal(await errnoOf(r.c.symlink(0, 'empty', '')), E.ENOENT);
        assert.equal(await errnoOf(r.c.symlink(0, 'nul', 'a\0b')), E.EINVAL);
        assert.equal(await errnoOf(r.c.symlink(0, 'ln', 'x')), E.EEXIST);
      } finally {
        await r.close();
      }
    });

    test('setattr truncates, changes mode and sets times; an unlinked open file is still reachable', async () => {
      const r = await rig({ confinement: mode });
      try {
        await r.c.mount();
        await r.c.walk(0, 1, ['hello.txt']);
        await r.c.setattr(1, { size: 5 });
        assert.equal(await readFile(join(r.root, 'hello.txt'), 'utf8'), 'hello');
        await r.c.setattr(1, { size: 10 });
        assert.equal((await stat(join(r.root, 'hello.txt'))).size, 10);
        await r.c.setattr(1, { mode: 0o100600 });
        assert.equal((await stat(join(r.root, 'hello.txt'))).mode & 0o7777, 0o600);
        await r.c.setattr(1, { atime: [1_000_000_000, 500], mtime: [1_234_567_890, 0] });
        const st = await stat(join(r.root, 'hello.txt'));
        assert.equal(Math.floor(st.mtimeMs / 1000), 1_234_567_890);
        assert.equal(Math.floor(st.atimeMs / 1000), 1_000_000_000);
        await r.c.setattr(1, { mtime: 'now' });
        assert.ok(Math.abs((await stat(join(r.root, 'hello.txt'))).mtimeMs - Date.now()) < 60_000);
        assert.equal((await stat(join(r.root, 'hello.txt'))).atimeMs, st.atimeMs, 'atime untouched');
        await r.c.setattr(1, { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }); // best effort
        // Set-user-ID is never granted.
        await r.c.setattr(1, { mode: 0o4755 });
        assert.equal((await stat(join(r.root, 'hello.txt'))).mode & 0o7777, 0o755);
        // Directories: mode and times, not size.
        await r.c.walk(0, 2, ['dir']);
        await r.c.setattr(2, { mode: 0o2750 });
        assert.equal((await stat(join(r.root, 'dir'))).mode & 0o7777, 0o2750);
        assert.equal(await errnoOf(r.c.setattr(2, { size: 0 })), E.EISDIR);
        // A file unlinked while open keeps working through its fid.
        await r.c.walk(0, 3, ['dir', 'a.txt']);
        await r.c.lopen(3, O.RDWR);
        await unlink(join(r.root, 'dir', 'a.txt'));
        await r.c.write(3, 0, 'still here');
        await r.c.setattr(3, { size: 5 });
        assert.equal((await r.c.getattr(3)).size, 5);
        assert.equal((await r.c.read(3, 0, 100)).toString(), 'still');
      } finally {
        await r.close();
      }
    });

    test('statfs reports the host filesystem of the share', async () => {
      const r = await rig({ confinement: mode });
      try {
        await r.c.mount();
        const s = await r.c.statfs(0);
        const host = await statfs(r.root, { bigint: true });
        assert.equal(BigInt(s.bsize), host.bsize);
        assert.equal(s.blocks, host.blocks);
        assert.equal(s.namelen, 255);
        await r.c.walk(0, 1, ['hello.txt']);
        assert.equal((await r.c.statfs(1)).bsize, s.bsize);
      } finally {
        await r.close();
      }
    });

    test('fsync works on open fids, files and directories alike, and wants an open fid', async () => {
      const r = await rig({ confinement: mode });
      try {
        await r.c.mount();
        await r.c.walk(0, 1, ['hello.txt']);
        assert.equal(await errnoOf(r.c.fsync(1)), E.EBADF);
        await r.c.lopen(1, O.RDWR);
        await r.c.write(1, 0, 'J');
        await r.c.fsync(1);
        await r.c.fsync(1, 1);
        await r.c.walk(0, 2, []);
        await r.c.lopen(2, O.RDONLY | O.DIRECTORY);
        await r.c.fsync(2);
      } finally {
        await r.close();
      }
    });

    test('locks: a write lock keeps other owners out until it is unlocked or its fid is clunked', async () => {
      const r = await rig({ confinement: mode });
      try {
        await r.c.mount();
        await r.c.walk(0, 1, ['hello.txt']);
        await r.c.lopen(1, O.RDWR);
        await r.c.walk(0, 2, ['hello.txt']);
        await r.c.lopen(2, O.RDWR);
        assert.equal(await r.c.lock(1, 1, 0, 10, 100), 0); // WRLCK [0,10) for pid 100: granted
        assert.equal(await r.c.lock(2, 0, 5, 1, 200), 1); // RDLCK at 5 for pid 200: blocked
        assert.equal(await r.c.lock(2, 0, 10, 0, 200), 0); // RDLCK [10, EOF) for pid 200: granted
        assert.equal(await r.c.lock(1, 1, 0, 10, 100), 0); // the owner may re-lock its own range
        assert.deepEqual(await r.c.getlock(2, 1, 0, 0, 200), { type: 1, start: 0, length: 10, procId: 100, clientId: 'guest' });
        assert.deepEqual(await r.c.getlock(1, 0, 0, 5, 100), { type: 2, start: 0, length: 5, procId: 100, clientId: 'guest' });
        assert.equal((await r.c.getlock(1, 1, 20, 5, 100)).procId, 200); // pid 200's read lock to EOF
        assert.equal(await r.c.lock(1, 2, 0, 5, 100), 0); // unlock [0,5): [5,10) stays
        assert.equal(await r.c.lock(2, 1, 0, 5, 200), 0);
        assert.equal(await r.c.lock(2, 1, 5, 1, 200), 1);
        await r.c.clunk(1); // drops pid 100's locks taken through fid 1
        assert.equal(await r.c.lock(2, 1, 5, 1, 200), 0);
        assert.equal(await errnoOf(r.c.lock(2, 7, 0, 0, 1)), E.EINVAL);
      } finally {
        await r.close();
      }
    });

    test('xattrs: the list is empty and no attribute exists; mknod makes only regular files', async () => {
      const r = await rig({ confinement: mode });
      try {
        await r.c.mount();
        assert.equal(await r.c.xattrwalk(0, 1, ''), 0);
        assert.equal((await r.c.read(1, 0, 100)).length, 0);
        await r.c.clunk(1);
        assert.equal(await errnoOf(r.c.xattrwalk(0, 1, 'user.x')), E.ENODATA);
        const xc = r.c.call(T.xattrcreate, [['u32', 0], ['s', 'user.x'], ['u64', 3], ['u32', 0]]);
        assert.equal(await errnoOf(xc), E.EOPNOTSUPP);
        const q = await r.c.mknod(0, 'plain', 0o100644);
        assert.equal(q.type, 0);
        assert.ok((await lstat(join(r.root, 'plain'))).isFile());
        assert.equal(await errnoOf(r.c.mknod(0, 'fifo', 0o010644)), E.EPERM);
        assert.equal(await errnoOf(r.c.mknod(0, 'blk', 0o060600, 8, 0)), E.EPERM);
        assert.equal(await errnoOf(r.c.mknod(0, 'chr', 0o020600, 1, 3)), E.EPERM);
        assert.deepEqual((await readdir(r.root)).filter((n) => ['fifo', 'blk', 'chr'].includes(n)), []);
      } finally {
        await r.close();
      }
    });

    test('link makes a second name for a file inside the share', async () => {
      const r = await rig({ confinement: mode });
      try {
        await r.c.mount();
        await r.c.walk(0, 1, ['hello.txt']);
        await r.c.walk(0, 2, ['dir']);
        await r.c.link(2, 1, 'again.txt');
        assert.equal(await readFile(join(r.root, 'dir', 'again.txt'), 'utf8'), 'hello, world\n');
        assert.equal((await r.c.getattr(1)).nlink, 2);
        assert.equal(await errnoOf(r.c.link(2, 0, 'rootlink')), E.EPERM);
      } finally {
        await r.close();
      }
    });

    test('names that are not UTF-8 round-trip as bytes', async () => {
      const r = await rig({ confinement: mode, populate: false });
      try {
        await r.c.mount();
        const name = Buffer.from([0x66, 0xff, 0xfe, 0x80]);
        await r.c.walk(0, 1, []);
        await r.c.lcreate(1, name, O.WRONLY | O.CREAT, 0o644);
        const host = await readdir(Buffer.from(r.root), { encoding: 'buffer' });
        assert.ok(host.some((n) => n.equals(name)));
        await r.c.walk(0, 2, [name]);
        await r.c.walk(0, 3, []);
        await r.c.lopen(3, O.RDONLY);
        assert.ok((await r.c.listAll(3)).some((e) => e.name.equals(name)));
      } finally {
        await r.close();
      }
    });

    test('reset and Tversion drop every fid and close every open file', async () => {
      const r = await rig({ confinement: mode });
      try {
        await r.c.mount();
        await r.c.walk(0, 1, ['hello.txt']);
        await r.c.lopen(1, O.RDONLY);
        assert.equal(r.server.openFileCount, 1);
        r.server.reset();
        assert.equal(r.server.fidCount, 0);
        assert.equal(r.server.openFileCount, 0);
        assert.equal(await errnoOf(r.c.getattr(0)), E.EBADF);
        await r.c.mount();
        await r.c.walk(0, 1, ['hello.txt']);
        await r.c.version();
        assert.equal(await errnoOf(r.c.getattr(1)), E.EBADF);
        assert.equal(r.server.fidCount, 0);
      } finally {
        await r.close();
      }
    });

    test('hard links made on the host are fine: both names reach the same qid', async () => {
      const r = await rig({ confinement: mode });
      try {
        await hostLink(join(r.root, 'hello.txt'), join(r.root, 'dir', 'hl'));
        await r.c.mount();
        const [a] = await r.c.walk(0, 1, ['hello.txt']);
        const b = await r.c.walk(0, 2, ['dir', 'hl']);
        assert.equal(a.path, b[1].path);
      } finally {
        await r.close();
      }
    });
  });
}

test('a reset with requests in flight: the one being served completes, queued ones get EIO, nothing leaks', async () => {
  const r = await rig({ populate: false });
  try {
    for (let i = 0; i < 300; i++) await writeFile(join(r.root, `f${i}`), '');
    await r.c.mount();
    const fds = (await readdir('/proc/self/fd')).length; // with the share's root open
    await r.c.walk(0, 1, []);
    await r.c.lopen(1, O.RDONLY | O.DIRECTORY);
    const listing = r.server.handle(encode(T.readdir, 1, [['u32', 1], ['u64', 0], ['u32', 60000]]));
    const queued = r.server.handle(encode(T.getattr, 2, [['u32', 1], ['u64', 0x7ff]]));
    r.server.reset();
    const first = Buffer.from(await listing);
    assert.ok(first[4] === T.readdir + 1 || first[4] === 7);
    const second = Buffer.from(await queued);
    assert.equal(second[4], 7);
    assert.equal(second.readUInt32LE(7), E.EIO);
    assert.equal(r.server.fidCount, 0);
    await r.c.mount();
    await r.c.clunk(0);
    await r.server.handle(encode(T.flush, 3, [['u16', 0]])); // let the deferred closes run
    assert.equal((await readdir('/proc/self/fd')).length, fds, 'the directory was closed after its readdir');
  } finally {
    await r.close();
  }
});

test('flush is answered; unknown, legacy 9P2000 and auth messages get EOPNOTSUPP; bad fids EBADF', async () => {
  const r = await rig();
  try {
    await r.c.mount();
    await r.c.flush(1);
    for (const type of [T.open, T.create, T.stat, T.wstat, T.auth, T.lerror, 0, 99, 101, 200, 255]) {
      const reply = await r.c.raw(encode(type, 42, [['u32', 0], ['u32', 0], ['s', ''], ['s', ''], ['u32', 0]]));
      assert.equal(reply[4], 7, `type ${type}`);
      assert.equal(reply.readUInt32LE(7), E.EOPNOTSUPP, `type ${type}`);
    }
    assert.equal(await errnoOf(r.c.getattr(77)), E.EBADF);
    assert.equal(await errnoOf(r.c.clunk(77)), E.EBADF);
    assert.equal(await errnoOf(r.c.lopen(77, 0)), E.EBADF);
    assert.equal(await errnoOf(r.c.read(77, 0, 1)), E.EBADF);
    assert.equal(await errnoOf(r.c.attach(0)), E.EBADF); // fid in use
  } finally {
    await r.close();
  }
});
