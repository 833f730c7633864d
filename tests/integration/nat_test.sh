#!/usr/bin/env bash
# A client behind NAT on both paths, a server that does not know the client's addresses.
#
#   A (client) c1 10.1.1.2 -- N1 (nftables masquerade, RATE each way) -- 172.16.1.2 s1  B (server)
#              c2 10.1.2.2 -- N2 (nftables masquerade, RATE each way) -- 172.16.2.2 s2
#
# The server's paths have no remote_ipaddr: it learns the client's (NAT) address and port from
# the client's first authenticated message. The client takes its local addresses from its
# interfaces and reaches the server through gw_ipaddr routes that mptd manages.
# Phases, each checked:
#   1. learning: both paths up, the server's peer addresses are the NATs' (172.16.I.1), a
#      ping and a TCP transfer pass, both paths carry it; raw single-path figures beside it;
#   2. NAT rebinding mid-transfer (N1's rule now maps to ports 50000-50999 and its conntrack
#      table is flushed): the server follows to the new port, the download (iperf3 -R)
#      continues; every 1 s interval is printed;
#   3. handover: the client's path-0 link is deleted for HANDOVER_S seconds and created again
#      with a new address (10.1.1.3) during a download: no reset, and the time from the new
#      address to data on path 0 again is printed (and bounded);
#   4. strangers: the client's captured datagrams replayed (exact and altered) from another
#      address (172.16.1.9) never move the server's path, and are dropped and counted.
# NAT_MEASURE=1: longer runs, for bench/RESULTS.md (the figures are printed, not asserted).
# NAT_CONTROL: extra [connection] lines (default none: mpt's probe and hold-down defaults).
# Usage: nat_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
command -v conntrack >/dev/null || { echo "SKIP: conntrack (package conntrack) is missing; not run" >&2; exit 77; }
command -v nft >/dev/null || { echo "SKIP: nft (package nftables) is missing; not run" >&2; exit 77; }
init_test_env "$@"
N1=mpt-$$-n1
N2=mpt-$$-n2
EXTRA_NS="$N1 $N2"
ip netns add "$N1"
ip netns add "$N2"
RATE=${NAT_RATE:-100mbit}
MEASURE=${NAT_MEASURE:-0}
T=5; HANDOVER_S=3
[ "$MEASURE" = 1 ] && T=10 && HANDOVER_S=10

shape() {  # ns dev
  tc -n "$1" qdisc add dev "$2" root tbf rate "$RATE" burst 65536 latency 20ms
}
client_link() {  # i client_address
  local i=$1 n=mpt-$$-n$1
  ip link add "c$i" netns "$A" type veth peer name in netns "$n"
  ip -n "$n" addr add "10.1.$i.1/24" dev in
  ip -n "$n" link set in up
  shape "$n" in
  ip -n "$A" addr add "$2/24" dev "c$i"
  ip -n "$A" link set "c$i" up
}
for i in 1 2; do
  n=mpt-$$-n$i
  ip link add out netns "$n" type veth peer name "s$i" netns "$B"
  ip -n "$n" addr add "172.16.$i.1/24" dev out
  ip -n "$B" addr add "172.16.$i.2/24" dev "s$i"
  ip -n "$n" link set out up
  ip -n "$n" link set lo up
  ip -n "$B" link set "s$i" up
  shape "$n" out
  ip netns exec "$n" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "$n" nft -f - <<NFT
table ip nat {
  chain post {
    type nat hook postrouting priority 100;
    oifname "out" masquerade
  }
}
NFT
  client_link "$i" "10.1.$i.2"
done
ip -n "$A" link set lo up
ip -n "$B" link set lo up
wait_carrier "$A" c1 c2
wait_carrier "$B" s1 s2

