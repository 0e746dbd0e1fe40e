/* Process groups, sessions and terminals.
 *
 * Without arguments: setpgid/getpgid/setsid/getsid and their errors, then
 * a session of its own on a private pty (TIOCSCTTY, tcsetpgrp/tcgetpgrp,
 * a background group reading the terminal gets SIGTTIN, a foreground job
 * stopped by SIGTSTP and continued) -- needs no terminal from the caller.
 *
 * "jobctl tty": the caller's terminal (standard input) must be this
 * program's controlling terminal with its group in the foreground, as for
 * a program a shell starts; then the same job control on it. */
#define _GNU_SOURCE
#include "check.h"
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* Makes `pg` the foreground group of `fd` with SIGTTOU blocked (as shells do). */
static int give_terminal(int fd, pid_t pg) {
    sigset_t s, old;
    sigemptyset(&s);
    sigaddset(&s, SIGTTOU);
    sigprocmask(SIG_BLOCK, &s, &old);
    int r = tcsetpgrp(fd, pg);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return r;
}

static void report_status(const char *what, int st) {
    if (WIFEXITED(st))
        printf("%s: exit %d\n", what, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        printf("%s: killed by %s\n", what, strsignal(WTERMSIG(st)));
    else if (WIFSTOPPED(st))
        printf("%s: stopped by %s\n", what, strsignal(WSTOPSIG(st)));
    else
        printf("%s: status %#x\n", what, st);
}

/* Job control on terminal `tty`, of which we are the session's foreground
 * group: a foreground job, a background job reading it, a stopped job. */
static void jobs_on(int tty) {
    pid_t me = getpgrp();
    fflush(stdout);

    /* A foreground job in a group of its own. */
    pid_t c = fork();
    if (c == 0) {
        setpgid(0, 0);
        /* Wait until the parent gave us the terminal. */
        for (int i = 0; i < 1000 && tcgetpgrp(tty) != getpgrp(); i++) usleep(1000);
        printf("fg job: foreground %d, own group %d\n", tcgetpgrp(tty) == getpgrp(),
               getpgrp() == getpid());
        fflush(stdout);
        _exit(3);
    }
    setpgid(c, c);
    CHECK(give_terminal(tty, c) == 0);
    int st;
    CHECK(waitpid(c, &st, 0) == c);
    report_status("fg job", st);
    CHECK(give_terminal(tty, me) == 0);
    printf("terminal back: %d\n", tcgetpgrp(tty) == me);

    /* A background job reading the terminal is stopped by SIGTTIN. */
    fflush(stdout);
    c = fork();
    if (c == 0) {
        setpgid(0, 0);
        char b;
        ssize_t r = read(tty, &b, 1);
        /* Continued with the terminal taken back: the read is retried or fails. */
        printf("bg job: read returned %zd\n", r > 0 ? (ssize_t)1 : r);
        fflush(stdout);
        _exit(4);
    }
    setpgid(c, c);
    CHECK(waitpid(c, &st, WUNTRACED) == c);
    report_status("bg job reading", st);
    kill(c, SIGKILL);
    CHECK(waitpid(c, &st, 0) == c);
    report_status("bg job", st);

    /* A foreground job stopped by SIGTSTP, then continued. */
    fflush(stdout);
    c = fork();
    if (c == 0) {
        setpgid(0, 0);
        for (int i = 0; i < 1000 && tcgetpgrp(tty) != getpgrp(); i++) usleep(1000);
        raise(SIGTSTP);
        printf("stopped job: continued, foreground %d\n", tcgetpgrp(tty) == getpgrp());
        fflush(stdout);
        _exit(5);
    }
    setpgid(c, c);
    CHECK(give_terminal(tty, c) == 0);
    CHECK(waitpid(c, &st, WUNTRACED) == c);
    report_status("stopped job", st);
    CHECK(give_terminal(tty, me) == 0);
    CHECK(give_terminal(tty, c) == 0);
    CHECK(killpg(c, SIGCONT) == 0);
    CHECK(waitpid(c, &st, 0) == c);
    report_status("stopped job", st);
    CHECK(give_terminal(tty, me) == 0);
}

static int tty_mode(void) {
    printf("stdin is a terminal: %d\n", isatty(0));
    int fd = open("/dev/tty", O_RDWR);
    printf("/dev/tty opens: %d\n", fd >= 0);
    if (fd >= 0) close(fd);
    printf("foreground group: %d\n", tcgetpgrp(0) == getpgrp());
    printf("session of the terminal is ours: %d\n", tcgetsid(0) == getsid(0));
    /* Job control needs a group of our own, as a shell makes. */
    pid_t old = tcgetpgrp(0);
    CHECK(setpgid(0, 0) == 0 || getpgrp() == getpid());
    CHECK(give_terminal(0, getpgrp()) == 0);
    jobs_on(0);
    if (old > 0) give_terminal(0, old);
    FINISH();
}

static void ids(void) {
    /* Errors first: these do not depend on where we run. */
    errno = 0;
    int r = getpgid(-1);
    printf("getpgid(-1): %d %s\n", r, strerror(errno));
    errno = 0;
    r = getsid(-1);
    printf("getsid(-1): %d %s\n", r, strerror(errno));
    errno = 0;
    r = setpgid(0, -1);
    printf("setpgid(0, -1): %d %s\n", r, strerror(errno));
    errno = 0;
    r = setpgid(0x3fffffff, 0);
    printf("setpgid(no such pid, 0): %d %s\n", r, strerror(errno));
    printf("getpgid(0) == getpgrp(): %d\n", getpgid(0) == getpgrp());
    printf("getpgid(getpid()) == getpgrp(): %d\n", getpgid(getpid()) == getpgrp());
    printf("getsid(0) == getsid(getpid()): %d\n", getsid(0) == getsid(getpid()));

    /* A child: setpgid by the parent and by itself; setsid; then errors. */
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        char b;
        read(pfd[0], &b, 1); /* the parent moved us first */
        printf("child: own group %d (pgid == pid)\n", getpgrp() == getpid());
        errno = 0;
        r = setsid();
        printf("child: setsid as a group leader: %d %s\n", r, strerror(errno));
        fflush(stdout);
        pid_t g = fork();
        if (g == 0) {
            pid_t s = setsid();
            printf("grandchild: setsid %d, sid == pid %d, pgid == pid %d\n", s == getpid(),
                   getsid(0) == getpid(), getpgrp() == getpid());
            errno = 0;
            r = setpgid(0, getppid());
            printf("grandchild: setpgid into another session: %d %s\n", r, strerror(errno));
            errno = 0;
            r = setsid();
            printf("grandchild: setsid again: %d %s\n", r, strerror(errno));
            printf("grandchild: no controlling terminal: %d\n", open("/dev/tty", O_RDWR) < 0);
            fflush(stdout);
            _exit(0);
        }
        int st;
        waitpid(g, &st, 0);
        errno = 0;
        r = setpgid(g, g);
        printf("child: setpgid of a reaped child: %d %s\n", r, strerror(errno));
        fflush(stdout);
        _exit(6);
    }
    CHECK(setpgid(c, c) == 0);
    printf("parent: child's group %d\n", getpgid(c) == c);
    printf("parent: child's session is ours %d\n", getsid(c) == getsid(0));
    CHECK(write(pfd[1], "x", 1) == 1);
    int st;
    CHECK(waitpid(c, &st, 0) == c);
    report_status("child", st);
    close(pfd[0]);
    close(pfd[1]);

    /* A child that has exec'd: setpgid on it fails with EACCES. */
    fflush(stdout);
    c = fork();
    if (c == 0) {
        execl("/proc/self/exe", "jobctl", "sleep", (char *)NULL);
        _exit(127);
    }
    usleep(300000);
    errno = 0;
    r = setpgid(c, c);
    printf("setpgid of a child after execve: %d %s\n", r, strerror(errno));
    kill(c, SIGKILL);
    waitpid(c, &st, 0);
}

