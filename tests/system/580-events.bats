#!/usr/bin/env bats
# events / system events: what containers, images, networks and volumes did, as docker prints
# it; --since/--until, --filter, --format, following new events, and a bounded log.

load containers

setup_file() { containers_setup_file; }

# wait_following FILE: a background `events` writing to FILE follows: volume markers are
# made until one shows up in FILE (bounded)
wait_following() {
  local i
  for i in $(seq 50); do
    "$TUG" volume create "marker$i" >/dev/null
    grep -q "marker" "$1" && return 0
    sleep 0.1
  done
  echo "events did not start following" >&2
  return 1
}

# events from the start of the test until now, in the given format
past_events() {
  run_tug events --since "$T0" --until "$(date +%s.%N)" "$@"
}

@test "events: a container's lifecycle with docker's line, exitCode on die" {
  T0=$(date +%s.%N)
  run_tug 3 run --name life --label team=blue busybox sh -c 'exit 3'
  local id
  id=$("$TUG" inspect -f '{{.Id}}' life)
  run_tug rm life
  past_events --filter type=container
  [[ ${#lines[@]} -ge 4 ]] || { echo "$output"; false; }
  local line='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}(Z|[+-][0-9]{2}:[0-9]{2}) container'
  assert_match "$line create $id \(image=busybox, name=life, team=blue\)$"
  assert_match "$line start $id \(image=busybox, name=life, team=blue\)$"
  assert_match "$line die $id \(execDuration=[0-9]+, exitCode=3, image=busybox, name=life, team=blue\)$"
  assert_match "$line destroy $id \(image=busybox, name=life, team=blue\)$"
  # in the order they happened
  run_tug events --since "$T0" --until "$(date +%s.%N)" --filter type=container --format '{{.Action}}'
  [[ $(echo "$output" | grep -E '^(create|start|die|destroy)$' | tr '\n' ' ') == 'create start die destroy ' ]] || {
    echo "$output"; false; }
}

@test "events: kill, stop, pause, unpause, rename, restart and exec, with their attributes" {
  T0=$(date +%s.%N)
  run_tug run -d --name busy busybox sleep 300
  local id=$output
  run_tug 4 exec busy sh -c 'exit 4'
  run_tug pause busy
  run_tug unpause busy
  run_tug rename busy busier
  run_tug kill -s USR1 busier
  run_tug restart -t 1 busier
  run_tug stop -t 1 busier
  # sleep as PID 1 ignores SIGTERM: each stop ends in a SIGKILL after its second
  past_events --filter type=container --format '{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.signal}}{{.Actor.Attributes.exitCode}}{{.Actor.Attributes.oldName}}'
  local want="create busy <no value><no value><no value>
start busy <no value><no value><no value>
exec_create: sh -c exit 4 busy <no value><no value><no value>
exec_start: sh -c exit 4 busy <no value><no value><no value>
exec_die busy <no value>4<no value>
pause busy <no value><no value><no value>
unpause busy <no value><no value><no value>
rename busier <no value><no value>busy
kill busier 10<no value><no value>
kill busier 15<no value><no value>
kill busier 9<no value><no value>
die busier <no value>137<no value>
stop busier <no value><no value><no value>
start busier <no value><no value><no value>
restart busier <no value><no value><no value>
kill busier 15<no value><no value>
kill busier 9<no value><no value>
die busier <no value>137<no value>
stop busier <no value><no value><no value>"
  [ "$output" = "$want" ] || { diff <(echo "$want") <(echo "$output"); false; }
  past_events --filter event=exec_start --format '{{.Action}}'
  [ "$output" = "exec_start: sh -c exit 4" ]
  run_tug rm busier
}

@test "events: health_status when a container's health changes" {
  T0=$(date +%s.%N)
  run_tug run -d --name doc --health-cmd true --health-interval 1s busybox sleep 300
  local i
  for i in $(seq 100); do
    past_events --filter container=doc --filter event=health_status --format '{{.Action}}'
    [[ -n $output ]] && break
    sleep 0.2
  done
  [ "$output" = "health_status: healthy" ]
  run_tug rm -f doc
}

@test "events --format: templates and {{json .}} with docker's fields" {
  T0=$(date +%s.%N)
  run_tug create --name fmt busybox true
  local id=$output
  past_events --filter event=create --format '{{json .}}'
  [[ ${#lines[@]} -eq 1 ]] || { echo "$output"; false; }
  echo "$output" | jq -e --arg id "$id" '.status == "create" and .id == $id and .from == "busybox"
    and .Type == "container" and .Action == "create" and .Actor.ID == $id
    and .Actor.Attributes.name == "fmt" and .Actor.Attributes.image == "busybox"
    and .scope == "local" and (.time | type) == "number" and (.timeNano / 1e9 | floor) == .time'
  past_events --filter event=create --format '{{.Status}} {{.ID}} {{.From}} {{.Type}} {{.Actor.Attributes.name}} {{.Scope}}'
  [ "$output" = "create $id busybox container fmt local" ]
  past_events --filter event=create --format json
  echo "$output" | jq -e '.Action == "create"'
  # a template that cannot parse: docker's words and its 64
  run_tug 64 events --since "$T0" --until "$(date +%s.%N)" --format '{{.Action'
  [[ $output == "Error parsing format: template: :1: unclosed action" ]] || { echo "$output"; false; }
  run_tug rm fmt
}

@test "events --since/--until: windows in docker's time forms" {
  run_tug volume create early
  sleep 1.1
  local mid
  mid=$(date +%s.%N)
  run_tug volume create late
  local end
  end=$(date +%s.%N)
  # unix seconds on either side
  run_tug events --since "$mid" --until "$end" --filter type=volume --format '{{.Actor.ID}}'
  [ "$output" = "late" ]
  run_tug events --since 0 --until "$mid" --filter type=volume --format '{{.Actor.ID}}'
  [ "$output" = "early" ]
  # a duration before now, and an RFC 3339 time
  run_tug events --since 10m --until "$end" --filter type=volume --format '{{.Actor.ID}}'
  [ "$output" = $'early\nlate' ]
  local rfc
  rfc=$(date -u -d "@${mid}" +%Y-%m-%dT%H:%M:%S.%NZ)
  run_tug events --since "$rfc" --until "$end" --filter type=volume --format '{{.Actor.ID}}'
  [ "$output" = "late" ]
  # a date alone is midnight, local time: both are after it
  run_tug events --since "$(date +%Y-%m-%d)" --until "$end" --filter type=volume --format '{{.Actor.ID}}'
  [ "$output" = $'early\nlate' ]
  # an --until in the past ends at once, nothing after it
  run_tug events --until 1 --filter type=volume
  [ "$output" = "" ]
  # docker's message, as logs gives it
  run_tug 1 events --since yesterday-ish
  [[ $output == 'invalid value for "since": parsing time "yesterday-ish": '* ]]
  run_tug volume rm early late
}

@test "events --filter: one key ORs, different keys AND, unknown keys refused" {
  T0=$(date +%s.%N)
  run_tug create --name fa --label app=web busybox true
  run_tug create --name fb busybox true
  run_tug volume create fvol
  run_tug network create fnet
  past_events --filter container=fa --format '{{.Actor.Attributes.name}} {{.Action}}'
  [ "$output" = "fa create" ]
  past_events --filter container=fa --filter container=fb --format '{{.Actor.Attributes.name}}'
  [ "$output" = $'fa\nfb' ]
  past_events --filter type=container --filter event=create --filter label=app=web --format '{{.Actor.Attributes.name}}'
  [ "$output" = "fa" ]
  past_events --filter label=app --format '{{.Actor.Attributes.name}}'
  [ "$output" = "fa" ]
  past_events --filter volume=fvol --format '{{.Type}} {{.Action}} {{.Actor.ID}}'
  [ "$output" = "volume create fvol" ]
  past_events --filter network=fnet --format '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}'
  [ "$output" = "network create fnet" ]
  past_events --filter type=volume --filter type=network --format '{{.Type}}'
  [ "$output" = $'volume\nnetwork' ]
  past_events --filter image=busybox --filter event=create --format '{{.Actor.Attributes.name}}'
  [ "$output" = $'fa\nfb' ]
  run_tug 1 events --filter colour=red
  [[ $output == *"invalid filter 'colour=red'"* ]]
  run_tug rm fa fb
  run_tug volume rm fvol
  run_tug network rm fnet
}

@test "events: a following run sees a container started after it" {
  "$TUG" events --filter type=container --filter type=volume --format '{{.Action}} {{.Actor.Attributes.name}}{{.Actor.ID}}' \
    >"$BATS_TEST_TMPDIR/follow.out" 2>&1 &
  local pid=$!
  wait_following "$BATS_TEST_TMPDIR/follow.out"
  run_tug run --name late busybox true
  local i
  for i in $(seq 100); do
    grep -q '^die late' "$BATS_TEST_TMPDIR/follow.out" && break
    sleep 0.1
  done
  kill "$pid"
  wait "$pid" || true
  run cat "$BATS_TEST_TMPDIR/follow.out"
  assert_match '^create late[0-9a-f]{64}$'
  assert_match '^start late[0-9a-f]{64}$'
  assert_match '^die late[0-9a-f]{64}$'
  run_tug rm late
}

@test "events: an --until in the future follows until then and ends by itself" {
  local until
  until=$(( $(date +%s) + 4 ))
  "$TUG" events --until "$until" --filter type=volume --format '{{.Actor.ID}}' \
    >"$BATS_TEST_TMPDIR/until.out" 2>&1 &
  local pid=$!
  wait_following "$BATS_TEST_TMPDIR/until.out"
  run_tug volume create during
  local i
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  run kill -0 "$pid"
  [ "$status" -ne 0 ] || { kill "$pid"; echo "events did not end at --until"; false; }
  wait "$pid"
  run grep -v marker "$BATS_TEST_TMPDIR/until.out"
  [ "$output" = "during" ]
  run_tug volume rm during
}

@test "events: image tag, untag and delete" {
  T0=$(date +%s.%N)
  local id
  id=$("$TUG" inspect -f '{{.Id}}' busybox)
  run_tug tag busybox mine:v1
  run_tug rmi mine:v1
  run_tug rmi busybox "$REGISTRY/busybox"
  past_events --filter type=image --format '{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}'
  assert_match "^tag $id mine:v1$"
  assert_match "^untag $id $id$"
  assert_match "^delete $id $id$"
  past_events --filter image=mine:v1 --format '{{.Action}}'
  [ "$output" = "tag" ]
}

@test "events: commit of a container, and the tag of its image" {
  T0=$(date +%s.%N)
  run_tug create --name cm busybox true
  run_tug commit cm committed:v1
  local img=$output
  past_events --filter event=commit --format '{{.Type}} {{.Actor.Attributes.name}} {{.Actor.Attributes.imageID}} {{.Actor.Attributes.imageRef}}'
  [ "$output" = "container cm $img committed:v1" ]
  past_events --filter type=image --filter event=tag --format '{{.Actor.ID}} {{.Actor.Attributes.name}}'
  [ "$output" = "$img committed:v1" ]
  run_tug rm cm
}

@test "events: network create, connect, disconnect, destroy; volume create, mount, unmount, destroy" {
  T0=$(date +%s.%N)
  run_tug network create evnet
  local nid=$output
  run_tug run --name netv --network evnet -v evvol:/data busybox true
  local cid
  cid=$("$TUG" inspect -f '{{.Id}}' netv)
  run_tug rm netv
  run_tug network rm evnet
  run_tug volume rm evvol
  past_events --filter type=network --format '{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}} {{.Actor.Attributes.container}}'
  # a key an event does not have prints as Go's templates print it
  assert_match "^create $nid evnet <no value>$"
  assert_match "^connect $nid evnet $cid$"
  assert_match "^disconnect $nid evnet $cid$"
  assert_match "^destroy $nid evnet <no value>$"
  past_events --filter type=volume --format '{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.container}} {{.Actor.Attributes.destination}}'
  [ "$output" = "create evvol <no value> <no value>
mount evvol $cid /data
unmount evvol $cid /data
destroy evvol <no value> <no value>" ] || { echo "$output"; false; }
  # the container filter takes in the networks and volumes it used
  past_events --filter container=netv --filter type=network --format '{{.Action}}'
  [ "$output" = "" ]
  past_events --filter "container=$cid" --filter type=network --format '{{.Action}}'
  [ "$output" = $'connect\ndisconnect' ]
}

@test "events: the log stays bounded, and reading spans the rotation" {
  export TUG_EVENTS_MAX_BYTES=4096
  T0=$(date +%s.%N)
  local i
  for i in $(seq 40); do
    "$TUG" volume create "bound$i" >/dev/null
  done
  local size
  size=$(cat "$TUG_ROOT"/events/events.log* | wc -c)
  [[ $size -le $((2 * 4096 + 512)) ]] || { echo "the log holds $size bytes"; false; }
  [ -e "$TUG_ROOT/events/events.log.1" ]
  # what the two files hold reads in order, the newest last
  past_events --filter type=volume --format '{{.Actor.ID}}'
  [ "${lines[-1]}" = "bound40" ]
  [[ ${#lines[@]} -ge 10 ]]
  for i in $(seq 40); do "$TUG" volume rm "bound$i" >/dev/null; done
}

@test "events: concurrent emitters never interleave lines, rotating or not" {
  local w i
  for w in 1 2 3 4; do
    (for i in $(seq 15); do "$TUG" volume create "c$w-$i" >/dev/null; done) &
  done
  wait
  # every line of the log is one whole event, and none is lost
  run jq -c -e 'select(.Type == "volume") | .Action' "$TUG_ROOT"/events/events.log
  [ "$status" -eq 0 ] || { echo "a line is not one JSON event: $output"; false; }
  [ "$(grep -c '"Action":"create"' "$TUG_ROOT"/events/events.log)" -eq 60 ]
  # the same while the log rotates under the writers
  export TUG_EVENTS_MAX_BYTES=2048
  for w in 1 2 3 4; do
    (for i in $(seq 15); do "$TUG" volume rm "c$w-$i" >/dev/null; done) &
  done
  wait
  run bash -c "cat '$TUG_ROOT'/events/events.log* | jq -c -e .Action"
  [ "$status" -eq 0 ] || { echo "a line is not one JSON event: $output"; false; }
  local size
  size=$(cat "$TUG_ROOT"/events/events.log* | wc -c)
  [[ $size -le $((2 * 2048 + 512)) ]] || { echo "the log holds $size bytes"; false; }
}

@test "system events is events" {
  T0=$(date +%s.%N)
  run_tug volume create sysev
  run_tug system events --since "$T0" --until "$(date +%s.%N)" --filter type=volume --format '{{.Action}} {{.Actor.ID}}'
  [ "$output" = "create sysev" ]
  run_tug volume rm sysev
}
