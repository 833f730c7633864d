# Shared helpers for the namespace integration tests (sourced, not run).
# Every test builds its own namespaces with a unique prefix, and tears everything down in an
# EXIT trap, also on failure. Exit code 77 means "cannot run here" (CTest shows it as skipped).

set -euo pipefail

require_root_and_netns() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: $0 needs root (network namespaces, TUN devices); not run" >&2
    exit 77
  fi
  if ! ip netns add "mpt-probe-$$" 2>/dev/null; then
    echo "SKIP: cannot create network namespaces here; not run" >&2
    exit 77
  fi
  ip netns del "mpt-probe-$$"
  if [ ! -c /dev/net/tun ]; then
    echo "SKIP: /dev/net/tun is missing; not run" >&2
    exit 77
  fi
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Reads one integer counter from a JSON status (first occurrence).
json_counter() {  # json key
  printf '%s' "$1" | grep -o "\"$2\":[0-9]*" | head -n 1 | cut -d: -f2
}

# Waits until a command succeeds (up to $1 tenths of a second).
wait_for() { wait_every 0.1 "$@"; }

# The same, trying every STEP seconds (for commands that are costly to run often).
wait_every() {  # STEP TRIES COMMAND...
  local step=$1 tries=$2
  shift 2
  while ! "$@" >/dev/null 2>&1; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || return 1
    sleep "$step"
  done
}

# Writes an MPT-layout config directory.
# write_config DIR TUN_V4/LEN TUN_V6/LEN LOCAL_TUN REMOTE_TUN "IFACE|OUTER_VER|LOCAL|REMOTE[|WEIGHT]" ...
write_config() {
  local dir=$1 v4=$2 v6=$3 local_tun=$4 remote_tun=$5
  shift 5
  mkdir -p "$dir/connections"
  cat >"$dir/interface.conf" <<CONF
[general]
tunnel_num = 1
[tun_0]
name = ${TUN_NAME:-mpt0}
mtu = ${TUN_MTU:-1440}
ipv4_addr = $v4
ipv6_addr = $v6
CONF
  # TUN queues (multi-queue tests; needs a keyed connection above 1).
  [ -n "${QUEUES:-}" ] && echo "queues = $QUEUES" >>"$dir/interface.conf"
  {
    echo "[connection]"
    echo "name = it"
    echo "ip_ver = 4"
    echo "ip_local = $local_tun"
    echo "ip_remote = $remote_tun"
    echo "path_count = $#"
    # Signalling: a key if the test gives one, otherwise explicitly unauthenticated.
    if [ -n "${AUTH_KEY:-}" ]; then echo "auth_key = $AUTH_KEY"; else echo "control_auth = none"; fi
    [ -n "${REORDER_WINDOW:-}" ] && echo "reorder_window = $REORDER_WINDOW"
    [ -n "${SCHEDULER:-}" ] && echo "scheduler = $SCHEDULER"
    [ -n "${REPAIR:-}" ] && echo "repair = $REPAIR"
    [ -n "${PACING:-}" ] && echo "pacing = $PACING"
    local i=0 spec
    for spec in "$@"; do
      IFS="|" read -r ifname ver laddr raddr weight <<<"$spec"
      echo "[path_$i]"
      echo "interface_name = $ifname"
      echo "ip_ver = $ver"
      echo "private_ipaddr = $laddr"
      echo "remote_ipaddr = $raddr"
      [ -n "${weight:-}" ] && echo "weight_out = $weight"
      i=$((i + 1))
    done
  } >"$dir/connections/it.conf"
}

# Waits (up to 5 s) until every named interface in namespace $1 has carrier: a new veth's
# operstate lags "ip link set up" by up to a second, and mptd rightly treats a path without
# carrier as down.
wait_carrier() {  # ns dev...
  local ns=$1 dev
  shift
  for dev in "$@"; do
    wait_for 50 sh -c "ip -n '$ns' link show dev '$dev' | grep -q LOWER_UP" ||
      fail "$dev in $ns has no carrier"
  done
}

