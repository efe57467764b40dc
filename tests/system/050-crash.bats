#!/usr/bin/env bats
# Crashes: kill -9 at any point of a pull leaves a store the next command repairs or ignores;
# deep trees are walked with few file descriptors.

load helpers

setup_file() { file_registry busybox hello; }
teardown_file() { file_registry_stop; }

teardown() {
  local m
  for m in $(awk -v r="$TUG_ROOT/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null
  done
  return 0
}

# What a container runs to nest $1 directories under /top, with a 2-byte file "f" at the
# bottom: 1000 levels at a time (a shell's cd stops near PATH_MAX), each new chain taking the
# tree so far into its bottom directory.
NEST='n=$1 made=0
cd / || exit 1
while [ $made -lt $n ]; do
  k=$((n - made)); [ $k -gt 1000 ] && k=1000
  mkdir c && cd c || exit 1
  i=1; while [ $i -lt $k ]; do mkdir d && cd d || exit 1; i=$((i + 1)); done
  [ $made -eq 0 ] && echo x >f
  cd / || exit 1
  if [ $made -gt 0 ]; then
    p=c; i=1; while [ $i -lt $k ]; do p=$p/d; i=$((i + 1)); done
    mv top $p/top || exit 1
  fi
  mv c top || exit 1
  made=$((made + k))
done'

# assert_empty DIR: nothing is left in DIR.
assert_empty() {
  run ls -A "$1"
  [[ -z $output ]] || { echo "left in $1: $output" >&2; false; }
}

# run_limited N ARGS...: tug ARGS with at most N open files, as under `ulimit -n N`.
run_limited() {
  local n=$1
  shift
  run bash -c 'ulimit -n "$1"; shift; exec timeout 120 "$@"' _ "$n" "$TUG" "$@"
  [[ $status -eq 0 ]] || { echo "tug $* (ulimit -n $n): exit $status: $output" >&2; false; }
}

@test "kill -9 at many points of a pull; the next pull succeeds and the store checks clean" {
  local delay
  for delay in 0.005 0.01 0.02 0.03 0.05 0.08 0.12 0.2; do
    rm -rf "$TUG_ROOT"
    # tug itself, not a wrapper: a killed wrapper would leave tug running
    "$TUG" pull -q $REGISTRY/hello >/dev/null 2>&1 &
    local pid=$!
    sleep $delay
    kill -9 $pid 2>/dev/null || true
    wait $pid 2>/dev/null || true
    # whatever the crash left, the store opens and a pull completes it
    run_tug pull -q $REGISTRY/hello
    [[ $output == "$REGISTRY/hello:latest" ]]
    run_tug image inspect -f '{{len .RootFS.Layers}}' $REGISTRY/hello
    [[ $output == 2 ]]
    assert_store_clean
  done
}

@test "kill -9 at many points of rmi; the next pull and rmi succeed and the store checks clean" {
  local delay pid
  for delay in 0.001 0.002 0.004 0.006 0.008 0.012 0.02 0.05; do
    run_tug pull -q $REGISTRY/busybox
    "$TUG" rmi $REGISTRY/busybox >/dev/null 2>&1 &
    pid=$!
    sleep $delay
    kill -9 $pid 2>/dev/null || true
    wait $pid 2>/dev/null || true
  done
  # a layer set aside for deletion by a killed rmi never stops the next one
  run_tug pull -q $REGISTRY/busybox
  run_tug rmi $REGISTRY/busybox
  run_tug images -q
  [[ -z $output ]]
  assert_empty "$TUG_ROOT/layers"
  assert_store_clean
}

@test "a blob write cut short by kill -9 is swept by the next pull" {
  # what a pull killed while it wrote the manifest blob leaves: a temp file named with its pid
  mkdir -p "$TUG_ROOT/ingest"
  echo partial >"$TUG_ROOT/ingest/put-999999-AbCdEf"
  run_tug pull -q $REGISTRY/busybox
  [[ ! -e $TUG_ROOT/ingest/put-999999-AbCdEf ]]
  assert_store_clean
}

@test "system check repairs what an interrupted unpack and write leave behind" {
  run_tug pull -q $REGISTRY/busybox
  # what a crash in the middle of an unpack and of a blob write leaves
  mkdir -p "$TUG_ROOT/layers/.tmp-999999-abcdef/diff/usr"
  touch "$TUG_ROOT/blobs/sha256/abc.tmp-XYZ"
  mkdir -p "$TUG_ROOT/layers/$(printf '%064d' 0)/diff"
  run_tug 1 system check --dry-run
  assert_match "3 problems found"
  run_tug system check
  assert_match "all repaired"
  assert_store_clean
  run_tug image inspect -f '{{.Os}}' $REGISTRY/busybox
  [[ $output == linux ]]
}

@test "a layer directory lost from under the store is found; its image must be pulled again" {
  run_tug pull -q $REGISTRY/busybox
  rm -rf "$TUG_ROOT"/layers/*
  run_tug system check
  assert_match "recorded but its directory is gone"
  run_tug images -q
  [[ -z $output ]]
  run_tug pull -q $REGISTRY/busybox
  assert_store_clean
}

@test "two pulls of the same image at once both succeed and store it once" {
  "$TUG" pull -q $REGISTRY/hello >"$BATS_TEST_TMPDIR/a" 2>&1 &
  local a=$!
  "$TUG" pull -q $REGISTRY/hello >"$BATS_TEST_TMPDIR/b" 2>&1 &
  local b=$!
  wait $a
  wait $b
  [[ $(cat "$BATS_TEST_TMPDIR/a") == "$REGISTRY/hello:latest" ]]
  [[ $(cat "$BATS_TEST_TMPDIR/b") == "$REGISTRY/hello:latest" ]]
  [[ $(ls "$TUG_ROOT/layers" | grep -vc '^\.') -eq 2 ]]
  assert_store_clean
}

@test "rmi while another image is being pulled does not take its layers" {
  run_tug pull -q $REGISTRY/busybox
  "$TUG" pull -q $REGISTRY/hello >"$BATS_TEST_TMPDIR/p" 2>&1 &
  local p=$!
  run_tug '?' rmi $REGISTRY/busybox
  wait $p
  [[ $(cat "$BATS_TEST_TMPDIR/p") == "$REGISTRY/hello:latest" ]]
  run_tug image inspect -f '{{len .RootFS.Layers}}' $REGISTRY/hello
  [[ $output == 2 ]]
  # its top layer's files are all there (read through a container, whatever the layer format)
  run_tug create --name look $REGISTRY/hello /none
  run_tug cp look:/hello.txt -
  [[ $output == *hello.txt* ]]
  run_tug rm look
  [[ -x $lower/bin/busybox ]]
}

@test "containers that nested 1500 and 5000 directories are sized and removed under ulimit -n 1024" {
  run_tug pull -q $REGISTRY/busybox
  local depth
  for depth in 1500 5000; do
    run_tug run --name deep$depth $REGISTRY/busybox sh -c "$NEST" sh $depth
  done
  # ps -s and system df count the whole tree (the 2-byte file at the bottom) with 64 fds
  run_limited 64 ps -as --format '{{.Names}} {{.Size}}'
  assert_match '^deep1500 2B \(virtual '
  assert_match '^deep5000 2B \(virtual '
  run_limited 64 system df
  assert_match '^Containers +2 +0 +4B +4B'
  for depth in 1500 5000; do
    run_limited 1024 rm deep$depth
    [[ $output == deep$depth ]]
  done
  run_tug ps -aq
  [[ -z $output ]]
  assert_empty "$TUG_ROOT/containers"
  assert_store_clean
}

@test "a removal that fails names the one path and leaves the directory set aside for check" {
  run_tug pull -q $REGISTRY/busybox
  run_tug run --name deep $REGISTRY/busybox sh -c "$NEST" sh 1500
  local id bottom
  id=$("$TUG" inspect -f '{{.Id}}' deep)
  bottom=$(find "$TUG_ROOT/containers/$id/upper/top" -name f -printf '%h')
  [[ -f $bottom/f ]]
  # something mounted deep inside: removal must stop there, not go through it
  mount -t tmpfs -o size=1m tmpfs "$bottom"
  touch "$bottom/on-the-mount"
  run_tug 125 rm deep
  [[ ${#lines[@]} -eq 1 ]] || { echo "one line expected: $output" >&2; false; }
  assert_match "^Error: remove $TUG_ROOT/containers/\.rm-[0-9]+-$id/upper/top/d/d/.*/d/d: Device or resource busy\$"
  [[ $(grep -o 'remove ' <<<"$output" | wc -l) -eq 1 ]]
  # what is mounted there is untouched, and moved aside with the directory
  local m
  m=$(awk -v r="$TUG_ROOT/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo)
  [[ $m == "$TUG_ROOT"/containers/.rm-*-$id/upper/top/* && -e $m/on-the-mount ]]
  umount "$m"
  # no record, and no directory that looks like a container's: one set aside, for check
  run_tug ps -aq
  [[ -z $output ]]
  run ls -A "$TUG_ROOT/containers"
  [[ $output =~ ^\.rm-[0-9]+-$id$ ]] || { echo "containers/: $output" >&2; false; }
  run_tug 1 system check --dry-run
  assert_match "interrupted removal: containers/\.rm-[0-9]+-$id"
  run_tug system check
  assert_empty "$TUG_ROOT/containers"
  assert_store_clean
}

@test "an image's 1500 nested directories fill its volume under ulimit -n 1024 and go with it" {
  fixture_rootfs "$BATS_TEST_TMPDIR/rootfs"
  python3 - "$BATS_TEST_TMPDIR/rootfs" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for name in ["data"] + ["d"] * 1500:
    os.mkdir(name, dir_fd=fd)
    sub = os.open(name, os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = sub
f = os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
os.write(f, b"x\n")
PY
  tar -C "$BATS_TEST_TMPDIR/rootfs" -cf "$BATS_TEST_TMPDIR/deep.tar" .
  run_tug import --change 'VOLUME /data' "$BATS_TEST_TMPDIR/deep.tar" deepvol
  run_limited 1024 run --name dv deepvol true
  local src
  src=$("$TUG" inspect -f '{{range .Mounts}}{{.Source}}{{end}}' dv)
  [[ $(find "$src" -mindepth 1 -type d | wc -l) -eq 1500 ]]
  [[ $(find "$src" -name f | wc -l) -eq 1 ]]
  run_limited 1024 rm -v dv
  assert_empty "$TUG_ROOT/volumes"
  assert_empty "$TUG_ROOT/containers"
  assert_store_clean
}
