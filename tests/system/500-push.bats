#!/usr/bin/env bats
# tug push: what the registry lacks goes up (mounted from a sibling repository when it can), then
# the manifest; docker's lines; what was pushed pulls back the same in tug, skopeo and docker.

load helpers

setup_file() { file_registry busybox hello; }

# A second private registry for the test (the file's one holds the fixtures); PROXY in front of
# it counts requests (and misbehaves with ARGS).
target() {
  local fixtures=$REGISTRY
  registry_start "$BATS_TEST_TMPDIR/target" || return
  TARGET=$REGISTRY
  echo "$REGISTRY_PID" >"$BATS_TEST_TMPDIR/target.pid"
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode plain "$@" || return
  REGISTRY=$fixtures
}

teardown() {
  authproxy_stop 2>/dev/null || true
  if [[ -f $BATS_TEST_TMPDIR/target.pid ]]; then
    REGISTRY_PID=$(<"$BATS_TEST_TMPDIR/target.pid") registry_stop 2>/dev/null || true
  fi
}

teardown_file() { file_registry_stop; }

# an image built by tug from the fixture busybox, tagged $1
build_image() {
  mkdir -p "$BATS_TEST_TMPDIR/ctx"
  printf 'FROM %s/busybox\nRUN echo built by tug >/built.txt\nCMD ["cat", "/built.txt"]\n' \
    "$REGISTRY" >"$BATS_TEST_TMPDIR/ctx/Dockerfile"
  run_tug build -q -t "$1" "$BATS_TEST_TMPDIR/ctx"
}

uploads() { proxy_count '^(PUT|PATCH|POST) /v2/.*/blobs/'; }

