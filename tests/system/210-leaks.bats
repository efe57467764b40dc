#!/usr/bin/env bats
# What normal use must not leave behind, and state that must stay true: a store thrown away and
# made again at the same path, run directories of removed containers, firewall rules in docker's
# DOCKER-USER chain, bridges of stores that are gone, a killed monitor's zombie init, signals
# that must never reach a process that took a dead init's pid, and database errors that keep
# their cause.

load containers

setup_file() { containers_setup_file; }

eval "_containers_teardown() $(declare -f teardown | sed 1d)"
teardown() {
  local m
  _containers_teardown
  for m in ${LEAK_MOUNTS:-}; do umount -l "$m" 2>/dev/null; done
  return 0
}

# ---------------------------------------------------------------------------------------
# Database errors

@test "rename on a full disk says the disk is full, not that the name is taken" {
  local small=$BATS_TEST_TMPDIR/small
  mkdir -p "$small"
  mount -t tmpfs -o size=6m tmpfs "$small"
  LEAK_MOUNTS=$small
  export TUG_ROOT=$small/root
  mkdir -p "$TUG_ROOT"
  "$TUG" pull -q "$REGISTRY/busybox" >/dev/null && "$TUG" tag "$REGISTRY/busybox" busybox
  run_tug create --name first busybox true
  run_tug create --name second busybox true
  dd if=/dev/zero of="$small/fill" bs=4k 2>/dev/null || true
  run_tug 125 rename first third
  assert_match "rename container first to third: .*database or disk is full"
  refute_match "already in use"
  # a taken name is still said as such
  run_tug 1 rename first second
  assert_match 'The container name "/second" is already in use'
  rm -f "$small/fill"
  run_tug rename first third
  assert_inspect third '{{.Name}}' /third
}
