#!/usr/bin/env bats
# The escape suite: what an attacker inside a container tries, from a default container and,
# where it matters, from --cap-drop ALL, -u nobody and --read-only; --privileged only for
# contrast, and only with attempts that change nothing on the host. Each test states what docker
# 20.10.24 (runc 1.1.5, default seccomp profile, no AppArmor) gave for the same attempt on this
# kind of VM (kernel 6.18, hybrid cgroups). docker --privileged does not start on these VMs
# (runc: "unable to apply caps": the VM's bounding set lacks CAP_SYS_RESOURCE), so the
# --privileged contrasts are tug's alone.
# Device cgroup rules (mknod and open of kvm, loop, vcs) are 126-devices.bats'; exec races and
# inherited fds are 125-escapes.bats'.

load containers

setup_file() {
  containers_setup_file || return
  # one static system-call prober, bind-mounted into the containers as /probe
  gcc -static -O2 -o "$BATS_FILE_TMPDIR/escape-probe" "$BATS_TEST_DIRNAME/../fixtures/escape-probe.c" || return
  # a setuid-root copy for the no-new-privileges test; bats' run directory is 0700, so no other
  # user of the host reaches it
  cp "$BATS_FILE_TMPDIR/escape-probe" "$BATS_FILE_TMPDIR/suid-probe" &&
    chown 0:0 "$BATS_FILE_TMPDIR/suid-probe" && chmod 4755 "$BATS_FILE_TMPDIR/suid-probe"
}

# run_probe [STATUS] RUN-FLAGS... -- SCRIPT: run SCRIPT under sh in a busybox container that has
# the prober at /probe.
run_probe() {
  local status=0 flags=()
  if [[ $1 =~ ^[0-9]+$ || $1 == '?' ]]; then status=$1; shift; fi
  while [[ $1 != -- ]]; do flags+=("$1"); shift; done
  shift
  run_tug "$status" run --rm "${flags[@]}" -v "$BATS_FILE_TMPDIR/escape-probe:/probe:ro" busybox sh -c "$1"
}

# Every variant an attacker may find itself in; --privileged is never among them.
unprivileged_variants=("" "--cap-drop ALL" "-u nobody")

@test "mount, bind of /, remounts rw and unmounting masks are refused, also with the new mount API" {
  # docker: every mount and umount below "permission denied (are you root?)" / "Operation not
  # permitted" (seccomp allows mount only with CAP_SYS_ADMIN); fsopen and open_tree EPERM.
  local v
  for v in "${unprivileged_variants[@]}"; do
    # shellcheck disable=SC2086
    run_probe $v -- '
      mkdir -p /tmp/a /tmp/b /tmp/c
      mount -t tmpfs none /tmp/a; echo "tmpfs $?"
      mount -t proc proc /tmp/b; echo "proc $?"
      mount --bind / /tmp/c; echo "bind $?"
      mount -o remount,rw /proc/sys; echo "remount-proc-sys $?"
      mount -o remount,rw /sys; echo "remount-sys $?"
      umount /proc/sys; echo "umount-proc-sys $?"
      umount /proc/keys; echo "umount-proc-keys $?"
      /probe fsopen; /probe open_tree; true'
    local what
    for what in tmpfs proc bind remount-proc-sys remount-sys umount-proc-sys umount-proc-keys; do
      assert_match "^$what 1$"
    done
    refute_match ' 0$'
    assert_match '^fsopen: EPERM$'
    assert_match '^open_tree: EPERM$'
    assert_match 'mount: permission denied'
  done
  # docker --read-only: "mount: permission denied", then "touch: /x: Read-only file system"
  run_probe 1 --read-only -- 'mount -o remount,rw /; touch /x'
  assert_match 'mount: permission denied'
  assert_match 'touch: /x: Read-only file system'
  # contrast: --privileged has the new mount API too
  run_probe --privileged -- '/probe fsopen'
  assert_output 'fsopen: ok'
}

