#!/usr/bin/env bash
# DNS lookup throughput of Roster's DNS front end as a ratio of a minimal
# miekg/dns server returning the same number of fixed A records, measured in
# the same run with the same dnsperf settings (design.md: >= 0.9, floor 0.75).
# Both servers run from ./bench/dnsserver; rounds alternate between them.
# Needs dnsperf (apt-get install -y dnsperf).
# With NODE=1 it also measures a whole `roster server --dev` (HTTP, Raft,
# metrics and all) holding the same service, registered over HTTP.
# With SERVICES=k (k > 1) Roster holds k services web-0 ... of N instances each
# and dnsperf asks for each in turn (a resolver walking the catalog); the
# limit server answers every name with its fixed records.
# Usage: scripts/bench-dns.sh [seconds] [rounds]   env: N (records, 10), QTYPE (A),
#        CLIENTS (dnsperf -c, 8), OUTSTANDING (dnsperf -q, 200), NODE (0), SERVICES (1),
#        PORT (first of the three loopback ports used, 18653)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; rounds=${2:-3}; n=${N:-10}; qtype=${QTYPE:-A}
clients=${CLIENTS:-8}; outstanding=${OUTSTANDING:-200}
command -v dnsperf >/dev/null || { echo "dnsperf is needed: apt-get install -y dnsperf"; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
CGO_ENABLED=0 go build -o "$work/bench" ./bench/dnsserver

services=${SERVICES:-1}
port=${PORT:-18653}
start() { # mode port
  "$work/bench" -mode "$1" -addr "127.0.0.1:$2" -n "$n" -services "$services" > "$work/$1.out" &
  pids+=($!)
  for _ in $(seq 600); do grep -q ready "$work/$1.out" && return; sleep 0.1; done
  echo "bench -mode $1 did not start"; exit 1
}
start fixed $((port + 1))
start roster "$port"
node=${NODE:-0}
if [ "$node" = 1 ]; then
  CGO_ENABLED=0 go build -o "$work/roster" ./cmd/roster
  "$work/roster" server --dev --log-level warn --http-addr 127.0.0.1:18551 --dns-addr 127.0.0.1:$((port + 2)) \
    --raft-addr 127.0.0.1:18351 --gossip-addr 127.0.0.1:18352 > "$work/node.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -sf 127.0.0.1:18551/readyz >/dev/null && break; sleep 0.1; done
  for i in $(seq 0 $((n - 1))); do
    curl -sf -X PUT "127.0.0.1:18551/v1/services/web/instances/web-$i" \
      -d "{\"address\":\"10.1.$((i / 250)).$((i % 250 + 1))\",\"port\":8080}" >/dev/null
  done
fi
qname=web.service.roster.
[ "$qtype" = SRV ] && qname=_web._tcp.service.roster.
if [ "$services" -gt 1 ]; then
  for k in $(seq 0 $((services - 1))); do
    if [ "$qtype" = SRV ]; then echo "_web-$k._tcp.service.roster. SRV"; else echo "web-$k.service.roster. $qtype"; fi
  done > "$work/queries"
else
  echo "$qname $qtype" > "$work/queries"
fi

qps() { # port
  dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries" -l "$secs" -T 1 -c "$clients" -q "$outstanding" 2>&1 |
    awk '/Queries per second/ {print $4} /Queries lost/ {lost=$3} END {if (lost+0 > 0) print "lost " lost > "/dev/stderr"}'
}
echo "records=$n qtype=$qtype services=$services seconds=$secs dnsperf: -T 1 -c $clients -q $outstanding"
if [ "$node" = 1 ]; then
  echo "round fixed_qps roster_qps ratio node_qps node_ratio"
else
  echo "round fixed_qps roster_qps ratio"
fi
for r in $(seq "$rounds"); do
  fixed=$(qps $((port + 1)))
  roster=$(qps "$port")
  if [ "$node" = 1 ]; then
    nodeq=$(qps $((port + 2)))
    awk -v r="$r" -v f="$fixed" -v k="$roster" -v d="$nodeq" \
      'BEGIN { printf "%d %.0f %.0f %.2f %.0f %.2f\n", r, f, k, k/f, d, d/f }'
  else
    awk -v r="$r" -v f="$fixed" -v k="$roster" 'BEGIN { printf "%d %.0f %.0f %.2f\n", r, f, k, k/f }'
  fi
done