(umask 077 && "$MPT" genkey >"$WORK/psk.key")
conf() {  # dir local_tun remote_tun path-lines-file
  mkdir -p "$1/connections"
  cat >"$1/interface.conf" <<CONF
[general]
tunnel_num = 1
[tun_0]
name = mpt0
mtu = 1440
ipv4_addr = $2/24
CONF
  { cat <<CONF
[connection]
name = it
ip_ver = 4
ip_local = $2
ip_remote = $3
path_count = 2
auth_key = file:$WORK/psk.key
${NAT_CONTROL:-;}
CONF
    cat "$4"; } >"$1/connections/it.conf"
}
cat >"$WORK/client.paths" <<CONF
[path_0]
interface_name = c1
gw_ipaddr = 10.1.1.1
remote_ipaddr = 172.16.1.2
[path_1]
interface_name = c2
gw_ipaddr = 10.1.2.1
remote_ipaddr = 172.16.2.2
CONF
# The server: no client address anywhere.
cat >"$WORK/server.paths" <<CONF
[path_0]
interface_name = s1
private_ipaddr = 172.16.1.2
[path_1]
interface_name = s2
private_ipaddr = 172.16.2.2
CONF
conf "$WORK/a" 10.201.0.1 10.201.0.2 "$WORK/client.paths"
conf "$WORK/b" 10.201.0.2 10.201.0.1 "$WORK/server.paths"
if [ -n "${NAT_SERVER_MODE:-}" ]; then
  # The same server in server mode (accept_remote): the connection becomes the template and
  # the client one file in clients/ (same name "it", same key); its two paths are served by
  # the listeners on the server's two addresses.
  sed -i 's/^tunnel_num = 1$/tunnel_num = 1\naccept_remote = 1/' "$WORK/b/interface.conf"
  grep -v "^ip_remote\|^auth_key" "$WORK/b/connections/it.conf" >"$WORK/b/connections/conf.template"
  rm "$WORK/b/connections/it.conf"
  mkdir -p "$WORK/b/clients"
  printf '[client]\nip_remote = 10.201.0.1\nauth_key = file:%s\n' "$WORK/psk.key" >"$WORK/b/clients/it.conf"
  echo "server mode: conf.template + clients/it.conf"
fi
"$MPTD" --check --config "$WORK/b" || fail "server configuration refused"

field() {  # SIDE PYTHON-EXPRESSION-ON-j
  "$MPT" --socket "$WORK/$1.sock" status --json | python3 -c "import json,sys; j=json.load(sys.stdin); print($2)"
}
remote_of() { field "$1" "j['paths'][$2]['remote']"; }
moves_of() { field "$1" "[h for h in j['health'] if h['path']=='it/path_$2'][0]['endpoint_moves']"; }
# iperf3 JSON -> "total_mbps min_interval_mbps [intervals...]"
intervals() {
  python3 -c '
import json,sys
j=json.load(open(sys.argv[1]))
iv=[i["sum"]["bits_per_second"]/1e6 for i in j["intervals"] if i["sum"]["seconds"]>0.5]
tot=j["end"]["sum_received"]["bits_per_second"]/1e6
print("%.1f %.1f %s" % (tot, min(iv), " ".join("%.0f" % x for x in iv)))' "$1"
}

# Raw single paths through the NATs (no tunnel), for the figures beside the tunnel's.
ip netns exec "$B" iperf3 -s -D -p 5300 --logfile "$WORK/iperf-raw.log"
wait_for 30 sh -c "ip netns exec '$B' ss -ltn | grep -q :5300"
raw_sum=0
for i in 1 2; do
  ip -n "$A" route add "172.16.$i.2/32" via "10.1.$i.1" dev "c$i"
  ip netns exec "$A" iperf3 -c "172.16.$i.2" -p 5300 -t 3 -J >"$WORK/raw$i.json" || fail "raw iperf3 on path $i"
  r=$(intervals "$WORK/raw$i.json" | cut -d' ' -f1)
  echo "raw path $i through NAT: $r Mbit/s"
  raw_sum=$(python3 -c "print($raw_sum + $r)")
  ip -n "$A" route del "172.16.$i.2/32"
done

