#!/usr/bin/env bash
# One TCP flow (iperf3, 6 s) through the tunnel over a path with a narrower hop: A and B have
# 1500-byte interfaces, a router namespace between them forwards at most MID_MTU (1400) bytes
# -- the topology of tests/integration/path_mtu_test.sh. Prints the goodput and A's
# tx_send_errors / tx_fragmented / datagram_limit. bench/RESULTS.md "A narrower hop".
# Usage: bench/path_mtu.sh BUILD_DIR [4|6] [TUNNEL_MTU (default auto)]
. "$(dirname "$0")/../tests/integration/lib.sh"
require_root_and_netns
command -v iperf3 >/dev/null || { echo "SKIP: iperf3 is missing" >&2; exit 77; }
init_test_env "$1"
VER=${2:-4}
MID=${MID_MTU:-1400}
add_narrow_hop_path "$MID"
if [ "$VER" = 6 ]; then
  wait_every 0.5 20 ip netns exec "$A" ping -6 -c 1 -W 1 fd10:2::2 || fail "no IPv6 route"
  PATHS_A=("veth0|6|fd10:1::1|fd10:2::2")
  PATHS_B=("veth0|6|fd10:2::2|fd10:1::1")
else
  wait_every 0.5 20 ip netns exec "$A" ping -c 1 -W 1 10.200.2.2 || fail "no IPv4 route"
  PATHS_A=("veth0|4|10.200.1.1|10.200.2.2")
  PATHS_B=("veth0|4|10.200.2.2|10.200.1.1")
fi
TUN_MTU=${3:-auto} write_pair_configs
start_mptd_pair
wait_for 100 established a || fail "A never heard B's answer"
ip netns exec "$B" iperf3 -s -1 -D -p 5201 >/dev/null 2>&1
sleep 0.5
ip netns exec "$A" iperf3 -c 10.201.0.2 -p 5201 -t 6 -J >"$WORK/iperf.json"
python3 -c "import json; d = json.load(open('$WORK/iperf.json')); print('IPv$VER, tunnel mtu ${3:-auto}, hop $MID: %.1f Mbit/s, retransmits %d' % (d['end']['sum_received']['bits_per_second'] / 1e6, d['end']['sum_sent']['retransmits']))"
"$MPT" --socket "$WORK/a.sock" status --json | grep -o '"tx_send_errors":[0-9]*\|"tx_fragmented":[0-9]*\|"datagram_limit":[0-9]*' | tr '\n' ' '
echo
