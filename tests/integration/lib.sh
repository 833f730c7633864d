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
wait_for() {
  local tries=$1
  shift
  while ! "$@" >/dev/null 2>&1; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || return 1
    sleep 0.1
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
  {
    echo "[connection]"
    echo "name = it"
    echo "ip_ver = 4"
    echo "ip_local = $local_tun"
    echo "ip_remote = $remote_tun"
    echo "path_count = $#"
    [ -n "${REORDER_WINDOW:-}" ] && echo "reorder_window = $REORDER_WINDOW"
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
