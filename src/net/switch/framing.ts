/**
 * Frames on a switch socket: a 4-byte big-endian length, then one ethernet frame (header and payload,
 * no FCS). Both ends check the length before buffering the frame, so a peer that sends garbage is
 * caught at once rather than after it made us hold 4 GiB.
 */

/** An ethernet header and nothing else. */
export const MIN_FRAME = 14;
/** A 65535-byte IPv4 packet behind a 14-byte header, with room for a VLAN tag. */
export const MAX_FRAME = 65550;

/** The frame with its length prefix, in a new buffer. */
export function encodeFrame(frame: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + frame.length);
  out.writeUInt32BE(frame.length, 0);
  out.set(frame, 4);
  return out;
}

/** Splits a byte stream into frames. After an error it stays failed. */
export class FrameDecoder {
  private pending: Buffer | null = null;
  private failed = false;

  /**
   * Feeds `chunk`, calling `onFrame` for each whole frame (a view into the received bytes, valid for
   * the call). Returns a description of a protocol error, or null.
   */
  push(chunk: Buffer, onFrame: (frame: Uint8Array) => void): string | null {
    if (this.failed) return 'stream already failed';
    let b = chunk;
    if (this.pending !== null) {
      b = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let o = 0;
    while (b.length - o >= 4) {
      const len = b.readUInt32BE(o);
      if (len < MIN_FRAME || len > MAX_FRAME) {
        this.failed = true;
        return `frame length ${len} (allowed ${MIN_FRAME}..${MAX_FRAME})`;
      }
      if (b.length - o - 4 < len) break;
      onFrame(b.subarray(o + 4, o + 4 + len));
      o += 4 + len;
    }
    // Copy the tail so the rest of a large chunk is not kept alive by it.
    if (o < b.length) this.pending = Buffer.from(b.subarray(o));
    return null;
  }

  /** Bytes of an unfinished frame held back. */
  get buffered(): number {
    return this.pending === null ? 0 : this.pending.length;
  }
}
