/**
 * `--net tap:IFNAME`: the NIC attached to an existing Linux TAP device, whose frames the host's own
 * network stack (a bridge, routing, NAT) then handles. Attaching needs the TUNSETIFF ioctl, which
 * Node.js cannot issue without a native addon, so a small Perl relay (perl-base is part of every Debian
 * and Ubuntu system) opens /dev/net/tun, attaches to IFNAME and relays frames over its stdio, each
 * behind a 2-byte big-endian length. Attaching needs CAP_NET_ADMIN, or a device made for the user:
 * `sudo ip tuntap add IFNAME mode tap user $USER`.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { BonsaiError } from '../errors.js';
import type { FrameReceiver, NetBackend } from './link.js';

// linux/if_tun.h: TUNSETIFF = _IOW('T', 202, int); IFF_TAP | IFF_NO_PI (no packet-information prefix).
const RELAY = String.raw`
use strict; use warnings; use IO::Select;
my $name = $ARGV[0];
open(my $tun, '+<', '/dev/net/tun') or die "cannot open /dev/net/tun: $!\n";
ioctl($tun, 0x400454ca, pack('a16 s x22', $name, 0x1002)) or die "cannot attach: $!\n";
binmode STDIN; binmode STDOUT;
syswrite(STDOUT, "\0\0");
my $sel = IO::Select->new($tun, \*STDIN);
my $in = '';
while (1) {
  for my $fh ($sel->can_read) {
    if ($fh == $tun) {
      my $n = sysread($tun, my $frame, 65536);
      next unless defined $n && $n > 0;
      my $out = pack('n', $n) . $frame;
      while (length $out) { my $w = syswrite(STDOUT, $out); exit 0 unless defined $w; substr($out, 0, $w) = ''; }
    } else {
      my $n = sysread(STDIN, $in, 65536, length $in);
      exit 0 unless $n;
      while (length($in) >= 2) {
        my $len = unpack('n', $in);
        last if length($in) < 2 + $len;
        syswrite($tun, substr($in, 2, $len));
        substr($in, 0, 2 + $len) = '';
      }
    }
  }
}
`;

const IFF_TAP = 0x0002;

/** Frames queued to the relay beyond this are dropped (the TAP side is as lossy as a wire). */
const MAX_PENDING = 4 * 1024 * 1024;

export class TapBackend implements NetBackend {
  readonly name: string;
  private receive: FrameReceiver | null = null;
  private readonly counters = { 'frames-in': 0, 'frames-out': 0, 'drop-backlog': 0, 'drop-size': 0 };
  private buf: Buffer = Buffer.alloc(0);

  private constructor(private readonly relay: ChildProcessWithoutNullStreams, ifname: string) {
    this.name = `tap:${ifname}`;
    relay.stdout.on('data', (chunk: Buffer) => this.input(chunk));
  }

  /** Attaches to IFNAME; a one-line BonsaiError says why it could not. */
  static open(ifname: string, perl = 'perl'): Promise<TapBackend> {
    const what = `--net tap:${ifname}`;
    // Attach to an existing TAP device only: as root, TUNSETIFF would quietly make a new one instead.
    let flags: string;
    try { flags = readFileSync(`/sys/class/net/${ifname}/tun_flags`, 'utf8'); } catch {
      return Promise.reject(new BonsaiError(existsSync(`/sys/class/net/${ifname}`)
        ? `${what}: ${ifname} is not a TUN/TAP device`
        : `${what}: no such network interface (make one: sudo ip tuntap add ${ifname} mode tap user $USER)`));
    }
    if ((Number(flags) & IFF_TAP) === 0) return Promise.reject(new BonsaiError(`${what}: ${ifname} is a TUN device, not TAP`));
    return new Promise((resolve, reject) => {
      let relay: ChildProcessWithoutNullStreams;
      try {
        relay = spawn(perl, ['-e', RELAY, ifname], { stdio: ['pipe', 'pipe', 'pipe'] });
      } catch (e) {
        reject(new BonsaiError(`${what}: cannot start perl (${(e as Error).message})`));
        return;
      }
      let err = '';
      let settled = false;
      relay.stderr.on('data', (b: Buffer) => { err += b.toString(); });
      relay.on('error', (e: NodeJS.ErrnoException) => {
        if (settled) return;
        settled = true;
        reject(new BonsaiError(`${what}: ${e.code === 'ENOENT' ? 'perl is needed to attach TAP devices and was not found' : e.message}`));
      });
      relay.on('exit', () => {
        if (settled) return;
        settled = true;
        const why = err.trim().split('\n')[0] ?? '';
        const hint = /Operation not permitted|Permission denied/.test(why)
          ? ` (needs CAP_NET_ADMIN, or a device made for you: sudo ip tuntap add ${ifname} mode tap user $USER)` : '';
        reject(new BonsaiError(`${what}: ${why === '' ? 'the TAP relay exited' : why}${hint}`));
      });
      relay.stdout.once('data', (first: Buffer) => {
        if (settled) return;
        settled = true;
        const tap = new TapBackend(relay, ifname);
        if (first.length > 2) tap.input(first.subarray(2));
        relay.stderr.removeAllListeners('data');
        resolve(tap);
      });
    });
  }

  private input(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let o = 0;
    while (this.buf.length - o >= 2) {
      const len = this.buf.readUInt16BE(o);
      if (this.buf.length - o < 2 + len) break;
      const frame = new Uint8Array(this.buf.subarray(o + 2, o + 2 + len));
      o += 2 + len;
      if (len < 14) { this.counters['drop-size']++; continue; }
      this.counters['frames-in']++;
      this.receive?.(frame);
    }
    this.buf = this.buf.subarray(o);
  }

  attach(_mac: Uint8Array, receive: FrameReceiver): void { this.receive = receive; }

  send(frame: Uint8Array): void {
    if (frame.length < 14 || frame.length > 0xffff) { this.counters['drop-size']++; return; }
    if (this.relay.stdin.writableLength > MAX_PENDING || this.relay.stdin.destroyed) { this.counters['drop-backlog']++; return; }
    const out = Buffer.allocUnsafe(2 + frame.length);
    out.writeUInt16BE(frame.length, 0);
    out.set(frame, 2);
    this.relay.stdin.write(out);
    this.counters['frames-out']++;
  }

  stats(): Record<string, number> { return { ...this.counters }; }

  async close(): Promise<void> {
    if (this.relay.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.relay.once('exit', () => r()));
    this.relay.stdin.end();
    this.relay.kill();
    await exited;
  }
}
