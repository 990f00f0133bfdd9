/*
 * Bonsai's CPU benchmark guest: a bare-metal RV64 program doing integer work typical of real code, for
 * `npm run bench` to time (MIPS) beside QEMU. Six kernels, each checking its own result against a constant:
 *   sort     quicksort (median of three, insertion sort below 16) of pseudo-random 32-bit keys
 *   crc32    table-driven CRC-32 (IEEE, reflected) over a generated buffer, and a bitwise one to cross-check
 *   interp   a switch-dispatched stack-machine interpreter running a bytecode program (primes by trial division)
 *   matmul   64x64 integer matrix multiply, repeated over evolving matrices
 *   strhash  FNV-1a hashing of generated identifiers into an open-addressing hash table, then lookups
 *   sieve    sieve of Eratosthenes over a byte array
 * It returns 0 when every checksum matches, else the number of the first kernel that failed (HTIF fail code).
 * The expected checksums come from building this same file for the host (cc -DHOST bench.c && ./a.out), which
 * prints them; every computation uses fixed-width unsigned arithmetic, so host and guest agree.
 * Instruction count on QEMU 7.2 (-icount shift=0, minstret at exit): 347 million (sort 42M, crc32 19M,
 * interp 164M, matmul 38M, strhash 53M, sieve 27M); build with -DREPORT to print these per kernel.
 * Memory: about 600 KiB of .bss, the stack is start.sx's 64 KiB.
 */
#include <stdint.h>
#include <stddef.h>

#ifdef HOST
#include <stdio.h>
#endif

#ifndef HOST
/* Freestanding: the compiler may emit calls to these (build.sh passes -fno-tree-loop-distribute-patterns so
   that these loops are not themselves turned back into calls). */
void *memset(void *d, int c, size_t n) {
  unsigned char *p = d;
  while (n--) *p++ = (unsigned char)c;
  return d;
}
void *memcpy(void *d, const void *s, size_t n) {
  unsigned char *p = d;
  const unsigned char *q = s;
  while (n--) *p++ = *q++;
  return d;
}
#endif

static uint64_t rng_state;
static void rng_seed(uint64_t s) { rng_state = s ? s : 0x9e3779b97f4a7c15ull; }
static uint64_t rng_next(void) {
  uint64_t x = rng_state;   /* xorshift64* */
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rng_state = x;
  return x * 0x2545f4914f6cdd1dull;
}

/* ---- sort ---- */
#define SORT_N 16384
static uint32_t sort_a[SORT_N];

static void insertion(uint32_t *a, long lo, long hi) {
  for (long i = lo + 1; i <= hi; i++) {
    uint32_t v = a[i];
    long j = i - 1;
    while (j >= lo && a[j] > v) { a[j + 1] = a[j]; j--; }
    a[j + 1] = v;
  }
}
static void swap32(uint32_t *a, long i, long j) { uint32_t t = a[i]; a[i] = a[j]; a[j] = t; }
static void quicksort(uint32_t *a, long lo, long hi) {
  while (hi - lo > 16) {
    long mid = lo + (hi - lo) / 2;
    if (a[mid] < a[lo]) swap32(a, mid, lo);
    if (a[hi] < a[lo]) swap32(a, hi, lo);
    if (a[hi] < a[mid]) swap32(a, hi, mid);
    uint32_t pivot = a[mid];
    long i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) { swap32(a, i, j); i++; j--; }
    }
    /* recurse into the smaller part, loop on the larger: stack depth stays logarithmic */
    if (j - lo < hi - i) { quicksort(a, lo, j); lo = i; }
    else { quicksort(a, i, hi); hi = j; }
  }
  insertion(a, lo, hi);
}
static uint64_t bench_sort(void) {
  uint64_t sum = 0;
  for (int round = 0; round < 20; round++) {
    rng_seed(1000 + round);
    for (long i = 0; i < SORT_N; i++) sort_a[i] = (uint32_t)(rng_next() >> 32) % (round & 1 ? 1000u : 0xffffffffu);
    quicksort(sort_a, 0, SORT_N - 1);
    for (long i = 1; i < SORT_N; i++)
      if (sort_a[i - 1] > sort_a[i]) return 0;   /* not sorted: a checksum no run produces */
    for (long i = 0; i < SORT_N; i += 7) sum = sum * 31 + sort_a[i] + (uint64_t)i;
  }
  return sum;
}

