#!/usr/bin/env bats
# tug serve's networks, volumes, events, login and container prune: docker's CLI, curl and
# python3-docker through the Engine API, on the file's private store (its networks are tug's
# own bridges, removed by each test).

source "$BATS_TEST_DIRNAME/helpers.bash"
bats_require_minimum_version 1.5.0

source "$BATS_TEST_DIRNAME/serve.bash"

# The server keeps what POST /auth stores in a config of its own, never the user's.
eval "serve_setup_file() $(declare -f setup_file | tail -n +2)"
setup_file() {
  export DOCKER_CONFIG=$BATS_FILE_TMPDIR/serve-config
  serve_setup_file
}

# serve.bash's teardown (containers, volumes), then the test's networks and registry proxy.
eval "serve_teardown() $(declare -f teardown | tail -n +2)"
teardown() {
  serve_teardown
  timeout 60 "$TUG" network prune -f >/dev/null 2>&1
  authproxy_stop 2>/dev/null
  return 0
}

# wait_for FILE PATTERN: poll (bounded) until a line of FILE matches PATTERN.
wait_for() {
  local i
  for ((i = 0; i < 100; i++)); do
    grep -qE -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "no line of $1 matches /$2/:" >&2
  cat "$1" >&2
  return 1
}

@test "docker network create, ls --filter, inspect, rm: tug's networks, docker's errors" {
  need_docker
  run_docker network create --label team=blue --subnet 10.217.143.0/24 --gateway 10.217.143.1 blue
  [[ $output =~ ^[0-9a-f]{64}$ ]] || { echo "create printed: $output" >&2; return 1; }
  local id=$output
  run_docker network create red
  run_docker 1 network create blue
  [[ $output == "Error response from daemon: network with name blue already exists" ]] ||
    { echo "got: $output" >&2; return 1; }
  api /v1.41/networks/create -X POST -H 'Content-Type: application/json' -d '{"Name":"blue"}'
  [[ $output == '{"message":"network with name blue already exists"} 409' ]]
  # the filters are the library's, the same for docker's CLI and tug's
  run_docker network ls --filter label=team=blue --format '{{.ID}} {{.Name}}'
  [[ $output == "${id:0:12} blue" ]] || { echo "docker: $output" >&2; return 1; }
  run_tug network ls --filter label=team=blue --format '{{.Name}}'
  [[ $output == blue ]]
  run_docker network ls --filter name=re --format '{{.Name}}'
  [[ $output == red ]] || { echo "name=re: $output" >&2; return 1; }
  run_docker network ls --filter type=custom --format '{{.Name}}'
  [[ $(sort <<<"$output" | tr '\n' ' ') == "blue red " ]] || { echo "custom: $output" >&2; return 1; }
  api '/v1.41/networks?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D'
  [[ $output == '{"message":"Invalid filter '"'bogus'"'"} 400' ]] || { echo "got: $output" >&2; return 1; }
  run_docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{.Labels.team}}' blue
  [[ $output == "10.217.143.0/24 10.217.143.1 blue" ]] || { echo "inspect: $output" >&2; return 1; }
  run_docker network rm blue red
  [[ $output == $'blue\nred' ]]
  run_tug network ls --format '{{.Name}}' --filter type=custom
  [[ -z $output ]]
  # docker's CLI 28 adds "exit status 1" after a network rm that failed, whatever the daemon
  run_docker 1 network rm nosuch
  [[ ${lines[0]} == "Error response from daemon: network nosuch not found" ]] || { echo "got: $output" >&2; return 1; }
  api /v1.41/networks/bridge -X DELETE
  [[ $output == '{"message":"bridge is a pre-defined network and cannot be removed"} 403' ]]
  api /v1.41/networks/create -X POST -d '{"Name":"host"}'
  [[ $output == '{"message":"operation is not permitted on predefined host network "} 403' ]]
  api /v1.41/networks/create -X POST -d '{"Name":"x","Driver":"overlay"}'
  [[ $output == *' 404' ]]
}

