#!/usr/bin/env bats
# run, create, start: what the command runs with, exit codes, names and IDs.

load containers

setup_file() { containers_setup_file; }

@test "run prints the command's output and exits with the command's status" {
  run_tug run busybox echo hello world
  assert_output "hello world"
  run_tug 3 run busybox sh -c 'echo before; exit 3'
  assert_output before
  run_tug ps -a --format '{{.Status}}'
  assert_match '^Exited \(3\) '
}

@test "a command that is not in the image exits 127 and says so" {
  run_tug 127 run busybox nosuchcmd
  assert_match 'exec: "nosuchcmd": executable file not found in \$PATH'
  run_tug 127 run busybox /no/such/file
  assert_match '/no/such/file'
}

@test "a file that cannot be executed exits 126 and says so" {
  run_tug 126 run busybox /etc/motd
  assert_match 'exec: "/etc/motd": permission denied'
  run_tug 126 run busybox /etc
  assert_match '"/etc"'
}

@test "engine errors exit 125: an unknown flag, an unknown user" {
  run_tug 125 run --nosuchflag busybox true
  assert_match '^unknown flag: --nosuchflag'
  assert_match "See 'tug run --help'"
  run_tug 125 run -u nosuchuser busybox true
  assert_match 'unable to find user nosuchuser'
}

@test "an image that is in no registry exits 125 and names it" {
  run_tug 125 run $REGISTRY/nosuch true
  assert_match "Unable to find image '$REGISTRY/nosuch:latest' locally"
  assert_match 'not found|manifest unknown'
  run_tug 125 create $REGISTRY/nosuch true
  assert_match "$REGISTRY/nosuch"
  no_containers_left
}

@test "--pull never refuses an image that is not in the store" {
  run_tug rmi busybox $REGISTRY/busybox
  run_tug 125 run --rm --pull never $REGISTRY/busybox true
  assert_match "No such image: $REGISTRY/busybox"
  no_containers_left
}

@test "--pull missing pulls an image the store lacks; always asks the registry again" {
  run_tug rmi busybox $REGISTRY/busybox
  run_tug run --rm --pull missing $REGISTRY/busybox echo ran
  assert_match "^Unable to find image '$REGISTRY/busybox:latest' locally$"
  assert_match '^ran$'
  run_tug run --rm --pull always $REGISTRY/busybox echo ran
  assert_match "^Status: Image is up to date for $REGISTRY/busybox:latest$"
  assert_match '^ran$'
  run_tug 125 run --rm --pull sometimes $REGISTRY/busybox true
  assert_match 'invalid argument "sometimes" for "--pull" flag'
  no_containers_left
}

@test "run --rm leaves nothing behind, whether the command succeeds, fails or is not found" {
  run_tug run --rm busybox true
  no_containers_left
  run_tug 4 run --rm busybox sh -c 'exit 4'
  no_containers_left
  run_tug 127 run --rm busybox nosuchcmd
  no_containers_left
  run_tug run -d --rm busybox sh -c 'sleep 0.3; exit 5'
  wait_until 10 no_containers_left
}

@test "run -d prints the full ID and the container keeps running" {
  run_tug run -d busybox sleep 60
  [[ $output =~ ^[0-9a-f]{64}$ ]]
  local id=$output
  run_tug ps --format '{{.ID}} {{.Status}}'
  assert_match "^${id:0:12} Up "
  assert_inspect $id '{{.State.Running}}' true
}

@test "create makes a container that start runs; start -a shows its output and status" {
  run_tug create --name job busybox sh -c 'echo out; echo err >&2; exit 4'
  [[ $output =~ ^[0-9a-f]{64}$ ]]
  run_tug ps -a --format '{{.Names}} {{.Status}}'
  assert_output "job Created"
  run_tug 4 start -a job
  assert_match '^out$'
  assert_match '^err$'
  run_tug ps -a --format '{{.Names}} {{.Status}}'
  assert_match '^job Exited \(4\) '
  # without -a, start prints the name it was given and returns at once
  run_tug start job
  assert_output job
  run_tug wait job
  assert_output 4
}

@test "start -a -i and run -i connect stdin; without -i the command reads nothing" {
  run_tug create -i --name reader busybox sh -c 'read line; echo "got: $line"'
  run bash -c "echo hello | timeout 30 '$TUG' start -a -i reader"
  [[ $status -eq 0 && $output == "got: hello" ]]
  run bash -c "echo piped | timeout 30 '$TUG' run -i --rm busybox cat"
  [[ $status -eq 0 && $output == piped ]]
  run bash -c "echo piped | timeout 30 '$TUG' run --rm busybox cat"
  [[ $status -eq 0 && -z $output ]]
}

