import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checksum, transportChecksum } from '../../src/net/checksum.js';
import { IPPROTO_UDP, readIp } from '../../src/net/ipv4.js';
import { defaultUserNetConfig, type UserNetContext } from '../../src/net/user/context.js';
import { TftpServer, type TftpTunables } from '../../src/net/user/tftp.js';

const GUEST = 0x0a00020f;
const GATEWAY = 0x0a000202;
const CLIENT_PORT = 2000;

// --- a folder to serve, and a secret next to it that must never be served ---

const base = mkdtempSync(join(tmpdir(), 'bonsai-tftp-'));
const root = join(base, 'root');
const outside = join(base, 'outside');
mkdirSync(root);
mkdirSync(outside);
const SECRET = 'SECRET-OUTSIDE-THE-ROOT';
writeFileSync(join(outside, 'secret'), SECRET);
writeFileSync(join(root, 'hello.txt'), 'hello, world\n');
const multi = pattern(512 * 3 + 100);
writeFileSync(join(root, 'multi.bin'), multi);
writeFileSync(join(root, 'exact.bin'), pattern(1024));
writeFileSync(join(root, 'empty'), '');
writeFileSync(join(root, 'text.txt'), 'one\ntwo\r\nthree\rfour\n\n');
mkdirSync(join(root, 'sub'));
writeFileSync(join(root, 'sub', 'inner.txt'), 'inner');
symlinkSync(join(outside, 'secret'), join(root, 'escape'));
symlinkSync(outside, join(root, 'escape-dir'));
symlinkSync('hello.txt', join(root, 'inside-link'));
after(() => rmSync(base, { recursive: true, force: true }));

function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; }
  return b;
}

// --- a fake user-mode stack that keeps what the server sends ---

interface Udp { src: number; dst: number; srcPort: number; dstPort: number; data: Uint8Array; ipLength: number }

/** Parses and checks an IPv4/UDP packet as the guest's stack would. */
function parseUdp(p: Uint8Array): Udp {
  assert.equal(p[0], 0x45, 'IPv4 without options');
  const total = (p[2] << 8) | p[3];
  assert.equal(total, p.length, 'IPv4 total length');
  assert.equal(checksum(p, 0, 20), 0, 'IPv4 header checksum');
  assert.equal(p[9], IPPROTO_UDP);
  const src = readIp(p, 12), dst = readIp(p, 16);
  const udpLen = (p[24] << 8) | p[25];
  assert.equal(udpLen, total - 20, 'UDP length');
  assert.equal(transportChecksum(src, dst, IPPROTO_UDP, p, 20, total), 0, 'UDP checksum');
  return { src, dst, srcPort: (p[20] << 8) | p[21], dstPort: (p[22] << 8) | p[23], data: p.subarray(28), ipLength: total };
}

class Rig {
  readonly sent: Udp[] = [];
  readonly drops = new Map<string, number>();
  readonly counts = new Map<string, number>();
  readonly server: TftpServer;
  constructor(tunables?: TftpTunables) {
    const config = { ...defaultUserNetConfig(), tftpRoot: root };
    const ctx: UserNetContext = {
      config,
      sendIp: (p) => this.sent.push(parseUdp(p.slice())),
      rxRoom: () => Infinity,
      drop: (r) => this.drops.set(r, (this.drops.get(r) ?? 0) + 1),
      count: (n, k = 1) => this.counts.set(n, (this.counts.get(n) ?? 0) + k),
      log: () => {},
    };
    this.server = new TftpServer(ctx, root, tunables);
  }
  /** Sends from the guest and returns what the server answered at once. */
  send(dstPort: number, data: Uint8Array, srcPort = CLIENT_PORT): Udp[] {
    const n = this.sent.length;
    this.server.input(GUEST, srcPort, dstPort, data);
    return this.sent.slice(n);
  }
}

