#!/usr/bin/env bash
# Failover: two shaped paths, probes every 20 ms (HMAC-authenticated), path_1's link taken down
# in the middle of a TCP transfer and brought back.
#
#   ns A                                               ns B
#   mpt0 10.201.0.1 ------ mptd over 2 paths ------- mpt0 10.201.0.2
#   veth0 10.200.1.1 ====== path_0 (tbf 200M) ====== veth0 10.200.1.2
#   veth1 10.200.2.1 ====== path_1 (tbf 200M) ====== veth1 10.200.2.2   <- down at ~1.5 s, up at ~3 s
#
# Checks: the transfer completes with intact payload; path_1 is reported down while its link
# is down and up again after the link returns (hold-down 300 ms) and carries traffic again;
# forged control messages sent at B change nothing and are counted.
# Usage: failover_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns

init_test_env "$@"
BYTES=${BYTES:-150000000}

add_veth_paths 2 200mbit

AUTH_KEY=integration-test-key write_config "$WORK/a" 10.201.0.1/24 fd00:201::1/64 10.201.0.1 10.201.0.2 "${PATHS_A[@]}"
AUTH_KEY=integration-test-key write_config "$WORK/b" 10.201.0.2/24 fd00:201::2/64 10.201.0.2 10.201.0.1 "${PATHS_B[@]}"
for s in a b; do
  printf 'probe_interval_ms = 20\ndead_misses = 3\nhold_down_ms = 300\n' \
    >>"$WORK/$s/connections/it.conf.tmp"
  # the [connection] keys must stay in [connection]: insert them after its header
  sed -i "/^\[connection\]/r $WORK/$s/connections/it.conf.tmp" "$WORK/$s/connections/it.conf"
  rm "$WORK/$s/connections/it.conf.tmp"
done
"$MPTD" --config "$WORK/a" --check >/dev/null || fail "config rejected"
start_mptd_pair
sleep 0.5
health() {  # side path -> state
  "$MPT" --socket "$WORK/$1.sock" status --json | grep -o '"path":"it/path_'"$2"'","state":"[a-z-]*"' | sed 's/.*"state":"//; s/"$//'
}
[ "$(health a 1)" = up ] || fail "path_1 not up at start: $(health a 1)"
established() { "$MPT" --socket "$WORK/$1.sock" status --json | grep -q '"established":true'; }
wait_for 30 established a || fail "A: the peer never answered HELLO"
wait_for 30 established b || fail "B: the peer never answered HELLO"
echo "connection established both ways (HELLO / HELLO_ACK)"

ip netns exec "$B" "$TOOL" tcp-recv 10.201.0.2 5001 "$BYTES" 9 >"$WORK/recv.out" 2>&1 &
rpid=$!
wait_for 50 grep -q listening "$WORK/recv.out" || fail "receiver did not start"
ip netns exec "$A" "$TOOL" tcp-send 10.201.0.2 5001 "$BYTES" 9 &
spid=$!
sleep 1.5
ip -n "$A" link set veth1 down
sleep 0.05
state=$(health a 1)
echo "50 ms after link down, path_1 on A is: $state"
[ "$state" = link-down ] || fail "link down not acted on at once (state $state)"
sleep 1.5
ip -n "$A" link set veth1 up
wait $spid || fail "sender failed during failover"
wait $rpid || { cat "$WORK/recv.out"; fail "payload not intact across failover"; }
echo "$(tail -n 1 "$WORK/recv.out")"
path1_up() { [ "$(health a 1)" = up ]; }
wait_for 30 path1_up || fail "path_1 did not come back up on A: $(health a 1)"
echo "path_1 back up on A"

