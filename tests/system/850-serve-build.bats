#!/usr/bin/env bats
# tug serve's POST /build: docker's classic builder (DOCKER_BUILDKIT=0) and python3-docker send
# a tar of the context; tug builds it with the builder `tug build` uses and answers with the
# classic builder's JSON stream. And POST /build/prune.

source "$BATS_TEST_DIRNAME/helpers.bash"
bats_require_minimum_version 1.5.0

source "$BATS_TEST_DIRNAME/serve.bash"

# a context in $BATS_TEST_TMPDIR/ctx: a file to COPY and a Dockerfile using ENV, COPY and RUN
make_context() {
  CTX=$BATS_TEST_TMPDIR/ctx
  mkdir -p "$CTX"
  echo "copied $1" >"$CTX/hello.txt"
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
ENV GREETING=hi
COPY hello.txt /hello.txt
RUN echo "ran with $GREETING" >/ran.txt && echo step-output
CMD cat /hello.txt /ran.txt
EOF
}

@test "docker build (classic) through tug serve: the steps, the tag, and docker run shows the content" {
  need_docker
  make_context one
  export DOCKER_BUILDKIT=0
  run_docker build -t built-one "$CTX"
  assert_match "^Step 1/5 : FROM busybox$"
  assert_match "^ ---> [0-9a-f]{12}$"
  assert_match "^Step 2/5 : ENV GREETING=hi$"
  assert_match "^Step 3/5 : COPY hello.txt /hello.txt$"
  assert_match "^Step 4/5 : RUN echo \"ran with \\\$GREETING\" >/ran.txt && echo step-output$"
  assert_match "^step-output$"
  assert_match "^Successfully built [0-9a-f]{12}$"
  assert_match "^Successfully tagged built-one:latest$"
  local id
  id=$("$TUG" inspect -f '{{.Id}}' built-one)
  assert_match "^Successfully built ${id:7:12}$"
  run_docker run --rm --network none built-one
  [[ $output == $'copied one\nran with hi' ]] || { echo "docker run: $output" >&2; return 1; }
  run_docker images --format '{{.Repository}}:{{.Tag}}' built-one
  [[ $output == built-one:latest ]]

  # the same context again: every filesystem step from the cache, the same image
  run_docker build -t built-again "$CTX"
  [[ $(grep -c '^ ---> Using cache$' <<<"$output") -eq 2 ]] || { echo "second build: $output" >&2; return 1; }
  run grep -c '^step-output$' <<<"$output"
  [[ $output == 0 ]] || { echo "the RUN ran again" >&2; return 1; }
  [[ $("$TUG" inspect -f '{{.Id}}' built-again) == "$id" ]]
  # docker build -q: the ID alone
  run bash -c 'timeout 60 docker build -q "$1" 2>/dev/null' _ "$CTX"
  [[ $status -eq 0 && $output == "$id" ]] || { echo "build -q: $output" >&2; return 1; }
}

@test "docker build -f names a Dockerfile elsewhere; --build-arg reaches ARG" {
  need_docker
  make_context two
  mkdir -p "$CTX/sub"
  cat >"$CTX/sub/Other.dockerfile" <<'EOF'
FROM busybox
ARG FLAVOUR=plain
COPY hello.txt /hello.txt
RUN echo "flavour $FLAVOUR" >/flavour.txt
EOF
  export DOCKER_BUILDKIT=0
  run_docker build -f "$CTX/sub/Other.dockerfile" --build-arg FLAVOUR=mint -t built-two "$CTX"
  assert_match "^Step 2/4 : ARG FLAVOUR=plain$"
  assert_match "^Successfully tagged built-two:latest$"
  run_docker run --rm --network none built-two cat /hello.txt /flavour.txt
  [[ $output == $'copied two\nflavour mint' ]] || { echo "docker run: $output" >&2; return 1; }
  # a Dockerfile outside the context: docker's CLI adds it to the tar under another name
  cp "$CTX/sub/Other.dockerfile" "$BATS_TEST_TMPDIR/Outside"
  run_docker build -f "$BATS_TEST_TMPDIR/Outside" -t built-three "$CTX"
  run_docker run --rm --network none built-three cat /flavour.txt
  [[ $output == "flavour plain" ]]
}

