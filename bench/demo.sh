#!/usr/bin/env bash
# The mpt demo: two network namespaces joined by one veth path, an mptd in each, and traffic
# across the tunnel (ping over inner IPv4 and IPv6, then a TCP transfer), with `mpt status`.
# Everything it creates is removed on exit.
#
#   ns mpt-demo-a                                  ns mpt-demo-b
#   mpt0 10.201.0.1  fd00:201::1                   mpt0 10.201.0.2  fd00:201::2
#   veth0 10.200.1.1  ==== GRE-in-UDP :4754 ====   veth0 10.200.1.2
#
# Usage: bench/demo.sh [BUILD_DIR]   (as root)
. "$(dirname "$0")/../tests/integration/lib.sh"
if [ "$(id -u)" -ne 0 ]; then echo "demo: needs root (namespaces, TUN)" >&2; exit 1; fi
BUILD=$(cd "${1:-build}" && pwd)
A=mpt-demo-a
B=mpt-demo-b
WORK=$(mktemp -d /tmp/mpt-demo.XXXXXX)
cleanup() {
  for f in "$WORK"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  sleep 0.3
  ip netns del $A 2>/dev/null || true
  ip netns del $B 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ip netns del $A 2>/dev/null || true
ip netns del $B 2>/dev/null || true

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "creating namespaces $A and $B joined by a veth pair"
ip netns add $A
ip netns add $B
ip link add veth0 netns $A type veth peer name veth0 netns $B
ip -n $A addr add 10.200.1.1/24 dev veth0
ip -n $B addr add 10.200.1.2/24 dev veth0
for ns in $A $B; do ip -n $ns link set lo up; ip -n $ns link set veth0 up; done
wait_carrier $A veth0
wait_carrier $B veth0

step "a pre-shared key (mpt genkey) in a key file only root may read: the wire is encrypted"
(umask 077 && "$BUILD/cli/mpt" genkey >"$WORK/psk.key")
export AUTH_KEY="file:$WORK/psk.key"
write_config "$WORK/a" 10.201.0.1/24 fd00:201::1/64 10.201.0.1 10.201.0.2 "veth0|4|10.200.1.1|10.200.1.2"
write_config "$WORK/b" 10.201.0.2/24 fd00:201::2/64 10.201.0.2 10.201.0.1 "veth0|4|10.200.1.2|10.200.1.1"
step "configuration of side A ($WORK/a, original MPT layout)"
cat "$WORK/a/interface.conf" "$WORK/a/connections/it.conf"
"$BUILD/cli/mptd" --config "$WORK/a" --check

step "starting mptd in both namespaces"
ip netns exec $A "$BUILD/cli/mptd" --config "$WORK/a" --socket "$WORK/a.sock" 2>&1 | sed 's/^/[A] /' &
echo $! >"$WORK/a.pid"
ip netns exec $B "$BUILD/cli/mptd" --config "$WORK/b" --socket "$WORK/b.sock" 2>&1 | sed 's/^/[B] /' &
echo $! >"$WORK/b.pid"
wait_for 50 test -S "$WORK/a.sock" && wait_for 50 test -S "$WORK/b.sock"
MPT="$BUILD/cli/mpt"
wait_for 50 established a && wait_for 50 established b  # the handshake: session keys
ip -n $A addr show mpt0

step "ping across the tunnel (inner IPv4, inner IPv6)"
ip netns exec $A ping -c 3 -i 0.2 10.201.0.2
ip netns exec $A ping -c 3 -i 0.2 fd00:201::2

step "TCP: 500 MB through the tunnel, payload checked byte by byte"
ip netns exec $B "$BUILD/tests/mpt-testtool" tcp-recv 10.201.0.2 5001 500000000 1 >"$WORK/recv.out" &
rpid=$!
wait_for 50 grep -q listening "$WORK/recv.out"
ip netns exec $A "$BUILD/tests/mpt-testtool" tcp-send 10.201.0.2 5001 500000000 1
wait $rpid
tail -n 1 "$WORK/recv.out"

if command -v iperf3 >/dev/null; then
  step "iperf3, one TCP flow for 5 s through the tunnel"
  ip netns exec $B iperf3 -s -1 -D -B 10.201.0.2 >/dev/null
  sleep 0.3
  ip netns exec $A iperf3 -c 10.201.0.2 -t 5 -C cubic | tail -n 4
fi

step "mpt status on side B"
"$BUILD/cli/mpt" --socket "$WORK/b.sock" status

step "stopping (routes and TUN devices are removed)"
kill "$(cat "$WORK/a.pid")" "$(cat "$WORK/b.pid")" 2>/dev/null || true
pkill -TERM -f "mptd --config $WORK" || true
sleep 0.5
rm -f "$WORK"/*.pid
echo "demo finished"