@test "/proc/sys, sysrq-trigger and core_pattern cannot be written, nor the hostname set" {
  # docker: each write "Read-only file system" (/proc/sys is a read-only bind);
  # /proc/sysrq-trigger "Read-only file system" where the kernel has it ("nonexistent
  # directory" on these VMs, built without SysRq); hostname "sethostname: Operation not
  # permitted". The host's values stay as they were.
  local core_pattern hostname v f
  core_pattern=$(</proc/sys/kernel/core_pattern)
  hostname=$(</proc/sys/kernel/hostname)
  for v in "${unprivileged_variants[@]}"; do
    # shellcheck disable=SC2086
    run_probe 1 $v -- '
      for f in kernel/hostname kernel/domainname vm/drop_caches kernel/core_pattern \
               kernel/panic net/ipv4/ip_forward; do
        echo "|/tmp/pwn" >/proc/sys/$f && echo "wrote $f"
      done
      echo h >/proc/sysrq-trigger && echo "wrote sysrq-trigger"
      hostname pwned && echo "hostname set"
      exit 1'
    refute_match '^(wrote|hostname set)'
    for f in kernel/hostname kernel/domainname vm/drop_caches kernel/core_pattern kernel/panic \
      net/ipv4/ip_forward; do
      assert_match "can't create /proc/sys/$f: Read-only file system"
    done
    if [[ -e /proc/sysrq-trigger ]]; then
      assert_match "can't create /proc/sysrq-trigger: Read-only file system"
    else
      assert_match "can't create /proc/sysrq-trigger: nonexistent directory"
    fi
    assert_match 'sethostname: Operation not permitted'
  done
  [[ $(</proc/sys/kernel/core_pattern) == "$core_pattern" ]]
  [[ $(</proc/sys/kernel/hostname) == "$hostname" ]]
}

@test "/sys and the container's cgroupfs cannot be written" {
  # docker: every write and mkdir below "Read-only file system" (sysfs ro; each cgroup v1
  # hierarchy a read-only mount), except that docker's /sys/fs/cgroup itself is a writable tmpfs
  # (a file can be created there, harmlessly); tug mounts it read-only.
  local v
  for v in "${unprivileged_variants[@]}"; do
    # shellcheck disable=SC2086
    run_probe 1 $v -- '
      for f in /sys/kernel/uevent_helper /sys/kernel/mm/transparent_hugepage/enabled \
               /sys/class/net/eth0/mtu /sys/fs/cgroup/*/cgroup.procs /sys/fs/cgroup/*/tasks \
               /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes \
               /sys/fs/cgroup/devices/devices.allow /sys/fs/cgroup/cpu/cpu.shares; do
        [ -e "$f" ] || continue
        echo "checked $f"
        echo 1 >"$f" && echo "wrote $f"
      done
      for d in /sys/fs/cgroup /sys/fs/cgroup/*/; do mkdir "$d/pwn" && echo "made $d/pwn"; done
      exit 1'
    refute_match '^(wrote|made) '
    refute_match 'Invalid argument|Permission denied$' # each must fail for being read-only
    assert_match '^checked /sys/class/net/eth0/mtu$'
    assert_match "can't create /sys/class/net/eth0/mtu: Read-only file system"
    assert_match "can't create /sys/fs/cgroup/[a-z]+/cgroup.procs: Read-only file system"
    assert_match "mkdir: can't create directory '/sys/fs/cgroup/pwn': Read-only file system"
    assert_match "mkdir: can't create directory '/sys/fs/cgroup/[a-z_=]+//pwn': Read-only file system"
  done
}

@test "the cgroup v1 release_agent trick fails" {
  # docker: mount -t cgroup "permission denied (are you root?)"; release_agent and
  # notify_on_release "Read-only file system" (the container's hierarchies show its own cgroup,
  # where release_agent does not exist, on a read-only mount).
  # docker --cap-add SYS_ADMIN (no AppArmor here): the mount succeeds in the host's cgroup
  # namespace and release_agent is there to write: the classic escape. tug gives every container
  # its own cgroup namespace, so a mount shows the container's cgroup and no release_agent.
  run_probe 1 -- '
    mkdir -p /tmp/cg
    mount -t cgroup -o memory cgroup /tmp/cg && echo mounted
    mount -t cgroup -o rdma,release_agent=/tmp/x cgroup /tmp/cg && echo mounted rdma
    for d in /sys/fs/cgroup/*/; do
      echo /tmp/x >"$d/release_agent" && echo "wrote $d"
      echo 1 >"$d/notify_on_release" && echo "notify on $d"
    done
    exit 1'
  refute_match '^(mounted|wrote|notify)'
  assert_match 'mount: permission denied'
  assert_match "can't create /sys/fs/cgroup/memory//release_agent: Read-only file system"
  assert_match "can't create /sys/fs/cgroup/memory//notify_on_release: Read-only file system"
  # never write release_agent here, even where it would be refused: only look for it
  run_probe --cap-add SYS_ADMIN -- '
    mkdir -p /tmp/cg && mount -t cgroup -o memory cgroup /tmp/cg && echo mounted
    ls /tmp/cg | grep -c release_agent; grep memory /proc/self/cgroup'
  assert_match '^mounted$'
  assert_match '^0$'
  assert_match '^[0-9]+:memory:/$'
}

