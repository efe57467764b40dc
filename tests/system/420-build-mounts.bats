#!/usr/bin/env bats
# tug build: BuildKit's RUN mounts. A cache that outlives builds, binds from the context or a
# stage, a tmpfs, secrets that reach the step and nothing else; none of them in the image.

load containers
load build

setup_file() { containers_setup_file; }

# absent IMAGE PATH: the image has nothing at PATH.
absent() {
  run_tug run --rm "$1" sh -c "test -e '$2' || test -L '$2' || echo absent"
  [[ $output == absent ]] || { echo "$2 is in image $1: $output"; false; }
}

@test "a cache mount keeps its files between builds and none of them goes into the image" {
  ctx
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
ARG N=1
RUN --mount=type=cache,target=/root/.cache/app echo "run-$N" >>/root/.cache/app/log; cat /root/.cache/app/log
EOF
  build -t cached "$CTX"
  assert_match 'run-1'
  # another build, nothing from the build cache: the mount still has the first one's file
  build --no-cache --build-arg N=2 -t cached "$CTX"
  assert_match 'run-1'
  assert_match 'run-2'
  absent cached /root/.cache
  # the step changed nothing of the image: no layer
  run_tug history --format '{{.Size}}|{{.CreatedBy}}' cached
  assert_match '^0B\|RUN \|1 N=2 /bin/sh -c echo'
}

@test "cache mounts: id shared between targets, mode and owner of a new one, read-only, sharing" {
  ctx
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
RUN --mount=type=cache,id=shared,target=/a,sharing=locked echo from-a >/a/f
RUN --mount=type=cache,id=shared,target=/b,sharing=private cat /b/f
RUN --mount=type=cache,id=fresh,target=/c,uid=123,gid=45,mode=0750 stat -c 'owner %u:%g mode %a' /c
RUN --mount=type=cache,id=shared,target=/d,ro sh -c 'touch /d/x 2>/dev/null || echo read-only'
EOF
  build -t ids "$CTX"
  assert_match 'from-a'
  assert_match 'owner 123:45 mode 750'
  assert_match 'read-only'
  absent ids /a
  absent ids /c
}

@test "builder prune removes the cache mounts, and system df counts them" {
  ctx
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
RUN --mount=type=cache,target=/m sh -c 'echo "in the cache: $(ls /m)"; dd if=/dev/zero of=/m/big bs=1k count=300 2>/dev/null'
EOF
  build -t pr "$CTX"
  assert_match 'in the cache: $'
  run_tug system df --format '{{.Type}} {{.TotalCount}} {{.Size}}'
  assert_match '^Build Cache [1-9][0-9]* [0-9.]+[kM]B$'
  run_tug builder prune -f
  assert_match 'Total reclaimed space: [0-9.]+[kM]B'
  run ls -A "$TUG_ROOT/build-cache-mounts"
  [[ -z $output ]] || { echo "left after prune: $output"; false; }
  # the next build starts with an empty cache mount
  build -t pr "$CTX"
  assert_match 'in the cache: $'
}

@test "a bind mount from the context: read-only, in the step's cache key, not in the image" {
  ctx
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
RUN --mount=type=bind,target=/ctx sh -c 'cat /ctx/a.txt; touch /ctx/new 2>/dev/null || echo read-only'
RUN --mount=type=bind,source=sub,target=/s,rw sh -c 'echo changed >/s/f.txt; cat /s/f.txt'
RUN --mount=type=bind,source=a.txt,target=/one.txt cat /one.txt
RUN --mount=type=bind,source=sub/f.txt,target=/f.txt,rw sh -c 'echo rw-file >>/f.txt; cat /f.txt'
RUN --mount=type=bind,source=up,target=/up ls /up
EOF
  echo content-of-a >"$CTX/a.txt"
  mkdir "$CTX/sub" && echo orig >"$CTX/sub/f.txt"
  # a symlink out of the context is resolved inside it
  ln -s ../../../../.. "$CTX/up"
  build -t bound "$CTX"
  assert_match '^#[0-9]+ [0-9.]+ content-of-a$'
  assert_match 'read-only'
  assert_match 'changed'
  assert_match '^#[0-9]+ [0-9.]+ rw-file$'
  [[ $(cat "$CTX/sub/f.txt") == orig ]] || { echo "a rw bind wrote to the context"; false; }
  [[ ! -e $CTX/new ]]
  # /up is the context's root, not the host's
  assert_match '^#[0-9]+ [0-9.]+ Dockerfile$'
  refute_match ' (etc|proc|usr)$'
  absent bound /ctx
  absent bound /s
  absent bound /one.txt
  absent bound /f.txt
  # nothing of the step's staging is left mounted or on disk
  run mounted_under "$TUG_ROOT"
  [[ -z $output ]] || { echo "left mounted: $output"; false; }
  run ls -A "$TUG_ROOT/tmp"
  [[ -z $output ]] || { echo "left in tmp: $output"; false; }
  # the mounted content is part of the step's key: a change reruns it
  build -t bound "$CTX"
  refute_match 'content-of-a'
  echo edited >"$CTX/a.txt"
  build -t bound "$CTX"
  assert_match '^#[0-9]+ [0-9.]+ edited$'
}

