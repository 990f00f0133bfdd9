/**
 * The device tree of Bonsai's virt board, generated from the machine's actual configuration (memory,
 * harts, ISA string, devices present, /chosen), laid out like QEMU's hw/riscv/virt.c so that software
 * written for QEMU's board finds what it expects.
 */
import { DtNode, encodeDtb, u64 } from './dtb.js';
import type { BoardLayout } from './layout.js';

export interface DtConfig {
  layout: BoardLayout;
  ramBytes: number;
  bootargs: string;
  initrd: { start: number; end: number } | null;
  rngSeed: Uint8Array;
  /** Timebase of mtime (Hz). */
  timebase: number;
  uartClock: number;
}

// Multi-letter extensions in the canonical order (unprivileged spec, "ISA Extension Naming Conventions"): Z names by
// the category letter's place in IMAFDQLCBKJTPVH, then alphabetically; then S names. Zkt declares data-independent
// timing of the listed integer instructions (the interpreter's timing is not observable by the guest anyway).
export const ISA_STRING = 'rv64imafdc_zicntr_zicond_zicsr_zifencei_zihintpause_zcb_zba_zbb_zbc_zbs_zkt_sstc';

export function buildDeviceTree(c: DtConfig): Uint8Array {
  const L = c.layout;
  const root = new DtNode('');
  root.prop('#address-cells', 2).prop('#size-cells', 2).prop('compatible', 'riscv-virtio').prop('model', 'riscv-virtio,qemu');

  const chosen = root.add('chosen');
  chosen.prop('bootargs', c.bootargs);
  chosen.prop('stdout-path', `/soc/serial@${L.uart.toString(16)}`);
  chosen.prop('rng-seed', c.rngSeed);
  if (c.initrd !== null) {
    chosen.prop('linux,initrd-start', u64(c.initrd.start));
    chosen.prop('linux,initrd-end', u64(c.initrd.end));
  }

  root.add(`memory@${L.ram.toString(16)}`).prop('device_type', 'memory').prop('reg', [u64(L.ram), u64(c.ramBytes)]);

  const cpus = root.add('cpus');
  cpus.prop('#address-cells', 1).prop('#size-cells', 0).prop('timebase-frequency', c.timebase);
  const cpu = cpus.add('cpu@0');
  const intc = new DtNode('interrupt-controller');
  cpu.prop('device_type', 'cpu').prop('reg', 0).prop('status', 'okay').prop('compatible', 'riscv')
    .prop('riscv,isa', ISA_STRING).prop('mmu-type', 'riscv,sv48');
  cpu.child(intc);
  intc.prop('#address-cells', 0).prop('#interrupt-cells', 1).prop('interrupt-controller', null).prop('compatible', 'riscv,cpu-intc');
  const cpuMap = cpus.add('cpu-map').add('cluster0').add('core0');
  cpuMap.prop('cpu', cpu);

  const soc = root.add('soc');
  soc.prop('#address-cells', 2).prop('#size-cells', 2).prop('compatible', 'simple-bus').prop('ranges', null);

  const plic = new DtNode(`plic@${L.plic.toString(16)}`);
  // hart 0: M external (11), S external (9); timer/software: M (7, 3)
  soc.add(`clint@${L.clint.toString(16)}`).prop('compatible', ['sifive,clint0', 'riscv,clint0'])
    .prop('reg', [u64(L.clint), u64(0x10000)]).prop('interrupts-extended', [intc, 3, intc, 7]);
  soc.child(plic);
  plic.prop('#interrupt-cells', 1).prop('#address-cells', 0).prop('compatible', ['sifive,plic-1.0.0', 'riscv,plic0'])
    .prop('reg', [u64(L.plic), u64(0x600000)]).prop('interrupt-controller', null)
    .prop('interrupts-extended', [intc, 11, intc, 9]).prop('riscv,ndev', 95);

  soc.add(`serial@${L.uart.toString(16)}`).prop('compatible', 'ns16550a').prop('reg', [u64(L.uart), u64(0x100)])
    .prop('clock-frequency', c.uartClock).prop('interrupt-parent', plic).prop('interrupts', L.uartIrq);

  soc.add(`rtc@${L.rtc.toString(16)}`).prop('compatible', 'google,goldfish-rtc').prop('reg', [u64(L.rtc), u64(0x1000)])
    .prop('interrupt-parent', plic).prop('interrupts', L.rtcIrq);

  const test = new DtNode(`test@${L.syscon.toString(16)}`);
  soc.child(test);
  test.prop('compatible', ['sifive,test1', 'sifive,test0', 'syscon']).prop('reg', [u64(L.syscon), u64(0x1000)]);
  root.add('poweroff').prop('compatible', 'syscon-poweroff').prop('regmap', test).prop('offset', 0).prop('value', 0x5555);
  root.add('reboot').prop('compatible', 'syscon-reboot').prop('regmap', test).prop('offset', 0).prop('value', 0x7777);

  // virtio-mmio slots in address order, as in QEMU's blob: Linux probes them in this order, so the first
  // disk given is the guest's vda.
  for (let i = 0; i < L.virtioSlots; i++) {
    const base = L.virtio + i * 0x1000;
    soc.add(`virtio_mmio@${base.toString(16)}`).prop('compatible', 'virtio,mmio').prop('reg', [u64(base), u64(0x1000)])
      .prop('interrupt-parent', plic).prop('interrupts', L.virtioIrq + i);
  }
  return encodeDtb(root, { bootCpuId: 0, padding: 1024 });
}
