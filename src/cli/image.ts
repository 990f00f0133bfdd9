/** `bonsai image ...`: create, inspect, convert, resize and snapshot disk images. Parses, prints, exits. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { BonsaiError } from '../errors.js';
import { printable } from '../text.js';
import {
  changeImageSnapshot, convertImage, createImage, formatSize, imageInfo, listImageSnapshots, parseSize, resizeImage, type ImageInfo,
} from '../storage/image-ops.js';
import type { Qcow2Snapshot } from '../storage/qcow2.js';

function sizeArg(text: string): number {
  try {
    return parseSize(text);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

const formatOption = (): Option => new Option('-f, --format <FORMAT>', 'image format').choices(['qcow2', 'raw']).default('qcow2');

/** A one-line progress bar on stderr, drawn only when stderr is a terminal. */
export class ProgressBar {
  private last = -1;
  constructor(private readonly label: string, private readonly out: NodeJS.WriteStream = process.stderr) {}

  update(done: number, total: number): void {
    if (!this.out.isTTY) return;
    const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
    if (pct === this.last) return;
    this.last = pct;
    const width = Math.max(10, Math.min(40, (this.out.columns ?? 80) - this.label.length - 30));
    const fill = Math.round((pct / 100) * width);
    this.out.write(`\r${this.label} [${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${String(pct).padStart(3)}% ${formatSize(done)}\x1b[K`);
  }

  /** Clears the line (the bar leaves no trace in the scrollback). */
  done(): void {
    if (this.out.isTTY && this.last >= 0) this.out.write('\r\x1b[K');
  }
}

function describe(info: ImageInfo, lines: string[]): void {
  lines.push(`image: ${info.path}`);
  lines.push(`format: ${info.format}${info.qcow2 !== undefined ? ` (version ${info.qcow2.version})` : ''}`);
  lines.push(`virtual size: ${formatSize(info.virtualSize)} (${info.virtualSize} bytes)`);
  lines.push(`disk size: ${formatSize(info.diskSize)}`);
  if (info.qcow2 !== undefined) {
    const q = info.qcow2;
    lines.push(`cluster size: ${q.clusterSize}`);
    lines.push(`refcount bits: ${q.refcountBits}`);
    if (q.lazyRefcounts) lines.push(`lazy refcounts: on`);
    if (q.corrupt) lines.push(`corrupt: yes`);
    if (q.snapshots > 0) lines.push(`internal snapshots: ${q.snapshots}`);
    if (q.extensions.length > 0) lines.push(`header extensions: ${q.extensions.join(', ')}`);
  }
  if (info.backingFile !== undefined) {
    const resolved = info.backingPath !== undefined && info.backingPath !== info.backingFile ? ` (${info.backingPath})` : '';
    lines.push(`backing file: ${info.backingFile}${resolved}`);
    if (info.backingFormat !== undefined) lines.push(`backing file format: ${info.backingFormat}`);
  }
}

function chain(info: ImageInfo): string[] {
  const out: string[] = [];
  let cur: ImageInfo | { path: string; error: string } | undefined = info;
  while (cur !== undefined) {
    if ('error' in cur) {
      out.push(`${cur.path} (unreadable: ${cur.error})`);
      break;
    }
    out.push(`${cur.path} (${cur.format}, ${formatSize(cur.virtualSize)})`);
    cur = cur.backing;
  }
  return out;
}

/** Prints through the program's configured output (stdout unless a caller redirected it). */
function print(cmd: Command, text: string): void {
  const out = cmd.configureOutput().writeOut;
  if (out !== undefined) out(text);
  else process.stdout.write(text);
}

