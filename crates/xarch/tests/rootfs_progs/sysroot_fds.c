/* Under --sysroot: the guest's descriptors are only its own (xarch's
 * directory descriptor of the sysroot is hidden), and closing all of them
 * does not break the sysroot's path lookups. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    printf("fds:");
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d) && atoi(e->d_name) < 3)
            printf(" %s", e->d_name);
    closedir(d);
    d = opendir("/proc/self/fd");
    int extra = 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d) && atoi(e->d_name) >= 3) {
            char p[64], l[4096] = {0};
            snprintf(p, sizeof p, "/proc/self/fd/%s", e->d_name);
            if (readlink(p, l, sizeof l - 1) > 0 && l[0] == '/' && strstr(l, "aarch64")) extra++;
        }
    closedir(d);
    printf("; sysroot directories open: %d\n", extra);
    syscall(SYS_close_range, 3, ~0U, 0);
    int fd = open("/lib/ld-linux-aarch64.so.1", O_RDONLY);
    printf("loader found after close_range: %s\n", fd >= 0 ? "yes" : "no");
    return 0;
}
