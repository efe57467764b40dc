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
  assert_output polite
  ((SECONDS - t0 < 5))
  assert_inspect polite '{{.State.Status}} {{.State.ExitCode}}' "exited 7"
  logs_match polite '^got TERM$'
  run_tug ps -a --format '{{.Names}} {{.Status}}'
  assert_match '^polite Exited \(7\) '
}

@test "stop kills a container that ignores SIGTERM after -t seconds, and says so with -D" {
  run_tug run -d --name stubborn busybox \
    sh -c 'trap "" TERM; echo ready; while true; do sleep 0.1; done'
  wait_until 10 logs_match stubborn '^ready$'
  local t0=$SECONDS
  run_tug -D stop -t 2 stubborn
  local took=$((SECONDS - t0))
  ((took >= 1 && took < 8))
  assert_match '^stubborn$'
  assert_match 'did not exit within 2 seconds'
  assert_inspect stubborn '{{.State.Status}} {{.State.ExitCode}}' "exited 137"
}

@test "--stop-signal chooses the signal stop sends; stop -s overrides it" {
  run_trapping usr1 USR1 5 --stop-signal USR1
  assert_inspect usr1 '{{.Config.StopSignal}}' USR1
  run_tug stop usr1
  assert_inspect usr1 '{{.State.ExitCode}}' 5
  logs_match usr1 '^got USR1$'

  run_trapping hup HUP 6
  run_tug stop -s HUP hup
  assert_inspect hup '{{.State.ExitCode}}' 6
}

@test "kill sends SIGKILL; kill -s sends the named signal; a stopped container cannot be killed" {
  run_tug run -d --name target busybox \
    sh -c 'trap "echo got HUP" HUP; echo ready; while true; do sleep 0.1; done'
  wait_until 10 logs_match target '^ready$'
  run_tug kill -s HUP target
  assert_output target
  wait_until 10 logs_match target '^got HUP$'
  status_is target running
  run_tug kill target
  wait_until 10 status_is target exited
  assert_inspect target '{{.State.ExitCode}}' 137
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
  assert_output again
  wait_until 10 eval '[[ $("$TUG" logs again | grep -c "^started$") -eq 2 ]]'
  assert_inspect again '{{.Id}} {{.State.Status}}' "$id running"
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
  assert_output busy
  no_containers_left
  wait_until 10 gone "$pid"
}

@test "rm removes a stopped container; an unknown one is an error" {
  run_tug run --name done busybox true
  run_tug rm done
  assert_output done
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
  assert_output 42
  run_tug 1 wait nosuch
  assert_match 'No such container: nosuch'
}

@test "wait on a running --rm container prints its exit code, then it is gone" {
  run_tug run -d --rm busybox sh -c 'sleep 1; exit 3'
  local id=$output
  run_tug wait "$id"
  assert_output 3
  wait_until 10 no_containers_left
}

@test "rename gives a container a new name and frees the old one; a taken name is refused" {
  run_tug create --name old busybox true
  local id=$output
  run_tug rename old new
  assert_inspect new '{{.Id}} {{.Name}}' "$id /new"
  run_tug ps -a --format '{{.Names}}'
  assert_output new
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
  assert_output ticker
  run_tug ps --format '{{.Names}}|{{.Status}}'
  assert_match '^ticker\|Up .* \(Paused\)$'
  run_tug ps
  assert_match ' Up .* \(Paused\) +ticker$'
  assert_inspect ticker '{{.State.Status}} {{.State.Paused}} {{.State.Running}}' "paused true true"
  local n1 n2
  sleep 0.3
  n1=$("$TUG" logs ticker | wc -l)
  sleep 1
  n2=$("$TUG" logs ticker | wc -l)
  [[ $n1 -eq $n2 ]]
  run_tug 1 pause ticker
  assert_match 'is already paused'
  run_tug unpause ticker
  assert_output ticker
  assert_inspect ticker '{{.State.Status}} {{.State.Paused}}' "running false"
  run_tug ps --format '{{.Status}}'
  refute_match 'Paused'
  wait_until 10 eval '(($("$TUG" logs ticker | wc -l) > n2 + 3))'
  run_tug 1 unpause ticker
  assert_match 'is not paused'
}

