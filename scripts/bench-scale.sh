#!/usr/bin/env bash
# Roster at 100,000 registered instances (design.md: under 150 MB resident per
# server, restart and catch-up under 5 s). Builds the static binary and
# ./bench/scale, which runs real `roster server` processes with data dirs
# (fsync on) on loopback ports, registers SERVICES x PER instances with
# CLIENTS concurrent clients, renews them all with PUT /v1/heartbeats, and
# prints VmRSS (bbolt's mmap included) after a GC, disk use, restart time of
# one server and catch-up time of a restarted follower in a 3-server cluster.
# Results and how to read them: docs/bench/scale.md.
# Usage: scripts/bench-scale.sh [single|cluster|both] [extra ./bench/scale flags]
#        env: SERVICES (1000), PER (100), CLIENTS (64), EXTRA (10000)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-both}; shift || true
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/roster" ./cmd/roster
go build -o "$work/scale" ./bench/scale
echo "commit $(git rev-parse --short HEAD) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$work/scale" -roster "$work/roster" -mode "$mode" \
  -services "${SERVICES:-1000}" -per "${PER:-100}" -clients "${CLIENTS:-64}" -extra "${EXTRA:-10000}" "$@"
echo "load average after $(cut -d' ' -f1-3 /proc/loadavg)"
