#!/bin/bash
# bench/serve.sh: the Engine API of `tug serve` beside a dockerd, through the same docker CLI.
#
# One round: `docker run -d --network none busybox true` then `docker rm -f` of it, timed as
# one, against each server in turn (the order alternates from round to round, so both see the
# same background noise); BENCH_RUNS rounds after BENCH_WARMUP untimed ones. Prints the median
# and p90 of each and dockerd's median over tug's; the issue's goal (5x) is printed MET or
# MISSED, which does not fail the script.
# The dockerd is a private one (its own data root and socket, no bridge, no iptables: see
# bench/lib.sh) unless BENCH_DOCKER_HOST names one to use (e.g. unix:///var/run/docker.sock,
# whose busybox image is then used as it is). tug serve gets a private store and socket.
# Everything runs on loopback (a private registry with the busybox fixture) under one work
# dir, removed at the end.
#
# Env: TUG (./build/tug) BENCH_RUNS (20) BENCH_WARMUP (2) BENCH_TIMEOUT (30: seconds any one
#      command may take) BENCH_DOCKER_HOST (none: a private dockerd) BENCH_DIR (/var/tmp/tug-bench)
# Run as root.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/fixtures/lib.sh
source "$HERE/../tests/fixtures/lib.sh"
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

TUG=${TUG:-./build/tug}
RUNS=${BENCH_RUNS:-20}
WARMUP=${BENCH_WARMUP:-2}
T=${BENCH_TIMEOUT:-30}
BASE=${BENCH_DIR:-/var/tmp/tug-bench}
GOAL_X=5

[[ $(id -u) == 0 ]] || { echo "bench/serve.sh: run as root" >&2; exit 1; }
[[ $TUG == */* ]] && [[ -e $TUG ]] && TUG=$(cd "$(dirname "$TUG")" && pwd)/$(basename "$TUG")
"$TUG" --version >/dev/null 2>&1 || { echo "$TUG does not run: build it (make all)" >&2; exit 1; }

mkdir -p "$BASE"
WORK=$(mktemp -d "$BASE/serve.XXXXXX")
TUG_ROOT=$WORK/tug
SERVE_PID=
export DOCKER_CONFIG=$WORK/docker-config # no user's context or config

cleanup() {
  trap - INT TERM
  if [[ -n $SERVE_PID ]]; then
    local ids
    ids=$("$TUG" --root "$TUG_ROOT" ps -aq 2>/dev/null) || true
    [[ -n $ids ]] && "$TUG" --root "$TUG_ROOT" rm -f $ids >/dev/null 2>&1
    kill "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
  fi
  [[ -z ${BENCH_DOCKER_HOST:-} ]] && stop_dockerd
  registry_stop >/dev/null 2>&1 || true
  rm_store "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

registry_start "$WORK/registry" >/dev/null
fixture_push_busybox busybox:latest >/dev/null
log "registry at $REGISTRY; work dir $WORK"

# tug serve on a private store
"$TUG" --root "$TUG_ROOT" pull -q "$REGISTRY/busybox" >/dev/null
"$TUG" --root "$TUG_ROOT" tag "$REGISTRY/busybox" busybox
"$TUG" --root "$TUG_ROOT" serve -H "unix://$WORK/tug.sock" </dev/null >"$WORK/serve.log" 2>&1 3>&- &
SERVE_PID=$!
TUG_HOST=unix://$WORK/tug.sock

# the dockerd
if [[ -n ${BENCH_DOCKER_HOST:-} ]]; then
  DOCKER_HOST_=$BENCH_DOCKER_HOST
else
  start_dockerd "$WORK/docker" || { echo "dockerd did not start, see $WORK/docker/dockerd.log" >&2; exit 1; }
  DOCKER_HOST_=unix://$DOCKER_DIR/docker.sock
  docker_cli pull -q "$REGISTRY/busybox" >/dev/null && docker_cli tag "$REGISTRY/busybox" busybox
fi
for ((i = 0; i < 100; i++)); do
  "$DOCKER_CLI" -H "$TUG_HOST" version >/dev/null 2>&1 && break
  sleep 0.1
done

declare -A TIMES=()
# one ENGINE HOST: run -d and rm -f once; appends the microseconds to TIMES[ENGINE] when timed
one() {
  local e=$1 host=$2 timed=$3 t0 t1 id
  stamp_us t0
  id=$(timeout -k 5 "$T" "$DOCKER_CLI" -H "$host" run -d --network none busybox true) ||
    { echo "$e: docker run -d failed" >&2; exit 1; }
  timeout -k 5 "$T" "$DOCKER_CLI" -H "$host" rm -f "$id" >/dev/null ||
    { echo "$e: docker rm -f failed" >&2; exit 1; }
  stamp_us t1
  ((timed)) && TIMES[$e]+=" $((t1 - t0))"
  return 0
}

log "$WARMUP warm-up rounds, then $RUNS timed ones"
for ((r = 0; r < WARMUP + RUNS; r++)); do
  timed=$((r >= WARMUP))
  if ((r % 2)); then
    one dockerd "$DOCKER_HOST_" $timed; one tug "$TUG_HOST" $timed
  else
    one tug "$TUG_HOST" $timed; one dockerd "$DOCKER_HOST_" $timed
  fi
done

echo "== docker run -d --network none busybox true + docker rm -f, $RUNS rounds (the same docker CLI)"
printf '%-10s %10s %10s\n' server "median ms" "p90 ms"
declare -A MED=()
for e in tug dockerd; do
  # shellcheck disable=SC2086 # the list of times
  MED[$e]=$(median ${TIMES[$e]})
  # shellcheck disable=SC2086
  printf '%-10s %10s %10s\n' "$e" "$(fmt_ms "${MED[$e]}")" "$(fmt_ms "$(percentile 90 ${TIMES[$e]})")"
done
x=$(ratio "${MED[dockerd]}" "${MED[tug]}")
echo "dockerd / tug serve: ${x}x"
if awk -v x="$x" -v g="$GOAL_X" 'BEGIN {exit !(x >= g)}'; then
  echo "goal: tug serve ${GOAL_X}x faster than dockerd: MET (${x}x)"
else
  echo "goal: tug serve ${GOAL_X}x faster than dockerd: MISSED (${x}x)"
fi
