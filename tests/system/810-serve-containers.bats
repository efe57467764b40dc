#!/usr/bin/env bats
# tug serve's container lifecycle: docker run -d, stop, start, logs, wait, rm through the
# Engine API, on the same store as the CLI. The clients are real ones (docker's CLI, curl,
# python3-docker).

source "$BATS_TEST_DIRNAME/helpers.bash"
bats_require_minimum_version 1.5.0

source "$BATS_TEST_DIRNAME/serve.bash"

@test "docker run -d starts a container tug ps sees; docker stop, start and rm -f manage it" {
  need_docker
  run_docker run -d --name web --network none busybox sleep 300
  local id=$output
  [[ $id =~ ^[0-9a-f]{64}$ ]] || { echo "docker run -d printed: $id" >&2; return 1; }
  run_docker ps --format '{{.Names}} {{.State}}'
  [[ $output == "web running" ]] || { echo "docker ps: $output" >&2; return 1; }
  run_tug ps --format '{{.ID}} {{.Names}}'
  [[ $output == "${id:0:12} web" ]] || { echo "tug ps: $output" >&2; return 1; }
  run_docker stop -t 1 web
  [[ $output == web ]]
  run_tug inspect -f '{{.State.Status}} {{.State.ExitCode}}' web
  [[ $output == "exited 137" ]] || { echo "after stop: $output" >&2; return 1; }
  run_docker start web
  [[ $output == web ]]
  run_tug inspect -f '{{.State.Status}}' web
  [[ $output == running ]]
  run_docker rm -f web
  [[ $output == web ]]
  run_tug ps -aq
  [[ -z $output ]]
}

@test "docker rm of a running container is docker's conflict; docker start of none is No such container" {
  need_docker
  run_tug run -d --name busy --network none busybox sleep 300
  local id=$output
  run_docker 1 rm busy
  [[ $output == "Error response from daemon: You cannot remove a running container $id. Stop the container before attempting removal or force remove" ]] ||
    { echo "got: $output" >&2; return 1; }
  api /v1.41/containers/busy -X DELETE
  [[ $output == *'"message":"You cannot remove a running container '$id'.'*' 409' ]]
  run_tug inspect -f '{{.State.Status}}' busy
  [[ $output == running ]]
  run_docker 1 start nosuch
  assert_match "^Error response from daemon: No such container: nosuch$"
  api /v1.41/containers/nosuch/start -X POST
  [[ $output == '{"message":"No such container: nosuch"} 404' ]]
  # a second start of a running one: 304, nothing else happens
  api /v1.41/containers/busy/start -X POST
  [[ $output == ' 304' ]] || { echo "got: $output" >&2; return 1; }
  run_docker 1 unpause busy
  [[ $output == "Error response from daemon: Container $id is not paused" ]]
  run_docker rm -f busy
}

@test "docker logs: what the container wrote to stdout and to stderr, each on its stream" {
  need_docker
  run_docker run -d --name talker --network none busybox sh -c 'echo to-out; echo to-err >&2'
  run_docker wait talker
  [[ $output == 0 ]]
  run bash -c 'timeout 30 docker logs talker 2>/dev/null'
  [[ $status -eq 0 && $output == to-out ]] || { echo "stdout: $output" >&2; return 1; }
  run bash -c 'timeout 30 docker logs talker 2>&1 >/dev/null'
  [[ $status -eq 0 && $output == to-err ]] || { echo "stderr: $output" >&2; return 1; }
  run_docker logs -t --tail 1 talker
  [[ $output =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z\ to-err$ ]] || { echo "got: $output" >&2; return 1; }
  # the frames themselves: stream 1 then 2, three zeros, the length big-endian
  run bash -c "curl -s --max-time 30 --unix-socket '$SOCK' 'http://tug/v1.41/containers/talker/logs?stdout=1&stderr=1' | od -An -tx1 | tr -s ' \n' ' '"
  [[ $output == " 01 00 00 00 00 00 00 07 74 6f 2d 6f 75 74 0a 02 00 00 00 00 00 00 07 74 6f 2d 65 72 72 0a " ]] ||
    { echo "frames: $output" >&2; return 1; }
  api '/v1.41/containers/talker/logs'
  [[ $output == '{"message":"Bad parameters: you must choose at least one stream"} 400' ]]
}

@test "docker logs -f follows until the container ends; a TTY's log comes raw" {
  need_docker
  run_docker run -d --name follow --network none busybox sh -c 'echo one; sleep 1; echo two'
  run_docker logs -f follow
  [[ $output == $'one\ntwo' ]] || { echo "got: $output" >&2; return 1; }
  run_docker run -d -t --name tty --network none busybox echo raw
  run_docker wait tty
  run bash -c "curl -s --max-time 30 --unix-socket '$SOCK' 'http://tug/v1.41/containers/tty/logs?stdout=1&stderr=1' | od -c | head -1"
  [[ $output == *"r   a   w  \r  \n"* ]] || { echo "tty log: $output" >&2; return 1; }
}