@test "masked /proc files and /sys/firmware read as empty; the kernel log is out of reach" {
  # docker: /proc/keys and /proc/timer_list read 0 bytes (bound over by /dev/null), /proc/kcore
  # and /proc/sched_debug absent (as on the host here), /proc/acpi and /sys/firmware empty;
  # dmesg "klogctl: Operation not permitted", /proc/kmsg unreadable. --privileged: unmasked.
  local v f
  for v in "${unprivileged_variants[@]}"; do
    # shellcheck disable=SC2086
    run_probe $v -- '
      for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/latency_stats \
               /proc/timer_stats; do
        if [ -e $f ]; then echo "$f $(wc -c <$f) bytes"; else echo "$f absent"; fi
      done
      for d in /proc/acpi /proc/asound /proc/scsi /sys/firmware; do
        [ -e $d ] && echo "$d $(ls -A $d | wc -l) entries"
      done
      dmesg >/dev/null || echo "dmesg refused"
      head -c 1 /proc/kmsg >/dev/null || echo "kmsg refused"
      exit 0'
    for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/latency_stats \
      /proc/timer_stats; do
      if [[ -e $f ]]; then assert_match "^$f (0 bytes|absent)$"; else assert_match "^$f absent$"; fi
    done
    refute_match ' [1-9][0-9]* (bytes|entries)$'
    [[ ! -e /sys/firmware ]] || assert_match '^/sys/firmware 0 entries$'
    assert_match 'klogctl: Operation not permitted'
    assert_match '^dmesg refused$'
    assert_match '^kmsg refused$'
  done
  # contrast: --privileged unmasks them, as docker's does
  if [[ -r /proc/timer_list ]]; then
    run_probe --privileged -- 'wc -c </proc/timer_list'
    [[ $output -gt 0 ]]
  fi
}

@test "module loading, kexec, reboot, swapon and settimeofday are refused" {
  # docker: init_module, finit_module, delete_module, kexec_load, kexec_file_load, reboot,
  # swapon and settimeofday all EPERM (seccomp: each needs its capability). The prober's
  # arguments are harmless when allowed (bad reboot magic, missing swap file, NULL time).
  local calls="init_module finit_module delete_module kexec_load kexec_file_load reboot swapon"
  calls+=" settimeofday"
  local v c
  for v in "${unprivileged_variants[@]}"; do
    # shellcheck disable=SC2086
    run_probe $v -- "for c in $calls; do /probe \$c; done; true"
    for c in $calls; do assert_match "^$c: EPERM$"; done
  done
  # contrast: --privileged gets past seccomp and the capability checks to the arguments
  run_probe --privileged -- "for c in $calls; do /probe \$c; done; true"
  assert_match '^reboot: EINVAL$'
  assert_match '^swapon: ENOENT$'
  assert_match '^settimeofday: ok$'
  assert_match '^delete_module: (ENOENT|ENOSYS)$' # ENOSYS: a kernel without modules
  refute_match ': EPERM$'
}

