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
