#!/usr/bin/env bash
# The automatic tunnel MTU (`mtu = auto`, also when `mtu` is absent): mptd sets the largest
# inner packet that every path carries in one outer datagram.
#
#   ns A                                                  ns B
#   veth0 10.200.1.1 (mtu 1500) ====== path_0 ====== veth0 10.200.1.2
#   veth1 10.200.2.1 (mtu 1400) ====== path_1 ====== veth1 10.200.2.2
#
# Keyed connection (data sealed): overhead IPv4 20 + UDP 8 + GRE 8 + sealed 24 = 60, so
# both TUNs get 1400 - 60 = 1340 and the log names path_1. Then: a ping of exactly 1340
# bytes with DF passes and 1341 does not leave A; a byte-checked TCP stream arrives intact;
# and neither side fragmented an outer datagram (Ip FragCreates / ReasmReqds unchanged) nor
# failed a send -- with mtu 1440 (the old default) the 1400-byte path fragments every
# full-size packet. Then a reload adds a path on a 1300-byte veth2: the MTU stays 1340 and
# mptd warns; and A restarted with `mtu = 1400` configured names veth2's path at start.
# TUN_MTU=1440 WANT_MTU=1440 runs only the first part with that MTU (it must fail).
# Usage: auto_mtu_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$@"
add_veth_paths 2
for ns in "$A" "$B"; do ip -n "$ns" link set veth1 mtu 1400; done
WANT=${WANT_MTU:-1340}

TUN_MTU=${TUN_MTU:-auto} AUTH_KEY=auto-mtu-test-key-0001 write_pair_configs
start_mptd_pair
wait_for 100 established a || fail "A never heard B's answer"
wait_for 100 established b || fail "B never heard A's answer"

for s in a b; do
  ns=$A; [ $s = b ] && ns=$B
  mtu=$(ip -n "$ns" -o link show mpt0 | grep -o 'mtu [0-9]*' | cut -d' ' -f2)
  [ "$mtu" = "$WANT" ] || fail "mpt0 in $s has mtu $mtu, want $WANT"
  if [ "${TUN_MTU:-auto}" = auto ]; then
    grep -q "mtu $WANT: automatic.*limited by it/path_1 (veth1 mtu 1400, overhead 60)" "$WORK/$s.log" ||
      fail "$s did not log why its mtu is $WANT"
  fi
done
echo "both TUNs at mtu $WANT: $(grep -o 'mtu [0-9]*: automatic.*' "$WORK/a.log")"
if [ "${TUN_MTU:-auto}" = auto ]; then
  "$MPT" --socket "$WORK/a.sock" status --json | grep -q '"mtu":1340,"mtu_auto":true,"mtu_origin":"auto: limited by it/path_1 (veth1 mtu 1400, overhead 60)"' ||
    fail "mpt status --json does not say where the mtu came from"
  "$MPT" --socket "$WORK/a.sock" status | grep -q "^tunnel: mtu 1340 (auto: limited by it/path_1" ||
    fail "mpt status does not say where the mtu came from"
fi

ip_counter() {  # ns name: a field of the Ip: lines of /proc/net/snmp
  ip netns exec "$1" awk -v k="$2" '/^Ip:/ { if (!n) { for (i = 1; i <= NF; i++) if ($i == k) c = i; n = 1 } else print $c }' /proc/net/snmp
}
frag_a=$(ip_counter "$A" FragCreates)
reasm_b=$(ip_counter "$B" ReasmReqds)

# Full-size pings over both paths (the scheduler may pick either: 20 of them).
ip netns exec "$A" ping -c 20 -i 0.05 -W 2 -M do -s $((WANT - 28)) 10.201.0.2 >/dev/null ||
  fail "a $WANT-byte ping with DF did not pass"
ip netns exec "$A" ping -c 1 -W 1 -M do -s $((WANT - 27)) 10.201.0.2 >/dev/null 2>&1 &&
  fail "a $((WANT + 1))-byte ping with DF passed a $WANT-byte MTU"
