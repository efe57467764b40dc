#!/bin/bash
# bench/erofs-store.sh: what EROFS layers cost and save beside directory layers, same tug binary.
# Part 1: `run --rm --network none IMAGE true`, BENCH_RUNS rounds, each round one run on an
#   EROFS store and one on a directory store (TUG_LAYER_FORMAT=directory), interleaved so both
#   see the same noise: medians and the ratio.
# Part 2: page cache. An image holding a 50 MiB file; three containers of it read the file one
#   after another, after the clean caches were dropped; then how much of the file is in the
#   page cache (fincore, exact, unlike /proc/meminfo on a busy machine): through the layer's one
#   shared mount, and of the EROFS image file beneath it (a file-backed EROFS mount reads the
#   image through the page cache too). Drops the host's clean caches (harmless, but do not run
#   it beside something timing its disk reads).
# Env: TUG (./build/tug) BENCH_RUNS (30) BENCH_DIR (/var/tmp/tug-bench)
# Run as root.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

TUG=${TUG:-./build/tug}
RUNS=${BENCH_RUNS:-30}
BASE=${BENCH_DIR:-/var/tmp/tug-bench}

[[ $(id -u) == 0 ]] || { echo "bench/erofs-store.sh: run as root" >&2; exit 1; }
[[ $TUG == */* ]] && [[ -e $TUG ]] && TUG=$(cd "$(dirname "$TUG")" && pwd)/$(basename "$TUG")
grep -qw erofs /proc/filesystems || modprobe erofs 2>/dev/null ||
  { echo "erofs: skipped (this kernel has no EROFS)"; exit 0; }
BUSYBOX=$(command -v busybox) || { echo "erofs: skipped (apt-get install busybox-static)"; exit 0; }

mkdir -p "$BASE"
WORK=$(mktemp -d "$BASE/erofs.XXXXXX")
cleanup() {
  set +e
  local r
  for r in "$WORK"/root-*; do
    [[ -d $r ]] && "$TUG" --root "$r" rm -f $("$TUG" --root "$r" ps -aq) >/dev/null 2>&1
    [[ -d $r ]] && "$TUG" --root "$r" rmi -f big small >/dev/null 2>&1
  done
  rm_store "$WORK"
}
trap cleanup EXIT

# the images: busybox alone, and busybox with a 50 MiB file of random bytes
mkdir -p "$WORK/small/bin" "$WORK/big/bin" "$WORK/big/data"
cp "$BUSYBOX" "$WORK/small/bin/busybox"
cp "$BUSYBOX" "$WORK/big/bin/busybox"
for a in sh cat true; do
  ln -s busybox "$WORK/small/bin/$a"
  ln -s busybox "$WORK/big/bin/$a"
done
head -c $((50 << 20)) /dev/urandom >"$WORK/big/data/file"
tar -C "$WORK/small" -cf "$WORK/small.tar" .
tar -C "$WORK/big" -cf "$WORK/big.tar" .

for fmt in erofs directory; do
  TUG_LAYER_FORMAT=$fmt "$TUG" --root "$WORK/root-$fmt" import "$WORK/small.tar" small >/dev/null
  TUG_LAYER_FORMAT=$fmt "$TUG" --root "$WORK/root-$fmt" import "$WORK/big.tar" big >/dev/null
  # warm: the first run mounts (EROFS) and reads the binary in
  "$TUG" --root "$WORK/root-$fmt" run --rm --network none small true
done
for fmt in erofs directory; do
  [[ $(cat "$WORK/root-$fmt/layer-format") == "$fmt" ]] ||
    { echo "erofs: the $fmt store says $(cat "$WORK/root-$fmt/layer-format")" >&2; exit 1; }
done

# ---- part 1
declare -a T_erofs=() T_directory=()
for ((i = 0; i < RUNS; i++)); do
  for fmt in erofs directory; do
    stamp_us t0
    "$TUG" --root "$WORK/root-$fmt" run --rm --network none small true
    stamp_us t1
    eval "T_$fmt+=(\$((t1 - t0)))"
  done
done
me=$(median "${T_erofs[@]}")
md=$(median "${T_directory[@]}")
echo "run --rm true: EROFS layers $(fmt_ms "$me") ms  directory layers $(fmt_ms "$md") ms  (directory/EROFS $(ratio "$md" "$me")x, median of $RUNS)"
awk -v e="$me" -v d="$md" 'BEGIN {exit !(e <= d * 1.05)}' &&
  echo "goal (EROFS no slower than directory): MET" ||
  echo "goal (EROFS no slower than directory): MISSED"

# ---- part 2
# Resident bytes of a file in the page cache (fincore), in MiB.
resident_mib() { fincore -b -n -o RES "$1" 2>/dev/null | awk '{s += $1} END {printf "%.0f", s / 1048576}'; }
cache_of() {
  local root=$1 fmt=$2 upper img
  sync
  echo 1 >/proc/sys/vm/drop_caches
  for c in 1 2 3; do
    "$TUG" --root "$root" run --rm --network none big cat /data/file >/dev/null
  done
  upper=$("$TUG" --root "$root" image inspect -f '{{.GraphDriver.Data.UpperDir}}' big)
  if [[ $fmt == erofs ]]; then
    img=$root/layers/$(basename "$upper")/layer.erofs
    echo "$(resident_mib "$upper/data/file") MiB through the layer's mount, $(resident_mib "$img") MiB of the image file under it"
  else
    echo "$(resident_mib "$upper/data/file") MiB of the layer's file"
  fi
}
if command -v fincore >/dev/null; then
  for fmt in erofs directory; do
    echo "page cache after 3 containers read one 50 MiB file, $fmt layers: $(cache_of "$WORK/root-$fmt" "$fmt")"
  done
else
  echo "page cache: skipped (fincore from util-linux is missing)"
fi