# Veth pairs veth0..veth{COUNT-1} between $A and $B (10.200.I+1.1 in A, .2 in B, /24), up,
# with a tbf rate on both ends if RATE is given; waits for carrier. Leaves the write_config
# path specs in PATHS_A and PATHS_B.
add_veth_paths() {  # COUNT [RATE, e.g. 200mbit]
  local count=$1 rate=${2:-} i ns devs=()
  PATHS_A=()
  PATHS_B=()
  for ((i = 0; i < count; i++)); do
    ip link add "veth$i" netns "$A" type veth peer name "veth$i" netns "$B"
    ip -n "$A" addr add "10.200.$((i + 1)).1/24" dev "veth$i"
    ip -n "$B" addr add "10.200.$((i + 1)).2/24" dev "veth$i"
    for ns in "$A" "$B"; do
      ip -n "$ns" link set "veth$i" up
      [ -n "$rate" ] && tc -n "$ns" qdisc add dev "veth$i" root tbf rate "$rate" burst 262144 latency 20ms
    done
    PATHS_A+=("veth$i|4|10.200.$((i + 1)).1|10.200.$((i + 1)).2")
    PATHS_B+=("veth$i|4|10.200.$((i + 1)).2|10.200.$((i + 1)).1")
    devs+=("veth$i")
  done
  ip -n "$A" link set lo up
  ip -n "$B" link set lo up
  wait_carrier "$A" "${devs[@]}"
  wait_carrier "$B" "${devs[@]}"
}

# One path from $A to $B through a router namespace $R (added to EXTRA_NS) whose forwarding
# carries at most MID bytes, while both ends' interfaces are 1500 (a narrower hop inside the
# path): A veth0 10.200.1.1 / fd10:1::1 -- r0 [R] r1 -- B veth0 10.200.2.2 / fd10:2::2,
# routes both ways for IPv4 and IPv6. IPv4's hop is a route MTU (forwarding honours it),
# IPv6's the interfaces' IPv6 MTU. Used by path_mtu_test.sh and bench/path_mtu.sh.
add_narrow_hop_path() {  # MID
  local mid=$1 x
  R=mpt-$$-r
  EXTRA_NS="${EXTRA_NS:-} $R"
  ip netns add "$R"
  ip link add veth0 netns "$A" type veth peer name r0 netns "$R"
  ip link add veth0 netns "$B" type veth peer name r1 netns "$R"
  ip -n "$A" addr add 10.200.1.1/24 dev veth0
  ip -n "$A" addr add fd10:1::1/64 dev veth0 nodad
  ip -n "$B" addr add 10.200.2.2/24 dev veth0
  ip -n "$B" addr add fd10:2::2/64 dev veth0 nodad
  ip -n "$R" addr add 10.200.1.254/24 dev r0
  ip -n "$R" addr add fd10:1::fe/64 dev r0 nodad
  ip -n "$R" addr add 10.200.2.254/24 dev r1
  ip -n "$R" addr add fd10:2::fe/64 dev r1 nodad
  for x in "$A:veth0" "$B:veth0" "$R:r0" "$R:r1"; do
    ip -n "${x%%:*}" link set lo up
    ip -n "${x%%:*}" link set "${x##*:}" up
  done
  ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  ip -n "$R" route replace 10.200.2.0/24 dev r1 mtu "$mid"
  ip -n "$R" route replace 10.200.1.0/24 dev r0 mtu "$mid"
  ip netns exec "$R" sysctl -qw "net.ipv6.conf.r0.mtu=$mid" "net.ipv6.conf.r1.mtu=$mid"
  ip -n "$A" route add 10.200.2.0/24 via 10.200.1.254
  ip -n "$B" route add 10.200.1.0/24 via 10.200.2.254
  ip -n "$A" -6 route add fd10:2::/64 via fd10:1::fe
  ip -n "$B" -6 route add fd10:1::/64 via fd10:2::fe
  wait_carrier "$A" veth0
  wait_carrier "$B" veth0
}

# Common set-up of a two-namespace test: binaries from BUILD_DIR ($1), namespaces $A and $B,
# a work directory, and an EXIT trap that stops the daemons (pids in $WORK/*.pid), shows
# their logs on failure and removes everything.
init_test_env() {  # BUILD_DIR
  BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
  MPTD=$BUILD/cli/mptd
  # A sanitizer build (.ci/setup) runs several times slower: timing bounds widen with it.
  SANITIZED=0
  if grep -qaE "__(asan|tsan)_init" "$MPTD" 2>/dev/null; then SANITIZED=1; fi
  MPT=$BUILD/cli/mpt
  TOOL=$BUILD/tests/mpt-testtool
  A=mpt-$$-a
  B=mpt-$$-b
  WORK=$(mktemp -d /tmp/mpt-it.XXXXXX)
  trap cleanup_test_env EXIT
  # A test stopped by a signal (ctest's timeout, ^C) still cleans up: exit runs the EXIT trap.
  trap 'exit 130' INT
  trap 'exit 143' TERM
  ip netns add "$A"
  ip netns add "$B"
}

