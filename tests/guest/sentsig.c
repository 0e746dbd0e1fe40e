/* SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGTRAP sent with kill, tgkill or
 * sigqueue (not caused by a fault) are ordinary asynchronous signals: the
 * handler sees SI_USER/SI_TKILL/SI_QUEUE and the sender, the mask and
 * SIG_IGN apply, and without a handler the process dies of the signal.
 *
 *   sentsig                 the checks below
 *   sentsig die SIG         kill(getpid(), SIG) with the default action
 *   sentsig die-from-child SIG   the same, sent by a child process */
#define _GNU_SOURCE
#include "check.h"
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got_sig, got_code, got_pid_ok, got_value;
static volatile pid_t sender;
static int *volatile bad_pointer = (int *)16;

static void handler(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    got_sig = sig;
    got_code = si->si_code;
    got_pid_ok = si->si_pid == sender;
    if (si->si_code == SI_QUEUE) got_value = si->si_value.sival_int;
}

static const char *code_name(int c) {
    switch (c) {
    case SI_USER: return "SI_USER";
    case SI_TKILL: return "SI_TKILL";
    case SI_QUEUE: return "SI_QUEUE";
    default: return "other";
    }
}

static void install(int sig, void (*h)(int, siginfo_t *, void *)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(sig, &sa, NULL) == 0);
}

static void show(const char *what) {
    printf("%s: sig %s code %s sender %s\n", what, got_sig ? strsignal(got_sig) : "none",
           got_sig ? code_name(got_code) : "-", got_pid_ok ? "ok" : "?");
    got_sig = 0;
    got_code = 0;
    got_pid_ok = 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && strcmp(argv[1], "die") == 0) {
        kill(getpid(), atoi(argv[2]));
        printf("survived\n");
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "die-from-child") == 0) {
        pid_t parent = getpid();
        if (fork() == 0) {
            kill(parent, atoi(argv[2]));
            _exit(0);
        }
        for (volatile long i = 0;; i++) {
        }
    }

    sender = getpid();
    int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        int s = sigs[i];
        char what[64];
        install(s, handler);
        kill(getpid(), s);
        snprintf(what, sizeof what, "kill %s", strsignal(s));
        show(what);
        syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), s);
        snprintf(what, sizeof what, "tgkill %s", strsignal(s));
        show(what);
        union sigval v = {.sival_int = 1234 + s};
        got_value = 0;
        sigqueue(getpid(), s, v);
        snprintf(what, sizeof what, "sigqueue %s", strsignal(s));
        printf("sigqueue %s value %d\n", strsignal(s), got_value - s);
        show(what);
    }

    /* Blocked: pending until unblocked. */
    sigset_t set, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGSEGV);
    sigaddset(&set, SIGBUS);
    CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
    kill(getpid(), SIGSEGV);
    kill(getpid(), SIGBUS);
    show("while blocked");
    CHECK(sigpending(&pend) == 0);
    printf("pending: SIGSEGV %d SIGBUS %d\n", sigismember(&pend, SIGSEGV),
           sigismember(&pend, SIGBUS));
    sigdelset(&set, SIGBUS);
    CHECK(sigprocmask(SIG_UNBLOCK, &set, NULL) == 0);
    show("SIGSEGV unblocked");
    CHECK(sigprocmask(SIG_SETMASK, &(sigset_t){0}, NULL) == 0);
    show("all unblocked");

    /* Ignored. */
    signal(SIGSEGV, SIG_IGN);
    kill(getpid(), SIGSEGV);
    show("ignored");

    /* Sent by another process while we compute. */
    install(SIGSEGV, handler);
    pid_t parent = getpid();
    pid_t c = fork();
    if (c == 0) {
        usleep(100000);
        kill(parent, SIGSEGV);
        _exit(0);
    }
    sender = c;
    for (volatile long i = 0; !got_sig && i < 4000000000L; i++) {
    }
    show("from a child while looping");
    int st;
    CHECK(waitpid(c, &st, 0) == c);

    /* A real fault still reports SEGV_MAPERR. */
    install(SIGSEGV, handler);
    sigset_t none;
    sigemptyset(&none);
    pid_t f = fork();
    if (f == 0) {
        signal(SIGSEGV, SIG_DFL);
        *bad_pointer = 1;
        _exit(0);
    }
    CHECK(waitpid(f, &st, 0) == f);
    printf("real fault in a child: %s\n",
           WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "no signal");
    FINISH();
}
