#!/usr/bin/env bash
# Zero-stall failover: one of two paths dies *silently* (every packet dropped both ways, the
# link stays up) in the middle of a TCP transfer. Probes every 20 ms, 3 misses.
#
#   ns A                                               ns B
#   mpt0 10.201.0.1 ------ mptd over 2 paths ------- mpt0 10.201.0.2
#   veth0 10.200.1.1 ====== path_0 (tbf 100M) ====== veth0 10.200.1.2
#   veth1 10.200.2.1 ====== path_1 (tbf 100M) ====== veth1 10.200.2.2   <- silent cut at ~1.5 s
#
# Checks: path_1 is declared down; what it had sent unconfirmed is reinjected on path_0
# (tx reinjected > 0); the receiver discards the copies it already had; the transfer
# arrives intact; and the sender's TCP had no retransmission timeout (TcpExtTCPTimeouts).
# This runs with repair = 0 (reinjection is what covers a dead path then);
# MPT_SILENT_CUT_MODE=repair (silent_cut_repair_test.sh) runs with repair on instead and
# checks that the receiver asked for what the cut swallowed and A sent it again (repaired > 0)
# rather than reinjecting its history: only the tail (what the cut path carried beyond the
# newest number sent on path_0, which no later arrival can reveal as missing) is reinjected,
# fewer than 100 segments where the history is 190-350 here. Without the tail, a flow whose
# ACKs all rode path_1 stalled until its sender's retransmission timeout.
# Usage: silent_cut_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns

init_test_env "$@"
BYTES=${BYTES:-60000000}
MODE=${MPT_SILENT_CUT_MODE:-reinject}
[ "$MODE" = repair ] || export REPAIR=0

add_veth_paths 2 100mbit

AUTH_KEY=integration-test-key write_pair_configs "probe_interval_ms = 20" "dead_misses = 3" \
  "hold_down_ms = 300"
start_mptd_pair
wait_for 30 established a || fail "A: the peer never answered HELLO"
health() { path_state "$@"; }  # side path -> state
timeouts() { ip netns exec "$A" nstat -asz TcpExtTCPTimeouts | awk '/TcpExtTCPTimeouts/ {print $2}'; }

ip netns exec "$B" "$TOOL" tcp-recv 10.201.0.2 5001 "$BYTES" 9 >"$WORK/recv.out" 2>&1 &
rpid=$!
wait_for 50 grep -q listening "$WORK/recv.out" || fail "receiver did not start"
rto_before=$(timeouts)
ip netns exec "$A" nstat -n  # reset nstat's history: the next nstat shows this transfer only
ip netns exec "$A" "$TOOL" tcp-send 10.201.0.2 5001 "$BYTES" 9 &
spid=$!
sleep 1.4
# Did path_1 carry data right before the cut? Reinjection moves what it sent unconfirmed; the
# adaptive scheduler has (rarely: 2 of ~30 CI runs on 2026-12-03) left it idle for a moment
# there, and then nothing is owed. Two counter reads 100 ms apart (small mpt processes: no
# polling loop, which starves the daemons' control threads on 2 vCPUs).
path1_tx() {
  "$MPT" --socket "$WORK/a.sock" status --json | grep -o '"name":"it/path_1"[^}]*' |
    grep -o '"tx_packets":[0-9]*' | cut -d: -f2
}
tx_a=$(path1_tx)
sleep 0.1
tx_b=$(path1_tx)
for ns in "$A" "$B"; do  # silent: the link stays up, every packet on path_1 is dropped
  ip netns exec "$ns" nft add table netdev cut
  ip netns exec "$ns" nft 'add chain netdev cut in { type filter hook ingress device veth1 priority 0; policy drop; }'
done
path1_down() { [ "$(health a 1)" = down ]; }
wait_for 20 path1_down || fail "path_1 not declared down after a silent cut: $(health a 1)"
echo "path_1 declared down on A"
wait $spid || fail "sender failed during the cut"
wait $rpid || { cat "$WORK/recv.out"; fail "payload not intact across the cut"; }
echo "$(tail -n 1 "$WORK/recv.out")"
rto=$(( $(timeouts) - rto_before ))
tcp_story=$(ip netns exec "$A" nstat -z | awk '$1 ~ /TcpExt(TCPTimeouts|TCPLossProbes|TCPLostRetransmit|TCPSackRecovery|TCPSACKReorder|TCPRenoReorder|TCPTSReorder|TCPFastRetrans|TCPSlowStartRetrans|TCPLossProbeRecovery|TCPSpuriousRTOs|TCPDSACKRecv)$/ && $2 > 0 {printf "%s=%s ", $1, $2}')
echo "sender TCP: $tcp_story"
st=$("$MPT" --socket "$WORK/a.sock" status --json)
reinjected=$(json_counter "$st" reinjected)
dup=$(json_counter "$("$MPT" --socket "$WORK/b.sock" status --json)" duplicate)
repaired=$(json_counter "$st" repaired)
echo "A reinjected $reinjected segments, repaired $repaired; B discarded $dup duplicates; sender RTOs: $rto"
# No RTO is a timing property: the release build is held to it. A sanitizer build runs mptd
# several times slower on a CPU shared with both TCP ends and may miss it once (repair mode
# under ASan: 1 RTO in 2 of 20 runs on 2026-12-01, 0 in 15 with the build before that day's
# changes, alternating -- not conclusive); there one is tolerated and shown.
rto_allowed=0
[ "$SANITIZED" -eq 1 ] && rto_allowed=1
[ "$rto" -gt 0 ] && [ "$rto" -le "$rto_allowed" ] && echo "WARNING: $rto RTO tolerated in a sanitizer build"
if [ "$MODE" = repair ]; then
  [ "${repaired:-0}" -gt 0 ] || { "$MPT" --socket "$WORK/a.sock" status; fail "nothing repaired after a silent cut"; }
  # Only the tail may be reinjected: what the cut path carried beyond the newest number any
  # other path sent. That is everything it took in the detection time (60 ms, up to ~500
  # segments at 100 Mbit/s) when the other path was idle meanwhile, and usually far less
  # (observed 0-74, once 188 in 25 runs on 2026-12-01); the whole unconfirmed history -- what
  # repair mode must not push -- is about 1000 (50 ms queue + detection).
  [ "${reinjected:-0}" -lt 500 ] || fail "$reinjected segments reinjected although repair is on (only the tail should be)"
  [ "$rto" -le "$rto_allowed" ] || { "$MPT" --socket "$WORK/a.sock" status; "$MPT" --socket "$WORK/b.sock" status
    fail "the TCP flow had $rto retransmission timeout(s) across the cut"; }
  echo "PASS: silent cut, lost sends repaired on request, payload intact, no RTO"
  exit 0
fi
if [ "$tx_b" -gt "$tx_a" ]; then
  [ "${reinjected:-0}" -gt 0 ] || { "$MPT" --socket "$WORK/a.sock" status; fail "nothing reinjected after a silent cut (path_1 sent $((tx_b - tx_a)) packets in the 100 ms before it)"; }
else
  echo "note: path_1 sent nothing in the 100 ms before the cut: no reinjection owed ($reinjected)"
fi
[ "$rto" -le "$rto_allowed" ] || fail "the TCP flow had $rto retransmission timeout(s) across the cut"
echo "PASS: silent cut, unconfirmed sends reinjected, payload intact, no RTO"
