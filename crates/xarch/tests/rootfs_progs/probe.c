/* Prints what the guest sees of files, the working directory, the
 * environment and its own re-execution; used by the --sysroot and --rootfs
 * tests. Each argument is an action:
 *   read:PATH   first line of PATH, or the errno name
 *   link:PATH   readlink(PATH)
 *   cwd         getcwd()
 *   env:NAME    getenv(NAME)
 *   null        write to /dev/null and read /dev/zero
 *   uid         getuid()
 *   exec:PATH   execv(PATH, {"probe", "env:PROBE_DEPTH"}) with PROBE_DEPTH=1
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        char *a = argv[i], buf[512];
        if (!strncmp(a, "read:", 5)) {
            FILE *f = fopen(a + 5, "r");
            if (!f) { printf("%s: errno %d\n", a, errno); continue; }
            if (!fgets(buf, sizeof buf, f)) buf[0] = 0;
            buf[strcspn(buf, "\n")] = 0;
            printf("%s: %s\n", a, buf);
            fclose(f);
        } else if (!strncmp(a, "link:", 5)) {
            ssize_t n = readlink(a + 5, buf, sizeof buf - 1);
            if (n < 0) printf("%s: errno %d\n", a, errno);
            else { buf[n] = 0; printf("%s: %s\n", a, buf); }
        } else if (!strcmp(a, "cwd")) {
            printf("cwd: %s\n", getcwd(buf, sizeof buf) ? buf : "?");
        } else if (!strncmp(a, "env:", 4)) {
            const char *v = getenv(a + 4);
            printf("%s: %s\n", a, v ? v : "(unset)");
        } else if (!strcmp(a, "null")) {
            int w = open("/dev/null", O_WRONLY), z = open("/dev/zero", O_RDONLY);
            char c = 1;
            printf("null: %zd %zd %d\n", write(w, "x", 1), read(z, &c, 1), c);
        } else if (!strcmp(a, "uid")) {
            printf("uid: %d\n", (int)getuid());
        } else if (!strncmp(a, "sleep:", 6)) {
            printf("sleeping\n");
            fflush(stdout);
            sleep(atoi(a + 6));
            printf("slept\n");
        } else if (!strncmp(a, "exec:", 5)) {
            fflush(stdout);
            setenv("PROBE_DEPTH", "1", 1);
            char *args[] = {"probe", "env:PROBE_DEPTH", NULL};
            execv(a + 5, args);
            printf("%s: errno %d\n", a, errno);
        }
    }
    return 0;
}
