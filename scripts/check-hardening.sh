#!/bin/bash
# Checks that the release binaries keep their hardening (meson.build): PIE, full RELRO
# (-z relro -z now), the stack protector and FORTIFY_SOURCE, as readelf shows them.
# Prints one line per check and "N passed, N failed"; exits 1 on a failure.
#   scripts/check-hardening.sh [BUILD_DIR]     (default build)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-${BUILD:-build}}
passed=0 failed=0

check() { # check BINARY WHAT CONDITION-RESULT(0/1) DETAIL
  if [[ $3 == 0 ]]; then
    passed=$((passed + 1))
    printf 'ok   %-12s %s\n' "$1" "$2"
  else
    failed=$((failed + 1))
    printf 'FAIL %-12s %s: %s\n' "$1" "$2" "$4"
  fi
}

for bin in tug tug-monitor; do
  f=$BUILD/$bin
  if [[ ! -f $f ]]; then
    check "$bin" "built" 1 "$f is missing"
    continue
  fi
  header=$(readelf -hW "$f") dynamic=$(readelf -dW "$f") segments=$(readelf -lW "$f")
  # the static monitor's symbols are its own and libc's; the dynamic tug's imports show the same
  symbols=$(readelf -sW "$f")
  producers=$(readelf --debug-dump=info "$f" 2>/dev/null | grep DW_AT_producer)

  grep -q 'Type: *DYN' <<<"$header" && grep -qE 'FLAGS_1.*\bPIE\b' <<<"$dynamic"
  check "$bin" "PIE" $? "ELF type $(sed -n 's/^ *Type: *//p' <<<"$header"), no FLAGS_1 PIE"
  grep -qE 'GNU_RELRO' <<<"$segments"
  check "$bin" "RELRO" $? "no GNU_RELRO segment (-z relro)"
  grep -qE '\(BIND_NOW\)|FLAGS\)? +BIND_NOW|FLAGS_1.*\bNOW\b' <<<"$dynamic"
  check "$bin" "BIND_NOW" $? "no BIND_NOW (-z now)"
  grep -qE ' __stack_chk_fail(@|$)' <<<"$symbols"
  check "$bin" "stack protector" $? "no __stack_chk_fail"
  if [[ -n $producers ]]; then
    without=$(grep -vc -- '-fstack-protector-strong' <<<"$producers")
    check "$bin" "every unit -fstack-protector-strong" "$((without != 0))" \
      "$without compile units without it"
  fi
  grep -qE ' __[a-z0-9_]+_chk(@|$)' <<<"$(grep -v __stack_chk_fail <<<"$symbols")"
  check "$bin" "FORTIFY_SOURCE" $? "no __*_chk function"
done

echo "$passed passed, $failed failed"
((failed == 0))
