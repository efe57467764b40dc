#!/usr/bin/env bats
# The rest of a docker user's day (issue 11's last items): named templates, version's and info's
# template errors, system df -v's build cache table, exec events, the real-time CPU flags,
# --gpus, attach resizing a terminal, and logs keeping the order a container wrote in.
# The texts are docker 20.10's (CLI 28), checked beside it; where dockerd answers, the
# deterministic ones are compared with it live too.

load containers

setup_file() { containers_setup_file; }

# tug_streams ARGS...: run tug; its stdout goes to $out, its stderr to $err, its status to $rc
tug_streams() {
  rc=0
  timeout 60 "$TUG" "$@" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" </dev/null || rc=$?
  out=$(<"$BATS_TEST_TMPDIR/out") err=$(<"$BATS_TEST_TMPDIR/err")
}

# docker_answers: a dockerd to compare with (else the test skips its live comparison)
docker_answers() { timeout 20 docker info >/dev/null 2>&1; }

@test "--format takes define, template and block, with Go's errors" {
  run_tug create --name tpl busybox true
  run_tug inspect -f '{{define "n"}}<{{.}}>{{end}}{{template "n" .Name}}{{template "n" .Path}}' tpl
  assert_output '</tpl><true>'
  run_tug inspect -f '{{template "n" .Name}}{{define "n"}}({{.}}){{end}}' tpl
  assert_output '(/tpl)'
  run_tug inspect -f '{{block "b" .State.Status}}[{{.}}]{{end}}' tpl
  assert_output '[created]'
  run_tug ps -a --format '{{define "x"}}X{{.Names}}{{end}}{{template "x" .}}'
  assert_output 'Xtpl'
  run_tug 1 inspect -f '{{template "nope" .}}' tpl
  assert_output $'\ntemplate parsing error: template: :1:11: executing "" at <{{template "nope" .}}>: template "nope" not defined'
  run_tug 1 inspect -f '{{define "x"}}{{.Nope}}{{end}}{{template "x" .}}' tpl
  assert_output $'\ntemplate parsing error: template: :1:16: executing "x" at <.Nope>: map has no entry for key "Nope"'
  run_tug 64 inspect -f '{{define "x"}}A{{end}}{{define "x"}}B{{end}}' tpl
  assert_output 'template parsing error: template: :1: template: multiple definition of template "x"'
  run_tug 64 inspect -f '{{if 1}}{{define "x"}}A{{end}}{{end}}' tpl
  assert_output 'template parsing error: template: :1: unexpected <define> in command'
  run_tug 64 inspect -f '{{define x}}A{{end}}' tpl
  assert_output 'template parsing error: template: :1: unexpected "x" in define clause'
  run_tug 64 inspect -f '{{define "x"}}{{$y}}{{end}}{{$y := 1}}' tpl
  assert_output 'template parsing error: template: :1: undefined variable "$y"'
  run_tug 1 ps -a --format '{{template "nope" .}}'
  assert_output 'failed to execute template: template: :1:11: executing "" at <{{template "nope" .}}>: template "nope" not defined'
  run_tug rm tpl
}

@test "version and info --format name docker's types in their errors" {
  tug_streams version --format '{{.Nope}}'
  [[ $rc -eq 1 && $out == "" ]]
  [[ $err == 'template: version:1:2: executing "version" at <.Nope>: can'"'"'t evaluate field Nope in type system.versionInfo' ]]
  [[ $(od -An -c "$BATS_TEST_TMPDIR/out" | tr -d ' ') == '\n' ]]
  tug_streams version --format '{{.Client.Nope}}'
  [[ $rc -eq 1 && $err == *'at <.Client.Nope>: can'"'"'t evaluate field Nope in type system.clientVersion' ]]
  tug_streams version --format '{{.Server.Nope}}'
  [[ $rc -eq 1 && $err == *'in type *types.Version' ]]
  # what the template wrote before the error is printed
  tug_streams version --format '{{.Client.Os}} {{.Nope}}'
  [[ $rc -eq 1 && $out == 'linux ' && $err == 'template: version:1:17: executing "version" at <.Nope>: '* ]]
  tug_streams version --format '{{'
  [[ $rc -eq 64 && $out == "" && $err == 'template parsing error: template: version:1: unclosed action' ]]
  tug_streams info --format '{{.Nope}}'
  [[ $rc -eq 1 && $err == 'template: :1:2: executing "" at <.Nope>: can'"'"'t evaluate field Nope in type system.dockerInfo' ]]
  tug_streams info --format '{{.Plugins.Nope}}'
  [[ $rc -eq 1 && $err == *'can'"'"'t evaluate field Nope in type system.PluginsInfo' ]]
  tug_streams info --format '{{'
  [[ $rc -eq 64 && $err == 'template parsing error: template: :1: unclosed action' ]]
  run_tug info --format '{{json .Plugins.Volume}}'
  assert_output '["local"]'
}

