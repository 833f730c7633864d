#!/usr/bin/env bash
# Multi-queue TUN (issue #14): the same pair over two paths with queues = 1, 2 and 4, keyed
# (each queue seals in its own nonce space, which is its sequence space) and plain (the
# space in the GRE key's low bits; also with a configured gre_key) -- a TUN reader and
# writer per queue, the receiving path worker hands each packet to the writer owning its
# space.
#
#   ns A                                               ns B
#   mpt0 10.201.0.1 --- mptd, queues = Q, 2 paths --- mpt0 10.201.0.2
#   veth0 10.200.1.1 ====== path_0 (tbf 200M) ====== veth0 10.200.1.2
#   veth1 10.200.2.1 ====== path_1 (tbf 200M) ====== veth1 10.200.2.2
#
# For each case: `mpt status --json` shows Q queues; 8 byte-checked TCP flows at once arrive
# intact and, with Q > 1, the sender read them on more than one queue (and every packet
# read is counted on exactly one queue); a byte-checked stream survives path_1's link going
# down and up again; another survives `mpt reload` (a weight change) on both sides.
# Usage: multiqueue_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns

init_test_env "$@"
add_veth_paths 2 200mbit
FLOW_BYTES=${FLOW_BYTES:-8000000}
STREAM_BYTES=${STREAM_BYTES:-60000000}

status() { "$MPT" --socket "$WORK/$1.sock" status --json; }
# Per-queue values of queues[].KIND.KEY (KIND: reader or writer) on side $1, space-separated.
per_queue() {  # SIDE KIND KEY
  status "$1" | python3 -c "import json,sys; print(' '.join(str(q['$2']['$3']) for q in json.load(sys.stdin)['queues']))"
}
reorder() {  # SIDE KEY
  status "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['connections'][0]['reorder']['$2'])"
}
# A byte-checked stream of STREAM_BYTES from A to B with ACTION run 0.5 s into it; fails
# the test unless it arrives intact.
stream_with() {  # PORT SEED WHAT ACTION
  local rpid spid
  ip netns exec "$B" "$TOOL" tcp-recv 10.201.0.2 "$1" "$STREAM_BYTES" "$2" >"$WORK/recv.out" 2>&1 &
  rpid=$!
  wait_for 50 grep -q listening "$WORK/recv.out" || fail "receiver did not start"
  ip netns exec "$A" "$TOOL" tcp-send 10.201.0.2 "$1" "$STREAM_BYTES" "$2" &
  spid=$!
  sleep 0.5
  "$4"
  wait $spid || fail "sender failed across $3"
  wait $rpid || { cat "$WORK/recv.out"; fail "stream not intact across $3"; }
}
path1_flap() {
  ip -n "$A" link set veth1 down
  sleep 0.8
  ip -n "$A" link set veth1 up
}
reload_both() {
  "$MPT" --socket "$WORK/a.sock" reload >"$WORK/reload.out" || fail "reload on A: $(cat "$WORK/reload.out")"
  "$MPT" --socket "$WORK/b.sock" reload >>"$WORK/reload.out" || fail "reload on B: $(cat "$WORK/reload.out")"
}
stop_pair() {
  local s pid i
  for s in a b; do kill "$(cat "$WORK/$s.pid")" 2>/dev/null || true; done
  for s in a b; do
    pid=$(cat "$WORK/$s.pid")
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && fail "mptd $s did not stop"
    rm -f "$WORK/$s.pid" "$WORK/$s.sock"
  done
}

for CASE in "1 keyed" "2 keyed" "4 keyed" "2 plain" "4 plain gre_key = 305419898"; do
  read -r Q KIND EXTRA <<<"$CASE"
  echo "== queues = $Q, $KIND ${EXTRA:-}"
  key=""; [ "$KIND" = keyed ] && key=multiqueue-test-key-1
  QUEUES=$Q AUTH_KEY=$key write_pair_configs \
    "probe_interval_ms = 20" "dead_misses = 3" "hold_down_ms = 300" ${EXTRA:+"$EXTRA"}
  "$MPTD" --config "$WORK/a" --check >/dev/null || fail "config with queues = $Q rejected"
  start_mptd_pair
  wait_for 50 established a || fail "A: the peer never answered HELLO"
  wait_for 50 established b || fail "B: the peer never answered HELLO"
  n=$(status a | python3 -c "import json,sys; print(len(json.load(sys.stdin)['queues']))")
  [ "$n" = "$Q" ] || fail "status shows $n queues, configured $Q"

  # 8 byte-checked flows at once.
  pids=()
  for i in 0 1 2 3 4 5 6 7; do
    ip netns exec "$B" "$TOOL" tcp-recv 10.201.0.2 $((5300 + i)) "$FLOW_BYTES" $((40 + i)) \
      >"$WORK/recv$i.out" 2>&1 &
    pids+=($!)
  done
  for i in 0 1 2 3 4 5 6 7; do
    wait_for 50 grep -q listening "$WORK/recv$i.out" || fail "receiver $i did not start"
  done
  spids=()
  for i in 0 1 2 3 4 5 6 7; do
    ip netns exec "$A" "$TOOL" tcp-send 10.201.0.2 $((5300 + i)) "$FLOW_BYTES" $((40 + i)) >/dev/null &
    spids+=($!)
  done
  for p in "${spids[@]}"; do wait "$p" || fail "a sender failed (queues = $Q)"; done
  for i in 0 1 2 3 4 5 6 7; do
    wait "${pids[$i]}" || { cat "$WORK/recv$i.out"; fail "flow $i not intact (queues = $Q)"; }
  done
  st=$(status a)
  reads=$(printf '%s' "$st" | python3 -c "import json,sys; print(' '.join(str(q['reader']['tun_read_packets']) for q in json.load(sys.stdin)['queues']))")
  read_total=$(printf '%s' "$st" | python3 -c "import json,sys; print(json.load(sys.stdin)['tx']['tun_read_packets'])")
  writes=$(per_queue b writer tun_write_packets)
  echo "8 flows intact; A read per queue: $reads; B wrote per queue: $writes;" \
    "B reorder lost $(reorder b lost) late $(reorder b late)"
  sum=0 busy=0
  for v in $reads; do sum=$((sum + v)); [ "$v" -gt 100 ] && busy=$((busy + 1)); done
  [ "$sum" = "$read_total" ] || fail "per-queue reads ($reads) do not add up to the total ($read_total)"
  if [ "$Q" -gt 1 ]; then
    [ "$busy" -ge 2 ] || fail "the 8 flows were read on $busy queue(s) of $Q: $reads"
  fi

  # Failover: path_1's link goes down (and up again) in the middle of a byte-checked stream.
  stream_with 5401 7 "failover (queues = $Q)" path1_flap
  echo "failover: stream intact ($(tail -n 1 "$WORK/recv.out"))"
  wait_carrier "$A" veth1

  # Reload (path_0's weight changes on both sides) in the middle of a byte-checked stream.
  for s in a b; do sed -i '0,/^\[path_0\]/s//[path_0]\nweight_out = 3/' "$WORK/$s/connections/it.conf"; done
  stream_with 5402 8 "the reload (queues = $Q)" reload_both
  echo "reload: stream intact; $(head -n 1 "$WORK/reload.out")"
  stop_pair
done
echo "PASS: queues 1, 2 and 4 keyed, 2 and 4 plain: 8 flows, failover and reload byte-checked"
