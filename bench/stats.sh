#!/bin/bash
# bench/stats.sh: `stats --no-stream` over BENCH_N running busybox containers, tug beside
# docker (the dockerd that runs, or docker_cli's private one when none does), each timed
# BENCH_RUNS times, interleaved. Prints medians and the ratio; the issue's goal (tug under
# 100 ms for 50 containers) is printed MET or MISSED. All containers use --network none in
# docker (no docker0 needed) and tug's default network (a veth each, read for NET I/O).
#
# Env: TUG (./build/tug) BENCH_N (50) BENCH_RUNS (5) BENCH_DIR (/var/tmp/tug-bench-stats)
# Run as root.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/fixtures/lib.sh
source "$HERE/../tests/fixtures/lib.sh"
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

TUG=$(realpath "${TUG:-$HERE/../build/tug}")
N=${BENCH_N:-50}
RUNS=${BENCH_RUNS:-5}
DIR=${BENCH_DIR:-/var/tmp/tug-bench-stats}
export TUG_ROOT=$DIR/root
PREFIX=tugbench-stats-$$

cleanup() {
  "$TUG" rm -f $("$TUG" ps -aq) >/dev/null 2>&1 || true
  docker rm -f $(docker ps -aq --filter "name=$PREFIX") >/dev/null 2>&1 || true
  rm_store "$DIR"
  registry_stop 2>/dev/null || true
}
trap cleanup EXIT

pgrep -x dockerd >/dev/null || { log "no dockerd runs: start one (setsid dockerd &)"; exit 1; }
mkdir -p "$TUG_ROOT"
registry_start "$DIR/registry" >/dev/null
fixture_push_busybox busybox:latest >/dev/null 2>&1
"$TUG" pull -q "$REGISTRY/busybox" >/dev/null && "$TUG" tag "$REGISTRY/busybox" busybox
docker pull -q "$REGISTRY/busybox" >/dev/null 2>&1 || docker image inspect busybox >/dev/null

log "starting $N containers in each engine"
for ((i = 0; i < N; i++)); do
  "$TUG" run -d busybox sleep 3600 >/dev/null
  docker run -d --network none --name "$PREFIX-$i" busybox sleep 3600 >/dev/null
done

tug_t=() docker_t=()
for ((r = 0; r < RUNS; r++)); do
  stamp_us a; rows=$("$TUG" stats --no-stream | wc -l); stamp_us b
  ((rows == N + 1)) || { log "tug stats printed $rows lines"; exit 1; }
  tug_t+=($((b - a)))
  stamp_us a; docker stats --no-stream $(docker ps -q --filter "name=$PREFIX") >/dev/null; stamp_us b
  docker_t+=($((b - a)))
done
tm=$(median "${tug_t[@]}") dm=$(median "${docker_t[@]}")
echo "stats --no-stream, $N containers, median of $RUNS (load $(cut -d' ' -f1 /proc/loadavg)):"
echo "  tug    $(fmt_ms "$tm") ms  (runs: $(for t in "${tug_t[@]}"; do printf '%s ' "$(fmt_ms "$t")"; done))"
echo "  docker $(fmt_ms "$dm") ms  (runs: $(for t in "${docker_t[@]}"; do printf '%s ' "$(fmt_ms "$t")"; done))"
echo "  docker / tug: $(ratio "$dm" "$tm")x"
if (( ${tm%.*} < 100000 )); then echo "goal (< 100 ms): MET"; else echo "goal (< 100 ms): MISSED"; fi
