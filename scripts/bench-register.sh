#!/usr/bin/env bash
# Durable registrations on a 3-server cluster on loopback (fsync on), from a
# second process: wrk with 64 connections registering unique instances
# through the leader, while a second wrk reads a 10-instance service from a
# follower. Prints registrations/s with latency percentiles, and the lookup
# latency under that load (design.md: registration p99 < 50 ms, lookup p99
# < 5 ms). Registrations spread over $SERVICES services (default 100);
# SERVICES=1 puts them all in one service, whose view is copied on every
# entry (the cost grows with the service's size). Needs wrk.
# Usage: [SERVICES=N] scripts/bench-register.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; services=${SERVICES:-100}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk"; exit 1; }
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/roster" ./cmd/roster
# The whole load comes from one address: per-client rate limits off.
export ROSTER_CLIENT_WRITE_RATE=-1 ROSTER_CLIENT_HEARTBEAT_RATE=-1
for i in 1 2 3; do
  "$work/roster" server --node s$i --data-dir "$work/s$i" --bootstrap-expect 3 --log-level warn \
    --http-addr 127.0.0.1:1951$i --dns-addr 127.0.0.1:1961$i --raft-addr 127.0.0.1:1931$i \
    --gossip-addr 127.0.0.1:1941$i --join 127.0.0.1:19411 >"$work/s$i.log" 2>&1 &
done
for i in 1 2 3; do
  for _ in $(seq 200); do curl -sf "localhost:1951$i/readyz" >/dev/null && break; sleep 0.1; done
done
leader=$(curl -sf localhost:19511/v1/cluster/leader | sed -E 's/.*"http_addr":"([^"]+)".*/\1/')
follower=127.0.0.1:19511; [ "$leader" = "$follower" ] && follower=127.0.0.1:19512
for i in $(seq 10); do
  curl -sf -X PUT "http://$leader/v1/services/web/instances/web-$i" -d "{\"address\":\"10.0.0.$i\",\"port\":80}" >/dev/null
done
cat > "$work/reg.lua" <<LUA
local services = $services
LUA
cat >> "$work/reg.lua" <<'LUA'
local n = 0
local tid = tostring(math.random(1, 1e9))
wrk.method = "PUT"
wrk.body = '{"address":"10.1.0.1","port":8080,"tags":["bench"],"ttl":"5m"}'
request = function()
  n = n + 1
  return wrk.format(nil, "/v1/services/bench-" .. (n % services) .. "/instances/i-" .. tid .. "-" .. n)
end
LUA
echo "leader $leader, lookups on follower $follower"
echo "== registrations alone (64 connections to the leader)"
wrk -t1 -c64 -d"${secs}s" --latency -s "$work/reg.lua" "http://$leader" | grep -E "Requests/sec|^ +(50|90|99)%|Non-2xx"
wrk -t1 -c8 -d"${secs}s" --latency "http://$follower/v1/services/web/instances" > "$work/lookup.txt" &
lookups=$!
wrk -t1 -c64 -d"${secs}s" --latency -s "$work/reg.lua" "http://$leader" > "$work/reg.txt"
wait $lookups
echo "== registrations with lookups running (64 connections to the leader)"; grep -E "Requests/sec|^ +(50|90|99)%|Non-2xx" "$work/reg.txt"
echo "== lookups on a follower meanwhile (8 connections)"; grep -E "Requests/sec|^ +(50|90|99)%|Non-2xx" "$work/lookup.txt"
echo "== services on the follower: $(curl -sf "http://$follower/v1/services" | grep -o '"name"' | wc -l)"
