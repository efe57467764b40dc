#!/usr/bin/env bats
# save and load: docker-archive tars with the OCI layout beside them, OCI layout directories,
# and the archives docker and podman write, both ways.

load helpers

setup_file() { file_registry busybox hello; }
teardown_file() { file_registry_stop; }

# A second, empty store to load into.
other() { "$TUG" --root "$BATS_TEST_TMPDIR/other" "$@"; }

# tug_pull_both: busybox and hello (hello's first layer is busybox's blob).
pull_both() {
  run_tug pull -q $REGISTRY/busybox
  run_tug pull -q $REGISTRY/hello
}

image_id() { "$TUG" ${2:+--root "$2"} image inspect -f '{{.Id}}' "$1"; }

# hostile_archive OUT CASE: a docker-archive built by hand that attacks the loader.
hostile_archive() {
  python3 - "$1" "$2" <<'EOF'
import gzip, hashlib, io, json, sys, tarfile
out, case = sys.argv[1], sys.argv[2]
def layer_tar(files):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w") as t:
        for name, data in files:
            i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
    return b.getvalue()
layer = layer_tar([("ok.txt", b"ok\n")])
if case == "garbage":  # unpacked while it is read: the unpacker fails half way
    layer = gzip.compress(layer)[:40] + bytes(range(256)) * 64
diff = "sha256:" + hashlib.sha256(layer).hexdigest()
if case == "diffid":
    diff = "sha256:" + "0" * 64
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                  "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
layer_name = "l1/layer.tar"
if case == "outside":
    layer_name = "../../../etc/passwd"
manifest = json.dumps([{"Config": cfg_name, "RepoTags": ["evil:1"], "Layers": [layer_name]}]).encode()
entries = [("manifest.json", manifest), (cfg_name, cfg), ("l1/layer.tar", layer)]
if case == "traversal":
    entries.append(("../../tug-hostile-escape", b"pwned\n"))
if case == "blob":
    entries.append(("blobs/sha256/" + "1" * 64, b"not what the name says"))
if case == "huge":
    entries[0] = ("manifest.json", b" " * (9 << 20) + manifest)
with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as t:
    for name, data in entries:
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
    if case == "bigentry":  # a header that claims a petabyte, and no data
        i = tarfile.TarInfo("l2/layer.tar"); i.size = 1 << 50
        t.fileobj.write(i.tobuf(tarfile.GNU_FORMAT))
EOF
}

@test "save then load into a fresh store: same image ID, the tag back, and it runs" {
  run_tug pull -q $REGISTRY/busybox
  local id; id=$(image_id $REGISTRY/busybox)
  run_tug save -o "$BATS_TEST_TMPDIR/bb.tar" $REGISTRY/busybox
  [[ -z $output ]]
  run_tug --root "$BATS_TEST_TMPDIR/other" load -i "$BATS_TEST_TMPDIR/bb.tar"
  [[ $output == "Loaded image: $REGISTRY/busybox:latest" ]]
  [[ $(image_id $REGISTRY/busybox "$BATS_TEST_TMPDIR/other") == "$id" ]]
  run_tug --root "$BATS_TEST_TMPDIR/other" run --rm $REGISTRY/busybox echo loaded-and-running
  [[ $output == loaded-and-running ]]
  # loading again changes nothing and says the same
  run_tug --root "$BATS_TEST_TMPDIR/other" load -i "$BATS_TEST_TMPDIR/bb.tar"
  [[ $output == "Loaded image: $REGISTRY/busybox:latest" ]]
  run_tug --root "$BATS_TEST_TMPDIR/other" system check --dry-run
  assert_match "^No problems found"
}

