#!/usr/bin/env bats
# What a container can see and do: namespaces, masked /proc, capabilities, seccomp, devices,
# read-only root, users, --init.

load containers

setup_file() { containers_setup_file; }

@test "the command is PID 1 and sees only the container's processes" {
  run_tug run --rm busybox sh -c 'echo $$; ps -o pid,comm; exit 0'
  [[ ${lines[0]} == 1 ]]
  [[ ${#lines[@]} -eq 4 ]]   # the PID, the header, sh and ps
  assert_match '^ +1 sh$'
}

@test "the hostname is the container's short ID" {
  run_tug run --rm busybox hostname
  [[ $output =~ ^[0-9a-f]{12}$ ]]
  run_tug create --name named busybox hostname
  run_tug start -a named
  assert_output "$(inspect_f named '{{.Id}}' | cut -c1-12)"
  [[ $(hostname) != "$output" ]]
}

@test "a container cannot mount filesystems" {
  run_tug 1 run --rm busybox sh -c 'mkdir -p /mnt/t && mount -t tmpfs none /mnt/t'
  assert_match 'permission denied'
}

@test "/proc/sys is read-only" {
  run_tug 1 run --rm busybox sh -c 'echo tug >/proc/sys/kernel/domainname'
  assert_match 'Read-only file system'
}

@test "/proc/kcore and the other sensitive /proc files read as empty" {
  # a masked file is /dev/null (device 1,3); one the host kernel lacks may just be absent
  run_tug run --rm busybox sh -c '
    for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do
      if [ -e $f ]; then echo "$f $(stat -c %t,%T $f) $(wc -c <$f) bytes"; else echo "$f absent"; fi
    done
    echo "/sys/firmware: $(ls /sys/firmware | wc -l) entries"'
  local f
  for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do
    if [[ -e $f ]]; then
      assert_match "^$f 1,3 0 bytes$"
    else
      assert_match "^$f (absent|1,3 0 bytes)$"
    fi
  done
  assert_match '^/sys/firmware: 0 entries$'
}

@test "the default capabilities are docker's; --cap-drop ALL leaves none; --cap-add adds one" {
  run_tug run --rm busybox grep -E '^Cap(Inh|Eff|Bnd|Amb)' /proc/self/status
  assert_match '^CapEff:\s+00000000a80425fb$'
  assert_match '^CapBnd:\s+00000000a80425fb$'
  assert_match '^CapInh:\s+0000000000000000$'
  assert_match '^CapAmb:\s+0000000000000000$'
  run_tug run --rm --cap-drop ALL busybox grep CapEff /proc/self/status
  assert_match '^CapEff:\s+0000000000000000$'
  run_tug run --rm --cap-add SYS_ADMIN busybox grep CapEff /proc/self/status
  assert_match '^CapEff:\s+00000000a82425fb$'
  run_tug run --rm --cap-drop ALL --cap-add CHOWN busybox grep CapEff /proc/self/status
  assert_match '^CapEff:\s+0000000000000001$'
  run_tug 1 run --rm --cap-drop CHOWN busybox chown nobody /tmp
  assert_match 'Operation not permitted'
  run_tug 125 run --rm --cap-add NOPE busybox true
  assert_match 'unknown capability.*NOPE'
  no_containers_left
}

@test "--privileged gives every capability the host has, no seccomp filter, and mount" {
  local host_caps
  host_caps=$(awk '/^CapBnd/ { print $2 }' /proc/self/status)
  run_tug run --rm --privileged busybox sh -c \
    'grep -E "^(CapEff|Seccomp):" /proc/self/status; mkdir /mnt && mount -t tmpfs none /mnt && echo mounted'
  assert_match "^CapEff:\s+$host_caps$"
  assert_match '^Seccomp:\s+0$'
  assert_match '^mounted$'
}

@test "--privileged exposes the host's devices" {
  local dev
  dev=$(ls /sys/block | grep -v -E '^(loop|ram|zram)' | head -1)
  [[ -n $dev && -b /dev/$dev ]] || skip "the host has no disk block device to look for"
  run_tug 1 run --rm busybox ls /dev/$dev
  run_tug run --rm --privileged busybox ls -l /dev/$dev
  assert_match "^b.* /dev/$dev$"
}

@test "seccomp: a blocked system call fails by default and works with seccomp=unconfined" {
  run_tug run --rm busybox grep '^Seccomp:' /proc/self/status
  assert_match '^Seccomp:\s+2$'
  # unshare(CLONE_NEWUSER) is in docker's default profile's blocked list
  run_tug 1 run --rm busybox unshare -U true
  assert_match 'Operation not permitted'
  run_tug run --rm --security-opt seccomp=unconfined busybox unshare -U true
}

@test "--security-opt seccomp=FILE applies that profile; a missing file is an error" {
  cat >"$BATS_TEST_TMPDIR/profile.json" <<'EOF'
{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
EOF
  run_tug 1 run --rm --security-opt seccomp="$BATS_TEST_TMPDIR/profile.json" busybox mkdir /x
  assert_match 'Operation not permitted'
  run_tug run --rm busybox mkdir /x
  run_tug 125 run --rm --security-opt seccomp="$BATS_TEST_TMPDIR/none.json" busybox true
  assert_match "$BATS_TEST_TMPDIR/none.json"
  no_containers_left
}

@test "--security-opt no-new-privileges sets NoNewPrivs" {
  run_tug run --rm busybox grep NoNewPrivs /proc/self/status
  assert_match '^NoNewPrivs:\s+0$'
  run_tug run --rm --security-opt no-new-privileges busybox grep NoNewPrivs /proc/self/status
  assert_match '^NoNewPrivs:\s+1$'
}

@test "--read-only makes / read-only; a --tmpfs is writable up to its size" {
  run_tug '?' run --rm --read-only --tmpfs /tmp:size=1m busybox sh -c '
    touch /file; echo "root: $?"
    echo hi >/tmp/f && echo "tmp: $(cat /tmp/f)"
    dd if=/dev/zero of=/tmp/big bs=1k count=2048 2>&1 | grep -o "No space left on device"
    df -k /tmp | tail -1'
  assert_match 'touch: /file: Read-only file system'
  assert_match '^root: 1$'
  assert_match '^tmp: hi$'
  assert_match '^No space left on device$'
  assert_match '^tmpfs +1024 '
  run_tug run --rm --read-only busybox sh -c 'grep " / " /proc/mounts'
  assert_match ' ro[,\ ]'
}

@test "/dev holds the standard devices and no device of the host" {
  run_tug run --rm busybox sh -c '
    for d in null zero full random urandom tty; do [ -c /dev/$d ] && echo "$d ok"; done
    echo x >/dev/null && echo "null writable"
    echo x >/dev/full || echo "full is full"
    head -c 4 /dev/zero | wc -c
    ls /dev'
  local d
  for d in null zero full random urandom tty; do assert_match "^$d ok$"; done
  assert_match '^null writable$'
  assert_match '^full is full$'
  assert_match '^4$'
  refute_match '^(vda|sda|nvme0n1|kvm|mem|kmsg|loop0)$'
}

@test "/dev/shm is 64m by default and --shm-size sets it" {
  run_tug run --rm busybox df -k /dev/shm
  assert_match ' 65536 .* /dev/shm$'
  run_tug run --rm --shm-size 8m busybox df -k /dev/shm
  assert_match ' 8192 .* /dev/shm$'
  run_tug create --shm-size 8m busybox
  assert_inspect "$output" '{{.HostConfig.ShmSize}}' 8388608
}

@test "--network none has only loopback: the host's own services are out of reach" {
  run_tug run --rm --network none busybox ls /sys/class/net
  assert_output lo
  run_tug run --rm --network none busybox ip -o link
  [[ ${#lines[@]} -eq 1 && ${lines[0]} =~ ^1:\ lo: ]]
  run_tug run --rm --network none busybox ping -c 1 -W 2 127.0.0.1
  # the registry listens on the host's 127.0.0.1: the container's loopback is its own
  local get="printf 'GET /v2/ HTTP/1.0\\r\\n\\r\\n' | nc ${REGISTRY%:*} ${REGISTRY#*:}"
  run timeout 10 busybox sh -c "$get"
  [[ ${lines[0]} =~ ^HTTP/1.[01]\ 200 ]]
  run_tug 1 run --rm --network none busybox sh -c "$get"
  assert_match "can't connect to remote host \(127.0.0.1\): Connection refused"
}

@test "-u nobody runs as uid 65534 and cannot write root's files" {
  run_tug 1 run --rm -u nobody busybox sh -c 'id -u; id -g; touch /root/x'
  [[ ${lines[0]} == 65534 && ${lines[1]} == 65534 ]]
  assert_match 'Permission denied'
  run_tug 1 run --rm -u nobody busybox touch /etc/passwd
}

@test "--init runs the command under tug-init, which passes on its exit status and signals" {
  run_tug run --rm --init busybox sh -c 'echo $$; tr "\0" " " </proc/1/cmdline'
  [[ ${lines[0]} != 1 ]]
  [[ ${lines[1]} =~ ^tug-init\  ]]
  run_tug create --init busybox true
  assert_inspect "$output" '{{.HostConfig.Init}}' true
  run_tug 3 run --rm --init busybox sh -c 'exit 3'
  run_tug run -d --init --name initd busybox \
    sh -c 'trap "echo got TERM; exit 9" TERM; echo ready; while true; do sleep 0.1; done'
  wait_until 10 logs_match initd '^ready$'
  run_tug stop -t 5 initd
  refute_match 'did not exit'
  assert_inspect initd '{{.State.ExitCode}}' 9
}

@test "--init: PID 1 is named tug-init in ps" {
  run_tug run --rm --init busybox cat /proc/1/comm
  assert_output tug-init
}

# zombies PID: how many zombie processes descend from host process PID
zombies_under() {
  ps -e -o pid=,ppid=,stat= | awk -v root="$1" '
    { ppid[$1] = $2; stat[$1] = $3 }
    END {
      for (p in ppid) {
        if (stat[p] !~ /^Z/) continue
        for (q = ppid[p]; q > 1; q = ppid[q]) if (q == root) { n++; break }
      }
      print n + 0
    }'
}

@test "--init reaps orphaned processes that exit; without it they stay zombies" {
  # the subshell's sleep is orphaned, re-parented to PID 1 and exits after 0.1 s
  run_tug run -d --name plain busybox sh -c '(sleep 0.1 &); exec sleep 60'
  run_tug run -d --init --name reaped busybox sh -c '(sleep 0.1 &); exec sleep 60'
  sleep 1
  # without an init, PID 1 (sleep) never waits: the zombie shows that this check can see one
  [[ $(zombies_under "$(inspect_f plain '{{.State.Pid}}')") -ge 1 ]]
  [[ $(zombies_under "$(inspect_f reaped '{{.State.Pid}}')") -eq 0 ]]
}
