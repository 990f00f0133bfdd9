import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { VIRT } from '../../src/machine/layout.js';
import { buildDeviceTree } from '../../src/machine/virt-dt.js';

const dtcMissing = spawnSync('dtc', ['--version'], { stdio: 'ignore' }).status !== 0;

function tree(initrd: { start: number; end: number } | null): Uint8Array {
  return buildDeviceTree({
    layout: VIRT, ramBytes: 512 * 1024 * 1024, bootargs: 'console=ttyS0 quiet', initrd,
    rngSeed: new Uint8Array(32).fill(7), timebase: 10_000_000, uartClock: 3686400,
  });
}

test('the board device tree is a valid FDT that dtc decodes without warnings', { skip: dtcMissing ? 'dtc not installed (apt-get install device-tree-compiler)' : false }, () => {
  const r = spawnSync('dtc', ['-I', 'dtb', '-O', 'dts', '-o', '-', '-'], { input: tree({ start: 0x88000000, end: 0x88100000 }) });
  assert.equal(r.status, 0, r.stderr.toString());
  assert.equal(r.stderr.toString(), '', 'no warnings');
  const dts = r.stdout.toString();
  assert.match(dts, /memory@80000000 \{[^}]*reg = <0x00 0x80000000 0x00 0x20000000>/);
  assert.match(dts, /bootargs = "console=ttyS0 quiet"/);
  assert.match(dts, /linux,initrd-start = <0x00 0x88000000>/);
  assert.match(dts, /linux,initrd-end = <0x00 0x88100000>/);
  assert.match(dts, /riscv,isa = "rv64imafdc_zicbom_zicbop_zicboz_zicntr_zicond_zicsr_zifencei_zihintpause_zihpm_zfa_zfh_zfhmin_zcb_zba_zbb_zbc_zbs_zkt_sstc_svadu_svinval_svnapot_svpbmt"/);
  assert.match(dts, /riscv,isa-base = "rv64i"/);
  assert.match(dts, /riscv,isa-extensions = "i\\0m\\0a\\0f\\0d\\0c\\0zicbom\\0[^;]*\\0svpbmt";/);
  assert.match(dts, /mmu-type = "riscv,sv57"/);
  for (const op of ['cbom', 'cboz', 'cbop']) assert.match(dts, new RegExp(`riscv,${op}-block-size = <0x40>`));
  assert.match(dts, /serial@10000000 \{[^}]*compatible = "ns16550a"/);
  assert.match(dts, /stdout-path = "\/soc\/serial@10000000"/);
  assert.match(dts, /rtc@101000 \{[^}]*google,goldfish-rtc/);
  assert.match(dts, /plic@c000000 \{[^}]*riscv,ndev = <0x5f>/);
  for (let i = 0; i < 8; i++) assert.match(dts, new RegExp(`virtio_mmio@${(0x10001000 + i * 0x1000).toString(16)} \\{[^}]*interrupts = <0x0?${(i + 1).toString(16)}>`));
  assert.match(dts, /poweroff \{[^}]*value = <0x5555>/);
  assert.match(dts, /reboot \{[^}]*value = <0x7777>/);
});

test('the device tree has no initrd properties when there is no initrd', () => {
  const text = Buffer.from(tree(null)).toString('latin1');
  assert.ok(!text.includes('linux,initrd-start'));
  assert.ok(text.includes('rng-seed'));
});