cleanup_test_env() {
  local rc=$? f pid i
  for f in "$WORK"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  # Let the daemons finish: a sanitizer build reports leaks at exit.
  for f in "$WORK"/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  sleep 0.1; for ns in "$A" "$B" ${EXTRA_NS:-}; do ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null; done
  # Sanitizer builds (.ci/setup): any report in a daemon's log fails the test.
  for f in "$WORK"/*.log; do
    [ -f "$f" ] || continue
    if grep -qE "^(==[0-9]+==ERROR: |WARNING: ThreadSanitizer|SUMMARY: (Address|Undefined|Thread|Leak)Sanitizer)|runtime error: " "$f"; then
      echo "FAIL: sanitizer report in $f:" >&2
      grep -m 40 -A 30 -E "ERROR: |WARNING: ThreadSanitizer|runtime error: " "$f" >&2 || true
      [ $rc -ne 0 ] || rc=1
    fi
  done
  if [ $rc -ne 0 ]; then
    for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }; done
  fi
  for ns in "$A" "$B" ${EXTRA_NS:-}; do ip netns del "$ns" 2>/dev/null || true; done
  if [ -n "${MPT_TEST_KEEP:-}" ]; then echo "kept $WORK (MPT_TEST_KEEP)"; else rm -rf "$WORK"; fi
  exit $rc
}

# Configs for the usual pair on the veth paths of add_veth_paths: A = 10.201.0.1, B =
# 10.201.0.2 (connection "it"), each [connection] section extended by the given lines
# (e.g. "probe_interval_ms = 20"). Honours AUTH_KEY, SCHEDULER, REPAIR, PACING like write_config.
write_pair_configs() {  # [CONNECTION_LINE...]
  local s me peer paths line
  for s in a b; do
    me=1 peer=2 paths=("${PATHS_A[@]}")
    [ "$s" = b ] && me=2 peer=1 paths=("${PATHS_B[@]}")
    write_config "$WORK/$s" "10.201.0.$me/24" "fd00:201::$me/64" "10.201.0.$me" "10.201.0.$peer" "${paths[@]}"
    : >"$WORK/$s/extra"
    for line in "$@"; do echo "$line" >>"$WORK/$s/extra"; done
    sed -i "/^\[connection\]/r $WORK/$s/extra" "$WORK/$s/connections/it.conf"
  done
}

# A byte-checked TCP stream from $A to 10.201.0.2 in $B (mpt-testtool tcp-send/tcp-recv);
# fails the test if it does not arrive intact. The receiver's report is in $WORK/recv.out.
checked_stream() {  # PORT BYTES SEED
  ip netns exec "$B" "$TOOL" tcp-recv 10.201.0.2 "$1" "$2" "$3" >"$WORK/recv.out" 2>&1 &
  local rpid=$!
  wait_for 50 grep -q listening "$WORK/recv.out" || fail "receiver did not start"
  ip netns exec "$A" "$TOOL" tcp-send 10.201.0.2 "$1" "$2" "$3" >/dev/null || fail "sender failed"
  wait $rpid || { cat "$WORK/recv.out"; fail "stream not intact"; }
}

# Whether side $1 (a or b) has heard the peer's HELLO answer.
established() { "$MPT" --socket "$WORK/$1.sock" status --json | grep -q '"established":true'; }

# Health state of path $2 of connection "it" on side $1 (up, down, recovering, ...).
path_state() {
  "$MPT" --socket "$WORK/$1.sock" status --json | grep -o '"path":"it/path_'"$2"'","state":"[a-z-]*"' |
    sed 's/.*"state":"//; s/"$//'
}

# Runs COMMAND... in the background and, until it ends, samples path $2 of side $1 every
# 100 ms; sets WORST to "up", or to the last other state seen. Fails if the command fails
# (its output is in $WORK/bg.out).
watch_path_while() {  # SIDE PATH COMMAND...
  local side=$1 path=$2 pid st
  shift 2
  "$@" >"$WORK/bg.out" 2>&1 &
  pid=$!
  echo $pid >"$WORK/bg.pid"
  WORST=up
  while kill -0 $pid 2>/dev/null; do
    st=$(path_state "$side" "$path")
    [ "$st" = up ] || WORST=$st
    sleep 0.1
  done
  wait $pid || { cat "$WORK/bg.out"; fail "the background command failed"; }
  cat "$WORK/bg.out"
}

# Starts mptd in $A and $B on $WORK/a and $WORK/b; waits for both control sockets.
start_mptd_pair() {
  ip netns exec "$A" "$MPTD" --config "$WORK/a" --socket "$WORK/a.sock" >"$WORK/a.log" 2>&1 &
  echo $! >"$WORK/a.pid"
  ip netns exec "$B" "$MPTD" --config "$WORK/b" --socket "$WORK/b.sock" >"$WORK/b.log" 2>&1 &
  echo $! >"$WORK/b.pid"
  wait_for 50 test -S "$WORK/a.sock" || fail "mptd A did not start"
  wait_for 50 test -S "$WORK/b.sock" || fail "mptd B did not start"
}