@test "the archive is docker-archive and OCI layout at once, each blob one file" {
  run_tug pull -q $REGISTRY/busybox
  run_tug save -o "$BATS_TEST_TMPDIR/bb.tar" $REGISTRY/busybox
  mkdir "$BATS_TEST_TMPDIR/x"
  tar -C "$BATS_TEST_TMPDIR/x" -xf "$BATS_TEST_TMPDIR/bb.tar"
  cd "$BATS_TEST_TMPDIR/x"
  [[ $(jq -c '.[0].RepoTags' manifest.json) == "[\"$REGISTRY/busybox:latest\"]" ]]
  # manifest.json's config and layers are the OCI manifest's blobs
  local m; m=$(jq -r '.manifests[0].digest' index.json)
  [[ $(jq -r '.[0].Config' manifest.json) == "blobs/sha256/$(jq -r '.config.digest[7:]' blobs/sha256/${m:7})" ]]
  [[ $(jq -r '.[0].Layers[0]' manifest.json) == "blobs/sha256/$(jq -r '.layers[0].digest[7:]' blobs/sha256/${m:7})" ]]
  [[ $(jq -r '.manifests[0].annotations."io.containerd.image.name"' index.json) == "$REGISTRY/busybox:latest" ]]
  [[ $(jq -r .imageLayoutVersion oci-layout) == 1.0.0 ]]
  jq -e ".\"$REGISTRY/busybox\".latest" repositories >/dev/null
  # every blob is what its name says
  local f
  for f in blobs/sha256/*; do
    [[ $(sha256sum <"$f" | cut -d' ' -f1) == "${f##*/}" ]] || { echo "$f is not its digest"; false; }
  done
  # the layer is the compressed blob the store keeps, as pulled
  [[ $(jq -r '.[0].Layers[0]' manifest.json) == "blobs/sha256/$(fixture_layer_digest busybox | cut -c8-)" ]]
}

@test "several images sharing a base: the shared layer is written once" {
  pull_both
  run_tug save -o "$BATS_TEST_TMPDIR/both.tar" $REGISTRY/busybox $REGISTRY/hello
  local base; base=$(fixture_layer_digest busybox)
  [[ $base == "$(fixture_layer_digest hello 0)" ]]
  [[ $(tar -tf "$BATS_TEST_TMPDIR/both.tar" | grep -c "${base:7}") -eq 1 ]]
  [[ $(tar -xOf "$BATS_TEST_TMPDIR/both.tar" manifest.json | jq 'length') -eq 2 ]]
  run_tug --root "$BATS_TEST_TMPDIR/other" load -i "$BATS_TEST_TMPDIR/both.tar"
  assert_match "^Loaded image: $REGISTRY/busybox:latest$"
  assert_match "^Loaded image: $REGISTRY/hello:latest$"
  run_tug --root "$BATS_TEST_TMPDIR/other" run --rm $REGISTRY/hello
  assert_match "hello"
  # the shared layer is one layer of the store
  [[ $(ls "$BATS_TEST_TMPDIR/other/layers" | grep -vc '^\.') -eq 2 ]]
}

@test "a loaded tag that named another image moves, and load says so as docker does" {
  pull_both
  run_tug tag $REGISTRY/busybox moving:1
  run_tug save -o "$BATS_TEST_TMPDIR/a.tar" moving:1
  run_tug tag $REGISTRY/hello moving:1
  run_tug save -o "$BATS_TEST_TMPDIR/b.tar" moving:1
  run_tug --root "$BATS_TEST_TMPDIR/other" load -i "$BATS_TEST_TMPDIR/a.tar"
  run_tug --root "$BATS_TEST_TMPDIR/other" load -i "$BATS_TEST_TMPDIR/b.tar"
  [[ ${lines[0]} == "The image moving:1 already exists, renaming the old one with ID $(image_id $REGISTRY/busybox) to empty string" ]]
  [[ ${lines[1]} == "Loaded image: moving:1" ]]
  [[ $(image_id moving:1 "$BATS_TEST_TMPDIR/other") == "$(image_id $REGISTRY/hello)" ]]
}

@test "save to stdout, load from stdin, gzip'd too; -q prints nothing; an ID saves no tag" {
  pull_both
  run bash -c "'$TUG' save $REGISTRY/hello | '$TUG' --root '$BATS_TEST_TMPDIR/other' load"
  [[ $status -eq 0 && $output == "Loaded image: $REGISTRY/hello:latest" ]]
  run bash -c "'$TUG' save $REGISTRY/busybox | gzip | '$TUG' --root '$BATS_TEST_TMPDIR/o2' load -q"
  [[ $status -eq 0 && -z $output ]]
  [[ $(image_id $REGISTRY/busybox "$BATS_TEST_TMPDIR/o2") == "$(image_id $REGISTRY/busybox)" ]]
  local id; id=$(image_id $REGISTRY/hello)
  run bash -c "'$TUG' save ${id:7:12} | '$TUG' --root '$BATS_TEST_TMPDIR/o3' load"
  [[ $status -eq 0 && $output == "Loaded image ID: $id" ]]
}

