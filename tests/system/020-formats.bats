#!/usr/bin/env bats
# Image formats: docker schema2, OCI, zstd layers, multi-arch indexes, whiteouts.

load helpers

setup_file() { file_registry busybox oci zstd multiarch whiteout; }
teardown_file() { file_registry_stop; }
teardown() { unmount_views; }

layer_dirs() { ls "$TUG_ROOT/layers" | grep -v '^\.'; }

@test "an OCI image with gzip layers pulls to the same layer as its docker twin" {
  run_tug pull -q $REGISTRY/busybox
  run_tug pull $REGISTRY/oci
  assert_match ": Already exists$"
  [[ $(layer_dirs | wc -l) -eq 1 ]]
}

@test "an OCI image with a zstd layer unpacks" {
  run_tug pull -q $REGISTRY/zstd
  local mt
  mt=$(skopeo inspect --tls-verify=false --raw docker://$REGISTRY/zstd:latest | jq -r '.layers[0].mediaType')
  [[ $mt == application/vnd.oci.image.layer.v1.tar+zstd ]]
  local dir
  dir=$(layer_view "$(layer_dirs | head -1)")
  [[ -x $dir/bin/busybox ]]
  [[ -L $dir/bin/sh ]]
}

@test "a multi-arch index resolves to this machine's platform" {
  run_tug pull -q $REGISTRY/multiarch
  run_tug image inspect -f '{{.Architecture}}' $REGISTRY/multiarch
  [[ $output == amd64 ]]
  local top
  top=$(top_layer_view $REGISTRY/multiarch)
  [[ $(cat "$top/etc/arch") == amd64 ]]
}

@test "--platform picks another entry of the index; the digest is the index's" {
  run_tug pull --platform linux/arm64 $REGISTRY/multiarch
  local idx
  idx=$(fixture_manifest multiarch:latest application/vnd.oci.image.index.v1+json | sha256sum | cut -d' ' -f1)
  assert_match "^Digest: sha256:$idx$"
  run_tug image inspect -f '{{.Architecture}} {{.Variant}}' $REGISTRY/multiarch
  [[ $output == "arm64 v8" ]]
  run_tug image inspect -f '{{index .RepoDigests 0}}' $REGISTRY/multiarch
  [[ $output == "$REGISTRY/multiarch@sha256:$idx" ]]
}

@test "a platform the index lacks is an error listing what it offers; nothing is stored" {
  run_tug 1 pull --platform linux/s390x $REGISTRY/multiarch
  assert_match "no matching manifest for linux/s390x"
  assert_match "linux/amd64, linux/arm64/v8"
  run_tug images -q
  [[ -z $output ]]
  [[ $(layer_dirs | wc -l) -eq 0 ]]
  run_tug 1 pull --platform 'linux/' $REGISTRY/multiarch
  assert_match "invalid platform"
}

@test "pulling another platform under the same tag leaves the old image dangling; prune removes it" {
  run_tug pull -q $REGISTRY/multiarch
  run_tug pull -q --platform linux/arm64 $REGISTRY/multiarch
  run_tug images --filter dangling=true --format '{{.Repository}} {{.Tag}}'
  [[ $output == "$REGISTRY/multiarch <none>" ]]
  run_tug image prune -f
  assert_match "^deleted: sha256:"
  run_tug images --format '{{.Tag}}'
  [[ $output == latest ]]
}

@test "pull by digest records the digest and no tag" {
  local d
  d=$(fixture_manifest busybox:latest | sha256sum | cut -d' ' -f1)
  run_tug pull $REGISTRY/busybox@sha256:$d
  assert_match "^Status: Downloaded newer image for $REGISTRY/busybox@sha256:$d$"
  run_tug images --format '{{.Repository}} {{.Tag}} {{.Digest}}'
  [[ $output == "$REGISTRY/busybox <none> sha256:$d" ]]
  run_tug image inspect -f '{{.Id}}' $REGISTRY/busybox@sha256:$d
  [[ $output =~ ^sha256: ]]
}

@test "whiteouts become overlay whiteouts and opaque directories" {
  run_tug pull -q $REGISTRY/whiteout
  local top
  top=$(top_layer_view $REGISTRY/whiteout)
  # etc/.wh.motd -> a 0:0 character device named motd
  [[ -c $top/etc/motd ]]
  [[ $(stat -c '%t:%T' "$top/etc/motd") == 0:0 ]]
  [[ -c $top/opt/gone ]]
  [[ $(getfattr --only-values -n trusted.overlay.opaque "$top/opt/dir" 2>/dev/null) == y ]]
  [[ -f $top/opt/dir/c ]]
  [[ ! -e $top/etc/.wh.motd ]]
}

@test "the unpacked layer keeps modes, ownership, symlinks" {
  run_tug pull -q $REGISTRY/busybox
  local dir
  dir=$(layer_view "$(layer_dirs | head -1)")
  [[ $(stat -c '%a %u %g' "$dir/tmp") == "1777 0 0" ]]
  [[ $(readlink "$dir/bin/sh") == busybox ]]
  cmp "$dir/bin/busybox" /bin/busybox
}
