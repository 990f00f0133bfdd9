/**
 * Bytes read from a host socket that the guest has not acknowledged yet: the chunks as the socket gave
 * them, never concatenated, so a segment is one copy out of them and an acknowledgement drops whole
 * chunks without moving the rest.
 */
const EMPTY = new Uint8Array(0);

export class SendQueue {
  private chunks: Uint8Array[] = [];
  /** Index of the first live chunk, and how much of it was already consumed. */
  private head = 0;
  private headOffset = 0;
  /** Bytes queued. */
  length = 0;

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Copies queue bytes [offset, offset + n) into `dst` at `at`. The range must be inside the queue. */
  copyTo(offset: number, n: number, dst: Uint8Array, at: number): void {
    let i = this.head;
    let skip = offset + this.headOffset;
    while (skip >= this.chunks[i].length) skip -= this.chunks[i++].length;
    while (n > 0) {
      const c = this.chunks[i++];
      const take = Math.min(c.length - skip, n);
      dst.set(skip === 0 && take === c.length ? c : c.subarray(skip, skip + take), at);
      at += take;
      n -= take;
      skip = 0;
    }
  }

  /** Drops the first `n` bytes (acknowledged). */
  consume(n: number): void {
    if (n <= 0) return;
    this.length -= n;
    n += this.headOffset;
    while (this.head < this.chunks.length && n >= this.chunks[this.head].length) {
      n -= this.chunks[this.head].length;
      this.chunks[this.head++] = EMPTY;
    }
    this.headOffset = n;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
      this.headOffset = 0;
    } else if (this.head >= 64 && this.head * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.headOffset = 0;
    this.length = 0;
  }
}
