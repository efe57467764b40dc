#!/usr/bin/env bats
# ps in detail: COMMAND quoted and cut as docker's, the filters before/since/publish/expose/
# network/volume, -s and the fields --format knows (.Size .Mounts .LocalVolumes .Networks
# .RunningFor .State .Status .Label), and docker's template errors.

load containers

setup_file() { containers_setup_file; }

# ps_names ARGS...: `ps -a ARGS`; $output is the names, sorted, on one line
ps_names() {
  run_tug ps -a --format '{{.Names}}' "$@"
  output=$(sort <<<"$output" | xargs)
}

@test "COMMAND is quoted as Go quotes it and cut at 20 characters with an ellipsis" {
  run_tug create --name long busybox sh -c "echo 'daemon off;' && sleep 1"
  run_tug create --name short busybox echo 'a"b'
  run_tug ps -a --format '{{.Names}} {{.Command}}'
  assert_match "^long \"sh -c 'echo 'daemon…\"$"
  assert_match '^short "echo a\\"b"$'
  run_tug ps -a --no-trunc --format '{{.Names}} {{.Command}}'
  assert_match "^long \"sh -c 'echo 'daemon off;' && sleep 1'\"$"
  # the table shows the same cell under COMMAND
  run_tug ps -a --filter name=long
  [[ ${lines[0]} =~ ^CONTAINER\ ID\ +IMAGE\ +COMMAND\ +CREATED\ +STATUS\ +PORTS\ +NAMES$ ]]
  assert_match " +busybox +\"sh -c 'echo 'daemon…\" +"
}

@test "ps --filter before= and since= take a container's name or ID" {
  local name
  for name in one two three; do run_tug create --name $name busybox true; done
  local two
  two=$(inspect_f two '{{.Id}}')
  ps_names --filter before=two
  assert_output "one"
  ps_names --filter since=two
  assert_output "three"
  ps_names --filter since=${two:0:12}
  assert_output "three"
  ps_names --filter since=one --filter before=three
  assert_output "two"
  run_tug 1 ps -a --filter before=nosuch
  assert_output "Error: no such container nosuch"
}

@test "ps --filter publish= takes a port, a port/proto or a range; expose= the container's port" {
  run_tug run -d --name pub -p 127.0.0.1:18080:80 busybox sleep 60
  run_tug run -d --name plain busybox sleep 60
  ps_names --filter publish=18080
  assert_output "pub"
  ps_names --filter publish=18080/tcp
  assert_output "pub"
  ps_names --filter publish=18000-18100
  assert_output "pub"
  ps_names --filter publish=18080/udp
  assert_output ""
  ps_names --filter expose=80
  assert_output "pub"
  ps_names --filter expose=80/tcp
  assert_output "pub"
  ps_names --filter expose=79-8080
  assert_output "pub"
  ps_names --filter expose=18080
  assert_output ""
  run_tug 1 ps --filter publish=18080:80
  assert_match "filter for 'publish' should not contain ':': 18080:80"
  run_tug 1 ps --filter expose=x-y
  assert_output 'Error: error while looking up for expose x-y: strconv.ParseUint: parsing "x": invalid syntax'
  # docker's words for the other refusals
  run_tug 1 ps --filter status=bogus
  assert_output "Error: Invalid filter 'status=bogus'"
  run_tug 1 ps --filter exited=x
  assert_output 'Error: strconv.Atoi: parsing "x": invalid syntax'
  run_tug 125 ps --filter noequals
  assert_match '^invalid argument "noequals" for "-f, --filter" flag: bad format of filter \(expected name=value\)$'
}

@test "ps --filter network= and volume=; .Networks .Mounts .LocalVolumes" {
  run_tug network create ps-net
  run_tug run -d --name onnet --network ps-net -v psvol:/data busybox sleep 60
  run_tug run -d --name nonet --network none -v /tmp:/hosttmp busybox sleep 60
  run_tug run -d --name dflt busybox sleep 60
  ps_names --filter network=ps-net
  assert_output "onnet"
  ps_names --filter network=bridge
  assert_output "dflt"
  local netid
  netid=$(timeout 30 "$TUG" network inspect -f '{{.Id}}' ps-net)
  ps_names --filter network=${netid:0:12}
  assert_output "onnet"
  ps_names --filter volume=psvol
  assert_output "onnet"
  ps_names --filter volume=/hosttmp
  assert_output "nonet"
  run_tug ps --format '{{.Names}}|{{.Networks}}|{{.Mounts}}|{{.LocalVolumes}}'
  assert_match '^onnet\|ps-net\|psvol\|1$'
  assert_match '^nonet\|none\|/tmp\|0$'
  assert_match '^dflt\|bridge\|\|0$'
  run_tug rm -f onnet nonet dflt
  run_tug network rm ps-net
}

