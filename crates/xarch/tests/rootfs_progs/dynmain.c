#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>
#include <time.h>
extern int bump(void);
__thread int exe_tls = 3;                    /* local exec */
static int impl_simd(void) { return 1; }
static int impl_plain(void) { return 0; }
static int (*resolve_which(unsigned long hwcap))(void) { return (hwcap & HWCAP_ASIMD) ? impl_simd : impl_plain; }
int which(void) __attribute__((ifunc("resolve_which")));
int main(int argc, char **argv) {
    printf("args %d %s\n", argc, argc > 1 ? argv[1] : "-");
    printf("libm %.6f %.6f\n", sqrt(2.0), cos(1.0));
    exe_tls += 1;
    printf("tls exe %d lib %d\n", exe_tls, bump());
    unsigned long hw = getauxval(AT_HWCAP);
    printf("ifunc %d asimd %d\n", which(), (hw & HWCAP_ASIMD) != 0);
    char buf[64]; memset(buf, 'x', sizeof buf); buf[63] = 0;
    printf("strlen %zu\n", strlen(buf));
    void *h = dlopen("libplugin.so", RTLD_NOW);
    if (!h) { printf("dlopen: %s\n", dlerror()); return 1; }
    long (*ps)(void) = (long (*)(void))dlsym(h, "plugin_sum");
    printf("plugin %ld %ld\n", ps(), ps());
    void *m = dlopen("libm.so.6", RTLD_NOW);
    double (*c)(double) = (double (*)(double))dlsym(m, "cbrt");
    printf("dlsym cbrt %.3f\n", c(27.0));
    dlclose(h);
    if (getenv("CLOCK_LOOPS")) {
        long n = atol(getenv("CLOCK_LOOPS"));
        struct timespec a, b, t;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (long i = 0; i < n; i++) clock_gettime(CLOCK_MONOTONIC, &t);
        clock_gettime(CLOCK_MONOTONIC, &b);
        printf("clock_gettime %.0f ns/call\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
        /* Whatever served the call (vDSO or system call), it must agree
           with the kernel's clocks and be monotonic. */
        struct timespec k, r, res;
        struct timeval tv;
        clock_gettime(CLOCK_MONOTONIC, &a);
        syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &k);
        clock_gettime(CLOCK_MONOTONIC, &b);
        long long ta = a.tv_sec * 1000000000LL + a.tv_nsec, tk = k.tv_sec * 1000000000LL + k.tv_nsec,
                  tb = b.tv_sec * 1000000000LL + b.tv_nsec;
        clock_gettime(CLOCK_REALTIME, &r);
        gettimeofday(&tv, 0);
        long long dr = (tv.tv_sec - r.tv_sec) * 1000000LL + (tv.tv_usec - r.tv_nsec / 1000);
        printf("vdso %d ordered %d realtime %d res %d bad %d\n", getauxval(AT_SYSINFO_EHDR) != 0,
               ta <= tk && tk <= tb, dr >= 0 && dr < 1000000,
               clock_getres(CLOCK_MONOTONIC, &res) == 0 && res.tv_sec == 0 && res.tv_nsec > 0,
               clock_gettime(12345, &r) == -1);
    }
    return 0;
}
