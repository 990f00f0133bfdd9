import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkFrame, E, encode, errnoOf, O, T } from './client.js';
import { fingerprint, MODES, rig, SECURITY } from './fixture.js';

const QTSYMLINK = 0x02;
const BAD_NAMES = ['..', '.', '', '../outside', 'up/secret.txt', 'a/b', '/etc', 'x\0y', '\0'];

for (const mode of MODES) for (const security of SECURITY) {
  describe(`escapes with ${mode} confinement, ${security}`, () => {
    test('"..", ".", empty names and names with "/" or NUL are refused in walks and creates', async () => {
      const r = await rig({ confinement: mode, security });
      try {
        const before = await fingerprint(r.outside);
        const beforeBase = (await readdir(r.base)).sort();
        await r.c.mount();
        await r.c.walk(0, 9, ['dir']);
        for (const bad of BAD_NAMES) {
          assert.equal(await errnoOf(r.c.walk(0, 1, [bad])), E.EINVAL, `walk ${JSON.stringify(bad)}`);
          assert.equal(await errnoOf(r.c.walk(9, 1, [bad])), E.EINVAL, `walk dir/${JSON.stringify(bad)}`);
          assert.equal((await r.c.walk(0, 1, ['dir', bad])).length, 1, 'a later bad name stops the walk');
          assert.equal(await errnoOf(r.c.getattr(1)), E.EBADF, 'and makes no fid');
          await r.c.walk(0, 2, []);
          assert.equal(await errnoOf(r.c.lcreate(2, bad, O.RDWR | O.CREAT, 0o644)), E.EINVAL);
          await r.c.clunk(2);
          assert.equal(await errnoOf(r.c.mkdir(0, bad)), E.EINVAL);
          assert.equal(await errnoOf(r.c.symlink(0, bad, 'target')), E.EINVAL);
          assert.equal(await errnoOf(r.c.mknod(0, bad, 0o100644)), E.EINVAL);
          assert.equal(await errnoOf(r.c.renameat(0, 'hello.txt', 0, bad)), E.EINVAL);
          assert.equal(await errnoOf(r.c.renameat(0, bad, 0, 'stolen')), E.EINVAL);
          assert.equal(await errnoOf(r.c.unlinkat(0, bad)), E.EINVAL);
          assert.equal(await errnoOf(r.c.unlinkat(9, bad, 0x200)), E.EINVAL);
          assert.equal(await errnoOf(r.c.rename(9, 0, bad)), E.EINVAL);
          await r.c.walk(0, 3, ['hello.txt']);
          assert.equal(await errnoOf(r.c.link(0, 3, bad)), E.EINVAL);
          await r.c.clunk(3);
        }
        assert.equal(await errnoOf(r.c.mkdir(0, 'x'.repeat(256))), E.ENAMETOOLONG);
        assert.deepEqual(await fingerprint(r.outside), before);
        assert.deepEqual((await readdir(r.base)).sort(), beforeBase);
        assert.ok((await lstat(join(r.root, 'hello.txt'))).isFile());
      } finally {
        await r.close();
      }
    });

    test('a symlink to /etc can be walked to and read as a link, but never through, opened or used as a directory', async () => {
      const r = await rig({ confinement: mode, security });
      try {
        await r.c.mount();
        const partial = await r.c.walk(0, 1, ['etc', 'passwd']);
        assert.equal(partial.length, 1);
        assert.equal(partial[0].type, QTSYMLINK);
        assert.equal(await errnoOf(r.c.getattr(1)), E.EBADF);
        await r.c.walk(0, 1, ['etc']);
        assert.equal(await errnoOf(r.c.walk(1, 2, ['passwd'])), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.lopen(1, O.RDONLY)), E.ELOOP);
        assert.equal(await errnoOf(r.c.lopen(1, O.RDONLY | O.DIRECTORY)), E.ELOOP);
        assert.equal(await errnoOf(r.c.readdir(1, 0, 4096)), E.EBADF);
        assert.equal(await errnoOf(r.c.lcreate(1, 'x', O.RDWR | O.CREAT, 0o644)), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.mkdir(1, 'x')), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.symlink(1, 'x', 'y')), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.mknod(1, 'x', 0o100644)), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.unlinkat(1, 'passwd')), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.renameat(1, 'passwd', 0, 'stolen')), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.renameat(0, 'hello.txt', 1, 'planted')), E.ENOTDIR);
        await r.c.walk(0, 3, ['hello.txt']);
        assert.equal(await errnoOf(r.c.link(1, 3, 'planted')), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.rename(3, 1, 'planted')), E.ENOTDIR);
        const a = await r.c.getattr(1);
        assert.equal(a.mode & 0o170000, 0o120000, 'getattr describes the link, not /etc');
        assert.equal(a.qid.type, QTSYMLINK);
        assert.equal(await errnoOf(r.c.setattr(1, { size: 0 })), E.EINVAL);
        assert.equal(await errnoOf(r.c.setattr(1, { mode: 0o777 })), E.EOPNOTSUPP);
        assert.equal(await r.c.readlink(1), '/etc');
        assert.equal((await r.c.statfs(1)).namelen, 255, 'statfs of a link is of the folder holding it');
        assert.equal(await lstat(join(r.root, 'stolen')).then(() => true, () => false), false);
      } finally {
        await r.close();
      }
    });

    test('relative and absolute symlinks out of the share: nothing behind them is opened, truncated or changed', async () => {
      const r = await rig({ confinement: mode, security });
      try {
        const before = await fingerprint(r.outside);
        await r.c.mount();
        let fid = 10;
        for (const dirLink of [['up'], ['abs'], ['dir', 'upup']]) {
          const qs = await r.c.walk(0, fid, [...dirLink, 'secret.txt']);
          assert.equal(qs.length, dirLink.length, `no walk through ${dirLink.join('/')}`);
          await r.c.walk(0, fid, dirLink);
          assert.equal(await errnoOf(r.c.lcreate(fid, 'planted', O.RDWR | O.CREAT, 0o644)), E.ENOTDIR);
          assert.equal(await errnoOf(r.c.mkdir(fid, 'planted')), E.ENOTDIR);
          assert.equal(await errnoOf(r.c.unlinkat(fid, 'secret.txt')), E.ENOTDIR);
          assert.equal(await errnoOf(r.c.renameat(fid, 'secret.txt', 0, 'stolen')), E.ENOTDIR);
          assert.equal(await errnoOf(r.c.renameat(0, 'hello.txt', fid, 'planted')), E.ENOTDIR);
          assert.equal(await errnoOf(r.c.lopen(fid, O.RDONLY | O.DIRECTORY)), E.ELOOP);
          fid++;
        }
        for (const fileLink of ['upfile', 'absfile']) {
          await r.c.walk(0, fid, [fileLink]);
          for (const flags of [O.RDONLY, O.WRONLY, O.RDWR, O.RDWR | O.TRUNC, O.WRONLY | O.APPEND]) {
            assert.equal(await errnoOf(r.c.lopen(fid, flags)), E.ELOOP, `lopen ${fileLink} ${flags}`);
          }
          assert.equal(await errnoOf(r.c.setattr(fid, { size: 0 })), E.EINVAL);
          assert.equal(await errnoOf(r.c.setattr(fid, { mode: 0o666 })), E.EOPNOTSUPP);
          await r.c.setattr(fid, { mtime: [1_000_000, 0], uid: 0 }); // only ever the link's own times and owner
          await r.c.walk(0, fid + 100, []);
          assert.equal(await errnoOf(r.c.lcreate(fid + 100, fileLink, O.RDWR | O.CREAT | O.TRUNC, 0o644)), E.ELOOP);
          assert.equal(await errnoOf(r.c.lcreate(fid + 100, fileLink, O.RDWR | O.CREAT | O.EXCL, 0o644)), E.EEXIST);
          assert.equal(await errnoOf(r.c.mknod(0, fileLink, 0o100644)), E.EEXIST);
          assert.equal(await errnoOf(r.c.mkdir(0, fileLink)), E.EEXIST);
          assert.equal(await errnoOf(r.c.symlink(0, fileLink, 'x')), E.EEXIST);
          if (mode === 'procfd') {
            await r.c.link(0, fid, `${fileLink}-hardlink`); // a hard link to the link itself, not to its target
            assert.ok((await lstat(join(r.root, `${fileLink}-hardlink`))).isSymbolicLink());
          } else {
            // Off Linux link(2) may follow a final symlink, so the lstat confinement refuses links to links.
            assert.equal(await errnoOf(r.c.link(0, fid, `${fileLink}-hardlink`)), E.EPERM);
          }
          fid++;
        }
        // Removing a link removes the link, never its target.
        await r.c.walk(0, 50, ['upfile']);
        await r.c.remove(50);
        await r.c.unlinkat(0, 'absfile');
        await r.c.unlinkat(0, 'up');
        assert.equal(await errnoOf(r.c.unlinkat(0, 'abs', 0x200)), E.ENOTDIR);
        assert.deepEqual(await fingerprint(r.outside), before);
      } finally {
        await r.close();
      }
    });

    test('renames, links and removals cannot name anything outside the share', async () => {
      const r = await rig({ confinement: mode, security });
      try {
        const before = await fingerprint(r.outside);
        await r.c.mount();
        await r.c.walk(0, 1, ['hello.txt']);
        await r.c.walk(0, 2, ['up']);
        assert.equal(await errnoOf(r.c.renameat(0, 'hello.txt', 0, '../outside/x')), E.EINVAL);
        assert.equal(await errnoOf(r.c.renameat(0, '../outside/secret.txt', 0, 'stolen')), E.EINVAL);
        assert.equal(await errnoOf(r.c.rename(1, 2, 'x')), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.link(2, 1, 'x')), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.unlinkat(0, '../outside/secret.txt')), E.EINVAL);
        assert.equal(await errnoOf(r.c.unlinkat(2, 'secret.txt')), E.ENOTDIR);
        // The link itself may be renamed: its text goes with it, and it is still only text.
        await r.c.renameat(0, 'up', 0, 'up2');
        assert.equal(await r.c.readlink(2), '../outside', 'the fid followed the renamed link');
        await r.c.walk(0, 4, ['dir']);
        await r.c.renameat(0, 'up2', 4, 'up3'); // now it names base/share/outside, which does not exist
        assert.equal(await errnoOf(r.c.lopen(2, O.RDONLY | O.DIRECTORY)), E.ELOOP);
        assert.deepEqual(await fingerprint(r.outside), before);
        assert.equal(await readFile(join(r.root, 'hello.txt'), 'utf8'), 'hello, world\n');
      } finally {
        await r.close();
      }
    });

    test('a directory swapped for a symlink on the host after the guest walked into it is not followed', async () => {
      const r = await rig({ confinement: mode, security });
      try {
        await mkdir(join(r.root, 'a'));
        await writeFile(join(r.root, 'a', 'b'), 'inside\n');
        await writeFile(join(r.outside, 'b'), 'outside\n');
        await mkdir(join(r.outside, 'a'));
        const before = await fingerprint(r.outside);
        await r.c.mount();
        await r.c.walk(0, 1, ['a', 'b']);
        await r.c.walk(0, 2, ['a']);
        await rename(join(r.root, 'a'), join(r.root, 'a-old'));
        await symlink(r.outside, join(r.root, 'a'));
        assert.equal(await errnoOf(r.c.lopen(1, O.RDWR | O.TRUNC)), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.getattr(1)), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.setattr(1, { size: 0 })), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.setattr(1, { mode: 0o777 })), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.readlink(1)), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.lcreate(2, 'new', O.RDWR | O.CREAT, 0o644)), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.mkdir(2, 'x')), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.unlinkat(2, 'b')), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.unlinkat(2, 'a', 0x200)), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.walk(2, 3, ['b'])), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.renameat(2, 'b', 0, 'stolen')), E.ENOTDIR);
        await r.c.walk(0, 4, ['hello.txt']);
        assert.equal(await errnoOf(r.c.link(2, 4, 'planted')), E.ENOTDIR);
        assert.equal(await errnoOf(r.c.remove(1)), E.ENOTDIR);
        assert.deepEqual(await fingerprint(r.outside), before);
        assert.equal(await readFile(join(r.root, 'a-old', 'b'), 'utf8'), 'inside\n');
      } finally {
        await r.close();
      }
    });

    test('symlinks the guest makes may say anything, but the server never follows them', async () => {
      const r = await rig({ confinement: mode, security });
      try {
        const before = await fingerprint(r.outside);
        await r.c.mount();
        await r.c.symlink(0, 'mine', join(r.outside, 'secret.txt'));
        await r.c.symlink(0, 'minedir', '../outside');
        await r.c.walk(0, 1, ['mine']);
        assert.equal(await errnoOf(r.c.lopen(1, O.WRONLY | O.TRUNC)), E.ELOOP);
        assert.equal(await errnoOf(r.c.setattr(1, { size: 0 })), E.EINVAL);
        assert.equal((await r.c.walk(0, 2, ['minedir', 'secret.txt'])).length, 1);
        await r.c.walk(0, 3, []);
        assert.equal(await errnoOf(r.c.lcreate(3, 'mine', O.WRONLY | O.CREAT | O.TRUNC, 0o644)), E.ELOOP);
        assert.deepEqual(await fingerprint(r.outside), before);
      } finally {
        await r.close();
      }
    });
  });
}