@test "a bind mount of the context leaves out what .dockerignore leaves out" {
  ctx
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
RUN --mount=type=bind,target=/ctx ls /ctx
RUN --mount=type=bind,source=sub,target=/s,rw sh -c 'ls /s; echo new >/s/made'
EOF
  echo seen >"$CTX/a.txt"
  echo hidden >"$CTX/ignored.txt"
  mkdir "$CTX/sub" && echo x >"$CTX/sub/kept" && echo y >"$CTX/sub/skip.log"
  printf 'ignored.txt\n**/*.log\n' >"$CTX/.dockerignore"
  build -t ignored "$CTX"
  assert_match '^#[0-9]+ [0-9.]+ a.txt$'
  refute_match 'ignored.txt$'
  assert_match '^#[0-9]+ [0-9.]+ kept$'
  refute_match 'skip.log$'
  [[ ! -e $CTX/sub/made ]]
}

@test "kill -9 of a build in a RUN with bind mounts leaves no mount" {
  ctx
  printf 'FROM busybox AS a\nRUN echo x >/x\nFROM busybox\nRUN --mount=type=bind,target=/c --mount=from=a,target=/a,rw sh -c "echo sta""rted; sleep 600"\n' >"$CTX/Dockerfile"
  timeout 120 "$TUG" build --progress plain "$CTX" >"$BATS_TEST_TMPDIR/build.log" 2>&1 &
  local runner=$!
  wait_until 30 grep -q started "$BATS_TEST_TMPDIR/build.log"
  kill -9 "$(pgrep -P "$runner" -x tug)"
  wait "$runner" || true
  wait_until 10 bash -c "! pgrep -f '^sleep 600$' >/dev/null"
  run mounted_under "$TUG_ROOT"
  [[ -z $output ]] || { echo "left mounted: $output"; false; }
  run_tug system check
  assert_store_clean
}

@test "a bind mount from a stage and from an image" {
  ctx
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox AS build
RUN mkdir -p /out && echo built >/out/file
RUN echo second >/out/two

FROM busybox
RUN --mount=type=bind,from=build,source=/out,target=/in sh -c 'cat /in/file /in/two'
RUN --mount=type=bind,from=build,target=/b,rw sh -c 'echo x >/b/out/new && ls /b/out | tr "\n" " "'
RUN --mount=type=bind,from=busybox,source=/bin/busybox,target=/bb test -x /bb && echo has-busybox
EOF
  build -t fromstage "$CTX"
  assert_match 'built'
  assert_match 'second'
  assert_match 'file new two'
  assert_match 'has-busybox'
  absent fromstage /in
  absent fromstage /b
  absent fromstage /bb
  build 1 -t fromstage -f - "$CTX" <<'EOF'
FROM busybox AS build
FROM busybox
RUN --mount=type=bind,from=build,source=/nothing/here,target=/x true
EOF
  assert_match '^ERROR: failed to solve: -:3: RUN --mount from=build: /nothing/here: not found$'
}

@test "a tmpfs mount" {
  ctx
  printf 'FROM busybox\nRUN --mount=type=tmpfs,target=/scratch,size=1m sh -c "grep \\" /scratch \\" /proc/mounts; echo x >/scratch/f"\n' >"$CTX/Dockerfile"
  build -t tmp "$CTX"
  assert_match 'tmpfs /scratch tmpfs rw,nosuid,nodev.*size=1024k'
  absent tmp /scratch
}

