/* Time: clock_gettime (REALTIME, MONOTONIC, process CPU), time(),
 * gettimeofday, nanosleep, clock_getres, gmtime/strftime, times(). Prints
 * only relations between clocks, never their values. */
#define _GNU_SOURCE
#include "check.h"
#include <stdlib.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

static double secs(struct timespec t) { return (double)t.tv_sec + (double)t.tv_nsec / 1e9; }

int main(void) {
    struct timespec rt, mono1, mono2, res, cpu;
    CHECK(clock_gettime(CLOCK_REALTIME, &rt) == 0);
    time_t now = time(NULL);
    struct timeval tv;
    CHECK(gettimeofday(&tv, NULL) == 0);
    REPORT("time() within 2 s of CLOCK_REALTIME", labs((long)(now - rt.tv_sec)) <= 2);
    REPORT("gettimeofday within 2 s", labs((long)(tv.tv_sec - rt.tv_sec)) <= 2);
    REPORT("realtime after 2020", rt.tv_sec > 1577836800);
    REPORT("tv_nsec in range", rt.tv_nsec >= 0 && rt.tv_nsec < 1000000000);

    CHECK(clock_gettime(CLOCK_MONOTONIC, &mono1) == 0);
    struct timespec d = {0, 20 * 1000 * 1000};
    CHECK(nanosleep(&d, NULL) == 0);
    CHECK(clock_gettime(CLOCK_MONOTONIC, &mono2) == 0);
    double el = secs(mono2) - secs(mono1);
    REPORT("nanosleep 20 ms: monotonic advanced >= 20 ms", el >= 0.020);
    REPORT("nanosleep 20 ms: and < 5 s", el < 5.0);
    int mono_ok = 1;
    struct timespec prev = mono2, cur;
    for (int i = 0; i < 1000; i++) {
        clock_gettime(CLOCK_MONOTONIC, &cur);
        mono_ok &= secs(cur) >= secs(prev);
        prev = cur;
    }
    REPORT("CLOCK_MONOTONIC never goes back", mono_ok);
    CHECK(clock_getres(CLOCK_MONOTONIC, &res) == 0);
    REPORT("clock_getres MONOTONIC <= 1 ms", res.tv_sec == 0 && res.tv_nsec > 0 && res.tv_nsec <= 1000000);
    CHECK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu) == 0);
    REPORT("process CPU clock readable", cpu.tv_sec >= 0);
    struct timespec bt;
    REPORT("CLOCK_BOOTTIME >= MONOTONIC - 1s", clock_gettime(CLOCK_BOOTTIME, &bt) == 0 && secs(bt) + 1 >= secs(mono2));

    time_t t0 = 0, t1 = 1234567890;
    struct tm tm;
    char buf[64];
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %a %j", gmtime_r(&t0, &tm));
    printf("gmtime(0): %s\n", buf);
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %a %j", gmtime_r(&t1, &tm));
    printf("gmtime(1234567890): %s\n", buf);
    tm.tm_year = 2000 - 1900, tm.tm_mon = 1, tm.tm_mday = 29, tm.tm_hour = 12, tm.tm_min = 0, tm.tm_sec = 0;
    printf("timegm(2000-02-29 12:00): %lld\n", (long long)timegm(&tm));

    struct tms tmsb;
    REPORT("times() works", times(&tmsb) != (clock_t)-1);
    printf("sysconf(_SC_CLK_TCK): %ld\n", sysconf(_SC_CLK_TCK));
    FINISH();
}
