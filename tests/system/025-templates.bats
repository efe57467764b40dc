#!/usr/bin/env bats
# Go templates as docker's --format and inspect -f take them: Go's functions and docker's,
# variables, range over maps and lists, else if, and docker's errors (exit 1) for ps, images
# and inspect.

load containers

setup_file() { containers_setup_file; }

@test "inspect -f: printf, index, len, json, eq with several values, with/else" {
  run_tug run -d --name web -l com.example.tier=front -l b=2 -p 127.0.0.1:18081:80 busybox sleep 60
  run_tug inspect -f '{{printf "%s|%5.1f|%-4d|%q" .State.Status 2.25 .State.ExitCode .Name}}' web
  assert_output 'running|  2.2|0   |"/web"'
  run_tug inspect -f '{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}} {{index .NetworkSettings.Ports "80/tcp" 0 | json}}' web
  assert_output '18081 {"HostIp":"127.0.0.1","HostPort":"18081"}'
  run_tug inspect -f '{{len .Config.Labels}} {{json .Config.Cmd}} {{join .Config.Cmd "+"}}' web
  assert_output '2 ["sleep","60"] sleep+60'
  run_tug inspect -f '{{if eq .State.Status "paused" "running"}}live{{else}}dead{{end}} {{with .Config.Labels.b}}b={{.}}{{else}}none{{end}}' web
  assert_output 'live b=2'
  run_tug inspect -f '{{if not .State.Running}}stopped{{else if .State.Paused}}paused{{else}}up{{end}} {{and .State.Running .State.Pid | lt 0}} {{or .State.Paused "no"}}' web
  assert_output 'up true no'
}

@test "inspect -f: variables, range \$k, \$v over a map in key order, range \$i, \$e over a list" {
  run_tug run -d --name vars -l zz=last -l aa=first busybox sleep 60
  run_tug inspect -f '{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}' vars
  assert_output 'aa=first;zz=last;'
  run_tug inspect -f '{{range $i, $e := .Config.Cmd}}{{$i}}:{{$e}} {{end}}' vars
  assert_output '0:sleep 1:60 '
  run_tug inspect -f '{{$n := .Name}}{{range .Config.Cmd}}{{$n}}/{{.}}/{{$.Config.Image}} {{end}}' vars
  assert_output '/vars/sleep/busybox /vars/60/busybox '
  run_tug inspect -f '{{range $i, $e := split "a,b,c" ","}}{{if eq $i 1}}{{continue}}{{end}}{{upper $e}}{{end}}' vars
  assert_output 'AC'
}

@test "inspect -f: a field the document lacks is docker's error; a label it lacks is <no value>" {
  run_tug create --name doc busybox true
  # docker's inspect prints an empty line on stdout, then the error
  run_tug 1 inspect -f '{{.Nope}}' doc
  assert_output $'\n''template parsing error: template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"'
  run_tug 1 inspect -f '{{.State.Nope.Status}}' doc
  assert_output $'\n''template parsing error: template: :1:8: executing "" at <.State.Nope.Status>: map has no entry for key "Nope"'
  run_tug inspect -f '{{.Config.Labels.nope}}|{{.GraphDriver.Data.nope}}|{{index .Config.Labels "nope"}}|' doc
  assert_output '<no value>|<no value>||'
  # a container without a health check: docker's nil pointer
  run_tug inspect -f '{{json .State.Health}}|{{.State.Health}}' doc
  assert_output 'null|<nil>'
  run_tug 1 inspect -f '{{.Name.X}}' doc
  assert_output $'\n''template parsing error: template: :1:7: executing "" at <.Name.X>: can'"'"'t evaluate field X in type interface {}'
  # a template inspect cannot parse is docker's status 64
  run_tug 64 inspect -f '{{.Name' doc
  assert_output 'template parsing error: template: :1: unclosed action'
  run_tug 64 inspect -f '{{if .Name}}x' doc
  assert_output 'template parsing error: template: :1: unexpected EOF'
  run_tug 1 inspect -f '{{index .Config.Cmd 5}}' doc
  assert_output $'\n''template parsing error: template: :1:2: executing "" at <index .Config.Cmd 5>: error calling index: index out of range: 5'
  # one document failing prints none of them, as docker's buffered output
  run_tug create --name two busybox sleep 1
  run_tug 1 inspect -f '{{index .Config.Cmd 1}}' two doc
  assert_output $'\n''template parsing error: template: :1:2: executing "" at <index .Config.Cmd 1>: error calling index: reflect: slice index out of range'
  run_tug 64 inspect -f '{{$x}}' doc
  assert_output 'template parsing error: template: :1: undefined variable "$x"'
}

@test "images --format: functions, json, table headers, and the row type in errors" {
  run_tug images busybox --format '{{.Repository | upper}}|{{truncate .ID 4}}|{{printf "%.3s" .Tag}}|{{json .Tag}}'
  assert_output 'BUSYBOX|'"$(timeout 30 "$TUG" images -q busybox | head -c 4)"'|lat|"latest"'
  # docker's image rows have no .Label, and marshal themselves with <> escaped
  run_tug 1 images busybox --format '{{.Label "x"}}'
  assert_output 'template parsing error: template: :1:2: executing "" at <.Label>: can'"'"'t evaluate field Label in type *formatter.imageContext'
  run_tug images busybox --format json
  [[ $output == *'"Digest":"\u003cnone\u003e"'* ]]
  # docker trims the spaces around a list's format
  run_tug images busybox --format '  {{.Tag}}  '
  assert_output 'latest'
  run_tug images busybox --format 'table {{.Repository | lower}}\t{{.Tag | title}}'
  [[ ${lines[0]} =~ ^REPOSITORY\ +TAG$ ]]
  [[ ${lines[1]} =~ ^busybox\ +Latest$ ]]
  run_tug 1 images --format '{{.Nope}}'
  assert_output 'template parsing error: template: :1:2: executing "" at <.Nope>: can'"'"'t evaluate field Nope in type *formatter.imageContext'
  run_tug 1 images --format '{{.Tag 1}}'
  assert_output 'template parsing error: template: :1:2: executing "" at <.Tag>: wrong number of args for Tag: want 0 got 1'
}

@test "image inspect -f ranges over tags and prints Go's values" {
  run_tug image inspect -f '{{range $i, $t := .RepoTags}}{{$i}}={{$t}} {{end}}|{{.Os}}|{{printf "%v" .Config.Env | len | lt 2}}' busybox
  [[ $output =~ ^0=.*busybox:latest\ .*\|linux\|true$ ]]
  run_tug image inspect -f '{{.RootFS.Type}} {{len .RootFS.Layers}} {{slice .Id 0 7}}' busybox
  assert_output 'layers 1 sha256:'
}
