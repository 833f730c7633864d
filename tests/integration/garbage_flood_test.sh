#!/usr/bin/env bash
# A garbage flood at the receiver while a TCP transfer runs. Two paths shaped to 200 Mbit/s;
# from ns A, a raw socket floods B's path_0 socket (10.200.1.2:4754, bound to veth0) as fast
# as it sends (mpt-testtool flood-garbage: malformed GRE-in-UDP, GRE under a wrong key, junk
# control messages) -- first from a stranger's address (10.200.1.9), then spoofed from the
# peer's own address and port (10.200.1.1:4754) -- while A sends a byte-checked stream to B
# through the tunnel. The flood is marked (TOS 0x04) and A's veth0 lets it past the path's
# rate limit (htb: tunnel traffic 200 Mbit/s, the flood a class of its own at 20 Gbit/s), so
# it costs the tunnel CPU, not link capacity: what a flood from another upstream does.
#
# Checks, per flood: the stream arrives intact; mptd B is alive and kept both paths up;
# every flood datagram that reached B is accounted for: counted by B's mptd, or by the
# kernel (socket receive buffer full: namespace-wide, so tunnel data the kernel dropped
# counts there too -- so far it has always been 0), within 1 %; and (release builds only: a sanitizer
# build is CPU-bound, not link-bound) the transfer took at most 1.5x as long as the same
# transfer without a flood. The goodput figure itself (>= 90 %) is measured by
# `mpt-bench --faults flood` (bench/RESULTS.md).
# Usage: garbage_flood_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$@"
BYTES=${BYTES:-60000000}
SECONDS_FLOOD=${SECONDS_FLOOD:-3}
add_veth_paths 2 200mbit
tc -n "$A" qdisc del dev veth0 root
tc -n "$A" qdisc add dev veth0 root handle 1: htb default 10
tc -n "$A" class add dev veth0 parent 1: classid 1:10 htb rate 200mbit burst 262144
tc -n "$A" class add dev veth0 parent 1: classid 1:20 htb rate 20gbit
tc -n "$A" filter add dev veth0 parent 1: protocol ip u32 match ip tos 0x04 0xff flowid 1:20
AUTH_KEY=flood-test-key-0001 write_pair_configs "probe_interval_ms = 50" "dead_misses = 4"
start_mptd_pair
wait_for 50 established a || fail "A: the peer never answered HELLO"
wait_for 50 established b || fail "B: the peer never answered HELLO"

transfer() {  # PORT -> seconds taken (intact, or the test fails)
  local port=$1
  ip netns exec "$B" "$TOOL" tcp-recv 10.201.0.2 $port "$BYTES" $port >"$WORK/recv.out" 2>&1 &
  local rpid=$!
  wait_for 50 grep -q listening "$WORK/recv.out" || fail "receiver did not start"
  ip netns exec "$A" "$TOOL" tcp-send 10.201.0.2 $port "$BYTES" $port >/dev/null || fail "sender failed"
  wait $rpid || { cat "$WORK/recv.out"; fail "stream not intact"; }
  sed -n 's/.* in \([0-9.]*\) s .*/\1/p' "$WORK/recv.out"
}
udp_kernel_drops() {  # ns B: UDP datagrams the kernel dropped (socket receive buffer full)
  ip netns exec "$B" awk '/^Udp:/ {n++; if (n == 1) for (i = 1; i <= NF; i++) k[i] = $i;
    else for (i = 1; i <= NF; i++) if (k[i] == "RcvbufErrors") s += $i}
    END {print s + 0}' /proc/net/snmp
}
flood_lost_on_way() {  # flood frames dropped before B: A's flood class, the veth pair
  local q l
  q=$(tc -n "$A" -s class show dev veth0 classid 1:20 | awk '/dropped/ {gsub(",", ""); for (i = 1; i <= NF; i++) if ($i == "dropped") print $(i + 1)}' | head -n 1)
  l=$(ip -n "$B" -s -j link show veth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["dropped"])')
  echo $(( ${q:-0} + ${l:-0} ))
}
# What B's mptd counted on path_0 for any reason a flood datagram can have.
b_counted() {
  "$MPT" --socket "$WORK/b.sock" status --json | python3 -c '
import json, sys
p = json.load(sys.stdin)["paths"][0]
print(sum(p.get(k, 0) for k in ("rx_drop_invalid_gre", "rx_drop_key_mismatch", "rx_drop_unknown_peer",
      "rx_control_dropped", "rx_control_limited", "rx_control", "rx_drop_truncated",
      "rx_drop_unsealed", "rx_drop_auth")))'
}

base=$(transfer 5101)
echo "without a flood: $BYTES bytes in $base s"
for who in stranger peer; do
  if [ $who = stranger ]; then src=10.200.1.9 sport=40000; else src=10.200.1.1 sport=4754; fi
  before_k=$(udp_kernel_drops)
  before_m=$(b_counted)
  before_w=$(flood_lost_on_way)
  ip netns exec "$A" "$TOOL" flood-garbage $src $sport 10.200.1.2 4754 "$SECONDS_FLOOD" >"$WORK/flood.out" 2>&1 &
  fpid=$!
  sleep 0.3
  if [ $who = stranger ]; then took=$(transfer 5102); else took=$(transfer 5103); fi
  wait $fpid || { cat "$WORK/flood.out"; fail "flooder failed"; }
  sleep 0.5
  sent=$(awk '/sent/ {print $2}' "$WORK/flood.out")
  kern=$(( $(udp_kernel_drops) - before_k ))
  counted=$(( $(b_counted) - before_m ))
  way=$(( $(flood_lost_on_way) - before_w ))
  echo "flood from the $who ($src): $(cat "$WORK/flood.out"); transfer took $took s (without: $base s)"
  echo "  $way lost before B; of the $((sent - way)) that reached B, its mptd counted $counted, the kernel $kern (socket buffer full)"
  kill -0 "$(cat "$WORK/b.pid")" 2>/dev/null || fail "mptd B died under the flood"
  for p in 0 1; do
    st=$(path_state a $p)
    [ "$st" = up ] || fail "path_$p on A is $st after the flood from the $who"
  done
  diff=$(( sent - way - counted - kern )); diff=${diff#-}
  [ "$diff" -le $(( sent / 100 + 100 )) ] || fail "$diff flood datagrams not accounted for"
  if [ "$SANITIZED" = 0 ]; then
    python3 -c "import sys; sys.exit(0 if $took <= 1.5 * $base else 1)" ||
      fail "the transfer took $took s under the flood, $base s without"
  fi
done
"$MPT" --socket "$WORK/b.sock" status | grep -E "^ *path|drop" | head -n 12 || true
echo "PASS: garbage floods from a stranger and spoofed from the peer change nothing and are counted"
