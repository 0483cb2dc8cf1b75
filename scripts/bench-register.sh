#!/usr/bin/env bash
# Durable registrations on 3 servers on loopback (fsync on), measured in one
# run against a 3-member etcd's puts and a bare hashicorp/raft apply loop
# with Roster's own log store and settings (bench/bareraft), in interleaved
# rounds so that the shared machine's load hits all alike (issue #18,
# design.md "Performance targets"). The load comes from a second process:
# wrk, 64 connections, one new key or instance per request, for both etcd
# and Roster. Each round measures, SECS seconds each:
#   etcd      puts through etcd's leader (JSON gateway, POST /v3/kv/put)
#   leader    registrations through Roster's leader, spread over 100 services
#   bare      bench/bareraft: 64 applies in flight on the bare Raft leader
#   follower  registrations through a follower (forwarded), 100 services
#   big       registrations through the leader into one service, filled to
#             BIG instances (default 30,000) before the first round
#   lat       registrations through the leader (100 services) from
#             bench/regload (64 connections, as wrk, but it reports each
#             registration's own latency: wrk 4 corrects its percentiles
#             for coordinated omission, see bench/regload) while hey looks
#             up a 10-instance service on a follower at a paced
#             LOOKUP_RATE (default 1,000/s): both latencies under write load
#   lat-big   the same with the registrations into the big service
# then prints each round, the medians and the ratios (leader/etcd target
# >= 1.0, leader/bare goal 0.8, follower/leader >= 0.8, big/leader ~1.0,
# registration p99 < 50 ms, lookup p99 < 5 ms). No rate of errors is ever
# reported: a measurement that met a non-2xx answer, a socket error or a
# failed apply (an election on a loaded machine) is discarded, said so and
# taken again, RETRIES times at most (default 3) before the run fails; an
# acknowledged write that did not land fails the run at once.
#
# PROFILE=DIR: the servers also serve pprof (--pprof-addr, block and mutex
# sampling on); after the rounds one more leader phase takes a CPU profile
# of the leader and another its block and mutex profiles, saved in DIR with
# `go tool pprof -top` summaries, and prints where a registration's time
# goes by the servers' own histograms. Rates measured with PROFILE set
# include the sampling's cost; rounds 0 runs only the profile phases.
# PROFILE_INTO=big profiles registrations into the big service instead of
# 100 services.
#
# Ports: 43k11-43k53 (Roster), 43k61-43k73 (etcd), k the first block of
# 0-9 that is free. Needs wrk, hey, etcd
# and etcdctl (Debian: apt-get install -y wrk hey etcd-server etcd-client),
# curl, jq.
# Usage: [BIG=N] [LOOKUP_RATE=N] [RETRIES=N] [PROFILE=DIR] scripts/bench-register.sh [secs-per-phase] [rounds]
# (defaults: 5 s per phase, 3 rounds: about 3 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}; rounds=${2:-3}; big=${BIG:-30000}; lookup_rate=${LOOKUP_RATE:-1000}; profile=${PROFILE:-}
for tool in wrk hey etcd etcdctl curl jq; do
  command -v "$tool" >/dev/null || { echo "bench-register: $tool is needed (see the header of $0)" >&2; exit 1; }
done
export ETCDCTL_API=3
work=$(mktemp -d)
fail() {
  echo "bench-register: FAIL: $*" >&2
  for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- $(basename "$f"), last lines:" >&2; tail -5 "$f" >&2; }; done
  exit 1
}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
lua=scripts/lua
# Ports 43k11-43k73 for the first k (0-9) whose ports are all free: the
# machine's ephemeral range covers them, so a client elsewhere may hold one.
pb=
for k in 0 1 2 3 4 5 6 7 8 9; do
  used=
  for port in 43${k}{1,2,3,4,5,6,7}{1,2,3}; do
    if [ -n "$(ss -Htan exclude time-wait "( sport = :$port )")" ]; then used=$port; break; fi
  done
  [ -z "$used" ] && { pb=43$k; break; }
done
[ -n "$pb" ] || fail "no free block of ports in 43011-43973"

echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (with uncommitted changes)'), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$secs s per phase, $rounds rounds, 64 connections, big service filled to $big, lookups at $lookup_rate/s"
CGO_ENABLED=0 go build -o "$work/roster" ./cmd/roster
CGO_ENABLED=0 go build -o "$work/bareraft" ./bench/bareraft
CGO_ENABLED=0 go build -o "$work/regload" ./bench/regload

# etcd: 3 members on loopback, each with its own data dir, fsync on (the default).
cluster=e1=http://127.0.0.1:${pb}71,e2=http://127.0.0.1:${pb}72,e3=http://127.0.0.1:${pb}73
for i in 1 2 3; do
  etcd --name e$i --data-dir "$work/e$i" --logger zap --log-level warn \
    --listen-client-urls http://127.0.0.1:${pb}6$i --advertise-client-urls http://127.0.0.1:${pb}6$i \
    --listen-peer-urls http://127.0.0.1:${pb}7$i --initial-advertise-peer-urls http://127.0.0.1:${pb}7$i \
    --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token roster-bench \
    >"$work/e$i.log" 2>&1 &
  pids+=($!)
done
etcd_endpoints=127.0.0.1:${pb}61,127.0.0.1:${pb}62,127.0.0.1:${pb}63

# Roster: 3 servers; the whole load comes from one address, so the
# per-client rate limits are off.
export ROSTER_CLIENT_WRITE_RATE=-1 ROSTER_CLIENT_HEARTBEAT_RATE=-1
for i in 1 2 3; do
  extra=()
  [ -n "$profile" ] && extra=(--pprof-addr 127.0.0.1:${pb}5$i)
  "$work/roster" server --node s$i --data-dir "$work/s$i" --bootstrap-expect 3 --log-level warn \
    --http-addr 127.0.0.1:${pb}1$i --dns-addr 127.0.0.1:${pb}2$i --raft-addr 127.0.0.1:${pb}3$i \
    --gossip-addr 127.0.0.1:${pb}4$i --join 127.0.0.1:${pb}41 "${extra[@]}" >"$work/s$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 600); do curl -sf "localhost:${pb}1$i/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf "localhost:${pb}1$i/readyz" >/dev/null || fail "roster s$i not ready within 60 s: $(curl -s "localhost:${pb}1$i/readyz")"
done
for _ in $(seq 100); do etcdctl --endpoints "$etcd_endpoints" endpoint health >/dev/null 2>&1 && break; sleep 0.2; done
etcdctl --endpoints "$etcd_endpoints" endpoint health >/dev/null 2>&1 || fail "etcd not healthy"

# Where things are now (leadership can move on a loaded machine: asked
# before every phase, waiting out an election).
roster_leader() {
  local l
  for _ in $(seq 100); do
    l=$(curl -sf localhost:${pb}11/v1/cluster/leader | jq -r .http_addr) || true
    [ -n "$l" ] && [ "$l" != null ] && { echo "$l"; return; }
    sleep 0.1
  done
  fail "roster has had no leader for 10 s"
}
roster_follower() {
  local l; l=$(roster_leader)
  for i in 1 2 3; do [ "127.0.0.1:${pb}1$i" != "$l" ] && { echo "127.0.0.1:${pb}1$i"; return; }; done
}
etcd_leader() {
  local l
  for _ in $(seq 50); do
    l=$(etcdctl --endpoints "$etcd_endpoints" endpoint status -w simple 2>/dev/null | awk -F', ' '$5 == "true" {print $1}') || true
    [ -n "$l" ] && { echo "$l"; return; }
    sleep 0.2
  done
  fail "etcd has had no leader for 10 s"
}
etcd_keys() { etcdctl --endpoints "$1" get "" --prefix --limit=1 -w json | jq ".count // 0"; }
roster_count() { curl -sf "http://$1/v1/services" | jq '[.services[].instances] | add // 0'; }
# roster_instances ADDR: the instance count once it has stopped moving (writes
# of the previous phase still in flight when wrk stopped land a little
# later, and a follower applies them after the leader), read every 200 ms,
# at most 5 s.
roster_instances() {
  local prev cur i
  prev=$(roster_count "$1")
  for i in $(seq 25); do
    sleep 0.2; cur=$(roster_count "$1")
    [ "$cur" = "$prev" ] && break
    prev=$cur
  done
  echo "$prev"
}
service_instances() { curl -sf "http://$1/v1/services" | jq --arg n "$2" '[.services[] | select(.name == $n) | .instances] | add // 0'; }