function request(op: 1 | 2, name: string, mode = 'octet', options: Record<string, string> = {}): Uint8Array {
  const text = [name, mode, ...Object.entries(options).flat()].map((s) => s + '\0').join('');
  return Uint8Array.from([0, op, ...Buffer.from(text, 'utf8')]);
}
const rrq = (name: string, mode?: string, options?: Record<string, string>): Uint8Array => request(1, name, mode, options);
const ack = (n: number): Uint8Array => Uint8Array.of(0, 4, (n >>> 8) & 0xff, n & 0xff);
const opcode = (u: Udp): number => (u.data[0] << 8) | u.data[1];
const blockOf = (u: Udp): number => (u.data[2] << 8) | u.data[3];
const errorCode = (u: Udp): number => { assert.equal(opcode(u), 5, 'an ERROR packet'); return blockOf(u); };

function oackOptions(u: Udp): Record<string, string> {
  assert.equal(opcode(u), 6, 'an OACK packet');
  const parts = Buffer.from(u.data.subarray(2)).toString('utf8').split('\0');
  assert.equal(parts.pop(), '', 'NUL-terminated');
  const o: Record<string, string> = {};
  for (let i = 0; i < parts.length; i += 2) o[parts[i]] = parts[i + 1];
  return o;
}

/** Runs a whole read as a client would: ACK each block at once; returns the bytes and the blocks' sizes. */
function download(rig: Rig, name: string, mode = 'octet', options: Record<string, string> = {}): { bytes: Uint8Array; sizes: number[]; tid: number } {
  let replies = rig.send(69, rrq(name, mode, options));
  assert.equal(replies.length, 1);
  let r = replies[0];
  assert.equal(r.src, GATEWAY);
  assert.equal(r.dst, GUEST);
  assert.equal(r.dstPort, CLIENT_PORT);
  const tid = r.srcPort;
  assert.ok(tid >= 49152, 'a transfer has its own port from 49152 up');
  let blksize = 512;
  if (opcode(r) === 6) {
    blksize = Number(oackOptions(r).blksize ?? 512);
    replies = rig.send(tid, ack(0));
    assert.equal(replies.length, 1);
    r = replies[0];
  }
  const chunks: Uint8Array[] = [];
  const sizes: number[] = [];
  for (let expect = 1; ; expect++) {
    assert.equal(opcode(r), 3, `DATA ${expect}`);
    assert.equal(r.srcPort, tid);
    assert.equal(blockOf(r), expect & 0xffff);
    const payload = r.data.subarray(4);
    chunks.push(payload);
    sizes.push(payload.length);
    replies = rig.send(tid, ack(expect & 0xffff));
    if (payload.length < blksize) {
      assert.equal(replies.length, 0, 'nothing after the last block');
      assert.equal(rig.server.owns(tid), false, 'the transfer ends with the last ACK');
      break;
    }
    assert.equal(replies.length, 1);
    r = replies[0];
  }
  return { bytes: Uint8Array.from(Buffer.concat(chunks)), sizes, tid };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a small file comes in one DATA block from a new port, which the server owns until the last ACK', () => {
  const rig = new Rig();
  assert.ok(rig.server.owns(69));
  const [d] = rig.send(69, rrq('hello.txt'));
  assert.equal(opcode(d), 3);
  assert.equal(blockOf(d), 1);
  assert.equal(d.srcPort, 49152);
  assert.ok(rig.server.owns(49152));
  assert.equal(Buffer.from(d.data.subarray(4)).toString(), 'hello, world\n');
  assert.deepEqual(rig.send(49152, ack(1)), []);
  assert.equal(rig.server.owns(49152), false);
  assert.equal(rig.counts.get('tftp-completed'), 1);
});

test('a multi-block file arrives exactly, in 512-byte blocks with a short last one', () => {
  const rig = new Rig();
  const { bytes, sizes } = download(rig, 'multi.bin');
  assert.deepEqual(sizes, [512, 512, 512, 100]);
  assert.deepEqual(bytes, multi);
});

test('a file of whole blocks ends with an empty block', () => {
  const { bytes, sizes } = download(new Rig(), 'exact.bin');
  assert.deepEqual(sizes, [512, 512, 0]);
  assert.deepEqual(bytes, pattern(1024));
});

