#!/usr/bin/env bats
# tug build: the tutorial's second half. A Dockerfile and its context into an image, one layer per
# filesystem step, a cache that redoes only what changed, docker's (BuildKit's) plain progress.

load containers
load build

setup_file() { containers_setup_file; }

# wait_http PORT: the page a published port serves (curl from the host).
page() { curl -s -m 5 "http://127.0.0.1:$1/"; }

@test "the tutorial's challenge: build a web image, run it, see the page; edit it, rebuild from the cache" {
  # docker: the same steps; the rebuild after editing index.html redoes the COPY only
  ctx
  cat >"$CTX/Dockerfile" <<EOF
FROM busybox
RUN mkdir -p /usr/share/nginx/html
COPY index.html /usr/share/nginx/html/index.html
CMD ["httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"]
EOF
  echo '<h1>my custom page</h1>' >"$CTX/index.html"
  build -t my-custom-nginx "$CTX"
  # BuildKit's numbering: FROM and the filesystem steps; CMD is no step
  assert_match '^#[0-9]+ \[3/3\] COPY index.html /usr/share/nginx/html/index.html$'
  assert_match 'naming to docker.io/library/my-custom-nginx:latest done'
  local port
  port=$(fixture_free_port)
  run_tug run -d --name web -p "$port:80" my-custom-nginx
  wait_until 10 page "$port"
  [[ $(page "$port") == '<h1>my custom page</h1>' ]]
  # edit the page: the RUN comes from the cache, the COPY is done again
  echo '<h1>edited</h1>' >"$CTX/index.html"
  build -t my-custom-nginx "$CTX"
  steps_of
  [[ $(steps_of) == $'[1/3] FROM docker.io/library/busybox:latest CACHED\n[2/3] RUN mkdir -p /usr/share/nginx/html CACHED\n[3/3] COPY index.html /usr/share/nginx/html/index.html DONE' ]]
  run_tug rm -f web
  run_tug run -d --name web2 -p "$port:80" my-custom-nginx
  wait_until 10 page "$port"
  [[ $(page "$port") == '<h1>edited</h1>' ]]
}

@test "an unchanged rebuild is all CACHED and the same image; touch busts nothing" {
  ctx
  printf 'FROM busybox\nENV A=1\nCOPY . /src/\nRUN ls /src > /list\nCMD ["cat", "/list"]\n' >"$CTX/Dockerfile"
  echo one >"$CTX/a.txt"
  run_tug build -q -t same "$CTX"
  local first=$output
  [[ $first =~ ^sha256:[0-9a-f]{64}$ ]]
  touch "$CTX/a.txt" "$CTX/Dockerfile"
  build -t same "$CTX"
  [[ $(steps_of | grep -c CACHED) -eq 3 && $(steps_of | grep -c DONE) -eq 0 ]]
  run_tug build -q -t same "$CTX"
  [[ $output == "$first" ]]
  run_tug run --rm same
  assert_output $'Dockerfile\na.txt'
}

@test "editing a COPY source reruns that step and the ones after it, not the ones before" {
  ctx
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
RUN echo base > /base
COPY app.txt /app.txt
RUN cat /base /app.txt > /both
EOF
  echo v1 >"$CTX/app.txt"
  build -t edit "$CTX"
  echo v2 >"$CTX/app.txt"
  build -t edit "$CTX"
  [[ $(steps_of) == $'[1/4] FROM docker.io/library/busybox:latest CACHED\n[2/4] RUN echo base > /base CACHED\n[3/4] COPY app.txt /app.txt DONE\n[4/4] RUN cat /base /app.txt > /both DONE' ]]
  run_tug run --rm edit cat /both
  assert_output $'base\nv2'
  # --no-cache does every step again
  build --no-cache -t edit "$CTX"
  [[ $(steps_of | grep -c ' DONE') -eq 3 ]]
}

