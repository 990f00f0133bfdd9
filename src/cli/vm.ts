/**
 * The VM lifecycle commands: create, start, stop, console, list, clone, templates... Each parses, calls
 * src/vm (the store and the control protocol), prints and sets the exit status.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { BonsaiError } from '../errors.js';
import { formatSize } from '../storage/image-ops.js';
import { printable } from '../text.js';
import type { JsonObject } from '../vm/control/protocol.js';
import { readSmallFileSync } from '../vm/files.js';
import { cloneVm, createTemplate, createVm, DEFAULT_TEMPLATE, ensureDefaultTemplate, removeTemplate, removeVm, setVm } from '../vm/manage.js';
import { readConsoleLog } from '../vm/process/console-log.js';
import { connectVm, killVm, startVm, stopVm } from '../vm/process/launch.js';
import { files, vmState } from '../vm/process/runtime.js';
import { listVms, vmStatus as status } from '../vm/status.js';
import { runVmm } from '../vm/process/vmm.js';
import { awaitHandoff, Incoming, report } from '../vm/migrate/receive.js';
import { forkVm, isFork } from '../vm/snapshot/fork.js';
import { writeFileAtomic } from '../vm/store/atomic.js';
import { storeKey } from '../vm/store/keys.js';
import { Store } from '../vm/store/store.js';
import type { VmSpec } from '../vm/spec.js';
import { ProgressBar } from './image.js';
import { Terminal } from './terminal.js';
import { addMachineOptions, settingsFromOptions, sizeOption, type MachineCliOptions } from './vm-options.js';

/** The most `bonsai cp` moves in one file (the agent carries it in one message). */
const MAX_COPY = 16 * 1024 * 1024;

const out = (s: string): void => { process.stdout.write(s); };
const note = (s: string): void => { process.stderr.write(`bonsai: ${s}\n`); };

function seconds(text: string): number {
  if (!/^\d+(\.\d+)?$/.test(text)) throw new InvalidArgumentError(`'${text}' is not a number of seconds`);
  return Number(text);
}

function uptime(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n') + '\n';
}

/** Attaches the terminal to a running VM's serial console until Ctrl-A D, Ctrl-A X or the VM's end. */
async function attachConsole(store: Store, name: string): Promise<void> {
  const c = await connectVm(store, name);
  const monitor = await connectVm(store, name);
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => { done = resolve; });
  const con = await c.console((b) => { process.stdout.write(b); });
  c.onClose = () => done();
  const terminal = new Terminal({
    input: (bytes) => con.write(bytes),
    quit: () => { void monitor.request('quit').catch(() => undefined); },
    monitor: async (line) => String(await monitor.request('monitor', { line })),
    detach: () => done(),
  });
  if (process.stdin.isTTY) note(`attached to ${name}'s console (Ctrl-A D detaches, Ctrl-A H lists the escapes)`);
  terminal.start();
  // Piped input (a script typing into the console): its end is a detach.
  if (!process.stdin.isTTY) process.stdin.once('end', () => setTimeout(done, 200));
  const onSignal = (): void => done();
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal);
  try {
    await finished;
  } finally {
    terminal.stop();
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    c.close();
    monitor.close();
  }
  if (process.stdin.isTTY) process.stderr.write('\r\n');
}

/** `NAME:PATH` for a guest path in `bonsai cp`, else null (a host path). */
function guestPath(arg: string): { vm: string; path: string } | null {
  const m = /^([A-Za-z0-9][A-Za-z0-9-]*):(.+)$/.exec(arg);
  return m === null || m[1].length > 63 ? null : { vm: m[1], path: m[2] };
}

