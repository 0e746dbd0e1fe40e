/* Signals: default actions seen by a parent (WTERMSIG), handlers with
 * SA_SIGINFO, masks and pending signals, SIGSEGV with a precise fault
 * address recovered by siglongjmp, SIGPIPE/EPIPE, SIGCHLD, interval timer. */
#define _GNU_SOURCE
#include "check.h"
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int *volatile bad_ptr = (volatile int *)(uintptr_t)8;

static void die_by(int how) {
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl); /* no core files in the test directory */
    switch (how) {
    case 0: raise(SIGTERM); break;
    case 1: *bad_ptr = 1; break; /* SIGSEGV */
    case 2: abort(); break;
    case 3: kill(getpid(), SIGKILL); break;
    case 4: raise(SIGUSR1); break;
    case 5: raise(SIGALRM); break;
    case 6: __builtin_trap(); break; /* SIGILL on x86_64 (ud2), SIGTRAP on arm64 (brk) */
    case 7: raise(SIGHUP); break;
    }
    pause();
    _exit(99);
}

static volatile sig_atomic_t got_usr1, usr1_code, usr1_pid_ok, got_chld, alarms;
static sigjmp_buf jb;
static volatile void *fault_addr;

static void on_usr1(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    got_usr1 = sig;
    usr1_code = si->si_code;
    usr1_pid_ok = si->si_pid == getpid();
}
static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)uc;
    fault_addr = si->si_addr;
    siglongjmp(jb, 1);
}
static void on_chld(int sig) { (void)sig, got_chld++; }
static void on_alrm(int sig) { (void)sig, alarms++; }
static char *alt_lo, *alt_hi;
static volatile sig_atomic_t on_alt_stack = -1;
static void on_alt(int sig) {
    char here;
    (void)sig;
    on_alt_stack = &here >= alt_lo && &here < alt_hi;
}

