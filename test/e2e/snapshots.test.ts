/**
 * Snapshots end to end, through the real `bonsai` command and the bundled guest: a running VM's snapshots
 * restored with their files, their shell and their clock; a stopped VM's disk snapshots; a tree with
 * branches and a middle node removed; damaged state files refused with the VM untouched; two forks of one
 * snapshot side by side on a switch; export and import into another store; and QEMU's tools reading the
 * disks' snapshot tables.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ControlClient } from '../../src/vm/control/client.js';
import { cliStore } from './cli-store.js';

const { home, bonsai, ok, execWhenUp, guest } = cliStore('bonsai-snap-');
const other = cliStore('bonsai-snap-import-');
const haveQemuImg = spawnSync('qemu-img', ['--version']).status === 0;
const root = (vm: string): string => join(home, 'vms', vm, 'root.qcow2');
const uptime = async (vm: string): Promise<number> => Number((await guest(vm, 'cat /proc/uptime')).split(' ')[0]);

/** A console connection to the VM's serial shell: type a line, wait for text to appear. */
async function serial(vm: string): Promise<{ type(line: string): void; waitFor(re: RegExp): Promise<string>; close(): void }> {
  const c = await ControlClient.connect(join(home, 'vms', vm, 'control.sock'), vm);
  let shown = '';
  const con = await c.console((b) => { shown += b.toString('latin1'); });
  return {
    type: (line) => con.write(new TextEncoder().encode(`${line}\n`)),
    waitFor: async (re) => {
      for (let i = 0; i < 200; i++) {
        const m = re.exec(shown);
        if (m !== null) return m[0];
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`the console never showed ${re}: ${shown.slice(-500)}`);
    },
    close: () => c.close(),
  };
}

