import { test } from 'node:test';
import assert from 'node:assert/strict';
import nodeDns from 'node:dns';
import { createSocket } from 'node:dgram';
import { DnsServer, parseQuery, parseServer, type DnsServerOptions, type HostLookup } from '../../src/net/user/dns.js';
import { dnsQuery } from './frames.js';

function notFound(): Error {
  return Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
}

/** A host resolver from a table: name → [IPv4 addresses, IPv6 addresses]. */
function table(entries: Record<string, [string[], string[]]>): HostLookup {
  return async (name, family) => {
    const e = entries[name];
    const list = e === undefined ? [] : family === 4 ? e[0] : e[1];
    if (list.length === 0) throw notFound();
    return list;
  };
}

function server(o: DnsServerOptions = {}): { dns: DnsServer; drops: string[] } {
  const drops: string[] = [];
  const dns = new DnsServer({ drop: (r) => drops.push(r), lookup: table({}), forward: async () => null, ...o });
  return { dns, drops };
}

const rcode = (r: Uint8Array): number => r[3] & 0x0f;
const ancount = (r: Uint8Array): number => (r[6] << 8) | r[7];

/** The rdata of each answer, assuming the pointer names the stack writes. */
function rdatas(r: Uint8Array, q: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let p = q.length;
  for (let i = 0; i < ancount(r); i++) {
    assert.deepEqual([...r.subarray(p, p + 2)], [0xc0, 12]);
    assert.equal((r[p + 6] << 24) | (r[p + 7] << 16) | (r[p + 8] << 8) | r[p + 9], 60, 'TTL');
    const len = (r[p + 10] << 8) | r[p + 11];
    out.push(r.subarray(p + 12, p + 12 + len));
    p += 12 + len;
  }
  assert.equal(p, r.length);
  return out;
}

test('a query parses into its id, name, type and class', () => {
  const q = parseQuery(dnsQuery(0x1234, 'www.Example.org', 28));
  assert.ok(q !== null);
  assert.equal(q.id, 0x1234);
  assert.equal(q.name, 'www.Example.org');
  assert.equal(q.qtype, 28);
  assert.equal(q.qclass, 1);
  assert.equal(q.recursionDesired, true);
  assert.equal(parseQuery(dnsQuery(1, ''))?.name, '', 'the root');
});

test('the parser refuses short headers, responses, question counts other than one, and answer records', () => {
  const q = dnsQuery(1, 'a.b');
  assert.equal(parseQuery(q.subarray(0, 11)), null);
  const response = q.slice(); response[2] |= 0x80;
  assert.equal(parseQuery(response), null);
  const none = q.slice(); none[5] = 0;
  assert.equal(parseQuery(none), null);
  const two = q.slice(); two[5] = 2;
  assert.equal(parseQuery(two), null);
  const answers = q.slice(); answers[7] = 1;
  assert.equal(parseQuery(answers), null);
  const authority = q.slice(); authority[9] = 1;
  assert.equal(parseQuery(authority), null);
  const additional = q.slice(); additional[11] = 1;
  assert.ok(parseQuery(additional) !== null, 'an EDNS OPT record is allowed and ignored');
});

test('the parser refuses names that run out, oversized labels and names, and compression pointers', () => {
  const q = dnsQuery(1, 'abc.de');
  for (let cut = 12; cut < q.length; cut++) assert.equal(parseQuery(q.subarray(0, cut)), null, `cut at ${cut}`);
  const label64 = q.slice(); label64[12] = 0x40;
  assert.equal(parseQuery(label64), null, 'label type 01');
  const label128 = q.slice(); label128[12] = 0x80;
  assert.equal(parseQuery(label128), null, 'label type 10');
  const long = dnsQuery(1, Array(5).fill('x'.repeat(63)).join('.'));
  assert.equal(parseQuery(long), null, 'more than 255 bytes');
  const justFits = dnsQuery(1, [...Array(3).fill('x'.repeat(63)), 'x'.repeat(61)].join('.'));
  assert.equal(parseQuery(justFits)?.name?.length, 253);
  // "a" then a pointer back to the name's own start: a loop.
  const loop = Uint8Array.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0xc0, 12, 0, 1, 0, 1]);
  assert.equal(parseQuery(loop), null);
  const forward = Uint8Array.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 14, 0, 0, 1, 0, 1]);
  assert.equal(parseQuery(forward), null);
  const intoHeader = Uint8Array.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 2, 0, 1, 0, 1]);
  assert.equal(parseQuery(intoHeader), null);
  const halfPointer = Uint8Array.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0]);
  assert.equal(parseQuery(halfPointer), null);
});

