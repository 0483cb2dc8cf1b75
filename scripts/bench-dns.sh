#!/usr/bin/env bash
# DNS lookup throughput of Roster's DNS front end as a ratio of a minimal
# miekg/dns server returning the same number of fixed A records, measured in
# the same run with the same dnsperf settings (design.md: >= 0.9, floor 0.75).
# Both servers run from ./api/dnsapi/bench; rounds alternate between them.
# Needs dnsperf (apt-get install -y dnsperf).
# Usage: scripts/bench-dns.sh [seconds] [rounds]   env: N (records, 10), QTYPE (A),
#        CLIENTS (dnsperf -c, 8), OUTSTANDING (dnsperf -q, 200)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; rounds=${2:-3}; n=${N:-10}; qtype=${QTYPE:-A}
clients=${CLIENTS:-8}; outstanding=${OUTSTANDING:-200}
command -v dnsperf >/dev/null || { echo "dnsperf is needed: apt-get install -y dnsperf"; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
CGO_ENABLED=0 go build -o "$work/bench" ./api/dnsapi/bench

start() { # mode port
  "$work/bench" -mode "$1" -addr "127.0.0.1:$2" -n "$n" > "$work/$1.out" &
  pids+=($!)
  for _ in $(seq 100); do grep -q ready "$work/$1.out" && return; sleep 0.1; done
  echo "bench -mode $1 did not start"; exit 1
}
start fixed 18654
start roster 18653
qname=web.service.roster.
[ "$qtype" = SRV ] && qname=_web._tcp.service.roster.
echo "$qname $qtype" > "$work/queries"

qps() { # port
  dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries" -l "$secs" -T 1 -c "$clients" -q "$outstanding" 2>&1 |
    awk '/Queries per second/ {print $4} /Queries lost/ {lost=$3} END {if (lost+0 > 0) print "lost " lost > "/dev/stderr"}'
}
echo "records=$n qtype=$qtype seconds=$secs dnsperf: -T 1 -c $clients -q $outstanding"
echo "round fixed_qps roster_qps ratio"
for r in $(seq "$rounds"); do
  fixed=$(qps 18654)
  roster=$(qps 18653)
  awk -v r="$r" -v f="$fixed" -v k="$roster" 'BEGIN { printf "%d %.0f %.0f %.2f\n", r, f, k, k/f }'
done
