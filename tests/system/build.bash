# Helpers of the tug build tests (400-499): a context directory, a plain-progress build, and the
# steps a build printed. In a test file, after `load containers`:   load build

# A context directory for the test: CTX, with files written by the caller.
ctx() {
  CTX=$BATS_TEST_TMPDIR/ctx
  mkdir -p "$CTX"
}

# build [STATUS] ARGS...: tug build with plain progress; output in $output, status checked.
build() {
  local status_want=0
  if [[ $1 =~ ^[0-9]+$ ]]; then status_want=$1; shift; fi
  run_tug "$status_want" build --progress plain "$@"
}

# The step lines of a plain build, as "[2/4] COPY a /a CACHED" or "... DONE".
steps_of() {
  awk '/^#[0-9]+ \[[0-9a-z -]*[0-9]+\/[0-9]+\]/ { n = $1; sub(/^#[0-9]+ /, ""); name[n] = $0; order[++k] = n }
       /^#[0-9]+ (CACHED|DONE)/ { if ($1 in name) state[$1] = $2 }
       END { for (i = 1; i <= k; i++) print name[order[i]] " " state[order[i]] }' <<<"$output"
}

# descendants PID: every process below PID, one a line.
descendants() {
  local p
  for p in $(pgrep -P "$1"); do
    echo "$p"
    descendants "$p"
  done
}
