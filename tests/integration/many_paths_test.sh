#!/usr/bin/env bash
# Sixteen paths in one connection, outer IPv4 and IPv6 mixed (even paths v4, odd paths v6).
#
#   ns A                                              ns B
#   mpt0 10.201.0.1 ------ mptd over 16 paths ------ mpt0 10.201.0.2
#   vethI 10.200.<I+1>.1 / fd00:200:<I>::1 ========= vethI 10.200.<I+1>.2 / fd00:200:<I>::2
#
# Checks: ping in both inner families; a 100 MB TCP transfer arrives intact; every one of the
# 16 paths carried data, in equal shares within 5 %.
# Usage: many_paths_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$@"
N=16
pa=()
pb=()
devs=()
for ((i = 0; i < N; i++)); do
  ip link add "veth$i" netns "$A" type veth peer name "veth$i" netns "$B"
  ip -n "$A" addr add "10.200.$((i + 1)).1/24" dev "veth$i"
  ip -n "$B" addr add "10.200.$((i + 1)).2/24" dev "veth$i"
  ip -n "$A" addr add "fd00:200:$i::1/64" dev "veth$i" nodad
  ip -n "$B" addr add "fd00:200:$i::2/64" dev "veth$i" nodad
  ip -n "$A" link set "veth$i" up
  ip -n "$B" link set "veth$i" up
  devs+=("veth$i")
  if ((i % 2 == 0)); then
    pa+=("veth$i|4|10.200.$((i + 1)).1|10.200.$((i + 1)).2")
    pb+=("veth$i|4|10.200.$((i + 1)).2|10.200.$((i + 1)).1")
  else
    pa+=("veth$i|6|fd00:200:$i::1|fd00:200:$i::2")
    pb+=("veth$i|6|fd00:200:$i::2|fd00:200:$i::1")
  fi
done
ip -n "$A" link set lo up
ip -n "$B" link set lo up
wait_carrier "$A" "${devs[@]}"
wait_carrier "$B" "${devs[@]}"
# The shares asserted below are those of weighted round-robin by bytes: auto (the default)
# follows measured capacity, which on unshaped veths is only CPU time.
export SCHEDULER=bytes
# And without loss repair: its resends (of numbers a slow, sanitized or busy machine delays
# past the NACK wait on zero-delay veths) add bytes to the path after the one that sent them,
# which is not what this share check is about.
export REPAIR=0
write_config "$WORK/a" 10.201.0.1/24 fd00:201::1/64 10.201.0.1 10.201.0.2 "${pa[@]}"
write_config "$WORK/b" 10.201.0.2/24 fd00:201::2/64 10.201.0.2 10.201.0.1 "${pb[@]}"
start_mptd_pair

ip netns exec "$A" ping -c 3 -i 0.2 -W 2 10.201.0.2 >/dev/null || fail "inner IPv4 ping"
ip netns exec "$A" ping -c 3 -i 0.2 -W 2 fd00:201::2 >/dev/null || fail "inner IPv6 ping"
echo "ping v4 and v6 ok over $N mixed paths"
ip netns exec "$B" "$TOOL" tcp-recv 10.201.0.2 5001 100000000 3 >"$WORK/recv.out" 2>&1 &
rpid=$!
wait_for 50 grep -q listening "$WORK/recv.out" || fail "receiver did not start"
ip netns exec "$A" "$TOOL" tcp-send 10.201.0.2 5001 100000000 3 || fail "sender failed"
wait $rpid || { cat "$WORK/recv.out"; fail "payload not intact over $N paths"; }
echo "$(tail -n 1 "$WORK/recv.out")"
mapfile -t tx < <("$MPT" --socket "$WORK/a.sock" status --json | grep -o '"tx_bytes":[0-9]*' | cut -d: -f2)
[ ${#tx[@]} -eq $N ] || fail "expected $N paths in status, got ${#tx[@]}"
total=0
for b in "${tx[@]}"; do total=$((total + b)); done
for ((i = 0; i < N; i++)); do
  dev=$(( (tx[i] * N * 100 / total) - 100 ))
  dev=${dev#-}
  [ "${tx[i]}" -gt 0 ] || fail "path_$i carried nothing"
  [ "$dev" -le 5 ] || fail "path_$i carried ${tx[i]} of $total bytes: more than 5 % off an equal share"
done
echo "all $N paths carried equal shares (total $total bytes)"
echo "PASS: $N paths, mixed IPv4/IPv6 outer, payload intact"
