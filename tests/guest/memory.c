/* Memory system calls: mmap/munmap/mprotect/mremap/brk, MAP_FIXED,
 * MAP_FIXED_NOREPLACE, file mappings, a big malloc, and a write to a
 * read-only page killing a child with SIGSEGV. */
#define _GNU_SOURCE
#include "check.h"
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static long page;

static int mapped(void *p) { /* msync fails with ENOMEM on unmapped pages */
    return msync(p, (size_t)page, MS_ASYNC) == 0;
}

int main(void) {
    page = sysconf(_SC_PAGESIZE);
    printf("page size: %ld\n", page);

    /* Anonymous mapping: zero-filled, writable. */
    size_t len = 16 * (size_t)page;
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    int zero = 1;
    for (size_t i = 0; i < len; i++) zero &= p[i] == 0;
    REPORT("anonymous mmap is zero-filled", zero);
    REPORT("mmap is page aligned", ((uintptr_t)p % (uintptr_t)page) == 0);
    for (size_t i = 0; i < len; i++) p[i] = (unsigned char)(i * 7);
    unsigned sum = 0;
    for (size_t i = 0; i < len; i++) sum += p[i];
    printf("anon sum: %u\n", sum);

    /* munmap of the middle splits the mapping. */
    CHECK(munmap(p + 4 * page, 2 * (size_t)page) == 0);
    REPORT("munmap'd pages are unmapped", !mapped(p + 4 * page) && !mapped(p + 5 * page));
    REPORT("neighbours still mapped", mapped(p + 3 * page) && mapped(p + 6 * page));
    REPORT("neighbour contents kept", p[6 * page] == (unsigned char)(6 * page * 7));

    /* MAP_FIXED into the hole, then over existing pages (replaces them). */
    unsigned char *q = mmap(p + 4 * page, 2 * (size_t)page, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    REPORT("MAP_FIXED into hole at requested address", q == p + 4 * page);
    q = mmap(p, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    REPORT("MAP_FIXED over a mapping zeroes it", q == p && p[1] == 0 && p[page + 1] == (unsigned char)((page + 1) * 7));
    errno = 0;
    q = mmap(p, (size_t)page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    REPORT("MAP_FIXED_NOREPLACE on a mapping fails EEXIST", q == MAP_FAILED && errno == EEXIST);

    /* mprotect: a child writing to a read-only page dies of SIGSEGV. */
    CHECK(mprotect(p, (size_t)page, PROT_READ) == 0);
    REPORT("read-only page readable", p[0] == 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        ((volatile unsigned char *)p)[0] = 1;
        _exit(0);
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    REPORT("write to PROT_READ page: SIGSEGV", WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    CHECK(mprotect(p, (size_t)page, PROT_READ | PROT_WRITE) == 0);
    p[0] = 9;
    REPORT("mprotect back to RW", p[0] == 9);

    /* mremap: grow in place or move, contents preserved; shrink. */
    unsigned char *r = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(r != MAP_FAILED);
    memset(r, 0x5a, 2 * (size_t)page);
    r = mremap(r, 2 * (size_t)page, 64 * (size_t)page, MREMAP_MAYMOVE);
    CHECK(r != MAP_FAILED);
    int kept = 1;
    for (long i = 0; i < 2 * page; i++) kept &= r[i] == 0x5a;
    REPORT("mremap grow keeps contents", kept);
    REPORT("mremap grown tail is zero", r[63 * page] == 0 && r[2 * page] == 0);
    r[63 * page] = 1;
    unsigned char *r2 = mremap(r, 64 * (size_t)page, (size_t)page, 0);
    REPORT("mremap shrink in place", r2 == r && r2[0] == 0x5a);
    CHECK(munmap(r2, (size_t)page) == 0);

    /* brk/sbrk. */
    char *b0 = sbrk(0);
    char *b1 = sbrk(1 << 20);
    REPORT("sbrk grows from old break", b1 == b0);
    memset(b1, 0x33, 1 << 20);
    REPORT("new brk memory writable", b1[(1 << 20) - 1] == 0x33);
    REPORT("sbrk(0) moved by 1 MiB", (char *)sbrk(0) == b0 + (1 << 20));
    CHECK(sbrk(-(1 << 20)) != (void *)-1);
    REPORT("sbrk shrink", (char *)sbrk(0) == b0);

    /* File mapping: shared writes reach the file. */
    char path[] = "memtest.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, 2 * page) == 0);
    char *f = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(f != MAP_FAILED);
    strcpy(f + page, "hello through MAP_SHARED");
    CHECK(msync(f, 2 * (size_t)page, MS_SYNC) == 0);
    char buf[64] = {0};
    CHECK(pread(fd, buf, 24, page) == 24);
    printf("file via mmap: %s\n", buf);
    CHECK(pwrite(fd, "WRITE", 5, 0) == 5);
    REPORT("file write visible in mapping", memcmp(f, "WRITE", 5) == 0);
    char *fp = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, page);
    CHECK(fp != MAP_FAILED);
    fp[0] = 'J';
    CHECK(pread(fd, buf, 5, page) == 5);
    REPORT("MAP_PRIVATE write not in file", buf[0] == 'h' && fp[1] == 'e');
    munmap(f, 2 * (size_t)page);
    munmap(fp, (size_t)page);
    close(fd);
    unlink(path);

    /* A big malloc, touched on every page. */
    size_t big = 64u << 20;
    unsigned char *m = malloc(big);
    CHECK(m != NULL);
    unsigned long acc = 0;
    for (size_t i = 0; i < big; i += (size_t)page) m[i] = (unsigned char)(i >> 12);
    for (size_t i = 0; i < big; i += (size_t)page) acc += m[i];
    printf("64 MiB malloc page sum: %lu\n", acc);
    free(m);

    /* Many small allocations. */
    void *ptrs[1000];
    for (int i = 0; i < 1000; i++) ptrs[i] = malloc((size_t)(i * 37 % 500 + 1)), memset(ptrs[i], i, (size_t)(i * 37 % 500 + 1));
    int good = 1;
    for (int i = 0; i < 1000; i++) good &= ((unsigned char *)ptrs[i])[0] == (unsigned char)i;
    for (int i = 0; i < 1000; i++) free(ptrs[i]);
    REPORT("1000 small mallocs", good);

    errno = 0;
    REPORT("munmap unaligned: EINVAL", munmap(p + 1, (size_t)page) == -1 && errno == EINVAL);
    errno = 0;
    void *huge = mmap(NULL, (size_t)1 << 62, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REPORT("mmap 2^62 bytes: ENOMEM", huge == MAP_FAILED && errno == ENOMEM);
    FINISH();
}
