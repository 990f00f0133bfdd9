import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { checkName, configArchive, defaultSshKeys, makeDropbearEd25519Key, readSshKeys } from '../../src/vm/config-archive.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBv0j5pXz0n6cXfJm7o8VnT0p7cYJt2mXg1l3dRk2a4z user@host';

/** Reads a newc archive back: name → { mode, data }. */
function entries(a: Uint8Array): Map<string, { mode: number; data: string; bytes: Uint8Array }> {
  const out = new Map<string, { mode: number; data: string; bytes: Uint8Array }>();
  const dec = new TextDecoder();
  let o = 0;
  const al = (n: number): number => (n + 3) & ~3;
  for (;;) {
    const h = dec.decode(a.subarray(o, o + 110));
    assert.equal(h.slice(0, 6), '070701');
    const field = (i: number): number => parseInt(h.slice(6 + i * 8, 14 + i * 8), 16);
    const mode = field(1), size = field(6), nameSize = field(11);
    const name = dec.decode(a.subarray(o + 110, o + 110 + nameSize - 1));
    o = al(o + 110 + nameSize);
    const bytes = a.slice(o, o + size);
    const data = dec.decode(bytes);
    o = al(o + size);
    if (name === 'TRAILER!!!') break;
    out.set(name, { mode, data, bytes });
  }
  assert.equal(o, a.length);
  return out;
}

test('the configuration archive holds the hostname and, mode 0600, the keys', () => {
  const e = entries(configArchive({ hostname: 'vm1', sshKeys: [KEY] }));
  assert.equal(e.get('etc/bonsai/hostname')?.data, 'vm1\n');
  assert.equal(e.get('etc/bonsai/authorized_keys')?.data, `${KEY}\n`);
  assert.equal(e.get('etc/bonsai/authorized_keys')?.mode, 0o100600);
  assert.equal(e.get('etc/bonsai')?.mode, 0o040755);
  assert.equal(entries(configArchive({ hostname: 'x', sshKeys: [] })).has('etc/bonsai/authorized_keys'), false);
});

test('the identity (machine-id, host key, random seed) goes in when given, the secrets mode 0600', () => {
  const key = makeDropbearEd25519Key();
  const seed = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
  const e = entries(configArchive({ hostname: 'vm1', sshKeys: [], machineId: '0123456789abcdef0123456789abcdef', hostKey: key.privateKey, randomSeed: seed }));
  assert.equal(e.get('etc/bonsai/machine-id')?.data, '0123456789abcdef0123456789abcdef\n');
  assert.equal(e.get('etc/bonsai/machine-id')?.mode, 0o100644);
  assert.deepEqual(e.get('etc/bonsai/dropbear_ed25519_host_key')?.bytes, key.privateKey);
  assert.equal(e.get('etc/bonsai/dropbear_ed25519_host_key')?.mode, 0o100600);
  assert.deepEqual(e.get('etc/bonsai/random-seed')?.bytes, seed);
  assert.equal(e.get('etc/bonsai/random-seed')?.mode, 0o100600);
  const none = entries(configArchive({ hostname: 'vm1', sshKeys: [] }));
  for (const f of ['machine-id', 'dropbear_ed25519_host_key', 'random-seed']) assert.equal(none.has(`etc/bonsai/${f}`), false);
  assert.throws(() => configArchive({ hostname: 'x', sshKeys: [], machineId: 'ABC' }), /machine-id 'ABC': not 32 lowercase hex digits/);
});

