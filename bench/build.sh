#!/bin/bash
# bench/build.sh: `tug build` beside docker 20.10's two builders (legacy, DOCKER_BUILDKIT=0, and
# BuildKit, DOCKER_BUILDKIT=1) in one run.
#
# The context, made here the same way every time: ~50 MiB in 5000 files (4795 small text
# files three directories deep under deps/, 200 C-like sources under src/, 4 binary blobs of
# ~10 MiB under assets/), and a 10-step Dockerfile (docker's count: FROM busybox, ENV,
# WORKDIR, RUN, COPY assets/, COPY deps/, RUN, COPY src/, RUN, CMD).
# Part 1, cold: the first build of that Dockerfile, BENCH_SLOW_RUNS times, each with an empty
#   build cache (tug: a new store with busybox pulled into it; docker: the last result removed
#   with its intermediate images, and `builder prune -af` for BuildKit; all untimed).
# Part 2, no-op rebuild: the same build again with nothing changed, BENCH_RUNS times after an
#   untimed one whose output must show every step cached.
# Part 3, edit: src/main.c rewritten (a line with the round's number), then the build,
#   BENCH_RUNS times after an untimed round whose output shows which steps re-ran: the COPY of
#   src/ and every step after it, nothing before.
# Part 4, per-RUN cost: FROM busybox + 20 x `RUN true`, built with --no-cache, BENCH_SLOW_RUNS
#   times after an untimed one; reported as total / 20 (nothing subtracted). tug also on its
#   default network (a bridge and a veth per RUN), on a line of its own.
# Each timed round runs one build of every engine, in an order that rotates from round to round
# (all see the same background noise); medians are reported, with each docker figure's ratio to
# tug's. Every build uses --network none (the private dockerd has no bridge: BuildKit's RUN
# needs none or host there). The goals of issue 9 are printed MET or MISSED; a missed goal does
# not fail the script. Everything runs on loopback (a private registry with the busybox
# fixture, a private dockerd with its own data root and socket) under one work dir, removed at
# the end with the bridge tug made for it and that bridge's firewall rules, nothing else.
#
# Env: TUG (./build/tug) BENCH_RUNS (10) BENCH_SLOW_RUNS (3) BENCH_TIMEOUT (300: seconds any
#      one build may take) BENCH_ENGINES ("tug legacy buildkit"; "docker" = both builders)
#      BENCH_DIR (/var/tmp/tug-bench) BENCH_CTX_FILES (5000) BENCH_CTX_MIB (50)
# Run as root. Uses hyperfine for the timed rounds when present.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/fixtures/lib.sh
source "$HERE/../tests/fixtures/lib.sh"
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