int main(int argc, char **argv) {
    /* signals die-by N: die the N-th way in this very process, so that the
     * runner itself must end by the same signal. */
    if (argc == 3 && strcmp(argv[1], "die-by") == 0) {
        printf("dying by %s\n", argv[2]);
        fflush(stdout);
        die_by(atoi(argv[2]));
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *names[] = {"raise(SIGTERM)", "null write", "abort()", "kill SIGKILL", "raise(SIGUSR1)", "raise(SIGALRM)", "__builtin_trap", "raise(SIGHUP)"};
    for (int how = 0; how < 8; how++) {
        pid_t pid = fork();
        if (pid == 0) die_by(how);
        int st;
        CHECK(waitpid(pid, &st, 0) == pid);
        int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
        if (how == 6) /* architecture-specific signal */
            REPORT("__builtin_trap kills with SIGILL/SIGTRAP",
                   sig == (strcmp(EXPECT_MACHINE, "aarch64") == 0 ? SIGTRAP : SIGILL));
        else
            printf("%s: signaled %d sig %d (%s)\n", names[how], WIFSIGNALED(st), sig, sig ? strsignal(sig) : "-");
    }

    /* Ignored signal does nothing; a handled one runs the handler. */
    signal(SIGUSR2, SIG_IGN);
    raise(SIGUSR2);
    REPORT("ignored SIGUSR2 survives", 1);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    kill(getpid(), SIGUSR1);
    REPORT("SA_SIGINFO handler ran for SIGUSR1", got_usr1 == SIGUSR1);
    REPORT("si_code SI_USER and si_pid", usr1_code == SI_USER && usr1_pid_ok);

    /* Blocked signal stays pending until unblocked. */
    sigset_t set, old, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    got_usr1 = 0;
    CHECK(sigprocmask(SIG_BLOCK, &set, &old) == 0);
    raise(SIGUSR1);
    sigpending(&pend);
    REPORT("blocked SIGUSR1 pending, not delivered", sigismember(&pend, SIGUSR1) && got_usr1 == 0);
    CHECK(sigprocmask(SIG_SETMASK, &old, NULL) == 0);
    REPORT("delivered on unblock", got_usr1 == SIGUSR1);
    REPORT("si_code SI_TKILL for raise", usr1_code == SI_TKILL);

    /* SIGSEGV handler sees the faulting address; siglongjmp out. */
    long page = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, (size_t)page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    struct sigaction sv = {0};
    sv.sa_sigaction = on_segv;
    sv.sa_flags = SA_SIGINFO | SA_NODEFER;
    CHECK(sigaction(SIGSEGV, &sv, NULL) == 0);
    int faults = 0;
    for (int i = 0; i < 3; i++) {
        if (sigsetjmp(jb, 1) == 0) {
            ((volatile char *)p)[100 + i] = 1;
        } else {
            faults += fault_addr == p + 100 + i;
        }
    }
    REPORT("3 SIGSEGVs with exact si_addr, recovered", faults == 3);
    signal(SIGSEGV, SIG_DFL);

    /* SIGPIPE ignored: write to a pipe without reader gives EPIPE. */
    signal(SIGPIPE, SIG_IGN);
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    close(pfd[0]);
    errno = 0;
    REPORT("write to broken pipe: EPIPE", write(pfd[1], "x", 1) == -1 && errno == EPIPE);
    close(pfd[1]);
    signal(SIGPIPE, SIG_DFL);
    CHECK(pipe(pfd) == 0);
    close(pfd[0]); /* no reader anywhere before the child writes */
    pid_t pid = fork();
    if (pid == 0) {
        write(pfd[1], "x", 1);
        _exit(0);
    }
    close(pfd[1]);
    int st;
    waitpid(pid, &st, 0);
    REPORT("child writing to a pipe without reader: SIGPIPE", WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE);

    /* SIGCHLD handler runs when a child exits. */
    signal(SIGCHLD, on_chld);
    pid = fork();
    if (pid == 0) _exit(0);
    while (waitpid(pid, &st, 0) == -1 && errno == EINTR) {}
    REPORT("SIGCHLD handler ran", got_chld >= 1);

    /* Interval timer: three SIGALRMs, sigsuspend waits for each. */
    signal(SIGALRM, on_alrm);
    sigset_t blk, wait_mask;
    sigemptyset(&blk);
    sigaddset(&blk, SIGALRM);
    sigprocmask(SIG_BLOCK, &blk, &wait_mask);
    sigdelset(&wait_mask, SIGALRM);
    struct itimerval it = {{0, 10000}, {0, 10000}};
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
    while (alarms < 3) sigsuspend(&wait_mask);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    REPORT("3 SIGALRMs via setitimer/sigsuspend", alarms >= 3);

    /* sigaltstack: a SA_ONSTACK handler runs on the alternate stack. */
    static char alt[64 * 1024];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
    alt_lo = alt;
    alt_hi = alt + sizeof alt;
    CHECK(sigaltstack(&ss, NULL) == 0);
    struct sigaction so = {0};
    so.sa_handler = on_alt;
    so.sa_flags = SA_ONSTACK;
    CHECK(sigaction(SIGUSR2, &so, NULL) == 0);
    raise(SIGUSR2);
    REPORT("SA_ONSTACK handler on the alternate stack", on_alt_stack == 1);

    /* Calls that never wait (getpid, kill) never fail with EINTR, however
     * signals fall around them: an interval timer fires every 50 us while
     * the loop makes them (hot enough for every engine tier). */
    sigprocmask(SIG_UNBLOCK, &blk, NULL);
    struct sigaction nr = {0}; /* no SA_RESTART: EINTR would show */
    nr.sa_handler = on_alrm;
    sigemptyset(&nr.sa_mask);
    CHECK(sigaction(SIGALRM, &nr, NULL) == 0);
    alarms = 0;
    signal(SIGURG, SIG_IGN);
    struct itimerval fast = {{0, 50}, {0, 50}};
    CHECK(setitimer(ITIMER_REAL, &fast, NULL) == 0);
    pid_t me = getpid();
    long bad_pid = 0, bad_kill = 0;
    for (long i = 0; i < 400000; i++) {
        if (getpid() != me) bad_pid++;
        if (i % 8 == 0 && kill(me, SIGURG) != 0) bad_kill++;
    }
    setitimer(ITIMER_REAL, &off, NULL);
    REPORT("getpid never fails around signals", bad_pid == 0);
    REPORT("kill never fails around signals", bad_kill == 0);
    REPORT("the timer fired meanwhile", alarms > 0);
    FINISH();
}
