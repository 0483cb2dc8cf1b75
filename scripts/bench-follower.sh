#!/usr/bin/env bash
# Durable registrations through a follower against through the leader, on
# one 3-server cluster on loopback (fsync on), measured in the same run:
# wrk with 64 connections registering unique instances (the load of
# scripts/bench-register.sh, scripts/lua/roster-register.lua), alternating short leader and follower rounds
# so that both see the same machine load. Prints each pair and the ratio of
# the follower's rate to the leader's (design.md: at least 0.8).
# Needs wrk. ROSTER_BIN runs a prebuilt binary instead of building this
# checkout (to compare builds); PORT_BASE moves the ports (default 42500:
# HTTP 42511-13, Raft 42311-13, gossip 42411-13, DNS 42611-13).
# Usage: [PAIRS=N] [ROSTER_BIN=path] scripts/bench-follower.sh [seconds per round]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3}; pairs=${PAIRS:-10}; base=${PORT_BASE:-42500}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk"; exit 1; }
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
bin=${ROSTER_BIN:-$work/roster}
[ -n "${ROSTER_BIN:-}" ] || CGO_ENABLED=0 go build -o "$bin" ./cmd/roster
export ROSTER_CLIENT_WRITE_RATE=-1 ROSTER_CLIENT_HEARTBEAT_RATE=-1
for i in 1 2 3; do
  "$bin" server --node s$i --data-dir "$work/s$i" --bootstrap-expect 3 --log-level warn \
    --http-addr 127.0.0.1:$((base + 10 + i)) --dns-addr 127.0.0.1:$((base + 110 + i)) \
    --raft-addr 127.0.0.1:$((base - 190 + i)) --gossip-addr 127.0.0.1:$((base - 90 + i)) \
    --join 127.0.0.1:$((base - 89)) >"$work/s$i.log" 2>&1 &
done
first=127.0.0.1:$((base + 11))
for _ in $(seq 300); do curl -sf "$first/v1/cluster/leader" | grep -q '"known":true' && break; sleep 0.1; done
leader=$(curl -sf "$first/v1/cluster/leader" | sed -E 's/.*"http_addr":"([^"]+)".*/\1/')
follower=$first; [ "$leader" = "$follower" ] && follower=127.0.0.1:$((base + 12))
run=$RANDOM$RANDOM # ids must be new in every round: $2 names the round
rate() { wrk -t1 -c64 -d"${secs}s" -s scripts/lua/roster-register.lua "http://$1" -- "f$run-$2" 100 | awk '/Requests\/sec/{print $2}'; }
echo "leader $leader, follower $follower, $pairs pairs of ${secs}s rounds"
rate "$leader" warm >/dev/null
for i in $(seq "$pairs"); do echo "$(rate "$leader" "l$i") $(rate "$follower" "f$i")"; done | awk '
  { printf "leader %8.0f/s  follower %8.0f/s  ratio %.2f\n", $1, $2, $2 / $1; l += $1; f += $2 }
  END { printf "mean: leader %.0f/s, follower %.0f/s, follower/leader %.2f\n", l / NR, f / NR, f / l }'
