#!/usr/bin/env bash
# mpt reload with structural changes, in the middle of a TCP transfer.
#
#   ns A                                               ns B
#   mpt0 10.201.0.1 ------ mptd over 2..3 paths ----- mpt0 10.201.0.2
#   veth0 10.200.1.1 ====== path (tbf 300M) ========= veth0 10.200.1.2   <- removed by reload 2
#   veth1 10.200.2.1 ====== path (tbf 300M) ========= veth1 10.200.2.2   <- stays throughout
#   veth2 10.200.3.1 ====== path (tbf 300M) ========= veth2 10.200.3.2   <- added by reload 1
#
# Checks: reload 1 adds the veth2 path on both sides and it carries traffic; reload 2
# removes the veth0 path (veth1 and veth2 become path_0 and path_1); the transfer running
# across both reloads arrives intact; the veth1 path is never disturbed (its counters keep
# growing, it never leaves "up"); reloads 3 and 4 add and remove a second connection (with
# its route); a TUN change is refused and changes nothing.
# Usage: reload_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns

init_test_env "$@"
BYTES=${BYTES:-400000000}

add_veth_paths 3 300mbit

# configure SIDE VETH_INDEX...: the side's config with a path on each listed veth.
configure() {
  local side=$1 own peer i
  shift
  [ "$side" = a ] && { own=1; peer=2; } || { own=2; peer=1; }
  local paths=()
  for i in "$@"; do paths+=("veth$i|4|10.200.$((i + 1)).$own|10.200.$((i + 1)).$peer"); done
  AUTH_KEY=reload-test-key-0001 write_config "$WORK/$side.new" "10.201.0.$own/24" "fd00:201::$own/64" \
    "10.201.0.$own" "10.201.0.$peer" "${paths[@]}"
  # A sanitizer build pauses for reloads several times longer: 10 misses there, not 3.
  local misses=3
  [ "$SANITIZED" -eq 1 ] && misses=10
  sed -i "/^\[connection\]/a probe_interval_ms = 20\nhold_down_ms = 200\ndead_misses = $misses" \
    "$WORK/$side.new/connections/it.conf"
  mkdir -p "$WORK/$side/connections"
  mv "$WORK/$side.new/interface.conf" "$WORK/$side/interface.conf"
  mv "$WORK/$side.new/connections/it.conf" "$WORK/$side/connections/it.conf"
  rm -rf "$WORK/$side.new"
}
configure a 0 1
configure b 0 1
"$MPTD" --config "$WORK/a" --check >/dev/null || fail "config rejected"
start_mptd_pair

# path FIELD of the path on veth$2 in side $1's status (python: robust against renumbering).
path_field() {  # side veth_index field
  "$MPT" --socket "$WORK/$1.sock" status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
paths = [p for p in s["paths"] if p["interface"] == "veth" + sys.argv[1]]
if not paths:
    print("absent"); sys.exit(0)
p = paths[0]
h = next(h for h in s["health"] if h["path"] == p["name"])
print(p[sys.argv[2]] if sys.argv[2] in p else h[sys.argv[2]])' "$2" "$3"
}
established() { "$MPT" --socket "$WORK/$1.sock" status --json | grep -q '"established":true'; }
wait_for 30 established a || fail "A: the peer never answered HELLO"
wait_for 30 established b || fail "B: the peer never answered HELLO"

ip netns exec "$B" "$TOOL" tcp-recv 10.201.0.2 5001 "$BYTES" 30 >"$WORK/recv.out" 2>&1 &
rpid=$!
wait_for 50 grep -q listening "$WORK/recv.out" || fail "receiver did not start"
ip netns exec "$A" "$TOOL" tcp-send 10.201.0.2 5001 "$BYTES" 30 &
spid=$!
sleep 1
t0=$(date +%s%3N)
keep_tx0=$(path_field a 1 tx_bytes)

# Reload 1: add a path on veth2, both sides.
configure a 0 1 2
configure b 0 1 2
"$MPT" --socket "$WORK/a.sock" reload >"$WORK/reload1.out" || fail "reload 1 on A: $(cat "$WORK/reload1.out")"
"$MPT" --socket "$WORK/b.sock" reload >"$WORK/reload1b.out" || fail "reload 1 on B: $(cat "$WORK/reload1b.out")"
cat "$WORK/reload1.out"
grep -q "added path it/path_2" "$WORK/reload1.out" || fail "reload 1 did not add path_2"
up2() { [ "$(path_field a 2 state)" = up ] && [ "$(path_field b 2 state)" = up ]; }
wait_for 50 up2 || fail "the added path did not come up (A: $(path_field a 2 state), B: $(path_field b 2 state))"
carries2() { [ "$(path_field a 2 tx_bytes)" -gt 1000000 ]; }
wait_for $((SANITIZED ? 200 : 50)) carries2 || fail "the added path carries no traffic ($(path_field a 2 tx_bytes) bytes)"
echo "added path on veth2 is up and carried $(path_field a 2 tx_bytes) bytes"

# Reload 2: remove the path on veth0 (the others are renumbered), both sides.
configure a 1 2
configure b 1 2
"$MPT" --socket "$WORK/a.sock" reload >"$WORK/reload2.out" || fail "reload 2 on A: $(cat "$WORK/reload2.out")"
"$MPT" --socket "$WORK/b.sock" reload >"$WORK/reload2b.out" || fail "reload 2 on B: $(cat "$WORK/reload2b.out")"
cat "$WORK/reload2.out"
grep -q "removed path it/path_0" "$WORK/reload2.out" || fail "reload 2 did not remove path_0"
[ "$(path_field a 0 name)" = absent ] || fail "the veth0 path is still in A's status"
[ "$(path_field a 1 name)" = it/path_0 ] || fail "the veth1 path was not renumbered path_0"