for (const security of SECURITY) test(`a read-only share refuses every change with EROFS and still serves reads (${security})`, async () => {
  const r = await rig({ readOnly: true, security });
  try {
    const before = await fingerprint(r.root);
    await r.c.mount();
    await r.c.walk(0, 1, ['hello.txt']);
    for (const flags of [O.WRONLY, O.RDWR, O.RDONLY | O.TRUNC, O.WRONLY | O.APPEND]) {
      assert.equal(await errnoOf(r.c.lopen(1, flags)), E.EROFS, `lopen ${flags}`);
    }
    await r.c.lopen(1, O.RDONLY);
    assert.equal((await r.c.read(1, 0, 5)).toString(), 'hello');
    assert.equal(await errnoOf(r.c.write(1, 0, 'x')), E.EROFS);
    await r.c.fsync(1);
    assert.equal(await r.c.lock(1, 1, 0, 0, 7), 0, 'advisory locks are not changes to the share');
    await r.c.walk(0, 2, []);
    assert.equal(await errnoOf(r.c.lcreate(2, 'new', O.RDWR | O.CREAT, 0o644)), E.EROFS);
    assert.equal(await errnoOf(r.c.mkdir(0, 'new')), E.EROFS);
    assert.equal(await errnoOf(r.c.symlink(0, 'new', 'x')), E.EROFS);
    assert.equal(await errnoOf(r.c.mknod(0, 'new', 0o100644)), E.EROFS);
    assert.equal(await errnoOf(r.c.link(0, 1, 'new')), E.EROFS);
    assert.equal(await errnoOf(r.c.rename(1, 0, 'new')), E.EROFS);
    assert.equal(await errnoOf(r.c.renameat(0, 'hello.txt', 0, 'new')), E.EROFS);
    assert.equal(await errnoOf(r.c.unlinkat(0, 'hello.txt')), E.EROFS);
    assert.equal(await errnoOf(r.c.unlinkat(0, 'dir', 0x200)), E.EROFS);
    for (const s of [{ mode: 0o777 }, { size: 0 }, { uid: 0 }, { gid: 0 }, { mtime: 'now' as const }, { atime: [1, 0] as [number, number] }]) {
      assert.equal(await errnoOf(r.c.setattr(1, s)), E.EROFS, JSON.stringify(s));
    }
    const xc = r.c.call(T.xattrcreate, [['u32', 0], ['s', 'user.x'], ['u64', 1], ['u32', 0]]);
    assert.equal(await errnoOf(xc), E.EROFS);
    await r.c.walk(0, 3, ['hello.txt']);
    assert.equal(await errnoOf(r.c.remove(3)), E.EROFS);
    assert.equal(await errnoOf(r.c.getattr(3)), E.EBADF, 'remove clunks even when refused');
    await r.c.lopen(2, O.RDONLY | O.DIRECTORY);
    assert.ok((await r.c.listAll(2)).length > 3);
    assert.ok((await r.c.getattr(0)).nlink >= 2);
    await r.c.statfs(0);
    assert.deepEqual(await fingerprint(r.root), before);
  } finally {
    await r.close();
  }
});