/* ---- crc32 ---- */
#define CRC_LEN 65536
static uint8_t crc_buf[CRC_LEN];
static uint32_t crc_table[256];
static void crc_init(void) {
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    crc_table[n] = c;
  }
}
static uint32_t crc_tab(uint32_t crc, const uint8_t *p, size_t n) {
  crc = ~crc;
  while (n--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}
static uint32_t crc_bits(uint32_t crc, const uint8_t *p, size_t n) {
  crc = ~crc;
  while (n--) {
    crc ^= *p++;
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
  }
  return ~crc;
}
static uint64_t bench_crc(void) {
  crc_init();
  rng_seed(42);
  for (long i = 0; i < CRC_LEN; i += 8) {
    uint64_t r = rng_next();
    for (int k = 0; k < 8; k++) crc_buf[i + k] = (uint8_t)(r >> (8 * k));
  }
  uint64_t sum = 0;
  uint32_t crc = 0;
  for (int round = 0; round < 24; round++) {
    crc = crc_tab(crc, crc_buf, CRC_LEN);
    crc_buf[round * 97] ^= (uint8_t)crc;       /* vary the data between rounds */
    sum = sum * 0x100000001b3ull + crc;
  }
  /* the bitwise form over a slice must agree with the table form */
  uint32_t a = crc_tab(0, crc_buf, 16384), b = crc_bits(0, crc_buf, 16384);
  if (a != b) return 0;
  return sum ^ ((uint64_t)a << 32);
}

/* ---- interpreter ---- */
enum { OP_PUSH, OP_LOAD, OP_STORE, OP_ADD, OP_SUB, OP_MUL, OP_MOD, OP_LT, OP_EQ, OP_JMP, OP_JZ, OP_JNZ,
       OP_DUP, OP_DROP, OP_HALT };
/* The bytecode program, built by build_prog() with back-patched jump targets:
     for (n = 2; n < limit; n++) { d = 2; while (!(n < d * d) && n % d != 0) d++;
                                   if (n < d * d) { count++; sum += n; } }
   variables: n = 0, d = 1, count = 2, sum = 3, limit = 4. */
static int32_t code[256];
static int build_prog(void) {
  int pc = 0;
#define E(x) (code[pc++] = (x))
  E(OP_PUSH); E(2); E(OP_STORE); E(0);
  int loop_n = pc;
  E(OP_LOAD); E(0); E(OP_LOAD); E(4); E(OP_LT); E(OP_JZ); int fix_done = pc; E(0);
  E(OP_PUSH); E(2); E(OP_STORE); E(1);
  int loop_d = pc;
  E(OP_LOAD); E(0); E(OP_LOAD); E(1); E(OP_DUP); E(OP_MUL); E(OP_LT); E(OP_JNZ); int fix_after1 = pc; E(0);
  E(OP_LOAD); E(0); E(OP_LOAD); E(1); E(OP_MOD); E(OP_JZ); int fix_after2 = pc; E(0);
  E(OP_LOAD); E(1); E(OP_PUSH); E(1); E(OP_ADD); E(OP_STORE); E(1); E(OP_JMP); E(loop_d);
  int after_d = pc;
  code[fix_after1] = after_d;
  code[fix_after2] = after_d;
  E(OP_LOAD); E(0); E(OP_LOAD); E(1); E(OP_DUP); E(OP_MUL); E(OP_LT); E(OP_JZ); int fix_next = pc; E(0);
  E(OP_LOAD); E(2); E(OP_PUSH); E(1); E(OP_ADD); E(OP_STORE); E(2);
  E(OP_LOAD); E(3); E(OP_LOAD); E(0); E(OP_ADD); E(OP_STORE); E(3);
  int next_n = pc;
  code[fix_next] = next_n;
  E(OP_LOAD); E(0); E(OP_PUSH); E(1); E(OP_ADD); E(OP_STORE); E(0); E(OP_JMP); E(loop_n);
  code[fix_done] = pc;
  E(OP_HALT);
#undef E
  return pc;
}
static int64_t vars[8];
static int64_t stack[64];
static uint64_t interp(const int32_t *c) {
  int64_t *sp = stack;
  long pc = 0;
  uint64_t steps = 0;
  for (;;) {
    steps++;
    switch (c[pc++]) {
    case OP_PUSH: *sp++ = c[pc++]; break;
    case OP_LOAD: *sp++ = vars[c[pc++]]; break;
    case OP_STORE: vars[c[pc++]] = *--sp; break;
    case OP_ADD: sp--; sp[-1] = sp[-1] + sp[0]; break;
    case OP_SUB: sp--; sp[-1] = sp[-1] - sp[0]; break;
    case OP_MUL: sp--; sp[-1] = sp[-1] * sp[0]; break;
    case OP_MOD: sp--; sp[-1] = sp[-1] % sp[0]; break;
    case OP_LT: sp--; sp[-1] = sp[-1] < sp[0]; break;
    case OP_EQ: sp--; sp[-1] = sp[-1] == sp[0]; break;
    case OP_JMP: pc = c[pc]; break;
    case OP_JZ: if (*--sp == 0) pc = c[pc]; else pc++; break;
    case OP_JNZ: if (*--sp != 0) pc = c[pc]; else pc++; break;
    case OP_DUP: sp[0] = sp[-1]; sp++; break;
    case OP_DROP: sp--; break;
    case OP_HALT: return steps;
    default: return 0;
    }
  }
}
static uint64_t bench_interp(void) {
  build_prog();
  uint64_t sum = 0;
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 8; i++) vars[i] = 0;
    vars[4] = 12000 + round * 500;
    uint64_t steps = interp(code);
    sum = sum * 1000003 + steps;
    sum = sum * 1000003 + (uint64_t)vars[2];
    sum = sum * 1000003 + (uint64_t)vars[3];
  }
  return sum;
}

