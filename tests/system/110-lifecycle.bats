#!/usr/bin/env bats
# stop, kill, restart, rm, wait, rename, pause, prune and restart policies.

load containers

setup_file() { containers_setup_file; }

# A shell that prints "ready" once its trap for signal $2 is set, then idles; on the signal it
# prints "got $2" and exits with status $3 (run -d, named $1; extra run flags after $3).
run_trapping() {
  local name=$1 sig=$2 code=$3
  shift 3
  run_tug run -d --name "$name" "$@" busybox \
    sh -c "trap 'echo got $sig; exit $code' $sig; echo ready; while true; do sleep 0.1; done"
  wait_until 10 logs_match "$name" '^ready$'
}

@test "stop sends SIGTERM: a container that handles it stops at once with its own status" {
  run_trapping polite TERM 7
  local t0=$SECONDS
  run_tug stop polite
  [[ $output == polite ]]
  ((SECONDS - t0 < 5))
  [[ $(inspect_f polite '{{.State.Status}} {{.State.ExitCode}}') == "exited 7" ]]
  logs_match polite '^got TERM$'
  run_tug ps -a --format '{{.Names}} {{.Status}}'
  assert_match '^polite Exited \(7\) '
}

@test "stop kills a container that ignores SIGTERM after -t seconds, and says so" {
  run_tug run -d --name stubborn busybox \
    sh -c 'trap "" TERM; echo ready; while true; do sleep 0.1; done'
  wait_until 10 logs_match stubborn '^ready$'
  local t0=$SECONDS
  run_tug stop -t 2 stubborn
  local took=$((SECONDS - t0))
  ((took >= 1 && took < 8))
  assert_match '^stubborn$'
  assert_match 'did not exit within 2 seconds'
  [[ $(inspect_f stubborn '{{.State.Status}} {{.State.ExitCode}}') == "exited 137" ]]
}

@test "--stop-signal chooses the signal stop sends; stop -s overrides it" {
  run_trapping usr1 USR1 5 --stop-signal USR1
  [[ $(inspect_f usr1 '{{.Config.StopSignal}}') == USR1 ]]
  run_tug stop usr1
  [[ $(inspect_f usr1 '{{.State.ExitCode}}') == 5 ]]
  logs_match usr1 '^got USR1$'

  run_trapping hup HUP 6
  run_tug stop -s HUP hup
  [[ $(inspect_f hup '{{.State.ExitCode}}') == 6 ]]
}

@test "kill sends SIGKILL; kill -s sends the named signal; a stopped container cannot be killed" {
  run_tug run -d --name target busybox \
    sh -c 'trap "echo got HUP" HUP; echo ready; while true; do sleep 0.1; done'
  wait_until 10 logs_match target '^ready$'
  run_tug kill -s HUP target
  [[ $output == target ]]
  wait_until 10 logs_match target '^got HUP$'
  status_is target running
  run_tug kill target
  wait_until 10 status_is target exited
  [[ $(inspect_f target '{{.State.ExitCode}}') == 137 ]]
  run_tug 1 kill target
  assert_match 'is not running'
}

@test "restart runs the command again in the same container" {
  run_tug run -d --name again busybox \
    sh -c 'echo started; trap "exit 0" TERM; while true; do sleep 0.1; done'
  local id=$output
  wait_until 10 logs_match again '^started$'
  local pid1
  pid1=$(inspect_f again '{{.State.Pid}}')
  run_tug restart again
  [[ $output == again ]]
  wait_until 10 eval '[[ $("$TUG" logs again | grep -c "^started$") -eq 2 ]]'
  [[ $(inspect_f again '{{.Id}} {{.State.Status}}') == "$id running" ]]
  [[ $(inspect_f again '{{.State.Pid}}') != "$pid1" ]]
  gone "$pid1"
  # an exited container restarts too
  run_tug stop again
  run_tug restart again
  status_is again running
}

@test "rm refuses a running container without -f; rm -f kills and removes it" {
  run_tug run -d --name busy busybox sleep 60
  local id=$output pid
  pid=$(inspect_f busy '{{.State.Pid}}')
  run_tug 1 rm busy
  assert_match "You cannot remove a running container $id. Stop the container before attempting removal or force remove"
  status_is busy running
  run_tug rm -f busy
  [[ $output == busy ]]
  no_containers_left
  wait_until 10 gone "$pid"
}

@test "rm removes a stopped container; an unknown one is an error" {
  run_tug run --name done busybox true
  run_tug rm done
  [[ $output == done ]]
  no_containers_left
  run_tug 1 rm nosuch
  assert_match 'No such container: nosuch'
}

