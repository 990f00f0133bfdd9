/**
 * TFTP server at the gateway (placeholder: being written): RFC 1350 read requests with the blksize
 * (RFC 2348) and tsize (RFC 2349) options, read-only, confined to `--tftp DIR`.
 */
import type { UserNetContext } from './context.js';

export class TftpServer {
  constructor(private readonly ctx: UserNetContext, private readonly root: string) {}

  /** Whether UDP port `port` on the gateway is the server's (69, or a transfer's own port). */
  owns(port: number): boolean { return port === 69 && this.root !== '' && this.ctx !== null; }

  /** A UDP datagram from the guest to the gateway at `dstPort`. Replies go out through ctx.sendIp. */
  input(srcIp: number, srcPort: number, dstPort: number, data: Uint8Array): void {
    void srcIp; void srcPort; void dstPort; void data;
  }

  close(): void {}
}
