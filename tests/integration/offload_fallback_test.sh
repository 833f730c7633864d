#!/usr/bin/env bash
# The offload fallbacks (#14 item 5): mptd must carry traffic whatever the devices offer.
#   1. paths whose devices have transmit checksum offload off (`ethtool -K veth0 tx off`):
#      UDP GSO then needs the kernel's software segmentation and checksum (older kernels
#      refused such sends with EIO: no send error may show);
#   2. `mptd --no-offload` on both ends: no virtio header on the TUN, no TSO/USO reads, no
#      GSO writes;
#   3. both at once.
# Each: a 100 MB byte-checked TCP stream over two paths, and ping.
# Usage: offload_fallback_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
command -v ethtool >/dev/null || fail "ethtool is not installed (.ci/setup installs it)"
init_test_env "$@"
add_veth_paths 2
write_pair_configs

run_case() {  # NAME TX_CSUM(on|off) MPTD_ARGS...
  local name=$1 csum=$2 ns dev
  shift 2
  for ns in "$A" "$B"; do
    for dev in veth0 veth1; do
      ip netns exec "$ns" ethtool -K "$dev" tx "$csum" >/dev/null 2>&1 || fail "ethtool tx $csum"
      ip netns exec "$ns" ethtool -k "$dev" | grep -q "^tx-checksumming: $csum" ||
        fail "$name: $dev's tx-checksumming did not turn $csum"
    done
  done
  ip netns exec "$A" "$MPTD" --config "$WORK/a" --socket "$WORK/a.sock" "$@" >"$WORK/a.log" 2>&1 &
  echo $! >"$WORK/a.pid"
  ip netns exec "$B" "$MPTD" --config "$WORK/b" --socket "$WORK/b.sock" "$@" >"$WORK/b.log" 2>&1 &
  echo $! >"$WORK/b.pid"
  wait_for 50 test -S "$WORK/a.sock" || fail "$name: mptd A did not start"
  wait_for 50 test -S "$WORK/b.sock" || fail "$name: mptd B did not start"
  ip netns exec "$A" ping -c 2 -w 10 10.201.0.2 >/dev/null || fail "$name: no ping"
  local t0=$(date +%s%N)
  checked_stream 5001 100000000 7
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  local errs
  errs=$("$MPT" --socket "$WORK/a.sock" status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(p["tx_send_errors"] for p in d["paths"]))')
  echo "$name: 100 MB intact in $ms ms; A's send errors: $errs"
  # A kernel that refuses UDP GSO without checksum offload fails sends with EIO (counted
  # here): this kernel segments in software. Should one refuse, mptd needs its own fallback
  # (one datagram per send on that path) -- this is where it would show.
  [ "$errs" = 0 ] || fail "$name: $errs send errors"
  kill "$(cat "$WORK/a.pid")" "$(cat "$WORK/b.pid")"
  wait "$(cat "$WORK/a.pid")" "$(cat "$WORK/b.pid")" 2>/dev/null || true
  rm -f "$WORK/a.pid" "$WORK/b.pid"
}

run_case "tx checksum offload off" off
run_case "--no-offload" on --no-offload
run_case "both" off --no-offload
echo "PASS: offload fallbacks"
