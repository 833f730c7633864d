#!/usr/bin/env bash
# NAT keepalives (nat_keepalive_s, docs/configuration.md): the side behind a NAT keeps its
# mapping alive even when its probe interval is longer than the NAT's UDP timeout.
#   A (client) c1 10.1.1.2 -- N1 (masquerade with random ports, UDP timeout 2 s) -- 172.16.1.2 B
# One keyed path, probes every 60 s, the server does not know the client's address. Checks,
# over 7 idle seconds each:
#   1. nat_keepalive_s = 1: the mapping lives -- the server never sees the client move
#      (endpoint_moves stays 1), and a ping passes at once afterwards;
#   2. nat_keepalive_s = 0 (no bound): the mapping expires, the client's next packet gets a
#      new random port, and the server has to follow it (endpoint_moves grows) -- the same
#      set-up without keepalives fails check 1, so check 1 can fail.
# Usage: nat_keepalive_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
command -v nft >/dev/null || { echo "SKIP: nft (package nftables) is missing; not run" >&2; exit 77; }
init_test_env "$@"
N1=mpt-$$-n1
EXTRA_NS="$N1"
ip netns add "$N1"
ip link add c1 netns "$A" type veth peer name in netns "$N1"
ip link add out netns "$N1" type veth peer name s1 netns "$B"
ip -n "$A" addr add 10.1.1.2/24 dev c1
ip -n "$N1" addr add 10.1.1.1/24 dev in
ip -n "$N1" addr add 172.16.1.1/24 dev out
ip -n "$B" addr add 172.16.1.2/24 dev s1
for l in "$A c1" "$N1 in" "$N1 out" "$B s1" "$A lo" "$B lo" "$N1 lo"; do
  set -- $l
  ip -n "$1" link set "$2" up
done
ip netns exec "$N1" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$N1" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=2 2>/dev/null ||
  { echo "SKIP: cannot set the conntrack UDP timeout in a namespace; not run" >&2; exit 77; }
ip netns exec "$N1" sysctl -qw net.netfilter.nf_conntrack_udp_timeout_stream=2
ip netns exec "$N1" nft -f - <<'NFT'
table ip nat {
  chain post {
    type nat hook postrouting priority 100;
    oifname "out" masquerade random
  }
}
NFT
wait_carrier "$A" c1
wait_carrier "$B" s1
(umask 077 && "$MPT" genkey >"$WORK/psk.key")
conf() {  # dir local_tun remote_tun keepalive path-lines
  mkdir -p "$1/connections"
  printf '[general]\ntunnel_num = 1\n[tun_0]\nname = mpt0\nmtu = 1440\nipv4_addr = %s/24\n' "$2" >"$1/interface.conf"
  printf '[connection]\nname = it\nip_ver = 4\nip_local = %s\nip_remote = %s\npath_count = 1\nauth_key = file:%s\nprobe_interval_ms = 60000\nnat_keepalive_s = %s\n%b' \
    "$2" "$3" "$WORK/psk.key" "$4" "$5" >"$1/connections/it.conf"
}
moves() {
  "$MPT" --socket "$WORK/b.sock" status --json |
    python3 -c "import json,sys; print(json.load(sys.stdin)['health'][0]['endpoint_moves'])"
}
run() {  # keepalive_s -> $WORK/moves: the server's endpoint moves before and after the idle time
  conf "$WORK/a" 10.201.0.1 10.201.0.2 "$1" '[path_0]\ninterface_name = c1\ngw_ipaddr = 10.1.1.1\nremote_ipaddr = 172.16.1.2\n'
  conf "$WORK/b" 10.201.0.2 10.201.0.1 "$1" '[path_0]\ninterface_name = s1\nprivate_ipaddr = 172.16.1.2\n'
  start_mptd_pair
  wait_for 100 established a || fail "client: the server never answered"
  wait_for 100 established b || fail "server: the client never answered"
  ip netns exec "$A" ping -c 2 -i 0.2 -W 2 10.201.0.2 >/dev/null || fail "first ping"
  local m0
  m0=$(moves)
  sleep 7
  # The client speaks first after the idle time (the server's answer needs the mapping).
  ip netns exec "$A" ping -c 3 -i 0.3 -W 3 10.201.0.2 >/dev/null || true
  sleep 0.5
  echo "$m0 $(moves)" >"$WORK/moves"
  for s in a b; do kill "$(cat "$WORK/$s.pid")"; done
  for s in a b; do
    for ((k = 0; k < 50; k++)); do kill -0 "$(cat "$WORK/$s.pid")" 2>/dev/null || break; sleep 0.1; done
    rm -f "$WORK/$s.pid" "$WORK/$s.sock"
  done
  ip netns exec "$N1" conntrack -F >/dev/null 2>&1 || true
}
run 1
read -r k0 k1 <"$WORK/moves"
echo "nat_keepalive_s = 1: the server saw the client at $k0 -> $k1 endpoint(s) over 7 idle seconds"
run 0
read -r n0 n1 <"$WORK/moves"
echo "nat_keepalive_s = 0: $n0 -> $n1"
[ "$k1" = "$k0" ] || fail "with keepalives the NAT mapping still changed ($k0 -> $k1 moves)"
[ "$n1" -gt "$n0" ] || fail "without keepalives the mapping did not expire (the test proves nothing)"
echo "PASS: keepalives every second kept a 2 s NAT mapping through 7 idle seconds; without them it expired"
