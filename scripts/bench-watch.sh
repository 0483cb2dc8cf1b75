#!/usr/bin/env bash
# Watch fan-out of a dev server (design.md targets: a change reaches 10,000
# SSE watchers with p99 under 200 ms, 10,000 blocking-query watchers under
# 500 ms). bench/watchers runs in its own process: it opens the watchers,
# changes an instance K times through the HTTP API and prints, per change and
# overall, the time from each write's acknowledgement to every watcher having
# the new index, plus the server's resident memory per watcher (VmRSS before
# and after connecting) and CPU per change. Each round starts a fresh server.
# Usage: scripts/bench-watch.sh [watchers] [changes] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}; changes=${2:-20}; rounds=${3:-3}
# Every watcher is a descriptor in the server and in the tool; children
# inherit the raised soft limit (Go also raises its own soft limit to the
# hard one at start).
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((n + 1000)) ]; then
  echo "open file limit $(ulimit -n) is below $((n + 1000)): raise the hard limit (ulimit -Hn, limits.conf)"; exit 1
fi
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/roster" ./cmd/roster
CGO_ENABLED=0 go build -o "$work/watchers" ./bench/watchers
addr=127.0.0.1:18541

for mode in sse blocking; do
  for r in $(seq "$rounds"); do
    "$work/roster" server --dev --log-level warn --max-watchers $((n + 100)) --http-addr "$addr" \
      --dns-addr 127.0.0.1:18641 --raft-addr 127.0.0.1:18341 --gossip-addr 127.0.0.1:18342 &
    pid=$!
    for _ in $(seq 100); do curl -sf "$addr/readyz" >/dev/null && break; sleep 0.1; done
    echo "== $mode round $r ($(uptime | sed 's/.*load average/load average/'))"
    "$work/watchers" --addr "$addr" --mode "$mode" --watchers "$n" --changes "$changes" \
      --server-pid "$pid" | tee "$work/$mode-$r.txt"
    kill "$pid"; wait "$pid" || true
  done
done

echo "== summary: median over $rounds rounds of each round's figures over all its deliveries"
for mode in sse blocking; do
  for q in p50 p90 p99 max; do
    cat "$work/$mode-"*.txt | awk -v q="$q" '/from the write.s acknowledgement/ {
      for (i = 1; i <= NF; i++) if (index($i, q "=") == 1) { v = substr($i, length(q) + 2); sub(/ms$/, "", v); print v } }' |
      sort -n | awk -v m="$mode" -v q="$q" '{ a[NR] = $1 } END { printf "%s %s %.1f ms (rounds:", m, q, a[int((NR + 1) / 2)]; for (i = 1; i <= NR; i++) printf " %s", a[i]; print ")" }'
  done
  cat "$work/$mode-"*.txt | awk '/^p99 of each change/ { v = $5; sub(/^median=/, "", v); sub(/ms$/, "", v); print v }' | sort -n |
    awk -v m="$mode" '{ a[NR] = $1 } END { printf "%s median change p99 %.1f ms (rounds:", m, a[int((NR + 1) / 2)]; for (i = 1; i <= NR; i++) printf " %s", a[i]; print ")" }'
  cat "$work/$mode-"*.txt | awk '/per watcher/ { print $(NF - 3) }' | sort -n |
    awk -v m="$mode" '{ a[NR] = $1 } END { printf "%s server RSS per watcher %.1f KiB (median)\n", m, a[int((NR + 1) / 2)] }'
done
