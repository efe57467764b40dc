#!/usr/bin/env bats
# Real clients against tug serve (issue 13): docker-compose 1.29.2 (Debian's), dockerode and
# testcontainers (npm's, from tests/fixtures/serve-clients/node, installed by
# scripts/install-deps.sh) and python3-docker (Debian's), each running what a user of it runs.
# Images come from the file's registry, never the internet.

source "$BATS_TEST_DIRNAME/containers.bash" # discard_store, wait_until
source "$BATS_TEST_DIRNAME/serve.bash"      # one store and one server for the file

CLIENTS=$BATS_TEST_DIRNAME/../fixtures/serve-clients
NODE_DIR=$CLIENTS/node
PROJECT=tug870

eval "_serve_teardown_file() $(declare -f teardown_file | sed 1d)"
# The server and the registry go, then the store's bridges with it (the clients' containers
# ran on bridges: compose's network, testcontainers' published port). What the sanitizers saw
# in the server (TUG=build-asan/tug) fails the file.
teardown_file() {
  _serve_teardown_file
  BATS_TEST_TMPDIR=$BATS_FILE_TMPDIR discard_store "$BATS_FILE_TMPDIR/root"
  if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$BATS_FILE_TMPDIR/serve.log"; then
    echo "tug serve's log: $(cat "$BATS_FILE_TMPDIR/serve.log")" >&2
    return 1
  fi
}

eval "_serve_teardown() $(declare -f teardown | sed 1d)"
# serve.bash's (containers and volumes go), then the networks the clients made.
teardown() {
  [[ -n ${COMPOSE_FILE:-} ]] && timeout 120 docker-compose down -v --remove-orphans >/dev/null 2>&1
  _serve_teardown
  local n
  for n in $(timeout 30 "$TUG" network ls -q --filter type=custom 2>/dev/null); do
    timeout 30 "$TUG" network rm "$n" >/dev/null 2>&1
  done
  return 0
}

# run_client [STATUS] CMD...: a client program, with a timeout; as run_tug, the status checked.
run_client() {
  local expected=0
  if [[ $1 =~ ^[0-9]+$ ]]; then expected=$1; shift; fi
  run timeout 180 "$@"
  if [[ $status -ne $expected ]]; then
    echo "$*: exit status $status, expected $expected" >&2
    echo "output: $output" >&2
    return 1
  fi
}

# assert_has TEXT: some line of $output contains TEXT.
assert_has() {
  grep -qF -- "$1" <<<"$output" && return 0
  echo "no line has '$1' in: $output" >&2
  return 1
}

need_node() {
  [[ -d $NODE_DIR/node_modules/dockerode && -d $NODE_DIR/node_modules/testcontainers ]] ||
    { echo "the node clients are not installed: run scripts/install-deps.sh" >&2; return 1; }
}

@test "docker-compose up builds web, runs db on a volume, both on a network; down -v cleans up" {
  export COMPOSE_PROJECT_NAME=$PROJECT COMPOSE_FILE=$CLIENTS/compose/docker-compose.yml
  WEB_PORT=$(fixture_free_port)
  export WEB_PORT
  run_client docker-compose up -d
  run_client docker-compose ps
  [[ $(grep -c ' Up ' <<<"$output") -eq 2 ]] || { echo "not both Up: $output" >&2; return 1; }
  assert_has "${PROJECT}_web_1"
  assert_has "${PROJECT}_db_1"
  assert_has "127.0.0.1:$WEB_PORT->80/tcp"

  # web reaches db by its name on the project's network; db serves what it wrote on its volume
  run_client docker-compose exec -T web wget -qO- http://db:5000/
  [[ $output == "hello from db" ]] || { echo "db answered: $output" >&2; return 1; }
  run curl -fsS --max-time 10 "http://127.0.0.1:$WEB_PORT/"
  [[ $status -eq 0 && $output == "<h1>served by web through tug</h1>" ]] ||
    { echo "curl of the published port ($status): $output" >&2; return 1; }
  wait_until 30 eval 'docker-compose logs --no-color db | grep -q "db ready"'
  run_client docker-compose logs --no-color
  assert_has "db ready"
  assert_has "web serving"

  # up again (what a user of compose runs all day) finds the project as it left it: the
  # network and volume it made have the options and labels it gave them
  run_client docker-compose up -d
  assert_has "${PROJECT}_db_1 is up-to-date"
  assert_has "${PROJECT}_web_1 is up-to-date"

  run_tug volume ls -q
  assert_has "${PROJECT}_data"
  run_tug network ls --format '{{.Name}}'
  assert_has "${PROJECT}_back"

  run_client docker-compose down -v
  unset COMPOSE_FILE
  run_tug ps -a --format '{{.Names}}'
  [[ $output != *"$PROJECT"* ]] || { echo "containers left: $output" >&2; return 1; }
  run_tug network ls --format '{{.Name}}'
  [[ $output != *"$PROJECT"* ]] || { echo "networks left: $output" >&2; return 1; }
  run_tug volume ls -q
  [[ $output != *"$PROJECT"* ]] || { echo "volumes left: $output" >&2; return 1; }
}

@test "dockerode lists, creates, starts, reads the logs of, waits for and removes a container" {
  need_node
  run_client node "$NODE_DIR/dockerode.js" "$REGISTRY/busybox"
  assert_has "running: /dockerode-smoke"
  assert_has "exit status 0"
  assert_has "stdout: hello from dockerode"
  assert_has "stderr: to stderr"
  assert_has "stdout: bye"
  assert_has "state exited"
  assert_has "removed: 404"
  run_tug ps -aq
  [[ -z $output ]] || { echo "left: $output" >&2; return 1; }
}

@test "testcontainers starts a GenericContainer, waits for its port, the host fetches, stop reaps" {
  need_node
  export TESTCONTAINERS_RYUK_DISABLED=true TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
  run_client node "$NODE_DIR/testcontainers.js" "$REGISTRY/busybox"
  assert_has "GET / 200: hello from testcontainers"
  assert_has "stopped"
  run_tug ps -aq
  [[ -z $output ]] || { echo "left: $output" >&2; return 1; }
}

@test "python3-docker: images, volumes, networks, containers, exec, streamed logs, attach" {
  run_client /usr/bin/python3 "$CLIENTS/pydocker.py" "$REGISTRY/busybox"
  assert_has "image "
  assert_has "container py-ticker running"
  assert_has "exec: 3"
  assert_has "logs streamed: tick 0, tick 1, tick 2"
  assert_has "attach: echo through attach; cat exited 0"
  assert_has "network and volume removed"
  run_tug ps -aq
  [[ -z $output ]] || { echo "left: $output" >&2; return 1; }
}