test('a zero-length file is one empty DATA block', () => {
  const { bytes, sizes } = download(new Rig(), 'empty');
  assert.deepEqual(sizes, [0]);
  assert.equal(bytes.length, 0);
});

test('blksize and tsize are acknowledged with an OACK, and DATA 1 waits for ACK 0', () => {
  const rig = new Rig();
  const [o] = rig.send(69, rrq('multi.bin', 'octet', { BLKSIZE: '1024', tsize: '0', windowsize: '4' }));
  assert.deepEqual(oackOptions(o), { blksize: '1024', tsize: String(multi.length) }, 'unknown options are left out');
  const [d1] = rig.send(o.srcPort, ack(0));
  assert.equal(blockOf(d1), 1);
  assert.equal(d1.data.length, 4 + 1024);
  const [d2] = rig.send(o.srcPort, ack(1));
  assert.equal(d2.data.length, 4 + multi.length - 1024);
  const rig2 = new Rig();
  assert.deepEqual(download(rig2, 'multi.bin', 'octet', { blksize: '1024', tsize: '0' }).bytes, multi);
});

test('blksize is clamped to 1468 so every packet fits a 1500-byte MTU', () => {
  const rig = new Rig();
  const big = pattern(5000, 7);
  writeFileSync(join(root, 'big.bin'), big);
  const [o] = rig.send(69, rrq('big.bin', 'octet', { blksize: '65464' }));
  assert.equal(oackOptions(o).blksize, '1468');
  rig.send(o.srcPort, ack(0));
  const rig2 = new Rig();
  const { bytes, sizes } = download(rig2, 'big.bin', 'octet', { blksize: '65464' });
  assert.deepEqual(bytes, big);
  assert.deepEqual(sizes, [1468, 1468, 1468, 596]);
  for (const p of rig2.sent) assert.ok(p.ipLength <= 1500);
});

test('an out-of-range blksize is ignored, and a timeout of 1-255 s is echoed', () => {
  const rig = new Rig();
  const [o] = rig.send(69, rrq('hello.txt', 'octet', { blksize: '7', timeout: '3' }));
  assert.deepEqual(oackOptions(o), { timeout: '3' });
  const [o2] = rig.send(69, rrq('hello.txt', 'octet', { timeout: '0' }), CLIENT_PORT + 1);
  assert.equal(opcode(o2), 3, 'no acceptable option: DATA at once');
  rig.server.close();
});

test('netascii turns LF into CR LF and CR into CR NUL, also across block boundaries', () => {
  const want = Buffer.from('one\r\ntwo\r\0\r\nthree\r\0four\r\n\r\n', 'latin1');
  const { bytes } = download(new Rig(), 'text.txt', 'NetASCII');
  assert.deepEqual(Buffer.from(bytes), want);
  for (let size = 8; size <= 12; size++) {
    const { bytes: b } = download(new Rig(), 'text.txt', 'netascii', { blksize: String(size) });
    assert.deepEqual(Buffer.from(b), want, `blksize ${size}`);
  }
  const [o] = new Rig().send(69, rrq('text.txt', 'netascii', { tsize: '0' }));
  assert.equal(opcode(o), 3, 'no tsize for netascii: its size is not known before converting');
});

test('a missing file is ERROR 1', () => {
  const rig = new Rig();
  const [e] = rig.send(69, rrq('nope.bin'));
  assert.equal(errorCode(e), 1);
  assert.equal(rig.server.owns(e.srcPort), false);
});

test('a path with .. is refused with ERROR 2', () => {
  const rig = new Rig();
  for (const name of ['../etc/passwd', '../outside/secret', 'sub/../../outside/secret', 'sub/../hello.txt', '..']) {
    const [e] = rig.send(69, rrq(name));
    assert.equal(errorCode(e), 2, name);
  }
});

test('an absolute path is taken inside the root, never from the host', () => {
  const rig = new Rig();
  const [e] = rig.send(69, rrq('/etc/passwd'));
  assert.equal(errorCode(e), 1);
  const [e2] = rig.send(69, rrq(join(outside, 'secret')));
  assert.equal(errorCode(e2), 1);
  assert.equal(Buffer.from(download(new Rig(), '//sub/inner.txt').bytes).toString(), 'inner');
});

