#!/usr/bin/env bash
# The peer killed (SIGKILL: no clean-up of its own) and started again in the middle of a TCP
# stream, twice; two shaped paths (tbf 200M), probes every 50 ms.
# Checks: A notices each restart (a new peer session: peer_restarts counts it) and the
# connection is established again by itself; the stream that was running when B died goes
# on once B is back and arrives intact (the TCP connection survives a peer outage of about
# a second: the new B recreates mpt0 with the same address); and a new connection through
# the tunnel works afterwards.
# Usage: peer_restart_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$@"
BYTES=${BYTES:-100000000}
add_veth_paths 2 200mbit
AUTH_KEY=restart-test-key write_pair_configs "probe_interval_ms = 50"
start_mptd_pair
wait_for 50 established a || fail "A: the peer never answered HELLO"
wait_for 50 established b || fail "B: the peer never answered HELLO"

restarts() { "$MPT" --socket "$WORK/a.sock" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["control"][0]["peer_restarts"])'; }
start_b() {
  ip netns exec "$B" "$MPTD" --config "$WORK/b" --socket "$WORK/b.sock" >>"$WORK/b.log" 2>&1 &
  echo $! >"$WORK/b.pid"
  wait_for 50 test -S "$WORK/b.sock" || fail "mptd B did not start again"
}
ip netns exec "$B" timeout 90 "$TOOL" tcp-recv 10.201.0.2 5001 "$BYTES" 3 >"$WORK/recv.out" 2>&1 &
rpid=$!
wait_for 50 grep -q listening "$WORK/recv.out" || fail "receiver did not start"
ip netns exec "$A" timeout 90 "$TOOL" tcp-send 10.201.0.2 5001 "$BYTES" 3 >"$WORK/send.out" 2>&1 &
spid=$!
for round in 1 2; do
  sleep 1
  kill -9 "$(cat "$WORK/b.pid")"
  rm -f "$WORK/b.sock"
  t0=$(date +%s.%N)
  sleep 1
  start_b
  wait_for 100 established b || fail "round $round: B never heard A's answer after its restart"
  wait_for 100 established a || fail "round $round: A did not re-establish with the new B"
  t1=$(date +%s.%N)
  n=$(restarts)
  echo "round $round: B killed and restarted; connection established again $(python3 -c "print(f'{$t1 - $t0:.2f}')") s after the kill; A counted $n peer restart(s)"
  [ "$n" -ge "$round" ] || fail "A did not notice the peer's restart ($n)"
done
wait $spid || { cat "$WORK/send.out"; fail "the sender failed: the stream did not survive the restarts"; }
wait $rpid || { cat "$WORK/recv.out"; fail "the stream was not delivered intact"; }
cat "$WORK/recv.out"
ip netns exec "$B" "$TOOL" tcp-recv 10.201.0.2 5002 10000000 4 >"$WORK/recv2.out" 2>&1 &
rpid=$!
wait_for 50 grep -q listening "$WORK/recv2.out" || fail "receiver did not start"
ip netns exec "$A" "$TOOL" tcp-send 10.201.0.2 5002 10000000 4 >/dev/null || fail "new connection failed"
wait $rpid || { cat "$WORK/recv2.out"; fail "new stream not intact"; }
echo "PASS: the tunnel resumed by itself after two peer restarts; the running stream survived intact"
