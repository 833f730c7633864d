#!/usr/bin/env bash
# A path whose MTU shrinks beyond the first hop (PPPoE, an LTE core, a tunnel in the path):
# the interfaces on both ends are 1500 bytes, so the automatic tunnel MTU fills 1500-byte
# datagrams, but the router between them forwards at most MID_MTU (1400) bytes.
#
#   ns A  veth0 (1500) ==== r0 [ns R: forwards, MID_MTU towards each side] r1 ==== veth0 (1500)  ns B
#         10.200.1.1 / fd10:1::1                                        10.200.2.2 / fd10:2::2
#
# IPv4 path: full-size pings with DF inside the tunnel pass, a byte-checked TCP stream
#   arrives, R fragments the outer datagrams, and A neither learns a path MTU nor fails a
#   send; a forged ICMP "fragmentation needed" changes nothing. (Before mpt sent without DF, the first single full-size datagram drew an ICMP
#   "fragmentation needed", A's kernel then refused every GSO batch with EMSGSIZE for ten
#   minutes and the stream stalled: 111 send errors, nothing delivered.)
# IPv6 path (routers never fragment): R answers Packet Too Big, A's kernel learns 1400 and
#   refuses the GSO batches; mptd sends the refused ones one datagram at a time for the
#   kernel to fragment (tx_fragmented, the log says why), learns the limit (datagram_limit:
#   1400 - 48) and cuts TCP super-packets to fit from then on: a second stream fragments
#   nothing. Twice: plain, and sealed with a GRE key and checksum (32 bytes more per segment).
# Usage: path_mtu_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$@"
MID=${MID_MTU:-1400}
add_narrow_hop_path "$MID"
wait_every 0.5 20 ip netns exec "$A" ping -c 1 -W 1 10.200.2.2 || fail "no IPv4 route A -> B"
wait_every 0.5 20 ip netns exec "$A" ping -6 -c 1 -W 1 fd10:2::2 || fail "no IPv6 route A -> B"

snmp() {  # ns proto field (/proc/net/snmp)
  ip netns exec "$1" awk -v p="$2:" -v k="$3" '$1 == p { if (!n) { for (i = 1; i <= NF; i++) if ($i == k) c = i; n = 1 } else print $c }' /proc/net/snmp
}
snmp6() {  # ns field (/proc/net/snmp6)
  ip netns exec "$1" awk -v k="$2" '$1 == k { print $2 }' /proc/net/snmp6
}
path_sum() {  # side key: summed over the paths of `mpt status --json`
  "$MPT" --socket "$WORK/$1.sock" status --json | grep -o "\"$2\":[0-9]*" | cut -d: -f2 |
    awk '{ s += $1 } END { print s + 0 }'
}
stream() {  # PORT BYTES SEED: byte-checked, bounded in time
  ip netns exec "$B" timeout 90 "$TOOL" tcp-recv 10.201.0.2 "$1" "$2" "$3" >"$WORK/recv.out" 2>&1 &
  local rpid=$!
  wait_for 50 grep -q listening "$WORK/recv.out" || fail "receiver did not start"
  ip netns exec "$A" timeout 90 "$TOOL" tcp-send 10.201.0.2 "$1" "$2" "$3" >/dev/null ||
    fail "the stream did not get through a path with a $MID-byte hop (sender failed or timed out)"
  wait $rpid || { cat "$WORK/recv.out" >&2; fail "stream not intact"; }
  tail -n 1 "$WORK/recv.out"
}
stop_pair() {
  local s
  for s in a b; do
    kill -0 "$(cat "$WORK/$s.pid")" 2>/dev/null || fail "mptd $s is not running (crashed?)"
    kill "$(cat "$WORK/$s.pid")"
  done
  for s in a b; do wait_for 50 sh -c "! kill -0 $(cat "$WORK/$s.pid") 2>/dev/null" || fail "mptd $s did not stop"; done
  rm -f "$WORK"/a.sock "$WORK"/b.sock
}

# --- IPv4 ---------------------------------------------------------------------------------
PATHS_A=("veth0|4|10.200.1.1|10.200.2.2")
PATHS_B=("veth0|4|10.200.2.2|10.200.1.1")
TUN_MTU=auto write_pair_configs
start_mptd_pair
wait_for 100 established a || fail "A never heard B's answer"
wait_for 100 established b || fail "B never heard A's answer"
mtu=$(ip -n "$A" -o link show mpt0 | grep -o 'mtu [0-9]*' | cut -d' ' -f2)
[ "$mtu" -gt $((MID - 32)) ] || fail "the tunnel mtu $mtu fits the $MID-byte hop already: nothing tested"
frag_r=$(snmp "$R" Ip FragOKs)
# Single full-size datagrams first: with DF they drew the ICMP that stalled the path.
ip netns exec "$A" ping -c 3 -i 0.2 -W 2 -M do -s $((mtu - 28)) 10.201.0.2 2>&1 | grep -q " 3 received" ||
  fail "IPv4: full-size pings (DF inside the tunnel) over a $MID-byte hop did not all pass"
