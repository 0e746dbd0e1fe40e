#!/usr/bin/env bash
# GCC 12's gcc.c-torture/execute suite (with ieee/ and builtins/) as a
# correctness oracle for xarch's AArch64 emulation: every test is compiled
# static for aarch64 at three option sets, run under qemu-aarch64 (the
# oracle) and under xarch (the runner), and any test that passes under the
# oracle but fails under the runner is a regression. See
# docs/TESTING-ctorture.md.
#
#   scripts/ctorture.sh [--sample [N] | --full] [options]
#
#   --sample [N]     every Nth test by sorted name (default mode, N = 10)
#   --full           every test
#   --opts LIST      option sets to use, comma separated (default O0,O2,O3)
#   --filter REGEX   only tests whose ID (suite/name, e.g. ieee/fp-cmp-1)
#                    matches REGEX (Python re.search); --sample applies after
#   --timeout S      per-test timeout, seconds (default 10; a hang is a fail)
#   --jobs N         parallel compiles and runs (default 2)
#   --runner CMD     the emulator under test
#                    (default $XARCH_TEST_RUNNER, else "<repo>/target/debug/xarch run --")
#   --oracle CMD     the reference (default $XARCH_CTORTURE_ORACLE, else qemu-aarch64)
#   --out DIR        where results and logs go (default $XARCH_CACHE/ctorture/run-<mode>)
#   --prepare        only fetch, extract and compile; run nothing
#
# Exit status: 0 no regression, 1 regressions, 2 the harness itself failed.
# The last line is "ctorture: N passed, M failed" (the runner's passes and
# regressions), which CI's log reader understands.
set -euo pipefail
# The whole script is one compound command, read before it runs: editing the
# file while a (long) run is going does not change what that run does.
{

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${XARCH_CACHE:-$repo/.cache}
mkdir -p "$CACHE" && CACHE=$(cd "$CACHE" && pwd)
CT=$CACHE/ctorture

# Pinned fixture: Debian bookworm's gcc-12-source (a tarball of the GCC 12.2
# sources), from which only gcc/testsuite/gcc.c-torture/execute is extracted.
GCC_SRC_VERSION='12.2.0-14+deb12u1'
GCC_SRC_DEB="gcc-12-source_${GCC_SRC_VERSION}_all.deb"
GCC_SRC_SHA256='8f2a5411028dfe216aeb6346b926df0cc7471f375c6a375bf180fbf279af02a1'
GCC_TARBALL='./usr/src/gcc-12/gcc-12.2.0-dfsg.tar.xz'
TORTURE_PATH='gcc-12.2.0/gcc/testsuite/gcc.c-torture/execute'
SRC=$CT/src-$GCC_SRC_VERSION/$TORTURE_PATH

CC=${XARCH_CTORTURE_CC:-aarch64-linux-gnu-gcc}
declare -A OPTFLAGS=(
  [O0]='-O0'
  [O2]='-O2'
  [O3]='-O3 -march=armv8.2-a+crypto+sha3+dotprod+fp16'
)

die() { echo "ctorture: $*" >&2; exit 2; }
say() { echo "ctorture: $*" >&2; }

mode=sample every=10 opts=O0,O2,O3 filter='' timeout_s=10 jobs=2 prepare_only=0 out=''
runner=${XARCH_TEST_RUNNER:-$repo/target/debug/xarch run --}
oracle=${XARCH_CTORTURE_ORACLE:-qemu-aarch64}
while [ $# -gt 0 ]; do
  case $1 in
    --sample) mode=sample; if [[ ${2:-} =~ ^[0-9]+$ ]]; then every=$2; shift; fi ;;
    --full) mode=full; every=1 ;;
    --opts) opts=$2; shift ;;
    --filter) filter=$2; shift ;;
    --timeout) timeout_s=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    --runner) runner=$2; shift ;;
    --oracle) oracle=$2; shift ;;
    --out) out=$2; shift ;;
    --prepare) prepare_only=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done
[[ $every =~ ^[1-9][0-9]*$ ]] || die "--sample N: N must be a positive integer"
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs N: N must be a positive integer"
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "--timeout S: S must be a positive integer"
IFS=, read -ra optlist <<<"$opts"
for o in "${optlist[@]}"; do
  [ -n "${OPTFLAGS[$o]:-}" ] || die "unknown option set '$o' (known: ${!OPTFLAGS[*]})"
done
out=${out:-$CT/run-$mode}
runner_bin=${runner%% *}
if [ $prepare_only = 0 ] && ! command -v "$runner_bin" >/dev/null; then
  die "runner '$runner_bin' not found (build it: cargo build -p xarch; or set --runner / XARCH_TEST_RUNNER)"
fi