describe('malformed messages', () => {
  test('every truncation of a valid message is answered EINVAL under its tag, or NOTAG with no header', async () => {
    const r = await rig();
    try {
      await r.c.mount();
      const msgs = [
        encode(T.walk, 5, [['u32', 0], ['u32', 1], ['u16', 2], ['s', 'dir'], ['s', 'a.txt']]),
        encode(T.lcreate, 6, [['u32', 0], ['s', 'n'], ['u32', 0], ['u32', 0o644], ['u32', 0]]),
        encode(T.setattr, 7, [['u32', 0], ['u32', 0x8], ['u32', 0], ['u32', 0], ['u32', 0], ['u64', 0], ['u64', 0], ['u64', 0], ['u64', 0], ['u64', 0]]),
        encode(T.lock, 8, [['u32', 0], ['u8', 1], ['u32', 0], ['u64', 0], ['u64', 0], ['u32', 1], ['s', 'c']]),
        encode(T.renameat, 9, [['u32', 0], ['s', 'hello.txt'], ['u32', 0], ['s', 'other']]),
      ];
      for (const m of msgs) {
        for (let len = 0; len < m.length; len++) {
          for (const fixSize of [false, true]) {
            const cut = Buffer.from(m.subarray(0, len));
            if (fixSize && len >= 4) cut.writeUInt32LE(len, 0);
            const reply = Buffer.from(await r.server.handle(cut));
            checkFrame(cut, reply);
            assert.equal(reply[4], 7, `cut at ${len}`);
            assert.equal(reply.readUInt32LE(7), E.EINVAL, `cut at ${len}`);
            if (len < 7) assert.equal(reply.readUInt16LE(5), 0xffff);
          }
        }
      }
      assert.ok((await lstat(join(r.root, 'hello.txt'))).isFile(), 'no truncated rename or create took effect');
      assert.equal(await lstat(join(r.root, 'n')).then(() => true, () => false), false);
    } finally {
      await r.close();
    }
  });

  test('absurd counts and lengths are refused; huge reads are cut to msize', async () => {
    const r = await rig();
    try {
      await r.c.version(8192);
      await r.c.attach(0);
      const ask = async (m: Buffer): Promise<Buffer> => {
        const reply = Buffer.from(await r.server.handle(m));
        checkFrame(m, reply);
        return reply;
      };
      const errno = (b: Buffer): number => (b[4] === 7 ? b.readUInt32LE(7) : 0);
      assert.equal(errno(await ask(encode(T.walk, 1, [['u32', 0], ['u32', 1], ['u16', 0xffff]]))), E.EINVAL);
      const longStr = encode(T.walk, 1, [['u32', 0], ['u32', 1], ['u16', 1], ['u16', 60000], ['raw', Buffer.from('abc')]]);
      assert.equal(errno(await ask(longStr)), E.EINVAL);
      const shortWrite = encode(T.write, 1, [['u32', 0], ['u64', 0], ['u32', 0xffffffff], ['raw', Buffer.from('abc')]]);
      assert.equal(errno(await ask(shortWrite)), E.EINVAL);
      const lies = encode(T.clunk, 1, [['u32', 0]]);
      lies.writeUInt32LE(0xffffffff, 0);
      assert.equal(errno(await ask(lies)), E.EINVAL);
      const tiny = encode(T.clunk, 1, [['u32', 0]]);
      tiny.writeUInt32LE(3, 0);
      assert.equal(errno(await ask(tiny)), E.EINVAL);
      // Trailing bytes beyond size[4] (a larger guest buffer) are ignored.
      const padded = Buffer.concat([encode(T.getattr, 1, [['u32', 0], ['u64', 0x7ff]]), Buffer.alloc(32, 0xee)]);
      assert.equal((await ask(padded))[4], T.getattr + 1);
      await r.c.walk(0, 1, ['hello.txt']);
      await r.c.lopen(1, O.RDWR);
      for (let at = 0; at < 20000; at += 4000) await r.c.write(1, at, Buffer.alloc(4000, 0x41));
      const big = await ask(encode(T.read, 2, [['u32', 1], ['u64', 0], ['u32', 0xffffffff]]));
      assert.equal(big.length, 8192);
      assert.equal(big.readUInt32LE(7), 8192 - 11);
      const far = await ask(encode(T.read, 2, [['u32', 1], ['u64', 0xffffffffffffffffn], ['u32', 10]]));
      assert.equal(far.readUInt32LE(7), 0);
      const farWrite = encode(T.write, 2, [['u32', 1], ['u64', 0xfffffffffffffff0n], ['u32', 1], ['raw', Buffer.from('x')]]);
      assert.equal(errno(await ask(farWrite)), E.EFBIG);
      await r.c.walk(0, 3, []);
      await r.c.lopen(3, O.RDONLY);
      const dir = await ask(encode(T.readdir, 2, [['u32', 3], ['u64', 0], ['u32', 0xffffffff]]));
      assert.ok(dir.length <= 8192);
      const past = await ask(encode(T.readdir, 2, [['u32', 3], ['u64', 0xffffffffffffffffn], ['u32', 1000]]));
      assert.equal(past.readUInt32LE(7), 0);
    } finally {
      await r.close();
    }
  });

  test('the request is copied on arrival: changing the guest buffer afterwards changes nothing', async () => {
    const r = await rig();
    try {
      await r.c.mount();
      const m = encode(T.walk, 3, [['u32', 0], ['u32', 1], ['u16', 1], ['s', 'up']]);
      const pending = r.server.handle(m);
      m.write('..', m.length - 2); // what a malicious guest would do to a request in flight
      const reply = Buffer.from(await pending);
      assert.equal(reply[4], T.walk + 1);
      assert.equal(reply.readUInt16LE(7), 1);
      assert.equal(reply[9], QTSYMLINK, 'the walk was of "up", as sent');
    } finally {
      await r.close();
    }
  });

  test('many requests in flight at once are each answered under their own tag', async () => {
    const r = await rig();
    try {
      await r.c.mount();
      const msgs = Array.from({ length: 200 }, (_, i) =>
        i % 2 === 0
          ? encode(T.walk, i, [['u32', 0], ['u32', 1000 + i], ['u16', 1], ['s', 'hello.txt']])
          : encode(T.getattr, i, [['u32', 1000 + i - 1], ['u64', 0x7ff]]),
      );
      const replies = await Promise.all(msgs.map((m) => r.server.handle(m)));
      replies.forEach((reply, i) => {
        checkFrame(msgs[i], reply);
        assert.equal(reply[4], msgs[i][4] + 1, 'served in order: each getattr finds the fid its walk made');
      });
    } finally {
      await r.close();
    }
  });
});