@test "keyctl and add_key are refused: the kernel keyring is not per container" {
  # docker: keyctl and add_key EPERM (not in the default profile at all), with --cap-add
  # SYS_ADMIN too.
  local v
  for v in "${unprivileged_variants[@]}" "--cap-add SYS_ADMIN"; do
    # shellcheck disable=SC2086
    run_probe $v -- '/probe keyctl; /probe add_key; true'
    assert_match '^keyctl: EPERM$'
    assert_match '^add_key: EPERM$'
  done
  run_probe --privileged -- '/probe keyctl'
  assert_output 'keyctl: ok'
}

@test "kernel attack surface docker 20.10 leaves open is closed: vsock, AF_ALG, io_uring; bpf and perf refused" {
  # docker 20.10.24: socket(AF_VSOCK) ok (reaches the VM's host agents), socket(AF_ALG) passes
  # seccomp (EAFNOSUPPORT from this kernel), io_uring_setup passes (EFAULT); bpf and
  # perf_event_open EPERM. tug follows docker's newer profiles: all five EPERM.
  run_probe -- 'for c in vsock_socket alg_socket io_uring_setup bpf perf_event_open; do /probe $c; done; true'
  local c
  for c in vsock_socket alg_socket io_uring_setup bpf perf_event_open; do
    assert_match "^$c: EPERM$"
  done
}

@test "no host process or other container is visible: kill and ptrace by pid find nothing" {
  # docker: from a container, kill -0 and ptrace of another container's host pid and of its
  # containerd-shim's pid: "No such process" / ESRCH, /proc/PID absent; "pid 1 of the host" is
  # the container's own init. ptrace of the container's own processes works (docker allows
  # ptrace from kernel 4.8 on). kill -9 -1 reaches only the container's own processes.
  run_tug run -d --name other busybox sleep 300
  local other mon
  other=$(inspect_f other '{{.State.Pid}}')
  mon=$(ps -o ppid= -p "$other" | tr -d ' ')
  [[ $(cat "/proc/$mon/comm") == tug-monitor ]] || { echo "pid $mon is not other's monitor"; false; }
  run_probe -- "
    for p in $other $mon; do
      kill -0 \$p 2>/dev/null && echo \"kill \$p reached\"
      /probe ptrace \$p
      [ -e /proc/\$p ] && echo \"/proc/\$p visible\"
    done
    echo \"pid 1 is \$(cat /proc/1/comm)\"
    sleep 60 & /probe ptrace \$!
    kill -9 -1; sleep 0.2; true"
  refute_match 'reached|visible'
  [[ $(grep -c '^ptrace: ESRCH$' <<<"$output") -eq 2 ]]
  assert_match '^pid 1 is sh$'
  assert_match '^ptrace: ok$'
  alive "$other"
  alive "$mon"
  assert_inspect other '{{.State.Status}}' running
}

@test "unshare of every namespace and nsenter are refused" {
  # docker: unshare -U, -m, -n, -p, -i, -u each "Operation not permitted" (seccomp allows
  # unshare and namespace flags of clone only with CAP_SYS_ADMIN); nsenter -t 1 -m "can't
  # reassociate to namespace 'mnt': Operation not permitted".
  local v
  for v in "${unprivileged_variants[@]}"; do
    # shellcheck disable=SC2086
    run_probe $v -- '
      for f in U m n p i u; do unshare -$f -f true && echo "unshare -$f worked"; done
      nsenter -t 1 -m true && echo "nsenter worked"; true'
    refute_match 'worked'
    [[ $(grep -c 'unshare: unshare(0x[0-9a-f]*): Operation not permitted' <<<"$output") -eq 6 ]]
    assert_match "nsenter: setns\(\): can't reassociate to namespace 'mnt': Operation not permitted"
  done
  run_probe --privileged -- 'unshare -m -f true && echo "unshare -m worked"'
  assert_output 'unshare -m worked'
}

