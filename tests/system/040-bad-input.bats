#!/usr/bin/env bats
# Bad input: every case gets one clear error line, a non-zero exit, and a store with nothing
# half-written.

load helpers

setup_file() { file_registry busybox hello; }
teardown_file() { file_registry_stop; }

teardown() {
  authproxy_stop 2>/dev/null || true
  if mountpoint -q "$BATS_TEST_TMPDIR/small" 2>/dev/null; then umount "$BATS_TEST_TMPDIR/small"; fi
  unmount_views
}

store_is_empty() {
  run_tug images -q
  [[ -z $output ]]
  [[ $(ls "$TUG_ROOT/layers" | wc -l) -eq 0 ]]
  [[ $(ls "$TUG_ROOT/blobs/sha256" | wc -l) -eq 0 ]]
}

@test "invalid references are refused before anything is fetched" {
  run_tug 1 pull 'UPPER/Case:tag:x'
  assert_match "invalid reference format"
  run_tug 1 pull 'busybox:'
  assert_match "^Error: .*invalid reference format"
  run_tug 1 pull "$REGISTRY/Busybox"
  assert_match "repository name must be lowercase"
  run_tug 1 pull ''
  assert_match "invalid reference format"
}

@test "an unknown repository or tag names the reference; nothing is stored" {
  run_tug 1 pull $REGISTRY/nosuchrepo
  assert_match "^Error: pull $REGISTRY/nosuchrepo:latest: manifest unknown"
  run_tug 1 pull $REGISTRY/busybox:nosuchtag
  assert_match "$REGISTRY/busybox:nosuchtag"
  [[ ${#lines[@]} -eq 1 ]]
  store_is_empty
}

@test "an unreachable registry is a clear error naming it" {
  local port
  port=$(fixture_free_port)
  run_tug 1 pull 127.0.0.1:$port/busybox
  assert_match "127.0.0.1:$port"
  assert_match "(refused|connect)"
  # a registry whose name does not resolve: run names the image, the host and a way out
  run_tug 125 run --rm nosuchhost.invalid/busybox true
  assert_match "^Error: pull nosuchhost.invalid/busybox:latest: lookup nosuchhost.invalid: no such host \(check"
  run_tug images -q nosuchhost.invalid/busybox
  [[ -z $output ]]
}

@test "a blob whose bytes do not match its digest is rejected; nothing is stored" {
  local d
  d=$(fixture_layer_digest busybox:latest)
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode evil --corrupt-blob "$d"
  run_tug 1 pull -q $PROXY/busybox
  assert_match "digest mismatch"
  run_tug images -q
  [[ -z $output ]]
  [[ $(ls "$TUG_ROOT/layers" | wc -l) -eq 0 ]]
  [[ ! -e $TUG_ROOT/blobs/sha256/${d#sha256:} ]]
  [[ $(ls "$TUG_ROOT/ingest" | grep -c partial) -eq 0 ]]
  assert_store_clean
}

@test "a truncated blob fails the pull; the next pull resumes where it stopped" {
  local d
  d=$(fixture_layer_digest busybox:latest)
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode evil --truncate-blob "$d"
  run_tug '?' pull -q $PROXY/busybox
  [[ $status -ne 0 ]]
  run_tug images -q
  [[ -z $output ]]
  # the bytes that did arrive are kept for the next pull
  local partial
  partial=$(ls "$TUG_ROOT/ingest/"*.partial)
  [[ $(stat -c %s "$partial") -gt 0 ]]
  authproxy_stop
  authproxy_start "$BATS_TEST_TMPDIR/proxy2" --mode plain
  run_tug pull -q $PROXY/busybox
  [[ $(proxy_count "^GET /v2/busybox/blobs/$d 206") -eq 1 ]]
  assert_store_clean
}

@test "a resumed pull from a registry that ignores Range starts the blob over and unpacks it whole" {
  local d
  d=$(fixture_layer_digest busybox:latest)
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode evil --truncate-blob "$d"
  run_tug '?' pull -q $PROXY/busybox
  [[ $status -ne 0 ]]
  authproxy_stop
  # the partial file is there; this registry answers the Range with the whole blob (200), so the
  # download starts the file over under the unpack that follows it
  authproxy_start "$BATS_TEST_TMPDIR/proxy2" --mode evil --no-range
  run_tug pull -q $PROXY/busybox
  [[ $(proxy_count "^GET /v2/busybox/blobs/$d 200") -eq 1 ]]
  local l view
  l=$(ls "$TUG_ROOT/layers" | grep -v '^\.')
  view=$(layer_view "$l")
  cmp "$view/bin/busybox" /bin/busybox
  [[ -L $view/bin/sh ]]
  assert_store_clean
}

@test "malformed manifest JSON is an error naming the problem" {
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode evil --bad-manifest busybox:latest
  run_tug 1 pull -q $PROXY/busybox
  assert_match "malformed manifest"
  store_is_empty
}

@test "a layer with path traversal and link escapes never writes outside its directory" {
  local outside=$BATS_TEST_TMPDIR/outside
  mkdir -p "$outside"
  echo victim >"$outside/victim"
  local c
  for c in dotdot dotdot-mid absolute symlink relsymlink hardlink; do
    fixture_push_hostile "hostile-$c:latest" "$c" "$outside" >/dev/null 2>&1
    run_tug '?' pull -q $REGISTRY/hostile-$c
    echo "$c: status $status: $output"
    if [[ $status -ne 0 ]]; then
      [[ $status -eq 1 && ${#lines[@]} -eq 1 && $output =~ ^Error:.*layer\ entry ]]
    fi
    # nothing new outside, the victim untouched and not linked to
    [[ $(ls -A "$outside") == victim ]]
    [[ $(stat -c %h "$outside/victim") -eq 1 ]]
    [[ $(cat "$outside/victim") == victim ]]
    [[ ! -e $TUG_ROOT/layers/escape && ! -e $TUG_ROOT/escape && ! -e $TUG_ROOT/x ]]
  done
  assert_store_clean
}

@test "a symlink planted by one layer cannot be followed out by the next" {
  local outside=$BATS_TEST_TMPDIR/outside2
  mkdir -p "$outside"
  fixture_push_hostile "hostile-cross:latest" cross-layer "$outside" >/dev/null 2>&1
  run_tug '?' pull -q $REGISTRY/hostile-cross
  [[ -z $(ls -A "$outside") ]]
}

@test "a full disk fails the pull cleanly; freeing space lets it succeed" {
  mkdir -p "$BATS_TEST_TMPDIR/small"
  mount -t tmpfs -o size=1m tmpfs "$BATS_TEST_TMPDIR/small"
  export TUG_ROOT=$BATS_TEST_TMPDIR/small/root
  run_tug '?' pull -q $REGISTRY/busybox
  [[ $status -ne 0 ]]
  assert_match "No space left on device"
  run_tug images -q
  [[ -z $output ]]
  mount -o remount,size=64m "$BATS_TEST_TMPDIR/small"
  run_tug pull -q $REGISTRY/busybox
  run_tug system check
  run_tug images -q
  [[ -n $output ]]
}

@test "unknown commands and flags are errors with a way out" {
  run_tug 1 nosuchcommand
  assert_match "is not a tug command"
  run_tug 125 images --bogus
  assert_match "^unknown flag: --bogus$"
  assert_match "See 'tug images --help'"
  run_tug 1 pull
  assert_match "requires exactly 1 argument"
}
