#!/usr/bin/env bash
# The heterogeneous-path scenarios of bench/RESULTS.md, each a median of 3 mpt-bench runs.
# Writes bench/results/<scenario>.{log,json} and bench/plots/<scenario>/*.svg.
# Usage (root, after a build): bash bench/heterogeneous.sh [scenario...]
set -uo pipefail
cd "$(dirname "$0")/.."
B=bench/mpt-bench
FAST=(--extra-conf "probe_interval_ms = 20" --extra-conf "dead_misses = 3")
run() {  # name args...
  local name=$1
  shift
  echo "== $name: $B $*"
  "$B" "$@" --runs "${RUNS:-3}" --quiet --json "bench/results/$name.json" --plot "bench/plots/$name" \
    >"bench/results/$name.log" 2>&1
  tail -n 16 "bench/results/$name.log"
}
all=(wifi_lte hetero100 hetero100_8flows lossy step cut cut_q10 redundant redundant_off many12 equal_auto equal_bytes)
for s in "${@:-${all[@]}}"; do
  case $s in
    wifi_lte) run $s --paths 2 --link 50M:5ms,20M:30ms ;;
    hetero100) run $s --paths 2 --link 100M:5ms,100M:25ms ;;
    hetero100_8flows) run $s --paths 2 --link 100M:5ms,100M:25ms --flows 8 ;;
    lossy) run $s --paths 2 --link 50M:5ms,20M:30ms:loss=1% ;;
    step) run $s --paths 2 --link 100M:5ms,100M:5ms --at 10s:path1=rate:20M --duration 20 --skip-mptcp ;;
    cut) run $s --paths 2 --link 100M:5ms,100M:5ms --at 5s:path1=cut "${FAST[@]}" --skip-mptcp ;;
    cut_q10) run $s --paths 2 --link 100M:5ms:queue=10ms,100M:5ms:queue=10ms --at 5s:path1=cut "${FAST[@]}" --skip-mptcp ;;
    redundant) run $s --paths 2 --link 50M:5ms:loss=2%,50M:10ms:loss=2% --udp 8M --extra-conf "redundant_ports = 5401" ;;
    redundant_off) run $s --paths 2 --link 50M:5ms:loss=2%,50M:10ms:loss=2% --udp 8M ;;
    many12) run $s --paths 12 --rate 100M --skip-mptcp ;;
    equal_auto) run $s --paths 2 --rate 0 --skip-mptcp ;;
    equal_bytes) run $s --paths 2 --rate 0 --skip-mptcp --scheduler bytes ;;
    *) echo "unknown scenario $s" >&2 ;;
  esac
done
