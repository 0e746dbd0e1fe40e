/* Descriptor numbers as the guest sees them. The runner may keep
 * descriptors of its own (xarch: an O_PATH descriptor of itself at 1000 or
 * above, used to re-enter itself on execve); they must be invisible: calls
 * on them fail with EBADF, /proc/self/fd omits them, and the guest gets
 * their numbers from dup2/F_DUPFD/dup as if they were free. execve of
 * another guest program must keep working after the guest took the number,
 * closed every descriptor or lowered RLIMIT_NOFILE. */
#define _GNU_SOURCE
#include "check.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char *self;

/* Prints the descriptors listed in DIR, without the one reading it. */
static void list_fds(const char *label, const char *dir) {
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d) return;
    int fds[4096], n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 4096) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd != dirfd(d)) fds[n++] = fd;
    }
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
            int t = fds[j];
            fds[j] = fds[j - 1];
            fds[j - 1] = t;
        }
    printf("%s:", label);
    if (n > 16)
        printf(" %d descriptors, lowest %d, highest %d", n, fds[0], fds[n - 1]);
    else
        for (int i = 0; i < n; i++) printf(" %d", fds[i]);
    printf("\n");
}

static void list_all(const char *when) {
    char label[128], dir[64];
    snprintf(label, sizeof label, "%s /proc/self/fd", when);
    list_fds(label, "/proc/self/fd");
    snprintf(label, sizeof label, "%s /proc/pid/fdinfo", when);
    snprintf(dir, sizeof dir, "/proc/%d/fdinfo", getpid());
    list_fds(label, dir);
}

