#!/usr/bin/env bash
# Per-tunnel control sockets (WireGuard's way): two mptd on one host, started without
# --socket, each listen on <run dir>/<tun name>.sock; `mpt show` lists both; `mpt` without
# -i refuses to guess between them and talks to the only one once the other stopped; a
# socket left by a killed mptd is skipped. The run directory is the test's own (MPT_RUN_DIR).
# Usage: tunnel_sockets_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$@"
export MPT_RUN_DIR=$WORK/run
add_veth_paths 1
AUTH_KEY=tunnel-sockets-test-key-0123456789 write_pair_configs
sed -i 's/^name = mpt0$/name = mpta/' "$WORK/a/interface.conf"
sed -i 's/^name = mpt0$/name = mptb/' "$WORK/b/interface.conf"
ip netns exec "$A" "$MPTD" --config "$WORK/a" >"$WORK/a.log" 2>&1 &
echo $! >"$WORK/a.pid"
ip netns exec "$B" "$MPTD" --config "$WORK/b" >"$WORK/b.log" 2>&1 &
echo $! >"$WORK/b.pid"
wait_for 50 test -S "$WORK/run/mpta.sock" || fail "mptd A did not open $WORK/run/mpta.sock"
wait_for 50 test -S "$WORK/run/mptb.sock" || fail "mptd B did not open $WORK/run/mptb.sock"
echo "two mptd on one host, default sockets: $(ls "$WORK/run" | tr '\n' ' ')"

show=$("$MPT" show)
echo "$show"
printf '%s\n' "$show" | grep -q "^mpta .*1 connection(s), 1 path(s)" || fail "mpt show does not list mpta"
printf '%s\n' "$show" | grep -q "^mptb " || fail "mpt show does not list mptb"
if out=$("$MPT" status 2>&1); then fail "mpt status chose one of two tunnels by itself"; fi
printf '%s\n' "$out" | grep -q "several tunnels are running (mpta, mptb): choose one with -i NAME" ||
  fail "unclear error with two tunnels: $out"
"$MPT" -i mpta status --json | grep -q '"name":"it"' || fail "mpt -i mpta status failed"
"$MPT" --interface mptb status | grep -q "^tunnel: mtu" || fail "mpt --interface mptb status failed"
if out=$("$MPT" -i nosuch status 2>&1); then fail "mpt -i nosuch succeeded"; fi
printf '%s\n' "$out" | grep -q "cannot reach mptd at $WORK/run/nosuch.sock" || fail "unclear error for -i nosuch: $out"
"$MPT" --socket "$WORK/run/mpta.sock" status >/dev/null || fail "--socket PATH no longer works"

# B stops: its socket goes, and mpt talks to the only tunnel left without being told which.
kill "$(cat "$WORK/b.pid")"
wait_for 50 sh -c "! test -e '$WORK/run/mptb.sock'" || fail "mptd B left its socket behind"
rm -f "$WORK/b.pid"
"$MPT" status | grep -q "^tunnel: mtu" || fail "mpt status did not find the only running tunnel"
# A is killed (no clean-up): its socket stays, but nothing answers on it.
kill -9 "$(cat "$WORK/a.pid")"
rm -f "$WORK/a.pid"
sleep 0.2
test -S "$WORK/run/mpta.sock" || fail "expected the killed mptd's socket to stay"
"$MPT" show | grep -q "no tunnel is running" || fail "mpt show lists a dead tunnel"
if out=$("$MPT" status 2>&1); then fail "mpt status succeeded with no mptd"; fi
printf '%s\n' "$out" | grep -q "no tunnel is running" || fail "unclear error with no mptd: $out"
echo "PASS"
