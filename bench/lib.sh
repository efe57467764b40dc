# bench/lib.sh: helpers shared by the benchmarks under bench/ (source it from bash).
# shellcheck shell=bash
#
#   log MSG...              progress line on stderr ("# MSG")
#   stamp_us VAR            store the wall clock in microseconds in VAR (no fork)
#   median N...             median of the numbers given
#   percentile P N...       nearest-rank P-th percentile (P in 1..100)
#   fmt_ms US               microseconds -> "12.3" (ms)
#   ratio A B               A / B with two decimals
#   umount_below DIR        unmount everything at or below DIR, deepest first
#   rm_store DIR            umount_below DIR, then rm -rf it
#   proc_mem PID...         "COUNT RSS_KIB PSS_KIB": sums of VmRSS (/proc/PID/status) and Pss
#                           (/proc/PID/smaps_rollup) over the PIDs still alive
#   pids_with_arg COMM ARG  PIDs whose comm is COMM and whose command line holds the word ARG
#   docker_cli ARGS...      the docker client against the private daemon below
#   start_dockerd DIR       a private dockerd (data, exec root, socket, config, log under DIR;
#                           its own containerd namespace; no bridge, no iptables, no ip_forward
#                           change); sets DOCKERD_PID
#   stop_dockerd            stop it and unmount what it left under its DIR

LC_ALL=C
export LC_ALL

log() { echo "# $*" >&2; }

stamp_us() {
  if [[ -n ${EPOCHREALTIME:-} ]]; then
    printf -v "$1" '%s' "${EPOCHREALTIME/./}"
  else
    printf -v "$1" '%s' "$(date +%s%6N)"
  fi
}

median() {
  printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) exit 1
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

percentile() {
  local p=$1
  shift
  printf '%s\n' "$@" | sort -g | awk -v p="$p" '{v[NR] = $1} END {
    if (NR == 0) exit 1
    k = int((p * NR + 99) / 100); if (k < 1) k = 1; if (k > NR) k = NR
    print v[k] }'
}

fmt_ms() { awk -v us="$1" 'BEGIN {printf (us >= 100000 ? "%.0f" : "%.1f"), us / 1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.1f", a / b; else print "inf"}'; }

umount_below() {
  local dir m
  dir=$(realpath "$1" 2>/dev/null) || return 0
  awk '{print $5}' /proc/self/mountinfo | { grep -E "^$dir(/|$)" || true; } | sort -r |
    while read -r m; do
      umount -l "$m" 2>/dev/null || true
    done
}

rm_store() {
  umount_below "$1"
  rm -rf "$1"
}

proc_mem() {
  local pid n=0 rss=0 pss=0 r p
  for pid in "$@"; do
    r=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || continue
    p=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null) || continue
    [[ -n $r && -n $p ]] || continue
    n=$((n + 1)) rss=$((rss + r)) pss=$((pss + p))
  done
  echo "$n $rss $pss"
}

pids_with_arg() {
  local comm=$1 arg=$2 pid
  for pid in $(pgrep -x "$comm"); do
    tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -qxF -- "$arg" && echo "$pid"
  done
  return 0
}

DOCKER_CLI=docker
[[ -x /usr/bin/docker ]] && DOCKER_CLI=/usr/bin/docker # the client packaged with dockerd
DOCKER_DIR=
DOCKERD_PID=

docker_cli() { "$DOCKER_CLI" -H "unix://$DOCKER_DIR/docker.sock" "$@"; }

start_dockerd() {
  local -a extra=()
  local i help
  DOCKER_DIR=$1
  mkdir -p "$DOCKER_DIR"
  # not /etc/docker/daemon.json: nothing of the system daemon's settings
  echo '{}' >"$DOCKER_DIR/daemon.json"
  help=$(dockerd --help 2>&1)
  [[ $help == *--ip6tables* ]] && extra+=(--ip6tables=false)
  # a containerd already running at the standard socket is used as is: another namespace then
  [[ $help == *--containerd-namespace* ]] &&
    extra+=(--containerd-namespace "tug-bench-$$" --containerd-plugins-namespace "tug-bench-$$-plugins")
  dockerd --config-file "$DOCKER_DIR/daemon.json" --data-root "$DOCKER_DIR/data" \
    --exec-root "$DOCKER_DIR/exec" --pidfile "$DOCKER_DIR/docker.pid" \
    -H "unix://$DOCKER_DIR/docker.sock" --bridge=none --iptables=false --ip-forward=false \
    --ip-masq=false "${extra[@]}" </dev/null >"$DOCKER_DIR/dockerd.log" 2>&1 3>&- &
  DOCKERD_PID=$!
  for ((i = 0; i < 300; i++)); do
    docker_cli info >/dev/null 2>&1 && return 0
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 10 "$DOCKER_DIR/dockerd.log" >&2
  return 1
}

stop_dockerd() {
  [[ -n $DOCKERD_PID ]] || return 0
  local i
  kill "$DOCKERD_PID" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$DOCKERD_PID" 2>/dev/null || true
  wait "$DOCKERD_PID" 2>/dev/null || true
  DOCKERD_PID=
  umount_below "$DOCKER_DIR"
}
