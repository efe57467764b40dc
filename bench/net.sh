#!/bin/bash
# bench/net.sh: container networking, tug vs docker, in one run.
#
# Part 1: requests/s (wrk -t2 -c50, BENCH_WRK_SECS seconds, best of BENCH_WRK_RUNS runs,
#   published and direct runs interleaved, alternating which goes first) to a web server in
#   a container started with `run -d -p PORT:80`, through the published port on 127.0.0.1
#   and straight to the container's own address on its bridge; the ratio is what publishing
#   costs. tug publishes with kernel DNAT; docker as 20.10 ships it (iptables on, userland
#   proxy on: 127.0.0.1 goes through docker-proxy). The server is nginx from the Debian image
#   bench/pull.sh caches in BENCH_CACHE (built here with debootstrap if missing and
#   possible), else busybox httpd.
# Part 2 (tug only): the cost of setting up the default bridge network: median wall time of
#   BENCH_RUNS `tug run --rm busybox true` vs as many `tug run --rm --network none busybox
#   true`, interleaved (alternating which goes first) after BENCH_WARMUP untimed rounds.
# The goals are printed MET or MISSED; a missed goal does not fail the script.
#
# docker runs as a private dockerd (data, exec root, socket under the work dir) on a bridge
# of its own made here, with --ip-forward=false so that it leaves the FORWARD policy alone on
# a shared host (the measured traffic is local, never forwarded). Everything it or tug set up
# is removed on exit: containers, dockerd, both bridges, the iptables rules and chains docker
# added, tug's firewall rules for its bridge, the work dir. Load goes only to 127.0.0.1 and
# the containers' own addresses.
#
# Env: TUG (./build/tug) BENCH_WRK_SECS (5) BENCH_WRK_RUNS (2) BENCH_RUNS (30) BENCH_WARMUP (3)
#      BENCH_TIMEOUT (30: seconds any one command may take) BENCH_ENGINES ("tug docker")
#      BENCH_CACHE (/var/tmp/tug-bench) BENCH_SERVER (auto | nginx | busybox)
#      BENCH_MIRROR (http://deb.debian.org/debian)
# Run as root. Installs wrk with apt-get when missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/fixtures/lib.sh
source "$HERE/../tests/fixtures/lib.sh"
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

