import { BonsaiError, fsErrorWords } from '../../errors.js';

/** A filesystem error in the store as one line: what, where, and the cause a user can act on. */
export function storeError(e: unknown, path: string, what: string): BonsaiError {
  if (e instanceof BonsaiError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'EROFS' ? 'the store is on a read-only filesystem (set BONSAI_HOME to a writable folder)' : fsErrorWords(e);
  return new BonsaiError(`${path}: ${what}: ${why}`);
}
