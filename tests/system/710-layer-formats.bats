#!/usr/bin/env bats
# Layers as EROFS images in the store (docs/store.md, "Layer formats"): what a store records,
# one shared read-only mount per layer made when something needs the files, removal, images
# checked before they are mounted, the loop-device path of older kernels, the directory
# fallback, and what `system check` does with mounts that outlived their layer or store.

load containers

setup_file() {
  containers_setup_file
}

eval "_containers_teardown() $(declare -f teardown | sed 1d)"
teardown() {
  local m
  for m in ${LEFT_MOUNTS:-}; do umount -l "$m" 2>/dev/null; done
  _containers_teardown
  return 0
}

# this test's store in EROFS, whatever the suite runs with (TUG_LAYER_FORMAT=directory make check)
erofs_store() {
  grep -qw erofs /proc/filesystems || modprobe erofs 2>/dev/null ||
    skip "this kernel has no EROFS; the directory fallback is what it gets"
  rm -rf "$TUG_ROOT" && mkdir -p "$TUG_ROOT"
  export TUG_LAYER_FORMAT=erofs
  "$TUG" pull -q "$REGISTRY/busybox" >/dev/null && "$TUG" tag "$REGISTRY/busybox" busybox
}

run_dir() {
  printf '/run/tug/%s' "$(printf %s "$(realpath "$TUG_ROOT")" | sha256sum | cut -c1-16)"
}

# layer_mounts: this store's EROFS layer mounts, one line each
layer_mounts() { mounted_under "$(run_dir)/layers"; }

top_layer() { ls "$TUG_ROOT/layers" | grep -v '^\.' | head -1; }

@test "a new store writes its layers as EROFS images and says so" {
  erofs_store
  [[ $(cat "$TUG_ROOT/layer-format") == erofs ]]
  local l
  for l in $(ls "$TUG_ROOT/layers" | grep -v '^\.'); do
    [[ -f $TUG_ROOT/layers/$l/layer.erofs && -f $TUG_ROOT/layers/$l/layer.erofs.sum ]]
    [[ ! -e $TUG_ROOT/layers/$l/diff ]]
    # the image is one a reader other than tug's own takes
    run fsck.erofs "$TUG_ROOT/layers/$l/layer.erofs"
    [[ $status -eq 0 ]] || { echo "$output"; false; }
  done
  run_tug info
  assert_match '^  Layer Format: erofs$'
  run_tug info --format '{{json .DriverStatus}}'
  assert_match '\["Layer Format","erofs"\]'
  # pulling mounts nothing: mounts are made when something reads the files
  [[ -z $(layer_mounts) ]]
}

@test "containers of an image share one read-only mount per layer, kept until the image goes" {
  erofs_store
  local n
  n=$(ls "$TUG_ROOT/layers" | grep -vc '^\.')
  run_tug run -d --name one busybox sleep 300
  run_tug run -d --name two busybox sleep 300
  timeout 60 "$TUG" run --rm busybox cat /bin/sh >/dev/null
  [[ $(layer_mounts | wc -l) -eq $n ]]
  # read-only, no setuid or devices through the mount itself (the overlay above decides)
  local opts
  opts=$(awk -v r="$(run_dir)/layers/" 'index($5, r) == 1 { print $6 }' /proc/self/mountinfo | sort -u)
  [[ $opts == ro,nosuid,nodev,noatime ]] || { echo "options: $opts"; false; }
  run_tug exec one sh -c 'echo hi >/new && cat /new'
  assert_output hi
  run_tug rm -f one two
  # the image still has them: they stay
  [[ $(layer_mounts | wc -l) -eq $n ]]
  run_tug rmi busybox "$REGISTRY/busybox"
  [[ -z $(layer_mounts) ]]
  [[ -z $(ls "$TUG_ROOT/layers") ]]
  [[ -z $(ls -A "$(run_dir)/layers" 2>/dev/null) ]]
  assert_store_clean
}

@test "after a reboot (the mounts gone) the next start mounts the layers again" {
  erofs_store
  run_tug run --rm busybox true
  local m
  for m in $(layer_mounts); do umount "$m"; rmdir "$m"; done
  [[ -z $(layer_mounts) ]]
  run_tug run --rm busybox echo back
  assert_output back
  [[ -n $(layer_mounts) ]]
  assert_store_clean
}

