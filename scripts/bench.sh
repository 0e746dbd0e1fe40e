#!/usr/bin/env bash
# The benchmark command: native vs xarch vs qemu-user on the same workloads,
# in one run. Builds release binaries, fetches the pinned fixtures, and
# (with --write docs/PERFORMANCE.md) records the figures and the machine.
#
#   scripts/bench.sh [--runs N] [--engines interp,baseline] [--write docs/PERFORMANCE.md]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export XARCH_CACHE="${XARCH_CACHE:-$PWD/.cache}"
bash scripts/fixtures.sh >/dev/null
cargo build --release -q -p xarch -p xarch-bench
exec target/release/xarch-bench --cache "$XARCH_CACHE" "$@"