test('a symlink out of the root is refused; one inside it is followed', () => {
  const rig = new Rig();
  assert.equal(errorCode(rig.send(69, rrq('escape'))[0]), 2);
  assert.equal(errorCode(rig.send(69, rrq('escape-dir/secret'))[0]), 2);
  assert.equal(Buffer.from(download(new Rig(), 'inside-link').bytes).toString(), 'hello, world\n');
});

test('a directory is not served', () => {
  const rig = new Rig();
  assert.equal(errorCode(rig.send(69, rrq('sub'))[0]), 2);
  assert.equal(errorCode(rig.send(69, rrq(''))[0]), 1);
  assert.equal(errorCode(rig.send(69, rrq('/'))[0]), 1);
});

test('a write request is refused with ERROR 2, and mail mode with ERROR 4', () => {
  const rig = new Rig();
  const [e] = rig.send(69, request(2, 'upload.bin'));
  assert.equal(errorCode(e), 2);
  assert.equal(existsSync(join(root, 'upload.bin')), false);
  assert.equal(errorCode(rig.send(69, rrq('hello.txt', 'mail'))[0]), 4);
});

test('duplicate ACKs are ignored (no Sorcerer\'s Apprentice)', () => {
  const rig = new Rig();
  const [d1] = rig.send(69, rrq('multi.bin'));
  const tid = d1.srcPort;
  assert.equal(rig.send(tid, ack(1)).length, 1);
  assert.deepEqual(rig.send(tid, ack(1)), [], 'a repeated ACK sends nothing');
  assert.deepEqual(rig.send(tid, ack(0)), []);
  const [d3] = rig.send(tid, ack(2));
  assert.equal(blockOf(d3), 3);
  rig.server.close();
});

test('a repeated request before any ACK gets the same first packet from the same port', () => {
  const rig = new Rig();
  const [a] = rig.send(69, rrq('multi.bin'));
  const [b] = rig.send(69, rrq('multi.bin'));
  assert.equal(b.srcPort, a.srcPort);
  assert.deepEqual(b.data, a.data);
  rig.server.close();
});

test('a packet to a transfer from another port gets ERROR 5 and leaves the transfer alone', () => {
  const rig = new Rig();
  const [d1] = rig.send(69, rrq('multi.bin'));
  const [e] = rig.send(d1.srcPort, ack(1), CLIENT_PORT + 7);
  assert.equal(errorCode(e), 5);
  assert.equal(e.dstPort, CLIENT_PORT + 7);
  const [d2] = rig.send(d1.srcPort, ack(1));
  assert.equal(blockOf(d2), 2);
  rig.server.close();
});

test('an ERROR from the client ends its transfer', () => {
  const rig = new Rig();
  const [o] = rig.send(69, rrq('multi.bin', 'octet', { blksize: '1024' }));
  const err = Uint8Array.from([0, 5, 0, 8, ...Buffer.from('no thanks'), 0]);
  assert.deepEqual(rig.send(o.srcPort, err), []);
  assert.equal(rig.server.owns(o.srcPort), false);
});

test('at most maxTransfers run at once; the next request gets ERROR 0', () => {
  const rig = new Rig({ maxTransfers: 2 });
  assert.equal(opcode(rig.send(69, rrq('multi.bin'), 3001)[0]), 3);
  assert.equal(opcode(rig.send(69, rrq('multi.bin'), 3002)[0]), 3);
  assert.equal(errorCode(rig.send(69, rrq('multi.bin'), 3003)[0]), 0);
  rig.server.close();
});

