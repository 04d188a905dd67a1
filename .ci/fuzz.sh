#!/usr/bin/env bash
# Runs every fuzz target under fuzz/ (libFuzzer via libfuzzer-sys, the
# cargo-fuzz layout) for a bounded time from its committed seed corpus, and
# prints the executions per target. A crash fails the run; libFuzzer leaves
# the input under fuzz/artifacts/<target>/.
#
# The targets are built with cargo-fuzz's coverage flags for `-s none`
# directly, on the stable toolchain: no sanitizer needs nightly, and CI saves
# installing cargo-fuzz. `cargo fuzz run <target>` works the same by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-15}"
triple="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Cllvm-args=-sanitizer-coverage-stack-depth \
-Cdebug-assertions"
echo "== building fuzz targets"
cargo build --quiet --manifest-path fuzz/Cargo.toml --release --locked --target "$triple" --bins \
  --config 'profile.release.debug="line-tables-only"'
bin="fuzz/target/$triple/release"
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^roster-fuzz$')
for target in $targets; do
  # New inputs go to a scratch corpus; the committed seeds are read only.
  scratch="target/fuzz-corpus/$target"
  mkdir -p "$scratch" "fuzz/artifacts/$target"
  log="target/fuzz-$target.log"
  if ! "$bin/$target" -artifact_prefix="fuzz/artifacts/$target/" -max_total_time="$seconds" \
      -print_final_stats=1 -rss_limit_mb=2048 "$scratch" "fuzz/corpus/$target" >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz target $target failed; its input is under fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  echo "fuzz $target: $runs executions in ${seconds}s, no crash"
done