/* ---- matmul ---- */
#define MN 64
static int32_t ma[MN][MN], mb[MN][MN], mc[MN][MN];
static uint64_t bench_matmul(void) {
  rng_seed(7);
  for (int i = 0; i < MN; i++)
    for (int j = 0; j < MN; j++) {
      ma[i][j] = (int32_t)(rng_next() % 201) - 100;
      mb[i][j] = (int32_t)(rng_next() % 201) - 100;
    }
  uint64_t sum = 0;
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < MN; i++)
      for (int j = 0; j < MN; j++) {
        int32_t acc = 0;
        for (int k = 0; k < MN; k++) acc += ma[i][k] * mb[k][j];
        mc[i][j] = acc;
      }
    /* fold the product back into a, kept small: a = (c >> 8) mod 201 - 100 */
    for (int i = 0; i < MN; i++)
      for (int j = 0; j < MN; j++) {
        sum = sum * 31 + (uint32_t)mc[i][j];
        ma[i][j] = (int32_t)(((uint32_t)mc[i][j] >> 8) % 201) - 100;
      }
  }
  return sum;
}

/* ---- strhash ---- */
#define HT_SIZE 8192            /* power of two */
#define NKEYS 5000
#define KEYLEN 24
static char keys[NKEYS][KEYLEN];
static int32_t ht[HT_SIZE];     /* index into keys, or -1 */
static uint32_t fnv1a(const char *s) {
  uint32_t h = 2166136261u;
  while (*s) { h ^= (uint8_t)*s++; h *= 16777619u; }
  return h;
}
static int streq(const char *a, const char *b) {
  while (*a && *a == *b) { a++; b++; }
  return *a == *b;
}
static uint64_t bench_strhash(void) {
  static const char alpha[] = "abcdefghijklmnopqrstuvwxyz_0123456789";
  uint64_t sum = 0;
  for (int round = 0; round < 4; round++) {
    rng_seed(99 + round);
    for (int i = 0; i < NKEYS; i++) {
      uint64_t r = rng_next();
      int len = 6 + (int)(r % 16);
      r = rng_next();
      for (int k = 0; k < len; k++) {
        if (k % 10 == 9) r = rng_next();
        keys[i][k] = alpha[(r >> (6 * (k % 10))) % 37];
      }
      keys[i][len] = 0;
    }
    for (int i = 0; i < HT_SIZE; i++) ht[i] = -1;
    uint32_t inserted = 0, dups = 0;
    for (int i = 0; i < NKEYS; i++) {
      uint32_t h = fnv1a(keys[i]) & (HT_SIZE - 1);
      for (;;) {
        if (ht[h] < 0) { ht[h] = i; inserted++; break; }
        if (streq(keys[ht[h]], keys[i])) { dups++; break; }
        h = (h + 1) & (HT_SIZE - 1);
      }
    }
    /* look every key up 8 times, and some absent ones */
    uint32_t found = 0, probes = 0;
    for (int rep = 0; rep < 8; rep++)
      for (int i = 0; i < NKEYS; i++) {
        char tmp[KEYLEN];
        int k = 0;
        while ((tmp[k] = keys[i][k]) != 0) k++;
        if (rep & 1) { tmp[k] = 'X'; tmp[k + 1] = 0; }
        uint32_t h = fnv1a(tmp) & (HT_SIZE - 1);
        while (ht[h] >= 0) {
          probes++;
          if (streq(keys[ht[h]], tmp)) { found++; break; }
          h = (h + 1) & (HT_SIZE - 1);
        }
      }
    sum = sum * 0x9e3779b1u + inserted;
    sum = sum * 0x9e3779b1u + dups;
    sum = sum * 0x9e3779b1u + found;
    sum = sum * 0x9e3779b1u + probes;
  }
  return sum;
}

