#!/usr/bin/env bash
# HTTP read and heartbeat throughput of a dev server, as ratios of a minimal
# fixed-body net/http server measured in the same run (design.md targets:
# lookup >= 0.9, single heartbeats >= 0.6; batched heartbeats >= 100k/s,
# over 10,000 distinct leases).
# Needs wrk (apt-get install wrk). Usage: scripts/bench-http.sh [seconds] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; rounds=${2:-3}; conns=${CONNS:-32}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk"; exit 1; }
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/roster" ./cmd/roster
CGO_ENABLED=0 go build -o "$work/limit" ./bench/limitserver
# The whole load comes from one address: per-client rate limits off.
ROSTER_CLIENT_WRITE_RATE=-1 ROSTER_CLIENT_HEARTBEAT_RATE=-1 \
"$work/roster" server --dev --log-level warn --http-addr 127.0.0.1:18501 --dns-addr 127.0.0.1:18601 \
  --raft-addr 127.0.0.1:18301 --gossip-addr 127.0.0.1:18302 &
for _ in $(seq 100); do curl -sf localhost:18501/readyz >/dev/null && break; sleep 0.1; done
for i in $(seq 10); do
  curl -sf -X PUT "localhost:18501/v1/services/web/instances/web-$i" \
    -d "{\"address\":\"10.0.0.$i\",\"port\":8080,\"tags\":[\"v1\"],\"ttl\":\"10m\"}" >/dev/null
done
curl -sf localhost:18501/v1/services/web/instances -o "$work/body.json"
"$work/limit" -addr 127.0.0.1:18500 -body "$work/body.json" &
for _ in $(seq 100); do curl -sf localhost:18500/ >/dev/null && break; sleep 0.1; done

rps() { wrk -t1 -c"$conns" -d"${secs}s" "$@" | awk '/Requests\/sec/ {print $2}'; }
cat > "$work/hb.lua" <<'LUA'
wrk.method = "PUT"
local n = 0
request = function() n = n % 10 + 1; return wrk.format(nil, "/v1/services/web/instances/web-" .. n .. "/heartbeat") end
LUA
# Batched heartbeats renew 10,000 distinct leases (100 services of 100
# instances): 100 bodies of 100 instances each, one after the other, so
# every renewal of a round touches another lease.
for s in $(seq 100); do
  for i in $(seq 100); do
    printf 'lease-%d/l-%d-%d\n' "$s" "$s" "$i"
  done
done | xargs -P 8 -I{} sh -c 'svc=${1%%/*}; id=${1#*/}; curl -sf -X PUT "localhost:18501/v1/services/$svc/instances/$id" \
    -d "{\"address\":\"10.1.0.1\",\"port\":8080,\"ttl\":\"10m\"}" >/dev/null' _ {}
for s in $(seq 100); do
  body='{"instances":['
  for i in $(seq 100); do body+="{\"service\":\"lease-$s\",\"id\":\"l-$s-$i\"},"; done
  printf '%s' "${body%,}]}" > "$work/batch-$s.json"
done
got=$(curl -sf -X PUT localhost:18501/v1/heartbeats --data-binary @"$work/batch-100.json")
case "$got" in *'"renewed":100'*) ;; *) echo "a batch did not renew its 100 leases: $got" >&2; exit 1 ;; esac
cat > "$work/batch.lua" <<LUA
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
local bodies, n = {}, 0
for s = 1, 100 do local f = io.open("$work/batch-" .. s .. ".json"); bodies[s] = f:read("*a"); f:close() end
request = function() n = n % 100 + 1; return wrk.format(nil, nil, nil, bodies[n]) end
LUA

echo "round limit_rps lookup_rps lookup_ratio heartbeat_rps heartbeat_ratio batch_renewals_per_s"
for r in $(seq "$rounds"); do
  limit=$(rps http://127.0.0.1:18500/v1/services/web/instances)
  look=$(rps http://127.0.0.1:18501/v1/services/web/instances)
  hb=$(rps -s "$work/hb.lua" http://127.0.0.1:18501)
  batch=$(rps -s "$work/batch.lua" http://127.0.0.1:18501/v1/heartbeats)
  awk -v r="$r" -v l="$limit" -v k="$look" -v h="$hb" -v b="$batch" \
    'BEGIN { printf "%d %.0f %.0f %.2f %.0f %.2f %.0f\n", r, l, k, k/l, h, h/l, b*100 }'
done