@test "kill ends a paused container" {
  run_tug run -d --name frozen busybox sleep 60
  local pid
  pid=$(inspect_f frozen '{{.State.Pid}}')
  run_tug pause frozen
  run_tug kill frozen
  wait_until 10 status_is frozen exited
  assert_inspect frozen '{{.State.ExitCode}} {{.State.Paused}}' "137 false"
  wait_until 10 gone "$pid"
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
  assert_output up
}

@test "restart policy on-failure:2 restarts a failing container twice, then leaves it exited" {
  run_tug run -d --name flaky --restart on-failure:2 busybox sh -c 'echo run; exit 1'
  wait_until 30 eval '[[ $(inspect_f flaky "{{.State.Status}} {{.RestartCount}}") == "exited 2" ]]'
  assert_inspect flaky '{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}' "on-failure 2"
  sleep 1.5
  assert_inspect flaky '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}' "exited 2 1"
  [[ $("$TUG" logs flaky | grep -c '^run$') -eq 3 ]]
}

@test "restart policy on-failure does not restart a container that succeeds" {
  run_tug run -d --name fine --restart on-failure busybox true
  wait_until 10 status_is fine exited
  sleep 1
  assert_inspect fine '{{.State.Status}} {{.RestartCount}}' "exited 0"
}

@test "restart policy always restarts a container until it is stopped" {
  run_tug run -d --name phoenix --restart always busybox sh -c 'echo run; sleep 0.2'
  wait_until 30 eval '(($(inspect_f phoenix "{{.RestartCount}}") >= 2))'
  run_tug stop phoenix
  wait_until 10 status_is phoenix exited
  local count
  count=$(inspect_f phoenix '{{.RestartCount}}')
  sleep 2
  assert_inspect phoenix '{{.State.Status}} {{.RestartCount}}' "exited $count"
  run_tug ps --format '{{.Names}}'
  [[ -z $output ]]
}

@test "--restart with --rm is refused" {
  run_tug 125 run --rm --restart always busybox true
  assert_match 'Conflicting options: --restart and --rm'
  no_containers_left
}

@test "exec runs a command in a running container and exits with its status" {
  run_tug run -d --name box busybox sleep 60
  run_tug exec box sh -c 'echo $$; cat /etc/hostname'
  [[ ${lines[0]} != 1 ]]
  [[ ${lines[1]} == $(inspect_f box '{{.Id}}' | cut -c1-12) ]]
  run_tug 9 exec box sh -c 'exit 9'
  run_tug 126 exec box nosuchcmd
  assert_match 'executable file not found'
  run_tug 126 exec box /etc/motd
  run_tug run --name stopped busybox true
  run_tug 1 exec stopped true
  assert_match 'is not running'
}

@test "exec -e, -w and -u set the exec'd command's environment, directory and user" {
  run_tug run -d --name box -e FROM_RUN=1 busybox sleep 60
  run_tug exec -e FOO=bar box sh -c 'echo $FOO $FROM_RUN'
  assert_output "bar 1"
  run_tug exec -w /tmp box pwd
  assert_output /tmp
  run_tug exec -u nobody box id
  assert_output "uid=65534(nobody) gid=65534(nogroup)"
}

@test "exec -d returns at once; the command goes on in the container" {
  run_tug run -d --name box busybox sleep 60
  # the command waits for a file that only appears after exec -d has returned
  run_tug exec -d box sh -c 'while [ ! -e /tmp/go ]; do sleep 0.1; done; touch /tmp/done'
  assert_output ""
  run timeout 5 "$TUG" exec box test -e /tmp/done
  [[ $status -eq 1 ]]
  run_tug exec box touch /tmp/go
  wait_until 10 timeout 5 "$TUG" exec box test -e /tmp/done
}
