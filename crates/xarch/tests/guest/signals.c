// Asynchronous signals: delivery to a spinning loop, to the right
// thread, SA_RESTART around blocking calls, sigaltstack, rt_sigtimedwait,
// signalfd, real-time signals (including those glibc reserves).
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

static int failures;
#define CHECK(c, ...)                                                         \
    do {                                                                      \
        if (!(c)) {                                                           \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                       \
            printf(__VA_ARGS__);                                              \
            printf("\n");                                                     \
            failures++;                                                       \
        }                                                                     \
    } while (0)

static volatile int hits;
static volatile pid_t handler_tid;
static volatile uintptr_t handler_sp;
static volatile int handler_onstack;
static volatile int rt_value;

static void on_sig(int sig, siginfo_t *si, void *ctx) {
    int local;
    hits++;
    handler_tid = syscall(SYS_gettid);
    handler_sp = (uintptr_t)&local;
    stack_t ss;
    sigaltstack(NULL, &ss);
    handler_onstack = (ss.ss_flags & SS_ONSTACK) != 0;
    if (si->si_code == SI_QUEUE)
        rt_value = si->si_value.sival_int;
}

static void install(int sig, int flags) {
    struct sigaction sa = {0};
    sa.sa_sigaction = on_sig;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0)
        printf("sigaction %d: %s\n", sig, strerror(errno));
}

// Raw rt_sigaction: glibc refuses the signals it reserves (32, 33).
static void install_raw(int sig) {
    struct {
        void *handler;
        unsigned long flags;
        void *restorer;
        uint64_t mask;
    } ka = {(void *)on_sig, SA_SIGINFO, 0, 0};
    long r = syscall(SYS_rt_sigaction, sig, &ka, NULL, 8);
    CHECK(r == 0, "raw rt_sigaction(%d) = %ld", sig, r);
}

static int pipefd[2];
static pid_t reader_tid;
static volatile long read_result;
static volatile int read_errno;

static void *reader(void *arg) {
    char c;
    reader_tid = syscall(SYS_gettid);
    long r = read(pipefd[0], &c, 1);
    read_errno = errno;
    read_result = r;
    return NULL;
}

static void test_restart(int restart) {
    install(SIGUSR1, restart ? SA_RESTART : 0);
    pipe(pipefd);
    reader_tid = 0;
    read_result = -2;
    pthread_t t;
    pthread_create(&t, NULL, reader, NULL);
    while (!reader_tid)
        usleep(1000);
    usleep(50000); // let it block in read
    hits = 0;
    syscall(SYS_tgkill, getpid(), reader_tid, SIGUSR1);
    while (!hits)
        usleep(1000);
    CHECK(handler_tid == reader_tid, "handler ran on %d, not the target %d", handler_tid, reader_tid);
    usleep(50000);
    if (restart) {
        CHECK(read_result == -2, "SA_RESTART read returned %ld", read_result);
        write(pipefd[1], "x", 1);
    }
    pthread_join(t, NULL);
    if (restart)
        CHECK(read_result == 1, "restarted read = %ld", read_result);
    else
        CHECK(read_result == -1 && read_errno == EINTR, "read = %ld errno %d", read_result, read_errno);
    close(pipefd[0]);
    close(pipefd[1]);
}

int main(void) {
    // 1. A timer signal reaches a guest spinning without system calls.
    install(SIGALRM, 0);
    hits = 0;
    struct itimerval it = {{0, 0}, {0, 20000}};
    setitimer(ITIMER_REAL, &it, NULL);
    volatile unsigned long spins = 0;
    while (!hits)
        spins++;
    CHECK(hits == 1, "alarm hits %d", hits);

    // 2. Thread-directed signals; SA_RESTART and EINTR around a blocking read.
    test_restart(1);
    test_restart(0);

    // 3. sigaltstack + SA_ONSTACK.
    static char alt[65536];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
    CHECK(sigaltstack(&ss, NULL) == 0, "sigaltstack");
    install(SIGUSR2, SA_ONSTACK);
    hits = 0;
    raise(SIGUSR2);
    CHECK(hits == 1, "SIGUSR2 hits %d", hits);
    CHECK(handler_sp >= (uintptr_t)alt && handler_sp < (uintptr_t)alt + sizeof alt,
          "handler sp %#lx not on the alternate stack", (unsigned long)handler_sp);
    CHECK(handler_onstack, "sigaltstack in handler does not report SS_ONSTACK");
    install(SIGUSR2, 0);
    raise(SIGUSR2);
    CHECK(!(handler_sp >= (uintptr_t)alt && handler_sp < (uintptr_t)alt + sizeof alt),
          "handler without SA_ONSTACK ran on the alternate stack");

    // 4. Blocked signal stays pending; sigpending; rt_sigtimedwait takes it.
    sigset_t set, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    hits = 0;
    raise(SIGUSR1);
    CHECK(hits == 0, "blocked signal delivered");
    sigpending(&pend);
    CHECK(sigismember(&pend, SIGUSR1), "sigpending misses SIGUSR1");
    siginfo_t si;
    struct timespec ts = {1, 0};
    int s = sigtimedwait(&set, &si, &ts);
    CHECK(s == SIGUSR1 && si.si_signo == SIGUSR1, "sigtimedwait = %d", s);

    // 5. signalfd reads a blocked signal.
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    CHECK(sfd >= 0, "signalfd: %s", strerror(errno));
    raise(SIGUSR1);
    struct signalfd_siginfo fdsi;
    CHECK(read(sfd, &fdsi, sizeof fdsi) == sizeof fdsi && fdsi.ssi_signo == SIGUSR1,
          "signalfd read");
    close(sfd);
    sigprocmask(SIG_UNBLOCK, &set, NULL);

    // 6. Real-time signals: queued with a value, and those glibc reserves.
    install(SIGRTMIN + 3, 0);
    union sigval v = {.sival_int = 4242};
    rt_value = 0;
    sigqueue(getpid(), SIGRTMIN + 3, v);
    CHECK(rt_value == 4242, "sigqueue value %d", rt_value);
    for (int sig = 32; sig <= 33; sig++) {
        install_raw(sig);
        hits = 0;
        syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
        CHECK(hits == 1, "signal %d hits %d", sig, hits);
    }
    install(64, 0);
    hits = 0;
    raise(64);
    CHECK(hits == 1, "signal 64 hits %d", hits);

    // 7. sigsuspend waits for an unblocked signal with a temporary mask.
    sigprocmask(SIG_BLOCK, &set, NULL);
    install(SIGUSR1, 0);
    hits = 0;
    raise(SIGUSR1);
    sigset_t empty;
    sigemptyset(&empty);
    int r = sigsuspend(&empty);
    CHECK(r == -1 && errno == EINTR && hits == 1, "sigsuspend %d hits %d", r, hits);
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    CHECK(sigismember(&now, SIGUSR1), "sigsuspend did not restore the mask");

    if (failures)
        return 1;
    printf("signals ok\n");
    return 0;
}
