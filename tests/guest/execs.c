/* What a process keeps and loses across execve (a chain of execs of this
 * program): descriptors with and without close-on-exec, ignored and caught
 * signal dispositions, the mask and a pending signal, memory (a mapping of
 * the old image is gone), the alternate signal stack, the name, argv and
 * environment, /proc/self/exe, robust mutexes held; seen from the parent,
 * the child's command line and environment and setpgid's EACCES once it has
 * executed; and an exec in the child of a fork made by a second thread.
 *
 *   execs                                   the checks
 *   execs child N KEEP CLOSE ADDR READY GO  one link of the chain */
#define _GNU_SOURCE
#include "check.h"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char self[4096];
#define OLD_MAPPING 0x5a5a00000000UL

static void on_usr2(int sig) { (void)sig; }

static int is_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

static void exec_link(int n, int keep, int close_fd, int ready, int go) {
    char a[6][32];
    snprintf(a[0], sizeof a[0], "%d", n);
    snprintf(a[1], sizeof a[1], "%d", keep);
    snprintf(a[2], sizeof a[2], "%d", close_fd);
    snprintf(a[3], sizeof a[3], "%lu", OLD_MAPPING);
    snprintf(a[4], sizeof a[4], "%d", ready);
    snprintf(a[5], sizeof a[5], "%d", go);
    /* A smaller environment than the one xarch was started with, so that
     * it fits where the host keeps it (see the parent's check). */
    unsetenv("XT_HELLO");
    setenv("XT_EXECS", a[0], 1);
    char *av[] = {"execs", "child", a[0], a[1], a[2], a[3], a[4], a[5], NULL};
    fflush(stdout);
    execv(self, av);
    printf("execve failed: %s\n", strerror(errno));
    _exit(127);
}

