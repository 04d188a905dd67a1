#!/usr/bin/env bash
# Runs every cargo-fuzz target under fuzz/ for a bounded time from its
# committed seed corpus, and prints the executions per target. A crash fails
# the run (libFuzzer exits non-zero and leaves the input under fuzz/artifacts).
# cargo-fuzz passes -Z flags to rustc: RUSTC_BOOTSTRAP lets the machine's one
# (stable) toolchain accept them, since no nightly can be fetched here.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-20}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== cargo install cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
targets=$(cargo fuzz list)
cargo fuzz build -s none >/dev/null
for target in $targets; do
  # New inputs go to a scratch corpus; the committed seeds are read only.
  scratch="target/fuzz-corpus/$target"
  mkdir -p "$scratch"
  log="target/fuzz-$target.log"
  if ! cargo fuzz run -s none "$target" "$scratch" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz target $target failed; its input is under fuzz/artifacts/$target" >&2
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  echo "fuzz $target: $runs executions in ${seconds}s, no crash"
done