# NAT_MEASURE: kernel MPTCP over the same two NAT paths, in the same run (download, like the
# tunnel's): the server announces its second address, the client opens a subflow from its
# second interface to it.
if [ "$MEASURE" = 1 ] && command -v mptcpize >/dev/null; then
  for i in 1 2; do ip -n "$A" route add "172.16.$i.2/32" via "10.1.$i.1" dev "c$i"; done
  for ns in "$A" "$B"; do
    ip netns exec "$ns" sysctl -qw net.mptcp.enabled=1
    ip -n "$ns" mptcp limits set subflows 2 add_addr_accepted 2
  done
  ip -n "$B" mptcp endpoint add 172.16.2.2 dev s2 signal
  ip netns exec "$B" mptcpize run iperf3 -s -D -p 5302 --logfile "$WORK/iperf-mptcp.log"
  wait_for 30 sh -c "ip netns exec '$B' ss -ltn | grep -q :5302"
  ip netns exec "$A" mptcpize run iperf3 -c 172.16.1.2 -p 5302 -t "$T" -R -J >"$WORK/mptcp.json" ||
    fail "MPTCP iperf3"
  read -r mp mpmin mpiv <<<"$(intervals "$WORK/mptcp.json")"
  subflows=$(ip netns exec "$B" nstat -az MPTcpExtMPJoinAckRx 2>/dev/null | awk '/MPJoinAckRx/ {print $2}')
  echo "kernel MPTCP download through the NATs: $mp Mbit/s ($(python3 -c "print('%.1f' % (100*$mp/$raw_sum))") % of the raw sum; joins $subflows); per second: $mpiv"
  ip -n "$B" mptcp endpoint flush
  for i in 1 2; do ip -n "$A" route del "172.16.$i.2/32"; done
fi

start_mptd_pair
wait_for 100 established a || fail "client: the server never answered"
wait_for 100 established b || fail "server: the client never answered"
for p in 0 1; do
  wait_for 50 sh -c "[ \"\$(\"$MPT\" --socket '$WORK/a.sock' status --json | grep -o '\"path\":\"it/path_$p\",\"state\":\"up\"')\" ]" ||
    fail "client path $p never came up: $(path_state a $p)"
  wait_for 50 sh -c "[ \"\$(\"$MPT\" --socket '$WORK/b.sock' status --json | grep -o '\"path\":\"it/path_$p\",\"state\":\"up\"')\" ]" ||
    fail "server path $p never came up: $(path_state b $p)"
  r=$(remote_of b $p)
  echo "server path $p: peer learned at $r (configured: '$(field b "j['paths'][$p]['remote_configured']")')"
  case "$r" in 172.16.$((p + 1)).1:*) ;; *) fail "server path $p: peer at '$r', not behind N$((p + 1))" ;; esac
done
ip netns exec "$A" ping -c 3 -i 0.2 -W 2 10.201.0.2 >/dev/null || { "$MPT" --socket "$WORK/a.sock" status; "$MPT" --socket "$WORK/b.sock" status; [ -n "${NAT_DEBUG:-}" ] && sleep 60; fail "ping through the tunnel"; }

ip netns exec "$B" iperf3 -s -D -p 5201 --logfile "$WORK/iperf.log"
wait_for 30 sh -c "ip netns exec '$B' ss -ltn | grep -q :5201"
ip netns exec "$A" iperf3 -c 10.201.0.2 -p 5201 -t "$T" -R -J >"$WORK/agg.json" || fail "download through the tunnel"
read -r agg aggmin aggiv <<<"$(intervals "$WORK/agg.json")"
echo "tunnel download: $agg Mbit/s (raw sum $raw_sum; $(python3 -c "print('%.1f' % (100*$agg/$raw_sum))") %); per second: $aggiv"
for p in 0 1; do
  b=$(field a "j['paths'][$p]['rx_bytes']")
  [ "$b" -gt 10000000 ] || fail "client path $p received only $b bytes"
done
if [ "$SANITIZED" = 0 ]; then
  python3 -c "import sys; sys.exit(0 if $agg > 0.6 * $raw_sum else 1)" ||
    fail "tunnel $agg Mbit/s is far below the raw sum $raw_sum"
fi

