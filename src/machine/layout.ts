/** The physical memory map of the board: QEMU's riscv64 `virt` machine (hw/riscv/virt.c). */
export interface BoardLayout {
  syscon: number; rtc: number; clint: number; plic: number; uart: number; virtio: number; ram: number;
  virtioSlots: number; uartIrq: number; rtcIrq: number; virtioIrq: number;
}

export const VIRT: BoardLayout = {
  syscon: 0x100000,
  rtc: 0x101000,
  clint: 0x2000000,
  plic: 0xc000000,
  uart: 0x10000000,
  virtio: 0x10001000,
  ram: 0x80000000,
  virtioSlots: 8,
  uartIrq: 10,
  rtcIrq: 11,
  virtioIrq: 1,
};
