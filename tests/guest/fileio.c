/* File I/O: open/read/write/lseek/pread/pwrite/readv/writev, stat/fstat/
 * lstat, getdents64, rename/unlink/mkdir/rmdir, symlink/readlink, openat,
 * ftruncate, fcntl, access, dup/dup2/dup3, pipes, poll, errno values.
 * Runs in the current directory (the test gives it a fresh one). */
#define _GNU_SOURCE
#include "check.h"
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void list_dir(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    CHECK(fd >= 0);
    char buf[4096];
    char *names[64];
    int n = 0;
    long got;
    while ((got = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < got;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            if (n < 64) {
                char type = d->d_type == DT_DIR ? 'd' : d->d_type == DT_REG ? 'f' : d->d_type == DT_LNK ? 'l' : '?';
                names[n] = malloc(strlen(d->d_name) + 3);
                sprintf(names[n], "%s%c%c", d->d_name, '/', type);
                n++;
            }
            off += d->d_reclen;
        }
    }
    CHECK(got == 0);
    close(fd);
    qsort(names, (size_t)n, sizeof names[0], cmp);
    printf("getdents64 %s:", path);
    for (int i = 0; i < n; i++) printf(" %s", names[i]), free(names[i]);
    printf("\n");
}

int main(void) {
    umask(022);
    CHECK(mkdir("d", 0755) == 0);
    CHECK(chdir("d") == 0);

    int fd = open("a.txt", O_CREAT | O_RDWR | O_TRUNC, 0666);
    CHECK(fd >= 0);
    CHECK(write(fd, "hello, world\n", 13) == 13);
    CHECK(lseek(fd, 0, SEEK_CUR) == 13);
    CHECK(lseek(fd, 7, SEEK_SET) == 7);
    char buf[256] = {0};
    CHECK(read(fd, buf, 5) == 5);
    printf("read after lseek: %s\n", buf);
    printf("lseek SEEK_END-1: %ld\n", (long)lseek(fd, -1, SEEK_END));
    CHECK(lseek(fd, 100, SEEK_SET) == 100);
    CHECK(write(fd, "X", 1) == 1); /* makes a hole */
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    printf("fstat: size %lld mode %o regular %d nlink %ld\n", (long long)st.st_size, st.st_mode & 07777,
           S_ISREG(st.st_mode), (long)st.st_nlink);
    memset(buf, 'z', sizeof buf);
    CHECK(pread(fd, buf, 10, 12) == 10);
    REPORT("hole reads as zeros", buf[0] == '\n' && buf[1] == 0 && buf[9] == 0);
    CHECK(pwrite(fd, "HELLO", 5, 0) == 5);
    CHECK(lseek(fd, 0, SEEK_CUR) == 101);
    CHECK(ftruncate(fd, 13) == 0);
    CHECK(pread(fd, buf, sizeof buf, 0) == 13);
    printf("after pwrite+ftruncate: %.13s", buf);

    struct iovec iov[3] = {{"one ", 4}, {"two ", 4}, {"three\n", 6}};
    CHECK(lseek(fd, 0, SEEK_END) == 13);
    CHECK(writev(fd, iov, 3) == 14);
    char b1[5] = {0}, b2[9] = {0};
    struct iovec riov[2] = {{b1, 4}, {b2, 8}};
    CHECK(lseek(fd, 13, SEEK_SET) == 13);
    CHECK(readv(fd, riov, 2) == 12);
    printf("readv: [%s] [%s]\n", b1, b2);
    close(fd);

    CHECK(stat("a.txt", &st) == 0);
    printf("stat: size %lld mode %o\n", (long long)st.st_size, st.st_mode & 07777);
    CHECK(chmod("a.txt", 0600) == 0);
    CHECK(stat("a.txt", &st) == 0);
    printf("after chmod: mode %o\n", st.st_mode & 07777);
    REPORT("access R_OK", access("a.txt", R_OK) == 0);
    errno = 0;
    REPORT("access missing: ENOENT", access("missing", F_OK) == -1 && errno == ENOENT);

    CHECK(symlink("a.txt", "link") == 0);
    char target[64] = {0};
    CHECK(readlink("link", target, sizeof target - 1) == 5);
    printf("readlink: %s\n", target);
    struct stat lst;
    CHECK(lstat("link", &lst) == 0);
    CHECK(stat("link", &st) == 0);
    printf("lstat link: symlink %d size %lld; stat follows: regular %d\n", S_ISLNK(lst.st_mode),
           (long long)lst.st_size, S_ISREG(st.st_mode));
    CHECK(link("a.txt", "hard") == 0);
    CHECK(stat("a.txt", &st) == 0);
    printf("nlink after link: %ld\n", (long)st.st_nlink);

    CHECK(mkdir("sub", 0750) == 0);
    int dfd = open("sub", O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0);
    int f2 = openat(dfd, "inner", O_CREAT | O_WRONLY | O_EXCL, 0640);
    CHECK(f2 >= 0);
    CHECK(write(f2, "inner\n", 6) == 6);
    close(f2);
    errno = 0;
    REPORT("O_EXCL on existing: EEXIST", openat(dfd, "inner", O_CREAT | O_WRONLY | O_EXCL, 0640) == -1 && errno == EEXIST);
    CHECK(fstatat(dfd, "inner", &st, 0) == 0);
    printf("fstatat inner: size %lld mode %o\n", (long long)st.st_size, st.st_mode & 07777);
    CHECK(renameat(dfd, "inner", AT_FDCWD, "moved") == 0);
    close(dfd);
    list_dir(".");
    list_dir("sub");

    CHECK(rename("moved", "sub/back") == 0);
    CHECK(unlink("hard") == 0);
    CHECK(unlink("link") == 0);
    errno = 0;
    REPORT("rmdir non-empty: ENOTEMPTY", rmdir("sub") == -1 && errno == ENOTEMPTY);
    CHECK(unlink("sub/back") == 0);
    CHECK(rmdir("sub") == 0);
    errno = 0;
    REPORT("open missing: ENOENT", open("nope", O_RDONLY) == -1 && errno == ENOENT);
    errno = 0;
    REPORT("open dir for write: EISDIR", open(".", O_WRONLY) == -1 && errno == EISDIR);
    errno = 0;
    REPORT("read from bad fd: EBADF", read(999, buf, 1) == -1 && errno == EBADF);
    list_dir(".");

    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    const char *slash = strrchr(cwd, '/');
    printf("getcwd basename: %s\n", slash ? slash + 1 : cwd);

    /* O_APPEND and fcntl. */
    fd = open("a.txt", O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    int fl = fcntl(fd, F_GETFL);
    REPORT("F_GETFL has O_APPEND|O_WRONLY", (fl & O_APPEND) && (fl & O_ACCMODE) == O_WRONLY);
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    CHECK(write(fd, "end\n", 4) == 4);
    close(fd);
    CHECK(stat("a.txt", &st) == 0);
    printf("size after append: %lld\n", (long long)st.st_size);

    /* dup, dup2, dup3, F_DUPFD_CLOEXEC. */
    fd = open("a.txt", O_RDONLY);
    int d1 = dup(fd);
    CHECK(d1 > fd);
    CHECK(lseek(fd, 4, SEEK_SET) == 4);
    REPORT("dup shares the offset", lseek(d1, 0, SEEK_CUR) == 4);
    CHECK(dup2(fd, 50) == 50);
    REPORT("dup2 to 50", fcntl(50, F_GETFD) == 0);
    CHECK(dup3(fd, 51, O_CLOEXEC) == 51);
    REPORT("dup3 O_CLOEXEC sets FD_CLOEXEC", fcntl(51, F_GETFD) == FD_CLOEXEC);
    int d4 = fcntl(fd, F_DUPFD_CLOEXEC, 60);
    REPORT("F_DUPFD_CLOEXEC >= 60", d4 >= 60 && fcntl(d4, F_GETFD) == FD_CLOEXEC);
    errno = 0;
    REPORT("dup3 same fd: EINVAL", dup3(fd, fd, 0) == -1 && errno == EINVAL);
    close(d1), close(50), close(51), close(d4), close(fd);

    /* stdout redirected with dup2 into a file, then restored. */
    fflush(stdout);
    int saved = dup(1);
    fd = open("out.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    dup2(fd, 1);
    close(fd);
    printf("this goes to out.txt\n");
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    fd = open("out.txt", O_RDONLY);
    memset(buf, 0, sizeof buf);
    CHECK(read(fd, buf, sizeof buf - 1) > 0);
    close(fd);
    printf("redirected: %s", buf);

    /* Pipes: pipe2 flags, poll, partial reads, EAGAIN. */
    int p[2];
    CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    REPORT("pipe2 O_NONBLOCK", (fcntl(p[0], F_GETFL) & O_NONBLOCK) != 0);
    REPORT("pipe2 O_CLOEXEC", fcntl(p[1], F_GETFD) == FD_CLOEXEC);
    errno = 0;
    REPORT("empty nonblocking pipe: EAGAIN", read(p[0], buf, 1) == -1 && errno == EAGAIN);
    struct pollfd pf = {p[0], POLLIN, 0};
    REPORT("poll empty pipe times out", poll(&pf, 1, 0) == 0);
    CHECK(write(p[1], "pipe data", 9) == 9);
    REPORT("poll readable", poll(&pf, 1, 1000) == 1 && (pf.revents & POLLIN));
    memset(buf, 0, sizeof buf);
    CHECK(read(p[0], buf, 4) == 4);
    CHECK(read(p[0], buf + 4, 100) == 5);
    printf("pipe read: %s\n", buf);
    close(p[1]);
    REPORT("EOF after writer closes", read(p[0], buf, 1) == 0);
    close(p[0]);
    /* A 200 KiB transfer through a pipe between processes. */
    CHECK(pipe(p) == 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        static char big[200 * 1024];
        for (size_t i = 0; i < sizeof big; i++) big[i] = (char)(i % 251);
        size_t off = 0;
        while (off < sizeof big) {
            ssize_t w = write(p[1], big + off, sizeof big - off);
            if (w <= 0) _exit(1);
            off += (size_t)w;
        }
        _exit(0);
    }
    close(p[1]);
    unsigned long sum = 0, total = 0;
    ssize_t r;
    while ((r = read(p[0], buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < r; i++) sum += (unsigned char)buf[i];
        total += (unsigned long)r;
    }
    close(p[0]);
    while (wait(NULL) > 0) {}
    printf("pipe transfer: %lu bytes sum %lu\n", total, sum);

    CHECK(unlink("a.txt") == 0);
    CHECK(unlink("out.txt") == 0);
    CHECK(chdir("..") == 0);
    CHECK(rmdir("d") == 0);
    FINISH();
}
