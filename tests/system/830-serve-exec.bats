#!/usr/bin/env bats
# tug serve's exec and interactive streams: docker exec (-i, -t, -d, -e, -w, -u), docker run -i
# and -it, docker attach, docker start -a, through the Engine API on the same store as the CLI.
# The clients are real ones (docker's CLI, curl, python3-docker); terminals come from
# tests/helpers/ptydrive.py.

source "$BATS_TEST_DIRNAME/helpers.bash"
bats_require_minimum_version 1.5.0

source "$BATS_TEST_DIRNAME/serve.bash"

PTYDRIVE=$BATS_TEST_DIRNAME/../helpers/ptydrive.py

# drive STEPS COMMAND...: run COMMAND in a terminal of its own, typing and expecting per STEPS
drive() {
  local steps=$1
  shift
  run timeout 90 python3 "$PTYDRIVE" "$steps" "$@"
}

@test "docker exec: output, the exit status, -e, -w, -u" {
  need_docker
  run_tug run -d --name ct --network none busybox sleep 300
  run_docker exec ct echo hi
  [[ $output == hi ]] || { echo "got: $output" >&2; return 1; }
  run_docker 3 exec ct sh -c 'echo out; echo err >&2; exit 3'
  [[ $output == *out* && $output == *err* ]] || { echo "got: $output" >&2; return 1; }
  run bash -c 'timeout 30 docker exec ct sh -c "echo out; echo err >&2" 2>/dev/null'
  [[ $status -eq 0 && $output == out ]] || { echo "stdout alone: $status $output" >&2; return 1; }
  run_docker exec -e FOO=bar -w /tmp -u 1000:1000 ct sh -c 'echo $FOO $(pwd) $(id -u):$(id -g)'
  [[ $output == "bar /tmp 1000:1000" ]] || { echo "got: $output" >&2; return 1; }
  # a program or user that is not there: the runtime's words as dockerd writes them, and 126
  run_docker 126 exec ct nosuchprogram
  [[ $output == $'OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuchprogram": executable file not found in $PATH: unknown\r' ]] ||
    { echo "got: $output" >&2; return 1; }
  run_docker 126 exec -u nosuch ct true
  [[ $output == $'unable to find user nosuch: no matching entries in passwd file\r' ]] ||
    { echo "got: $output" >&2; return 1; }
}

@test "docker exec -i feeds stdin; -d leaves the process running; exec on a stopped container is refused" {
  need_docker
  run_tug run -d --name ct --network none busybox sleep 300
  run bash -c 'printf "hi\nthere\n" | timeout 30 docker exec -i ct cat'
  [[ $status -eq 0 && $output == $'hi\nthere' ]] || { echo "status $status, got: $output" >&2; return 1; }
  # a process that writes before it reads its stdin: neither side waits for the other
  run bash -c 'head -c 300000 /dev/zero | timeout 30 docker exec -i ct sh -c "head -c 300000 /dev/zero; wc -c" | wc -c'
  [[ $status -eq 0 && $output == 300007 ]] || { echo "status $status, got: $output" >&2; return 1; }
  run bash -c 'printf "abc" | timeout 30 docker exec -i ct wc -c'
  [[ $status -eq 0 && $output == *3 ]] || { echo "status $status, got: $output" >&2; return 1; }
  run_docker exec -d ct sh -c 'echo detached >/tmp/mark; sleep 1'
  [[ -z $output ]]
  local i
  for ((i = 0; i < 100; i++)); do
    run timeout 30 "$TUG" exec ct cat /tmp/mark
    [[ $output == detached ]] && break
    sleep 0.1
  done
  [[ $output == detached ]] || { echo "the detached exec did not run: $output" >&2; return 1; }
  run_docker 1 exec -d ct nosuchprogram
  [[ $output == 'Error response from daemon: OCI runtime exec failed: exec failed: unable to start container process: '*nosuchprogram*': unknown' ]] ||
    { echo "got: $output" >&2; return 1; }
  run_tug create --name stopped --network none busybox true
  local id=$output
  run_docker 1 exec stopped true
  [[ $output == "Error response from daemon: Container $id is not running" ]] ||
    { echo "got: $output" >&2; return 1; }
  api /v1.41/containers/stopped/exec -X POST -H 'Content-Type: application/json' -d '{"Cmd":["true"]}'
  [[ $output == "{\"message\":\"Container $id is not running\"} 409" ]] || { echo "got: $output" >&2; return 1; }
  run_docker 1 exec nosuch true
  [[ $output == "Error response from daemon: No such container: nosuch" ]]
}

