#!/bin/bash
# Runs the same workload (scripts/rootfs-compare-workload.sh: bash,
# coreutils, python3, perl, sqlite3, xz/gzip, gcc, make, git, file) in an
# arm64 Debian bookworm root under `xarch run --rootfs` and in the amd64
# root of the same packages natively (chroot in a private mount and pid
# namespace), and diffs the outputs test by test. Heavier than the test
# suite: the first run builds both roots (debootstrap, apt-get install; about
# 10 minutes on the 2-core VM) and caches them as tarballs under
# $XARCH_CACHE/rootfs/; later runs take a couple of minutes.
#
#   XARCH_BIN=path/to/static/xarch scripts/rootfs-compare.sh [TEST...]
#
# XARCH_BIN: a statically linked xarch (scripts/rootfs-static-xarch.sh;
#   PROFILE=release for speed), default $XARCH_CACHE/rootfs/xarch.
# KEEP=1 keeps the extracted roots (paths printed) for inspection.
# ROOTS_ONLY=1 only builds the cached root tarballs when absent, prints
#   their paths and stops (scripts/bench.sh uses the same roots).
# Prints one line per test, the diffs of the failing ones, the times, and
# finally `rootfs-compare: N passed, M failed`; exits 1 when M > 0.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SUITE=bookworm
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CACHE=$XARCH_CACHE/rootfs
XARCH_BIN=${XARCH_BIN:-$CACHE/xarch}
PKGS="python3 perl sqlite3 xz-utils gcc make git file libc6-dev"
GUEST_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
AMD_TAR=$CACHE/compare-$SUITE-amd64.tar
ARM_TAR=$CACHE/compare-$SUITE-arm64.tar
mkdir -p "$CACHE"
roots_done() {
	if [ "${ROOTS_ONLY:-}" = 1 ]; then
		echo "$AMD_TAR"
		echo "$ARM_TAR"
		exit 0
	fi
}
if [ -s "$AMD_TAR" ] && [ -s "$ARM_TAR" ]; then roots_done; fi
[ -x "$XARCH_BIN" ] || { echo "rootfs-compare: no xarch at $XARCH_BIN (set XARCH_BIN; see scripts/rootfs-static-xarch.sh)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "rootfs-compare: needs root (chroot, debootstrap)" >&2; exit 2; }
command -v debootstrap >/dev/null || apt-get install -y debootstrap >&2

WORK=$(mktemp -d /tmp/rootfs-compare.XXXXXX)
cleanup() { if [ "${KEEP:-}" = 1 ]; then echo "rootfs-compare: kept $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT
log() { echo "rootfs-compare: $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
TIMES=$WORK/times
: >"$TIMES"

# native ROOT CMD: runs the shell command CMD as root in the amd64 ROOT, with
# its own /proc and the host's /dev.
native() {
	unshare --mount --pid --fork --propagation private chroot "$1" /bin/sh -c \
		"mount -t proc proc /proc && exec /usr/bin/env -i PATH=$GUEST_PATH $2" \
		2>&1
}
# emulated ROOT CMD: the same under `xarch run --rootfs`.
emulated() {
	"$XARCH_BIN" run --rootfs "$1" /usr/bin/env -i PATH=$GUEST_PATH /bin/sh -c "$2" 2>&1
}
versions='dpkg-query -W -f "\${Package} \${Version}\n"'

# amd64 first: its versions of the requested packages pin the arm64 install.
if [ ! -s "$AMD_TAR" ]; then
	R=$WORK/amd64-build
	t0=$(now)
	debootstrap --variant=minbase "$SUITE" "$R" "$MIRROR" >"$WORK/amd64-debootstrap.log" 2>&1 ||
		{ tail "$WORK/amd64-debootstrap.log"; exit 1; }
	echo "amd64 debootstrap (native) $(since "$t0") s" | tee -a "$TIMES" >&2
	cp /etc/resolv.conf "$R/etc/resolv.conf"
	t0=$(now)
	native "$R" "sh -c 'export DEBIAN_FRONTEND=noninteractive; apt-get update && apt-get install -y --no-install-recommends $PKGS && apt-get clean'" \
		>"$WORK/amd64-apt.log" || { tail "$WORK/amd64-apt.log"; exit 1; }
	echo "amd64 apt-get install (native) $(since "$t0") s" | tee -a "$TIMES" >&2
	tar -C "$R" --numeric-owner -cf "$AMD_TAR.tmp" . && mv "$AMD_TAR.tmp" "$AMD_TAR"
	rm -rf "$R"
fi
mkdir "$WORK/amd64"
tar -C "$WORK/amd64" -xf "$AMD_TAR"
native "$WORK/amd64" "$versions" | sort >"$WORK/amd64.versions"

if [ ! -s "$ARM_TAR" ]; then
	R=$WORK/arm64-build
	mkdir "$R"
	tar -C "$R" -xf "$("$REPO/scripts/rootfs-debootstrap.sh" "$SUITE" "$MIRROR")"
	for d in proc sys; do # older cached first stages link proc to /proc
		if [ -L "$R/$d" ]; then rm "$R/$d" && mkdir -m 0555 "$R/$d"; fi
	done
	t0=$(now)
	emulated "$R" "/debootstrap/debootstrap --second-stage" >"$WORK/arm64-debootstrap.log" ||
		{ tail "$WORK/arm64-debootstrap.log"; exit 1; }
	echo "arm64 debootstrap --second-stage (xarch) $(since "$t0") s" | tee -a "$TIMES" >&2
	cp /etc/resolv.conf "$R/etc/resolv.conf"
	pinned=""
	for p in $PKGS; do
		v=$(awk -v p="$p" '$1 == p { print $2 }' "$WORK/amd64.versions")
		pinned+=" $p${v:+=$v}"
	done
	t0=$(now)
	emulated "$R" "export DEBIAN_FRONTEND=noninteractive; apt-get update && apt-get install -y --no-install-recommends $pinned && apt-get clean" \
		>"$WORK/arm64-apt.log" || { tail "$WORK/arm64-apt.log"; exit 1; }
	echo "arm64 apt-get install (xarch) $(since "$t0") s" | tee -a "$TIMES" >&2
	tar -C "$R" --numeric-owner -cf "$ARM_TAR.tmp" . && mv "$ARM_TAR.tmp" "$ARM_TAR"
	rm -rf "$R"
fi
roots_done
mkdir "$WORK/arm64"
tar -C "$WORK/arm64" -xf "$ARM_TAR"
emulated "$WORK/arm64" "$versions" | sort >"$WORK/arm64.versions"

passed=0 failed=0
result() { # NAME STATUS
	if [ "$2" = 0 ]; then passed=$((passed + 1)); echo "PASS $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}

# Same package versions in both roots. The binutils package carries the
# target in its name; libgcc-12-dev pulls libquadmath0 on amd64 only and
# libhwasan0 on arm64 only.
onlyarch='^(libquadmath0|libhwasan0) '
sed 's/-x86-64-linux-gnu / ARCH /' "$WORK/amd64.versions" | grep -Ev "$onlyarch" | sort >"$WORK/a.v"
sed 's/-aarch64-linux-gnu / ARCH /' "$WORK/arm64.versions" | grep -Ev "$onlyarch" | sort >"$WORK/b.v"
if diff -u "$WORK/a.v" "$WORK/b.v" >"$WORK/versions.diff"; then result dpkg-versions 0; else
	result dpkg-versions 1; cat "$WORK/versions.diff"; fi

WL=/tmp/rootfs-compare-workload.sh
for r in amd64 arm64; do cp "$REPO/scripts/rootfs-compare-workload.sh" "$WORK/$r$WL"; done
t0=$(now)
native "$WORK/amd64" "/bin/bash $WL $*" >"$WORK/amd64.log" || true
echo "workload native amd64 $(since "$t0") s" | tee -a "$TIMES"
t0=$(now)
emulated "$WORK/arm64" "/bin/bash $WL $*" >"$WORK/arm64.log" || true
echo "workload xarch arm64 $(since "$t0") s" | tee -a "$TIMES"

OUTA=$WORK/amd64/tmp/rootfs-compare/out OUTB=$WORK/arm64/tmp/rootfs-compare/out
for f in "$OUTA"/*; do
	n=$(basename "$f")
	if diff -u --label "amd64/$n" --label "arm64/$n" "$f" "$OUTB/$n" >"$WORK/$n.diff" 2>&1; then result "$n" 0; else
		result "$n" 1; head -n 80 "$WORK/$n.diff"; fi
done
echo "per-test ms (amd64 native / arm64 xarch):"
join "$WORK/amd64/tmp/rootfs-compare/times" "$WORK/arm64/tmp/rootfs-compare/times" | sed 's/^/  /'
sed 's/^/  /' "$TIMES"
echo "rootfs-compare: $passed passed, $failed failed"
[ "$failed" = 0 ]