@test "docker network connect and disconnect a running container; rm of a network in use is refused" {
  need_docker
  run_docker network create front
  run_docker network create back
  run_docker run -d --name app --network front busybox sleep 300
  local id=$output
  run_docker network connect --alias api back app
  run_tug inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' app
  [[ $output == "back front " ]] || { echo "after connect: $output" >&2; return 1; }
  run_docker network inspect -f '{{range .Containers}}{{.Name}}{{end}}' back
  [[ $output == app ]] || { echo "back's containers: $output" >&2; return 1; }
  run_tug network inspect -f '{{range .Containers}}{{.Name}}{{end}}' back
  [[ $output == app ]]
  run_docker 1 network rm back
  [[ $output == "Error response from daemon: error while removing network: network back id "*" has active endpoints"* ]] ||
    { echo "got: $output" >&2; return 1; }
  api /v1.41/networks/back -X DELETE
  [[ $output == *' 403' ]]
  run_docker network disconnect back app
  run_tug inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' app
  [[ $output == "front " ]] || { echo "after disconnect: $output" >&2; return 1; }
  api /v1.41/networks/back/connect -X POST -d '{"Container":"nosuch"}'
  [[ $output == '{"message":"No such container: nosuch"} 404' ]] || { echo "got: $output" >&2; return 1; }
  run_docker rm -f app
  run_docker network rm front back
}

@test "docker network disconnect and connect of a created container record its aliases for its start (compose does this)" {
  need_docker
  run_docker network create front
  run_docker network create other
  run_docker create --name made --network front busybox sleep 300
  run_docker network disconnect front made
  run_docker network connect --alias dbalias front made
  run_tug inspect -f '{{json .NetworkSettings.Networks}}' made
  [[ $output == *'"front"'* ]] || { echo "created container's networks: $output" >&2; return 1; }
  run_docker start made
  run_tug inspect -f '{{range .NetworkSettings.Networks}}{{json .Aliases}}{{end}}' made
  [[ $output == *'"dbalias"'* ]] || { echo "aliases after start: $output" >&2; return 1; }
  run_tug exec made nslookup dbalias
  assert_match "Address"
  # another network joins it only once it runs
  run_docker stop -t 0 made
  run_docker 1 network connect other made
  [[ $output == "Error response from daemon: container made is not running: tug connects it to networks other than front once it runs"* ]] ||
    { echo "got: $output" >&2; return 1; }
  run_docker 1 network disconnect other made
  [[ $output == "Error response from daemon: container made is not connected to network other"* ]] ||
    { echo "got: $output" >&2; return 1; }
  run_docker rm -f made
  run_docker network rm front other
}

@test "docker network prune removes the unused networks its filter selects" {
  need_docker
  run_docker network create --label drop=yes gone1
  run_docker network create kept1
  run_docker network prune -f --filter label=drop=yes
  [[ $output == $'Deleted Networks:\ngone1' ]] || { echo "prune: $output" >&2; return 1; }
  run_tug network ls --format '{{.Name}}' --filter type=custom
  [[ $output == kept1 ]]
  api /v1.41/networks/prune -X POST
  [[ $output == '{"NetworksDeleted":["kept1"]} 200' ]] || { echo "got: $output" >&2; return 1; }
  api /v1.41/networks/prune -X POST
  [[ $output == '{"NetworksDeleted":null} 200' ]]
}

