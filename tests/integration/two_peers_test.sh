#!/usr/bin/env bash
# One mptd with two connections (two peers) on one TUN device.
#
#   ns B: mpt0 10.201.0.2 -- vab 10.200.1.2 ==== vab 10.200.1.1 --+
#                                                                 ns A: mpt0 10.201.0.1/24
#   ns C: mpt0 10.201.0.3 -- vac 10.200.2.2 ==== vac 10.200.2.1 --+      connections "to_b", "to_c"
#
# Checks: A reaches B and C through the right connection (by inner destination), B and C
# each get only their own traffic, and a transfer to each arrives intact.
# Usage: two_peers_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$@"
C=mpt-$$-c
trap 'rc=$?; [ -f "$WORK/c.pid" ] && kill "$(cat "$WORK/c.pid")" 2>/dev/null; ip netns del "$C" 2>/dev/null; (exit $rc); cleanup_test_env' EXIT
ip netns add "$C"
ip link add vab netns "$A" type veth peer name vab netns "$B"
ip link add vac netns "$A" type veth peer name vac netns "$C"
ip -n "$A" addr add 10.200.1.1/24 dev vab
ip -n "$B" addr add 10.200.1.2/24 dev vab
ip -n "$A" addr add 10.200.2.1/24 dev vac
ip -n "$C" addr add 10.200.2.2/24 dev vac
for x in "$A:vab" "$A:vac" "$B:vab" "$C:vac"; do ip -n "${x%%:*}" link set "${x##*:}" up; done
for ns in "$A" "$B" "$C"; do ip -n "$ns" link set lo up; done
wait_carrier "$A" vab vac
wait_carrier "$B" vab
wait_carrier "$C" vac

mkdir -p "$WORK/a/connections"
cat >"$WORK/a/interface.conf" <<CONF
[general]
tunnel_num = 1
[tun_0]
name = mpt0
mtu = 1440
ipv4_addr = 10.201.0.1/24
CONF
for peer in b:2:1 c:3:2; do
  IFS=: read -r name last net <<<"$peer"
  cat >"$WORK/a/connections/to_$name.conf" <<CONF
[connection]
name = to_$name
ip_ver = 4
ip_local = 10.201.0.1
ip_remote = 10.201.0.$last
control_auth = none
path_count = 1
[path_0]
interface_name = va$name
ip_ver = 4
private_ipaddr = 10.200.$net.1
remote_ipaddr = 10.200.$net.2
CONF
done
write_config "$WORK/b" 10.201.0.2/24 fd00:201::2/64 10.201.0.2 10.201.0.1 "vab|4|10.200.1.2|10.200.1.1"
write_config "$WORK/c" 10.201.0.3/24 fd00:201::3/64 10.201.0.3 10.201.0.1 "vac|4|10.200.2.2|10.200.2.1"
start_mptd_pair
ip netns exec "$C" "$MPTD" --config "$WORK/c" --socket "$WORK/c.sock" >"$WORK/c.log" 2>&1 &
echo $! >"$WORK/c.pid"
wait_for 50 test -S "$WORK/c.sock" || fail "mptd C did not start"

ip netns exec "$A" ping -c 3 -i 0.2 -W 2 10.201.0.2 >/dev/null || fail "A cannot reach B"
ip netns exec "$A" ping -c 3 -i 0.2 -W 2 10.201.0.3 >/dev/null || fail "A cannot reach C"
echo "A reaches B and C over their own connections"
for peer in "$B:10.201.0.2:21" "$C:10.201.0.3:22"; do
  IFS=: read -r ns ip seed <<<"$peer"
  ip netns exec "$ns" "$TOOL" tcp-recv "$ip" 5001 50000000 "$seed" >"$WORK/recv-$seed.out" 2>&1 &
  rpid=$!
  wait_for 50 grep -q listening "$WORK/recv-$seed.out" || fail "receiver in $ns did not start"
  ip netns exec "$A" "$TOOL" tcp-send "$ip" 5001 50000000 "$seed" || fail "send to $ip failed"
  wait $rpid || fail "payload to $ip not intact"
  echo "  to $ip: $(tail -n 1 "$WORK/recv-$seed.out")"
done
sa=$("$MPT" --socket "$WORK/a.sock" status --json)
# A's two paths (one per connection) each carried their own 50 MB, nothing went astray.
mapfile -t tx < <(printf '%s' "$sa" | grep -o '"tx_bytes":[0-9]*' | cut -d: -f2)
[ ${#tx[@]} -eq 2 ] || fail "expected 2 paths on A, got ${#tx[@]}"
for b in "${tx[@]}"; do [ "$b" -gt 50000000 ] || fail "a connection carried only $b bytes"; done
# The kernel sends a little IPv6 link-local chatter (ff02::/16) into the TUN: no peer owns it.
nc=$(json_counter "$sa" drop_no_connection); echo "A: $nc packets matched no connection"; [ "$nc" -le 10 ] || fail "$nc packets matched no connection"
echo "PASS: two peers on one TUN, traffic split by destination"
