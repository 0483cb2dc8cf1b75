# Sourced by the bench scripts that run one 3-server cluster on loopback.
#
# start_cluster BASE DIR BIN [VAR=VALUE ...]: starts servers s1-s3 of BIN
# with their data and logs in DIR (HTTP BASE+11..13, DNS BASE+111..113,
# Raft BASE-189..187, gossip BASE-89..87; VAR=VALUE in their environment),
# waits for a leader and sets pids (the servers' PIDs, in server order),
# leader and follower (HTTP addresses; follower is s1 or, when s1 leads, s2).
start_cluster() {
  local b=$1 dir=$2 bin=$3 i first _
  shift 3
  mkdir -p "$dir"
  pids=()
  for i in 1 2 3; do
    env "$@" "$bin" server --node s$i --data-dir "$dir/s$i" --bootstrap-expect 3 --log-level warn \
      --http-addr 127.0.0.1:$((b + 10 + i)) --dns-addr 127.0.0.1:$((b + 110 + i)) \
      --raft-addr 127.0.0.1:$((b - 190 + i)) --gossip-addr 127.0.0.1:$((b - 90 + i)) \
      --join 127.0.0.1:$((b - 89)) >"$dir/s$i.log" 2>&1 &
    pids+=($!)
  done
  first=127.0.0.1:$((b + 11))
  for _ in $(seq 300); do curl -sf "$first/v1/cluster/leader" | grep -q '"known":true' && break; sleep 0.1; done
  leader=$(curl -sf "$first/v1/cluster/leader" | sed -E 's/.*"http_addr":"([^"]+)".*/\1/')
  follower=$first
  [ "$leader" = "$follower" ] && follower=127.0.0.1:$((b + 12))
  return 0
}
