#!/usr/bin/env bash
# The benchmark command: the same workloads natively (amd64), under xarch
# and under qemu-aarch64 (arm64 builds of the same versions), median of N,
# in one run; prints the tables and (with --write) records them and the
# machine in docs/PERFORMANCE.md. Speed is never asserted by tests.
#
#   scripts/bench.sh [--runs N] [--engines baseline,opt] [--only make,xz,...]
#                    [--scale 0.05] [--note TEXT] [--write docs/PERFORMANCE.md]
#   scripts/bench.sh --quick [--runs N] [--engines ...] [--write ...]
#
# Default mode (xarch-bench debian; needs root; ~30 min on a 2-core VM, the
# first run also builds the roots, ~10 min): Debian bookworm amd64 and arm64
# roots with python3 perl sqlite3 xz-utils gcc make (the cached tarballs of
# scripts/rootfs-compare.sh, built by it when absent), Debian's zlib source
# (scripts/bench-fixtures.sh), a static release xarch
# (scripts/rootfs-static-xarch.sh) and a static qemu-aarch64 (apt:
# qemu-user-static, bookworm-backports' 10.x when configured). Workloads:
# zlib ./configure and make -j1 (gcc -O3), xz -9 -T1 and gzip -9 of 20 MiB,
# a pure-Python loop, sqlite3 300k inserts, perl regexes over 20 MiB,
# /bin/true x200, python3 -c pass x20; then the maximum RSS of a hello
# world and of python3. --scale 0.05 --runs 1 --only ... for a quick check.
#
# --quick: the older busybox-static workloads (a couple of minutes, no root).
#
# Environment: XARCH_BIN=static xarch to use instead of building one;
# QEMU_AARCH64=static qemu-aarch64 to use; BENCH_WORK=dir for the extracted
# roots (default a fresh directory under /var/tmp, removed at the end).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"
log() { echo "bench: $*" >&2; }

if [ "${1:-}" = --quick ]; then
	shift
	bash scripts/fixtures.sh >/dev/null
	cargo build --release -q -p xarch -p xarch-bench
	exec target/release/xarch-bench quick --cache "$XARCH_CACHE" "$@"
fi

[ "$(id -u)" = 0 ] || { log "needs root (chroot, namespaces, debootstrap); --quick does not"; exit 2; }
need() { # COMMAND PACKAGE
	command -v "$1" >/dev/null || { log "installing $2"; apt-get install -y --no-install-recommends "$2" >&2; }
}
need unshare util-linux
need debootstrap debootstrap
need dpkg-source dpkg-dev

# A statically linked qemu-aarch64: qemu-aarch64-static (bookworm's
# qemu-user-static), or qemu-aarch64 when static (qemu-user >= 10 is).
is_static() { [ -x "$1" ] && ! head -c 4096 "$1" | grep -qa 'ld-linux'; }
find_qemu() {
	local q
	for q in "${QEMU_AARCH64:-}" "$(command -v qemu-aarch64-static || true)" "$(command -v qemu-aarch64 || true)"; do
		if [ -n "$q" ] && is_static "$q"; then echo "$q"; return 0; fi
	done
	return 1
}
if ! QEMU=$(find_qemu); then
	if grep -rqsE '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		log "installing qemu-user-static from bookworm-backports"
		apt-get install -y --no-install-recommends -t bookworm-backports qemu-user-static >&2 ||
			apt-get install -y --no-install-recommends qemu-user-static >&2
	else
		log "installing qemu-user-static"
		apt-get install -y --no-install-recommends qemu-user-static >&2
	fi
	QEMU=$(find_qemu) || { log "no static qemu-aarch64 after installing qemu-user-static"; exit 1; }
fi

# The xarch measured: release, statically linked (the root re-enters it).
if [ -z "${XARCH_BIN:-}" ]; then
	log "building a static release xarch"
	XARCH_BIN=$(PROFILE=release sh scripts/rootfs-static-xarch.sh "$XARCH_CACHE/bench/xarch-static")
fi
cargo build -q -p xarch-bench

log "roots (cached tarballs; built when absent, ~10 min)"
mapfile -t TARS < <(XARCH_BIN=$XARCH_BIN ROOTS_ONLY=1 bash scripts/rootfs-compare.sh)
ZLIB=$(bash scripts/bench-fixtures.sh)

if [ -n "${BENCH_WORK:-}" ]; then
	WORK=$BENCH_WORK
	mkdir -p "$WORK"
else
	WORK=$(mktemp -d /var/tmp/xarch-bench.XXXXXX)
	trap 'rm -rf "$WORK"' EXIT
fi
for i in 0 1; do
	arch=$([ "$i" = 0 ] && echo amd64 || echo arm64)
	if [ ! -x "$WORK/$arch/usr/bin/python3" ]; then
		log "extracting the $arch root into $WORK/$arch"
		rm -rf "$WORK/$arch" && mkdir -p "$WORK/$arch"
		tar -C "$WORK/$arch" -xf "${TARS[$i]}"
	fi
done
target/debug/xarch-bench debian --cache "$XARCH_CACHE" --invocation "scripts/bench.sh$(printf ' %q' "$@")" \
	--amd64-root "$WORK/amd64" --arm64-root "$WORK/arm64" \
	--zlib "$ZLIB" --xarch "$XARCH_BIN" --qemu "$QEMU" "$@"
