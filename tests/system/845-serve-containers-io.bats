#!/usr/bin/env bats
# tug serve's endpoints for what is in and about a container: docker top, stats, diff, export,
# cp (both ways, running and stopped) and update through the Engine API, on the same store as
# the CLI. The clients are real ones (docker's CLI, curl, python3-docker).

source "$BATS_TEST_DIRNAME/helpers.bash"
bats_require_minimum_version 1.5.0

source "$BATS_TEST_DIRNAME/serve.bash"

# A running container with files of its own: /tmp/f, /d/e/g added; /etc/motd none.
make_busy() {
  run_tug run -d --name "$1" --network none busybox sh -c \
    'echo hi >/tmp/f; mkdir -p /d/e; echo x >/d/e/g; touch /tmp/ready; exec sleep 300'
  local i
  for ((i = 0; i < 100; i++)); do
    timeout 10 "$TUG" exec "$1" test -e /tmp/ready 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$1 did not make its files" >&2
  return 1
}

# python3 -c SCRIPT ARGS...: a python3-docker client of the server is `cl`.
run_py() {
  python3 -c 'import docker' 2>/dev/null || skip "python3-docker is not installed"
  local script=$1
  shift
  run timeout 60 python3 -c "import docker, io, sys, tarfile
cl = docker.DockerClient(base_url='unix://$SOCK')
$script" "$@"
  [[ $status -eq 0 ]] || { echo "python3: exit status $status: $output" >&2; return 1; }
}

@test "docker top lists the container's processes as tug top does; one that is not running is 409" {
  need_docker
  make_busy topper
  run_docker top topper
  assert_match '^UID +PID +PPID +C +STIME +TTY +TIME +CMD$'
  assert_match '^root +[0-9]+ .* sleep 300$'
  run_tug top topper
  assert_match ' sleep 300$'
  run_docker top topper -o pid,args
  assert_match '^PID +COMMAND$'
  assert_match '^[0-9]+ +sleep 300$'
  api '/v1.41/containers/topper/top?ps_args=-o%20pid,comm'
  assert_match '^\{"Processes":\[\["[0-9]+","sleep"\]\],"Titles":\["PID","COMMAND"\]\} 200$'
  run_tug create --name idle busybox true
  run_docker 1 top idle
  assert_match "^Error response from daemon: Container [0-9a-f]{64} is not running$"
  api /v1.41/containers/idle/top
  assert_match '"message":"Container [0-9a-f]{64} is not running"\} 409$'
  api /v1.41/containers/nosuch/top
  [[ $output == '{"message":"No such container: nosuch"} 404' ]]
}

