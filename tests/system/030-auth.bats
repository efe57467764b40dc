#!/usr/bin/env bats
# Registry authentication: docker's bearer-token flow, basic auth, ~/.docker/config.json.

load helpers

setup_file() { file_registry busybox; }
teardown_file() { file_registry_stop; }

teardown() { authproxy_stop 2>/dev/null || true; }

docker_config() { # USER PASS HOST
  mkdir -p "$BATS_TEST_TMPDIR/docker"
  printf '{"auths":{"%s":{"auth":"%s"}}}' "$3" "$(printf '%s:%s' "$1" "$2" | base64 -w0)" \
    >"$BATS_TEST_TMPDIR/docker/config.json"
  export DOCKER_CONFIG=$BATS_TEST_TMPDIR/docker
}

@test "anonymous bearer tokens: a 401 challenge is answered with a token, then the pull works" {
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode bearer
  run_tug pull -q $PROXY/busybox
  [[ $output == "$PROXY/busybox:latest" ]]
  [[ $(proxy_count '^GET /token') -ge 1 ]]
  [[ $(proxy_count ' 401$') -ge 1 ]]
}

@test "a token server that wants credentials gets them from docker's config.json" {
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode bearer --user alice --password s3cret
  run_tug 1 pull -q $PROXY/busybox
  assert_match "unauthorized|authentication required"
  docker_config alice s3cret "$PROXY"
  run_tug pull -q $PROXY/busybox
  [[ $output == "$PROXY/busybox:latest" ]]
}

@test "basic auth with credentials from config.json; wrong ones are a clear error" {
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode basic --user bob --password pw
  docker_config bob wrong "$PROXY"
  run_tug 1 pull -q $PROXY/busybox
  assert_match "^Error: pull $PROXY/busybox:latest: .*(unauthorized|authentication required)"
  run_tug images -q
  [[ -z $output ]]
  docker_config bob pw "http://$PROXY"
  run_tug pull -q $PROXY/busybox
  [[ $output == "$PROXY/busybox:latest" ]]
}

@test "a malformed config.json is named in the error" {
  mkdir -p "$BATS_TEST_TMPDIR/docker"
  echo '{"auths": {' >"$BATS_TEST_TMPDIR/docker/config.json"
  DOCKER_CONFIG=$BATS_TEST_TMPDIR/docker run_tug 1 pull -q $REGISTRY/busybox
  assert_match "config.json"
}
