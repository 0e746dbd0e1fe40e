/* vfork: the parent stays suspended until the child execs or exits, so
 * what the child does first happens before anything the parent does after
 * vfork returns (both write to one pipe; the order of the bytes shows it).
 * Covers a child that exits, execs a guest program, execs a native
 * program, fails to exec then exits, and posix_spawn. What the child
 * writes into the parent's stack frames (a volatile local, posix_spawn's
 * error report) is seen by the parent, as the memory is shared.
 *
 *   vfork                 the checks
 *   vfork child           (exec'd) write "C" to fd 3 and exit 5 */
#define _GNU_SOURCE
#include "check.h"
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
static char *self;
static int pfd[2];

static void pause_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0) {
    }
}

/* Reads what is in the pipe now (the writers are done). */
static void show(const char *what, pid_t pid) {
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    char buf[64];
    ssize_t n = read(pfd[0], buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("%s: order %s, exit %d\n", what, buf, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && strcmp(argv[1], "child") == 0) {
        pause_ms(100);
        CHECK(write(3, "C", 1) == 1);
        return 5;
    }
    self = argv[0];
    /* The exec'd children write to fd 3; the read end is 10. */
    int p[2];
    CHECK(pipe2(p, O_NONBLOCK) == 0);
    CHECK(dup2(p[0], 10) == 10 && dup2(p[1], 11) == 11);
    close(p[0]);
    close(p[1]);
    CHECK(dup2(11, 3) == 3);
    close(11);
    pfd[0] = 10;
    pfd[1] = 3;

    /* The child sleeps, writes, exits. */
    pid_t pid = vfork();
    if (pid == 0) {
        pause_ms(200);
        write(pfd[1], "c", 1);
        _exit(1);
    }
    write(pfd[1], "P", 1);
    show("child exits", pid);

    /* The child sleeps, writes, execs this program, which writes "C". */
    pid = vfork();
    if (pid == 0) {
        pause_ms(200);
        write(pfd[1], "c", 1);
        char *av[] = {self, "child", NULL};
        execve(self, av, environ);
        _exit(127);
    }
    write(pfd[1], "P", 1);
    pause_ms(300); /* the exec'd child writes "C" concurrently: wait for it */
    show("child execs itself", pid);

    /* A native program. */
    pid = vfork();
    if (pid == 0) {
        pause_ms(200);
        write(pfd[1], "c", 1);
        char *av[] = {"sh", "-c", "sleep 0.1; printf N >&3; exit 6", NULL};
        execve("/bin/sh", av, environ);
        _exit(127);
    }
    write(pfd[1], "P", 1);
    pause_ms(300);
    show("child execs native sh", pid);

    /* exec fails, then the child exits. */
    pid = vfork();
    if (pid == 0) {
        pause_ms(200);
        char *av[] = {"nothing", NULL};
        execve("/nonexistent/xarch-vfork", av, environ);
        write(pfd[1], "f", 1);
        _exit(127);
    }
    write(pfd[1], "P", 1);
    show("exec fails", pid);

    /* The child's writes to the parent's locals are the parent's. */
    volatile int shared = 0, err = 0;
    pid = vfork();
    if (pid == 0) {
        shared = 42;
        char *av2[] = {"nothing", NULL};
        execve("/nonexistent/xarch-vfork", av2, environ);
        err = errno;
        _exit(127);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    printf("child's writes seen by the parent: shared %d, exec error %s\n", shared,
           strerror(err));

    /* posix_spawn (clone with CLONE_VFORK in glibc). */
    char *av[] = {self, "child", NULL};
    CHECK(posix_spawn(&pid, self, NULL, NULL, av, environ) == 0);
    write(pfd[1], "P", 1);
    pause_ms(300);
    show("posix_spawn", pid);
    int r = posix_spawn(&pid, "/nonexistent/xarch-vfork", NULL, NULL, av, environ);
    printf("posix_spawn of a missing file: %s\n", strerror(r));
    if (r == 0) waitpid(pid, &st, 0);
    FINISH();
}
