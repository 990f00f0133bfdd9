import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_MAX_MSIZE } from '../../../../src/devices/virtio/9p/server.js';
import { checkFrame, encode, T, type Field } from './client.js';
import { fingerprint, MODES, rig, SECURITY, type Rig } from './fixture.js';
import { prng } from '../../../helpers.js';

class Gen {
  private tag = 0;
  constructor(
    private readonly rand: () => number,
    private readonly outside: string,
  ) {}

  int(n: number): number {
    return Math.floor(this.rand() * n);
  }

  pick<V>(xs: readonly V[]): V {
    return xs[this.int(xs.length)];
  }

  chance(p: number): boolean {
    return this.rand() < p;
  }

  fid(): number {
    const p = this.rand();
    if (p < 0.8) return this.int(6); // the fids the loop keeps alive
    if (p < 0.95) return 6 + this.int(6);
    return this.pick([0xffffffff, 0x7fffffff, this.int(0x100000000)]);
  }

  u32(): number {
    return this.pick([0, 1, 2, 3, 0o100, 0o200, 0o1000, 0o2000, 0o200000, 0x200, 0xffffffff, 0x80000000, this.int(0x100000000), this.int(0o10000)]);
  }

  u64(): bigint {
    return this.pick([0n, 1n, 7n, 4096n, 1n << 31n, 1n << 53n, (1n << 63n) - 1n, (1n << 64n) - 1n, BigInt(this.int(100000))]);
  }

  name(): string | Uint8Array {
    if (this.chance(0.85)) {
      return this.pick([
        'hello.txt', 'dir', 'a.txt', 'etc', 'up', 'upfile', 'abs', 'absfile', 'upup', 'new', 'x', 'sub',
        'secret.txt', 'inner.txt', 'passwd', '..', '.', '', 'a/b', '../outside', '/etc/passwd', 'x\0y',
        'outside', 'share', '..\0', 'ü', 'x'.repeat(256), '.virtfs_metadata', '.virtfs_metadata_root',
      ]);
    }
    const bytes = new Uint8Array(this.int(12));
    for (let i = 0; i < bytes.length; i++) bytes[i] = this.pick([0x2e, 0x2f, 0x00, 0x61, 0xff, this.int(256)]);
    return bytes;
  }

  target(): string {
    return this.pick(['../outside', this.outside, join(this.outside, 'secret.txt'), '/etc', '../../', 'x', 'dir/../..', '']);
  }

  names(): Field[] {
    const n = this.chance(0.9) ? this.int(4) : this.pick([16, 17, 0xffff]);
    const out: Field[] = [['u16', n]];
    for (let i = 0; i < Math.min(n, 17); i++) out.push(['s', this.name()]);
    return out;
  }

  lockFields(withFlags: boolean): Field[] {
    const f: Field[] = [['u32', this.fid()], ['u8', this.pick([0, 1, 2, 3, 255])]];
    if (withFlags) f.push(['u32', this.int(4)]);
    f.push(['u64', this.u64()], ['u64', this.u64()], ['u32', this.int(4)], ['s', this.pick(['a', 'b', '', 'x'.repeat(2000)])]);
    return f;
  }

