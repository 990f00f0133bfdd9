import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { E, errnoOf, O } from './client.js';
import { fingerprint, MODES, rig } from './fixture.js';

const QTSYMLINK = 0x02;
const DT_LNK = 10;
const ME = process.getuid?.() ?? 0;
const META = '.virtfs_metadata';
const META_ROOT = '.virtfs_metadata_root';

/** A mapped share, mounted as guest uid `uid` (Linux attaches as the user who touches the share). */
async function mapped(uid: number, confinement: (typeof MODES)[number] = 'procfd'): Promise<Awaited<ReturnType<typeof rig>>> {
  const r = await rig({ security: 'mapped', confinement });
  await r.c.version();
  await r.c.attach(0, uid);
  return r;
}

for (const mode of MODES) {
  test(`mapped (${mode}): a file made by guest uid 1000 is the Bonsai user's 0600 on the host; chown and chmod change only what the guest sees`, async () => {
    const r = await mapped(1000, mode);
    try {
      await r.c.walk(0, 1, []);
      await r.c.lcreate(1, 'f', O.RDWR | O.CREAT, 0o4755, 1000);
      await r.c.write(1, 0, 'data');
      const host = await lstat(join(r.root, 'f'));
      assert.deepEqual([host.uid, host.mode & 0o7777], [ME, 0o600]);
      let a = await r.c.getattr(1);
      assert.deepEqual([a.uid, a.gid, a.mode.toString(8)], [1000, 1000, '104755'], 'the guest sees what it asked for, set-uid too');
      assert.equal(a.size, 4);
      await r.c.setattr(1, { uid: 0, gid: 0 });
      await r.c.setattr(1, { mode: 0o640 });
      a = await r.c.getattr(1);
      assert.deepEqual([a.uid, a.gid, a.mode.toString(8)], [0, 0, '100640']);
      const after = await lstat(join(r.root, 'f'));
      assert.deepEqual([after.uid, after.gid, after.mode & 0o7777], [host.uid, host.gid, 0o600], 'the host file is unchanged');
      // QEMU's mapped-file format, so either can use the share.
      assert.equal(await readFile(join(r.root, META, 'f'), 'utf8'), 'virtfs.uid=0\nvirtfs.gid=0\nvirtfs.mode=33184\n');

      await r.c.mkdir(0, 'd', 0o755, 1000);
      assert.equal((await lstat(join(r.root, 'd'))).mode & 0o7777, 0o700);
      await r.c.walk(0, 2, ['d']);
      a = await r.c.getattr(2);
      assert.deepEqual([a.uid, a.mode.toString(8)], [1000, '40755']);
      // A file that was there before has no metadata: the host's own values.
      await r.c.walk(0, 3, ['hello.txt']);
      const hello = await lstat(join(r.root, 'hello.txt'));
      a = await r.c.getattr(3);
      assert.deepEqual([a.uid, a.mode], [hello.uid, hello.mode]);
      // The root's own attributes live in .virtfs_metadata_root.
      await r.c.setattr(0, { mode: 0o1777 });
      assert.equal((await r.c.getattr(0)).mode.toString(8), '41777');
      assert.match(await readFile(join(r.root, META_ROOT), 'utf8'), /virtfs\.mode=17407/);
    } finally {
      await r.close();
    }
  });

  test(`mapped (${mode}): a guest symlink to /etc/passwd is a plain file on the host and a symlink to the guest`, async () => {
    const r = await mapped(0, mode);
    try {
      await r.c.symlink(0, 'pw', '/etc/passwd');
      const host = await lstat(join(r.root, 'pw'));
      assert.ok(host.isFile() && !host.isSymbolicLink(), 'no host tool can follow it');
      assert.equal(host.mode & 0o777, 0o600);
      assert.equal(await readFile(join(r.root, 'pw'), 'utf8'), '/etc/passwd');
      const [q] = await r.c.walk(0, 1, ['pw']);
      assert.equal(q.type, QTSYMLINK);
      assert.equal((await r.c.getattr(1)).mode.toString(8), '120777');
      assert.equal(await r.c.readlink(1), '/etc/passwd');
      assert.equal(await errnoOf(r.c.lopen(1, O.RDONLY)), E.ELOOP);
      assert.equal(await errnoOf(r.c.setattr(1, { size: 0 })), E.EINVAL);
      assert.equal(await errnoOf(r.c.setattr(1, { mode: 0o644 })), E.EOPNOTSUPP);
      assert.equal(await errnoOf(r.c.walk(1, 2, ['x'])), E.ENOTDIR);
      await r.c.walk(0, 3, []);
      await r.c.lopen(3, O.RDONLY | O.DIRECTORY);
      const entry = (await r.c.listAll(3)).find((d) => d.name.toString() === 'pw');
      assert.equal(entry?.type, DT_LNK);
      assert.equal(entry?.qid.type, QTSYMLINK);
      // The host's own symlinks are still symlinks, read as such and never followed.
      await r.c.walk(0, 4, ['up']);
      assert.equal(await r.c.readlink(4), '../outside');
      // A hard link and a rename take the metadata along.
      await r.c.link(0, 1, 'pw2');
      await r.c.renameat(0, 'pw', 0, 'pw3');
      for (const name of ['pw2', 'pw3']) {
        await r.c.walk(0, 5, [name]);
        assert.equal(await r.c.readlink(5), '/etc/passwd', name);
        await r.c.clunk(5);
      }
      assert.deepEqual((await readdir(join(r.root, META))).sort(), ['pw2', 'pw3']);
    } finally {
      await r.close();
    }
  });
}

