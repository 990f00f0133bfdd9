/*
 * RV64C: every RV64C instruction, written with explicit c. mnemonics under .option rvc, at the edges of its
 * immediates (offsets 0 and the largest, negative and positive, sign-extended c.lui/c.li/c.addi/c.andi, shift
 * amounts 1..63), loads sign-extending, the link of c.jalr = pc + 2, c.j/c.beqz/c.bnez at their maximum
 * reach, and HINT encodings (which must execute as no-ops). Reserved encodings are in illegal.S.
 * Also: a 32-bit instruction at a 2-byte-aligned address, one straddling a 4 KiB page boundary, a jump
 * to a 2-byte-aligned 32-bit instruction, and a compressed instruction patched in place then fence.i.
 * Every compressed test instruction's encoding was checked with objdump; data-dependent expected values were
 * computed with a small Python model (not committed).
 */
#include "env.h"
#include "rv64i/macros.h"
TEST_BEGIN
  .option rvc
  la s0, cdata
  la sp, cdata

  /* c.addi4spn: rd' = sp + nzuimm (4..1020, multiple of 4) */
  c.addi4spn a0, sp, 4
  la t0, cdata + 4
  li TESTNUM, 2
  bne a0, t0, fail
  c.addi4spn s1, sp, 1020
  la t0, cdata + 1020
  li TESTNUM, 3
  bne s1, t0, fail
  c.addi4spn a5, sp, 520
  la t0, cdata + 520
  li TESTNUM, 4
  bne a5, t0, fail

  /* c.lw / c.ld: sign extension, offsets 0..124 / 0..248 */
  c.lw a0, 0(s0);   CHECK(5, a0, 0xffffffffff4a7c15)
  c.lw a1, 4(s0);   CHECK(6, a1, 0x1e3779b9)
  c.lw a5, 124(s0); CHECK(7, a5, 0x63779b97)
  c.lw s1, 64(s0);  CHECK(8, s1, 0xfffffffff99e5cbd)
  c.ld a0, 0(s0);   CHECK(9, a0, 0x1e3779b9ff4a7c15)
  c.ld a2, 248(s0); CHECK(10, a2, 0x46ef372f694f82a0)
  c.ld s1, 136(s0); CHECK(11, s1, 0x9fe68f0a733cb97a)
  mv a3, s0
  c.lw a3, 8(a3);   CHECK(12, a3, 0x7e94f82a)
  /* c.fld: 64 bits into an f register (mstatus.FS is on) */
  c.fld fa0, 0(s0)
  fmv.x.d a0, fa0;  CHECK(13, a0, 0x1e3779b9ff4a7c15)
  c.fld fs1, 248(s0)
  fmv.x.d a0, fs1;  CHECK(14, a0, 0x46ef372f694f82a0)
  c.fld fa5, 40(s0)
  fmv.x.d a0, fa5;  CHECK(15, a0, 0x354cda587bbee87e)

  /* c.sw / c.sd / c.fsd into sbuf, neighbours untouched */
  la s1, sbuf
  li t0, -1
  sd t0, 0(s1); sd t0, 8(s1); sd t0, 120(s1); sd t0, 128(s1); sd t0, 248(s1); sd t0, 240(s1)
  li a4, 0x0123456789abcdef
  c.sw a4, 0(s1)
  ld a0, 0(s1);     CHECK(16, a0, 0xffffffff89abcdef)
  c.sw a4, 124(s1)
  ld a0, 120(s1);   CHECK(17, a0, 0x89abcdefffffffff)
  ld a0, 128(s1);   CHECK(18, a0, -1)
  c.sd a4, 8(s1)
  ld a0, 8(s1);     CHECK(19, a0, 0x0123456789abcdef)
  c.sd a4, 248(s1)
  ld a0, 248(s1);   CHECK(20, a0, 0x0123456789abcdef)
  ld a0, 240(s1);   CHECK(21, a0, -1)
  li a0, 0xfedcba9876543210
  fmv.d.x fa2, a0
  c.fsd fa2, 248(s1)
  ld a0, 248(s1);   CHECK(22, a0, 0xfedcba9876543210)
  c.fsd fa2, 0(s1)
  ld a0, 0(s1);     CHECK(23, a0, 0xfedcba9876543210)

  /* sp-relative: c.lwsp (rd any but x0, offsets 0..252), c.ldsp / c.fldsp (0..504) */
  c.lwsp t0, 0(sp);    CHECK(24, t0, 0xffffffffff4a7c15)
  c.lwsp ra, 252(sp);  CHECK(25, ra, 0x46ef372f)
  c.lwsp t6, 132(sp);  mv a0, t6; CHECK(26, a0, 0x1af1551)
  c.ldsp t1, 504(sp);  CHECK(27, t1, 0xdde6e5f529f0540)
  c.ldsp s11, 0(sp);   CHECK(28, s11, 0x1e3779b9ff4a7c15)
  c.ldsp a0, 256(sp);  CHECK(29, a0, 0xe526b0e9e899feb5)
  c.fldsp ft0, 504(sp)
  fmv.x.d a0, ft0;     CHECK(30, a0, 0xdde6e5f529f0540)
  c.fldsp ft11, 8(sp)
  fmv.x.d a0, ft11;    CHECK(31, a0, 0xbc6ef3727e94f82a)
  /* c.swsp (0..252), c.sdsp / c.fsdsp (0..504) */
  la sp, sbuf
  li t0, -1
  sd t0, 248(sp); sd t0, 256(sp); sd t0, 496(sp); sd t0, 504(sp)
  li t3, 0x1122334455667788
  c.swsp t3, 252(sp)
  ld a0, 248(sp);      CHECK(32, a0, 0x55667788ffffffff)
  ld a0, 256(sp);      CHECK(33, a0, -1)
  c.swsp t3, 0(sp)
  lw a0, 0(sp);        CHECK(34, a0, 0x55667788)
  c.sdsp t3, 504(sp)
  ld a0, 504(sp);      CHECK(35, a0, 0x1122334455667788)
  ld a0, 496(sp);      CHECK(36, a0, -1)
  c.sdsp zero, 496(sp)
  ld a0, 496(sp);      CHECK(37, a0, 0)
  li a0, 0x8000000000000001
  fmv.d.x ft7, a0
  c.fsdsp ft7, 256(sp)
  ld a0, 256(sp);      CHECK(38, a0, 0x8000000000000001)
  c.fsdsp ft7, 0(sp)
  ld a0, 0(sp);        CHECK(39, a0, 0x8000000000000001)
  la sp, cdata

  /* c.nop */
  li a0, 5
  c.nop
  CHECK(40, a0, 5)
  /* c.addi: -32..31, any rd */
  li a0, 100
  c.addi a0, -32;      CHECK(41, a0, 68)
  c.addi a0, 31;       CHECK(42, a0, 99)
  li t0, -1
  c.addi t0, 1;        CHECK(43, t0, 0)
  li t0, 0x7fffffffffffffff
  c.addi t0, 1;        CHECK(44, t0, 0x8000000000000000)
  li t0, 0xffffffff
  c.addi t0, 1;        CHECK(45, t0, 0x100000000)
  /* c.addiw: 32-bit add, sign-extended; imm 0 is sext.w */
  li a0, 0x7fffffff
  c.addiw a0, 1;       CHECK(46, a0, 0xffffffff80000000)
  li a0, 0x12345678ffffffff
  c.addiw a0, 0;       CHECK(47, a0, -1)
  li t5, 0xabcdef0000000001
  c.addiw t5, -2;      CHECK(48, t5, -1)
  li t5, 0x00000000fffffff0
  c.addiw t5, 31;      CHECK(49, t5, 15)
  /* c.li: -32..31 */
  li a0, 12345
  c.li a0, -32;        CHECK(50, a0, -32)
  c.li a0, 31;         CHECK(51, a0, 31)
  c.li t4, 0;          CHECK(52, t4, 0)
  c.li t4, -1;         CHECK(53, t4, -1)
  /* c.addi16sp: -512..496 in multiples of 16 */
  la sp, cdata
  mv a1, sp
  c.addi16sp sp, -512
  sub a0, a1, sp;      CHECK(54, a0, 512)
  c.addi16sp sp, 496
  sub a0, a1, sp;      CHECK(55, a0, 16)
  c.addi16sp sp, 16
  sub a0, a1, sp;      CHECK(56, a0, 0)
  c.addi16sp sp, 32
  sub a0, sp, a1;      CHECK(57, a0, 32)
  la sp, cdata
  /* c.lui: nzimm 1..31 and 0xfffe0..0xfffff (bit 17 sign-extends) */
  c.lui a0, 1;         CHECK(58, a0, 0x1000)
  c.lui a0, 31;        CHECK(59, a0, 0x1f000)
  c.lui t2, 0xfffe0;   CHECK(60, t2, 0xfffffffffffe0000)
  c.lui t2, 0xfffff;   CHECK(61, t2, 0xfffffffffffff000)
  c.lui s1, 0x10;      CHECK(62, s1, 0x10000)
  /* c.srli / c.srai: shamt 1..63 on rd' */
  li a0, 0x8000000000000001
  c.srli a0, 1;        CHECK(63, a0, 0x4000000000000000)
  li a0, 0x8000000000000001
  c.srli a0, 63;       CHECK(64, a0, 1)
  li a0, 0xf0000000f0000000
  c.srli a0, 32;       CHECK(65, a0, 0xf0000000)
  li a0, 0x8000000000000001
  c.srai a0, 1;        CHECK(66, a0, 0xc000000000000000)
  li a0, 0x8000000000000001
  c.srai a0, 63;       CHECK(67, a0, -1)
  li s0, 0x7000000080000000
  c.srai s0, 31;       CHECK(68, s0, 0xe0000001)
  li s0, 0xf000000080000000
  c.srai s0, 32;       CHECK(69, s0, 0xfffffffff0000000)
  /* c.andi: -32..31, sign-extended */
  li a0, 0x123456789abcdeff
  c.andi a0, -32;      CHECK(70, a0, 0x123456789abcdee0)
  li a0, 0x123456789abcdeff
  c.andi a0, 31;       CHECK(71, a0, 0x1f)
  li a0, 0x123456789abcdeff
  c.andi a0, 0;        CHECK(72, a0, 0)
  li a0, 0x8000000000000000
  c.andi a0, -1;       CHECK(73, a0, 0x8000000000000000)
  /* c.sub, c.xor, c.or, c.and, c.subw, c.addw on x8..x15 */
  li a0, 0x0000000100000000; li a1, 1
  c.sub a0, a1;        CHECK(74, a0, 0x00000000ffffffff)
  li a0, 0; li a5, 0x8000000000000000
  c.sub a0, a5;        CHECK(75, a0, 0x8000000000000000)
  li s0, 0xff00ff00ff00ff00; li s1, 0x0ff00ff00ff00ff0
  c.xor s0, s1;        CHECK(76, s0, 0xf0f0f0f0f0f0f0f0)
  li s0, 0xff00ff00ff00ff00; li s1, 0x0ff00ff00ff00ff0
  c.or s0, s1;         CHECK(77, s0, 0xfff0fff0fff0fff0)
  li s0, 0xff00ff00ff00ff00; li s1, 0x0ff00ff00ff00ff0
  c.and s0, s1;        CHECK(78, s0, 0x0f000f000f000f00)
  li a2, 0x0000000080000000; li a3, 1
  c.subw a2, a3;       CHECK(79, a2, 0x7fffffff)
  li a2, 0x1234567800000000; li a3, 1
  c.subw a2, a3;       CHECK(80, a2, -1)
  li a4, 0x7fffffff; li a3, 0xffffffff00000001
  c.addw a4, a3;       CHECK(81, a4, 0xffffffff80000000)
  li a4, 0x12345678ffffffff; li a3, 0x1
  c.addw a4, a3;       CHECK(82, a4, 0)
  li a4, 5
  c.addw a4, a4;       CHECK(83, a4, 10)
  c.sub a4, a4;        CHECK(84, a4, 0)

  /* c.slli: any rd, shamt 1..63 */
  li t0, 0x8000000000000001
  c.slli t0, 1;        CHECK(85, t0, 2)
  li t0, 1
  c.slli t0, 63;       CHECK(86, t0, 0x8000000000000000)
  li ra, 0x00000000ffffffff
  c.slli ra, 32;       CHECK(87, ra, 0xffffffff00000000)
  li s11, 0x123
  c.slli s11, 17;      CHECK(88, s11, 0x2460000)

  /* c.mv (rd = rs2, rs2 != x0), c.add (rd += rs2) */
  li t1, 0xdeadbeefcafef00d
  c.mv t2, t1;         CHECK(89, t2, 0xdeadbeefcafef00d)
  c.mv a0, sp
  la t0, cdata
  li TESTNUM, 90
  bne a0, t0, fail
  li t1, 0x7fffffffffffffff; li t2, 1
  c.add t1, t2;        CHECK(91, t1, 0x8000000000000000)
  li t1, -1
  c.add t1, t1;        CHECK(92, t1, -2)

  /* c.j forward and backward */
  li TESTNUM, 93
  li a0, 0
  c.j 1f
  c.li a0, 1
  c.li a0, 2
