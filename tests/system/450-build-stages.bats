#!/usr/bin/env bats
# tug build: the stages a target needs, those that do not name each other built at the same
# time (each in a process of its own), with the same image as one after the other
# (TUG_BUILD_SEQUENTIAL=1, for tests) and the first failure stopping the rest.

load containers
load build

setup_file() { containers_setup_file; }

# line_of PATTERN: the number of the first line of $output matching the ERE.
line_of() {
  grep -nE -m1 -- "$1" <<<"$output" | cut -d: -f1
}

# Stage b's RUN listens on a host port that stage a's RUN must reach: only a build that runs
# them at the same time gets through (one after the other, a gives up).
talking_stages() {
  local port=$1 tries=$2
  cat <<EOF
FROM busybox AS a
RUN --network=host sh -c 'for i in \$(seq $tries); do echo hi | nc 127.0.0.1 $port && { echo a-reached-b; exit 0; }; sleep 0.2; done; exit 1'
FROM busybox AS b
RUN --network=host sh -c 'nc -l -p $port >/b.got && echo b-got-\$(cat /b.got)'
FROM busybox
COPY --from=a /bin/busybox /a-busybox
COPY --from=b /b.got /b.got
EOF
}

@test "independent stages build at the same time: both RUNs start before either is done" {
  ctx
  local port
  port=$(fixture_free_port)
  talking_stages "$port" 150 >"$CTX/Dockerfile"
  build -t talk "$CTX"
  assert_match '^#[0-9]+ [0-9.]+ a-reached-b$'
  assert_match '^#[0-9]+ [0-9.]+ b-got-hi$'
  # each stage's lines keep their own label; the vertices interleave, each with its own #N
  local va vb
  va=$(awk '/^#[0-9]+ \[a 2\/2\] RUN/ { print $1; exit }' <<<"$output")
  vb=$(awk '/^#[0-9]+ \[b 2\/2\] RUN/ { print $1; exit }' <<<"$output")
  [[ -n $va && -n $vb && $va != "$vb" ]] || { echo "no RUN vertex of a or b"; false; }
  local sa sb da db
  sa=$(line_of "^$va \\[a 2/2\\] RUN")
  sb=$(line_of "^$vb \\[b 2/2\\] RUN")
  da=$(line_of "^$va DONE")
  db=$(line_of "^$vb DONE")
  [[ -n $da && -n $db ]] || { echo "a RUN not done"; false; }
  local last_start=$((sa > sb ? sa : sb)) first_done=$((da < db ? da : db))
  ((last_start < first_done)) || { echo "RUNs one after the other: starts $sa $sb, done $da $db"; false; }
  run_tug run --rm talk cat /b.got
  assert_output hi
}

@test "TUG_BUILD_SEQUENTIAL=1 builds one stage after the other (the concurrency test can fail)" {
  ctx
  local port
  port=$(fixture_free_port)
  talking_stages "$port" 10 >"$CTX/Dockerfile"
  TUG_BUILD_SEQUENTIAL=1 build 1 "$CTX"
  assert_match 'ERROR: process "/bin/sh -c .*" did not complete successfully: exit code: 1'
  refute_match '^#[0-9]+ [0-9.]+ a-reached-b$'
  refute_match '^#[0-9]+ \[b 2/2\] RUN'
}

@test "the same image (ID, history) whether the stages run at the same time or one after the other; a rebuild is all CACHED" {
  ctx
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox AS one
ENV WHO=one
RUN sleep 1; echo $WHO >/one
LABEL stage=one
FROM busybox AS two
WORKDIR /w
RUN sleep 1; echo two >/w/two
FROM busybox
COPY --from=one /one /one
COPY --from=two /w/two /two
ENV Z=1 A=2
CMD ["cat", "/one", "/two"]
EOF
  local t0 t1
  t0=$(date +%s.%N)
  build -t same "$CTX"
  t1=$(date +%s.%N)
  local id
  id=$(timeout 30 "$TUG" images -q --no-trunc same)
  [[ -n $id ]]
  run_tug history --no-trunc --human=false same
  local history=$output  # absolute dates: "N seconds ago" moves between the builds
  TUG_BUILD_SEQUENTIAL=1 build -t same "$CTX"
  [[ $(steps_of) == $'[one 1/2] FROM docker.io/library/busybox:latest CACHED\n[one 2/2] RUN sleep 1; echo $WHO >/one CACHED\n[two 1/3] FROM docker.io/library/busybox:latest CACHED\n[two 2/3] WORKDIR /w CACHED\n[two 3/3] RUN sleep 1; echo two >/w/two CACHED\n[stage-2 1/3] FROM docker.io/library/busybox:latest CACHED\n[stage-2 2/3] COPY --from=one /one /one CACHED\n[stage-2 3/3] COPY --from=two /w/two /two CACHED' ]] ||
    { echo "steps: $(steps_of)"; false; }
  [[ $(timeout 30 "$TUG" images -q --no-trunc same) == "$id" ]] || { echo "sequential rebuild: another ID"; false; }
  # and a concurrent rebuild: every stage's state comes back from its process unchanged
  build -t same "$CTX"
  [[ $(steps_of | grep -c ' CACHED$') == 8 ]] || { echo "steps: $(steps_of)"; false; }
  [[ $(timeout 30 "$TUG" images -q --no-trunc same) == "$id" ]] || { echo "concurrent rebuild: another ID"; false; }
  run_tug history --no-trunc --human=false same
  [[ $output == "$history" ]]
  run_tug run --rm same
  assert_output $'one\ntwo'
  # information only: the two 'RUN sleep 1' stages at the same time, and one after the other
  local t2 t3
  t2=$(date +%s.%N)
  TUG_BUILD_SEQUENTIAL=1 build --no-cache "$CTX"
  t3=$(date +%s.%N)
  printf '# two stages of RUN sleep 1: %.2fs at the same time, %.2fs one after the other\n' \
    "$(bc <<<"$t1 - $t0")" "$(bc <<<"$t3 - $t2")" >&3
}