function qemuImg(args: string[]): string {
  const r = spawnSync('qemu-img', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `qemu-img ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

test('snapshots of a running VM, a stopped one, a tree, damaged files, forks, export and import', async (t) => {
  const sw = `snap${process.pid}`;
  await ok(['create', 'a', '--ssh-key', 'none', '-m', '192M', '--switch', sw]);
  await ok(['start', 'a']);
  await guest('a', 'echo A > /root/A; sync');

  await t.test('restore puts the running machine back: files, the shell that was open, a continuous clock', async () => {
    const con = await serial('a');
    con.type('MARK=before-s1');
    const before = await uptime('a');
    const made = await ok(['snapshot', 'create', 'a', 's1']);
    assert.match(made, /^snapshot 's1' of a: the running machine \(.* of state; the guest paused \d+ ms\)$/m);
    await guest('a', 'echo B > /root/B; sync');
    await ok(['snapshot', 'create', 'a', 's2']);
    await new Promise((r) => setTimeout(r, 3000)); // guest time passes after s2: the restore must not keep it
    assert.match(await ok(['snapshot', 'restore', 'a', 's1']), /^a is at snapshot 's1': running/m);
    assert.equal(await guest('a', 'ls /root'), 'A\n', 'A is there, B is gone');
    const after = await uptime('a');
    assert.ok(after >= before && after < before + 5, `the guest's uptime goes on from the snapshot: ${before} then ${after}`);
    con.type('echo "shell:$MARK"');
    assert.equal(await con.waitFor(/shell:before-s1/), 'shell:before-s1', 'the shell open before s1 works, with its variables');
    con.close();
    await ok(['snapshot', 'restore', 'a', 's2']);
    assert.equal(await guest('a', 'ls /root'), 'A\nB\n');
    const date = Number(await guest('a', 'date +%s'));
    assert.ok(Math.abs(date - Date.now() / 1000) < 5, `the agent set the guest's wall clock: ${date}`);
  });

  await t.test('a tree with branches; rm of a middle node leaves its children working', async () => {
    await ok(['snapshot', 'restore', 'a', 's1']);
    await guest('a', 'echo C > /root/C; sync');
    await ok(['snapshot', 'create', 'a', 's3']);
    await ok(['snapshot', 'restore', 'a', 's1']);
    await guest('a', 'echo D > /root/D; sync');
    await ok(['snapshot', 'create', 'a', 's4']);
    const list = await ok(['snapshot', 'list', 'a']);
    assert.match(list, /^s1\s/m);
    assert.match(list, /^├─ s2\s/m);
    assert.match(list, /^├─ s3\s/m);
    assert.match(list, /^└─ s4 \*\s/m, `s4 is the VM's current snapshot:\n${list}`);
    await ok(['snapshot', 'rm', 'a', 's1']);
    const tree = JSON.parse(await ok(['snapshot', 'list', 'a', '--json'])) as { snapshots: { name: string; parent: string | null }[] };
    assert.deepEqual(tree.snapshots.map((s) => [s.name, s.parent]), [['s2', null], ['s3', null], ['s4', null]]);
    await ok(['snapshot', 'restore', 'a', 's3']);
    assert.equal(await guest('a', 'ls /root'), 'A\nC\n');
    await ok(['snapshot', 'restore', 'a', 's2']);
    assert.equal(await guest('a', 'ls /root'), 'A\nB\n');
  });

  await t.test('truncated and corrupted state files are refused in one line, and the VM runs on as it was', async () => {
    await guest('a', 'echo E > /root/E; sync');
    const state = join(home, 'vms', 'a', 'snapshots', 's3.state');
    const bytes = readFileSync(state);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length >> 1] ^= 0x40;
    writeFileSync(state, flipped);
    let r = await bonsai(['snapshot', 'restore', 'a', 's3']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^bonsai: .*s3\.state: checksum mismatch: the file is corrupt\n$/);
    truncateSync(state, 1000);
    r = await bonsai(['snapshot', 'restore', 'a', 's3']);
    assert.match(r.stderr, /^bonsai: .*s3\.state: truncated \(1000 of \d+ bytes\)\n$/);
    assert.equal(await guest('a', 'ls /root'), 'A\nB\nE\n', 'the VM was not touched');
    writeFileSync(state, bytes);
  });

  await t.test('qemu-img lists the snapshots and finds the disk clean', { skip: haveQemuImg ? false : 'qemu-img (qemu-utils) is not installed' }, async () => {
    await ok(['stop', 'a']);
    const l = qemuImg(['snapshot', '-l', '-U', root('a')]);
    for (const s of ['s2', 's3', 's4']) assert.match(l, new RegExp(`\\s${s}\\s`));
    assert.doesNotMatch(l, /\ss1\s/);
    assert.match(qemuImg(['check', '-U', root('a')]), /No errors were found/);
  });

  await t.test('a stopped VM\'s snapshot holds its disks; restoring it leaves the VM stopped', async () => {
    await bonsai(['stop', 'a']); // stopped already where qemu-img ran above
    await ok(['snapshot', 'create', 'a', 'd1']);
    assert.match((await ok(['snapshot', 'list', 'a'])), /d1 \*\s+\S+ \S+\s+disks only/);
    await ok(['start', 'a']);
    await guest('a', 'echo F > /root/F; sync');
    assert.match(await ok(['snapshot', 'restore', 'a', 'd1']), /stopped, its disks as they were \(the running VM was stopped\)/);
    assert.match(await ok(['list']), /^a\s+stopped/m);
    await ok(['start', 'a']);
    assert.equal(await guest('a', 'ls /root'), 'A\nB\nE\n', 'F is gone: the disk is as it was at d1');
    await ok(['kill', 'a']);
  });

  await t.test('two forks of one snapshot run side by side on the switch, each with its own name and MAC', async () => {
    await ok(['clone', 'a', 'f1', '--snapshot', 's2']);
    await ok(['clone', 'a', 'f2', '--snapshot', 's2']);
    await Promise.all([ok(['start', 'f1']), ok(['start', 'f2'])]);
    try {
      for (const f of ['f1', 'f2']) {
        assert.equal(await guest(f, 'ls /root'), 'A\nB\n', `${f} resumes from s2`);
        assert.equal(await guest(f, 'hostname'), `${f}\n`);
      }
      const mac = async (f: string): Promise<string> => (await guest(f, 'cat /sys/class/net/eth0/address')).trim();
      const [m1, m2] = [await mac('f1'), await mac('f2')];
      assert.notEqual(m1, m2);
      assert.equal(m1, (JSON.parse(readFileSync(join(home, 'vms', 'f1', 'vm.json'), 'utf8')) as { identity: { mac: string } }).identity.mac);
      const r = await execWhenUp('f1', ['ping', '-c', '1', '-W', '5', 'f2']);
      assert.equal(r.status, 0, `f1 reaches f2 by name on the switch: ${r.stdout}${r.stderr}`);
    } finally {
      await Promise.all([bonsai(['kill', 'f1']), bonsai(['kill', 'f2'])]);
    }
  });

  await t.test('export and import into another store, then resume the imported snapshot', async () => {
    const file = join(home, 'a.bonsai');
    assert.match(await ok(['export', 'a', file, '--snapshot', 's2']), /^exported a to /);
    // A damaged copy is refused before anything is made.
    const bad = join(home, 'bad.bonsai');
    const b = readFileSync(file);
    b[b.length - 100] ^= 1;
    writeFileSync(bad, b);
    const r = await other.bonsai(['import', bad, 'x']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /checksum mismatch: the file is damaged; nothing was imported/);
    assert.equal(existsSync(join(other.home, 'vms', 'x')), false);
    await other.ok(['import', file, 'imp']);
    const list = await other.ok(['snapshot', 'list', 'imp']);
    assert.match(list, /s2\s.*running/);
    assert.match(list, /s3\s.*disks only/, 'snapshots whose state stayed behind keep their disks');
    await other.ok(['snapshot', 'restore', 'imp', 's2']);
    assert.equal(await other.guest('imp', 'ls /root'), 'A\nB\n');
    await other.ok(['kill', 'imp']);
    if (haveQemuImg) assert.match(qemuImg(['check', join(other.home, 'vms', 'imp', 'root.qcow2')]), /No errors were found/);
    assert.ok(statSync(file).size > 0);
  });
});
