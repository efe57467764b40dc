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
  [[ -n ${LEAK_NS:-} ]] && ip netns del "$LEAK_NS" 2>/dev/null
  _containers_teardown
  for m in ${LEAK_MOUNTS:-}; do umount -l "$m" 2>/dev/null; done
  return 0
}

subnet_of() { timeout 30 "$TUG" network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "$1"; }
gateway_of() { timeout 30 "$TUG" network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' "$1"; }
bridge_of() { timeout 30 "$TUG" network inspect -f '{{index .Options "com.docker.network.bridge.name"}}' "$1"; }

# serves PORT TEXT: http://127.0.0.1:PORT/ answers TEXT
serves() { [[ $(curl -sS -m 2 "http://127.0.0.1:$1/") == "$2" ]]; }

# ---------------------------------------------------------------------------------------
# A store thrown away by hand and made again at the same path

@test "a store made again where one was thrown away brings its bridge up with the new record's address" {
  run_tug run --rm busybox true
  local br old
  br=$(bridge_of bridge)
  old=$(subnet_of bridge)
  ip link show "$br" >/dev/null
  # how docker users reset: rm -rf of the store; the bridge stays, found by its name later
  rm -rf "$TUG_ROOT"
  mkdir -p "$TUG_ROOT"
  "$TUG" pull -q "$REGISTRY/busybox" >/dev/null && "$TUG" tag "$REGISTRY/busybox" busybox
  local new gw port
  new=$(subnet_of bridge)
  gw=$(gateway_of bridge)
  # the old bridge's route kept the new record off its subnet: the two differ
  [[ $new != "$old" ]] || { echo "the new store took the old subnet $old: nothing to test" >&2; false; }
  port=$(fixture_free_port)
  run_tug run -d --name web -p "$port:80" busybox \
    sh -c 'mkdir /www && echo "page of web" >/www/index.html && exec httpd -f -p 80 -h /www'
  # the bridge carries the record's gateway, and only it
  run ip -4 -o addr show dev "$br"
  assert_match " inet $gw/${new#*/} "
  [[ ${#lines[@]} -eq 1 ]] || { echo "the bridge has other addresses: $output" >&2; false; }
  # a container reaches its gateway, and the published port answers
  run_tug exec web ping -c 1 -W 2 "$gw"
  wait_until 10 serves "$port" "page of web"
}

# ---------------------------------------------------------------------------------------
# Firewall rules beside docker, and bridges of stores that are gone

# in_ns COMMAND...: run COMMAND in this test's private network namespace
in_ns() { nsenter --net="/run/netns/$LEAK_NS" "$@"; }

# docker_user_rules: DOCKER-USER in the namespace, rule lines only
docker_user_rules() { in_ns iptables-nft -w -S DOCKER-USER | grep '^-A '; }

@test "network rm, and system check after a store or bridge went by hand, leave docker's DOCKER-USER chain as docker made it" {
  command -v iptables-nft >/dev/null || skip "iptables-nft is not installed"
  # a network namespace of its own, with the chains dockerd makes (and two rules of its kind
  # that tug must never take: no "tug" mark, though one names a bridge that is not there)
  LEAK_NS=tugleak$RANDOM
  ip netns add "$LEAK_NS"
  in_ns ip link set lo up
  in_ns iptables-nft -w -N DOCKER-USER
  in_ns iptables-nft -w -A DOCKER-USER -i tugbnotours -j ACCEPT
  in_ns iptables-nft -w -A DOCKER-USER -j RETURN
  in_ns iptables-nft -w -I FORWARD -j DOCKER-USER
  in_ns iptables-nft -w -P FORWARD DROP
  local docker
  docker=$(docker_user_rules)
  # network create puts the bridge's rules in; network rm takes them out
  in_ns "$TUG" network create leaky >/dev/null
  local br
  br=$(in_ns "$TUG" network inspect -f '{{index .Options "com.docker.network.bridge.name"}}' leaky)
  run docker_user_rules
  assert_match "^-A DOCKER-USER -i $br .*--comment tug"
  in_ns "$TUG" network rm leaky >/dev/null
  run docker_user_rules
  assert_output "$docker"
  # a bridge deleted by hand: system check names and removes its rules
  in_ns "$TUG" network create byhand >/dev/null
  br=$(in_ns "$TUG" network inspect -f '{{index .Options "com.docker.network.bridge.name"}}' byhand)
  in_ns ip link del "$br"
  run in_ns timeout 60 "$TUG" system check --dry-run
  [[ $status -eq 1 ]] || { echo "system check --dry-run: exit $status: $output" >&2; false; }
  assert_match "^firewall rules of a bridge that is gone: $br$"
  refute_match "tugbnotours"
  run in_ns timeout 60 "$TUG" system check
  run docker_user_rules
  assert_output "$docker"
  run in_ns nft list table inet tug
  refute_match "net:$br"
  in_ns "$TUG" network rm byhand >/dev/null
  # the default bridge of a store thrown away: system check from another store takes both
  in_ns timeout 60 "$TUG" run --rm busybox true
  br=$(in_ns "$TUG" network inspect -f '{{index .Options "com.docker.network.bridge.name"}}' bridge)
  run docker_user_rules
  assert_match "^-A DOCKER-USER -i $br "
  local root
  root=$(realpath "$TUG_ROOT")
  mv "$root" "$root.thrown"
  run in_ns env TUG_ROOT="$BATS_TEST_TMPDIR/other" timeout 60 "$TUG" system check
  assert_match "^bridge of a store that is gone: $br \\(store $root\\)$"
  run in_ns ip link show "$br"
  [[ $status -ne 0 ]]
  run docker_user_rules
  assert_output "$docker"
  run in_ns nft list table inet tug
  refute_match "net:$br"
}

@test "system check keeps the bridge of a store whose database is missing, and removes it once the store is gone" {
  local other=$BATS_TEST_TMPDIR/other
  mkdir -p "$other"
  TUG_ROOT=$other run_tug network create elsewhere
  local br
  br=$(TUG_ROOT=$other bridge_of elsewhere)
  ip link show "$br" >/dev/null
  # its database moved away (or not written yet): the store is there, its bridge is kept
  mv "$other/tug.db" "$BATS_TEST_TMPDIR/tug.db.moved"
  rm -f "$other"/tug.db-*
  run_tug system check
  refute_match "$br"
  ip link show "$br" >/dev/null
  run nft list table inet tug
  assert_match "net:$br"
  # its root gone altogether: the bridge goes, named with its store, and so do its rules
  rm -rf "$other"
  run_tug system check --dry-run
  assert_match "^bridge of a store that is gone: $br \\(store $other\\) \\(system check without --dry-run removes it\\)$"
  run_tug system check
  run ip link show "$br"
  [[ $status -ne 0 ]]
  run nft list table inet tug
  refute_match "net:$br"
  assert_store_clean
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
