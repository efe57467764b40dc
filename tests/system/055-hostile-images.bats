#!/usr/bin/env bats
# Hostile image configs: a field of the wrong type, a NUL, a huge list, an oversized or ambiguous
# config is refused at pull and import with one line naming the field, and nothing is stored. A
# store that already holds one (written before tug checked configs) still lists, inspects and
# removes it, and refuses to run it.

load helpers

setup_file() {
  file_registry busybox || return
  # one harmless layer and the config push_raw.py would make for it
  mkdir -p "$BATS_FILE_TMPDIR/layer"
  echo harmless >"$BATS_FILE_TMPDIR/layer/ok.txt"
  tar -C "$BATS_FILE_TMPDIR/layer" -cf "$BATS_FILE_TMPDIR/layer.tar" .
  local diff
  diff=sha256:$(sha256sum <"$BATS_FILE_TMPDIR/layer.tar" | cut -d' ' -f1)
  jq -n --arg d "$diff" '{
    architecture: "amd64", os: "linux", created: "2024-01-01T00:00:00Z",
    config: {Env: ["PATH=/bin"], Cmd: ["sh"]},
    rootfs: {type: "layers", diff_ids: [$d]},
    history: [{created: "2024-01-01T00:00:00Z", created_by: "ADD ok.txt"}]}' \
    >"$BATS_FILE_TMPDIR/config.json"
}
teardown_file() { file_registry_stop; }

# push_config REPO FILTER: the harmless image with jq's FILTER applied to its config, as
# $REGISTRY/REPO:latest.
push_config() {
  local cfg=$BATS_TEST_TMPDIR/$1.json
  jq -c "$2" "$BATS_FILE_TMPDIR/config.json" >"$cfg" || return
  push_raw_config "$1" "$cfg"
}

push_raw_config() {
  python3 "$TUG_FIXTURES/push_raw.py" image --registry "$REGISTRY" --repo "$1" --tag latest \
    --config "$2" "$BATS_FILE_TMPDIR/layer.tar" >/dev/null
}

