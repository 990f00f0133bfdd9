/**
 * The ssh key pair Bonsai keeps in the store for `bonsai shell` (like multipass's and lima's own keys):
 * an ed25519 key made with node:crypto and written in OpenSSH's own private key format
 * (PROTOCOL.key in OpenSSH's source: "openssh-key-v1", unencrypted), which every OpenSSH client reads.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';

/** An ed25519 key pair as raw bytes: the 32-byte seed and the 32-byte public key. */
export interface Ed25519Raw { seed: Uint8Array; pub: Uint8Array }

export function ed25519Raw(): Ed25519Raw {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  // The JWK form carries both halves unwrapped: d is the seed, x the public key (RFC 8037).
  const d = privateKey.export({ format: 'jwk' }).d as string;
  const x = publicKey.export({ format: 'jwk' }).x as string;
  return { seed: new Uint8Array(Buffer.from(d, 'base64url')), pub: new Uint8Array(Buffer.from(x, 'base64url')) };
}

/** SSH wire encoding (RFC 4251 5): uint32 big-endian length, then the bytes. */
function sshString(b: Uint8Array | string): Buffer {
  const bytes = typeof b === 'string' ? Buffer.from(b) : Buffer.from(b);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

function publicBlob(pub: Uint8Array): Buffer {
  return Buffer.concat([sshString('ssh-ed25519'), sshString(pub)]);
}

/** `ssh-ed25519 AAAA... comment`, the authorized_keys and known_hosts form. */
export function opensshPublicLine(pub: Uint8Array, comment: string): string {
  return `ssh-ed25519 ${publicBlob(pub).toString('base64')} ${comment}`;
}

/** The unencrypted openssh-key-v1 file (PROTOCOL.key), PEM-armoured as ssh-keygen writes it. */
export function opensshPrivateKey(k: Ed25519Raw, comment: string): string {
  const check = randomBytes(4);
  const secret = Buffer.concat([k.seed, k.pub]); // OpenSSH keeps seed || public as the "private key"
  let priv = Buffer.concat([check, check, sshString('ssh-ed25519'), sshString(k.pub), sshString(secret), sshString(comment)]);
  const pad: number[] = [];
  for (let i = 1; (priv.length + pad.length) % 8 !== 0; i++) pad.push(i);
  priv = Buffer.concat([priv, Buffer.from(pad)]);
  const nkeys = Buffer.alloc(4);
  nkeys.writeUInt32BE(1);
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0'), sshString('none'), sshString('none'), sshString(''), nkeys,
    sshString(publicBlob(k.pub)), sshString(priv),
  ]).toString('base64');
  const lines = body.match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/**
 * Dropbear's ed25519 private key file (dropbear's signkey format: string "ssh-ed25519", then a string of
 * seed || public), which the bundled guest's dropbear reads as its host key.
 */
export function dropbearPrivateKey(k: Ed25519Raw): Uint8Array {
  return new Uint8Array(Buffer.concat([sshString('ssh-ed25519'), sshString(Buffer.concat([k.seed, k.pub]))]));
}
