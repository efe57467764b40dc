#!/usr/bin/env bats
# Health checks (--health-* flags, HEALTHCHECK in an image): the monitor runs each probe inside
# the container as exec does; inspect's State.Health, ps's STATUS and --filter health=.

load containers
load build

setup_file() { containers_setup_file; }

health_is() { [[ $(inspect_f "$1" '{{.State.Health.Status}}') == "$2" ]]; }
streak_at_least() { (($(inspect_f "$1" '{{.State.Health.FailingStreak}}') >= $2)); }
log_count() { inspect_f "$1" '{{len .State.Health.Log}}'; }
# no_health CONTAINER: inspect's State has no Health (docker leaves it out: no check to run)
no_health() {
  local st
  st=$(inspect_f "$1" '{{json .State}}')
  [[ -n $st && $st != *'"Health"'* ]] || { echo "State of $1: $st"; return 1; }
}

@test "a passing check makes the container healthy; ps shows it and filters on it" {
  run_tug run -d --name ok --health-cmd 'echo fine' --health-interval 1s busybox sleep 300
  run_tug ps --format '{{.Status}}' --filter name=ok
  [[ $output =~ ^Up\ .*\ \(health:\ starting\)$ ]] || { echo "status: $output"; false; }
  assert_inspect ok '{{json .State.Health}}' '{"Status":"starting","FailingStreak":0,"Log":[]}'
  run_tug ps --format '{{.Names}}' --filter health=starting
  assert_output ok
  wait_until 20 health_is ok healthy
  run_tug ps --format '{{.Status}}' --filter name=ok
  [[ $output =~ ^Up\ .*\ \(healthy\)$ ]] || { echo "status: $output"; false; }
  assert_inspect ok '{{.State.Health.FailingStreak}}' 0
  assert_inspect ok '{{(index .State.Health.Log 0).ExitCode}}' 0
  assert_inspect ok '{{json (index .State.Health.Log 0).Output}}' '"fine\n"'
  assert_inspect ok '{{json .Config.Healthcheck}}' \
    '{"Test":["CMD-SHELL","echo fine"],"Interval":1000000000}'
  run_tug run -d --name plain busybox sleep 300
  run_tug ps --format '{{.Names}}' --filter health=healthy
  assert_output ok
  run_tug ps --format '{{.Names}}' --filter health=none
  assert_output plain
  run_tug ps --format '{{.Names}}' --filter health=unhealthy
  assert_output ''
  run_tug ps --format '{{.Status}}' --filter name=plain
  [[ $output =~ ^Up\ [^\(]*$ ]] || { echo "status: $output"; false; }
  no_health plain
  # docker keeps the first 4096 bytes of a probe's output
  run_tug run -d --name big --health-cmd 'head -c 5000 /dev/zero | tr "\\0" a' \
    --health-interval 1s busybox sleep 300
  wait_until 20 health_is big healthy
  assert_inspect big '{{len (index .State.Health.Log 0).Output}}' 4096
  run_tug 1 ps --filter health=sick
  assert_match 'Unrecognised filter value for health: sick'
}

@test "a failing check turns unhealthy after --health-retries; inspect keeps the last 5 results" {
  run_tug run -d --name bad --health-cmd 'echo broken >&2; exit 3' --health-interval 1s \
    --health-retries 2 busybox sleep 300
  wait_until 20 health_is bad unhealthy
  run_tug ps --format '{{.Status}}' --filter name=bad
  [[ $output =~ ^Up\ .*\ \(unhealthy\)$ ]] || { echo "status: $output"; false; }
  run_tug ps --format '{{.Names}}' --filter health=unhealthy
  assert_output bad
  # 2 failures made it unhealthy; the log holds each, stderr included
  streak_at_least bad 2
  assert_inspect bad '{{(index .State.Health.Log 0).ExitCode}}' 3
  assert_inspect bad '{{json (index .State.Health.Log 0).Output}}' '"broken\n"'
  wait_until 30 streak_at_least bad 6
  [[ $(log_count bad) == 5 ]] || { echo "log entries: $(log_count bad)"; false; }
  # the times of a result are Go's RFC 3339
  [[ $(inspect_f bad '{{(index .State.Health.Log 0).Start}}') =~ ^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$ ]]
}

@test "a probe that outlives --health-timeout is killed and counts as a failure" {
  run_tug run -d --name slow --health-cmd 'exec sleep 100' --health-timeout 1s \
    --health-interval 1s --health-retries 1 busybox sleep 300
  wait_until 20 health_is slow unhealthy
  assert_inspect slow '{{(index .State.Health.Log 0).ExitCode}}' -1
  assert_inspect slow '{{(index .State.Health.Log 0).Output}}' 'Health check exceeded timeout (1s)'
  # the probe is gone from the container: only its own sleep is left (and the ps below)
  run_tug exec slow ps -o args
  refute_match 'sleep 100'
  assert_match 'sleep 300'
  # one that closed its stdio and runs on is timed out the same
  run_tug run -d --name quiet --health-cmd 'exec sleep 100 >/dev/null 2>&1' \
    --health-timeout 1s --health-interval 1s --health-retries 1 busybox sleep 300
  wait_until 20 health_is quiet unhealthy
  assert_inspect quiet '{{(index .State.Health.Log 0).Output}}' 'Health check exceeded timeout (1s)'
  run_tug exec quiet ps -o args
  refute_match 'sleep 100'
}

@test "inside --health-start-period failures do not count, and probes come every --health-start-interval" {
  # the default interval (30s) would give no second result within the bound below
  run_tug run -d --name warm --health-cmd false --health-start-period 60s \
    --health-start-interval 1s --health-retries 1 busybox sleep 300
  log_at_least() { (($(log_count warm) >= 2)); }
  wait_until 20 log_at_least
  assert_inspect warm '{{.State.Health.Status}}' starting
  assert_inspect warm '{{.State.Health.FailingStreak}}' 0
  assert_inspect warm '{{(index .State.Health.Log 0).ExitCode}}' 1
  # a pass inside the start period makes it healthy at once
  run_tug run -d --name quick --health-cmd true --health-start-period 60s \
    --health-start-interval 1s busybox sleep 300
  wait_until 20 health_is quick healthy
}

@test "a stopped container keeps its log and is unhealthy; a new start begins again" {
  run_tug run -d --name st --health-cmd true --health-interval 1s busybox sleep 300
  wait_until 20 health_is st healthy
  # paused: not probed, unhealthy as docker says once its monitor stopped; ps says Paused
  run_tug pause st
  assert_inspect st '{{.State.Health.Status}}' unhealthy
  run_tug ps --format '{{.Status}}' --filter name=st
  [[ $output =~ ^Up\ .*\ \(Paused\)$ ]] || { echo "status: $output"; false; }
  run_tug unpause st
  wait_until 20 health_is st healthy
  run_tug stop -t 1 st
  assert_inspect st '{{.State.Health.Status}}' unhealthy
  [[ $(log_count st) -ge 1 ]]
  run_tug ps -a --format '{{.Status}}' --filter name=st
  [[ $output =~ ^Exited\ \(137\) ]] || { echo "status: $output"; false; }
  run_tug start st
  assert_inspect st '{{.State.Health.Status}}' starting
  [[ $(log_count st) -ge 1 ]]
  wait_until 20 health_is st healthy
  # never started: no health state yet, as docker
  run_tug create --name fresh --health-cmd true busybox
  no_health fresh
}

@test "an image's HEALTHCHECK is run; flags override its fields; --no-healthcheck and NONE disable it" {
  ctx
  printf 'FROM busybox\nHEALTHCHECK --interval=1s --retries=4 CMD echo from-image\n' >"$CTX/Dockerfile"
  build -t checked "$CTX"
  run_tug run -d --name img checked sleep 300
  assert_inspect img '{{json .Config.Healthcheck}}' \
    '{"Test":["CMD-SHELL","echo from-image"],"Interval":1000000000,"Retries":4}'
  wait_until 20 health_is img healthy
  assert_inspect img '{{json (index .State.Health.Log 0).Output}}' '"from-image\n"'
  # a flag replaces its field only
  run_tug create --name over --health-cmd 'echo mine' --health-retries 1 checked
  assert_inspect over '{{json .Config.Healthcheck}}' \
    '{"Test":["CMD-SHELL","echo mine"],"Interval":1000000000,"Retries":1}'
  run_tug run -d --name off --no-healthcheck checked sleep 300
  # docker merges the image's other fields under the NONE test as well
  assert_inspect off '{{json .Config.Healthcheck.Test}}' '["NONE"]'
  run_tug create --name bare --no-healthcheck busybox
  assert_inspect bare '{{json .Config.Healthcheck}}' '{"Test":["NONE"]}'
  no_health off
  run_tug ps --format '{{.Status}}' --filter name=off
  [[ $output =~ ^Up\ [^\(]*$ ]] || { echo "status: $output"; false; }
  # an image built on it with HEALTHCHECK NONE has none either
  printf 'FROM checked\nHEALTHCHECK NONE\n' >"$CTX/Dockerfile"
  build -t unchecked "$CTX"
  run_tug run -d --name none unchecked sleep 300
  no_health none
  run_tug ps --format '{{.Names}}' --filter health=none
  assert_match '^none$'
  assert_match '^off$'
}

@test "bad health flags: docker's errors, exit 125, nothing created" {
  run_tug 125 run --health-interval x busybox true
  assert_match 'invalid argument "x" for "--health-interval" flag: time: invalid duration "x"'
  run_tug 125 create --health-retries x busybox
  assert_match 'invalid argument "x" for "--health-retries" flag: strconv.ParseInt: parsing "x": invalid syntax'
  run_tug 125 run --health-timeout -1s busybox true
  assert_match '^tug: --health-timeout cannot be negative$'
  run_tug 125 run --health-retries -1 busybox true
  assert_match '^tug: --health-retries cannot be negative$'
  run_tug 125 run --health-start-period -2s busybox true
  assert_match '^tug: --health-start-period cannot be negative$'
  run_tug 125 run --no-healthcheck --health-cmd true busybox true
  assert_match '^tug: --no-healthcheck conflicts with --health-\* options$'
  run_tug 125 run --health-interval 1ns busybox true
  assert_match 'Interval in Healthcheck cannot be less than 1ms'
  no_containers_left
  run_tug run --help
  for f in health-cmd health-interval health-retries health-start-interval health-start-period \
    health-timeout no-healthcheck; do
    assert_match "^      --$f "
  done
}
