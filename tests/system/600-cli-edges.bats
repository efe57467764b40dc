#!/usr/bin/env bats
# Where tug's output and exit codes once differed from docker's: global flags, exec's failures
# and terminals, stop's output, rmi's conflicts and lists, logs' --since/--until/--tail/--details,
# port, pull -a, and the demo's printed commands. The texts are docker's where deterministic.

load containers

setup_file() {
  containers_setup_file
  # more tags of the repository for pull -a: "1.0" (the same image) and "hello" (another)
  fixture_push_busybox busybox:1.0 >/dev/null 2>&1
  fixture_push_hello busybox:hello >/dev/null 2>&1
}

# tug_streams ARGS...: run tug; its stdout goes to $out, its stderr to $err, its status to $rc
tug_streams() {
  rc=0
  timeout 60 "$TUG" "$@" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" </dev/null || rc=$?
  out=$(<"$BATS_TEST_TMPDIR/out") err=$(<"$BATS_TEST_TMPDIR/err")
}

@test "an unknown global flag exits 125 with docker's message" {
  run_tug 125 --nope ps
  assert_output $'unknown flag: --nope\nSee \'tug --help\'.'
  run_tug 125 -x ps
  assert_output $'unknown shorthand flag: \'x\' in -x\nSee \'tug --help\'.'
  run_tug 125 --config
  assert_output $'flag needs an argument: --config\nSee \'tug --help\'.'
}

@test "-D, --debug and -l/--log-level are taken; a bad level is docker's error" {
  run_tug -D ps -q
  assert_output ""
  run_tug --debug=true --log-level=warn ps -q
  run_tug -l debug ps -q
  run_tug -l ERROR ps -q
  run_tug 1 -l nope ps
  assert_output "Unable to parse logging level: nope"
  run_tug --help
  assert_match '^  -D, --debug '
  assert_match '^  -l, --log-level string '
  assert_match '^      --config string '
  assert_match '^  -H, --host list '
}

