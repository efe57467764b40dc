#!/bin/bash
# bench/push.sh: push time of tug vs docker, side by side in one run.
# The image is bench/pull.sh's (Debian bookworm + nginx, one layer, ~100 MB gzip; built once
# into $BENCH_CACHE by bench/pull.sh, which this script runs when the cache lacks it). A source
# registry serves it; each engine pulls it (untimed) and pushes it to a fresh loopback registry
# of its own: the first push (median of BENCH_RUNS, each into a new registry) and the repeated
# push of the same image to the same registry (median of BENCH_REPEAT). docker runs as a private
# daemon (bench/lib.sh). Prints medians and docker/tug ratios, and the issue's goals MET or
# MISSED (a missed goal does not fail the script).
# Env: TUG (./build/tug) BENCH_RUNS (3) BENCH_REPEAT (5) BENCH_CACHE (/var/tmp/tug-bench)
# Run as root.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/fixtures/lib.sh
source "$HERE/../tests/fixtures/lib.sh"
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

TUG=${TUG:-./build/tug}
RUNS=${BENCH_RUNS:-3}
REPEAT=${BENCH_REPEAT:-5}
CACHE=${BENCH_CACHE:-/var/tmp/tug-bench}
SRC_REF=bench/nginx:latest
GOAL_X_DOCKER=3 GOAL_REPEAT_MS=100

[[ $(id -u) == 0 ]] || { echo "bench/push.sh: run as root" >&2; exit 1; }
[[ $TUG == */* ]] && [[ -e $TUG ]] && TUG=$(cd "$(dirname "$TUG")" && pwd)/$(basename "$TUG")

if [[ ! -f $CACHE/oci.done ]]; then
  log "no image in $CACHE yet: bench/pull.sh builds it (and measures pulls, once)"
  BENCH_RUNS=1 BENCH_CACHE=$CACHE TUG=$TUG "$HERE/pull.sh" >/dev/null
fi

mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/push.XXXXXX")
REGS=()     # pids of the registries started here
cleanup() {
  set +e
  stop_dockerd
  local p
  for p in "${REGS[@]}"; do REGISTRY_PID=$p registry_stop; done
  rm_store "$WORK"
}
trap cleanup EXIT

# new_registry NAME: a fresh loopback registry; sets DEST
new_registry() {
  local src=$REGISTRY src_pid=${REGISTRY_PID:-}
  registry_start "$WORK/$1" >/dev/null
  DEST=$REGISTRY
  REGS+=("$REGISTRY_PID")
  REGISTRY=$src REGISTRY_PID=$src_pid
}

# timed CMD...: run it, echo its wall time in microseconds
timed() {
  local t0 t1
  stamp_us t0
  "$@" >>"$WORK/cmds.log" 2>&1 || { echo "failed: $*" >&2; tail -n 3 "$WORK/cmds.log" >&2; return 1; }
  stamp_us t1
  echo $((t1 - t0))
}

tug_() { "$TUG" --root "$WORK/tug-root" "$@"; }

# bench_engine ENGINE CLI...: pull once, then first pushes and repeated pushes; sets FIRST and
# AGAIN (medians, µs)
bench_engine() {
  local e=$1 i us
  shift
  local -a first=() again=()
  "$@" pull -q "$REGISTRY/$SRC_REF" >>"$WORK/cmds.log" 2>&1 || { echo "$e: pull failed" >&2; return 1; }
  for ((i = 1; i <= RUNS; i++)); do
    new_registry "$e-$i"
    "$@" tag "$REGISTRY/$SRC_REF" "$DEST/bench/nginx:latest"
    sync
    us=$(timed "$@" push "$DEST/bench/nginx:latest") || return 1
    first+=("$us")
    log "$e first push $i: $(fmt_ms "$us") ms"
  done
  for ((i = 1; i <= REPEAT; i++)); do
    us=$(timed "$@" push "$DEST/bench/nginx:latest") || return 1
    again+=("$us")
  done
  log "$e repeated push: $(printf '%s ' "${again[@]}")µs"
  FIRST=$(median "${first[@]}") AGAIN=$(median "${again[@]}")
}

registry_start "$WORK/source" >/dev/null
REGS+=("$REGISTRY_PID")
log "source registry at $REGISTRY; pushing $SRC_REF"
skopeo --insecure-policy copy -q --dest-tls-verify=false --format v2s2 "oci:$CACHE/oci:nginx" \
  "docker://$REGISTRY/$SRC_REF" >/dev/null
size=$(skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/$SRC_REF" | jq '[.layers[].size] | add')
log "image: $(awk -v s="$size" 'BEGIN {printf "%.1f", s / 1048576}') MiB compressed"

declare -A F=() A=()
bench_engine tug tug_ && F[tug]=$FIRST A[tug]=$AGAIN || echo "tug: skipped (see above)"
if command -v dockerd >/dev/null && start_dockerd "$WORK/docker"; then
  bench_engine docker docker_cli && F[docker]=$FIRST A[docker]=$AGAIN || echo "docker: skipped (see above)"
else
  echo "docker: skipped (dockerd missing or did not start)"
fi

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "push of bench/nginx ($(awk -v s="$size" 'BEGIN {printf "%.0f", s / 1048576}') MiB gzip) to a loopback registry:"
# result_line LABEL ARRAY: the engines' medians and the ratio
result_line() {
  local -n med=$2
  local line="  $1" e
  for e in tug docker; do
    [[ -n ${med[$e]:-} ]] && line+=" $e $(fmt_ms "${med[$e]}") ms"
  done
  [[ -n ${med[tug]:-} && -n ${med[docker]:-} ]] && line+="  (docker/tug $(ratio "${med[docker]}" "${med[tug]}")x)"
  echo "$line"
}
result_line "first push (median of $RUNS):" F
result_line "repeated push (median of $REPEAT):" A
if [[ -n ${F[tug]:-} && -n ${F[docker]:-} ]]; then
  x=$(ratio "${F[docker]}" "${F[tug]}")
  awk -v x="$x" -v g=$GOAL_X_DOCKER 'BEGIN {exit !(x >= g)}' && v=MET || v=MISSED
  echo "goal: first push at least ${GOAL_X_DOCKER}x faster than docker: $v (${x}x)"
fi
if [[ -n ${A[tug]:-} ]]; then
  ms=$(fmt_ms "${A[tug]}")
  awk -v m="$ms" -v g=$GOAL_REPEAT_MS 'BEGIN {exit !(m < g)}' && v=MET || v=MISSED
  echo "goal: repeated push under ${GOAL_REPEAT_MS} ms: $v (${ms} ms)"
fi