1: bnez a0, fail
  c.j 2f
3: c.li a0, 3
  c.j 4f
2: c.j 3b
  j fail
4: CHECK(94, a0, 3)
  /* c.beqz / c.bnez: taken, not taken; a value non-zero only above bit 31 or only at bit 63 is non-zero */
  li TESTNUM, 95
  li a0, 0
  c.beqz a0, 1f
  j fail
1: c.bnez a0, 2f
  c.j 3f
2: j fail
3: li TESTNUM, 96
  li a1, 0x100000000
  c.bnez a1, 1f
  j fail
1: c.beqz a1, 2f
  c.j 3f
2: j fail
3: li TESTNUM, 97
  li s1, 0x8000000000000000
  c.beqz s1, 2f
  c.bnez s1, 1f
2: j fail
1: li TESTNUM, 98
  li s1, -1
  c.beqz s1, 2f
  c.bnez s1, 1f
2: j fail
1: /* backward c.bnez: a countdown loop */
  li a2, 10
  li a3, 0
1: c.addi a3, 3
  c.addi a2, -1
  c.bnez a2, 1b
  CHECK(99, a3, 30)

  /* c.jr, c.jalr (link = pc + 2), including c.jalr ra (target is the old ra) */
  li TESTNUM, 100
  la t0, 1f
  c.jr t0
  j fail
