#!/usr/bin/env bash
# The newcomer's way in, run as a newcomer would: the example pairs examples/bonding and
# examples/wifi-lte exactly as shipped (copied, never edited: the test builds the hosts
# around the files), and the marked command blocks of README.md's Quick start.
#
# 1. examples/bonding, through the README's Quick start (the blocks after the
#    <!-- quickstart:NAME --> markers, run with /usr/share/doc/mpt/examples -> this checkout's
#    examples/, /etc/mpt -> $WORK/host-a|b/etc/mpt, and mptd and mpt from BUILD_DIR; side B
#    takes examples/bonding/b where the README says so):
#
#      ns A                                              ns B
#      mpt0 10.100.0.1 ======== tunnel (keyed) ======== mpt0 10.100.0.2
#      lan0 192.0.2.1/24    -- veth, 100 Mbit/s --  192.0.2.2/24    lan0
#      lan1 198.51.100.1/24 -- veth, 100 Mbit/s --  198.51.100.2/24 lan1
#
#    copy (cp -r, chmod, grep CHANGE), check (mptd --check: valid, no warning), foreground
#    (mptd --config ..., run in the background with MPT_RUN_DIR=$WORK/host-X/run so that its
#    default socket is the test's own), status (mpt status, ping 10.100.0.2 from A).
#    Not run: the install block (.ci/setup demo, the .deb: tests/integration/package_test.sh
#    builds and checks the package) and `systemctl enable --now mptd@bond` (the unit:
#    package_test's systemd-analyze verify, and systemd_notify_test).
# 2. examples/wifi-lte, copied with cp -r: A (mobile) reaches B's two addresses through two
#    router namespaces, one per access network; A's interfaces get their addresses and
#    per-interface default routes as DHCP / NetworkManager would give them (the example takes
#    them from the interfaces), B learns A's addresses:
#
#      ns A                               ns R1 (Wi-Fi, 50 Mbit/s)              ns B
#      wlan0 192.168.1.2/24 ---- ap 192.168.1.1 | wan 198.51.100.1 --- 198.51.100.10/24 eth0
#      wwan0 100.64.0.2/24  ---- ran 100.64.0.1 | wan 203.0.113.1  --- 203.0.113.10/24  eth1
#                                    ns R2 (LTE, 20 Mbit/s)
#
# For each pair: mptd --check, both daemons started, both paths up on both sides, a ping each
# way, a byte-checked 20 MB TCP transfer each way (A->B and B->A), both paths carried a share
# of each (per-path tx_bytes of the sender), the session is keyed on both sides
# (control[].session.keys), and for wifi-lte B learnt A's addresses on the right paths.
# Usage: examples_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
command -v python3 >/dev/null || { echo "SKIP: python3 is missing; not run" >&2; exit 77; }
init_test_env "$@"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
R1=mpt-$$-r1
R2=mpt-$$-r2
EXTRA_NS="$R1 $R2"
BYTES=${EXAMPLES_BYTES:-20000000}
# A path carries at least this much of each transfer (LTE's share of 20 MB is about 5 MB).
# In a sanitizer build (the only one CI runs this test in) the CPU, not the unshaped bonding
# paths, is the bottleneck, and the earliest-arrival scheduler may then leave one path with
# little: 1.0 of 21.5 MB was seen once in 4 runs (session 10). 2 % still proves both carry.
MIN_SHARE=$((BYTES / 20))
[ "$SANITIZED" = 1 ] && MIN_SHARE=$((BYTES / 50))

# --- helpers ---------------------------------------------------------------------------------