/* A new session on a private pty: the pty becomes its controlling terminal
 * and job control works on it. */
static void pty_session(void) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    CHECK(m >= 0 && grantpt(m) == 0 && unlockpt(m) == 0);
    char *name = ptsname(m);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        CHECK(setsid() == getpid());
        int s = open(name, O_RDWR);
        CHECK(s >= 0);
        /* Opening a pty without O_NOCTTY as a session leader without a
         * controlling terminal makes it ours on Linux; TIOCSCTTY then
         * succeeds again. */
        printf("pty: controlling after open %d\n", tcgetpgrp(s) == getpgrp());
        CHECK(ioctl(s, TIOCSCTTY, 0) == 0);
        printf("pty: tcgetsid == sid %d\n", tcgetsid(s) == getsid(0));
        printf("pty: foreground is our group %d\n", tcgetpgrp(s) == getpgrp());
        int t = open("/dev/tty", O_RDWR);
        printf("pty: /dev/tty opens %d\n", t >= 0);
        if (t >= 0) close(t);
        errno = 0;
        int r = tcsetpgrp(s, 0x3fffffff);
        printf("pty: tcsetpgrp(no such group): %d %s\n", r, strerror(errno));
        jobs_on(s);
        /* TIOCNOTTY as session leader gives it up (SIGHUP to the
         * foreground group, which is ours: ignore it). */
        signal(SIGHUP, SIG_IGN);
        signal(SIGCONT, SIG_IGN);
        CHECK(ioctl(s, TIOCNOTTY) == 0);
        errno = 0;
        r = tcgetpgrp(s);
        printf("pty: after TIOCNOTTY tcgetpgrp %d %s\n", r, strerror(errno));
        fflush(stdout);
        _exit(failures);
    }
    /* Keep the master drained so the child never blocks writing. */
    int st;
    CHECK(waitpid(c, &st, 0) == c);
    report_status("pty session", st);
    close(m);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && strcmp(argv[1], "sleep") == 0) {
        sleep(5);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "tty") == 0) return tty_mode();
    ids();
    pty_session();
    FINISH();
}