@test "save refuses a terminal, as docker does" {
  run_tug pull -q $REGISTRY/busybox
  run script -qec "'$TUG' save $REGISTRY/busybox" /dev/null
  [[ $status -eq 1 ]]
  assert_match "Cowardly refusing to save to a terminal. Use the -o flag or redirect"
}

@test "--format oci-dir: a layout skopeo inspects and umoci unpacks" {
  pull_both
  run_tug save --format oci-dir -o "$BATS_TEST_TMPDIR/layout" $REGISTRY/hello
  run skopeo inspect "oci:$BATS_TEST_TMPDIR/layout:latest"
  [[ $status -eq 0 ]] || { echo "$output"; false; }
  [[ $(jq -r .Digest <<<"$output") == "$(jq -r '.manifests[0].digest' "$BATS_TEST_TMPDIR/layout/index.json")" ]]
  [[ $(jq '.Layers | length' <<<"$output") -eq 2 ]]
  run umoci unpack --image "$BATS_TEST_TMPDIR/layout:latest" "$BATS_TEST_TMPDIR/bundle"
  [[ $status -eq 0 ]] || { echo "$output"; false; }
  [[ -x $BATS_TEST_TMPDIR/bundle/rootfs/bin/busybox ]]
  grep -q hello "$BATS_TEST_TMPDIR/bundle/rootfs/hello.txt"
  # the tar's OCI half is a layout too
  mkdir "$BATS_TEST_TMPDIR/x"
  "$TUG" save $REGISTRY/busybox | tar -C "$BATS_TEST_TMPDIR/x" -xf -
  run skopeo inspect "oci:$BATS_TEST_TMPDIR/x:latest"
  [[ $status -eq 0 ]] || { echo "$output"; false; }
  # the directory is named once, complete
  run_tug 1 save --format oci-dir -o "$BATS_TEST_TMPDIR/layout" $REGISTRY/hello
  assert_match "layout exists"
}

@test "the OCI layout validates against the image-spec JSON schemas" {
  local schemas=/usr/share/gocode/src/github.com/opencontainers/image-spec/schema
  [[ -d $schemas ]] || skip "no $schemas (apt-get install golang-github-opencontainers-image-spec-dev)"
  python3 -c 'import jsonschema' 2>/dev/null || skip "python3-jsonschema is not installed"
  pull_both
  run_tug save --format oci-dir -o "$BATS_TEST_TMPDIR/layout" $REGISTRY/busybox $REGISTRY/hello
  run python3 - "$schemas" "$BATS_TEST_TMPDIR/layout" <<'EOF'
import json, os, sys, warnings
warnings.simplefilter("ignore")
import jsonschema
schemas, layout = sys.argv[1], sys.argv[2]
# the schemas name each other by URLs under opencontainers.org: each is read from its file
local = {"https": lambda uri: json.load(open(os.path.join(schemas, uri.rsplit("/", 1)[1])))}
def check(doc, name):
    s = json.load(open(os.path.join(schemas, name)))
    r = jsonschema.RefResolver(base_uri=s.get("id", ""), referrer=s, handlers=local)
    jsonschema.Draft4Validator(s, resolver=r).validate(doc)
blob = lambda d: json.load(open(os.path.join(layout, "blobs", "sha256", d[7:])))
check(json.load(open(os.path.join(layout, "oci-layout"))), "image-layout-schema.json")
index = json.load(open(os.path.join(layout, "index.json")))
check(index, "image-index-schema.json")
for m in index["manifests"]:
    man = blob(m["digest"])
    check(man, "image-manifest-schema.json")
    check(blob(man["config"]["digest"]), "config-schema.json")
print("valid", len(index["manifests"]))
EOF
  [[ $status -eq 0 && $output == "valid 2" ]] || { echo "$output"; false; }
}

