# Helpers for the tug serve test files (800-serve.bats, 810-serve-containers.bats): one store
# and one `tug serve` per file, and the clients that talk to it.
# shellcheck shell=bash

# One store and one server for the whole file; busybox in the store.
setup_file() {
  file_registry busybox || return
  source <(sed 's/^/export /' "$BATS_FILE_TMPDIR/registry.env")
  export TUG_ROOT=$BATS_FILE_TMPDIR/root
  mkdir -p "$TUG_ROOT"
  "$TUG" pull -q "$REGISTRY/busybox" >/dev/null && "$TUG" tag "$REGISTRY/busybox" busybox || return
  local sock=$BATS_FILE_TMPDIR/tug.sock
  "$TUG" serve -H "unix://$sock" >"$BATS_FILE_TMPDIR/serve.log" 2>&1 3>&- &
  echo $! >"$BATS_FILE_TMPDIR/serve.pid"
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -S $sock ]] && return 0
    sleep 0.1
  done
  echo "tug serve did not listen on $sock: $(cat "$BATS_FILE_TMPDIR/serve.log")" >&2
  return 1
}

teardown_file() {
  local pid i
  if pid=$(cat "$BATS_FILE_TMPDIR/serve.pid" 2>/dev/null) && kill "$pid" 2>/dev/null; then
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  file_registry_stop
}

setup() {
  source <(sed 's/^/export /' "$BATS_FILE_TMPDIR/registry.env")
  export TUG_ROOT=$BATS_FILE_TMPDIR/root
  SOCK=$BATS_FILE_TMPDIR/tug.sock
  export DOCKER_HOST=unix://$SOCK
  export DOCKER_CONFIG=$BATS_FILE_TMPDIR/docker-config # no user's context or config
}

# What a test made goes: its containers and volumes (the images stay for the file). Running
# containers are on --network none: no bridge outlives the file's store.
teardown() {
  local ids
  ids=$(timeout 30 "$TUG" ps -aq) || true
  [[ -n $ids ]] && timeout 60 "$TUG" rm -f $ids >/dev/null 2>&1
  ids=$(timeout 30 "$TUG" volume ls -q) || true
  [[ -n $ids ]] && timeout 60 "$TUG" volume rm -f $ids >/dev/null 2>&1
  return 0
}

need_docker() { command -v docker >/dev/null || skip "the docker CLI is not installed"; }

# run_docker [STATUS] ARGS...: the docker CLI against tug serve, as run_tug runs tug.
run_docker() {
  local expected=0
  if [[ $1 =~ ^[0-9]+$ ]]; then expected=$1; shift; fi
  run timeout 60 docker "$@"
  if [[ $status -ne $expected ]]; then
    echo "docker $*: exit status $status, expected $expected" >&2
    echo "output: $output" >&2
    return 1
  fi
}

# api PATH [CURL ARGS...]: curl over the socket; $output is the status line's code, a space
# and the body.
api() {
  local path=$1
  shift
  run curl -s --max-time 30 --unix-socket "$SOCK" -w ' %{http_code}' "$@" "http://tug$path"
  [[ $status -eq 0 ]] || { echo "curl $path: exit status $status" >&2; return 1; }
  output=${output//$'\n'/} # the JSON's closing newline
}

# raw BYTES: send BYTES (printf format) on a new connection; $output is what came back.
raw() {
  run timeout 30 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode("latin-1").decode("unicode_escape").encode("latin-1"))
s.shutdown(socket.SHUT_WR)
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode("latin-1"))
' "$SOCK" "$1"
}

# wait_state NAME STATE: poll (bounded) until tug inspect says STATE.
wait_state() {
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $("$TUG" inspect -f '{{.State.Status}}' "$1" 2>/dev/null) == "$2" ]] && return 0
    sleep 0.1
  done
  echo "$1 is $("$TUG" inspect -f '{{.State.Status}}' "$1" 2>&1), not $2" >&2
  return 1
}
