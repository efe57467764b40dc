#!/bin/bash
# Runs the libFuzzer targets built in $FUZZ_BUILD (make fuzz builds them).
#
#   tests/fuzz/run.sh [SECONDS] [NAME...]   fuzz each target for SECONDS (default 60), one at a
#                                           time at nice 19; new inputs go to
#                                           $FUZZ_BUILD/found/NAME, crashes to $FUZZ_BUILD/crashes
#   tests/fuzz/run.sh --merge [NAME...]     add to tests/fuzz/corpus/NAME the found inputs that
#                                           reach code the corpus does not (libFuzzer -merge=1)
#   tests/fuzz/run.sh --corpus [NAME...]    run each target once over its corpus, no fuzzing
#                                           (make check); ends with "N passed, N failed"
# NAME is a target without its prefix (reference, unpack, ...); default: every tests/fuzz/fuzz_*.c.
# Paths stay relative to the repository: fuzz_unpack runs chrooted, its working directory outside.
set -uo pipefail
cd "$(dirname "$0")/../.."
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
mode=fuzz seconds=60
case ${1:-} in
--merge | --corpus) mode=${1#--}; shift ;;
[0-9]*) seconds=$1; shift ;;
esac
names=("$@")
if ((${#names[@]} == 0)); then
  for f in tests/fuzz/fuzz_*.c; do
    f=${f##*/fuzz_}
    names+=("${f%.c}")
  done
fi

passed=0 failed=0
for name in "${names[@]}"; do
  bin=$FUZZ_BUILD/fuzz_$name corpus=tests/fuzz/corpus/$name
  if [[ ! -x $bin ]]; then
    echo "fuzz_$name: $bin was not built (make fuzz-build builds it with clang)"
    failed=$((failed + 1))
    continue
  fi
  case $mode in
  corpus)
    log=$(mktemp /tmp/tug-fuzz-corpus.XXXXXX)
    n=$(find "$corpus" -type f 2>/dev/null | wc -l)
    if ((n == 0)); then
      echo "fuzz_$name: no corpus in $corpus"
      failed=$((failed + 1))
    elif "$bin" -runs=0 "$corpus" >"$log" 2>&1; then
      printf 'fuzz_%-12s %4d inputs ok\n' "$name" "$n"
      passed=$((passed + 1))
    else
      printf 'fuzz_%-12s %4d inputs FAILED\n' "$name" "$n"
      grep -v '^INFO:' "$log" | tail -40 | sed 's/^/    /'
      failed=$((failed + 1))
    fi
    rm -f "$log"
    ;;
  merge)
    if [[ -d $FUZZ_BUILD/found/$name ]]; then
      # edges only, not hit counts: a corpus that stays small enough to keep in the repository
      # an input that crashes is left out, and saved with the crashes
      mkdir -p "$FUZZ_BUILD/crashes"
      "$bin" -merge=1 -use_counters=0 -artifact_prefix="$FUZZ_BUILD/crashes/$name-" \
        "$corpus" "$FUZZ_BUILD/found/$name" 2>&1 | grep -E '^MERGE-OUTER: [0-9]+ new files'
    fi
    ;;
  fuzz)
    mkdir -p "$FUZZ_BUILD/found/$name" "$FUZZ_BUILD/crashes"
    echo "== fuzz_$name for ${seconds}s"
    if nice -n 19 "$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$FUZZ_BUILD/crashes/$name-" "$FUZZ_BUILD/found/$name" "$corpus" \
      >"$FUZZ_BUILD/fuzz_$name.log" 2>&1; then
      grep -E '^(Done|stat::number_of_executed_units)' "$FUZZ_BUILD/fuzz_$name.log"
      passed=$((passed + 1))
    else
      grep -v '^INFO:' "$FUZZ_BUILD/fuzz_$name.log" | tail -40
      failed=$((failed + 1))
    fi
    ;;
  esac
done
[[ $mode == merge ]] && exit 0
echo "$passed passed, $failed failed"
((failed == 0))
