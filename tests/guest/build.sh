#!/usr/bin/env bash
# Builds the guest test programs into $XARCH_CACHE/guest (never into the repo):
#
#   $XARCH_CACHE/guest/aarch64-O0/NAME   aarch64-linux-gnu-gcc -static -O0
#   $XARCH_CACHE/guest/aarch64-O2/NAME   aarch64-linux-gnu-gcc -static -O2
#   $XARCH_CACHE/guest/x86_64-O0/NAME    gcc -static -O0   (the native oracle)
#   $XARCH_CACHE/guest/x86_64-O2/NAME    gcc -static -O2
#   $XARCH_CACHE/guest/aarch64-dynamic-noloader
#       a dynamic arm64 ELF whose PT_INTERP names a loader that does not exist
#
# A binary is rebuilt only when its source or check.h is newer.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

SRC="$REPO/tests/guest"
OUT="$XARCH_CACHE/guest"
CFLAGS=(-std=gnu11 -Wall -Wextra -Werror -Wno-unused-result -g -static -pthread)

declare -A CC=([aarch64]=aarch64-linux-gnu-gcc [x86_64]=gcc)
built=0
for arch in aarch64 x86_64; do
    command -v "${CC[$arch]}" >/dev/null || { echo "build.sh: ${CC[$arch]} missing (run scripts/ci-deps.sh)" >&2; exit 1; }
    for opt in O0 O2; do
        dir="$OUT/$arch-$opt"
        mkdir -p "$dir"
        for src in "$SRC"/*.c; do
            name="$(basename "$src" .c)"
            bin="$dir/$name"
            if [ "$bin" -nt "$src" ] && [ "$bin" -nt "$SRC/check.h" ] && [ "$bin" -nt "$SRC/build.sh" ]; then
                continue
            fi
            "${CC[$arch]}" "${CFLAGS[@]}" "-$opt" "-DEXPECT_MACHINE=\"$arch\"" -o "$bin.tmp" "$src" -lm
            mv "$bin.tmp" "$bin"
            built=$((built + 1))
        done
    done
done

bin="$OUT/aarch64-dynamic-noloader"
if ! [ "$bin" -nt "$SRC/build.sh" ]; then
    printf 'int main(void) { return 0; }\n' >"$OUT/noloader.c"
    aarch64-linux-gnu-gcc -O2 -o "$bin" "$OUT/noloader.c" \
        -Wl,--dynamic-linker=/nonexistent/xarch-test/ld-linux-aarch64.so.1
    rm -f "$OUT/noloader.c"
    built=$((built + 1))
fi
echo "guest: $built binaries built, all in $OUT"