@test "docker volume create, ls, rm, prune; docker run -v NAME:/data keeps what was written" {
  need_docker
  run_docker volume create --label team=blue data1
  [[ $output == data1 ]]
  run_docker volume create
  [[ $output =~ ^[0-9a-f]{64}$ ]] || { echo "create printed: $output" >&2; return 1; }
  local random=$output
  run_tug volume ls -q
  [[ $(sort <<<"$output" | tr '\n' ' ') == "$(printf '%s\n' data1 "$random" | sort | tr '\n' ' ')" ]]
  run_docker volume inspect -f '{{.Name}} {{.Driver}} {{.Labels.team}}' data1
  [[ $output == "data1 local blue" ]]
  run_docker run --name writer --network none -v data1:/data busybox sh -c 'echo kept > /data/f'
  run_docker run --rm --network none -v data1:/data busybox cat /data/f
  [[ $output == kept ]] || { echo "read back: $output" >&2; return 1; }
  local wid
  wid=$("$TUG" inspect -f '{{.Id}}' writer)
  run_docker 1 volume rm data1
  [[ $output == "Error response from daemon: remove data1: volume is in use - [$wid]"* ]] ||
    { echo "got: $output" >&2; return 1; }
  api /v1.41/volumes/data1 -X DELETE
  [[ $output == *' 409' ]]
  run_docker rm writer
  run_docker volume rm data1
  [[ $output == data1 ]]
  run_docker 1 volume rm nosuch
  [[ $output == "Error response from daemon: get nosuch: no such volume" ]] || { echo "got: $output" >&2; return 1; }
  api '/v1.41/volumes/nosuch?force=1' -X DELETE
  [[ $output == ' 204' ]]
  api /v1.41/volumes/create -X POST -d '{"Name":"bad name"}'
  [[ $output == *' 400' ]] || { echo "got: $output" >&2; return 1; }
  run_docker volume create --label keep=yes kept
  run_docker volume prune -f --filter label!=keep=yes
  [[ ${lines[0]} == "Deleted Volumes:" && ${lines[1]} == "$random" && ${lines[-1]} == "Total reclaimed space: "* ]] ||
    { echo "prune: $output" >&2; return 1; }
  run_tug volume ls -q
  [[ $output == kept ]] || { echo "left: $output" >&2; return 1; }
  run_docker volume prune -f --filter label=keep=yes
  [[ ${lines[1]} == kept ]] || { echo "prune: $output" >&2; return 1; }
  run_tug volume ls -q
  [[ -z $output ]]
  api /v1.41/volumes/prune -X POST
  [[ $output == '{"VolumesDeleted":null,"SpaceReclaimed":0} 200' ]] || { echo "got: $output" >&2; return 1; }
}

