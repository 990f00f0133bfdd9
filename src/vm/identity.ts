/**
 * A VM's identity: what makes it distinct from its clones. Made new for every `create` and `clone`, kept in
 * vm.json, applied at every boot through the config archive (hostname, machine-id, ssh host key, random
 * seed) and the network cards (MAC).
 */
import { randomBytes } from 'node:crypto';
import type { Identity } from './spec.js';
import { dropbearPrivateKey, ed25519Raw, opensshPublicLine } from './ssh-keys.js';

export function newIdentity(name: string): Identity {
  const key = ed25519Raw();
  // 52:54:00 is the prefix QEMU gives its cards; the rest is random, so clones on one segment differ.
  const mac = [0x52, 0x54, 0x00, ...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  return {
    mac,
    machineId: randomBytes(16).toString('hex'),
    hostKey: Buffer.from(dropbearPrivateKey(key)).toString('base64'),
    hostKeyPublic: opensshPublicLine(key.pub, `root@${name}`),
    randomSeed: randomBytes(32).toString('base64'),
  };
}

export function macBytes(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(':').map((h) => Number.parseInt(h, 16)));
}
