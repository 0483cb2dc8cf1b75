#!/usr/bin/env bash
# Durable registrations through a follower against through the leader, on
# one 3-server cluster on loopback (fsync on), measured in the same run:
# wrk with 64 connections registering unique instances (the load of
# scripts/bench-register.sh, scripts/lua/roster-register.lua), alternating short leader and follower rounds
# so that both see the same machine load. Prints each pair, the ratio of
# the follower's rate to the leader's (design.md: at least 0.8), and the
# CPU time each server spent per registration in each kind of round (from
# /proc/PID/stat): on 2 shared cores the load is bound by CPU, so the
# ratio follows what a forwarded write costs all three servers together.
# Needs wrk. ROSTER_BIN runs a prebuilt binary instead of building this
# checkout (to compare builds); PORT_BASE moves the ports (default 42500:
# HTTP 42511-13, Raft 42311-13, gossip 42411-13, DNS 42611-13). DELAY_MS
# paces every connection (a pause of that many ms before each request), so
# that both kinds of round run below the cluster's limit: the ratio then
# shows the latency a follower adds, and the CPU what a write costs at that
# rate (log entries carry fewer writes than at the limit).
# Usage: [PAIRS=N] [DELAY_MS=N] [ROSTER_BIN=path] scripts/bench-follower.sh [seconds per round]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3}; pairs=${PAIRS:-10}; base=${PORT_BASE:-42500}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk"; exit 1; }
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
bin=${ROSTER_BIN:-$work/roster}
[ -n "${ROSTER_BIN:-}" ] || CGO_ENABLED=0 go build -o "$bin" ./cmd/roster
export ROSTER_CLIENT_WRITE_RATE=-1 ROSTER_CLIENT_HEARTBEAT_RATE=-1
[ -z "${DELAY_MS:-}" ] || export WRK_DELAY_MS=$DELAY_MS
. scripts/lib/cluster.sh
start_cluster "$base" "$work" "$bin"
li=$((${leader##*:} - base - 11)); fi_=$((${follower##*:} - base - 11)) # 0-based server numbers
run=$RANDOM$RANDOM # ids must be new in every round: $2 names the round
# ticks: user+system clock ticks of the three servers, in server order.
ticks() { for p in "${pids[@]}"; do awk '{ printf "%d ", $14 + $15 }' "/proc/$p/stat"; done; }
# round ADDR NAME: "rate requests ticks-of-s1 s2 s3" for one wrk round.
round() {
  local t0 t1 out
  t0=$(ticks)
  out=$(wrk -t1 -c64 -d"${secs}s" -s scripts/lua/roster-register.lua "http://$1" -- "f$run-$2" 100)
  t1=$(ticks)
  echo "$out" | awk -v t0="$t0" -v t1="$t1" '/Requests\/sec/ { rate = $2 } / requests in / { n = $1 }
    END { split(t0, a, " "); split(t1, b, " "); printf "%s %s %d %d %d\n", rate, n, b[1] - a[1], b[2] - a[2], b[3] - a[3] }'
}
echo "leader $leader, follower $follower, $pairs pairs of ${secs}s rounds"
round "$leader" warm >/dev/null
for i in $(seq "$pairs"); do echo "$(round "$leader" "l$i") $(round "$follower" "f$i")"; done | awk \
  -v hz="$(getconf CLK_TCK)" -v li="$li" -v fi="$fi_" '
  { printf "leader %8.0f/s  follower %8.0f/s  ratio %.2f\n", $1, $6, $6 / $1; l += $1; f += $6
    for (k = 0; k < 3; k++) { lt[k] += $(3 + k); ft[k] += $(8 + k) } ln += $2; fn += $7 }
  END {
    printf "mean: leader %.0f/s, follower %.0f/s, follower/leader %.2f\n", l / NR, f / NR, f / l
    oi = 3 - li - fi
    us = 1e6 / hz
    printf "CPU per registration (us), leader rounds:   leader %.0f, followers %.0f + %.0f, all %.0f\n", \
      lt[li] * us / ln, lt[fi] * us / ln, lt[oi] * us / ln, (lt[0] + lt[1] + lt[2]) * us / ln
    printf "CPU per registration (us), follower rounds: leader %.0f, the follower written to %.0f, the other %.0f, all %.0f\n", \
      ft[li] * us / fn, ft[fi] * us / fn, ft[oi] * us / fn, (ft[0] + ft[1] + ft[2]) * us / fn
  }'
