#include "regress/regress.h"
# mtvec points where there is no memory: every trap refetches from a faulting address.
.section .text.init
.globl _start
_start:
  csrw mtvec, x0
  ecall
TOHOST