/* ---- sieve ---- */
#define SIEVE_N 300000
static uint8_t composite[SIEVE_N];
static uint64_t bench_sieve(void) {
  uint64_t sum = 0;
  for (int round = 0; round < 4; round++) {
    uint32_t n = SIEVE_N - round * 1000;
    for (uint32_t i = 0; i < n; i++) composite[i] = 0;
    for (uint32_t i = 2; i * i < n; i++)
      if (!composite[i])
        for (uint32_t j = i * i; j < n; j += i) composite[j] = 1;
    uint32_t count = 0;
    uint64_t s = 0;
    for (uint32_t i = 2; i < n; i++)
      if (!composite[i]) { count++; s += i; }
    sum = sum * 1000003 + count;
    sum = sum * 1000003 + s;
  }
  return sum;
}

static const uint64_t expected[6] = {
  0xa54f3ddcdc83ddf2ull,   /* sort */
  0xa7c0f425aac7e7a3ull,   /* crc32 */
  0xe019433ddf360055ull,   /* interp */
  0xc332a8620e3d42c6ull,   /* matmul */
  0x1b416506f69a998cull,   /* strhash */
  0x5b796a486cddbea2ull,   /* sieve */
};

#ifdef REPORT
/* build.sh -DREPORT: print each kernel's minstret delta on the HTIF console (device 1, command 1), to
   calibrate under qemu-system-riscv64 -M spike -icount shift=0. */
extern volatile uint64_t tohost, fromhost;
static void putc_htif(char c) {
  tohost = (1ull << 56) | (1ull << 48) | (uint8_t)c;
  while (tohost) {}
  fromhost = 0;
}
static void report(const char *name, uint64_t n) {
  char buf[24];
  int k = 0;
  while (*name) putc_htif(*name++);
  putc_htif(' ');
  do { buf[k++] = (char)('0' + n % 10); n /= 10; } while (n);
  while (k) putc_htif(buf[--k]);
  putc_htif('\n');
}
static uint64_t rdinstret(void) { uint64_t v; __asm__ volatile("rdinstret %0" : "=r"(v)); return v; }
#define RUN(i, name, fn) do { uint64_t t0 = rdinstret(); got[i] = fn(); report(name, rdinstret() - t0); } while (0)
#else
#define RUN(i, name, fn) (got[i] = fn())
#endif

int bench_main(void) {
  uint64_t got[6];
  RUN(0, "sort", bench_sort);
  RUN(1, "crc32", bench_crc);
  RUN(2, "interp", bench_interp);
  RUN(3, "matmul", bench_matmul);
  RUN(4, "strhash", bench_strhash);
  RUN(5, "sieve", bench_sieve);
#ifdef REPORT
  report("total", rdinstret());
#endif
#ifdef HOST
  for (int i = 0; i < 6; i++) printf("  0x%016llxull,\n", (unsigned long long)got[i]);
#endif
  for (int i = 0; i < 6; i++)
    if (got[i] != expected[i]) return i + 1;
  return 0;
}

#ifdef HOST
int main(void) { return bench_main(); }
#endif
