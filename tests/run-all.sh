#!/bin/bash
# Runs every test: the C unit tests under ASan+UBSan, then the CLI tests (bats).
# Ends with one line: "N passed, N failed" (", N skipped" when some were skipped).
set -uo pipefail
cd "$(dirname "$0")/.."
ASAN_BUILD=${ASAN_BUILD:-build-asan}
passed=0 failed=0 skipped=0
log_dir=$(mktemp -d /tmp/tug-tests.XXXXXX)

echo "== unit tests (ASan+UBSan, $ASAN_BUILD)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for t in "$ASAN_BUILD"/test_*; do
  [[ -x $t && -f $t ]] || continue
  name=$(basename "$t")
  out="$log_dir/$name.log"
  "$t" >"$out" 2>&1
  rc=$?
  # a test program may run several groups: add up every group's summary
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | awk '{s += $1} END {print s + 0}')
  f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | awk '{s += $1} END {print s + 0}')
  s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$out" | awk '{s += $1} END {print s + 0}')
  p=${p:-0} f=${f:-0} s=${s:-0}
  if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; fi  # a crash or sanitizer report
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  printf '%-22s %3d passed %3d failed %3d skipped\n' "$name" "$p" "$f" "$s"
  if [[ $f -ne 0 ]]; then sed 's/^/    /' "$out" | tail -40; fi
done

echo "== system tests (bats)"
export TUG=${TUG:-$PWD/build/tug}
if command -v bats >/dev/null; then
  out="$log_dir/bats.tap"
  bats --tap tests/system ${BATS_FILTER:+--filter "$BATS_FILTER"} 2>&1 | tee "$out"
  p=$(grep -c '^ok .*' "$out" | head -1)
  s=$(grep -c '^ok .* # skip' "$out" | head -1)
  f=$(grep -c '^not ok' "$out" | head -1)
  p=$((p - s))
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
else
  echo "bats is not installed: run 'make check', which installs it"
  failed=$((failed + 1))
fi
rm -rf "$log_dir"
if [[ $skipped -gt 0 ]]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[[ $failed -eq 0 ]]