1: la t0, cfunc
  li a0, 7
  la a1, 2f
  c.jalr t0
2: CHECK(101, a0, 8)
  li TESTNUM, 102
  bne ra, a1, fail
  la ra, cfunc
  la a1, 3f
  li a0, 1
  c.jalr ra
3: CHECK(103, a0, 2)
  li TESTNUM, 104
  bne ra, a1, fail
  /* c.jr and c.jalr clear bit 0 of the target too */
  la t0, cfunc
  addi t0, t0, 1
  li a0, 40
  c.jalr t0
  CHECK(105, a0, 41)
  li TESTNUM, 106
  la t0, 1f + 1
  c.jr t0
  j fail
  .balign 4
1: nop

  /* c.ebreak: breakpoint at its own pc (mtval is checked in rv64i/trap-bonsai.S) */
  TRAP_INIT
  TRAP_ARM(107)
97: c.ebreak
  TRAP_LAND(3)
  TRAP_ARM(108)
  c.nop
97: c.ebreak
  TRAP_LAND(3)

  /* HINTs execute as no-ops: c.nop with imm, c.addi imm 0, c.li/c.lui/c.mv/c.add/c.slli with rd = x0,
     c.slli/c.srli/c.srai with shamt 0 */
  li a0, 0x1234
  li s0, 0x8000000000000001
  .half 0x0005            /* c.nop 1 */
  .half 0x1001            /* c.nop -32 */
  .half 0x0501            /* c.addi a0, 0 */
  .half 0x4015            /* c.li x0, 5 */
  .half 0x6005            /* c.lui x0, 1 */
  .half 0x802a            /* c.mv x0, a0 */
  .half 0x902a            /* c.add x0, a0 */
  .half 0x0006            /* c.slli x0, 1 */
  .half 0x0502            /* c.slli a0, 0 */
  .half 0x8001            /* c.srli s0, 0 */
  .half 0x8401            /* c.srai s0, 0 */
  CHECK(109, a0, 0x1234)
  CHECK(110, s0, 0x8000000000000001)
  mv a0, x0
  CHECK(111, a0, 0)

  /* a 32-bit instruction at pc = 2 mod 4, reached in sequence and by a jump */
  .balign 4
  li a0, 0
  c.nop
  .option push
  .option norvc
  addi a0, a0, 0x123
  lui a1, 0x12345
  .option pop
  CHECK(112, a0, 0x123)
  CHECK(113, a1, 0x12345000)
  li a0, 0
  la t0, 2f
  jr t0
  j fail
  .balign 4
  c.nop
  .option push
  .option norvc