@test "a failing RUN: its output, the error, and docker build exits with the RUN's status" {
  need_docker
  CTX=$BATS_TEST_TMPDIR/bad
  mkdir -p "$CTX"
  printf 'FROM busybox\nRUN echo about-to-fail; exit 3\n' >"$CTX/Dockerfile"
  export DOCKER_BUILDKIT=0
  run_docker 3 build -t never "$CTX"
  assert_match "^Step 2/2 : RUN echo about-to-fail; exit 3$"
  assert_match "^about-to-fail$"
  assert_match '^process "/bin/sh -c echo about-to-fail; exit 3" did not complete successfully: exit code: 3$'
  run_tug 1 image inspect never
  # the stream's last document: docker's errorDetail with the code
  tar -C "$CTX" -cf "$BATS_TEST_TMPDIR/bad.tar" Dockerfile
  api '/v1.41/build?t=never' -X POST --data-binary @"$BATS_TEST_TMPDIR/bad.tar"
  [[ $output == *'{"stream":"about-to-fail\n"}{"errorDetail":{"code":3,"message":"process \"/bin/sh -c echo about-to-fail; exit 3\" did not complete successfully: exit code: 3"},"error":"process \"/bin/sh -c echo about-to-fail; exit 3\" did not complete successfully: exit code: 3"} 200' ]] ||
    { echo "got: $output" >&2; return 1; }
}

@test "a multi-stage build: its steps in the Dockerfile's order, stages built one after the other" {
  need_docker
  CTX=$BATS_TEST_TMPDIR/stages
  mkdir -p "$CTX"
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox AS first
RUN echo one >/one
FROM busybox AS second
RUN echo two >/two
FROM busybox
COPY --from=first /one /one
COPY --from=second /two /two
EOF
  export DOCKER_BUILDKIT=0
  run_docker build -t staged "$CTX"
  run grep -o '^Step [0-9]*/7' <<<"$output"
  [[ $output == "$(printf 'Step %d/7\n' 1 2 3 4 5 6 7)" ]] || { echo "steps: $output" >&2; return 1; }
  run_docker run --rm --network none staged cat /one /two
  [[ $output == $'one\ntwo' ]]
}

@test "POST /build's bytes: the classic stream, a chunked body, and errors before the stream" {
  CTX=$BATS_TEST_TMPDIR/bytes
  mkdir -p "$CTX"
  printf 'FROM busybox\nCOPY f /f\n' >"$CTX/Dockerfile"
  echo bytes >"$CTX/f"
  tar -C "$CTX" -cf "$BATS_TEST_TMPDIR/ctx.tar" Dockerfile f
  run curl -s --max-time 60 --unix-socket "$SOCK" -X POST -H 'Transfer-Encoding: chunked' \
    --data-binary @"$BATS_TEST_TMPDIR/ctx.tar" -D "$BATS_TEST_TMPDIR/head" 'http://tug/v1.41/build?t=bytes:1&t=bytes:2'
  [[ $status -eq 0 ]]
  grep -q $'^Content-Type: application/json\r$' "$BATS_TEST_TMPDIR/head"
  grep -q $'^Transfer-Encoding: chunked\r$' "$BATS_TEST_TMPDIR/head"
  local id
  id=$("$TUG" inspect -f '{{.Id}}' bytes:1)
  local base
  base=$("$TUG" inspect -f '{{.Id}}' busybox)
  local want
  want=$(printf '%s\n' '{"stream":"Step 1/2 : FROM busybox"}' '{"stream":"\n"}' \
    "{\"stream\":\" ---\\u003e ${base:7:12}\\n\"}" '{"stream":"Step 2/2 : COPY f /f"}' '{"stream":"\n"}')
  [[ $output == "$want"* ]] || { echo "got: $output" >&2; return 1; }
  [[ $output == *"{\"aux\":{\"ID\":\"$id\"}}"$'\n'"{\"stream\":\"Successfully built ${id:7:12}\\n\"}"$'\n{"stream":"Successfully tagged bytes:1\\n"}\n{"stream":"Successfully tagged bytes:2\\n"}' ]] ||
    { echo "got: $output" >&2; return 1; }
  [[ $("$TUG" inspect -f '{{.Id}}' bytes:2) == "$id" ]]

  # what fails before a step began is an error status, as dockerd answers
  api '/v1.41/build?dockerfile=nope' -X POST --data-binary @"$BATS_TEST_TMPDIR/ctx.tar"
  [[ $output == '{"message":"failed to read dockerfile: open nope: No such file or directory"} 400' ]] ||
    { echo "got: $output" >&2; return 1; }
  api '/v1.41/build?t=Bad:Tag' -X POST --data-binary @"$BATS_TEST_TMPDIR/ctx.tar"
  [[ $output == '{"message":"invalid reference format: repository name must be lowercase"} 400' ]] ||
    { echo "got: $output" >&2; return 1; }
  api '/v1.41/build?buildargs=%5B1%5D' -X POST --data-binary @"$BATS_TEST_TMPDIR/ctx.tar"
  [[ $output == '{"message":"invalid buildargs: not a JSON object"} 400' ]] || { echo "got: $output" >&2; return 1; }
  api '/v1.41/build?remote=https://example.com/x.git' -X POST --data-binary @"$BATS_TEST_TMPDIR/ctx.tar"
  [[ $output == *'is not served: send the context as a tar in the body"} 400' ]] || { echo "got: $output" >&2; return 1; }
  api '/v1.41/build?version=2' -X POST --data-binary @"$BATS_TEST_TMPDIR/ctx.tar"
  [[ $output == '{"message":"BuildKit builds (version=2) are not served: build with the classic builder (DOCKER_BUILDKIT=0), or with tug build"} 400' ]] ||
    { echo "got: $output" >&2; return 1; }
  # a chunked body cut short: the build does not start
  raw 'POST /build HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n400\r\nabc'
  [[ $output == 'HTTP/1.1 400 Bad Request'* && $output == *'"message":"read the build context: the request body ended early"'* ]] ||
    { echo "got: $output" >&2; return 1; }
}

