#!/bin/bash
# CPython's own process/thread/signal tests, under xarch in an arm64 Debian
# bookworm root and natively (chroot) in an amd64 bookworm root, side by
# side: which tests pass and fail on each.
#
#   scripts/cpython-tests.sh ARM64ROOT AMD64ROOT [TEST...]
#
# ARM64ROOT: an arm64 root file system (scripts/rootfs-second-stage.sh);
# python3 and libpython3.11-testsuite are installed there with apt-get under
# xarch when missing. AMD64ROOT: an amd64 root, made with
# `debootstrap --variant=minbase bookworm AMD64ROOT` when it does not exist,
# the same packages installed with chroot apt-get. Needs root and the
# network (Debian archive). Environment: XARCH_BIN (default: the static
# release xarch), CPYTEST_TIMEOUT (per-test seconds, default 900), SIDES
# ("xarch native" by default). Logs go to ARM64ROOT/tmp/cpython-tests.log and
# AMD64ROOT/tmp/cpython-tests.log.
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${XARCH_CACHE:-$REPO/.cache}
ARM=${1:?usage: cpython-tests.sh ARM64ROOT AMD64ROOT [TEST...]}
AMD=${2:?usage: cpython-tests.sh ARM64ROOT AMD64ROOT [TEST...]}
shift 2
TESTS=${*:-test_threading test_signal test_subprocess test_os test_select test_socket test_fork1 test_thread test_pty test_selectors test_asyncio}
TIMEOUT=${CPYTEST_TIMEOUT:-900}
SIDES=${SIDES:-xarch native}
X=${XARCH_BIN:-$(PROFILE=release sh "$REPO/scripts/rootfs-static-xarch.sh" "$CACHE/rootfs/xarch-release")}
ENV="/usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive"
PKGS="python3 libpython3.11-testsuite"
# -j1: each test file in its own child process, killed after $TIMEOUT s;
# -w: a failed test file is run again in verbose mode at the end (its
# failing cases and tracebacks land in the log; "passed on rerun" marks a
# flaky one).
CMD="python3 -m test -j1 -w --timeout $TIMEOUT $TESTS"

xarch_side() { "$X" run --rootfs "$ARM" $ENV "$@"; }
# The native side: a private mount namespace with /proc, /sys, /dev and
# /dev/pts, then chroot. /dev/vsock is hidden: the xarch side has none
# (test_socket skips its AF_VSOCK tests there), and in a VM whose vsock
# has no peer those tests hang natively until the timeout. Signal
# dispositions are reset to default (a script started with `&` inherits
# SIGINT ignored, which fails the KeyboardInterrupt tests; `xarch run
# --rootfs` resets them too).
native_side() {
	unshare --mount --propagation private /bin/sh -c '
		r=$1; shift
		mount -t proc proc "$r/proc" && mount -t sysfs sys "$r/sys" &&
		mount --rbind /dev "$r/dev" &&
		if [ -e "$r/dev/vsock" ]; then mount --bind /dev/null "$r/dev/vsock"; fi &&
		exec env --default-signal chroot "$r" "$@"' sh "$AMD" $ENV "$@"
}

if ! [ -d "$ARM/usr/lib/python3.11/test/test_threading.py" ] && ! [ -f "$ARM/usr/lib/python3.11/test/test_threading.py" ]; then
	xarch_side /bin/sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends $PKGS" || exit 1
fi
if ! [ -d "$AMD/usr" ]; then
	debootstrap --variant=minbase bookworm "$AMD" http://deb.debian.org/debian || exit 1
fi
if ! [ -f "$AMD/usr/lib/python3.11/test/test_threading.py" ]; then
	native_side /bin/sh -c "apt-get install -y -q --no-install-recommends $PKGS" || exit 1
fi

# test_socket resolves "localhost": a minbase root may have no /etc/hosts.
for r in "$ARM" "$AMD"; do
	if ! [ -s "$r/etc/hosts" ]; then
		printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$r/etc/hosts"
	fi
done

for side in $SIDES; do
	case $side in
	xarch) root=$ARM ;;
	native) root=$AMD ;;
	*) echo "unknown side $side" >&2; exit 2 ;;
	esac
	echo "== $side: $CMD"
	start=$(date +%s)
	${side}_side /bin/sh -c "cd /tmp && $CMD" >"$root/tmp/cpython-tests.log" 2>&1
	echo "exit $?, $(( $(date +%s) - start )) s; log $root/tmp/cpython-tests.log"
	# One line per test: "test_x passed (12.3 sec)", "test_y failed", ...
	grep -E '^[0-9:]+ load avg: .*\] test_[a-z0-9_]+ ' "$root/tmp/cpython-tests.log" |
		sed -E 's/^.*\] (test_[a-z0-9_]+) /\1 /; s/ -- .*//' | sort >"$root/tmp/cpython-tests.summary"
	cat "$root/tmp/cpython-tests.summary"
done
if [ "$SIDES" = "xarch native" ]; then
	echo "== outcome differences (xarch | native)"
	join -a1 -a2 -e MISSING -o 0,1.2,2.2 <(awk '{print $1, $2}' "$ARM/tmp/cpython-tests.summary") \
		<(awk '{print $1, $2}' "$AMD/tmp/cpython-tests.summary") | awk '$2 != $3'
fi
