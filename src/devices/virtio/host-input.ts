/**
 * Bytes from the host waiting for a driver's receive buffers (the virtio consoles): kept in order as the
 * chunks they came in, copied into buffers as they arrive, none dropped.
 */
import type { DescriptorChain } from './queue.js';

export class HostInput {
  /** Chunks, the first consumed from `pos`. */
  private chunks: Uint8Array[] = [];
  private pos = 0;
  private total = 0;

  /** Bytes waiting. */
  get length(): number { return this.total - this.pos; }

  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.chunks.push(bytes.slice());
    this.total += bytes.length;
  }

  /** Fills the writable part of `chain` from the front; returns how many bytes it took. */
  fill(chain: DescriptorChain): number {
    let n = 0;
    while (n < chain.writableLength && this.chunks.length > 0) {
      const chunk = this.chunks[0];
      const take = Math.min(chunk.length - this.pos, chain.writableLength - n);
      n += chain.write(n, chunk.subarray(this.pos, this.pos + take));
      this.pos += take;
      if (this.pos === chunk.length) {
        this.chunks.shift();
        this.total -= chunk.length;
        this.pos = 0;
      }
    }
    return n;
  }

  clear(): void {
    this.chunks = [];
    this.pos = this.total = 0;
  }

  /** Everything waiting, as one array (for save()). */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    this.chunks.forEach((c, i) => {
      const part = i === 0 ? c.subarray(this.pos) : c;
      out.set(part, o);
      o += part.length;
    });
    return out;
  }

  /** Replaces what waits with `bytes` (restore()). */
  set(bytes: Uint8Array): void {
    this.clear();
    this.push(bytes);
  }
}
