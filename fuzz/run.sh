#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, one after the
# other, from the committed seeds plus the local corpus (fuzz/corpus/, not
# committed), and prints exec/s and total executions per target.
#
#   fuzz/run.sh [SECONDS] [TARGET...]      default 60 s, every target
#
# Needs nightly and cargo-fuzz (fuzz/smoke.sh installs it). Exits non-zero if
# any target found a crash; the crasher is in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-60}"
shift || true
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

# -a: debug assertions and overflow checks on, as in the tests.
cargo +nightly fuzz build -O -a

mkdir -p logs
failed=()
printf '%-14s %8s %14s %12s %s\n' target seconds executions exec/s result
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "seeds/$t"
  log="logs/$t.log"
  status=ok
  # -jobs/-workers stay at 1: the box has two cores and others build on it.
  if ! cargo +nightly fuzz run -O -a "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 \
    -print_final_stats=1 >"$log" 2>&1; then
    status=CRASH
    failed+=("$t")
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  printf '%-14s %8s %14s %12s %s\n' "$t" "$seconds" "${execs:-?}" "${rate:-?}" "$status"
  if [ "$status" != ok ]; then
    grep -E 'panicked at|SUMMARY|Test unit written|^Base64' "$log" | head -8 | sed 's/^/    /'
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "crashes in: ${failed[*]} (logs in fuzz/logs/, inputs in fuzz/artifacts/)" >&2
  exit 1
fi
