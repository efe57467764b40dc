#!/bin/bash
# bench/save.sh: `save -o FILE` and `load -i FILE` of the same image, tug vs docker, in one run.
# The image is bench/pull.sh's Debian bookworm + nginx (~100 MB gzip, one layer; built into
# $BENCH_CACHE on first use by bench/pull.sh with BENCH_IMAGE_ONLY=1), pushed to a loopback
# registry and pulled by each engine (docker: a private dockerd, bench/lib.sh). Then
# BENCH_RUNS rounds, each engine in turn: save to a new file, then load the engine's own
# archive into a new store (the next round saves from there). Medians, archive sizes and ratios are printed, and the
# issue's goal (both at least 2x faster than docker's) MET or MISSED.
# Env: TUG (./build/tug) BENCH_RUNS (3) BENCH_CACHE (/var/tmp/tug-bench)
# Run as root.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/fixtures/lib.sh
source "$HERE/../tests/fixtures/lib.sh"
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

TUG=${TUG:-./build/tug}
RUNS=${BENCH_RUNS:-3}
CACHE=${BENCH_CACHE:-/var/tmp/tug-bench}
REF_PATH=bench/nginx:latest
GOAL_X=2

[[ $(id -u) == 0 ]] || { echo "bench/save.sh: run as root" >&2; exit 1; }
[[ $TUG == */* ]] && [[ -e $TUG ]] && TUG=$(cd "$(dirname "$TUG")" && pwd)/$(basename "$TUG")

if [[ ! -f $CACHE/oci.done ]]; then
  log "building the image with bench/pull.sh (once)"
  BENCH_IMAGE_ONLY=1 BENCH_CACHE=$CACHE "$HERE/pull.sh" || exit 1
fi
mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/save.XXXXXX") # on disk, as a real store and archive are

cleanup() {
  set +e
  stop_dockerd
  registry_stop
  rm_store "$WORK"
}
trap cleanup EXIT

# Every load goes into a store that never held anything (docker: a new daemon on a new data
# root), and stores are removed only at the end: see docs/benchmarks.md on what writing into
# space just freed costs on this disk.
GEN_tug=0 GEN_docker=0
tug_e() { "$TUG" --root "$WORK/tug-$GEN_tug" "$@"; }
docker_e() { docker_cli "$@"; }
fresh_tug() { GEN_tug=$((GEN_tug + 1)); }
fresh_docker() {
  stop_dockerd
  GEN_docker=$((GEN_docker + 1))
  start_dockerd "$WORK/docker-$GEN_docker"
}

# timed ENGINE VERB ARGS...: run the engine's command once; echo its wall time in microseconds
timed() {
  local e=$1 t0 t1
  shift
  sync
  stamp_us t0
  "${e}_e" "$@" >>"$WORK/$e.log" 2>&1 || { echo "$e $*: failed: $(tail -n 1 "$WORK/$e.log")" >&2; return 1; }
  stamp_us t1
  echo $((t1 - t0))
}

LOAD0=$(cut -d' ' -f1 /proc/loadavg)
registry_start "$WORK/registry" >/dev/null
skopeo --insecure-policy copy -q --dest-tls-verify=false --format v2s2 "oci:$CACHE/oci:nginx" \
  "docker://$REGISTRY/$REF_PATH" >/dev/null
IMG=$REGISTRY/$REF_PATH

declare -A SAVE=() LOAD=() SIZE=() SKIP=()
ENGINES=()
if "$TUG" --version >/dev/null 2>&1 && tug_e pull -q "$IMG" >"$WORK/tug.log" 2>&1; then
  ENGINES+=(tug)
else
  SKIP[tug]="$TUG does not run or its pull failed: $(tail -n 1 "$WORK/tug.log" 2>/dev/null)"
fi
if ! command -v dockerd >/dev/null; then
  SKIP[docker]="dockerd not installed: apt-get install docker.io"
elif ! start_dockerd "$WORK/docker-0"; then
  SKIP[docker]="dockerd did not start, see $WORK/docker-0/dockerd.log"
elif docker_e pull -q "$IMG" >"$WORK/docker.log" 2>&1; then
  ENGINES+=(docker)
else
  SKIP[docker]="pull failed: $(tail -n 1 "$WORK/docker.log")"
fi

for ((r = 1; r <= RUNS; r++)); do
  for e in "${ENGINES[@]}"; do
    f=$WORK/$e-$r.tar
    s=$(timed "$e" save -o "$f" "$IMG") || { SKIP[$e]="save failed"; continue; }
    SIZE[$e]=$(stat -c %s "$f")
    "fresh_$e" >/dev/null || { SKIP[$e]="a fresh store failed"; continue; }
    l=$(timed "$e" load -i "$f") || { SKIP[$e]="load failed"; continue; }
    rm -f "$f"
    SAVE[$e]+="$s " LOAD[$e]+="$l "
    log "$e round $r: save $(fmt_ms "$s") ms, load $(fmt_ms "$l") ms"
  done
done

for e in tug docker; do
  [[ -n ${SKIP[$e]:-} ]] && echo "$e: skipped (${SKIP[$e]})"
done
echo "load average: $LOAD0 at the start, $(cut -d' ' -f1 /proc/loadavg) at the end ($(nproc) CPUs)"
declare -A MS=() ML=()
for e in tug docker; do
  [[ -n ${SAVE[$e]:-} && -z ${SKIP[$e]:-} ]] || continue
  # shellcheck disable=SC2086
  MS[$e]=$(median ${SAVE[$e]}) ML[$e]=$(median ${LOAD[$e]})
done
for what in save load; do
  line="$what (median of $RUNS):"
  for e in tug docker; do
    [[ -n ${MS[$e]:-} ]] || continue
    [[ $what == save ]] && v=${MS[$e]} || v=${ML[$e]}
    line+="  $e $(fmt_ms "$v") ms"
    if [[ $e == docker && -n ${MS[tug]:-} ]]; then
      [[ $what == save ]] && x=$(ratio "$v" "${MS[tug]}") || x=$(ratio "$v" "${ML[tug]}")
      line+=" (${x}x)"
      goal_line+="${goal_line:+, }$what ${x}x"
      awk -v x="$x" -v g="$GOAL_X" 'BEGIN {exit !(x >= g)}' || missed=1
    fi
  done
  echo "$line"
done
line="archive size:"
for e in tug docker; do
  [[ -n ${SIZE[$e]:-} ]] && line+="  $e $(awk -v s="${SIZE[$e]}" 'BEGIN {printf "%.1f", s / 1048576}') MiB"
done
echo "$line"
if [[ -n ${goal_line:-} ]]; then
  echo "goal: save and load >= ${GOAL_X}x faster than docker: $([[ -z ${missed:-} ]] && echo MET || echo MISSED) ($goal_line)"
fi
