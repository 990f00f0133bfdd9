import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readIp } from '../../src/net/ipv4.js';
import { DhcpServer, type DhcpReply, type DhcpServerOptions } from '../../src/net/user/dhcp.js';
import { dhcpMessage, dhcpOptions, type DhcpFields } from './frames.js';

const SERVER = 0x0a000202;
const FIRST = 0x0a00020f;
const MAC_A = Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56);
const MAC_B = Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x57);
const MAC_C = Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x58);

function server(change: Partial<DhcpServerOptions> = {}): { dhcp: DhcpServer; drops: string[]; clock: { t: number } } {
  const drops: string[] = [];
  const clock = { t: 1_000_000 };
  const dhcp = new DhcpServer({
    serverIp: SERVER, network: 0x0a000200, prefixLength: 24, router: SERVER, dns: 0x0a000203,
    domain: 'lab', bootFile: null, tftpServer: null, firstIp: FIRST, lastIp: FIRST + 15, leaseSeconds: 3600,
    drop: (r) => drops.push(r), now: () => clock.t, ...change,
  });
  return { dhcp, drops, clock };
}

function type(r: DhcpReply | null): number | undefined {
  return r === null ? undefined : dhcpOptions(r.reply).get(53)?.[0];
}

function ask(dhcp: DhcpServer, f: DhcpFields): DhcpReply | null {
  return dhcp.handle(dhcpMessage(f));
}

/** DISCOVER then REQUEST: the address bound. */
function bind(dhcp: DhcpServer, mac: Uint8Array, hostname?: string): number {
  const offer = ask(dhcp, { type: 1, mac, hostname });
  assert.ok(offer !== null);
  const ack = ask(dhcp, { type: 3, mac, requested: offer.yiaddr, serverId: SERVER, hostname });
  assert.equal(type(ack), 5);
  return offer.yiaddr;
}

test('an offer carries the address, lease times, mask, router, DNS, domain and server id, padded to 300 bytes', () => {
  const { dhcp } = server();
  const r = ask(dhcp, { type: 1, xid: 0xdeadbeef });
  assert.ok(r !== null);
  assert.equal(r.yiaddr, FIRST);
  assert.equal(r.broadcast, true, 'the client has no address yet');
  assert.ok(r.reply.length >= 300);
  assert.equal(readIp(r.reply, 4), 0xdeadbeef);
  assert.equal(readIp(r.reply, 16), FIRST);
  assert.equal(readIp(r.reply, 20), 0, 'no next server without TFTP');
  const o = dhcpOptions(r.reply);
  assert.equal(o.get(53)?.[0], 2);
  assert.equal(readIp(o.get(54) ?? new Uint8Array(4), 0), SERVER);
  assert.equal(readIp(o.get(51) ?? new Uint8Array(4), 0), 3600);
  assert.equal(readIp(o.get(58) ?? new Uint8Array(4), 0), 1800);
  assert.equal(readIp(o.get(59) ?? new Uint8Array(4), 0), 3150);
  assert.equal(readIp(o.get(1) ?? new Uint8Array(4), 0), 0xffffff00);
  assert.equal(readIp(o.get(3) ?? new Uint8Array(4), 0), SERVER);
  assert.equal(readIp(o.get(6) ?? new Uint8Array(4), 0), 0x0a000203);
  assert.equal(new TextDecoder().decode(o.get(15)), 'lab');
  assert.equal(o.has(66), false);
  assert.equal(o.has(67), false);
});

test('each MAC keeps its own address, and a second client gets the next one', () => {
  const { dhcp } = server();
  assert.equal(bind(dhcp, MAC_A), FIRST);
  assert.equal(bind(dhcp, MAC_B), FIRST + 1);
  assert.equal(bind(dhcp, MAC_A), FIRST, 'the same again');
  assert.equal(ask(dhcp, { type: 1, mac: MAC_B })?.yiaddr, FIRST + 1);
});