@test "wait blocks until the container exits and prints its exit code" {
  run_tug run -d --name slow busybox sh -c 'sleep 1; exit 42'
  run_tug run -d --name quick busybox sh -c 'exit 3'
  local t0=$SECONDS
  run_tug wait slow quick
  [[ ${lines[0]} == 42 && ${lines[1]} == 3 && ${#lines[@]} -eq 2 ]]
  ((SECONDS - t0 < 10))
  status_is slow exited
  # an exited container: at once
  run_tug wait slow
  [[ $output == 42 ]]
  run_tug 1 wait nosuch
  assert_match 'No such container: nosuch'
}

@test "rename gives a container a new name and frees the old one; a taken name is refused" {
  run_tug create --name old busybox true
  local id=$output
  run_tug rename old new
  [[ $(inspect_f new '{{.Id}} {{.Name}}') == "$id /new" ]]
  run_tug ps -a --format '{{.Names}}'
  [[ $output == new ]]
  run_tug create --name old busybox true
  run_tug 1 rename old new
  assert_match 'The container name "/new" is already in use'
  run_tug ps -a --format '{{.Names}}'
  [[ $(sort <<<"$output" | tr '\n' ' ') == "new old " ]]
}

@test "rename to the container's own name is refused" {
  run_tug create --name same busybox true
  run_tug 1 rename same same
  assert_match 'Renaming a container with the same name as its current name'
}

@test "pause freezes every process; ps and inspect show it; unpause resumes" {
  run_tug run -d --name ticker busybox sh -c 'i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done'
  wait_until 10 logs_match ticker '^3$'
  run_tug pause ticker
  [[ $output == ticker ]]
  run_tug ps --format '{{.Names}}|{{.Status}}'
  assert_match '^ticker\|Up .* \(Paused\)$'
  run_tug ps
  assert_match ' Up .* \(Paused\) +ticker$'
  [[ $(inspect_f ticker '{{.State.Status}} {{.State.Paused}} {{.State.Running}}') == "paused true true" ]]
  local n1 n2
  sleep 0.3
  n1=$("$TUG" logs ticker | wc -l)
  sleep 1
  n2=$("$TUG" logs ticker | wc -l)
  [[ $n1 -eq $n2 ]]
  run_tug 1 pause ticker
  assert_match 'is already paused'
  run_tug unpause ticker
  [[ $output == ticker ]]
  [[ $(inspect_f ticker '{{.State.Status}} {{.State.Paused}}') == "running false" ]]
  run_tug ps --format '{{.Status}}'
  refute_match 'Paused'
  wait_until 10 eval '(($("$TUG" logs ticker | wc -l) > n2 + 3))'
  run_tug 1 unpause ticker
  assert_match 'is not paused'
}

@test "container prune removes every container that is not running" {
  run_tug run -d --name up busybox sleep 60
  run_tug run --name exited1 busybox true
  local e1
  e1=$(inspect_f exited1 '{{.Id}}')
  run_tug 2 run --name exited2 busybox sh -c 'exit 2'
  run_tug create --name fresh busybox true
  run_tug container prune -f
  assert_match '^Deleted Containers:$'
  assert_match "^$e1$"
  assert_match '^Total reclaimed space: '
  run_tug ps -a --format '{{.Names}}'
  [[ $output == up ]]
}

@test "restart policy on-failure:2 restarts a failing container twice, then leaves it exited" {
  run_tug run -d --name flaky --restart on-failure:2 busybox sh -c 'echo run; exit 1'
  wait_until 30 eval '[[ $(inspect_f flaky "{{.State.Status}} {{.RestartCount}}") == "exited 2" ]]'
  [[ $(inspect_f flaky '{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}') == "on-failure 2" ]]
  sleep 1.5
  [[ $(inspect_f flaky '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}') == "exited 2 1" ]]
  [[ $("$TUG" logs flaky | grep -c '^run$') -eq 3 ]]
}

@test "restart policy on-failure does not restart a container that succeeds" {
  run_tug run -d --name fine --restart on-failure busybox true
  wait_until 10 status_is fine exited
  sleep 1
  [[ $(inspect_f fine '{{.State.Status}} {{.RestartCount}}') == "exited 0" ]]
}

@test "restart policy always restarts a container until it is stopped" {
  run_tug run -d --name phoenix --restart always busybox sh -c 'echo run; sleep 0.2'
  wait_until 30 eval '(($(inspect_f phoenix "{{.RestartCount}}") >= 2))'
  run_tug stop phoenix
  wait_until 10 status_is phoenix exited
  local count
  count=$(inspect_f phoenix '{{.RestartCount}}')
  sleep 2
  [[ $(inspect_f phoenix '{{.State.Status}} {{.RestartCount}}') == "exited $count" ]]
  run_tug ps --format '{{.Names}}'
  [[ -z $output ]]
}

@test "--restart with --rm is refused" {
  run_tug 125 run --rm --restart always busybox true
  assert_match 'Conflicting options: --restart and --rm'
  no_containers_left
}