@test "a pulled image pushed to another registry pulls back into a fresh store with the same ID and runs" {
  target
  run_tug pull -q "$REGISTRY/hello"
  run_tug images -q --no-trunc "$REGISTRY/hello"
  local id=$output
  run_tug tag "$REGISTRY/hello" "$PROXY/copy/hello:v1"
  run_tug push "$PROXY/copy/hello:v1"
  [[ ${lines[0]} == "The push refers to repository [$PROXY/copy/hello]" ]] || { echo "first line: ${lines[0]}"; false; }
  assert_match '^[0-9a-f]{12}: Preparing$'
  assert_match '^[0-9a-f]{12}: Pushed$'
  assert_match '^v1: digest: sha256:[0-9a-f]{64} size: [0-9]+$'
  local digest=${lines[-1]#v1: digest: }
  digest=${digest%% *}
  # byte for byte: the digest the fixture registry serves
  [[ $digest == "sha256:$(fixture_manifest hello:latest | sha256sum | cut -d' ' -f1)" ]] || { echo "pushed $digest"; false; }
  run_tug images --digests --format '{{.Repository}} {{.Digest}}' "$PROXY/copy/hello"
  [[ $output == "$PROXY/copy/hello $digest" ]]
  TUG_ROOT=$BATS_TEST_TMPDIR/fresh run_tug pull -q "$PROXY/copy/hello:v1"
  TUG_ROOT=$BATS_TEST_TMPDIR/fresh run_tug images -q --no-trunc "$PROXY/copy/hello:v1"
  [[ $output == "$id" ]]
  TUG_ROOT=$BATS_TEST_TMPDIR/fresh run_tug run --rm "$PROXY/copy/hello:v1"
  [[ $output == "hello from tug" ]]
}

@test "an image tug built is pushed as docker schema2 that skopeo reads; a second push uploads nothing" {
  target
  build_image "$PROXY/built:1"
  run_tug push "$PROXY/built:1"
  assert_match '^1: digest: sha256:[0-9a-f]{64} size: [0-9]+$'
  local digest=${lines[-1]#1: digest: }
  digest=${digest%% *}
  run skopeo inspect --tls-verify=false "docker://$PROXY/built:1"
  [[ $status -eq 0 ]] || { echo "$output"; false; }
  [[ $(jq -r .Digest <<<"$output") == "$digest" ]]
  [[ $(jq '.Layers | length' <<<"$output") -eq 2 ]]
  run skopeo inspect --raw --tls-verify=false "docker://$PROXY/built:1"
  [[ $(jq -r .mediaType <<<"$output") == application/vnd.docker.distribution.manifest.v2+json ]]
  run_tug images --digests --format '{{.Digest}}' "$PROXY/built"
  [[ $output == "$digest" ]]

  : >"$PROXY_LOG"
  run_tug push "$PROXY/built:1"
  [[ $(uploads) -eq 0 ]] || { cat "$PROXY_LOG"; false; }
  assert_match ': Layer already exists$'
  [[ ${lines[-1]} == "1: digest: $digest size: "* ]]
}

@test "docker pulls and runs what tug pushed" {
  pgrep -x dockerd >/dev/null || skip "dockerd is not running"
  target
  build_image "$TARGET/dockertest/built:1"
  run_tug push "$TARGET/dockertest/built:1"
  run timeout 120 docker pull "$TARGET/dockertest/built:1"
  [[ $status -eq 0 ]] || { echo "docker pull: $output"; false; }
  # no network: the test is the image, not docker's bridge beside other work on this machine
  run timeout 120 docker run --rm --network none "$TARGET/dockertest/built:1"
  docker rmi -f "$TARGET/dockertest/built:1" >/dev/null 2>&1 || true
  [[ $status -eq 0 && $output == *"built by tug" ]] || { echo "docker run: $output"; false; }
}

@test "a blob the store knows in another repository of the registry is mounted, not sent" {
  target
  run_tug pull -q "$REGISTRY/busybox"
  run_tug tag "$REGISTRY/busybox" "$PROXY/a:latest"
  run_tug push "$PROXY/a"
  assert_match '^Using default tag: latest$'
  run_tug tag "$REGISTRY/busybox" "$PROXY/b:latest"
  : >"$PROXY_LOG"
  run_tug push "$PROXY/b"
  assert_match '^[0-9a-f]{12}: Mounted from a$'
  [[ $(proxy_count '^PATCH|^PUT /v2/b/blobs/') -eq 0 ]] || { cat "$PROXY_LOG"; false; }
  [[ $(proxy_count '^POST /v2/b/blobs/uploads/ 201') -ge 1 ]]
}

@test "--all-tags pushes every tag of the repository; -q prints only the reference" {
  target
  run_tug pull -q "$REGISTRY/busybox"
  run_tug pull -q "$REGISTRY/hello"
  run_tug tag "$REGISTRY/busybox" "$PROXY/multi:one"
  run_tug tag "$REGISTRY/hello" "$PROXY/multi:two"
  run_tug push --all-tags "$PROXY/multi"
  assert_match '^one: digest: sha256:[0-9a-f]{64} size: [0-9]+$'
  assert_match '^two: digest: sha256:[0-9a-f]{64} size: [0-9]+$'
  run skopeo list-tags --tls-verify=false "docker://$PROXY/multi"
  [[ $(jq -r '.Tags | sort | join(",")' <<<"$output") == one,two ]]
  run_tug 1 push -a "$PROXY/multi:one"
  assert_match "tag can't be used with --all-tags"
  run_tug push -q "$PROXY/multi:two"
  [[ $output == "$PROXY/multi:two" ]]
}

@test "a registry failing uploads with 500 is retried and a chunked upload resumes where it stood" {
  target --fail-upload 1:1
  run_tug pull -q "$REGISTRY/busybox"
  run_tug tag "$REGISTRY/busybox" "$PROXY/flaky:1"
  TUG_PUSH_CHUNK_SIZE=200000 run_tug push "$PROXY/flaky:1"
  [[ $(proxy_count '^PATCH .* 500$') -eq 1 ]] || { cat "$PROXY_LOG"; false; }
  # the upload's state asked for and the upload continued, not started over
  [[ $(proxy_count '^GET /v2/flaky/blobs/uploads/.* 204$') -eq 1 ]] || { cat "$PROXY_LOG"; false; }
  TUG_ROOT=$BATS_TEST_TMPDIR/fresh run_tug pull -q "$PROXY/flaky:1"
  TUG_ROOT=$BATS_TEST_TMPDIR/fresh run_tug run --rm "$PROXY/flaky:1" echo ok
  [[ $output == ok ]]
}

@test "a connection dropped mid-upload is retried; the image pulls back whole" {
  target --drop-upload 1
  run_tug pull -q "$REGISTRY/busybox"
  run_tug tag "$REGISTRY/busybox" "$PROXY/dropped:1"
  TUG_PUSH_CHUNK_SIZE=200000 run_tug push "$PROXY/dropped:1"
  [[ $(proxy_count '^PATCH .* dropped$') -eq 1 ]] || { cat "$PROXY_LOG"; false; }
  TUG_ROOT=$BATS_TEST_TMPDIR/fresh run_tug pull -q "$PROXY/dropped:1"
  TUG_ROOT=$BATS_TEST_TMPDIR/fresh run_tug run --rm "$PROXY/dropped:1" echo ok
  [[ $output == ok ]]
}

@test "errors: no such image, an unreachable registry, a digest reference" {
  run_tug 1 push "$REGISTRY/nothing-here:v9"
  assert_match "^Error: push $REGISTRY/nothing-here:v9: An image does not exist locally with the tag: $REGISTRY/nothing-here$"
  run_tug pull -q "$REGISTRY/busybox"
  local port
  port=$(fixture_free_port)
  run_tug tag "$REGISTRY/busybox" "127.0.0.1:$port/gone:1"
  run_tug 1 push "127.0.0.1:$port/gone:1"
  assert_match "^Error: push 127.0.0.1:$port/gone:1: .*connect 127.0.0.1:$port"
  [[ ${#lines[@]} -le 4 ]] || { echo "$output"; false; }
  run_tug 1 push "$REGISTRY/busybox@sha256:$(printf '%064d' 0)"
  assert_match "cannot push a digest reference"
  run_tug 1 push
  assert_match '"push" requires exactly 1 argument'
}

docker_config() { # USER PASS HOST
  mkdir -p "$BATS_TEST_TMPDIR/docker"
  printf '{"auths":{"%s":{"auth":"%s"}}}' "$3" "$(printf '%s:%s' "$1" "$2" | base64 -w0)" \
    >"$BATS_TEST_TMPDIR/docker/config.json"
  export DOCKER_CONFIG=$BATS_TEST_TMPDIR/docker
}

@test "bearer tokens with push scope; a wrong password is one line and nothing is written" {
  target --mode bearer --user alice --password s3cret
  run_tug pull -q "$REGISTRY/busybox"
  run_tug tag "$REGISTRY/busybox" "$PROXY/secure:1"
  docker_config alice wrong "$PROXY"
  run_tug 1 push "$PROXY/secure:1"
  assert_match "^Error: push $PROXY/secure:1: .*unauthorized"
  [[ $(uploads) -eq 0 && $(proxy_count '^PUT /v2/.*/manifests/') -eq 0 ]] || { cat "$PROXY_LOG"; false; }
  docker_config alice s3cret "$PROXY"
  run_tug push "$PROXY/secure:1"
  assert_match '^1: digest: sha256:'
  [[ $(proxy_count '^GET /token') -ge 1 ]]
}

@test "basic auth: wrong credentials are refused before any upload, right ones push" {
  target --mode basic --user bob --password pw
  run_tug pull -q "$REGISTRY/busybox"
  run_tug tag "$REGISTRY/busybox" "$PROXY/basic:1"
  docker_config bob nope "$PROXY"
  run_tug 1 push "$PROXY/basic:1"
  assert_match "unauthorized"
  [[ $(uploads) -eq 0 ]] || { cat "$PROXY_LOG"; false; }
  docker_config bob pw "$PROXY"
  run_tug push "$PROXY/basic:1"
  assert_match '^1: digest: sha256:'
}

@test "an imported plain tar is gzipped once for its push: the same image pulls back, a second push sends nothing" {
  target
  fixture_rootfs "$BATS_TEST_TMPDIR/rootfs" >/dev/null
  tar -C "$BATS_TEST_TMPDIR/rootfs" -cf "$BATS_TEST_TMPDIR/rootfs.tar" .
  run_tug import "$BATS_TEST_TMPDIR/rootfs.tar" "$PROXY/imported:1"
  local id=$output
  run_tug push "$PROXY/imported:1"
  assert_match '^[0-9a-f]{12}: Pushed$'
  : >"$PROXY_LOG"
  run_tug push "$PROXY/imported:1"
  [[ $(uploads) -eq 0 ]] || { cat "$PROXY_LOG"; false; }
  TUG_ROOT=$BATS_TEST_TMPDIR/fresh run_tug pull -q "$PROXY/imported:1"
  TUG_ROOT=$BATS_TEST_TMPDIR/fresh run_tug images -q --no-trunc "$PROXY/imported:1"
  [[ $output == "$id" ]]
}

@test "--compression zstd pushes an OCI manifest of zstd layers that pulls back and runs; again, nothing is sent" {
  target
  build_image "$PROXY/zstd:1"
  run_tug images -q --no-trunc "$PROXY/zstd:1"
  local id=$output
  run_tug push --compression zstd "$PROXY/zstd:1"
  assert_match '^1: digest: sha256:[0-9a-f]{64} size: [0-9]+$'
  run skopeo inspect --raw --tls-verify=false "docker://$PROXY/zstd:1"
  [[ $status -eq 0 ]] || { echo "$output"; false; }
  [[ $(jq -r .mediaType <<<"$output") == application/vnd.oci.image.manifest.v1+json ]]
  [[ $(jq -r .config.mediaType <<<"$output") == application/vnd.oci.image.config.v1+json ]]
  [[ $(jq -r '[.layers[].mediaType] | unique | join(",")' <<<"$output") == application/vnd.oci.image.layer.v1.tar+zstd ]] ||
    { echo "layer types: $output"; false; }
  # each layer blob really is zstd: its first bytes are zstd's magic
  local blob
  blob=$(jq -r '.layers[0].digest' <<<"$output")
  curl -fsS "http://$PROXY/v2/zstd/blobs/$blob" | head -c 4 | od -An -tx1 | grep -q '28 b5 2f fd' ||
    { echo "layer $blob is not zstd"; false; }
  TUG_ROOT=$BATS_TEST_TMPDIR/fresh run_tug pull -q "$PROXY/zstd:1"
  TUG_ROOT=$BATS_TEST_TMPDIR/fresh run_tug images -q --no-trunc "$PROXY/zstd:1"
  [[ $output == "$id" ]]
  TUG_ROOT=$BATS_TEST_TMPDIR/fresh run_tug run --rm "$PROXY/zstd:1"
  [[ $output == "built by tug" ]]
  : >"$PROXY_LOG"
  run_tug push --compression zstd "$PROXY/zstd:1"
  [[ $(uploads) -eq 0 ]] || { echo "a second push uploaded"; cat "$PROXY_LOG"; false; }
  run_tug 125 push --compression lz4 "$PROXY/zstd:1"
  assert_match 'invalid argument "lz4" for "--compression" flag: use gzip or zstd'
}

@test "a store of schema 6 (before blob sources) is upgraded in place and pushes" {
  target
  run_tug pull -q "$REGISTRY/busybox"
  sqlite3 "$TUG_ROOT/tug.db" 'DROP TABLE blob_sources; PRAGMA user_version=6;'
  run_tug tag "$REGISTRY/busybox" "$PROXY/upgraded:1"
  run_tug push "$PROXY/upgraded:1"
  assert_match '^1: digest: sha256:'
  (( $(sqlite3 "$TUG_ROOT/tug.db" 'PRAGMA user_version') >= 7 ))
  [[ $(sqlite3 "$TUG_ROOT/tug.db" "SELECT count(*) FROM blob_sources WHERE repo = 'upgraded'") -ge 2 ]]
}