# A measurement that met an error (a non-2xx answer, a socket error, a
# failed apply: an election on a loaded machine) is discarded, said so, and
# taken again, up to RETRIES times; it never becomes a rate. A write that
# was acknowledged and did not land fails the run at once.
retries=${RETRIES:-3}
discard=
attempt() {
  local tries=0
  while :; do
    discard=
    "$@"
    [ -z "$discard" ] && return
    tries=$((tries + 1))
    echo "  (measurement discarded, taken again: $discard)"
    [ "$tries" -lt "$retries" ] || fail "$tries measurements in a row met errors ($*), last: $discard"
  done
}

# wrk_run NAME URL LUA ARGS...: runs wrk for secs with 64 connections and
# sets rate, p50, p99 (ms) and answered (requests answered); sets discard on
# any error.
run_id=0
wrk_run() {
  local name=$1 url=$2 script=$3; shift 3
  local out="$work/$name.$run_id.txt"
  wrk -t1 -c64 -d"${secs}s" --latency -s "$script" "$url" -- "$@" >"$out"
  read -r rate p50 p99 answered bad errs avg < <(awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000; return v * 1000 }
    /Requests\/sec:/ { rate = $2 }
    $1 == "Latency" && $2 != "Distribution" { avg = ms($2) }
    / requests in / { done = $1 }
    /Non-2xx or 3xx responses:/ { bad = $5 }
    /Socket errors:/ { gsub(",", ""); errs = $4 + $6 + $8 + $10 }
    $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
    END { printf "%.0f %.2f %.2f %d %d %d %.2f\n", rate, p50, p99, done, bad, errs, avg }' "$out")
  if [ "$bad" -ne 0 ] || [ "$errs" -ne 0 ] || [ "$answered" -eq 0 ]; then
    discard="$bad non-2xx answers and $errs socket errors among $answered answered"
  fi
}
# landed NAME BEFORE AFTER: every answered write is there (up to 64 more were
# in flight when wrk stopped).
landed() {
  local got=$(($3 - $2))
  [ "$got" -ge "$answered" ] && [ "$got" -le $((answered + 64)) ] || fail "$1: $answered writes answered but $got landed"
}
# hey_check FILE: reads hey's output of paced lookups; sets lrate, lp50,
# lp99 (ms); sets discard on any error or non-200 answer.
hey_check() {
  read -r lrate lp50 lp99 lok < <(awk '
    /Requests\/sec:/ { rate = $2 }
    $1 == "50%" && $2 == "in" { p50 = $3 * 1000 } $1 == "99%" && $2 == "in" { p99 = $3 * 1000 }
    /^  \[200\]/ { ok += $2 } /^  \[[0-9]+\]/ && !/\[200\]/ { bad = 1 }
    /Error distribution:/ { bad = 1 }
    END { printf "%.0f %.2f %.2f %d\n", rate, p50, p99, bad ? -1 : ok }' "$1")
  [ "$lok" -gt 0 ] || discard="lookups met errors or non-200 answers: $(grep -A3 -E 'Status code|Error distribution' "$1" | tr -s ' \n\t' ' ')"
}

# Phases. Each prints one line and appends "round name rate p50 p99 ..." to
# results.
results="$work/results"
: >"$results"
record() { echo "$round $1 $rate $p50 $p99${2:+ $2}" >>"$results"; }
phase_etcd() {
  local l before after; l=$(etcd_leader); before=$(etcd_keys "$l")
  run_id=$((run_id + 1))
  wrk_run etcd "http://$l" "$lua/etcd-put.lua" "r$round-$run_id" 100
  [ -n "$discard" ] && return
  after=$(etcd_keys "$l"); landed etcd "$before" "$after"
  printf '  %-52s %6s/s  p50 %6.2f ms  p99 %7.2f ms  (%d keys in etcd)\n' "etcd puts via leader $l" "$rate" "$p50" "$p99" "$after"
  record etcd
}
phase_roster() { # name leader|follower services service-name what
  local addr before after
  if [ "$2" = leader ]; then addr=$(roster_leader); else addr=$(roster_follower); fi
  before=$(roster_instances "$addr"); run_id=$((run_id + 1))
  wrk_run "$1" "http://$addr" "$lua/roster-register.lua" "r$round-$run_id" "$3" "$4"
  [ -n "$discard" ] && return
  after=$(roster_instances "$addr"); landed "$1" "$before" "$after"
  printf '  %-52s %6s/s  p50 %6.2f ms  p99 %7.2f ms  (%d instances)\n' "$5 $addr" "$rate" "$p50" "$p99" "$after"
  record "$1"
}
phase_bare() {
  local line
  if ! line=$("$work/bareraft" -duration "${secs}s" -clients 64 2>"$work/bareraft.err"); then
    discard="bench/bareraft: $(tail -1 "$work/bareraft.err")"
    return
  fi
  read -r rate p50 p99 < <(echo "$line" | awk '{ printf "%.0f %.2f %.2f\n", $3, $6, $9 }')
  printf '  %-52s %6s/s  p50 %6.2f ms  p99 %7.2f ms  %s\n' "bare raft (bench/bareraft)" "$rate" "$p50" "$p99" "${line#*ms p99 * ms }"
  record bare
}
phase_latency() { # name services service-name what
  local l f line before after; l=$(roster_leader); f=$(roster_follower); run_id=$((run_id + 1))
  before=$(roster_instances "$l")
  hey -z "${secs}s" -c 4 -q $((lookup_rate / 4)) "http://$f/v1/services/web/instances" >"$work/hey.$run_id.txt" &
  local hey=$!
  if ! line=$("$work/regload" -addr "$l" -duration "${secs}s" -conns 64 -services "$2" -service "$3" -prefix "r$round-$run_id" 2>"$work/regload.err"); then
    discard="bench/regload: $(tail -1 "$work/regload.err")"
  fi
  wait "$hey" || discard="hey failed: $(tail -1 "$work/hey.$run_id.txt")"
  [ -n "$discard" ] && return
  hey_check "$work/hey.$run_id.txt"
  [ -n "$discard" ] && return
  read -r rate p50 p99 answered < <(echo "$line" | awk '{ sub(/\(/, "", $10); printf "%.0f %.2f %.2f %d\n", $2, $5, $8, $10 }')
  after=$(roster_instances "$l"); landed "$1" "$before" "$after"
  printf '  %-52s %6s/s  p50 %6.2f ms  p99 %7.2f ms  lookups on %s %s/s p50 %.2f ms p99 %.2f ms\n' \
    "$4" "$rate" "$p50" "$p99" "$f" "$lrate" "$lp50" "$lp99"
  record "$1" "$lp50 $lp99"
}

# 10 instances to look up, and the big service filled before measuring.
l=$(roster_leader)
for i in $(seq 10); do
  curl -sf -X PUT "http://$l/v1/services/web/instances/web-$i" -d "{\"address\":\"10.0.0.$i\",\"port\":80}" >/dev/null
done
echo "filling service big to $big instances..."
fill=0
while [ "$(service_instances "$(roster_leader)" big)" -lt "$big" ]; do
  fill=$((fill + 1)); run_id=$((run_id + 1))
  wrk_run fill "http://$(roster_leader)" "$lua/roster-register.lua" "fill-$fill" 1 big
  [ -z "$discard" ] || echo "  (fill met errors, going on: $discard)"
done
echo "service big: $(service_instances "$(roster_leader)" big) instances"

for round in $(seq "$rounds"); do
  echo "round $round/$rounds (load average $(cut -d' ' -f1 /proc/loadavg))"
  attempt phase_etcd
  attempt phase_roster leader leader 100 bench "roster via leader, 100 services,"
  attempt phase_bare
  attempt phase_roster follower follower 100 bench "roster via follower, 100 services,"
  attempt phase_roster big leader 1 big "roster via leader, one big service,"
  attempt phase_latency lat 100 bench "latency (regload): leader, 100 services"
  attempt phase_latency latbig 1 big "latency (regload): leader, one big service"
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "service big ends with $(service_instances "$(roster_leader)" big) instances"
# Summary: medians over rounds of each figure, and of each round's ratios.
[ "$rounds" -gt 0 ] && awk -v rounds="$rounds" '
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
  }
  function med(key, col,   i, a) { for (i = 1; i <= rounds; i++) a[i] = v[i, key, col]; return median(a, rounds) }
  function ratio(x, y,   i, a, s) {
    s = ""
    for (i = 1; i <= rounds; i++) { a[i] = v[i, x, 3] / v[i, y, 3]; s = s sprintf("%s%.2f", i > 1 ? ", " : "", a[i]) }
    return sprintf("**%.2f** (%s)", median(a, rounds), s)
  }
  { v[$1, $2, 3] = $3; v[$1, $2, 4] = $4; v[$1, $2, 5] = $5; v[$1, $2, 6] = $6; v[$1, $2, 7] = $7 }
  END {
    print ""
    print "| measured (median of " rounds " rounds) | rate | p50 | p99 |"
    print "|---|---|---|---|"
    split("etcd leader bare follower big lat latbig", k, " ")
    split("etcd puts via its leader (wrk)|Roster via the leader, 100 services (wrk)|bare hashicorp/raft loop (applies in the leader process)|Roster via a follower, 100 services (wrk)|Roster via the leader, one big service (wrk)|Roster via the leader, 100 services, lookups running (regload)|Roster into the big service, lookups running (regload)", label, "|")
    for (i = 1; i <= 7; i++) printf "| %s | %.0f/s | %.1f ms | %.1f ms |\n", label[i], med(k[i], 3), med(k[i], 4), med(k[i], 5)
    printf "| lookups on a follower (hey, paced), registrations into 100 services | | %.2f ms | %.2f ms |\n", med("lat", 6), med("lat", 7)
    printf "| lookups on a follower (hey, paced), registrations into the big service | | %.2f ms | %.2f ms |\n", med("latbig", 6), med("latbig", 7)
    print ""
    print "wrk rows: latency as wrk 4 reports it, corrected for coordinated omission; regload, hey and bare rows: as each request saw it."
    print ""
    print "| ratio, per round | target | median (rounds) |"
    print "|---|---|---|"
    printf "| leader / etcd | >= 1.0 | %s |\n", ratio("leader", "etcd")
    printf "| leader / bare Raft | goal 0.8 | %s |\n", ratio("leader", "bare")
    printf "| follower / leader | >= 0.8 | %s |\n", ratio("follower", "leader")
    printf "| big service / 100 services | ~1.0 | %s |\n", ratio("big", "leader")
  }' "$results"

