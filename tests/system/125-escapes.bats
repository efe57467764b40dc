#!/usr/bin/env bats
# Ways out of a container that were found open, each shut and kept shut: exec's helper seen from
# inside, the caller's stdio and inherited fds handed in, bind mounts that stayed writable or
# did not propagate, hostile images (a FIFO for /etc/passwd, 128 layers).
# Each test says what docker 20.10 (runc 1.1) gives for the same attempt.

load containers

# containers.bash's teardown, then what a test mounted on the host under its own directory
eval "_containers_teardown() $(declare -f teardown | sed 1d)"
teardown() {
  _containers_teardown
  # a mount covered by a later one (a bind of its parent) is reached once that one is gone
  local m pass
  for pass in 1 2 3 4; do
    for m in $(awk -v r="$BATS_TEST_TMPDIR/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
      umount -l "$m" 2>/dev/null
    done
  done
  return 0
}

setup_file() {
  containers_setup_file || return
  gcc -static -O2 -o "$BATS_FILE_TMPDIR/exec_race_probe" "$BATS_TEST_DIRNAME/../fixtures/exec_race_probe.c"
}

# A path on the host that no container has.
host_marker() {
  MARKER=$BATS_TEST_TMPDIR/host-marker
  touch "$MARKER"
}

@test "exec: no process entering a container can be used to reach the host (200 execs raced)" {
  # docker: runc's exec is non-dumpable and holds no host fd once it joins (CVE-2016-9962)
  host_marker
  run_tug run -d --name prober -v "$BATS_FILE_TMPDIR/exec_race_probe:/probe:ro" busybox \
    /probe "$MARKER" /tmp/stop
  local i
  for i in $(seq 200); do
    timeout 30 "$TUG" exec prober true || { echo "exec $i failed" >&2; false; }
  done
  run_tug exec prober touch /tmp/stop
  run_tug wait prober
  run_tug logs prober
  echo "$output" | head -5
  assert_match '^hits 0 pids [0-9]+'
  local seen
  seen=$(sed -n 's/^hits 0 pids \([0-9]*\).*/\1/p' <<<"$output")
  # the prober saw the exec'd processes come and go, so it had its chances
  ((seen >= 100)) || { echo "the prober saw only $seen processes" >&2; false; }
}

@test "exec: the command gets pipes, never the caller's own stdin, stdout and stderr" {
  # docker: stdio of an exec is always pipes (or the exec's own pty)
  run_tug run -d --name box busybox sleep 600
  local out=$BATS_TEST_TMPDIR/out
  timeout 30 "$TUG" exec box sh -c 'for f in 0 1 2; do echo "$f $(readlink /proc/$$/fd/$f)"; done' \
    >"$out" 2>&1 </dev/null
  cat "$out"
  grep -qE '^0 (/dev/null|pipe:)' "$out"
  grep -qE '^1 pipe:' "$out"
  grep -qE '^2 pipe:' "$out"
  # what is written goes through: stdout and stderr apart, stdin with -i, the exit status
  run_tug exec box sh -c 'echo to-out; echo to-err >&2'
  assert_match '^to-out$'
  timeout 30 "$TUG" exec box sh -c 'echo to-out; echo to-err >&2' 2>/dev/null >"$out"
  [[ $(cat "$out") == to-out ]]
  run bash -c "printf 'line1\nline2\n' | timeout 30 '$TUG' exec -i box sh -c 'cat; exit 3'"
  [[ $status -eq 3 ]]
  [[ $output == $'line1\nline2' ]]
  # without -i the command reads end-of-file at once
  run bash -c "echo typed | timeout 30 '$TUG' exec box cat"
  [[ $status -eq 0 && -z $output ]]
}

@test "exec: a large output arrives whole and in order" {
  run_tug run -d --name box busybox sleep 600
  timeout 60 "$TUG" exec box sh -c 'seq 1 200000' >"$BATS_TEST_TMPDIR/seq"
  seq 1 200000 | cmp - "$BATS_TEST_TMPDIR/seq"
}

@test "fds the caller left open never reach the container (run, run -d, exec, the monitor)" {
  # docker: the CLI's fds never reach runc; runc closes the rest (CVE-2024-21626)
  local dir=$BATS_TEST_TMPDIR/hostdir
  mkdir -p "$dir"
  echo secret >"$dir/file"
  exec 7<"$dir" 8<"$dir/file" 9>>"$dir/file"
  # ls lists 0, 1, 2 and the directory it reads
  run_tug run --rm busybox ls /proc/self/fd
  assert_output $'0\n1\n2\n3'
  run_tug 1 run --rm busybox cat /proc/self/fd/7/file
  refute_match secret
  run_tug 1 run --rm busybox sh -c 'echo x >/proc/self/fd/9'
  run_tug 1 run --rm busybox sh -c 'echo x >/proc/self/fd/7/new'
  [[ $(ls -A "$dir") == file && $(cat "$dir/file") == secret ]]
  run_tug run -d --name box busybox sh -c 'ls /proc/self/fd; sleep 600'
  wait_until 10 logs_match box '^2$'
  run_tug logs box
  assert_output $'0\n1\n2\n3'
  run_tug exec box sh -c 'ls /proc/self/fd'
  assert_output $'0\n1\n2\n3'
  run_tug exec box ls /proc/1/fd
  assert_output $'0\n1\n2'
  local id mon
  id=$(inspect_f box '{{.Id}}')
  mon=$(pgrep -f "^tug-monitor --id $id")
  [[ -n $mon ]]
  ls -l "/proc/$mon/fd"
  run ls -l "/proc/$mon/fd"
  refute_match "$dir"
  exec 7<&- 8<&- 9>&-
}

@test "exec never runs on the host: a container stopped while exec joins it is an error" {
  # docker: exec into a stopped container is "Container ... is not running", exit 1
  run_tug run -d --name box --hostname inside busybox sleep 600
  local out=$BATS_TEST_TMPDIR/execs i
  for i in $(seq 40); do
    timeout 30 "$TUG" exec box hostname >>"$out" 2>&1 || true
  done &
  local loop=$!
  sleep 0.3
  run_tug kill box
  wait "$loop"
  run_tug 1 exec box hostname
  assert_match 'is not running'
  cat "$out"
  # every exec either ran inside or failed; none ran with the host's name
  if grep -qx "$(hostname)" "$out"; then
    echo "an exec ran on the host" >&2
    false
  fi
  grep -qx inside "$out"
}

# A host directory with a tmpfs mounted under it, as a bind source.
bind_source() {
  SRC=$BATS_TEST_TMPDIR/src
  mkdir -p "$SRC/sub"
  mount -t tmpfs -o size=1m tugtest "$SRC/sub"
  echo below >"$SRC/sub/file"
}


@test "a :ro bind is read-only all the way down, submounts included" {
  # docker 20.10: the tmpfs under the source stays writable; docker 25+: read-only (as here)
  bind_source
  run_tug 1 run --rm -v "$SRC:/m:ro" busybox sh -c 'cat /m/sub/file; touch /m/sub/new'
  assert_match '^below$'
  assert_match 'Read-only file system'
  run_tug 1 run --rm --mount "type=bind,src=$SRC,dst=/m,readonly" busybox touch /m/sub/new
  assert_match 'Read-only file system'
  [[ ! -e $SRC/sub/new ]]
  # without :ro both are writable
  run_tug run --rm -v "$SRC:/m" busybox sh -c 'touch /m/top /m/sub/new'
  [[ -e $SRC/top && -e $SRC/sub/new ]]
}

@test "bind-nonrecursive leaves the source's submounts out; the default brings them" {
  # docker: the same (BindOptions.NonRecursive)
  bind_source
  run_tug run --rm --mount "type=bind,src=$SRC,dst=/m,bind-nonrecursive" busybox ls -A /m/sub
  assert_output ''
  run_tug run --rm --mount "type=bind,src=$SRC,dst=/m" busybox ls -A /m/sub
  assert_output file
  run_tug create --name nr --mount "type=bind,src=$SRC,dst=/m,bind-nonrecursive" busybox true
  assert_inspect nr '{{(index .HostConfig.Mounts 0).BindOptions.NonRecursive}}' true
}

@test "bind propagation: rslave sees what the host mounts later; the default rprivate does not" {
  # docker: the same; the source must sit on a shared mount for rslave to mean anything
  bind_source
  mount --bind "$SRC" "$SRC"
  mount --make-rshared "$SRC"
  run_tug run -d --name slave -v "$SRC:/m:rslave" busybox sleep 600
  run_tug run -d --name private -v "$SRC:/m" busybox sleep 600
  mkdir -p "$SRC/later"
  mount -t tmpfs -o size=1m tuglater "$SRC/later"
  echo late >"$SRC/later/file"
  run_tug exec slave cat /m/later/file
  assert_output late
  run_tug 1 exec private cat /m/later/file
  run_tug inspect -f '{{(index .Mounts 0).Propagation}}' slave
  assert_output rslave
}

@test "bind propagation: rshared carries the container's mounts to the host, and nothing else" {
  # docker: the same (the root becomes rshared; the rootfs itself never shows on the host)
  bind_source
  mount --bind "$SRC" "$SRC"
  mount --make-rshared "$SRC"
  # busybox's layers mounted first (an EROFS store keeps one shared mount per layer)
  run_tug run --rm busybox true
  local before
  before=$(grep -c . /proc/self/mountinfo)
  run_tug run -d --name shared --privileged -v "$SRC:/m:rshared" busybox sleep 600
  run_tug exec shared sh -c 'mkdir -p /m/fromctr && mount -t tmpfs ctr /m/fromctr && echo hi >/m/fromctr/f'
  [[ $(cat "$SRC/fromctr/f") == hi ]]
  # the one new mount on the host is the container's tmpfs
  (( $(grep -c . /proc/self/mountinfo) == before + 1 ))
  run_tug rm -f shared
  umount "$SRC/fromctr"
  (( $(grep -c . /proc/self/mountinfo) == before ))
  # a container that asks for nothing leaves the host's mount table as it was
  run_tug run --rm -v "$SRC:/m" busybox sh -c 'cat /proc/mounts >/dev/null'
  (( $(grep -c . /proc/self/mountinfo) == before ))
}

# import_rootfs TAG EDIT: a busybox rootfs changed by the shell command EDIT (run in it), as TAG.
import_rootfs() {
  local dir=$BATS_TEST_TMPDIR/rootfs-$1
  fixture_rootfs "$dir" >/dev/null
  (cd "$dir" && eval "$2")
  tar -C "$dir" -cf "$dir.tar" .
  run_tug import -c 'CMD ["sh"]' "$dir.tar" "$1"
}

@test "a FIFO or a device at the image's /etc/passwd or /etc/group is an error, not a hang" {
  # docker 20.10: `docker run` hangs forever on the FIFO, and so does `docker rm -f` after it
  import_rootfs fifo:1 'rm etc/passwd && mkfifo etc/passwd'
  run_tug 125 run --rm fifo:1 true
  assert_match 'unable to read /etc/passwd: not a regular file'
  run_tug 125 run --rm -u nobody fifo:1 true
  assert_match '/etc/passwd: not a regular file'
  import_rootfs fifogroup:1 'rm etc/group && mkfifo etc/group'
  run_tug 125 run --rm fifogroup:1 true
  assert_match 'unable to read /etc/group: not a regular file'
  # a container that makes the FIFO itself: exec is refused the same way, rm -f still works
  run_tug run -d --name box busybox sh -c 'rm /etc/passwd; mkfifo /etc/passwd; echo ready; sleep 600'
  wait_until 10 logs_match box '^ready$'
  # (126 with docker's "unable to start container process" words, as any exec that cannot start)
  run_tug 126 exec box true
  assert_match 'not a regular file'
  run_tug rm -f box
  # /etc/passwd pointing at an endless device is refused as well
  import_rootfs zero:1 'rm etc/passwd && ln -s /dev/zero etc/passwd'
  run_tug 125 run --rm zero:1 true
  assert_match '/etc/passwd: not a regular file'
  # an image without /etc/passwd runs as root, as with docker
  import_rootfs nopasswd:1 'rm etc/passwd etc/group'
  run_tug run --rm nopasswd:1 id -u
  assert_output 0
}

@test "sysctls: docker's two per-network defaults; --sysctl sets namespaced ones and refuses the host's" {
  # docker: the same
  run_tug run --rm busybox cat /proc/sys/net/ipv4/ping_group_range /proc/sys/net/ipv4/ip_unprivileged_port_start
  assert_output $'0\t2147483647\n0'
  # with the host's network the host's values are left alone
  run_tug run --rm --network host busybox cat /proc/sys/net/ipv4/ip_unprivileged_port_start
  assert_output "$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)"
  # --sysctl sets the container's own namespaced ones; the host's stay as they were
  local host_shmmax
  host_shmmax=$(cat /proc/sys/kernel/shmmax)
  run_tug run --rm --sysctl net.ipv4.ip_forward=1 --sysctl kernel.shmmax=123456 busybox \
    cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax
  assert_output $'1\n123456'
  [[ $(cat /proc/sys/kernel/shmmax) == "$host_shmmax" ]]
  # docker: host-wide keys, and net.* on the host's network, are refused before anything runs
  run_tug 125 run --rm --sysctl kernel.core_pattern=x busybox true
  assert_match "sysctl 'kernel.core_pattern' cannot be set in a container"
  run_tug 125 run --rm --network host --sysctl net.ipv4.ip_forward=1 busybox true
  assert_match "on the host's network"
  run_tug 125 run --rm --sysctl nokey busybox true
  assert_match 'invalid argument "nokey" for "--sysctl" flag'
  run_tug ps -aq
  assert_output ''
}

# push_layers REF N: an image of N layers made by umoci: busybox, then N-1 layers adding
# /layers/<i>/n holding i; pushed by skopeo.
push_layers() {
  local ref=$1 n=$2 tmp=$BATS_TEST_TMPDIR/layers L i
  L=$tmp/oci
  mkdir -p "$tmp"
  umoci init --layout "$L" && umoci new --image "$L:t" || return
  fixture_rootfs "$tmp/rootfs" >/dev/null && _fixture_add_tar "$L:t" "$tmp/rootfs" busybox || return
  for ((i = 2; i <= n; i++)); do
    mkdir -p "$tmp/l$i/layers/$i" && echo "$i" >"$tmp/l$i/layers/$i/n"
    _fixture_add_tar "$L:t" "$tmp/l$i" "layer $i" || return
  done
  umoci config --image "$L:t" --config.cmd sh &&
    skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$L:t" "docker://$REGISTRY/$ref" >/dev/null
}

@test "an image of 128 layers runs: the overlay's options fit however many layers there are" {
  # docker: runs up to 125 layers (its own limit); tug before: ~40, then mount(2)'s one page
  push_layers many:128 128
  run_tug pull -q "$REGISTRY/many:128"
  run_tug history -q "$REGISTRY/many:128"
  [[ ${#lines[@]} -ge 128 ]]
  run_tug run --rm "$REGISTRY/many:128" sh -c 'ls /layers | wc -l; cat /layers/2/n /layers/128/n'
  assert_output $'127\n2\n128'
  # the root's mount options name no path of the host's store (docker's name its layers)
  run_tug run --rm "$REGISTRY/many:128" grep ' / / ' /proc/self/mountinfo
  assert_match 'lowerdir=l/0:l/1:.*:l/127,upperdir=upper,workdir=work'
  refute_match "$TUG_ROOT"
}

@test "a store whose path holds a comma runs containers (the overlay's options name no store path)" {
  export TUG_ROOT=$BATS_TEST_TMPDIR/a,b
  run_tug pull -q "$REGISTRY/busybox"
  run_tug run --rm "$REGISTRY/busybox" echo fine
  assert_output fine
}
