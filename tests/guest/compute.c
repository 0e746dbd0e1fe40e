/* Plain computation through libc: integer and floating point arithmetic with
 * edge cases, 128-bit integers, bit operations, string and memory functions
 * at odd alignments, qsort, printf/strtod formatting, setjmp/longjmp.
 * Only IEEE-exact operations (no libm transcendental functions, whose last
 * bit may differ between architectures' libm). */
#include "check.h"
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>

static jmp_buf jb;
static int icmp(const void *a, const void *b) { int x = *(const int *)a, y = *(const int *)b; return (x > y) - (x < y); }
static void jump(int v) { longjmp(jb, v); }

int main(int argc, char **argv) {
    (void)argv;
    volatile int64_t big = INT64_MAX, mn = INT64_MIN, m1 = -1 + (argc - 1);
    printf("int64 max/min: %" PRId64 " %" PRId64 "\n", big, mn);
    printf("div/mod: %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 "\n", (int64_t)-7 / 2, (int64_t)-7 % 2, big / 3, mn / 7);
    printf("m1: %" PRId64 "\n", m1);
    volatile uint64_t u = 0xdeadbeefcafebabeULL;
    printf("shifts: %016" PRIx64 " %016" PRIx64 " %016" PRIx64 "\n", u << 13, u >> 7, (uint64_t)((int64_t)u >> 7));
    printf("rot: %016" PRIx64 "\n", (u << 17) | (u >> 47));
    printf("clz/ctz/popcount: %d %d %d\n", __builtin_clzll(u), __builtin_ctzll(u), __builtin_popcountll(u));
    printf("bswap: %016" PRIx64 "\n", __builtin_bswap64(u));
    unsigned __int128 p = (unsigned __int128)u * u;
    printf("u128 mul: %016" PRIx64 "%016" PRIx64 "\n", (uint64_t)(p >> 64), (uint64_t)p);
    __int128 sp = (__int128)(int64_t)u * 12345;
    printf("s128 mul hi: %" PRId64 "\n", (int64_t)(sp >> 64));
    unsigned __int128 q = p / 1000000007u;
    printf("u128 div: %016" PRIx64 "%016" PRIx64 " rem %" PRIu64 "\n", (uint64_t)(q >> 64), (uint64_t)q, (uint64_t)(p % 1000000007u));
    int of;
    int32_t r32;
    of = __builtin_add_overflow((int32_t)INT32_MAX, 1, &r32);
    printf("add overflow: %d %d\n", of, r32);
    of = __builtin_mul_overflow((int64_t)INT64_MAX / 2, 3, &big);
    printf("mul overflow: %d\n", of);
    uint32_t x = 1;
    for (int i = 0; i < 100; i++) x = x * 1664525u + 1013904223u;
    printf("lcg: %u\n", x);
    uint8_t c8 = 250;
    c8 += 10;
    int8_t s8 = (int8_t)200;
    uint16_t c16 = 65535;
    c16++;
    printf("narrow: %u %d %u %d\n", c8, s8, c16, (int)(int16_t)40000);

    volatile double a = 1.0 / 3.0, b = 1e308, z = 0.0 * (argc - 1);
    printf("%.17g %.17g %.17g\n", a, a * 3, b * 10);
    printf("%g %g %g\n", z / z == z / z ? 1.0 : -1.0, -b * 10, 1.0 / (z - 0.0));
    printf("sqrt: %.17g %.17g\n", sqrt(2.0), sqrt(1e-300));
    printf("fma: %.17g\n", fma(a, 3.0, -1.0));
    printf("float: %.9g %.9g\n", (float)a, (float)a * 1e30f);
    printf("conv: %d %lld %u %" PRId64 "\n", (int)-2.7, (long long)1e18, (unsigned)3.99, (int64_t)-0.5);
    printf("round: %g %g %g %g %g\n", floor(-2.5), ceil(-2.5), trunc(-2.5), rint(2.5), nearbyint(3.5));
    printf("denormal: %.17g %a\n", DBL_MIN / 4, DBL_MIN / 4);
    printf("hexfloat: %a %a\n", 1.0, -0.1);
    printf("strtod: %.17g %.17g %g\n", strtod("3.14159265358979323846", NULL), strtod("1e-320", NULL), strtod("inf", NULL));
    printf("fmod: %.17g\n", fmod(10.0, 3.3));
    printf("ldexp/frexp: %g ", ldexp(0.75, 10));
    int e;
    double fr = frexp(1000.0, &e);
    printf("%g %d\n", fr, e);
    printf("minmax: %g %g\n", fmin(-0.0, 0.0), fmax(NAN, 1.0));
    printf("cmp nan: %d %d\n", NAN < 1.0, NAN != NAN);
    long double ld = 1.0L / 3.0L;
    printf("long double 1/3 (as double): %.17g, sizeof>=8: %d\n", (double)ld, sizeof(long double) >= 8);

    char buf[300];
    for (int off = 0; off < 8; off++) {
        memset(buf, 0, sizeof buf);
        memcpy(buf + off, "The quick brown fox jumps over the lazy dog", 44);
        memmove(buf + off + 4, buf + off, 20);
        printf("%d:%zu:%s|", off, strlen(buf + off), buf + off);
    }
    printf("\n");
    printf("strcmp/strncmp/memcmp: %d %d %d\n", strcmp("abc", "abd") < 0, strncmp("abcx", "abcy", 3), memcmp("\x80", "\x7f", 1) > 0);
    printf("strchr/strrchr/strstr: %s %s %s\n", strchr("a/b/c", '/'), strrchr("a/b/c", '/'), strstr("haystack", "st"));
    int arr[200];
    for (int i = 0; i < 200; i++) arr[i] = (i * 7919) % 211 - 100;
    qsort(arr, 200, sizeof arr[0], icmp);
    long s = 0;
    for (int i = 0; i < 200; i++) s = s * 31 + arr[i];
    printf("qsort: %d %d %d hash %ld\n", arr[0], arr[100], arr[199], s);
    printf("snprintf: [%5d] [%-5d] [%05.1f] [%x] [%o] [%e] [%s] [%c] [%%]\n", 42, 42, 3.14159, 255, 8, 12345.678, "str", 'c');
    printf("strtol: %ld %ld %lu\n", strtol("-0x1F", NULL, 16), strtol("777", NULL, 8), strtoul("18446744073709551615", NULL, 10));
    int v = setjmp(jb);
    if (v < 3) jump(v + 1);
    printf("setjmp/longjmp: %d\n", v);
    FINISH();
}
