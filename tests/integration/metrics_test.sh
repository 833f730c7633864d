#!/usr/bin/env bash
# `mptd --metrics`: Prometheus's scrape endpoint during a transfer over two paths.
#
#   ns A: mptd --metrics 127.0.0.1:9474 (keyed)  ==== 2 veth paths ====  ns B: mptd
#
# Checks: curl during a 100 MB byte-checked transfer gets HTTP 200 and the text exposition
# format, which a real Prometheus parser (python3-prometheus-client) accepts; each path's
# byte and packet counters lie between the `mpt status --json` taken just before and just
# after the scrape; health and the connection's state are there; a bad request gets 4xx and
# the daemon keeps serving; --metrics is off by default and a bad address is refused.
# Usage: metrics_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
PY=/usr/bin/python3  # Debian's python, where python3-prometheus-client installs
"$PY" -c 'import prometheus_client.parser' 2>/dev/null ||
  fail "python3-prometheus-client is not installed (.ci/setup installs it)"

init_test_env "$@"
add_veth_paths 2
AUTH_KEY=$(printf '%064d' 7) write_pair_configs "probe_interval_ms = 50"

out=$("$BUILD/cli/mptd" --config "$WORK/a" --metrics 1.2.3:x 2>&1) && fail "bad --metrics accepted"
grep -q "metrics" <<<"$out" || fail "bad --metrics: no error naming it: $out"

ip netns exec "$A" "$MPTD" --config "$WORK/a" --socket "$WORK/a.sock" --metrics 9474 >"$WORK/a.log" 2>&1 &
echo $! >"$WORK/a.pid"
ip netns exec "$B" "$MPTD" --config "$WORK/b" --socket "$WORK/b.sock" >"$WORK/b.log" 2>&1 &
echo $! >"$WORK/b.pid"
wait_for 50 test -S "$WORK/a.sock" || fail "mptd A did not start"
wait_for 50 test -S "$WORK/b.sock" || fail "mptd B did not start"
grep -q "metrics on http://127.0.0.1:9474/metrics" "$WORK/a.log" || fail "A does not say where its metrics are"
wait_every 0.2 100 established a || fail "A never heard B"
ip netns exec "$A" ping -c 2 -w 10 10.201.0.2 >/dev/null || fail "no ping across the tunnel"
# B serves no metrics: off by default.
ip netns exec "$B" curl -s -m 2 http://127.0.0.1:9474/metrics >/dev/null && fail "B serves metrics without --metrics"

scrape() { ip netns exec "$A" curl -s -f -m 5 -D "$WORK/headers" http://127.0.0.1:9474/metrics; }

checked_stream 5001 100000000 3 &
spid=$!
sleep 1.5
"$MPT" --socket "$WORK/a.sock" status --json >"$WORK/before.json"
scrape >"$WORK/metrics.txt" || fail "scrape failed"
"$MPT" --socket "$WORK/a.sock" status --json >"$WORK/after.json"
wait $spid || fail "transfer failed"
grep -qi "^content-type: text/plain; version=0.0.4" "$WORK/headers" || fail "wrong content type: $(cat "$WORK/headers")"

"$PY" - "$WORK/metrics.txt" "$WORK/before.json" "$WORK/after.json" <<'PYEOF' || fail "metrics do not match the status"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
before, after = (json.load(open(p)) for p in sys.argv[2:4])
samples = {}
families = 0
for fam in text_string_to_metric_families(text):  # raises on anything malformed
    families += 1
    for s in fam.samples:
        samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
print(f"parsed {families} metric families, {len(samples)} samples")

def get(name, **labels):
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, f"missing {name} {labels}"
    return samples[key]

checked = 0
for i, (pb, pa) in enumerate(zip(before["paths"], after["paths"])):
    labels = dict(tunnel="mpt0", connection="it", path=pb["name"], interface=pb["interface"])
    for field in ("tx_bytes", "tx_packets", "rx_bytes", "rx_packets", "rx_accepted"):
        v = get("mpt_path_" + field + "_total", **labels)
        assert pb[field] <= v <= pa[field], f"{pb['name']} {field}: {pb[field]} <= {v} <= {pa[field]}"
        checked += 1
    assert pa["tx_bytes"] > 10_000_000 or pb["tx_bytes"] > 0, "no traffic on path"
    assert get("mpt_path_admin_up", **labels) == 1
    h = [x for x in after["health"] if x["path"] == pb["name"]][0]
    assert get("mpt_path_health", tunnel="mpt0", connection="it", path=pb["name"], state=h["state"]) == 1
    assert get("mpt_path_rtt_seconds", tunnel="mpt0", connection="it", path=pb["name"]) > 0
v = get("mpt_tx_tun_read_packets_total", tunnel="mpt0")
assert before["tx"]["tun_read_packets"] <= v <= after["tx"]["tun_read_packets"]
assert get("mpt_connection_established", tunnel="mpt0", connection="it") == 1
assert get("mpt_connection_session_keys", tunnel="mpt0", connection="it") == 1
assert get("mpt_reorder_in_order_total", tunnel="mpt0", connection="it") > 0
assert get("mpt_status_schema_version", tunnel="mpt0") == before["schema_version"]
print(f"{checked} per-path counters between the status before and after the scrape")
PYEOF

# Bad requests: answered with an error, and the endpoint keeps serving.
code=$(ip netns exec "$A" curl -s -o /dev/null -w '%{http_code}' -m 5 http://127.0.0.1:9474/)
[ "$code" = 404 ] || fail "GET / answered $code, not 404"
code=$(ip netns exec "$A" curl -s -o /dev/null -w '%{http_code}' -m 5 -X POST http://127.0.0.1:9474/metrics)
[ "$code" = 405 ] || fail "POST answered $code, not 405"
# Idle connections that never send a request: the limit refuses the rest, the timeout frees them.
idle=()
for i in 1 2 3 4 5 6 7 8 9 10; do
  ip netns exec "$A" bash -c 'exec 3<>/dev/tcp/127.0.0.1/9474; sleep 7' &
  idle+=($!)
done
sleep 1
ip netns exec "$A" "$MPT" --socket "$WORK/a.sock" status >/dev/null || fail "control socket stuck behind idle metrics clients"
sleep 7
scrape >/dev/null || fail "metrics endpoint did not recover from idle clients"
wait "${idle[@]}"
echo "PASS: metrics endpoint"
