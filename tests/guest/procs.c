/* Processes: fork, wait/waitpid, exit statuses, execve of itself with
 * arguments and environment, posix_spawn (clone with CLONE_VFORK), vfork,
 * execve errors, pipes between parent and child. */
#define _GNU_SOURCE
#include "check.h"
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int child_mode(int argc, char **argv) {
    /* procs child CODE ARGS...: print the arguments and one env var, exit CODE. */
    printf("child: argc %d", argc);
    for (int i = 3; i < argc; i++) printf(" [%s]", argv[i]);
    const char *e = getenv("XT_CHILD");
    printf(" XT_CHILD=%s\n", e ? e : "(unset)");
    fflush(stdout);
    return atoi(argv[2]);
}

static char *self;

static void run_self(const char *code, const char *arg) {
    fflush(stdout);
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        char *av[] = {self, "child", (char *)code, (char *)arg, "two words", "", NULL};
        char *ev[] = {"XT_CHILD=from-execve", "OTHER=x", NULL};
        execve(self, av, ev);
        _exit(127);
    }
    close(pfd[1]);
    char buf[512];
    ssize_t n, tot = 0;
    while ((n = read(pfd[0], buf + tot, sizeof buf - 1 - (size_t)tot)) > 0) tot += n;
    buf[tot] = 0;
    close(pfd[0]);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    printf("exec self %s: output \"%.*s\" exit %d\n", code, (int)(tot > 0 ? tot - 1 : 0), buf,
           WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "child") == 0) return child_mode(argc, argv);
    self = argv[0];
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Exit statuses through fork + _exit / exit / return. */
    int codes[] = {0, 1, 2, 42, 127, 255, 256 + 3};
    for (unsigned i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        pid_t pid = fork();
        if (pid == 0) _exit(codes[i]);
        int st;
        CHECK(waitpid(pid, &st, 0) == pid);
        printf("_exit(%d): WIFEXITED %d status %d\n", codes[i], WIFEXITED(st), WEXITSTATUS(st));
    }

    /* Child sees its own pid and the parent's. */
    pid_t parent = getpid();
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        char ok = (getppid() == parent && getpid() != parent) ? 'y' : 'n';
        write(pfd[1], &ok, 1);
        _exit(0);
    }
    char ok = 0;
    CHECK(read(pfd[0], &ok, 1) == 1);
    CHECK(waitpid(pid, NULL, 0) == pid);
    REPORT("child getppid == parent getpid", ok == 'y');
    REPORT("fork returned the child's pid", pid > 0 && pid != parent);
    close(pfd[0]);
    close(pfd[1]);

    /* Copy-on-write: the child's writes are not seen by the parent. */
    static int shared_var = 5;
    pid = fork();
    if (pid == 0) {
        shared_var = 6;
        _exit(shared_var);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    REPORT("fork is copy-on-write", shared_var == 5 && WEXITSTATUS(st) == 6);

    /* wait for any child, WNOHANG with a running child, ECHILD. */
    pid_t a = fork();
    if (a == 0) _exit(11);
    pid_t b = fork();
    if (b == 0) _exit(12);
    int seen = 0;
    for (int i = 0; i < 2; i++) {
        pid_t w = wait(&st);
        if (w == a && WEXITSTATUS(st) == 11) seen |= 1;
        if (w == b && WEXITSTATUS(st) == 12) seen |= 2;
    }
    REPORT("wait() reaps both children", seen == 3);
    CHECK(pipe(pfd) == 0);
    pid = fork();
    if (pid == 0) {
        char c;
        close(pfd[1]);
        read(pfd[0], &c, 1); /* blocks until the parent closes the pipe */
        _exit(0);
    }
    close(pfd[0]);
    REPORT("WNOHANG with running child returns 0", waitpid(pid, &st, WNOHANG) == 0);
    close(pfd[1]);
    CHECK(waitpid(pid, &st, 0) == pid);
    errno = 0;
    REPORT("wait with no children: ECHILD", wait(&st) == -1 && errno == ECHILD);

    /* execve of itself with arguments and environment. */
    run_self("0", "first");
    run_self("3", "second arg");
    run_self("200", "-dash");

    /* posix_spawn and vfork + execve. */
    pid_t sp;
    char *av[] = {self, "child", "5", "spawned", NULL};
    char *ev[] = {"XT_CHILD=spawn", NULL};
    CHECK(posix_spawn(&sp, self, NULL, NULL, av, ev) == 0);
    CHECK(waitpid(sp, &st, 0) == sp);
    printf("posix_spawn: exit %d\n", WEXITSTATUS(st));
    pid = vfork();
    if (pid == 0) {
        char *av2[] = {self, "child", "6", "vforked", NULL};
        execve(self, av2, environ);
        _exit(127);
    }
    CHECK(waitpid(pid, &st, 0) == pid);
    printf("vfork+execve: exit %d\n", WEXITSTATUS(st));

    /* execve errors. */
    errno = 0;
    char *nav[] = {"nope", NULL};
    REPORT("execve missing file: ENOENT", execve("/nonexistent/prog", nav, environ) == -1 && errno == ENOENT);
    errno = 0;
    REPORT("execve a directory: EACCES", execve("/", nav, environ) == -1 && errno == EACCES);
    int fd = open("notexec", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0);
    write(fd, "#!/bin/sh\n", 10);
    close(fd);
    errno = 0;
    REPORT("execve non-executable file: EACCES", execve("./notexec", nav, environ) == -1 && errno == EACCES);
    unlink("notexec");

    /* FD_CLOEXEC is honoured across execve: the child sees fd closed. */
    fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    char fdarg[16];
    snprintf(fdarg, sizeof fdarg, "%d", fd);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        char *av3[] = {self, "fdcheck", fdarg, NULL};
        execve(self, av3, environ);
        _exit(127);
    }
    CHECK(waitpid(pid, &st, 0) == pid);
    REPORT("O_CLOEXEC fd closed in exec'd child", WIFEXITED(st) && WEXITSTATUS(st) == 9);
    close(fd);
    FINISH();
}

/* Runs before main: the fdcheck mode exits 9 when the fd is closed. */
__attribute__((constructor)) static void fdcheck(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "fdcheck") == 0)
        _exit(fcntl(atoi(argv[2]), F_GETFD) == -1 && errno == EBADF ? 9 : 8);
}