@test "a failing stage stops the other: its running RUN is killed, nothing is left" {
  ctx
  local port nap
  port=$(fixture_free_port)
  nap=$((100000 + port)) # a sleep of this test's own, to look for
  # b fails once a's RUN is surely running (it answered on the port)
  cat >"$CTX/Dockerfile" <<EOF
FROM busybox AS a
RUN --network=host sh -c 'echo a-listening; nc -l -p $port >/dev/null; sleep $nap'
FROM busybox AS b
RUN --network=host sh -c 'for i in \$(seq 150); do echo x | nc 127.0.0.1 $port && break; sleep 0.2; done; echo b-fails; exit 3'
FROM busybox
COPY --from=a /bin/busybox /a
COPY --from=b /bin/busybox /b
EOF
  build 1 -t failing "$CTX"
  assert_match '^#[0-9]+ [0-9.]+ a-listening$'
  assert_match '^#[0-9]+ [0-9.]+ b-fails$'
  assert_match "^ERROR: failed to solve: process \"/bin/sh -c .*exit 3'\" did not complete successfully: exit code: 3\$"
  local va
  va=$(awk '/^#[0-9]+ \[a 2\/2\] RUN/ { print $1; exit }' <<<"$output")
  assert_match "^$va CANCELED$"
  refute_match "^$va DONE"
  run_tug images -q failing
  assert_output ''
  run pgrep -f "^sleep $nap\$"
  [[ $status == 1 ]] || { echo "a's RUN still runs: $output"; false; }
  run_tug ps -aq
  assert_output ''
  assert_store_clean
}

@test "kill -9 of the builder while two stages RUN: nothing system check cannot repair" {
  ctx
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox AS a
RUN echo a-started; sleep 600
FROM busybox AS b
RUN echo b-started; sleep 600
FROM busybox
COPY --from=a /bin/busybox /a
COPY --from=b /bin/busybox /b
EOF
  timeout 120 "$TUG" build --progress plain "$CTX" >"$BATS_TEST_TMPDIR/build.log" 2>&1 &
  local runner=$!
  wait_until 30 grep -qE '^#[0-9]+ [0-9.]+ a-started$' "$BATS_TEST_TMPDIR/build.log"
  wait_until 30 grep -qE '^#[0-9]+ [0-9.]+ b-started$' "$BATS_TEST_TMPDIR/build.log"
  local builder pids
  builder=$(pgrep -P "$runner" -x tug)
  [[ -n $builder ]]
  pids=$(descendants "$builder")
  [[ -n $pids ]]
  kill -9 "$builder"
  wait "$runner" || true
  # the stages' processes and their RUNs go with it, and are reaped
  # shellcheck disable=SC2016
  wait_until 20 bash -c 'for p; do [[ -e /proc/$p ]] && exit 1; done; exit 0' _ $pids
  run mounted_under "$TUG_ROOT"
  [[ -z $output ]] || { echo "left mounted: $output"; false; }
  run_tug system check
  assert_store_clean
  run_tug images -q --no-trunc
  [[ $(sort -u <<<"$output") == "$(timeout 30 "$TUG" images -q --no-trunc busybox)" ]]
}

# The plain lines without their times and image IDs.
normalized() {
  sed -E 's/[0-9]+\.[0-9]+s?/T/g; s/sha256:[0-9a-f]{64}/ID/g' <<<"$output"
}

@test "a chain of stages builds in the builder, one after the other: the same lines as TUG_BUILD_SEQUENTIAL=1" {
  ctx
  printf 'FROM busybox AS base\nRUN echo base >/base\nFROM base\nRUN cat /base\n' >"$CTX/Dockerfile"
  build -t chain "$CTX"
  [[ $(steps_of) == $'[base 1/2] FROM docker.io/library/busybox:latest CACHED\n[base 2/2] RUN echo base >/base DONE\n[stage-1 1/2] FROM base CACHED\n[stage-1 2/2] RUN cat /base DONE' ]] ||
    { echo "steps: $(steps_of)"; false; }
  local concurrent
  concurrent=$(normalized)
  run_tug builder prune -af
  TUG_BUILD_SEQUENTIAL=1 build -t chain "$CTX"
  [[ $(normalized) == "$concurrent" ]] || { diff <(echo "$concurrent") <(normalized); false; }
}
