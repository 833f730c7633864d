#!/usr/bin/env bash
# Every way mptd exits removes what it added to the host: its routes (here a host route to a
# path's peer through a gateway, on a physical interface, which the kernel does not remove
# with the TUN device) and the TUN device.
#   1. SIGTERM after a normal start;
#   2. a failure after the routes were added that is not a std::system_error: a control socket
#      path too long for a unix socket makes Boost.Asio throw its own boost::system::system_error
#      (before the fix: std::terminate, abort, exit 134, the route left behind).
# Usage: exit_cleanup_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$@"
add_veth_paths 1
write_config "$WORK/a" 10.201.0.1/24 fd00:201::1/64 10.201.0.1 10.201.0.2 "veth0|4|10.200.1.1|10.210.0.2"
sed -i '/^\[path_0\]/a gw_ipaddr = 10.200.1.2' "$WORK/a/connections/it.conf"
gw_route() { ip -n "$A" route show 10.210.0.2 | grep -q "via 10.200.1.2"; }
tun_exists() { ip -n "$A" link show mpt0 >/dev/null 2>&1; }
gw_route && fail "the gateway route exists before mptd ran"

# 1. A normal start and SIGTERM.
ip netns exec "$A" "$MPTD" --config "$WORK/a" --socket "$WORK/a.sock" >"$WORK/a.log" 2>&1 &
pid=$!
echo $pid >"$WORK/a.pid"
wait_for 50 test -S "$WORK/a.sock" || fail "mptd did not start"
gw_route || fail "mptd did not add the route to the path's peer via its gateway"
kill -TERM $pid
rc=0
wait $pid || rc=$?
[ $rc -eq 0 ] || fail "mptd exited with $rc after SIGTERM"
gw_route && fail "the gateway route is left behind after SIGTERM"
tun_exists && fail "the TUN device is left behind after SIGTERM"
echo "SIGTERM: exit 0, route and TUN device removed"

# 2. An exception after the routes were added that is not a std::system_error.
long="$WORK/$(printf 'x%.0s' $(seq 1 120)).sock"
rc=0
ip netns exec "$A" "$MPTD" --config "$WORK/a" --socket "$long" >"$WORK/a2.log" 2>&1 || rc=$?
cat "$WORK/a2.log"
[ $rc -eq 1 ] || fail "mptd exited with $rc on a control socket error (expected 1, a clean error)"
grep -q "mptd\[error\]" "$WORK/a2.log" || fail "no error logged"
gw_route && fail "the gateway route is left behind after a failed start"
tun_exists && fail "the TUN device is left behind after a failed start"
echo "PASS: every exit removes the routes and the TUN device"
