#!/usr/bin/env bash
# `mpt status --json` is valid JSON whatever the configuration's names hold: a connection
# named with a quote and a backslash broke the printf-built JSON before it was built with a
# JSON library. Parsed with Python's json module; every counter family is present.
# Usage: status_json_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$@"
add_veth_paths 1
write_config "$WORK/a" 10.201.0.1/24 fd00:201::1/64 10.201.0.1 10.201.0.2 "${PATHS_A[@]}"
sed -i 's/^name = it$/name = we"ird\\name/' "$WORK/a/connections/it.conf"
grep -q 'name = we"ird\\name' "$WORK/a/connections/it.conf" || fail "test setup: name not set"
ip netns exec "$A" "$MPTD" --config "$WORK/a" --socket "$WORK/a.sock" >"$WORK/a.log" 2>&1 &
echo $! >"$WORK/a.pid"
wait_for 50 test -S "$WORK/a.sock" || fail "mptd did not start"
"$MPT" --socket "$WORK/a.sock" status --json >"$WORK/status.json" || fail "mpt status --json failed"
python3 - "$WORK/status.json" <<'PY' || fail "mpt status --json is not the JSON expected"
import json, sys
d = json.load(open(sys.argv[1]))
name = 'we"ird\\name'
assert d["connections"][0]["name"] == name, d["connections"][0]["name"]
assert d["paths"][0]["name"] == name + "/path_0", d["paths"][0]["name"]
assert d["control"][0]["connection"] == name
assert d["health"][0]["path"] == name + "/path_0"
for key in ("mtu", "tx", "rx", "connections", "paths", "health", "control", "control_rx_errors"):
    assert key in d, key
for key in ("drop_no_buffer", "drop_not_ip", "drop_too_big", "nack_drop_no_buffer"):
    assert key in d["rx"], key
print("status --json parses; names:", d["connections"][0]["name"], d["paths"][0]["name"])
PY
echo "PASS: status --json escapes names"
