#!/usr/bin/env bash
# Session keys renewed every second (rekey_after_s = 1) while a byte-checked TCP stream runs
# over two paths, probes every 20 ms with 3 misses to declare a path dead. The pre-shared key
# comes from `mpt genkey` in a key file (auth_key = file:PATH, mode 0600).
# Checks: both sides completed many handshake rounds and counted no peer restart; no control
# message and no sealed data packet failed to open during the switches (bad_mac / no_session
# and rx_drop_auth stay 0: what was sealed under the old keys still opens, and the peer's
# first packets under the new ones find them); neither path ever left "up"; the stream
# arrived intact.
# Usage: key_renewal_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$@"
add_veth_paths 2 200mbit
k1=$("$MPT" genkey) && k2=$("$MPT" genkey) || fail "mpt genkey failed"
[ ${#k1} -eq 44 ] && [ "$k1" != "$k2" ] || fail "mpt genkey: '$k1' then '$k2'"
(umask 077 && echo "$k1" >"$WORK/psk.key")
AUTH_KEY="file:$WORK/psk.key" write_pair_configs "probe_interval_ms = 20" "dead_misses = 3" "rekey_after_s = 1"
start_mptd_pair
wait_for 50 established a || fail "A: the peer never answered HELLO"
wait_for 50 established b || fail "B: the peer never answered HELLO"
field() {  # SIDE PYTHON-EXPRESSION-ON-j
  "$MPT" --socket "$WORK/$1.sock" status --json | python3 -c "import json,sys; j=json.load(sys.stdin); print($2)"
}
h0=$(field a 'j["control"][0]["session"]["handshakes"]')
ip netns exec "$B" "$TOOL" tcp-recv 10.201.0.2 5201 150000000 9 >"$WORK/recv.out" 2>&1 &
rpid=$!
wait_for 50 grep -q listening "$WORK/recv.out" || fail "receiver did not start"
watch_path_while a 0 ip netns exec "$A" "$TOOL" tcp-send 10.201.0.2 5201 150000000 9
worst0=$WORST
wait $rpid || { cat "$WORK/recv.out"; fail "stream not intact"; }
cat "$WORK/recv.out"
[ "$worst0" = up ] || fail "path 0 went $worst0 during the renewals"
[ "$(path_state a 1)" = up ] || fail "path 1 is $(path_state a 1)"
for side in a b; do
  h=$(field $side 'j["control"][0]["session"]["handshakes"]')
  r=$(field $side 'j["control"][0]["peer_restarts"]')
  bad=$(field $side 'j["control_rx_errors"]["bad_mac"] + j["control_rx_errors"]["no_session"]')
  other=$(field $side 'sum(j["control_rx_errors"].values())')
  dauth=$(field $side 'sum(p["rx_drop_auth"] for p in j["paths"])')
  dreplay=$(field $side 'sum(p["rx_drop_replay"] for p in j["paths"])')
  acc=$(field $side 'sum(p["rx_accepted"] for p in j["paths"])')
  echo "$side: $h handshakes, $r peer restarts, $bad control messages unopened, $other refused in all; data: $acc sealed packets accepted, $dauth unopened, $dreplay replayed"
  [ "$dauth" -eq 0 ] || fail "$side: $dauth data packets did not open during the switches"
  [ "$acc" -gt 0 ] || fail "$side: no sealed data accepted"
  [ "$r" -eq 0 ] || fail "$side counted a peer restart during renewals"
  [ "$bad" -eq 0 ] || fail "$side could not open $bad messages during the switches"
done
echo "a sent again: $(field a 'j["tx"]["repaired"]') repaired, $(field a 'j["tx"]["reinjected"]') reinjected (copies the peer may also have: counted there as replayed)"
h1=$(field a 'j["control"][0]["session"]["handshakes"]')
[ $((h1 - h0)) -ge 3 ] || fail "only $((h1 - h0)) renewals during the stream"
echo "PASS: keys renewed $((h1 - h0)) times during the stream, nothing lost, no path down"
