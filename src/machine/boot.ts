/**
 * Loading a machine's RAM for boot, as QEMU's virt board does (hw/riscv/boot.c):
 *  - firmware `none`: the kernel (ELF at its physical addresses, or an Image at the start of RAM) runs in
 *    M-mode from its entry;
 *  - firmware `builtin`: Bonsai's own SBI; the kernel is entered in S-mode (an Image at RAM + text_offset,
 *    normally 0x80200000; a raw binary such as U-Boot's S-mode u-boot.bin at 0x80200000);
 *  - a firmware file (OpenSBI fw_dynamic/fw_jump, ...): loaded at 0x80000000 and entered in M-mode with
 *    a0 = hartid, a1 = DTB, a2 = a fw_dynamic info block; the kernel goes at the next 2 MiB boundary.
 * The DTB sits at the top of RAM (aligned down to 2 MiB), the initrd at kernel + min(RAM/2, 128 MiB).
 */
import { randomBytes } from 'node:crypto';
import { UART_CLOCK_HZ } from '../devices/uart16550.js';
import { BonsaiError } from '../errors.js';
import { TIMEBASE_HZ } from './clock.js';
import { parseElf } from './elf.js';
import { bootSupervisor } from './firmware/sbi.js';
import { VIRT } from './layout.js';
import { detectKernel, gunzipKernel, parseRiscvImage } from './loader.js';
import { Machine } from './machine.js';
import { buildDeviceTree } from './virt-dt.js';

export interface GuestFile { name: string; bytes: Uint8Array }

export interface BootConfig {
  firmware: 'none' | 'builtin' | GuestFile;
  kernel: GuestFile;
  initrd?: GuestFile;
  /** Appended to the (inflated) initrd: a second cpio archive with the guest's configuration. */
  initrdAppend?: Uint8Array;
  append: string;
}

const MiB = 1024 * 1024;
const TWO32 = 4294967296;
const alignUp = (v: number, a: number): number => Math.ceil(v / a) * a;
const alignDown = (v: number, a: number): number => Math.floor(v / a) * a;
const hex = (v: number): string => `0x${v.toString(16)}`;
const isGzip = (b: Uint8Array): boolean => b.length > 2 && b[0] === 0x1f && b[1] === 0x8b;

/** fw_dynamic_info (OpenSBI include/sbi/fw_dynamic.h, version 2): magic "OSBI", version, next stage. */
function fwDynamicInfo(nextAddr: number): Uint8Array {
  const b = new Uint8Array(48);
  const v = new DataView(b.buffer);
  const u64 = (off: number, value: number): void => { v.setUint32(off, value % TWO32, true); v.setUint32(off + 4, Math.floor(value / TWO32), true); };
  u64(0, 0x4942534f); // magic
  u64(8, 2); // version
  u64(16, nextAddr); // next_addr
  u64(24, 1); // next_mode: S
  u64(32, 0); // options
  u64(40, 0); // boot_hart (version 2): 0 = any
  return b;
}

/** Loads a kernel file to RAM; returns its entry and end. `imageBase` is where a flat Image goes. */
function loadKernel(m: Machine, k: GuestFile, imageBase: (textOffset: number) => number, allowRaw = false): { entry: number; end: number } {
  let bytes = k.bytes;
  const { kind } = detectKernel(bytes, k.name, allowRaw);
  if (kind === 'gzip') bytes = gunzipKernel(bytes, k.name, m.ram.size);
  if (kind === 'raw') {
    const base = imageBase(0);
    if (!m.writePhys(base, bytes)) throw new BonsaiError(`${k.name}: ${bytes.length} bytes at ${hex(base)} do not fit in RAM`);
    return { entry: base, end: base + bytes.length };
  }
  if (kind === 'elf' || detectKernel(bytes, k.name).kind === 'elf') {
    const elf = parseElf(bytes, k.name);
    let end = 0;
    for (const seg of elf.segments) {
      if (!m.writePhys(seg.paddr, seg.data) || !m.writePhys(seg.paddr + seg.data.length, new Uint8Array(seg.memSize - seg.data.length))) {
        throw new BonsaiError(`${k.name}: segment at ${hex(seg.paddr)} (${seg.memSize} bytes) lies outside RAM ` +
          `(${hex(VIRT.ram)}-${hex(VIRT.ram + m.ram.size)}); try a larger --memory`);
      }
      end = Math.max(end, seg.paddr + seg.memSize);
    }
    return { entry: elf.entry, end };
  }
  const img = parseRiscvImage(bytes, k.name);
  const base = imageBase(img.textOffset);
  if (!m.writePhys(base, img.data) || base + img.imageSize > VIRT.ram + m.ram.size) {
    throw new BonsaiError(`${k.name}: the kernel (${img.imageSize} bytes at ${hex(base)}) does not fit in ${m.ram.size / MiB} MiB of RAM`);
  }
  return { entry: base, end: base + img.imageSize };
}