@test "version and info template errors read as docker's (when dockerd answers)" {
  docker_answers || skip "no dockerd answers to compare with"
  local cmd f drc trc
  for cmd in version info; do
    for f in '{{.Nope}}' '{{.Client.Nope}}' '{{.Server.Nope}}' '{{' 'a{{.Nope}}' '{{.Plugins.Nope}}' \
      '{{define "x"}}{{.Nope}}{{end}}{{template "x" .}}' '{{template "x" .}}' '{{define x}}{{end}}'; do
      drc=0 trc=0
      timeout 30 docker $cmd --format "$f" >"$BATS_TEST_TMPDIR/d" 2>&1 || drc=$?
      timeout 30 "$TUG" $cmd --format "$f" >"$BATS_TEST_TMPDIR/t" 2>&1 || trc=$?
      cmp -s "$BATS_TEST_TMPDIR/d" "$BATS_TEST_TMPDIR/t" && [[ $drc -eq $trc ]] || {
        printf '%s %s\ndocker (%d):\n%s\ntug (%d):\n%s\n' "$cmd" "$f" $drc "$(<"$BATS_TEST_TMPDIR/d")" $trc "$(<"$BATS_TEST_TMPDIR/t")"
        false
      }
    done
  done
}

@test "--cpu-rt-period and --cpu-rt-runtime: listed, kept in HostConfig, written to the cgroup" {
  run_tug run --help
  assert_match '^      --cpu-rt-period int +Limit CPU real-time period in microseconds$'
  assert_match '^      --cpu-rt-runtime int +Limit CPU real-time runtime in microseconds$'
  run_tug update --help
  assert_match '^      --cpu-rt-period int +Limit the CPU real-time period in microseconds$'
  run_tug 125 create --cpu-rt-runtime abc busybox true
  assert_match '^invalid argument "abc" for "--cpu-rt-runtime" flag'
  if [[ ! -e /sys/fs/cgroup/cpu/cpu.rt_period_us ]]; then
    # no real-time group scheduling in this cgroup hierarchy (v2): docker's refusal
    run_tug 125 create --cpu-rt-period 900000 busybox true
    assert_output 'Error: Your kernel does not support cgroup cpu real-time period'
    return
  fi
  run_tug 125 create --cpu-rt-period 1000000 --cpu-rt-runtime 2000000 busybox true
  assert_output 'Error: cpu real-time runtime cannot be higher than cpu real-time period'
  run_tug create --name rt --cpu-rt-period 900000 busybox sleep 100
  assert_inspect rt '{{.HostConfig.CpuRealtimePeriod}} {{.HostConfig.CpuRealtimeRuntime}}' '900000 0'
  run_tug start rt
  local id
  id=$(inspect_f rt '{{.Id}}')
  [[ $(</sys/fs/cgroup/cpu/tug/$id/cpu.rt_period_us) == 900000 ]]
  run_tug update --cpu-rt-period 800000 rt
  [[ $(</sys/fs/cgroup/cpu/tug/$id/cpu.rt_period_us) == 800000 ]]
  assert_inspect rt '{{.HostConfig.CpuRealtimePeriod}}' '800000'
  run_tug rm -f rt
  # a runtime the parent group does not have: the kernel refuses it at start (docker: 125 too)
  if [[ $(cat /sys/fs/cgroup/cpu/tug/cpu.rt_runtime_us 2>/dev/null) == 0 ]]; then
    run_tug 125 run --rm --cpu-rt-runtime 1000 busybox true
    assert_match 'write 1000 to cpu.rt_runtime_us: invalid argument'
  fi
}

