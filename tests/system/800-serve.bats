#!/usr/bin/env bats
# tug serve: the Docker Engine API on a unix socket, over the same store as the CLI. The
# clients are real ones (docker's CLI, curl, python3-docker): what tug makes, they see.

source "$BATS_TEST_DIRNAME/helpers.bash"
bats_require_minimum_version 1.5.0

source "$BATS_TEST_DIRNAME/serve.bash"

@test "docker version shows tug as the server, at tug's version and API 1.41" {
  need_docker
  local v
  v=$("$TUG" version --format '{{.Server.Version}}')
  run_docker version
  assert_match "^Server: tug$"
  assert_match "^  Version: +$v$"
  assert_match "^  API version: +1\.41 \(minimum version 1\.24\)$"
  run_docker version --format '{{.Server.Version}} {{.Server.Os}}/{{.Server.Arch}}'
  [[ $output == "$v linux/$(tug_arch)" ]] || { echo "got: $output" >&2; return 1; }
}

tug_arch() { "$TUG" version --format '{{.Server.Arch}}'; }

@test "docker info counts tug's containers and images" {
  need_docker
  run_tug create --name counted busybox true
  run_docker info
  assert_match "^ Containers: 1$"
  assert_match "^  Stopped: 1$"
  assert_match "^ Images: 1$"
  assert_match "^ Server Version: $("$TUG" version --format '{{.Server.Version}}')$"
  run_docker info --format '{{.DockerRootDir}}'
  [[ $output == "$("$TUG" info --format '{{.DockerRootDir}}')" ]]
}

