#!/usr/bin/env bats
# Layers made from a directory in overlayfs's format (tug_layer_tar, run through the layer-tar
# helper the build puts beside tug) held against the layers docker 20.10's legacy builder makes
# of the same files: the same diff ID, which is the same tar byte for byte.

load helpers

LAYER_TAR=$(dirname "$TUG")/layer-tar

# A dockerd of this file's own when none answers: no bridge and no iptables rules, so that it
# changes nothing on the host; stopped by teardown_file (the running one never is).
private_dockerd() {
  local dir i
  dir=$(mktemp -d /tmp/tug-dockerd.XXXXXX) # short: containerd's socket lives under it
  echo '{}' >"$dir/daemon.json"
  dockerd --config-file "$dir/daemon.json" --data-root "$dir/data" --exec-root "$dir/exec" \
    -H "unix://$dir/docker.sock" -p "$dir/docker.pid" --bridge=none --iptables=false \
    </dev/null >"$dir/dockerd.log" 2>&1 3>&- &
  export PRIVATE_DOCKERD=$dir PRIVATE_DOCKERD_PID=$! DOCKER_HOST=unix://$dir/docker.sock
  for ((i = 0; i < 300; i++)); do
    timeout 5 docker info >/dev/null 2>&1 && return 0
    kill -0 "$PRIVATE_DOCKERD_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "dockerd did not start: $(tail -n 5 "$dir/dockerd.log")" >&2
  return 1
}

setup_file() {
  command -v dockerd >/dev/null || skip "dockerd is not installed"
  [[ -x $LAYER_TAR ]] || { echo "$LAYER_TAR is missing: build tug first" >&2; return 1; }
  if ! timeout 20 docker info >/dev/null 2>&1; then
    private_dockerd || return 1
  fi
  export PREFIX=tug-layer-diff-$$
  # the base: busybox and a static setxattr (busybox has none), imported
  local rootfs=$BATS_FILE_TMPDIR/rootfs
  fixture_rootfs "$rootfs" >/dev/null || return 1
  cc -static -O1 -o "$rootfs/bin/setxattr" "$BATS_TEST_DIRNAME/../helpers/setxattr.c" || return 1
  tar -C "$rootfs" -c . | docker import - "$PREFIX:base" >/dev/null || return 1
}

