/**
 * End to end with a mapped share (--share DIR:TAG:mapped): the bundled guest's root gives files away,
 * makes set-user-ID files, symlinks out of the share, device nodes and FIFOs, and sees all of it as it
 * asked; the host folder holds only the Bonsai user's plain 0600/0700 files and their records.
 */
import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { GuestSession } from './guest.js';

const PROMPT = /# (?:\x1b\[6n)?$/;

test('a mapped share keeps the guest\'s owners, modes, symlinks and device nodes off the host files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-mapped-'));
  try {
    const g = new GuestSession({ shares: [{ dir, tag: 'm', readOnly: false, mapped: true }] });
    await g.expect(PROMPT);
    await g.run('cd /mnt/m && echo hi > f && chown 1000:1000 f && chmod 4755 f && ln -s /etc/passwd pw && mknod nul c 1 3 && mkfifo fifo && mkdir d && touch d/x && rm -r d');
    assert.equal(await g.run('cd /mnt/m && stat -c "%n %a %u %g %F" f pw nul fifo'),
      'f 4755 1000 1000 regular file\npw 777 0 0 symbolic link\nnul 644 0 0 character special file\nfifo 644 0 0 fifo');
    assert.equal(await g.run('readlink /mnt/m/pw; head -c 5 /mnt/m/pw'), '/etc/passwd\nroot:', 'the guest follows its own link');
    assert.equal(await g.run('echo x > /mnt/m/nul; cat /mnt/m/f; ls -a /mnt/m | tr "\\n" " "'), 'hi\n. .. f fifo nul pw ');
    g.send('poweroff\n');
    assert.equal((await g.done).reason, 'poweroff');

    const me = process.getuid?.() ?? 0;
    for (const name of ['f', 'pw', 'nul', 'fifo']) {
      const st = lstatSync(join(dir, name));
      assert.ok(st.isFile(), `${name} is a plain file on the host`);
      assert.deepEqual([st.uid, st.mode & 0o7777], [me, 0o600], name);
    }
    assert.equal(readFileSync(join(dir, 'pw'), 'utf8'), '/etc/passwd');
    assert.equal(lstatSync(join(dir, 'nul')).size, 0, 'writing the guest\'s device wrote nothing here');
    assert.deepEqual(readdirSync(dir).sort(), ['.virtfs_metadata', 'f', 'fifo', 'nul', 'pw']);
    assert.match(readFileSync(join(dir, '.virtfs_metadata', 'f'), 'utf8'), /^virtfs\.uid=1000\nvirtfs\.gid=1000\nvirtfs\.mode=35309\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