@test "docker ps -a lists a container tug create made; docker ps only running ones" {
  need_docker
  run_tug create --name made-by-tug --label team=a busybox sh -c 'echo hi'
  local id
  id=$("$TUG" inspect -f '{{.Id}}' made-by-tug)
  run_docker ps -a
  [[ ${lines[0]} =~ ^CONTAINER\ ID\ +IMAGE\ +COMMAND\ +CREATED\ +STATUS\ +PORTS\ +NAMES$ ]]
  assert_match "^${id:0:12} +busybox +\"sh -c 'echo hi'\" +.* Created +made-by-tug$"
  run_docker ps
  [[ ${#lines[@]} -eq 1 ]] || { echo "docker ps listed: $output" >&2; return 1; }
  run_docker ps -aq --no-trunc
  [[ $output == "$id" ]]
  run_docker ps -a --filter label=team=a --format '{{.Names}} {{.Label "team"}}'
  [[ $output == "made-by-tug a" ]]
  run_docker ps -a --filter label=team=b --format '{{.Names}}'
  [[ -z $output ]]
  run_docker 1 ps -a --filter status=bogus
  [[ $output == "Error response from daemon: Invalid filter 'status=bogus'" ]]
}

@test "docker ps shows a running container as Up, and limit (-n) keeps the newest" {
  need_docker
  run_tug run -d --network none --name runner busybox sleep 300
  run_tug create --name second busybox true
  run_docker ps --format '{{.Names}} {{.State}}'
  [[ $output == "runner running" ]] || { echo "got: $output" >&2; return 1; }
  run_docker ps --format '{{.Status}}'
  assert_match '^Up '
  run_docker ps -a -n 1 --format '{{.Names}}'
  [[ $output == "second" ]]
}

@test "docker images lists tug's images with their IDs" {
  need_docker
  local id
  id=$("$TUG" image inspect -f '{{.Id}}' busybox)
  run_docker images
  [[ ${lines[0]} =~ ^REPOSITORY\ +TAG\ +IMAGE\ ID\ +CREATED\ +SIZE$ ]]
  assert_match "^busybox +latest +${id:7:12} "
  assert_match "^$REGISTRY/busybox +latest +${id:7:12} "
  run_docker images --filter reference=busybox --format '{{.Repository}}:{{.Tag}}'
  [[ $output == "busybox:latest" ]] || { echo "got: $output" >&2; return 1; }
  run_docker images --filter dangling=true -q
  [[ -z $output ]]
}

@test "docker inspect and history show the documents tug inspect shows" {
  need_docker
  run_tug create --name inspected busybox true
  run_docker inspect -f '{{.Name}} {{.Config.Image}} {{.State.Status}}' inspected
  [[ $output == "/inspected busybox created" ]] || { echo "got: $output" >&2; return 1; }
  run_docker container inspect -f '{{.Id}}' inspected
  [[ $output == "$("$TUG" inspect -f '{{.Id}}' inspected)" ]]
  run_docker image inspect -f '{{.Id}} {{index .RepoTags 0}}' busybox
  [[ $output == "$("$TUG" image inspect -f '{{.Id}} {{index .RepoTags 0}}' busybox)" ]]
  run_docker history --format '{{.CreatedBy}}' busybox
  [[ $output == "$("$TUG" history --format '{{.CreatedBy}}' busybox)" ]]
}

@test "an object that is not there: docker's words and exit status 1" {
  need_docker
  run_docker 1 container inspect nosuch
  assert_match "^Error response from daemon: No such container: nosuch$"
  run_docker 1 inspect nosuch
  assert_match "^Error: No such object: nosuch$"
  run_docker 1 image inspect nosuch
  assert_match "No such image: nosuch"
  run_docker 1 network inspect nosuch
  assert_match "network nosuch not found"
  run_docker 1 volume inspect nosuch
  assert_match "get nosuch: no such volume"
  api /v1.41/containers/nosuch/json
  [[ $output == '{"message":"No such container: nosuch"} 404' ]] || { echo "got: $output" >&2; return 1; }
}

@test "docker network ls and volume ls list tug's networks and volumes" {
  need_docker
  run_tug volume create --label k=v served-vol
  run_docker network ls
  [[ ${lines[0]} =~ ^NETWORK\ ID\ +NAME\ +DRIVER\ +SCOPE$ ]]
  assert_match " bridge +bridge +local$"
  run_docker volume ls
  assert_match "^local +served-vol$"
  run_docker volume inspect -f '{{.Name}} {{.Labels.k}}' served-vol
  [[ $output == "served-vol v" ]]
  run_docker network inspect -f '{{.Name}} {{.Driver}}' bridge
  [[ $output == "bridge bridge" ]]
  run_tug volume create other-vol
  run_docker volume ls --filter name=served -q
  [[ $output == served-vol ]]
  run_docker volume ls --filter label=k=v --filter dangling=true -q
  [[ $output == served-vol ]]
  run_docker 1 volume ls --filter bogus=1
  [[ $output == "Error response from daemon: invalid filter 'bogus=1'" ]]
  # network filters: the library's, as tug network ls --filter matches them
  run_docker network ls --filter name=bridge --format '{{.Name}}'
  [[ $output == bridge ]]
}

@test "docker system df sums tug's images, containers and volumes" {
  need_docker
  run_tug create --name sized busybox true
  run_tug volume create df-vol
  run_docker system df
  [[ ${lines[0]} =~ ^TYPE\ +TOTAL\ +ACTIVE\ +SIZE\ +RECLAIMABLE$ ]]
  assert_match "^Images +1 +1 "
  assert_match "^Containers +1 +0 "
  assert_match "^Local Volumes +1 +0 "
  run_docker system df -v
  assert_match "busybox +latest +[0-9a-f]{12} "
  assert_match "^df-vol +0 "
}

@test "GET and HEAD /_ping answer OK with the API's headers, versioned or not" {
  run curl -si --max-time 30 --unix-socket "$SOCK" http://tug/_ping
  assert_match $'^HTTP/1.1 200 OK\r$'
  assert_match $'^Api-Version: 1.41\r$'
  assert_match $'^Ostype: linux\r$'
  assert_match $'^Docker-Experimental: false\r$'
  [[ ${lines[-1]} == OK ]]
  run curl -sI --max-time 30 --unix-socket "$SOCK" http://tug/v1.45/_ping
  assert_match $'^HTTP/1.1 200 OK\r$'
  assert_match $'^Content-Length: 0\r$'
  api /v1.40/version
  assert_match '"ApiVersion":"1.41".* 200$'
  api /v1.99/version
  [[ $output == '{"message":"client version 1.99 is too new. Maximum supported API version is 1.45"} 400' ]]
  api /v1.41/no/such/path
  [[ $output == '{"message":"page not found"} 404' ]]
}

@test "what is not served yet says so: 501 and the way out" {
  api /v1.41/swarm/init -X POST
  assert_match '"message":"tug serve does not serve POST /swarm/init yet; use the tug CLI for it"\} 501$'
}

@test "one connection carries several requests (keep-alive)" {
  run curl -sv --max-time 30 --unix-socket "$SOCK" http://tug/_ping http://tug/v1.41/version
  assert_match "Re-using existing connection|Reusing existing connection"
  assert_match '"ApiVersion":"1.41"'
}

@test "a malformed request is answered 400 with a message, and the server goes on" {
  raw 'GARBAGE\r\n\r\n'
  assert_match $'^HTTP/1.1 400 Bad Request\r$'
  assert_match '^\{"message":"malformed HTTP request line"\}$'
  raw 'GET /_ping HTTP/1.1\r\nHost: x\r\n folded: no\r\n\r\n'
  assert_match $'^HTTP/1.1 400 Bad Request\r$'
  raw 'GET /_ping HTTP/1.1\r\n\r\n'
  assert_match '"missing required Host header"'
  raw 'GET /_ping HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n'
  assert_match '"both Content-Length and Transfer-Encoding given"'
  # a head that never ends is cut off at 64 KiB
  raw "GET /_ping HTTP/1.1\r\nHost: x\r\nX-Big: $(head -c 70000 /dev/zero | tr '\0' a)\r\n\r\n"
  assert_match $'^HTTP/1.1 431 Request Header Fields Too Large\r$'
  api /_ping
  [[ $output == "OK 200" ]]
}

@test "python3-docker lists tug's containers and images" {
  python3 -c 'import docker' 2>/dev/null || skip "python3-docker is not installed"
  run_tug create --name py-sees-me busybox true
  run timeout 60 python3 -c '
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1])
print(" ".join(sorted(x.name for x in c.containers.list(all=True))))
print(" ".join(sorted(t for i in c.images.list() for t in i.tags)))
print(c.version()["Version"])
' "$DOCKER_HOST"
  [[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
  [[ ${lines[0]} == py-sees-me ]]
  [[ ${lines[1]} == "$REGISTRY/busybox:latest busybox:latest" ]] || { echo "got: ${lines[1]}" >&2; return 1; }
  [[ ${lines[2]} == "$("$TUG" version --format '{{.Server.Version}}')" ]]
}

@test "the socket is 0660, and a live one is not taken over" {
  [[ $(stat -c %a "$SOCK") == 660 ]]
  run_tug 1 serve -H "unix://$SOCK"
  [[ $output == "Error: a server already answers on $SOCK: stop it or give another path with -H" ]]
}

@test "tcp:// off loopback without TLS is refused (860-serve-socket.bats serves TCP); a bad --time too" {
  run_tug 1 serve -H tcp://0.0.0.0:2375
  [[ $output == "Error: cannot serve tcp://0.0.0.0:2375 without TLS: the API gives root on this machine to whoever reaches it; give --tlsverify with --tlscacert, --tlscert and --tlskey, or a loopback address (tcp://127.0.0.1:PORT)" ]]
  run_tug 125 serve --time soon
  assert_match 'invalid argument "soon" for "-t, --time" flag'
}

@test "serve --time N exits after N idle seconds and removes its socket" {
  local sock=$BATS_TEST_TMPDIR/idle.sock pid
  "$TUG" serve -H "unix://$sock" --time 1 >"$BATS_TEST_TMPDIR/idle.log" 2>&1 3>&- &
  pid=$!
  local i
  for ((i = 0; i < 100; i++)); do [[ -S $sock ]] && break; sleep 0.1; done
  run curl -s --max-time 10 --unix-socket "$sock" http://tug/_ping
  [[ $output == OK ]]
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    echo "tug serve --time 1 still runs after 10 s" >&2
    return 1
  fi
  wait "$pid"
  [[ ! -e $sock ]]
}

# start_server SOCK LOG [ARGS...]: tug serve in the background on SOCK, once it answers (a
# stale socket file may be there before it); $server_pid
start_server() {
  local sock=$1 log=$2 i
  shift 2
  "$TUG" serve -H "unix://$sock" "$@" >"$log" 2>&1 3>&- &
  server_pid=$!
  for ((i = 0; i < 100; i++)); do
    [[ $(curl -s --max-time 5 --unix-socket "$sock" http://tug/_ping 2>/dev/null) == OK ]] && return 0
    sleep 0.1
  done
  echo "tug serve did not listen on $sock: $(cat "$log")" >&2
  return 1
}

@test "tug serve killed -9 changes nothing for containers; a new one takes over its socket" {
  need_docker
  local sock=$BATS_TEST_TMPDIR/k.sock
  start_server "$sock" "$BATS_TEST_TMPDIR/k.log"
  run_tug run -d --network none --name survivor busybox sleep 300
  kill -9 "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  [[ -S $sock ]] # left behind by the kill
  [[ $("$TUG" inspect -f '{{.State.Status}}' survivor) == running ]]
  start_server "$sock" "$BATS_TEST_TMPDIR/k2.log"
  DOCKER_HOST=unix://$sock run timeout 60 docker ps --format '{{.Names}} {{.State}}'
  kill "$server_pid"
  [[ $status -eq 0 && $output == "survivor running" ]] || { echo "got ($status): $output" >&2; return 1; }
}

@test "serve --help" {
  run_tug serve --help
  assert_match "^Usage:  tug serve \[OPTIONS\]$"
  assert_match "^  -H, --host string "
  assert_match "^  -t, --time int "
}