test('mapped: device nodes, FIFOs and sockets are empty plain files with their type and number recorded', async () => {
  const r = await mapped(0);
  try {
    await r.c.mknod(0, 'null', 0o020666, 1, 3);
    await r.c.mknod(0, 'fifo', 0o010600);
    await r.c.mknod(0, 'plain', 0o100644);
    for (const name of ['null', 'fifo', 'plain']) {
      const st = await lstat(join(r.root, name));
      assert.ok(st.isFile() && st.size === 0 && (st.mode & 0o777) === 0o600, name);
    }
    await r.c.walk(0, 1, ['null']);
    const a = await r.c.getattr(1);
    assert.equal(a.mode.toString(8), '20666');
    assert.equal(a.rdev, (1 << 8) | 3);
    assert.equal(await errnoOf(r.c.lopen(1, O.RDWR)), E.ENXIO);
    await r.c.walk(0, 2, ['fifo']);
    assert.equal((await r.c.getattr(2)).mode.toString(8), '10600');
    assert.equal(await errnoOf(r.c.lopen(2, O.RDONLY)), E.ENXIO);
    await r.c.walk(0, 3, ['plain']);
    await r.c.lopen(3, O.RDWR);
  } finally {
    await r.close();
  }
});

test('mapped: the metadata is hidden from the guest, cannot be reached, named or replaced by it', async () => {
  const r = await mapped(1000);
  try {
    await r.c.walk(0, 1, []);
    await r.c.lcreate(1, 'f', O.RDWR | O.CREAT, 0o644, 1000);
    await r.c.mkdir(0, 'sub', 0o755, 1000);
    await r.c.walk(0, 9, ['sub']);
    await r.c.walk(0, 10, []);
    await r.c.lcreate(10, 'g', O.RDWR | O.CREAT, 0o644, 1000);
    await r.c.setattr(0, { mode: 0o755 });
    const metaBefore = await fingerprint(join(r.root, META));
    const rootMetaBefore = await readFile(join(r.root, META_ROOT));
    for (const name of [META, META_ROOT]) {
      assert.equal(await errnoOf(r.c.walk(0, 2, [name])), E.ENOENT, `walk ${name}`);
      assert.equal(await errnoOf(r.c.walk(9, 2, [name])), E.ENOENT, `walk sub/${name}`);
      assert.equal((await r.c.walk(0, 2, ['sub', name])).length, 1, 'a walk stops there');
      await r.c.walk(0, 2, []);
      assert.equal(await errnoOf(r.c.lcreate(2, name, O.RDWR | O.CREAT, 0o644)), E.EINVAL);
      await r.c.clunk(2);
      assert.equal(await errnoOf(r.c.mkdir(0, name)), E.EINVAL);
      assert.equal(await errnoOf(r.c.symlink(0, name, 'x')), E.EINVAL);
      assert.equal(await errnoOf(r.c.mknod(0, name, 0o100644)), E.EINVAL);
      await r.c.walk(0, 3, ['hello.txt']);
      assert.equal(await errnoOf(r.c.link(0, 3, name)), E.EINVAL);
      assert.equal(await errnoOf(r.c.rename(3, 0, name)), E.EINVAL);
      await r.c.clunk(3);
      assert.equal(await errnoOf(r.c.renameat(0, 'hello.txt', 0, name)), E.EINVAL);
      assert.equal(await errnoOf(r.c.renameat(0, name, 0, 'stolen')), E.ENOENT);
      assert.equal(await errnoOf(r.c.unlinkat(0, name)), E.ENOENT);
      assert.equal(await errnoOf(r.c.unlinkat(0, name, 0x200)), E.ENOENT);
    }
    await r.c.walk(0, 4, []);
    await r.c.lopen(4, O.RDONLY | O.DIRECTORY);
    const names = (await r.c.listAll(4)).map((d) => d.name.toString());
    assert.ok(names.includes('f') && !names.includes(META) && !names.includes(META_ROOT), names.join(' '));
    // A file whose bytes look like metadata is only data.
    await r.c.walk(0, 5, ['f']);
    await r.c.lopen(5, O.RDWR);
    await r.c.write(5, 0, 'virtfs.uid=0\nvirtfs.mode=36333\n');
    assert.equal((await r.c.getattr(5)).uid, 1000);
    assert.deepEqual(await fingerprint(join(r.root, META)), metaBefore);
    assert.deepEqual(await readFile(join(r.root, META_ROOT)), rootMetaBefore);
  } finally {
    await r.close();
  }
});

