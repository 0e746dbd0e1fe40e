/* execveat: by path, relative to a directory descriptor, AT_EMPTY_PATH on
 * a descriptor of this (guest) program, of a native program and of a #!
 * script whose interpreter is this program; fexecve of a copy of this
 * program and of such a script in a memfd (no path), with and without
 * MFD_CLOEXEC; AT_SYMLINK_NOFOLLOW; errors. The exec'd program prints its
 * arguments and whether /proc/self/exe is the file that was executed.
 *
 *   execat                      the checks
 *   execat child EXPECT ARGS    print ARGS and check /proc/self/exe == EXPECT
 *   execat memchild FD ARGS     print ARGS, /proc/self/exe, whether FD is open
 *   execat interp ARGS          the script interpreter: print ARGS */
#define _GNU_SOURCE
#include "check.h"
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static char self[4096];

static int xexecveat(int dirfd, const char *path, char *const argv[], int flags) {
    char *env[] = {"XT_EXECAT=yes", NULL};
    return (int)syscall(SYS_execveat, dirfd, path, argv, env, flags);
}

static int child_mode(int argc, char **argv) {
    struct stat a, b;
    int same = stat("/proc/self/exe", &a) == 0 && stat(argv[2], &b) == 0 && a.st_ino == b.st_ino &&
               a.st_dev == b.st_dev;
    printf("  child: exe is the file %d, argv0 %s, args", same,
           strcmp(argv[0], argv[2]) == 0 ? "(self)" : argv[0]);
    for (int i = 3; i < argc; i++) printf(" [%s]", argv[i]);
    const char *e = getenv("XT_EXECAT");
    printf(" XT_EXECAT=%s\n", e ? e : "(unset)");
    return 7;
}

/* The program fexecve'd from memfd FD (argv[2]). */
static int memchild_mode(int argc, char **argv) {
    char exe[4096] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    int fd = atoi(argv[2]), others = 0;
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        int f = atoi(e->d_name);
        others += e->d_name[0] != '.' && f > 2 && f != fd && f != dirfd(d);
    }
    closedir(d);
    printf("  memchild: argv0 %s, exe %s, memfd %s, other fds %d, args", argv[0], exe,
           fcntl(fd, F_GETFD) >= 0 ? "open" : "closed", others);
    for (int i = 3; i < argc; i++) printf(" [%s]", argv[i]);
    const char *e = getenv("XT_EXECAT");
    printf(" XT_EXECAT=%s\n", e ? e : "(unset)");
    return 6;
}

static char script[4096];

static int interp_mode(int argc, char **argv) {
    snprintf(script, sizeof script, "/tmp/xarch-execat-script-%d", getppid());
    printf("  interp: argc %d", argc);
    for (int i = 2; i < argc; i++) {
        /* The script's own path: show only its kind. */
        if (strncmp(argv[i], "/dev/fd/", 8) == 0)
            printf(" [/dev/fd/N%s]", strchr(argv[i] + 8, '/') ? "/name" : "");
        else if (strcmp(argv[i], script) == 0)
            printf(" [the script's path]");
        else
            printf(" [%s]", argv[i]);
    }
    printf("\n");
    return 8;
}