  /** One well-formed T-message with fuzzed fields. */
  message(): Buffer {
    const tag = (this.tag = (this.tag + 1) & 0xffff);
    const k = this.int(32);
    const f = (type: number, fields: Field[]): Buffer => encode(type, tag, fields);
    switch (k) {
      case 0:
        // Rare: a Tversion ends the session and every fid with it.
        if (this.chance(0.1)) return f(T.version, [['u32', this.pick([4096, 8192, 65536, 100, 1 << 30])], ['s', this.pick(['9P2000.L', '9P2000', 'x'])]]);
        return f(T.walk, [['u32', 0], ['u32', this.fid()], ['u16', 1], ['s', this.name()]]);
      case 1: return f(T.attach, [['u32', this.fid()], ['u32', 0xffffffff], ['s', 'u'], ['s', this.pick(['', '/', '..'])], ['u32', this.u32()]]);
      case 2: case 3: case 4: case 5: return f(T.walk, [['u32', this.chance(0.5) ? 0 : this.fid()], ['u32', 1 + this.int(11)], ...this.names()]);
      case 6: return f(T.lopen, [['u32', this.fid()], ['u32', this.u32()]]);
      case 7: return f(T.lcreate, [['u32', this.fid()], ['s', this.name()], ['u32', this.u32()], ['u32', this.u32()], ['u32', this.u32()]]);
      case 8: return f(T.read, [['u32', this.fid()], ['u64', this.u64()], ['u32', this.u32()]]);
      case 9: {
        const data = Buffer.alloc(this.int(300), 0x5a);
        return f(T.write, [['u32', this.fid()], ['u64', this.u64()], ['u32', data.length], ['raw', data]]);
      }
      case 10: return f(T.readdir, [['u32', this.fid()], ['u64', this.u64()], ['u32', this.u32()]]);
      case 11: return f(T.getattr, [['u32', this.fid()], ['u64', 0x3fff]]);
      case 12: {
        const size = this.chance(0.8) ? BigInt(this.int(100000)) : this.u64();
        return f(T.setattr, [
          ['u32', this.fid()], ['u32', this.int(0x200)], ['u32', this.int(0o10000)], ['u32', this.u32()], ['u32', this.u32()],
          ['u64', size], ['u64', this.u64()], ['u64', this.u64()], ['u64', this.u64()], ['u64', this.u64()],
        ]);
      }
      case 13: return f(T.mkdir, [['u32', this.fid()], ['s', this.name()], ['u32', this.u32()], ['u32', this.u32()]]);
      case 14: return f(T.symlink, [['u32', this.fid()], ['s', this.name()], ['s', this.target()], ['u32', this.u32()]]);
      case 15: return f(T.readlink, [['u32', this.fid()]]);
      case 16: return f(T.mknod, [['u32', this.fid()], ['s', this.name()], ['u32', this.pick([0o100644, 0o010644, 0o020644, 0o060644, 0o140644, 0o644])], ['u32', 1], ['u32', 3], ['u32', 0]]);
      case 17: return f(T.link, [['u32', this.fid()], ['u32', this.fid()], ['s', this.name()]]);
      case 18: return f(T.rename, [['u32', this.fid()], ['u32', this.fid()], ['s', this.name()]]);
      case 19: return f(T.renameat, [['u32', this.fid()], ['s', this.name()], ['u32', this.fid()], ['s', this.name()]]);
      case 20: return f(T.unlinkat, [['u32', this.fid()], ['s', this.name()], ['u32', this.pick([0, 0x200, this.u32()])]]);
      case 21: return f(T.remove, [['u32', this.fid()]]);
      case 22: return f(T.clunk, [['u32', this.fid()]]);
      case 23: return f(T.statfs, [['u32', this.fid()]]);
      case 24: return f(T.fsync, [['u32', this.fid()], ['u32', this.int(2)]]);
      case 25: return f(T.lock, this.lockFields(true));
      case 26: return f(T.getlock, this.lockFields(false));
      case 27: return f(T.xattrwalk, [['u32', this.fid()], ['u32', this.fid()], ['s', this.pick(['', 'user.x', 'security.selinux'])]]);
      case 28: return f(T.xattrcreate, [['u32', this.fid()], ['s', 'user.x'], ['u64', this.u64()], ['u32', this.u32()]]);
      case 29: return f(T.flush, [['u16', this.int(0x10000)]]);
      case 30: return f(this.int(256), [['u32', this.fid()], ['u32', this.fid()], ['s', this.name()]]);
      default: return f(T.walk, [['u32', this.fid()], ['u32', this.fid()], ['u16', 1], ['s', this.name()]]);
    }
  }

  /** A message damaged the way a buggy or hostile guest would: bits, lengths, types, cuts. */
  mutate(msg: Buffer): Buffer {
    let m = Buffer.from(msg);
    const rounds = 1 + this.int(4);
    for (let i = 0; i < rounds; i++) {
      switch (this.int(7)) {
        case 0: if (m.length > 0) m[this.int(m.length)] ^= 1 << this.int(8); break;
        case 1: if (m.length > 0) m[this.int(m.length)] = this.pick([0, 0xff, 0x2f, 0x2e, 0x7f, 0x80]); break;
        case 2: m = m.subarray(0, this.int(m.length + 1)); break;
        case 3: m = Buffer.concat([m, Buffer.alloc(this.int(40), this.int(256))]); break;
        case 4: if (m.length >= 4) m.writeUInt32LE(this.pick([0, 6, 7, m.length - 1, m.length + 1, 0xffffffff, this.int(200)]) >>> 0, 0); break;
        case 5: if (m.length >= 5) m[4] = this.int(256); break;
        case 6: if (m.length >= 9) m.writeUInt16LE(this.pick([0, 0xffff, this.int(0x10000)]), 7 + this.int(m.length - 8)); break;
      }
    }
    return m;
  }

  garbage(): Buffer {
    const b = Buffer.alloc(this.int(64));
    for (let i = 0; i < b.length; i++) b[i] = this.int(256);
    return b;
  }
}

/** Puts back the files the fuzzer is most likely to have removed, renamed or replaced. */
async function restock(root: string): Promise<void> {
  const want: [string, 'dir' | 'file' | 'link', string][] = [
    ['dir', 'dir', ''], ['dir/a.txt', 'file', 'a\n'], ['hello.txt', 'file', 'hello, world\n'], ['up', 'link', '../outside'],
  ];
  for (const [rel, kind, content] of want) {
    const p = join(root, rel);
    const st = await lstat(p).catch(() => null);
    const ok = st !== null && (kind === 'dir' ? st.isDirectory() : kind === 'file' ? st.isFile() : st.isSymbolicLink());
    if (ok) continue;
    await chmod(root, 0o755);
    if (st !== null) await rm(p, { recursive: true, force: true });
    if (kind === 'dir') await mkdir(p);
    else if (kind === 'file') await writeFile(p, content);
    else await symlink(content, p);
  }
}