@test "raw sockets as docker: ping works by default; --cap-drop NET_RAW refuses a raw socket" {
  # docker: default container: raw ICMP socket ok, `ping` of the gateway answers;
  # --cap-drop NET_RAW and -u nobody: raw socket EPERM, busybox ping "permission denied (are you
  # root?)".
  run_probe -- '/probe raw_socket; ping -c 1 -W 5 $(ip route | awk "/^default/ { print \$3 }") >/dev/null && echo pinged'
  assert_match '^raw_socket: ok$'
  assert_match '^pinged$'
  local v
  for v in "--cap-drop NET_RAW" "-u nobody"; do
    # shellcheck disable=SC2086
    run_probe 1 $v -- '/probe raw_socket; ping -c 1 -W 5 $(ip route | awk "/^default/ { print \$3 }")'
    assert_match '^raw_socket: EPERM$'
    assert_match 'ping: permission denied \(are you root\?\)'
  done
}

@test "net.ipv4.ping_group_range and ip_unprivileged_port_start are docker's: ICMP sockets without NET_RAW" {
  # docker 20.10 sets, in every container's own network namespace, ping_group_range to
  # "0 2147483647" and ip_unprivileged_port_start to 0: an ICMP datagram socket (as iputils'
  # ping uses) works with --cap-drop NET_RAW and for -u nobody.
  run_probe -- 'cat /proc/sys/net/ipv4/ping_group_range /proc/sys/net/ipv4/ip_unprivileged_port_start'
  assert_match $'^0\t2147483647$'
  assert_match '^0$'
  local v
  for v in "--cap-drop NET_RAW" "-u nobody"; do
    # shellcheck disable=SC2086
    run_probe $v -- '/probe icmp_socket'
    assert_output 'icmp_socket: ok'
  done
}

@test "the store, tug's run directory and docker's socket are invisible from inside" {
  # docker: /var/lib/docker, /var/run/docker.sock, /run/docker.sock "No such file or
  # directory"; no file of the engine's store is found from the container's /.
  local p
  run_probe 1 -- "
    for p in '$TUG_ROOT' /var/lib/tug /run/tug /var/run/tug /var/lib/docker /var/run/docker.sock \
             /run/docker.sock; do
      ls -d \"\$p\" 2>&1
    done
    find / -xdev \\( -name tug.db -o -name docker.sock -o -name '*.bpf' \\) 2>/dev/null
    exit 1"
  for p in "$TUG_ROOT" /var/lib/tug /run/tug /var/run/tug /var/lib/docker /var/run/docker.sock /run/docker.sock; do
    assert_match "^ls: $p: No such file or directory$"
  done
  refute_match '^/'
}

# The names, kinds and major:minor (in hex, as stat's %t:%T print them) of what is under DIR.
dev_listing='cd "$0" && for f in $(ls -A); do stat -c "%n %F %t:%T" "$f"; done'

# docker's default /dev on a host (as runc makes it: /dev/core only where the host has
# /proc/kcore, which these VMs do not)
docker_dev() {
  printf '%s\n' 'fd symbolic link 0:0' 'full character special file 1:7' \
    'mqueue directory 0:0' 'null character special file 1:3' 'ptmx symbolic link 0:0' \
    'pts directory 0:0' 'random character special file 1:8' 'shm directory 0:0' \
    'stderr symbolic link 0:0' 'stdin symbolic link 0:0' 'stdout symbolic link 0:0' \
    'tty character special file 5:0' 'urandom character special file 1:9' \
    'zero character special file 1:5'
  [[ ! -e /proc/kcore ]] || echo 'core symbolic link 0:0'
}

