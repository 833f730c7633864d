#!/usr/bin/env bash
# Inner packets longer than the tunnel MTU (a peer with a larger MTU, or a spoofer) must not
# pin receive buffers while the reorder stage holds them. Before the fix each one held a 64 KB
# receive buffer of its path by reference for up to the max delay: a stream of them behind
# gaps drained path_0's pool (512 buffers), its probes found no buffer and the path was
# declared dead. Now they are refused and counted (drop_too_big).
# From ns B, spoofed as the peer's paths (raw socket, 10.200.1.2:4754 and 10.200.2.2:4754):
# 6000 datagrams with 3000-byte inner packets on path_0, a gap before every other one, and
# now and then a small datagram with the first number on path_1 (so that path_1 has not passed
# the gaps and they wait up to max_buffdelay_msec = 1000). Veth MTU 9000 so they fit.
# Usage: oversized_hold_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$@"
add_veth_paths 2
for ns in "$A" "$B"; do ip -n "$ns" link set veth0 mtu 9000; done
write_pair_configs "probe_interval_ms = 20" "dead_misses = 3" "hold_down_ms = 300" \
  "max_buffdelay_msec = 1000"
start_mptd_pair
wait_for 30 established a || fail "A: the peer never answered HELLO"
health() { path_state a 0; }
path0_up() { [ "$(health)" = up ]; }
wait_for 30 path0_up || fail "path_0 not up before the flood: $(health)"

downs_before=$(grep -c "path it/path_0 is down" "$WORK/a.log" || true)  # at start, before B ran
watch_path_while a 0 ip netns exec "$B" "$TOOL" flood-oversized 10.200.1.2 4754 10.200.1.1 4754 \
  6000 3000 10.200.2.2 10.200.2.1
worst=$WORST
st=$("$MPT" --socket "$WORK/a.sock" status --json)
too_big=$(printf '%s' "$st" | grep -o '"drop_too_big":[0-9]*' | sed -n 2p | cut -d: -f2)
nobufs=$(printf '%s' "$st" | grep -o '"rx_nobufs":[0-9]*' | head -n 1 | cut -d: -f2)
echo "A: path_0 worst state $worst; inner packets refused as too big: $too_big; path_0 out of receive buffers: $nobufs times"
if [ "$(grep -c "path it/path_0 is down" "$WORK/a.log" || true)" -gt "$downs_before" ]; then fail "path_0 was declared down: its receive buffers were pinned"; fi
[ "$worst" = up ] || fail "path_0 was $worst during the flood"
[ "${too_big:-0}" -ge 5000 ] || fail "the oversized inner packets were not refused and counted"
ip netns exec "$A" ping -c 3 -i 0.2 -W 2 10.201.0.2 >/dev/null || fail "no ping through the tunnel afterwards"
echo "PASS: oversized inner packets are refused, never pinned"
