#!/usr/bin/env bash
# Lookup latency on a follower while registrations flood the leader, with
# the collector's settings varied: for each setting in GC (default: the
# server's own adaptive memory limit, then Go's defaults, then GOGC=400) a
# fresh 3-server cluster on loopback (fsync on) takes PRELOAD seconds of
# registrations (wrk, 64 connections, unique instances over 100 services,
# scripts/lua/roster-register.lua) so that it holds a catalog of a few
# hundred thousand instances, then hey looks up a 10-instance service on a
# follower at 1,000/s for SECS seconds while wrk registers through the
# leader again. Prints per setting: the catalog size and the follower's live
# heap and memory limit before the lookups, the lookups' p50/p95/p99, the
# write rate meanwhile, and the follower's collector CPU against its own
# (go_cpu_classes_*: the whole life of the process).
#
# The same lookups on an idle cluster, and beside busy loops instead of
# writes, are the baselines (first two lines): what the machine's
# scheduling costs with no collector work.
#
# Needs wrk, hey, curl. ROSTER_BIN runs a prebuilt binary; PORT_BASE moves
# the ports (default 44500; each setting uses the next block of 1,000).
# Usage: [GC="adaptive GOMEMLIMIT=off GOGC=400"] [PRELOAD=30] [PORT_BASE=N]
#        [ROSTER_BIN=path] scripts/bench-lookup-latency.sh [secs]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-8}; preload=${PRELOAD:-30}; base=${PORT_BASE:-44500}
settings=${GC:-adaptive GOMEMLIMIT=off GOGC=400}
for t in wrk hey curl; do command -v $t >/dev/null || { echo "$t is needed: apt-get install -y wrk hey curl"; exit 1; }; done
work=$(mktemp -d)
pids=()
cleanup() { [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
bin=${ROSTER_BIN:-$work/roster}
[ -n "${ROSTER_BIN:-}" ] || CGO_ENABLED=0 go build -o "$bin" ./cmd/roster
export ROSTER_CLIENT_WRITE_RATE=-1 ROSTER_CLIENT_HEARTBEAT_RATE=-1

. scripts/lib/cluster.sh
# cluster BASE SETTING: the cluster (SETTING "adaptive", or VAR=VALUE in the
# servers' environment) with 10 instances of web to look up, seen by the
# follower.
cluster() {
  local env=() i _
  [ "$2" = adaptive ] || env=("$2")
  start_cluster "$1" "$work/$1" "$bin" "${env[@]}"
  for i in $(seq 10); do
    curl -sf -X PUT "http://$leader/v1/services/web/instances/web-$i" -d "{\"address\":\"10.0.0.$i\",\"port\":80}" >/dev/null
  done
  for _ in $(seq 100); do curl -sf "$follower/v1/services/web/instances" | grep -q web-10 && break; sleep 0.1; done
}
stop() { kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true; pids=(); }
# look: paced lookups on the follower; prints "p50 p95 p99" in ms.
look() {
  hey -z "${secs}s" -c 4 -q 250 "http://$follower/v1/services/web/instances" | awk '
    $1 == "50%" && $2 == "in" { p50 = $3 * 1000 } $1 == "95%" && $2 == "in" { p95 = $3 * 1000 }
    $1 == "99%" && $2 == "in" { p99 = $3 * 1000 } /^  \[[0-9]+\]/ && $1 != "[200]" { bad = 1 }
    END { if (bad) print "non-200 answers"; printf "p50 %.2f ms  p95 %.2f ms  p99 %.2f ms\n", p50, p95, p99 }'
}
metric() { curl -sf "$follower/metrics" | awk -v m="$1" '$1 == m { printf "%.0f", $2 }'; }
register() { # seconds prefix: wrk through the leader; prints its rate
  wrk -t1 -c64 -d"$1s" -s scripts/lua/roster-register.lua "http://$leader" -- "$2" 100 | awk '/Requests\/sec/ { printf "%.0f", $2 }'
}

b=$base
cluster $b adaptive
echo "baselines on a fresh cluster (10 instances):"
echo "  idle:                  $(look)"
for _ in 1 2 3; do timeout "$((secs + 1))" sh -c 'while :; do :; done' & done
echo "  3 busy loops:          $(look)"
sleep 1
stop
for s in $settings; do
  b=$((b + 1000))
  cluster $b "$s"
  rate=$(register "$preload" "pre-$b")
  n=$(curl -sf "$follower/metrics" | awk '/^roster_instances/ { n += $2 } END { print n }')
  live=$(metric go_gc_heap_live_bytes)
  limit=$(curl -sf "$follower/metrics" | awk '$1 == "go_gc_gomemlimit_bytes" { if ($2 >= 1e18) print "none"; else printf "%d MiB", $2 / 1048576 }')
  register "$((secs + 1))" "load-$b" >"$work/rate" &
  w=$!
  lat=$(look)
  wait "$w"
  gc=$(curl -sf "$follower/metrics" | awk '$1 == "go_cpu_classes_gc_total_cpu_seconds_total" { g = $2 }
    $1 == "go_cpu_classes_user_cpu_seconds_total" { u = $2 } END { printf "%.0f %%", 100 * g / (g + u) }')
  printf '%-13s %7d instances (preload %s/s), follower live heap %d MiB, limit %s\n' "$s" "$n" "$rate" "$((live / 1048576))" "$limit"
  printf '  lookups on the follower: %s; registrations meanwhile %s/s; follower GC %s of its CPU\n' "$lat" "$(cat "$work/rate")" "$gc"
  stop
done
