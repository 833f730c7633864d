#!/usr/bin/env bash
# Plain RFC 8086 mode (control_auth = off): mptd in A against an independent GRE-in-UDP
# endpoint in B (tests/tools/rfc8086_peer.py: a TUN and a UDP socket in Python, written from
# the RFCs, nothing of mpt's code), one path. Three rounds: plain GRE; keyed and checksummed
# GRE (gre_key / gre_checksum, the peer with --key --csum); the peer sending sequence numbers.
# Checks, each round: mptd warns that the wire is neither authenticated nor encrypted; its
# path is up without any answer from the peer (no signalling); ping both ways and a
# byte-checked TCP transfer from A to B and from B to A go through; the peer dropped nothing
# that mptd sent (no control messages on the wire).
# Usage: plain_rfc8086_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$@"
PEER="$(dirname "$0")/../tools/rfc8086_peer.py"
add_veth_paths 1

round() {  # NAME MPT_LINES PEER_ARGS...
  local name=$1 lines=$2
  shift 2
  write_pair_configs
  sed -i 's/^control_auth = none$/control_auth = off/' "$WORK/a/connections/it.conf"
  [ -n "$lines" ] && printf '%b\n' "$lines" >"$WORK/a/extra2" &&
    sed -i "/^\[connection\]/r $WORK/a/extra2" "$WORK/a/connections/it.conf"
  ip netns exec "$B" python3 "$PEER" gre0 10.201.0.2/24 10.200.1.2 10.200.1.1 "$@" >"$WORK/peer.out" 2>&1 &
  echo $! >"$WORK/peer.pid"
  wait_for 50 grep -q ready "$WORK/peer.out" || { cat "$WORK/peer.out"; fail "$name: the RFC 8086 peer did not start"; }
  ip netns exec "$A" "$MPTD" --config "$WORK/a" --socket "$WORK/a.sock" >"$WORK/a.log" 2>&1 &
  echo $! >"$WORK/a.pid"
  wait_for 50 test -S "$WORK/a.sock" || fail "$name: mptd A did not start"
  grep -q "neither authenticated nor encrypted" "$WORK/a.log" || fail "$name: no warning about the plain wire"
  wait_for 50 test "$(path_state a 0)" = up || fail "$name: path not up ($(path_state a 0))"
  ip netns exec "$A" ping -c 3 -i 0.2 -W 1 10.201.0.2 >/dev/null || fail "$name: ping A -> B"
  ip netns exec "$B" ping -c 3 -i 0.2 -W 1 10.201.0.1 >/dev/null || fail "$name: ping B -> A"
  ip netns exec "$B" "$TOOL" tcp-recv 10.201.0.2 5301 5000000 5 >"$WORK/recv.out" 2>&1 &
  local rpid=$!
  wait_for 50 grep -q listening "$WORK/recv.out" || fail "$name: receiver did not start"
  ip netns exec "$A" timeout 60 "$TOOL" tcp-send 10.201.0.2 5301 5000000 5 >/dev/null || fail "$name: send A -> B"
  wait $rpid || { cat "$WORK/recv.out"; fail "$name: stream A -> B not intact"; }
  ip netns exec "$A" "$TOOL" tcp-recv 10.201.0.1 5302 5000000 6 >"$WORK/recv2.out" 2>&1 &
  rpid=$!
  wait_for 50 grep -q listening "$WORK/recv2.out" || fail "$name: receiver did not start"
  ip netns exec "$B" timeout 60 "$TOOL" tcp-send 10.201.0.1 5302 5000000 6 >/dev/null || fail "$name: send B -> A"
  wait $rpid || { cat "$WORK/recv2.out"; fail "$name: stream B -> A not intact"; }
  kill "$(cat "$WORK/a.pid")"
  wait "$(cat "$WORK/a.pid")" 2>/dev/null
  kill "$(cat "$WORK/peer.pid")"
  wait "$(cat "$WORK/peer.pid")" 2>/dev/null
  local counts
  counts=$(tail -n 1 "$WORK/peer.out")
  echo "$name: ping and 2 x 5 MB TCP both ways through an RFC 8086 endpoint; peer $counts"
  python3 -c "import ast,sys; c = ast.literal_eval(sys.argv[1]); sys.exit(c['dropped'] != 0)" "$counts" ||
    fail "$name: the RFC 8086 peer dropped datagrams from mptd: $counts"
  rm -f "$WORK/a.sock"
}

round "plain GRE" ""
round "keyed and checksummed GRE" "gre_key = 77\ngre_checksum = 1" --key 77 --csum
round "sequenced GRE from the peer" "" --seq
echo "PASS: plain RFC 8086 mode interoperates with an independent endpoint (plain, keyed, checksummed, sequenced)"
