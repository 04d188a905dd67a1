#!/usr/bin/env bash
# Soak: Okta-style sync traffic against a release server on loopback for
# SOAK_SECONDS (default 600), resident memory sampled every 10 s. Prints the
# samples, the load tool's error counts and the RSS growth after warm-up
# (the first minute). Run by hand (not in CI):
#   cargo build --release --bins --examples && benches/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${SOAK_SECONDS:-600}"
port="${SOAK_PORT:-18191}"
dir="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
export ROSTER_CONFIG=/dev/null
target/release/roster --data-dir "$dir/data" serve --listen "127.0.0.1:$port" >"$dir/server.out" 2>"$dir/server.err" &
server=$!
for _ in $(seq 100); do
  grep -q "listening" "$dir/server.out" 2>/dev/null && break
  sleep 0.1
done
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
(
  start=$(date +%s)
  while [ $(( $(date +%s) - start )) -lt "$seconds" ]; do
    echo "rss_kib $(( $(date +%s) - start )) $(rss)"
    sleep 10
  done
) > "$dir/rss.txt" &
sampler=$!
end=$(( $(date +%s) + seconds ))
round=0
while [ "$(date +%s)" -lt "$end" ]; do
  round=$((round + 1))
  # An Okta cycle: a full sync of new users, then the steady traffic of a
  # directory: lookups, profile updates, deactivations, group pushes, pages.
  target/release/examples/load --data-dir "$dir/data" --base "http://127.0.0.1:$port" \
    --users 2000 sync >>"$dir/load.txt" 2>&1
  target/release/examples/load --data-dir "$dir/data" --base "http://127.0.0.1:$port" \
    --seconds 10 get filter patch list group >>"$dir/load.txt" 2>&1
done
wait "$sampler" || true
cat "$dir/rss.txt"
echo "rounds: $round"
grep -o '[0-9]* errors' "$dir/load.txt" | awk '{s += $1} END {print "load-tool errors:", s + 0}'
grep -c ' ERROR ' "$dir/server.err" | awk '{print "server ERROR lines:", $1}' || true
awk '$2 >= 60 { if (!base) base = $3; last = $3 } END { if (base) printf "RSS after warm-up: %d KiB -> %d KiB (%+.1f%%)\n", base, last, (last - base) * 100 / base }' "$dir/rss.txt"
