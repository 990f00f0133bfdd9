/**
 * Persistent VMs end to end, through the real `bonsai` command and the bundled guest: create, start,
 * exec through the agent, files that persist on the root disk across stop/start, pause with the guest's
 * clock frozen, the console over the control socket, cp, shell, clones with their own identity, a killed
 * VM process reported as crashed, and five VMs side by side on one switch.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ControlClient } from '../../src/vm/control/client.js';
import { BIN, cliStore } from './cli-store.js';

const { home, bonsai, ok, execWhenUp, guest } = cliStore();

test('a VM lives on: create, start, exec, a file that persists across stop/start, pause, console, cp, shell, clone, crash', async (t) => {
  await ok(['create', 'alpha', '--ssh-key', 'none', '-m', '192M']);

  await t.test('start runs it in the background and exec returns the command\'s status and output', async () => {
    const out = await ok(['start', 'alpha']);
    assert.match(out, /^started alpha \(pid \d+\)/);
    const r = await execWhenUp('alpha', ['sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.deepEqual([r.status, r.stdout, r.stderr], [3, 'out\n', 'err\n']);
    assert.equal(await guest('alpha', 'hostname'), 'alpha\n');
    assert.match(await guest('alpha', 'cat /proc/mounts'), /^\/dev\/vda \/ ext[234] /m, 'the root is the VM\'s disk');
  });

  await t.test('a file written in the guest is there after stop and start', async () => {
    await guest('alpha', 'echo persisted > /root/note; sync');
    assert.match(await ok(['stop', 'alpha']), /^stopped alpha$/m);
    assert.match(await ok(['list']), /^alpha\s+stopped\s+192 MiB/m);
    await ok(['start', 'alpha']);
    assert.equal(await guest('alpha', 'cat /root/note'), 'persisted\n');
  });

  await t.test('pause freezes the guest\'s clock: no time passes for it', async () => {
    const up = async (): Promise<number> => Number((await guest('alpha', 'cat /proc/uptime')).split(' ')[0]);
    const before = await up();
    const hostBefore = performance.now();
    await ok(['pause', 'alpha']);
    assert.match(await ok(['list']), /^alpha\s+paused/m);
    const refused = await bonsai(['exec', 'alpha', '--', 'true']);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /^bonsai: VM 'alpha' is paused/);
    await new Promise((r) => setTimeout(r, 3000));
    await ok(['resume', 'alpha']);
    const afterResume = await up();
    // The guest's clock stood still for at least the 3 s between pause and resume; everything else (the
    // commands' own time, however slow a loaded host makes them) it saw pass like the host did.
    const hostSeconds = (performance.now() - hostBefore) / 1000, guestSeconds = afterResume - before;
    assert.ok(hostSeconds - guestSeconds > 2.5, `the guest saw ${guestSeconds.toFixed(2)} s of the host's ${hostSeconds.toFixed(2)} s, 3 of them paused`);
  });

  await t.test('the control protocol, driven directly: status and the console', async () => {
    const c = await ControlClient.connect(join(home, 'vms', 'alpha', 'control.sock'), 'alpha');
    assert.equal(c.greeting.vm, 'alpha');
    let s = await c.request('status') as Record<string, unknown>;
    assert.equal(s.state, 'running');
    assert.equal(s.agent, true);
    // The addresses come from the agent, asked in the background of a status when last known 5 s ago.
    for (let i = 0; i < 40 && (s.addresses as string[]).length === 0; i++) {
      await new Promise((r) => setTimeout(r, 500));
      s = await c.request('status') as Record<string, unknown>;
    }
    assert.deepEqual(s.addresses, ['10.0.2.15']);
    let shown = '';
    const con = await c.console((b) => { shown += b.toString('latin1'); });
    con.write(new TextEncoder().encode('echo marker-$((6*7))\n'));
    const deadline = Date.now() + 30_000;
    while (!shown.includes('marker-42') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.match(shown, /marker-42/);
    c.close();
    assert.match(await ok(['logs', 'alpha']), /marker-42/);
  });

  await t.test('bonsai console on a terminal: typing reaches the guest, Ctrl-A D detaches and the VM runs on', async (t2) => {
    if (spawnSync('script', ['--version']).error !== undefined) { t2.skip('script (util-linux) is not installed'); return; }
    // util-linux script gives the console a pty (raw mode, escapes); its stdin is what we type.
    const p = spawn('script', ['-qfec', `${process.execPath} ${BIN} console alpha`, '/dev/null'], { env: { ...process.env, BONSAI_HOME: home }, stdio: ['pipe', 'pipe', 'pipe'] });
    let shown = '';
    p.stdout.on('data', (b: Buffer) => { shown += b.toString('latin1'); });
    const wait = async (re: RegExp): Promise<void> => {
      const deadline = Date.now() + 30_000;
      while (!re.test(shown)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(re)}: ${shown.slice(-500)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await wait(/attached to alpha's console/);
    p.stdin.write('echo typed-$((40+2))\r');
    await wait(/typed-42/);
    const exited = new Promise<number | null>((resolve) => p.on('close', resolve));
    p.stdin.write('\x01d');
    assert.equal(await exited, 0);
    assert.match(await ok(['list']), /^alpha\s+running/m);
  });

  await t.test('cp copies files in and out', async () => {
    const local = join(home, 'file.bin');
    const data = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7) & 0xff));
    writeFileSync(local, data);
    await ok(['cp', local, 'alpha:/root/in.bin']);
    assert.match(await guest('alpha', 'md5sum /root/in.bin'), /^[0-9a-f]{32}/);
    await ok(['cp', 'alpha:/root/in.bin', join(home, 'back.bin')]);
    assert.deepEqual(readFileSync(join(home, 'back.bin')), data);
    const missing = await bonsai(['cp', 'alpha:/nonexistent', join(home, 'x')]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^bonsai: alpha:\/nonexistent: .*No such file/);
  });

  await t.test('shell logs in with the store\'s key and checks the host key', async (t2) => {
    if (spawnSync('ssh', ['-V']).error !== undefined) { t2.skip('no ssh client on this host'); return; }
    const r = await bonsai(['shell', 'alpha', '--', 'cat', '/etc/hostname']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'alpha\n');
  });

  await t.test('starting a running VM, stopping a stopped one, removing a running one: one line each', async () => {
    for (const [args, message] of [
      [['start', 'alpha'], /^bonsai: VM 'alpha' is running already$/],
      [['rm', 'alpha'], /^bonsai: VM 'alpha' is running; stop it first or give --force$/],
      [['create', 'alpha'], /^bonsai: a VM named 'alpha' already exists$/],
      [['clone', 'alpha', 'beta'], /^bonsai: VM 'alpha' is running; stop it before cloning it/],
      [['start', 'nope'], /^bonsai: no VM named 'nope'; there are: alpha$/],
    ] as const) {
      const r = await bonsai([...args]);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr.trimEnd(), message);
    }
    await ok(['stop', 'alpha']);
    const again = await bonsai(['stop', 'alpha']);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /^bonsai: VM 'alpha' is not running/);
  });

  await t.test('a linked clone boots with its own name, MAC and machine-id', async () => {
    const out = await ok(['clone', 'alpha', 'beta']);
    assert.match(out, /^cloned alpha to beta in \d+\.\d+ s/);
    await ok(['start', 'beta']);
    const info = JSON.parse(await ok(['info', 'beta', '--json'])) as { identity: { mac: string; machineId: string } };
    const alpha = JSON.parse(await ok(['info', 'alpha', '--json'])) as { identity: { mac: string; machineId: string } };
    assert.notEqual(info.identity.mac, alpha.identity.mac);
    assert.equal(await guest('beta', 'hostname'), 'beta\n');
    assert.equal(await guest('beta', 'cat /sys/class/net/eth0/address'), `${info.identity.mac}\n`);
    assert.equal(await guest('beta', 'cat /etc/machine-id'), `${info.identity.machineId}\n`);
    assert.equal(await guest('beta', 'cat /root/note'), 'persisted\n', 'the clone has the source\'s files');
  });

  await t.test('a killed VM process is reported as crashed, its store entry survives, and it starts again', async () => {
    const pid = (JSON.parse(readFileSync(join(home, 'vms', 'beta', 'vmm.pid'), 'utf8')) as { pid: number }).pid;
    process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    assert.match(await ok(['list']), /^beta\s+crashed/m);
    const info = await ok(['info', 'beta']);
    assert.match(info, /died without stopping the VM/);
    const refused = await bonsai(['exec', 'beta', '--', 'true']);
    assert.match(refused.stderr, /^bonsai: VM 'beta' crashed/);
    await ok(['start', 'beta']);
    assert.equal(await guest('beta', 'cat /root/note'), 'persisted\n');
    await ok(['kill', 'beta']);
    assert.match(await ok(['list']), /^beta\s+stopped/m);
  });
});

test('five VMs from the default template run side by side on one switch and ping each other by name', async () => {
  const sw = `e2e${process.pid}`;
  const names = ['v1', 'v2', 'v3', 'v4', 'v5'];
  for (const n of names) await ok(['create', n, '--ssh-key', 'none', '-m', '128M', '--switch', sw]);
  await Promise.all(names.map((n) => ok(['start', n])));
  try {
    for (const n of names) assert.equal(await guest(n, 'hostname'), `${n}\n`);
    for (const [i, n] of names.entries()) {
      const peer = names[(i + 1) % names.length];
      const r = await execWhenUp(n, ['ping', '-c', '1', '-W', '5', peer]);
      assert.equal(r.status, 0, `${n} → ${peer}: ${r.stdout}${r.stderr}`);
    }
    const list = await ok(['list', '--json']);
    const rows = JSON.parse(list) as { name: string; state: string; addresses: string[] }[];
    const addrs = rows.filter((r) => names.includes(r.name)).map((r) => r.addresses.find((a) => a.startsWith('10.0.3.')));
    assert.equal(new Set(addrs).size, 5, `five different switch addresses: ${addrs.join(' ')}`);
  } finally {
    await Promise.all(names.map((n) => bonsai(['kill', n])));
  }
});
