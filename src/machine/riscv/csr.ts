/** CSR numbers and field masks (RISC-V privileged specification 1.12, chapter 2 and 3). */
export const enum Csr {
  fflags = 0x001, frm = 0x002, fcsr = 0x003,
  cycle = 0xc00, time = 0xc01, instret = 0xc02,
  sstatus = 0x100, sie = 0x104, stvec = 0x105, scounteren = 0x106, senvcfg = 0x10a,
  sscratch = 0x140, sepc = 0x141, scause = 0x142, stval = 0x143, sip = 0x144, stimecmp = 0x14d, satp = 0x180,
  mvendorid = 0xf11, marchid = 0xf12, mimpid = 0xf13, mhartid = 0xf14, mconfigptr = 0xf15,
  mstatus = 0x300, misa = 0x301, medeleg = 0x302, mideleg = 0x303, mie = 0x304, mtvec = 0x305,
  mcounteren = 0x306, menvcfg = 0x30a, mcountinhibit = 0x320,
  mscratch = 0x340, mepc = 0x341, mcause = 0x342, mtval = 0x343, mip = 0x344, mtinst = 0x34a, mtval2 = 0x34b,
  pmpcfg0 = 0x3a0, pmpaddr0 = 0x3b0,
  mcycle = 0xb00, minstret = 0xb02,
}

// mstatus fields (low 32 bits; the high half is fixed: UXL = SXL = 2, plus SD).
export const MSTATUS_SIE = 1 << 1;
export const MSTATUS_MIE = 1 << 3;
export const MSTATUS_SPIE = 1 << 5;
export const MSTATUS_MPIE = 1 << 7;
export const MSTATUS_SPP = 1 << 8;
export const MSTATUS_MPP_SHIFT = 11;
export const MSTATUS_MPP = 3 << 11;
export const MSTATUS_FS_SHIFT = 13;
export const MSTATUS_FS = 3 << 13;
export const MSTATUS_MPRV = 1 << 17;
export const MSTATUS_SUM = 1 << 18;
export const MSTATUS_MXR = 1 << 19;
export const MSTATUS_TVM = 1 << 20;
export const MSTATUS_TW = 1 << 21;
export const MSTATUS_TSR = 1 << 22;
/** UXL = 2 and SXL = 2 (64-bit) in bits 32-35. */
export const MSTATUS_HI_XL = 0xa;
export const MSTATUS_WRITABLE = MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_SPP | MSTATUS_MPP |
  MSTATUS_FS | MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR;
export const SSTATUS_MASK = MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_SUM | MSTATUS_MXR;

// menvcfg/senvcfg fields (privileged spec 1.12, 3.1.18 and 4.1.4; Zicbom/Zicboz; Svpbmt; Sstc).
export const ENVCFG_FIOM = 1 << 0;
/** CBIE (bits 5:4): 00 cbo.inval is illegal, 01 it flushes, 11 it invalidates (10 reserved, kept as written like QEMU). */
export const ENVCFG_CBIE = 3 << 4;
export const ENVCFG_CBCFE = 1 << 6;
export const ENVCFG_CBZE = 1 << 7;
/** High-half bits: PBMTE (62), ADUE (61, read-only one: Svadu always on), STCE (63). */
export const MENVCFG_HI_PBMTE = 1 << 30;
export const MENVCFG_HI_ADUE = 1 << 29;
export const MENVCFG_HI_STCE = 1 << 31;
export const MENVCFG_WRITABLE_LO = ENVCFG_FIOM | ENVCFG_CBIE | ENVCFG_CBCFE | ENVCFG_CBZE;
export const MENVCFG_WRITABLE_HI = (MENVCFG_HI_STCE | MENVCFG_HI_PBMTE) | 0;
export const SENVCFG_WRITABLE = ENVCFG_FIOM | ENVCFG_CBIE | ENVCFG_CBCFE | ENVCFG_CBZE;

// Interrupt bits of mip/mie.
export const IRQ_SSI = 1;
export const IRQ_MSI = 3;
export const IRQ_STI = 5;
export const IRQ_MTI = 7;
export const IRQ_SEI = 9;
export const IRQ_MEI = 11;
export const MIP_SSIP = 1 << IRQ_SSI;
export const MIP_MSIP = 1 << IRQ_MSI;
export const MIP_STIP = 1 << IRQ_STI;
export const MIP_MTIP = 1 << IRQ_MTI;
export const MIP_SEIP = 1 << IRQ_SEI;
export const MIP_MEIP = 1 << IRQ_MEI;
export const S_INTERRUPTS = MIP_SSIP | MIP_STIP | MIP_SEIP;
export const ALL_INTERRUPTS = S_INTERRUPTS | MIP_MSIP | MIP_MTIP | MIP_MEIP;

/** Exception causes (privileged spec table 3.6). */
export const enum Cause {
  InsnMisaligned = 0, InsnAccess = 1, IllegalInsn = 2, Breakpoint = 3, LoadMisaligned = 4, LoadAccess = 5,
  StoreMisaligned = 6, StoreAccess = 7, EcallU = 8, EcallS = 9, EcallM = 11,
  InsnPageFault = 12, LoadPageFault = 13, StorePageFault = 15,
}
/** medeleg: ecall from M (bit 11) can never be delegated; bits 10 and 14 are reserved. */
export const MEDELEG_WRITABLE = 0xb3ff;

export const enum Priv { U = 0, S = 1, M = 3 }

/** misa (MXL = 2 with A, C, D, F, I, M, S, U) comes from the one list of extensions. */
export { MISA_HI, MISA_LO } from './isa.js';
