#!/usr/bin/env bash
# Throughput and p99 latency of `roster gateway` in front of a fixed-body
# backend, as a ratio of a bare httputil.ReverseProxy to the same backend
# (issue #20: >= 0.9), and of a minimal Node.js proxy on the core http
# module when node is installed; all measured in the same run, with wrk
# from a second process, rounds alternating between the proxies.
# Throughput is closed-loop (wrk as fast as it goes). Added latency under
# load is measured apart, at the same paced rate for everyone (RATE req/s,
# below every proxy's capacity, by a wrk Lua delay): a proxy's p99 minus
# the backend's own p99 at that rate (wrk straight to the backend).
# Needs wrk (apt-get install -y wrk); node is optional.
# Usage: scripts/bench-gateway.sh [seconds] [rounds]
#        env: THREADS (wrk -t, 1), CONNS (wrk -c, 32), SIZE (body bytes, 256),
#             RATE (paced phase, req/s, 2000), BALANCE (gateway --balance, round-robin)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; rounds=${2:-3}
threads=${THREADS:-1}; conns=${CONNS:-32}; size=${SIZE:-256}; balance=${BALANCE:-round-robin}
rate=${RATE:-2000}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk"; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
CGO_ENABLED=0 go build -o "$work/proxybase" ./bench/proxybase
CGO_ENABLED=0 go build -o "$work/roster" ./cmd/roster

waitfor() { # file word
  for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return; sleep 0.1; done
  echo "no '$2' in $1:"; cat "$1"; exit 1
}
backend=18761; bare=18762; gw=18763; nodep=18764; rhttp=18751
"$work/proxybase" -mode backend -addr 127.0.0.1:$backend -size "$size" > "$work/backend.log" 2>&1 &
pids+=($!)
"$work/proxybase" -mode proxy -addr 127.0.0.1:$bare -target 127.0.0.1:$backend > "$work/bare.log" 2>&1 &
pids+=($!)
"$work/roster" server --dev --log-level warn --http-addr 127.0.0.1:$rhttp --dns-addr 127.0.0.1:18752 \
  --raft-addr 127.0.0.1:18753 --gossip-addr 127.0.0.1:18754 > "$work/roster.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf 127.0.0.1:$rhttp/readyz >/dev/null && break; sleep 0.1; done
curl -sf -X PUT 127.0.0.1:$rhttp/v1/services/bench/instances/bench-1 \
  -d "{\"address\":\"127.0.0.1\",\"port\":$backend}" >/dev/null
"$work/roster" gateway --listen 127.0.0.1:$gw --addr 127.0.0.1:$rhttp --route /=bench --tag-routes=false \
  --balance "$balance" --log-level warn > "$work/gateway.log" 2>&1 &
pids+=($!)
waitfor "$work/backend.log" ready
waitfor "$work/bare.log" ready
for _ in $(seq 100); do curl -sf 127.0.0.1:$gw/ >/dev/null && break; sleep 0.1; done
curl -sf 127.0.0.1:$gw/ >/dev/null || { echo "gateway does not answer:"; cat "$work/gateway.log"; exit 1; }
havenode=0
if command -v node >/dev/null; then
  node bench/proxybase/proxy.js $nodep 127.0.0.1 $backend > "$work/node.log" 2>&1 &
  pids+=($!)
  waitfor "$work/node.log" ready
  havenode=1
fi

# Each connection waits conns/rate seconds between requests in the paced phase.
awk -v c="$conns" -v r="$rate" 'BEGIN { printf "function delay() return %d end\n", c * 1000 / r }' > "$work/paced.lua"

# run PORT [wrk args]: prints "requests_per_second p99_ms"; reports socket errors or non-2xx.
run() {
  local port=$1; shift
  wrk -t"$threads" -c"$conns" -d"${secs}s" --latency "$@" "http://127.0.0.1:$port/" > "$work/wrk.out"
  if grep -qE "Non-2xx|Socket errors" "$work/wrk.out"; then echo "errors on port $port:" >&2; cat "$work/wrk.out" >&2; fi
  awk '
    function ms(v) { if (v ~ /us$/) return v * 0.001; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec/ { rps = $2 }
    $1 == "99%" { p99 = ms($2) }
    END { printf "%.0f %.3f\n", rps, p99 }' "$work/wrk.out"
}
for p in $backend $bare $gw; do wrk -t1 -c8 -d2s "http://127.0.0.1:$p/" >/dev/null; done
[ "$havenode" = 1 ] && wrk -t1 -c8 -d2s "http://127.0.0.1:$nodep/" >/dev/null

echo "body=${size}B seconds=$secs wrk: -t$threads -c$conns  gateway --balance $balance  cores=$(nproc) load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "closed loop: requests/s and p99 ms"
printf "%-5s %-16s %-16s %-16s %-8s" round backend bare_proxy gateway gw/bare
[ "$havenode" = 1 ] && printf " %-16s %-8s" node_proxy gw/node
printf "\n"
for r in $(seq "$rounds"); do
  read -r b_rps b_p99 < <(run $backend)
  read -r x_rps x_p99 < <(run $bare)
  read -r g_rps g_p99 < <(run $gw)
  n_rps=0; n_p99=0
  [ "$havenode" = 1 ] && read -r n_rps n_p99 < <(run $nodep)
  awk -v r="$r" -v br="$b_rps" -v bp="$b_p99" -v xr="$x_rps" -v xp="$x_p99" -v gr="$g_rps" -v gp="$g_p99" \
      -v nr="$n_rps" -v np="$n_p99" -v node="$havenode" 'BEGIN {
    printf "%-5d %-16s %-16s %-16s %-8.2f", r, br "/" bp, xr "/" xp, gr "/" gp, gr / xr
    if (node == 1) printf " %-16s %-8.2f", nr "/" np, gr / nr
    printf "\n"
  }'
done
echo "paced at $rate req/s: p99 ms, and p99 added over the backend's own"
printf "%-5s %-9s %-9s %-9s" round backend bare gateway
[ "$havenode" = 1 ] && printf " %-9s" node
printf " %s\n" "added(bare gateway$([ "$havenode" = 1 ] && echo ' node'))"
for r in $(seq "$rounds"); do
  read -r _ b_p99 < <(run $backend -s "$work/paced.lua")
  read -r _ x_p99 < <(run $bare -s "$work/paced.lua")
  read -r _ g_p99 < <(run $gw -s "$work/paced.lua")
  n_p99=0
  [ "$havenode" = 1 ] && read -r _ n_p99 < <(run $nodep -s "$work/paced.lua")
  awk -v r="$r" -v bp="$b_p99" -v xp="$x_p99" -v gp="$g_p99" -v np="$n_p99" -v node="$havenode" 'BEGIN {
    printf "%-5d %-9.3f %-9.3f %-9.3f", r, bp, xp, gp
    if (node == 1) printf " %-9.3f", np
    printf " %.3f %.3f", xp - bp, gp - bp
    if (node == 1) printf " %.3f", np - bp
    printf "\n"
  }'
done
