/**
 * TCP NAT (placeholder: being written). Connections the guest opens are proxied through host sockets;
 * `--forward tcp:...` listeners open connections into the guest.
 */
import type { UserNetContext } from './context.js';

export class TcpNat {
  constructor(private readonly ctx: UserNetContext) {}

  /** Starts the `--forward tcp:` listeners; rejects with a BonsaiError when one cannot listen. */
  async listen(): Promise<void> {}

  /** A TCP segment from the guest: the IPv4 header was checked; `segment` is the TCP header and data. */
  input(src: number, dst: number, segment: Uint8Array): void {
    void src; void dst; void segment; void this.ctx;
  }

  async close(): Promise<void> {}
}
