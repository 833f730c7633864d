#!/usr/bin/env bash
# Single-path tunnel between two namespaces, over an IPv4 and then an IPv6 outer path.
#
#   ns A (mpt-<pid>-a)                                   ns B (mpt-<pid>-b)
#   +---------------------------+                         +---------------------------+
#   | mpt0 10.201.0.1/24         |                         | mpt0 10.201.0.2/24         |
#   |      fd00:201::1/64        |                         |      fd00:201::2/64        |
#   |  mptd --config A           |   GRE-in-UDP :4754      |  mptd --config B           |
#   | veth0 10.200.1.1/24       -+-------------------------+- veth0 10.200.1.2/24       |
#   |       fd00:200::1/64       |                         |       fd00:200::2/64       |
#   |       10.200.1.3 (rogue)   |                         |                           |
#   +---------------------------+                         +---------------------------+
#
# Checks: ping (inner v4 and v6); a 200 MB TCP transfer arrives intact; while it runs,
# malformed datagrams from the peer and datagrams from a non-peer address are dropped and
# counted, and the transfer still completes.
# Usage: single_path_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns

init_test_env "$@"
BYTES=${BYTES:-200000000}

na() { ip netns exec "$A" "$@"; }
nb() { ip netns exec "$B" "$@"; }

ip link add veth0 netns "$A" type veth peer name veth0 netns "$B"
na ip addr add 10.200.1.1/24 dev veth0
na ip addr add 10.200.1.3/24 dev veth0
na ip addr add fd00:200::1/64 dev veth0 nodad
nb ip addr add 10.200.1.2/24 dev veth0
nb ip addr add fd00:200::2/64 dev veth0 nodad
for ns in "$A" "$B"; do
  ip -n "$ns" link set lo up
  ip -n "$ns" link set veth0 up
done
wait_carrier "$A" veth0
wait_carrier "$B" veth0

start_pair() {  # outer_ver local_a remote_a(local_b)
  local ver=$1 la=$2 lb=$3
  write_config "$WORK/$ver/a" 10.201.0.1/24 fd00:201::1/64 10.201.0.1 10.201.0.2 "veth0|$ver|$la|$lb"
  write_config "$WORK/$ver/b" 10.201.0.2/24 fd00:201::2/64 10.201.0.2 10.201.0.1 "veth0|$ver|$lb|$la"
  "$MPTD" --config "$WORK/$ver/a" --check >/dev/null || fail "config A (outer v$ver) rejected"
  rm -rf "$WORK/a" "$WORK/b"
  cp -r "$WORK/$ver/a" "$WORK/a"
  cp -r "$WORK/$ver/b" "$WORK/b"
  start_mptd_pair
}

stop_pair() {
  kill "$(cat "$WORK/a.pid")" "$(cat "$WORK/b.pid")"
  local rc=0; wait "$(cat "$WORK/a.pid")" || rc=$?; [ $rc = 0 ] || fail "mptd A did not exit cleanly (status $rc)"
  rc=0; wait "$(cat "$WORK/b.pid")" || rc=$?; [ $rc = 0 ] || fail "mptd B did not exit cleanly (status $rc)"
  rm -f "$WORK/a.pid" "$WORK/b.pid"
  ip -n "$A" link show mpt0 >/dev/null 2>&1 && fail "TUN device left behind in A"
  true
}

transfer() {  # bytes port
  nb "$TOOL" tcp-recv 10.201.0.2 "$2" "$1" 11 >"$WORK/recv.out" 2>&1 &
  local rpid=$!
  wait_for 50 grep -q listening "$WORK/recv.out" || fail "receiver did not start"
  na "$TOOL" tcp-send 10.201.0.2 "$2" "$1" 11 || fail "sender failed"
  wait $rpid || { cat "$WORK/recv.out"; fail "payload not intact"; }
  echo "  $(tail -n 1 "$WORK/recv.out")"
}

for ver in 4 6; do
  if [ $ver = 4 ]; then start_pair 4 10.200.1.1 10.200.1.2; else start_pair 6 fd00:200::1 fd00:200::2; fi
  echo "outer IPv$ver:"
  na ping -c 3 -i 0.2 -W 2 10.201.0.2 >/dev/null || fail "inner IPv4 ping (outer v$ver)"
  na ping -c 3 -i 0.2 -W 2 fd00:201::2 >/dev/null || fail "inner IPv6 ping (outer v$ver)"
  echo "  ping v4 and v6 ok"
  if [ $ver = 4 ]; then
    # Transfer with garbage sent at B's port meanwhile: from the peer's own address
    # (malformed GRE) and from an address that is not a configured peer.
    nb "$TOOL" tcp-recv 10.201.0.2 5001 "$BYTES" 11 >"$WORK/recv.out" 2>&1 &
    rpid=$!
    wait_for 50 grep -q listening "$WORK/recv.out" || fail "receiver did not start"
    na "$TOOL" tcp-send 10.201.0.2 5001 "$BYTES" 11 &
    spid=$!
    na "$TOOL" garbage 10.200.1.1 10.200.1.2 4754 2000 >/dev/null
    na "$TOOL" garbage 10.200.1.3 10.200.1.2 4754 1000 >/dev/null
    wait $spid || fail "sender failed while garbage was sent"
    wait $rpid || { cat "$WORK/recv.out"; fail "payload not intact with garbage on the wire"; }
    echo "  $(tail -n 1 "$WORK/recv.out")"
    status=$("$MPT" --socket "$WORK/b.sock" status --json)
    bad=$(json_counter "$status" rx_drop_invalid_gre)
    rogue=$(json_counter "$status" rx_drop_unknown_peer)
    echo "  B dropped $bad invalid GRE datagrams and $rogue from a non-peer address"
    [ "$rogue" -ge 1000 ] || fail "expected >= 1000 non-peer drops, got $rogue"
    # 2000 sent from the peer address; every one is malformed (a few may be lost on a busy veth)
    [ "$bad" -ge 1900 ] || fail "expected ~2000 invalid GRE drops, got $bad"
    na ping -c 2 -i 0.2 -W 2 10.201.0.2 >/dev/null || fail "tunnel dead after garbage"
    "$MPT" --socket "$WORK/a.sock" status >/dev/null || fail "mpt status failed"
  else
    transfer "$BYTES" 5002
  fi
  stop_pair
done
echo "PASS: single path, outer v4 and v6"
