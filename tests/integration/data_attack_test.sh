#!/usr/bin/env bash
# Attacks on a keyed connection's data (docs/protocol.md, "Sealed data"), two paths, and what
# the wire shows. A sends B pings with a known payload pattern while both namespaces record:
# tcpdump on B's path veth0 (the wire) and on B's mpt0 (inside the tunnel), and a raw socket
# (mpt-testtool capture-control) that keeps every datagram of protocol 0x88B5.
# Checks:
#  1. the pattern is inside the tunnel (mpt0) and nowhere on the wire; tshark dissects every
#     outer packet as GRE-in-UDP (port 4754 decoded as GRE), none malformed;
#  2. plain data spoofed from A's path address (inner source A's own tunnel address, which
#     the filter allows) is never delivered and counted (rx_drop_unsealed);
#  3. recorded sealed packets sent again: never delivered twice, counted (rx_drop_replay);
#  4. ... with one byte flipped, or cut short: never delivered, counted (rx_drop_auth);
#  5. the tunnel still carries a byte-checked TCP stream, both paths up.
# Usage: data_attack_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$@"
command -v tshark >/dev/null && command -v tcpdump >/dev/null ||
  { echo "SKIP: needs tshark and tcpdump"; exit 77; }
add_veth_paths 2 200mbit
AUTH_KEY=data-attack-key-0001 write_pair_configs "probe_interval_ms = 50"
start_mptd_pair
wait_for 50 established a || fail "A: the peer never answered HELLO"
wait_for 50 established b || fail "B: the peer never answered HELLO"
sum_b() {  # COUNTER -> its sum over B's paths
  "$MPT" --socket "$WORK/b.sock" status --json |
    python3 -c "import json,sys; print(sum(p['$1'] for p in json.load(sys.stdin)['paths']))"
}
PATTERN=4d50542d504c41494e544558542d2d21  # "MPT-PLAINTEXT--!"

# 1. What the wire shows.
ip netns exec "$B" tcpdump -i veth0 -w "$WORK/wire.pcap" -U udp port 4754 >/dev/null 2>&1 &
tw=$!
ip netns exec "$B" tcpdump -i mpt0 -w "$WORK/inner.pcap" -U icmp >/dev/null 2>&1 &
ti=$!
ip netns exec "$B" "$TOOL" capture-control 4754 3 "$WORK/sealed.txt" >/dev/null &
cpid=$!
sleep 0.5
ip netns exec "$A" ping -c 20 -i 0.05 -s 1000 -p "$PATTERN" 10.201.0.2 >/dev/null || fail "ping through the tunnel"
wait $cpid
sleep 0.3
kill $tw $ti
wait $tw $ti 2>/dev/null || true
python3 - "$WORK/wire.pcap" "$WORK/inner.pcap" "$PATTERN" <<'PY' || fail "plaintext check"
import sys
wire, inner, pat = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read(), bytes.fromhex(sys.argv[3])
print(f"  pattern inside the tunnel: {inner.count(pat)} times; on the wire: {wire.count(pat)} times")
sys.exit(0 if inner.count(pat) > 0 and wire.count(pat) == 0 else 1)
PY
total=$(tshark -r "$WORK/wire.pcap" -d udp.port==4754,gre 2>/dev/null | wc -l)
gre=$(tshark -r "$WORK/wire.pcap" -d udp.port==4754,gre -Y gre 2>/dev/null | wc -l)
bad=$(tshark -r "$WORK/wire.pcap" -d udp.port==4754,gre -Y _ws.malformed 2>/dev/null | wc -l)
echo "  tshark: $total packets on the wire, $gre dissected as GRE, $bad malformed"
[ "$total" -gt 20 ] && [ "$gre" -eq "$total" ] && [ "$bad" -eq 0 ] || fail "tshark: $gre of $total GRE, $bad malformed"
echo "  recorded $(wc -l <"$WORK/sealed.txt") datagrams of protocol 0x88B5 at B (control messages, and the 20 sealed pings)"

listen() {  # PORT SECONDS -> a UDP listener on B, output in $WORK/count.out
  ip netns exec "$B" "$TOOL" udp-count 10.201.0.2 "$1" "$2" >"$WORK/count.out" &
  LPID=$!
  wait_for 50 grep -q listening "$WORK/count.out" || fail "listener did not start"
}

replay_both() {  # MUTATION: what was recorded on each path, sent again from A's address there
  ip netns exec "$A" "$TOOL" replay-control "$WORK/sealed.txt" 10.200.1.2 10.200.1.1 10.200.1.2 4754 "$1" >/dev/null
  ip netns exec "$A" "$TOOL" replay-control "$WORK/sealed.txt" 10.200.2.2 10.200.2.1 10.200.2.2 4754 "$1" >/dev/null
}

# 2. Plain data from A's address: refused, counted.
u0=$(sum_b rx_drop_unsealed)
listen 6101 2
ip netns exec "$A" "$TOOL" spoof-data 10.200.1.1 10.200.1.2 4754 10.201.0.1 10.201.0.2 6101 200 >/dev/null
wait $LPID
got=$(sed -n 's/received //p' "$WORK/count.out")
u1=$(sum_b rx_drop_unsealed)
echo "  plain data spoofed from the peer's address: $got delivered, $((u1 - u0)) counted as rx_drop_unsealed"
[ "$got" -eq 0 ] && [ $((u1 - u0)) -eq 200 ] || fail "spoofed plain data: $got delivered, $((u1 - u0)) counted"

# 3. Replays of recorded sealed packets (data among them: the 20 pings): counted, never delivered.
r0=$(sum_b rx_drop_replay)
p0=$(ip netns exec "$B" awk '/^Icmp:/ {n++; if (n == 2) print $2}' /proc/net/snmp)
replay_both none
sleep 0.3
r1=$(sum_b rx_drop_replay)
p1=$(ip netns exec "$B" awk '/^Icmp:/ {n++; if (n == 2) print $2}' /proc/net/snmp)
echo "  sealed packets sent again: $((r1 - r0)) counted as rx_drop_replay, $((p1 - p0)) ICMP delivered again"
[ $((r1 - r0)) -ge 20 ] || fail "replayed sealed data was not counted ($((r1 - r0)))"
[ "$p1" -eq "$p0" ] || fail "replayed pings were delivered again ($((p1 - p0)))"

# 4. Flipped and truncated: counted as rx_drop_auth.
a0=$(sum_b rx_drop_auth)
replay_both flip
a1=$(sum_b rx_drop_auth)
replay_both truncate
a2=$(sum_b rx_drop_auth)
p2=$(ip netns exec "$B" awk '/^Icmp:/ {n++; if (n == 2) print $2}' /proc/net/snmp)
echo "  forged: $((a1 - a0)), truncated: $((a2 - a1)) counted as rx_drop_auth; $((p2 - p1)) ICMP delivered"
[ $((a1 - a0)) -ge 20 ] && [ $((a2 - a1)) -ge 20 ] || fail "forged or truncated data not counted"
[ "$p2" -eq "$p1" ] || fail "forged data was delivered"

# 5. Still a working tunnel.
[ "$(path_state b 0)" = up ] && [ "$(path_state b 1)" = up ] || fail "B's paths: $(path_state b 0) / $(path_state b 1)"
checked_stream 5401 20000000 11
echo "PASS: no plaintext on the wire, every outer packet GRE-in-UDP; spoofed, replayed, forged and truncated data refused and counted; the tunnel carries traffic"