@test "a secret reaches its step as a file and a variable, and no layer, config, history or cache" {
  ctx
  local secret=s3cr3t-value-$RANDOM$RANDOM
  printf '%s' "$secret" >"$BATS_TEST_TMPDIR/tok"
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
RUN --mount=type=secret,id=tok sh -c 'stat -c "mode %a owner %u" /run/secrets/tok; test "$(cat /run/secrets/tok)" = "$(cat /run/secrets/tok)" && wc -c </run/secrets/tok && echo made >/made'
RUN --mount=type=secret,id=tok,target=/etc/tok,mode=0440,uid=12,gid=34 stat -c "custom %a %u:%g" /etc/tok
RUN --mount=type=secret,id=viaenv,env=TOKEN sh -c 'echo "${#TOKEN} chars" >/len'
EOF
  MYTOKEN=$secret build --secret "id=tok,src=$BATS_TEST_TMPDIR/tok" --secret id=viaenv,env=MYTOKEN \
    -t clean "$CTX"
  assert_match 'mode 400 owner 0'
  assert_match "^#[0-9]+ [0-9.]+ ${#secret}\$"
  assert_match 'custom 440 12:34'
  run_tug run --rm clean cat /len /made
  [[ $output == "${#secret} chars"$'\n'made ]]
  absent clean /run/secrets
  absent clean /etc/tok
  run_tug history --no-trunc clean
  refute_match "$secret"
  run_tug image inspect clean
  refute_match "$secret"
  local f found=
  for f in "$TUG_ROOT"/blobs/sha256/*; do
    if (zcat -f "$f" 2>/dev/null || cat "$f") | grep -qaF "$secret"; then found+=" $f"; fi
  done
  [[ -z $found ]] || { echo "the secret is in blobs:$found"; false; }
  run grep -rlaF "$secret" "$TUG_ROOT"
  [[ -z $output ]] || { echo "the secret is in the store: $output"; false; }
  # nothing left on the run directory's tmpfs either
  # (the layers' read-only mounts there are the image's files, checked above through its blobs;
  # another test's store may take its own away meanwhile)
  run grep -rlaFs --exclude-dir=layers "$secret" /run/tug
  [[ -z $output ]] || { echo "the secret is left in /run/tug: $output"; false; }
  # and the step did read it: one that copies it into its layer (the user's doing) shows it
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
RUN --mount=type=secret,id=tok,env=T sh -c 'test -e /run/secrets/tok && echo also-a-file; echo "$T"' >/seen
EOF
  build --secret "id=tok,src=$BATS_TEST_TMPDIR/tok" -t seen "$CTX"
  # env= alone: a variable, no file (as BuildKit)
  run_tug run --rm seen cat /seen
  [[ $output == "$secret" ]] || { echo "env= of a secret given as a file: $output"; false; }
}

@test "a required secret that is not given is an error naming it; one not required is skipped" {
  ctx
  printf 'FROM busybox\nRUN --mount=type=secret,id=apikey,required cat /run/secrets/apikey\n' >"$CTX/Dockerfile"
  build 1 -t req "$CTX"
  assert_match '^ERROR: failed to solve: Dockerfile:2: secret apikey is required but was not given: pass it with --secret id=apikey,src=PATH \(or env=VAR\)$'
  run_tug 1 image inspect req
  printf 'FROM busybox\nRUN --mount=type=secret,id=apikey sh -c "test -e /run/secrets/apikey || echo no-secret"\n' >"$CTX/Dockerfile"
  build -t notreq "$CTX"
  assert_match 'no-secret'
  absent notreq /run/secrets
}

@test "bad --secret values and an ssh mount are one-line errors" {
  ctx
  printf 'FROM busybox\nRUN true\n' >"$CTX/Dockerfile"
  run_tug 125 build --secret src=/x "$CTX"
  assert_match '^invalid argument "src=/x" for "--secret" flag: invalid --secret src=/x: the secret needs an id \(id=NAME\)$'
  run_tug 125 build --secret id=a,bogus=1 "$CTX"
  assert_match "unexpected key 'bogus'"
  run_tug 125 build --secret id=a,type=ssh "$CTX"
  assert_match 'unsupported type "ssh"'
  printf 'FROM busybox\nRUN true\nRUN --mount=type=ssh ssh-add -l\n' >"$CTX/Dockerfile"
  build 1 "$CTX"
  assert_match '^ERROR: failed to solve: Dockerfile:3: RUN --mount=type=ssh is not supported by tug'
}