@test "python3-docker: images.build(path=..., tag=...) returns the image and the stream" {
  python3 -c 'import docker' 2>/dev/null || skip "python3-docker is not installed"
  make_context py
  run timeout 120 python3 -c '
import docker, sys
c = docker.DockerClient(base_url="unix://" + sys.argv[1])
img, logs = c.images.build(path=sys.argv[2], tag="from-py:1", buildargs={"UNUSED": "x"}, labels={"made": "py"})
print(img.id, " ".join(img.tags), img.labels.get("made"))
print("".join(l.get("stream", "") for l in logs))
' "$SOCK" "$CTX"
  [[ $status -eq 0 ]] || { echo "python: $output" >&2; return 1; }
  local id
  id=$("$TUG" inspect -f '{{.Id}}' from-py:1)
  [[ ${lines[0]} == "$id from-py:1 py" ]] || { echo "got: $output" >&2; return 1; }
  assert_match "^Successfully tagged from-py:1$"
}

@test "POST /build/prune: the build cache goes, as tug builder prune drops it" {
  make_context prune
  tar -C "$CTX" -cf "$BATS_TEST_TMPDIR/p.tar" Dockerfile hello.txt
  api '/v1.41/build?q=1' -X POST --data-binary @"$BATS_TEST_TMPDIR/p.tar"
  [[ $output == '{"stream":"sha256:'*'\n"} 200' ]] || { echo "build: $output" >&2; return 1; }
  api /v1.41/build/prune -X POST
  [[ $output =~ ^\{\"CachesDeleted\":null,\"SpaceReclaimed\":[0-9]+\}\ 200$ ]] || { echo "prune: $output" >&2; return 1; }
  # nothing cached any more: the next build runs its RUN again
  api '/v1.41/build' -X POST --data-binary @"$BATS_TEST_TMPDIR/p.tar"
  [[ $output == *'{"stream":"step-output\n"}'* ]] || { echo "after prune: $output" >&2; return 1; }
  api '/v1.41/build/prune?filters=%7B%22until%22%3A%5B%22bogus%22%5D%7D' -X POST
  [[ $output == '{"message":"invalid filter '"'until=bogus'"': failed to parse value as time or duration: \"bogus\""} 400' ]] || { echo "got: $output" >&2; return 1; }
}

@test "a client that hangs up stops its build: the RUN at work is killed, nothing is tagged" {
  mkdir -p "$BATS_TEST_TMPDIR/slow"
  printf 'FROM busybox\nRUN echo started && sleep 90\n' >"$BATS_TEST_TMPDIR/slow/Dockerfile"
  tar -C "$BATS_TEST_TMPDIR/slow" -cf "$BATS_TEST_TMPDIR/slow.tar" Dockerfile
  local serve_pid i
  serve_pid=$(cat "$BATS_FILE_TMPDIR/serve.pid")
  # the client gives up after the RUN has started (curl's exit 28: its time ran out)
  run curl -s -N --max-time 4 --unix-socket "$SOCK" -X POST --data-binary @"$BATS_TEST_TMPDIR/slow.tar" \
    'http://tug/v1.41/build?t=never-tagged'
  [[ $status -eq 28 && $output == *'{"stream":"started\n"}'* ]] ||
    { echo "curl: status $status, output: $output" >&2; return 1; }
  # the connection's process ends with its build, long before the sleep would
  for ((i = 0; i < 200; i++)); do
    [[ -z $(pgrep -P "$serve_pid") ]] && break
    sleep 0.1
  done
  [[ -z $(pgrep -P "$serve_pid") ]] || { echo "still building: $(pgrep -a -P "$serve_pid")" >&2; return 1; }
  run_tug images -q never-tagged
  [[ -z $output ]]
}
