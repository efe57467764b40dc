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
  [[ -n ${SLEEPER:-} ]] && kill -9 "$SLEEPER" 2>/dev/null
  _containers_teardown
  for m in ${LEAK_MOUNTS:-}; do umount -l "$m" 2>/dev/null; done
  return 0
}

# run_dir: the store's run directory (/run/tug/ + 16 hex of the sha256 of the store's path)
run_dir() {
  local root
  root=$(realpath "$TUG_ROOT")
  printf '/run/tug/%s' "$(printf %s "$root" | sha256sum | cut -c1-16)"
}

# run_dir_empty: nothing of any container is left under the store's run directory (the store's
# own mark, "root", naming the store it belongs to, stays, and so do its layers' mounts, which
# belong to the images)
run_dir_empty() {
  local left
  left=$(ls -A "$(run_dir)" 2>/dev/null | grep -vx -e root -e layers) || true
  [[ -z $left ]] && return 0
  echo "left in $(run_dir): $left" >&2
  return 1
}

subnet_of() { timeout 30 "$TUG" network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "$1"; }
gateway_of() { timeout 30 "$TUG" network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' "$1"; }
bridge_of() { timeout 30 "$TUG" network inspect -f '{{index .Options "com.docker.network.bridge.name"}}' "$1"; }

# serves PORT TEXT: http://127.0.0.1:PORT/ answers TEXT
serves() { [[ $(curl -sS -m 2 "http://127.0.0.1:$1/") == "$2" ]]; }

# kill_monitor NAME: kill -9 the container's monitor and wait until it has ended
kill_monitor() {
  local id mon
  id=$(inspect_f "$1" '{{.Id}}')
  mon=$(pgrep -f "^tug-monitor --id $id ") || { echo "no monitor for $1" >&2; return 1; }
  kill -9 "$mon"
  wait_until 10 ended "$mon"
}

# ended PID: the process is gone or a zombie (ended, not reaped)
ended() { [[ ! -e /proc/$1 ]] || [[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) == Z ]]; }

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
# Run directories

@test "removed containers leave nothing under the store's run directory" {
  run_tug run --rm busybox true
  run_tug run -d busybox sleep 60
  run_tug rm -f "$output"
  run_tug create busybox true
  run_tug rm "$output"
  run_tug create --name started busybox sh -c 'exit 4'
  run_tug 4 start -a started
  run_tug rm started
  # a --rm container waited for, and one stopped: both still tell their status
  run_tug run -d --rm busybox sh -c 'sleep 1; exit 3'
  local id=$output
  run_tug wait "$id"
  assert_output 3
  run_tug run -d --rm --name stopped busybox sleep 60
  run_tug stop -t 0 stopped
  assert_match '^stopped$'
  wait_until 10 no_containers_left
  run_dir_empty
  assert_store_clean
}

@test "system check removes run directories of containers that are gone and keeps the others'" {
  run_tug run -d --name live busybox sleep 60
  local live lost
  live=$(inspect_f live '{{.Id}}')
  lost=$(printf %s "a container gone by hand" | sha256sum | cut -c1-64)
  mkdir -p "$(run_dir)/$lost"
  echo "0 0 1" >"$(run_dir)/$lost/exit"
  run_tug 1 system check --dry-run
  assert_match "^run directory of a container that is gone: $(run_dir)/${lost:0:12}$"
  refute_match "${live:0:12}"
  [[ -d $(run_dir)/$lost ]]
  run_tug system check
  [[ ! -e $(run_dir)/$lost ]] || { echo "still there: $(run_dir)/$lost" >&2; false; }
  [[ -e $(run_dir)/$live/exit ]]
  assert_store_clean
}

