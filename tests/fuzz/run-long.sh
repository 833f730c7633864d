#!/usr/bin/env bash
# Long fuzzing runs, by hand (the suite runs each target for a few seconds only):
#   tests/fuzz/run-long.sh BUILD_DIR [SECONDS_PER_TARGET] [TARGET...]
# BUILD_DIR holds the libFuzzer targets (e.g. build-asan from .ci/setup, or any tree
# configured with CXX=clang++ -DMPT_FUZZ=ON). Each target runs for SECONDS (default 600) on a
# scratch copy of its checked-in corpus (tests/fuzz/corpus/<target>) with inputs up to 64 KB
# (and its dictionary, tests/fuzz/<target>.dict, if there is one); then the new inputs are
# merged into the checked-in corpus (-merge=1 keeps only those that add coverage). Prints,
# per target: executions, executions per second, coverage (edges) and corpus growth.
# A crash stops that target's run and leaves the reproducer in the scratch directory.
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:?usage: $0 BUILD_DIR [SECONDS] [TARGET...]}
secs=${2:-600}
shift $(( $# >= 2 ? 2 : 1 ))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/*_fuzz.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi
scratch=$(mktemp -d /tmp/mpt-fuzz.XXXXXX)
status=0
printf '%-24s %12s %10s %8s %14s\n' target executions exec/s edges "corpus before→after"
for t in "${targets[@]}"; do
  bin=$(find "$build" -name "$t" -type f -perm -u+x | head -n 1)
  [ -n "$bin" ] && bin=$(realpath "$bin")  # the run happens in the scratch directory
  if [ -z "$bin" ]; then echo "$t: not built in $build" >&2; status=1; continue; fi
  seeds=tests/fuzz/corpus/$t
  mkdir -p "$seeds" "$scratch/$t"
  cp -r "$seeds"/. "$scratch/$t"/ 2>/dev/null || true
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="$PWD/tests/fuzz/$t.dict")
  before=$(find "$seeds" -type f | wc -l)
  log=$scratch/$t.log
  (cd "$scratch" && "$bin" -max_total_time="$secs" -max_len=65536 -print_final_stats=1 \
      "${dict[@]}" -artifact_prefix="$scratch/$t-" "$scratch/$t") >"$log" 2>&1
  rc=$?
  "$bin" -merge=1 "$seeds" "$scratch/$t" >>"$log" 2>&1
  after=$(find "$seeds" -type f | wc -l)
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -n 1)
  rate=$(awk '/stat::average_exec_per_sec/ {print $2}' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  printf '%-24s %12s %10s %8s %8s→%s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$before" "$after"
  if [ $rc -ne 0 ]; then
    echo "  $t FAILED (exit $rc): see $log and $scratch/$t-*" >&2
    status=1
  fi
done
echo "logs in $scratch"
exit $status
