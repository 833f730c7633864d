#!/usr/bin/env bash
# Server mode (accept_remote = 1): one mptd serves many clients on one UDP port (4754).
#
#   ns A (server): br0 10.210.0.1/16, mpt0 10.220.0.1/16; conf.template + clients/cN.conf
#       | bridge ports p1..pN
#   ns cN (client N): wan 10.210.1.N/16 (IPv4 of client N), mpt0 10.220.1.N/16, an ordinary
#       keyed connection to 10.210.0.1:4754 with client N's key
#
# Checks: every client establishes, pings the server through the tunnel (all at once) and
# passes a byte-checked TCP transfer; the server's memory per connected client is within
# MAX_CLIENT_KB (skipped in sanitizer builds); strangers -- a client with a key the server
# does not know, forged control messages, plain data -- create no client, move no client's
# address, and are counted.
# Usage: server_test.sh BUILD_DIR [CLIENTS]
. "$(dirname "$0")/lib.sh"
require_root_and_netns
init_test_env "$1"
# 100 clients; 20 in a sanitizer build (100 ASan daemons would need several GB).
N=${2:-100}
if [ -z "${2:-}" ] && [ "$SANITIZED" -eq 1 ]; then N=20; fi
# The server's RSS per connected client, measured over its RSS with no client: about 430 KiB
# at 100 clients (bench/RESULTS.md "Server mode"; the issue's target is 4 MB). Checked from
# 50 clients on (below, the listener's fixed part weighs in), not in sanitizer builds.
MAX_CLIENT_KB=${MAX_CLIENT_KB:-1024}
EXTRA_NS=""
for ((i = 1; i <= N + 1; i++)); do EXTRA_NS="$EXTRA_NS mpt-$$-c$i"; done
ip -n "$A" link add br0 type bridge
ip -n "$A" addr add 10.210.0.1/16 dev br0
ip -n "$A" link set br0 up
ip -n "$A" link set lo up
# Client N+1 is the stranger: same network, a key the server does not have.
for ((i = 1; i <= N + 1; i++)); do
  ns=mpt-$$-c$i
  ip netns add "$ns"
  ip link add "p$i" netns "$A" type veth peer name wan netns "$ns"
  ip -n "$A" link set "p$i" master br0 up
  ip -n "$ns" addr add "10.210.1.$i/16" dev wan
  ip -n "$ns" link set wan up
  ip -n "$ns" link set lo up
done

key() { printf 'client-%03d-secret-key-0123456789' "$1"; }
# Server: the template (one path on br0, learns each client's address) and one file per client.
mkdir -p "$WORK/s/connections" "$WORK/s/clients"
cat >"$WORK/s/interface.conf" <<CONF
[general]
tunnel_num = 1
accept_remote = 1
[tun_0]
name = mpt0
mtu = 1440
ipv4_addr = 10.220.0.1/16
CONF
cat >"$WORK/s/connections/conf.template" <<CONF
[connection]
name = template
ip_ver = 4
ip_local = 10.220.0.1
path_count = 1
[path_0]
interface_name = br0
ip_ver = 4
private_ipaddr = 10.210.0.1
CONF
write_clients() {  # COUNT
  rm -f "$WORK/s/clients/"*.conf
  for ((i = 1; i <= $1; i++)); do
    printf '[client]\nip_remote = 10.220.1.%d\nauth_key = %s\n' "$i" "$(key "$i")" >"$WORK/s/clients/c$i.conf"
  done
}
for ((i = 1; i <= N + 1; i++)); do
  AUTH_KEY=$(key "$i") write_config "$WORK/c$i" "10.220.1.$i/16" "fd00:220::1:$i/64" "10.220.1.$i" 10.220.0.1 "wan|4|10.210.1.$i|10.210.0.1"
done
AUTH_KEY="not-a-key-the-server-knows-at-all" write_config "$WORK/c$((N + 1))" "10.220.1.$((N + 1))/16" "fd00:220::1:$((N + 1))/64" "10.220.1.$((N + 1))" 10.220.0.1 "wan|4|10.210.1.$((N + 1))|10.210.0.1"

