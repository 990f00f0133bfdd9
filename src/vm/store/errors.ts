import { BonsaiError } from '../../errors.js';

/** A filesystem error in the store as one line: what, where, and the cause a user can act on. */
export function storeError(e: unknown, path: string, what: string): BonsaiError {
  if (e instanceof BonsaiError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'EROFS' ? 'the store is on a read-only filesystem (set BONSAI_HOME to a writable folder)'
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
      : code === 'ENOSPC' ? 'no space left on the device'
        : code === 'ENOENT' ? 'no such file or folder'
          : code === 'ENOTDIR' ? 'a part of the path is not a folder'
            : (e as Error).message;
  return new BonsaiError(`${path}: ${what}: ${why}`);
}
