#!/bin/bash
# Runs every test: the C unit tests under ASan+UBSan, the CLI tests (bats) against build/tug,
# the CLI tests that exercise parsing and the store once more against the ASan+UBSan tug, each
# fuzz target over its corpus, and the release build's hardening check.
# Ends with one line: "N passed, N failed" (", N skipped" when some were skipped).
# A result that cannot be counted is a failure: a test program that dies before its summary,
# a bats run cut short (fewer results than its plan "1..N") or exiting non-zero.
#
# tests/run-all.sh --count-tap FILE STATUS    count one bats TAP stream (bats' exit STATUS)
# tests/run-all.sh --count-cmocka FILE STATUS count one cmocka program's output
#   print "P passed, F failed, S skipped"; tests/fixtures/run-all-selftest.sh uses them.
set -uo pipefail
[[ ${1:-} == --count-* && -n ${2:-} ]] && set -- "$1" "$(realpath -- "$2")" "${3:-0}"
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ASAN_BUILD=${ASAN_BUILD:-build-asan}
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
# The bats files run a second time against the ASan+UBSan tug: images, formats, bad input,
# crashes, imports, volumes, and the container files that parse flags, specs and logs
# (about 2.5 minutes more on a 2-core VM under load).
ASAN_BATS=${ASAN_BATS:-010-images 020-formats 040-bad-input 050-crash 060-import 100-run 110-lifecycle 120-isolation 140-logs-ps 300-volumes 030-auth 510-login 530-commit 400-build 520-save-load 450-build-stages 800-serve 820-serve-images 830-serve-exec 840-serve-objects 845-serve-containers-io 850-serve-build 860-serve-socket 870-serve-clients 700-erofs 710-layer-formats}
# Layers are EROFS images where the kernel has EROFS (this VM); these files run once more with
# the directory layers forced, the fallback of kernels without it and the format of older
# stores (docs/store.md, "Layer formats").
DIR_BATS=${DIR_BATS:-010-images 050-crash 055-hostile-images 060-import 100-run 110-lifecycle 400-build 410-layer-diff 420-build-mounts 430-build-add 450-build-stages 520-save-load 530-commit 540-cp}
passed=0 failed=0 skipped=0

# count_tap FILE STATUS: sets c_passed, c_failed, c_skipped from a bats TAP stream and bats'
# exit status; says why when the stream itself shows a failure no "not ok" line names.
count_tap() {
  local tap=$1 rc=$2 planned ok notok skip ran
  planned=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$tap" | head -n 1)
  ok=$(grep -c '^ok ' "$tap")
  skip=$(grep -cE '^ok .* # skip( |$)' "$tap")
  notok=$(grep -c '^not ok ' "$tap")
  ran=$((ok + notok))
  c_passed=$((ok - skip)) c_failed=$notok c_skipped=$skip
  if [[ -z $planned ]]; then
    echo "!! bats printed no plan (1..N): the run did not start or was cut short"
    c_failed=$((c_failed + 1))
  elif ((ran < planned)); then
    echo "!! only $ran of the $planned planned tests reported: the run was cut short"
    c_failed=$((c_failed + planned - ran))
  elif ((ran > planned)); then
    echo "!! $ran results for $planned planned tests"
    c_failed=$((c_failed + 1))
  fi
  if ((rc != 0 && c_failed == 0)); then
    echo "!! bats exited with status $rc although every test reported ok"
    c_failed=1
  fi
}

# count_cmocka FILE STATUS: the same for one cmocka program (several groups are added up).
count_cmocka() {
  local out=$1 rc=$2 planned
  sum() { sed -n "s/^$1 \([0-9]*\) test.*/\1/p" "$out" | awk '{s += $1} END {print s + 0}'; }
  planned=$(sum '\[==========\] Running')
  c_passed=$(sum '\[  PASSED  \]') c_failed=$(sum '\[  FAILED  \]') c_skipped=$(sum '\[  SKIPPED \]')
  if ((c_passed + c_failed + c_skipped < planned)); then
    echo "!! only $((c_passed + c_failed + c_skipped)) of the $planned planned tests reported"
    c_failed=$((c_failed + planned - c_passed - c_failed - c_skipped))
  fi
  if ((rc != 0 && c_failed == 0)); then c_failed=1; fi # a crash or sanitizer report
}

add_counts() { passed=$((passed + c_passed)) failed=$((failed + c_failed)) skipped=$((skipped + c_skipped)); }

case ${1:-} in
--count-tap | --count-cmocka)
  if [[ $1 == --count-tap ]]; then count_tap "$2" "$3"; else count_cmocka "$2" "$3"; fi
  echo "$c_passed passed, $c_failed failed, $c_skipped skipped"
  exit 0
  ;;
esac

log_dir=$(mktemp -d /tmp/tug-tests.XXXXXX)
trap 'rm -rf "$log_dir"' EXIT
section() { echo "== $* (at ${SECONDS}s)"; }

