#!/usr/bin/env bats
# tug build's cache as a user sees it: --progress=plain says why a step missed (which source,
# which build arg, --no-cache, an earlier step), and --cache-from IMAGE lets an image built by
# tug in another store stand in for the steps that made it.

load containers
load build

setup_file() { containers_setup_file; }

# why STEP: the "cache miss:" line of the step named STEP ("[3/4]"), or nothing.
why() {
  local n
  n=$(grep -F -- " $1 " <<<"$output" | grep -m1 -oE '^#[0-9]+') || return 0
  grep -E "^$n cache miss: " <<<"$output" | sed "s/^$n cache miss: //"
}

LAYOUT=$BATS_TEST_TMPDIR/layout

# layout_blob FILE: FILE as a blob of $LAYOUT; prints its digest.
layout_blob() {
  local hex
  hex=$(sha256sum "$1" | cut -d' ' -f1) && cp "$1" "$LAYOUT/blobs/sha256/$hex" && echo "sha256:$hex"
}

# layout_tag MANIFEST: $LAYOUT's one image ("img") is the manifest file MANIFEST.
layout_tag() {
  local d
  d=$(layout_blob "$1") || return
  jq -n --arg d "$d" --argjson s "$(stat -c %s "$1")" \
    '{schemaVersion: 2, manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: $d, size: $s, annotations: {"org.opencontainers.image.ref.name": "img"}}]}' >"$LAYOUT/index.json"
}

# layout_push REF: $LAYOUT's image into the test registry as REF.
layout_push() {
  skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$LAYOUT:img" "docker://$REGISTRY/$1" >/dev/null
}

# push_from_store ROOT IMAGE REF: put IMAGE of the store at ROOT into the test registry as REF,
# from the blobs the store keeps (an OCI layout pushed with skopeo: tug has no save or push yet).
push_from_store() {
  local root=$1 id=$2 ref=$3 layers d
  rm -rf "$LAYOUT" && mkdir -p "$LAYOUT/blobs/sha256"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$LAYOUT/oci-layout"
  layers=$(sqlite3 -json "$root/tug.db" \
    "SELECT blob_digest AS digest, blob_size AS size FROM image_layers WHERE image_id = '$id' ORDER BY idx") || return
  for d in "$id" $(jq -r '.[].digest' <<<"$layers"); do
    layout_blob "$root/blobs/sha256/${d#sha256:}" >/dev/null || return
  done
  jq -n --arg c "$id" --argjson cs "$(stat -c %s "$root/blobs/sha256/${id#sha256:}")" --argjson l "$layers" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
      layers: [$l[] | {mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest, size}]}' -c \
    >"$BATS_TEST_TMPDIR/manifest.json" &&
    layout_tag "$BATS_TEST_TMPDIR/manifest.json" && layout_push "$ref"
}

# A second store, with busybox in it as setup() gives the first.
second_store() {
  ROOT2=$BATS_TEST_TMPDIR/root2
  mkdir -p "$ROOT2"
  TUG_ROOT=$ROOT2 "$TUG" pull -q "$REGISTRY/busybox" >/dev/null &&
    TUG_ROOT=$ROOT2 "$TUG" tag "$REGISTRY/busybox" busybox
}

@test "an edited COPY source: the COPY says which file changed, the steps after it that the parent changed" {
  ctx
  mkdir -p "$CTX/src"
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
RUN echo base > /base
COPY . /app/
RUN ls -R /app > /list
EOF
  echo 'int main() {}' >"$CTX/src/main.c"
  echo 'x' >"$CTX/src/util.c"
  build -t edit "$CTX"
  # the first build has nothing to compare with
  refute_match 'cache miss'
  echo 'int main() { return 1; }' >"$CTX/src/main.c"
  build -t edit "$CTX"
  [[ $(steps_of) == $'[1/4] FROM docker.io/library/busybox:latest CACHED\n[2/4] RUN echo base > /base CACHED\n[3/4] COPY . /app/ DONE\n[4/4] RUN ls -R /app > /list DONE' ]]
  [[ $(why '[3/4]') == 'COPY source src/main.c changed' ]] || { why '[3/4]'; false; }
  [[ $(why '[4/4]') == 'earlier step [3/4] changed' ]] || { why '[4/4]'; false; }
  [[ -z $(why '[2/4]') ]]
  # a file added, then one removed; an unchanged rebuild says nothing
  echo new >"$CTX/src/new.c"
  build -t edit "$CTX"
  [[ $(why '[3/4]') == 'COPY source src/new.c added' ]] || { why '[3/4]'; false; }
  rm "$CTX/src/util.c"
  build -t edit "$CTX"
  [[ $(why '[3/4]') == 'COPY source src/util.c removed' ]] || { why '[3/4]'; false; }
  build -t edit "$CTX"
  refute_match 'cache miss'
  [[ $(steps_of | grep -c CACHED) -eq 4 ]]
}

