#!/usr/bin/env bash
# Takes every figure of the performance targets in one run on a fresh data dir:
# the server pinned to core 0, the load tool to core 1 (see README, "Measuring
# performance"). Usage: benches/figures.sh [USERS]   (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-100000}
PORT=${PORT:-18190}
BASE=http://127.0.0.1:$PORT
ROSTER=target/release/roster
LOAD=target/release/examples/load
CEILING=target/release/examples/ceiling
CEILING_PORT=${CEILING_PORT:-18199}
cargo build --release --bins --examples --quiet
DATA=$(mktemp -d /tmp/roster-figures.XXXXXX)
PID=
# The reference of GET by id: a minimal actix-web handler with a fixed
# 300-byte JSON, on the server's core (idle while the server is measured).
taskset -c 0 "$CEILING" "127.0.0.1:$CEILING_PORT" >/dev/null &
CEILING_PID=$!
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; kill "$CEILING_PID" 2>/dev/null; rm -rf "$DATA"' EXIT
until curl -fs "http://127.0.0.1:$CEILING_PORT/" >/dev/null 2>&1; do sleep 0.005; done

start() {
  local began=$(date +%s%N)
  taskset -c 0 "$ROSTER" --data-dir "$DATA" serve --listen "127.0.0.1:$PORT" >>"$DATA/serve.log" 2>&1 &
  PID=$!
  until curl -fs "$BASE/readyz" >/dev/null 2>&1; do sleep 0.005; done
  echo "start to /readyz: $(( ($(date +%s%N) - began) / 1000000 )) ms"
}
stop() { kill -TERM "$PID"; wait "$PID" || true; PID=; }
load() { taskset -c 1 "$LOAD" --roster "$ROSTER" --data-dir "$DATA" --base "$BASE" --ceiling "http://127.0.0.1:$CEILING_PORT" "$@" | grep -v '^target'; }
rss() { echo "server RSS: $(( $(ps -o rss= -p "$PID") / 1024 )) MiB (peak $(awk '/VmHWM/ {print int($2 / 1024)}' /proc/"$PID"/status) MiB)"; }

start
load --seconds 5 ceiling baseline redb create get filter patch get filter ceiling baseline
# The same ratios from interleaved 2-second slices: the disk and the
# neighbours of this VM drift within a minute, and each slice pair shares its
# minute (ratios of the summed rates).
load --seconds 2 $(for round in 1 2 3 4 5; do echo redb2pc redb1pc create patch ceiling get filter; done) |
  awk '{ print }
       /^redb 2pc/ { r += $4 } /^redb 1pc/ { q += $4 } /^create/ { c += $3 } /^patch/ { p += $3 }
       /^ceiling/ { x += $3 } /^get/ { g += $3 } /^filter/ { f += $3 }
       END { if (r && q && g && x) printf "interleaved: create %.2fx, patch %.2fx redb 2-fsync commits (%.2fx, %.2fx 1-fsync); get %.0f%% of the ceiling; filter %.0f%% of get\n", c / r, p / r, c / q, p / q, 100 * g / x, 100 * f / g }'
sync_out=$(taskset -c 1 "$LOAD" --roster "$ROSTER" --data-dir "$DATA" --base "$BASE" --users "$USERS" sync)
echo "$sync_out" | grep -v '^target'
SLUG=$(echo "$sync_out" | sed -n 's#^target .*/scim/v2/##p')
TOKEN=$("$ROSTER" --data-dir "$DATA" token create --tenant "$SLUG" --grace-minutes 600 2>/dev/null)
SCIM="$BASE/scim/v2/$SLUG"
shared=(--scim-base "$SCIM" --token "$TOKEN")
load "${shared[@]}" --seconds 5 list
load "${shared[@]}" --members "$USERS" group
rss
for q in 'filter=title%20eq%20%22Engineer%22' 'filter=name.familyName%20co%20%22est%22' \
         'filter=active%20eq%20true' 'filter=emails%5Btype%20eq%20%22work%22%5D' \
         'sortBy=meta.lastModified&sortOrder=descending' 'startIndex=99901&count=100'; do
  t=$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $TOKEN" "$SCIM/Users?$q")
  echo "GET /Users?$q: ${t}s"
done
rss
# Freed memory goes back to the system within the trimmer's 2 s.
sleep 3
echo -n "after 3 s idle: "
rss
stop
ls -l "$DATA/roster.redb" | awk '{printf "store file: %d MiB\n", $5/1048576}'
ls -l "$DATA/roster.redb-journal" | awk '{printf "journal file: %d MiB\n", $5/1048576}'
start
rss