TUG=${TUG:-./build/tug}
RUNS=${BENCH_RUNS:-10}
SLOW=${BENCH_SLOW_RUNS:-3}
T=${BENCH_TIMEOUT:-300}
ENGINES=${BENCH_ENGINES:-tug legacy buildkit}
ENGINES=${ENGINES//docker/legacy buildkit}
BASE=${BENCH_DIR:-/var/tmp/tug-bench}
CTX_FILES=${BENCH_CTX_FILES:-5000}
CTX_MIB=${BENCH_CTX_MIB:-50}

# goals from the issue
GOAL_NOOP_X=10 GOAL_RUN_MS=15

[[ $(id -u) == 0 ]] || { echo "bench/build.sh: run as root" >&2; exit 1; }
[[ $TUG == */* ]] && [[ -e $TUG ]] && TUG=$(cd "$(dirname "$TUG")" && pwd)/$(basename "$TUG")
for e in $ENGINES; do
  [[ $e == tug || $e == legacy || $e == buildkit ]] || { echo "unknown engine $e" >&2; exit 2; }
done

mkdir -p "$BASE"
# on disk, like a real project and store
WORK=$(mktemp -d "$BASE/build.XXXXXX")
HAVE_HYPERFINE=
command -v hyperfine >/dev/null && command -v jq >/dev/null && HAVE_HYPERFINE=1

MAIN_CTX=$WORK/ctx     # the 10-step Dockerfile and its 50 MB context
RUNS_CTX=$WORK/runs    # 20 x RUN true, nothing else
EDITED=src/main.c      # the file part 3 edits
EDIT_COPY='COPY src/ ' # the step that copies it: it and every later step must re-run
TUG_ROOT=              # the store in use (part 1 makes a new one per round; the last is kept)
TUG_ROOTS=()           # every store made here
DOCKER_SOCK=$WORK/docker/docker.sock

declare -A SKIP=() TM=() FAILS=() LOST=() CHECK=() RAN=() NRAN=()
declare -A LABEL=([tug]=tug [tugnet]='tug (default network)' [legacy]='docker legacy'
  [buildkit]='docker BuildKit')
label() { echo "${LABEL[$1]}"; }

dk() { timeout -k 5 "$T" "$DOCKER_CLI" -H "unix://$DOCKER_SOCK" "$@"; }

# ----------------------------------------------------------------------------------------
# Cleanup: what this script made, and nothing else

TUG_KILLED= # set when a tug build was killed by the timeout

# store_bridge ROOT: the bridge of the store ROOT's default network (its alias names the store)
store_bridge() {
  ip -o link show type bridge 2>/dev/null |
    awk -v want="alias tug store $1" '{ n = split($0, f, /\\ +/) } f[n] == want { sub(/:$/, "", $2); print $2 }'
}

# drop_bridge BR: the bridge BR and the firewall rules tug made for it, no other rule
drop_bridge() {
  local br=$1 ipt chain ch h
  local -a rule
  ip link delete "$br" 2>/dev/null || true
  { nft -a list table inet tug 2>/dev/null || true; } |
    awk -v c="comment \"net:$br\"" '$1 == "chain" { ch = $2 } index($0, c) { print ch, $NF }' |
    while read -r ch h; do nft delete rule inet tug "$ch" handle "$h" || true; done
  # its ACCEPT rules in docker's chains, in each iptables flavour loaded
  for ipt in iptables-nft iptables-legacy; do
    command -v "$ipt" >/dev/null || continue
    [[ $ipt == iptables-nft ]] && ! nft list table ip filter >/dev/null 2>&1 && continue
    [[ $ipt == iptables-legacy ]] && ! grep -qx filter /proc/net/ip_tables_names 2>/dev/null && continue
    for chain in DOCKER-USER FORWARD; do
      { "$ipt" -w -S "$chain" 2>/dev/null || true; } |
        { grep -E -- "^-A $chain .*-[io] $br .*--comment tug( |$)" || true; } |
        while read -r -a rule; do "$ipt" -w -D "${rule[@]:1}" || true; done
    done
  done
}

drop_tug_root() {
  local root=$1 br
  [[ -d $root ]] || return 0
  # a build killed by the timeout may leave its step's cgroup; `system check` would remove it,
  # and with it the leftovers of other stores, which are not this script's to touch: say so
  if [[ -n $TUG_KILLED ]]; then
    log "a tug build was killed: \`tug --root $root system check --dry-run\` says:"
    timeout -k 5 120 "$TUG" --root "$root" system check --dry-run 2>&1 | sed 's/^/#   /' >&2 || true
  fi
  br=$(store_bridge "$root")
  rm_store "$root"
  # the bridge of a store's default network and its rules outlive the store
  [[ -z $br ]] || drop_bridge "$br"
}

cleanup() {
  set +e
  trap - INT TERM
  local root ids
  for root in "${TUG_ROOTS[@]}"; do drop_tug_root "$root"; done
  if [[ -n $DOCKERD_PID ]]; then
    ids=$(timeout 60 "$DOCKER_CLI" -H "unix://$DOCKER_SOCK" ps -aq 2>/dev/null)
    # shellcheck disable=SC2086 # one id per word
    [[ -n $ids ]] && timeout 600 "$DOCKER_CLI" -H "unix://$DOCKER_SOCK" rm -f $ids >/dev/null 2>&1
    stop_dockerd
  fi
  registry_stop
  rm_store "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ----------------------------------------------------------------------------------------
# The contexts

# gen_context DIR FILES MIB: FILES - 1 files (the Dockerfile is the last) of MIB MiB in all,
# the same bytes every time (SHAKE-256 of each file's path).
gen_context() {
  python3 - "$@" <<'EOF'
import hashlib, os, sys

root, nfiles, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def shake(tag, n):
    return hashlib.shake_256(tag.encode()).digest(n)

def text(tag):
    """Printable lines of hex, 64 bytes to 4 KiB, the length drawn from the path."""
    n = 64 + int.from_bytes(shake("len:" + tag, 4), "little") % 4032
    h = shake(tag, n).hex()[:n]
    return "".join(h[i:i + 63] + "\n" for i in range(0, n, 63)).encode()

def put(rel, data):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return len(data)

nlarge = 4
nsrc = max(1, nfiles // 25)
ndeps = max(0, nfiles - 1 - nlarge - nsrc)
small = put("src/main.c", b"int main(void) { return 0; }\n" + text("src/main.c"))
for j in range(1, nsrc):
    rel = "src/lib%d/unit%03d.c" % (j % 4, j)
    small += put(rel, text(rel))
for i in range(ndeps):
    rel = "deps/pkg%02d/mod%d/file%04d.txt" % (i // 100, i // 10 % 10, i)
    small += put(rel, text(rel))
each = max(0, (mib << 20) - small) // nlarge
for k in range(nlarge):
    rel = "assets/blob%d.bin" % k
    put(rel, shake(rel, each))
EOF
}

make_contexts() {
  mkdir -p "$MAIN_CTX" "$RUNS_CTX"
  gen_context "$MAIN_CTX" "$CTX_FILES" "$CTX_MIB"
  cat >"$MAIN_CTX/Dockerfile" <<'EOF'
FROM busybox
ENV APP_HOME=/app LANG=C.UTF-8
WORKDIR /app
RUN mkdir -p data && echo bench > data/stamp
COPY assets/ assets/
COPY deps/ deps/
RUN find deps -type f | wc -l > data/deps.count
COPY src/ src/
RUN find src -name '*.c' | wc -l > data/src.count && wc -c < src/main.c >> data/src.count
CMD ["sh"]
EOF
  cp "$MAIN_CTX/$EDITED" "$WORK/main.c.orig"
  find "$MAIN_CTX" -exec touch -h -d "@$FIXTURE_EPOCH" {} +
  { echo 'FROM busybox'; for ((i = 0; i < 20; i++)); do echo 'RUN true'; done; } >"$RUNS_CTX/Dockerfile"
  CTX_NFILES=$(find "$MAIN_CTX" -type f | wc -l)
  CTX_BYTES=$(du -sb --apparent-size "$MAIN_CTX" | cut -f1)
}

edit_source() { # edit_source N: src/main.c as generated, plus a line that says N
  { cat "$WORK/main.c.orig"; printf '/* bench edit %d */\n' "$1"; } >"$MAIN_CTX/$EDITED"
}

# ----------------------------------------------------------------------------------------
# The engines

new_tug_root() { # new_tug_root N: a new store with busybox pulled and tagged; TUG_ROOT is it
  TUG_ROOT=$WORK/tug.$1
  TUG_ROOTS+=("$TUG_ROOT")
  timeout -k 5 "$T" "$TUG" --root "$TUG_ROOT" pull "$REGISTRY/busybox" >"$WORK/tug.setup.log" 2>&1 &&
    timeout -k 5 "$T" "$TUG" --root "$TUG_ROOT" tag "$REGISTRY/busybox" busybox >>"$WORK/tug.setup.log" 2>&1
}

setup_tug() {
  "$TUG" --version >/dev/null 2>&1 || { SKIP[tug]="$TUG does not run: build it (make)"; return 1; }
  new_tug_root 1 || { SKIP[tug]="pull failed: $(tail -n 1 "$WORK/tug.setup.log")"; return 1; }
}

# A private dockerd for both builders; BuildKit is kept only if it builds offline from the local
# busybox (a RUN included).
DOCKER_SETUP_RC= # setup_docker's status, once it has run
setup_docker() {
  [[ -n $DOCKER_SETUP_RC ]] && return "$DOCKER_SETUP_RC"
  DOCKER_SETUP_RC=1
  local e
  command -v dockerd >/dev/null || {
    SKIP[legacy]="dockerd not installed: apt-get install docker.io" SKIP[buildkit]=${SKIP[legacy]}
    return 1
  }
  if ! start_dockerd "$WORK/docker"; then
    SKIP[legacy]="dockerd did not start, see $WORK/docker/dockerd.log" SKIP[buildkit]=${SKIP[legacy]}
    return 1
  fi
  if ! { dk pull -q "$REGISTRY/busybox" && dk tag "$REGISTRY/busybox" busybox; } >"$WORK/docker.setup.log" 2>&1; then
    SKIP[legacy]="pull failed: $(tail -n 1 "$WORK/docker.setup.log")" SKIP[buildkit]=${SKIP[legacy]}
    return 1
  fi
  DOCKER_SETUP_RC=0
  # a first build of each kind, so that no timed build pays for the daemon's first one
  mkdir -p "$WORK/probe"
  printf 'FROM busybox\nRUN true\n' >"$WORK/probe/Dockerfile"
  for e in legacy buildkit; do
    if ! DOCKER_BUILDKIT=$([[ $e == buildkit ]] && echo 1 || echo 0) \
      dk build --network none -t "probe-$e" "$WORK/probe" >"$WORK/$e.probe.log" 2>&1; then
      SKIP[$e]="a build of FROM busybox + RUN true failed offline: $(grep -m1 -iE 'error|failed' "$WORK/$e.probe.log" || tail -n 1 "$WORK/$e.probe.log")"
    fi
  done
}

setup_legacy() { setup_docker && [[ -z ${SKIP[legacy]:-} ]]; }
setup_buildkit() { setup_docker && [[ -z ${SKIP[buildkit]:-} ]]; }

# build_cmd PART ENGINE: CMD = the engine's build for PART (cold, noop, edit: the 10-step
# Dockerfile; runs: the 20 RUNs with --no-cache)
build_cmd() {
  local ctx=$MAIN_CTX tag=main
  local -a extra=()
  [[ $1 == runs ]] && ctx=$RUNS_CTX tag=runs extra=(--no-cache)
  case $2 in
  tug) CMD=("$TUG" --root "$TUG_ROOT" build --network none "${extra[@]}" -t "bench-$tag" "$ctx") ;;
  tugnet) CMD=("$TUG" --root "$TUG_ROOT" build "${extra[@]}" -t "bench-net-$tag" "$ctx") ;;
  legacy | buildkit)
    CMD=(env "DOCKER_BUILDKIT=$([[ $2 == buildkit ]] && echo 1 || echo 0)" "$DOCKER_CLI"
      -H "unix://$DOCKER_SOCK" build --network none "${extra[@]}" -t "$2-$tag" "$ctx")
    ;;
  esac
}

