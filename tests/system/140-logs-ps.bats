#!/usr/bin/env bats
# logs (streams, --tail, -t, -f, --since/--until, rotation) and ps (columns, flags, filters,
# formats), and what ps says when a container's monitor is killed.

load containers

setup_file() { containers_setup_file; }

# tug_streams ARGS...: run tug; its stdout goes to $out, its stderr to $err
tug_streams() {
  timeout 60 "$TUG" "$@" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
  out=$(<"$BATS_TEST_TMPDIR/out") err=$(<"$BATS_TEST_TMPDIR/err")
}

@test "logs keeps the container's stdout and stderr apart" {
  run_tug run --name talk busybox sh -c 'echo to-out; echo to-err >&2; echo more-out'
  tug_streams logs talk
  [[ $out == $'to-out\nmore-out' ]]
  [[ $err == to-err ]]
}

@test "logs --tail N shows the last N lines" {
  run_tug run --name count busybox seq 10
  run_tug logs --tail 3 count
  assert_output $'8\n9\n10'
  run_tug logs --tail 0 count
  assert_output ""
  run_tug logs --tail all count
  [[ ${#lines[@]} -eq 10 ]]
}

@test "logs -t prefixes each line with its RFC 3339 time" {
  run_tug run --name stamp busybox sh -c 'echo one; echo two'
  run_tug logs -t stamp
  [[ ${#lines[@]} -eq 2 ]]
  [[ ${lines[0]} =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z\ one$ ]]
  [[ ${lines[1]} =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z\ two$ ]]
  # the time is now, give or take a minute
  local t
  t=$(date -u -d "${lines[0]%% *}" +%s)
  ((t > $(date +%s) - 60 && t <= $(date +%s) + 1))
}

@test "logs -f prints lines as they come and returns when the container exits" {
  run_tug run -d --name slowtalk busybox sh -c 'echo first; sleep 1.5; echo second; sleep 0.5'
  wait_until 10 logs_match slowtalk '^first$'
  local t0=$SECONDS
  run_tug logs -f slowtalk
  assert_output $'first\nsecond'
  ((SECONDS - t0 >= 1))
  status_is slowtalk exited
}

@test "logs -f stays until the container exits, printing what comes" {
  run_tug run -d --name forever busybox sh -c 'echo a; sleep 60'
  wait_until 10 logs_match forever '^a$'
  run timeout 2 "$TUG" logs -f forever
  [[ $status -eq 124 ]]   # timeout's: logs was still following
  assert_output a
}

@test "logs --since and --until select lines by time" {
  run_tug run -d --name timed busybox sh -c 'echo early; sleep 2; echo late'
  wait_until 10 logs_match timed '^early$'
  sleep 1
  local middle
  middle=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
  run_tug wait timed
  run_tug logs --since "$middle" timed
  assert_output late
  run_tug logs --until "$middle" timed
  assert_output early
  run_tug logs --since 1h timed
  assert_output $'early\nlate'
  run_tug logs --since 2099-01-01T00:00:00Z timed
  assert_output ""
}

@test "log rotation: --log-opt max-size=1k max-file=2 keeps at most two files of about 1k" {
  run_tug run --name chatty --log-opt max-size=1k --log-opt max-file=2 busybox \
    sh -c 'i=0; while [ $i -lt 500 ]; do echo "line $i ................................"; i=$((i+1)); done'
  local dir
  dir=$(dirname "$(inspect_f chatty '{{.LogPath}}')")
  local files
  files=$(ls "$dir" | grep -c -- '-json\.log')
  echo "log files: $(ls -l "$dir" | grep -- '-json\.log')" >&2
  ((files >= 1 && files <= 2))
  local f
  for f in "$dir"/*-json.log*; do
    (($(stat -c %s "$f") <= 1024 + 200))
  done
  run_tug logs --tail 1 chatty
  assert_output "line 499 ................................"
}

@test "ps lists running containers under docker's columns" {
  run_tug run -d --name web busybox sleep 60
  local id=$output
  run_tug create --name idle busybox true
  run_tug ps
  [[ ${lines[0]} =~ ^CONTAINER\ ID\ +IMAGE\ +COMMAND\ +CREATED\ +STATUS\ +PORTS\ +NAMES$ ]]
  [[ ${#lines[@]} -eq 2 ]]
  [[ ${lines[1]} =~ ^${id:0:12}\ +busybox\ +\"sleep\ 60\"\ +(Less\ than\ a\ second|[0-9]+\ seconds?)\ ago\ +Up\ .+\ +web$ ]]
  # the columns line up under their headings
  local h=${lines[0]} r=${lines[1]} col
  for col in IMAGE COMMAND CREATED STATUS; do
    local before=${h%%"$col"*}
    [[ ${r:${#before}:1} != ' ' && ${r:$((${#before} - 1)):1} == ' ' ]]
  done
}

@test "ps -a adds stopped containers; -q prints only IDs; --no-trunc prints full IDs" {
  run_tug run -d --name up busybox sleep 60
  local up=$output
  run_tug run --name down busybox true
  local down
  down=$(inspect_f down '{{.Id}}')
  run_tug ps -q
  assert_output "${up:0:12}"
  run_tug ps -aq
  [[ ${#lines[@]} -eq 2 ]]
  assert_match "^${down:0:12}$"
  run_tug ps -aq --no-trunc
  assert_match "^$up$"
  assert_match "^$down$"
  run_tug ps -a --no-trunc
  assert_match "^$up +busybox +\"sleep 60\" "
}

@test "ps -l shows the latest container, -n N the N latest" {
  local name
  for name in first second third; do run_tug create --name $name busybox true; done
  run_tug ps -l --format '{{.Names}}'
  assert_output third
  run_tug ps -n 2 --format '{{.Names}}'
  assert_output $'third\nsecond'
  run_tug ps -a --format '{{.Names}}'
  assert_output $'third\nsecond\nfirst'
}

# ps_names ARGS...: `ps -a ARGS`; $output is the names, sorted, on one line
ps_names() {
  run_tug ps -a --format '{{.Names}}' "$@"
  output=$(sort <<<"$output" | xargs)
}

@test "ps --filter selects by status, name, label, ancestor, exit code and id" {
  run_tug run -d --name web-1 -l app=web busybox sleep 60
  local web1=$output
  run_tug 3 run --name job-1 -l app=batch busybox sh -c 'exit 3'
  run_tug run --name job-2 busybox true
  run_tug create --name new-1 busybox true
  ps_names --filter status=exited
  assert_output "job-1 job-2"
  ps_names --filter status=running
  assert_output "web-1"
  ps_names --filter status=created
  assert_output "new-1"
  ps_names --filter name=job
  assert_output "job-1 job-2"
  ps_names --filter label=app
  assert_output "job-1 web-1"
  ps_names --filter label=app=web
  assert_output "web-1"
  ps_names --filter exited=3
  assert_output "job-1"
  ps_names --filter exited=0
  assert_output "job-2"
  ps_names --filter ancestor=busybox
  assert_output "job-1 job-2 new-1 web-1"
  ps_names --filter ancestor=$REGISTRY/busybox
  assert_output "job-1 job-2 new-1 web-1"
  ps_names --filter id=${web1:0:8}
  assert_output "web-1"
  # filters on different keys must all match
  ps_names --filter name=job --filter exited=3
  assert_output "job-1"
  run_tug '?' ps --filter nosuchkey=1
  [[ $status -ne 0 ]]
  assert_match 'nosuchkey'
}

@test "ps --format prints the fields asked for" {
  run_tug run -d --name fmt -l k=v busybox sleep 60
  local id=$output
  run_tug ps --format '{{.Names}}'
  assert_output fmt
  run_tug ps --format '{{.ID}}|{{.Image}}|{{.Command}}|{{.Labels}}'
  assert_output "${id:0:12}|busybox|\"sleep 60\"|k=v"
  run_tug ps --format 'table {{.Names}}\t{{.Image}}'
  [[ ${lines[0]} =~ ^NAMES\ +IMAGE$ && ${lines[1]} =~ ^fmt\ +busybox$ ]]
}

@test "ps -s adds the size a container wrote and its image's" {
  run_tug run -d --name writer busybox sh -c 'head -c 1048576 /dev/zero >/big; sleep 60'
  wait_until 10 eval 'timeout 5 "$TUG" top writer | grep -q "sleep 60"'
  run_tug ps -s
  [[ ${lines[0]} =~ NAMES\ +SIZE$ ]]
  assert_match ' writer +1\.05MB \(virtual [0-9.]+MB\)$'
}

@test "container ls and container ps are ps" {
  run_tug run -d --name alias busybox sleep 60
  # every column but the ones that tell time, which may tick between the calls
  local f='{{.ID}} {{.Image}} {{.Command}} {{.State}} {{.Ports}} {{.Names}}'
  run_tug ps -a --format "$f"
  local expect=$output
  assert_match " alias$"
  run_tug container ls -a --format "$f"
  [[ $output == "$expect" ]]
  run_tug container ps -a --format "$f"
  [[ $output == "$expect" ]]
  run_tug container ls -a
  [[ ${lines[0]} =~ ^CONTAINER\ ID\ +IMAGE\ +COMMAND\ +CREATED\ +STATUS\ +PORTS\ +NAMES$ ]]
}

@test "a container outlives its killed monitor; ps still says Up; rm -f then leaves nothing" {
  run_tug run -d --name orphan busybox sleep 60
  local id=$output mon pid
  mon=$(pgrep -f "tug-monitor --id $id")
  pid=$(inspect_f orphan '{{.State.Pid}}')
  [[ -n $mon && -n $pid ]]
  kill -9 $mon
  wait_until 10 gone "$mon"
  sleep 0.5
  alive "$pid"
  run_tug ps --format '{{.Names}} {{.Status}}'
  assert_match '^orphan Up '
  assert_inspect orphan '{{.State.Status}} {{.State.Pid}}' "running $pid"
  run_tug rm -f orphan
  assert_output orphan
  no_containers_left
  wait_until 10 gone "$pid"
  local c
  for c in /sys/fs/cgroup/*/tug/$id; do
    [[ ! -e $c ]] || { echo "cgroup left: $c" >&2; false; }
  done
  run grep -c "$id" /proc/self/mountinfo
  assert_output 0
}