@test "-H/--host is refused with one line: tug has no daemon to connect to" {
  run_tug 1 -H unix:///run/nope.sock ps
  [[ ${#lines[@]} -eq 1 ]]
  assert_match "^Cannot connect to unix:///run/nope.sock: .*'tug serve'.*leave out -H/--host"
  run_tug 1 --host=tcp://127.0.0.1:2375 images
  [[ ${#lines[@]} -eq 1 ]]
}

@test "--config DIR is where login writes and logout removes credentials" {
  local cfg=$BATS_TEST_TMPDIR/cfg home=$BATS_TEST_TMPDIR/home
  mkdir -p "$home"
  HOME=$home run_tug --config "$cfg" login -u someone -p secret "$REGISTRY"
  assert_match '^Login Succeeded$'
  [[ $(jq -r --arg r "$REGISTRY" '.auths[$r].auth' "$cfg/config.json") == $(printf someone:secret | base64) ]]
  [[ ! -e $home/.docker/config.json ]]
  HOME=$home run_tug --config "$cfg" logout "$REGISTRY"
  assert_output "Removing login credentials for $REGISTRY"
  [[ $(jq -r '.auths | length' "$cfg/config.json") == 0 ]]
}

@test "exec of a missing program, a non-executable file or an unknown user exits 126 as docker" {
  run_tug run -d --name box busybox sleep 60
  run_tug 126 exec box nope
  assert_output $'OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": executable file not found in $PATH: unknown\r'
  # a user or group that is not there: docker 20.10's engine says it bare (checked beside it)
  run_tug 126 exec -u nosuch box true
  assert_output $'unable to find user nosuch: no matching entries in passwd file\r'
  run_tug 126 exec -u 0:nogroup_x box true
  assert_output $'unable to find group nogroup_x: no matching entries in group file\r'
  run_tug 126 exec box /etc/passwd
  assert_output $'OCI runtime exec failed: exec failed: unable to start container process: exec: "/etc/passwd": permission denied: unknown\r'
  # docker writes the runtime's words on stdout, nothing on stderr
  tug_streams exec box nope
  [[ $rc -eq 126 && -z $err && $out == *'executable file not found'* ]]
}

@test "exec -t and run -t set TERM=xterm; -e TERM wins" {
  run_tug run -d --name box busybox sleep 60
  run_tug exec -t box env
  assert_match $'^TERM=xterm\r$'
  run_tug exec box env
  refute_match '^TERM='
  run_tug exec -t -e TERM=vt100 box env
  assert_match $'^TERM=vt100\r$'
  run_tug run --rm -t busybox env
  assert_match $'^TERM=xterm\r$'
}

@test "exec -it and run -it without a terminal on stdin: docker's 'the input device is not a TTY', 1" {
  run_tug run -d --name box busybox sleep 60
  run_tug 1 exec -it box true </dev/null
  assert_output "the input device is not a TTY"
  run_tug 1 run -it --rm busybox true </dev/null
  assert_output "the input device is not a TTY"
  # a missing container is named first, as docker does; -d and -t alone need no terminal
  run_tug 1 exec -it nosuch true </dev/null
  assert_output "Error: No such container: nosuch"
  run_tug exec -t box true </dev/null
  run_tug exec -dit box true </dev/null
  run_tug ps -a --format '{{.Names}}'
  assert_output box
}

@test "stop, restart and kill print only the name given; the forced kill is a --debug line" {
  run_tug run -d --name stubborn busybox \
    sh -c 'trap "" TERM; echo ready; while true; do sleep 0.1; done'
  wait_until 10 logs_match stubborn '^ready$'
  tug_streams stop -t 1 stubborn
  [[ $rc -eq 0 && $out == stubborn && -z $err ]]
  run_tug start stubborn
  wait_until 10 status_is stubborn running
  tug_streams -D stop -t 1 stubborn
  [[ $rc -eq 0 && $out == stubborn ]]
  [[ $err =~ ^time=\"[0-9T:+-]+(Z|[+-][0-9]{2}:[0-9]{2})?\"\ level=debug\ msg=\"stubborn\ did\ not\ exit\ within\ 1\ second\ of\ its\ stop\ signal:\ killed\ it\"$ ]]
  local id
  id=$(inspect_f stubborn '{{.Id}}')
  tug_streams restart -t 1 "${id:0:12}"
  [[ $rc -eq 0 && $out == "${id:0:12}" && -z $err ]]
  tug_streams kill stubborn
  [[ $rc -eq 0 && $out == stubborn && -z $err ]]
}

@test "rmi -f refuses an image a running container uses, by its ID; by its last tag only the tag goes" {
  run_tug run -d --name box busybox sleep 60
  local id cid
  id=$(timeout 30 "$TUG" image inspect -f '{{.Id}}' busybox)
  id=${id#sha256:}
  cid=$(inspect_f box '{{.Id}}')
  run_tug 1 rmi -f "${id:0:12}"
  assert_output "Error: conflict: unable to delete ${id:0:12} (cannot be forced) - image is being used by running container ${cid:0:12}"
  run_tug image inspect -f '{{.Id}}' busybox

  # an image with one tag, run: rmi -f of that tag untags it and keeps the image
  run_tug commit box solo:1
  local solo=${output#sha256:}
  run_tug run -d --name solo solo:1 sleep 60
  run_tug rmi -f solo:1
  assert_output "Untagged: solo:1"
  run_tug image inspect -f '{{.Id}}' "${solo:0:12}"
  assert_output "sha256:$solo"
  run_tug 1 rmi -f "${solo:0:12}"
  assert_match '\(cannot be forced\) - image is being used by running container'
}

@test "rmi -f of a missing image exits 0 saying so; rmi of several removes all it can, then exits 1" {
  tug_streams rmi -f nosuch
  [[ $rc -eq 0 && -z $out && $err == "Error: No such image: nosuch:latest" ]]
  run_tug 1 rmi nosuch
  assert_output "Error: No such image: nosuch:latest"
  run_tug tag busybox one:1
  run_tug tag busybox two:1
  tug_streams rmi one:1 nosuch two:1
  [[ $rc -eq 1 ]]
  [[ $out == $'Untagged: one:1\nUntagged: two:1' ]]
  [[ $err == "Error: No such image: nosuch:latest" ]]
  run_tug images --format '{{.Repository}}'
  refute_match '^(one|two)$'
  # with -f the missing one is only reported
  run_tug tag busybox three:1
  tug_streams rmi -f nosuch three:1
  [[ $rc -eq 0 && $out == "Untagged: three:1" ]]
}

@test "logs --since/--until take RFC 3339 with and without a zone, dates, unix seconds and durations" {
  run_tug run --name talk busybox sh -c 'echo one; echo two'
  local past=$'one\ntwo' now
  now=$(date +%s)
  for v in 2000-01-02 2000-01-02T10 2000-01-02T10:30 2000-01-02T10:30:00 \
    2000-01-02T10:30:00.5 2000-01-02T10:30:00Z 2000-01-02T10:30:00.123456789+02:00 \
    2000-01-02Z 946800000 946800000.25 1m30s 1h 0; do
    run_tug logs --since "$v" talk
    assert_output "$past"
    run_tug logs --until "$((now + 3600))" talk
    assert_output "$past"
  done
  for v in 2099-01-02 2099-01-02T10:30 2099-01-02T10:30:00Z 2099-01-02T10:30:00.5-01:00 \
    4070908800 4070908800.5 -1h; do
    run_tug logs --since "$v" talk
    assert_output ""
  done
  for v in 2000-01-02 2000-01-02T10:30:00Z 946800000.5 1h; do
    run_tug logs --until "$v" talk
    assert_output ""
  done
  run_tug 1 logs --since bad talk
  assert_output 'invalid value for "since": failed to parse value as time or duration: "bad"'
  run_tug 1 logs --until 2000-13-01 talk
  assert_match '^invalid value for "until": parsing time "2000-13-01": month out of range$'
}

@test "logs --tail: 0 shows nothing, a bad or negative count shows all, as docker" {
  run_tug run --name count busybox seq 5
  run_tug logs --tail 0 count
  assert_output ""
  run_tug logs --tail bad count
  assert_output $'1\n2\n3\n4\n5'
  run_tug logs --tail -2 count
  assert_output $'1\n2\n3\n4\n5'
  run_tug logs -n +2 count
  assert_output $'4\n5'
}

@test "logs --details: the log-opt labels and env attributes, empty when none" {
  run_tug run --name plain busybox echo hi
  run_tug logs --details plain
  assert_output " hi"
  run_tug run --name rich -l app=web -l 'team=a b' -l other=x -e FOO=bar -e PATH=/bin \
    --log-opt labels=app,team --log-opt env-regex='^F' busybox echo hi
  run_tug logs --details rich
  assert_output "FOO=bar,app=web,team=a+b hi"
  run_tug logs --details -t rich
  [[ $output =~ ^[0-9-]+T[0-9:.]+Z\ FOO=bar,app=web,team=a\+b\ hi$ ]]
}

@test "port lists every mapping, one mapping by port, and refuses more arguments as docker" {
  local p
  p=$(fixture_free_port)
  run_tug run -d --name web -p "127.0.0.1:$p:80" -p 127.0.0.1::81/udp busybox sleep 60
  run_tug port web
  [[ ${#lines[@]} -eq 2 ]]
  [[ ${lines[0]} == "80/tcp -> 127.0.0.1:$p" ]]
  [[ ${lines[1]} =~ ^81/udp\ -\>\ 127\.0\.0\.1:[0-9]+$ ]]
  run_tug port web 80/tcp
  assert_output "127.0.0.1:$p"
  run_tug port web 80
  assert_output "127.0.0.1:$p"
  run_tug port web 81/udp
  [[ $output =~ ^127\.0\.0\.1:[0-9]+$ ]]
  run_tug 1 container port web 82
  assert_output "Error: No public port '82/tcp' published for web"
  run_tug 1 port web 80 81
  assert_match '^"port" requires at least 1 and at most 2 arguments\.$'
}

@test "pull -a pulls every tag of the repository, with one status line for it" {
  run_tug pull -a "$REGISTRY/busybox"
  assert_match '^latest: Pulling from busybox$'
  assert_match '^1\.0: Pulling from busybox$'
  assert_match '^hello: Pulling from busybox$'
  [[ $(grep -c '^Digest: sha256:' <<<"$output") -eq 3 ]]
  [[ ${lines[-2]} == "Status: Downloaded newer image for $REGISTRY/busybox" ]]
  [[ ${lines[-1]} == "$REGISTRY/busybox" ]]
  run_tug images --format '{{.Tag}}' "$REGISTRY/busybox"
  [[ $(sort <<<"$output" | tr '\n' ' ') == "1.0 hello latest " ]]
  run_tug pull -a -q "$REGISTRY/busybox"
  assert_output "$REGISTRY/busybox"
  run_tug pull --all-tags "$REGISTRY/busybox"
  [[ ${lines[-2]} == "Status: Image is up to date for $REGISTRY/busybox" ]]
  run_tug 1 pull -a "$REGISTRY/busybox:latest"
  assert_output "tag can't be used with --all-tags/-a"
  run_tug 1 pull -a "$REGISTRY/nosuch"
  assert_match "^Error: pull $REGISTRY/nosuch: repository $REGISTRY/nosuch not found"
}

@test "make demo prints every command so that it pastes into a shell as is" {
  eval "$(sed -n '/^shell_quote()/,/^}/p' "$BATS_TEST_DIRNAME/../../scripts/demo.sh")"
  local a q r
  for a in "echo 'hello from web1' > /tmp/index.html; exec httpd -f -p 80 -h /tmp" \
    'echo "hello from $(hostname), PID $$"; exit 3' 'table {{.Repository}}\t{{.Tag}}' \
    "it's \"quoted\" \\ \$HOME \`x\`" plain 127.0.0.1:5000/busybox; do
    q=$(shell_quote "$a")
    eval "r=$q"
    [[ $r == "$a" ]] || { echo "shell_quote gave $q for $a" >&2; return 1; }
  done
}

@test "system df -v: docker's images, containers and volumes tables" {
  run_tug volume create vv
  run_tug run -d --name dfc -v vv:/data busybox sh -c 'echo hi > /x; sleep 60'
  wait_until 10 status_is dfc running
  local id cid
  id=$(timeout 30 "$TUG" image inspect -f '{{.Id}}' busybox)
  id=${id#sha256:}
  cid=$(inspect_f dfc '{{.Id}}')
  run_tug system df -v
  [[ ${lines[0]} == "Images space usage:" ]]
  [[ ${lines[1]} =~ ^REPOSITORY\ +TAG\ +IMAGE\ ID\ +CREATED\ +SIZE\ +SHARED\ SIZE\ +UNIQUE\ SIZE\ +CONTAINERS$ ]]
  assert_match "^[^ ]+ +latest +${id:0:12} +.* ago +[0-9.]+[kM]?B +[0-9.]+[kM]?B +[0-9.]+[kM]?B +1$"
  assert_match '^Containers space usage:$'
  assert_match '^CONTAINER ID +IMAGE +COMMAND +LOCAL VOLUMES +SIZE +CREATED +STATUS +NAMES$'
  assert_match "^${cid:0:12} +busybox +\"sh -c .*\" +1 +[0-9]+B +.* +Up .* +dfc$"
  assert_match '^Local Volumes space usage:$'
  assert_match '^VOLUME NAME +LINKS +SIZE$'
  assert_match '^vv +1 +0B$'
  assert_match '^Build cache usage: [0-9.]+[kMG]?B$'
  run_tug rm -f dfc
  run_tug volume rm vv
}