# pull_refused REPO REGEX: the pull fails with one line naming the config and matching REGEX.
pull_refused() {
  run_tug 1 pull -q "$REGISTRY/$1"
  [[ ${#lines[@]} -eq 1 ]] || { echo "one line expected: $output" >&2; false; }
  assert_match "^Error: pull $REGISTRY/$1:latest: image config sha256:[0-9a-f]{12}:? $2"
}

store_is_empty() {
  run_tug images -q
  [[ -z $output ]]
  [[ -z $(ls -A "$TUG_ROOT/layers") && -z $(ls -A "$TUG_ROOT/blobs/sha256") ]] ||
    { echo "stored: $(ls -A "$TUG_ROOT/layers" "$TUG_ROOT/blobs/sha256")" >&2; false; }
  assert_store_clean
}

@test "pull refuses a config field of the wrong type, naming it; nothing is stored" {
  local -a cases=(
    '.config.Cmd = ["sh", 1]'                  'Cmd\[1\] is not a string$'
    '.config.Entrypoint = 5'                   'Entrypoint is not a string or a list of strings$'
    '.config.Env = [1]'                        'Env\[0\] is not a string$'
    '.config.WorkingDir = 5'                   'WorkingDir is not a string$'
    '.config.User = {}'                        'User is not a string$'
    '.config.StopSignal = 9'                   'StopSignal is not a string$'
    '.config.Labels = {"a": 1}'                'Labels\["a"\] is not a string$'
    '.config.ExposedPorts = {"http": {}}'      'ExposedPorts\["http"\] is not a port'
    '.config.Volumes = {"data": {}}'           'Volumes\["data"\] is not an absolute path$'
    '.config.Healthcheck = {"Test": true}'     'Healthcheck.Test is not a string or a list of strings$'
    '.config = "sh"'                           'config is not an object$'
    '.rootfs.diff_ids = [1]'                   'rootfs.diff_ids\[0\] is not a string$'
    '.history = [{"created_by": 1}]'           'history\[0\].created_by is not a string$'
    '.created = "yesterday"'                   'created is not a time \(RFC 3339\)$'
  )
  local i
  for ((i = 0; i < ${#cases[@]}; i += 2)); do
    push_config bad$i "${cases[i]}"
    pull_refused bad$i "${cases[i + 1]}"
  done
  store_is_empty
}

@test "pull refuses a NUL in a string, huge lists, an oversized config and duplicate keys" {
  push_config nul '.config.Env = ["A=x\u0000y"]'
  pull_refused nul 'Env\[0\] holds a NUL character$'
  push_config longcmd '.config.Cmd = [range(20000) | tostring]'
  pull_refused longcmd 'Cmd has 20000 entries, more than the 10000 tug reads$'
  push_config manylabels '.config.Labels = ([range(20000) | {key: "l\(.)", value: "x"}] | from_entries)'
  pull_refused manylabels 'Labels has 20000 entries, more than the 10000 tug reads$'
  # refused from the manifest's word, before the 9 MB are fetched
  push_config big '.config.Labels = {big: ("x" * 9000000)}'
  pull_refused big 'is [0-9]+ bytes, more than the 8388608 tug reads$'
  # two Cmd keys: parsers that keep the first and the last would run different commands
  jq -c . "$BATS_FILE_TMPDIR/config.json" |
    sed 's/"Cmd":\["sh"\]/"Cmd":["true"],"Cmd":["sh"]/' >"$BATS_TEST_TMPDIR/dup.json"
  grep -q '"Cmd":\["true"\],"Cmd"' "$BATS_TEST_TMPDIR/dup.json"
  push_raw_config dup "$BATS_TEST_TMPDIR/dup.json"
  pull_refused dup 'is not valid JSON: duplicate object key'
  store_is_empty
}

@test "import refuses changes that make a config tug would refuse; nothing is stored" {
  mkdir -p "$BATS_TEST_TMPDIR/rootfs"
  echo hi >"$BATS_TEST_TMPDIR/rootfs/hi"
  tar -C "$BATS_TEST_TMPDIR/rootfs" -cf "$BATS_TEST_TMPDIR/rootfs.tar" .
  local env
  env=$(seq -f 'v%g=1' 10001 | tr '\n' ' ')
  # (run, not run_tug: a failure would print the 10001 pairs)
  run timeout 120 "$TUG" import --change "ENV $env" "$BATS_TEST_TMPDIR/rootfs.tar" toomany
  [[ $status -eq 1 ]] || { echo "import: exit $status: ${output:0:300}" >&2; false; }
  assert_match '^Error: import .*rootfs.tar: --change: Env has 10001 entries, more than the 10000 tug reads$'
  store_is_empty
  # the same tarball with a sane change imports
  run_tug import --change 'ENV a=1' "$BATS_TEST_TMPDIR/rootfs.tar" fine
  run_tug image inspect -f '{{json .Config.Env}}' fine
  [[ $output == '["a=1"]' ]]
}

# set_json DB TABLE ID COLUMN PYTHON: rewrite a JSON column of one row with a python expression
# over `j`, as a tug from before the check would have stored it.
set_json() {
  python3 - "$@" <<'PY'
import json, sqlite3, sys
db, table, rowid, column, expr = sys.argv[1:]
con = sqlite3.connect(db)
raw, = con.execute(f"SELECT {column} FROM {table} WHERE id = ?", (rowid,)).fetchone()
j = json.loads(raw)
exec(expr)
out = json.dumps(j)
con.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?",
            (out.encode() if isinstance(raw, bytes) else out, rowid))
con.commit()
PY
}

@test "a hostile image and container already in the store: ps, inspect, images and rm work; run refuses" {
  run_tug pull -q $REGISTRY/busybox
  run_tug create --name old $REGISTRY/busybox sh -c 'echo hi'
  local img ctr
  img=$("$TUG" image inspect -f '{{.Id}}' $REGISTRY/busybox)
  ctr=$("$TUG" inspect -f '{{.Id}}' old)
  set_json "$TUG_ROOT/tug.db" images "$img" config \
    'j["config"]["Cmd"] = ["sh", 1]; j["config"]["Labels"] = {"a": "\x00"}; j["history"] = "x"'
  set_json "$TUG_ROOT/tug.db" containers "$ctr" config \
    'j["Config"]["Cmd"] = ["sh", 1]; j["Config"]["Entrypoint"] = [2]; j["Config"]["Labels"] = {"a": {}}'
  run_tug ps -a --format '{{.Names}} {{.Command}}'
  assert_match '^old '
  run_tug ps -a --filter label=a -q
  [[ -z $output ]]
  run_tug inspect old
  jq -e '.[0].Name == "/old" and .[0].Config.Cmd == null and .[0].Config.Labels == null' <<<"$output"
  run_tug images --filter label=a -q
  [[ -z $output ]]
  run_tug images -q
  [[ $output == "${img:7:12}" ]]
  run_tug image inspect -f '{{json .Config.Cmd}} {{json .Config.Labels}} {{json .Config.Env}}' \
    $REGISTRY/busybox
  [[ $output == 'null null ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]' ]]
  run_tug history -q $REGISTRY/busybox
  # running it is refused with what is wrong and the way out
  run_tug 125 run --rm $REGISTRY/busybox true
  assert_match "^Error: image config sha256:[0-9a-f]{12}: Cmd\[1\] is not a string \(stored before tug checked image configs\); remove the image with tug rmi $REGISTRY/busybox$"
  run_tug 125 create $REGISTRY/busybox true
  run_tug ps -aq
  [[ ${#lines[@]} -eq 1 ]]
  run_tug rm old
  run_tug rmi $REGISTRY/busybox
  store_is_empty
}

@test "Cmd and Entrypoint given as one string are read as docker reads them: a list of it" {
  # docker: StrSlice takes "x" as ["x"]; such images run
  fixture_rootfs "$BATS_TEST_TMPDIR/rootfs" >/dev/null
  tar -C "$BATS_TEST_TMPDIR/rootfs" -cf "$BATS_TEST_TMPDIR/rootfs.tar" .
  local diff
  diff=sha256:$(sha256sum <"$BATS_TEST_TMPDIR/rootfs.tar" | cut -d' ' -f1)
  jq -n --arg d "$diff" '{architecture: "amd64", os: "linux",
    config: {Entrypoint: "/bin/echo", Cmd: "from-a-string"},
    rootfs: {type: "layers", diff_ids: [$d]}}' >"$BATS_TEST_TMPDIR/str.json"
  python3 "$TUG_FIXTURES/push_raw.py" image --registry "$REGISTRY" --repo strslice --tag latest \
    --config "$BATS_TEST_TMPDIR/str.json" "$BATS_TEST_TMPDIR/rootfs.tar" >/dev/null
  run_tug pull -q "$REGISTRY/strslice"
  run_tug image inspect -f '{{json .Config.Entrypoint}} {{json .Config.Cmd}}' "$REGISTRY/strslice"
  [[ $output == '["/bin/echo"] ["from-a-string"]' ]]
  run_tug run --rm "$REGISTRY/strslice"
  [[ $output == from-a-string ]]
}