test('a dropbear ed25519 host key: string "ssh-ed25519", string seed || public; the public line matches it', () => {
  const { privateKey, publicLine } = makeDropbearEd25519Key();
  const b = Buffer.from(privateKey);
  assert.equal(b.length, 83);
  assert.equal(b.readUInt32BE(0), 11);
  assert.equal(b.subarray(4, 15).toString(), 'ssh-ed25519');
  assert.equal(b.readUInt32BE(15), 64);
  const seed = b.subarray(19, 51), pub = b.subarray(51, 83);
  const [type, blob] = publicLine.split(' ');
  assert.equal(type, 'ssh-ed25519');
  const wire = Buffer.from(blob, 'base64');
  assert.deepEqual(wire.subarray(wire.length - 32), pub);
  // The seed really is the private half of that public key: sign with one, verify with the other.
  const priv = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: seed.toString('base64url'), x: pub.toString('base64url') }, format: 'jwk' });
  const pubKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: pub.toString('base64url') }, format: 'jwk' });
  const sig = sign(null, Buffer.from('bonsai'), priv);
  assert.equal(verify(null, Buffer.from('bonsai'), pubKey, sig), true);
  assert.notDeepEqual(makeDropbearEd25519Key().privateKey, privateKey);
});

test('GNU cpio lists the configuration archive (when cpio is installed)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-cpio-'));
  const file = join(dir, 'a.cpio');
  writeFileSync(file, configArchive({ hostname: 'vm1', sshKeys: [KEY] }));
  const r = spawnSync('cpio', ['-it', '--quiet', '-F', file], { encoding: 'utf8' });
  if (r.error !== undefined) { t.skip('cpio is not installed'); return; }
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['etc', 'etc/bonsai', 'etc/bonsai/hostname', 'etc/bonsai/authorized_keys']);
});

test('public keys are read and checked; private keys and junk are refused with one line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-keys-'));
  const pub = join(dir, 'k.pub');
  writeFileSync(pub, `# comment\n${KEY}\n\n`);
  assert.deepEqual(readSshKeys(pub), [KEY]);
  const priv = join(dir, 'k');
  writeFileSync(priv, '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n');
  assert.throws(() => readSshKeys(priv), /private key; pass the \.pub file/);
  writeFileSync(pub, 'hello world\n');
  assert.throws(() => readSshKeys(pub), /not an OpenSSH public key line/);
  writeFileSync(pub, '');
  assert.throws(() => readSshKeys(pub), /holds no public key/);
  assert.throws(() => readSshKeys(join(dir, 'missing.pub')), /no such file/);
});

test('a key file is a regular file of at most 64 KiB, and what it holds is quoted without its control characters', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-keys-'));
  assert.throws(() => readSshKeys(dir), /^BonsaiError: --ssh-key .*: is a directory$/);
  assert.throws(() => readSshKeys('/dev/zero'), /--ssh-key \/dev\/zero: is a character device, not a regular file/);
  const big = join(dir, 'big.pub');
  writeFileSync(big, `${KEY}\n`.repeat(2000));
  assert.throws(() => readSshKeys(big), /is \d+(\.\d)? KiB, more than the 64 KiB allowed/);
  const evil = join(dir, 'evil.pub');
  writeFileSync(evil, '\x1b]0;owned\x07\x1b[2Jssh-ed25519\n');
  assert.throws(() => readSshKeys(evil), (e: Error) => {
    assert.doesNotMatch(e.message, /[\x00-\x1f\x7f-\x9f]/);
    assert.match(e.message, /'\\x1b\]0;owned\\x07\\x1b\[2Jssh-ed25519' is not an OpenSSH public key line/);
    return true;
  });
});

test('the default key is ~/.ssh/id_ed25519.pub, else id_rsa.pub, else none', () => {
  const home = mkdtempSync(join(tmpdir(), 'bonsai-home-'));
  assert.deepEqual(defaultSshKeys(home), []);
  mkdirSync(join(home, '.ssh'));
  const rsa = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 me@there';
  writeFileSync(join(home, '.ssh', 'id_rsa.pub'), `${rsa}\n`);
  assert.deepEqual(defaultSshKeys(home), [rsa]);
  writeFileSync(join(home, '.ssh', 'id_ed25519.pub'), `${KEY}\n`);
  assert.deepEqual(defaultSshKeys(home), [KEY]);
});

test('VM names are hostname labels', () => {
  assert.equal(checkName('vm-1'), 'vm-1');
  for (const bad of ['', '-a', 'a-', 'a b', 'a.b', 'x'.repeat(64), 'ä']) assert.throws(() => checkName(bad), /--name/);
});
