#!/bin/bash
# bench/pull.sh: pull time of tug vs docker vs podman, side by side in one run.
# Builds (once, cached in $BENCH_CACHE) a single-layer Debian bookworm + nginx image
# (~100 MB gzip, ~7k files) from debootstrap, pushes it to a fresh loopback registry,
# then pulls it BENCH_RUNS times with each engine into a fresh store and prints medians
# and ratios. Every pull goes into a directory that never held anything (docker: a new daemon
# on a new data root each time) and stores are deleted only at the end: on a disk mounted with
# `discard`, as this VM's is, writing over space just freed costs 2-4x, and no engine should pay
# for the previous run's deletion. Then the same again into space just freed: before each timed
# pull the previous round's store is deleted (what users who pull and remove images get).
# tug runs twice: with its EROFS layers (the default where the kernel has EROFS) and with the
# directory layers forced (TUG_LAYER_FORMAT=directory), same binary. Then `tug rmi` of the
# image, per format. Part 2 (tug only): with 100 tiny images in one tug root, the median latency
# of `tug images` and `tug image inspect`. Missing engines are skipped with a hint.
# Env: TUG (./build/tug) BENCH_RUNS (3) BENCH_LIST_RUNS (20) BENCH_IMAGES (100)
#      BENCH_CACHE (/var/tmp/tug-bench) BENCH_MIRROR (http://deb.debian.org/debian)
#      BENCH_IMAGE_ONLY (unset; set: build the image into the cache, then stop)
# Run as root (debootstrap, dockerd, podman).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/fixtures/lib.sh
source "$HERE/../tests/fixtures/lib.sh"