@test "exec endpoints: create, start's frames, json before and after, resize, errors (curl)" {
  run_tug run -d --name ct --network none busybox sleep 300
  local cid=$output
  api /v1.41/containers/ct/exec -X POST -H 'Content-Type: application/json' -d '{}'
  [[ $output == '{"message":"No exec command specified"} 400' ]] || { echo "got: $output" >&2; return 1; }
  api /v1.41/containers/ct/exec -X POST -H 'Content-Type: application/json' \
    -d '{"Cmd":["sh","-c","echo ab; echo cde >&2; exit 4"],"AttachStdout":true,"AttachStderr":true}'
  [[ $output =~ ^\{\"Id\":\"([0-9a-f]{64})\"\}\ 201$ ]] || { echo "got: $output" >&2; return 1; }
  local eid=${BASH_REMATCH[1]}
  api /v1.41/exec/$eid/json
  [[ $output == "{\"ID\":\"$eid\",\"Running\":false,\"ExitCode\":null,\"ProcessConfig\":{\"tty\":false,\"entrypoint\":\"sh\",\"arguments\":[\"-c\",\"echo ab; echo cde >&2; exit 4\"],\"privileged\":false},\"OpenStdin\":false,\"OpenStderr\":true,\"OpenStdout\":true,\"CanRemove\":false,\"ContainerID\":\"$cid\",\"DetachKeys\":\"\",\"Pid\":0} 200" ]] ||
    { echo "got: $output" >&2; return 1; }
  # the stream: docker's stdcopy frames, after a 200 without length (no Upgrade asked)
  run bash -c "curl -s --max-time 30 --unix-socket '$SOCK' -X POST -H 'Content-Type: application/json' -d '{}' http://tug/v1.41/exec/$eid/start | od -An -tx1 | tr -d ' \n'"
  [[ $output == 010000000000000361620a02000000000000046364650a ]] || { echo "frames: $output" >&2; return 1; }
  api /v1.41/exec/$eid/json
  [[ $output == *'"Running":false,"ExitCode":4,'* && $output =~ \"Pid\":[1-9] ]] || { echo "got: $output" >&2; return 1; }
  api /v1.41/exec/$eid/start -X POST -H 'Content-Type: application/json' -d '{}'
  [[ $output == "{\"message\":\"Error: Exec command $eid is already running\"} 409" ]] || { echo "got: $output" >&2; return 1; }
  api /v1.41/exec/$eid/resize?h=10\&w=20 -X POST
  [[ $output == '{"message":"no such exec"} 404' ]] || { echo "got: $output" >&2; return 1; }
  # with a TTY: the terminal's bytes as they are, no frames
  api /v1.41/containers/ct/exec -X POST -H 'Content-Type: application/json' \
    -d '{"Cmd":["echo","tty"],"Tty":true,"AttachStdout":true}'
  [[ $output =~ ^\{\"Id\":\"([0-9a-f]{64})\"\}\ 201$ ]] || { echo "got: $output" >&2; return 1; }
  eid=${BASH_REMATCH[1]}
  run bash -c "curl -s --max-time 30 --unix-socket '$SOCK' -X POST -H 'Content-Type: application/json' -d '{\"Tty\":true}' http://tug/v1.41/exec/$eid/start | od -An -tx1 | tr -d ' \n'"
  [[ $output == 7474790d0a ]] || { echo "tty bytes: $output" >&2; return 1; }
  api /v1.41/exec/nope/json
  [[ $output == '{"message":"No such exec instance: nope"} 404' ]] || { echo "got: $output" >&2; return 1; }
  api /v1.41/exec/nope/start -X POST -H 'Content-Type: application/json' -d '{}'
  [[ $output == '{"message":"No such exec instance: nope"} 404' ]] || { echo "got: $output" >&2; return 1; }
  api /v1.41/containers/ct/resize?h=x -X POST
  [[ $output == *' 400' ]] || { echo "got: $output" >&2; return 1; }
}

@test "docker exec -it through a terminal: a shell, its size, its exit status" {
  need_docker
  run_tug run -d --name ct --network none busybox sleep 300
  drive $'raw\nsend stty size; echo tty-$((6*7))\\r\nexpect tty-42\nsend exit 5\\r\nexit' \
    docker exec -it ct sh
  [[ $status -eq 5 ]] || { echo "status $status, output: $output" >&2; return 1; }
  [[ $output == *tty-42* ]]
  # the CLI's resize reached the exec's terminal: not the 0 0 of an unsized one
  [[ $output != *$'\n0 0'* ]] || { echo "no size: $output" >&2; return 1; }
  # the detach keys leave the shell running, its terminal held
  drive $'raw\nsend echo ready-$((6*7))\\r\nexpect ready-42\nsend \\x10\\x11\nexit' \
    docker exec -it ct sh
  [[ $status -eq 0 || $status -eq 1 ]] || { echo "status $status, output: $output" >&2; return 1; }
  run_tug exec ct ps -o pid,args
  [[ $output =~ [0-9]+\ sh ]] || { echo "the detached shell is gone: $output" >&2; return 1; }
}

@test "docker run -i with piped stdin, docker run -it through a terminal" {
  need_docker
  run bash -c 'printf "one\ntwo\n" | timeout 30 docker run -i --rm --network none busybox cat'
  [[ $status -eq 0 && $output == $'one\ntwo' ]] || { echo "status $status, got: $output" >&2; return 1; }
  run bash -c 'printf "x" | timeout 30 docker run -i --network none --name kept busybox sh -c "cat; exit 7"'
  [[ $status -eq 7 && $output == x ]] || { echo "status $status, got: $output" >&2; return 1; }
  run_tug inspect -f '{{.State.Status}} {{.State.ExitCode}}' kept
  [[ $output == "exited 7" ]]
  run_tug ps -aq --filter name=kept
  [[ -n $output ]]
  drive $'raw\nsend echo in-$((6*7))\\r\nexpect in-42\nsend exit 3\\r\nexit' \
    docker run -it --rm --network none busybox sh
  [[ $status -eq 3 ]] || { echo "status $status, output: $output" >&2; return 1; }
  [[ $output == *in-42* ]]
  run_tug ps -a --format '{{.Names}}'
  [[ $output == kept ]] || { echo "left: $output" >&2; return 1; }
  # the detach keys leave it running
  drive $'raw\nsend echo det-$((6*7))\\r\nexpect det-42\nsend \\x10\\x11\nexit' \
    docker run -it --name det --network none busybox sh
  [[ $status -eq 0 || $status -eq 1 ]] || { echo "status $status, output: $output" >&2; return 1; }
  run_tug inspect -f '{{.State.Status}}' det
  [[ $output == running ]] || { echo "detaching stopped it: $output" >&2; return 1; }
}

@test "docker attach to a running container: its output, stdin, detach keys; start -a of a stopped one" {
  need_docker
  run_docker run -d -it --name sh --network none busybox sh
  wait_state sh running
  drive $'send echo at-$((6*7))\\r\nexpect at-42\nsend \\x10\\x11\nexit' docker attach sh
  [[ $status -eq 0 || $status -eq 1 ]] || { echo "status $status, output: $output" >&2; return 1; }
  [[ $output == *at-42* ]]
  run_tug inspect -f '{{.State.Status}}' sh
  [[ $output == running ]] || { echo "detaching stopped it: $output" >&2; return 1; }
  run_tug run -d -i --name loop --network none busybox sh -c 'read x; echo got-$x; exit 2'
  wait_state loop running
  run bash -c 'echo yes | timeout 30 docker attach loop'
  [[ $output == *got-* ]] || { echo "status $status, got: $output" >&2; return 1; }
  run_tug create --name once --network none busybox sh -c 'echo started; exit 6'
  run_docker 6 start -a once
  [[ $output == started ]] || { echo "got: $output" >&2; return 1; }
  run_docker 6 start -a once
  [[ $output == started ]] || { echo "again: $output" >&2; return 1; }
  # start -ai: the input reaches the container started after the attach
  run_tug create -i --name sai --network none busybox sh -c 'read x; echo got-$x; exit 4'
  run bash -c 'echo yes | timeout 30 docker start -ai sai'
  [[ $status -eq 4 && $output == got-yes ]] || { echo "status $status, got: $output" >&2; return 1; }
}

@test "attach endpoint: logs=1 replays, stdin=1 reaches the container, the frames are docker's" {
  run_tug run -d -i --name cat --network none busybox sh -c 'echo before; cat'
  wait_state cat running
  run timeout 30 python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"POST /v1.41/containers/cat/attach?stream=1&stdin=1&stdout=1&stderr=1&logs=1 HTTP/1.1\r\nHost: tug\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
data = b""
while b"before\n" not in data:
    b = s.recv(65536)
    if not b:
        break
    data += b
s.sendall(b"ping\n")
while b"ping\n" not in data.split(b"before\n", 1)[-1]:
    b = s.recv(65536)
    if not b:
        break
    data += b
head, _, body = data.partition(b"\r\n\r\n")
print(head.split(b"\r\n")[0].decode())
print(body.hex())
' "$SOCK"
  [[ ${lines[0]} == "HTTP/1.1 101 UPGRADED" ]] || { echo "got: $output" >&2; return 1; }
  [[ ${lines[1]} == 01000000000000076265666f72650a010000000000000570696e670a ]] ||
    { echo "frames: ${lines[1]}" >&2; return 1; }
}

@test "python3-docker: exec_run, exec_run(stream=True), attach_socket" {
  python3 -c 'import docker' 2>/dev/null || skip "python3-docker is not installed"
  run_tug run -d -i --name ct --network none busybox cat
  wait_state ct running
  run timeout 60 python3 -c '
import docker, sys
cl = docker.DockerClient(base_url="unix://" + sys.argv[1])
c = cl.containers.get("ct")
r = c.exec_run(["echo", "hi"])
print(r.exit_code, repr(r.output))
r = c.exec_run(["sh", "-c", "exit 9"])
print(r.exit_code)
r = c.exec_run(["sh", "-c", "echo a; echo b"], stream=True)
print(repr(b"".join(r.output)))
sock = c.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1})
raw = sock._sock
raw.sendall(b"echo-me\n")
data = b""
while b"echo-me" not in data:
    b = raw.recv(4096)
    if not b:
        break
    data += b
print(repr(data))
' "$SOCK"
  [[ $status -eq 0 ]] || { echo "status $status: $output" >&2; return 1; }
  [[ ${lines[0]} == "0 b'hi\\n'" ]] || { echo "exec_run: ${lines[0]}" >&2; return 1; }
  [[ ${lines[1]} == 9 ]] || { echo "exit_code: ${lines[1]}" >&2; return 1; }
  [[ ${lines[2]} == "b'a\\nb\\n'" ]] || { echo "stream: ${lines[2]}" >&2; return 1; }
  [[ ${lines[3]} == *'\x01\x00\x00\x00\x00\x00\x00\x08echo-me\n'* ]] || { echo "attach_socket: ${lines[3]}" >&2; return 1; }
}