@test "docker stats --no-stream shows the container's row with sane numbers; the document has dockerd's shape" {
  need_docker
  make_busy statty
  run_docker stats --no-stream --format '{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}' statty
  assert_match '^statty [0-9]+\.[0-9]{2}% [0-9.]+[KMG]?i?B / [0-9.]+[KMGT]iB 1$'
  run_docker stats --no-stream statty
  assert_match '^CONTAINER ID +NAME +CPU % +MEM USAGE / LIMIT +MEM % +NET I/O +BLOCK I/O +PIDS$'
  # the memory limit docker shows is the one tug stats shows
  run_tug stats --no-stream --format '{{.MemUsage}}' statty
  local tug_limit=${output##*/ }
  run_docker stats --no-stream --format '{{.MemUsage}}' statty
  [[ ${output##*/ } == "$tug_limit" ]] || { echo "docker: $output, tug: $tug_limit" >&2; return 1; }
  api '/v1.41/containers/statty/stats?stream=false&one-shot=true'
  [[ $output == *' 200' ]]
  run python3 -c '
import json, sys
d = json.loads(sys.argv[1].rsplit(" ", 1)[0])
for k in ("read", "preread", "pids_stats", "blkio_stats", "cpu_stats", "precpu_stats",
          "memory_stats", "name", "id"):
    assert k in d, k
cu = d["cpu_stats"]["cpu_usage"]
for k in ("total_usage", "usage_in_kernelmode", "usage_in_usermode"):
    assert isinstance(cu[k], int), k
assert d["cpu_stats"]["online_cpus"] >= 1
assert d["cpu_stats"]["system_cpu_usage"] > 0
assert set(d["cpu_stats"]["throttling_data"]) == {"periods", "throttled_periods", "throttled_time"}
m = d["memory_stats"]
assert m["usage"] > 0 and m["limit"] >= m["usage"] and isinstance(m["stats"], dict)
assert d["pids_stats"]["current"] == 1
assert d["name"] == "/statty" and len(d["id"]) == 64
assert d["preread"] == "0001-01-01T00:00:00Z"
print("ok")
' "$output"
  [[ $output == ok ]] || { echo "$output" >&2; return 1; }
  # streamed: a document a second, each with the one before as its precpu_stats
  run timeout 10 curl -sN --max-time 3 --unix-socket "$SOCK" http://tug/v1.41/containers/statty/stats
  local n
  n=$(grep -c '"name":"/statty"' <<<"$output")
  ((n >= 2 && n <= 4)) || { echo "$n documents in 3 s: $output" >&2; return 1; }
  # a container that does not run: dockerd's empty document
  run_tug create --name still busybox true
  api '/v1.41/containers/still/stats?stream=false'
  assert_match '^\{"read":"0001-01-01T00:00:00Z","preread":"0001-01-01T00:00:00Z","pids_stats":\{\},'
  assert_match '"memory_stats":\{\},"name":"/still",'
}

@test "docker diff lists the changes tug diff does; /changes has docker's kinds" {
  need_docker
  make_busy differ
  run_docker diff differ
  local docker_out=$output
  assert_match '^A /d/e/g$'
  assert_match '^C /tmp$'
  run_tug diff differ
  [[ $output == "$docker_out" ]] || { echo "docker: $docker_out; tug: $output" >&2; return 1; }
  api /v1.41/containers/differ/changes
  assert_match '\{"Path":"/d","Kind":1\}'
  assert_match '\{"Path":"/tmp","Kind":0\}'
  assert_match ' 200$'
}

@test "docker export streams the container's filesystem as a tar" {
  need_docker
  make_busy exporter
  run bash -c "timeout 60 docker export exporter | tar t"
  [[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
  assert_match '^d/e/g$'
  assert_match '^bin/busybox$'
  run_docker 1 export nosuch
  assert_match "No such container: nosuch"
}

@test "docker cp copies files and directories out of and into a running container" {
  need_docker
  make_busy copier
  local out=$BATS_TEST_TMPDIR/out
  mkdir -p "$out"
  run_docker cp copier:/tmp/f "$out/"
  [[ $(cat "$out/f") == hi ]]
  run_docker cp copier:/d "$out/"
  [[ $(cat "$out/d/e/g") == x ]]
  echo hello >"$out/in.txt"
  run_docker cp "$out/in.txt" copier:/tmp/
  run_tug exec copier cat /tmp/in.txt
  [[ $output == hello ]]
  # -a keeps the owners (copyUIDGID); without it what is written is root's
  echo owned >"$out/owned"
  chown 1234:2345 "$out/owned"
  run_docker cp -a "$out/owned" copier:/tmp/kept
  run_docker cp "$out/owned" copier:/tmp/rooted
  run_tug exec copier stat -c '%n %u:%g' /tmp/kept /tmp/rooted
  [[ $output == $'/tmp/kept 1234:2345\n/tmp/rooted 0:0' ]] || { echo "got: $output" >&2; return 1; }
  run_docker cp "$out/d" copier:/newdir
  run_tug exec copier cat /newdir/e/g
  [[ $output == x ]]
  # a file big enough to stream as more than one chunk of the request
  head -c 3000000 /dev/urandom >"$out/big"
  run_docker cp "$out/big" copier:/tmp/big
  run_tug exec copier md5sum /tmp/big
  [[ ${output%% *} == "$(md5sum <"$out/big" | cut -d' ' -f1)" ]]
  # the path's stat, as docker's client reads it
  run curl -sI --max-time 30 --unix-socket "$SOCK" 'http://tug/v1.41/containers/copier/archive?path=/d'
  local stat
  stat=$(sed -n 's/^X-Docker-Container-Path-Stat: \(.*\)\r$/\1/p' <<<"$output")
  run bash -c "base64 -d <<<'$stat'"
  assert_match '^\{"name":"d","size":[0-9]+,"mode":2147484141,"mtime":"[0-9T:.-]+Z","linkTarget":""\}$'
}

@test "docker cp into and out of a stopped container; a missing path is docker's error" {
  need_docker
  run_tug create --name stopped busybox true
  local out=$BATS_TEST_TMPDIR/out
  mkdir -p "$out"
  echo hello >"$out/in.txt"
  run_docker cp "$out/in.txt" stopped:/tmp/
  run_docker cp stopped:/tmp/in.txt "$out/back.txt"
  [[ $(cat "$out/back.txt") == hello ]]
  # docker's client asks noOverwriteDirNonDir: a directory never replaces a file, nor a file a
  # directory
  mkdir -p "$out/in.txt.d/in.txt"
  run_docker 1 cp "$out/in.txt.d/in.txt" stopped:/tmp/
  assert_match "^Error response from daemon: archive entry in.txt: cannot overwrite non-directory with directory$"
  run_tug cp stopped:/tmp/in.txt "$out/still.txt"
  [[ $(cat "$out/still.txt") == hello ]]
  run_docker 1 cp stopped:/nonexist "$out/"
  [[ $output == "Error response from daemon: Could not find the file /nonexist in container stopped" ]] ||
    { echo "got: $output" >&2; return 1; }
  run curl -sI --max-time 30 --unix-socket "$SOCK" 'http://tug/v1.41/containers/stopped/archive?path=/nonexist'
  assert_match $'^HTTP/1.1 404 Not Found\r$'
  api '/v1.41/containers/stopped/archive?path=/nonexist' -X PUT --data-binary @/dev/null
  [[ $output == '{"message":"Could not find the file /nonexist in container stopped"} 404' ]]
  api '/v1.41/containers/stopped/archive?path=/etc/passwd' -X PUT --data-binary @/dev/null
  [[ $output == '{"message":"extraction point is not a directory"} 400' ]]
  api '/v1.41/containers/stopped/archive'
  [[ $output == '{"message":"path parameter is required"} 400' ]]
  # no changes: dockerd's null
  run_tug create --name pristine busybox true
  api /v1.41/containers/pristine/changes
  [[ $output == 'null 200' ]]
}

@test "a chunked body is read as it comes by PUT archive, and still refused elsewhere" {
  run_tug create --name chunky busybox true
  local d=$BATS_TEST_TMPDIR/src
  mkdir -p "$d"
  echo chunked >"$d/c.txt"
  tar -C "$d" -cf "$BATS_TEST_TMPDIR/c.tar" c.txt
  api '/v1.41/containers/chunky/archive?path=/tmp' -X PUT -H 'Transfer-Encoding: chunked' \
    --data-binary "@$BATS_TEST_TMPDIR/c.tar"
  [[ $output == ' 200' ]] || { echo "got: $output" >&2; return 1; }
  api '/v1.41/containers/chunky/archive?path=/tmp/c.txt' -o "$BATS_TEST_TMPDIR/back.tar"
  [[ $(tar -xOf "$BATS_TEST_TMPDIR/back.tar" c.txt) == chunked ]]
  api /v1.41/containers/create -X POST -H 'Transfer-Encoding: chunked' -d '{"Image":"busybox"}'
  [[ $output == '{"message":"chunked request bodies are not served for this endpoint"} 501' ]]
}

@test "docker update changes the limits; docker inspect shows them; a bad value is docker's error" {
  need_docker
  run_tug run -d --name upd --network none -m 32m busybox sleep 300
  run_docker update --memory 64m --memory-swap 128m --cpu-shares 512 upd
  [[ $output == upd ]]
  run_docker container inspect -f '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.CpuShares}}' upd
  [[ $output == "67108864 134217728 512" ]] || { echo "got: $output" >&2; return 1; }
  run_tug inspect -f '{{.HostConfig.Memory}}' upd
  [[ $output == 67108864 ]]
  # the running container's cgroup has it: docker stats shows the new limit
  run_docker stats --no-stream --format '{{.MemUsage}}' upd
  [[ $output == *" / 64MiB" ]] || { echo "got: $output" >&2; return 1; }
  run_docker update --restart on-failure:3 upd
  run_tug inspect -f '{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}' upd
  [[ $output == "on-failure 3" ]]
  run_docker 1 update --memory 1m upd
  [[ $output == "Error response from daemon: Minimum memory limit allowed is 6MB" ]] ||
    { echo "got: $output" >&2; return 1; }
  api /v1.41/containers/upd/update -X POST -H 'Content-Type: application/json' -d '{"CpuShares":256}'
  [[ $output == '{"Warnings":[]} 200' ]]
}

@test "python3-docker: container.top, stats, get_archive and put_archive" {
  make_busy pyc
  run_py '
c = cl.containers.get("pyc")
t = c.top()
assert "PID" in t["Titles"] and any(p[-1] == "sleep 300" for p in t["Processes"]), t
s = c.stats(stream=False)
assert s["name"] == "/pyc" and s["memory_stats"]["usage"] > 0, s
assert s["precpu_stats"]["cpu_usage"]["total_usage"] > 0, s
bits, stat = c.get_archive("/tmp/f")
assert stat["name"] == "f" and stat["size"] == 3, stat
data = b"".join(bits)
assert tarfile.open(fileobj=io.BytesIO(data)).extractfile("f").read() == b"hi\n"
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    big = b"y" * (2 * 1024 * 1024)
    ti = tarfile.TarInfo("big.bin"); ti.size = len(big); t.addfile(ti, io.BytesIO(big))
assert c.put_archive("/tmp", buf.getvalue())
print("ok")'
  [[ $output == ok ]]
  run_tug exec pyc wc -c /tmp/big.bin
  [[ $output == "2097152 /tmp/big.bin" ]]
}
