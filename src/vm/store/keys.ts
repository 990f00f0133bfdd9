import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { BonsaiError } from '../../errors.js';
import { readSmallFileSync } from '../files.js';
import { join } from 'node:path';
import { ed25519Raw, opensshPrivateKey, opensshPublicLine } from '../ssh-keys.js';
import { syncDir, writeFileAtomic } from './atomic.js';
import { storeError } from './errors.js';
import type { Store } from './store.js';

/**
 * The key pair `bonsai shell` logs in with: made once per store (ssh/id_ed25519, mode 0600), its public
 * half given to every VM's guest at boot beside the user's own keys. Both halves are written into a
 * fresh folder that is then renamed into place, so two commands making it at once never mix halves.
 */
export function storeKey(store: Store): { privateKey: string; publicLine: string } {
  const dir = store.sshDir;
  const priv = join(dir, 'id_ed25519'), pub = `${priv}.pub`;
  if (!existsSync(pub)) {
    store.ensureDir(store.home);
    let tmp: string;
    try { tmp = mkdtempSync(join(store.home, '.ssh-')); } catch (e) { throw storeError(e, store.home, 'cannot write'); }
    const k = ed25519Raw();
    writeFileAtomic(join(tmp, 'id_ed25519'), opensshPrivateKey(k, 'bonsai-shell'), 0o600);
    writeFileAtomic(join(tmp, 'id_ed25519.pub'), `${opensshPublicLine(k.pub, 'bonsai-shell')}\n`);
    try { renameSync(tmp, dir); syncDir(store.home); } catch { rmSync(tmp, { recursive: true, force: true }); } // another was first
  }
  const line = new TextDecoder().decode(readSmallFileSync(pub, 64 * 1024, (why) => new BonsaiError(`${pub}: cannot read the store's ssh key: ${why}`)));
  return { privateKey: priv, publicLine: line.trim() };
}
