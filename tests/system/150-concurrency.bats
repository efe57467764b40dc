#!/usr/bin/env bats
# Many tug commands at once on one store: each gets its own container, and nothing leaks.

load containers

setup_file() { containers_setup_file; }

# monitors: the monitor processes (not zombies) of this test's store
monitors() { pgrep -r R,S,D,T -f -- "^tug-monitor .*--root $TUG_ROOT " || true; }

@test "50 containers started at once get distinct names and IDs; rm -f of all leaves nothing" {
  local i
  for i in $(seq 50); do
    timeout 120 "$TUG" run -d busybox sleep 60 >"$BATS_TEST_TMPDIR/run.$i" 2>&1 3>&- &
  done
  wait
  cat "$BATS_TEST_TMPDIR"/run.* >"$BATS_TEST_TMPDIR/all"
  run grep -vE '^[0-9a-f]{64}$' "$BATS_TEST_TMPDIR/all"
  assert_output ""
  [[ $(sort -u "$BATS_TEST_TMPDIR/all" | wc -l) -eq 50 ]]

  run_tug ps --no-trunc --format '{{.ID}} {{.Names}} {{.Status}}'
  [[ ${#lines[@]} -eq 50 ]]
  [[ $(cut -d' ' -f1 <<<"$output" | sort | diff - <(sort "$BATS_TEST_TMPDIR/all")) == "" ]]
  [[ $(cut -d' ' -f2 <<<"$output" | sort -u | wc -l) -eq 50 ]]
  [[ $(grep -c ' Up ' <<<"$output") -eq 50 ]]
  [[ $(monitors | wc -l) -eq 50 ]]

  run_tug rm -f $("$TUG" ps -aq)
  [[ ${#lines[@]} -eq 50 ]]
  no_containers_left
  local id c
  for id in $(<"$BATS_TEST_TMPDIR/all"); do
    for c in /sys/fs/cgroup/*/tug/$id; do
      [[ ! -e $c ]] || { echo "cgroup left: $c" >&2; false; }
    done
  done
  wait_until 10 eval '[[ -z $(monitors) ]]'
  run pgrep -f "sleep 60"
  local pid
  for pid in "${lines[@]}"; do
    # none of them may be one of ours: its cgroup would say tug/<one of the IDs>
    if grep -qFf "$BATS_TEST_TMPDIR/all" "/proc/$pid/cgroup" 2>/dev/null; then
      echo "process $pid left" >&2
      false
    fi
  done
}

@test "20 run --rm at once all succeed and leave nothing" {
  local i
  for i in $(seq 20); do
    timeout 120 "$TUG" run --rm busybox sh -c "echo job $i" >"$BATS_TEST_TMPDIR/run.$i" 2>&1 3>&- &
  done
  wait
  for i in $(seq 20); do
    [[ $(<"$BATS_TEST_TMPDIR/run.$i") == "job $i" ]] || { cat "$BATS_TEST_TMPDIR/run.$i" >&2; false; }
  done
  no_containers_left
  [[ -z $(monitors) ]]
}

@test "one name asked for by 10 creates at once: one wins, the others are told who holds it" {
  local i
  for i in $(seq 10); do
    timeout 120 "$TUG" create --name same busybox true >"$BATS_TEST_TMPDIR/create.$i" 2>&1 3>&- &
  done
  wait
  run_tug ps -aq --no-trunc
  [[ ${#lines[@]} -eq 1 ]]
  local winner=$output
  [[ $(cat "$BATS_TEST_TMPDIR"/create.* | grep -cx "$winner") -eq 1 ]]
  [[ $(cat "$BATS_TEST_TMPDIR"/create.* | grep -c "The container name \"/same\" is already in use by container \"$winner\"") -eq 9 ]]
}

@test "kill -9 of run -d at many points: ps tells the truth, check repairs, rm -f leaves nothing" {
  local delay pid
  for delay in 0.002 0.005 0.008 0.01 0.012 0.015 0.02 0.025 0.03 0.04 0.06 0.1; do
    # tug itself, not a wrapper: a killed wrapper would leave tug running
    "$TUG" run -d busybox sleep 300 >/dev/null 2>&1 3>&- &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  # a start the kill cut short may still be finishing in the process that becomes the monitor
  wait_until 30 eval '! pgrep -f -- "run -d busybox sleep 300" >/dev/null'
  # a container the store calls running has a process and a monitor; no other has either
  local id state cpid running=0
  for id in $("$TUG" ps -aq --no-trunc); do
    read -r state cpid < <("$TUG" inspect -f '{{.State.Status}} {{.State.Pid}}' "$id")
    if [[ $state == running ]]; then
      running=$((running + 1))
      kill -0 "$cpid" || { echo "$id is recorded running, but pid $cpid is gone" >&2; false; }
    else
      [[ $state == created ]] || { echo "$id is $state" >&2; false; }
      run pgrep -f -- "tug-monitor --id $id"
      [[ -z $output ]] || { echo "$id is recorded $state, but has a monitor" >&2; false; }
    fi
  done
  [[ $(monitors | wc -l) -eq $running ]]
  # what a start cut short held (an address) is repaired; nothing running is touched
  run "$TUG" system check
  run_tug 0 system check --dry-run
  [[ $(monitors | wc -l) -eq $running ]]
  run_tug ps -q
  [[ ${#lines[@]} -eq $running ]]
  run_tug rm -f $("$TUG" ps -aq)
  no_containers_left
  wait_until 10 eval '[[ -z $(monitors) ]]'
}

@test "commands opening a new store at the same time all succeed" {
  local i r a b c
  for i in $(seq 20); do
    r=$BATS_TEST_TMPDIR/new$i
    "$TUG" --root "$r" images -q >"$BATS_TEST_TMPDIR/a" 2>&1 3>&- &
    a=$!
    "$TUG" --root "$r" ps -aq >"$BATS_TEST_TMPDIR/b" 2>&1 3>&- &
    b=$!
    "$TUG" --root "$r" volume ls -q >"$BATS_TEST_TMPDIR/c" 2>&1 3>&- &
    c=$!
    wait $a || { cat "$BATS_TEST_TMPDIR/a" >&2; false; }
    wait $b || { cat "$BATS_TEST_TMPDIR/b" >&2; false; }
    wait $c || { cat "$BATS_TEST_TMPDIR/c" >&2; false; }
    rm -rf "$r"
  done
}