/* Changes everything an exec resets or keeps, for the next link. */
static int prepare(void) {
    signal(SIGUSR1, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_usr2, .sa_flags = SA_RESTART};
    CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
    /* Children reaped by the kernel: not after an exec (the flag goes). */
    sa.sa_flags = SA_NOCLDWAIT;
    CHECK(sigaction(SIGCHLD, &sa, NULL) == 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
    raise(SIGHUP);
    void *m = mmap((void *)OLD_MAPPING, 4096, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    CHECK(m == (void *)OLD_MAPPING);
    static char alt[65536];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
    CHECK(sigaltstack(&ss, NULL) == 0);
    prctl(PR_SET_NAME, "renamed");
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static int child_mode(int argc, char **argv) {
    if (argc != 8) return 100;
    int n = atoi(argv[2]), keep = atoi(argv[3]), close_fd = atoi(argv[4]);
    unsigned long addr = strtoul(argv[5], NULL, 10);
    int ready = atoi(argv[6]), go = atoi(argv[7]);
    struct sigaction usr1, usr2;
    sigaction(SIGUSR1, NULL, &usr1);
    sigaction(SIGUSR2, NULL, &usr2);
    sigset_t mask, pend;
    sigprocmask(SIG_BLOCK, NULL, &mask);
    sigpending(&pend);
    stack_t ss;
    sigaltstack(NULL, &ss);
    char comm[32] = "";
    int fd = open("/proc/self/comm", O_RDONLY);
    if (fd >= 0) {
        ssize_t r = read(fd, comm, sizeof comm - 1);
        comm[r > 0 ? r : 0] = 0;
        comm[strcspn(comm, "\n")] = 0;
        close(fd);
    }
    struct stat a, b;
    int exe_ok = stat("/proc/self/exe", &a) == 0 && stat(self, &b) == 0 &&
                 a.st_ino == b.st_ino && a.st_dev == b.st_dev;
    const char *e = getenv("XT_EXECS");
    printf("link %d: kept fd %d, close-on-exec fd %d, SIGUSR1 ignored %d, SIGUSR2 default %d, "
           "SIGHUP blocked %d pending %d, old mapping gone %d, altstack disabled %d, comm %s, "
           "exe ok %d, XT_EXECS=%s\n",
           n, is_open(keep), is_open(close_fd), usr1.sa_handler == SIG_IGN,
           usr2.sa_handler == SIG_DFL, sigismember(&mask, SIGHUP), sigismember(&pend, SIGHUP),
           msync((void *)addr, 4096, MS_ASYNC) != 0 && errno == ENOMEM,
           (ss.ss_flags & SS_DISABLE) != 0, comm, exe_ok, e ? e : "(unset)");
    if (n > 1) {
        close_fd = prepare();
        exec_link(n - 1, keep, close_fd, ready, go);
    }
    /* The last link: its children are not reaped by the kernel; then
     * tell the parent, wait for its go, end. */
    fflush(stdout);
    pid_t k = fork();
    if (k == 0) _exit(3);
    int kst = 0;
    pid_t w = waitpid(k, &kst, 0);
    printf("link %d: a child's status waited for %d exit %d\n", n, w == k,
           WIFEXITED(kst) ? WEXITSTATUS(kst) : -1);
    fflush(stdout);
    CHECK(write(ready, "r", 1) == 1);
    char c;
    CHECK(read(go, &c, 1) == 1);
    fflush(stdout);
    return failures ? 1 : 42;
}

/* A thread other than the first forks, and its child executes (Go's
 * os/exec does this from any thread). */
static void *fork_exec_thread(void *arg) {
    (void)arg;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        char *av[] = {"execs", "hello", NULL};
        execv(self, av);
        _exit(127);
    }
    int st;
    CHECK(waitpid(c, &st, 0) == c);
    printf("thread: child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
    return NULL;
}

int main(int argc, char **argv) {
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 99;
    self[n] = 0;
    if (argc > 1 && strcmp(argv[1], "child") == 0) return child_mode(argc, argv);
    if (argc > 1 && strcmp(argv[1], "hello") == 0) {
        printf("hello from the program a thread's child executed\n");
        return 5;
    }

    int ready[2], go[2];
    CHECK(pipe(ready) == 0 && pipe(go) == 0);
    int keep = open("/dev/null", O_RDONLY);
    CHECK(keep >= 0);
    /* A process-shared robust mutex the child holds when it executes. */
    pthread_mutex_t *mu = mmap(NULL, sizeof *mu, PROT_READ | PROT_WRITE,
                               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(mu != MAP_FAILED);
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
    CHECK(pthread_mutex_init(mu, &ma) == 0);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        CHECK(pthread_mutex_lock(mu) == 0);
        close(ready[0]);
        close(go[1]);
        int close_fd = prepare();
        exec_link(4, keep, close_fd, ready[1], go[0]);
    }
    close(ready[1]);
    char r;
    CHECK(read(ready[0], &r, 1) == 1);
    /* The child has executed (four times): its command line is the last
     * link's, and the parent may no longer move it to another group. */
    char path[64], buf[512] = "";
    snprintf(path, sizeof path, "/proc/%d/cmdline", c);
    int fd = open(path, O_RDONLY);
    ssize_t got = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0) close(fd);
    for (ssize_t k = 0; k < got; k++)
        if (buf[k] == 0) buf[k] = ' ';
    printf("parent: child's command line names the last link %d\n",
           got > 0 && strstr(buf, "child 1 ") != NULL);
    /* Its environment is the last link's too. */
    char env[4096] = "";
    snprintf(path, sizeof path, "/proc/%d/environ", c);
    fd = open(path, O_RDONLY);
    got = fd >= 0 ? read(fd, env, sizeof env - 1) : -1;
    if (fd >= 0) close(fd);
    int has_execs = 0, has_hello = 0;
    for (ssize_t k = 0; k < got; k += strlen(env + k) + 1) {
        has_execs |= strcmp(env + k, "XT_EXECS=1") == 0;
        has_hello |= strncmp(env + k, "XT_HELLO=", 9) == 0;
    }
    printf("parent: child's environment is the last link's %d\n", has_execs && !has_hello);
    errno = 0;
    int s = setpgid(c, c);
    printf("parent: setpgid of the child after its execs: %d %s\n", s, strerror(errno));
    int lr = pthread_mutex_lock(mu);
    printf("parent: the mutex the child held when it executed: %s\n",
           lr == EOWNERDEAD ? "owner died" : strerror(lr));
    if (lr == EOWNERDEAD) pthread_mutex_consistent(mu);
    if (lr == 0 || lr == EOWNERDEAD) pthread_mutex_unlock(mu);
    CHECK(write(go[1], "g", 1) == 1);
    int st;
    CHECK(waitpid(c, &st, 0) == c);
    printf("parent: child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));

    /* A child that has not executed: setpgid works. */
    fflush(stdout);
    c = fork();
    if (c == 0) {
        char x;
        ssize_t k = read(go[0], &x, 1);
        _exit(k == 1 ? 0 : 1);
    }
    printf("parent: setpgid of a child that did not execute: %d\n", setpgid(c, c));
    CHECK(write(go[1], "g", 1) == 1);
    CHECK(waitpid(c, &st, 0) == c);

    pthread_t t;
    CHECK(pthread_create(&t, NULL, fork_exec_thread, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    FINISH();
}