@test "an image changed since tug wrote it is not mounted" {
  erofs_store
  local l img
  l=$(top_layer)
  img=$TUG_ROOT/layers/$l/layer.erofs
  # written before a reboot (an image written in this boot was synced before it was renamed
  # into place; one from an earlier boot is read whole before it is mounted)
  sed -i 's/ [0-9a-f-]*$/ 00000000-0000-0000-0000-000000000000/' "$img.sum"
  run_tug run --rm busybox true
  for m in $(layer_mounts); do umount "$m"; done
  # one byte changed, size kept
  printf 'X' | dd of="$img" bs=1 seek=2000 conv=notrunc status=none
  run_tug 125 run --rm busybox true
  assert_match "^Error: .*layer image $img has changed since tug wrote it \(sha256:[0-9a-f]{12}, not sha256:[0-9a-f]{12}\); remove the image and pull it again$"
  [[ ${#lines[@]} -eq 1 ]]
  [[ -z $(layer_mounts) ]]
  # and one cut short
  truncate -s 4096 "$img"
  run_tug 125 run --rm busybox true
  assert_match "layer image $img is 4096 bytes, not the [0-9]+ written; remove the image and pull it again$"
  # the way out works
  run_tug rmi busybox "$REGISTRY/busybox"
  run_tug pull -q "$REGISTRY/busybox"
  run_tug run --rm "$REGISTRY/busybox" echo fine
  assert_output fine
}

@test "where the kernel cannot mount a file, a read-only loop device carries the image" {
  erofs_store
  export TUG_EROFS_LOOP=1
  run_tug run --rm busybox echo via loop
  assert_output "via loop"
  local src
  src=$(awk -v r="$(run_dir)/layers/" 'index($5, r) == 1 {
    for (i = 7; i < NF; i++) if ($i == "-") { print $(i + 2); break } }' /proc/self/mountinfo | sort -u)
  [[ $src == /dev/loop* ]] || { echo "sources: $src"; false; }
  local dev
  for dev in $src; do
    [[ $(cat "/sys/block/${dev#/dev/}/ro") == 1 ]]
    [[ $(cat "/sys/block/${dev#/dev/}/loop/autoclear") == 1 ]]
  done
  run_tug rmi busybox "$REGISTRY/busybox"
  [[ -z $(layer_mounts) ]]
  # autoclear: the devices went with their mounts
  local backing
  for dev in $src; do
    backing=$(cat "/sys/block/${dev#/dev/}/loop/backing_file" 2>/dev/null) || backing=
    [[ $backing != *"$TUG_ROOT"* ]] || { echo "$dev still holds $backing"; false; }
  done
}

@test "TUG_LAYER_FORMAT=directory keeps layers as directories; an older store stays one" {
  rm -rf "$TUG_ROOT" && mkdir -p "$TUG_ROOT"
  TUG_LAYER_FORMAT=directory "$TUG" pull -q "$REGISTRY/busybox" >/dev/null
  [[ $(cat "$TUG_ROOT/layer-format") == directory ]]
  local l
  l=$(top_layer)
  [[ -d $TUG_ROOT/layers/$l/diff && ! -e $TUG_ROOT/layers/$l/layer.erofs ]]
  # the record wins over the environment once the store has one
  TUG_LAYER_FORMAT=erofs run_tug run --rm "$REGISTRY/busybox" echo ok
  assert_output ok
  [[ -z $(layer_mounts) ]]
  # a store from before the record: layers and no layer-format file
  rm "$TUG_ROOT/layer-format"
  unset TUG_LAYER_FORMAT
  run_tug info --format '{{json .DriverStatus}}'
  assert_match '\["Layer Format","directory"\]'
  [[ $(cat "$TUG_ROOT/layer-format") == directory ]]
}

@test "a layer format tug does not know is one line naming it and the way out" {
  rm -rf "$TUG_ROOT" && mkdir -p "$TUG_ROOT"
  TUG_LAYER_FORMAT=zfs run_tug '?' pull -q "$REGISTRY/busybox"
  [[ $status -ne 0 ]]
  assert_match '^Error: .*TUG_LAYER_FORMAT=zfs: unknown layer format \(use erofs or directory\)$'
  [[ ${#lines[@]} -eq 1 ]]
  run_tug images -q
  [[ -z $output ]]
}

@test "a build in an EROFS store makes EROFS layers, and the image runs" {
  erofs_store
  local ctx=$BATS_TEST_TMPDIR/ctx
  mkdir -p "$ctx"
  echo page >"$ctx/index.html"
  printf 'FROM busybox\nCOPY index.html /www/\nRUN mkdir -p /data && echo made >/data/f && mknod /data/null c 1 3 && chmod 4755 /data/f\n' >"$ctx/Dockerfile"
  run_tug build -q -t site "$ctx"
  local l
  for l in $(ls "$TUG_ROOT/layers" | grep -v '^\.'); do
    [[ -f $TUG_ROOT/layers/$l/layer.erofs && ! -e $TUG_ROOT/layers/$l/diff ]]
  done
  run_tug run --rm site sh -c 'cat /www/index.html /data/f; stat -c "%a %t:%T" /data/f /data/null; head -c 0 /data/null && echo null opens'
  assert_output "page
made
4755 0:0
644 1:3
null opens"
  # the file mode of a device node and setuid bits come through the shared nosuid,nodev mounts
}

@test "system check unmounts the mounts of layers and stores that are gone" {
  erofs_store
  run_tug run --rm busybox true
  # a removal killed between its row and its unmount: a mount with no layer behind it
  local fake m
  fake=$(printf %s "a layer removed by a killed rmi" | sha256sum | cut -c1-64)
  mkdir -p "$(run_dir)/layers/$fake"
  m=$(layer_mounts | head -1)
  mount --bind "$m" "$(run_dir)/layers/$fake"
  LEFT_MOUNTS="$(run_dir)/layers/$fake"
  run_tug 1 system check --dry-run
  assert_match "^mount of a layer that is gone: $(run_dir)/layers/$fake$"
  run_tug system check
  [[ ! -e $(run_dir)/layers/$fake ]]
  assert_store_clean
  # a store thrown away with its layers mounted: another store's check takes the mounts down
  local rd
  rd=$(run_dir)
  [[ -n $(mounted_under "$rd/layers") ]]
  mv "$TUG_ROOT" "$TUG_ROOT.gone"
  TUG_ROOT=$BATS_TEST_TMPDIR/other run_tug system check
  [[ -z $(mounted_under "$rd/layers") ]]
  [[ ! -e $rd ]]
  mv "$TUG_ROOT.gone" "$TUG_ROOT"
}

@test "system migrate turns a directory store into an EROFS one; its containers start as before" {
  grep -qw erofs /proc/filesystems || skip "this kernel has no EROFS"
  rm -rf "$TUG_ROOT" && mkdir -p "$TUG_ROOT"
  export TUG_LAYER_FORMAT=directory
  "$TUG" pull -q "$REGISTRY/busybox" >/dev/null && "$TUG" tag "$REGISTRY/busybox" busybox
  local ctx=$BATS_TEST_TMPDIR/ctx
  mkdir -p "$ctx" && printf 'FROM busybox\nRUN echo built >/built\n' >"$ctx/Dockerfile"
  run_tug build -q -t mine "$ctx"
  run_tug create --name before mine cat /built
  run_tug run -d --name busy busybox sleep 300
  run_tug 1 system migrate
  assert_match '^Error: 1 containers are running on this store.s layers; stop them first \(tug stop \$\(tug ps -q\)\)$'
  [[ $(cat "$TUG_ROOT/layer-format") == directory ]]
  run_tug rm -f busy
  unset TUG_LAYER_FORMAT
  run_tug system migrate
  assert_match '^Converted sha256:[0-9a-f]{12} \([0-9.]+[kMG]?B\)$'
  assert_match '^[0-9]+ layers converted; the store writes EROFS layers from now on$'
  [[ $(cat "$TUG_ROOT/layer-format") == erofs ]]
  local l
  for l in $(ls "$TUG_ROOT/layers" | grep -v '^\.'); do
    [[ -f $TUG_ROOT/layers/$l/layer.erofs && ! -e $TUG_ROOT/layers/$l/diff ]]
  done
  # made before: it starts on the layers where they are now
  run_tug start -a before
  assert_output built
  run_tug run --rm mine cat /built
  assert_output built
  # once more: nothing left to do
  run_tug system migrate
  assert_output "0 layers converted; the store writes EROFS layers from now on"
  assert_store_clean
}

@test "a store thrown away after only reading its layers (no container ran) has its mounts taken down" {
  erofs_store
  run_tug create --name looker busybox true
  # cp from a container that never ran mounts the layers all the same
  run_tug cp looker:/bin/busybox "$BATS_TEST_TMPDIR/bb"
  local rd
  rd=$(run_dir)
  [[ -n $(mounted_under "$rd/layers") ]]
  # the run directory says whose it is, though no container made it
  [[ $(cat "$rd/root") == "$(realpath "$TUG_ROOT")" ]]
  mv "$TUG_ROOT" "$TUG_ROOT.gone"
  TUG_ROOT=$BATS_TEST_TMPDIR/other run_tug system check
  [[ -z $(mounted_under "$rd/layers") ]]
  [[ ! -e $rd ]]
  mv "$TUG_ROOT.gone" "$TUG_ROOT"
}
