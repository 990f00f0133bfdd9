/* Checks shared by the F/D/Zfh/Zfa test programs (after env.h). Each uses t0 and t6. */
#define LDF(f, bits) li t0, bits; fmv.d.x f, t0;
#define CHECKF(num, f, expected) li TESTNUM, num; fmv.x.d t0, f; li t6, expected; bne t0, t6, fail;
#define CHECKX(num, reg, expected) li TESTNUM, num; li t6, expected; bne reg, t6, fail;
/* fflags must hold `expected`; they are cleared for the next case. */
#define CHECKFLAGS(num, expected) li TESTNUM, num; csrrw t0, fflags, zero; li t6, expected; bne t0, t6, fail;
