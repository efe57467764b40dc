#!/usr/bin/env bats
# tug serve's image endpoints: docker pull, tag, rmi, push, save, load and image prune through
# the Engine API, on the same store as the CLI. The clients are real ones (docker's CLI, curl,
# python3-docker); the images come from the file's registry on 127.0.0.1.

source "$BATS_TEST_DIRNAME/helpers.bash"
bats_require_minimum_version 1.5.0

source "$BATS_TEST_DIRNAME/serve.bash"

# What a test tagged or pulled goes with it: every image but the file's busybox.
teardown() {
  local ids
  ids=$(timeout 30 "$TUG" ps -aq) || true
  [[ -n $ids ]] && timeout 60 "$TUG" rm -f $ids >/dev/null 2>&1
  local ref
  while read -r ref; do
    [[ -n $ref && $ref != "busybox:latest" && $ref != "$REGISTRY/busybox:latest" ]] &&
      timeout 30 "$TUG" rmi -f "$ref" >/dev/null 2>&1
  done < <(timeout 30 "$TUG" images --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>')
  ids=$(timeout 30 "$TUG" images -q -f dangling=true) || true
  [[ -n $ids ]] && timeout 30 "$TUG" rmi -f $ids >/dev/null 2>&1
  authproxy_stop 2>/dev/null || true
  return 0
}

# push_fixture NAME: the fixture NAME (hello, whiteout...) into the file's registry as NAME:latest
push_fixture() { "fixture_push_$1" "$1:latest" >/dev/null 2>&1 || { echo "push $1 failed" >&2; return 1; }; }

@test "docker pull prints docker's lines and the image is in tug's store" {
  need_docker
  push_fixture hello
  run_docker pull "$REGISTRY/hello"
  local layer
  layer=$(sed -n 's/^\([0-9a-f]\{12\}\): Pull complete$/\1/p' <<<"$output")
  [[ -n $layer ]] || { echo "no Pull complete line: $output" >&2; return 1; }
  [[ ${lines[0]} == "Using default tag: latest" ]]
  [[ ${lines[1]} == "latest: Pulling from hello" ]]
  assert_match "^$layer: Pulling fs layer$"
  assert_match "^$layer: Download complete$"
  assert_match "^Digest: sha256:[0-9a-f]{64}$"
  [[ ${lines[-2]} == "Status: Downloaded newer image for $REGISTRY/hello:latest" ]]
  [[ ${lines[-1]} == "$REGISTRY/hello:latest" ]]
  run_tug images --format '{{.Repository}}:{{.Tag}}' "$REGISTRY/hello"
  [[ $output == "$REGISTRY/hello:latest" ]]
  # again: nothing new
  run_docker pull "$REGISTRY/hello:latest"
  [[ ${lines[-2]} == "Status: Image is up to date for $REGISTRY/hello:latest" ]]
  run_docker images --format '{{.Repository}}:{{.Tag}}'
  assert_match "^$REGISTRY/hello:latest$"
  # -a: every tag the registry has
  run_docker pull -a "$REGISTRY/hello"
  [[ ${lines[0]} == "latest: Pulling from hello" ]]
  [[ ${lines[-2]} == "Status: Image is up to date for $REGISTRY/hello" ]]
}

@test "the pull stream's lines are JSON; a missing image is a 404 before it, docker says so" {
  need_docker
  push_fixture whiteout
  run curl -s --max-time 60 --unix-socket "$SOCK" -X POST -D "$BATS_TEST_TMPDIR/head" \
    "http://tug/v1.41/images/create?fromImage=$REGISTRY/whiteout&tag=latest"
  [[ $status -eq 0 ]]
  grep -q '^HTTP/1.1 200 OK' "$BATS_TEST_TMPDIR/head"
  grep -qi '^Content-Type: application/json' "$BATS_TEST_TMPDIR/head"
  grep -qi '^Transfer-Encoding: chunked' "$BATS_TEST_TMPDIR/head"
  run python3 -c '
import json, sys
msgs = [json.loads(l) for l in sys.stdin.read().splitlines()]
assert msgs[0] == {"status": "Pulling from whiteout", "id": "latest"}, msgs[0]
assert msgs[-1]["status"] == "Status: Downloaded newer image for " + sys.argv[1] + "/whiteout:latest", msgs[-1]
assert msgs[-2]["status"].startswith("Digest: sha256:"), msgs[-2]
dl = [m for m in msgs if m.get("status") == "Downloading"]
assert dl and all(m["progressDetail"]["total"] > 0 and m["progress"].startswith("[") for m in dl), dl
assert all(len(m["id"]) == 12 for m in msgs[1:-2]), msgs
print(len(msgs))
' "$REGISTRY" <<<"$output"
  [[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
  api "/v1.41/images/create?fromImage=$REGISTRY/nosuch&tag=latest" -X POST
  [[ $output == '{"message":"'*'manifest'*'nosuch:latest'*'"} 404' ]] || { echo "got: $output" >&2; return 1; }
  run_docker 1 pull "$REGISTRY/nosuch"
  assert_match "^Error response from daemon: .*manifest.*$REGISTRY/nosuch:latest"
  api "/v1.41/images/create?fromImage=Bad/Name" -X POST
  [[ $output == '{"message":"invalid reference format'*'} 400' ]] || { echo "got: $output" >&2; return 1; }
  api "/v1.41/images/create?fromSrc=-" -X POST
  [[ $output == *'tug import'*' 501' ]]
  api "/v1.41/images/search?term=busybox"
  [[ $output == *'search'*' 501' ]]
}

@test "X-Registry-Auth carries the credentials of a pull from a registry that needs them" {
  need_docker
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode basic --user bob --password pw
  api "/v1.41/images/create?fromImage=$PROXY/busybox&tag=latest" -X POST
  [[ $output == *'"message":"'*' 500' ]] || { echo "without credentials: $output" >&2; return 1; }
  auth() { printf '{"username":"%s","password":"%s","serveraddress":"%s"}' "$1" "$2" "$PROXY" | base64 -w0 | tr '+/' '-_'; }
  run curl -s --max-time 60 --unix-socket "$SOCK" -X POST -H "X-Registry-Auth: $(auth bob wrong)" \
    "http://tug/v1.41/images/create?fromImage=$PROXY/busybox&tag=latest"
  assert_match 'unauthorized|authentication required'
  api "/v1.41/images/create?fromImage=$PROXY/busybox&tag=latest" -X POST -H 'X-Registry-Auth: !!'
  [[ $output == '{"message":"invalid X-Registry-Auth header: '*' 400' ]] || { echo "got: $output" >&2; return 1; }
  run curl -s --max-time 60 --unix-socket "$SOCK" -X POST -H "X-Registry-Auth: $(auth bob pw)" \
    "http://tug/v1.41/images/create?fromImage=$PROXY/busybox&tag=latest"
  assert_match "\"status\":\"Status: Downloaded newer image for $PROXY/busybox:latest\""
  # docker's CLI sends what its config.json holds for the registry
  mkdir -p "$DOCKER_CONFIG"
  printf '{"auths":{"%s":{"auth":"%s"}}}' "$PROXY" "$(printf bob:pw | base64 -w0)" >"$DOCKER_CONFIG/config.json"
  run_docker tag busybox "$PROXY/pushed:v1"
  run_docker push "$PROXY/pushed:v1"
  assert_match "^v1: digest: sha256:[0-9a-f]{64} size: [0-9]+$"
  rm -f "$DOCKER_CONFIG/config.json"
  run_docker 1 pull "$PROXY/pushed:v1"
  assert_match "^Error response from daemon: .*(unauthorized|authentication required)"
}

@test "docker tag, docker push to the registry, docker rmi and its conflict" {
  need_docker
  run_docker tag busybox "$REGISTRY/mine:v1"
  [[ -z $output ]]
  run_tug images --format '{{.Repository}}:{{.Tag}}' "$REGISTRY/mine"
  [[ $output == "$REGISTRY/mine:v1" ]]
  run_docker push "$REGISTRY/mine:v1"
  [[ ${lines[0]} == "The push refers to repository [$REGISTRY/mine]" ]]
  assert_match "^[0-9a-f]{12}: Preparing$"
  assert_match "^[0-9a-f]{12}: (Pushed|Layer already exists|Mounted from [a-z]+)$"
  assert_match "^v1: digest: sha256:[0-9a-f]{64} size: [0-9]+$"
  # the registry has it: pulled back under another store by tug itself
  TUG_ROOT=$BATS_TEST_TMPDIR/other run_tug pull -q "$REGISTRY/mine:v1"
  [[ $output == "$REGISTRY/mine:v1" ]]
  api "/v1.41/images/$REGISTRY/mine/push?tag=v1" -X POST
  [[ $output == *'missing X-Registry-Auth'*' 400' ]]
  api "/v1.41/images/nosuch/tag?repo=x&tag=y" -X POST
  [[ $output == '{"message":"No such image: nosuch:latest"} 404' ]] || { echo "got: $output" >&2; return 1; }
  run_docker 1 tag busybox Bad/Name
  assert_match "invalid reference format"

  run_docker create --name user "$REGISTRY/mine:v1"
  run_docker tag busybox "$REGISTRY/mine:v2"
  run_docker rmi "$REGISTRY/mine:v2"
  [[ $output == "Untagged: $REGISTRY/mine:v2" ]]
  local id
  id=$("$TUG" images -q "$REGISTRY/mine:v1")
  run_docker 1 rmi "$id"
  [[ $output == "Error response from daemon: conflict: unable to delete $id (must be forced) - image is being used by container user; remove the container first or use -f" ]] ||
    { echo "got: $output" >&2; return 1; }
  api "/v1.41/images/$id" -X DELETE
  [[ $output == '{"message":"conflict: '*' 409' ]]
  run_docker rm user
  run_docker 1 rmi nosuch
  [[ $output == "Error response from daemon: No such image: nosuch:latest" ]]
  api "/v1.41/images/$REGISTRY/mine:v1" -X DELETE
  # the repository's last tag: its digest reference (from the push) goes too, as docker's
  [[ $output == '[{"Untagged":"'$REGISTRY'/mine:v1"},{"Untagged":"'$REGISTRY'/mine@sha256:'*'"}] 200' ]] ||
    { echo "got: $output" >&2; return 1; }
  run_tug images -q "$REGISTRY/mine"
  [[ -z $output ]]
}

@test "docker save | docker load round trip; docker load refuses what is not an image archive" {
  need_docker
  run_docker tag busybox saved:v1
  run bash -c "timeout 60 docker save saved:v1 >'$BATS_TEST_TMPDIR/saved.tar'"
  [[ $status -eq 0 ]]
  tar -tf "$BATS_TEST_TMPDIR/saved.tar" | grep -qx manifest.json
  run_docker rmi saved:v1
  [[ $output == "Untagged: saved:v1" ]]
  run bash -c "timeout 60 docker load <'$BATS_TEST_TMPDIR/saved.tar'"
  [[ $status -eq 0 && $output == "Loaded image: saved:v1" ]] || { echo "load: $status $output" >&2; return 1; }
  run_tug images --format '{{.Repository}}:{{.Tag}}' saved
  [[ $output == "saved:v1" ]]
  # several names at once, piped from one to the other
  run bash -c "timeout 60 docker save busybox saved:v1 | timeout 60 docker load -q"
  [[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
  assert_match "^Loaded image: busybox:latest$"
  assert_match "^Loaded image: saved:v1$"
  api "/v1.41/images/get?names=busybox&names=nosuch"
  [[ $output == '{"message":"No such image: nosuch'*'"} 404' ]] || { echo "got: $output" >&2; return 1; }
  # a body larger than the 1 MiB the server reads whole, sent with a length
  head -c 3000000 /dev/zero >"$BATS_TEST_TMPDIR/zero"
  run curl -s --max-time 60 --unix-socket "$SOCK" -X POST --data-binary "@$BATS_TEST_TMPDIR/zero" \
    "http://tug/v1.41/images/load"
  [[ $output == '{"errorDetail":{"message":'*'"error":'* ]] || { echo "got: $output" >&2; return 1; }
  # other endpoints still take no chunked body
  run curl -s --max-time 30 --unix-socket "$SOCK" -w ' %{http_code}' -X POST -H 'Transfer-Encoding: chunked' \
    -H 'Content-Type: application/json' --data-binary '{}' "http://tug/v1.41/containers/create"
  [[ $output == '{"message":"chunked request bodies are not served for this endpoint"}'*' 501' ]] ||
    { echo "got: $output" >&2; return 1; }
  run bash -c "echo not a tar | timeout 60 docker load"
  [[ $status -eq 1 ]]
  assert_match "."
}

@test "docker image prune -f removes dangling images; the answer lists them" {
  need_docker
  push_fixture hello
  run_docker pull -q "$REGISTRY/hello"
  local id
  id=$("$TUG" images -q --no-trunc "$REGISTRY/hello")
  run_docker tag busybox "$REGISTRY/hello:latest" # the hello image keeps no tag
  run_docker image prune -f
  [[ ${lines[0]} == "Deleted Images:" ]]
  assert_match "^deleted: $id$"
  assert_match "^Total reclaimed space: [0-9.]+[kMG]?B$"
  run_tug images -q --no-trunc
  refute_match "$id"
  api "/v1.41/images/prune" -X POST
  [[ $output == '{"ImagesDeleted":null,"SpaceReclaimed":0} 200' ]] || { echo "got: $output" >&2; return 1; }
  # until: only what was created before then (the fixture images are years old)
  run_docker pull -q "$REGISTRY/hello" # the hello image again, then untagged again
  run_docker tag busybox "$REGISTRY/hello:latest"
  api '/v1.41/images/prune?filters=%7B%22until%22%3A%5B%221%22%5D%7D' -X POST
  [[ $output == '{"ImagesDeleted":null,"SpaceReclaimed":0} 200' ]] || { echo "got: $output" >&2; return 1; }
  api '/v1.41/images/prune?filters=%7B%22until%22%3A%5B%2224h%22%5D%7D' -X POST
  [[ $output == '{"ImagesDeleted":[{"Untagged":"'$REGISTRY'/hello@sha256:'*'"},{"Deleted":"sha256:'*' 200' ]] ||
    { echo "got: $output" >&2; return 1; }
  api '/v1.41/images/prune?filters=%7B%22until%22%3A%5B%22soon%22%5D%7D' -X POST
  [[ $output == *"invalid filter 'until=soon'"*' 400' ]]
}

@test "python3-docker: images.pull, get(...).tag, images.remove" {
  python3 -c 'import docker' 2>/dev/null || skip "python3-docker is not installed"
  push_fixture hello
  run timeout 60 python3 -c '
import docker, sys
c = docker.DockerClient(base_url="unix://" + sys.argv[1])
reg = sys.argv[2]
img = c.images.pull(reg + "/hello", tag="latest")
print(img.tags)
assert img.tag("py/tagged", tag="t1")
print(sorted(c.images.get("py/tagged:t1").tags))
c.images.remove("py/tagged:t1")
try:
    c.images.get("py/tagged:t1")
    print("still there")
except docker.errors.ImageNotFound:
    print("removed")
' "$SOCK" "$REGISTRY"
  [[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
  [[ ${lines[0]} == "['$REGISTRY/hello:latest']" ]]
  [[ ${lines[1]} == "['$REGISTRY/hello:latest', 'py/tagged:t1']" ]]
  [[ ${lines[2]} == "removed" ]]
}

@test "docker commit makes an image of a container's changes, with --change, -m and -a" {
  need_docker
  run_docker run --name src --network none busybox sh -c 'echo made >/made.txt'
  run_docker commit -c 'ENV COMMITTED=yes' -m 'a message' -a someone src committed:v1
  [[ $output == sha256:* ]] || { echo "got: $output" >&2; return 1; }
  run_docker run --rm --network none committed:v1 sh -c 'cat /made.txt; echo $COMMITTED'
  [[ $output == $'made\nyes' ]] || { echo "got: $output" >&2; return 1; }
  run_tug inspect -f '{{.Author}}' committed:v1
  [[ $output == someone ]]
  run_docker history --format '{{.Comment}}' committed:v1
  [[ ${lines[0]} == "a message" ]] || { echo "got: $output" >&2; return 1; }
  run_docker 1 commit nosuch
  [[ $output == "Error response from daemon: No such container: nosuch" ]] ||
    { echo "got: $output" >&2; return 1; }
  run_docker rm src
  run_docker rmi committed:v1
}
