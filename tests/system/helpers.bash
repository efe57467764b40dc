# Shared set-up for tug's CLI tests: a private store per test, a real registry per file.
# Tests assert what a user sees: output, exit status, and what is (not) left in the store.

TUG=${TUG:-$BATS_TEST_DIRNAME/../../build/tug}
TUG=$(cd "$(dirname "$TUG")" && pwd)/$(basename "$TUG")
source "$BATS_TEST_DIRNAME/../fixtures/lib.sh"

# Start a registry for the whole file and push the named fixtures ("busybox", "hello", ...).
# Registries and pushed images live under BATS_FILE_TMPDIR.
file_registry() {
  registry_start "$BATS_FILE_TMPDIR/registry" || return
  local f
  for f in "$@"; do
    "fixture_push_$f" "$f:latest" >/dev/null 2>&1 || { echo "push $f failed" >&2; return 1; }
  done
  echo "REGISTRY=$REGISTRY REGISTRY_PID=$REGISTRY_PID REGISTRY_DIR=$REGISTRY_DIR" >"$BATS_FILE_TMPDIR/registry.env"
}

file_registry_stop() {
  [[ -f $BATS_FILE_TMPDIR/registry.env ]] && source <(sed 's/^/export /' "$BATS_FILE_TMPDIR/registry.env")
  registry_stop 2>/dev/null || true
}

setup() {
  if [[ -f $BATS_FILE_TMPDIR/registry.env ]]; then
    eval "export $(cat "$BATS_FILE_TMPDIR/registry.env")"
  fi
  export TUG_ROOT=$BATS_TEST_TMPDIR/root
  mkdir -p "$TUG_ROOT"
}

# mounted_under DIR: the mount points under DIR (an EROFS store's layer mounts are elsewhere:
# their sources are in the store, their mount points in its run directory).
mounted_under() { awk -v r="${1%/}/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo; }

# layer_view HEX: a directory holding the files of the store's layer HEX, whatever its format:
# a directory layer's diff/, or an EROFS layer's image mounted read-only by the kernel under the
# test's tmpdir (unmount_views takes those down: call it from teardown).
layer_view() {
  local l=$TUG_ROOT/layers/$1 m=$BATS_TEST_TMPDIR/view-$1
  if [[ -f $l/layer.erofs ]]; then
    mkdir -p "$m"
    mountpoint -q "$m" || mount -t erofs -o ro "$l/layer.erofs" "$m" >&2 || return 1
    echo "$m"
  else
    echo "$l/diff"
  fi
}
# top_layer_view IMAGE: layer_view of the image's top layer
top_layer_view() {
  local top
  top=$(timeout 30 "$TUG" image inspect -f '{{.GraphDriver.Data.UpperDir}}' "$1") || return 1
  [[ $top == */diff ]] && top=${top%/diff}
  layer_view "$(basename "$top")"
}
unmount_views() {
  local m
  for m in "$BATS_TEST_TMPDIR"/view-*; do
    mountpoint -q "$m" 2>/dev/null && umount "$m"
  done
  return 0
}

# run_tug [EXPECTED_STATUS] ARGS...: run tug with a timeout; fail unless the status matches
# (default 0). Output is in $output and $lines, as with bats' run.
run_tug() {
  local expected=0
  if [[ $1 =~ ^[0-9]+$ || $1 == '?' ]]; then expected=$1; shift; fi
  run timeout 120 "$TUG" "$@"
  if [[ $expected != '?' && $status -ne $expected ]]; then
    echo "tug $*: exit status $status, expected $expected" >&2
    echo "output: $output" >&2
    return 1
  fi
}

# assert_line_matches REGEX: some line of $output matches.
assert_match() {
  if ! grep -qE -- "$1" <<<"$output"; then
    echo "no line of the output matches /$1/:" >&2
    echo "$output" >&2
    return 1
  fi
}

refute_match() {
  if grep -qE -- "$1" <<<"$output"; then
    echo "the output should not match /$1/:" >&2
    echo "$output" >&2
    return 1
  fi
}

# The store must be as a clean one: no leftovers for `system check` to find.
assert_store_clean() {
  run_tug system check --dry-run
  assert_match "^No problems found"
}