teardown_file() {
  if [[ -n ${PREFIX:-} ]]; then
    docker images --format '{{.Repository}}:{{.Tag}}' "$PREFIX" | xargs -r docker rmi -f >/dev/null 2>&1
  fi
  if [[ -n ${PRIVATE_DOCKERD_PID:-} ]]; then
    kill "$PRIVATE_DOCKERD_PID" 2>/dev/null
    local t p
    for ((t = 0; t < 200; t++)); do kill -0 "$PRIVATE_DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$PRIVATE_DOCKERD_PID" 2>/dev/null
    for p in $(awk -v r="$PRIVATE_DOCKERD/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
      umount -l "$p"
    done
    rm -rf "$PRIVATE_DOCKERD"
  fi
}

# The containers a docker build left (--rm=false) go with the test.
teardown() {
  [[ -s $BATS_TEST_TMPDIR/containers ]] && xargs -r docker rm -f <"$BATS_TEST_TMPDIR/containers" >/dev/null 2>&1
  return 0
}

# docker_build TAG CONTEXT: the legacy builder, every step run again, its containers kept.
docker_build() {
  docker ps -aq --no-trunc | sort >"$BATS_TEST_TMPDIR/before"
  run timeout 600 env DOCKER_BUILDKIT=0 docker build --no-cache --rm=false --network none -t "$1" "$2"
  docker ps -aq --no-trunc | sort | comm -13 "$BATS_TEST_TMPDIR/before" - >"$BATS_TEST_TMPDIR/containers"
  [[ $status -eq 0 ]] || { echo "docker build: $output" >&2; return 1; }
}

# diff_ids IMAGE: its layers' diff IDs after the base's, one a line.
diff_ids() {
  docker image inspect -f '{{json .RootFS.Layers}}' "$1" | jq -r '.[1:][]'
}

# tug_diff_id DIR: the diff ID of tug's tar of DIR.
tug_diff_id() {
  local tar=$BATS_TEST_TMPDIR/layer.tar
  "$LAYER_TAR" "$1" >"$tar" || return 1
  echo "sha256:$(sha256sum <"$tar" | cut -d' ' -f1)"
}

@test "RUN steps: tug's tar of each build container's upper dir is the layer docker made of it" {
  local ctx=$BATS_TEST_TMPDIR/ctx d60 n100 m101 deep
  mkdir -p "$ctx"
  d60=$(printf 'd%.0s' {1..60})
  n100=$(printf 'n%.0s' {1..100})
  m101=$(printf 'm%.0s' {1..101})
  deep=$d60/$d60/$d60/$d60/$d60
  # names past 100 and 255 bytes (split, PAX), a long target, links, a name not ASCII, ids
  # octal cannot hold and one this host names, devices, a fifo, mode bits, times before 1970
  # and after 2242, a capability; then whiteouts (overlayfs links them to one inode) and an
  # opaque directory; and a step that changes nothing
  cat >"$ctx/Dockerfile" <<EOF
FROM $PREFIX:base
RUN mkdir -p /t/$deep && cd /t && echo a >$n100 && echo b >$m101 && echo d >$deep/deep && \
    ln -s $deep/deep longlink && ln $deep/deep hard1 && ln $deep/deep zhard2 && echo e >'é-ü' && \
    mkdir -p sorted/a sorted/B && touch sorted/a.b sorted/a-b sorted/a/x sorted/_ sorted/Z && \
    echo u >big && chown 3000000:3000001 big && echo v >edge && chown 2097151:2097152 edge && \
    echo w >dmn && chown 1:1 dmn && mknod cdev c 1 3 && mknod bdev b 8 1 && \
    mknod bigdev c 4095 1048575 && mkfifo fifo && echo s >suid && chmod 4755 suid && \
    mkdir sgid sticky && chmod 2755 sgid && chmod 1777 sticky && echo t >old && \
    touch -d @-100 old && echo t >future && touch -d @9000000000 future && echo c >cap && \
    setxattr cap security.capability 0100000200200000000000000000000000000000 && \
    mkdir $d60/$n100 && touch -d @1000000000 $d60/$n100 && ln -s $m101 sym101
RUN true
RUN rm -rf /bin/ls /etc/motd /var/tmp && echo x >/etc/newfile && mkdir /etc/newdir && \
    rm -rf /usr/bin && mkdir /usr/bin && touch /usr/bin/only
EOF
  docker_build "$PREFIX:run" "$ctx"
  # the upper dir of every container the build kept, as tug writes it
  local c upper ids=$BATS_TEST_TMPDIR/tug-ids
  while read -r c; do
    upper=$(docker inspect -f '{{.GraphDriver.Data.UpperDir}}' "$c")
    tug_diff_id "$upper" >>"$ids"
  done <"$BATS_TEST_TMPDIR/containers"
  run diff_ids "$PREFIX:run"
  [[ ${#lines[@]} -eq 2 ]] || { echo "docker made ${#lines[@]} layers: $output" >&2; false; }
  local id
  for id in "${lines[@]}"; do
    grep -qxF "$id" "$ids" || { echo "docker's layer $id is not among tug's: $(cat "$ids")" >&2; false; }
  done
  # RUN true: an empty diff, for which docker records no layer (history: 0B)
  grep -qxF "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef" "$ids"
  run docker history --format '{{.CreatedBy}}|{{.Size}}' "$PREFIX:run"
  assert_match '^/bin/sh -c true\|0B$'
}

@test "COPY steps: the files written as an overlay dir give docker's diff IDs" {
  local ctx=$BATS_TEST_TMPDIR/ctx up=$BATS_TEST_TMPDIR/up
  mkdir -p "$ctx/d/sub" "$up"
  echo one >"$ctx/f1"
  echo two >"$ctx/f2"
  echo three >"$ctx/f3"
  echo four >"$ctx/f4"
  echo x >"$ctx/d/sub/x"
  echo y >"$ctx/d/y"
  ln -s y "$ctx/d/ly"
  ln "$ctx/d/y" "$ctx/d/hy"
  chmod 0640 "$ctx/f2"
  chmod 4755 "$ctx/f4"
  find "$ctx" -exec touch -h -d @946684800 {} +
  touch -d @1000000000.5 "$ctx/f1"
  cat >"$ctx/Dockerfile" <<EOF
FROM $PREFIX:base
COPY f1 /f1
COPY d/ /
COPY f4 /f4
COPY f2 /etc/f2
COPY d /newdir/
COPY f3 /a/b/c/f3
EOF
  local start end
  start=$(date +%s)
  docker_build "$PREFIX:copy" "$ctx"
  end=$(date +%s)
  run diff_ids "$PREFIX:copy"
  local -a docker_ids=("${lines[@]}")
  [[ ${#docker_ids[@]} -eq 6 ]] || { echo "docker made ${#docker_ids[@]} layers: $output" >&2; false; }

  # into /: nothing but the files, with the context's times and modes, owned by root
  mkdir -m 0755 "$up/1" "$up/2" "$up/3"
  cp -p "$ctx/f1" "$up/1/f1"
  cp -a "$ctx/d/." "$up/2/"
  cp -p "$ctx/f4" "$up/3/f4"
  chmod u-s "$up/3/f4" # docker's COPY chowns what it copied, and chown drops setuid
  local i
  for i in 1 2 3; do
    chown -R -h 0:0 "$up/$i"
    run tug_diff_id "$up/$i"
    [[ $output == "${docker_ids[i - 1]}" ]] || { echo "COPY step $i: tug $output, docker ${docker_ids[i - 1]}" >&2; false; }
  done

  # deeper: each directory above the destination is in the layer too (an existing one copied
  # up, a new one 0755), all root's, with the time of the copy: that time is taken from
  # docker's layer, the rest is tug's own
  docker save "$PREFIX:copy" | tar -C "$BATS_TEST_TMPDIR" -x manifest.json
  local -a tars
  mapfile -t tars < <(jq -r '.[0].Layers[4:][]' "$BATS_TEST_TMPDIR/manifest.json")
  docker save "$PREFIX:copy" | tar -C "$BATS_TEST_TMPDIR" -x "${tars[@]}"
  mkdir -m 0755 -p "$up/4/etc" "$up/5/newdir" "$up/6/a/b/c"
  cp -p "$ctx/f2" "$up/4/etc/f2"
  cp -a "$ctx/d/." "$up/5/newdir/"
  cp -p "$ctx/f3" "$up/6/a/b/c/f3"
  local name mtime
  for i in 4 5 6; do
    chown -R -h 0:0 "$up/$i"
    while read -r name mtime; do
      ((mtime >= start && mtime <= end)) || { echo "$name: mtime $mtime, not of the build ($start-$end)" >&2; false; }
      touch -d "@$mtime" "$up/$i/$name"
    done < <(python3 -c 'import sys, tarfile
for m in tarfile.open(sys.argv[1]):
    if m.isdir() and m.name.rstrip("/") in sys.argv[2:]: print(m.name, m.mtime)' \
      "$BATS_TEST_TMPDIR/${tars[i - 4]}" etc newdir a a/b a/b/c)
    run tug_diff_id "$up/$i"
    [[ $output == "${docker_ids[i - 1]}" ]] || { echo "COPY step $i: tug $output, docker ${docker_ids[i - 1]}" >&2; false; }
  done
}

@test "an empty directory is docker's empty layer" {
  mkdir "$BATS_TEST_TMPDIR/empty"
  run tug_diff_id "$BATS_TEST_TMPDIR/empty"
  [[ $output == sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef ]]
  [[ $(stat -c %s "$BATS_TEST_TMPDIR/layer.tar") -eq 1024 ]]
}