@test "ps -s and .Size show what the container wrote and the virtual size with its image" {
  run_tug run -d --name writer busybox sh -c 'printf ab >/two; sleep 60'
  wait_until 10 eval '[[ $(timeout 5 "$TUG" exec writer cat /two) == ab ]]'
  run_tug ps -s
  [[ ${lines[0]} =~ ^CONTAINER\ ID\ +IMAGE\ +COMMAND\ +CREATED\ +STATUS\ +PORTS\ +NAMES\ +SIZE$ ]]
  assert_match ' writer +[0-9.]+k?B \(virtual [0-9.]+MB\)$'
  # docker works the size out for a template that shows it, without -s
  run_tug ps --format '{{.Size}}'
  [[ $output =~ ^[0-9.]+k?B\ \(virtual\ [0-9.]+MB\)$ ]]
  run_tug ps --format 'table {{.Names}}\t{{.Size}}'
  [[ ${lines[0]} =~ ^NAMES\ +SIZE$ ]]
}

@test ".State, .Status and .RunningFor read as docker's" {
  run_tug run -d --name up busybox sleep 60
  run_tug 3 run --name down busybox sh -c 'exit 3'
  run_tug create --name fresh busybox true
  run_tug ps -a --format '{{.Names}}|{{.State}}|{{.Status}}|{{.RunningFor}}'
  assert_match '^up\|running\|Up (Less than a second|[0-9]+ seconds?)\|(Less than a second|[0-9]+ seconds?) ago$'
  assert_match '^down\|exited\|Exited \(3\) (Less than a second|[0-9]+ seconds?) ago\|'
  assert_match '^fresh\|created\|Created\|'
}

@test ".Label picks one label; template functions work on rows" {
  run_tug run -d --name lab -l com.example.app-name=shop -l tier=web busybox sleep 60
  run_tug ps --format '{{.Label "com.example.app-name"}}|{{.Label "none"}}|{{.Names | upper}}|{{printf "%-6s|" .State}}{{pad .Names 1 1}}|{{truncate .Names 2}}'
  assert_output "shop||LAB|running| lab |la"
  run_tug ps --format 'table {{.Names}}\t{{.Label "com.example.app-name"}}\t{{.Names | upper}}'
  [[ ${lines[0]} =~ ^NAMES\ +app\ name\ +NAMES$ ]]
  [[ ${lines[1]} =~ ^lab\ +shop\ +LAB$ ]]
  run_tug ps --format '{{if eq .State "running" "paused"}}live{{else}}not{{end}} {{len .Names}} {{split .Labels "," | len}}'
  assert_output "live 3 2"
  run_tug ps --format json
  [[ $(jq -r .Names <<<"$output") == lab ]]
  [[ $(jq -r 'keys | join(",")' <<<"$output") == Command,CreatedAt,ID,Image,Labels,LocalVolumes,Mounts,Names,Networks,Platform,Ports,RunningFor,Size,State,Status ]]
}

@test "ps checks --format over an empty row first, as docker: its errors and exit 1" {
  # no container at all: the template is still checked
  run_tug 1 ps --format '{{.Nope}}'
  assert_output 'failed to execute template: template: :1:2: executing "" at <.Nope>: can'"'"'t evaluate field Nope in type *formatter.ContainerContext'
  # positions count in the format as written, "table " and all
  run_tug 1 ps --format 'table {{.Nope}}'
  assert_output 'failed to execute template: template: :1:8: executing "" at <.Nope>: can'"'"'t evaluate field Nope in type *formatter.ContainerContext'
  run_tug 1 ps --format '{{.Names'
  assert_output 'failed to parse template: template: :1: unclosed action'
  run_tug 1 ps --format '{{nope .Names}}'
  assert_output 'failed to parse template: template: :1: function "nope" not defined'
  run_tug 1 ps --format '{{index .Labels 3}}'
  assert_output 'failed to execute template: template: :1:2: executing "" at <index .Labels 3>: error calling index: index out of range: 3'
  # a row's fields take no arguments; .Label takes one string
  run_tug 1 ps --format '{{.Names "x"}}'
  assert_output 'failed to execute template: template: :1:2: executing "" at <.Names>: wrong number of args for Names: want 0 got 1'
  run_tug 1 ps --format '{{.Label}}'
  assert_output 'failed to execute template: template: :1:2: executing "" at <.Label>: wrong number of args for Label: want 1 got 0'
  run_tug 1 ps --format '{{.Label 1}}'
  assert_output 'failed to execute template: template: :1:9: executing "" at <1>: expected string; found 1'
  run_tug 1 ps --format '{{pad .Names "a" 1}}'
  assert_output 'failed to execute template: template: :1:13: executing "" at <"a">: expected integer; found "a"'
  # an error only a real row meets is the formatter's, and prints none of the rows
  run_tug run -d --name err busybox sleep 60
  run_tug create --name err2 busybox true
  run_tug 1 ps -a --format '{{if .Names}}{{.Names}} {{index (split .Command " ") 1}}{{end}}'
  assert_output 'template parsing error: template: :1:26: executing "" at <index (split .Command " ") 1>: error calling index: reflect: slice index out of range'
  # -q wins over --format, with docker's warning
  run_tug ps -q --format '{{.Names}}'
  [[ ${lines[0]} == "WARNING: Ignoring custom format, because both --format and --quiet are set." ]]
  [[ ${lines[1]} =~ ^[0-9a-f]{12}$ ]]
}