@test "a changed build arg is named with its old and new value; --no-cache says so on every step" {
  ctx
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
ARG VERSION=1
RUN echo "building $VERSION" > /version
WORKDIR /srv
EOF
  build -t args "$CTX"
  build -t args --build-arg VERSION=2 "$CTX"
  [[ $(why '[2/3]') == 'build arg VERSION changed (was 1, now 2)' ]] || { why '[2/3]'; false; }
  [[ $(why '[3/3]') == 'earlier step [2/3] changed' ]] || { why '[3/3]'; false; }
  build -t args --build-arg VERSION=2 --no-cache "$CTX"
  [[ $(why '[2/3]') == '--no-cache' && $(why '[3/3]') == '--no-cache' ]] || { echo "$output"; false; }
  # an edited instruction says what it was
  sed -i 's/building/making/' "$CTX/Dockerfile"
  build -t args --build-arg VERSION=2 "$CTX"
  assert_match '^#[0-9]+ cache miss: instruction changed \(was: RUN echo "building \$VERSION" > /version\)$'
}

@test "an image tug built carries its steps' cache keys, checked against its layers" {
  ctx
  printf 'FROM busybox\nCOPY a.txt /a.txt\nENV X=1\nRUN true\n' >"$CTX/Dockerfile"
  echo a >"$CTX/a.txt"
  run_tug build -q -t rec "$CTX"
  local id=$output
  local cfg
  cfg=$(cat "$TUG_ROOT/blobs/sha256/${id#sha256:}")
  # COPY (a layer: index 1, its diff ID), ENV and RUN true (no layer)
  jq -e '.["tug.build.cache.v1"] | length == 3 and .[0].layer == 1 and .[1].layer == -1 and .[2].layer == -1' <<<"$cfg"
  jq -e '.["tug.build.cache.v1"][0].diff_id == .rootfs.diff_ids[1]' <<<"$cfg"
  # a rebuild in the same store makes the same image
  run_tug build -q -t rec "$CTX"
  [[ $output == "$id" ]]
}

@test "--cache-from an image built in another store: its steps are CACHED and the result is the same image" {
  ctx
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
COPY app.txt /app/app.txt
ENV MODE=prod
RUN echo "made at $(date +%s%N)" > /stamp
WORKDIR /app
CMD ["cat", "/stamp"]
EOF
  echo hello >"$CTX/app.txt"
  run_tug build -q -t "$REGISTRY/app:a" "$CTX"
  local a=$output
  run_tug run --rm "$REGISTRY/app:a"
  local stamp=$output
  push_from_store "$TUG_ROOT" "$a" app:a
  second_store
  TUG_ROOT=$ROOT2 run_tug pull -q "$REGISTRY/app:a"
  # without --cache-from every step runs
  TUG_ROOT=$ROOT2 build -t nocf "$CTX"
  [[ $(steps_of | grep -c ' DONE') -eq 3 ]]
  TUG_ROOT=$ROOT2 run_tug builder prune -f
  TUG_ROOT=$ROOT2 build --cache-from "$REGISTRY/app:a" --iidfile "$BATS_TEST_TMPDIR/iid" "$CTX"
  assert_match "importing cache manifest from $REGISTRY/app:a"
  refute_match WARNING
  [[ $(steps_of) == $'[1/4] FROM docker.io/library/busybox:latest CACHED\n[2/4] COPY app.txt /app/app.txt CACHED\n[3/4] RUN echo "made at $(date +%s%N)" > /stamp CACHED\n[4/4] WORKDIR /app CACHED' ]] ||
    { steps_of; false; }
  [[ $(cat "$BATS_TEST_TMPDIR/iid") == "$a" ]]
  # the RUN was not run again: its layer is the one made in the first store
  TUG_ROOT=$ROOT2 run_tug run --rm "$a"
  [[ $output == "$stamp" ]]
  # and this store's own cache has the steps from now on
  TUG_ROOT=$ROOT2 build "$CTX"
  refute_match 'importing cache'
  [[ $(steps_of | grep -c CACHED) -eq 4 ]]
}