@test "system check removes the run directory of a store that is gone, naming the store" {
  local other=$BATS_TEST_TMPDIR/other rd
  mkdir -p "$other"
  TUG_ROOT=$other timeout 120 "$TUG" pull -q "$REGISTRY/busybox" >/dev/null
  TUG_ROOT=$other run_tug run -d --network none "$REGISTRY/busybox" sleep 60
  rd=$(TUG_ROOT=$other run_dir)
  [[ -d $rd ]]
  TUG_ROOT=$other run_tug rm -f "$output"
  # a store that is there keeps its run directory
  run_tug system check
  [[ -d $rd ]]
  rm -rf "$other"
  run_tug system check --dry-run
  assert_match "^run directory of a store that is gone: $rd \\(store $other\\) \\(system check without --dry-run removes it\\)$"
  run_tug system check
  [[ ! -e $rd ]] || { echo "still there: $rd" >&2; false; }
  assert_store_clean
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
# A killed monitor

@test "after the monitor is killed, an ended init is exited: stop and start do what they say" {
  run_tug run -d --name orphan busybox sh -c 'sleep 1; exit 3'
  local pid
  pid=$(inspect_f orphan '{{.State.Pid}}')
  kill_monitor orphan
  wait_until 10 ended "$pid"
  # its status is read from the zombie while one is there (nothing reaps orphans on some
  # hosts), else it is unknown (255); either way the container is not running
  local code
  run_tug ps -a --format '{{.Names}} {{.Status}}'
  assert_match '^orphan Exited \((3|255)\) '
  code=$(inspect_f orphan '{{.State.ExitCode}}')
  if [[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) == Z ]]; then
    [[ $code == 3 ]] || { echo "exit code $code, the zombie says 3" >&2; false; }
  fi
  assert_inspect orphan '{{.State.Status}} {{.State.Running}}' "exited false"
  assert_inspect orphan '{{.State.Error}}' "the container's monitor was killed; its exit status $([[ $code == 3 ]] && echo 'was read from its ended process' || echo 'is unknown')"
  run_tug stop orphan
  assert_output orphan
  status_is orphan exited
  # start runs it again, for real
  run_tug start orphan
  assert_inspect orphan '{{.State.Status}}' running
  [[ $(inspect_f orphan '{{.State.Pid}}') != "$pid" ]]
  run_tug wait orphan
  assert_output 3
  # restart too
  run_tug restart orphan
  assert_inspect orphan '{{.State.Status}}' running
}

@test "after the monitor is killed, stop of a running container ends it and records its status" {
  run_tug run -d --name unwatched busybox sh -c 'trap "exit 7" TERM; while true; do sleep 0.1; done'
  local pid
  pid=$(inspect_f unwatched '{{.State.Pid}}')
  kill_monitor unwatched
  # the init runs on, unwatched: still running
  status_is unwatched running
  run_tug stop unwatched
  assert_output unwatched
  wait_until 10 ended "$pid"
  assert_inspect unwatched '{{.State.Status}}' exited
  run_tug rm unwatched
  run_dir_empty
}

@test "after the monitor is killed, --rm still removes the container once its init has ended" {
  run_tug run -d --rm --name passing busybox sh -c 'sleep 1'
  local pid
  pid=$(inspect_f passing '{{.State.Pid}}')
  kill_monitor passing
  wait_until 10 ended "$pid"
  # the next command to look finds it ended and does what the monitor would have
  run_tug ps -a --format '{{.Names}}'
  refute_match '^passing$'
  run_tug 1 inspect passing
  no_containers_left
  run_dir_empty
}

@test "after the monitor is killed, restart=always brings the container back on the next command" {
  # Docker's daemon restarts it on its own; tug has no daemon: the next tug command that finds
  # it ended restarts it at once (a restarted one has a monitor again, which backs off as usual)
  run_tug run -d --restart always --name phoenix busybox sh -c 'sleep 1; exit 1'
  local pid
  pid=$(inspect_f phoenix '{{.State.Pid}}')
  kill_monitor phoenix
  wait_until 10 ended "$pid"
  run_tug ps --format '{{.Names}} {{.Status}}'
  assert_match '^phoenix Up '
  (($(inspect_f phoenix '{{.RestartCount}}') >= 1))
  [[ $(inspect_f phoenix '{{.State.Pid}}') != "$pid" ]]
  run_tug stop phoenix
  status_is phoenix exited
}

# ---------------------------------------------------------------------------------------
# Signals through pidfds

@test "a container whose init died and whose pid another process took: that process is never signalled" {
  run_tug run -d --name reused busybox sleep 60
  local id pid
  id=$(inspect_f reused '{{.Id}}')
  pid=$(inspect_f reused '{{.State.Pid}}')
  kill_monitor reused
  kill -9 "$pid"
  wait_until 10 ended "$pid"
  # the pid the record names now belongs to a process of this test
  sleep 300 &
  SLEEPER=$!
  sqlite3 "$TUG_ROOT/tug.db" "UPDATE containers SET pid = $SLEEPER WHERE id = '$id'"
  run_tug 1 kill reused
  assert_match "is not running"
  run_tug 1 kill -s TERM reused
  kill -0 "$SLEEPER"
  run_tug stop reused
  kill -0 "$SLEEPER"
  assert_inspect reused '{{.State.Status}}' exited
  run_tug restart reused
  kill -0 "$SLEEPER"
  assert_inspect reused '{{.State.Status}}' running
  # and once more, with the record saying it runs
  local real
  real=$(inspect_f reused '{{.State.Pid}}')
  kill_monitor reused
  sqlite3 "$TUG_ROOT/tug.db" "UPDATE containers SET pid = $SLEEPER WHERE id = '$id'"
  run_tug rm -f reused
  kill -0 "$SLEEPER"
  kill -9 "$real" 2>/dev/null || true
  no_containers_left
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