async function openFds(): Promise<number> {
  return (await readdir('/proc/self/fd')).length;
}

async function fuzz(r: Rig, seed: number, count: number, checkEvery: number, extra: () => Promise<void>): Promise<void> {
  const g = new Gen(prng(seed), r.outside);
  const outsideBefore = await fingerprint(r.outside);
  const baseBefore = (await readdir(r.base)).sort();
  await r.c.mount();
  const quiet = (p: Promise<unknown>): Promise<unknown> => p.catch(() => undefined);
  for (let i = 0; i < count; i++) {
    if (i % 40 === 0) {
      // Every so often, a fresh set of fids (the root, a directory, a file, a link out), so that the
      // fuzzer keeps reaching the handlers behind the fid checks.
      for (let fid = 0; fid < 12; fid++) await quiet(r.c.clunk(fid));
      await restock(r.root);
      await quiet(r.c.attach(0));
      await quiet(r.c.walk(0, 1, ['dir']));
      await quiet(r.c.walk(0, 2, ['hello.txt']));
      await quiet(r.c.walk(0, 3, ['up']));
      await quiet(r.c.walk(0, 4, ['dir', 'a.txt']).then(() => r.c.lopen(4, g.pick([0, 1, 2]))));
      await quiet(r.c.walk(0, 5, []).then(() => r.c.lopen(5, 0)));
    }
    const kind = g.int(10);
    const msg = kind < 5 ? g.message() : kind < 9 ? g.mutate(g.message()) : g.garbage();
    let reply: Uint8Array;
    try {
      reply = await r.server.handle(msg);
    } catch (e) {
      assert.fail(`seed ${seed} message ${i} (${msg.toString('hex')}) threw: ${String(e)}`);
    }
    checkFrame(msg, reply);
    assert.ok(reply.length <= DEFAULT_MAX_MSIZE);
    if (msg.length > 4 && msg[4] === T.version) {
      // Start the next session at once, so that the fuzzer keeps reaching past Tattach.
      await r.c.version();
      await r.c.attach(0);
    }
    if ((i + 1) % checkEvery === 0) {
      assert.deepEqual(await fingerprint(r.outside), outsideBefore, `seed ${seed}: outside changed by message ${i} or before`);
      await extra();
    }
  }
  assert.deepEqual(await fingerprint(r.outside), outsideBefore, `seed ${seed}: outside changed`);
  assert.deepEqual((await readdir(r.base)).sort(), baseBefore, `seed ${seed}: something appeared beside the share`);
  // Still a working server afterwards.
  await r.c.version();
  await r.c.attach(0);
  assert.equal((await r.c.getattr(0)).qid.type, 0x80);
}

/**
 * What the mapped model promises the host: no symlink the guest wrote (the fuzzer's own targets 'x',
 * '../../' and 'dir/../..' appear in no host symlink) and no set-id bit anywhere.
 */
async function assertMappedHost(root: string): Promise<void> {
  // Names as bytes: the fuzzer's are not all UTF-8.
  const walk = async (p: Buffer): Promise<void> => {
    const st = await lstat(p);
    assert.equal(st.mode & 0o6000, 0, `${p.toString()} has a set-id bit`);
    if (st.isSymbolicLink()) assert.ok(!['x', '../../', 'dir/../..'].includes(await readlink(p, 'utf8')), `${p.toString()} is a guest's symlink`);
    if (st.isDirectory()) {
      for (const n of await readdir(p, { encoding: 'buffer' })) await walk(Buffer.concat([p, Buffer.from('/'), n]));
    }
  };
  await walk(Buffer.from(root));
}

for (const mode of MODES) for (const security of SECURITY) {
  describe(`fuzzing with ${mode} confinement, ${security}`, () => {
    test('thousands of random, mutated and garbage messages never throw, and nothing outside the share changes', async () => {
      const fdsBefore = await openFds();
      for (const seed of [1, 2]) {
        const r = await rig({ confinement: mode, security });
        try {
          await fuzz(r, seed + (mode === 'lstat' ? 100 : 0) + (security === 'mapped' ? 1000 : 0), 4000, 500, async () => {});
          if (security === 'mapped') await assertMappedHost(r.root);
        } finally {
          await r.close();
        }
      }
      assert.equal(await openFds(), fdsBefore, 'every host descriptor the server opened was closed');
    });
  });
}

for (const security of SECURITY) test(`fuzzing a read-only share changes nothing in it or outside it (${security})`, async () => {
  const r = await rig({ readOnly: true, security });
  try {
    const before = await fingerprint(r.root);
    await fuzz(r, 7, 3000, 1000, async () => assert.deepEqual(await fingerprint(r.root), before));
    assert.deepEqual(await fingerprint(r.root), before);
  } finally {
    await r.close();
  }
});
