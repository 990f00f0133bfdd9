/** Small helpers shared by the storage backends. */

/** What a failed file operation means, in words a user understands. */
export function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT': return 'no such file';
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'EISDIR': return 'is a directory';
    case 'EROFS': return 'read-only file system';
    case 'ENOSPC': return 'no space left on the device';
    case 'ENOTDIR': return 'a component of the path is not a directory';
    case 'EEXIST': return 'already exists';
    default: return (e as Error).message;
  }
}

/** Throws if a request breaks the BlockBackend contract (a bug in the caller, not a user error). */
export function checkRange(size: number, offset: number, length: number, what: string): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 ||
      offset % 512 !== 0 || length % 512 !== 0 || offset + length > alignUp(size, 512)) {
    throw new RangeError(`${what}: offset ${offset} length ${length} is not 512-aligned within a disk of ${size} bytes`);
  }
}

export function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** Serialises async operations: each runs after the previous one settled. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