@test "ENV, ARG and --build-arg expand where docker expands them; RUN sees build args" {
  ctx
  cat >"$CTX/Dockerfile" <<'EOF'
ARG BASE=busybox
FROM $BASE
ARG WHO=world
ENV GREETING="hello ${WHO}" DIR=/out
WORKDIR $DIR
RUN echo "$GREETING / $WHO" > msg
LABEL who=$WHO
USER nobody
CMD cat msg; id -u
EOF
  build -t args --build-arg WHO=tug "$CTX"
  run_tug run --rm args
  assert_output $'hello tug / tug\n65534'
  run_tug image inspect -f '{{.Config.WorkingDir}} {{index .Config.Labels "who"}} {{.Config.User}} {{json .Config.Cmd}}' args
  assert_output '/out tug nobody ["/bin/sh","-c","cat msg; id -u"]'
  # the build arg is in the history's RUN line, not in the image's environment
  run_tug image inspect -f '{{json .Config.Env}}' args
  refute_match 'WHO='
  run_tug history --no-trunc --format '{{.CreatedBy}}' args
  assert_match '^RUN \|1 WHO=tug /bin/sh -c echo "\$GREETING / \$WHO" > msg # buildkit$'
}

@test "multi-stage: --target stops at a stage, COPY --from takes a finished one, unused stages are skipped" {
  ctx
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox AS builder
RUN mkdir /out && echo built > /out/artifact
FROM busybox AS unused
RUN echo never && false
FROM busybox
COPY --from=builder /out/artifact /app/artifact
CMD ["cat", "/app/artifact"]
EOF
  build -t multi "$CTX"
  refute_match 'never'
  run_tug run --rm multi
  assert_output built
  build -t onlybuilder --target builder "$CTX"
  run_tug run --rm onlybuilder cat /out/artifact
  assert_output built
  build 1 --target nosuch "$CTX"
  assert_match 'failed to reach build target nosuch in Dockerfile'
  # COPY --from mounted the stage in a scratch directory: nothing of it stays
  assert_store_clean
}

@test ".dockerignore leaves files out of COPY, with ! exceptions" {
  ctx
  printf 'FROM busybox\nCOPY . /ctx/\nCMD ["sh", "-c", "cd /ctx && find . -type f | sort"]\n' >"$CTX/Dockerfile"
  mkdir -p "$CTX/logs" "$CTX/src"
  echo x >"$CTX/logs/a.log"
  echo x >"$CTX/logs/keep.log"
  echo x >"$CTX/src/main.c"
  echo x >"$CTX/secret.env"
  printf 'logs/*.log\n!logs/keep.log\n*.env\n' >"$CTX/.dockerignore"
  build -t ignored "$CTX"
  run_tug run --rm ignored
  assert_output $'./.dockerignore\n./Dockerfile\n./logs/keep.log\n./src/main.c'
  # naming an ignored file is "not found", as in docker
  printf 'FROM busybox\nCOPY secret.env /\n' >"$CTX/Dockerfile"
  build 1 "$CTX"
  assert_match '"/secret.env": not found'
}

@test "heredocs: RUN <<EOF runs a script, COPY <<EOF writes a file" {
  ctx
  cat >"$CTX/Dockerfile" <<'DOCKERFILE'
FROM busybox
ENV NAME=tug
RUN <<EOF
echo "first line" > /script.out
echo "second line" >> /script.out
EOF
COPY <<EOF /etc/greeting
hello $NAME
EOF
CMD cat /script.out /etc/greeting
DOCKERFILE
  build -t heredoc "$CTX"
  run_tug run --rm heredoc
  assert_output $'first line\nsecond line\nhello tug'
}

@test "a failing RUN prints its output and exit code, tags nothing and leaves nothing" {
  # docker: process "/bin/sh -c ..." did not complete successfully: exit code: 3
  ctx
  printf 'FROM busybox\nRUN echo about to fail; exit 3\n' >"$CTX/Dockerfile"
  build 1 -t failed "$CTX"
  assert_match '^#[0-9]+ [0-9.]+ about to fail$'
  assert_match 'ERROR: failed to solve: process "/bin/sh -c echo about to fail; exit 3" did not complete successfully: exit code: 3'
  run_tug images -q failed
  [[ -z $output ]]
  run_tug ps -aq
  [[ -z $output ]]
  [[ -z $(ls -A "$TUG_ROOT/layers" | grep '^\.tmp-') ]]
  if [[ -n $(mounted_under "$TUG_ROOT") ]]; then
    echo "a mount is left" >&2
    false
  fi
  assert_store_clean
}

