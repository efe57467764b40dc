#!/usr/bin/env bats
# pull, images, history, inspect, tag, rmi: the tutorial's image commands.

load helpers

setup_file() { file_registry busybox hello; }
teardown_file() { file_registry_stop; }

@test "pull prints docker's progress lines and the full reference" {
  run_tug pull $REGISTRY/busybox
  assert_match "^Using default tag: latest$"
  assert_match "^latest: Pulling from busybox$"
  assert_match "^[0-9a-f]{12}: Pull complete$"
  assert_match "^Digest: sha256:[0-9a-f]{64}$"
  assert_match "^Status: Downloaded newer image for $REGISTRY/busybox:latest$"
  [[ ${lines[-1]} == "$REGISTRY/busybox:latest" ]]
}

@test "pull -q prints only the reference; a second pull is up to date and fetches nothing" {
  run_tug pull -q $REGISTRY/busybox
  [[ $output == "$REGISTRY/busybox:latest" ]]
  run_tug pull $REGISTRY/busybox
  assert_match "^[0-9a-f]{12}: Already exists$"
  assert_match "^Status: Image is up to date for $REGISTRY/busybox:latest$"
  refute_match "Pull complete"
}

@test "images shows docker's columns and the config digest as IMAGE ID" {
  run_tug pull -q $REGISTRY/busybox
  run_tug images
  [[ ${lines[0]} =~ ^REPOSITORY\ +TAG\ +IMAGE\ ID\ +CREATED\ +SIZE$ ]]
  local id
  id=$(skopeo inspect --tls-verify=false --raw docker://$REGISTRY/busybox:latest | jq -r .config.digest)
  [[ ${lines[1]} =~ ^$REGISTRY/busybox\ +latest\ +${id:7:12}\ +.+\ ago\ +[0-9.]+[kM]B$ ]]
  run_tug images -q
  [[ $output == "${id:7:12}" ]]
  run_tug images --no-trunc -q
  [[ $output == "$id" ]]
}

@test "images --format takes docker's template fields, table and json" {
  run_tug pull -q $REGISTRY/busybox
  run_tug images --format '{{.Repository}}:{{.Tag}}'
  [[ $output == "$REGISTRY/busybox:latest" ]]
  run_tug images --format 'table {{.Repository}}\t{{.Size}}'
  [[ ${lines[0]} =~ ^REPOSITORY\ +SIZE$ ]]
  run_tug images --format json
  [[ $(jq -r .Repository <<<"$output") == "$REGISTRY/busybox" ]]
  [[ $(jq -r .Tag <<<"$output") == latest ]]
  run_tug 1 images --format '{{.Nope'
  assert_match "^template parsing error: template: :1: unclosed action$"
}

@test "images --digests and --filter dangling/reference" {
  run_tug pull -q $REGISTRY/busybox
  run_tug pull -q $REGISTRY/hello
  run_tug images --digests
  [[ ${lines[0]} =~ DIGEST ]]
  assert_match "busybox +latest +sha256:[0-9a-f]{64}"
  run_tug images --filter reference='*/hel*' --format '{{.Repository}}'
  [[ $output == "$REGISTRY/hello" ]]
  run_tug images --filter dangling=true -q
  [[ -z $output ]]
  run_tug images $REGISTRY/hello --format '{{.Tag}}'
  [[ $output == latest ]]
  run_tug 1 images --filter bogus=1
  assert_match "invalid filter 'bogus'"
}

@test "images sharing a base layer store it once" {
  run_tug pull -q $REGISTRY/busybox
  run_tug pull $REGISTRY/hello
  assert_match ": Already exists$"
  # two images, three layer directories would mean the base was stored twice
  [[ $(ls "$TUG_ROOT/layers" | grep -vc '^\.') -eq 2 ]]
}

@test "history lists steps newest first, metadata steps as 0B" {
  run_tug pull -q $REGISTRY/hello
  run_tug history $REGISTRY/hello
  [[ ${lines[0]} =~ ^IMAGE\ +CREATED\ +CREATED\ BY\ +SIZE\ +COMMENT$ ]]
  [[ ${lines[1]} =~ ^[0-9a-f]{12}\  ]]
  [[ ${lines[1]} =~ \ 0B\  || ${lines[1]} =~ \ 0B$ ]]
  [[ ${lines[2]} =~ ^\<missing\> ]]
  [[ ${#lines[@]} -eq 5 ]]
  run_tug history -q $REGISTRY/hello
  [[ ${#lines[@]} -eq 4 ]]
  run_tug history --no-trunc --format '{{.CreatedBy}}' $REGISTRY/hello
  assert_match 'CMD \["cat" "/hello.txt"\]'
}

@test "image inspect prints docker's JSON; -f takes a template" {
  run_tug pull -q $REGISTRY/busybox
  run_tug image inspect $REGISTRY/busybox
  local id
  id=$(skopeo inspect --tls-verify=false --raw docker://$REGISTRY/busybox:latest | jq -r .config.digest)
  [[ $(jq -r '.[0].Id' <<<"$output") == "$id" ]]
  [[ $(jq -r '.[0].RepoTags[0]' <<<"$output") == "$REGISTRY/busybox:latest" ]]
  [[ $(jq -r '.[0].RepoDigests[0]' <<<"$output") =~ ^$REGISTRY/busybox@sha256: ]]
  [[ $(jq -r '.[0].Architecture' <<<"$output") == amd64 ]]
  [[ $(jq -r '.[0].Os' <<<"$output") == linux ]]
  [[ $(jq -r '.[0].Config.Cmd[0]' <<<"$output") == sh ]]
  [[ $(jq -r '.[0].RootFS.Layers | length' <<<"$output") == 1 ]]
  [[ $(jq -r '.[0].Size' <<<"$output") -gt 1000000 ]]
  run_tug image inspect -f '{{.Os}}/{{.Architecture}} {{json .Config.Cmd}}' $REGISTRY/busybox
  [[ $output == 'linux/amd64 ["sh"]' ]]
  run_tug inspect --format '{{index .RepoTags 0}}' $REGISTRY/busybox
  [[ $output == "$REGISTRY/busybox:latest" ]]
}

@test "image inspect of a missing image prints [] and names it" {
  run_tug 1 image inspect nosuchimage
  assert_match '^\[\]$'
  assert_match '^Error: No such image: nosuchimage'
}

@test "tag adds a name; rmi of one tag only untags" {
  run_tug pull -q $REGISTRY/busybox
  run_tug tag $REGISTRY/busybox mybox:1
  run_tug images --format '{{.Repository}}:{{.Tag}}'
  assert_match '^mybox:1$'
  run_tug rmi mybox:1
  [[ $output == "Untagged: mybox:1" ]]
  run_tug images -q
  [[ ${#lines[@]} -eq 1 ]]
  run_tug 1 tag nosuch:1 other:1
  assert_match "No such image: nosuch:1"
  run_tug 1 tag $REGISTRY/busybox 'Bad:Tag'
  assert_match "invalid reference format"
}

@test "rmi removes the image and only the layers no other image uses" {
  run_tug pull -q $REGISTRY/busybox
  run_tug pull -q $REGISTRY/hello
  run_tug rmi $REGISTRY/hello
  assert_match "^Untagged: $REGISTRY/hello:latest$"
  assert_match "^Untagged: $REGISTRY/hello@sha256:[0-9a-f]{64}$"
  assert_match "^Deleted: sha256:[0-9a-f]{64}$"
  [[ $(grep -c '^Deleted:' <<<"$output") -eq 2 ]]
  run_tug images --format '{{.Repository}}'
  [[ $output == "$REGISTRY/busybox" ]]
  run_tug rmi $REGISTRY/busybox
  [[ $(ls "$TUG_ROOT/layers" | wc -l) -eq 0 ]]
  [[ $(ls "$TUG_ROOT/blobs/sha256" | wc -l) -eq 0 ]]
  assert_store_clean
}

@test "rmi of an unknown image is an error naming it; other arguments still go" {
  run_tug pull -q $REGISTRY/busybox
  run_tug 1 rmi nosuch $REGISTRY/busybox
  assert_match "^Error: No such image: nosuch"
  assert_match "^Deleted: "
}

@test "rmi by ID refuses an image tagged in several repositories unless -f" {
  run_tug pull -q $REGISTRY/busybox
  run_tug tag $REGISTRY/busybox other/name:2
  local id
  id=$("$TUG" images -q | head -1)
  run_tug 1 rmi $id
  assert_match "conflict: unable to delete $id \(must be forced\) - image is referenced in multiple repositories"
  run_tug rmi -f $id
  assert_match "^Deleted: sha256:"
}

@test "image ls, image rm, image pull are the same commands" {
  run_tug image pull -q $REGISTRY/busybox
  run_tug image ls --format '{{.Tag}}'
  [[ $output == latest ]]
  run_tug image rm $REGISTRY/busybox
  assert_match "^Deleted: "
}

@test "image prune removes dangling images, -a all unused" {
  run_tug pull -q $REGISTRY/busybox
  run_tug pull -q $REGISTRY/hello
  # untagged by pulling the same tag name to another image
  run_tug tag $REGISTRY/busybox keep:1
  run_tug image prune -f
  assert_match "^Total reclaimed space: 0B$"
  run_tug image prune -a -f
  assert_match "^Deleted Images:$"
  assert_match "^untagged: keep:1$"
  assert_match "^Total reclaimed space: [0-9.]+[kM]B$"
  run_tug images -q
  [[ -z $output ]]
}

@test "system df counts images and reclaimable space" {
  run_tug pull -q $REGISTRY/busybox
  run_tug system df
  [[ ${lines[0]} =~ ^TYPE\ +TOTAL\ +ACTIVE\ +SIZE\ +RECLAIMABLE$ ]]
  [[ ${lines[1]} =~ ^Images\ +1\ +0\ +[0-9.]+MB\ +[0-9.]+MB\ \(100%\)$ ]]
}

@test "two roots never interfere" {
  run_tug --root "$BATS_TEST_TMPDIR/a" pull -q $REGISTRY/busybox
  run_tug --root "$BATS_TEST_TMPDIR/b" images -q
  [[ -z $output ]]
  TUG_ROOT=$BATS_TEST_TMPDIR/a run_tug images -q
  [[ -n $output ]]
}
