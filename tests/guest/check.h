/* Shared helpers for the guest test programs.
 *
 * Every program prints deterministic lines (no addresses, pids or times) so
 * that the arm64 build under the runner and the native x86_64 build print the
 * same bytes. Architecture-specific values are compared inside the program
 * against EXPECT_MACHINE (set by build.sh) and printed as "ok".
 * CHECK() prints a line for a failed assertion and counts it; main returns
 * the count so a failure shows in both the output and the exit status. */
#ifndef XARCH_GUEST_CHECK_H
#define XARCH_GUEST_CHECK_H
#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifndef EXPECT_MACHINE
#error "build with -DEXPECT_MACHINE=\"aarch64\" or \"x86_64\" (see build.sh)"
#endif

static int failures;

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            printf("FAIL %s:%d: %s (errno %d %s)\n", __FILE__, __LINE__,      \
                   #cond, errno, strerror(errno));                            \
            failures++;                                                       \
        }                                                                     \
    } while (0)

/* Prints "name: ok" or "name: FAIL". */
#define REPORT(name, cond)                                                    \
    do {                                                                      \
        int ok_ = (cond);                                                     \
        printf("%s: %s\n", name, ok_ ? "ok" : "FAIL");                        \
        if (!ok_) failures++;                                                 \
    } while (0)

#define FINISH()                                                              \
    do {                                                                      \
        printf("failures: %d\n", failures);                                   \
        fflush(stdout);                                                       \
        return failures ? 1 : 0;                                              \
    } while (0)

#endif