2: addi a0, a0, 0x321
  .option pop
  CHECK(114, a0, 0x321)

  /* a compressed instruction patched through a halfword store, then fence.i */
  li TESTNUM, 115
  call cpatch
  CHECK(116, a0, 3)
  la t0, cpatch
  lh t1, tmpl_cli9
  sh t1, 0(t0)
  fence.i
  call cpatch
  CHECK(117, a0, 9)

  /* a 32-bit instruction whose two halves lie in different 4 KiB pages */
  li a0, 0
  call straddle
  CHECK(118, a0, 0x5a5)

  /* c.j and c.beqz/c.bnez at their maximum reach: +2046/-2046/-2048 and +254/-256 */
  .balign 4
  li TESTNUM, 119
  c.j 1f                    /* +2046 */
  .skip 2044
1: c.nop
  li TESTNUM, 120
  j 2f
3: c.j 4f
  .skip 2044
2: c.j 3b                   /* -2046 */
  j fail
4: li TESTNUM, 121
  j 6f
5: c.j 7f
  .skip 2046
6: c.j 5b                   /* -2048 */
  j fail
7: li TESTNUM, 122
  li a0, 0
  c.beqz a0, 1f             /* +254 */
  .skip 252
1: c.nop
  li TESTNUM, 123
  li a0, 1
  j 2f