TUG=${TUG:-./build/tug}
RUNS=${BENCH_RUNS:-3}
LIST_RUNS=${BENCH_LIST_RUNS:-20}
NIMAGES=${BENCH_IMAGES:-100}
CACHE=${BENCH_CACHE:-/var/tmp/tug-bench}
MIRROR=${BENCH_MIRROR:-http://deb.debian.org/debian}
REF_PATH=bench/nginx:latest

[[ $(id -u) == 0 ]] || { echo "bench/pull.sh: run as root" >&2; exit 1; }
[[ $TUG == */* ]] && [[ -e $TUG ]] && TUG=$(cd "$(dirname "$TUG")" && pwd)/$(basename "$TUG")

mkdir -p "$CACHE"
# on disk, not tmpfs: creating the files is the cost being measured
WORK=$(mktemp -d "$CACHE/run.XXXXXX")
DOCKERD_PID=

log() { echo "# $*" >&2; }

# Unmount everything at or below $1 (deepest first).
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

cleanup() {
  set +e
  [[ -n $DOCKERD_PID ]] && stop_dockerd
  registry_stop
  rm_store "$WORK"
}
trap cleanup EXIT

now_ns() { date +%s%N; }

# median of the numbers given as arguments
median() {
  printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) exit 1
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ----------------------------------------------------------------------------------------
# The image

build_rootfs() {
  local dir=$CACHE/rootfs
  [[ -f $CACHE/rootfs.done ]] && return 0
  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  fi
  log "debootstrap bookworm + nginx into $dir (once; a few minutes)"
  rm_store "$dir"
  rm -f "$CACHE/oci.done"
  if ! debootstrap --variant=minbase --include=nginx bookworm "$dir" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1; then
    tail -n 20 "$CACHE/debootstrap.log" >&2
    echo "bench/pull.sh: debootstrap failed, see $CACHE/debootstrap.log" >&2
    return 1
  fi
  umount_below "$dir"
  # device nodes have no place in an image; the rest stays as debootstrap left it
  # (apt lists and .debs included: ~220 MB, ~7.2k files, ~100 MB gzip)
  rm -rf "${dir:?}"/dev/* "${dir:?}"/proc/* "${dir:?}"/sys/* 2>/dev/null || true
  touch "$CACHE/rootfs.done"
}

build_layout() {
  local L=$CACHE/oci
  [[ -f $CACHE/oci.done && -f $L/index.json ]] && return 0
  log "packing the rootfs into an OCI layout (once)"
  rm -rf "$L" "$CACHE/layer.tar"
  tar -C "$CACHE/rootfs" --sort=name --numeric-owner --format=gnu -cf "$CACHE/layer.tar" . ||
    return 1
  umoci init --layout "$L" &&
    umoci new --image "$L:nginx" &&
    umoci raw add-layer --image "$L:nginx" --history.created_by \
      "debootstrap --variant=minbase --include=nginx bookworm" "$CACHE/layer.tar" &&
    umoci config --image "$L:nginx" --architecture amd64 --os linux \
      --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --config.cmd nginx --config.cmd -g --config.cmd 'daemon off;' \
      --config.exposedports 80/tcp --config.stopsignal SIGQUIT \
      --history.created_by 'CMD ["nginx" "-g" "daemon off;"]' || return 1
  rm -f "$CACHE/layer.tar"
  touch "$CACHE/oci.done"
}

push_image() {
  skopeo --insecure-policy copy -q --dest-tls-verify=false --format v2s2 "oci:$CACHE/oci:nginx" \
    "docker://$REGISTRY/$REF_PATH" >/dev/null
}

# ----------------------------------------------------------------------------------------
# Engines. Each pull_ENGINE does one timed pull into a fresh store and echoes seconds.

tug_ok() { command -v "$TUG" >/dev/null && "$TUG" --version >/dev/null 2>&1; }

# SPACE=fresh: every store in space never used; SPACE=freed: the previous round's store is
# deleted (and the deletion synced) just before the timed pull
SPACE=fresh

# free_previous ENGINE N: in freed mode, delete round N-1's store of ENGINE
free_previous() {
  [[ $SPACE == freed ]] || return 0
  case $1 in
  docker) rm_store "$DOCKER_DIR/data-$SPACE-$2" ;;
  podman) rm_store "$WORK/podman-root-$SPACE-$2" ;;
  *) rm_store "$WORK/$1-root-$SPACE-$2" ;;
  esac
  sync
}

# pull_tug_as NAME FORMAT N
pull_tug_as() {
  local root=$WORK/$1-root-$SPACE-$3 t0 t1
  free_previous "$1" $(($3 - 1))
  sync
  t0=$(now_ns)
  TUG_LAYER_FORMAT=$2 "$TUG" --root "$root" pull "$REGISTRY/$REF_PATH" >>"$WORK/$1.log" 2>&1 || return 1
  t1=$(now_ns)
  echo $(((t1 - t0) / 1000000))
}
pull_tug() { pull_tug_as tug erofs "$1"; }
pull_tugdir() { pull_tug_as tugdir directory "$1"; }

DOCKER_CLI=docker
[[ -x /usr/bin/docker ]] && DOCKER_CLI=/usr/bin/docker # the client packaged with dockerd
DOCKER_DIR=$WORK/docker

docker_cli() { "$DOCKER_CLI" -H "unix://$DOCKER_DIR/docker.sock" "$@"; }

# start_dockerd DATA_ROOT
start_dockerd() {
  local -a extra=()
  mkdir -p "$DOCKER_DIR"
  dockerd --help 2>&1 | grep -q -- '--ip6tables' && extra+=(--ip6tables=false)
  dockerd --data-root "$1" --exec-root "$DOCKER_DIR/exec" \
    --pidfile "$DOCKER_DIR/docker.pid" -H "unix://$DOCKER_DIR/docker.sock" \
    --bridge=none --iptables=false "${extra[@]}" </dev/null >"$DOCKER_DIR/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  local i
  for ((i = 0; i < 300; i++)); do
    docker_cli info >/dev/null 2>&1 && return 0
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 10 "$DOCKER_DIR/dockerd.log" >&2
  return 1
}

stop_dockerd() {
  _fixture_kill "$DOCKERD_PID"
  DOCKERD_PID=
  umount_below "$DOCKER_DIR"
}

pull_docker() {
  local t0 t1 rc=0
  free_previous docker $(($1 - 1))
  start_dockerd "$DOCKER_DIR/data-$SPACE-$1" >&2 || return 1
  sync
  t0=$(now_ns)
  docker_cli pull -q "$REGISTRY/$REF_PATH" >>"$WORK/docker.log" 2>&1 || rc=1
  t1=$(now_ns)
  stop_dockerd
  ((rc == 0)) || return 1
  echo $(((t1 - t0) / 1000000))
}

pull_podman() {
  local root=$WORK/podman-root-$SPACE-$1 run=$WORK/podman-run-$SPACE-$1 t0 t1
  free_previous podman $(($1 - 1))
  sync
  t0=$(now_ns)
  podman --root "$root" --runroot "$run" --storage-driver overlay --events-backend file \
    --cgroup-manager cgroupfs pull -q --tls-verify=false "$REGISTRY/$REF_PATH" >>"$WORK/podman.log" 2>&1 ||
    return 1
  t1=$(now_ns)
  echo $(((t1 - t0) / 1000000))
}

# bench ENGINE: runs pull_ENGINE $RUNS times; sets RESULT to the median in ms ("" on failure)
bench() {
  local engine=$1 i ms first=1
  local -a times=()
  # freed: round 0 is an untimed pull whose store round 1 deletes
  if [[ $SPACE == freed ]]; then
    first=0
    "pull_$engine" 0 >/dev/null || true
  fi
  for ((i = first; i <= RUNS; i++)); do
    ((i == 0)) && continue
    if ! ms=$("pull_$engine" "$i"); then
      echo "$engine: pull failed: $(tail -n 1 "$WORK/$engine.log")" >&2
      RESULT=
      return 1
    fi
    times+=("$ms")
    log "$engine run $i: $(fmt_s "$ms")s"
  done
  RESULT=$(median "${times[@]}")
}

fmt_s() { awk -v ms="$1" 'BEGIN {printf "%.2f", ms / 1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# ----------------------------------------------------------------------------------------
# Part 2: listing and inspecting with many images stored

push_tiny_images() {
  TUG_FIXTURES=$TUG_FIXTURES python3 - "$REGISTRY" "$NIMAGES" <<'EOF'
import gzip, hashlib, io, json, os, sys, tarfile
sys.path.insert(0, os.environ["TUG_FIXTURES"])
import push_raw

reg, n = push_raw.Registry(sys.argv[1]), int(sys.argv[2])
T = push_raw.DOCKER
for i in range(1, n + 1):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        data = ("image %d\n" % i).encode()
        ti = tarfile.TarInfo("id")
        ti.size, ti.mtime = len(data), 946684800
        tar.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    gz = gzip.compress(raw, mtime=0)
    layer = reg.put_blob("bench/tiny", gz)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["cat", "/id"]},
                         "rootfs": {"type": "layers",
                                    "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
                         "history": [{"created_by": "image %d" % i}]}).encode()
    cdig = reg.put_blob("bench/tiny", config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": T["manifest"],
                           "config": {"mediaType": T["config"], "size": len(config), "digest": cdig},
                           "layers": [{"mediaType": T["gzip"], "size": len(gz), "digest": layer}]}).encode()
    reg.put_manifest("bench/tiny", "t%03d" % i, manifest, T["manifest"])
EOF
}

# time_cmd CMD...: median wall time in ms of $LIST_RUNS runs (hyperfine when present)
time_cmd() {
  if command -v hyperfine >/dev/null; then
    local json=$WORK/hyperfine.json
    if hyperfine -N --warmup 3 --runs "$LIST_RUNS" --export-json "$json" "$(printf '%q ' "$@")" \
      >/dev/null 2>&1; then
      jq -r '.results[0].median * 1000 | . * 100 | round / 100' "$json"
      return
    fi
  fi
  local i t0 t1
  local -a times=()
  "$@" >/dev/null 2>&1 || return 1
  for ((i = 0; i < LIST_RUNS; i++)); do
    t0=$(now_ns)
    "$@" >/dev/null 2>&1
    t1=$(now_ns)
    times+=("$(awk -v d=$((t1 - t0)) 'BEGIN {printf "%.2f", d / 1e6}')")
  done
  median "${times[@]}"
}

bench_listing() {
  local root=$WORK/tug-list i
  log "pushing $NIMAGES tiny images"
  push_tiny_images || { echo "list: skipped (pushing tiny images failed)"; return 0; }
  log "pulling them into one tug root"
  for ((i = 1; i <= NIMAGES; i++)); do
    if ! "$TUG" --root "$root" pull "$(printf '%s/bench/tiny:t%03d' "$REGISTRY" "$i")" >>"$WORK/tug-list.log" 2>&1; then
      echo "list: skipped (tug pull of tiny image $i failed: $(tail -n 1 "$WORK/tug-list.log"))"
      return 0
    fi
  done
  local images inspect
  images=$(time_cmd "$TUG" --root "$root" images) || { echo "list: skipped (tug images fails)"; return 0; }
  inspect=$(time_cmd "$TUG" --root "$root" image inspect \
    "$(printf '%s/bench/tiny:t%03d' "$REGISTRY" $(((NIMAGES + 1) / 2)))") ||
    { echo "list: skipped (tug image inspect fails)"; return 0; }
  echo "list ($NIMAGES images, median of $LIST_RUNS): tug images ${images} ms  tug image inspect ${inspect} ms"
  rm_store "$root"
}

# ----------------------------------------------------------------------------------------

build_rootfs
build_layout
# bench/save.sh (and others) only want the image in the cache
[[ -n ${BENCH_IMAGE_ONLY:-} ]] && exit 0
registry_start "$WORK/registry" >/dev/null
log "registry at $REGISTRY; pushing $REF_PATH"
push_image
size=$(skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/$REF_PATH" | jq '[.layers[].size] | add')
files=$(find "$CACHE/rootfs" -xdev | wc -l)
log "image: $(awk -v s="$size" 'BEGIN {printf "%.1f", s / 1048576}') MiB compressed, $files files; $RUNS runs each"

# one_space fresh|freed: every engine, medians and ratios against tug (EROFS) on one line
one_space() {
  SPACE=$1
  local -A MED=()
  local -a SKIPS=()
  if tug_ok; then
    bench tug && MED[tug]=$RESULT || SKIPS+=("tug: skipped (pull failed, see above)")
    bench tugdir && MED[tugdir]=$RESULT || SKIPS+=("tug (directory layers): skipped (pull failed)")
  else
    SKIPS+=("tug: skipped ($TUG does not run: build it with make)")
  fi
  if command -v dockerd >/dev/null; then
    bench docker && MED[docker]=$RESULT ||
      SKIPS+=("docker: skipped (dockerd did not start or the pull failed: see above and $DOCKER_DIR/dockerd.log)")
  else
    SKIPS+=("docker: skipped (dockerd not installed: apt-get install docker.io)")
  fi
  if command -v podman >/dev/null; then
    bench podman && MED[podman]=$RESULT || SKIPS+=("podman: skipped (pull failed, see above)")
  else
    SKIPS+=("podman: skipped (podman not installed: apt-get install podman)")
  fi
  local s e line="pull into $1 space:"
  for s in "${SKIPS[@]}"; do echo "$s"; done
  for e in tug tugdir docker podman; do
    [[ -n ${MED[$e]:-} ]] || continue
    line+=" $e $(fmt_s "${MED[$e]}")s"
    [[ $e != tug && -n ${MED[tug]:-} ]] && line+=" ($(ratio "${MED[$e]}" "${MED[tug]}")x)"
    line+=" "
  done
  echo "${line% }"
  if [[ -n ${MED[tug]:-} && -n ${MED[docker]:-} ]]; then
    local r
    r=$(ratio "${MED[docker]}" "${MED[tug]}")
    awk -v r="$r" 'BEGIN {exit !(r >= 6)}' && echo "goal (6x docker, $1 space): MET" ||
      echo "goal (6x docker, $1 space): MISSED (${r}x)"
  fi
  [[ -n ${MED[tug]:-} ]] && TUG_OK=1
  return 0
}

# rmi of the big image, per layer format: median of RUNS (each a pull, untimed, then rmi)
bench_rmi() {
  local name=$1 fmt=$2 i t0 t1 root
  local -a times=()
  for ((i = 1; i <= RUNS; i++)); do
    root=$WORK/rmi-$name-$i
    TUG_LAYER_FORMAT=$fmt "$TUG" --root "$root" pull -q "$REGISTRY/$REF_PATH" >/dev/null 2>&1 || return 1
    # a container ran on it: the layers are mounted (EROFS) and in the page cache
    "$TUG" --root "$root" run --rm --network none "$REGISTRY/$REF_PATH" true >/dev/null 2>&1 || return 1
    sync
    t0=$(now_ns)
    "$TUG" --root "$root" rmi "$REGISTRY/$REF_PATH" >/dev/null 2>&1 || return 1
    t1=$(now_ns)
    times+=("$(((t1 - t0) / 1000000))")
    rm_store "$root"
  done
  median "${times[@]}"
}

TUG_OK=
one_space fresh
one_space freed
if [[ -n $TUG_OK ]]; then
  rmi_e=$(bench_rmi erofs erofs) || rmi_e=
  rmi_d=$(bench_rmi dir directory) || rmi_d=
  echo "rmi: tug ${rmi_e:-?} ms (EROFS layers)  ${rmi_d:-?} ms (directory layers)"
  [[ -n $rmi_e ]] && { ((rmi_e < 50)) && echo "goal (rmi under 50 ms): MET" || echo "goal (rmi under 50 ms): MISSED"; }
fi

if [[ -n $TUG_OK ]]; then
  bench_listing
else
  echo "list: skipped (needs a working tug pull)"
fi
