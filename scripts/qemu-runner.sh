#!/bin/sh
# qemu-runner.sh PROGRAM ARGS...: run an arm64 program under qemu-aarch64 as a
# stand-in for `xarch run --` (use XARCH_TEST_RUNNER=scripts/qemu-runner.sh).
#
# qemu-user does not re-enter itself when the guest execve()s another arm64
# binary (busybox re-executes /proc/self/exe for many applets); a binfmt_misc
# handler does that. To leave the host's binfmt_misc untouched, this runs in a
# new user + mount namespace with a private binfmt_misc instance (Linux >= 6.7)
# and registers Debian's qemu-aarch64 handler there (flags OPF, the -binfmt-P
# wrapper that preserves argv[0]). uid/gid 0 map to themselves when run as root.
#
# Every command is named by absolute path: the caller's PATH may hold busybox
# applet links (the busybox testsuite's does), which would recurse into here.
set -eu
conf=/usr/share/qemu/binfmt.d/qemu-aarch64.conf
if [ ! -r "$conf" ]; then
    echo "qemu-runner: $conf missing (install qemu-user >= 10 from bookworm-backports)" >&2
    exit 125
fi
exec /usr/bin/unshare --user --map-root-user --mount -- /bin/sh -c '
    set -e
    /bin/mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || {
        echo "qemu-runner: cannot mount a private binfmt_misc (needs Linux >= 6.7)" >&2; exit 125; }
    read -r rule < "$0"
    printf "%s\n" "$rule" > /proc/sys/fs/binfmt_misc/register
    exec /usr/bin/qemu-aarch64 "$@"' "$conf" "$@"
