#!/usr/bin/env bats
# import: a rootfs tarball (file or stdin) becomes a one-layer image.

load helpers

setup() {
  export TUG_ROOT=$BATS_TEST_TMPDIR/root
  fixture_rootfs "$BATS_TEST_TMPDIR/rootfs" >/dev/null
  tar -C "$BATS_TEST_TMPDIR/rootfs" -cf "$BATS_TEST_TMPDIR/rootfs.tar" .
}

@test "import a tarball with a tag and changes; prints the image ID" {
  run_tug import -c 'CMD ["sh"]' -c 'ENV A=1 B="two words"' -c 'EXPOSE 80' -c 'WORKDIR /tmp' \
    -c 'LABEL org.example=yes' "$BATS_TEST_TMPDIR/rootfs.tar" mybox:1
  [[ $output =~ ^sha256:[0-9a-f]{64}$ ]]
  local id=$output
  run_tug images --format '{{.Repository}}:{{.Tag}} {{.ID}}'
  [[ $output == "mybox:1 ${id:7:12}" ]]
  run_tug image inspect -f '{{json .Config.Cmd}} {{json .Config.Env}} {{.Config.WorkingDir}} {{json .Config.ExposedPorts}} {{index .Config.Labels "org.example"}}' mybox:1
  [[ $output == '["sh"] ["A=1","B=two words"] /tmp {"80/tcp":{}} yes' ]]
  run_tug history mybox:1
  assert_match "Imported from -"
  # the image ID is the digest of the stored config
  local cfg=$TUG_ROOT/blobs/sha256/${id:7}
  [[ $(sha256sum <"$cfg" | cut -d' ' -f1) == "${id:7}" ]]
}

@test "import from stdin, gzip-compressed, with a message" {
  gzip -c "$BATS_TEST_TMPDIR/rootfs.tar" >"$BATS_TEST_TMPDIR/rootfs.tgz"
  run bash -c "'$TUG' import -m 'first cut' - fromstdin < '$BATS_TEST_TMPDIR/rootfs.tgz'"
  [[ $status -eq 0 ]]
  run_tug history --format '{{.Comment}}' fromstdin
  [[ $output == "first cut" ]]
  run_tug image inspect -f '{{.Size}}' fromstdin
  [[ $output -gt 1000000 ]]
}

@test "importing the same tarball twice stores one layer" {
  run_tug import "$BATS_TEST_TMPDIR/rootfs.tar" a:1
  run_tug import "$BATS_TEST_TMPDIR/rootfs.tar" b:1
  [[ $(ls "$TUG_ROOT/layers" | grep -vc '^\.') -eq 1 ]]
}

@test "bad imports: missing file, empty input, garbage, bad change; nothing stored" {
  run_tug 1 import "$BATS_TEST_TMPDIR/nope.tar"
  assert_match "nope.tar: No such file or directory"
  run bash -c "'$TUG' import - </dev/null"
  [[ $status -eq 1 && $output =~ "tarball is empty" ]]
  head -c 5000 /dev/urandom >"$BATS_TEST_TMPDIR/garbage"
  run_tug 1 import "$BATS_TEST_TMPDIR/garbage"
  assert_match "^Error: import"
  run_tug 1 import -c 'RUN rm -rf /' "$BATS_TEST_TMPDIR/rootfs.tar"
  assert_match "RUN is not allowed"
  run_tug 1 import "$BATS_TEST_TMPDIR/rootfs.tar" 'Bad:Name'
  assert_match "invalid reference format"
  run_tug images -q
  [[ -z $output ]]
  [[ $(ls "$TUG_ROOT/layers" 2>/dev/null | wc -l) -eq 0 ]]
  assert_store_clean
}