[ -z "$profile" ] && exit 0
# Profiles of the leader under the same registration load (100 services),
# and where a registration's time goes by the servers' own histograms
# (means over the CPU-profile phase).
mkdir -p "$profile"
l=$(roster_leader); f=$(roster_follower); pp=127.0.0.1:${pb}5${l: -1}
round=profile
into=(100 bench)
[ "${PROFILE_INTO:-}" = big ] && into=(1 big)
echo "profiling the leader $l (pprof at $pp) into $profile"
curl -sf "http://$l/metrics" >"$work/m-leader-0"; curl -sf "http://$f/metrics" >"$work/m-follower-0"
t0=$(date +%s.%N)
curl -sf -o "$profile/cpu.pprof" "http://$pp/debug/pprof/profile?seconds=$secs" &
cpu=$!
attempt phase_roster leader leader "${into[@]}" "profile (CPU): roster via leader, ${into[0]} service(s),"
wait "$cpu" || fail "CPU profile"
t1=$(date +%s.%N)
curl -sf "http://$l/metrics" >"$work/m-leader-1"; curl -sf "http://$f/metrics" >"$work/m-follower-1"
# hist FILE0 FILE1 SERIES: "sum count" of a histogram's growth between two scrapes.
hist() {
  awk -v n="$3" 'FNR == 1 { k++ } $1 == n "_sum" { s[k] = $2 } $1 == n "_count" { c[k] = $2 }
    END { printf "%.9f %d\n", s[2] - s[1], c[2] - c[1] }' "$1" "$2"
}
read -r http_s http_n < <(awk 'FNR == 1 { k++ } $1 == "roster_http_request_duration_seconds_sum{route=\"register\"}" { s[k] = $2 }
  $1 == "roster_http_request_duration_seconds_count{route=\"register\"}" { c[k] = $2 }
  END { printf "%.9f %d\n", s[2] - s[1], c[2] - c[1] }' "$work/m-leader-0" "$work/m-leader-1")
read -r store_s store_n < <(hist "$work/m-leader-0" "$work/m-leader-1" roster_raft_apply_duration_seconds)
read -r cmds entries < <(hist "$work/m-leader-0" "$work/m-leader-1" roster_raft_commands_per_entry)
read -r lapp_s lapp_n < <(hist "$work/m-leader-0" "$work/m-leader-1" roster_raft_log_append_duration_seconds)
read -r fapp_s fapp_n < <(hist "$work/m-follower-0" "$work/m-follower-1" roster_raft_log_append_duration_seconds)
awk -v wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" -v hs="$http_s" -v hn="$http_n" -v ss="$store_s" -v sn="$store_n" \
  -v cmds="$cmds" -v ent="$entries" -v ls="$lapp_s" -v ln="$lapp_n" -v fs="$fapp_s" -v fn="$fapp_n" -v cavg="$avg" -v cp99="$p99" -v crate="$rate" 'BEGIN {
  printf "  where a registration goes (server histograms, %.1f s, leader %s):\n", wall, "'"$l"'"
  printf "    %d entries, %.1f registrations per entry, %.0f entries/s: %.2f ms of wall time per entry\n", ent, cmds / ent, ent / wall, 1000 * wall / ent
  printf "    leader log append (bbolt commit + fsync): %.2f ms mean over %d appends, busy %.0f%% of the time\n", 1000 * ls / ln, ln, 100 * ls / wall
  printf "    follower log append: %.2f ms mean over %d appends, busy %.0f%%\n", 1000 * fs / fn, fn, 100 * fs / wall
  printf "    in the store (queue + Raft round + apply): %.2f ms mean\n", 1000 * ss / sn
  printf "    in the HTTP handler (decode + store + answer): %.2f ms mean over %d\n", 1000 * hs / hn, hn
  cycle = 1000 * 64 / crate
  printf "    one request cycle of a connection (64 / rate, Little'"'"'s law): %.2f ms, %.2f ms of it outside the handler (the loopback, parsing, wrk, waiting for a core); wrk: mean %.2f ms, p99 %.2f ms\n", cycle, cycle - 1000 * hs / hn, cavg, cp99
}' | tee "$profile/breakdown.txt"
curl -sf -o "$profile/block.pprof" "http://$pp/debug/pprof/block?seconds=$secs" &
blk=$!
curl -sf -o "$profile/mutex.pprof" "http://$pp/debug/pprof/mutex?seconds=$secs" &
mtx=$!
attempt phase_roster leader leader "${into[@]}" "profile (block, mutex): roster via leader, ${into[0]} service(s),"
wait "$blk" "$mtx" || fail "block or mutex profile"
for p in cpu block mutex; do
  go tool pprof -top -cum "$work/roster" "$profile/$p.pprof" 2>/dev/null | head -60 >"$profile/$p.top.txt"
done
cp "$work/roster" "$profile/roster"
echo "profiles: $profile/{cpu,block,mutex}.pprof (binary: $profile/roster); summaries: $profile/*.top.txt"