# reset_cache ENGINE ROUND: an empty build cache for the next cold build (untimed)
reset_cache() {
  case $1 in
  tug)
    (($2 == 1)) && return 0 # setup_tug made the first store
    drop_tug_root "$TUG_ROOT"
    new_tug_root "$2" || log "tug: pull into a new store failed: $(tail -n 1 "$WORK/tug.setup.log")"
    ;;
  legacy) dk rmi legacy-main >/dev/null 2>&1 || true ;; # its untagged parents go with it
  buildkit)
    dk rmi buildkit-main >/dev/null 2>&1 || true
    dk builder prune -af >/dev/null 2>&1 || log "docker builder prune -af failed"
    ;;
  esac
}

# ----------------------------------------------------------------------------------------
# Timing

# timed_round PART ROUND ENGINE...: one build of each ENGINE, in an order rotated by ROUND;
# the microseconds of each successful build are appended to TM[PART.ENGINE]. Under hyperfine
# when present (no wrapper in the measurement), bounded by BENCH_TIMEOUT per build; a round
# that overruns is lost (counted in LOST[PART]).
timed_round() {
  local part=$1 r=$2 n i e rc t0 t1
  shift 2
  n=$#
  local -a round=() cmds=() res=()
  for ((i = 0; i < n; i++)); do
    e=$(((i + r) % n + 1))
    round+=("${!e}")
  done
  if [[ -n $HAVE_HYPERFINE ]]; then
    for e in "${round[@]}"; do
      build_cmd "$part" "$e"
      cmds+=("$(printf '%q ' "${CMD[@]}")")
    done
    if ! timeout -k 5 $((T * n)) hyperfine -N -i --style none --runs 1 --export-json "$WORK/round.json" \
      "${cmds[@]}" >/dev/null 2>"$WORK/hyperfine.err"; then
      LOST[$part]=$((${LOST[$part]:-0} + 1))
      [[ " ${round[*]} " == *" tug"* ]] && TUG_KILLED=1 # timeout killed what was running
      log "$part round $r: hyperfine failed or ran over: $(tail -n 1 "$WORK/hyperfine.err")"
      return 0
    fi
    mapfile -t res < <(jq -r '.results[] | "\(.exit_codes[0]) \(.times[0] * 1e6 | floor)"' "$WORK/round.json")
    for ((i = 0; i < n; i++)); do
      read -r rc t0 <<<"${res[i]}"
      record "$part" "${round[i]}" "$rc" "$t0" /dev/null
    done
    return 0
  fi
  for e in "${round[@]}"; do # no hyperfine: the times include `timeout` (~1 ms)
    build_cmd "$part" "$e"
    stamp_us t0
    timeout -k 5 "$T" "${CMD[@]}" >"$WORK/timed.log" 2>&1 && rc=0 || rc=$?
    stamp_us t1
    record "$part" "$e" "$rc" $((t1 - t0)) "$WORK/timed.log"
  done
}

