#!/bin/bash
# bench/erofs.sh: storing a Debian rootfs layer (debootstrap --variant=minbase bookworm, gzip)
# as one EROFS image (tug_layer_to_erofs + fsync of the image) beside unpacking it into a
# directory as the store does today (tug_layer_unpack, which ends with a syncfs).
# Medians of BENCH_RUNS; the blob is in the page cache, the outputs go to BENCH_CACHE's disk.
# Also writes BENCH_CACHE/debian.tar, which tests/system/700-erofs.bats checks when present.
# Env: EROFS_WRITE (./build/erofs-write) BENCH_RUNS (5) BENCH_CACHE (/var/tmp/tug-erofs-bench)
#      BENCH_MIRROR (the Debian mirror debootstrap uses, once)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WRITE=${EROFS_WRITE:-$HERE/../build/erofs-write}
RUNS=${BENCH_RUNS:-5}
CACHE=${BENCH_CACHE:-/var/tmp/tug-erofs-bench}
MIRROR=${BENCH_MIRROR:-http://deb.debian.org/debian}
[[ $(id -u) == 0 ]] || { echo "bench/erofs.sh: run as root" >&2; exit 1; }
[[ -x $WRITE ]] || { echo "bench/erofs.sh: $WRITE missing: run make" >&2; exit 1; }

mkdir -p "$CACHE"
if [[ ! -f $CACHE/debian.tar ]]; then
  if [[ ! -x $CACHE/rootfs/bin/sh ]]; then
    command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
    echo "debootstrap minbase bookworm into $CACHE/rootfs (once; a few minutes)" >&2
    rm -rf "$CACHE/rootfs"
    timeout 1800 debootstrap --variant=minbase bookworm "$CACHE/rootfs" "$MIRROR" \
      >"$CACHE/debootstrap.log" 2>&1
  fi
  tar -C "$CACHE/rootfs" --xattrs --xattrs-include='*' --numeric-owner --format=pax --sort=name \
    -cf "$CACHE/debian.tar.part" . && mv "$CACHE/debian.tar.part" "$CACHE/debian.tar"
fi
[[ -f $CACHE/debian.tar.gz ]] || gzip -6 -c "$CACHE/debian.tar" >"$CACHE/debian.tar.gz"

WORK=$(mktemp -d "$CACHE/run.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

files=$(tar -tf "$CACHE/debian.tar" | wc -l)
echo "layer: $(du -m "$CACHE/debian.tar" | cut -f1) MiB tar, $(du -m "$CACHE/debian.tar.gz" | cut -f1) MiB gzip, $files entries; median of $RUNS"
cat "$CACHE/debian.tar.gz" >/dev/null
erofs=() unpack=()
for ((i = 0; i < RUNS; i++)); do
  out=$("$WRITE" "$CACHE/debian.tar.gz" "$WORK/image")
  erofs+=("${out##* }")
  img_kib=$(du -k "$WORK/image" | cut -f1)
  rm -f "$WORK/image"
  mkdir "$WORK/dir"
  out=$("$WRITE" --unpack "$CACHE/debian.tar.gz" "$WORK/dir")
  unpack+=("${out##* }")
  dir_kib=$(du -sk "$WORK/dir" | cut -f1)
  rm -rf "$WORK/dir"
  sync
done
printf '%-44s %8s ms  %6s MiB on disk\n' \
  "EROFS image (tug_layer_to_erofs + fsync)" "$(printf '%s\n' "${erofs[@]}" | median)" "$((img_kib / 1024))" \
  "directory (tug_layer_unpack + syncfs)" "$(printf '%s\n' "${unpack[@]}" | median)" "$((dir_kib / 1024))"