# 2. NAT rebinding on path 0 in the middle of a download.
before=$(remote_of b 0)
moves0=$(moves_of b 0)
ip netns exec "$A" iperf3 -c 10.201.0.2 -p 5201 -t "$T" -i 1 -R -J >"$WORK/rebind.json" &
ipid=$!
sleep 3
ip netns exec "$N1" nft -f - <<NFT
flush chain ip nat post
add rule ip nat post oifname out meta l4proto udp masquerade to :50000-50999
add rule ip nat post oifname out masquerade
NFT
ip netns exec "$N1" conntrack -F 2>/dev/null || true
wait $ipid || fail "the download did not survive the NAT rebinding"
read -r rb rbmin rbiv <<<"$(intervals "$WORK/rebind.json")"
after=$(remote_of b 0)
echo "rebinding: server path 0 peer $before -> $after ($(($(moves_of b 0) - moves0)) move(s)); download $rb Mbit/s, slowest second $rbmin; per second: $rbiv"
case "$after" in 172.16.1.1:50[0-9][0-9][0-9]) ;; *) fail "server did not follow the new mapping ($after)" ;; esac
if [ "$SANITIZED" = 0 ]; then
  # The other path alone carries ~RATE: no second may fall far below it (a stall would be 0).
  python3 -c "import sys; sys.exit(0 if $rbmin > 0.3 * $raw_sum / 2 else 1)" ||
    fail "a 1 s interval fell to $rbmin Mbit/s during the rebinding"
fi

# 3. Handover: path 0's link goes away and comes back with a new address.
ip netns exec "$A" iperf3 -c 10.201.0.2 -p 5201 -t $((HANDOVER_S + 8)) -i 1 -R -J >"$WORK/handover.json" &
ipid=$!
sleep 2
ip -n "$A" link del c1
sleep 0.5
st=$(path_state a 0)
echo "path 0 after its link went: $st ($(field a "j['paths'][0]['waiting']"))"
sleep "$HANDOVER_S"
client_link 1 10.1.1.3
t0=$(date +%s%N)
joined=""
# The kernel's byte count of the new link (probes are a few hundred bytes a second; 200 KB
# is data): read straight from sysfs, 100 times a second.
for ((k = 0; k < 500; k++)); do
  rx=$(ip netns exec "$A" cat /sys/class/net/c1/statistics/rx_bytes)
  if [ "$rx" -gt 200000 ]; then
    joined=$((($(date +%s%N) - t0) / 1000000))
    break
  fi
  sleep 0.01
done
wait $ipid || fail "the download did not survive the handover (reset?)"
read -r ho homin hoiv <<<"$(intervals "$WORK/handover.json")"
echo "handover: path 0 away ${HANDOVER_S} s, back with 10.1.1.3: carrying data again ${joined:-never} ms after its address appeared; server sees it at $(remote_of b 0); download $ho Mbit/s; per second: $hoiv"
[ -n "$joined" ] || fail "path 0 did not carry data within 5 s of its new address"
[ "$SANITIZED" = 1 ] || [ "$joined" -le 1500 ] || fail "path 0 took $joined ms to carry data again"
[ "$st" != up ] || fail "path 0 still up after its link was deleted"

# 4. Strangers: the client's datagrams, captured at the server, sent again from elsewhere
# (172.16.1.9 in N1's subnet, not masqueraded: another address than the client's).
ip -n "$N1" addr add 172.16.1.9/24 dev out
ip netns exec "$N1" nft insert rule ip nat post ip saddr 172.16.1.9 accept
ip netns exec "$B" "$TOOL" capture-control 4754 1.5 "$WORK/cap.txt" >/dev/null &
cpid=$!
ip netns exec "$A" ping -c 10 -i 0.1 10.201.0.2 >/dev/null || true
wait $cpid
n=$(grep -c " 172.16.1.2 " "$WORK/cap.txt" || true)  # path 0's: those are replayed
[ "$n" -ge 3 ] || fail "captured only $n datagrams of path 0"
before=$(remote_of b 0); moves0=$(moves_of b 0)
"$MPT" --socket "$WORK/b.sock" status --json >"$WORK/before.json"
rej0=$(field b "sum(j['control_rx_errors'].values()) + sum(p['rx_drop_replay'] + p['rx_drop_auth'] + p['rx_drop_unknown_peer'] for p in j['paths']) + sum(l['rx_drop_unknown_client'] + l['rx_control_dropped'] + l['rx_control_limited'] for l in j['listeners']) + j.get('listener_unclaimed', 0)")
for m in none flip truncate; do
  ip netns exec "$N1" "$TOOL" replay-control "$WORK/cap.txt" 172.16.1.2 172.16.1.9 172.16.1.2 4754 $m >/dev/null
