#define PASS  li a0, 1; la a1, tohost; sd a0, 0(a1); 1: j 1b
#define FAIL(n) li a0, (n<<1)|1; la a1, tohost; sd a0, 0(a1); 1: j 1b
#define TOHOST .section .tohost,"aw",@progbits; .align 6; .globl tohost; .type tohost,@object; .size tohost,8; tohost: .dword 0; .align 6; .globl fromhost; .type fromhost,@object; .size fromhost,8; fromhost: .dword 0