@test "Dockerfile errors name the file, the line and what is wrong" {
  ctx
  printf 'FROM busybox\n\nRUNN echo\n' >"$CTX/Dockerfile"
  build 1 "$CTX"
  assert_match 'Dockerfile:3: unknown instruction: RUNN \(did you mean RUN\?\)'
  printf 'RUN echo\n' >"$CTX/Dockerfile"
  build 1 "$CTX"
  assert_match 'Dockerfile:1: .*FROM'
  printf 'FROM busybox\nCOPY --mount=x a /b\n' >"$CTX/Dockerfile"
  build 1 "$CTX"
  assert_match 'Dockerfile:2: .*--mount'
  printf 'FROM busybox\nCOPY nothere.txt /b\n' >"$CTX/Dockerfile"
  build 1 "$CTX"
  assert_match 'failed to calculate checksum of ref context: "/nothere.txt": not found'
  printf 'FROM busybox\nRUN <<EOF\necho never ends\n' >"$CTX/Dockerfile"
  build 1 "$CTX"
  assert_match 'Dockerfile:2: .*heredoc'
  build 1 "$BATS_TEST_TMPDIR/nosuchdir"
  # nothing was made: the store holds busybox alone
  run_tug images -q --no-trunc
  [[ $(sort -u <<<"$output") == "$(timeout 30 "$TUG" images -q --no-trunc busybox)" ]]
}

@test "history shows one row per step, metadata steps 0B; system df counts the build cache" {
  ctx
  printf 'FROM busybox\nENV A=1\nCOPY f /f\nEXPOSE 80\nRUN echo hi > /g\n' >"$CTX/Dockerfile"
  head -c 1000 /dev/zero >"$CTX/f"
  build -t hist "$CTX"
  run_tug history --format '{{.CreatedBy}}|{{.Size}}' hist
  assert_match '^RUN /bin/sh -c echo hi > /g # buildkit\|3B$'
  assert_match '^EXPOSE 80\|0B$'
  assert_match '^COPY f /f # buildkit\|1kB$'
  assert_match '^ENV A=1\|0B$'
  run_tug image inspect -f '{{len .RootFS.Layers}} {{json .Config.ExposedPorts}}' hist
  assert_output '3 {"80/tcp":{}}'
  run_tug system df --format '{{.Type}} {{.TotalCount}}'
  assert_match '^Build Cache [1-9]'
}

@test "build -f elsewhere, -f - and a context from stdin; -q prints the ID; --iidfile writes it" {
  ctx
  echo data >"$CTX/file.txt"
  printf 'FROM busybox\nCOPY file.txt /\n' >"$BATS_TEST_TMPDIR/other.Dockerfile"
  run_tug build -q -f "$BATS_TEST_TMPDIR/other.Dockerfile" --iidfile "$BATS_TEST_TMPDIR/iid" "$CTX"
  [[ $output =~ ^sha256:[0-9a-f]{64}$ ]]
  [[ $(cat "$BATS_TEST_TMPDIR/iid") == "$output" ]]
  run bash -c "printf 'FROM busybox\nCOPY file.txt /\n' | timeout 60 '$TUG' build -q -t fromstdin -f - '$CTX'"
  [[ $status -eq 0 ]]
  tar -C "$CTX" -cf "$BATS_TEST_TMPDIR/ctx.tar" file.txt
  printf 'FROM busybox\nCOPY file.txt /copied\n' >"$BATS_TEST_TMPDIR/Dockerfile"
  tar -C "$BATS_TEST_TMPDIR" -rf "$BATS_TEST_TMPDIR/ctx.tar" Dockerfile
  run bash -c "timeout 60 '$TUG' build -q -t fromtar - <'$BATS_TEST_TMPDIR/ctx.tar'"
  [[ $status -eq 0 ]]
  run_tug run --rm fromtar cat /copied
  assert_output data
}