test('names with bytes no host name has are not given to the host resolver', async () => {
  const asked: string[] = [];
  const { dns } = server({ lookup: async (n) => { asked.push(n); return ['1.1.1.1']; } });
  const q = dnsQuery(1, 'ab.cd');
  q[14] = 0x2e; // "a.b" as one label
  const r = await dns.answer(q);
  assert.ok(r !== null);
  assert.equal(rcode(r), 3);
  const nul = dnsQuery(1, 'ab'); nul[13] = 0;
  assert.equal(rcode((await dns.answer(nul)) ?? new Uint8Array(4)), 3);
  assert.deepEqual(asked, []);
});

test('an A answer echoes the id and question, sets QR and RA, copies RD, and has TTL 60', async () => {
  const { dns } = server({ lookup: table({ 'two.test': [['10.1.2.3', '10.1.2.4'], []] }) });
  const q = dnsQuery(0xbeef, 'two.test');
  q[2] = 0; // RD clear
  const r = await dns.answer(q);
  assert.ok(r !== null);
  assert.equal((r[0] << 8) | r[1], 0xbeef);
  assert.equal(r[2], 0x80, 'QR, opcode 0, no AA, TC or RD');
  assert.equal(r[3], 0x80, 'RA, NOERROR');
  assert.deepEqual([...r.subarray(4, 12)], [0, 1, 0, 2, 0, 0, 0, 0]);
  assert.deepEqual(r.subarray(12, q.length), q.subarray(12));
  assert.deepEqual(rdatas(r, q).map((d) => [...d]), [[10, 1, 2, 3], [10, 1, 2, 4]]);
  const rd = await dns.answer(dnsQuery(1, 'two.test'));
  assert.equal((rd ?? new Uint8Array(4))[2], 0x81);
});

test('AAAA answers carry 16-byte addresses, and a name with only an IPv4 address gets NOERROR with none', async () => {
  const { dns } = server({ lookup: table({ six: [[], ['2001:db8::1', '::ffff:1.2.3.4']], four: [['1.2.3.4'], []] }) });
  const q = dnsQuery(2, 'six', 28);
  const r = await dns.answer(q);
  assert.ok(r !== null);
  const [a, b] = rdatas(r, q);
  assert.deepEqual([...a], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual([...b], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4]);
  const four = await dns.answer(dnsQuery(3, 'four', 28));
  assert.ok(four !== null);
  assert.equal(rcode(four), 0);
  assert.equal(ancount(four), 0);
  const sixA = await dns.answer(dnsQuery(4, 'six', 1));
  assert.equal(rcode(sixA ?? new Uint8Array(4)), 0);
});

test('a name the host does not know is NXDOMAIN, and other resolver failures SERVFAIL', async () => {
  const { dns } = server({
    lookup: async (n) => { throw Object.assign(new Error('x'), { code: n === 'gone' ? 'ENOTFOUND' : 'EAI_AGAIN' }); },
  });
  assert.equal(rcode((await dns.answer(dnsQuery(1, 'gone'))) ?? new Uint8Array(4)), 3);
  assert.equal(rcode((await dns.answer(dnsQuery(1, 'flaky'))) ?? new Uint8Array(4)), 2);
});

test('local names are answered before the host is asked', async () => {
  const { dns } = server({ localName: (n) => (n === 'guest' ? 0x0a00020f : null), lookup: async () => { throw new Error('asked'); } });
  const q = dnsQuery(5, 'GUEST');
  const r = await dns.answer(q);
  assert.ok(r !== null);
  assert.deepEqual(rdatas(r, q).map((d) => [...d]), [[10, 0, 2, 15]]);
  const six = await dns.answer(dnsQuery(6, 'guest', 28));
  assert.equal(ancount(six ?? new Uint8Array(8)), 0);
});

test('answers are cut to 512 bytes rather than truncated', async () => {
  const many = Array.from({ length: 100 }, (_, i) => `10.9.${i}.1`);
  const { dns } = server({ lookup: table({ many: [many, []] }) });
  const q = dnsQuery(7, 'many');
  const r = await dns.answer(q);
  assert.ok(r !== null && r.length <= 512);
  assert.equal(ancount(r), Math.floor((512 - q.length) / 16));
  assert.equal(r[2] & 0x02, 0, 'no TC');
});