@test "--gpus is read as docker reads it; with no GPU driver the container cannot start" {
  run_tug run --help
  assert_match "^      --gpus gpu-request +GPU devices to add to the container \('all' to pass all GPUs\)$"
  run_tug create --name gp --gpus all busybox true
  assert_inspect gp '{{json .HostConfig.DeviceRequests}}' '[{"Driver":"","Count":-1,"DeviceIDs":null,"Capabilities":[["gpu"]],"Options":{}}]'
  run_tug 125 start gp
  assert_match 'could not select device driver "" with capabilities: \[\[gpu\]\]$'
  run_tug rm gp
  run_tug 125 run --gpus count=2,capabilities=utility busybox true
  assert_match 'could not select device driver "" with capabilities: \[\[utility gpu\]\]$'
  run_tug 125 create --gpus bogus busybox true
  assert_match '^invalid argument "bogus" for "--gpus" flag: invalid count \(bogus\): value must be either "all" or an integer: invalid syntax$'
  run_tug 125 create --gpus foo=1 busybox true
  assert_match "^invalid argument \"foo=1\" for \"--gpus\" flag: unexpected key 'foo' in 'foo=1'$"
  run_tug 125 create --gpus '' busybox true
  assert_match '^invalid argument "" for "--gpus" flag: EOF$'
}

@test "--gpus requests are docker's, and so is the failed run's status (when dockerd answers)" {
  docker_answers || skip "no dockerd answers to compare with"
  timeout 60 docker image inspect busybox >/dev/null 2>&1 || skip "docker has no busybox image"
  local g did theirs ours drc=0
  for g in all 2 device=0,1 '"device=0,1"' count=2,capabilities=utility driver=nvidia,count=1; do
    did=$(timeout 30 docker create --gpus "$g" busybox true) || { echo "docker create --gpus $g failed"; false; }
    theirs=$(timeout 30 docker inspect -f '{{json .HostConfig.DeviceRequests}}' "$did") || true
    timeout 30 docker rm "$did" >/dev/null
    run_tug create --name gp --gpus "$g" busybox true
    ours=$(inspect_f gp '{{json .HostConfig.DeviceRequests}}')
    run_tug rm gp
    [[ $ours == "$theirs" ]] || { printf '%s\ntug:    %s\ndocker: %s\n' "$g" "$ours" "$theirs"; false; }
  done
  timeout 30 docker run --name "tug-610-gpus-$$" --network none --gpus all busybox true 2>"$BATS_TEST_TMPDIR/derr" || drc=$?
  timeout 30 docker rm "tug-610-gpus-$$" >/dev/null 2>&1 || true
  run_tug "$drc" run --gpus all busybox true
  grep -qF 'could not select device driver "" with capabilities: [[gpu]]' "$BATS_TEST_TMPDIR/derr"
  assert_match 'could not select device driver "" with capabilities: \[\[gpu\]\]$'
}

@test "system df -v lists the build cache entry by entry, with docker's columns" {
  run_tug system df -v
  [[ $output == *$'\nBuild cache usage: 0B\n\nCACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED' ]]
  local ctx=$BATS_TEST_TMPDIR/ctx
  mkdir -p "$ctx"
  printf 'FROM busybox\nRUN echo hi >/x\nRUN --mount=type=cache,target=/c echo abc >/c/a\n' >"$ctx/Dockerfile"
  run_tug build -q -t bc "$ctx"
  run_tug system df -v
  local section
  section=$(sed -n '/^Build cache usage: /,$p' <<<"$output")
  [[ $(sed -n 1p <<<"$section") =~ ^Build\ cache\ usage:\ [0-9.]+k?B$ ]]
  [[ $(sed -n 3p <<<"$section") =~ ^CACHE\ ID\ +CACHE\ TYPE\ +SIZE\ +CREATED\ +LAST\ USED\ +USAGE\ +SHARED$ ]]
  # the RUN's layer is the image's too (shared); the cache mount holds the 4 bytes written
  grep -qE '^[0-9a-f]{12} +regular +[0-9.]+k?B +.* ago +.* ago +1 +true$' <<<"$section"
  grep -qE '^[0-9a-f]{12} +exec\.cachemount +4B +.* ago +.* ago +1 +false$' <<<"$section"
  # the summary counts the same entries
  run_tug system df --format '{{.Type}} {{.TotalCount}}'
  local rows
  rows=$(($(wc -l <<<"$section") - 3))
  assert_match "^Build Cache $rows\$"
  run_tug builder prune -f
  run_tug system df -v
  [[ $output == *$'\nBuild cache usage: 0B\n\nCACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED' ]]
}