test('a REQUEST for an address not offered is NAKed, and one for another server is ignored', () => {
  const { dhcp, drops } = server();
  ask(dhcp, { type: 1, mac: MAC_A });
  const nak = ask(dhcp, { type: 3, mac: MAC_A, requested: FIRST + 5, serverId: SERVER });
  assert.equal(type(nak), 6);
  assert.equal(nak?.broadcast, true);
  assert.equal(nak?.yiaddr, 0);
  assert.equal(readIp(nak?.reply ?? new Uint8Array(20), 16), 0);
  assert.equal(ask(dhcp, { type: 3, mac: MAC_A, requested: FIRST, serverId: 0x0a000299 }), null);
  assert.deepEqual(drops, [], 'choosing another server is not a fault');
  // INIT-REBOOT with an address outside the pool: NAK.
  assert.equal(type(ask(dhcp, { type: 3, mac: MAC_B, requested: 0xc0a80005 })), 6);
});

test('INIT-REBOOT and renewal are acknowledged for the client\'s own or a free address, not another\'s', () => {
  const { dhcp } = server();
  const a = bind(dhcp, MAC_A);
  // A client that remembers its lease across our restart asks for it without a server id.
  const fresh = server().dhcp;
  assert.equal(type(ask(fresh, { type: 3, mac: MAC_A, requested: a })), 5);
  // Renewing: ciaddr set, unicast.
  const renew = ask(dhcp, { type: 3, mac: MAC_A, ciaddr: a });
  assert.equal(type(renew), 5);
  assert.equal(renew?.broadcast, false);
  assert.equal(readIp(renew?.reply ?? new Uint8Array(20), 12), a, 'ciaddr copied');
  // B cannot take A's address.
  assert.equal(type(ask(dhcp, { type: 3, mac: MAC_B, requested: a })), 6);
  assert.equal(type(ask(dhcp, { type: 3, mac: MAC_B, ciaddr: a })), 6);
});

test('the broadcast flag makes a reply to a client with an address broadcast', () => {
  const { dhcp } = server();
  const a = bind(dhcp, MAC_A);
  assert.equal(ask(dhcp, { type: 3, mac: MAC_A, ciaddr: a, broadcastFlag: true })?.broadcast, true);
});

test('a released address stays the client\'s, and goes to another only when the pool is full', () => {
  const { dhcp, drops } = server({ lastIp: FIRST + 1 });
  const a = bind(dhcp, MAC_A);
  const b = bind(dhcp, MAC_B);
  assert.equal(ask(dhcp, { type: 7, mac: MAC_A, ciaddr: a, serverId: SERVER }), null);
  assert.deepEqual(drops, []);
  assert.equal(dhcp.leases().length, 1);
  assert.equal(ask(dhcp, { type: 1, mac: MAC_C })?.yiaddr, a, 'the pool is full: the released one');
  assert.equal(ask(dhcp, { type: 1, mac: MAC_A })?.yiaddr, undefined, 'and A waits: B and C hold both');
  assert.deepEqual(drops, ['dhcp-pool-exhausted']);
  assert.notEqual(a, b);
});

test('a declined address is not offered again, and the client gets another', () => {
  const { dhcp } = server();
  const a = bind(dhcp, MAC_A);
  assert.equal(ask(dhcp, { type: 4, mac: MAC_A, requested: a, serverId: SERVER }), null);
  assert.equal(ask(dhcp, { type: 1, mac: MAC_A })?.yiaddr, a + 1);
  assert.equal(ask(dhcp, { type: 1, mac: MAC_B })?.yiaddr, a + 2);
});

test('INFORM gets the configuration without a lease, addressed to ciaddr', () => {
  const { dhcp } = server();
  const r = ask(dhcp, { type: 8, ciaddr: 0x0a000263 });
  assert.equal(type(r), 5);
  assert.equal(r?.yiaddr, 0x0a000263);
  assert.equal(r?.broadcast, false);
  assert.equal(readIp(r?.reply ?? new Uint8Array(20), 16), 0, 'yiaddr field zero');
  const o = dhcpOptions(r?.reply ?? new Uint8Array());
  assert.equal(o.has(51), false);
  assert.equal(o.has(6), true);
});