test('other types are forwarded as they are, SERVFAIL when the upstream fails or answers wrongly', async () => {
  const seen: Uint8Array[] = [];
  const upstream = new Uint8Array([0, 9, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0]);
  const { dns } = server({ forward: async (q) => { seen.push(q); return upstream; } });
  const mx = dnsQuery(9, 'mail.test', 15);
  assert.equal(await dns.answer(mx), upstream);
  assert.deepEqual(seen[0], mx);
  const wrongId = server({ forward: async () => upstream }).dns;
  assert.equal(rcode((await wrongId.answer(dnsQuery(10, 'x', 16))) ?? new Uint8Array(4)), 2);
  const failing = server({ forward: async () => { throw new Error('down'); } }).dns;
  assert.equal(rcode((await failing.answer(dnsQuery(9, 'x', 16))) ?? new Uint8Array(4)), 2);
  const chaos = dnsQuery(9, 'version.bind', 16); chaos[chaos.length - 1] = 3;
  assert.equal(await dns.answer(chaos), upstream, 'class CH goes upstream too');
});

test('an unknown opcode is NOTIMP and malformed queries get nothing', async () => {
  const { dns, drops } = server();
  const status = dnsQuery(1, 'x'); status[2] = 0x10; // opcode 2
  assert.equal(rcode((await dns.answer(status)) ?? new Uint8Array(4)), 4);
  assert.equal(await dns.answer(new Uint8Array(5)), null);
  assert.deepEqual(drops, ['dns-malformed']);
});

test('at most 64 queries are in flight; the rest are dropped', async () => {
  const release: (() => void)[] = [];
  const { dns, drops } = server({ lookup: () => new Promise((r) => release.push(() => r(['1.2.3.4']))) });
  const answers = Array.from({ length: 70 }, (_, i) => dns.answer(dnsQuery(i, 'slow')));
  await new Promise((r) => setImmediate(r));
  assert.equal(release.length, 64);
  for (const r of release) r();
  const got = await Promise.all(answers);
  assert.equal(got.filter((a) => a !== null).length, 64);
  assert.equal(drops.filter((d) => d === 'dns-busy').length, 6);
  const again = dns.answer(dnsQuery(1, 'slow'));
  assert.equal(release.length, 65, 'room again');
  release[64]();
  assert.ok((await again) !== null);
});

test('server addresses in every form dns.getServers gives', () => {
  assert.deepEqual(parseServer('8.8.8.8'), { address: '8.8.8.8', port: 53 });
  assert.deepEqual(parseServer('8.8.8.8:1053'), { address: '8.8.8.8', port: 1053 });
  assert.deepEqual(parseServer('2001:db8::1'), { address: '2001:db8::1', port: 53 });
  assert.deepEqual(parseServer('[2001:db8::1]:1053'), { address: '2001:db8::1', port: 1053 });
});

test('forwarding goes to the host\'s first name server and waits for the answer with our id', async () => {
  const upstream = createSocket('udp4');
  upstream.on('message', (msg, rinfo) => {
    const wrong = Buffer.from(msg); wrong[0] ^= 0xff; wrong[2] |= 0x80;
    upstream.send(wrong, rinfo.port, rinfo.address); // ignored: not our id
    const right = Buffer.from(msg); right[2] |= 0x80; right[3] = 0x80;
    upstream.send(right, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => upstream.bind(0, '127.0.0.1', r));
  const saved = nodeDns.getServers();
  nodeDns.setServers([`127.0.0.1:${upstream.address().port}`]);
  try {
    const dns = new DnsServer({ forwardTimeoutMs: 300 });
    const q = dnsQuery(0x7777, 'txt.test', 16);
    const r = await dns.answer(q);
    assert.ok(r !== null);
    assert.equal((r[0] << 8) | r[1], 0x7777);
    assert.equal(r[3], 0x80);
    upstream.removeAllListeners('message');
    const start = Date.now();
    const silent = await dns.answer(dnsQuery(0x7778, 'txt.test', 16));
    assert.equal(rcode(silent ?? new Uint8Array(4)), 2, 'SERVFAIL after the timeout');
    assert.ok(Date.now() - start >= 250);
  } finally {
    nodeDns.setServers(saved);
    await new Promise<void>((r) => upstream.close(() => r()));
  }
});