@test "system df -v's build cache header is docker's (when dockerd answers)" {
  docker_answers || skip "no dockerd answers to compare with"
  local theirs ours
  theirs=$(timeout 30 docker system df -v | sed -n '/^Build cache usage: /,/^CACHE ID/p' | tail -1 | tr -s ' ')
  run_tug system df -v
  ours=$(sed -n '/^Build cache usage: /,/^CACHE ID/p' <<<"$output" | tail -1 | tr -s ' ')
  [[ $ours == "$theirs" ]] || { printf 'tug:    %s\ndocker: %s\n' "$ours" "$theirs"; false; }
}

# exec_events SINCE: the exec events since then, as "ACTION|execID|exitCode"
exec_events() {
  run_tug events --since "$1" --until "$(date +%s.%N)" --filter type=container \
    --format '{{.Action}}|{{index .Actor.Attributes "execID"}}|{{index .Actor.Attributes "exitCode"}}'
  output=$(grep '^exec_' <<<"$output") || true
  lines=()
  [[ -z $output ]] || mapfile -t lines <<<"$output"
}

@test "exec, exec -t and exec -d record exec_create, exec_start and exec_die with docker's attributes" {
  local t0
  t0=$(date +%s.%N)
  run_tug run -d --name ex busybox sleep 300
  run_tug 3 exec ex sh -c 'exit 3'
  run_tug exec -t ex true
  exec_events "$t0"
  [[ ${#lines[@]} -eq 6 ]] || { echo "$output"; false; }
  # docker's action: the program, a space, its arguments ("true " alone); one execID per exec
  [[ ${lines[0]} =~ ^exec_create:\ sh\ -c\ exit\ 3\|([0-9a-f]{64})\|$ ]]
  local id1=${BASH_REMATCH[1]}
  [[ ${lines[1]} == "exec_start: sh -c exit 3|$id1|" && ${lines[2]} == "exec_die|$id1|3" ]]
  [[ ${lines[3]} =~ ^exec_create:\ true\ \|([0-9a-f]{64})\|$ ]]
  local id2=${BASH_REMATCH[1]}
  [[ $id2 != "$id1" && ${lines[4]} == "exec_start: true |$id2|" && ${lines[5]} == "exec_die|$id2|0" ]]
  # -d: the command returns at once; the process's end is recorded when it comes
  t0=$(date +%s.%N)
  run_tug exec -d ex sh -c 'sleep 1; exit 4'
  assert_output ""
  exec_events "$t0"
  [[ ${#lines[@]} -eq 2 && ${lines[0]} =~ ^exec_create:\ sh\ -c\ sleep\ 1\;\ exit\ 4\|([0-9a-f]{64})\|$ ]] || { echo "$output"; false; }
  local id3=${BASH_REMATCH[1]}
  wait_until 20 eval 'exec_events "$t0"; [[ ${#lines[@]} -eq 3 ]]'
  [[ ${lines[2]} == "exec_die|$id3|4" ]] || { echo "$output"; false; }
  # the process that could not start: created and started, no exec_die (as docker)
  t0=$(date +%s.%N)
  run_tug 126 exec ex nope
  exec_events "$t0"
  [[ ${#lines[@]} -eq 2 && ${lines[0]} == 'exec_create: nope |'* && ${lines[1]} == 'exec_start: nope |'* ]] || { echo "$output"; false; }
  run_tug rm -f ex
}

@test "the exec events' lines read as docker's (when dockerd answers)" {
  docker_answers || skip "no dockerd answers to compare with"
  timeout 60 docker image inspect busybox >/dev/null 2>&1 || skip "docker has no busybox image"
  local cid t0 theirs ours
  cid=$(timeout 60 docker run -d --network none busybox sleep 300) || { echo "docker run failed"; false; }
  t0=$(date +%s)
  timeout 30 docker exec "$cid" sh -c 'exit 3' || true
  timeout 30 docker exec -d "$cid" sh -c 'exit 4' || true
  local fmt='{{.Action}} {{index .Actor.Attributes "exitCode"}} {{with index .Actor.Attributes "execID"}}{{len .}}{{end}}'
  # docker's container goes before anything here can fail
  wait_until 20 eval '[[ $(timeout 30 docker events --since "$t0" --until "$(date +%s)" --filter "container=$cid" --filter event=exec_die | wc -l) -eq 2 ]]' || true
  theirs=$(timeout 30 docker events --since "$t0" --until "$(date +%s)" --filter "container=$cid" --format "$fmt" | grep '^exec_') || true
  timeout 30 docker rm -f "$cid" >/dev/null
  run_tug run -d --name ex busybox sleep 300
  t0=$(date +%s.%N)
  run_tug 3 exec ex sh -c 'exit 3'
  run_tug exec -d ex sh -c 'exit 4'
  wait_until 20 eval '[[ $("$TUG" events --since "$t0" --until "$(date +%s.%N)" --filter event=exec_die | wc -l) -eq 2 ]]'
  run_tug events --since "$t0" --until "$(date +%s.%N)" --filter container=ex --format "$fmt"
  ours=$(grep '^exec_' <<<"$output")
  run_tug rm -f ex
  [[ $ours == "$theirs" ]] || { printf 'tug:\n%s\ndocker:\n%s\n' "$ours" "$theirs"; false; }
}

@test "logs keeps the order a container wrote its stdout and stderr in, on one pipe or terminal" {
  # without a terminal the two streams are two pipes: writes apart in time stay in order
  run_tug run --name lg busybox sh -c 'for i in 1 2 3; do echo o$i; sleep 0.2; echo e$i >&2; sleep 0.2; done'
  local want=$'o1\ne1\no2\ne2\no3\ne3'
  run_tug logs lg
  assert_output "$want"
  run_tug logs -f lg
  assert_output "$want"
  run_tug logs -t lg
  [[ $(cut -d' ' -f2- <<<"$output") == "$want" ]]
  # each stream still goes where it belongs
  [[ $("$TUG" logs lg 2>/dev/null | tr '\n' ' ') == 'o1 o2 o3 ' ]]
  [[ $("$TUG" logs lg 2>&1 >/dev/null | tr '\n' ' ') == 'e1 e2 e3 ' ]]
  # on a terminal (python's pty: both streams on it)
  run python3 -c 'import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "logs", "lg"])
out = b""
while True:
    try:
        b = os.read(fd, 4096)
    except OSError:
        break
    if not b:
        break
    out += b
os.waitpid(pid, 0)
sys.stdout.write(out.decode().replace("\r\n", "\n"))' "$TUG"
  assert_output "$want"
  run_tug rm lg
}

@test "attach: resizing the attaching terminal resizes the container's" {
  local ptydrive=$BATS_TEST_DIRNAME/../helpers/ptydrive.py
  run_tug run -dit --name rs busybox sh
  wait_until 30 status_is rs running
  # the size at attach, then after each resize: what stty inside reads
  run timeout 90 python3 "$ptydrive" $'resize 30 90\nraw\nsend stty s""ize\\r\nexpect 30 90\nresize 41 123\nsend stty s""ize\\r\nexpect 41 123\nresize 25 80\nsend stty s""ize\\r\nexpect 25 80\nsend \\x10\\x11\nexit' \
    "$TUG" attach rs
  [[ $status -eq 1 ]] || { echo "$output"; false; }
  assert_match '^41 123'
  run_tug inspect -f '{{.State.Status}}' rs
  assert_output running
  run_tug rm -f rs
}
