#!/bin/bash
# bench/layer.sh: making a layer of a directory of 5000 files / ~50 MB (every 7th file of
# /usr/lib and /usr/share between 3 and 28 KiB: binaries and text, as a build step writes them).
#   tug:    tar + sha256 + gzip into a blob (build/layer-tar --blob) at each isa-l level, and
#           the whole tug_layer_from_dir (blob, one syncfs, the directory moved into the store)
#   shell:  tar c | sha256sum, tar c | gzip -1 / -6 | sha256sum
#   docker: commit of a container holding the same files (tar, digest and a second copy of
#           every file into a new layer; no compression until push), and the size of the blob
#           its push sends (Go's gzip level 6) beside tug's at each level
# Medians of BENCH_RUNS, page cache warm (the step's files were just written). Run as root.
# Env: LAYER_TAR (./build/layer-tar) BENCH_RUNS (5) BENCH_CACHE (/var/tmp/tug-bench)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/fixtures/lib.sh
source "$HERE/../tests/fixtures/lib.sh"

LAYER_TAR=${LAYER_TAR:-$HERE/../build/layer-tar}
RUNS=${BENCH_RUNS:-5}
CACHE=${BENCH_CACHE:-/var/tmp/tug-bench}
[[ $(id -u) == 0 ]] || { echo "bench/layer.sh: run as root" >&2; exit 1; }
[[ -x $LAYER_TAR ]] || { echo "bench/layer.sh: $LAYER_TAR missing: run make" >&2; exit 1; }

mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/layer.XXXXXX")
TREE=$WORK/tree
ROOT=$WORK/root
IMG=tug-bench-layer-$$
CID=

cleanup() {
  set +e
  [[ -n $CID ]] && docker rm -f "$CID" >/dev/null 2>&1
  docker images --format '{{.Repository}}:{{.Tag}}' | grep -E "^($IMG|.*/bench/$IMG)" |
    xargs -r docker rmi -f >/dev/null 2>&1
  registry_stop
  rm -rf "$WORK"
}
trap cleanup EXIT

log() { echo "# $*" >&2; }
ms() { date +%s%N | awk '{ printf "%.1f", $1 / 1e6 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

log "load: $(cut -d' ' -f1-3 /proc/loadavg)"
find /usr/lib /usr/share -xdev -type f -size +3k -size -28k 2>/dev/null | sort |
  awk 'NR % 7 == 0 && ++n <= 5000 { print substr($0, 2) }' >"$WORK/files"
mkdir -p "$TREE"
tar -C / -cf - -T "$WORK/files" | tar -C "$TREE" -xpf -
files=$(find "$TREE" -type f | wc -l)
bytes=$(find "$TREE" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
log "tree: $files files, $((bytes / 1000000)) MB"
sync

# time_cmd CMD...: print the milliseconds CMD took
time_cmd() {
  local t0 t1
  t0=$(ms)
  "$@" >/dev/null
  t1=$(ms)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", b - a }'
}

declare -A T SIZE
for level in 0 1 2 3; do
  for ((i = 0; i < RUNS; i++)); do
    read -r _ _ _ blob t < <("$LAYER_TAR" --blob "$ROOT" "$TREE" "$level")
    echo "$blob" >"$WORK/size"
    echo "$t"
  done | median >"$WORK/m"
  T[tug-blob-$level]=$(<"$WORK/m")
  SIZE[tug-blob-$level]=$(<"$WORK/size")
done

# a store of its own each time: a new layer, in space never used (see docs/benchmarks.md);
# with the step's files on disk already, and just written (as a step leaves them: the syncfs
# before the layer is recorded writes them out too)
for synced in yes no; do
  for ((i = 0; i < RUNS; i++)); do
    tmp=$WORK/store-$synced-$i/layers/.tmp-bench
    mkdir -p "$tmp"
    cp -a "$TREE" "$tmp/diff"
    [[ $synced == yes ]] && sync
    read -r _ _ _ _ t < <("$LAYER_TAR" --commit "$WORK/store-$synced-$i" "$tmp" 1)
    echo "$t"
  done | median >"$WORK/m"
  T[tug-from-dir-$synced]=$(<"$WORK/m")
  sync
done

for c in "sha256sum" "gzip -1" "gzip -6"; do
  for ((i = 0; i < RUNS; i++)); do
    if [[ $c == sha256sum ]]; then
      time_cmd bash -c "tar -C '$TREE' -cf - . | sha256sum"
    else
      time_cmd bash -c "tar -C '$TREE' -cf - . | $c | sha256sum"
    fi
  done | median >"$WORK/m"
  T["tar|$c"]=$(<"$WORK/m")
done
SIZE["gzip -6"]=$(tar -C "$TREE" -cf - . | gzip -6 | wc -c)

if timeout 20 docker info >/dev/null 2>&1; then
  rootfs=$WORK/rootfs
  fixture_rootfs "$rootfs" >/dev/null
  tar -C "$rootfs" -c . | docker import - "$IMG:base" >/dev/null
  CID=$(docker create --network none "$IMG:base" true)
  docker cp "$TREE/." "$CID:/data"
  for ((i = 0; i < RUNS; i++)); do
    time_cmd docker commit "$CID" "$IMG:$i"
  done | median >"$WORK/m"
  T[docker-commit]=$(<"$WORK/m")
  registry_start "$WORK/registry" >/dev/null
  docker tag "$IMG:0" "$REGISTRY/bench/$IMG:0"
  docker push -q "$REGISTRY/bench/$IMG:0" >/dev/null
  SIZE[docker-push]=$(fixture_manifest "bench/$IMG:0" | jq '.layers[1].size')
else
  log "no dockerd answers: docker's commit is not measured"
fi

printf '\n%-34s %10s %12s\n' "what ($files files, $((bytes / 1000000)) MB)" "ms" "blob bytes"
for k in tug-blob-0 tug-blob-1 tug-blob-2 tug-blob-3; do
  printf '%-34s %10s %12s\n' "tug tar+sha256+gzip, isa-l ${k##*-}" "${T[$k]}" "${SIZE[$k]}"
done
printf '%-34s %10s %12s\n' "tug_layer_from_dir, files on disk" "${T[tug-from-dir-yes]}" ""
printf '%-34s %10s %12s\n' "tug_layer_from_dir, files dirty" "${T[tug-from-dir-no]}" ""
printf '%-34s %10s %12s\n' "tar c | sha256sum" "${T[tar|sha256sum]}" ""
printf '%-34s %10s %12s\n' "tar c | gzip -1 | sha256sum" "${T[tar|gzip -1]}" ""
printf '%-34s %10s %12s\n' "tar c | gzip -6 | sha256sum" "${T[tar|gzip -6]}" "${SIZE[gzip -6]}"
if [[ -n ${T[docker-commit]:-} ]]; then
  printf '%-34s %10s %12s\n' "docker commit (no gzip)" "${T[docker-commit]}" ""
  printf '%-34s %10s %12s\n' "docker push's blob (Go gzip 6)" "" "${SIZE[docker-push]}"
  awk -v d="${T[docker-commit]}" -v t="${T[tug-from-dir-no]}" \
    'BEGIN { printf "docker commit / tug_layer_from_dir (files dirty): %.1fx\n", d / t }'
fi
awk -v g="${T[tar|gzip -6]}" -v t="${T[tug-blob-1]}" \
  'BEGIN { printf "tar|gzip -6|sha256sum / tug (isa-l 1): %.1fx\n", g / t }'
