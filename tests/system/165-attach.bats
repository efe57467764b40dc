#!/usr/bin/env bats
# tug attach and the detach keys: a terminal or stdio joins a running container's output from
# then on and types into it; ctrl-p ctrl-q (or --detach-keys, or config.json's detachKeys)
# leaves it running. tests/helpers/ptydrive.py gives each client a terminal of its own and
# waits for what it expects to see, within a bound.

load containers

setup_file() { containers_setup_file; }

PTYDRIVE=$BATS_TEST_DIRNAME/../helpers/ptydrive.py

# drive STEPS COMMAND...: run COMMAND in a terminal of its own, typing and expecting per STEPS
drive() {
  local steps=$1
  shift
  run timeout 90 python3 "$PTYDRIVE" "$steps" "$@"
}

# running NAME: the container's state is "running"
state_of() { "$TUG" inspect --format '{{.State.Status}}' "$1"; }

# wait_running NAME: bounded wait until the container runs
wait_running() {
  local i
  for i in $(seq 100); do
    [[ $(state_of "$1") == running ]] && return 0
    sleep 0.1
  done
  return 1
}

# wait_for FILE TEXT: bounded wait until FILE holds TEXT
wait_for() {
  local i
  for i in $(seq 100); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

@test "attach to a -it container: typing is echoed, ctrl-p ctrl-q leaves it running" {
  run_tug run -dit --name box busybox sh
  wait_running box
  drive $'raw\nsend echo hel""lo-attach\\r\nexpect hello-attach\nsend \\x10\\x11\nexpect read escape sequence\nexit' \
    "$TUG" attach box
  [[ $status -eq 1 ]]
  assert_match 'read escape sequence'
  run_tug inspect --format '{{.State.Status}}' box
  assert_output running
  # and again: a second attach works after the first has left
  drive $'raw\nsend echo sec""ond\\r\nexpect second\nsend \\x10\\x11\nexit' "$TUG" attach box
  [[ $status -eq 1 ]]
}

@test "attach shows output from then on, not the history, and returns the container's exit code" {
  run_tug run -dit --name box busybox sh
  wait_running box
  drive $'raw\nsend echo fi""rst\\r\nexpect first\nsend \\x10\\x11\nexit' "$TUG" attach box
  [[ $status -eq 1 ]]
  drive $'raw\nsend echo sec""ond; exit 7\\r\nexpect second\nexit' "$TUG" attach box
  [[ $status -eq 7 ]]
  [[ ! $output =~ first ]]
  run_tug inspect --format '{{.State.Status}} {{.State.ExitCode}}' box
  assert_output 'exited 7'
}

@test "a partial detach sequence followed by other keys is typed through" {
  run_tug run -dit --name box busybox sh
  wait_running box
  # ctrl-p then x: both reach the shell (ctrl-p is its history key), then the line runs
  drive $'raw\nsend \\x10x\nsend \\x15echo through\\r\nexpect through\nsend \\x10\\x11\nexit' \
    "$TUG" attach box
  [[ $status -eq 1 ]]
  run_tug inspect --format '{{.State.Status}}' box
  assert_output running
}

@test "--detach-keys and config.json's detachKeys choose the sequence" {
  run_tug run -dit --name box busybox sh
  wait_running box
  # ctrl-p ctrl-q is then plain input; ctrl-a,x leaves
  drive $'raw\nsend \\x10\\x11echo still-here\\r\nexpect still-here\nsend \\x01x\nexpect read escape sequence\nexit' \
    "$TUG" attach --detach-keys ctrl-a,x box
  [[ $status -eq 1 ]]
  mkdir -p "$BATS_TEST_TMPDIR/dockercfg"
  echo '{"detachKeys": "ctrl-e,e"}' >"$BATS_TEST_TMPDIR/dockercfg/config.json"
  DOCKER_CONFIG=$BATS_TEST_TMPDIR/dockercfg drive $'raw\nraw\nsend echo cfg""keys\\r\nexpect cfgkeys\nsend \\x05e\nexpect read escape sequence\nexit' \
    "$TUG" attach box
  [[ $status -eq 1 ]]
  # tug --config DIR reads DIR/config.json
  mkdir -p "$BATS_TEST_TMPDIR/cfg2"
  echo '{"detachKeys": "ctrl-f,f"}' >"$BATS_TEST_TMPDIR/cfg2/config.json"
  drive $'raw\nsend echo dir""keys\\r\nexpect dirkeys\nsend \\x06f\nexpect read escape sequence\nexit' \
    "$TUG" --config "$BATS_TEST_TMPDIR/cfg2" attach box
  [[ $status -eq 1 ]]
  run_tug inspect --format '{{.State.Status}}' box
  assert_output running
}

@test "run -it and start -ai detach with ctrl-p ctrl-q; the container runs on" {
  drive $'raw\nexpect #\nsend echo in""side\\r\nexpect inside\nsend \\x10\\x11\nexit' \
    "$TUG" run -it --name box busybox sh
  [[ $status -eq 0 ]]
  # docker's run -it and start -ai leave quietly; its attach and exec -it say so and end with 1
  [[ ! $output =~ "read escape sequence" ]]
  run_tug inspect --format '{{.State.Status}}' box
  assert_output running
  # start -ai of the running container attaches to it
  drive $'raw\nsend echo re""joined\\r\nexpect rejoined\nsend \\x10\\x11\nexit' \
    "$TUG" start -ai box
  [[ $status -eq 0 ]]
  # it can be attached to afterwards, and ends with its own code
  drive $'raw\nsend exit 3\\r\nexit' "$TUG" attach box
  [[ $status -eq 3 ]]
  drive $'raw\nexpect #\nsend \\x10\\x11\nexit' "$TUG" start -ai box
  [[ $status -eq 0 ]]
  run_tug inspect --format '{{.State.Status}}' box
  assert_output running
  # run -it --detach-keys: that sequence and no other
  drive $'raw\nexpect #\nsend \\x10\\x11echo still-in\\r\nexpect still-in\nsend \\x01x\nexit' \
    "$TUG" run -it --detach-keys ctrl-a,x --name box2 busybox sh
  [[ $status -eq 0 ]]
  run_tug inspect --format '{{.State.Status}}' box2
  assert_output running
}

@test "exec -it detaches with the keys and its command runs on" {
  run_tug run -d --name box busybox sleep 300
  wait_running box
  drive $'raw\nexpect #\nsend echo ex""eced\\r\nexpect execed\nsend \\x10\\x11\nexpect read escape sequence\nexit' \
    "$TUG" exec -it box sh
  [[ $status -eq 1 ]]
  # the shell is still there, with its terminal
  # the shell is still there (not a zombie, which ps shows in brackets)
  run_tug exec box ps
  assert_match '^ *[0-9]+ +root +sh$'
}

@test "attach --no-stdin: output only; without a terminal stdout and stderr stay apart" {
  run_tug run -d --name box busybox sh -c 'while sleep 0.2; do echo tick; echo tock >&2; done'
  wait_running box
  # tug attach passes SIGTERM on to the container (whose init ignores it): timeout kills
  run bash -c "timeout -s KILL 3 '$TUG' attach --no-stdin box 2>/dev/null"
  [[ $status -eq 137 ]]
  assert_match tick
  [[ ! $output =~ tock ]]
  run bash -c "timeout -s KILL 3 '$TUG' attach box 2>&1 >/dev/null"
  assert_match tock
  [[ ! $output =~ tick ]]
}

@test "attach forwards stdin to a -i container and returns its exit code" {
  run_tug run -di --name box busybox sh -c 'read line; echo "got $line"; exit 5'
  wait_running box
  run bash -c "echo hello | '$TUG' attach box"
  [[ $status -eq 5 ]]
  assert_output 'got hello'
  # --no-stdin types nothing: the container waits on
  run_tug run -di --name box2 busybox sh -c 'read line; echo "got $line"'
  wait_running box2
  run bash -c "echo hello | timeout -s KILL 2 '$TUG' attach --no-stdin box2"
  [[ $status -eq 137 ]]
  run_tug inspect --format '{{.State.Status}}' box2
  assert_output running
}

@test "signals reach the container through attach unless --sig-proxy=false" {
  run_tug run -d --name box busybox sh -c 'trap "echo got-term; exit 9" TERM; while :; do echo tick; sleep 0.1; done'
  wait_running box
  "$TUG" attach box >"$BATS_TEST_TMPDIR/out" 2>&1 &
  local pid=$!
  wait_for "$BATS_TEST_TMPDIR/out" tick # attached
  kill -TERM $pid
  local rc=0
  wait $pid || rc=$?
  [[ $rc -eq 9 ]]
  grep -q got-term "$BATS_TEST_TMPDIR/out"
  # --sig-proxy=false: the signal ends tug attach, the container goes on
  run_tug run -d --name box2 busybox sh -c 'trap "echo got-term; exit 9" TERM; while :; do echo tick; sleep 0.1; done'
  wait_running box2
  "$TUG" attach --sig-proxy=false box2 >"$BATS_TEST_TMPDIR/out2" 2>&1 &
  pid=$!
  wait_for "$BATS_TEST_TMPDIR/out2" tick
  kill -TERM $pid
  rc=0
  wait $pid || rc=$?
  [[ $rc -eq 143 ]]
  run_tug inspect --format '{{.State.Status}}' box2
  assert_output running
}

@test "several clients attach at once, see the same output and get the exit code" {
  run_tug run -d --name box busybox sh -c 'while [ ! -e /stop ]; do echo tick; sleep 0.1; done; echo the-end; exit 4'
  wait_running box
  "$TUG" attach --no-stdin box >"$BATS_TEST_TMPDIR/one" 2>&1 &
  local one=$!
  "$TUG" attach --no-stdin box >"$BATS_TEST_TMPDIR/two" 2>&1 &
  local two=$!
  wait_for "$BATS_TEST_TMPDIR/one" tick
  wait_for "$BATS_TEST_TMPDIR/two" tick
  run_tug exec box touch /stop
  local rc1=0 rc2=0
  wait $one || rc1=$?
  wait $two || rc2=$?
  [[ $rc1 -eq 4 && $rc2 -eq 4 ]]
  grep -q the-end "$BATS_TEST_TMPDIR/one"
  grep -q the-end "$BATS_TEST_TMPDIR/two"
  run_tug inspect --format '{{.State.Status}} {{.State.ExitCode}}' box
  assert_output 'exited 4'
}

@test "a 17th client at once is turned away with a clear error" {
  run_tug run -d --name box busybox sh -c 'while :; do echo tick; sleep 0.1; done'
  wait_running box
  local i pids=()
  for i in $(seq 16); do
    "$TUG" attach --no-stdin --sig-proxy=false box >"$BATS_TEST_TMPDIR/c$i" 2>&1 &
    pids+=($!)
  done
  for i in $(seq 16); do wait_for "$BATS_TEST_TMPDIR/c$i" tick; done
  run_tug 125 attach --no-stdin box
  assert_match 'its monitor closed the channel: it serves 16 clients at once'
  kill "${pids[@]}"
  wait "${pids[@]}" || true
}

@test "attach refuses a stopped, paused or missing container, and bad detach keys" {
  run_tug create --name made busybox true
  run_tug 1 attach made
  assert_output 'Error: You cannot attach to a stopped container, start it first'
  run_tug 1 attach nosuch
  assert_output 'Error: No such container: nosuch'
  run_tug run -d --name box busybox sleep 300
  wait_running box
  run_tug pause box
  run_tug 1 attach box
  assert_output 'Error: You cannot attach to a paused container, unpause it first'
  run_tug unpause box
  run_tug 125 attach --detach-keys ctrl-p,bad box
  assert_match 'Invalid detach keys \(ctrl-p,bad\) provided'
  run_tug 125 run -it --detach-keys nope busybox true
  assert_match 'Invalid detach keys \(nope\) provided'
  run_tug 1 attach
  assert_match '"attach" requires exactly 1 argument'
  # a terminal container's stdin wants a terminal, as docker says
  run_tug run -dit --name tt busybox sh
  wait_running tt
  run_tug 1 attach tt </dev/null
  assert_output 'the input device is not a TTY'
}