# Operator commands travel to the peer: a weight change and an administrative down/up.
"$MPT" --socket "$WORK/a.sock" path weight it 1 3 >/dev/null || fail "mpt path weight failed"
peer_weight() { "$MPT" --socket "$WORK/b.sock" status --json | grep -o '"path":"it/path_1","state":"[a-z-]*","weight":[0-9]*' | sed 's/.*"weight"://'; }
weight3() { [ "$(peer_weight)" = 3 ]; }
wait_for 20 weight3 || fail "peer did not take weight 3 for path_1 (has $(peer_weight))"
echo "weight 3 on path_1 reached the peer"
"$MPT" --socket "$WORK/a.sock" path down it 0 >/dev/null || fail "mpt path down failed"
b0_admin_down() { [ "$(health b 0)" = admin-down ]; }
wait_for 20 b0_admin_down || fail "peer did not take path_0 down (state $(health b 0))"
ip netns exec "$A" ping -c 2 -i 0.2 -W 2 10.201.0.2 >/dev/null || fail "no traffic with path_0 down"
"$MPT" --socket "$WORK/a.sock" path up it 0 >/dev/null || fail "mpt path up failed"
b0_up() { [ "$(health b 0)" = up ]; }
wait_for 20 b0_up || fail "peer did not bring path_0 back (state $(health b 0))"
"$MPT" --socket "$WORK/a.sock" path down nosuch 0 >/dev/null 2>&1 && fail "unknown connection accepted"
echo "path down/up reached the peer; traffic kept flowing"

# mpt reload: a weight edited in the file is applied (and reaches the peer); a file with an
# error is refused and changes nothing.
awk '/^\[path_1\]/{p=1} {print} p && /^remote_ipaddr/{print "weight_out = 5"; p=0}' \
  "$WORK/a/connections/it.conf" >"$WORK/a/connections/it.conf.new"
mv "$WORK/a/connections/it.conf.new" "$WORK/a/connections/it.conf"
"$MPT" --socket "$WORK/a.sock" reload | grep -q "^ok: 1 change" || fail "reload did not apply the weight"
weight5() { [ "$(peer_weight)" = 5 ]; }
wait_for 20 weight5 || fail "reloaded weight 5 did not reach the peer (has $(peer_weight))"
sed -i '/^\[connection\]/a reorder_window = banana' "$WORK/a/connections/it.conf"
"$MPT" --socket "$WORK/a.sock" reload >"$WORK/reload.out" && fail "a broken configuration was accepted"
grep -q "nothing applied" "$WORK/reload.out" || fail "reload refusal did not say why: $(cat "$WORK/reload.out")"
grep -q "it.conf:[0-9]*.*reorder_window" "$WORK/reload.out" || fail "reload refusal does not name file, line and key: $(cat "$WORK/reload.out")"
echo "reload applied a weight and refused a broken file ($(sed -n 2p "$WORK/reload.out"))"

# Forged control messages (GRE protocol 0x88B5, random bytes) from the peer's address.
before=$("$MPT" --socket "$WORK/b.sock" status --json)
ip netns exec "$A" "$TOOL" forge-control 10.200.1.1 10.200.1.2 4754 1000 >/dev/null
sleep 0.3
after=$("$MPT" --socket "$WORK/b.sock" status --json)
rejected() {  # sum of every reason a control message is refused for, in one status
  local n=0 k
  for k in $(printf '%s' "$1" | grep -o '"control_rx_errors":{[^}]*}' | grep -o '[0-9][0-9]*'); do
    n=$((n + k))
  done
  # dropped before parsing (malformed, ring full, not the peer's session over the new-session
  # limit): counted per path by the worker
  for k in $(printf '%s' "$1" | grep -o '"rx_control_\(dropped\|limited\)":[0-9]*' | cut -d: -f2); do
    n=$((n + k))
  done
  echo "$n"
}
bad=$(( $(rejected "$after") - $(rejected "$before") ))
echo "B rejected $bad forged control messages"
[ "$bad" -ge 990 ] || fail "expected ~1000 rejected control messages, got $bad"
[ "$(health b 0)" = up ] && [ "$(health b 1)" = up ] || fail "forged messages changed path state"
echo "PASS: failover over link down, payload intact, path back up, forged control rejected"
