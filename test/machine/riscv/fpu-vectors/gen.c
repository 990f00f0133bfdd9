/*
 * Reference vectors for Bonsai's FPU (src/machine/riscv/fpu.ts), made by a real RISC-V implementation.
 *
 * Runs as a RISC-V Linux program (under qemu-riscv64, or on hardware): for a deterministic set of inputs
 * (hand-picked edge cases plus pseudo-random values shaped to hit cancellation, halfway cases, underflow,
 * overflow and integer limits) it executes each F/D instruction with each static rounding mode and records
 * the operands, the result bits and the fflags (cleared before, read after).
 * Writes the binary format below to stdout; gen.sh compresses it into vectors.bin.gz.
 *
 * Format (little-endian):
 *   "BFPV1\n", u16 op count, per op: u8 name length, name, u8 signature length, signature (result type then
 *   operand types: S single, D double, X integer register), u8 rounded (1: run in the five modes RNE..RMM)
 *   u32 record count, then records:
 *   u8 op, u8 wide (1: S operands are stored as raw 64-bit register values, possibly not NaN-boxed),
 *   operands (S: 4 bytes, boxed, or 8 when wide; D, X: 8 bytes), the RNE result (S: 4 bytes, D, X: 8),
 *   u8 fflags per mode, then for modes RTZ..RMM an i8 difference from the RNE result bits, or -128 followed
 *   by the full result.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* How the inputs of an op are chosen. */
enum gen { G_ADD, G_MUL, G_DIV, G_SQRT, G_FMA, G_CMP, G_CVT_SD, G_CVT_DS, G_TOINT, G_FROMINT, G_UNARY, G_MVX };

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
static const struct fmt FS = { 23, 127, 255 }, FD = { 52, 1023, 2047 };

static uint64_t mk(const struct fmt *F, int sign, int bexp, uint64_t mant) {
  if (bexp < 0) bexp = 0;
  if (bexp > F->emax - 1) bexp = F->emax - 1;
  return ((uint64_t)sign << (F->mbits + (F == &FD ? 11 : 8))) | ((uint64_t)bexp << F->mbits) | (mant & ((1ull << F->mbits) - 1));
}
static int bexp_of(const struct fmt *F, uint64_t v) { return (int)((v >> F->mbits) & (uint64_t)F->emax); }
static uint64_t mant_of(const struct fmt *F, uint64_t v) { return v & ((1ull << F->mbits) - 1); }
static int sign_of(const struct fmt *F, uint64_t v) { return (int)(v >> (F->mbits + (F == &FD ? 11 : 8))) & 1; }

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

static uint64_t edge(const struct fmt *F) { return F == &FD ? edges_d[rn(NEDGE)] : edges_s[rn(NEDGE)]; }

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

/* The exact-ish product, for operands of the fused ops that nearly cancel it. */
static uint64_t neg_product(const struct fmt *F, uint64_t a, uint64_t b) {
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
    case 2: *b = nudge(*a) ^ (1ull << (F->mbits + (F == &FD ? 11 : 8))); break; /* near cancellation */
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
      long double t = 1 - (long double)(rn(8) + 1) / (F == &FD ? 72057594037927936.0L : 536870912.0L);
      if (F == &FD) { *b = bits_d(bd); *a = bits_d((double)(bd * t * 0x1p-1022L)); }
      else { *b = bits_f((float)bd); *a = bits_f((float)((double)(float)bd * (double)t * 0x1p-126)); }
      if (rn(2)) { *a ^= 1ull << (F->mbits + (F == &FD ? 11 : 8)); }
      break;
    }
    if (g == G_DIV && rn(5) == 0) {
      /* A dividend that is a small multiple of the divisor: exact quotients. */
      int k = 1 + rn(255);
      *a = F == &FD ? bits_d(d_of(*b) * k) : bits_f(f_of(*b) * (float)k);
    }
    if (rn(8) == 0) *b = rany(F);
    if (rn(8) == 0) *a = rany(F);
    break;
  }
  default: /* G_CMP: equal values, opposite signs, NaNs, unordered mixes */
    switch (rn(5)) {
    case 0: *b = *a; break;
    case 1: *b = *a ^ (1ull << (F->mbits + (F == &FD ? 11 : 8))); break;
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
    return F == &FD ? bits_d(d_of(r) * d_of(r)) : bits_f(f_of(r) * f_of(r));
  }
  default: return rval(F, 0, F->emax - 1) & ~(1ull << (F->mbits + (F == &FD ? 11 : 8)));
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
  }
  put8((unsigned)o);
  put8((unsigned)wide);
  for (int i = 0; i < nin; i++) putn(stored[i], op->sig[1 + i] == 'S' && !wide ? 4 : 8);
  int rsize = rt == 'S' ? 4 : 8;
  putn(res[0], rsize);
  for (int m = 0; m < modes; m++) put8(fl[m]);
  for (int m = 1; m < modes; m++) {
    int64_t d = rt == 'S' ? (int64_t)(int32_t)(uint32_t)(res[m] - res[0]) : (int64_t)(res[m] - res[0]);
    if (d >= -127 && d <= 127) put8((unsigned)(d & 0xff));
    else { put8(0x80); putn(res[m], rsize); }
  }
  nrec++;
}

/* Operands given as format values (singles unboxed 32-bit): box them for the registers. */
static void emit(int o, uint64_t a, uint64_t b, uint64_t c) {
  const char *sig = ops[o].sig;
  uint64_t st[3] = { a, b, c }, reg[3];
  for (int i = 0; i < 3; i++) reg[i] = sig[1 + i] == 'S' ? box(st[i]) : st[i];
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
    const struct fmt *F = ft == 'D' ? &FD : &FS;
    const uint64_t *edges = ft == 'D' ? edges_d : edges_s;

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
      case G_FROMINT: a = gen_fromint(); break;
      case G_UNARY: a = rany(F); break;
      case G_MVX: a = rnd(); if (rn(2)) a = box(a); break;
      }
      emit(o, a, b, c);
    }

    /* Singles that are not NaN-boxed read as the canonical NaN (fmv.x.w still moves the low bits). */
    int hasS = 0;
    for (int i = 1; sig[i]; i++) if (sig[i] == 'S') hasS = 1;
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