@test "docker wait answers the exit status; kill, pause, unpause, restart and rename go through" {
  need_docker
  run_docker run -d --name waited --network none busybox sh -c 'exit 3'
  run_docker wait waited
  [[ $output == 3 ]]
  run_docker run -d --name life --network none busybox sleep 300
  run_docker pause life
  wait_state life paused
  run_docker unpause life
  wait_state life running
  run_docker rename life life2
  run_tug inspect -f '{{.Name}}' life2
  [[ $output == /life2 ]]
  run_docker restart -t 1 life2
  wait_state life2 running
  run_docker kill life2
  run_docker wait life2
  [[ $output == 137 ]]
  run_docker 1 kill life2
  assert_match "is not running"
}

@test "create: docker's body through the same checks as tug's flags; a missing image is 404, a name in use 409" {
  api '/v1.41/containers/create?name=made' -X POST -H 'Content-Type: application/json' \
    -d '{"Image":"busybox","Cmd":["sh","-c","echo $GREETING"],"Env":["GREETING=hello"],"Labels":{"team":"a"},"HostConfig":{"NetworkMode":"none","Memory":16777216,"RestartPolicy":{"Name":"no"}}}'
  [[ $output =~ ^\{\"Id\":\"[0-9a-f]{64}\",\"Warnings\":\[\]\}\ 201$ ]] || { echo "got: $output" >&2; return 1; }
  run_tug inspect -f '{{.Config.Labels.team}} {{.HostConfig.Memory}} {{.HostConfig.NetworkMode}}' made
  [[ $output == "a 16777216 none" ]] || { echo "inspect: $output" >&2; return 1; }
  api '/v1.41/containers/create?name=made' -X POST -H 'Content-Type: application/json' -d '{"Image":"busybox"}'
  [[ $output == '{"message":"Conflict. The container name \"/made\" is already in use by container \"'*'\". You have to remove (or rename) that container to be able to reuse that name."} 409' ]] ||
    { echo "got: $output" >&2; return 1; }
  api '/v1.41/containers/create' -X POST -H 'Content-Type: application/json' -d '{"Image":"nosuch-image"}'
  [[ $output == '{"message":"No such image: nosuch-image:latest"} 404' ]] || { echo "got: $output" >&2; return 1; }
  # the check tug run's flags go through: docker's words for a memory limit below 6MB
  run_tug 125 run --network none -m 1m busybox true
  local cli=${output#Error: }
  api '/v1.41/containers/create' -X POST -H 'Content-Type: application/json' -d '{"Image":"busybox","HostConfig":{"Memory":1048576}}'
  [[ $output == "{\"message\":\"$cli\"} 400" ]] || { echo "api: $output, cli: $cli" >&2; return 1; }
  # create, start, wait and logs over the API alone
  api /v1.41/containers/made/start -X POST
  [[ $output == ' 204' ]]
  api '/v1.41/containers/made/wait' -X POST
  [[ $output == '{"StatusCode":0,"Error":null} 200' ]] || { echo "wait: $output" >&2; return 1; }
  run_docker logs made
  [[ $output == hello ]]
  api /v1.41/containers/made -X DELETE
  [[ $output == ' 204' ]]
  run_tug ps -aq
  [[ -z $output ]]
}

@test "python3-docker: containers.run(detach=True), then wait() and logs()" {
  python3 -c 'import docker' 2>/dev/null || skip "python3-docker is not installed"
  run timeout 60 python3 -c '
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1], version="1.41")
ctr = c.containers.run("busybox", ["sh", "-c", "echo hi; exit 4"], detach=True, network_mode="none", name="py")
print(ctr.wait()["StatusCode"], ctr.logs().decode().strip())
ctr.remove()
' "unix://$SOCK"
  [[ $status -eq 0 && $output == "4 hi" ]] || { echo "got: $output" >&2; return 1; }
  run_tug ps -aq
  [[ -z $output ]]
}

@test "docker run without -d: attached, the output on its streams, the exit status, --rm removes it" {
  need_docker
  run_docker run --rm --network none busybox echo hi
  [[ $output == hi ]] || { echo "got: $output" >&2; return 1; }
  run_tug ps -aq
  [[ -z $output ]] || { echo "left: $output" >&2; return 1; }
  run bash -c "timeout 30 docker run --rm --network none busybox sh -c 'echo out; echo err >&2; exit 5' 2>/dev/null"
  [[ $status -eq 5 && $output == out ]] || { echo "status $status, stdout: $output" >&2; return 1; }
  run_docker 3 run --name kept --network none busybox sh -c 'echo kept; exit 3'
  [[ $output == kept ]]
  run_tug inspect -f '{{.State.Status}} {{.State.ExitCode}}' kept
  [[ $output == "exited 3" ]]
  run_docker run -t --rm --network none busybox echo tty
  [[ $output == tty* ]] || { echo "got: $output" >&2; return 1; }
  # stdin: 830-serve-exec.bats
}