/** Firmware: an ELF at its physical addresses, or a raw binary (fw_dynamic.bin) at the start of RAM. */
function loadFirmware(m: Machine, f: GuestFile): { entry: number; end: number } {
  if (f.bytes.length >= 4 && f.bytes[0] === 0x7f && f.bytes[1] === 0x45 && f.bytes[2] === 0x4c && f.bytes[3] === 0x46) {
    return loadKernel(m, f, () => VIRT.ram);
  }
  if (f.bytes.length === 0) throw new BonsaiError(`${f.name}: the firmware file is empty`);
  if (!m.writePhys(VIRT.ram, f.bytes)) throw new BonsaiError(`${f.name}: the firmware (${f.bytes.length} bytes) does not fit in RAM`);
  return { entry: VIRT.ram, end: VIRT.ram + f.bytes.length };
}

/** Fills RAM and sets the hart up to boot `cfg`. */
export function boot(m: Machine, cfg: BootConfig): void {
  const ramEnd = VIRT.ram + m.ram.size;
  let kernelEntry: number;
  let kernelEnd: number;
  let fwDynamic = -1;
  if (typeof cfg.firmware === 'object') {
    const fw = loadFirmware(m, cfg.firmware);
    const kernelBase = alignUp(fw.end, 2 * MiB);
    const k = loadKernel(m, cfg.kernel, () => kernelBase, true);
    kernelEntry = k.entry; kernelEnd = k.end;
    fwDynamic = fw.entry; // marks "firmware present"; the info block is placed below
    m.hart.reset(fw.entry % TWO32 | 0, Math.floor(fw.entry / TWO32) | 0);
  } else if (cfg.firmware === 'builtin') {
    // A raw binary (U-Boot's S-mode u-boot.bin) goes where QEMU's -kernel puts a 64-bit S-mode payload
    // under its default firmware: RAM + 2 MiB (hw/riscv/boot.c, riscv_calc_kernel_start_addr).
    const k = loadKernel(m, cfg.kernel, (textOffset) => VIRT.ram + (textOffset || 2 * MiB), true);
    kernelEntry = k.entry; kernelEnd = k.end;
  } else {
    const k = loadKernel(m, cfg.kernel, () => VIRT.ram);
    kernelEntry = k.entry; kernelEnd = k.end;
    m.hart.reset(k.entry % TWO32 | 0, Math.floor(k.entry / TWO32) | 0);
  }

  let initrd: { start: number; end: number } | null = null;
  if (cfg.initrd !== undefined) {
    // A gzip-compressed initramfs is inflated here: the host does in milliseconds what costs the guest
    // tens of millions of interpreted instructions (Linux unpacks an uncompressed cpio just as well).
    const bytes = isGzip(cfg.initrd.bytes) ? gunzipKernel(cfg.initrd.bytes, cfg.initrd.name, m.ram.size) : cfg.initrd.bytes;
    const start = alignUp(Math.max(kernelEnd, kernelEntry + Math.min(m.ram.size / 2, 128 * MiB)), 4096);
    // The appended archive starts 4-byte aligned, as newc archives do; the kernel skips the zero padding
    // (RAM is fresh, so the gap is zero) and unpacks it over the first.
    const extra = cfg.initrdAppend ?? new Uint8Array(0);
    const at = extra.length === 0 ? start + bytes.length : alignUp(start + bytes.length, 4);
    if (!m.writePhys(start, bytes) || !m.writePhys(at, extra)) {
      throw new BonsaiError(`${cfg.initrd.name}: the initrd (${at + extra.length - start} bytes) does not fit in ${m.ram.size / MiB} MiB of RAM after the kernel`);
    }
    initrd = { start, end: at + extra.length };
  }

  const dtb = buildDeviceTree({
    layout: VIRT, ramBytes: m.ram.size, bootargs: cfg.append, initrd,
    rngSeed: new Uint8Array(randomBytes(32)), timebase: TIMEBASE_HZ, uartClock: UART_CLOCK_HZ,
  });
  const dtbAddr = alignDown(Math.min(ramEnd, 0x100000000) - dtb.length, 2 * MiB);
  if (dtbAddr < kernelEnd || (initrd !== null && dtbAddr < initrd.end)) {
    throw new BonsaiError(`${m.ram.size / MiB} MiB of RAM is too small for the kernel, initrd and device tree; try a larger --memory`);
  }
  m.writePhys(dtbAddr, dtb);
  m.dtb = dtb;

  const x = m.hart.x;
  const setReg = (r: number, v: number): void => { x[2 * r] = v % TWO32 | 0; x[2 * r + 1] = Math.floor(v / TWO32) | 0; };
  if (cfg.firmware === 'builtin') {
    bootSupervisor(m.hart, kernelEntry, dtbAddr);
    m.useBuiltinSbi();
  } else {
    setReg(10, 0); // a0: hart id
    setReg(11, dtbAddr); // a1: device tree
    if (fwDynamic >= 0) {
      const info = fwDynamicInfo(kernelEntry);
      const infoAddr = dtbAddr - 4096;
      m.writePhys(infoAddr, info);
      setReg(12, infoAddr); // a2: fw_dynamic info
    }
  }
}
