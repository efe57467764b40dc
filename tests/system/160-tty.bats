#!/usr/bin/env bats
# Terminals and stdin: -t gives a real pty (sized like the caller's), -i forwards stdin to EOF,
# Ctrl-C reaches the container, and without -t stdout and stderr stay apart.
# `script` (util-linux) gives the test a terminal of its own.

load containers

setup_file() { containers_setup_file; }

# in_pty COMMAND: run COMMAND in a new pseudo-terminal of 33 rows and 101 columns; bytes on
# stdin are typed into it (at the end of stdin `script` types the EOF character, which a raw
# terminal echoes as a NUL byte: the output is matched without anchors)
in_pty() {
  timeout 60 script -qefc "stty rows 33 cols 101; $*" /dev/null
}

@test "run -it gives the container a terminal of the caller's size" {
  run in_pty "$TUG run -it --rm busybox sh -c 'tty; stty size; echo \$TERM'" </dev/null
  [[ $status -eq 0 ]]
  assert_match '/dev/pts/[0-9]+'
  assert_match '(^|[^0-9])33 101'
  assert_match 'xterm'
}

@test "without -t the container has no terminal, and stdout and stderr stay apart" {
  run_tug 1 run --rm busybox tty
  assert_match 'not a tty'
  run bash -c "'$TUG' run --rm busybox sh -c 'echo to-out; echo to-err >&2' 2>/dev/null"
  [[ $output == to-out ]]
  run bash -c "'$TUG' run --rm busybox sh -c 'echo to-out; echo to-err >&2' 2>&1 >/dev/null"
  [[ $output == to-err ]]
}

@test "-i forwards stdin to the container, end of input included" {
  run bash -c "printf 'one\ntwo\nthree\n' | '$TUG' run -i --rm busybox wc -l"
  [[ $status -eq 0 && $output =~ ^[[:space:]]*3$ ]]
  run bash -c "echo hello | '$TUG' run -i --rm busybox cat"
  [[ $output == hello ]]
  # without -i the container reads nothing
  run bash -c "echo hello | '$TUG' run --rm busybox cat"
  [[ -z $output ]]
}

@test "Ctrl-C in a -it session interrupts the container's foreground command, not the session" {
  run bash -c "{ sleep 2; printf 'sleep 30\r'; sleep 1; printf '\003'; sleep 1; printf 'echo after-interrupt; exit 4\r'; sleep 2; } | script -qefc \"stty rows 33 cols 101; '$TUG' run -it --rm busybox sh\" /dev/null"
  [[ $status -eq 4 ]]
  assert_match 'after-interrupt'
}

@test "exec -it gives the command a terminal; exec -i forwards stdin" {
  run_tug run -d --name ttyhost busybox sleep 120
  run in_pty "$TUG exec -it ttyhost sh -c 'tty; stty size'" </dev/null
  [[ $status -eq 0 ]]
  assert_match '/dev/pts/[0-9]+'
  assert_match '(^|[^0-9])33 101'
  run bash -c "echo piped | '$TUG' exec -i ttyhost cat"
  [[ $output == piped ]]
}
