#!/usr/bin/env bats
# Device nodes: a default container may make any node (docker keeps CAP_MKNOD) but opens only
# docker's few harmless ones, whether it made the node or an image layer ships it; --device and
# --device-cgroup-rule open one more; --privileged opens all; exec'd processes are held alike.
# Each test's comment says what docker 20.10.24 (runc 1.1.5, this VM) gives for the same.

load containers

setup_file() { containers_setup_file; }

eval "_containers_teardown() $(declare -f teardown | sed 1d)"
teardown() {
  if [[ -f $BATS_TEST_TMPDIR/loop.dev ]]; then
    losetup -d "$(cat "$BATS_TEST_TMPDIR/loop.dev")" || echo "could not detach the loop device" >&2
  fi
  _containers_teardown
}

# A loop device over a file of this test that starts with "tug-loop-marker": LOOP, LOOP_MAJOR,
# LOOP_MINOR. Detached in teardown.
setup_loop() {
  local img=$BATS_TEST_TMPDIR/loop.img
  { printf tug-loop-marker; head -c $((1048576 - 15)) /dev/zero; } >"$img"
  LOOP=$(losetup -f --show "$img")
  echo "$LOOP" >"$BATS_TEST_TMPDIR/loop.dev"
  LOOP_MAJOR=$((16#$(stat -c %t "$LOOP")))
  LOOP_MINOR=$((16#$(stat -c %T "$LOOP")))
  export LOOP LOOP_MAJOR LOOP_MINOR
}

# The nodes the tests try, "name type major minor": KVM, the console's memory, the first
# virtual console, FUSE, and the test's loop device.
host_nodes() {
  printf '%s\n' 'kvm c 10 232' 'vcs c 7 0' 'tty0 c 4 0' 'fuse c 10 229' \
    "loop b $LOOP_MAJOR $LOOP_MINOR"
}

# What a container runs to try nodes: for each "NAME TYPE MAJOR MINOR" on stdin it makes
# DIR/NAME (when told "make"), opens it for reading (only opens: a read of tty0 would wait for
# the console's keyboard) and writes a byte to it. Usage: sh -c "$probe" sh DIR make|keep
probe='exec 2>&1 # one pipe: the lines come in the order written
  dir=$1 make=$2
  while read -r name type major minor; do
    [ "$make" = make ] && mknod "$dir/$name" $type $major $minor && echo "$name: made"
    (exec 3<"$dir/$name") && echo "$name: opened"
    echo x >"$dir/$name" && echo "$name: written"
  done
  true'

# assert_refused DIR NAME...: the output says each node under DIR could be opened neither for
# reading nor for writing (busybox sh's words for EPERM).
assert_refused() {
  local dir=$1 n
  shift
  for n in "$@"; do
    assert_match "^sh: (line [0-9]+: )?can't open '?$dir/$n'?: Operation not permitted$"
    assert_match "^sh: (line [0-9]+: )?can't create $dir/$n: Operation not permitted$"
  done
  refute_match ': (opened|written)$'
}

@test "a default container makes device nodes but cannot open the host's: loop, kvm, vcs, tty0, fuse" {
  # docker 20.10: the same, mknod succeeds and every open fails with "Operation not permitted"
  setup_loop
  run_tug run --rm -i busybox sh -c "$probe" sh /tmp make < <(host_nodes)
  local n
  for n in kvm vcs tty0 fuse loop; do assert_match "^$n: made$"; done
  assert_refused /tmp kvm vcs tty0 fuse loop
  # nothing got through to the loop device's file
  [[ $(head -c 15 "$BATS_TEST_TMPDIR/loop.img") == tug-loop-marker ]]
  [[ $(tail -c +16 "$BATS_TEST_TMPDIR/loop.img" | tr -d '\0' | wc -c) -eq 0 ]]
}

@test "device nodes an image layer ships are no use to a default container either" {
  # docker 20.10 (docker import of the same tar): the same lines, every open refused
  setup_loop
  local rootfs=$BATS_TEST_TMPDIR/rootfs name type major minor
  fixture_rootfs "$rootfs" >/dev/null
  mkdir "$rootfs/nodes"
  while read -r name type major minor; do
    mknod "$rootfs/nodes/$name" "$type" "$major" "$minor"
  done < <(host_nodes)
  tar -C "$rootfs" -cf "$BATS_TEST_TMPDIR/nodes.tar" .
  run_tug import "$BATS_TEST_TMPDIR/nodes.tar" nodes:latest
  run_tug run --rm -i nodes sh -c "ls -ln /nodes; $probe" sh /nodes keep < <(host_nodes)
  # the layer's nodes are there, with the host's numbers
  assert_match "^c[-rwx]{9} +1 0 +0 +10, +232 .* kvm$"
  assert_match "^c[-rwx]{9} +1 0 +0 +7, +0 .* vcs$"
  assert_match "^b[-rwx]{9} +1 0 +0 +$LOOP_MAJOR, +$LOOP_MINOR .* loop$"
  assert_refused /nodes kvm vcs tty0 fuse loop
  [[ $(tail -c +16 "$BATS_TEST_TMPDIR/loop.img" | tr -d '\0' | wc -c) -eq 0 ]]
}

@test "the devices cgroup of a default container holds docker's rules" {
  # docker 20.10 prints these lines (in another order: b *:* m first, c 10:200 before c 136:*)
  [[ -d /sys/fs/cgroup/devices ]] || skip "this host has no cgroup v1 devices controller"
  run_tug run --rm busybox cat /sys/fs/cgroup/devices/devices.list
  [[ $(sort <<<"$output") == "$(sort <<'EOF'
b *:* m
c *:* m
c 1:3 rwm
c 1:5 rwm
c 1:7 rwm
c 1:8 rwm
c 1:9 rwm
c 5:0 rwm
c 5:1 rwm
c 5:2 rwm
c 10:200 rwm
c 136:* rwm
EOF
)" ]] || { echo "devices.list: $output" >&2; false; }
}

# in_pty COMMAND: run COMMAND in a pseudo-terminal of its own (as 160-tty.bats does)
in_pty() {
  timeout 60 script -qefc "$*" /dev/null
}

@test "the harmless nodes work: null, zero, full, random, urandom, ptmx, tun, tty and the ptys" {
  # docker 20.10: the same; /dev/tty without a terminal is "No such device or address" there too
  run_tug run --rm busybox sh -c '
    echo x >/dev/null && echo "null: ok"
    for n in zero full random urandom; do
      [ "$(head -c 4 /dev/$n | wc -c)" = 4 ] && echo "$n: ok"
    done
    exec 3<>/dev/ptmx && echo "ptmx: ok"
    mknod /tmp/tun c 10 200 && exec 4<>/tmp/tun && echo "tun: ok"
    mknod /tmp/null c 1 3 && echo x >/tmp/null && echo "a null made here: ok"
    echo x >/dev/tty
    true'
  local n
  for n in null zero full random urandom ptmx tun "a null made here"; do assert_match "^$n: ok$"; done
  # the kernel's answer, not the cgroup's: there is no terminal
  assert_match "can't create /dev/tty: No such device or address$"
  # with -t: the container's pty and /dev/tty (no --rm: teardown removes it)
  run in_pty "$TUG run -t --name pty busybox sh -c 'echo hi >\$(tty) && echo pts: ok; echo hi >/dev/tty && echo tty: ok'" </dev/null
  [[ $status -eq 0 ]] || { echo "$output" >&2; false; }
  assert_match "pts: ok"
  assert_match "tty: ok"
}

@test "--device gives one node with the host's numbers and its permissions; --device-cgroup-rule adds a rule; inspect shows them as docker" {
  # docker 20.10: the same nodes (modes and numbers of the host's), the marker read back, the
  # write to the read-only kvm refused, fuse opened, vcs still refused; docker inspect prints
  # the same Devices and DeviceCgroupRules
  setup_loop
  run_tug run --name dev --device "$LOOP" --device /dev/kvm:/dev/k:r \
    --device-cgroup-rule 'c 10:229 rmw' busybox sh -c "
      ls -ln $LOOP /dev/k
      head -c 15 $LOOP; echo
      printf written | dd of=$LOOP bs=1 seek=100 conv=notrunc,fsync 2>/dev/null && echo 'loop: written'
      exec 3</dev/k && echo 'k: opens for reading'
      echo x >/dev/k
      mknod /tmp/fuse c 10 229 && exec 4<>/tmp/fuse && echo 'fuse: opens'
      mknod /tmp/vcs c 7 0; cat /tmp/vcs
      true"
  local loop_mode kvm_mode
  loop_mode=$(stat -c %A "$LOOP")
  kvm_mode=$(stat -c %A /dev/kvm)
  assert_match "^${loop_mode} +1 0 +0 +$LOOP_MAJOR, +$LOOP_MINOR .* $LOOP$"
  assert_match "^${kvm_mode} +1 0 +0 +10, +232 .* /dev/k$"
  assert_match '^tug-loop-marker$'
  assert_match '^loop: written$'
  assert_match '^k: opens for reading$'
  assert_match "can't create /dev/k: Operation not permitted$"
  assert_match '^fuse: opens$'
  assert_match "^cat: can't open '/tmp/vcs': Operation not permitted$"
  [[ $(dd if="$BATS_TEST_TMPDIR/loop.img" bs=1 skip=100 count=7 2>/dev/null) == written ]]
  assert_inspect dev '{{json .HostConfig.Devices}}' \
    "[{\"PathOnHost\":\"$LOOP\",\"PathInContainer\":\"$LOOP\",\"CgroupPermissions\":\"rwm\"},{\"PathOnHost\":\"/dev/kvm\",\"PathInContainer\":\"/dev/k\",\"CgroupPermissions\":\"r\"}]"
  assert_inspect dev '{{json .HostConfig.DeviceCgroupRules}}' '["c 10:229 rmw"]'
  # a default container: docker's [] and null
  run_tug create --name plain busybox true
  assert_inspect plain '{{json .HostConfig.Devices}} {{json .HostConfig.DeviceCgroupRules}}' '[] null'
  # created now, started later: the node is made at start
  run_tug create --name later --device "$LOOP:/dev/disk0:r" busybox head -c 15 /dev/disk0
  run_tug start -a later
  assert_output tug-loop-marker
}

@test "--device and --device-cgroup-rule errors are docker's; exit 125 and nothing is created" {
  # docker 20.10: the same messages (after "docker: Error response from daemon:" for the first
  # two), but its create succeeds and the start fails, leaving the container behind, and run
  # exits 127 for "no such file or directory"; tug checks before it creates anything
  run_tug 125 run --rm --device /dev/nope -v devvol:/data busybox true
  assert_output 'Error: error gathering device information while adding custom device "/dev/nope": no such file or directory'
  run_tug 125 create --device /etc/hostname busybox true
  assert_output 'Error: error gathering device information while adding custom device "/etc/hostname": not a device node'
  run_tug 125 run --device /dev/null:/x:q busybox true
  assert_match '^invalid argument "/dev/null:/x:q" for "--device" flag: bad mode specified: q$'
  run_tug 125 run --device /dev/null:rel busybox true
  assert_match '^invalid argument "/dev/null:rel" for "--device" flag: rel is not an absolute path$'
  run_tug 125 run --device a:b:c:d busybox true
  assert_match '^invalid argument "a:b:c:d" for "--device" flag: bad format for path: a:b:c:d$'
  run_tug 125 run --device-cgroup-rule 'x 1:2 r' busybox true
  assert_match "^invalid argument \"x 1:2 r\" for \"--device-cgroup-rule\" flag: invalid device cgroup format 'x 1:2 r'"
  no_containers_left
  run_tug volume ls -q
  assert_output ""
}

@test "--privileged: the host's nodes are there and every one opens (a *:* rwm)" {
  # docker 20.10 gives a *:* rwm and the host's nodes too (its runc cannot start a privileged
  # container on this VM: "unable to apply caps: operation not permitted")
  setup_loop
  run_tug run --rm --privileged busybox sh -c "
    cat /sys/fs/cgroup/devices/devices.list 2>/dev/null
    head -c 15 $LOOP; echo
    exec 3<>/dev/kvm && echo 'kvm: opens'
    mknod /tmp/vcs c 7 0 && head -c 1 /tmp/vcs >/dev/null && echo 'vcs: reads'
    true"
  if [[ -d /sys/fs/cgroup/devices ]]; then assert_match '^a \*:\* rwm$'; fi
  assert_match '^tug-loop-marker$'
  assert_match '^kvm: opens$'
  assert_match '^vcs: reads$'
}

@test "exec'd processes are held by the container's rules, --privileged exec too" {
  # docker 20.10: the same for exec; exec --privileged raises capabilities, not the device
  # cgroup (its runc cannot run exec --privileged on this VM: "unable to apply caps")
  run_tug run -d --name held busybox sleep 300
  run_tug exec held sh -c 'mknod /tmp/kvm c 10 232 && echo made; cat /tmp/kvm; echo x >/dev/null && echo "null: ok"; true'
  assert_match '^made$'
  assert_match "^cat: can't open '/tmp/kvm': Operation not permitted$"
  assert_match '^null: ok$'
  run_tug exec --privileged held sh -c 'cat /tmp/kvm; true'
  assert_match "^cat: can't open '/tmp/kvm': Operation not permitted$"
  # and a --device container's exec gets what its init has
  setup_loop
  run_tug run -d --name given --device "$LOOP" busybox sleep 300
  run_tug exec given head -c 15 "$LOOP"
  assert_output tug-loop-marker
}

@test "on a cgroup v2 host a BPF program holds the same rules for run, exec, --device and --privileged" {
  # A private mount namespace shows tug the cgroup2 tree alone at /sys/fs/cgroup, as a pure v2
  # host has it (see 130-limits.bats); the v1 devices group stays the host's root, which
  # allows everything, so the program is all that holds. docker 20.10 on a v2 host: the same.
  grep -q ' cgroup2 ' /proc/mounts || skip "this kernel has no cgroup2 tree mounted"
  command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
  setup_loop
  run timeout 120 unshare -m --propagation private bash -c '
    set -e
    umount -R /sys/fs/cgroup 2>/dev/null || umount -l /sys/fs/cgroup
    mount -t cgroup2 none /sys/fs/cgroup
    "$TUG" run --rm --network none busybox sh -c \
      "mknod /tmp/kvm c 10 232 && echo run: made; cat /tmp/kvm; echo x >/dev/null && echo run: null ok; true"
    id=$("$TUG" run -d --network none busybox sleep 60)
    echo "v1 devices group: $(grep :devices: /proc/$("$TUG" inspect -f "{{.State.Pid}}" "$id")/cgroup)"
    "$TUG" exec "$id" sh -c "mknod /tmp/kvm c 10 232; cat /tmp/kvm; true"
    "$TUG" rm -f "$id" >/dev/null
    echo "device: $("$TUG" run --rm --network none --device "$LOOP" busybox head -c 15 "$LOOP")"
    "$TUG" run --rm --network none --privileged busybox sh -c "exec 3<>/dev/kvm && echo privileged: kvm opens"'
  echo "$output"
  [[ $status -eq 0 ]]
  assert_match '^run: made$'
  assert_match '^run: null ok$'
  assert_match '^v1 devices group: [0-9]+:devices:/$'
  [[ $(grep -c "^cat: can't open '/tmp/kvm': Operation not permitted$" <<<"$output") -eq 2 ]]
  assert_match '^device: tug-loop-marker$'
  assert_match '^privileged: kvm opens$'
}