@test "docker loads and runs what tug saves, and tug loads and runs what docker saves" {
  pgrep -x dockerd >/dev/null || skip "dockerd is not running"
  local tag=tug-520-$$-$RANDOM
  run_tug pull -q $REGISTRY/hello
  run_tug tag $REGISTRY/hello $tag:latest
  run_tug save -o "$BATS_TEST_TMPDIR/t.tar" $tag
  run docker load -i "$BATS_TEST_TMPDIR/t.tar"
  [[ $status -eq 0 && $output =~ "Loaded image: $tag:latest" ]] || { echo "$output"; false; }
  run docker run --rm --network none $tag:latest
  local ran=$status out=$output
  docker save -o "$BATS_TEST_TMPDIR/d.tar" $tag:latest
  docker rmi -f $tag:latest >/dev/null
  [[ $ran -eq 0 && $out =~ hello ]] || { echo "docker run: $out"; false; }
  run_tug --root "$BATS_TEST_TMPDIR/other" load -i "$BATS_TEST_TMPDIR/d.tar"
  [[ $output == "Loaded image: $tag:latest" ]]
  [[ $(image_id $tag "$BATS_TEST_TMPDIR/other") == "$(image_id $REGISTRY/hello)" ]]
  run_tug --root "$BATS_TEST_TMPDIR/other" run --rm $tag
  assert_match "hello"
}

@test "tug loads podman's docker-archive and oci-archive" {
  local p=(podman --root "$BATS_TEST_TMPDIR/podman/root" --runroot "$BATS_TEST_TMPDIR/podman/run"
           --storage-driver vfs)
  run_tug pull -q $REGISTRY/hello
  run_tug tag $REGISTRY/hello podtest:1
  run_tug save -o "$BATS_TEST_TMPDIR/t.tar" podtest:1
  run "${p[@]}" load -i "$BATS_TEST_TMPDIR/t.tar"
  [[ $status -eq 0 ]] || { echo "$output"; false; }
  # podman reads the OCI half and names the image by its annotation
  [[ $output =~ "Loaded image: docker.io/library/podtest:1" ]] || { echo "$output"; false; }
  run "${p[@]}" save -o "$BATS_TEST_TMPDIR/p.tar" podtest:1
  [[ $status -eq 0 ]] || { echo "$output"; false; }
  run "${p[@]}" save --format oci-archive -o "$BATS_TEST_TMPDIR/p-oci.tar" podtest:1
  [[ $status -eq 0 ]] || { echo "$output"; false; }
  "${p[@]}" rmi -af >/dev/null 2>&1 || true
  run_tug --root "$BATS_TEST_TMPDIR/other" load -i "$BATS_TEST_TMPDIR/p.tar"
  [[ $output == "Loaded image: podtest:1" ]]
  [[ $(image_id podtest:1 "$BATS_TEST_TMPDIR/other") == "$(image_id podtest:1)" ]]
  run_tug --root "$BATS_TEST_TMPDIR/other" run --rm podtest:1
  assert_match "hello"
  run_tug --root "$BATS_TEST_TMPDIR/o2" load -i "$BATS_TEST_TMPDIR/p-oci.tar"
  assert_match "^Loaded image"
  run_tug --root "$BATS_TEST_TMPDIR/o2" images -q --no-trunc
  [[ $output == "$(image_id podtest:1)" ]]
}

@test "bad archives: one-line errors, nothing stored" {
  cd "$BATS_TEST_TMPDIR"
  run_tug 1 load -i nope.tar
  [[ $output == "Error: load nope.tar: No such file or directory" ]]
  head -c 5000 /dev/urandom >garbage
  run_tug 1 load -i garbage
  assert_match "^Error: load garbage: not an image archive"
  fixture_rootfs rootfs >/dev/null
  tar -C rootfs -cf rootfs.tar .
  run_tug 1 load -i rootfs.tar
  assert_match "^Error: load rootfs.tar: not an image archive: .* tug import"
  run bash -c "'$TUG' load </dev/null"
  [[ $status -eq 1 && $output == "Error: load from stdin: the archive is empty" ]]
  run_tug images -q
  [[ -z $output ]]
  assert_store_clean
}

# refused CASE PATTERN: the hostile archive CASE is refused with a message matching PATTERN.
refused() {
  hostile_archive "$1.tar" "$1"
  run_tug 1 load -i "$1.tar"
  assert_match "$2"
}

