/**
 * An ethernet link between a virtual NIC and a network backend (the user-mode stack, a switch, a TAP
 * device). Frames are whole ethernet frames without preamble or FCS: 14-byte header, then payload.
 *
 * The NIC calls `send` with each frame the guest transmits; the backend calls the NIC's receiver with
 * each frame for the guest. A backend may call the receiver synchronously from within `send` (the
 * user-mode stack answers ARP, DHCP and TFTP at once, so a polling boot loader is not slowed down) or
 * later, from a host event. A receiver that has no room drops the frame and counts it, as a NIC does;
 * TCP in the backend retransmits.
 */
export type FrameReceiver = (frame: Uint8Array) => void;

/**
 * What a NIC says about its receive side, for a backend that can hold frames back until they fit (the
 * user-mode stack's TCP, which has the data in its send queues anyway). A NIC that offers it never
 * has to drop what such a backend sends; one that does not is taken to have room always.
 */
export interface ReceiveRoom {
  /** Frames the NIC can put into receive buffers the guest has already posted, less those waiting. */
  room(): number;
  /** How many receive buffers the guest can post at most (its ring's size). */
  capacity(): number;
  /** Sets the one function called when room has grown (the guest posted receive buffers). */
  onRoom(ready: () => void): void;
}

export interface NetBackend {
  /** Short name for log lines and --stats, e.g. "user", "switch:lab", "tap:tap0". */
  readonly name: string;
  /** Connects the NIC with MAC `mac` (6 bytes); frames for the guest go to `receive`. Called once per NIC (again after a guest reboot). */
  attach(mac: Uint8Array, receive: FrameReceiver, room?: ReceiveRoom): void;
  /** A frame from the guest. The backend copies what it keeps: the caller may reuse `frame`. */
  send(frame: Uint8Array): void;
  /** Counters for --stats and tests (frames in and out, drops by reason). */
  stats(): Record<string, number>;
  /** Closes host sockets and listeners. */
  close(): Promise<void>;
  /**
   * What a machine snapshot keeps of the backend's view of the guest (plain JSON), and what it does when
   * the guest is put back to such a state: the user network resets the guest's connections (stack.ts).
   * Backends without guest state (a switch port, a TAP device) leave both out.
   */
  save?(): NetBackendState;
  restored?(s: NetBackendState | null): void;
}

export type NetBackendState = { [key: string]: NetBackendState } | NetBackendState[] | string | number | boolean | null;

/** 52:54:00:12:34:NN, QEMU's locally administered prefix, NN = 0x56 + index (QEMU's default is ...:56). */
export function defaultMac(index: number): Uint8Array {
  return Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, (0x56 + index) & 0xff);
}

export function formatMac(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}