@test "docker container prune -f removes stopped containers and keeps running ones" {
  need_docker
  run_docker create --name made --network none busybox true
  local made=$output
  run_docker run --name ended --label keep=yes --network none busybox true
  run_docker run -d --name live --network none busybox sleep 300
  run_docker container prune -f --filter label!=keep=yes
  [[ $output == $'Deleted Containers:\n'"$made"$'\n\nTotal reclaimed space: '* ]] ||
    { echo "prune: $output" >&2; return 1; }
  run_tug ps -a --format '{{.Names}}'
  [[ $(sort <<<"$output" | tr '\n' ' ') == "ended live " ]] || { echo "left: $output" >&2; return 1; }
  run_docker container prune -f
  [[ ${lines[0]} == "Deleted Containers:" && ${#lines[@]} -eq 3 ]] || { echo "prune: $output" >&2; return 1; }
  run_tug ps -a --format '{{.Names}}'
  [[ $output == live ]]
  api /v1.41/containers/prune -X POST
  [[ $output == '{"ContainersDeleted":null,"SpaceReclaimed":0} 200' ]] || { echo "got: $output" >&2; return 1; }
  api '/v1.41/containers/prune?filters=%7B%22nope%22%3A%5B%22x%22%5D%7D' -X POST
  [[ $output == '{"message":"Invalid filter '"'nope'"'"} 400' ]]
}

@test "docker events --since --until: a container's lifecycle, as dockerd's JSON lines" {
  need_docker
  local t0
  t0=$(date +%s.%N)
  run_docker run --name evc --network none busybox true
  local id
  id=$("$TUG" inspect -f '{{.Id}}' evc)
  run_docker rm evc
  run_docker events --since "$t0" --until "$(date +%s.%N)" --filter container=evc --format '{{.Type}} {{.Status}} {{.Actor.Attributes.name}}'
  [[ $(grep -E ' (create|start|die|destroy) ' <<<"$output" | tr '\n' ',') == "container create evc,container start evc,container die evc,container destroy evc," ]] ||
    { echo "events: $output" >&2; return 1; }
  # the bytes: one object a line, the old status/id/from beside Type/Action/Actor
  api "/v1.41/events?since=$t0&until=$(date +%s.%N)&filters=%7B%22event%22%3A%5B%22die%22%5D%7D"
  [[ $output =~ ^\{\"status\":\"die\",\"id\":\"$id\",\"from\":\"busybox\",\"Type\":\"container\",\"Action\":\"die\",\"Actor\":\{\"ID\":\"$id\",\"Attributes\":\{.*\"exitCode\":\"0\".*\}\},\"scope\":\"local\",\"time\":[0-9]+,\"timeNano\":[0-9]+\}\ 200$ ]] ||
    { echo "got: $output" >&2; return 1; }
  run curl -s -D - -o /dev/null --max-time 30 --unix-socket "$SOCK" "http://tug/v1.41/events?since=$t0&until=$(date +%s.%N)"
  assert_match $'^Content-Type: application/json\r$'
}

@test "docker events follows: a container run after it started shows up, and it ends when the client goes" {
  need_docker
  local out=$BATS_TEST_TMPDIR/events.txt
  timeout 60 docker events --format '{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}' >"$out" 2>&1 3>&- &
  local pid=$! i
  # following once a marker made after the start shows up
  for ((i = 0; i < 50; i++)); do
    "$TUG" volume create "marker$i" >/dev/null
    grep -q marker "$out" && break
    sleep 0.1
  done
  wait_for "$out" '^volume create marker'
  run_docker run -d --name followed --network none busybox true
  wait_for "$out" '^container start [0-9a-f]{64} followed$'
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  # the server's child for that connection notices the hang-up (it looks each second)
  for ((i = 0; i < 50; i++)); do
    [[ $(pgrep -c -P "$(cat "$BATS_FILE_TMPDIR/serve.pid")") -eq 0 ]] && break
    sleep 0.1
  done
  [[ $(pgrep -c -P "$(cat "$BATS_FILE_TMPDIR/serve.pid")") -eq 0 ]]
}

@test "docker login checks the credentials with the registry: Login Succeeded, or 401 with the reason" {
  need_docker
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode basic --user bob --password pw
  run bash -c "timeout 60 docker login -u bob --password-stdin $PROXY <<<pw"
  [[ $status -eq 0 && ${lines[-1]} == "Login Succeeded" ]] || { echo "login: $output" >&2; return 1; }
  # kept as tug login keeps them, in the server's config
  run jq -r --arg k "$PROXY" '.auths[$k].auth' "$BATS_FILE_TMPDIR/serve-config/config.json"
  [[ $(base64 -d <<<"$output") == bob:pw ]] || { echo "stored: $output" >&2; return 1; }
  run bash -c "timeout 60 docker login -u bob --password-stdin $PROXY <<<wrong"
  [[ $status -eq 1 && $output == *"Error response from daemon: login to $PROXY refused: unauthorized"* ]] ||
    { echo "status $status: $output" >&2; return 1; }
  api /v1.41/auth -X POST -d '{"username":"bob","password":"wrong","serveraddress":"'"$PROXY"'"}'
  [[ $output == '{"message":"login to '"$PROXY"' refused: '*' 401' ]] || { echo "got: $output" >&2; return 1; }
  api /v1.41/auth -X POST -d '{"username":"bob","password":"pw","serveraddress":"'"$PROXY"'"}'
  [[ $output == '{"Status":"Login Succeeded","IdentityToken":""} 200' ]]
  # a registry that does not answer: dockerd's 500, naming it
  api /v1.41/auth -X POST -d '{"username":"bob","password":"pw","serveraddress":"127.0.0.1:1"}'
  [[ $output == '{"message":"login to 127.0.0.1:1: '*' 500' ]] || { echo "got: $output" >&2; return 1; }
}

@test "python3-docker: networks and volumes created and removed, the first event of events(decode=True)" {
  python3 -c 'import docker' 2>/dev/null || skip "python3-docker is not installed"
  run timeout 60 python3 -c '
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1], version="1.41")
n = c.networks.create("pynet", labels={"from": "py"})
print(c.networks.get("pynet").attrs["Labels"]["from"], [x.name for x in c.networks.list(filters={"label": "from=py"})])
n.remove()
v = c.volumes.create("pyvol", labels={"k": "v"})
print(v.name, v.attrs["Driver"], v.attrs["Labels"]["k"])
v.remove()
ev = c.events(decode=True, filters={"type": "volume"})
c.volumes.create("pyev")
first = next(ev)
print(first["Type"], first["Action"], first["Actor"]["ID"])
ev.close()
c.volumes.get("pyev").remove()
' "unix://$SOCK"
  [[ $status -eq 0 && $output == $'py [\x27pynet\x27]\npyvol local v\nvolume create pyev' ]] ||
    { echo "status $status: $output" >&2; return 1; }
  run_tug network ls --filter type=custom -q
  [[ -z $output ]]
}