# run_summarised CMD...: a checker that ends with "N passed, N failed", counted; its whole
# output is shown when something failed.
run_summarised() {
  local out="$log_dir/summarised.log" rc line
  "$@" >"$out" 2>&1
  rc=$?
  line=$(tail -n 1 "$out")
  if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    c_passed=${BASH_REMATCH[1]} c_failed=${BASH_REMATCH[2]} c_skipped=0
  else
    c_passed=0 c_failed=1 c_skipped=0
  fi
  ((rc != 0 && c_failed == 0)) && c_failed=1
  add_counts
  if ((c_failed)); then sed 's/^/    /' "$out"; else echo "$line"; fi
}

section "run-all.sh's own counting (tests/fixtures/run-all-selftest.sh)"
run_summarised tests/fixtures/run-all-selftest.sh

section "CLI tests without ! as an assertion (tests/fixtures/bats-lint.sh)"
run_summarised tests/fixtures/bats-lint.sh

section "release build hardening ($BUILD, scripts/check-hardening.sh)"
run_summarised scripts/check-hardening.sh "$BUILD"

section "unit tests (ASan+UBSan, $ASAN_BUILD)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for src in tests/unit/test_*.c; do
  name=$(basename "$src" .c)
  t=$ASAN_BUILD/$name
  if [[ ! -x $t ]]; then
    # meson builds the unit tests only with cmocka: none may go missing silently
    printf '%-22s was not built (is libcmocka-dev installed? scripts/install-deps.sh)\n' "$name"
    failed=$((failed + 1))
    continue
  fi
  out="$log_dir/$name.log"
  "$t" >"$out" 2>&1
  count_cmocka "$out" $?
  add_counts
  printf '%-22s %3d passed %3d failed %3d skipped\n' "$name" "$c_passed" "$c_failed" "$c_skipped"
  if [[ $c_failed -ne 0 ]]; then sed 's/^/    /' "$out" | tail -40; fi
done

# run_bats TUG NAME FILES...: one bats run against the tug binary TUG, counted.
run_bats() {
  local tug=$1 name=$2
  shift 2
  local out="$log_dir/$name.tap"
  TUG=$tug bats --tap "$@" ${BATS_FILTER:+--filter "$BATS_FILTER"} 2>&1 | tee "$out"
  count_tap "$out" "${PIPESTATUS[0]}"
  add_counts
}

section "system tests (bats, $BUILD/tug)"
if ! command -v bats >/dev/null; then
  echo "bats is not installed: run 'make check', which installs it"
  failed=$((failed + 1))
else
  run_bats "${TUG:-$PWD/$BUILD/tug}" bats tests/system

  section "system tests again with directory layers (TUG_LAYER_FORMAT=directory): $DIR_BATS"
  files=()
  for f in $DIR_BATS; do
    if [[ -f tests/system/$f.bats ]]; then
      files+=("tests/system/$f.bats")
    else
      echo "!! DIR_BATS names tests/system/$f.bats, which does not exist"
      failed=$((failed + 1))
    fi
  done
  TUG_LAYER_FORMAT=directory run_bats "${TUG:-$PWD/$BUILD/tug}" bats-dir "${files[@]}"

  section "system tests again under ASan+UBSan ($ASAN_BUILD/tug): $ASAN_BATS"
  files=()
  for f in $ASAN_BATS; do
    if [[ -f tests/system/$f.bats ]]; then
      files+=("tests/system/$f.bats")
    else
      echo "!! ASAN_BATS names tests/system/$f.bats, which does not exist"
      failed=$((failed + 1))
    fi
  done
  # Every tug process writes its reports to files, so that reports of processes whose stderr
  # no test reads (a monitor's children) are found too; each report is a failure.
  reports="$log_dir/asan-reports"
  mkdir -p "$reports"
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86:log_path=$reports/asan" \
    LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=86:log_path=$reports/ubsan" \
    run_bats "$PWD/$ASAN_BUILD/tug" bats-asan "${files[@]}"
  for r in "$reports"/*; do
    [[ -f $r ]] || continue
    # LeakSanitizer stops a process's threads at exit to scan them; a process killed by a test
    # (rm -f, kill -9) in that moment leaves only this line: no finding, so it is not counted
    if [[ -s $r ]] && ! grep -qvE '^==[0-9]+==Unable to get registers from thread [0-9]+\.?$' "$r"; then
      echo "note: $(basename "$r"): a leak check cut short by a kill ($(head -1 "$r"))"
      continue
    fi
    echo "!! sanitizer report $(basename "$r"):"
    sed 's/^/    /' "$r" | head -60
    failed=$((failed + 1))
  done
fi

# what the suite's stores left on the host once their roots were gone (a run directory, its
# layers' mounts, a bridge) goes now, as any store's check takes it down
scratch=$(mktemp -d /tmp/tug-scratch.XXXXXX)
TUG_ROOT=$scratch/root "${TUG:-$PWD/$BUILD/tug}" system check >/dev/null 2>&1
rm -rf "$scratch"

section "fuzz targets over their corpora ($FUZZ_BUILD, tests/fuzz/corpus)"
FUZZ_BUILD=$FUZZ_BUILD run_summarised tests/fuzz/run.sh --corpus

echo "== done (at ${SECONDS}s)"
rm -rf "$log_dir"
if [[ $skipped -gt 0 ]]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[[ $failed -eq 0 ]]