@test "ONBUILD triggers run in the image built FROM it" {
  ctx
  printf 'FROM busybox\nONBUILD RUN echo triggered > /trigger\n' >"$CTX/Dockerfile"
  build -t parent "$CTX"
  run_tug image inspect -f '{{json .Config.OnBuild}}' parent
  assert_output '["RUN echo triggered > /trigger"]'
  printf 'FROM parent\nRUN cat /trigger\n' >"$CTX/Dockerfile"
  build -t child "$CTX"
  run_tug run --rm child cat /trigger
  assert_output triggered
  run_tug image inspect -f '{{json .Config.OnBuild}}' child
  assert_output 'null'
}

@test "builder prune empties the build cache; the next build does every step again" {
  ctx
  printf 'FROM busybox\nRUN echo a > /a\n' >"$CTX/Dockerfile"
  build -t pruned "$CTX"
  run_tug rmi pruned
  run_tug builder prune -f
  assert_match '^Total reclaimed space: '
  build -t pruned "$CTX"
  [[ $(steps_of | grep -c ' DONE') -eq 1 ]]
}

# descendants PID: every process under PID, one per line
@test "kill -9 of a build mid-RUN: the step dies with it and system check takes what it left" {
  ctx
  printf 'FROM busybox\nRUN echo started; sleep 600\n' >"$CTX/Dockerfile"
  timeout 120 "$TUG" build --progress plain "$CTX" >"$BATS_TEST_TMPDIR/build.log" 2>&1 &
  local runner=$!
  wait_until 30 grep -qE '^#[0-9]+ [0-9.]+ started$' "$BATS_TEST_TMPDIR/build.log"
  local builder
  builder=$(pgrep -P "$runner" -x tug)
  [[ -n $builder ]]
  local step_pids
  step_pids=$(descendants "$builder")
  [[ -n $step_pids ]]
  kill -9 "$builder"
  wait "$runner" || true
  # the RUN's processes went with the builder, and are reaped (a zombie keeps its cgroup busy)
  # shellcheck disable=SC2016
  wait_until 10 bash -c 'for p; do [[ -e /proc/$p ]] && exit 1; done; exit 0' _ $step_pids
  run_tug system check
  assert_match 'interrupted unpack: layers/\.tmp-'
  assert_match 'cgroup of a container or build step that is gone'
  assert_store_clean
  run_tug images -q --no-trunc
  [[ $(sort -u <<<"$output") == "$(timeout 30 "$TUG" images -q --no-trunc busybox)" ]]
}

@test "RUN steps get the isolation of tug run: docker's capabilities, read-only /proc/sys, no host" {
  ctx
  printf '%s\n' 'FROM busybox' \
    'RUN grep CapEff /proc/self/status > /caps; (echo x > /proc/sys/kernel/domainname) 2>/proc.err; cat /proc/1/cmdline > /pid1' \
    >"$CTX/Dockerfile"
  build -t isolated "$CTX"
  run_tug run --rm isolated sh -c 'cat /caps /proc.err; tr "\0" " " </pid1'
  assert_match '^CapEff:\s+00000000a80425fb$'
  assert_match 'Read-only file system'
  # PID 1 of the step was the step's own command (its shell exec'd the last one), not the host's
  assert_match '^cat /proc/1/cmdline $'
}

@test "on a terminal the build draws BuildKit's live view; --progress plain and quiet do not" {
  ctx
  printf 'FROM busybox\nRUN echo drawn\n' >"$CTX/Dockerfile"
  run script -qec "timeout 60 '$TUG' build --no-cache -t viewed '$CTX'" /dev/null
  [[ $status -eq 0 ]]
  assert_match '\[\+\] Building [0-9.]+s \([0-9]+/[0-9]+\) FINISHED'
  assert_match ' => \[2/2\] RUN echo drawn +[0-9.]+s'
  run script -qec "timeout 60 '$TUG' build --progress quiet -t viewed '$CTX'" /dev/null
  [[ $status -eq 0 && -z $(tr -d '\r\n' <<<"$output") ]]
}
