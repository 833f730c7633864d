#!/usr/bin/env bash
# The TUN writer delivers everything its reorder stage releases at once. Before the fix, a
# release of more packets than it had free output buffers (512) -- a gap's timeout, a flush,
# a resync, one spoofed far-ahead number -- wrote the first ones and dropped the rest
# (tun_write_drop_no_buffer) whenever they could not be coalesced (UDP, interleaved flows).
# From ns B, spoofed as the peer's paths (raw socket): 3000 inner UDP datagrams on path_0
# behind one missing number that path_1 has not passed, so they are all held until the max
# delay (500 ms) and then released in one step. Checks: a UDP socket in ns A receives all
# of them, and the writer counted no drop for want of a buffer.
# Usage: burst_release_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$@"
add_veth_paths 2
write_pair_configs "max_buffdelay_msec = 500"
start_mptd_pair
wait_for 30 established a || fail "A: the peer never answered HELLO"
sleep 1  # let the TUN devices' own first packets (IPv6 neighbour discovery) pass
COUNT=3000
ip netns exec "$A" "$TOOL" udp-count 10.201.0.1 5555 4 >"$WORK/count.out" 2>&1 &
cpid=$!
echo $cpid >"$WORK/count.pid"
wait_for 50 grep -q listening "$WORK/count.out" || fail "UDP receiver did not start"
ip netns exec "$B" "$TOOL" burst-udp 10.200.1.2 4754 10.200.1.1 4754 10.200.2.2 10.200.2.1 \
  $COUNT 10.201.0.2 10.201.0.1 5555 || fail "burst tool failed"
wait $cpid || fail "UDP receiver failed"
got=$(awk '/received/ {print $2}' "$WORK/count.out")
st=$("$MPT" --socket "$WORK/a.sock" status --json)
nobuf=$(printf '%s' "$st" | grep -o '"rx":{[^}]*}' | grep -o '"drop_no_buffer":[0-9]*' | cut -d: -f2)
echo "A received $got of $((COUNT + 1)) datagrams (all but one released at once); dropped for want of an output buffer: $nobuf"
"$MPT" --socket "$WORK/a.sock" status | grep -E "reorder:|tun write" || true
[ "${nobuf:-1}" -eq 0 ] || fail "$nobuf packets dropped for want of an output buffer"
# COUNT behind the gap, plus the one with the first number (its repeats are duplicates).
[ "${got:-0}" -eq $((COUNT + 1)) ] || fail "$got of $((COUNT + 1)) datagrams delivered"
echo "PASS: a release of $COUNT held packets is delivered whole"
