/** An error a user can cause: bad file, bad flag, corrupt image. The CLI prints its one line and exits non-zero. */
export class BonsaiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BonsaiError';
  }
}

/**
 * What a failed file operation (open, stat, read, write, rename) means, in words a user can act on: one
 * table for every part (storage, the store, the files a run reads).
 */
export function fsErrorWords(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT': return 'no such file';
    case 'ENOTDIR': return 'a part of the path is not a directory';
    case 'EISDIR': return 'is a directory';
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'EEXIST': return 'already exists';
    case 'ELOOP': return 'too many levels of symbolic links';
    case 'ENAMETOOLONG': return 'the name is too long';
    case 'ENXIO': return 'no such device or address';
    case 'EROFS': return 'read-only file system';
    case 'ENOSPC': return 'no space left on the device';
    case 'EIO': return 'input/output error';
    case 'EAGAIN': return 'would block (a FIFO or device that is not being read)';
    // Node's own words without the syscall and path it appends (the caller names the file): "EBUSY: resource busy or locked".
    default: return e instanceof Error ? e.message.replace(/, \w+ '.*'$/, '') : String(e);
  }
}