TUG=${TUG:-./build/tug}
WRK_SECS=${BENCH_WRK_SECS:-5}
WRK_RUNS=${BENCH_WRK_RUNS:-2}
RUNS=${BENCH_RUNS:-30}
WARMUP=${BENCH_WARMUP:-3}
T=${BENCH_TIMEOUT:-30}
ENGINES=${BENCH_ENGINES:-tug docker}
CACHE=${BENCH_CACHE:-/var/tmp/tug-bench}
SERVER=${BENCH_SERVER:-auto}
MIRROR=${BENCH_MIRROR:-http://deb.debian.org/debian}

# goals from the issue
GOAL_RATIO=0.9 GOAL_SETUP_MS=5

[[ $(id -u) == 0 ]] || { echo "bench/net.sh: run as root" >&2; exit 1; }
[[ $TUG == */* ]] && [[ -e $TUG ]] && TUG=$(cd "$(dirname "$TUG")" && pwd)/$(basename "$TUG")

mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/net.XXXXXX")
TUG_ROOT=$WORK/tug
tug() { timeout -k 5 "$T" "$TUG" --root "$TUG_ROOT" "$@"; }
dk() { timeout -k 5 "$T" "$DOCKER_CLI" -H "unix://$DOCKER_DIR/docker.sock" "$@"; }

DK_BRIDGE='' DK_SUBNET='' IPT_BEFORE='' FWD_POLICY=''

# ----------------------------------------------------------------------------------------
# Cleanup

# The bridge tug made for this root's default network, and its rules in tug's nft table.
cleanup_tug() {
  [[ -d $TUG_ROOT ]] || return 0
  local - ids pid br chain h
  set +e
  br=$(tug network inspect bridge 2>/dev/null | jq -r '.[0].Options["com.docker.network.bridge.name"] // empty' 2>/dev/null)
  ids=$(tug ps -aq --no-trunc 2>/dev/null)
  # shellcheck disable=SC2086
  [[ -n $ids ]] && timeout -k 5 120 "$TUG" --root "$TUG_ROOT" rm -f $ids >/dev/null 2>&1
  for pid in $(pids_with_arg tug-monitor "$TUG_ROOT"); do kill -9 "$pid" 2>/dev/null; done
  # shellcheck disable=SC2086
  [[ -n $ids ]] && timeout -k 5 120 "$TUG" --root "$TUG_ROOT" rm -f $ids >/dev/null 2>&1
  [[ -n $br && $br != tug0 ]] || return 0
  ip link del "$br" 2>/dev/null
  for chain in $(nft list table inet tug 2>/dev/null | awk '$1 == "chain" {print $2}'); do
    for h in $(nft -a list chain inet tug "$chain" 2>/dev/null |
      awk -v c="\"net:$br\"" '$0 ~ "comment " c " # handle" {print $NF}'); do
      nft delete rule inet tug "$chain" handle "$h" 2>/dev/null
    done
  done
  return 0
}

# iptables-save lines that docker added (the rules and chains that mention DOCKER, its
# bridge or its subnet and were not there before it started) are taken out again.
cleanup_docker_iptables() {
  [[ -n $IPT_BEFORE ]] || return 0
  local - t line chain pat=DOCKER
  set +e
  [[ -n $DK_BRIDGE ]] && pat+="|$DK_BRIDGE"
  [[ -n $DK_SUBNET ]] && pat+="|${DK_SUBNET//./\\.}"
  for t in nat filter; do
    # rules first, chains after (they jump to each other)
    iptables-save -t "$t" 2>/dev/null | grep -E -- "$pat" | grep '^-A ' |
      grep -vxF -f "$IPT_BEFORE.$t" | while read -r line; do
      eval "iptables -t $t -D ${line#-A }" 2>/dev/null
    done
    local -a new=()
    mapfile -t new < <(iptables-save -t "$t" 2>/dev/null | awk '/^:DOCKER/ {print substr($1, 2)}' |
      grep -vxF -f <(awk '/^:/ {print substr($1, 2)}' "$IPT_BEFORE.$t"))
    for chain in "${new[@]}"; do iptables -t "$t" -F "$chain" 2>/dev/null; done
    for chain in "${new[@]}"; do iptables -t "$t" -X "$chain" 2>/dev/null; done
  done
  [[ -n $FWD_POLICY ]] && iptables -P FORWARD "$FWD_POLICY" 2>/dev/null
  # the nft tables iptables-nft made for docker, when they were not there before and are empty
  for t in nat filter; do
    grep -qx "table ip $t" "$IPT_BEFORE.tables" && continue
    nft list table ip "$t" >"$WORK/nft.$t" 2>/dev/null || continue
    grep -vqE '^\s*(table|chain|type|policy|\}|$)' "$WORK/nft.$t" || nft delete table ip "$t" 2>/dev/null
  done
  IPT_BEFORE=
  return 0
}

cleanup_docker() {
  local - ids
  set +e
  if [[ -n $DOCKERD_PID ]]; then
    ids=$(dk ps -aq 2>/dev/null)
    # shellcheck disable=SC2086
    [[ -n $ids ]] && dk rm -f $ids >/dev/null 2>&1
    stop_dockerd
  fi
  cleanup_docker_iptables
  [[ -n $DK_BRIDGE ]] && ip link del "$DK_BRIDGE" 2>/dev/null
  DK_BRIDGE=
  return 0
}

cleanup() {
  set +e
  trap - INT TERM
  cleanup_tug
  cleanup_docker
  registry_stop
  rm_store "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ----------------------------------------------------------------------------------------
# The image: Debian + nginx as bench/pull.sh builds and caches it, else busybox httpd

build_nginx() {
  [[ -f $CACHE/oci.done && -f $CACHE/oci/index.json ]] && return 0
  command -v umoci >/dev/null || return 1
  if [[ ! -f $CACHE/rootfs.done ]]; then
    command -v debootstrap >/dev/null ||
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 || return 1
    log "debootstrap bookworm + nginx into $CACHE/rootfs (once; a few minutes)"
    rm_store "$CACHE/rootfs"
    timeout 1800 debootstrap --variant=minbase --include=nginx bookworm "$CACHE/rootfs" "$MIRROR" \
      >"$CACHE/debootstrap.log" 2>&1 || { umount_below "$CACHE/rootfs"; return 1; }
    umount_below "$CACHE/rootfs"
    rm -rf "${CACHE:?}"/rootfs/dev/* "${CACHE:?}"/rootfs/proc/* "${CACHE:?}"/rootfs/sys/* 2>/dev/null || true
    touch "$CACHE/rootfs.done"
  fi
  log "packing the rootfs into an OCI layout (once)"
  local L=$CACHE/oci
  rm -rf "$L" "$CACHE/layer.tar"
  tar -C "$CACHE/rootfs" --sort=name --numeric-owner --format=gnu -cf "$CACHE/layer.tar" . &&
    umoci init --layout "$L" && umoci new --image "$L:nginx" &&
    umoci raw add-layer --image "$L:nginx" --history.created_by \
      "debootstrap --variant=minbase --include=nginx bookworm" "$CACHE/layer.tar" &&
    umoci config --image "$L:nginx" --architecture amd64 --os linux \
      --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --config.cmd nginx --config.cmd -g --config.cmd 'daemon off;' \
      --config.exposedports 80/tcp --config.stopsignal SIGQUIT \
      --history.created_by 'CMD ["nginx" "-g" "daemon off;"]' || { rm -f "$CACHE/layer.tar"; return 1; }
  rm -f "$CACHE/layer.tar"
  touch "$CACHE/oci.done"
}

# The server image and command, set by setup_images: SRV_REF (in $REGISTRY) SRV_CMD (after it)
setup_images() {
  registry_start "$WORK/registry" >/dev/null
  fixture_push_busybox busybox:latest >/dev/null
  if [[ $SERVER != busybox ]] && build_nginx &&
    skopeo --insecure-policy copy -q --dest-tls-verify=false --format v2s2 "oci:$CACHE/oci:nginx" \
      "docker://$REGISTRY/bench/nginx:latest" >/dev/null; then
    SERVER=nginx SRV_REF=bench/nginx SRV_CMD=()
  else
    [[ $SERVER == nginx ]] && { echo "bench/net.sh: no nginx image (see $CACHE/debootstrap.log)" >&2; exit 1; }
    log "no Debian+nginx image: serving with busybox httpd"
    SERVER=busybox SRV_REF=busybox
    SRV_CMD=(sh -c 'mkdir -p /www && echo hello from a container >/www/index.html && exec httpd -f -p 80 -h /www')
  fi
}

# ----------------------------------------------------------------------------------------
# Part 1

# wait_http URL: until it answers 200, at most $T seconds
wait_http() {
  local i
  for ((i = 0; i < T * 10; i++)); do
    [[ $(curl -s -o /dev/null -m 1 -w '%{http_code}' "$1" 2>/dev/null) == 200 ]] && return 0
    sleep 0.1
  done
  echo "no HTTP 200 from $1 after ${T}s" >&2
  return 1
}

# wrk_rps URL [SECS]: requests/s of one wrk run (fails on socket errors or non-2xx answers)
wrk_rps() {
  local out secs=${2:-$WRK_SECS}
  out=$(timeout -k 5 $((secs + 30)) wrk -t2 -c50 -d"${secs}s" "$1" 2>&1) || { echo "$out" >&2; return 1; }
  if grep -qE 'Socket errors|Non-2xx' <<<"$out"; then
    log "wrk $1: $(grep -E 'Socket errors|Non-2xx' <<<"$out" | tr -s ' ' | paste -sd';')"
  fi
  awk '/^Requests\/sec:/ {print $2; ok = 1} END {exit !ok}' <<<"$out"
}

best() { printf '%s\n' "$@" | sort -g | tail -n 1; }
kfmt() { awk -v r="$1" 'BEGIN {printf "%.1fk", r / 1000}'; }
sms() { awk -v us="$1" 'BEGIN {printf "%+.1f", us / 1000}'; } # signed ms
ratio2() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "inf"}'; }

# measure ENGINE PUB_URL DIRECT_URL: sets PUB[ENGINE] DIRECT[ENGINE] (best of $WRK_RUNS)
declare -A PUB=() DIRECT=() SKIP=()
measure() {
  local e=$1 pub=$2 dir=$3 i r
  local -a p=() d=()
  wait_http "$pub" && wait_http "$dir" || return 1
  wrk_rps "$pub" 1 >/dev/null && wrk_rps "$dir" 1 >/dev/null || return 1 # warm-up
  for ((i = 1; i <= WRK_RUNS; i++)); do # alternating which goes first
    if ((i % 2)); then
      r=$(wrk_rps "$pub") || return 1
      p+=("$r")
    fi
    r=$(wrk_rps "$dir") || return 1
    d+=("$r")
    if ((i % 2 == 0)); then
      r=$(wrk_rps "$pub") || return 1
      p+=("$r")
    fi
    log "$e run $i: published $(kfmt "${p[-1]}")  direct $(kfmt "${d[-1]}") req/s"
  done
  PUB[$e]=$(best "${p[@]}") DIRECT[$e]=$(best "${d[@]}")
}

part1_tug() {
  local port ip
  port=$(fixture_free_port)
  tug pull -q "$REGISTRY/$SRV_REF" >/dev/null || { SKIP[tug]="tug pull failed"; return 1; }
  tug run -d --name web -p "$port:80" "$REGISTRY/$SRV_REF" "${SRV_CMD[@]}" >/dev/null ||
    { SKIP[tug]="tug run -d -p failed"; return 1; }
  ip=$(tug inspect -f '{{.NetworkSettings.IPAddress}}' web)
  [[ -n $ip ]] || { SKIP[tug]="the container has no IPAddress"; return 1; }
  log "tug: $SERVER at $ip, published on 127.0.0.1:$port"
  measure tug "http://127.0.0.1:$port/" "http://$ip/" || { SKIP[tug]="measuring failed, see above"; return 1; }
  tug rm -f web >/dev/null
}

# A bridge for docker on a /24 no route of this host covers.
make_docker_bridge() {
  local b
  for b in 254 253 252 251; do
    [[ -z $(ip -4 route show root "10.$b.0.0/16") ]] || continue
    ip -4 route show match "10.$b.0.0/16" | grep -qv '^default' && continue
    DK_BRIDGE=tbdk$$ DK_SUBNET=10.$b.0.0/24
    ip link add "$DK_BRIDGE" type bridge && ip addr add "10.$b.0.1/24" dev "$DK_BRIDGE" &&
      ip link set "$DK_BRIDGE" up && return 0
    return 1
  done
  return 1
}

start_dockerd_net() {
  local i
  DOCKER_DIR=$WORK/docker
  mkdir -p "$DOCKER_DIR"
  IPT_BEFORE=$WORK/iptables.before
  nft list tables >"$IPT_BEFORE.tables" 2>/dev/null || echo >"$IPT_BEFORE.tables"
  iptables-save -t nat >"$IPT_BEFORE.nat" 2>/dev/null || echo >"$IPT_BEFORE.nat"
  iptables-save -t filter >"$IPT_BEFORE.filter" 2>/dev/null || echo >"$IPT_BEFORE.filter"
  FWD_POLICY=$(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3}')
  dockerd --data-root "$DOCKER_DIR/data" --exec-root "$DOCKER_DIR/exec" \
    --pidfile "$DOCKER_DIR/docker.pid" -H "unix://$DOCKER_DIR/docker.sock" \
    --bridge="$DK_BRIDGE" --ip-forward=false --ip6tables=false \
    </dev/null >"$DOCKER_DIR/dockerd.log" 2>&1 3>&- &
  DOCKERD_PID=$!
  for ((i = 0; i < 300; i++)); do
    docker_cli info >/dev/null 2>&1 && return 0
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 10 "$DOCKER_DIR/dockerd.log" >&2
  return 1
}

part1_docker() {
  local port ip
  command -v dockerd >/dev/null || { SKIP[docker]="dockerd not installed: apt-get install docker.io"; return 1; }
  make_docker_bridge || { SKIP[docker]="no free subnet or bridge for docker"; return 1; }
  start_dockerd_net || { SKIP[docker]="dockerd did not start, see above"; return 1; }
  dk pull -q "$REGISTRY/$SRV_REF" >/dev/null || { SKIP[docker]="docker pull failed"; return 1; }
  port=$(fixture_free_port)
  dk run -d --name web -p "$port:80" "$REGISTRY/$SRV_REF" "${SRV_CMD[@]}" >/dev/null ||
    { SKIP[docker]="docker run -d -p failed"; return 1; }
  ip=$(dk inspect -f '{{.NetworkSettings.IPAddress}}' web)
  [[ -n $ip ]] || { SKIP[docker]="the container has no IPAddress"; return 1; }
  log "docker: $SERVER at $ip, published on 127.0.0.1:$port ($(pgrep -xc docker-proxy || true) docker-proxy running)"
  measure docker "http://127.0.0.1:$port/" "http://$ip/" || { SKIP[docker]="measuring failed, see above"; return 1; }
}

# ----------------------------------------------------------------------------------------
# Part 2

# Sets SETUP_BR SETUP_NONE (medians, us) SETUP_BR90 SETUP_NONE90 SETUP_DIFF (median of the
# per-round differences, us).
part2() {
  local i mode t0 t1
  local -a br=() none=() diff=() order
  local -A us=()
  tug run --rm busybox true >/dev/null 2>"$WORK/part2.err" ||
    { SKIP[setup]="tug run --rm busybox true fails: $(tail -n 1 "$WORK/part2.err")"; return 1; }
  for ((i = 0; i < WARMUP + RUNS; i++)); do
    if ((i % 2)); then order=(none bridge); else order=(bridge none); fi
    for mode in "${order[@]}"; do
      local -a flags=()
      [[ $mode == none ]] && flags=(--network none)
      stamp_us t0
      tug run --rm "${flags[@]}" busybox true >/dev/null 2>"$WORK/part2.err" ||
        { SKIP[setup]="tug run --rm ${flags[*]} busybox true failed: $(tail -n 1 "$WORK/part2.err")"; return 1; }
      stamp_us t1
      us[$mode]=$((t1 - t0))
    done
    ((i < WARMUP)) && continue
    br+=("${us[bridge]}") none+=("${us[none]}") diff+=($((us[bridge] - us[none])))
  done
  SETUP_BR=$(median "${br[@]}") SETUP_NONE=$(median "${none[@]}") SETUP_DIFF=$(median "${diff[@]}")
  SETUP_EXTRA=$(awk -v a="$SETUP_BR" -v b="$SETUP_NONE" 'BEGIN {print a - b}')
  SETUP_BR90=$(percentile 90 "${br[@]}") SETUP_NONE90=$(percentile 90 "${none[@]}")
}

# ----------------------------------------------------------------------------------------

goal() { # goal TEXT OK DETAIL
  if (($2)); then echo "goal: $1: MET ($3)"; else echo "goal: $1: MISSED ($3)"; fi
}

if ! command -v wrk >/dev/null; then
  log "installing wrk"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
fi
"$TUG" --version >/dev/null 2>&1 || { echo "bench/net.sh: $TUG does not run: build it with make" >&2; exit 1; }

setup_images
log "registry at $REGISTRY; server: $SERVER; wrk -t2 -c50 -d${WRK_SECS}s, best of $WRK_RUNS"
tug pull -q "$REGISTRY/busybox" >/dev/null && tug tag "$REGISTRY/busybox" busybox

# tug first, before dockerd and its iptables rules exist
log "part 2: $RUNS x tug run --rm busybox true, bridge vs --network none, interleaved"
part2 || true
[[ " $ENGINES " == *" tug "* ]] && { part1_tug || true; }
if [[ " $ENGINES " == *" docker "* ]]; then
  part1_docker || true
  cleanup_docker
else
  SKIP[docker]="not in BENCH_ENGINES"
fi

line="published port vs direct ($SERVER):"
for e in tug docker; do
  if [[ -n ${PUB[$e]:-} ]]; then
    line+=" $e $(kfmt "${PUB[$e]}") vs $(kfmt "${DIRECT[$e]}") req/s ($(ratio2 "${PUB[$e]}" "${DIRECT[$e]}")x) "
  else
    line+=" $e skipped (${SKIP[$e]:-not run}) "
  fi
done
echo "${line% }"
if [[ -n ${SETUP_BR:-} ]]; then
  echo "network setup: tug run --rm busybox true: bridge $(fmt_ms "$SETUP_BR") ms (p90 $(fmt_ms "$SETUP_BR90"))" \
    "vs --network none $(fmt_ms "$SETUP_NONE") ms (p90 $(fmt_ms "$SETUP_NONE90")):" \
    "$(sms "$SETUP_EXTRA") ms (median of per-round differences $(sms "$SETUP_DIFF") ms; $RUNS runs each)"
else
  echo "network setup: skipped (${SKIP[setup]:-not run})"
fi

if [[ -n ${PUB[tug]:-} ]]; then
  r=$(ratio2 "${PUB[tug]}" "${DIRECT[tug]}")
  goal "published port >= ${GOAL_RATIO}x direct" "$(awk -v r="$r" -v g="$GOAL_RATIO" 'BEGIN {print (r >= g)}')" "${r}x"
fi
if [[ -n ${SETUP_BR:-} ]]; then
  goal "network setup <= ${GOAL_SETUP_MS} ms" \
    "$(awk -v d="$SETUP_EXTRA" -v g="$GOAL_SETUP_MS" 'BEGIN {print (d <= g * 1000)}')" "$(sms "$SETUP_EXTRA") ms"
fi