/* Runs `fn` in a child and prints how it ended. */
static void run(const char *what, void (*fn)(void *), void *arg) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        fn(arg);
        printf("  %s: execveat failed: %s\n", what, strerror(errno));
        fflush(stdout);
        _exit(100);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    printf("%s: exit %d\n", what, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static void by_path(void *arg) {
    (void)arg;
    char *av[] = {self, "child", self, "by path", NULL};
    xexecveat(AT_FDCWD, self, av, 0);
}

static void by_dirfd(void *arg) {
    (void)arg;
    char dir[4096], base[4096];
    strcpy(dir, self);
    strcpy(base, self);
    int d = open(dirname(dir), O_RDONLY | O_DIRECTORY);
    char *av[] = {"argv0-kept", "child", self, "relative", NULL};
    xexecveat(d, basename(base), av, 0);
}

static void by_fd(void *arg) {
    int oflags = *(int *)arg;
    int fd = open(self, oflags);
    char *av[] = {"fexecve", "child", self, "empty path", NULL};
    xexecveat(fd, "", av, AT_EMPTY_PATH);
}

static void native_fd(void *arg) {
    (void)arg;
    int fd = open("/bin/sh", O_RDONLY | O_CLOEXEC);
    char *av[] = {"sh", "-c", "echo \"  native sh: $0 $1 $XT_EXECAT\"; exit 9", "a0", "a1", NULL};
    xexecveat(fd, "", av, AT_EMPTY_PATH);
}

static void script_fd(void *arg) {
    int oflags = *(int *)arg;
    int fd = open(script, oflags);
    char *av[] = {"the-script", "s1", "s2", NULL};
    xexecveat(fd, "", av, AT_EMPTY_PATH);
}

static void script_rel(void *arg) {
    (void)arg;
    char dir[4096], base[4096];
    strcpy(dir, script);
    strcpy(base, script);
    int d = open(dirname(dir), O_RDONLY | O_DIRECTORY);
    char *av[] = {"the-script", "r1", NULL};
    xexecveat(d, basename(base), av, 0);
}

static void script_path(void *arg) {
    (void)arg;
    char *av[] = {"the-script", "p1", NULL};
    xexecveat(AT_FDCWD, script, av, 0);
}

/* A memfd (flags: MFD_CLOEXEC or 0) holding this program, or with
 * `script` set a #! script run by it, all other descriptors closed. */
static int memfd_of(unsigned flags, int as_script) {
    int fd = memfd_create("xarch-execat", flags);
    CHECK(fd >= 0);
    if (as_script) {
        dprintf(fd, "#!%s interp\n", self);
    } else {
        int in = open("/proc/self/exe", O_RDONLY);
        CHECK(in >= 0);
        char buf[65536];
        for (ssize_t n; (n = read(in, buf, sizeof buf)) > 0;) CHECK(write(fd, buf, n) == n);
        close(in);
    }
    syscall(SYS_close_range, 3, fd - 1, 0);
    syscall(SYS_close_range, fd + 1, ~0U, 0);
    return fd;
}

static void memfd_elf(void *arg) {
    int fd = memfd_of(*(unsigned *)arg, 0);
    char n[16];
    snprintf(n, sizeof n, "%d", fd);
    char *av[] = {"from-memfd", "memchild", n, "m1", NULL};
    char *env[] = {"XT_EXECAT=memfd", NULL};
    fexecve(fd, av, env);
}

static void memfd_script(void *arg) {
    int fd = memfd_of(*(unsigned *)arg, 1);
    char *av[] = {"the-script", "ms1", NULL};
    char *env[] = {NULL};
    fexecve(fd, av, env);
}

static void errors(void) {
    char *av[] = {"x", NULL};
    struct {
        const char *what;
        int dirfd;
        const char *path;
        int flags;
    } cases[] = {
        {"bad fd, empty path", 999, "", AT_EMPTY_PATH},
        {"bad fd, relative", 999, "x", 0},
        {"empty path without AT_EMPTY_PATH", AT_FDCWD, "", 0},
        {"unknown flag", AT_FDCWD, self, 0x4},
        {"missing file", AT_FDCWD, "/nonexistent/xarch", 0},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errno = 0;
        int r = xexecveat(cases[i].dirfd, cases[i].path, av, cases[i].flags);
        printf("%s: %d %s\n", cases[i].what, r, strerror(errno));
    }
    int dir = open("/", O_RDONLY | O_DIRECTORY);
    errno = 0;
    int r = xexecveat(dir, "", av, AT_EMPTY_PATH);
    printf("directory fd: %d %s\n", r, strerror(errno));
    close(dir);
    char tmpf[] = "/tmp/xarch-execat-XXXXXX";
    int fd = mkstemp(tmpf);
    CHECK(fd >= 0);
    errno = 0;
    r = xexecveat(fd, "", av, AT_EMPTY_PATH);
    printf("not executable: %d %s\n", r, strerror(errno));
    close(fd);
    unlink(tmpf);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && strcmp(argv[1], "child") == 0) return child_mode(argc, argv);
    if (argc >= 3 && strcmp(argv[1], "memchild") == 0) return memchild_mode(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "interp") == 0) return interp_mode(argc, argv);
    CHECK(realpath(argv[0], self) != NULL);

    run("by path", by_path, NULL);
    run("relative to a directory fd", by_dirfd, NULL);
    int flags = O_RDONLY;
    run("AT_EMPTY_PATH, O_RDONLY fd", by_fd, &flags);
    flags = O_PATH;
    run("AT_EMPTY_PATH, O_PATH fd", by_fd, &flags);
    flags = O_RDONLY | O_CLOEXEC;
    run("AT_EMPTY_PATH, close-on-exec fd", by_fd, &flags);
    run("AT_EMPTY_PATH, native /bin/sh", native_fd, NULL);

    /* A #! script whose interpreter is this program. */
    snprintf(script, sizeof script, "/tmp/xarch-execat-script-%d", getpid());
    FILE *f = fopen(script, "w");
    CHECK(f != NULL);
    fprintf(f, "#!%s interp\n", self);
    fclose(f);
    CHECK(chmod(script, 0755) == 0);
    flags = O_RDONLY;
    run("script, AT_EMPTY_PATH", script_fd, &flags);
    flags = O_RDONLY | O_CLOEXEC;
    run("script, AT_EMPTY_PATH, close-on-exec fd", script_fd, &flags);
    run("script, relative to a directory fd", script_rel, NULL);
    run("script, by path", script_path, NULL);

    /* fexecve of a memfd: no path names the program. */
    unsigned mflags = 0;
    run("memfd", memfd_elf, &mflags);
    run("memfd script", memfd_script, &mflags);
    mflags = MFD_CLOEXEC;
    run("memfd, MFD_CLOEXEC", memfd_elf, &mflags);
    /* The interpreter could not open /dev/fd/N: ENOENT, as Linux says. */
    run("memfd script, MFD_CLOEXEC", memfd_script, &mflags);

    /* AT_SYMLINK_NOFOLLOW on a symbolic link. */
    char link[4096];
    snprintf(link, sizeof link, "/tmp/xarch-execat-link-%d", getpid());
    CHECK(symlink(self, link) == 0);
    char *av[] = {"x", NULL};
    errno = 0;
    int r = xexecveat(AT_FDCWD, link, av, AT_SYMLINK_NOFOLLOW);
    printf("AT_SYMLINK_NOFOLLOW on a link: %d %s\n", r, strerror(errno));
    unlink(link);
    unlink(script);

    errors();
    FINISH();
}