test('the last packet is sent again after a timeout, and the transfer dropped after the retries', async () => {
  const rig = new Rig({ timeoutMs: 15, retries: 2 });
  const [o] = rig.send(69, rrq('multi.bin', 'octet', { blksize: '1024' }));
  const tid = o.srcPort;
  for (let i = 0; i < 50 && rig.server.owns(tid); i++) await sleep(10);
  assert.equal(rig.server.owns(tid), false, 'dropped');
  assert.equal(rig.sent.length, 3, 'the OACK and two retransmissions');
  for (const p of rig.sent) assert.deepEqual(p.data, o.data);
  assert.equal(rig.counts.get('tftp-retransmits'), 2);
  assert.equal(rig.counts.get('tftp-timeouts'), 1);

  // An ACK in time moves on and starts the count again.
  const rig2 = new Rig({ timeoutMs: 15, retries: 2 });
  const [d1] = rig2.send(69, rrq('multi.bin'));
  await sleep(25);
  assert.ok(rig2.sent.length >= 2, 'DATA 1 again');
  assert.equal(blockOf(rig2.sent[rig2.sent.length - 1]), 1);
  const [d2] = rig2.send(d1.srcPort, ack(1));
  assert.equal(blockOf(d2), 2);
  rig2.server.close();
});

test('block numbers wrap past 65535, so files of more than 65535 blocks arrive whole', () => {
  const size = 65540 * 8 + 3;
  const data = pattern(size, 3);
  writeFileSync(join(root, 'wrap.bin'), data);
  const { bytes, sizes } = download(new Rig(), 'wrap.bin', 'octet', { blksize: '8' });
  assert.equal(sizes.length, 65541);
  assert.deepEqual(Buffer.from(bytes), Buffer.from(data));
});

test('close() releases every transfer\'s file and timer', () => {
  const fds = (): number => readdirSync('/proc/self/fd').length;
  const hasProc = existsSync('/proc/self/fd');
  const before = hasProc ? fds() : 0;
  const rig = new Rig();
  for (let i = 0; i < 10; i++) rig.send(69, rrq('multi.bin'), 4000 + i);
  if (hasProc) assert.equal(fds(), before + 10);
  rig.server.close();
  if (hasProc) assert.equal(fds(), before);
  assert.equal(rig.server.owns(49152), false);
  assert.equal(rig.server.owns(69), false);
  assert.deepEqual(rig.send(69, rrq('hello.txt'), 5000), []);
});

test('random packets never throw, are answered only with well-formed packets, and never leak a file outside the root', () => {
  const rig = new Rig({ maxTransfers: 8 });
  let seed = 12345;
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n; };
  const words = ['..', '.', '/', 'escape', 'escape-dir', 'secret', 'sub', 'hello.txt', 'outside', '', 'root', '\\'];
  for (let i = 0; i < 20000; i++) {
    let pkt: Uint8Array;
    const kind = rand(4);
    if (kind === 0) {
      pkt = pattern(rand(40), seed);
    } else if (kind === 1) {
      // A request with a path made of dangerous pieces, maybe with options.
      const parts: string[] = [];
      for (let k = rand(5); k >= 0; k--) parts.push(words[rand(words.length)]);
      const opts: Record<string, string> = rand(2) === 0 ? {} : { blksize: String(rand(70000)), tsize: '0', timeout: String(rand(300)) };
      pkt = request(rand(3) === 0 ? 2 : 1, parts.join(rand(2) === 0 ? '/' : ''), ['octet', 'netascii', 'mail', 'x'][rand(4)], opts);
    } else if (kind === 2) {
      // A request cut short or corrupted at one byte.
      pkt = rrq('hello.txt', 'octet', { blksize: '512' });
      if (rand(2) === 0) pkt = pkt.subarray(0, rand(pkt.length + 1));
      else pkt[rand(pkt.length)] = rand(256);
    } else {
      pkt = Uint8Array.of(0, rand(8), rand(256), rand(256), ...pattern(rand(6), seed));
    }
    const port = rand(3) === 0 ? 69 : 49152 + rand(16);
    rig.send(port, pkt, 3000 + rand(3));
  }
  for (const p of rig.sent) {
    assert.equal(p.src, GATEWAY);
    assert.equal(p.dst, GUEST);
    assert.ok(!Buffer.from(p.data).toString('latin1').includes(SECRET), 'the secret never leaves');
  }
  assert.ok(rig.drops.size > 0, 'malformed packets are counted');
  rig.server.close();
});
