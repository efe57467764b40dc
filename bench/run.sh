#!/bin/bash
# bench/run.sh: container start latency and density, tug vs docker vs podman, in one run.
#
# Part 1: `run --rm busybox true`, BENCH_RUNS timed rounds after BENCH_WARMUP untimed ones,
#   each round one run of every engine (interleaved, so all see the same background noise):
#   median and p90. All three with --network none (podman with --runtime runc and the ulimits
#   this VM needs, see /work/shared/ANCHORS.md); tug also on its default network (a bridge
#   and a veth per container), shown on a line of its own.
# Part 3 (run between 1 and 2): `exec CONTAINER true` into a running busybox, BENCH_RUNS times.
# Part 2: BENCH_DETACHED containers started one after another with `run -d --network none
#   busybox sleep 3600`: total and per-container time; `ps` and `ps -a`
#   latency with all of them running; resident memory of the process each container keeps on
#   the host (tug-monitor, containerd-shim-runc-v2, conmon: VmRSS and Pss); `rm -f` of all of
#   them; then a check that nothing is left. An engine gets BENCH_CAP seconds to start them.
# The goals of the issue are printed MET or MISSED; a missed goal does not fail the script.
# Everything runs on loopback (a private registry) with private roots, removed at the end.
#
# Env: TUG (./build/tug) BENCH_RUNS (30) BENCH_WARMUP (3) BENCH_DETACHED (200)
#      BENCH_PS_RUNS (10) BENCH_CAP (300) BENCH_TIMEOUT (30: seconds any one command may take)
#      BENCH_ENGINES ("tug docker podman") BENCH_DIR (/var/tmp/tug-bench)
# Run as root. Uses hyperfine for part 1 and ps timings when present.
# shellcheck disable=SC2034 # the per-engine arrays are used through namerefs
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/fixtures/lib.sh
source "$HERE/../tests/fixtures/lib.sh"
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

TUG=${TUG:-./build/tug}
RUNS=${BENCH_RUNS:-30}
WARMUP=${BENCH_WARMUP:-3}
NDET=${BENCH_DETACHED:-200}
PS_RUNS=${BENCH_PS_RUNS:-10}
CAP=${BENCH_CAP:-300}
T=${BENCH_TIMEOUT:-30}
ENGINES=${BENCH_ENGINES:-tug docker podman}
BASE=${BENCH_DIR:-/var/tmp/tug-bench}

# goals from the issue
GOAL_TUG_MS=20 GOAL_X_DOCKER=14 GOAL_X_PODMAN=10 GOAL_PS_MS=50 GOAL_MON_KIB=1024