@test "hostile archives are refused: escaping names, names outside, wrong digests, huge files" {
  cd "$BATS_TEST_TMPDIR"
  rm -f /tmp/tug-hostile-escape
  hostile_archive ok.tar ok
  run_tug load -i ok.tar
  [[ $output == "Loaded image: evil:1" ]]
  run_tug rmi evil:1
  refused traversal "leaves the archive; refused"
  [[ ! -e /tmp/tug-hostile-escape && ! -e $TUG_ROOT/tug-hostile-escape ]]
  refused outside "names \"../../../etc/passwd\", outside the archive"
  refused blob "blobs/sha256/1111.* holds content of digest sha256:.*not the one its name says"
  refused diffid "does not match the image configuration"
  refused huge "manifest.json is [0-9]+ bytes, more than the [0-9]+ tug reads"
  refused garbage "layer l1/layer.tar: layer is truncated or corrupt"
  refused bigentry "l2/layer.tar is 1125899906842624 bytes, more than the [0-9]+ free in"
  # a truncated archive
  head -c 3000 ok.tar >cut.tar
  run_tug 1 load -i cut.tar
  assert_match "^Error: load cut.tar: "
  run_tug images -q
  [[ -z $output ]]
  [[ -z $(ls "$TUG_ROOT/ingest") ]]
  assert_store_clean
}

@test "a layer whose blob is gone is made again from its files, when that makes the same layer" {
  run_tug pull -q $REGISTRY/busybox
  mkdir "$BATS_TEST_TMPDIR/ctx"
  printf 'FROM %s\nRUN echo made >/made.txt\n' "$REGISTRY/busybox" >"$BATS_TEST_TMPDIR/ctx/Dockerfile"
  run_tug build -q --network none -t built:1 "$BATS_TEST_TMPDIR/ctx"
  local id; id=$(image_id built:1)
  blob_of() { sqlite3 "$TUG_ROOT/tug.db" "SELECT blob_digest FROM image_layers WHERE image_id = '$id' AND idx = $1"; }
  local top; top=$(blob_of 1)
  rm "$TUG_ROOT/blobs/sha256/${top:7}"
  # tug's own layer: its files tar again to the same diff ID
  run_tug save -o "$BATS_TEST_TMPDIR/b.tar" built:1
  run_tug --root "$BATS_TEST_TMPDIR/other" load -i "$BATS_TEST_TMPDIR/b.tar"
  [[ $(image_id built:1 "$BATS_TEST_TMPDIR/other") == "$id" ]]
  run_tug --root "$BATS_TEST_TMPDIR/other" run --rm built:1 cat /made.txt
  [[ $output == made ]]
  # the fixture's layer was not tarred as docker tars: that one cannot be made again
  local base; base=$(blob_of 0)
  rm "$TUG_ROOT/blobs/sha256/${base:7}"
  run_tug 1 save -o "$BATS_TEST_TMPDIR/c.tar" built:1
  assert_match "its blob is gone from the store and its files do not make the same layer again; pull the image again"
  [[ ! -e $BATS_TEST_TMPDIR/c.tar ]]
}

@test "save errors: no such image, bad format, oci-dir without -o; no half file left" {
  run_tug pull -q $REGISTRY/busybox
  cd "$BATS_TEST_TMPDIR"
  run_tug 1 save -o out.tar $REGISTRY/busybox nosuch:1
  [[ $output == "Error: No such image: nosuch:1" ]]
  [[ -z $(ls -A "$BATS_TEST_TMPDIR" | grep -v '^root$') ]]
  run_tug 1 save -o "$BATS_TEST_TMPDIR/no/such/dir/out.tar" $REGISTRY/busybox
  [[ $output == "Error: invalid output path $BATS_TEST_TMPDIR/no/such/dir/out.tar: No such file or directory" ]]
  run_tug 125 save --format zip -o out.tar $REGISTRY/busybox
  assert_match "invalid --format \"zip\""
  run_tug 125 save --format oci-dir $REGISTRY/busybox
  assert_match "name it with -o DIR"
  run_tug 1 save
  assert_match "\"save\" requires at least 1 argument"
}

@test "import of a save archive says to use load" {
  run_tug pull -q $REGISTRY/busybox
  run_tug save -o "$BATS_TEST_TMPDIR/bb.tar" $REGISTRY/busybox
  run_tug 1 import "$BATS_TEST_TMPDIR/bb.tar" imported:1
  [[ $output == "Error: import $BATS_TEST_TMPDIR/bb.tar: this is an image archive; use tug load" ]]
  run_tug 1 import - <"$BATS_TEST_TMPDIR/bb.tar"
  assert_match "this is an image archive; use tug load"
  run_tug images --format '{{.Repository}}'
  [[ $output == "$REGISTRY/busybox" ]]
}