start_server() {
  ip netns exec "$A" "$MPTD" --config "$WORK/s" --socket "$WORK/s.sock" >"$WORK/s.log" 2>&1 &
  echo $! >"$WORK/s.pid"
  wait_for 100 test -S "$WORK/s.sock" || fail "server did not start"
}
stop_server() {
  kill "$(cat "$WORK/s.pid")"
  wait_for 100 sh -c "! kill -0 $(cat "$WORK/s.pid") 2>/dev/null" || fail "server did not stop"
  rm -f "$WORK/s.pid" "$WORK/s.sock"
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$(cat "$WORK/s.pid")/status"; }
server_status() { "$MPT" --socket "$WORK/s.sock" status --json; }

# Memory with no clients configured: the baseline the per-client figure is measured from.
write_clients 0
start_server
sleep 1
base_kb=$(rss_kb)
stop_server
write_clients "$N"
start_server
sleep 1
configured_kb=$(rss_kb)
echo "server RSS: $base_kb KiB with no clients, $configured_kb KiB with $N configured (none connected)"

# Started 20 at a time: 101 daemons starting at once keep this 2-core machine busy for
# seconds (each maps and touches its pools), long enough to starve the server's probes.
for ((i = 1; i <= N + 1; i++)); do
  ip netns exec "mpt-$$-c$i" "$MPTD" --config "$WORK/c$i" --socket "$WORK/c$i.sock" >"$WORK/c$i.log" 2>&1 &
  echo $! >"$WORK/c$i.pid"
  [ $((i % 20)) -ne 0 ] || sleep 0.5
done
t0=$(date +%s.%N)
all_established() {
  [ "$(server_status | grep -o '"established":true' | wc -l)" -ge "$N" ]
}
# Polled every 0.5 s, up to 60 s: a status of 100 clients is big.
wait_every 0.5 120 all_established || fail "only $(server_status | grep -o '"established":true' | wc -l) of $N clients established"
echo "all $N clients established in $(echo "$(date +%s.%N) - $t0" | bc) s"
# Established (keys and HELLO) is not yet usable: a path carries data once it has answered
# probes for the hold-down.
all_up() {
  [ "$(server_status | grep -o '"path":"c[0-9]*/path_0","state":"up"' | wc -l)" -ge "$N" ]
}
wait_every 0.5 120 all_up || fail "only $(server_status | grep -o '"path":"c[0-9]*/path_0","state":"up"' | wc -l) of $N client paths up"
# ... and on the clients' side.
clients_up() {
  local i
  for ((i = 1; i <= N; i++)); do
    "$MPT" --socket "$WORK/c$i.sock" status --json | grep -q '"state":"up"' || return 1
  done
}
wait_every 0.5 120 clients_up || fail "not every client's path is up"
echo "all $N client paths up on both sides $(echo "$(date +%s.%N) - $t0" | bc) s after the clients started"

# Every client pings the server at once.
pids=()
for ((i = 1; i <= N; i++)); do
  # Two answers within 15 s (ping sends one a second until then): tolerant of a moment
  # when 100 pings and 100 daemons leave the server's probes unanswered on 2 cores.
  ip netns exec "mpt-$$-c$i" ping -c 2 -w 15 10.220.0.1 >"$WORK/ping$i.out" 2>&1 &
  pids+=($!)
done
bad=0
for ((i = 1; i <= N; i++)); do
  wait "${pids[$((i - 1))]}" || {
    bad=$((bad + 1))
    echo "client $i: $(tail -n 2 "$WORK/ping$i.out" | head -n 1)"
    "$MPT" --socket "$WORK/c$i.sock" status --json >"$WORK/c$i.status.json" 2>&1 || true
  }
done
[ "$bad" -eq 0 ] || { server_status >"$WORK/s.status.json"; fail "$bad of $N clients could not ping the server through the tunnel"; }
echo "all $N clients ping the server at once"

# A short byte-checked transfer from each client, ten at a time.
for ((i = 1; i <= N; i += 10)); do
  pids=()
  for ((k = i; k < i + 10 && k <= N; k++)); do
    ip netns exec "$A" "$TOOL" tcp-recv 10.220.0.1 $((6000 + k)) 200000 "$k" >"$WORK/recv$k.out" 2>&1 &
    pids+=($!)
  done
  for ((k = i; k < i + 10 && k <= N; k++)); do
    wait_for 50 grep -q listening "$WORK/recv$k.out" || fail "receiver $k did not start"
    ip netns exec "mpt-$$-c$k" "$TOOL" tcp-send 10.220.0.1 $((6000 + k)) 200000 "$k" >/dev/null 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fail "a transfer of clients $i.. did not arrive intact"; done
done
echo "all $N clients passed a 200 kB byte-checked transfer"

sleep 2
idle_kb=$(rss_kb)
per_kb=$(((idle_kb - base_kb) / N))
echo "server RSS with $N clients connected and idle after traffic: $idle_kb KiB ($per_kb KiB per client over $base_kb KiB)"

# Strangers. The client with the unknown key has sent INITs all along: none was claimed.
s=$(server_status)
[ "$(printf '%s' "$s" | grep -o '"established":true' | wc -l)" -eq "$N" ] || fail "more than $N connections established"
unclaimed=$(json_counter "$s" listener_unclaimed)
[ "${unclaimed:-0}" -gt 0 ] || fail "the stranger's INITs were not counted as unclaimed"
remotes_before=$(printf '%s' "$s" | grep -o '"remote":"[^"]*"' | sort | md5sum)
# Forged control messages and plain data from the stranger's address (and spoofed from
# nowhere): counted, no client moves.
S=mpt-$$-c$((N + 1))
kill "$(cat "$WORK/c$((N + 1)).pid")"
ip netns exec "$S" "$TOOL" forge-control 10.210.1.$((N + 1)) 10.210.0.1 4754 2000 >/dev/null || fail "forge-control failed"
ip netns exec "$S" "$TOOL" spoof-data 10.210.1.$((N + 1)) 10.210.0.1 4754 10.220.1.5 10.220.0.1 9 500 >/dev/null || fail "spoof-data failed"
sleep 1
s=$(server_status)
remotes_after=$(printf '%s' "$s" | grep -o '"remote":"[^"]*"' | sort | md5sum)
[ "$remotes_before" = "$remotes_after" ] || fail "a stranger moved a client's address"
dropped=$(printf '%s' "$s" | grep -o '"rx_drop_unknown_client":[0-9]*' | head -n 1 | cut -d: -f2)
unsealed=$(printf '%s' "$s" | sed 's/.*"listeners"//' | grep -o '"rx_drop_unsealed":[0-9]*' | head -n 1 | cut -d: -f2)
lst=$(printf '%s' "$s" | sed 's/.*"listeners"//')
taken=$(json_counter "$lst" rx_control)
refused=$(json_counter "$lst" rx_control_dropped)
limited=$(json_counter "$lst" rx_control_limited)
unclaimed2=$(json_counter "$s" listener_unclaimed)
echo "strangers: control messages at the listener: $taken taken ($((unclaimed2 - unclaimed)) of the forged ones claimed by no client), $refused refused (malformed), $limited over the limit; $unsealed plain data dropped, $dropped sealed data dropped"
[ $((taken + refused + limited)) -ge 2000 ] || fail "forged control messages not all accounted for"
[ "${unsealed:-0}" -ge 500 ] || fail "plain data from a stranger not counted ($unsealed)"
# The clients still pass traffic.
ip netns exec "mpt-$$-c1" ping -c 2 -i 0.2 -W 2 10.220.0.1 >/dev/null || fail "client 1 lost the tunnel"
ip netns exec "mpt-$$-c$N" ping -c 2 -i 0.2 -W 2 10.220.0.1 >/dev/null || fail "client $N lost the tunnel"
# Clients come and go at run time: a removed client file and `mpt reload` end that client's
# connection; the file back and another reload bring it back.
mv "$WORK/s/clients/c1.conf" "$WORK/c1.conf.off"
"$MPT" --socket "$WORK/s.sock" reload >/dev/null || fail "reload without c1 failed"
! ip netns exec "mpt-$$-c1" ping -c 2 -i 0.2 -W 1 10.220.0.1 >/dev/null 2>&1 || fail "client 1 still reaches the server after its removal"
ip netns exec "mpt-$$-c2" ping -c 2 -i 0.2 -W 2 10.220.0.1 >/dev/null || fail "client 2 lost the tunnel when client 1 was removed"
mv "$WORK/c1.conf.off" "$WORK/s/clients/c1.conf"
"$MPT" --socket "$WORK/s.sock" reload >/dev/null || fail "reload with c1 back failed"
t0=$(date +%s.%N)
wait_for 150 ip netns exec "mpt-$$-c1" ping -c 1 -W 1 10.220.0.1 || fail "client 1 did not come back after the reload"
echo "a client removed and added back at run time (mpt reload): back in $(echo "$(date +%s.%N) - $t0" | bc) s"
if [ "$SANITIZED" -eq 0 ] && [ "$N" -ge 50 ]; then
  [ "$per_kb" -le "$MAX_CLIENT_KB" ] || fail "server memory per client $per_kb KiB > $MAX_CLIENT_KB KiB"
fi
echo "PASS"
