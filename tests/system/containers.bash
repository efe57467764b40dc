# Set-up for the container tests (100-150): a registry per file holding busybox, busybox
# pulled into each test's private store, and a teardown that leaves no container behind.
# In a test file:   load containers;  setup_file() { containers_setup_file; }

source "$BATS_TEST_DIRNAME/helpers.bash"
bats_require_minimum_version 1.5.0

# helpers.bash's run_tug; an expected 127 is told to bats, which otherwise warns that 127
# means "command not found" (here it is the container's command that is not found)
eval "_run_tug() $(declare -f run_tug | sed 1d)"
run_tug() {
  if [[ $1 == 127 ]]; then
    shift
    run -127 timeout 120 "$TUG" "$@"
  else
    _run_tug "$@"
  fi
}

containers_setup_file() { file_registry busybox; }
teardown_file() { file_registry_stop; }

# helpers.bash's setup (a private TUG_ROOT), then "busybox" in it
eval "_store_setup() $(declare -f setup | sed 1d)"
setup() {
  _store_setup
  "$TUG" pull -q "$REGISTRY/busybox" >/dev/null && "$TUG" tag "$REGISTRY/busybox" busybox
}

# Remove every container of this test's store; whatever tug leaves is killed and unmounted so
# that one failing test does not spill into the next.
teardown() {
  local ids id pid m
  ids=$(ls "$TUG_ROOT/containers" 2>/dev/null | grep -E '^[0-9a-f]{64}$') || true
  [[ -n $ids ]] && timeout 60 "$TUG" rm -f $ids >/dev/null 2>&1
  for pid in $(pgrep -f -- "^tug-monitor .*--root $TUG_ROOT "); do kill -9 "$pid" 2>/dev/null; done
  for id in $ids; do
    [[ -e /sys/fs/cgroup/freezer/tug/$id ]] && echo THAWED >"/sys/fs/cgroup/freezer/tug/$id/freezer.state"
    for pid in $(cat "/sys/fs/cgroup/pids/tug/$id/cgroup.procs" 2>/dev/null); do
      kill -9 "$pid" 2>/dev/null
    done
  done
  for m in $(awk -v r="$TUG_ROOT/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null
  done
  discard_store "$TUG_ROOT"
  return 0
}

# discard_store ROOT: throw the store away as a user would (moved aside, kept for a look after
# a failure) when it left something on the host, then `system check` from a scratch store
# removes its bridges with their firewall rules (tug's and those in docker's DOCKER-USER chain)
# and its run directory (/run/tug/ + 16 hex of the sha256 of its path).
discard_store() {
  local root
  root=$(realpath "$1" 2>/dev/null) || return 0
  ip -o link show type bridge 2>/dev/null | grep -qF "alias tug store $root" ||
    [[ -e /run/tug/$(printf %s "$root" | sha256sum | cut -c1-16) ]] || return 0
  mv "$root" "$root.discarded" &&
    TUG_ROOT=$BATS_TEST_TMPDIR/scratch-store timeout 60 "$TUG" system check >/dev/null 2>&1
}

# wait_until SECONDS COMMAND...: run COMMAND every 0.1 s until it succeeds; fail after SECONDS.
wait_until() {
  local secs=$1 deadline
  shift
  deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "still not true after ${secs}s: $*" >&2
      return 1
    fi
    sleep 0.1
  done
}

# inspect_f CONTAINER TEMPLATE: print one field of `tug inspect`.
inspect_f() { timeout 30 "$TUG" inspect -f "$2" "$1"; }

# status_is CONTAINER STATUS: .State.Status is STATUS (for wait_until).
status_is() { [[ $(inspect_f "$1" '{{.State.Status}}') == "$2" ]]; }

# logs_match CONTAINER REGEX: the container's output (both streams) has a line matching REGEX.
logs_match() { timeout 30 "$TUG" logs "$1" 2>&1 | grep -qE -- "$2"; }

# alive PID: the process exists and is not a zombie (a zombie is only waiting for its parent).
alive() { [[ -e /proc/$1 ]] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
gone() { ! alive "$1"; }

# no_containers_left: `ps -a` lists nothing and the store holds no container directory.
no_containers_left() {
  run_tug ps -aq
  [[ -z $output ]] || { echo "ps -a still lists: $output" >&2; return 1; }
  local left
  left=$(ls -A "$TUG_ROOT/containers" 2>/dev/null) || true
  [[ -z $left ]] || { echo "left in $TUG_ROOT/containers: $left" >&2; return 1; }
}

# assert_output EXPECTED: $output is exactly EXPECTED.
assert_output() {
  [[ $output == "$1" ]] && return 0
  printf 'expected output: %s\nactual output:   %s\n' "$1" "$output" >&2
  return 1
}

# assert_inspect CONTAINER TEMPLATE EXPECTED: `tug inspect -f TEMPLATE CONTAINER` prints EXPECTED.
assert_inspect() {
  local got
  got=$(inspect_f "$1" "$2") || true
  [[ $got == "$3" ]] && return 0
  printf 'inspect -f %s %s: expected "%s", got "%s"\n' "$2" "$1" "$3" "$got" >&2
  return 1
}
