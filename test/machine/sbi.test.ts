import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IRQ_SSI, MIP_SSIP, MIP_STIP, Priv } from '../../src/machine/riscv/csr.js';
import { RAM_OFFSET } from '../../src/machine/riscv/layout.js';
import { Machine, RAM_BASE } from '../../src/machine/machine.js';
import {
  BOOT_MEDELEG, BOOT_MIDELEG, bootSupervisor, createSbi, EID_BASE, EID_DBCN, EID_HSM, EID_IPI, EID_RFENCE,
  EID_SRST, EID_TIME, programStimecmp, SBI_IMPL_ID, SBI_IMPL_VERSION, type ResetReason, type ResetType, type SbiEnv,
} from '../../src/machine/firmware/sbi.js';

// --- a few RV64 instructions, encoded by hand ----------------------------------------------------------

const T0 = 5, S1 = 9, A0 = 10, A1 = 11, A2 = 12, A3 = 13, A6 = 16, A7 = 17;
const rtype = (imm: number, rs1: number, f3: number, rd: number, op: number): number =>
  (((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) >>> 0;
const addi = (rd: number, rs1: number, imm: number): number => rtype(imm, rs1, 0, rd, 0x13);
const addiw = (rd: number, rs1: number, imm: number): number => rtype(imm, rs1, 0, rd, 0x1b);
const slli = (rd: number, rs1: number, sh: number): number => rtype(sh, rs1, 1, rd, 0x13);
const lui = (rd: number, imm20: number): number => (((imm20 & 0xfffff) << 12) | (rd << 7) | 0x37) >>> 0;
const csrrw = (rd: number, csr: number, rs1: number): number => rtype(csr, rs1, 1, rd, 0x73);
const csrrs = (rd: number, csr: number, rs1: number): number => rtype(csr, rs1, 2, rd, 0x73);
const csrrsi = (rd: number, csr: number, uimm: number): number => rtype(csr, uimm, 6, rd, 0x73);
const ECALL = 0x00000073;
const WFI = 0x10500073;
const SPIN = 0x0000006f; // j .
const ILLEGAL = 0x00000000;
const jBack = (bytes: number): number => { // jal x0, -bytes (bytes < 2^11)
  const off = -bytes;
  return (((off >>> 20) & 1) << 31 | ((off >>> 1) & 0x3ff) << 21 | ((off >>> 11) & 1) << 20 | ((off >>> 12) & 0xff) << 12 | 0x6f) >>> 0;
};
const CSR_SSTATUS = 0x100, CSR_SIE = 0x104, CSR_STVEC = 0x105, CSR_SCAUSE = 0x142, CSR_TIME = 0xc01;

/** `li rd, value` for any 64-bit value, the way an assembler expands it. */
function li(rd: number, value: bigint | number): number[] {
  const v = BigInt.asIntN(64, BigInt(value));
  const lo = Number(BigInt.asIntN(12, v));
  if (v >= -(2n ** 31n) && v < 2n ** 31n) {
    const hi = Number(BigInt.asIntN(32, v - BigInt(lo)) >> 12n);
    return hi === 0 ? [addi(rd, 0, lo)] : [lui(rd, hi), addiw(rd, rd, lo)];
  }
  const out = [...li(rd, (v - BigInt(lo)) >> 12n), slli(rd, rd, 12)];
  if (lo !== 0) out.push(addi(rd, rd, lo));
  return out;
}

/** An SBI call: a7 = eid, a6 = fid, a0... = args, ecall, then spin. */
function call(eid: number | bigint, fid: number | bigint, ...args: (number | bigint)[]): number[] {
  const code = [...li(A7, eid), ...li(A6, fid)];
  args.forEach((a, i) => code.push(...li(A0 + i, a)));
  return [...code, ECALL, SPIN];
}

// --- a machine booted into S-mode with the built-in SBI ------------------------------------------------

interface Rig {
  m: Machine;
  out: number[];
  input: number[];
  resets: [ResetType, ResetReason][];
  fences: number;
  /** Register `i` as a signed 64-bit value. */
  reg(i: number): bigint;
  /** Runs up to `n` instructions. */
  run(n?: number): number;
  ram: Uint8Array;
}

const DTB_ADDR = RAM_BASE + 0x800000;

function boot(program: number[], at = 0): Rig {
  const m = new Machine({ memoryBytes: 16 << 20, log: () => {}, console: () => {} });
  const mem = new Uint8Array(m.memory.buffer);
  const ram = mem.subarray(RAM_OFFSET, RAM_OFFSET + m.ram.size);
  const rig: Rig = {
    m, out: [], input: [], resets: [], fences: 0, ram,
    reg: (i) => BigInt.asIntN(64, (BigInt(m.hart.x[2 * i + 1] >>> 0) << 32n) | BigInt(m.hart.x[2 * i] >>> 0)),
    run: (n = 200) => m.hart.run(n),
  };
  const env: SbiEnv = {
    consoleWrite: (b) => { rig.out.push(...b); },
    consoleRead: (max) => Uint8Array.from(rig.input.splice(0, max)),
    setTimer: (hart, lo, hi) => programStimecmp(hart, lo, hi, m.clock.now()),
    // Stand-in: the hart offers no public way to set the software-writable SSIP (see the report).
    raiseSoftwareInterrupt: (hart) => hart.raiseSsip(),
    fenceI: () => { rig.fences++; },
    reset: (type, reason) => { rig.resets.push([type, reason]); m.stop({ status: 0, reason: 'stop' }); },
    physMemory: (pa, len) => {
      const off = pa - RAM_BASE;
      return off >= 0 && len <= m.ram.size && off <= m.ram.size - len ? ram.subarray(off, off + len) : null;
    },
  };
  const view = new DataView(ram.buffer, ram.byteOffset);
  program.forEach((insn, i) => view.setUint32(at + i * 4, insn, true));
  m.hart.sbi = createSbi(env);
  bootSupervisor(m.hart, RAM_BASE + at, DTB_ADDR);
  return rig;
}

/** Boots `call(...)`, runs it and returns a0 (error) and a1 (value). */
function sbi(eid: number | bigint, fid: number | bigint, ...args: (number | bigint)[]): { error: bigint; value: bigint; rig: Rig } {
  const rig = boot(call(eid, fid, ...args));
  rig.run();
  return { error: rig.reg(A0), value: rig.reg(A1), rig };
}

// --- boot state ------------------------------------------------------------------------------------------

test('bootSupervisor leaves the hart in S-mode at the entry with a0 = hartid and a1 = the DTB address', () => {
  const rig = boot([SPIN], 0x200000);
  const h = rig.m.hart;
  assert.equal(h.priv, Priv.S);
  assert.equal(h.pcLo >>> 0, RAM_BASE + 0x200000);
  assert.equal(h.pcHi, 0);
  assert.equal(rig.reg(A0), 0n);
  assert.equal(rig.reg(A1), BigInt(DTB_ADDR));
  assert.equal(h.mmu.satpMode, 0, 'satp = 0: translation off');
  assert.equal(h.medeleg, BOOT_MEDELEG);
  assert.equal(h.mideleg, BOOT_MIDELEG);
  assert.equal(h.medeleg & (1 << 9), 0, 'ecall from S stays with the SBI');
  assert.equal(h.mcounteren, -1);
  assert.equal(h.menvcfgHi >>> 0, 0xc0000000, 'menvcfg.STCE and PBMTE: Sstc and Svpbmt on');
  assert.equal(h.menvcfgLo, 0xf0, 'menvcfg.CBZE, CBCFE and CBIE = 11: cbo.* open to S-mode, as OpenSBI leaves them');
  assert.equal(h.mmu.pbmte, true, 'the MMU knows PBMTE');
  assert.equal(h.mmu.pmpcfg[0], 0x1f);
  assert.equal(h.mstatus & 0xa, 0, 'SIE and MIE clear');
  assert.equal(h.mip & MIP_STIP, 0);
});

test('after boot, S-mode reads time, and an illegal instruction traps to its own stvec', () => {
  const handler = 0x100;
  const rig = boot([
    ...li(T0, RAM_BASE + handler), csrrw(0, CSR_STVEC, T0),
    csrrs(A2, CSR_TIME, 0),
    ILLEGAL,
  ]);
  const v = new DataView(rig.ram.buffer, rig.ram.byteOffset);
  v.setUint32(handler, csrrs(A3, CSR_SCAUSE, 0), true);
  v.setUint32(handler + 4, SPIN, true);
  rig.m.hart.invalidateAllCode();
  rig.run();
  assert.equal(rig.m.hart.priv, Priv.S, 'handled in S-mode: delegated');
  assert.equal(rig.reg(A3), 2n, 'scause = illegal instruction');
  assert.ok(rig.reg(A2) >= 0n);
  assert.equal(rig.m.hart.mcauseLo, 0, 'nothing reached M-mode');
});

// --- Base -----------------------------------------------------------------------------------------------

test('Base reports SBI 2.0, the Bonsai implementation, and the hart ids', () => {
  assert.deepEqual([sbi(EID_BASE, 0).error, sbi(EID_BASE, 0).value], [0n, 0x02000000n]);
  assert.equal(sbi(EID_BASE, 1).value, BigInt(SBI_IMPL_ID));
  assert.equal(sbi(EID_BASE, 2).value, BigInt(SBI_IMPL_VERSION));
  assert.equal(sbi(EID_BASE, 4).value, 0n, 'mvendorid');
  assert.equal(sbi(EID_BASE, 5).value, 0n, 'marchid');
  assert.equal(sbi(EID_BASE, 6).value, 1n, 'mimpid');
  assert.equal(sbi(EID_BASE, 7).error, -2n, 'no FID 7');
});

test('probe_extension answers 1 for each extension served and 0 for others', () => {
  for (const eid of [EID_BASE, EID_TIME, EID_IPI, EID_RFENCE, EID_HSM, EID_SRST, EID_DBCN, 0, 1, 2, 8]) {
    const r = sbi(EID_BASE, 3, eid);
    assert.deepEqual([r.error, r.value], [0n, 1n], `EID 0x${eid.toString(16)}`);
  }
  for (const eid of [0x504d55 /* PMU */, 0x535441 /* STA */, 0x3, 0x12345678, -1]) {
    assert.equal(sbi(EID_BASE, 3, eid).value, 0n, `EID 0x${eid.toString(16)}`);
  }
});

test('an unknown extension or function answers SBI_ERR_NOT_SUPPORTED and preserves other registers', () => {
  const r = sbi(0x0a000000, 0, 11, 22, 33);
  assert.deepEqual([r.error, r.value], [-2n, 0n]);
  assert.equal(r.rig.reg(A2), 33n, 'a2 preserved');
  assert.equal(r.rig.reg(A7), 0x0a000000n, 'a7 preserved');
  assert.equal(sbi(EID_TIME, 1).error, -2n);
  assert.equal(sbi(EID_DBCN, 3).error, -2n);
  assert.equal(sbi(0x1_0000_0010n, 0).error, -2n, 'an EID that is not a sign-extended 32-bit value');
});

// --- console --------------------------------------------------------------------------------------------

test('DBCN console_write sends a physical range of RAM to the console and returns the count', () => {
  const text = new TextEncoder().encode('hello, bonsai\n');
  const rig = boot(call(EID_DBCN, 0, text.length, RAM_BASE + 0x3000, 0));
  rig.ram.set(text, 0x3000);
  rig.run();
  assert.deepEqual([rig.reg(A0), rig.reg(A1)], [0n, BigInt(text.length)]);
  assert.equal(new TextDecoder().decode(Uint8Array.from(rig.out)), 'hello, bonsai\n');
});

test('DBCN console_write refuses a range outside RAM or above 2^64', () => {
  assert.equal(sbi(EID_DBCN, 0, 4, 0x1000, 0).error, -3n);
  assert.equal(sbi(EID_DBCN, 0, 4, RAM_BASE + (16 << 20) - 2, 0).error, -3n, 'runs past the end of RAM');
  assert.equal(sbi(EID_DBCN, 0, -1, RAM_BASE, 0).error, -3n, 'absurd length');
  assert.equal(sbi(EID_DBCN, 0, 4, RAM_BASE, 1).error, -3n, 'base_addr_hi set');
  const r = sbi(EID_DBCN, 0, 0, RAM_BASE, 0);
  assert.deepEqual([r.error, r.value, r.rig.out.length], [0n, 0n, 0]);
});

test('DBCN console_write_byte and legacy console_putchar reach the console', () => {
  assert.deepEqual(sbi(EID_DBCN, 2, 0x141).rig.out, [0x41], 'the low byte only');
  const r = sbi(1, 0, 0x42, 0x1234);
  assert.deepEqual(r.rig.out, [0x42]);
  assert.equal(r.error, 0n);
  assert.equal(r.value, 0x1234n, 'legacy calls leave a1 alone');
});

test('DBCN console_read copies pending input into RAM and returns how much', () => {
  const rig = boot(call(EID_DBCN, 1, 8, RAM_BASE + 0x4000, 0));
  rig.input.push(...new TextEncoder().encode('xyz'));
  rig.run();
  assert.deepEqual([rig.reg(A0), rig.reg(A1)], [0n, 3n]);
  assert.equal(new TextDecoder().decode(rig.ram.subarray(0x4000, 0x4003)), 'xyz');
  assert.deepEqual(rig.input, []);
  const none = sbi(EID_DBCN, 1, 8, RAM_BASE + 0x4000, 0);
  assert.deepEqual([none.error, none.value], [0n, 0n]);
  assert.equal(sbi(EID_DBCN, 1, 8, 0x10000000, 0).error, -3n);
});

test('legacy console_getchar returns a byte, or -1 with no input', () => {
  assert.equal(sbi(2, 0).error, -1n);
  const rig = boot(call(2, 0));
  rig.input.push(0xe9, 0x41);
  rig.run();
  assert.equal(rig.reg(A0), 0xe9n);
  assert.deepEqual(rig.input, [0x41]);
});

// --- timer ----------------------------------------------------------------------------------------------

for (const [name, eid] of [['TIME set_timer', EID_TIME], ['legacy set_timer', 0]] as const) {
  test(`${name} makes STIP pending once the clock reaches the deadline, and a later deadline clears it`, () => {
    const probeRig = boot([SPIN]);
    probeRig.m.clock.pause();
    const now = probeRig.m.clock.now();
    const rig = boot(call(eid, 0, now + 1000));
    rig.m.clock.pause();
    rig.m.clock.set(now);
    rig.run();
    const h = rig.m.hart;
    assert.equal(rig.reg(A0), 0n);
    assert.equal(h.mip & MIP_STIP, 0, 'not yet');
    rig.m.clock.set(now + 999);
    h.updateTimer(rig.m.clock.now());
    assert.equal(h.mip & MIP_STIP, 0, 'one tick early');
    rig.m.clock.set(now + 1000);
    h.updateTimer(rig.m.clock.now());
    assert.notEqual(h.mip & MIP_STIP, 0, 'at the deadline');
    assert.equal(h.stimecmpDeadline(), now + 1000, 'the machine sleeps in WFI until then');
    // A second call with (uint64)-1: "never", which clears the pending bit at once.
    const again = boot(call(eid, 0, -1));
    again.m.hart.setInterrupt(5, true);
    again.run();
    assert.equal(again.m.hart.mip & MIP_STIP, 0);
  });
}

test('a guest sleeping in WFI takes the timer interrupt it asked for, then shuts the machine down', async () => {
  const handler = 0x200;
  const main = [
    ...li(T0, RAM_BASE + handler), csrrw(0, CSR_STVEC, T0),
    ...li(T0, 1 << 5), csrrs(0, CSR_SIE, T0), // sie.STIE
    csrrs(A0, CSR_TIME, 0), addi(A0, A0, 2000), // 200 us from now
    ...li(A7, EID_TIME), ...li(A6, 0), ECALL,
    csrrsi(0, CSR_SSTATUS, 2), // sstatus.SIE
    WFI, jBack(4),
  ];
  const rig = boot(main);
  const v = new DataView(rig.ram.buffer, rig.ram.byteOffset);
  [csrrs(S1, CSR_SCAUSE, 0), ...call(EID_SRST, 0, 0, 0)].forEach((insn, i) => v.setUint32(handler + 4 * i, insn, true));
  rig.m.hart.invalidateAllCode();
  const exit = await rig.m.run(1_000_000);
  assert.equal(exit.reason, 'stop');
  assert.equal(rig.reg(S1), -(2n ** 63n) + 5n, 'scause = supervisor timer interrupt');
  assert.deepEqual(rig.resets, [['shutdown', 'none']]);
});

// --- IPI and remote fences ------------------------------------------------------------------------------

test('send_ipi to the calling hart makes SSIP pending; a mask naming absent harts is refused', () => {
  const self = sbi(EID_IPI, 0, 1, 0);
  assert.equal(self.error, 0n);
  assert.notEqual(self.rig.m.hart.mip & MIP_SSIP, 0);
  const all = sbi(EID_IPI, 0, 0, -1);
  assert.equal(all.error, 0n, 'hart_mask_base = -1: every hart');
  assert.notEqual(all.rig.m.hart.mip & MIP_SSIP, 0);
  const none = sbi(EID_IPI, 0, 0, 0);
  assert.equal(none.error, 0n);
  assert.equal(none.rig.m.hart.mip & MIP_SSIP, 0, 'an empty mask sends nothing');
  assert.equal(sbi(EID_IPI, 0, 3, 0).error, -3n, 'hart 1 does not exist');
  assert.equal(sbi(EID_IPI, 0, 1, 1).error, -3n, 'base 1: hart 1');
  assert.equal(sbi(EID_IPI, 0, 1n << 63n, 0).error, -3n);
});

test('remote fences run on the calling hart; hypervisor fences are not supported', () => {
  const fi = sbi(EID_RFENCE, 0, 1, 0);
  assert.deepEqual([fi.error, fi.rig.fences], [0n, 1]);
  assert.equal(sbi(EID_RFENCE, 0, 0, 0).rig.fences, 0, 'empty mask');
  assert.equal(sbi(EID_RFENCE, 1, 1, 0, 0, 0).error, 0n, 'sfence.vma, whole address space');
  assert.equal(sbi(EID_RFENCE, 2, 0, -1, RAM_BASE, 4096, 7).error, 0n, 'sfence.vma with ASID');
  assert.equal(sbi(EID_RFENCE, 1, 2, 0, 0, 0).error, -3n);
  for (const fid of [3, 4, 5, 6]) assert.equal(sbi(EID_RFENCE, fid, 1, 0, 0, 0).error, -2n, `FID ${fid}`);
});

// --- HSM ------------------------------------------------------------------------------------------------

test('HSM: hart 0 is started and cannot be started or stopped; other harts do not exist', () => {
  assert.equal(sbi(EID_HSM, 0, 0, RAM_BASE, 0).error, -6n, 'hart_start(0): already available');
  assert.equal(sbi(EID_HSM, 0, 1, RAM_BASE, 0).error, -3n, 'hart_start(1): no such hart');
  const st = sbi(EID_HSM, 2, 0);
  assert.deepEqual([st.error, st.value], [0n, 0n], 'hart_get_status(0) = STARTED');
  assert.equal(sbi(EID_HSM, 2, 1).error, -3n);
  assert.equal(sbi(EID_HSM, 1).error, -1n, 'hart_stop fails on the only hart');
  assert.equal(sbi(EID_HSM, 4).error, -2n);
});

test('HSM default retentive suspend sleeps like WFI and returns success when an interrupt arrives', () => {
  const rig = boot(call(EID_HSM, 3, 0, 0, 0));
  const h = rig.m.hart;
  h.mie |= MIP_SSIP; // sie.SSIE: the wake-up source
  rig.run();
  assert.equal(h.wfi, true, 'asleep');
  assert.equal(rig.reg(A0), 0n);
  const pc = h.pcLo;
  assert.equal(rig.run(10), 0, 'stays asleep with nothing pending');
  h.setInterrupt(IRQ_SSI, true);
  assert.ok(rig.run(10) > 0, 'wakes');
  assert.equal(h.wfi, false);
  assert.equal(h.pcLo, pc, 'resumes after the ecall (SIE is clear, so no trap)');
  assert.equal(sbi(EID_HSM, 3, 0x80000000, RAM_BASE, 0).error, -2n, 'non-retentive: not supported');
  assert.equal(sbi(EID_HSM, 3, 1, 0, 0).error, -3n, 'reserved type');
  assert.equal(sbi(EID_HSM, 3, 0x10000000, 0, 0).error, -3n, 'platform-specific type this platform lacks');
});

// --- SRST -----------------------------------------------------------------------------------------------

test('SRST passes shutdown and reboots to the board and does not return to the guest', () => {
  const off = sbi(EID_SRST, 0, 0, 0);
  assert.deepEqual(off.rig.resets, [['shutdown', 'none']]);
  assert.equal(off.rig.m.hart.halted, true);
  assert.equal(off.error, 0n, 'a0 untouched: still the reset type the guest passed');
  assert.deepEqual(sbi(EID_SRST, 0, 1, 1).rig.resets, [['cold-reboot', 'system-failure']]);
  assert.deepEqual(sbi(EID_SRST, 0, 2, 0).rig.resets, [['warm-reboot', 'none']]);
  const bad = sbi(EID_SRST, 0, 3, 0);
  assert.deepEqual([bad.error, bad.rig.resets.length], [-3n, 0]);
  assert.equal(sbi(EID_SRST, 0, 0xf0000000, 0).error, -3n, 'vendor reset type');
  assert.equal(sbi(EID_SRST, 0, 0, 2).error, -3n, 'reserved reason');
  assert.deepEqual(sbi(8, 0).rig.resets, [['shutdown', 'none']], 'legacy shutdown');
});