[[ $(id -u) == 0 ]] || { echo "bench/run.sh: run as root" >&2; exit 1; }
[[ $TUG == */* ]] && [[ -e $TUG ]] && TUG=$(cd "$(dirname "$TUG")" && pwd)/$(basename "$TUG")

mkdir -p "$BASE"
# on disk, like a real store
WORK=$(mktemp -d "$BASE/run.XXXXXX")
HAVE_HYPERFINE=
command -v hyperfine >/dev/null && command -v jq >/dev/null && HAVE_HYPERFINE=1

TUG_ROOT=$WORK/tug
PODMAN_DIR=$WORK/podman
NOFILE=$(ulimit -Hn)
[[ $NOFILE == unlimited ]] && NOFILE=1048576

# How each engine is called, and the flags its containers get (used through namerefs).
tug_argv=("$TUG" --root "$TUG_ROOT")
tug_runflags=(--network none)
tugnet_argv=("${tug_argv[@]}") # tug on its default network
tugnet_runflags=()
# the bridge tug makes for the default network of a store that is not /var/lib/tug
TUG_BRIDGE=tugb$(printf %s "$TUG_ROOT" | sha256sum | cut -c1-10)
docker_argv=("$DOCKER_CLI" -H "unix://$WORK/docker/docker.sock")
docker_runflags=(--network none)
podman_argv=(podman --root "$PODMAN_DIR/root" --runroot "$PODMAN_DIR/run" --tmpdir "$PODMAN_DIR/tmp"
  --storage-driver overlay --events-backend file --cgroup-manager cgroupfs --runtime runc)
podman_runflags=(--network none --ulimit "nofile=$NOFILE:$NOFILE" --ulimit nproc=1000:1000)
podman_rmflags=(-t 0) # docker's and tug's rm -f kill at once; podman's waits 10 s by default
tug_rmflags=() docker_rmflags=()
# the process each running container keeps on the host
tug_keeper=tug-monitor docker_keeper=containerd-shim podman_keeper=conmon

declare -A OK=() SKIP=() MED=() P90=() NOTE=()
declare -A DET_N=() DET_US=() DET_FIRST=() DET_LAST=() PS_US=() PSA_US=() MEM_N=() MEM_RSS=() MEM_PSS=() RM_US=() LEFT=()

run_e() { # run_e ENGINE ARGS...: the engine's CLI, bounded by $T
  local -n _argv=${1}_argv
  shift
  timeout -k 5 "$T" "${_argv[@]}" "$@"
}

# ----------------------------------------------------------------------------------------
# Cleanup

tug_ids_known() {
  { cat "$WORK/tug.ids" 2>/dev/null; timeout 60 "${tug_argv[@]}" ps -aq --no-trunc 2>/dev/null; } |
    grep -E '^[0-9a-f]{64}$' | sort -u || true
}

cleanup_tug() {
  [[ -d $TUG_ROOT ]] || return 0
  local - ids id pid d
  set +e
  ids=$(tug_ids_known)
  # shellcheck disable=SC2086
  [[ -n $ids ]] && timeout -k 5 600 "${tug_argv[@]}" rm -f $ids >/dev/null 2>&1
  # whatever a hung or killed command left: monitors, container processes, cgroups
  for pid in $(pids_with_arg tug-monitor "$TUG_ROOT"); do kill -9 "$pid" 2>/dev/null; done
  for id in $ids; do
    for d in /sys/fs/cgroup/*/tug/"$id"; do
      [[ -d $d ]] || continue
      for pid in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    done
  done
  [[ -n $ids ]] && sleep 0.2
  for id in $ids; do
    for d in /sys/fs/cgroup/*/tug/"$id"; do [[ -d $d ]] && rmdir "$d" 2>/dev/null; done
  done
  # shellcheck disable=SC2086
  [[ -n $ids ]] && timeout -k 5 600 "${tug_argv[@]}" rm -f $ids >/dev/null 2>&1
  return 0
}

cleanup() {
  set +e
  trap - INT TERM
  cleanup_tug
  if [[ -n $DOCKERD_PID ]]; then
    local ids
    ids=$(timeout 60 "${docker_argv[@]}" ps -aq 2>/dev/null)
    # shellcheck disable=SC2086
    [[ -n $ids ]] && timeout 600 "${docker_argv[@]}" rm -f $ids >/dev/null 2>&1
    stop_dockerd
  fi
  if [[ -d $PODMAN_DIR/root ]]; then
    timeout 600 "${podman_argv[@]}" rm -af -t 0 >/dev/null 2>&1
  fi
  # the store's bridge outlives the store; tug's next firewall change sweeps its rules
  ip link show "$TUG_BRIDGE" >/dev/null 2>&1 && ip link delete "$TUG_BRIDGE"
  registry_stop
  rm_store "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ----------------------------------------------------------------------------------------
# Timing

# time_runs RUNS WARMUP CMD...: sets TIMES (microseconds of the RUNS timed runs) and HUNG
# (runs killed after $T seconds). hyperfine when present; a loop with a timeout per run
# when not, or when hyperfine failed or took too long (a run that hangs).
time_runs() {
  local runs=$1 warm=$2 i rc t0 t1
  shift 2
  TIMES=() HUNG=0 FAILED=
  if [[ -n $HAVE_HYPERFINE ]]; then
    local json=$WORK/hyperfine.json
    if timeout -k 5 $((60 + (runs + warm) * 5)) hyperfine -N --style none --warmup "$warm" \
      --runs "$runs" --export-json "$json" "$(printf '%q ' "$@")" >/dev/null 2>"$WORK/hyperfine.err"; then
      mapfile -t TIMES < <(jq -r '.results[0].times[] | . * 1e6 | floor' "$json")
      return 0
    fi
    log "hyperfine failed or ran too long ($(tail -n 1 "$WORK/hyperfine.err")); timing in a loop"
  fi
  for ((i = 0; i < runs + warm; i++)); do
    stamp_us t0
    timeout -k 5 "$T" "$@" >/dev/null 2>"$WORK/loop.err" && rc=0 || rc=$?
    stamp_us t1
    if ((rc == 124 || rc == 137)); then
      HUNG=$((HUNG + 1))
      log "run $((i + 1)) killed after ${T}s: $*"
      ((HUNG >= 3)) && break
      continue
    fi
    if ((rc != 0)); then
      FAILED="exit $rc: $(tail -n 1 "$WORK/loop.err")"
      return 1
    fi
    ((i >= warm)) && TIMES+=($((t1 - t0)))
  done
  ((${#TIMES[@]} > 0)) || { FAILED=${FAILED:-every run hung}; return 1; }
}

# ----------------------------------------------------------------------------------------
# Setup: the busybox image, in each engine as "busybox"

setup_tug() {
  "$TUG" --version >/dev/null 2>&1 || { SKIP[tug]="$TUG does not run: build it (ninja -C build)"; return 1; }
  run_e tug pull "$REGISTRY/busybox" >"$WORK/tug.setup.log" 2>&1 &&
    run_e tug tag "$REGISTRY/busybox" busybox >>"$WORK/tug.setup.log" 2>&1 ||
    { SKIP[tug]="pull failed: $(tail -n 1 "$WORK/tug.setup.log")"; return 1; }
}

setup_docker() {
  command -v dockerd >/dev/null || { SKIP[docker]="dockerd not installed: apt-get install docker.io"; return 1; }
  start_dockerd "$WORK/docker" ||
    { SKIP[docker]="dockerd did not start, see $WORK/docker/dockerd.log"; return 1; }
  run_e docker pull -q "$REGISTRY/busybox" >"$WORK/docker.setup.log" 2>&1 &&
    run_e docker tag "$REGISTRY/busybox" busybox >>"$WORK/docker.setup.log" 2>&1 ||
    { SKIP[docker]="pull failed: $(tail -n 1 "$WORK/docker.setup.log")"; return 1; }
}

setup_podman() {
  command -v podman >/dev/null || { SKIP[podman]="podman not installed: apt-get install podman"; return 1; }
  command -v runc >/dev/null || { SKIP[podman]="runc not installed (crun cannot run on hybrid cgroups)"; return 1; }
  run_e podman pull -q --tls-verify=false "$REGISTRY/busybox" >"$WORK/podman.setup.log" 2>&1 &&
    run_e podman tag "$REGISTRY/busybox" busybox >>"$WORK/podman.setup.log" 2>&1 ||
    { SKIP[podman]="pull failed: $(tail -n 1 "$WORK/podman.setup.log")"; return 1; }
}

# ----------------------------------------------------------------------------------------
# Part 1: run --rm busybox true

true_cmd() { # true_cmd ENGINE: sets CMD to the engine's `run --rm busybox true`
  local -n _a=${1}_argv _rf=${1}_runflags
  CMD=("${_a[@]}" run --rm "${_rf[@]}" busybox true)
}

# One run of each engine per round, in an order that rotates from round to round, so that
# every engine sees the same background noise; the first $WARMUP rounds are not counted.
# A round runs under hyperfine when present (precise, no wrapper) and is bounded by $T
# seconds; a round that overruns is discarded and each engine is run once on its own to
# find the one that hangs.
bench_true() {
  local -a engines=("$@") order tims
  local e i r k rc t0 t1 json=$WORK/round.json
  declare -gA TRUE_TIMES=() FAILS=() HANGS=()
  for e in "${engines[@]}"; do
    true_cmd "$e"
    if ! timeout -k 5 "$T" "${CMD[@]}" >"$WORK/$e.true.log" 2>&1; then
      SKIP[$e]="run --rm busybox true fails: $(tail -n 1 "$WORK/$e.true.log")"
      continue
    fi
    order+=("$e")
  done
  ((${#order[@]})) || return 0
  for ((r = 0; r < WARMUP + RUNS; r++)); do
    local -a round=() cmds=()
    for ((i = 0; i < ${#order[@]}; i++)); do
      round+=("${order[(i + r) % ${#order[@]}]}")
    done
    if [[ -n $HAVE_HYPERFINE ]]; then
      for e in "${round[@]}"; do
        true_cmd "$e"
        cmds+=("$(printf '%q ' "${CMD[@]}")")
      done
      if timeout -k 5 "$T" hyperfine -N -i --style none --runs 1 --export-json "$json" "${cmds[@]}" \
        >/dev/null 2>"$WORK/hyperfine.err"; then
        mapfile -t tims < <(jq -r '.results[] | "\(.exit_codes[0]) \(.times[0] * 1e6 | floor)"' "$json")
        for ((k = 0; k < ${#round[@]}; k++)); do
          e=${round[k]}
          read -r rc t0 <<<"${tims[k]}"
          if [[ $rc != 0 ]]; then
            FAILS[$e]=$((${FAILS[$e]:-0} + 1))
          elif ((r >= WARMUP)); then
            TRUE_TIMES[$e]+="$t0 "
          fi
        done
        continue
      fi
      log "round $((r + 1)) ran over ${T}s; running each engine alone to find the one that hangs"
      for e in "${round[@]}"; do
        true_cmd "$e"
        timeout -k 5 "$T" "${CMD[@]}" >/dev/null 2>&1 && rc=0 || rc=$?
        ((rc == 124 || rc == 137)) && HANGS[$e]=$((${HANGS[$e]:-0} + 1))
      done
      continue
    fi
    for e in "${round[@]}"; do # no hyperfine: the timing includes `timeout` (~1 ms)
      true_cmd "$e"
      stamp_us t0
      timeout -k 5 "$T" "${CMD[@]}" >/dev/null 2>&1 && rc=0 || rc=$?
      stamp_us t1
      if ((rc == 124 || rc == 137)); then
        HANGS[$e]=$((${HANGS[$e]:-0} + 1))
      elif ((rc != 0)); then
        FAILS[$e]=$((${FAILS[$e]:-0} + 1))
      elif ((r >= WARMUP)); then
        TRUE_TIMES[$e]+="$((t1 - t0)) "
      fi
    done
  done
  for e in "${order[@]}"; do
    local -a t
    read -r -a t <<<"${TRUE_TIMES[$e]:-}"
    local notes=""
    [[ -n ${FAILS[$e]:-} ]] && notes+="${FAILS[$e]} runs failed; "
    [[ -n ${HANGS[$e]:-} ]] && notes+="${HANGS[$e]} runs hung (killed after ${T}s); "
    [[ -n $notes ]] && NOTE[$e]=${notes%; }
    if ((${#t[@]} == 0)); then
      SKIP[$e]="run --rm busybox true: no successful run (${notes%; })"
      continue
    fi
    MED[$e]=$(median "${t[@]}")
    P90[$e]=$(percentile 90 "${t[@]}")
    log "$e: run --rm true median $(fmt_ms "${MED[$e]}") ms, p90 $(fmt_ms "${P90[$e]}") ms (${#t[@]} runs)"
  done
}

# ----------------------------------------------------------------------------------------
# Part 3: exec into a running container

declare -A EXEC_US=()
bench_exec() {
  local e=$1
  local -n argv=${e}_argv rf=${e}_runflags rmf=${e}_rmflags
  if ! timeout -k 5 "$T" "${argv[@]}" run -d --name bench-exec "${rf[@]}" busybox sleep 3600 \
    >"$WORK/$e.exec.log" 2>&1; then
    NOTE[$e.exec]="run -d failed: $(tail -n 1 "$WORK/$e.exec.log")"
    return 0
  fi
  if time_runs "$RUNS" "$WARMUP" "${argv[@]}" exec bench-exec true; then
    EXEC_US[$e]=$(median "${TIMES[@]}")
    log "$e: exec true median $(fmt_ms "${EXEC_US[$e]}") ms"
  else
    NOTE[$e.exec]="exec failed: ${FAILED:-}"
  fi
  timeout -k 5 "$T" "${argv[@]}" rm -f "${rmf[@]}" bench-exec >/dev/null 2>&1 || true
}

# ----------------------------------------------------------------------------------------
# Part 2: many detached containers

keeper_pids() { # the host processes of engine $1's containers listed in file $2
  local e=$1 ids=$2 pid
  local -n k=${e}_keeper
  if [[ $e == tug ]]; then
    pids_with_arg tug-monitor "$TUG_ROOT"
    return 0
  fi
  for pid in $(pgrep -x "$k"); do
    # docker's shim gets the full id, conmon both the id (-c) and the name
    tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -qxFf "$ids" && echo "$pid"
  done
  return 0
}

bench_detached() {
  local e=$1 i t0 t1 now n
  local -n argv=${e}_argv rf=${e}_runflags rmf=${e}_rmflags
  local ids=$WORK/$e.ids
  : >"$ids"
  log "$e: starting $NDET detached containers (cap ${CAP}s)"
  local -a each=()
  local prev
  stamp_us t0
  prev=$t0
  for ((i = 0; i < NDET; i++)); do
    if ! timeout -k 5 "$T" "${argv[@]}" run -d "${rf[@]}" busybox sleep 3600 >>"$ids" 2>"$WORK/$e.det.err"; then
      NOTE[$e.det]="run -d failed after $i containers: $(tail -n 1 "$WORK/$e.det.err")"
      break
    fi
    stamp_us now
    each+=($((now - prev)))
    prev=$now
    if ((now - t0 > CAP * 1000000 && i + 1 < NDET)); then
      NOTE[$e.det]="capped: $((i + 1)) of $NDET containers started within ${CAP}s"
      break
    fi
  done
  stamp_us t1
  # a full id per line (tug and docker print it; podman too)
  grep -E '^[0-9a-f]{64}$' "$ids" >"$ids.clean" || true
  mv "$ids.clean" "$ids"
  n=$(wc -l <"$ids")
  DET_N[$e]=$n DET_US[$e]=$((t1 - t0))
  if ((${#each[@]} >= 10)); then # does starting get slower as containers pile up?
    local tenth=$((${#each[@]} / 10))
    DET_FIRST[$e]=$(median "${each[@]:0:tenth}")
    DET_LAST[$e]=$(median "${each[@]: -tenth}")
  fi
  ((n > 0)) || return 1
  log "$e: $n started in $(fmt_ms $((t1 - t0))) ms"

  sleep 1 # let the last ones settle before measuring memory
  if time_runs "$PS_RUNS" 1 "${argv[@]}" ps; then PS_US[$e]=$(median "${TIMES[@]}"); fi
  if time_runs "$PS_RUNS" 1 "${argv[@]}" ps -a; then PSA_US[$e]=$(median "${TIMES[@]}"); fi
  local running
  running=$(timeout "$T" "${argv[@]}" ps -q 2>/dev/null | wc -l) || running='?'
  [[ $running == "$n" ]] || NOTE[$e.ps]="ps lists $running running of $n started"

  local -a pids
  mapfile -t pids < <(keeper_pids "$e" "$ids")
  read -r "MEM_N[$e]" "MEM_RSS[$e]" "MEM_PSS[$e]" < <(proc_mem "${pids[@]}")
  if [[ $e == docker ]]; then
    local c
    c=$(pgrep -P "$DOCKERD_PID" -x containerd | head -n 1) || true
    read -r _ dr _ < <(proc_mem "$DOCKERD_PID")
    [[ -n $c ]] && read -r _ cr _ < <(proc_mem "$c")
    NOTE[docker.daemons]="with $n running: dockerd RSS $((dr / 1024)) MiB${c:+, containerd $((cr / 1024)) MiB}"
  fi

  log "$e: rm -f of $n containers"
  stamp_us t0
  # shellcheck disable=SC2046
  if ! timeout -k 5 $((T + 5 * n)) "${argv[@]}" rm -f "${rmf[@]}" $(cat "$ids") >"$WORK/$e.rm.log" 2>&1; then
    NOTE[$e.rm]="rm -f failed: $(tail -n 1 "$WORK/$e.rm.log")"
  fi
  stamp_us t1
  RM_US[$e]=$((t1 - t0))

  # nothing may be left
  local -a left=()
  sleep 0.5
  mapfile -t pids < <(keeper_pids "$e" "$ids")
  ((${#pids[@]} == 0)) || left+=("${#pids[@]} $(eval echo "\$${e}_keeper") processes")
  local listed
  listed=$(timeout "$T" "${argv[@]}" ps -aq 2>/dev/null | wc -l) || listed='?'
  [[ $listed == 0 ]] || left+=("$listed containers listed by ps -a")
  if [[ $e == tug ]]; then
    local cg=0 id d
    while read -r id; do
      for d in /sys/fs/cgroup/*/tug/"$id"; do [[ -d $d ]] && cg=$((cg + 1)); done
    done <"$ids"
    ((cg == 0)) || left+=("$cg cgroup directories under /sys/fs/cgroup/*/tug")
    local mnt
    # mount points below the root (an EROFS layer's mount is in the run directory, its source
    # in the root, and stays while the image does)
    mnt=$(awk -v r="$TUG_ROOT/" 'index($5, r) == 1' /proc/self/mountinfo | wc -l)
    ((mnt == 0)) || left+=("$mnt mounts below $TUG_ROOT")
    local ctr
    ctr=$(find "$TUG_ROOT/containers" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    ((ctr == 0)) || left+=("$ctr directories in $TUG_ROOT/containers")
  fi
  if ((${#left[@]})); then
    LEFT[$e]=$(IFS=';'; echo "${left[*]}")
  else
    LEFT[$e]=clean
  fi
}

# ----------------------------------------------------------------------------------------
# Report helpers

fmt_kib() { awk -v k="$1" 'BEGIN {if (k < 1024) printf "%d KiB", k; else printf "%.1f MiB", k / 1024}'; }
goal() { # goal TEXT OK(0|1) VALUE
  if (($2)); then echo "goal: $1: MET ($3)"; else echo "goal: $1: MISSED ($3)"; fi
}
le() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a <= b)}'; }

# ----------------------------------------------------------------------------------------

registry_start "$WORK/registry" >/dev/null
fixture_push_busybox busybox:latest
log "registry at $REGISTRY; busybox pushed; work dir $WORK"
LOAD0=$(cut -d' ' -f1 /proc/loadavg)
log "tug $(git -C "$HERE/.." describe --always --dirty 2>/dev/null || echo '?'), $(nproc) CPUs, kernel $(uname -r), load $LOAD0"

for e in $ENGINES; do
  [[ $e == tug || $e == docker || $e == podman ]] || { echo "unknown engine $e" >&2; exit 2; }
  if "setup_$e"; then OK[$e]=1; fi
done

echo "== run --rm busybox true: $RUNS rounds (one run of each engine) after $WARMUP warm-up rounds;" \
  "--network none, and tug on its default network"
ready=()
for e in $ENGINES; do [[ -n ${OK[$e]:-} ]] && ready+=("$e"); done
[[ -n ${OK[tug]:-} ]] && ready+=(tugnet)
((${#ready[@]})) && bench_true "${ready[@]}"
if [[ -n ${MED[tugnet]:-} ]]; then
  veths=$(ip -o link show master "$TUG_BRIDGE" 2>/dev/null | wc -l)
  ((veths == 0)) || NOTE[tugnet]+="${NOTE[tugnet]:+; }$veths veths left on $TUG_BRIDGE"
fi

echo "== exec CONTAINER true into a running busybox: $RUNS runs after $WARMUP warm-up runs"
for e in $ENGINES; do
  [[ -n ${OK[$e]:-} ]] && bench_exec "$e"
done

echo "== $NDET detached containers (run -d busybox sleep 3600), one after another"
for e in $ENGINES; do
  [[ -n ${OK[$e]:-} ]] || continue
  bench_detached "$e" || true
  [[ $e == tug ]] && cleanup_tug
done

# ----------------------------------------------------------------------------------------
# Report

for e in tug tugnet docker podman; do
  [[ " $ENGINES " == *" $e "* || ($e == tugnet && -n ${OK[tug]:-}) ]] || continue
  [[ -n ${SKIP[$e]:-} ]] && echo "${e/tugnet/tug (default network)}: skipped (${SKIP[$e]})"
done
LOAD1=$(cut -d' ' -f1 /proc/loadavg)
if awk -v a="$LOAD0" -v b="$LOAD1" -v n="$(nproc)" 'BEGIN {exit !(a > n / 2 || b > n / 2)}'; then
  echo "warning: load average $LOAD0 at the start, $LOAD1 at the end on $(nproc) CPUs: other work" \
    "on this machine inflates the times; rerun when it is idle"
fi

line="run --rm true:" line90="  p90:"
for e in tug docker podman; do
  [[ -n ${MED[$e]:-} ]] || continue
  line+="  $e $(fmt_ms "${MED[$e]}") ms"
  [[ $e != tug && -n ${MED[tug]:-} ]] && line+=" ($(ratio "${MED[$e]}" "${MED[tug]}")x)"
  line90+="  $e $(fmt_ms "${P90[$e]}") ms"
done
echo "$line"
[[ $line90 == "  p90:" ]] || echo "$line90"
if [[ -n ${MED[tugnet]:-} ]]; then
  line="  tug on its default network (bridge + veth): $(fmt_ms "${MED[tugnet]}") ms, p90 $(fmt_ms "${P90[tugnet]}") ms"
  if [[ -n ${MED[tug]:-} ]]; then
    line+=" ($(awk -v a="${MED[tugnet]}" -v b="${MED[tug]}" 'BEGIN {printf "%+.1f", (a - b) / 1000}') ms)"
  fi
  echo "$line"
fi
for e in tug tugnet docker podman; do
  [[ -n ${NOTE[$e]:-} ]] && echo "  ${e/tugnet/tug (default network)}: ${NOTE[$e]}"
done

line="exec true:"
for e in tug docker podman; do
  [[ -n ${EXEC_US[$e]:-} ]] || continue
  line+="  $e $(fmt_ms "${EXEC_US[$e]}") ms"
  [[ $e != tug && -n ${EXEC_US[tug]:-} ]] && line+=" ($(ratio "${EXEC_US[$e]}" "${EXEC_US[tug]}")x)"
done
echo "$line"
for e in tug docker podman; do
  [[ -n ${NOTE[$e.exec]:-} ]] && echo "  $e: ${NOTE[$e.exec]}"
done

line="run -d x$NDET:"
for e in tug docker podman; do
  [[ -n ${DET_N[$e]:-} && ${DET_N[$e]} -gt 0 ]] || continue
  line+="  $e $(fmt_ms "${DET_US[$e]}") ms total, $(fmt_ms $((DET_US[$e] / DET_N[$e]))) ms each"
  [[ ${DET_N[$e]} != "$NDET" ]] && line+=" (${DET_N[$e]} started)"
  [[ $e != tug && -n ${DET_US[tug]:-} && ${DET_N[tug]:-0} -gt 0 ]] &&
    line+=" ($(ratio $((DET_US[$e] / DET_N[$e])) $((DET_US[tug] / DET_N[tug])))x)"
done
echo "$line"
line="  median start, first / last tenth:"
for e in tug docker podman; do
  [[ -n ${DET_FIRST[$e]:-} ]] || continue
  line+="  $e $(fmt_ms "${DET_FIRST[$e]}") / $(fmt_ms "${DET_LAST[$e]}") ms"
done
[[ $line == *ms ]] && echo "$line"
for e in tug docker podman; do
  [[ -n ${NOTE[$e.det]:-} ]] && echo "  $e: ${NOTE[$e.det]}"
  [[ -n ${NOTE[$e.ps]:-} ]] && echo "  $e: ${NOTE[$e.ps]}"
done

line="ps / ps -a with them running (median of $PS_RUNS):"
for e in tug docker podman; do
  [[ -n ${PS_US[$e]:-} ]] || continue
  line+="  $e $(fmt_ms "${PS_US[$e]}") / $(fmt_ms "${PSA_US[${e}]:-0}") ms"
done
echo "$line"

line="memory per running container (RSS / PSS of its host process):"
for e in tug docker podman; do
  [[ -n ${MEM_N[$e]:-} && ${MEM_N[$e]} -gt 0 ]] || continue
  local_name=$(eval echo "\$${e}_keeper")
  line+="  $e ${local_name} $(fmt_kib $((MEM_RSS[$e] / MEM_N[$e]))) / $(fmt_kib $((MEM_PSS[$e] / MEM_N[$e])))"
  [[ $e != tug && ${MEM_N[tug]:-0} -gt 0 ]] &&
    line+=" ($(ratio $((MEM_RSS[$e] / MEM_N[$e])) $((MEM_RSS[tug] / MEM_N[tug])))x RSS)"
  [[ ${MEM_N[$e]} != "${DET_N[$e]}" ]] && line+=" (${MEM_N[$e]} processes for ${DET_N[$e]} containers)"
done
echo "$line"
[[ -n ${NOTE[docker.daemons]:-} ]] && echo "  docker: ${NOTE[docker.daemons]}"

line="rm -f of all:"
for e in tug docker podman; do
  [[ -n ${RM_US[$e]:-} ]] || continue
  line+="  $e $(fmt_ms "${RM_US[$e]}") ms"
  [[ $e != tug && -n ${RM_US[tug]:-} ]] && line+=" ($(ratio "${RM_US[$e]}" "${RM_US[tug]}")x)"
done
echo "$line"
for e in tug docker podman; do
  [[ -n ${NOTE[$e.rm]:-} ]] && echo "  $e: ${NOTE[$e.rm]}"
  [[ -n ${LEFT[$e]:-} ]] && echo "left after rm -f: $e ${LEFT[$e]}"
done

if [[ -n ${MED[tug]:-} ]]; then
  goal "tug run --rm true median <= $GOAL_TUG_MS ms" "$(le "${MED[tug]}" $((GOAL_TUG_MS * 1000)) && echo 1 || echo 0)" \
    "$(fmt_ms "${MED[tug]}") ms"
  for e in docker podman; do
    [[ -n ${MED[$e]:-} ]] || continue
    [[ $e == docker ]] && want=$GOAL_X_DOCKER || want=$GOAL_X_PODMAN
    x=$(ratio "${MED[$e]}" "${MED[tug]}")
    goal ">= ${want}x faster than $e" "$(le "$want" "$x" && echo 1 || echo 0)" "${x}x"
  done
fi
if [[ -n ${PS_US[tug]:-} ]]; then
  goal "tug ps with ${DET_N[tug]} running < $GOAL_PS_MS ms" \
    "$(le "${PS_US[tug]}" $((GOAL_PS_MS * 1000 - 1)) && echo 1 || echo 0)" "$(fmt_ms "${PS_US[tug]}") ms"
fi
if [[ ${MEM_N[tug]:-0} -gt 0 ]]; then
  goal "tug-monitor resident memory < 1 MiB" \
    "$(((MEM_RSS[tug] / MEM_N[tug]) < GOAL_MON_KIB ? 1 : 0))" \
    "RSS $(fmt_kib $((MEM_RSS[tug] / MEM_N[tug]))), PSS $(fmt_kib $((MEM_PSS[tug] / MEM_N[tug])))"
fi