async function exec(store: Store, name: string, argv: string[], stdin?: Uint8Array, timeoutMs?: number): Promise<{ status: number; stdout: Buffer; stderr: Buffer }> {
  const c = await connectVm(store, name);
  try {
    const args: JsonObject = { argv };
    if (stdin !== undefined) args.stdin = Buffer.from(stdin).toString('base64');
    if (timeoutMs !== undefined) args.timeoutMs = timeoutMs;
    const r = await c.request('exec', args) as JsonObject;
    return { status: Number(r.status), stdout: Buffer.from(String(r.stdout), 'base64'), stderr: Buffer.from(String(r.stderr), 'base64') };
  } finally {
    c.close();
  }
}

async function simple(store: Store, name: string, command: string): Promise<void> {
  const c = await connectVm(store, name);
  try { await c.request(command); } finally { c.close(); }
}

export function registerVmCommands(program: Command, store: () => Store = () => new Store()): void {
  const create = program
    .command('create <name>')
    .description('define a VM in the store (default template: the bundled guest, with a root disk of its own)')
    .option('--template <T>', `the template to make it from (bonsai template list)`, DEFAULT_TEMPLATE)
    .option('--disk-size <SIZE>', "the root disk's size (default: the template's; the bundled guest's is 2G)", sizeOption);
  addMachineOptions(create, false).action(async (name: string, o: MachineCliOptions & { template: string; diskSize?: number }) => {
    const st = store();
    const base = o.template === DEFAULT_TEMPLATE ? (await ensureDefaultTemplate(st)).settings : st.loadTemplate(o.template).settings;
    const spec = await createVm(st, name, { template: o.template, settings: settingsFromOptions(o, base, true), diskSize: o.diskSize });
    out(`created VM ${spec.name} from template ${o.template} (bonsai start ${spec.name})\n`);
  });

  program
    .command('start <name>')
    .description('start a VM in the background')
    .option('--attach', 'stay in the foreground with its console (Ctrl-A D detaches)')
    .action(async (name: string, o: { attach?: boolean }) => {
      const st = store();
      const r = await startVm(st, name);
      if (r.wasCrashed) note(`${name} had crashed; started again`);
      if (o.attach) await attachConsole(st, name);
      else out(`started ${name} (pid ${r.pid}); bonsai console ${name} attaches, bonsai shell ${name} logs in\n`);
    });

  program
    .command('stop <name>')
    .description('power a VM off through its guest, killing it after the timeout')
    .option('--timeout <S>', 'seconds to wait for the guest', seconds, 30)
    .action(async (name: string, o: { timeout: number }) => {
      const how = await stopVm(store(), name, o.timeout * 1000, note);
      out(how === 'graceful' ? `stopped ${name}\n` : `killed ${name} after ${o.timeout} s (the guest did not power off)\n`);
    });

  program.command('kill <name>').description('stop a VM at once (its disks are flushed)').action(async (name: string) => {
    await killVm(store(), name);
    out(`killed ${name}\n`);
  });

  program.command('pause <name>').description("freeze a VM's processor and clock").action(async (name: string) => {
    await simple(store(), name, 'pause');
    out(`paused ${name}\n`);
  });

  program.command('resume <name>').description('let a paused VM run again').action(async (name: string) => {
    await simple(store(), name, 'resume');
    out(`resumed ${name}\n`);
  });

  program
    .command('restart <name>')
    .description('stop a VM (as bonsai stop) and start it again')
    .option('--timeout <S>', 'seconds to wait for the guest', seconds, 30)
    .action(async (name: string, o: { timeout: number }) => {
      const st = store();
      if (vmState(st.vmDir(name)).state === 'running') await stopVm(st, name, o.timeout * 1000, note);
      const r = await startVm(st, name);
      out(`restarted ${name} (pid ${r.pid})\n`);
    });

  program.command('console <name>').description("attach to a running VM's serial console (Ctrl-A D detaches)").action(async (name: string) => {
    await attachConsole(store(), name);
  });

  program.command('logs <name>').description('print the console output of the current or last boot').action((name: string) => {
    const st = store();
    st.loadVm(name);
    const f = files(st.vmDir(name));
    process.stdout.write(readConsoleLog(f.console, f.consoleOld));
  });

  program
    .command('list')
    .alias('ls')
    .description('the VMs in the store')
    .option('--json', 'as JSON')
    .action(async (o: { json?: boolean }) => {
      const st = store();
      // Asked at once: each running VM answers for itself.
      const rows = await listVms(st);
      if (o.json) { out(`${JSON.stringify(rows.map(({ crash: _c, ...r }) => r), null, 2)}\n`); return; }
      if (rows.length === 0) { out('no VMs (bonsai create NAME makes one)\n'); return; }
      out(table([['NAME', 'STATE', 'MEMORY', 'UPTIME', 'ADDRESS', 'FORWARDS'], ...rows.map((r) => [
        r.name, r.state, r.memory === 0 ? '-' : formatSize(r.memory), r.uptime === undefined ? '-' : uptime(r.uptime),
        r.addresses.join(',') || '-', r.forwards.join(',') || '-',
      ])]));
      for (const r of rows) if (r.error !== undefined) note(printable(r.error));
    });

  program
    .command('info <name>')
    .description("a VM's definition and state")
    .option('--json', 'as JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      const st = store();
      const spec = st.loadVm(name);
      const s = await status(st, name, spec);
      const { hostKey: _k, randomSeed: _r, ...identity } = spec.identity;
      if (o.json) { out(`${JSON.stringify({ ...spec, identity, status: s }, null, 2)}\n`); return; }
      const lines = [
        `name: ${spec.name}`, `state: ${s.state}${s.pid !== undefined ? ` (pid ${s.pid})` : ''}`,
        ...(s.uptime !== undefined ? [`uptime: ${uptime(s.uptime)}`] : []),
        `memory: ${formatSize(spec.memory)}`, `made from: ${spec.origin ?? '-'}`, `created: ${spec.created}`,
        `kernel: ${spec.kernel ?? 'the bundled guest'}`, `engine: ${spec.engine ?? 'interp'}`,
        ...(spec.root !== undefined ? [`root disk: ${st.diskPath(name, spec.root.file)}`] : []),
        ...spec.disks.map((d) => `disk: ${st.diskPath(name, d.file)}${d.readOnly ? ' (read-only)' : ''}`),
        ...spec.shares.map((sh) => `share: ${sh.dir} as ${sh.tag}${sh.readOnly ? ' (read-only)' : ''}`),
        `network: ${spec.net}${spec.switches.map((w) => ` + switch ${w}`).join('')}`,
        `forwards: ${s.forwards.join(', ') || '-'}`, `addresses: ${s.addresses.join(', ') || '-'}`,
        ...(s.agent !== undefined ? [`guest agent: ${s.agent ? 'connected' : 'not running'}`] : []),
        `mac: ${spec.identity.mac}`, `machine-id: ${spec.identity.machineId}`,
        `disk usage: ${formatSize(st.folderBytes(st.vmDir(name)))}`,
      ];
      out(`${lines.map(printable).join('\n')}\n`);
      if (s.state === 'crashed' && s.crash !== undefined) out(`${s.crash}\n`);
    });

  program
    .command('rm <name>')
    .description('remove a stopped VM and its disks')
    .option('-f, --force', 'kill it first if it is running')
    .action(async (name: string, o: { force?: boolean }) => {
      const st = store();
      st.loadVm(name);
      if (vmState(st.vmDir(name)).state === 'running') {
        if (!o.force) throw new BonsaiError(`VM '${name}' is running; stop it first or give --force`);
        await killVm(st, name);
      }
      await removeVm(st, name);
      out(`removed ${name}\n`);
    });

  const set = program.command('set <name>').description('change a stopped VM\'s machine options')
    .option('--disk-size <SIZE>', 'grow the root disk to SIZE', sizeOption);
  addMachineOptions(set, true).action(async (name: string, o: MachineCliOptions & { diskSize?: number }) => {
    const st = store();
    const spec = st.loadVm(name);
    const changes = settingsFromOptions(o, spec, false);
    if (Object.keys(changes).length === 0 && o.diskSize === undefined) throw new BonsaiError('bonsai set: give at least one option to change (bonsai set --help)');
    await setVm(st, name, changes, o.diskSize);
    out(`changed ${name}: ${[...Object.keys(changes), ...(o.diskSize !== undefined ? ['disk-size'] : [])].join(', ')}\n`);
  });

  program
    .command('clone <source> <name>')
    .description('a new VM from a template or a stopped VM: a linked clone (copy-on-write), or --full')
    .option('--full', 'an independent copy of the disks (with a progress bar)')
    .option('--snapshot <SNAP>', "a fork: the source's disks and running machine as they were at that snapshot; the first start resumes there")
    .action(async (source: string, name: string, o: { full?: boolean; snapshot?: string }) => {
      if (o.snapshot !== undefined) {
        if (o.full === true) throw new BonsaiError('--snapshot makes a copy of its own; --full does not apply');
        const t0 = performance.now();
        await forkVm(store(), source, name, o.snapshot);
        out(`forked ${source} at '${o.snapshot}' to ${name} in ${((performance.now() - t0) / 1000).toFixed(2)} s`
          + `${isFork(store(), name) ? `; bonsai start ${name} resumes it there` : ''}\n`);
        return;
      }
      const bar = new ProgressBar('copying');
      const t0 = performance.now();
      try {
        await cloneVm(store(), source, name, { full: o.full, onProgress: (d, t) => bar.update(d, t) });
      } finally {
        bar.done();
      }
      out(`cloned ${source} to ${name} in ${((performance.now() - t0) / 1000).toFixed(2)} s${o.full ? ' (full copy)' : ''}\n`);
    });

  program
    .command('exec <name> <command...>')
    .description('run a command in the guest (through its agent); exits with its status')
    .option('--timeout <S>', 'seconds the command may take', seconds)
    .action(async (name: string, command: string[], o: { timeout?: number }) => {
      const r = await exec(store(), name, command, undefined, o.timeout === undefined ? undefined : o.timeout * 1000);
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      process.exitCode = r.status;
    });

  program
    .command('cp <source> <destination>')
    .description('copy a file into or out of a running VM (NAME:PATH names the guest side)')
    .action(async (source: string, destination: string) => {
      const st = store();
      const from = guestPath(source), to = guestPath(destination);
      if ((from === null) === (to === null)) throw new BonsaiError('bonsai cp: exactly one side must be NAME:PATH (a path in the VM NAME)');
      if (to !== null) {
        const data = readSmallFileSync(source, MAX_COPY, (why) => new BonsaiError(`${source}: ${why}`));
        const target = to.path.endsWith('/') ? `${to.path}${basename(source)}` : to.path;
        const r = await exec(st, to.vm, ['sh', '-c', 'if [ -d "$1" ]; then cat > "$1/$2"; else cat > "$1"; fi', 'sh', target, basename(source)], data);
        if (r.status !== 0) throw new BonsaiError(`${destination}: ${printable(r.stderr.toString().trim()) || `cat exited with ${r.status}`}`);
      } else if (from !== null) {
        const r = await exec(st, from.vm, ['cat', from.path]);
        if (r.status !== 0) throw new BonsaiError(`${source}: ${printable(r.stderr.toString().trim()) || `cat exited with ${r.status}`}`);
        let target = destination;
        try { if (statSync(destination).isDirectory()) target = join(destination, basename(from.path)); } catch { /* a new file */ }
        writeFileAtomic(target, r.stdout);
      }
    });

  program
    .command('shell <name> [command...]')
    .description('log in to a running VM over ssh, with the key Bonsai keeps for it')
    .action(async (name: string, command: string[]) => {
      const st = store();
      const spec = st.loadVm(name);
      const s = await status(st, name, spec);
      if (s.state !== 'running' && s.state !== 'paused') throw new BonsaiError(`VM '${name}' is not running (bonsai start ${name})`);
      if (s.sshPort === null || s.sshPort === undefined) throw new BonsaiError(`VM '${name}' has no user-mode network (--net user), so Bonsai has no forward to its ssh server`);
      if (spawnSync('ssh', ['-V'], { stdio: 'ignore' }).error !== undefined) throw new BonsaiError('bonsai shell needs the OpenSSH client (ssh) on this host');
      const key = storeKey(st);
      const knownHosts = files(st.vmDir(name)).knownHosts;
      if (!existsSync(knownHosts)) throw new BonsaiError(`VM '${name}': ${knownHosts} is missing; restart the VM`);
      const p = spawn('ssh', [
        '-i', key.privateKey, '-p', String(s.sshPort), '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${knownHosts}`,
        '-o', 'StrictHostKeyChecking=yes', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=30', ...(command.length > 0 ? [] : ['-t']),
        'root@127.0.0.1', ...command,
      ], { stdio: 'inherit' });
      process.exitCode = await new Promise<number>((resolve) => p.on('close', (code) => resolve(code ?? 255)));
    });

  const template = program.command('template').description('templates: read-only bases that VMs are made from');
  template
    .command('create <name>')
    .description("freeze a stopped VM's root disk as a template")
    .requiredOption('--from <VM>', 'the VM to make it from')
    .action(async (name: string, o: { from: string }) => {
      await createTemplate(store(), name, o.from);
      out(`created template ${name} from ${o.from}\n`);
    });
  template.command('list').alias('ls').description('the templates').option('--json', 'as JSON').action(async (o: { json?: boolean }) => {
    const st = store();
    await ensureDefaultTemplate(st);
    const rows = st.templateNames().map((n) => {
      try {
        const t = st.loadTemplate(n);
        return { name: n, from: t.from ?? (n === DEFAULT_TEMPLATE ? 'the bundled guest' : '-'), created: t.created, size: st.folderBytes(st.templateDir(n)) };
      } catch (e) {
        return { name: n, from: '-', created: '-', size: 0, error: (e as Error).message };
      }
    });
    if (o.json) { out(`${JSON.stringify(rows, null, 2)}\n`); return; }
    out(table([['NAME', 'FROM', 'CREATED', 'SIZE'], ...rows.map((r) => [r.name, r.from, r.created, formatSize(r.size)])]));
  });
  template.command('rm <name>').description('remove a template no VM depends on').action(async (name: string) => {
    await removeTemplate(store(), name);
    out(`removed template ${name}\n`);
  });

  // The VM's own process, started by `bonsai start`: not for users.
  // With --incoming, started by `bonsai receive` before a VM comes: the name comes with the connection.
  program.command('vmm [name]', { hidden: true })
    .option('--restore <state-file>').option('--fork').option('--incoming').option('--standby-log <file>')
    .action(async (vmName: string | undefined, o: { restore?: string; fork?: boolean; incoming?: boolean; standbyLog?: string }) => {
      if (o.incoming !== true) {
        if (vmName === undefined) throw new BonsaiError('vmm: which VM?');
        process.exitCode = await runVmm(store(), vmName, { restore: o.restore, fork: o.fork });
        return;
      }
      // Brought in by `bonsai receive`: the connection is handed over, the rest arrives on it.
      const s = store();
      const handed = await awaitHandoff(o.standbyLog);
      if (handed === null) return; // receive ended before a VM came
      const { h, sock } = handed;
      const name = h.name;
      const incoming = new Incoming(s, s.loadVm(name), sock, h);
      try {
        process.exitCode = await runVmm(s, name, { incoming });
      } catch (e) {
        if (incoming.running) throw e;
        incoming.discard(e as Error);
        report({ failed: (e as Error).message });
        rmSync(s.vmDir(name), { recursive: true, force: true });
        process.exitCode = 1;
      }
    });
}