@test "--cache-from an image with no record, or a record that lies about its layers: a warning and no hits" {
  ctx
  printf 'FROM busybox\nCOPY a.txt /a.txt\n' >"$CTX/Dockerfile"
  echo a >"$CTX/a.txt"
  build --cache-from busybox "$CTX"
  assert_match "^#[0-9]+ WARNING: --cache-from busybox: the image has no build cache record"
  assert_match '\[2/2\] COPY a.txt /a.txt'
  [[ $(steps_of | grep -c ' DONE') -eq 1 ]]
  build --cache-from nosuch:image "$CTX"
  assert_match "WARNING: --cache-from nosuch:image: no such image in the store"
  # an image whose record says its COPY made the base layer (not the one its rootfs has at that
  # place) is not trusted
  run_tug build -q -t good "$CTX"
  local id=$output
  push_from_store "$TUG_ROOT" "$id" good
  second_store
  jq -c '.["tug.build.cache.v1"][0].diff_id = .rootfs.diff_ids[0]' \
    "$TUG_ROOT/blobs/sha256/${id#sha256:}" >"$BATS_TEST_TMPDIR/bad.json"
  local c
  c=$(layout_blob "$BATS_TEST_TMPDIR/bad.json")
  jq -c --arg d "$c" --argjson s "$(stat -c %s "$BATS_TEST_TMPDIR/bad.json")" \
    '.config.digest = $d | .config.size = $s' "$BATS_TEST_TMPDIR/manifest.json" >"$BATS_TEST_TMPDIR/bad-manifest.json"
  layout_tag "$BATS_TEST_TMPDIR/bad-manifest.json" && layout_push bad
  TUG_ROOT=$ROOT2 run_tug pull -q "$REGISTRY/bad"
  TUG_ROOT=$ROOT2 build --cache-from "$REGISTRY/bad" "$CTX"
  assert_match "WARNING: --cache-from $REGISTRY/bad: its build cache record does not match its layers; not used"
  [[ $(steps_of | grep -c ' DONE') -eq 1 ]]
}

@test "a store from before the cache remembered inputs (schema 5) is upgraded in place and keeps its cache" {
  ctx
  printf 'FROM busybox\nCOPY a.txt /a.txt\n' >"$CTX/Dockerfile"
  echo a >"$CTX/a.txt"
  build -t old "$CTX"
  sqlite3 "$TUG_ROOT/tug.db" 'DROP TABLE build_cache_inputs; PRAGMA user_version=5;'
  build -t old "$CTX"
  [[ $(steps_of | grep -c CACHED) -eq 2 ]]
  (( $(sqlite3 "$TUG_ROOT/tug.db" 'PRAGMA user_version') >= 6 ))
  # rows from before say nothing about a miss; new ones do
  echo b >"$CTX/a.txt"
  build -t old "$CTX"
  refute_match 'cache miss'
  echo c >"$CTX/a.txt"
  build -t old "$CTX"
  assert_match 'cache miss: COPY source a.txt changed'
}

@test "the terminal view keeps the reason of a miss under its step" {
  ctx
  printf 'FROM busybox\nCOPY a.txt /a.txt\n' >"$CTX/Dockerfile"
  echo a >"$CTX/a.txt"
  build -t viewed "$CTX"
  echo b >"$CTX/a.txt"
  run script -qec "timeout 60 '$TUG' build -t viewed '$CTX'" /dev/null
  [[ $status -eq 0 ]]
  assert_match ' => \[2/2\] COPY a.txt /a.txt +[0-9.]+s'
  assert_match ' => => # cache miss: COPY source a.txt changed'
}
