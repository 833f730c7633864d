#!/usr/bin/env bash
# mptd under systemd's eyes (Type=notify, ExecReload = SIGHUP, journald), without systemd:
# a notify socket of our own (NOTIFY_SOCKET) and stderr posing as journald's stream
# (JOURNAL_STREAM = its device:inode).
#
# Checks: READY=1 comes once the TUN device, the control socket and the paths are up (a ping
# crosses right after it); SIGHUP reloads the files (a changed weight_out is applied and
# told to the peer) between RELOADING=1 and READY=1; SIGTERM says STOPPING=1; log lines carry
# journald's priority prefix (<6> info, <3> error) and no timestamp of their own.
# Usage: systemd_notify_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$@"
add_veth_paths 2
write_pair_configs "probe_interval_ms = 50"

# The notify socket: every datagram mptd sends, one line each (newlines within as '|').
python3 - "$WORK/notify" "$WORK/notify.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "w", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode().replace("\n", "|") + "\n")
PY
echo $! >"$WORK/notify.pid"
wait_for 50 test -S "$WORK/notify" || fail "notify socket not made"

: >"$WORK/a.log"
ino=$(stat -c '%d:%i' "$WORK/a.log")
ip netns exec "$A" env NOTIFY_SOCKET="$WORK/notify" JOURNAL_STREAM="$ino" \
  "$MPTD" --config "$WORK/a" --socket "$WORK/a.sock" 2>>"$WORK/a.log" &
echo $! >"$WORK/a.pid"
ip netns exec "$B" "$MPTD" --config "$WORK/b" --socket "$WORK/b.sock" >"$WORK/b.log" 2>&1 &
echo $! >"$WORK/b.pid"
wait_for 100 grep -q "READY=1" "$WORK/notify.out" || fail "no READY=1"
test -S "$WORK/a.sock" || fail "READY=1 before the control socket"
ip -n "$A" link show mpt0 >/dev/null || fail "READY=1 before the TUN device"
grep "READY=1" "$WORK/notify.out" | grep -q "STATUS=tunnel mpt0" || fail "no STATUS with READY: $(cat "$WORK/notify.out")"
wait_for 100 test -S "$WORK/b.sock" || fail "mptd B did not start"
ip netns exec "$A" ping -c 2 -w 10 10.201.0.2 >/dev/null || fail "no ping after READY"
echo "READY=1 once the tunnel is up: $(head -n 1 "$WORK/notify.out")"

# SIGHUP = reload: path_1's weight_out 1 -> 5, applied here and told to the peer.
sed -i '/^\[path_1\]/a weight_out = 5' "$WORK/a/connections/it.conf"
kill -HUP "$(cat "$WORK/a.pid")"
wait_for 100 grep -q "RELOADING=1" "$WORK/notify.out" || fail "no RELOADING=1 on SIGHUP"
wait_for 100 bash -c "grep -A1 RELOADING=1 '$WORK/notify.out' | grep -q READY=1" || fail "no READY=1 after the reload"
weight() { "$MPT" --socket "$WORK/$1.sock" status --json | grep -o '"path":"it/path_1","state":"[a-z-]*","weight":[0-9]*' | sed 's/.*"weight"://'; }
[ "$(weight a)" = 5 ] || fail "SIGHUP did not apply the new weight (A has $(weight a))"
wait_for 50 bash -c "[ \"\$('$MPT' --socket '$WORK/b.sock' status --json | grep -o '\"path\":\"it/path_1\",\"state\":\"[a-z-]*\",\"weight\":[0-9]*' | sed 's/.*\"weight\"://')\" = 5 ]" ||
  fail "the peer was not told the new weight"
grep -q "^<6>SIGHUP: ok" "$WORK/a.log" || fail "reload not logged at info: $(grep SIGHUP "$WORK/a.log")"
echo "SIGHUP reloaded: weight 5 on both sides"

# A reload with an error: nothing applied, logged at error priority, still READY.
echo "bogus_key = 1" >>"$WORK/a/connections/it.conf"
kill -HUP "$(cat "$WORK/a.pid")"
wait_for 100 grep -q "^<3>SIGHUP: error" "$WORK/a.log" || fail "a failed reload is not logged at error priority"
[ "$(grep -c READY=1 "$WORK/notify.out")" -ge 3 ] || fail "no READY=1 after a failed reload"

# journald's stream: priority prefixes, no timestamps of our own.
grep -vE '^<[0-7]>' "$WORK/a.log" | grep -v "^$" | grep -qv "^ " && fail "log lines without a priority prefix: $(grep -vE '^<[0-7]>' "$WORK/a.log" | head -3)"
grep -qE "^<6>tunnel mpt0 up" "$WORK/a.log" || fail "no <6> start line: $(head -3 "$WORK/a.log")"
grep -qE "mptd\[info\]" "$WORK/b.log" || fail "B (plain stderr) lost its timestamps"

kill "$(cat "$WORK/a.pid")"
rc=0; wait "$(cat "$WORK/a.pid")" || rc=$?
[ $rc = 0 ] || fail "mptd A did not exit cleanly (status $rc)"
rm -f "$WORK/a.pid"
grep -q "STOPPING=1" "$WORK/notify.out" || fail "no STOPPING=1 on SIGTERM"
echo "notifications: $(tr '\n' ' ' <"$WORK/notify.out")"
echo "PASS: systemd notify, SIGHUP reload, journald priorities"
