#!/usr/bin/env bash
# Attacks on the keyed control protocol against a running pair (docs/protocol.md, sections
# 2b and 2c), two paths, probes every 50 ms. Control datagrams are recorded off the wire with
# a raw socket (mpt-testtool capture-control) in each namespace, then sent back at A:
#   1. reflection: A's own messages (recorded at B), sent to A from B's address;
#   2. replay: B's messages to A, sent again;
#   3. path moved: B's messages for A's path 1, sent to A's path 0;
#   4. forged and truncated: B's messages with one body byte flipped, or cut short;
#   5. replay from an earlier session: B restarted, then its old messages sent again;
#   6. the peer's "up" for a path taken down here: A takes path 1 down itself, B says up.
# Checks, each: A counts the attempt by its reason (control_rx_errors / control_refused),
# no peer restart is counted that did not happen, both paths stay up (6: path 1 stays down
# at A), and a byte-checked TCP transfer through the tunnel still works at the end.
# Usage: control_attack_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$@"
add_veth_paths 2 200mbit
AUTH_KEY=attack-test-key-0001 write_pair_configs "probe_interval_ms = 50"
start_mptd_pair
wait_for 50 established a || fail "A: the peer never answered HELLO"
wait_for 50 established b || fail "B: the peer never answered HELLO"

status_a() { "$MPT" --socket "$WORK/a.sock" status --json; }
err() {  # REASON -> A's count of control messages refused for it
  status_a | python3 -c "import json,sys; print(json.load(sys.stdin)['control_rx_errors'].get('$1', 0))"
}
restarts() { status_a | python3 -c 'import json,sys; print(json.load(sys.stdin)["control"][0]["peer_restarts"])'; }
both_up() {
  [ "$(path_state a 0)" = up ] && [ "$(path_state a 1)" = up ] || fail "A's paths: $(path_state a 0) / $(path_state a 1) after $1"
}
transfer() {  # PORT
  ip netns exec "$B" "$TOOL" tcp-recv 10.201.0.2 "$1" 20000000 "$1" >"$WORK/recv.out" 2>&1 &
  local rpid=$!
  wait_for 50 grep -q listening "$WORK/recv.out" || fail "receiver did not start"
  ip netns exec "$A" "$TOOL" tcp-send 10.201.0.2 "$1" 20000000 "$1" >/dev/null || fail "sender failed"
  wait $rpid || { cat "$WORK/recv.out"; fail "stream not intact"; }
}
expect_more() {  # REASON BEFORE WHAT
  local now
  now=$(err "$1")
  [ "$now" -gt "$2" ] || fail "$3: A counted no $1 ($2 -> $now)"
  echo "  $3: A counted $((now - $2)) as $1"
}

ip netns exec "$A" "$TOOL" capture-control 4754 1.5 "$WORK/to_a.txt" >/dev/null &
cpid=$!
ip netns exec "$B" "$TOOL" capture-control 4754 1.5 "$WORK/to_b.txt" >/dev/null
wait $cpid
[ -s "$WORK/to_a.txt" ] && [ -s "$WORK/to_b.txt" ] || fail "nothing captured"
echo "captured $(wc -l <"$WORK/to_a.txt") messages to A, $(wc -l <"$WORK/to_b.txt") to B"
r0=$(restarts)

before=$(err bad_mac)
ip netns exec "$B" "$TOOL" replay-control "$WORK/to_b.txt" 10.200.1.2 10.200.1.2 10.200.1.1 4754 none >/dev/null
expect_more bad_mac "$before" "reflected messages"
both_up "the reflection"

before=$(err replay)
ip netns exec "$B" "$TOOL" replay-control "$WORK/to_a.txt" 10.200.1.1 10.200.1.2 10.200.1.1 4754 none >/dev/null
expect_more replay "$before" "replayed messages"
both_up "the replay"

before=$(err bad_path)
ip netns exec "$B" "$TOOL" replay-control "$WORK/to_a.txt" 10.200.2.1 10.200.1.2 10.200.1.1 4754 none >/dev/null
expect_more bad_path "$before" "messages moved to another path"
both_up "the path move"

before=$(err bad_mac)
ip netns exec "$B" "$TOOL" replay-control "$WORK/to_a.txt" 10.200.1.1 10.200.1.2 10.200.1.1 4754 flip >/dev/null
expect_more bad_mac "$before" "forged messages"
before=$(( $(err bad_length) + $(err too_short) ))
ip netns exec "$B" "$TOOL" replay-control "$WORK/to_a.txt" 10.200.1.1 10.200.1.2 10.200.1.1 4754 truncate >/dev/null
now=$(( $(err bad_length) + $(err too_short) ))
[ "$now" -gt "$before" ] || fail "truncated messages: not counted"
echo "  truncated messages: A counted $((now - before)) as bad_length / too_short"
both_up "forged and truncated messages"
[ "$(restarts)" = "$r0" ] || fail "A counted a peer restart that did not happen"

# 5. B restarts (new session); its old recorded messages must not bring the old one back.
bpid=$(cat "$WORK/b.pid")
kill -9 "$bpid"
wait "$bpid" 2>/dev/null || true
rm -f "$WORK/b.sock"
sleep 1  # as peer_restart_test: the killed instance's sockets are released asynchronously
ip netns exec "$B" "$MPTD" --config "$WORK/b" --socket "$WORK/b.sock" >>"$WORK/b.log" 2>&1 &
echo $! >"$WORK/b.pid"
wait_for 50 test -S "$WORK/b.sock" || fail "mptd B did not start again"
wait_for 100 established a || fail "A did not re-establish with the new B"
wait_for 100 established b || fail "the new B did not establish"
r1=$(restarts)
[ "$r1" -eq $((r0 + 1)) ] || fail "A counted $r1 restarts after one ($r0 before)"
before=$(err bad_mac)
ip netns exec "$B" "$TOOL" replay-control "$WORK/to_a.txt" any 10.200.1.2 10.200.1.1 4754 none >/dev/null
expect_more bad_mac "$before" "messages of B's earlier session"
sleep 0.5
[ "$(restarts)" = "$r1" ] || fail "old messages made A count another restart"
wait_for 100 test "$(path_state a 0)" = up || fail "path 0 not up after B's restart"
wait_for 100 test "$(path_state a 1)" = up || fail "path 1 not up after B's restart"
transfer 5101

# 6. A takes path 1 down itself; B's "up" must not bring it back.
"$MPT" --socket "$WORK/a.sock" path down it 1 >/dev/null || fail "mpt path down"
wait_for 50 test "$(path_state b 1)" = admin-down || fail "B did not follow A's down ($(path_state b 1))"
"$MPT" --socket "$WORK/b.sock" path down it 1 >/dev/null
"$MPT" --socket "$WORK/b.sock" path up it 1 >/dev/null || fail "mpt path up at B"
sleep 0.5
[ "$(path_state a 1)" = admin-down ] || fail "the peer's up overrode A's own down ($(path_state a 1))"
n=$(status_a | python3 -c 'import json,sys; print(json.load(sys.stdin)["control_refused"]["peer_up_after_local_down"])')
[ "$n" -ge 1 ] || fail "A did not count the refused up"
echo "  the peer's up for a path taken down here: refused ($n)"
"$MPT" --socket "$WORK/a.sock" path up it 1 >/dev/null || fail "mpt path up at A"
wait_for 100 test "$(path_state a 1)" = up || fail "path 1 not up again at A"
transfer 5102
echo "PASS: reflected, replayed, moved, forged, truncated and earlier-session control messages refused and counted; a local down kept; the tunnel carried traffic throughout"