test('a plain BOOTP request gets an address and the boot file, without DHCP options', () => {
  const { dhcp } = server({ bootFile: 'boot/Image', tftpServer: SERVER });
  const r = ask(dhcp, { type: null });
  assert.ok(r !== null);
  assert.equal(r.yiaddr, FIRST);
  assert.equal(readIp(r.reply, 20), SERVER, 'siaddr');
  assert.equal(new TextDecoder().decode(r.reply.subarray(108, 118)), 'boot/Image');
  assert.equal(r.reply[118], 0);
  const o = dhcpOptions(r.reply);
  assert.equal(o.has(53), false);
  assert.equal(new TextDecoder().decode(o.get(67)), 'boot/Image');
  assert.equal(new TextDecoder().decode(o.get(66)), '10.0.2.2');
});

test('a boot file too long for the BOOTP field is only in option 67', () => {
  const long = 'x'.repeat(200);
  const { dhcp } = server({ bootFile: long });
  const r = ask(dhcp, { type: 1 });
  assert.ok(r !== null);
  assert.equal(r.reply[108], 0);
  assert.equal(new TextDecoder().decode(dhcpOptions(r.reply).get(67)), long);
});

test('client hostnames are recorded for leases and looked up with or without the domain', () => {
  const { dhcp, clock } = server();
  const a = bind(dhcp, MAC_A, 'web');
  bind(dhcp, MAC_B, 'db');
  assert.deepEqual(dhcp.leases().map((l) => [l.mac, l.ip, l.hostname]), [
    ['52:54:00:12:34:56', a, 'web'], ['52:54:00:12:34:57', a + 1, 'db'],
  ]);
  assert.equal(dhcp.lookupName('web'), a);
  assert.equal(dhcp.lookupName('WEB.lab.'), a);
  assert.equal(dhcp.lookupName('db.lab'), a + 1);
  assert.equal(dhcp.lookupName('mail'), null);
  clock.t += 3601_000;
  assert.equal(dhcp.lookupName('web'), null, 'the lease ran out');
  assert.deepEqual(dhcp.leases(), []);
});

test('the pool never includes the server, router or DNS address', () => {
  const { dhcp } = server({ firstIp: SERVER, lastIp: 0x0a000204 });
  assert.equal(bind(dhcp, MAC_A), 0x0a000204);
  assert.equal(ask(dhcp, { type: 1, mac: MAC_B }), null);
});

test('malformed messages get no reply and say why', () => {
  const { dhcp, drops } = server();
  const good = dhcpMessage({ type: 1 });
  assert.equal(dhcp.handle(good.subarray(0, 239)), null);
  const reply = good.slice(); reply[0] = 2;
  assert.equal(dhcp.handle(reply), null);
  const cookie = good.slice(); cookie[239] = 0;
  assert.equal(dhcp.handle(cookie), null);
  const hw = good.slice(); hw[2] = 16;
  assert.equal(dhcp.handle(hw), null);
  const overrun = good.slice(0, 244); overrun[240] = 12; overrun[241] = 200;
  assert.equal(dhcp.handle(overrun), null);
  const noLength = good.slice(0, 241); noLength[240] = 12;
  assert.equal(dhcp.handle(noLength), null);
  const badType = dhcpMessage({ type: 9 });
  assert.equal(dhcp.handle(badType), null);
  const shortServerId = good.slice(); shortServerId.set([54, 2, 1, 2, 255], 243);
  assert.equal(dhcp.handle(shortServerId), null);
  assert.equal(ask(dhcp, { type: 3 }), null, 'REQUEST with nothing to go by');
  assert.deepEqual(drops, [
    'dhcp-short', 'dhcp-not-request', 'dhcp-bad-cookie', 'dhcp-hardware-type', 'dhcp-bad-options', 'dhcp-bad-options',
    'dhcp-message-type', 'dhcp-bad-options', 'dhcp-bad-request',
  ]);
});

test('a repeated option is the concatenation of its parts (RFC 3396)', () => {
  const { dhcp } = server();
  const m = dhcpMessage({ type: 1 });
  const withName = new Uint8Array(m.length + 10);
  withName.set(m.subarray(0, 240));
  withName.set([12, 2, 0x77, 0x65, 12, 1, 0x62], 240); // "we" + "b"
  withName.set(m.subarray(240), 247);
  const offer = dhcp.handle(withName);
  assert.ok(offer !== null);
  dhcp.handle(dhcpMessage({ type: 3, requested: offer.yiaddr, serverId: SERVER }));
  assert.equal(dhcp.lookupName('web'), FIRST);
});