@test "/dev/pts, /dev/shm, /dev/mqueue and the /proc, /sys and /dev mounts are docker's" {
  # docker: /dev/pts holds ptmx (5:2) alone; /dev/shm and /dev/mqueue are empty; the mounts:
  #   proc /proc proc rw,nosuid,nodev,noexec,relatime
  #   tmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755
  #   devpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=666
  #   sysfs /sys sysfs ro,nosuid,nodev,noexec,relatime
  #   mqueue /dev/mqueue mqueue rw,nosuid,nodev,noexec,relatime
  #   shm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k
  run_probe -- "sh -c '$dev_listing' /dev/pts
    echo \"shm: \$(ls -A /dev/shm | wc -l) mqueue: \$(ls -A /dev/mqueue | wc -l)\"
    cat /proc/mounts"
  assert_match '^ptmx character special file 5:2$'
  [[ $(grep -c 'special file' <<<"$output") -eq 1 ]]
  assert_match '^shm: 0 mqueue: 0$'
  assert_match '^proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0$'
  assert_match '^tmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755 0 0$'
  assert_match '^devpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=666 0 0$'
  assert_match '^sysfs /sys sysfs ro,nosuid,nodev,noexec,relatime 0 0$'
  assert_match '^mqueue /dev/mqueue mqueue rw,nosuid,nodev,noexec,relatime 0 0$'
  assert_match '^shm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k 0 0$'
}

@test "/dev holds only docker's nodes: names and major:minor" {
  # docker (default and --cap-drop ALL alike): exactly docker_dev's list.
  local v
  for v in "" "--cap-drop ALL"; do
    # shellcheck disable=SC2086
    run_probe $v -- "sh -c '$dev_listing' /dev"
    diff <(docker_dev | sort) <(sort <<<"$output") || { echo "tug's /dev differs from docker's (< docker, > tug)"; false; }
  done
}

@test "-t: /dev adds only the console, which is the container's pty" {
  # docker -t: docker_dev's list plus "console character special file 88:0" (136:0, the pty),
  # and /dev/pts holds 0 (88:0) beside ptmx.
  run_tug run --rm -t -v "$BATS_FILE_TMPDIR/escape-probe:/probe:ro" busybox sh -c "sh -c '$dev_listing' /dev; sh -c '$dev_listing' /dev/pts"
  output=${output//$'\r'/}
  diff <({ docker_dev; echo 'console character special file 88:0'; echo '0 character special file 88:0'
    echo 'ptmx character special file 5:2'; } | sort) <(sort <<<"$output") ||
    { echo "tug's /dev with -t differs from docker's (< docker, > tug)"; false; }
}

@test "open_by_handle_at (the shocker escape) is refused" {
  # docker: open_by_handle_at EPERM (seccomp allows it only with CAP_DAC_READ_SEARCH, which
  # no default container has); the handle is the host filesystem's root directory (ext4 inode
  # 2), reached through the bind-mounted /etc/hostname.
  local v
  for v in "${unprivileged_variants[@]}"; do
    # shellcheck disable=SC2086
    run_probe 1 $v -- '/probe open_by_handle_at /etc/hostname'
    assert_output 'open_by_handle_at: EPERM'
  done
  # contrast: --privileged opens the host's / by handle (only opened here, nothing read)
  if [[ $(stat -f -c %T "$TUG_ROOT") == ext2/ext3 ]]; then
    run_probe --privileged -- '/probe open_by_handle_at /etc/hostname'
    assert_output 'open_by_handle_at: ok'
  fi
}

@test "a setuid binary gives nothing under --security-opt no-new-privileges" {
  # docker -u nobody: a setuid-root binary runs with euid 0; with no-new-privileges it keeps
  # euid 65534.
  local suid=(-v "$BATS_FILE_TMPDIR/suid-probe:/suid:ro")
  run_tug run --rm -u nobody "${suid[@]}" busybox /suid euid
  assert_output 'uid=65534 euid=0'
  run_tug run --rm -u nobody --security-opt no-new-privileges "${suid[@]}" busybox /suid euid
  assert_output 'uid=65534 euid=65534'
}