first_error() { # first_error LOG: the line of a failed build's output that says why
  grep -m1 -E 'ERROR|[Ee]rror|did not complete' "$1" 2>/dev/null || tail -n 1 "$1" 2>/dev/null || true
}

record() { # record PART ENGINE STATUS US LOG
  if (($3 == 0)); then
    TM[$1.$2]+="$4 "
    return 0
  fi
  if (($3 == 124 || $3 == 137)); then
    FAILS[$1.$2]+="killed after ${T}s; "
    [[ $2 == tug* ]] && TUG_KILLED=1
  else
    FAILS[$1.$2]+="exit $3: $(first_error "$5"); "
  fi
  # the whole output of the first failure of each, for the report
  [[ -e $WORK/fail.$1.$2.log || ! -s $5 ]] || cp "$5" "$WORK/fail.$1.$2.log"
}

med() { # med PART ENGINE: median microseconds, or nothing
  local -a t
  read -r -a t <<<"${TM[$1.$2]:-}"
  ((${#t[@]})) && median "${t[@]}"
  return 0
}

# ----------------------------------------------------------------------------------------
# What a build did

# steps_of ENGINE LOG: the build's steps but FROM, one a line: "CACHED|RAN<TAB>instruction".
# tug and BuildKit: plain progress ("#7 [4/8] COPY ...", "#7 CACHED"); the legacy builder:
# "Step 5/10 : COPY ...", " ---> Using cache".
steps_of() {
  if [[ $1 == legacy ]]; then
    awk '/^Step [0-9]+\/[0-9]+ : / { if (n++) print st "\t" ins
                                     ins = $0; sub(/^Step [0-9]+\/[0-9]+ : /, "", ins); st = "RAN"; next }
         /^ ---> Using cache/ { st = "CACHED" }
         END { if (n) print st "\t" ins }' "$2"
  else
    awk '/^#[0-9]+ \[[0-9]+\/[0-9]+\] / { if (!($1 in name)) { order[++k] = $1; st[$1] = "RAN" }
                                          ins = $0; sub(/^#[0-9]+ \[[0-9]+\/[0-9]+\] /, "", ins); name[$1] = ins }
         /^#[0-9]+ CACHED/ { if ($1 in name) st[$1] = "CACHED" }
         END { for (i = 1; i <= k; i++) print st[order[i]] "\t" name[order[i]] }' "$2"
  fi | awk -F'\t' '$2 !~ /^FROM /'
}

# check_build PART ENGINE [MARKER]: an untimed build with its output kept. Sets RAN[PART.ENGINE]
# to the steps that ran ("; "-separated, "none"), NRAN[PART.ENGINE] to "RAN of SHOWN" (steps but
# FROM) and CHECK[PART.ENGINE] to 1 when exactly the step starting with MARKER and those after it
# ran (no MARKER: none ran), 0 when not, or to "failed: ..." when the build failed.
check_build() {
  local part=$1 e=$2 marker=${3:-} log=$WORK/$1.$2.log rc out
  build_cmd "$part" "$e"
  timeout -k 5 "$T" "${CMD[@]}" >"$log" 2>&1 && rc=0 || rc=$?
  if ((rc != 0)); then
    CHECK[$part.$e]="failed (exit $rc): $(first_error "$log")"
    ((rc == 124 || rc == 137)) && [[ $e == tug* ]] && TUG_KILLED=1
    return 1
  fi
  out=$(steps_of "$e" "$log" | awk -F'\t' -v m="$marker" '
    BEGIN { ok = 1 }
    m != "" && index($2, m) == 1 { after = 1; found = 1 }
    { if (($1 == "RAN") != (after == 1)) ok = 0
      if ($1 == "RAN") { ran = ran (ran == "" ? "" : "; ") $2; k++ }
      n++ }
    END { if (m != "" && !found) ok = 0
          if (n == 0) ok = 0
          print ok; print k + 0 " of " n + 0; print (ran == "" ? "none" : ran) }')
  { read -r "CHECK[$part.$e]"; read -r "NRAN[$part.$e]"; read -r "RAN[$part.$e]"; } <<<"$out"
  return 0
}

# ----------------------------------------------------------------------------------------
# Report helpers

goal() { # goal TEXT OK(0|1) VALUE
  if (($2)); then echo "goal: $1: MET ($3)"; else echo "goal: $1: MISSED ($3)"; fi
}
le() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a <= b)}'; }
over() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", a / b}'; } # medians may print as 1.2e+06

# figures PART DIVISOR ENGINE...: "tug 12.3 ms  docker legacy 456 ms (37.1x) ..." (the median
# divided by DIVISOR; each docker figure with its ratio to tug's)
figures() {
  local part=$1 div=$2 e m line="" base
  shift 2
  base=$(med "$part" tug)
  for e in "$@"; do
    m=$(med "$part" "$e")
    [[ -n $m ]] || continue
    line+="  $(label "$e") $(fmt_ms "$(over "$m" "$div")") ms"
    [[ $e == legacy || $e == buildkit ]] && [[ -n $base ]] && line+=" ($(ratio "$m" "$base")x)"
  done
  echo "${line:-  no figures}"
}

notes() { # notes PART ENGINE...: failed runs and lost rounds of PART
  local part=$1 e
  shift
  for e in "$@"; do
    [[ -n ${FAILS[$part.$e]:-} ]] || continue
    echo "  $(label "$e"): ${FAILS[$part.$e]%; }"
    [[ -e $WORK/fail.$part.$e.log ]] && tail -n 5 "$WORK/fail.$part.$e.log" | sed 's/^/    | /'
  done
  [[ -n ${LOST[$part]:-} ]] && echo "  ${LOST[$part]} rounds lost (hyperfine failed or ran over)"
  return 0
}

# ----------------------------------------------------------------------------------------

LOAD0=$(cut -d' ' -f1 /proc/loadavg)
log "tug $(git -C "$HERE/.." describe --always --dirty 2>/dev/null || echo '?'), $(nproc) CPUs, kernel $(uname -r), load $LOAD0"
registry_start "$WORK/registry" >/dev/null
fixture_push_busybox busybox:latest
log "registry at $REGISTRY; busybox pushed; work dir $WORK"
make_contexts
log "context: $CTX_NFILES files, $(awk -v b="$CTX_BYTES" 'BEGIN {printf "%.1f", b / 1048576}') MiB"

ready=()
for e in $ENGINES; do
  if "setup_$e"; then ready+=("$e"); fi
done
[[ -z ${SKIP[buildkit]:-} && " ${ready[*]} " == *" buildkit "* ]] &&
  log "BuildKit builds offline here from the local busybox image"
((${#ready[@]})) || { echo "no engine to measure:"; for e in $ENGINES; do echo "  $e: ${SKIP[$e]}"; done; exit 1; }

log "part 1: cold build, $SLOW rounds"
for ((r = 1; r <= SLOW; r++)); do
  for e in "${ready[@]}"; do reset_cache "$e" "$r"; done
  timed_round cold "$r" "${ready[@]}"
done

log "part 2: no-op rebuild, $RUNS rounds"
noop=()
for e in "${ready[@]}"; do check_build noop "$e" && noop+=("$e"); done
for ((r = 1; r <= RUNS && ${#noop[@]}; r++)); do timed_round noop "$r" "${noop[@]}"; done

log "part 3: edit $EDITED and rebuild, $RUNS rounds"
edit=()
edit_source 0
for e in "${ready[@]}"; do check_build edit "$e" "$EDIT_COPY" && edit+=("$e"); done
for ((r = 1; r <= RUNS && ${#edit[@]}; r++)); do
  edit_source "$r"
  timed_round edit "$r" "${edit[@]}"
done

log "part 4: 20 x RUN true with --no-cache, $SLOW rounds"
runs=()
run_engines=("${ready[@]}")
[[ " ${ready[*]} " == *" tug "* ]] && run_engines+=(tugnet)
for e in "${run_engines[@]}"; do check_build runs "$e" && runs+=("$e"); done
for ((r = 1; r <= SLOW && ${#runs[@]}; r++)); do timed_round runs "$r" "${runs[@]}"; done

# ----------------------------------------------------------------------------------------
# Report

LOAD1=$(cut -d' ' -f1 /proc/loadavg)
echo "== tug build vs docker $(dockerd --version 2>/dev/null | awk '{print $3}' | tr -d ,) builders;" \
  "context $CTX_NFILES files, $(awk -v b="$CTX_BYTES" 'BEGIN {printf "%.1f", b / 1048576}') MiB;" \
  "load $LOAD0 at the start, $LOAD1 at the end on $(nproc) CPUs;" \
  "$([[ -n $HAVE_HYPERFINE ]] && echo hyperfine || echo 'a shell loop')"
for e in $ENGINES; do
  [[ -n ${SKIP[$e]:-} ]] && echo "$(label "$e"): skipped (${SKIP[$e]})"
done
if awk -v a="$LOAD0" -v b="$LOAD1" -v n="$(nproc)" 'BEGIN {exit !(a > n / 2 || b > n / 2)}'; then
  echo "warning: other work on this machine inflates the times; rerun when it is idle"
fi
for part in noop edit runs; do
  for e in "${run_engines[@]}"; do
    [[ ${CHECK[$part.$e]:-} == failed* ]] || continue
    echo "$(label "$e"): $part check build ${CHECK[$part.$e]}"
    tail -n 5 "$WORK/$part.$e.log" | sed 's/^/    | /'
  done
done

echo "cold build (median of $SLOW, empty build cache):"
figures cold 1 "${ready[@]}"
notes cold "${ready[@]}"
echo "no-op rebuild (median of $RUNS):"
figures noop 1 "${noop[@]}"
notes noop "${noop[@]}"
for e in "${noop[@]}"; do echo "  $(label "$e") ran ${NRAN[noop.$e]} steps: ${RAN[noop.$e]}"; done
echo "edit $EDITED, rebuild (median of $RUNS):"
figures edit 1 "${edit[@]}"
notes edit "${edit[@]}"
for e in "${edit[@]}"; do
  echo "  $(label "$e") re-ran ${NRAN[edit.$e]} steps: ${RAN[edit.$e]}$([[ ${CHECK[edit.$e]} == 1 ]] || echo ' NOT the steps from the COPY of src/ on')"
done
echo "per RUN (20 x RUN true, --no-cache; build time / 20, median of $SLOW):"
figures runs 20 "${runs[@]}"
notes runs "${runs[@]}"

noop_tug=$(med noop tug) noop_legacy=$(med noop legacy)
if [[ -n $noop_tug && -n $noop_legacy ]]; then
  x=$(ratio "$noop_legacy" "$noop_tug")
  v="${x}x: $(fmt_ms "$noop_tug") vs $(fmt_ms "$noop_legacy") ms"
  ok=$(le "$GOAL_NOOP_X" "$x" && echo 1 || echo 0)
  if [[ ${CHECK[noop.tug]:-} != 1 ]]; then ok=0 v+="; but tug ran ${NRAN[noop.tug]} steps"; fi
  goal "no-op rebuild >= ${GOAL_NOOP_X}x faster than docker's legacy builder" "$ok" "$v"
fi
for e in tug tugnet; do
  m=$(med runs "$e")
  [[ -n $m ]] || continue
  goal "tug per-RUN overhead <= $GOAL_RUN_MS ms ($([[ $e == tug ]] && echo '--network none' || echo 'default network'))" \
    "$(le "$m" $((GOAL_RUN_MS * 20000)) && echo 1 || echo 0)" "$(fmt_ms "$(over "$m" 20)") ms"
done
if [[ -n ${CHECK[edit.tug]:-} && ${CHECK[edit.tug]} != failed* ]]; then
  goal "an edited source re-runs its COPY and the steps after it, nothing before" "${CHECK[edit.tug]}" \
    "tug re-ran ${NRAN[edit.tug]} steps shown"
fi
edit_tug=$(med edit tug)
if [[ -n $edit_tug && -n $noop_tug ]]; then
  # what an edit costs beyond the no-op rebuild is the re-run steps: they dominate when the
  # no-op part is at most half
  goal "edit rebuild dominated by the re-run steps (the no-op part at most half)" \
    "$(le "$(awk -v a="$noop_tug" 'BEGIN {print 2 * a}')" "$edit_tug" && echo 1 || echo 0)" \
    "no-op $(fmt_ms "$noop_tug") ms of $(fmt_ms "$edit_tug") ms"
fi
