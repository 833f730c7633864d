#!/usr/bin/env bash
# Interfaces that come and go (docs/configuration.md, private_ipaddr): mptd starts while one
# path's interface does not exist yet, runs on what exists, and the path joins when its
# interface and address appear; when the interface goes again the path waits and the rest
# carries on. Two keyed paths; A's veth1 is created only after both daemons run.
# Checks: A starts (exit status, "waits" in its log, `mpt status` shows the path waiting);
# ping works over path 0 meanwhile; after veth1 appears, A's path 1 is up and carries a
# transfer; after veth1 is deleted, A's path 1 waits again, the tunnel still pings, and
# neither daemon logged an error.
# Usage: waiting_path_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$@"
add_veth_paths 1
# Path 1's specs as add_veth_paths would have made them; its veth pair does not exist yet.
PATHS_A+=("veth1|4|10.200.2.1|10.200.2.2")
PATHS_B+=("veth1|4|10.200.2.2|10.200.2.1")
AUTH_KEY=waiting-path-key-0001 write_pair_configs "probe_interval_ms = 50"
# Neither side's veth1 exists yet: both daemons start with path 1 waiting.
"$MPTD" --check --config "$WORK/a" >/dev/null || fail "A's configuration refused"
start_mptd_pair
wait_for 50 established a || fail "A: the peer never answered HELLO"
grep -q "path_1 waits: interface veth1 does not exist" "$WORK/a.log" || fail "A did not say path 1 waits"
st=$("$MPT" --socket "$WORK/a.sock" status)
echo "$st" | grep -q "(waiting: interface veth1 does not exist)" || { echo "$st"; fail "status does not show path 1 waiting"; }
[ "$(path_state a 0)" = up ] || fail "path 0 is $(path_state a 0)"
ip netns exec "$A" ping -c 3 -i 0.2 -W 2 10.201.0.2 >/dev/null || fail "ping over path 0 alone"

# The interface appears (with its address): path 1 joins.
t0=$(date +%s%N)
ip link add veth1 netns "$A" type veth peer name veth1 netns "$B"
ip -n "$A" addr add 10.200.2.1/24 dev veth1
ip -n "$B" addr add 10.200.2.2/24 dev veth1
ip -n "$A" link set veth1 up
ip -n "$B" link set veth1 up
wait_for 100 sh -c "[ \"\$(\"$MPT\" --socket '$WORK/a.sock' status --json | grep -o '\"path\":\"it/path_1\",\"state\":\"up\"')\" ]" ||
  fail "path 1 did not come up after its interface appeared: $(path_state a 1)"
echo "path 1 up $((($(date +%s%N) - t0) / 1000000)) ms after its interface was created"
checked_stream 5201 30000000 3
tx1=$("$MPT" --socket "$WORK/a.sock" status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['paths'][1]['tx_bytes'])")
echo "path 1 carried $tx1 bytes of the transfer"
[ "$tx1" -gt 100000 ] || fail "path 1 carried only $tx1 bytes"

# The interface goes: path 1 waits again, the tunnel carries on.
ip -n "$A" link del veth1
wait_for 30 sh -c "\"$MPT\" --socket '$WORK/a.sock' status | grep -q '(waiting: interface veth1 does not exist)'" ||
  fail "path 1 does not wait after its interface went"
ip netns exec "$A" ping -c 3 -i 0.2 -W 2 10.201.0.2 >/dev/null || fail "ping after path 1 went"
! grep -E "\[error\]" "$WORK/a.log" "$WORK/b.log" || fail "a daemon logged an error"
echo "PASS: started with a missing interface, the path joined when it appeared and waited again when it went"