/* Runs "self child" in a child process; prints what it printed and its status. */
static void exec_self(const char *when) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char *av[] = {self, "child", NULL};
        execv(self, av);
        printf("%s: execv failed: %s\n", when, strerror(errno));
        fflush(stdout);
        _exit(127);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    printf("%s: exec self exit %d\n", when, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* Each call on descriptors 1000..1063 (none opened by the guest) must fail
 * with EBADF; prints how many did not. */
static void all_ebadf(void) {
    int bad[12] = {0};
    struct stat st;
    char buf[64];
    for (int fd = 1000; fd < 1064; fd++) {
        errno = 0;
        bad[0] += !(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
        errno = 0;
        bad[1] += !(fstat(fd, &st) == -1 && errno == EBADF);
        errno = 0;
        bad[2] += !(read(fd, buf, 1) == -1 && errno == EBADF);
        errno = 0;
        bad[3] += !(dup(fd) == -1 && errno == EBADF);
        errno = 0;
        int n;
        bad[4] += !(ioctl(fd, FIONREAD, &n) == -1 && errno == EBADF);
        errno = 0;
        bad[5] += !(fchdir(fd) == -1 && errno == EBADF);
        errno = 0;
        bad[6] += !(openat(fd, "x", O_RDONLY) == -1 && errno == EBADF);
        errno = 0;
        bad[7] += !(fstatat(fd, "", &st, AT_EMPTY_PATH) == -1 && errno == EBADF);
        snprintf(buf, sizeof buf, "/proc/self/fd/%d", fd);
        errno = 0;
        char lnk[64];
        bad[8] += !(readlink(buf, lnk, sizeof lnk) == -1 && errno == ENOENT);
        snprintf(buf, sizeof buf, "/proc/self/fdinfo/%d", fd);
        errno = 0;
        bad[9] += !(open(buf, O_RDONLY) == -1 && errno == ENOENT);
        errno = 0;
        bad[10] += !(close(fd) == -1 && errno == EBADF);
        /* An absolute path ignores the directory descriptor. */
        int r = openat(fd, "/", O_RDONLY | O_DIRECTORY);
        bad[11] += r < 0;
        if (r >= 0) close(r);
    }
    const char *names[12] = {"fcntl", "fstat", "read", "dup", "ioctl", "fchdir", "openat",
                             "fstatat-empty", "readlink-proc", "open-fdinfo", "close",
                             "openat-absolute"};
    for (int i = 0; i < 12; i++) printf("fds 1000-1063 %s: %d unexpected\n", names[i], bad[i]);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && strcmp(argv[1], "wait") == 0) {
        /* Blocks until the parent closes the pipe on fd 0. */
        char b;
        while (read(0, &b, 1) > 0) {
        }
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "child") == 0) {
        list_fds("  child /proc/self/fd", "/proc/self/fd");
        return 7;
    }
    self = argv[0];
    /* Start from 0, 1, 2 only (the test harness may pass more). */
    syscall(SYS_close_range, 3, ~0U, 0);

    list_all("start");
    all_ebadf();
    exec_self("start");

    /* Another guest process's descriptors, as its parent sees them. */
    int go[2];
    CHECK(pipe(go) == 0);
    fflush(stdout);
    pid_t w = fork();
    if (w == 0) {
        dup2(go[0], 0);
        close(go[0]);
        close(go[1]);
        char *av[] = {self, "wait", NULL};
        execv(self, av);
        _exit(127);
    }
    close(go[0]);
    /* Wait until it has exec'd (its exe is no longer ours). */
    char dir[64], exe[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", w);
    snprintf(exe, sizeof exe, "/proc/%d/cmdline", w);
    for (int i = 0; i < 500; i++) {
        char buf[256] = {0};
        int fd = open(exe, O_RDONLY);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
        if (fd >= 0) close(fd);
        for (ssize_t k = 0; k < n; k++)
            if (buf[k] == 0) buf[k] = ' ';
        if (n > 0 && strstr(buf, " wait") != NULL) break;
        usleep(10000);
    }
    usleep(200000);
    list_fds("exec'd child's /proc/pid/fd", dir);
    close(go[1]);
    int wst;
    CHECK(waitpid(w, &wst, 0) == w);

    /* F_DUPFD from 1000 gets 1000. */
    int r = fcntl(0, F_DUPFD, 1000);
    printf("F_DUPFD 1000: %d\n", r);
    CHECK(close(r) == 0);
    r = fcntl(0, F_DUPFD_CLOEXEC, 999);
    int fl = fcntl(r, F_GETFD);
    printf("F_DUPFD_CLOEXEC 999: %d cloexec %d\n", r, fl);
    r = fcntl(0, F_DUPFD_CLOEXEC, 999);
    fl = fcntl(r, F_GETFD);
    printf("F_DUPFD_CLOEXEC 999 again: %d cloexec %d\n", r, fl);
    CHECK(close(999) == 0 && close(1000) == 0);

    /* dup2 and dup3 onto 1000..1002. */
    for (int fd = 1000; fd < 1003; fd++) printf("dup2 1 -> %d: %d\n", fd, dup2(1, fd));
    r = dup3(0, 1000, O_CLOEXEC);
    printf("dup3 0 -> 1000 O_CLOEXEC: %d flags %d\n", r, fcntl(1000, F_GETFD));
    errno = 0;
    r = dup2(900, 1003);
    printf("dup2 of a closed fd onto 1003: %d errno %s\n", r, strerror(errno));
    list_all("after dup2");
    exec_self("after dup2");
    CHECK(dup3(1, 1000, 0) == 1000);
    exec_self("with 1000 inherited");
    for (int fd = 1000; fd < 1003; fd++) CHECK(close(fd) == 0);

    /* mmap of an anonymous mapping ignores the descriptor. */
    void *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, 1000, 0);
    printf("anonymous mmap with fd 1000: %s\n", m == MAP_FAILED ? strerror(errno) : "ok");

    /* dup with every lower number taken gives 1000. */
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    if (rl.rlim_cur > 1010) {
        int last = -1;
        for (;;) {
            int fd = dup(0);
            if (fd < 0 || fd >= 1000) {
                last = fd;
                break;
            }
        }
        printf("dup with 3..999 taken: %d\n", last);
        printf("next dup: %d\n", dup(0));
        exec_self("with 3..1001 taken");
        syscall(SYS_close_range, 3, ~0U, 0);
    } else {
        printf("dup with 3..999 taken: skipped\n");
    }

    /* close_range over everything, then execve. */
    CHECK(syscall(SYS_close_range, 3, ~0U, 0) == 0);
    list_all("after close_range");
    exec_self("after close_range");

    /* A low RLIMIT_NOFILE. */
    struct rlimit low = {64, rl.rlim_max};
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
    errno = 0;
    r = dup2(1, 1000);
    printf("low limit: dup2 1 -> 1000: %d %s\n", r, strerror(errno));
    r = fcntl(0, F_DUPFD, 63);
    errno = 0;
    int r2 = fcntl(0, F_DUPFD, 64);
    printf("low limit: F_DUPFD 63: %d, 64: %d %s\n", r, r2, strerror(errno));
    close(63);
    all_ebadf();
    exec_self("low limit");
    list_all("low limit");
    struct rlimit lower = {16, 16};
    CHECK(setrlimit(RLIMIT_NOFILE, &lower) == 0);
    exec_self("lower hard limit");
    FINISH();
}
