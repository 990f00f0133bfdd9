/**
 * Test rigs: a temporary folder holding the share and, beside it, an "outside" folder that no request may
 * touch, plus a fingerprint of a tree to prove it was not touched.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Confinement } from '../../../../src/devices/virtio/9p/confine.js';
import { P9Server, type SecurityModel } from '../../../../src/devices/virtio/9p/server.js';
import { Client, tempBase } from './client.js';

export interface Rig {
  base: string;
  root: string;
  outside: string;
  server: P9Server;
  c: Client;
  /** Exceptions the server counted as its own bugs; close() fails if there are any. */
  internal: unknown[];
  close(): Promise<void>;
}

export const MODES: readonly Confinement[] = ['procfd', 'lstat'];
export const SECURITY: readonly SecurityModel[] = ['passthrough', 'mapped'];

/**
 * base/share is the share; base/outside holds secret.txt and sub/inner.txt. The share holds the classic
 * escape hatches: symlinks out of it, relative and absolute, to files and to directories.
 */
export async function rig(opts: { readOnly?: boolean; confinement?: Confinement; populate?: boolean; security?: SecurityModel } = {}): Promise<Rig> {
  const { base, cleanup } = await tempBase();
  const root = join(base, 'share');
  const outside = join(base, 'outside');
  await mkdir(root);
  await mkdir(join(outside, 'sub'), { recursive: true });
  await writeFile(join(outside, 'secret.txt'), 'secret\n');
  await writeFile(join(outside, 'sub', 'inner.txt'), 'inner\n');
  if (opts.populate !== false) {
    await writeFile(join(root, 'hello.txt'), 'hello, world\n');
    await mkdir(join(root, 'dir'));
    await writeFile(join(root, 'dir', 'a.txt'), 'a\n');
    await symlink('/etc', join(root, 'etc'));
    await symlink('../outside', join(root, 'up'));
    await symlink('../outside/secret.txt', join(root, 'upfile'));
    await symlink(outside, join(root, 'abs'));
    await symlink(join(outside, 'secret.txt'), join(root, 'absfile'));
    await symlink('../../outside', join(root, 'dir', 'upup'));
  }
  const internal: unknown[] = [];
  const server = new P9Server({
    root, readOnly: opts.readOnly ?? false, tag: 'share', confinement: opts.confinement ?? 'auto', security: opts.security ?? 'passthrough',
    onInternalError: (e) => internal.push(e),
  });
  return {
    base, root, outside, server, c: new Client(server), internal,
    close: async () => {
      await server.close();
      await unlock(root); // a guest may have left directories it cannot be removed from as a normal user
      await cleanup();
      assert.deepEqual(internal, [], 'the server hit no bug of its own');
    },
  };
}

async function unlock(dir: string): Promise<void> {
  const st = await lstat(dir).catch(() => null);
  if (st === null || !st.isDirectory()) return;
  await chmod(dir, 0o700);
  for (const name of await readdir(dir)) await unlock(join(dir, name));
}

/** Everything about a tree that a write, chmod, chown, truncate, link, rename or utimes would change. */
export async function fingerprint(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (p: string, rel: string): Promise<void> => {
    const st = await lstat(p, { bigint: true });
    let what = '';
    if (st.isSymbolicLink()) what = `-> ${await readlink(p)}`;
    else if (st.isFile()) what = createHash('sha256').update(await readFile(p)).digest('hex');
    out.push(`${rel} ${st.mode.toString(8)} ${st.uid}:${st.gid} n${st.nlink} ${st.size} m${st.mtimeNs} c${st.ctimeNs} ${what}`);
    if (st.isDirectory()) {
      for (const name of (await readdir(p)).sort()) await walk(join(p, name), `${rel}/${name}`);
    }
  };
  await walk(dir, '.');
  return out;
}