function brokenLink(info: ImageInfo): string | null {
  let cur: ImageInfo | { path: string; error: string } | undefined = info;
  while (cur !== undefined) {
    if ('error' in cur) return cur.error;
    cur = cur.backing;
  }
  return null;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** The snapshot list as `qemu-img snapshot -l` prints it (local time, VM clock as hours:minutes:seconds.ms). */
export function snapshotTable(list: Qcow2Snapshot[]): string {
  const rows = [['ID', 'TAG', 'VM SIZE', 'DATE', 'VM CLOCK', 'ICOUNT']];
  for (const s of list) {
    const d = s.date;
    const date = `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
    const ms = Math.floor(s.vmClockNs / 1e6);
    const clock = `${pad2(Math.floor(ms / 3600000))}:${pad2(Math.floor(ms / 60000) % 60)}:${pad2(Math.floor(ms / 1000) % 60)}.${String(ms % 1000).padStart(3, '0')}`;
    rows.push([s.id, s.name, s.vmStateSize === 0 ? '0 B' : formatSize(s.vmStateSize), date, clock, s.icount === undefined ? '' : String(s.icount)]);
  }
  const widths = rows[0].map((_, k) => Math.max(...rows.map((r) => r[k].length)));
  return rows.map((r) => r.map((cell, k) => (k === 2 ? cell.padStart(widths[k]) : cell.padEnd(widths[k]))).join('  ').trimEnd()).join('\n');
}

/** Adds `bonsai image create|info|convert|resize|snapshot` to the program. */
export function registerImageCommands(program: Command): void {
  const image = program.command('image').description('create, inspect, convert and resize disk images (raw, qcow2)');

  image
    .command('create')
    .description('create an empty image (with --backing: a qcow2 overlay that reads through to BASE)')
    .argument('<FILE>', 'the new image (an existing file is refused)')
    .argument('[SIZE]', 'virtual size, e.g. 10G, 512M (default with --backing: the base\'s size)', sizeArg)
    .addOption(formatOption())
    .option('-b, --backing <BASE>', 'backing file; a relative path is relative to FILE\'s folder')
    .option('--cluster-size <BYTES>', 'qcow2 cluster size, 512 to 2M (default 64K)', sizeArg)
    .action(async (file: string, size: number | undefined, opts: { format: 'qcow2' | 'raw'; backing?: string; clusterSize?: number }) => {
      await createImage(file, { format: opts.format, size, backing: opts.backing, clusterSize: opts.clusterSize });
    });

  image
    .command('info')
    .description('show an image\'s format, sizes, clusters and backing chain')
    .argument('<FILE>', 'the image')
    .option('--json', 'print JSON instead of text')
    .action(async (file: string, opts: { json?: boolean }, cmd: Command) => {
      const info = await imageInfo(file);
      // Names come from the image (its backing file name is any bytes its author chose): no escape sequences.
      // JSON.stringify escapes C0 controls itself; C1 controls and bidi overrides are escaped here.
      if (opts.json === true) print(cmd, `${JSON.stringify(info, null, 2).replace(/[\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n`);
      else {
        const lines: string[] = [];
        describe(info, lines);
        if (info.backing !== undefined) {
          lines.push('backing chain:');
          for (const l of chain(info)) lines.push(`  ${l}`);
        }
        print(cmd, `${lines.map(printable).join('\n')}\n`);
      }
      // Everything readable was shown; a missing link still makes the command fail.
      const broken = brokenLink(info);
      if (broken !== null) throw new BonsaiError(`${file}: its backing chain is broken: ${broken}`);
    });

  image
    .command('convert')
    .description('copy an image (its backing chain flattened) into a new image; zero areas stay sparse')
    .argument('<SRC>', 'source image (raw or qcow2)')
    .argument('<DST>', 'the new image (an existing file is refused)')
    .addOption(formatOption())
    .option('--cluster-size <BYTES>', 'qcow2 cluster size of DST (default 64K)', sizeArg)
    .action(async (src: string, dst: string, opts: { format: 'qcow2' | 'raw'; clusterSize?: number }) => {
      const bar = new ProgressBar('converting');
      try {
        await convertImage(src, dst, { format: opts.format, clusterSize: opts.clusterSize, onProgress: (d, t) => bar.update(d, t) });
      } finally {
        bar.done();
      }
    });

  image
    .command('snapshot')
    .description('list, create, apply or delete the internal snapshots of a qcow2 image that no VM is using')
    .argument('<FILE>', 'the image')
    .option('-l, --list', 'list the snapshots (the default)')
    .option('-c, --create <NAME>', 'record the disk as it is now under a new snapshot')
    .option('-a, --apply <NAME>', 'revert the disk to a snapshot (name or ID); what was written since is lost')
    .option('-d, --delete <NAME>', 'delete a snapshot (name or ID)')
    .action(async (file: string, opts: { list?: boolean; create?: string; apply?: string; delete?: string }, cmd: Command) => {
      const chosen = (['create', 'apply', 'delete'] as const).filter((k) => opts[k] !== undefined);
      if (chosen.length + (opts.list === true ? 1 : 0) > 1) throw new BonsaiError('give one of --list, --create, --apply, --delete');
      if (chosen.length === 0) {
        const list = await listImageSnapshots(file);
        // Names come from the image: no escape sequences reach the terminal.
        if (list.length > 0) print(cmd, `${snapshotTable(list).split('\n').map(printable).join('\n')}\n`);
        return;
      }
      const action = chosen[0];
      await changeImageSnapshot(file, { action, name: opts[action] as string });
    });

  image
    .command('resize')
    .description('change an image\'s virtual size (qcow2: grow only; raw: shrinking needs --shrink)')
    .argument('<FILE>', 'the image')
    .argument('<SIZE>', 'new virtual size, e.g. 20G, or +5G to grow by that much')
    .option('--shrink', 'allow a raw image to shrink, losing the data past the new end')
    .action(async (file: string, sizeText: string, opts: { shrink?: boolean }) => {
      const size = sizeText.startsWith('+') ? (await imageInfo(file)).virtualSize + parseSize(sizeText.slice(1)) : parseSize(sizeText);
      await resizeImage(file, size, { shrink: opts.shrink });
    });
}