@test "-e and --env-file set variables; -e NAME passes the caller's value" {
  printf '# a comment\nFROM_FILE=1\nSPACES=two words\n\n' >"$BATS_TEST_TMPDIR/env"
  PASSED=from-caller run_tug run --rm -e X=y -e PASSED --env-file "$BATS_TEST_TMPDIR/env" busybox env
  assert_match '^X=y$'
  assert_match '^PASSED=from-caller$'
  assert_match '^FROM_FILE=1$'
  assert_match '^SPACES=two words$'
  assert_match '^PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin$'
  refute_match 'comment'
  # -e NAME for a name the caller does not have sets nothing
  run_tug run --rm -e TUG_TEST_UNSET_VAR busybox env
  refute_match 'TUG_TEST_UNSET_VAR'
}

@test "--env-file that does not exist is refused with exit 125, naming the file" {
  run_tug 125 run --rm --env-file "$BATS_TEST_TMPDIR/missing.env" busybox true
  assert_match "$BATS_TEST_TMPDIR/missing.env"
  no_containers_left
}

@test "-w sets the working directory, creating it if the image lacks it" {
  run_tug run --rm -w /tmp busybox pwd
  assert_output /tmp
  run_tug run --rm -w /new/work/dir busybox pwd
  assert_output /new/work/dir
}

@test "-u runs the command as a user and group of the image or as numbers" {
  run_tug run --rm -u nobody busybox id
  assert_output "uid=65534(nobody) gid=65534(nogroup)"
  run_tug run --rm -u 1234:5678 busybox id
  assert_output "uid=1234 gid=5678"
}

@test "--entrypoint replaces the image's entrypoint; the arguments follow it" {
  run_tug run --name ep --entrypoint echo busybox hi there
  assert_output "hi there"
  assert_inspect ep '{{json .Config.Entrypoint}} {{json .Config.Cmd}}' '["echo"] ["hi","there"]'
  run_tug run --rm --entrypoint "" busybox echo cleared
  assert_output cleared
}

@test "-h sets the hostname, /etc/hostname and /etc/hosts" {
  run_tug run --rm -h myhost busybox sh -c 'hostname; cat /etc/hostname; grep -c myhost /etc/hosts'
  [[ ${lines[0]} == myhost && ${lines[1]} == myhost && ${lines[2]} -ge 1 ]]
}

@test "-l sets labels that inspect shows and ps filters on" {
  run_tug create --name labelled -l app=web -l tier busybox true
  run_tug create --name plain busybox true
  assert_inspect labelled '{{json .Config.Labels}}' '{"app":"web","tier":""}'
  run_tug ps -a --filter label=app=web --format '{{.Names}}'
  assert_output labelled
}

@test "a container without --name gets a random adjective_surname name" {
  local i
  for i in $(seq 10); do run_tug create busybox true; done
  run_tug ps -a --format '{{.Names}}'
  [[ ${#lines[@]} -eq 10 ]]
  local name
  for name in "${lines[@]}"; do
    [[ $name =~ ^[a-z]+_[a-z]+[0-9]?$ ]] || { echo "name $name is not adjective_surname" >&2; false; }
    assert_inspect "$name" '{{.Name}}' "/$name"
  done
  [[ $(printf '%s\n' "${lines[@]}" | sort -u | wc -l) -eq 10 ]]
}

@test "a name in use is refused, naming the container that holds it" {
  run_tug run -d --name web busybox sleep 60
  local holder=$output
  run_tug 125 run --name web busybox true
  assert_match "The container name \"/web\" is already in use by container \"$holder\""
  run_tug 125 create --name web busybox true
  assert_match "already in use by container \"$holder\""
  run_tug ps -aq --no-trunc
  assert_output "$holder"
  run_tug 125 create --name 'bad name!' busybox true
  assert_match 'Invalid container name \(bad name!\)'
}

@test "a unique ID prefix selects a container; an ambiguous one is refused" {
  # 17 containers: two of them must share a first hex digit
  local i
  for i in $(seq 17); do run_tug create busybox true; done
  run_tug ps -aq --no-trunc
  local ids=("${lines[@]}") shared
  shared=$(printf '%s\n' "${ids[@]}" | cut -c1 | sort | uniq -d | head -1)
  run_tug 1 rm "$shared"
  assert_match "multiple IDs found with provided prefix: $shared"
  run_tug ps -aq
  [[ ${#lines[@]} -eq 17 ]]
  # the shortest prefix no other ID shares
  local id=${ids[0]} n=1
  while (($(printf '%s\n' "${ids[@]}" | grep -c "^${id:0:n}") > 1)); do n=$((n + 1)); done
  assert_inspect "${id:0:n}" '{{.Id}}' "$id"
  run_tug start -a "${id:0:n}"
  run_tug rm "${id:0:n}"
  assert_output "${id:0:n}"
  run_tug ps -aq --no-trunc
  refute_match "$id"
}
