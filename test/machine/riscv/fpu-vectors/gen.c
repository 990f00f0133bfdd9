/*
 * Reference vectors for Bonsai's FPU (src/machine/riscv/fpu.ts), made by a real RISC-V implementation.
 *
 * Runs as a RISC-V Linux program (under qemu-riscv64 -cpu rv64,Zfh=true, or on hardware with Zfh): for a
 * deterministic set of inputs (hand-picked edge cases plus pseudo-random values shaped to hit cancellation,
 * halfway cases, underflow, overflow and integer limits) it executes each F/D/Zfh instruction with each static
 * rounding mode and records the operands, the result bits and the fflags (cleared before, read after).
 * Zfa's instructions are not executed (QEMU 7.2 lacks them): C models of the Zfa chapter give their results.
 * Half-precision ops come after the F/D ones and draw their random numbers after them, so adding them left
 * the F/D records exactly as they were.
 * Writes the binary format below to stdout; gen.sh compresses it into vectors.bin.gz.
 *
 * Format (little-endian):
 *   "BFPV1\n", u16 op count, per op: u8 name length, name, u8 signature length, signature (result type then
 *   operand types: S single, D double, H half, X integer register), u8 rounded (1: run in the five modes RNE..RMM)
 *   u32 record count, then records:
 *   u8 op, u8 wide (1: S operands are stored as raw 64-bit register values, possibly not NaN-boxed),
 *   operands (S: 4 bytes, H: 2, boxed, or 8 when wide; D, X: 8 bytes), the RNE result (S: 4 bytes, H: 2, D, X: 8),
 *   u8 fflags per mode, then for modes RTZ..RMM an i8 difference from the RNE result bits, or -128 followed
 *   by the full result.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

typedef uint64_t (*fn_t)(uint64_t, uint64_t, uint64_t, unsigned *);

/* FP operands go in ft0, ft1, ft2 (moved from a, b, c with fmv.d.x), an integer operand is %2 (= a).
   An FP result is left in ft3, an integer result in %0. */
#define ASM_F(INSN)                                                                              \
  __asm__ volatile("fmv.d.x ft0, %2\n\tfmv.d.x ft1, %3\n\tfmv.d.x ft2, %4\n\tfsflags zero\n\t" INSN \
                   "\n\tfrflags %1\n\tfmv.x.d %0, ft3"                                           \
                   : "=&r"(r), "=&r"(fl)                                                         \
                   : "r"(a), "r"(b), "r"(c)                                                      \
                   : "ft0", "ft1", "ft2", "ft3")
#define ASM_X(INSN)                                                                              \
  __asm__ volatile("fmv.d.x ft0, %2\n\tfmv.d.x ft1, %3\n\tfmv.d.x ft2, %4\n\tfsflags zero\n\t" INSN \
                   "\n\tfrflags %1"                                                              \
                   : "=&r"(r), "=&r"(fl)                                                         \
                   : "r"(a), "r"(b), "r"(c)                                                      \
                   : "ft0", "ft1", "ft2", "ft3")
#define DEF(NAME, KIND, INSN)                                                  \
  static uint64_t NAME(uint64_t a, uint64_t b, uint64_t c, unsigned *f) {     \
    uint64_t r, fl;                                                            \
    ASM_##KIND(INSN);                                                          \
    *f = (unsigned)fl;                                                         \
    return r;                                                                  \
  }
