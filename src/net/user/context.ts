/**
 * What the user-mode stack (like QEMU's slirp) gives each protocol module: its configuration, a way to
 * send IPv4 packets to the guest, and drop counters. The dispatcher (stack.ts) owns ethernet, ARP and
 * IPv4 input; tcp.ts, udp.ts, dhcp.ts, dns.ts and tftp.ts each own one protocol.
 *
 * Addresses are unsigned 32-bit numbers (../ipv4.ts).
 */

/** An inbound port forward: host HOSTADDR:HOSTPORT → guest GUESTPORT (`--forward`). */
export interface PortForward {
  protocol: 'tcp' | 'udp';
  hostAddress: string;
  hostPort: number;
  guestPort: number;
}

export interface UserNetConfig {
  /** 10.0.2.0, prefix 24. */
  network: number;
  prefixLength: number;
  /** 10.0.2.2: the gateway, which is the host (its loopback). */
  gateway: number;
  /** 10.0.2.3: DNS, answered by asking the host's resolver. */
  dns: number;
  /** 10.0.2.15: the address DHCP gives the guest (and that forwards go to). */
  guest: number;
  /** `--net user,restrict`: nothing leaves for the outside; forwards and the gateway's services stay. */
  restrict: boolean;
  forwards: PortForward[];
  /**
   * A TCP forward whose host port is in use is retried in the background for this long instead of failing
   * (0: fail at once). A VM coming in by live migration on the same host waits so for its source to let go.
   */
  busyForwardRetryMs: number;
  /** `--tftp DIR` (absolute), served read-only at the gateway; null when off. */
  tftpRoot: string | null;
  /** `--boot-file NAME`, offered by DHCP (option 67 and the BOOTP file field). */
  bootFile: string | null;
  /** The guest's name, which the DNS answers with its address (null: none). */
  hostname: string | null;
}

export interface UserNetContext {
  readonly config: UserNetConfig;
  /** Sends an IPv4 packet (from buildIpv4) to the guest; the stack wraps it in ethernet to the guest's MAC. */
  sendIp(packet: Uint8Array): void;
  /**
   * How many more frames the guest's NIC takes now without queueing them behind others or dropping
   * them (Infinity when the NIC does not say). TCP data waits for this; answers and control do not.
   */
  rxRoom(): number;
  /** Counts a dropped packet under `reason` (e.g. "tcp-bad-checksum", "tcp-out-of-window"). */
  drop(reason: string): void;
  /** Adds to a named counter (e.g. "tcp-connections"). */
  count(name: string, n?: number): void;
  /** One log line (rate-limited by the caller's sense). */
  log(line: string): void;
}

/** Default configuration, as QEMU's slirp. */
export function defaultUserNetConfig(): UserNetConfig {
  return {
    network: 0x0a000200, prefixLength: 24,
    gateway: 0x0a000202, dns: 0x0a000203, guest: 0x0a00020f,
    restrict: false, forwards: [], busyForwardRetryMs: 0, tftpRoot: null, bootFile: null, hostname: null,
  };
}
