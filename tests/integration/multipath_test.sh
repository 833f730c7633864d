#!/usr/bin/env bash
# Three paths between two namespaces, weights 1:2:3.
#
#   ns A                                                     ns B
#   mpt0 10.201.0.1 ------- mptd over 3 paths ------------ mpt0 10.201.0.2
#   veth0 10.200.1.1 =========== path_0 (weight 1) ======== veth0 10.200.1.2
#   veth1 10.200.2.1 =========== path_1 (weight 2) ======== veth1 10.200.2.2
#   veth2 10.200.3.1 =========== path_2 (weight 3) ======== veth2 10.200.3.2
#
# Checks: a 300 MB TCP transfer arrives intact (order restored by the reorder stage); the
# bytes each path carried follow the weights within 5 % (relative); ping in both families.
# Usage: multipath_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns

init_test_env "$@"
BYTES=${BYTES:-300000000}
WEIGHTS=(1 2 3)

paths_a=()
paths_b=()
for i in 0 1 2; do
  ip link add "veth$i" netns "$A" type veth peer name "veth$i" netns "$B"
  ip -n "$A" addr add "10.200.$((i + 1)).1/24" dev "veth$i"
  ip -n "$B" addr add "10.200.$((i + 1)).2/24" dev "veth$i"
  ip -n "$A" link set "veth$i" up
  ip -n "$B" link set "veth$i" up
  paths_a+=("veth$i|4|10.200.$((i + 1)).1|10.200.$((i + 1)).2|${WEIGHTS[$i]}")
  paths_b+=("veth$i|4|10.200.$((i + 1)).2|10.200.$((i + 1)).1|${WEIGHTS[$i]}")
done
ip -n "$A" link set lo up
ip -n "$B" link set lo up
wait_carrier "$A" veth0 veth1 veth2
wait_carrier "$B" veth0 veth1 veth2

# The shares asserted below are those of weighted round-robin by bytes: auto (the default)
# follows measured capacity, which on unshaped veths is only CPU time.
export SCHEDULER=bytes
write_config "$WORK/a" 10.201.0.1/24 fd00:201::1/64 10.201.0.1 10.201.0.2 "${paths_a[@]}"
write_config "$WORK/b" 10.201.0.2/24 fd00:201::2/64 10.201.0.2 10.201.0.1 "${paths_b[@]}"
start_mptd_pair

ip netns exec "$A" ping -c 3 -i 0.2 -W 2 10.201.0.2 >/dev/null || { "$MPT" --socket "$WORK/b.sock" status --json | grep -o "\"tx\":{[^}]*}"; fail "inner IPv4 ping"; }
ip netns exec "$A" ping -c 3 -i 0.2 -W 2 fd00:201::2 >/dev/null || fail "inner IPv6 ping"
echo "ping v4 and v6 ok"

before=$("$MPT" --socket "$WORK/a.sock" status --json)
ip netns exec "$B" "$TOOL" tcp-recv 10.201.0.2 5001 "$BYTES" 5 >"$WORK/recv.out" 2>&1 &
rpid=$!
wait_for 50 grep -q listening "$WORK/recv.out" || fail "receiver did not start"
ip netns exec "$A" "$TOOL" tcp-send 10.201.0.2 5001 "$BYTES" 5 || fail "sender failed"
wait $rpid || { cat "$WORK/recv.out"; fail "payload not intact over 3 paths"; }
echo "$(tail -n 1 "$WORK/recv.out")"
after=$("$MPT" --socket "$WORK/a.sock" status --json)

# Per-path tx_bytes of A during the transfer, in path order.
tx_bytes() { printf '%s' "$1" | grep -o '"tx_bytes":[0-9]*' | cut -d: -f2; }
mapfile -t b0 < <(tx_bytes "$before")
mapfile -t b1 < <(tx_bytes "$after")
[ ${#b1[@]} -eq 3 ] || fail "expected 3 paths in status, got ${#b1[@]}"
total=0
for i in 0 1 2; do total=$((total + b1[i] - b0[i])); done
wsum=6
for i in 0 1 2; do
  sent=$((b1[i] - b0[i]))
  # share and expected share in units of 1/100000
  share=$((sent * 100000 / total))
  want=$((WEIGHTS[i] * 100000 / wsum))
  dev=$(( (share > want ? share - want : want - share) * 100 / want ))
  printf 'path_%d: %d bytes, share %d.%03d %% (weight share %d.%03d %%), off by %d %%\n' \
    "$i" "$sent" $((share / 1000)) $((share % 1000)) $((want / 1000)) $((want % 1000)) "$dev"
  [ "$dev" -le 5 ] || fail "path_$i share is more than 5 % off its weight share"
done
status=$("$MPT" --socket "$WORK/b.sock" status --json)
echo "B reorder: in_order $(json_counter "$status" in_order), reordered $(json_counter "$status" reordered), late $(json_counter "$status" late), lost $(json_counter "$status" lost)"
echo "PASS: 3 paths, payload intact, shares follow weights"