# ---- tools (installed idempotently; we are root on the project's machines)
apt_updated=0
apt_install() {
  [ "$(id -u)" = 0 ] || die "$1 missing and not root: apt-get install $*"
  if [ $apt_updated = 0 ]; then apt-get update -qq >&2; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}
command -v python3 >/dev/null || apt_install python3
command -v "$CC" >/dev/null || apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross
command -v timeout >/dev/null || die "timeout (coreutils) missing"
oracle_bin=${oracle%% *}
if [ "$oracle_bin" = qemu-aarch64 ] && ! command -v qemu-aarch64 >/dev/null; then
  # Prefer bookworm-backports' qemu-user (10.x) to bookworm's 7.2.
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo 'deb http://deb.debian.org/debian bookworm-backports main' \
      >/etc/apt/sources.list.d/xarch-bookworm-backports.list
    apt_updated=0
  fi
  apt_install -t bookworm-backports qemu-user || apt_install qemu-user
fi

# ---- sources: fetch the pinned .deb, check it, extract the torture tests
# (one run at a time: two concurrent runs share the cache)
mkdir -p "$CT"
exec 9>"$CT/.prepare.lock"
flock 9
if [ ! -f "$SRC/.extracted" ]; then
  deb=$CT/$GCC_SRC_DEB
  if [ ! -f "$deb" ] || ! echo "$GCC_SRC_SHA256  $deb" | sha256sum -c --status; then
    rm -f "$deb"
    say "downloading gcc-12-source=$GCC_SRC_VERSION"
    (cd "$CT" && apt-get download "gcc-12-source=$GCC_SRC_VERSION" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) ||
      { apt-get update -qq >&2; (cd "$CT" && apt-get download "gcc-12-source=$GCC_SRC_VERSION" >&2); }
    echo "$GCC_SRC_SHA256  $deb" | sha256sum -c --status ||
      die "$GCC_SRC_DEB: sha256 mismatch (want $GCC_SRC_SHA256)"
  fi
  say "extracting $TORTURE_PATH"
  tmp=$CT/src-$GCC_SRC_VERSION.tmp
  rm -rf "$tmp" && mkdir -p "$tmp"
  dpkg-deb --fsys-tarfile "$deb" | tar -xO "$GCC_TARBALL" |
    tar -xJ -C "$tmp" --wildcards "$TORTURE_PATH/*"
  rm -rf "$CT/src-$GCC_SRC_VERSION" && mv "$tmp" "$CT/src-$GCC_SRC_VERSION"
  touch "$SRC/.extracted"
  rm -f "$deb" # 80 MB we no longer need; the extracted tree is the cache
fi
flock -u 9

