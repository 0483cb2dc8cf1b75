#!/usr/bin/env bash
# One client flooding writes while others look up (issue #15), from a second
# process: a dev server, 2,000 paced lookups/s of a 10-instance service from
# 127.0.0.1, and in the second phase one client on 127.0.0.2 sending
# registrations and heartbeat batches as fast as 64 connections allow. Runs
# twice: with the default per-client rate limits, and with them off, to show
# what the limits buy. Prints the lookups' p50/p99/p99.9 and success for the
# unloaded and flooded phases, and what the flooder got through.
# Usage: scripts/bench-flood.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/roster" ./cmd/roster
CGO_ENABLED=0 go build -o "$work/flood" ./bench/flood
run() {
  "$work/roster" server --dev --log-level error --http-addr 127.0.0.1:18701 --dns-addr 127.0.0.1:18702 \
    --raft-addr 127.0.0.1:18703 --gossip-addr 127.0.0.1:18704 "$@" >"$work/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -sf localhost:18701/readyz >/dev/null && break; sleep 0.1; done
  for i in $(seq 10); do
    curl -sf -X PUT "localhost:18701/v1/services/web/instances/web-$i" -d "{\"address\":\"10.0.0.$i\",\"port\":80}" >/dev/null
  done
  "$work/flood" -addr 127.0.0.1:18701 -duration "${secs}s"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
echo "== default per-client rate limits"
run
echo "== rate limits off"
run --client-write-rate -1 --client-heartbeat-rate -1
