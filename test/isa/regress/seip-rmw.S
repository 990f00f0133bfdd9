# mip.SEIP: csrs/csrc on mip must read-modify-write only the software-writable SEIP bit (priv 1.12, 3.1.9),
# not the PLIC's external line. Exits through the SiFive test finisher (QEMU virt layout).
#define SYSCON 0x100000
#define FAIL(n) li t0, SYSCON; li t1, ((n) << 16) | 0x3333; sw t1, 0(t0); 1: j 1b
.section .text.init
.globl _start
_start:
  li t0, 0xc000000 + 4*10; li t1, 1; sw t1, 0(t0)       # priority[uart] = 1
  li t0, 0xc002000 + 0x80*1; li t1, 1 << 10; sw t1, 0(t0) # S context of hart 0: enable source 10
  li t0, 0xc200000 + 0x1000*1; sw x0, 0(t0)               # threshold 0
  li t0, 0x10000000; li t1, 2; sb t1, 1(t0)               # UART IER = THR empty
  li t2, 100000
1: csrr t1, mip; andi t1, t1, 1 << 9; bnez t1, 2f
  addi t2, t2, -1; bnez t2, 1b
  FAIL(2)                                                 # the external line never rose
2:
  li t1, 1 << 5; csrs mip, t1                                     # csrs on mip while the SEIP line is high
  li t0, 0x10000000; sb x0, 1(t0)                         # UART IER = 0: the line falls
  li t0, 0xc200000 + 0x1000*1; lw t1, 4(t0); beqz t1, 3f; sw t1, 4(t0)   # claim/complete if still pending
3:
  li t2, 1000
4: addi t2, t2, -1; bnez t2, 4b
  csrr t1, mip; andi t1, t1, 1 << 9
  beqz t1, 5f
  FAIL(3)                                                 # SEIP stuck: the software bit captured the line
5:
  li t0, SYSCON; li t1, 0x5555; sw t1, 0(t0); 6: j 6b