# ---- plan: which tests, with which flags (dg- directives, .x files, .exp flags)
mkdir -p "$out"
rm -f "$out"/*.tsv
planargs=()
for o in "${optlist[@]}"; do planargs+=("$o=${OPTFLAGS[$o]}"); done
python3 "$repo/scripts/ctorture-plan.py" "$SRC" "$every" "$filter" "${planargs[@]}" >"$out/plan.tsv" ||
  die "planning failed"
ntests=$(cut -f2 "$out/plan.tsv" | sort -u | wc -l)
[ "$ntests" -gt 0 ] || die "no test selected"

# ---- compile (cached: a binary is rebuilt only when its command changes)
BIN=$CT/bin
export CC BIN OUT=$out
compile_one() {
  local opt=$1 id=$2 kind=$3 flags=$4 srcs=$5
  [ "$kind" = compile ] || return 0
  local exe=$BIN/$opt/$id
  # shellcheck disable=SC2086 # flags and sources are word lists
  local cmd="$CC $flags -static -o $exe $srcs -lm"
  local tmp=$exe.tmp.$$
  mkdir -p "${exe%/*}"
  if [ -f "$exe.cmd" ] && [ "$(cat "$exe.cmd")" = "$cmd" ] && { [ -f "$exe" ] || [ -f "$exe.cfail" ]; }; then
    return 0
  fi
  rm -f "$exe" "$exe.cfail"
  # shellcheck disable=SC2086
  # Built under a temporary name: concurrent harness runs never see half a binary.
  if $CC $flags -static -o "$tmp" $srcs -lm >"$exe.log" 2>&1; then
    mv -f "$tmp" "$exe"
  else
    rm -f "$tmp"
    touch "$exe.cfail"
  fi
  echo "$cmd" >"$exe.cmd"
}
export -f compile_one
say "compiling $ntests tests x ${#optlist[@]} option sets with $CC (-P$jobs)"
t0=$SECONDS
tr '\t' '\036' <"$out/plan.tsv" |
  xargs -d '\n' -P "$jobs" -n 1 bash -c 'IFS=$'"'"'\036'"'"' read -r a b c d e <<<"$1"; compile_one "$a" "$b" "$c" "$d" "$e"' _
say "compile stage: $((SECONDS - t0)) s"
[ $prepare_only = 1 ] && exit 0

# ---- run under the oracle and the runner
export ORACLE=$oracle RUNNER=$runner TIMEOUT=$timeout_s
run_one() {
  local opt=$1 id=$2 kind=$3
  local exe=$BIN/$opt/$id
  if [ "$kind" != compile ]; then
    printf '%s\t%s\tskip\t-\t-\n' "$opt" "$id"
    return 0
  fi
  if [ ! -f "$exe" ]; then
    printf '%s\t%s\tcfail\t-\t-\n' "$opt" "$id"
    return 0
  fi
  # Tests that write files (tmpnam) do so in a scratch directory of their own.
  local scratch
  scratch=$(mktemp -d "$OUT/scratch.XXXXXX")
  local orc rrc log=$OUT/logs/$opt/$id
  mkdir -p "${log%/*}"
  # shellcheck disable=SC2086 # ORACLE and RUNNER are command lines
  (cd "$scratch" && exec timeout -k 2 "$TIMEOUT" $ORACLE "$exe") </dev/null >"$log.oracle" 2>&1 && orc=0 || orc=$?
  # shellcheck disable=SC2086
  (cd "$scratch" && exec timeout -k 2 "$TIMEOUT" $RUNNER "$exe") </dev/null >"$log.runner" 2>&1 && rrc=0 || rrc=$?
  rm -rf "$scratch"
  # Keep logs only where the two disagree (a regression or a fix).
  if [ "$orc" = 0 ] && [ "$rrc" = 0 ]; then rm -f "$log.oracle" "$log.runner"; fi
  printf '%s\t%s\tran\t%s\t%s\n' "$opt" "$id" "$orc" "$rrc"
}
export -f run_one
say "running under oracle '$oracle' and runner '$runner' (timeout ${timeout_s}s, -P$jobs)"
t0=$SECONDS
rm -rf "$out/logs"
tr '\t' '\036' <"$out/plan.tsv" |
  xargs -d '\n' -P "$jobs" -n 1 bash -c 'IFS=$'"'"'\036'"'"' read -r a b c d e <<<"$1"; run_one "$a" "$b" "$c"' _ \
    >"$out/results.unsorted.tsv"
sort -k1,1 -k2,2 "$out/results.unsorted.tsv" >"$out/results.tsv"
rm -f "$out/results.unsorted.tsv"
find "$out" -maxdepth 1 -name 'scratch.*' -exec rm -rf {} +
say "run stage: $((SECONDS - t0)) s"

# ---- report
awk -F'\t' -v optorder="$opts" -v oname="$oracle" -v rname="$runner" '
  BEGIN { n = split(optorder, order, ",") }
  { opt = $1; total[opt]++
    if ($3 == "skip") { skip[opt]++; next }
    if ($3 == "cfail") { cfail[opt]++; next }
    compiled[opt]++
    if ($4 == 0) opass[opt]++
    if ($5 == 0) rpass[opt]++
    if ($4 == 0 && $5 != 0) { regr[opt]++; reglist[++nreg] = opt "\t" $2 "\t(runner exit " $5 ")" }
    if ($4 != 0 && $5 == 0) { fixed[opt]++; fixlist[++nfix] = opt "\t" $2 "\t(oracle exit " $4 ")" }
    if ($4 != 0) ofail[opt] = ofail[opt] " " $2 "(" $4 ")"
  }
  END {
    printf "%-4s %6s %6s %6s %9s %9s %7s %7s\n", "opts", "tests", "skip", "cfail", "oracle", "runner", "regr", "better"
    for (i = 1; i <= n; i++) { o = order[i]
      printf "%-4s %6d %6d %6d %4d/%-4d %4d/%-4d %7d %7d\n", o, total[o], skip[o], cfail[o],
        opass[o], compiled[o], rpass[o], compiled[o], regr[o], fixed[o]
      rp += rpass[o]; rr += regr[o] }
    printf "oracle: %s\nrunner: %s\n", oname, rname
    for (i = 1; i <= n; i++) if (ofail[order[i]] != "")
      printf "oracle fails at %s:%s\n", order[i], ofail[order[i]]
    if (nfix) { print "pass under the runner but fail under the oracle:"; for (i = 1; i <= nfix; i++) print "  " fixlist[i] }
    if (nreg) { print "REGRESSIONS (pass under the oracle, fail under the runner):"; for (i = 1; i <= nreg; i++) print "  " reglist[i] }
    else print "no regressions"
    printf "ctorture: %d passed, %d failed\n", rp, rr
    exit (nreg > 0)
  }' "$out/results.tsv" >"$out/summary.txt" && rc=0 || rc=$?
cat "$out/summary.txt"
say "results in $out (results.tsv, summary.txt, logs/ of disagreeing tests)"
exit "$rc"
}
