#!/usr/bin/env bash
# A flood of junk control messages from the peer's own address and port (well-formed headers,
# random session, counter and MAC) must not crowd out the real probes: before admission in
# the path worker, the 1024-entry control ring filled between two drains, the peer's real
# probes and answers were dropped, and the idle path was declared dead within 60 ms.
# Probes every 20 ms, 3 misses; 3 s of flood on path_0 (from ns B, a raw socket sending as
# 10.200.1.2:4754). Checks: path_0 stays up on A the whole time, the junk is counted
# (rx_control_limited), a ping through the tunnel passes afterwards.
# Usage: control_flood_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$@"
add_veth_paths 2
for s in a b; do
  me=1 peer=2 paths=("${PATHS_A[@]}")
  [ "$s" = b ] && me=2 peer=1 paths=("${PATHS_B[@]}")
  AUTH_KEY=integration-test-key write_config "$WORK/$s" "10.201.0.$me/24" "fd00:201::$me/64" \
    "10.201.0.$me" "10.201.0.$peer" "${paths[@]}"
  printf 'probe_interval_ms = 20\ndead_misses = 3\nhold_down_ms = 300\n' >"$WORK/$s/extra"
  sed -i "/^\[connection\]/r $WORK/$s/extra" "$WORK/$s/connections/it.conf"
done
start_mptd_pair
established() { "$MPT" --socket "$WORK/$1.sock" status --json | grep -q '"established":true'; }
wait_for 30 established a || fail "A: the peer never answered HELLO"
health() {
  "$MPT" --socket "$WORK/a.sock" status --json | grep -o '"path":"it/path_0","state":"[a-z-]*"' | sed 's/.*"state":"//; s/"$//'
}
path0_up() { [ "$(health)" = up ]; }
wait_for 30 path0_up || fail "path_0 not up before the flood: $(health)"

ip netns exec "$B" "$TOOL" flood-control 10.200.1.2 4754 10.200.1.1 4754 3 >"$WORK/flood.out" 2>&1 &
fpid=$!
echo $fpid >"$WORK/flood.pid"
worst=up
for _ in $(seq 1 30); do
  st=$(health)
  [ "$st" = up ] || worst=$st
  sleep 0.1
done
wait $fpid || { cat "$WORK/flood.out"; fail "the flood tool failed"; }
cat "$WORK/flood.out"
st=$("$MPT" --socket "$WORK/a.sock" status --json)
limited=$(printf '%s' "$st" | grep -o '"rx_control_limited":[0-9]*' | head -n 1 | cut -d: -f2)
echo "A: path_0 worst state during the flood: $worst; junk over the new-session limit: $limited"
[ "${limited:-0}" -gt 1000 ] || fail "the flood was not counted as over the new-session limit"
if grep -q "path it/path_0 is down" "$WORK/a.log"; then fail "path_0 was declared down during the flood"; fi
[ "$worst" = up ] || fail "path_0 was $worst during the flood"
ip netns exec "$A" ping -c 3 -i 0.2 -W 2 10.201.0.2 >/dev/null || fail "no ping through the tunnel after the flood"
echo "PASS: a control flood from the peer's address leaves the probes flowing"
