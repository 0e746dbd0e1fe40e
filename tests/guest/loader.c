/* Process start-up as the loader sets it up: argc/argv/envp layout, auxv
 * entries (getauxval), the machine name and /proc/self/exe. */
#include "check.h"
#include <elf.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/utsname.h>
#include <unistd.h>

extern char **environ;

static const char *base(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int main(int argc, char **argv, char **envp) {
    printf("argc: %d\n", argc);
    printf("argv[0] basename: %s\n", base(argv[0]));
    for (int i = 1; i < argc; i++) printf("argv[%d]: [%s] len %zu\n", i, argv[i], strlen(argv[i]));
    REPORT("argv[argc] is NULL", argv[argc] == NULL);
    REPORT("envp follows argv", envp == argv + argc + 1);
    REPORT("environ is envp", environ == envp);

    /* Only the XT_ variables the test sets: the rest depend on the host. */
    int n = 0;
    for (char **e = envp; *e; e++)
        if (strncmp(*e, "XT_", 3) == 0) printf("env: %s\n", *e), n++;
    printf("XT_ vars: %d\n", n);
    const char *g = getenv("XT_HELLO");
    printf("getenv XT_HELLO: %s\n", g ? g : "(null)");

    unsigned long pagesz = getauxval(AT_PAGESZ);
    printf("AT_PAGESZ: %lu\n", pagesz);
    REPORT("sysconf(_SC_PAGESIZE) == AT_PAGESZ", (unsigned long)sysconf(_SC_PAGESIZE) == pagesz);
    errno = 0;
    unsigned long hwcap = getauxval(AT_HWCAP);
    REPORT("AT_HWCAP present", hwcap != 0 || errno == 0);
    REPORT("AT_PHDR nonzero", getauxval(AT_PHDR) != 0);
    REPORT("AT_PHENT == sizeof(Elf64_Phdr)", getauxval(AT_PHENT) == sizeof(Elf64_Phdr));
    REPORT("AT_PHNUM nonzero", getauxval(AT_PHNUM) != 0);
    REPORT("AT_ENTRY nonzero", getauxval(AT_ENTRY) != 0);
    printf("AT_CLKTCK: %lu\n", getauxval(AT_CLKTCK));
    printf("AT_SECURE: %lu\n", getauxval(AT_SECURE));
    REPORT("AT_UID == getuid()", getauxval(AT_UID) == getuid());
    REPORT("AT_EUID == geteuid()", getauxval(AT_EUID) == geteuid());
    REPORT("AT_GID == getgid()", getauxval(AT_GID) == getgid());
    REPORT("AT_EGID == getegid()", getauxval(AT_EGID) == getegid());

    /* Program headers reachable through AT_PHDR: the first PT_LOAD exists. */
    const Elf64_Phdr *ph = (const Elf64_Phdr *)getauxval(AT_PHDR);
    int loads = 0;
    for (unsigned long i = 0; ph && i < getauxval(AT_PHNUM); i++)
        if (ph[i].p_type == PT_LOAD) loads++;
    REPORT("PT_LOAD via AT_PHDR", loads > 0);

    const unsigned char *rnd = (const unsigned char *)getauxval(AT_RANDOM);
    int nonzero = 0;
    if (rnd)
        for (int i = 0; i < 16; i++) nonzero |= rnd[i]; /* all 16 bytes readable */
    REPORT("AT_RANDOM 16 bytes readable and not all zero", rnd && nonzero);

    const char *plat = (const char *)getauxval(AT_PLATFORM);
    REPORT("AT_PLATFORM is the machine (EXPECT_MACHINE)", plat && strcmp(plat, EXPECT_MACHINE) == 0);
    if (plat && strcmp(plat, EXPECT_MACHINE) != 0) printf("  AT_PLATFORM was %s\n", plat);

    const char *execfn = (const char *)getauxval(AT_EXECFN);
    REPORT("AT_EXECFN == argv[0]", execfn && strcmp(execfn, argv[0]) == 0);
    if (execfn && strcmp(execfn, argv[0]) != 0) printf("  AT_EXECFN was %s\n", execfn);

    struct utsname u;
    CHECK(uname(&u) == 0);
    REPORT("uname machine is EXPECT_MACHINE", strcmp(u.machine, EXPECT_MACHINE) == 0);
    if (strcmp(u.machine, EXPECT_MACHINE) != 0) printf("  machine was %s\n", u.machine);
    printf("uname sysname: %s\n", u.sysname);

    /* /proc/self/exe names the program itself, never the emulator. */
    char exe[PATH_MAX], want[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(len > 0);
    exe[len > 0 ? len : 0] = 0;
    CHECK(realpath(argv[0], want) != NULL);
    REPORT("/proc/self/exe is the program", strcmp(exe, want) == 0);
    if (strcmp(exe, want) != 0) printf("  /proc/self/exe was %s\n", exe);

    /* Stack: argv strings live above the argv array, the stack is writable. */
    volatile char big[64 * 1024];
    for (size_t i = 0; i < sizeof big; i += 512) big[i] = (char)i;
    REPORT("64 KiB stack frame usable", big[512] == (char)512);
    FINISH();
}