test('mapped: a metadata folder or file that a host user made a symlink is never followed', async () => {
  const r = await mapped(1000);
  try {
    const before = await fingerprint(r.outside);
    await symlink(r.outside, join(r.root, 'dir', META));
    await mkdir(join(r.root, META));
    await symlink(join(r.outside, 'secret.txt'), join(r.root, META, 'hello.txt'));
    await r.c.walk(0, 1, ['dir']);
    await r.c.walk(0, 2, []);
    await r.c.walk(2, 2, ['dir']);
    assert.equal(await errnoOf(r.c.lcreate(2, 'new', O.RDWR | O.CREAT, 0o644)), E.ENOTDIR, 'no metadata written through the link');
    await r.c.walk(1, 3, ['a.txt']);
    assert.equal((await r.c.getattr(3)).uid, ME, 'nothing read through it either');
    await r.c.walk(0, 4, ['hello.txt']);
    assert.equal((await r.c.getattr(4)).uid, ME);
    assert.equal(await errnoOf(r.c.setattr(4, { uid: 0 })), E.EEXIST, 'a linked metadata file is not written to');
    assert.deepEqual(await fingerprint(r.outside), before);
  } finally {
    await r.close();
  }
});

test('mapped: removing files and directories removes their metadata, and a directory the guest emptied can go', async () => {
  const r = await mapped(1000);
  try {
    await r.c.mkdir(0, 'd', 0o755, 1000);
    await r.c.walk(0, 1, ['d']);
    await r.c.walk(1, 2, []);
    await r.c.lcreate(2, 'x', O.RDWR | O.CREAT, 0o644, 1000);
    await r.c.symlink(1, 'l', '/nowhere');
    assert.deepEqual((await readdir(join(r.root, 'd', META))).sort(), ['l', 'x']);
    await r.c.unlinkat(1, 'x');
    await r.c.walk(1, 3, ['l']);
    await r.c.remove(3);
    await r.c.unlinkat(0, 'd', 0x200);
    assert.deepEqual((await readdir(r.root)).filter((n) => n.startsWith('d')), ['dir'], 'd and its metadata are gone');
    assert.deepEqual(await readdir(join(r.root, META)), []);
    // A directory the guest still sees entries in is not emptied behind its back.
    await r.c.mkdir(0, 'e', 0o755, 1000);
    await writeFile(join(r.root, 'e', 'kept'), 'k');
    assert.equal(await errnoOf(r.c.unlinkat(0, 'e', 0x200)), E.ENOTEMPTY);
  } finally {
    await r.close();
  }
});