done
sleep 0.5
rej1=$(field b "sum(j['control_rx_errors'].values()) + sum(p['rx_drop_replay'] + p['rx_drop_auth'] + p['rx_drop_unknown_peer'] for p in j['paths']) + sum(l['rx_drop_unknown_client'] + l['rx_control_dropped'] + l['rx_control_limited'] for l in j['listeners']) + j.get('listener_unclaimed', 0)")
# (In server mode, what comes from no client's address is the listener's: data dropped there,
# control messages refused there or claimed by no client.)
dunk=$(field b "j['paths'][0]['rx_drop_unknown_peer'] + sum(l['rx_drop_unknown_client'] for l in j['listeners'])")
after=$(remote_of b 0)
"$MPT" --socket "$WORK/b.sock" status --json >"$WORK/after.json"
# Where the stranger's datagrams went: every counter of the server that moved.
python3 - "$WORK/before.json" "$WORK/after.json" <<'PY'
import json, sys
def flat(x, p=""):
    if isinstance(x, dict):
        for k, v in x.items(): yield from flat(v, f"{p}.{k}" if p else k)
    elif isinstance(x, list):
        for i, v in enumerate(x): yield from flat(v, f"{p}[{i}]")
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        yield p, x
a = dict(flat(json.load(open(sys.argv[1])))); b = dict(flat(json.load(open(sys.argv[2]))))
skip = ("bytes", "mbps", "_us", "_ms", "rtt", "free", "estimate", "loss", "probes_sent",
        "acks_received", "tx_packets", "gro", "submit", "in_order", "tun_", "segments", "writes",
        "reads", "handshakes", "ms_since")
moved = [f"{k} +{b[k] - a.get(k, 0)}" for k in b
         if b[k] != a.get(k, 0) and not any(w in k for w in skip)]
print("  server counters that moved: " + (", ".join(moved) or "none"))
PY
echo "strangers: $((3 * n)) datagrams replayed from 172.16.1.9: $((rej1 - rej0)) refused and counted; server path 0 peer $before -> $after"
[ "$after" = "$before" ] || fail "a stranger moved the server's path 0 to $after"
# Sealed data and repair requests among them (kind 4 or 5 after the GRE header): dropped
# unread, by address, 3 times each (exact, flipped, cut).
ndata=$(python3 - "$WORK/cap.txt" <<'PY'
import sys
n = 0
for line in open(sys.argv[1]):
    src, dst, hexs = line.split()
    if dst != "172.16.1.2": continue
    d = bytes.fromhex(hexs)
    hs = 4 + 4 * bool(d[0] & 0x80) + 4 * bool(d[0] & 0x20) + 4 * bool(d[0] & 0x10)
    n += len(d) > hs and d[hs] in (4, 5)
print(n)
PY
)
echo "  of them sealed data and repair requests: $ndata, each sent 3 times; dropped unread (another address): $dunk"
[ "$dunk" -ge $((3 * ndata)) ] || fail "sealed data from another address was not dropped unread"
[ "$(moves_of b 0)" = "$moves0" ] || fail "endpoint_moves changed on a stranger's datagrams"
[ $((rej1 - rej0)) -ge $((3 * n)) ] || fail "only $((rej1 - rej0)) of $((3 * n)) datagrams refused and counted"
ip netns exec "$A" ping -c 3 -i 0.2 -W 2 10.201.0.2 >/dev/null || fail "ping after the strangers"
echo "PASS: learned both NAT addresses, followed a rebinding and a handover without a reset, no stranger moved a path"