checked_stream 5001 30000000 11
echo "$(tail -n 1 "$WORK/recv.out")"

frags=$(( $(ip_counter "$A" FragCreates) - frag_a ))
reasm=$(( $(ip_counter "$B" ReasmReqds) - reasm_b ))
status=$("$MPT" --socket "$WORK/a.sock" status --json)
send_errors=$(printf '%s' "$status" | grep -o '"tx_send_errors":[0-9]*' | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }')
echo "outer fragments created on A: $frags, reassemblies on B: $reasm, send errors on A: $send_errors"
[ "$frags" -eq 0 ] && [ "$reasm" -eq 0 ] || fail "outer datagrams were fragmented"
[ "${send_errors:-0}" -eq 0 ] || fail "sends failed"

# A path added by reload that carries less: the MTU stays (a TUN change needs a restart), and
# mptd says so.
if [ "${TUN_MTU:-auto}" = auto ]; then
  ip link add veth2 netns "$A" type veth peer name veth2 netns "$B"
  ip -n "$A" addr add 10.200.3.1/24 dev veth2
  ip -n "$B" addr add 10.200.3.2/24 dev veth2
  for ns in "$A" "$B"; do ip -n "$ns" link set veth2 mtu 1300 up; done
  wait_carrier "$A" veth2
  wait_carrier "$B" veth2
  PATHS_A+=("veth2|4|10.200.3.1|10.200.3.2")
  PATHS_B+=("veth2|4|10.200.3.2|10.200.3.1")
  TUN_MTU=auto AUTH_KEY=auto-mtu-test-key-0001 write_pair_configs
  "$MPT" --socket "$WORK/a.sock" reload >"$WORK/reload.out" || fail "reload on A: $(cat "$WORK/reload.out")"
  "$MPT" --socket "$WORK/b.sock" reload >/dev/null || fail "reload on B"
  grep -q "added path it/path_2" "$WORK/reload.out" || fail "reload did not add path_2: $(cat "$WORK/reload.out")"
  mtu=$(ip -n "$A" -o link show mpt0 | grep -o 'mtu [0-9]*' | cut -d' ' -f2)
  [ "$mtu" = "$WANT" ] || fail "the reload changed the TUN's mtu to $mtu"
  grep -q "it/path_2 (veth2 mtu 1300, overhead 60) carries inner packets of at most 1240 bytes in one datagram, less than the tunnel's mtu $WANT" "$WORK/a.log" ||
    fail "no warning that the added path carries less than the mtu"
  echo "reload added a 1300-byte path: mtu stays $WANT, warned: $(grep -o 'it/path_2 (veth2.*' "$WORK/a.log" | head -n 1)"

  # A configured MTU that a path cannot carry is used, and the path is named at start.
  kill "$(cat "$WORK/a.pid")"
  wait "$(cat "$WORK/a.pid")" 2>/dev/null
  sed -i 's/^mtu = .*/mtu = 1400/' "$WORK/a/interface.conf"
  ip netns exec "$A" "$MPTD" --config "$WORK/a" --socket "$WORK/a.sock" >"$WORK/a2.log" 2>&1 &
  echo $! >"$WORK/a.pid"
  wait_for 50 grep -q "tunnel mpt0 up" "$WORK/a2.log" || fail "mptd A did not restart"
  grep -q "mtu 1400 (configured) does not fit it/path_2 (veth2 mtu 1300, overhead 60) in one datagram.*at most 1240" "$WORK/a2.log" ||
    fail "no warning that the configured mtu does not fit path_2"
  echo "configured mtu 1400: $(grep -o 'mtu 1400 (configured).*' "$WORK/a2.log")"
fi
echo "PASS: automatic mtu $WANT fits the smallest path; full-size packets pass unfragmented; a smaller path added later and a configured mtu too large are named"
