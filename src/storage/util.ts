/** Small helpers shared by the storage backends. */

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
