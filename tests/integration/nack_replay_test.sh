#!/usr/bin/env bash
# Sealed repair requests (NACKs, docs/protocol.md 2a) sent again by someone who recorded them
# must not make the sender resend anything: each request counts once, whichever path or
# address brings it (the TUN reader's replay window, TunReader::accept_nack).
# Set-up: two keyed paths; B drops 3 % of what arrives on path 0 (nftables numgen), so B's
# reorder stage asks A for the missing numbers while a TCP stream runs A -> B. A raw socket
# in A records every 0x88B5 datagram (sealed data, repair requests, control messages).
# Checks: the stream arrived intact and A served repairs; after the stream, every recorded
# repair request sent to A again (from B's path address, another port) is ignored and counted
# (tx.repair_replayed grows by at least their number) and A resends nothing (tx.repaired
# stays); the tunnel still works.
# Usage: nack_replay_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$@"
command -v nft >/dev/null || { echo "SKIP: nft (package nftables) is missing; not run" >&2; exit 77; }
add_veth_paths 2 200mbit
AUTH_KEY=nack-replay-key-0001 write_pair_configs "probe_interval_ms = 50"
start_mptd_pair
wait_for 50 established a || fail "A: the peer never answered HELLO"
wait_for 50 established b || fail "B: the peer never answered HELLO"
ip netns exec "$B" nft -f - <<'NFT'
table inet loss {
  chain in {
    type filter hook input priority 0;
    iifname "veth0" udp dport 4754 numgen random mod 100 < 3 drop
  }
}
NFT
tx() {  # KEY -> A's tx counter
  "$MPT" --socket "$WORK/a.sock" status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['tx']['$1'])"
}
ip netns exec "$A" "$TOOL" capture-control 4754 6 "$WORK/cap.txt" >"$WORK/cap.out" 2>&1 &
cpid=$!
checked_stream 5201 60000000 5
wait $cpid
ip netns exec "$B" nft delete table inet loss
# Repair requests: GRE without options (4 bytes), then the sealed header's kind 5.
grep -E '^[0-9.]+ [0-9.]+ 000088b505' "$WORK/cap.txt" >"$WORK/nacks.txt" || true
nn=$(wc -l <"$WORK/nacks.txt")
served=$(tx repaired)
echo "stream intact; A served $served repairs; $nn sealed repair requests recorded"
[ "$served" -gt 0 ] || fail "no repair was served (the loss rule did not bite?)"
[ "$nn" -gt 0 ] || fail "no repair request recorded"
sleep 0.5
r0=$(tx repaired); p0=$(tx repair_replayed)
for dst in 10.200.1.1 10.200.2.1; do
  src=10.200.1.2; [ "$dst" = 10.200.2.1 ] && src=10.200.2.2
  ip netns exec "$B" "$TOOL" replay-control "$WORK/nacks.txt" "$dst" "$src" "$dst" 4754 none >/dev/null
done
sleep 0.5
r1=$(tx repaired); p1=$(tx repair_replayed)
echo "replayed $nn requests: $((p1 - p0)) ignored as replays, $((r1 - r0)) segments sent again"
[ $((r1 - r0)) -eq 0 ] || fail "replayed repair requests made A resend $((r1 - r0)) segments"
[ $((p1 - p0)) -ge "$nn" ] || fail "only $((p1 - p0)) of $nn replayed requests counted"
ip netns exec "$A" ping -c 3 -i 0.2 -W 2 10.201.0.2 >/dev/null || fail "ping after the replays"
echo "PASS: $nn replayed repair requests ignored and counted, nothing resent"