3: c.j 4f
  .skip 254
2: c.bnez a0, 3b            /* -256 */
  j fail
4: li TESTNUM, 124
  li a0, 1
  c.beqz a0, 1f             /* not taken, +254 */
  c.j 2f
  .skip 250
1: j fail
2: nop

  j pass

cfunc:
  c.addi a0, 1
  c.jr ra
cpatch:
  c.li a0, 3
  c.jr ra

TRAP_HANDLER

  /* straddle: a 32-bit addi whose first half ends one page and whose second half begins the next */
  .section .text.straddle, "ax", @progbits
  .balign 4096
  .skip 4096 - 8
straddle:
  c.nop                     /* page end - 8 */
  c.nop
  c.nop
  .option push
  .option norvc
  addi a0, a0, 0x5a5        /* page end - 2 .. page end + 2 */
  .option pop
  c.jr ra
  .text
TEST_END

  .data
  .balign 8
cdata:
  .dword 0x1e3779b9ff4a7c15
  .dword 0xbc6ef3727e94f82a
  .dword 0x5aa66d2cfddf743f
  .dword 0xf8dde6e57d29f054
  .dword 0x9715609ffc746c69
  .dword 0x354cda587bbee87e
  .dword 0xd3845412fb096493
  .dword 0x71bbcdcb7a53e0a8
  .dword 0xff34785f99e5cbd
  .dword 0xae2ac13e78e8d8d2
  .dword 0x4c623af8f83354e7
  .dword 0xea99b4b1777dd0fc
  .dword 0x88d12e6bf6c84d11
  .dword 0x2708a8247612c926
  .dword 0xc54021def55d453b
  .dword 0x63779b9774a7c150
  .dword 0x1af1551f3f23d65
  .dword 0x9fe68f0a733cb97a
  .dword 0x3e1e08c4f287358f
  .dword 0xdc55827d71d1b1a4
  .dword 0x7a8cfc37f11c2db9
  .dword 0x18c475f07066a9ce
  .dword 0xb6fbefaaefb125e3
  .dword 0x553369636efba1f8
  .dword 0xf36ae31dee461e0d
  .dword 0x91a25cd66d909a22
  .dword 0x2fd9d690ecdb1637
  .dword 0xce1150496c25924c
  .dword 0x6c48ca03eb700e61
  .dword 0xa8043bc6aba8a76
  .dword 0xa8b7bd76ea05068b
  .dword 0x46ef372f694f82a0
  .dword 0xe526b0e9e899feb5
  .dword 0x835e2aa267e47aca
  .dword 0x2195a45ce72ef6df
  .dword 0xbfcd1e15667972f4
  .dword 0x5e0497cfe5c3ef09
  .dword 0xfc3c1188650e6b1e
  .dword 0x9a738b42e458e733
  .dword 0x38ab04fb63a36348
  .dword 0xd6e27eb5e2eddf5d
  .dword 0x7519f86e62385b72
  .dword 0x13517228e182d787
  .dword 0xb188ebe160cd539c
  .dword 0x4fc0659be017cfb1
  .dword 0xedf7df545f624bc6
  .dword 0x8c2f590edeacc7db
  .dword 0x2a66d2c75df743f0
  .dword 0xc89e4c81dd41c005
  .dword 0x66d5c63a5c8c3c1a
  .dword 0x50d3ff4dbd6b82f
  .dword 0xa344b9ad5b213444
  .dword 0x417c3367da6bb059
  .dword 0xdfb3ad2059b62c6e
  .dword 0x7deb26dad900a883
  .dword 0x1c22a093584b2498
  .dword 0xba5a1a4dd795a0ad
  .dword 0x5891940656e01cc2
  .dword 0xf6c90dc0d62a98d7
  .dword 0x95008779557514ec
  .dword 0x33380133d4bf9101
  .dword 0xd16f7aec540a0d16
  .dword 0x6fa6f4a6d354892b
  .dword 0xdde6e5f529f0540
sbuf:
  .skip 512
tmpl_cli9:
  c.li a0, 9

