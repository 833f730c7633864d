#!/usr/bin/env bash
# The inner source filter (docs/protocol.md, "Inner source filter"): one path, no key. From
# the peer's own path address, data packets are sent to B with an inner source the peer may
# not use (192.0.2.77: neither its tunnel address nor a network routed to it), then with one
# it may (10.201.0.1, A's tunnel address).
# Checks: the first kind never reaches B's UDP listener and B counts each one
# (rx.drop_inner_source in mpt status --json); the second kind is delivered and not counted.
# Usage: inner_source_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$@"
add_veth_paths 1
write_pair_configs
start_mptd_pair
wait_for 50 ip netns exec "$A" ping -c 1 -W 1 10.201.0.2 >/dev/null || fail "tunnel not up"
dropped() {
  "$MPT" --socket "$WORK/b.sock" status --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["rx"]["drop_inner_source"])'
}
send_from() {  # INNER_SRC PORT -> datagrams B's listener got
  ip netns exec "$B" "$TOOL" udp-count 10.201.0.2 "$2" 2 >"$WORK/count.out" &
  local cpid=$!
  wait_for 50 grep -q listening "$WORK/count.out" || fail "listener did not start"
  ip netns exec "$A" "$TOOL" spoof-data 10.200.1.1 10.200.1.2 4754 "$1" 10.201.0.2 "$2" 200 >/dev/null
  wait $cpid
  sed -n 's/received //p' "$WORK/count.out"
}
d0=$(dropped)
got=$(send_from 192.0.2.77 6001)
d1=$(dropped)
echo "spoofed inner source: $got delivered, $((d1 - d0)) counted as drop_inner_source"
[ "$got" -eq 0 ] || fail "packets from a foreign inner source were delivered ($got)"
[ $((d1 - d0)) -eq 200 ] || fail "expected 200 counted, got $((d1 - d0))"
got=$(send_from 10.201.0.1 6002)
d2=$(dropped)
echo "the peer's own inner source: $got delivered, $((d2 - d1)) counted"
[ "$got" -ge 190 ] || fail "packets from the peer's tunnel address were not delivered ($got of 200)"
[ "$d2" -eq "$d1" ] || fail "allowed packets were counted as drops"
echo "PASS: a foreign inner source is dropped and counted, the peer's own is delivered"
