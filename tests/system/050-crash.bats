#!/usr/bin/env bats
# Crashes: kill -9 at any point of a pull leaves a store the next command repairs or ignores.

load helpers

setup_file() { file_registry busybox hello; }
teardown_file() { file_registry_stop; }

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
  run ls -A "$TUG_ROOT/layers"
  [[ -z $output ]] || { echo "left in layers/: $output" >&2; false; }
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
  local top
  top=$(jq -r '.[0].GraphDriver.Data.UpperDir' <<<"$("$TUG" image inspect $REGISTRY/hello)")
  [[ -f $top/hello.txt ]]
  local lower
  lower=$(jq -r '.[0].GraphDriver.Data.LowerDir' <<<"$("$TUG" image inspect $REGISTRY/hello)")
  [[ -x $lower/bin/busybox ]]
}
