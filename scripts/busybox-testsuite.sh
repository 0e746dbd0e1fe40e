#!/usr/bin/env bash
# busybox-testsuite.sh [APPLET...]: runs busybox's own testsuite (testsuite/
# of the pinned busybox source, see scripts/fixtures.sh) twice, for the amd64
# busybox-static natively and for the arm64 one under the runner, and compares
# the sets of PASS/FAIL/SKIPPED/UNTESTED results. Exit 0 when they are the
# same (known upstream failures are fine as long as both sides agree), 1 and
# the differences otherwise.
#
#   XARCH_TEST_RUNNER   command that runs an arm64 program (default:
#                       `xarch run --`; scripts/qemu-runner.sh as a stand-in)
#   XARCH_TESTSUITE_TIMEOUT  seconds for one whole testsuite run (default 1200)
#
# The testsuite finds busybox as $bindir/busybox and runs applets through
# symlinks to it named after the applets. Both sides get the same layout: a
# small shell wrapper named busybox that runs `[RUNNER] /path/busybox APPLET
# ARGS` (the applet taken from the name it was called by). Inside the arm64
# run, busybox re-executes itself through /proc/self/exe; making that work is
# the runner's job.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNNER="${XARCH_TEST_RUNNER:-xarch run --}"
TIMEOUT="${XARCH_TESTSUITE_TIMEOUT:-1200}"
BB="$XARCH_CACHE/busybox"
WORK="$XARCH_CACHE/busybox-testsuite"
SKIP_LIST="$REPO/scripts/busybox-testsuite.skip"

# One run at a time per cache: a second run would delete the first's work dirs.
exec 9>"$XARCH_CACHE/busybox-testsuite.lock"
if ! flock -n 9; then
    echo "busybox-testsuite: another run is using $WORK; waiting for it"
    flock 9
fi

for f in "$BB/arm64/busybox" "$BB/amd64/busybox" "$BB/src/testsuite/runtest"; do
    [ -e "$f" ] || { echo "busybox-testsuite: $f missing: run scripts/fixtures.sh" >&2; exit 1; }
done
read -r -a runner_words <<<"$RUNNER"
command -v "${runner_words[0]}" >/dev/null || {
    echo "busybox-testsuite: runner '${runner_words[0]}' not found (set XARCH_TEST_RUNNER)" >&2; exit 1; }
# The testsuite runs with its own PATH: name the runner by absolute path.
runner_words[0]=$(command -v "${runner_words[0]}")
RUNNER="${runner_words[*]}"

setup() { # ARCH RUNNER-PREFIX
    local arch="$1" prefix="$2" dir="$WORK/$1"
    rm -rf "$dir"
    mkdir -p "$dir/bin"
    cp -a "$BB/src/testsuite" "$dir/testsuite"
    rm -f "$dir/testsuite/mdev.tests"   # needs root-owned /dev; Debian skips it too
    # Tests named in the skip list (heavy loops that take minutes even under
    # qemu) report SKIPPED on both sides: testing() checks the list first,
    # with shell builtins only.
    awk -v skip="$SKIP_LIST" '
        { print }
        /^testing\(\)/ { in_fn = 1 }
        in_fn && /\|\| set -x/ && !done {
            print "  while IFS= read -r xarch_skip; do"
            print "    [ \"$xarch_skip\" = \"$NAME\" ] && { echo \"SKIPPED: $NAME\"; return 0; }"
            print "  done < \"" skip "\""
            done = 1
        }' "$BB/src/testsuite/testing.sh" >"$dir/testsuite/testing.sh"
    grep -q xarch_skip "$dir/testsuite/testing.sh" || { echo "busybox-testsuite: cannot patch testing.sh" >&2; exit 1; }
    # The .config busybox-static was built with (debian/config/pkg/static):
    # the testsuite reads it to skip tests of features that are not built in.
    cp "$BB/src/debian/config/pkg/static" "$dir/bin/.config"
    # The depth guard stops a runner that calls a tool through PATH (which
    # holds the applet links) from recursing without end; both sides see it.
    cat >"$dir/bin/busybox" <<WRAP
#!/bin/sh
n=\${0##*/}
d=\${XARCH_BB_WRAPPER_DEPTH:-0}
if [ "\$d" -ge 16 ]; then
    echo "busybox wrapper: nested \$d deep: the runner must name its tools by absolute path" >&2
    exit 126
fi
export XARCH_BB_WRAPPER_DEPTH=\$((d + 1))
[ "\$n" = busybox ] && exec $prefix "$BB/$arch/busybox" "\$@"
exec $prefix "$BB/$arch/busybox" "\$n" "\$@"
WRAP
    chmod +x "$dir/bin/busybox"
}

run_suite() { # ARCH [APPLET...]
    local arch="$1"; shift
    local dir="$WORK/$arch"
    # Debian's TESTSUITE_ENV (debian/rules), in a clean environment.
    (cd "$dir/testsuite" && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$dir" TZ=UTC \
        SKIP_KNOWN_BUGS=y SKIP_INTERNET_TESTS=y LANG=C.UTF-8 LC_ALL=C.UTF-8 \
        SHELL=/bin/sh ECHO=/bin/echo bindir="$dir/bin" tsdir="$dir/testsuite" \
        timeout -k 10 "$TIMEOUT" ./runtest "$@" </dev/null >"$dir/output.txt" 2>&1) && rc=0 || rc=$?
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        echo "busybox testsuite $arch: TIMED OUT after $TIMEOUT s (XARCH_TESTSUITE_TIMEOUT)" | tee -a "$dir/output.txt"
    fi
    grep -aE '^(PASS|FAIL|SKIPPED|UNTESTED): ' "$dir/output.txt" | sort >"$dir/results.txt" || true
}

setup amd64 ""
setup arm64 "$RUNNER"
start=$SECONDS
run_suite amd64 "$@" &
native_pid=$!
run_suite arm64 "$@" &
emulated_pid=$!
wait "$native_pid" "$emulated_pid"

count() { grep -c "^$2:" "$WORK/$1/results.txt" || true; }
for arch in amd64 arm64; do
    printf 'busybox testsuite %s: %s PASS, %s FAIL, %s SKIPPED, %s UNTESTED (output in %s)\n' \
        "$arch" "$(count "$arch" PASS)" "$(count "$arch" FAIL)" "$(count "$arch" SKIPPED)" \
        "$(count "$arch" UNTESTED)" "$WORK/$arch/output.txt"
done
echo "busybox testsuite: both runs took $((SECONDS - start)) s"

if [ $# -eq 0 ] && [ "$(count amd64 PASS)" -lt 300 ]; then
    echo "busybox-testsuite: the native run passed fewer than 300 tests: the harness is broken" >&2
    exit 1
fi
if diff -u --label "amd64 (native)" --label "arm64 ($RUNNER)" \
        "$WORK/amd64/results.txt" "$WORK/arm64/results.txt" >"$WORK/results.diff"; then
    echo "busybox testsuite: arm64 under '$RUNNER' matches amd64: $(wc -l <"$WORK/amd64/results.txt") results identical"
else
    echo "busybox testsuite: arm64 under '$RUNNER' differs from amd64:"
    cat "$WORK/results.diff"
    exit 1
fi
