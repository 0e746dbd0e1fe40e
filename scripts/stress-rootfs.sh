#!/bin/bash
# The heavier process/thread/signal stress test: inside an arm64 Debian root
# file system run by `xarch run --rootfs`, repeat
#   - `make -j2` of a generated C project (40 files + a Makefile; make forks
#     gcc, cc1, as, collect2, ld in parallel) and run the resulting program;
#   - a Python ThreadPoolExecutor workload (8 workers hashing and summing);
# REPS times each (default 20). Every repetition must exit 0, print nothing
# from xarch itself ("xarch: internal error", unexpected signal deaths), and
# print exactly the value computed natively on the host (host cc's arithmetic
# is the formula evaluated by the host python3; the Python workload is run
# by the host python3).
#
#   scripts/stress-rootfs.sh ROOT [REPS]
#
# ROOT: an arm64 root file system (e.g. a copy of the one made by
# scripts/rootfs-second-stage.sh). gcc, make and python3 are installed in it
# with apt-get under xarch when missing (needs the network). ROOT/tmp is
# used for the work files. Environment: XARCH_BIN (default: the static
# release xarch from scripts/rootfs-static-xarch.sh). Run as root.
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${XARCH_CACHE:-$REPO/.cache}
ROOT=${1:?usage: stress-rootfs.sh ROOT [REPS]}
REPS=${2:-20}
X=${XARCH_BIN:-$(PROFILE=release sh "$REPO/scripts/rootfs-static-xarch.sh" "$CACHE/rootfs/xarch-release")}
HOSTPY=${HOSTPY:-python3}
run() { "$X" run --rootfs "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C "$@"; }

if ! [ -x "$ROOT/usr/bin/gcc" ] || ! [ -x "$ROOT/usr/bin/make" ] || ! [ -x "$ROOT/usr/bin/python3" ]; then
	echo "installing gcc make python3 in $ROOT under xarch"
	run /bin/bash -c 'export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q --no-install-recommends gcc make libc6-dev python3' || {
		echo "stress-rootfs: apt-get install failed" >&2; exit 1; }
fi

W=$ROOT/tmp/stress
rm -rf "$W" && mkdir -p "$W/c"
NFILES=40
# The C project: f_i(n) = sum over k < n of (k*k*(i+1) + i) mod 1000003,
# each in its own file; main prints the sum of all f_i(20000).
for i in $(seq 0 $((NFILES - 1))); do
	cat >"$W/c/f$i.c" <<EOF
#include "f.h"
long f$i(long n)
{
	long s = 0;
	for (long k = 0; k < n; k++)
		s += (k * k * ($i + 1) + $i) % 1000003;
	return s;
}
EOF
	echo "long f$i(long n);" >>"$W/c/f.h"
done
{
	echo '#include <stdio.h>'
	echo '#include "f.h"'
	echo 'int main(void) { long t = 0;'
	for i in $(seq 0 $((NFILES - 1))); do echo "	t += f$i(20000);"; done
	echo '	printf("%ld\n", t); return 0; }'
} >"$W/c/main.c"
{
	printf 'OBJS = main.o'
	for i in $(seq 0 $((NFILES - 1))); do printf ' f%d.o' "$i"; done
	printf '\nprog: $(OBJS)\n\tgcc -o $@ $(OBJS)\n%%.o: %%.c f.h\n\tgcc -O2 -c -o $@ $<\nclean:\n\trm -f prog *.o\n'
} >"$W/c/Makefile"
C_EXPECT=$("$HOSTPY" -c "print(sum((k*k*(i+1)+i) % 1000003 for i in range($NFILES) for k in range(20000)))")

cat >"$W/pool.py" <<'EOF'
import hashlib
from concurrent.futures import ThreadPoolExecutor

def work(i):
    h = hashlib.sha256(str(i).encode())
    s = 0
    for k in range(3000):
        h.update(h.digest())
        s += h.digest()[0] + k * i
    return i, h.hexdigest(), s

with ThreadPoolExecutor(max_workers=8) as ex:
    res = list(ex.map(work, range(64)))
total = sum(r[2] for r in res)
digest = hashlib.sha256("".join(r[1] for r in res).encode()).hexdigest()
print(total, digest)
EOF
PY_EXPECT=$("$HOSTPY" "$W/pool.py")

pass=0 fail=0
check() { # name rep status out err expect
	local name=$1 rep=$2 st=$3 out=$4 err=$5 expect=$6
	if [ "$st" -eq 0 ] && [ "$out" = "$expect" ] && ! grep -q 'xarch:' "$err"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL $name rep $rep: exit $st, output '$out' (expected '$expect')"
		sed 's/^/    /' "$err" | tail -n 20
	fi
}
start=$(date +%s)
for rep in $(seq 1 "$REPS"); do
	t0=$(date +%s.%N)
	run /bin/sh -c 'cd /tmp/stress/c && make -s clean && make -s -j2 && ./prog' >"$W/c.out" 2>"$W/c.err"
	st=$?
	t1=$(date +%s.%N)
	check make "$rep" "$st" "$(tail -n 1 "$W/c.out")" "$W/c.err" "$C_EXPECT"
	run python3 /tmp/stress/pool.py >"$W/py.out" 2>"$W/py.err"
	st=$?
	t2=$(date +%s.%N)
	check python "$rep" "$st" "$(cat "$W/py.out")" "$W/py.err" "$PY_EXPECT"
	awk -v r="$rep" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "rep %2d: make -j2 + run %.1f s, python pool %.1f s\n", r, b - a, c - b }'
done
echo "total $(( $(date +%s) - start )) s for $REPS repetitions"
echo "stress-rootfs: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
