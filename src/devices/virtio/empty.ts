/**
 * An empty virtio-mmio slot (virtio 1.2, 4.2.2): the transport registers of a slot with no device behind
 * it, DeviceID 0, as QEMU's virt board shows for its unused slots. Drivers probe it and skip it.
 */
import type { MmioDevice } from '../mmio.js';

const MAGIC = 0x74726976; // "virt"
const VERSION = 2;
const VENDOR = 0x554d4551; // "QEMU", as QEMU's virt board reports for its transports

export class EmptyVirtioSlot implements MmioDevice {
  read(offset: number, size: number): number {
    if (size !== 4) return 0;
    switch (offset) {
      case 0x000: return MAGIC;
      case 0x004: return VERSION;
      case 0x008: return 0; // DeviceID: none
      case 0x00c: return VENDOR;
      default: return 0;
    }
  }

  write(): void { /* nothing to configure */ }
}