/* Five functions, one per static rounding mode: mnemonic form (PRE rm POST)... */
#define DEF5(NAME, KIND, PRE, POST)          \
  DEF(NAME##_0, KIND, PRE "rne" POST)        \
  DEF(NAME##_1, KIND, PRE "rtz" POST)        \
  DEF(NAME##_2, KIND, PRE "rdn" POST)        \
  DEF(NAME##_3, KIND, PRE "rup" POST)        \
  DEF(NAME##_4, KIND, PRE "rmm" POST)
/* ...or raw .insn form for instructions whose mnemonic takes no rounding mode in binutils (exact ones). */
#define DEF5I(NAME, KIND, F7, RD, RS1, RS2)                                           \
  DEF(NAME##_0, KIND, ".insn r 0x53, 0, " F7 ", " RD ", " RS1 ", " RS2)               \
  DEF(NAME##_1, KIND, ".insn r 0x53, 1, " F7 ", " RD ", " RS1 ", " RS2)               \
  DEF(NAME##_2, KIND, ".insn r 0x53, 2, " F7 ", " RD ", " RS1 ", " RS2)               \
  DEF(NAME##_3, KIND, ".insn r 0x53, 3, " F7 ", " RD ", " RS1 ", " RS2)               \
  DEF(NAME##_4, KIND, ".insn r 0x53, 4, " F7 ", " RD ", " RS1 ", " RS2)
#define FNS5(NAME) { NAME##_0, NAME##_1, NAME##_2, NAME##_3, NAME##_4 }

/* Rounded arithmetic. */
DEF5(fadd_s, F, "fadd.s ft3, ft0, ft1, ", "")
DEF5(fsub_s, F, "fsub.s ft3, ft0, ft1, ", "")
DEF5(fmul_s, F, "fmul.s ft3, ft0, ft1, ", "")
DEF5(fdiv_s, F, "fdiv.s ft3, ft0, ft1, ", "")
DEF5(fsqrt_s, F, "fsqrt.s ft3, ft0, ", "")
DEF5(fadd_d, F, "fadd.d ft3, ft0, ft1, ", "")
DEF5(fsub_d, F, "fsub.d ft3, ft0, ft1, ", "")
DEF5(fmul_d, F, "fmul.d ft3, ft0, ft1, ", "")
DEF5(fdiv_d, F, "fdiv.d ft3, ft0, ft1, ", "")
DEF5(fsqrt_d, F, "fsqrt.d ft3, ft0, ", "")
DEF5(fmadd_s, F, "fmadd.s ft3, ft0, ft1, ft2, ", "")
DEF5(fmsub_s, F, "fmsub.s ft3, ft0, ft1, ft2, ", "")
DEF5(fnmsub_s, F, "fnmsub.s ft3, ft0, ft1, ft2, ", "")
DEF5(fnmadd_s, F, "fnmadd.s ft3, ft0, ft1, ft2, ", "")
DEF5(fmadd_d, F, "fmadd.d ft3, ft0, ft1, ft2, ", "")
DEF5(fmsub_d, F, "fmsub.d ft3, ft0, ft1, ft2, ", "")
DEF5(fnmsub_d, F, "fnmsub.d ft3, ft0, ft1, ft2, ", "")
DEF5(fnmadd_d, F, "fnmadd.d ft3, ft0, ft1, ft2, ", "")
/* Conversions between formats and from/to integers. */
DEF5(fcvt_s_d, F, "fcvt.s.d ft3, ft0, ", "")
DEF5I(fcvt_d_s, F, "0x21", "ft3", "ft0", "f0")
DEF5(fcvt_s_w, F, "fcvt.s.w ft3, %2, ", "")
DEF5(fcvt_s_wu, F, "fcvt.s.wu ft3, %2, ", "")
DEF5(fcvt_s_l, F, "fcvt.s.l ft3, %2, ", "")
DEF5(fcvt_s_lu, F, "fcvt.s.lu ft3, %2, ", "")
DEF5I(fcvt_d_w, F, "0x69", "ft3", "%2", "x0")
DEF5I(fcvt_d_wu, F, "0x69", "ft3", "%2", "x1")
DEF5(fcvt_d_l, F, "fcvt.d.l ft3, %2, ", "")
DEF5(fcvt_d_lu, F, "fcvt.d.lu ft3, %2, ", "")
DEF5(fcvt_w_s, X, "fcvt.w.s %0, ft0, ", "")
DEF5(fcvt_wu_s, X, "fcvt.wu.s %0, ft0, ", "")
DEF5(fcvt_l_s, X, "fcvt.l.s %0, ft0, ", "")
DEF5(fcvt_lu_s, X, "fcvt.lu.s %0, ft0, ", "")
DEF5(fcvt_w_d, X, "fcvt.w.d %0, ft0, ", "")
DEF5(fcvt_wu_d, X, "fcvt.wu.d %0, ft0, ", "")
DEF5(fcvt_l_d, X, "fcvt.l.d %0, ft0, ", "")
DEF5(fcvt_lu_d, X, "fcvt.lu.d %0, ft0, ", "")
/* No rounding. */
DEF(fsgnj_s, F, "fsgnj.s ft3, ft0, ft1")
DEF(fsgnjn_s, F, "fsgnjn.s ft3, ft0, ft1")
DEF(fsgnjx_s, F, "fsgnjx.s ft3, ft0, ft1")
DEF(fsgnj_d, F, "fsgnj.d ft3, ft0, ft1")
DEF(fsgnjn_d, F, "fsgnjn.d ft3, ft0, ft1")
DEF(fsgnjx_d, F, "fsgnjx.d ft3, ft0, ft1")
DEF(fmin_s, F, "fmin.s ft3, ft0, ft1")
DEF(fmax_s, F, "fmax.s ft3, ft0, ft1")
DEF(fmin_d, F, "fmin.d ft3, ft0, ft1")
DEF(fmax_d, F, "fmax.d ft3, ft0, ft1")
DEF(feq_s, X, "feq.s %0, ft0, ft1")
DEF(flt_s, X, "flt.s %0, ft0, ft1")
DEF(fle_s, X, "fle.s %0, ft0, ft1")
DEF(feq_d, X, "feq.d %0, ft0, ft1")
DEF(flt_d, X, "flt.d %0, ft0, ft1")
DEF(fle_d, X, "fle.d %0, ft0, ft1")
DEF(fclass_s, X, "fclass.s %0, ft0")
DEF(fclass_d, X, "fclass.d %0, ft0")
DEF(fmv_x_w, X, "fmv.x.w %0, ft0")
DEF(fmv_x_d, X, "fmv.x.d %0, ft0")
DEF(fmv_w_x, F, "fmv.w.x ft3, %2")
DEF(fmv_d_x, F, "fmv.d.x ft3, %2")
/* Zfh and Zfhmin (run by QEMU's softfloat). */
DEF5(fadd_h, F, "fadd.h ft3, ft0, ft1, ", "")
DEF5(fsub_h, F, "fsub.h ft3, ft0, ft1, ", "")
DEF5(fmul_h, F, "fmul.h ft3, ft0, ft1, ", "")
DEF5(fdiv_h, F, "fdiv.h ft3, ft0, ft1, ", "")
DEF5(fsqrt_h, F, "fsqrt.h ft3, ft0, ", "")
DEF5(fmadd_h, F, "fmadd.h ft3, ft0, ft1, ft2, ", "")
DEF5(fmsub_h, F, "fmsub.h ft3, ft0, ft1, ft2, ", "")
DEF5(fnmsub_h, F, "fnmsub.h ft3, ft0, ft1, ft2, ", "")
DEF5(fnmadd_h, F, "fnmadd.h ft3, ft0, ft1, ft2, ", "")
DEF5(fcvt_h_s, F, "fcvt.h.s ft3, ft0, ", "")
DEF5(fcvt_h_d, F, "fcvt.h.d ft3, ft0, ", "")
DEF5I(fcvt_s_h, F, "0x20", "ft3", "ft0", "f2")
DEF5I(fcvt_d_h, F, "0x21", "ft3", "ft0", "f2")
DEF5(fcvt_h_w, F, "fcvt.h.w ft3, %2, ", "")
DEF5(fcvt_h_wu, F, "fcvt.h.wu ft3, %2, ", "")
DEF5(fcvt_h_l, F, "fcvt.h.l ft3, %2, ", "")
DEF5(fcvt_h_lu, F, "fcvt.h.lu ft3, %2, ", "")
DEF5(fcvt_w_h, X, "fcvt.w.h %0, ft0, ", "")
DEF5(fcvt_wu_h, X, "fcvt.wu.h %0, ft0, ", "")
DEF5(fcvt_l_h, X, "fcvt.l.h %0, ft0, ", "")
DEF5(fcvt_lu_h, X, "fcvt.lu.h %0, ft0, ", "")
DEF(fsgnj_h, F, "fsgnj.h ft3, ft0, ft1")
DEF(fsgnjn_h, F, "fsgnjn.h ft3, ft0, ft1")
DEF(fsgnjx_h, F, "fsgnjx.h ft3, ft0, ft1")
DEF(fmin_h, F, "fmin.h ft3, ft0, ft1")
DEF(fmax_h, F, "fmax.h ft3, ft0, ft1")
DEF(feq_h, X, "feq.h %0, ft0, ft1")
DEF(flt_h, X, "flt.h %0, ft0, ft1")
DEF(fle_h, X, "fle.h %0, ft0, ft1")
DEF(fclass_h, X, "fclass.h %0, ft0")
DEF(fmv_x_h, X, "fmv.x.h %0, ft0")
DEF(fmv_h_x, F, "fmv.h.x ft3, %2")

/* Zfa: QEMU 7.2, the reference for everything else here, predates it, so these are C models of the Zfa chapter
   (defined below), independent of Bonsai's TypeScript. m is the rounding mode. */
static uint64_t zfa_minmax(char t, int ismax, uint64_t a, uint64_t b, unsigned *f);
static uint64_t zfa_cmp(char t, int lt, uint64_t a, uint64_t b, unsigned *f);
static uint64_t zfa_round(char t, int m, int nx, uint64_t a, unsigned *f);
static uint64_t zfa_fcvtmod(uint64_t a, unsigned *f);
#define MODEL(NAME, EXPR) \
  static uint64_t NAME(uint64_t a, uint64_t b, uint64_t c, unsigned *f) { (void)b; (void)c; return EXPR; }
#define MODEL5(NAME, EXPR) \
  static uint64_t NAME##_0(uint64_t a, uint64_t b, uint64_t c, unsigned *f) { (void)b; (void)c; const int m = 0; return EXPR; } \
  static uint64_t NAME##_1(uint64_t a, uint64_t b, uint64_t c, unsigned *f) { (void)b; (void)c; const int m = 1; return EXPR; } \
  static uint64_t NAME##_2(uint64_t a, uint64_t b, uint64_t c, unsigned *f) { (void)b; (void)c; const int m = 2; return EXPR; } \
  static uint64_t NAME##_3(uint64_t a, uint64_t b, uint64_t c, unsigned *f) { (void)b; (void)c; const int m = 3; return EXPR; } \
  static uint64_t NAME##_4(uint64_t a, uint64_t b, uint64_t c, unsigned *f) { (void)b; (void)c; const int m = 4; return EXPR; }
MODEL(fminm_s, zfa_minmax('S', 0, a, b, f))
MODEL(fmaxm_s, zfa_minmax('S', 1, a, b, f))
MODEL(fminm_d, zfa_minmax('D', 0, a, b, f))
MODEL(fmaxm_d, zfa_minmax('D', 1, a, b, f))
MODEL(fminm_h, zfa_minmax('H', 0, a, b, f))
MODEL(fmaxm_h, zfa_minmax('H', 1, a, b, f))
MODEL(fleq_s, zfa_cmp('S', 0, a, b, f))
MODEL(fltq_s, zfa_cmp('S', 1, a, b, f))
MODEL(fleq_d, zfa_cmp('D', 0, a, b, f))
MODEL(fltq_d, zfa_cmp('D', 1, a, b, f))
MODEL(fleq_h, zfa_cmp('H', 0, a, b, f))
MODEL(fltq_h, zfa_cmp('H', 1, a, b, f))
MODEL5(fround_s, zfa_round('S', m, 0, a, f))
MODEL5(froundnx_s, zfa_round('S', m, 1, a, f))
MODEL5(fround_d, zfa_round('D', m, 0, a, f))
MODEL5(froundnx_d, zfa_round('D', m, 1, a, f))
MODEL5(fround_h, zfa_round('H', m, 0, a, f))
MODEL5(froundnx_h, zfa_round('H', m, 1, a, f))
MODEL(fcvtmod_w_d, zfa_fcvtmod(a, f))

/* How the inputs of an op are chosen. */
enum gen { G_ADD, G_MUL, G_DIV, G_SQRT, G_FMA, G_CMP, G_CVT_SD, G_CVT_DS, G_TOINT, G_FROMINT, G_UNARY, G_MVX,
           G_CVT_HS, G_CVT_HD, G_CVT_XH };

struct op {
  const char *name;
  const char *sig;
  int rounded;
  enum gen gen;
  int count; /* random records besides the edge-case ones */
  fn_t fn[5];
};

#define OP5(NAME, SIG, GEN, N, ID) { NAME, SIG, 1, GEN, N, FNS5(ID) }
#define OP1(NAME, SIG, GEN, N, ID) { NAME, SIG, 0, GEN, N, { ID, 0, 0, 0, 0 } }

static const struct op ops[] = {
  OP5("fadd.s", "SSS", G_ADD, 2500, fadd_s),
  OP5("fsub.s", "SSS", G_ADD, 1200, fsub_s),
  OP5("fmul.s", "SSS", G_MUL, 2500, fmul_s),
  OP5("fdiv.s", "SSS", G_DIV, 2500, fdiv_s),
  OP5("fsqrt.s", "SS", G_SQRT, 2500, fsqrt_s),
  OP5("fadd.d", "DDD", G_ADD, 2500, fadd_d),
  OP5("fsub.d", "DDD", G_ADD, 1200, fsub_d),
  OP5("fmul.d", "DDD", G_MUL, 2500, fmul_d),
  OP5("fdiv.d", "DDD", G_DIV, 2500, fdiv_d),
  OP5("fsqrt.d", "DD", G_SQRT, 2500, fsqrt_d),
  OP5("fmadd.s", "SSSS", G_FMA, 2500, fmadd_s),
  OP5("fmsub.s", "SSSS", G_FMA, 800, fmsub_s),
  OP5("fnmsub.s", "SSSS", G_FMA, 800, fnmsub_s),
  OP5("fnmadd.s", "SSSS", G_FMA, 800, fnmadd_s),
  OP5("fmadd.d", "DDDD", G_FMA, 2500, fmadd_d),
  OP5("fmsub.d", "DDDD", G_FMA, 800, fmsub_d),
  OP5("fnmsub.d", "DDDD", G_FMA, 800, fnmsub_d),
  OP5("fnmadd.d", "DDDD", G_FMA, 800, fnmadd_d),
  OP5("fcvt.s.d", "SD", G_CVT_SD, 2500, fcvt_s_d),
  OP5("fcvt.d.s", "DS", G_CVT_DS, 300, fcvt_d_s),
  OP5("fcvt.s.w", "SX", G_FROMINT, 1000, fcvt_s_w),
  OP5("fcvt.s.wu", "SX", G_FROMINT, 1000, fcvt_s_wu),
  OP5("fcvt.s.l", "SX", G_FROMINT, 1500, fcvt_s_l),
  OP5("fcvt.s.lu", "SX", G_FROMINT, 1500, fcvt_s_lu),
  OP5("fcvt.d.w", "DX", G_FROMINT, 300, fcvt_d_w),
  OP5("fcvt.d.wu", "DX", G_FROMINT, 300, fcvt_d_wu),
  OP5("fcvt.d.l", "DX", G_FROMINT, 1500, fcvt_d_l),
  OP5("fcvt.d.lu", "DX", G_FROMINT, 1500, fcvt_d_lu),
  OP5("fcvt.w.s", "XS", G_TOINT, 1500, fcvt_w_s),
  OP5("fcvt.wu.s", "XS", G_TOINT, 1500, fcvt_wu_s),
  OP5("fcvt.l.s", "XS", G_TOINT, 1500, fcvt_l_s),
  OP5("fcvt.lu.s", "XS", G_TOINT, 1500, fcvt_lu_s),
  OP5("fcvt.w.d", "XD", G_TOINT, 1500, fcvt_w_d),
  OP5("fcvt.wu.d", "XD", G_TOINT, 1500, fcvt_wu_d),
  OP5("fcvt.l.d", "XD", G_TOINT, 1500, fcvt_l_d),
  OP5("fcvt.lu.d", "XD", G_TOINT, 1500, fcvt_lu_d),
  OP1("fsgnj.s", "SSS", G_CMP, 300, fsgnj_s),
  OP1("fsgnjn.s", "SSS", G_CMP, 300, fsgnjn_s),
  OP1("fsgnjx.s", "SSS", G_CMP, 300, fsgnjx_s),
  OP1("fsgnj.d", "DDD", G_CMP, 300, fsgnj_d),
  OP1("fsgnjn.d", "DDD", G_CMP, 300, fsgnjn_d),
  OP1("fsgnjx.d", "DDD", G_CMP, 300, fsgnjx_d),
  OP1("fmin.s", "SSS", G_CMP, 600, fmin_s),
  OP1("fmax.s", "SSS", G_CMP, 600, fmax_s),
  OP1("fmin.d", "DDD", G_CMP, 600, fmin_d),
  OP1("fmax.d", "DDD", G_CMP, 600, fmax_d),
  OP1("feq.s", "XSS", G_CMP, 600, feq_s),
  OP1("flt.s", "XSS", G_CMP, 600, flt_s),
  OP1("fle.s", "XSS", G_CMP, 600, fle_s),
  OP1("feq.d", "XDD", G_CMP, 600, feq_d),
  OP1("flt.d", "XDD", G_CMP, 600, flt_d),
  OP1("fle.d", "XDD", G_CMP, 600, fle_d),
  OP1("fclass.s", "XS", G_UNARY, 300, fclass_s),
  OP1("fclass.d", "XD", G_UNARY, 300, fclass_d),
  OP1("fmv.x.w", "XS", G_UNARY, 200, fmv_x_w),
  OP1("fmv.x.d", "XD", G_UNARY, 200, fmv_x_d),
  OP1("fmv.w.x", "SX", G_MVX, 200, fmv_w_x),
  OP1("fmv.d.x", "DX", G_MVX, 200, fmv_d_x),
  /* Zfh, Zfhmin */
  OP5("fadd.h", "HHH", G_ADD, 2500, fadd_h),
  OP5("fsub.h", "HHH", G_ADD, 1200, fsub_h),
  OP5("fmul.h", "HHH", G_MUL, 2500, fmul_h),
  OP5("fdiv.h", "HHH", G_DIV, 2500, fdiv_h),
  OP5("fsqrt.h", "HH", G_SQRT, 2500, fsqrt_h),
  OP5("fmadd.h", "HHHH", G_FMA, 2500, fmadd_h),
  OP5("fmsub.h", "HHHH", G_FMA, 800, fmsub_h),
  OP5("fnmsub.h", "HHHH", G_FMA, 800, fnmsub_h),
  OP5("fnmadd.h", "HHHH", G_FMA, 800, fnmadd_h),
  OP5("fcvt.h.s", "HS", G_CVT_HS, 2500, fcvt_h_s),
  OP5("fcvt.h.d", "HD", G_CVT_HD, 2500, fcvt_h_d),
  OP5("fcvt.s.h", "SH", G_CVT_XH, 300, fcvt_s_h),
  OP5("fcvt.d.h", "DH", G_CVT_XH, 300, fcvt_d_h),
  OP5("fcvt.h.w", "HX", G_FROMINT, 1000, fcvt_h_w),
  OP5("fcvt.h.wu", "HX", G_FROMINT, 1000, fcvt_h_wu),
  OP5("fcvt.h.l", "HX", G_FROMINT, 1000, fcvt_h_l),
  OP5("fcvt.h.lu", "HX", G_FROMINT, 1000, fcvt_h_lu),
  OP5("fcvt.w.h", "XH", G_TOINT, 1500, fcvt_w_h),
  OP5("fcvt.wu.h", "XH", G_TOINT, 1500, fcvt_wu_h),
  OP5("fcvt.l.h", "XH", G_TOINT, 1500, fcvt_l_h),
  OP5("fcvt.lu.h", "XH", G_TOINT, 1500, fcvt_lu_h),
  OP1("fsgnj.h", "HHH", G_CMP, 300, fsgnj_h),
  OP1("fsgnjn.h", "HHH", G_CMP, 300, fsgnjn_h),
  OP1("fsgnjx.h", "HHH", G_CMP, 300, fsgnjx_h),
  OP1("fmin.h", "HHH", G_CMP, 600, fmin_h),
  OP1("fmax.h", "HHH", G_CMP, 600, fmax_h),
  OP1("feq.h", "XHH", G_CMP, 600, feq_h),
  OP1("flt.h", "XHH", G_CMP, 600, flt_h),
  OP1("fle.h", "XHH", G_CMP, 600, fle_h),
  OP1("fclass.h", "XH", G_UNARY, 300, fclass_h),
  OP1("fmv.x.h", "XH", G_UNARY, 200, fmv_x_h),
  OP1("fmv.h.x", "HX", G_MVX, 200, fmv_h_x),
  /* Zfa (C models) */
  OP1("fminm.s", "SSS", G_CMP, 600, fminm_s),
  OP1("fmaxm.s", "SSS", G_CMP, 600, fmaxm_s),
  OP1("fminm.d", "DDD", G_CMP, 600, fminm_d),
  OP1("fmaxm.d", "DDD", G_CMP, 600, fmaxm_d),
  OP1("fminm.h", "HHH", G_CMP, 600, fminm_h),
  OP1("fmaxm.h", "HHH", G_CMP, 600, fmaxm_h),
  OP1("fleq.s", "XSS", G_CMP, 600, fleq_s),
  OP1("fltq.s", "XSS", G_CMP, 600, fltq_s),
  OP1("fleq.d", "XDD", G_CMP, 600, fleq_d),
  OP1("fltq.d", "XDD", G_CMP, 600, fltq_d),
  OP1("fleq.h", "XHH", G_CMP, 600, fleq_h),
  OP1("fltq.h", "XHH", G_CMP, 600, fltq_h),
  OP5("fround.s", "SS", G_TOINT, 1500, fround_s),
  OP5("froundnx.s", "SS", G_TOINT, 1500, froundnx_s),
  OP5("fround.d", "DD", G_TOINT, 1500, fround_d),
  OP5("froundnx.d", "DD", G_TOINT, 1500, froundnx_d),
  OP5("fround.h", "HH", G_TOINT, 1500, fround_h),
  OP5("froundnx.h", "HH", G_TOINT, 1500, froundnx_h),
  OP1("fcvtmod.w.d", "XD", G_TOINT, 3000, fcvtmod_w_d),
};
#define NOPS (sizeof ops / sizeof ops[0])

/* ---- deterministic pseudo-random numbers (splitmix64) ---- */
static uint64_t rng_state = 0x5eed0f0b0a5a1ull;
static uint64_t rnd(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static int rn(int n) { return (int)(rnd() % (uint64_t)n); }

/* ---- formats ---- */
struct fmt { int mbits, bias, emax; }; /* emax: the all-ones biased exponent */
static const struct fmt FS = { 23, 127, 255 }, FD = { 52, 1023, 2047 }, FH = { 10, 15, 31 };
#define SIGNPOS(F) ((F)->mbits + ((F) == &FD ? 11 : (F) == &FH ? 5 : 8))

static uint64_t mk(const struct fmt *F, int sign, int bexp, uint64_t mant) {
  if (bexp < 0) bexp = 0;
  if (bexp > F->emax - 1) bexp = F->emax - 1;
  return ((uint64_t)sign << SIGNPOS(F)) | ((uint64_t)bexp << F->mbits) | (mant & ((1ull << F->mbits) - 1));
}
static int bexp_of(const struct fmt *F, uint64_t v) { return (int)((v >> F->mbits) & (uint64_t)F->emax); }
static uint64_t mant_of(const struct fmt *F, uint64_t v) { return v & ((1ull << F->mbits) - 1); }
static int sign_of(const struct fmt *F, uint64_t v) { return (int)(v >> SIGNPOS(F)) & 1; }

/* A significand with a shape that matters for rounding: random, power of two, few bits, trailing zeros,
   trailing ones, or a 1 followed by zeros (halfway patterns once shifted). */
static uint64_t rmant(int nb) {
  uint64_t all = (1ull << nb) - 1, m = rnd() & all;
  int k = rn(nb + 1);
  switch (rn(9)) {
  case 0: case 1: case 2: return m;
  case 3: return 0;
  case 4: { uint64_t x = 0; int n = 1 + rn(3); while (n--) x |= 1ull << rn(nb); return x; }
  case 5: return m & ~((1ull << k) - 1) & all;
  case 6: return (m | ((1ull << k) - 1)) & all;
  case 7: return k == 0 ? m : ((m & ~((1ull << k) - 1)) | (1ull << (k - 1))) & all;
  default: return all ^ (1ull << rn(nb));
  }
}

static const uint64_t edges_d[] = {
  0x0000000000000000ull, 0x8000000000000000ull, 0x0000000000000001ull, 0x8000000000000001ull,
  0x000fffffffffffffull, 0x0008000000000000ull, 0x0010000000000000ull, 0x8010000000000000ull,
  0x0010000000000001ull, 0x3ff0000000000000ull, 0xbff0000000000000ull, 0x3ff0000000000001ull,
  0x3fefffffffffffffull, 0x4000000000000000ull, 0x3fe0000000000000ull, 0x3ff8000000000000ull,
  0xc008000000000000ull, 0x3fb999999999999aull, 0x7fefffffffffffffull, 0xffefffffffffffffull,
  0x7fe0000000000000ull, 0x7ff0000000000000ull, 0xfff0000000000000ull, 0x7ff8000000000000ull,
  0xfff8000000000123ull, 0x7ff0000000000001ull, 0xfff4000000000000ull, 0x400921fb54442d18ull,
  0x3ca0000000000000ull, 0x4340000000000000ull, 0x43e0000000000000ull, 0xc3e0000000000000ull,
  0x43f0000000000000ull, 0x41e0000000000000ull, 0xc1e0000000000000ull, 0x41f0000000000000ull,
  0x47efffffe0000000ull, 0x3810000000000000ull, 0x36a0000000000000ull, 0xb690000000000000ull,
};
static const uint64_t edges_s[] = {
  0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x00400000, 0x00800000, 0x80800000,
  0x00800001, 0x3f800000, 0xbf800000, 0x3f800001, 0x3f7fffff, 0x40000000, 0x3f000000, 0x3fc00000,
  0xc0400000, 0x3dcccccd, 0x7f7fffff, 0xff7fffff, 0x7f000000, 0x7f800000, 0xff800000, 0x7fc00000,
  0xffc00123, 0x7f800001, 0xffa00000, 0x40490fdb, 0x33800000, 0x4b800000, 0x5f000000, 0xdf000000,
  0x5f800000, 0x4f000000, 0xcf000000, 0x4f800000, 0x4effffff, 0x0c800000, 0x00000003, 0x9f800000,
};
#define NEDGE 40

static const uint64_t edges_h[] = {
  0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0200, 0x0400, 0x8400, 0x0401, 0x3c00, 0xbc00, 0x3c01, 0x3bff, 0x4000,
  0x3800, 0x3e00, 0xc200, 0x2e66, 0x7bff, 0xfbff, 0x7800, 0x7c00, 0xfc00, 0x7e00, 0xfe01, 0x7c01, 0xfd00, 0x4248,
  0x1400, 0x6400, 0x7400, 0xf400, 0x7a00, 0x5bff, 0x0003, 0x9400, 0x0c00, 0x3555, 0x6bff, 0x8200,
};

static uint64_t edge(const struct fmt *F) {
  return F == &FD ? edges_d[rn(NEDGE)] : F == &FH ? edges_h[rn(NEDGE)] : edges_s[rn(NEDGE)];
}

/* A finite value with biased exponent in [lo, hi]. */
static uint64_t rval(const struct fmt *F, int lo, int hi) {
  return mk(F, rn(2), lo + rn(hi - lo + 1), rmant(F->mbits));
}
/* A value of any kind: mostly moderate, sometimes anywhere, tiny, huge or special. */
static uint64_t rany(const struct fmt *F) {
  switch (rn(10)) {
  case 0: return edge(F);
  case 1: return rval(F, 0, F->emax - 1);
  case 2: return rval(F, 0, F->mbits + 3); /* subnormal and tiny */
  case 3: return rval(F, F->emax - 5, F->emax - 1);
  default: return rval(F, F->bias - 30, F->bias + 30);
  }
}

static double d_of(uint64_t v) { double d; memcpy(&d, &v, 8); return d; }
static uint64_t bits_d(double d) { uint64_t v; memcpy(&v, &d, 8); return v; }
static float f_of(uint64_t v) { uint32_t u = (uint32_t)v; float f; memcpy(&f, &u, 4); return f; }
static uint64_t bits_f(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
/* Halves through the implementation under test's own conversions (exact one way, RNE the other). */
static double h_of(uint64_t v) {
  double d;
  uint64_t r = 0xffffffffffff0000ull | (v & 0xffff);
  __asm__ volatile("fmv.d.x ft0, %1\n\tfcvt.d.h %0, ft0" : "=f"(d) : "r"(r) : "ft0");
  return d;
}
static uint64_t bits_h(double d) {
  uint64_t r;
  __asm__ volatile("fcvt.h.d ft0, %1, rne\n\tfmv.x.h %0, ft0" : "=r"(r) : "f"(d) : "ft0");
  return r & 0xffff;
}

/* The exact-ish product, for operands of the fused ops that nearly cancel it. */
static uint64_t neg_product(const struct fmt *F, uint64_t a, uint64_t b) {
  if (F == &FH) return bits_h(-(h_of(a) * h_of(b)));
  return F == &FD ? bits_d(-(d_of(a) * d_of(b))) : bits_f(-(f_of(a) * f_of(b)));
}

/* Nudges the low bits of v by a small amount (keeps sign and roughly the magnitude). */
static uint64_t nudge(uint64_t v) {
  switch (rn(4)) {
  case 0: return v;
  case 1: return v + 1;
  case 2: return v - 1;
  default: return v ^ (rnd() & 0xff);
  }
}

static void gen_pair(enum gen g, const struct fmt *F, uint64_t *a, uint64_t *b) {
  int mid = F->bias, p = F->mbits + 1;
  *a = rany(F);
  switch (g) {
  case G_ADD: {
    int ea = bexp_of(F, *a);
    switch (rn(6)) {
    case 0: case 1: *b = mk(F, rn(2), ea + rn(2 * p + 10) - p - 5, rmant(F->mbits)); break;
    case 2: *b = nudge(*a) ^ (1ull << SIGNPOS(F)); break; /* near cancellation */
    case 3: *b = mk(F, rn(2), ea + rn(5) - 2, rmant(F->mbits)); break;
    default: *b = rany(F);
    }
    break;
  }
  case G_MUL:
  case G_DIV: {
    /* Aim the exponent of the result at underflow, overflow or the middle. */
    int target;
    switch (rn(4)) {
    case 0: target = 1 - rn(p + 4) + rn(3); break;
    case 1: target = F->emax - 3 + rn(5); break;
    case 2: target = rn(F->emax); break;
    default: target = mid + rn(41) - 20;
    }
    int ea = rn(F->emax);
    *a = mk(F, rn(2), ea, rmant(F->mbits));
    if (g == G_MUL) *b = mk(F, rn(2), target - ea + mid, rmant(F->mbits));
    else *b = mk(F, rn(2), ea - target + mid, rmant(F->mbits));
    if (g == G_DIV && rn(6) == 0) {
      /* A quotient just below the smallest normal number: tiny or not depending on rounding at unbounded
         range (RISC-V detects tininess after rounding). */
      double bd = 1 + (double)(rnd() >> 12) / 4503599627370496.0;
      long double t = 1 - (long double)(rn(8) + 1) / (F == &FD ? 72057594037927936.0L : F == &FH ? 8192.0L : 536870912.0L);
      if (F == &FH) { *b = bits_h(bd); *a = bits_h(h_of(*b) * (double)t * 0x1p-14); }
      else if (F == &FD) { *b = bits_d(bd); *a = bits_d((double)(bd * t * 0x1p-1022L)); }
      else { *b = bits_f((float)bd); *a = bits_f((float)((double)(float)bd * (double)t * 0x1p-126)); }
      if (rn(2)) { *a ^= 1ull << SIGNPOS(F); }
      break;
    }
    if (g == G_DIV && rn(5) == 0) {
      /* A dividend that is a small multiple of the divisor: exact quotients. */
      int k = 1 + rn(255);
      *a = F == &FD ? bits_d(d_of(*b) * k) : F == &FH ? bits_h(h_of(*b) * k) : bits_f(f_of(*b) * (float)k);
    }
    if (rn(8) == 0) *b = rany(F);
    if (rn(8) == 0) *a = rany(F);
    break;
  }
  default: /* G_CMP: equal values, opposite signs, NaNs, unordered mixes */
    switch (rn(5)) {
    case 0: *b = *a; break;
    case 1: *b = *a ^ (1ull << SIGNPOS(F)); break;
    case 2: *b = nudge(*a); break;
    default: *b = rany(F);
    }
    if (rn(2)) { uint64_t t = *a; *a = *b; *b = t; }
  }
}

static uint64_t gen_sqrt(const struct fmt *F) {
  switch (rn(6)) {
  case 0: return rany(F);
  case 1: { /* a perfect square */
    uint64_t r = mk(F, 0, F->bias + rn(60) - 30, rmant(F->mbits) & ~((1ull << (F->mbits / 2 + 1)) - 1));
    if (F == &FH) return bits_h(h_of(r) * h_of(r));
    return F == &FD ? bits_d(d_of(r) * d_of(r)) : bits_f(f_of(r) * f_of(r));
  }
  default: return rval(F, 0, F->emax - 1) & ~(1ull << SIGNPOS(F));
  }
}

/* Values for float-to-integer conversions: around integers, halfway points and the limits of each type. */
static uint64_t gen_toint(const struct fmt *F) {
  static const double bases[] = { 0, 1, 2, 3, -1, -2, -3, 2147483647.0, 2147483648.0, -2147483648.0,
                                  -2147483649.0, 4294967295.0, 4294967296.0, 9223372036854775808.0,
                                  -9223372036854775808.0, 18446744073709551616.0, 9007199254740992.0,
                                  16777216.0, 8388608.0, -4294967296.0 };
  static const double fracs[] = { 0, 0.5, -0.5, 0.25, -0.25, 0.75, -0.75, 1e-9, -1e-9, 0.4999999, -0.5000001 };
  double v;
  if (F == &FH) {
    /* halves: integers up to 2^16 (beyond: infinity), halfway points, the limits of 16-bit integers */
    static const double hb[] = { 0, 1, 2, 3, -1, -2, -3, 2047, 2048, 2049, 32767, 32768, -32768, 65504, -65504, 4095, 1024, -2048 };
    static const double hf[] = { 0, 0.5, -0.5, 0.25, -0.25, 0.75, -0.75, 0.125, -0.125, 0.375, -0.875 };
    switch (rn(4)) {
    case 0: return rany(F);
    case 1: v = (double)(rn(4096) - 2048) + hf[rn(11)]; break;
    case 2: v = (double)(rn(64) - 32) + hf[rn(11)]; break;
    default: { double base = hb[rn(18)]; v = base + (fabs(base) > 2048 ? 0 : hf[rn(11)]); }
    }
    return bits_h(v);
  }
  switch (rn(5)) {
  case 0: return rany(F);
  case 1: { /* a random integer of random size, plus a fraction */
    int bitsz = rn(66);
    double m = bitsz == 0 ? 0 : (double)(rnd() >> (64 - (bitsz > 64 ? 64 : bitsz)));
    if (bitsz == 65) m *= 2;
    v = (rn(2) ? -m : m) + fracs[rn(11)];
    break;
  }
  case 2: v = (double)(rn(64) - 32) + fracs[rn(11)]; break;
  default: {
    double base = bases[rn(20)];
    v = base + fracs[rn(11)];
    if (rn(3) == 0) {
      /* one ulp either side of the base */
      uint64_t bv = bits_d(F == &FD ? base : (double)(float)base);
      if (F == &FS) { uint64_t fb = bits_f((float)base) + (rn(2) ? 1 : -1); return (float)base == 0 ? fb & 0xff : fb; }
      bv += rn(2) ? 1 : -1;
      return base == 0 ? bv & 0xff : bv;
    }
  }
  }
  return F == &FD ? bits_d(v) : bits_f((float)v);
}

/* 64-bit integers for integer-to-float conversions: random sizes, halfway patterns for 24 and 53 bits. */
static uint64_t gen_fromint(void) {
  static const uint64_t edges[] = { 0, 1, ~0ull, 0x7fffffff, 0x80000000, 0xffffffff, 0xffffffff80000000ull,
                                    0x7fffffffffffffffull, 0x8000000000000000ull, 0x1000001, 0x1000003,
                                    0x20000000000001ull, 0x20000000000003ull, 0xffffff7fffffffffull,
                                    0x8000008000000000ull, 0xfffffff000000001ull };
  uint64_t v;
  switch (rn(6)) {
  case 0: return edges[rn(16)];
  case 1: case 2: { /* an odd (p+1)-bit value (a tie or near-tie at precision p) shifted left */
    int p = rn(2) ? 24 : 53;
    uint64_t m = (rnd() & ((1ull << p) - 1)) | (1ull << p) | 1;
    if (rn(2)) m ^= 2;
    int sh = rn(64 - p);
    v = m << sh;
    break;
  }
  default: {
    int bitsz = rn(65);
    v = bitsz == 0 ? 0 : rnd() >> (64 - bitsz);
  }
  }
  if (rn(3) == 0) v = -v;
  /* 32-bit forms read only the low half: put something else in the upper half at times */
  if (rn(4) == 0) v = (v & 0xffffffffull) | (rnd() << 32);
  return v;
}

/* ---- the Zfa models ---- */
static const struct fmt *fmt_of(char t) { return t == 'D' ? &FD : t == 'H' ? &FH : &FS; }
static int is_nan_v(const struct fmt *F, uint64_t v) { return bexp_of(F, v) == F->emax && mant_of(F, v) != 0; }
static int is_snan_v(const struct fmt *F, uint64_t v) { return is_nan_v(F, v) && !((v >> (F->mbits - 1)) & 1); }
static uint64_t canon_of(char t) { return t == 'D' ? 0x7ff8000000000000ull : t == 'H' ? 0x7e00 : 0x7fc00000; }
/* A register's value as the format's bits: an improperly NaN-boxed operand is the canonical NaN. */
static uint64_t unbox_r(char t, uint64_t r) {
  if (t == 'S') return (r >> 32) == 0xffffffffull ? (r & 0xffffffffull) : canon_of(t);
  if (t == 'H') return (r >> 16) == 0xffffffffffffull ? (r & 0xffff) : canon_of(t);
  return r;
}
static uint64_t rebox(char t, uint64_t v) {
  return t == 'S' ? 0xffffffff00000000ull | v : t == 'H' ? 0xffffffffffff0000ull | v : v;
}
static double val_of(char t, uint64_t v) { return t == 'D' ? d_of(v) : t == 'H' ? h_of(v) : (double)f_of(v); }
static uint64_t bits_of(char t, double d) { return t == 'D' ? bits_d(d) : t == 'H' ? bits_h(d) : bits_f((float)d); }

static uint64_t zfa_minmax(char t, int ismax, uint64_t ra, uint64_t rb, unsigned *f) {
  const struct fmt *F = fmt_of(t);
  uint64_t a = unbox_r(t, ra), b = unbox_r(t, rb);
  *f = is_snan_v(F, a) || is_snan_v(F, b) ? 16 : 0;
  if (is_nan_v(F, a) || is_nan_v(F, b)) return rebox(t, canon_of(t)); /* minimum/maximum propagate NaNs */
  double x = val_of(t, a), y = val_of(t, b);
  int first = x == y ? (ismax ? !sign_of(F, a) : sign_of(F, a)) : ismax ? x > y : x < y;
  return rebox(t, first ? a : b);
}

static uint64_t zfa_cmp(char t, int lt, uint64_t ra, uint64_t rb, unsigned *f) {
  const struct fmt *F = fmt_of(t);
  uint64_t a = unbox_r(t, ra), b = unbox_r(t, rb);
  *f = is_snan_v(F, a) || is_snan_v(F, b) ? 16 : 0; /* quiet: NV for signalling NaNs only */
  if (is_nan_v(F, a) || is_nan_v(F, b)) return 0;
  double x = val_of(t, a), y = val_of(t, b);
  return lt ? x < y : x <= y;
}

static int64_t rint_mode(double v, int m) {
  int64_t i;
  switch (m) {
  case 0: __asm__ volatile("fcvt.l.d %0, %1, rne" : "=r"(i) : "f"(v)); break;
  case 1: __asm__ volatile("fcvt.l.d %0, %1, rtz" : "=r"(i) : "f"(v)); break;
  case 2: __asm__ volatile("fcvt.l.d %0, %1, rdn" : "=r"(i) : "f"(v)); break;
  case 3: __asm__ volatile("fcvt.l.d %0, %1, rup" : "=r"(i) : "f"(v)); break;
  default: __asm__ volatile("fcvt.l.d %0, %1, rmm" : "=r"(i) : "f"(v));
  }
  return i;
}

static uint64_t zfa_round(char t, int m, int nx, uint64_t ra, unsigned *f) {
  const struct fmt *F = fmt_of(t);
  uint64_t a = unbox_r(t, ra);
  *f = 0;
  if (is_nan_v(F, a)) { *f = is_snan_v(F, a) ? 16 : 0; return rebox(t, canon_of(t)); }
  double v = val_of(t, a);
  if (v == 0 || isinf(v) || fabs(v) >= 4503599627370496.0) return rebox(t, a); /* already integral */
  double r = copysign((double)rint_mode(v, m), v); /* an integral result keeps the operand's sign */
  if (nx && r != v) *f = 1;
  return rebox(t, bits_of(t, r));
}

static uint64_t zfa_fcvtmod(uint64_t a, unsigned *f) {
  int e = (int)((a >> 52) & 0x7ff), s = (int)(a >> 63);
  uint64_t m = a & ((1ull << 52) - 1), ip;
  int inexact;
  *f = 0;
  if (e == 0x7ff) { *f = 16; return 0; } /* NaN, infinity: 0, invalid */
  if (e == 0) { *f = m ? 1 : 0; return 0; }
  m |= 1ull << 52;
  int k = e - 1075; /* |value| = m * 2^k */
  if (k < 0) { ip = -k >= 64 ? 0 : m >> -k; inexact = -k >= 64 ? 1 : (m & ((1ull << -k) - 1)) != 0; }
  else { ip = k >= 64 ? 0 : m << k; inexact = 0; } /* the low 64 bits of the integer */
  int E = e - 1023;
  int over = E > 31 || (E == 31 && !(s && ip == 0x80000000ull));
  uint32_t r = (uint32_t)(s ? -ip : ip);
  *f = over ? 16 : inexact ? 1 : 0;
  return (uint64_t)(int64_t)(int32_t)r;
}

/* ---- output ---- */
static unsigned char *out;
static size_t outlen, outcap;
static uint32_t nrec;
static void put(const void *p, size_t n) {
  if (outlen + n > outcap) {
    outcap = (outcap + n) * 2;
    out = realloc(out, outcap);
    if (!out) abort();
  }
  memcpy(out + outlen, p, n);
  outlen += n;
}
static void put8(unsigned v) { unsigned char c = (unsigned char)v; put(&c, 1); }
static void putn(uint64_t v, int n) { for (int i = 0; i < n; i++) put8((unsigned)(v >> (8 * i)) & 0xff); }

static uint64_t box(uint64_t s) { return 0xffffffff00000000ull | (s & 0xffffffffull); }
static uint64_t boxh(uint64_t h) { return 0xffffffffffff0000ull | (h & 0xffff); }

/* Runs op `o` on operands v[] (register values) in every mode and appends a record. */
static void record(int o, const uint64_t *reg, const uint64_t *stored, int wide) {
  const struct op *op = &ops[o];
  int nin = (int)strlen(op->sig) - 1, modes = op->rounded ? 5 : 1;
  char rt = op->sig[0];
  uint64_t res[5];
  unsigned fl[5];
  for (int m = 0; m < modes; m++) {
    res[m] = op->fn[m](reg[0], nin > 1 ? reg[1] : 0, nin > 2 ? reg[2] : 0, &fl[m]);
    if (rt == 'S') {
      if ((res[m] >> 32) != 0xffffffffull) { fprintf(stderr, "%s: single result not NaN-boxed\n", op->name); exit(1); }
      res[m] &= 0xffffffffull;
    }
    if (rt == 'H') {
      if ((res[m] >> 16) != 0xffffffffffffull) { fprintf(stderr, "%s: half result not NaN-boxed\n", op->name); exit(1); }
      res[m] &= 0xffff;
    }
  }
  put8((unsigned)o);
  put8((unsigned)wide);
  for (int i = 0; i < nin; i++) putn(stored[i], wide ? 8 : op->sig[1 + i] == 'S' ? 4 : op->sig[1 + i] == 'H' ? 2 : 8);
  int rsize = rt == 'S' ? 4 : rt == 'H' ? 2 : 8;
  putn(res[0], rsize);
  for (int m = 0; m < modes; m++) put8(fl[m]);
  for (int m = 1; m < modes; m++) {
    int64_t d = rt == 'S' ? (int64_t)(int32_t)(uint32_t)(res[m] - res[0])
              : rt == 'H' ? (int64_t)(int16_t)(uint16_t)(res[m] - res[0]) : (int64_t)(res[m] - res[0]);
    if (d >= -127 && d <= 127) put8((unsigned)(d & 0xff));
    else { put8(0x80); putn(res[m], rsize); }
  }
  nrec++;
}

/* Operands given as format values (singles unboxed 32-bit): box them for the registers. */
static void emit(int o, uint64_t a, uint64_t b, uint64_t c) {
  const char *sig = ops[o].sig;
  uint64_t st[3] = { a, b, c }, reg[3];
  for (int i = 0; i < 3; i++) reg[i] = sig[1 + i] == 'S' ? box(st[i]) : sig[1 + i] == 'H' ? boxh(st[i]) : st[i];
  record(o, reg, st, 0);
}

/* Usage: gen [SEED [SCALE]]: the committed vectors use the defaults; other seeds and a larger SCALE (a
   multiplier of the random records) make bigger sets for a one-off check. */
int main(int argc, char **argv) {
  int scale = 1;
  if (argc > 1) rng_state = strtoull(argv[1], 0, 0);
  if (argc > 2) scale = atoi(argv[2]);
  for (int o = 0; o < (int)NOPS; o++) {
    const struct op *op = &ops[o];
    const char *sig = op->sig;
    int nin = (int)strlen(sig) - 1;
    char ft = 0; /* the FP operand type */
    for (int i = 1; sig[i]; i++) if (sig[i] != 'X') ft = sig[i];
    const struct fmt *F = ft == 'D' ? &FD : ft == 'H' ? &FH : &FS;
    const uint64_t *edges = ft == 'D' ? edges_d : ft == 'H' ? edges_h : edges_s;

    /* Edge cases: every edge value, every pair of them; for the fused ops every triple of a subset. */
    if (op->gen == G_FMA) {
      static const int sub[] = { 0, 1, 2, 6, 9, 10, 13, 18, 21, 22, 23, 25, 4, 11 };
      for (int i = 0; i < 14; i++)
        for (int j = 0; j < 14; j++)
          for (int k = 0; k < 14; k++) emit(o, edges[sub[i]], edges[sub[j]], edges[sub[k]]);
    } else if (nin == 2) {
      for (int i = 0; i < NEDGE; i++)
        for (int j = 0; j < NEDGE; j++) emit(o, edges[i], edges[j], 0);
    } else if (ft && sig[1] != 'X') {
      for (int i = 0; i < NEDGE; i++) emit(o, edges[i], 0, 0);
    }

    for (int n = 0; n < op->count * scale; n++) {
      uint64_t a = 0, b = 0, c = 0;
      switch (op->gen) {
      case G_ADD: case G_MUL: case G_DIV: case G_CMP: gen_pair(op->gen, F, &a, &b); break;
      case G_SQRT: a = gen_sqrt(F); break;
      case G_FMA:
        gen_pair(G_MUL, F, &a, &b);
        switch (rn(4)) {
        case 0: c = nudge(neg_product(F, a, b)); break;
        case 1: { /* an addend a little below or above the product's magnitude */
          uint64_t p = neg_product(F, a, b);
          c = mk(F, rn(2), bexp_of(F, p) + rn(2 * F->mbits + 8) - F->mbits - 4, rmant(F->mbits));
          break;
        }
        case 2: c = rany(F); break;
        default: c = rval(F, 0, F->mbits + 3);
        }
        if (rn(2)) { /* multiplicands near 1 so that products stay moderate */
          a = mk(F, sign_of(F, a), F->bias + rn(3) - 1, mant_of(F, a));
          b = mk(F, sign_of(F, b), F->bias + rn(3) - 1, mant_of(F, b));
          c = rn(2) ? nudge(neg_product(F, a, b)) : mk(F, rn(2), F->bias - rn(F->mbits + 8), rmant(F->mbits));
        }
        break;
      case G_CVT_SD:
        if (rn(5) == 0) /* around the smallest normal single, where tininess after rounding matters */
          a = mk(&FD, rn(2), 1023 - 127 + rn(2) - rn(26), (((1ull << 52) - 1) ^ (rnd() & ((1ull << (28 + rn(4))) - 1))));
        else if (rn(4) == 0) a = rany(&FD);
        else a = mk(&FD, rn(2), 1023 - 160 + rn(300), rmant(52));
        break;
      case G_CVT_DS: a = rany(&FS); break;
      case G_TOINT: a = gen_toint(F); break;
      case G_FROMINT:
        a = gen_fromint();
        if (sig[0] == 'H' && rn(3)) { /* halves: mostly integers within or near their range, ties at 11 bits */
          int64_t v = (int64_t)(rnd() >> (64 - 1 - rn(18)));
          if (rn(2)) v = (int64_t)((((uint64_t)rn(2048) | 2048 | 1) ^ (uint64_t)(rn(2) * 2)) << rn(6));
          if (rn(3) == 0) v = -v;
          a = rn(4) ? (uint64_t)v : ((uint64_t)v & 0xffffffffull) | (rnd() << 32);
        }
        break;
      case G_CVT_HS: /* singles around the range of halves, its subnormals, and near-ties */
        a = rn(4) == 0 ? rany(&FS) : mk(&FS, rn(2), 127 - 26 + rn(45), rmant(23));
        if (rn(3) == 0) a = (a & ~0x1fffull) | ((uint64_t)rn(2) << 12) | (rn(2) ? 0 : (rnd() & 0xfff));
        /* just below the smallest normal half: tiny or not after rounding, by mode */
        if (rn(5) == 0) a = mk(&FS, rn(2), 127 - 15, 0x7fffff - (uint64_t)rn(0x4000));
        break;
      case G_CVT_HD:
        a = rn(4) == 0 ? rany(&FD) : mk(&FD, rn(2), 1023 - 26 + rn(45), rmant(52));
        if (rn(3) == 0) a = (a & ~0x3ffffffffffull) | ((uint64_t)rn(2) << 41) | (rn(2) ? 0 : (rnd() & 0x1ffffffffffull));
        if (rn(5) == 0) a = mk(&FD, rn(2), 1023 - 15, ((1ull << 52) - 1) - (rnd() & ((1ull << 43) - 1)));
        break;
      case G_CVT_XH: a = rany(&FH); break;
      case G_UNARY: a = rany(F); break;
      case G_MVX: a = rnd(); if (rn(2)) a = box(a); break;
      }
      emit(o, a, b, c);
    }

    /* Singles that are not NaN-boxed read as the canonical NaN (fmv.x.w still moves the low bits). */
    int hasS = 0, hasH = 0;
    for (int i = 1; sig[i]; i++) if (sig[i] == 'S') hasS = 1;
    for (int i = 1; sig[i]; i++) if (sig[i] == 'H') hasH = 1;
    if (hasH) { /* halves likewise: any of the upper 48 bits clear */
      static const uint64_t uppers[] = { 0, 0x7fffffffffff0000ull, 0xfffffffeffff0000ull, 0xffff0000ffff0000ull,
                                         0xffffffff00000000ull };
      for (int n = 0; n < 60; n++) {
        uint64_t reg[3];
        for (int i = 0; i < nin; i++) {
          uint64_t v = sig[1 + i] == 'H' ? edges_h[rn(NEDGE)] : sig[1 + i] == 'S' ? box(edges_s[rn(NEDGE)]) : rnd();
          if (sig[1 + i] == 'H') {
            v = rn(3) ? boxh(v) : (uppers[rn(5)] | v);
            if (rn(7) == 0) v = rnd();
          }
          reg[i] = v;
        }
        record(o, reg, reg, 1);
      }
    }
    if (hasS) {
      static const uint64_t uppers[] = { 0, 0x7fffffff00000000ull, 0xfffffffe00000000ull, 0x00000001ffffffffull,
                                         0xffff0000ffffffffull };
      for (int n = 0; n < 60; n++) {
        uint64_t reg[3];
        for (int i = 0; i < nin; i++) {
          uint64_t v = sig[1 + i] == 'S' ? edges_s[rn(NEDGE)] : rnd();
          if (sig[1 + i] == 'S') {
            v = rn(3) ? box(v) : ((uppers[rn(5)] & 0xffffffff00000000ull) | v);
            if (rn(7) == 0) v = rnd();
          }
          reg[i] = v;
        }
        record(o, reg, reg, 1);
      }
    }
  }

  fwrite("BFPV1\n", 1, 6, stdout);
  unsigned char hdr[2] = { NOPS & 0xff, NOPS >> 8 };
  fwrite(hdr, 1, 2, stdout);
  for (int o = 0; o < (int)NOPS; o++) {
    unsigned char l = (unsigned char)strlen(ops[o].name);
    fwrite(&l, 1, 1, stdout);
    fwrite(ops[o].name, 1, l, stdout);
    l = (unsigned char)strlen(ops[o].sig);
    fwrite(&l, 1, 1, stdout);
    fwrite(ops[o].sig, 1, l, stdout);
    l = (unsigned char)ops[o].rounded;
    fwrite(&l, 1, 1, stdout);
  }
  unsigned char cnt[4] = { nrec & 0xff, (nrec >> 8) & 0xff, (nrec >> 16) & 0xff, nrec >> 24 };
  fwrite(cnt, 1, 4, stdout);
  fwrite(out, 1, outlen, stdout);
  fprintf(stderr, "%u records, %zu bytes\n", nrec, outlen);
  return 0;
}
