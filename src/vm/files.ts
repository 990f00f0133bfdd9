import { readFile } from 'node:fs/promises';
import { BonsaiError } from '../errors.js';

/** Reads a file the guest needs; a missing or unreadable one is a one-line BonsaiError naming it. */
export async function readGuestFile(file: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : String((e as Error).message);
    throw new BonsaiError(`${file}: cannot read ${what}: ${why}`);
  }
}

