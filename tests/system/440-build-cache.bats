#!/usr/bin/env bats
# tug build's cache as a user sees it: --progress=plain says why a step missed (which source,
# which build arg, --no-cache, an earlier step).

load containers
load build

setup_file() { containers_setup_file; }

# why STEP: the "cache miss:" line of the step named STEP ("[3/4]"), or nothing.
why() {
  local n
  n=$(grep -F -- " $1 " <<<"$output" | grep -m1 -oE '^#[0-9]+') || return 0
  grep -E "^$n cache miss: " <<<"$output" | sed "s/^$n cache miss: //"
}

@test "an edited COPY source: the COPY says which file changed, the steps after it that the parent changed" {
  ctx
  mkdir -p "$CTX/src"
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
RUN echo base > /base
COPY . /app/
RUN ls -R /app > /list
EOF
  echo 'int main() {}' >"$CTX/src/main.c"
  echo 'x' >"$CTX/src/util.c"
  build -t edit "$CTX"
  # the first build has nothing to compare with
  refute_match 'cache miss'
  echo 'int main() { return 1; }' >"$CTX/src/main.c"
  build -t edit "$CTX"
  [[ $(steps_of) == $'[1/4] FROM docker.io/library/busybox:latest CACHED\n[2/4] RUN echo base > /base CACHED\n[3/4] COPY . /app/ DONE\n[4/4] RUN ls -R /app > /list DONE' ]]
  [[ $(why '[3/4]') == 'COPY source src/main.c changed' ]] || { why '[3/4]'; false; }
  [[ $(why '[4/4]') == 'earlier step [3/4] changed' ]] || { why '[4/4]'; false; }
  [[ -z $(why '[2/4]') ]]
  # a file added, then one removed; an unchanged rebuild says nothing
  echo new >"$CTX/src/new.c"
  build -t edit "$CTX"
  [[ $(why '[3/4]') == 'COPY source src/new.c added' ]] || { why '[3/4]'; false; }
  rm "$CTX/src/util.c"
  build -t edit "$CTX"
  [[ $(why '[3/4]') == 'COPY source src/util.c removed' ]] || { why '[3/4]'; false; }
  build -t edit "$CTX"
  refute_match 'cache miss'
  [[ $(steps_of | grep -c CACHED) -eq 4 ]]
}

@test "a changed build arg is named with its old and new value; --no-cache says so on every step" {
  ctx
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
ARG VERSION=1
RUN echo "building $VERSION" > /version
WORKDIR /srv
EOF
  build -t args "$CTX"
  build -t args --build-arg VERSION=2 "$CTX"
  [[ $(why '[2/3]') == 'build arg VERSION changed (was 1, now 2)' ]] || { why '[2/3]'; false; }
  [[ $(why '[3/3]') == 'earlier step [2/3] changed' ]] || { why '[3/3]'; false; }
  build -t args --build-arg VERSION=2 --no-cache "$CTX"
  [[ $(why '[2/3]') == '--no-cache' && $(why '[3/3]') == '--no-cache' ]] || { echo "$output"; false; }
  # an edited instruction says what it was
  sed -i 's/building/making/' "$CTX/Dockerfile"
  build -t args --build-arg VERSION=2 "$CTX"
  assert_match '^#[0-9]+ cache miss: instruction changed \(was: RUN echo "building \$VERSION" > /version\)$'
}

@test "a store from before the cache remembered inputs (schema 5) is upgraded in place and keeps its cache" {
  ctx
  printf 'FROM busybox\nCOPY a.txt /a.txt\n' >"$CTX/Dockerfile"
  echo a >"$CTX/a.txt"
  build -t old "$CTX"
  sqlite3 "$TUG_ROOT/tug.db" 'DROP TABLE build_cache_inputs; PRAGMA user_version=5;'
  build -t old "$CTX"
  [[ $(steps_of | grep -c CACHED) -eq 2 ]]
  (( $(sqlite3 "$TUG_ROOT/tug.db" 'PRAGMA user_version') >= 6 ))
  # rows from before say nothing about a miss; new ones do
  echo b >"$CTX/a.txt"
  build -t old "$CTX"
  refute_match 'cache miss'
  echo c >"$CTX/a.txt"
  build -t old "$CTX"
  assert_match 'cache miss: COPY source a.txt changed'
}

@test "the terminal view keeps the reason of a miss under its step" {
  ctx
  printf 'FROM busybox\nCOPY a.txt /a.txt\n' >"$CTX/Dockerfile"
  echo a >"$CTX/a.txt"
  build -t viewed "$CTX"
  echo b >"$CTX/a.txt"
  run script -qec "timeout 60 '$TUG' build -t viewed '$CTX'" /dev/null
  [[ $status -eq 0 ]]
  assert_match ' => \[2/2\] COPY a.txt /a.txt +[0-9.]+s'
  assert_match ' => => # cache miss: COPY source a.txt changed'
}