# The ```sh block right below the line <!-- quickstart:NAME --> in README.md (both may be
# indented, inside a list item: the fence's indentation is taken off every line).
readme_block() {  # NAME
  local text
  text=$(awk -v tag="<!-- quickstart:$1 -->" '
    { line = $0; sub(/^[ \t]+/, "", line) }
    !want && line == tag { want = 1; next }
    want && !inblock && line ~ /^```sh[ \t]*$/ { inblock = 1; indent = index($0, "`") - 1; next }
    want && !inblock { exit }  # the marker must be right above its block
    inblock && line ~ /^```[ \t]*$/ { exit }
    inblock { print substr($0, 1, indent) ~ /^[ \t]*$/ ? substr($0, indent + 1) : $0 }' "$SRC/README.md")
  [ -n "$text" ] || fail "README.md has no \`\`\`sh block after <!-- quickstart:$1 -->"
  printf '%s\n' "$text"
}

# Runs README block NAME as host SIDE (a or b) would, in that side's namespace: the
# package's paths moved into this checkout and $WORK, mptd and mpt from BUILD_DIR, the
# control socket directory $WORK/host-SIDE/run. Extra sed expressions adapt it further.
run_readme() {  # SIDE NS NAME [SED_EXPR...]
  local side=$1 ns=$2 name=$3 text e
  shift 3
  text=$(readme_block "$name" | sed -e "s|/usr/share/doc/mpt/examples|$SRC/examples|g" \
    -e "s|/etc/mpt|$WORK/host-$side/etc/mpt|g")
  for e in "$@"; do text=$(sed -e "$e" <<<"$text"); done
  echo "--- README quickstart:$name on host $side:"
  ip netns exec "$ns" env PATH="$BUILD/cli:$PATH" MPT_RUN_DIR="$WORK/host-$side/run" \
    bash -euo pipefail -xc "$text"
}

# The control socket of side $1: mpt0.sock (the examples' TUN name) in MPT_RUN_DIR.
SOCK_ROOT=host
sock() { echo "$WORK/$SOCK_ROOT-$1/run/mpt0.sock"; }
status_json() { "$MPT" --socket "$(sock "$1")" status --json; }

# Evaluates a Python expression on side $1's status JSON (j) and prints it.
field() {  # SIDE EXPR
  status_json "$1" | python3 -c "import json, sys; j = json.load(sys.stdin); print($2)"
}

# Whether both paths of connection $2 are up on side $1 and the peer has answered.
paths_up() {  # SIDE CONN
  [ "$(field "$1" "len(j['health']) == 2 and all(h['state'] == 'up' for h in j['health'])
    and all(c['established'] for c in j['control'] if c['connection'] == '$2')")" = True ]
}

# Per-path tx_bytes of side $1, as "path_0=N path_1=N".
tx_bytes() { field "$1" "' '.join('%s=%d' % (p['name'], p['tx_bytes']) for p in j['paths'])"; }

# Fails unless each path of side $1 sent at least MIN_SHARE bytes more than in $2 (tx_bytes's
# output taken before the transfer); prints each path's share.
check_shares() {  # SIDE BEFORE WHAT
  local side=$1 before=$2 what=$3 after
  after=$(tx_bytes "$side")
  python3 - "$before" "$after" "$MIN_SHARE" "$what" <<'PY' || fail "$what: a path sent too little"
import sys
b = dict(kv.split("=") for kv in sys.argv[1].split())
a = dict(kv.split("=") for kv in sys.argv[2].split())
share = {k: int(a[k]) - int(b.get(k, 0)) for k in a}
print("  %s: %s" % (sys.argv[4], ", ".join("%s sent %.1f MB" % (k, v / 1e6)
                                            for k, v in sorted(share.items()))))
sys.exit(0 if len(share) == 2 and min(share.values()) >= int(sys.argv[3]) else 1)
PY
}

# A byte-checked TCP stream from namespace $1 to $3 (a tunnel address in namespace $2), as
# lib.sh's checked_stream (which is fixed to the 10.201.0.0/24 pair); prints its goodput.
stream() {  # FROM_NS TO_NS TO_ADDR PORT SEED
  local from=$1 to=$2 addr=$3 port=$4 seed=$5 rpid t0 ms
  ip netns exec "$to" "$TOOL" tcp-recv "$addr" "$port" "$BYTES" "$seed" >"$WORK/recv.out" 2>&1 &
  rpid=$!
  wait_for 50 grep -q listening "$WORK/recv.out" || fail "receiver did not start"
  t0=$(date +%s%N)
  ip netns exec "$from" "$TOOL" tcp-send "$addr" "$port" "$BYTES" "$seed" >/dev/null ||
    fail "sender failed"
  wait $rpid || { cat "$WORK/recv.out"; fail "stream to $addr not intact"; }
  ms=$((($(date +%s%N) - t0) / 1000000))
  echo "  $((BYTES / 1000000)) MB to $addr intact in $ms ms ($((BYTES * 8 / 1000 / (ms > 0 ? ms : 1))) Mbit/s)"
}

# The checks common to both pairs, once both daemons run: paths up, pings, keyed session,
# a transfer each way carried by both paths.
check_pair() {  # CONN A_ADDR B_ADDR
  local conn=$1 a_addr=$2 b_addr=$3 s before session
  for s in a b; do
    wait_every 0.2 100 paths_up "$s" "$conn" ||
      { "$MPT" --socket "$(sock "$s")" status; fail "$conn: side $s's paths did not come up"; }
  done
  echo "$conn: both paths up on both sides"
  ip netns exec "$A" ping -c 3 -i 0.2 -W 2 "$b_addr" >/dev/null || fail "$conn: no ping A -> B"
  ip netns exec "$B" ping -c 3 -i 0.2 -W 2 "$a_addr" >/dev/null || fail "$conn: no ping B -> A"
  echo "$conn: ping A -> B and B -> A"
  for s in a b; do
    # control[].session exists for a keyed connection only; keys: the handshake completed.
    session=$(field "$s" "[c.get('session') for c in j['control'] if c['connection'] == '$conn']")
    [ "$(field "$s" "[c['session']['keys'] for c in j['control']
      if c['connection'] == '$conn' and 'session' in c] == [True]")" = True ] ||
      fail "$conn: side $s has no session keys: $session"
    echo "$conn: side $s keyed: $session"
  done
  before=$(tx_bytes a)
  stream "$A" "$B" "$b_addr" 5001 11
  check_shares a "$before" "$conn A -> B"
  before=$(tx_bytes b)
  stream "$B" "$A" "$a_addr" 5002 12
  check_shares b "$before" "$conn B -> A"
}

# mptd --check on a configuration: valid, and without a warning (the examples are clean).
check_config() {  # DIR
  local out
  out=$("$MPTD" --check --config "$1" 2>&1) || { echo "$out"; fail "$1 refused"; }
  if grep -qi warning <<<"$out"; then echo "$out"; fail "$1 loads with warnings"; fi
  echo "  $out"
}

# Stops every process in namespaces A and B (the daemons this test started) and waits for
# them to exit: their TUN devices and routes go with them.
stop_daemons() {
  local pids pid i
  pids=$(ip netns pids "$A"; ip netns pids "$B")
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for pid in $pids; do
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && fail "process $pid did not stop"
  done
  rm -f "$WORK"/*.pid
}

shape() {  # NS DEV RATE
  tc -n "$1" qdisc add dev "$2" root tbf rate "$3" burst 65536 latency 20ms
}

# --- 1. examples/bonding, through the README's Quick start ------------------------------------

echo "=== examples/bonding (README Quick start)"
ip link add lan0 netns "$A" type veth peer name lan0 netns "$B"
ip link add lan1 netns "$A" type veth peer name lan1 netns "$B"
ip -n "$A" addr add 192.0.2.1/24 dev lan0
ip -n "$B" addr add 192.0.2.2/24 dev lan0
ip -n "$A" addr add 198.51.100.1/24 dev lan1
ip -n "$B" addr add 198.51.100.2/24 dev lan1
for ns in "$A" "$B"; do
  ip -n "$ns" link set lo up
  for dev in lan0 lan1; do
    ip -n "$ns" link set "$dev" up
    shape "$ns" "$dev" 100mbit
  done
done
wait_carrier "$A" lan0 lan1
wait_carrier "$B" lan0 lan1

run_readme a "$A" copy
run_readme b "$B" copy 's|examples/bonding/a |examples/bonding/b |'
[ -f "$WORK/host-b/etc/mpt/bond/connections/bond.conf" ] || fail "the README's copy made no /etc/mpt/bond"
for s in a b; do
  diff -r "$SRC/examples/bonding/$s" "$WORK/host-$s/etc/mpt/bond" || fail "host $s: the copy differs from examples/bonding/$s"
done
run_readme a "$A" check
run_readme b "$B" check
for s in a b; do check_config "$WORK/host-$s/etc/mpt/bond"; done
for s in a b; do
  ns=$A
  [ $s = b ] && ns=$B
  run_readme "$s" "$ns" foreground >"$WORK/bonding-$s.log" 2>&1 &
  echo $! >"$WORK/bonding-$s.pid"
done
wait_for 50 test -S "$(sock a)" || fail "bonding: mptd A did not start"
wait_for 50 test -S "$(sock b)" || fail "bonding: mptd B did not start"
check_pair bond 10.100.0.1 10.100.0.2
run_readme a "$A" status
stop_daemons
ip -n "$A" link del lan0
ip -n "$A" link del lan1

# --- 2. examples/wifi-lte -------------------------------------------------------------------

echo "=== examples/wifi-lte"
SOCK_ROOT=wl
ip netns add "$R1"
ip netns add "$R2"
# router NS, its interface toward A, its address there, A's interface, A's address, metric,
# its interface toward B, its address there, B's interface, B's address, rate
link() {
  local r=$1 rin=$2 raddr=$3 adev=$4 aaddr=$5 metric=$6 rout=$7 rup=$8 bdev=$9 baddr=${10} rate=${11}
  ip link add "$rin" netns "$r" type veth peer name "$adev" netns "$A"
  ip link add "$rout" netns "$r" type veth peer name "$bdev" netns "$B"
  ip -n "$r" addr add "$raddr/24" dev "$rin"
  ip -n "$r" addr add "$rup/24" dev "$rout"
  ip -n "$A" addr add "$aaddr/24" dev "$adev"
  ip -n "$B" addr add "$baddr/24" dev "$bdev"
  ip -n "$r" link set lo up
  ip -n "$r" link set "$rin" up
  ip -n "$r" link set "$rout" up
  ip -n "$A" link set "$adev" up
  ip -n "$B" link set "$bdev" up
  # The access network's rate, both ways.
  shape "$r" "$rin" "$rate"
  shape "$r" "$rout" "$rate"
  ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
  wait_carrier "$r" "$rin" "$rout"
  wait_carrier "$A" "$adev"
  wait_carrier "$B" "$bdev"
  # Each of A's interfaces has its own default route, as DHCP / NetworkManager set them up;
  # B has one per uplink.
  ip -n "$A" route add default via "$raddr" dev "$adev" metric "$metric"
  ip -n "$B" route add default via "$rup" dev "$bdev" metric "$metric"
}
link "$R1" ap 192.168.1.1 wlan0 192.168.1.2 600 wan 198.51.100.1 eth0 198.51.100.10 50mbit
link "$R2" ran 100.64.0.1 wwan0 100.64.0.2 700 wan 203.0.113.1 eth1 203.0.113.10 20mbit

for s in a b; do
  mkdir -p "$WORK/wl-$s/run"
  cp -r "$SRC/examples/wifi-lte/$s" "$WORK/wl-$s/wifi-lte"
  check_config "$WORK/wl-$s/wifi-lte"
done
for s in a b; do
  ns=$A
  [ $s = b ] && ns=$B
  ip netns exec "$ns" "$MPTD" --config "$WORK/wl-$s/wifi-lte" --socket "$(sock "$s")" >"$WORK/wifi-lte-$s.log" 2>&1 &
  echo $! >"$WORK/wifi-lte-$s.pid"
done
wait_for 50 test -S "$(sock a)" || fail "wifi-lte: mptd A did not start"
wait_for 50 test -S "$(sock b)" || fail "wifi-lte: mptd B did not start"
check_pair wifi-lte 10.101.0.1 10.101.0.2
# B knows no address of A's: it learnt them, each on its own path.
for p in 0 1; do
  want=192.168.1.2
  [ $p = 1 ] && want=100.64.0.2
  r=$(field b "j['paths'][$p]['remote']")
  echo "wifi-lte: B's path_$p learnt A at $r"
  case "$r" in "$want":*) ;; *) fail "wifi-lte: B's path_$p peer is '$r', not $want" ;; esac
done
echo "PASS: examples/bonding (via the README's Quick start) and examples/wifi-lte work as shipped"
