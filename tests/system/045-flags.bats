#!/usr/bin/env bats
# Flags as docker reads them: exact names only (no GNU abbreviations), booleans with =true and
# =false, errors that name the flag, and no flag accepted only to be ignored. Where docker's
# client decides alone (flag errors need no daemon), its first line is compared with tug's.

load containers

setup_file() { containers_setup_file; }

# No busybox in every test's store: most tests here never get past the flags.
setup() { _store_setup; }

with_busybox() {
  "$TUG" pull -q "$REGISTRY/busybox" >/dev/null && "$TUG" tag "$REGISTRY/busybox" busybox
}

# docker_agrees WANT ARGS...: the docker client, when installed, says WANT first for ARGS too
# (it reads flags before it looks for a daemon, so none is needed or reached).
docker_agrees() {
  local want=$1 said
  shift
  command -v docker >/dev/null || return 0
  said=$(DOCKER_HOST=unix:///nonexistent/docker.sock DOCKER_CONFIG=$BATS_TEST_TMPDIR/.docker \
    timeout 30 docker "$@" 2>&1 | head -1)
  [[ $said == "$want" ]] || { echo "docker $*: '$said', tug's test expects '$want'" >&2; return 1; }
}

# refused WANT ARGS...: tug exits 125 with WANT, then the way out; nothing else is printed.
refused() {
  local want=$1
  shift
  run_tug 125 "$@"
  [[ ${lines[0]} == "$want" ]] || { echo "tug $*: '${lines[0]}', expected '$want'" >&2; return 1; }
  [[ ${lines[1]} =~ ^See\ \'tug\ .*--help\'\.$ && ${#lines[@]} -eq 2 ]] ||
    { echo "tug $*: after the error: $output" >&2; return 1; }
}

# refused_as_docker WANT ARGS...: refused, and docker's client says the same.
refused_as_docker() {
  refused "$@"
  docker_agrees "$@"
}

@test "long flags are their exact names: abbreviations are unknown flags, as in docker" {
  refused_as_docker "unknown flag: --priv" run --priv busybox true
  refused_as_docker "unknown flag: --pids" run --pids 5 busybox true
  refused_as_docker "unknown flag: --filt" ps --filt status=exited
  refused_as_docker "unknown flag: --dig" images --all --dig
  refused_as_docker "unknown flag: --quie" images --quie
  refused_as_docker "unknown flag: --filt" network ls --filt name=x
  refused_as_docker "unknown flag: --quie" volume ls --quie
  refused_as_docker "unknown flag: --forc" rm --forc x
  refused_as_docker "unknown flag: --foll" logs --foll x
  refused_as_docker "unknown flag: --inter" exec --inter x true
  refused_as_docker "unknown flag: --sig" kill --sig KILL x
  refused_as_docker "unknown flag: --form" inspect --form '{{.Id}}' x
  refused_as_docker "unknown flag: --labe" volume create --labe a=b v
  refused_as_docker "unknown flag: --bogus" --bogus ps
  refused "unknown flag: --roo" --roo /tmp ps
  run_tug volume ls -q
  [[ -z $output ]]
}

@test "a flag docker has and tug does not take yet is an unknown flag, never another one" {
  # getopt_long read --pid as --pids-limit and failed on "host" as a number (--pid is a flag
  # of its own now; the flags below are docker's ones tug does not take, so each must be an
  # unknown flag and never a prefix of another)
  refused "unknown flag: --storage-opt" run --storage-opt size=5G busybox true
  refused "unknown flag: --storage-opt" create --storage-opt=size=5G busybox true
  refused "unknown flag: --link-local-ip" run --link-local-ip 169.254.1.1 busybox true
  refused "unknown flag: --link" rm --link x
  refused "unknown flag: --force" network disconnect --force n c
  # run's own flags are not create's, as docker has it
  refused_as_docker "unknown shorthand flag: 'd' in -d" create -d busybox
  refused_as_docker "unknown flag: --detach" create --detach busybox
  refused_as_docker "unknown flag: --sig-proxy" create --sig-proxy=false busybox
  refused "unknown flag: --type" image inspect --type image busybox
  run_tug ps -aq
  [[ -z $output ]]
}

@test "flag errors name the flag: unknown shorthands, missing values, bad syntax" {
  refused_as_docker "unknown shorthand flag: 'x' in -x" ps -x
  refused_as_docker "unknown shorthand flag: 'x' in -x" ps -ax
  refused_as_docker "unknown shorthand flag: 'z' in -zq" images -zq
  refused_as_docker "flag needs an argument: --name" run --name
  refused_as_docker "flag needs an argument: 'e' in -e" run -e
  refused_as_docker "flag needs an argument: 'e' in -e" run -de
  refused_as_docker "flag needs an argument: --format" ps --format
  refused_as_docker "bad flag syntax: ---x" run ---x busybox
  refused_as_docker "bad flag syntax: --=x" ps --=x
  refused_as_docker "unknown shorthand flag: '=' in -=" run -d= busybox
  # a flag's error, not the command's name ("unknown flag: ps" before)
  refused_as_docker "unknown shorthand flag: 'z' in -z=true" ps -z=true
}

@test "a bad boolean value is refused with docker's words, naming the flag" {
  refused_as_docker 'invalid argument "maybe" for "--rm" flag: strconv.ParseBool: parsing "maybe": invalid syntax' \
    run --rm=maybe busybox true
  refused_as_docker 'invalid argument "maybe" for "-d, --detach" flag: strconv.ParseBool: parsing "maybe": invalid syntax' \
    run -d=maybe busybox true
  refused_as_docker 'invalid argument "maybe" for "-i, --interactive" flag: strconv.ParseBool: parsing "maybe": invalid syntax' \
    run -ti=maybe busybox true
  refused_as_docker 'invalid argument "" for "--privileged" flag: strconv.ParseBool: parsing "": invalid syntax' \
    run --privileged= busybox true
  refused_as_docker 'invalid argument "yes" for "-a, --all" flag: strconv.ParseBool: parsing "yes": invalid syntax' \
    ps -a=yes
  refused_as_docker 'invalid argument "false=1" for "-a, --all" flag: strconv.ParseBool: parsing "false=1": invalid syntax' \
    ps --all=false=1
  refused_as_docker 'invalid argument "2" for "-q, --quiet" flag: strconv.ParseBool: parsing "2": invalid syntax' \
    images -q=2
  refused_as_docker 'invalid argument "on" for "-f, --force" flag: strconv.ParseBool: parsing "on": invalid syntax' \
    rm --force=on x
  refused_as_docker 'invalid argument "no" for "--no-trunc" flag: strconv.ParseBool: parsing "no": invalid syntax' \
    network ls --no-trunc=no
  refused_as_docker 'invalid argument "x" for "-f, --follow" flag: strconv.ParseBool: parsing "x": invalid syntax' \
    logs -f=x c
  refused 'invalid argument "nah" for "--dry-run" flag: strconv.ParseBool: parsing "nah": invalid syntax' \
    system check --dry-run=nah
  run_tug ps -aq
  [[ -z $output ]]
}

@test "run's booleans take =true and =false: --rm, -d, -i, -t, --init, --privileged, --read-only" {
  with_busybox
  run_tug run --rm=true busybox true
  run_tug ps -aq
  [[ -z $output ]]
  run_tug run --rm=false --name kept busybox true
  run_tug ps -aq --filter name=kept
  [[ -n $output ]]
  # -d=false runs attached: the command's output, not an ID
  run_tug run --rm -d=false busybox echo attached
  [[ $output == attached ]]
  # what follows the image is the command's, flags or not
  run_tug run --rm busybox echo -d --rm=maybe --pid
  [[ $output == "-d --rm=maybe --pid" ]] || { echo "$output"; false; }
  run_tug run --rm -e=A=1 -w=/tmp busybox sh -c 'echo $A $(pwd)'
  [[ $output == "1 /tmp" ]] || { echo "$output"; false; }
  run_tug run -d=true --name bg busybox sleep 30
  [[ $output =~ ^[0-9a-f]{64}$ ]]
  run_tug rm -f=true bg
  # in a cluster the value is the last shorthand's: -it=false is -i -t=false (pflag)
  run_tug create --name flags -it=false --init=true --privileged=false --read-only=1 \
    -P=false busybox true
  run inspect_f flags '{{.Config.Tty}} {{.Config.OpenStdin}} {{.HostConfig.Init}} {{.HostConfig.Privileged}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.PublishAllPorts}}'
  [[ $output == "false true true false true false" ]] || { echo "$output"; false; }
  run_tug create --name noi -i=false -t busybox true
  run inspect_f noi '{{.Config.Tty}} {{.Config.OpenStdin}} {{.Config.AttachStdin}}'
  [[ $output == "true false false" ]] || { echo "$output"; false; }
  # the last one given wins, as in docker
  run_tug create --name last --privileged --privileged=F --rm=T --rm=0 busybox true
  run inspect_f last '{{.HostConfig.Privileged}} {{.HostConfig.AutoRemove}}'
  [[ $output == "false false" ]] || { echo "$output"; false; }
  run_tug 1 run --rm --read-only=true busybox touch /x
  assert_match 'Read-only file system'
  run_tug run --rm --read-only=false busybox touch /x
}

@test "the booleans of ps, images, rm, logs and the prunes take =true and =false" {
  with_busybox
  run_tug run --name done busybox echo hello
  run_tug ps -a=false -q
  [[ -z $output ]]
  run_tug ps -a=true -q
  [[ $output =~ ^[0-9a-f]{12}$ ]]
  run_tug ps -aq=true --no-trunc=1
  [[ $output =~ ^[0-9a-f]{64}$ ]]
  run_tug ps -q --latest=true
  [[ $output =~ ^[0-9a-f]{12}$ ]]
  run_tug images -q=true busybox
  [[ $output =~ ^[0-9a-f]{12}$ ]]
  run_tug images --quiet=false --digests=false busybox
  assert_match '^REPOSITORY +TAG +IMAGE ID'
  run_tug logs --timestamps=false -f=false done
  [[ $output == hello ]]
  # operands and flags mix, as with docker: the flag after the name still counts
  run_tug logs done --details=true
  [[ $output == " hello" ]] || { echo "'$output'"; false; }
  # --details: docker prints a record's attributes then a space; tug records none
  run_tug logs --details done
  [[ $output == " hello" ]] || { echo "'$output'"; false; }
  run_tug rm -f=false -v=false done
  run_tug ps -aq
  [[ -z $output ]]
  run_tug container prune -f=false </dev/null
  assert_match 'Are you sure'
  run_tug system check --dry-run=false
  assert_match '^No problems found'
}

@test "--cidfile gets the container's ID; a file already there is refused before anything is made" {
  with_busybox
  local f=$BATS_TEST_TMPDIR/cid
  run_tug run --cidfile "$f" --name one busybox true
  run inspect_f one '{{.Id}}'
  [[ $(cat "$f") == "$output" && $output =~ ^[0-9a-f]{64}$ ]] || { cat "$f"; false; }
  run_tug 125 run --cidfile "$f" --name two busybox true
  [[ $output == "Error: Container ID file found, make sure the other container isn't running or delete $f" ]] ||
    { echo "$output"; false; }
  run_tug 1 inspect two
  [[ $(cat "$f") == $(inspect_f one '{{.Id}}') ]]
  # create writes it too; a create that fails leaves no file behind
  run_tug create --cidfile "$BATS_TEST_TMPDIR/c2" busybox true
  [[ $(cat "$BATS_TEST_TMPDIR/c2") == "$output" ]]
  run_tug 125 create --cidfile "$BATS_TEST_TMPDIR/c3" --pull never nosuchimage true
  [[ ! -e $BATS_TEST_TMPDIR/c3 ]]
  run_tug 125 run --cidfile "$BATS_TEST_TMPDIR/no/such/dir/cid" busybox true
  assert_match "^Error: failed to create the container ID file: open $BATS_TEST_TMPDIR/no/such/dir/cid: No such file or directory$"
}

@test "run -a names the streams it shows; -a with -d is refused" {
  with_busybox
  "$TUG" run --rm -a stderr busybox sh -c 'echo out; echo err >&2' >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
  [[ ! -s $BATS_TEST_TMPDIR/out && $(cat "$BATS_TEST_TMPDIR/err") == err ]] ||
    { cat "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err"; false; }
  "$TUG" run --rm -a STDOUT busybox sh -c 'echo out; echo err >&2' >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
  [[ $(cat "$BATS_TEST_TMPDIR/out") == out && ! -s $BATS_TEST_TMPDIR/err ]] ||
    { cat "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err"; false; }
  refused_as_docker 'invalid argument "stdfoo" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR' \
    run -a stdfoo busybox true
  run_tug 125 run -d -a stdout busybox true
  assert_match '^Error: Conflicting options: -a and -d$'
  run_tug ps -aq
  [[ -z $output ]]
}

@test "--sig-proxy=false: a signal ends tug run and not the container" {
  with_busybox
  local script='trap "echo got TERM; exit 3" TERM; echo ready; while :; do sleep 1; done'
  # by default tug run passes the signal on: the container's trap answers it
  "$TUG" run --name proxied busybox sh -c "$script" >"$BATS_TEST_TMPDIR/p.out" 2>&1 &
  local pid=$!
  wait_until 30 grep -q ready "$BATS_TEST_TMPDIR/p.out"
  kill -TERM $pid
  local rc=0
  wait $pid || rc=$?
  [[ $rc -eq 3 ]] && grep -q 'got TERM' "$BATS_TEST_TMPDIR/p.out" || { echo "rc $rc"; cat "$BATS_TEST_TMPDIR/p.out"; false; }
  # --sig-proxy=false: tug run ends on the signal, the container carries on
  "$TUG" run --sig-proxy=false --name alone busybox sh -c "$script" >"$BATS_TEST_TMPDIR/a.out" 2>&1 &
  pid=$!
  wait_until 30 grep -q ready "$BATS_TEST_TMPDIR/a.out"
  kill -TERM $pid
  rc=0
  wait $pid || rc=$?
  [[ $rc -eq 143 ]] || { echo "rc $rc"; cat "$BATS_TEST_TMPDIR/a.out"; false; }
  run inspect_f alone '{{.State.Status}}'
  [[ $output == running ]]
  run_tug rm -f alone
}

@test "version, top, port and network prune take no flag but --help" {
  refused_as_docker "unknown flag: --bogus" version --bogus
  refused_as_docker "unknown flag: --bogus" top --bogus c
  refused_as_docker "unknown flag: --bogus" port --bogus c
  refused_as_docker "unknown flag: --bogus" network prune --bogus
  refused_as_docker "unknown flag: --bogus" network rm --bogus n
  run_tug version --help
  assert_match '^Usage:  tug version'
  run_tug 1 version extra
  assert_match '^"version" accepts no arguments\.$'
  run_tug 1 ps extra
  assert_match '^"ps" accepts no arguments\.$'
  run_tug 1 network prune -f extra
  # -h is --help where the command has no -h of its own, as docker's client has it
  run_tug ps -h
  assert_match '^Usage:  tug ps'
  run_tug network inspect --help
  assert_match '^Usage:  tug network inspect'
}

@test "filters tug does not know are refused, not ignored" {
  with_busybox
  run_tug create --label keep=yes --name labelled busybox true
  run_tug create --name plain busybox true
  run_tug 1 container prune -f --filter name=x
  assert_match "invalid filter 'name=x'"
  run_tug container prune -f --filter label=keep=yes
  run_tug ps -a --format '{{.Names}}'
  [[ $output == plain ]] || { echo "$output"; false; }
  run_tug 1 volume prune -f --filter label=x
  assert_match "invalid filter 'label=x'"
  run_tug volume create named
  run_tug volume prune -f --filter all=false
  run_tug volume ls -q
  [[ $output == named ]]
  run_tug volume prune -f --filter all=true
  run_tug volume ls -q
  [[ -z $output ]]
}

@test "volume create: --help, bad flags and arguments are errors, never a crash" {
  # each of these was a segfault (exit 139): a cleanup ran on a variable never set
  run_tug volume create --help
  assert_match '^Usage:  tug volume create'
  refused_as_docker "unknown flag: --bogus" volume create --bogus
  run_tug 1 volume create a b
  [[ ${lines[0]} == '"volume create" requires at most 1 argument.' ]] || { echo "$output"; false; }
  run_tug 1 volume create -d nfs x
  assert_match '^Error: plugin "nfs" not found'
  run_tug 1 volume create --label =x x
  run_tug 1 volume create --name a b
  assert_match 'conflicting options'
  run_tug volume ls -q
  [[ -z $output ]]
  run_tug volume create --name=ok
  [[ $output == ok ]]
}

@test "stop takes docker's --timeout as well as --time" {
  with_busybox
  run_tug run -d --name s1 busybox sleep 30
  run_tug run -d --name s2 busybox sleep 30
  run_tug stop --timeout 0 s1
  run_tug stop --time=0 s2
  run inspect_f s1 '{{.State.Status}} {{.State.ExitCode}}'
  [[ $output == "exited 137" ]] || { echo "$output"; false; }
  run inspect_f s2 '{{.State.Status}} {{.State.ExitCode}}'
  [[ $output == "exited 137" ]] || { echo "$output"; false; }
}

@test "words that are not UTF-8 are refused, never dropped from the container's config" {
  # docker: Go's JSON turns them into U+FFFD; a config holds UTF-8 only, so tug says so
  with_busybox
  run_tug 125 run --rm busybox echo $'caf\xe9'
  assert_match 'argument 4 is not valid UTF-8'
  run_tug 125 create -v $'/src\xff:/b' busybox true
  assert_match 'not valid UTF-8'
  run_tug 125 create --mount $'type=bind,source=/a\xff,target=/b' busybox true
  assert_match 'not valid UTF-8'
  run_tug ps -aq
  [[ -z $output ]]
}
