/** `bonsai receive` and `bonsai migrate`: live migration between hosts (vm/migrate/, docs/migration.md). */
import type { Command } from 'commander';
import { BonsaiError } from '../errors.js';
import { formatSize, parseSize } from '../storage/image-ops.js';
import { migrateVm, parseHostPort } from '../vm/migrate/client.js';
import { receiveVm } from '../vm/migrate/receive.js';
import { parseCompression, type MigrateResult, type Progress } from '../vm/migrate/send.js';
import type { Store } from '../vm/store/store.js';

function progressLine(p: Progress): string {
  const what = p.phase === 'disks' ? 'copying disks' : p.phase === 'stop' ? 'guest paused: sending the rest' : `round ${p.round}`;
  const extra = p.phase === 'ram' ? `, ${p.dirtyPages} pages dirty, expected downtime ${p.expectedDowntimeMs.toFixed(0)} ms${p.throttle > 0 ? `, guest throttled ${(p.throttle * 100).toFixed(0)} %` : ''}` : '';
  return `${what}: ${formatSize(p.sentBytes)} sent${extra}`;
}

export function registerMigrateCommands(program: Command, store: () => Store): void {
  const list = (v: string, prev: string[]): string[] => [...prev, v];
  program
    .command('receive')
    .description('wait for one VM migrated here by bonsai migrate; it runs in this store afterwards')
    .requiredOption('--listen <[ADDR:]PORT>', 'where to listen (ADDR defaults to 127.0.0.1)')
    .option('--name <NAME>', 'the VM\'s name here (default: its name on the source)')
    .option('--allow <HOST>', 'an address that may connect (repeatable; default: loopback only)', list, [])
    .option('--token <TOKEN>', 'the source must prove it knows this (an HMAC challenge; never sent)')
    .action(async (o: { listen: string; name?: string; allow: string[]; token?: string }) => {
      const { host, port } = parseHostPort(o.listen, '--listen', '127.0.0.1');
      const tty = process.stderr.isTTY;
      const name = await receiveVm(store(), {
        host, port, name: o.name, allow: o.allow, token: o.token ?? process.env.BONSAI_MIGRATE_TOKEN,
        log: (line) => process.stderr.write(`${line}\n`),
        onProgress: tty ? (p) => process.stderr.write(`\r\x1b[K${progressLine(p)}`) : undefined,
      });
      if (tty) process.stderr.write('\r\x1b[K');
      process.stdout.write(`received VM '${name}': it runs here now\n`);
    });
  program
    .command('migrate <name>')
    .description('move a running VM to another host without stopping it (bonsai receive there)')
    .requiredOption('--to <HOST:PORT>', 'the destination (bonsai receive --listen)')
    .option('--with-disks', 'copy the VM\'s disks too, while it runs (otherwise they must be at the same paths there)')
    .option('--token <TOKEN>', 'the token the destination was given')
    .option('--max-downtime <MS>', 'the longest pause the guest may see, in ms', '100')
    .option('--bandwidth <RATE>', 'bytes per second at most, e.g. 50M (default: as fast as the link goes)')
    .option('--compress <WHEN>', 'deflate RAM pages: auto (where the link is slower than compressing), always, never', 'auto')
    .option('--keep-source', 'leave the VM here, stopped, instead of removing it')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, o: { to: string; withDisks?: boolean; token?: string; maxDowntime: string; bandwidth?: string; compress: string; keepSource?: boolean; json?: boolean }) => {
      const { host, port } = parseHostPort(o.to, '--to');
      const maxDowntimeMs = Number(o.maxDowntime);
      if (!Number.isFinite(maxDowntimeMs) || maxDowntimeMs < 1) throw new BonsaiError(`--max-downtime ${o.maxDowntime}: expected a number of milliseconds, 1 or more`);
      const bandwidth = o.bandwidth === undefined ? undefined : parseSize(o.bandwidth);
      const compress = parseCompression(o.compress, '--compress');
      const tty = process.stderr.isTTY && o.json !== true;
      let r: MigrateResult;
      try {
        r = await migrateVm(store(), name, {
          host, port, withDisks: o.withDisks === true, maxDowntimeMs, bandwidth, compress,
          token: o.token ?? process.env.BONSAI_MIGRATE_TOKEN, keepSource: o.keepSource === true,
        }, tty ? (p) => process.stderr.write(`\r\x1b[K${progressLine(p)}`) : undefined);
      } finally {
        if (tty) process.stderr.write('\r\x1b[K');
      }
      if (o.json === true) { process.stdout.write(`${JSON.stringify(r)}\n`); return; }
      process.stdout.write(`migrated ${name} to ${host}:${port}: downtime ${r.downtimeMs.toFixed(1)} ms, ${(r.totalMs / 1000).toFixed(2)} s in all, ${formatSize(r.bytes)} sent in ${r.rounds} rounds${r.compressedPages > 0 ? ` (${r.compressedPages} pages compressed)` : ''}\n`);
    });
}