wait $spid || fail "sender failed across the reloads"
wait $rpid || { cat "$WORK/recv.out"; fail "payload not intact across the reloads"; }
echo "$(tail -n 1 "$WORK/recv.out")"

# The path that stayed was never disturbed: same counters (growing), never down.
keep_tx1=$(path_field a 1 tx_bytes)
[ "$keep_tx1" -gt "$keep_tx0" ] || fail "the kept path's counters did not carry on ($keep_tx0 -> $keep_tx1)"
elapsed=$(( $(date +%s%3N) - t0 ))
for side in a b; do
  [ "$(path_field $side 1 state)" = up ] || fail "the kept path is not up on $side"
  since=$(path_field $side 1 last_change_ms_ago)
  [ "$since" -ge "$elapsed" ] || fail "the kept path changed state during the reloads on $side ($since ms ago, reloads began $elapsed ms ago)"
done
echo "kept path (veth1): $keep_tx0 -> $keep_tx1 bytes sent, up throughout (no state change in the last $elapsed ms)"
ip netns exec "$A" ping -c 3 -i 0.2 -W 2 10.201.0.2 >/dev/null || fail "no traffic after the reloads"
echo "data plane pauses: A $(grep -o 'paused for [0-9.]* ms' "$WORK/a.log" | cut -d' ' -f3 | paste -sd' '), B $(grep -o 'paused for [0-9.]* ms' "$WORK/b.log" | cut -d' ' -f3 | paste -sd' ') (ms)"
status=$("$MPT" --socket "$WORK/b.sock" status --json)
echo "B reorder over the whole run: lost $(json_counter "$status" lost), late $(json_counter "$status" late); A tx dropped for want of a path: $(json_counter "$("$MPT" --socket "$WORK/a.sock" status --json)" drop_no_path)"

# Reload 3: a second connection "two" (port 4755, one path on veth2) to an address of the
# peer's loopback; its route appears on A and it carries the ping's requests.
ip -n "$B" addr add 10.210.0.2/32 dev lo
ip -n "$A" addr add 10.211.0.1/32 dev lo
second() {  # side own_outer peer_outer peer_inner
  cat >"$WORK/$1/connections/two.conf" <<CONF
[connection]
name = two
ip_ver = 4
ip_local = 10.201.0.$2
ip_remote = $4
local_port = 4755
remote_port = 4755
path_count = 1
auth_key = second-key-for-reload
probe_interval_ms = 20
hold_down_ms = 200
[path_0]
interface_name = veth2
ip_ver = 4
private_ipaddr = 10.200.3.$2
remote_ipaddr = 10.200.3.$3
CONF
}
second a 1 2 10.210.0.2
second b 2 1 10.211.0.1
"$MPT" --socket "$WORK/a.sock" reload >"$WORK/reload3.out" || fail "reload 3 on A: $(cat "$WORK/reload3.out")"
"$MPT" --socket "$WORK/b.sock" reload >"$WORK/reload3b.out" || fail "reload 3 on B: $(cat "$WORK/reload3b.out")"
grep -q "added connection two" "$WORK/reload3.out" || fail "reload 3 did not add connection two: $(cat "$WORK/reload3.out")"
ip -n "$A" route show 10.210.0.2 | grep -q mpt0 || fail "no route to connection two's peer on A"
two_up() { "$MPT" --socket "$WORK/a.sock" status --json | grep -q '"path":"two/path_0","state":"up"'; }
wait_for 50 two_up || fail "connection two's path did not come up"
# From A's own address for connection two (10.211.0.1, B's ip_remote for it): B's inner
# source filter takes from "two" only what "two"'s peer may send.
ip netns exec "$A" ping -I 10.211.0.1 -c 3 -i 0.2 -W 2 10.210.0.2 >/dev/null || fail "no ping through connection two"
two_rx=$("$MPT" --socket "$WORK/b.sock" status --json | python3 -c '
import json, sys
print(next(p["rx_packets"] for p in json.load(sys.stdin)["paths"] if p["name"] == "two/path_0"))')
[ "$two_rx" -ge 3 ] || fail "connection two received $two_rx packets on B"
echo "connection two added: route on A, path up, ping through it ($two_rx packets received on B)"

# Reload 4: connection two removed again; its route goes with it; "it" keeps working.
rm "$WORK/a/connections/two.conf" "$WORK/b/connections/two.conf"
"$MPT" --socket "$WORK/a.sock" reload >"$WORK/reload4.out" || fail "reload 4 on A: $(cat "$WORK/reload4.out")"
"$MPT" --socket "$WORK/b.sock" reload >/dev/null || fail "reload 4 on B"
grep -q "removed connection two" "$WORK/reload4.out" || fail "reload 4 did not remove connection two"
[ -z "$(ip -n "$A" route show 10.210.0.2)" ] || fail "connection two's route is still there"
"$MPT" --socket "$WORK/a.sock" status --json | grep -q '"two/path_0"' && fail "connection two still in status"
ip netns exec "$A" ping -c 2 -i 0.2 -W 2 10.201.0.2 >/dev/null || fail "connection it broke with reload 4"
echo "connection two removed with its route; connection it unaffected"

# A TUN change needs a restart: refused, nothing applied.
sed -i 's/^mtu = .*/mtu = 1400/' "$WORK/a/interface.conf"
"$MPT" --socket "$WORK/a.sock" reload >"$WORK/reload3.out" && fail "a TUN change was accepted"
grep -q "restart mptd" "$WORK/reload3.out" || fail "TUN refusal did not say why: $(cat "$WORK/reload3.out")"
echo "TUN change refused: $(head -n 1 "$WORK/reload3.out")"
echo "PASS: paths added and removed by reload during a transfer; payload intact; kept path undisturbed"