out=$(stream 5001 20000000 21)
echo "IPv4: $out"
frags=$(( $(snmp "$R" Ip FragOKs) - frag_r ))
errors=$(path_sum a tx_send_errors)
echo "IPv4: tunnel mtu $mtu, outer datagrams fragmented by R: $frags, send errors on A: $errors, A's route: $(ip -n "$A" route get 10.200.2.2 | tr -s ' \n' ' ')"
[ "$frags" -gt 1000 ] || fail "R fragmented $frags outer datagrams: the full-size ones did not cross it"
[ "$errors" -eq 0 ] || fail "IPv4: $errors sends failed"
ip -n "$A" route get 10.200.2.2 | grep -q " mtu " && fail "A learned a path MTU (DF was set)"
[ "$(path_sum a tx_fragmented)" -eq 0 ] || fail "IPv4 needed the one-datagram fallback"
# A forged "fragmentation needed" (mtu 1200) quoting A's datagram to B, from R (any host can
# send one): it reaches A, whose kernel ignores it for mptd's sockets (with the default it
# took the MTU for 10.200.2.2 and every GSO send failed) -- the next stream as before.
unreach_a=$(snmp "$A" Icmp InDestUnreachs)
ip netns exec "$R" python3 - 10.200.1.1 10.200.2.2 4754 4754 1200 <<'PY'
import socket, struct, sys
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF
src, dst, sport, dport, mtu = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 1500, 1, 0x4000, 63, 17, 0,
                 socket.inet_aton(src), socket.inet_aton(dst))
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
msg = struct.pack("!BBHHH", 3, 4, 0, 0, mtu) + ip + struct.pack("!HHHH", sport, dport, 1480, 0)
msg = msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]
socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).sendto(msg, (src, 0))
PY
icmp_arrived() { [ "$(snmp "$A" Icmp InDestUnreachs)" -gt "$unreach_a" ]; }
wait_for 20 icmp_arrived || fail "the forged ICMP did not reach A: nothing tested"
ip -n "$A" route get 10.200.2.2 | grep -q " mtu " && fail "A's kernel took the forged path MTU"
out=$(stream 5003 20000000 23)
echo "IPv4 after a forged ICMP frag-needed (A's route: $(ip -n "$A" route get 10.200.2.2 | tr -s ' \n' ' ')): $out"
[ "$(path_sum a tx_fragmented)" -eq 0 ] || fail "a forged ICMP made mptd fragment"
[ "$(path_sum a tx_send_errors)" -eq 0 ] || fail "a forged ICMP made sends fail"
stop_pair

# --- IPv6 ---------------------------------------------------------------------------------
# v6_phase LABEL PORT [CONNECTION_LINE...]: plain, then sealed with a GRE key and checksum
# (the cut must count every header the segments carry). A's kernel keeps the learned MTU
# across the restart: the second phase's first batches are refused at once.
v6_phase() {
local label=$1 port=$2
shift 2
PATHS_A=("veth0|6|fd10:1::1|fd10:2::2")
PATHS_B=("veth0|6|fd10:2::2|fd10:1::1")
TUN_MTU=auto write_pair_configs "$@"
start_mptd_pair
wait_for 100 established a || fail "A never heard B's answer (IPv6 $label)"
wait_for 100 established b || fail "B never heard A's answer (IPv6 $label)"
mtu=$(ip -n "$A" -o link show mpt0 | grep -o 'mtu [0-9]*' | cut -d' ' -f2)
reasm_b=$(snmp6 "$B" Ip6ReasmOKs)
# The first full-size datagrams are lost with a Packet Too Big (no router fragments IPv6);
# the pings only teach A's kernel the path MTU, their result is not asserted.
ip netns exec "$A" ping -c 3 -i 0.2 -W 1 -s $((mtu - 28)) 10.201.0.2 >/dev/null 2>&1 || true
out=$(stream "$port" 20000000 22)
echo "IPv6 $label: $out"
fragmented=$(path_sum a tx_fragmented)
errors=$(path_sum a tx_send_errors)
reasm=$(( $(snmp6 "$B" Ip6ReasmOKs) - reasm_b ))
echo "IPv6 $label: A's route: $(ip -n "$A" -6 route get fd10:2::2 | tr -s ' \n' ' '), datagrams sent one at a time: $fragmented, reassembled by B: $reasm, send errors: $errors"
ip -n "$A" -6 route get fd10:2::2 | grep -q " mtu $MID " || fail "A did not learn the $MID-byte path MTU: nothing tested"
limit=$(path_sum a datagram_limit)
echo "IPv6 $label: datagram limit learned by A: $limit"
# The batches already built when the kernel first refused one go fragmented; from then on
# the reader cuts TCP to the learned limit (1400 - 40 - 8).
[ "$fragmented" -gt 0 ] || fail "no batch was refused: nothing tested"
[ "$reasm" -gt 0 ] || fail "B reassembled no datagram"
[ "$errors" -eq 0 ] || fail "IPv6 $label: $errors sends failed"
[ "$limit" -eq $((MID - 48)) ] || fail "A's datagram_limit is $limit, want $((MID - 48))"
[ "$fragmented" -lt 1000 ] || fail "$fragmented datagrams fragmented: TCP was not cut to the path MTU"
grep -q "larger than the path carries" "$WORK/a.log" || fail "A's log does not say why it fragments"
grep -q "TCP is cut to fit" "$WORK/a.log" || fail "A's log does not say it cuts TCP to fit"
before=$fragmented
out=$(stream $((port + 1)) 20000000 24)
echo "IPv6 $label, a second stream: $out"
fragmented=$(path_sum a tx_fragmented)
[ "$fragmented" -eq "$before" ] || fail "IPv6 $label: the second stream fragmented $((fragmented - before)) datagrams"
stop_pair
}
v6_phase plain 5002
AUTH_KEY=path-mtu-test-key-0001 v6_phase "sealed, GRE key and checksum" 5012 "gre_key = 0x1234" "gre_checksum = 1"
echo "PASS: a path with a $MID-byte hop carries the tunnel over IPv4 (router fragments) and IPv6 (sender fragments)"
