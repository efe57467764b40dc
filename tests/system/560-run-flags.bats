#!/usr/bin/env bats
# The run/create flags docker users pass: each applied (seen from inside the container), shown
# in inspect's HostConfig as docker shows it, listed in --help, and refused with docker's words.

load containers

setup_file() { containers_setup_file; }

@test "run --help and create --help list the flags, -p and -P among them" {
  run_tug run --help
  local f
  for f in '-p, --publish list' '-P, --publish-all' '--group-add list' '--ipc string' \
    '--pid string' '--uts string' '--userns string' '--cgroupns string' '--cpuset-cpus string' \
    '--cpuset-mems string' '--cpu-period int' '--cpu-quota int' '--blkio-weight uint16' \
    '--memory-reservation bytes' '--memory-swappiness int' '--oom-kill-disable' \
    '--oom-score-adj int' '--label-file list' '--domainname string' '--annotation map' \
    '--log-driver string' '--detach-keys string' '--sig-proxy' '-d, --detach' \
    '--network-alias list' '--ip string' '--platform string' '--device-read-bps list' \
    '--device-write-iops list' '--blkio-weight-device list' '--runtime string' '-q, --quiet' \
    '--cgroup-parent string' '--volume-driver string' '--disable-content-trust'; do
    grep -qF -- "$f " <<<"$output" || { echo "run --help lacks $f" >&2; return 1; }
  done
  assert_match '^  -p, --publish list +Publish a container.s port\(s\) to the host$'
  assert_match '^      --oom-score-adj int +Tune host.s OOM preferences \(-1000 to 1000\)$'
  run_tug create --help
  assert_match '^  -P, --publish-all +Publish all exposed ports to random ports$'
  refute_match '(--sig-proxy|-d, --detach|--detach-keys|before running)'
  assert_match '^      --pull string +Pull image before creating'
}

@test "inspect's HostConfig has every key docker's has, with docker's defaults" {
  run_tug create --name plain busybox true
  run_tug inspect -f '{{json .HostConfig}}' plain
  local keys
  keys=$(jq -r 'keys|join(" ")' <<<"$output")
  local k
  for k in Binds ContainerIDFile LogConfig NetworkMode PortBindings RestartPolicy AutoRemove \
    VolumeDriver VolumesFrom CapAdd CapDrop CgroupnsMode Dns DnsOptions DnsSearch ExtraHosts \
    GroupAdd IpcMode Cgroup Links OomScoreAdj PidMode Privileged PublishAllPorts ReadonlyRootfs \
    SecurityOpt UTSMode UsernsMode ShmSize Runtime ConsoleSize Isolation CpuShares Memory \
    NanoCpus CgroupParent BlkioWeight BlkioWeightDevice BlkioDeviceReadBps BlkioDeviceWriteBps \
    BlkioDeviceReadIOps BlkioDeviceWriteIOps CpuPeriod CpuQuota CpuRealtimePeriod \
    CpuRealtimeRuntime CpusetCpus CpusetMems Devices DeviceCgroupRules DeviceRequests \
    KernelMemory KernelMemoryTCP MemoryReservation MemorySwap MemorySwappiness OomKillDisable \
    PidsLimit Ulimits CpuCount CpuPercent IOMaximumIOps IOMaximumBandwidth MaskedPaths \
    ReadonlyPaths; do
    [[ " $keys " == *" $k "* ]] || { echo "HostConfig lacks $k: $keys" >&2; return 1; }
  done
  run_tug inspect -f '{{json .NetworkSettings}}' plain
  keys=$(jq -r 'keys|join(" ")' <<<"$output")
  for k in Bridge SandboxID HairpinMode LinkLocalIPv6Address LinkLocalIPv6PrefixLen Ports \
    SandboxKey SecondaryIPAddresses SecondaryIPv6Addresses EndpointID Gateway GlobalIPv6Address \
    GlobalIPv6PrefixLen IPAddress IPPrefixLen IPv6Gateway MacAddress Networks; do
    [[ " $keys " == *" $k "* ]] || { echo "NetworkSettings lacks $k: $keys" >&2; return 1; }
  done
  run jq -c '[.Dns, .DnsOptions, .DnsSearch, .ExtraHosts, .GroupAdd, .OomScoreAdj, .PidMode,
    .UTSMode, .UsernsMode, .CgroupParent, .CpusetCpus, .MemorySwappiness, .OomKillDisable,
    .BlkioWeight, .ConsoleSize, .IpcMode, .ContainerIDFile]' <<<"$(inspect_f plain '{{json .HostConfig}}')"
  assert_output '[[],[],[],null,null,0,"","","","","",null,false,0,[0,0],"private",""]'
}

@test "--pid, --ipc, --uts, --cgroupns host share the host's namespaces; default ones are the container's own" {
  local ns
  for ns in pid ipc uts cgroup; do
    local host
    host=$(readlink /proc/self/ns/$ns)
    run_tug run --rm busybox readlink /proc/self/ns/$ns
    [[ $output != "$host" ]] || { echo "default $ns namespace is the host's" >&2; return 1; }
  done
  run_tug run --rm --pid host --ipc host --uts host --cgroupns host busybox \
    sh -c 'for n in pid ipc uts cgroup; do readlink /proc/self/ns/$n; done; hostname'
  [[ ${lines[0]} == "$(readlink /proc/self/ns/pid)" ]]
  [[ ${lines[1]} == "$(readlink /proc/self/ns/ipc)" ]]
  [[ ${lines[2]} == "$(readlink /proc/self/ns/uts)" ]]
  [[ ${lines[3]} == "$(readlink /proc/self/ns/cgroup)" ]]
  [[ ${lines[4]} == "$(hostname)" ]]
  run_tug create --name modes --pid host --ipc host --uts host --cgroupns host --userns host busybox true
  assert_inspect modes '{{.HostConfig.PidMode}} {{.HostConfig.IpcMode}} {{.HostConfig.UTSMode}} {{.HostConfig.CgroupnsMode}} {{.HostConfig.UsernsMode}}' \
    "host host host host host"
}

@test "--pid and --ipc container:NAME join a running container's namespaces" {
  run_tug run -d --name private busybox sleep 60
  run_tug 125 create --ipc container:private busybox true
  assert_match "can't join IPC of container private: non-shareable IPC \(hint: use IpcMode:shareable for the donor container\)"
  run_tug run -d --name first --ipc shareable busybox sleep 60
  local pid
  pid=$(inspect_f first '{{.State.Pid}}')
  run_tug exec first sh -c 'echo from-first >/dev/shm/note'
  run_tug run --rm --pid container:first --ipc container:first busybox \
    sh -c 'readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc; ps -o comm | grep -c sleep;
           cat /dev/shm/note; echo from-second >/dev/shm/reply'
  [[ ${lines[0]} == "$(readlink /proc/$pid/ns/pid)" ]]
  [[ ${lines[1]} == "$(readlink /proc/$pid/ns/ipc)" ]]
  [[ ${lines[2]} == 1 ]]
  # and the donor's /dev/shm, both ways
  [[ ${lines[3]} == from-first ]]
  run_tug exec first cat /dev/shm/reply
  assert_output from-second
  run_tug run --rm --ipc none busybox sh -c 'test -d /dev/shm && echo shm || echo no-shm'
  assert_output no-shm
  run_tug 125 run --rm --pid container:nosuch busybox true
  assert_match 'No such container: nosuch'
  run_tug create --name joiner --ipc container:first busybox true
  run_tug stop -t 0 first
  run_tug 125 start joiner
  assert_match 'cannot join IPC of a non running container'
}

@test "--group-add, --oom-score-adj and --domainname are the container's" {
  run_tug run --rm --group-add 1234 --group-add nogroup --oom-score-adj 500 --domainname example.org \
    busybox sh -c 'grep ^Groups: /proc/self/status; cat /proc/self/oom_score_adj; cat /proc/sys/kernel/domainname; id -G'
  assert_match '^Groups:.*\b1234\b'
  [[ ${lines[1]} == 500 ]]
  [[ ${lines[2]} == example.org ]]
  assert_match '\b65534\b' # nogroup, from the image's /etc/group
  run_tug create --name grp --group-add 1234 --group-add nogroup --oom-score-adj -200 --domainname example.org busybox true
  assert_inspect grp '{{json .HostConfig.GroupAdd}} {{.HostConfig.OomScoreAdj}} {{.Config.Domainname}}' \
    '["1234","nogroup"] -200 example.org'
  # exec's processes join them too
  run_tug run -d --name grp2 --group-add 1234 busybox sleep 60
  run_tug exec grp2 id -G
  assert_match '\b1234\b'
  run_tug 125 run --rm --group-add nosuchgroup busybox true
  assert_match 'Unable to find group nosuchgroup'
  run_tug 125 run --rm --oom-score-adj 1001 busybox true
  assert_match 'Invalid value 1001, range for oom score adj is \[-1000, 1000\]'
}

@test "--cpuset-cpus, --cpu-period, --cpu-quota, --memory-reservation, --memory-swappiness, --oom-kill-disable set the cgroup" {
  local cg=/sys/fs/cgroup
  [[ -d $cg/cpu ]] || skip "these checks read cgroup v1 files; this host has v2"
  run_tug run --rm --cpuset-cpus 0 --cpuset-mems 0 --cpu-period 50000 --cpu-quota 25000 \
    -m 64m --memory-reservation 32m --memory-swappiness 10 --oom-kill-disable busybox \
    cat $cg/cpuset/cpuset.cpus $cg/cpuset/cpuset.mems $cg/cpu/cpu.cfs_period_us $cg/cpu/cpu.cfs_quota_us \
    $cg/memory/memory.soft_limit_in_bytes $cg/memory/memory.swappiness $cg/memory/memory.oom_control
  [[ ${lines[0]} == 0 && ${lines[1]} == 0 && ${lines[2]} == 50000 && ${lines[3]} == 25000 ]]
  [[ ${lines[4]} == 33554432 && ${lines[5]} == 10 ]]
  assert_match '^oom_kill_disable 1$'
  run_tug create --name lim --cpuset-cpus 0 --cpuset-mems 0 --cpu-period 50000 --cpu-quota 25000 \
    -m 64m --memory-reservation 32m --memory-swappiness 10 --oom-kill-disable busybox true
  assert_inspect lim '{{.HostConfig.CpusetCpus}} {{.HostConfig.CpusetMems}} {{.HostConfig.CpuPeriod}} {{.HostConfig.CpuQuota}} {{.HostConfig.MemoryReservation}} {{.HostConfig.MemorySwappiness}} {{.HostConfig.OomKillDisable}}' \
    "0 0 50000 25000 33554432 10 true"
  run_tug run --rm --oom-kill-disable busybox true
  assert_match "WARNING: Disabling the OOM killer on containers without setting a '-m/--memory' limit may be dangerous."
}

@test "bad values of the new flags: docker's words, exit 125" {
  run_tug 125 run --rm --ipc bogus busybox true
  assert_match '^Error: --ipc: invalid IPC mode'
  run_tug 125 run --rm --pid private busybox true
  assert_match '^Error: --pid: invalid PID mode'
  run_tug 125 run --rm --uts private busybox true
  assert_match '^Error: --uts: invalid UTS mode'
  run_tug 125 run --rm --userns private busybox true
  assert_match '^Error: --userns: invalid USER mode'
  run_tug 125 run --rm --cgroupns other busybox true
  assert_match '^Error: --cgroupns: invalid CGROUP mode'
  # the host's IPC namespace is not the container's to tune
  run_tug 125 run --rm --ipc host --sysctl kernel.shmmax=1000000 busybox true
  assert_match "sysctl 'kernel.shmmax' cannot be set in a container sharing another IPC namespace"
  run_tug 125 run --rm --uts host -h box busybox true
  assert_match 'Conflicting options: hostname and the UTS mode'
  run_tug 125 run --rm --cpu-period abc busybox true
  assert_match 'invalid argument "abc" for "--cpu-period" flag'
  run_tug 125 run --rm --cpu-period 500 busybox true
  assert_match 'CPU cfs period can not be less than 1ms'
  run_tug 125 run --rm --cpus 1 --cpu-quota 50000 busybox true
  assert_match 'Conflicting options: Nano CPUs and CPU Quota cannot both be set'
  run_tug 125 run --rm --cpuset-cpus 9999 busybox true
  assert_match 'Requested CPUs are not available'
  run_tug 125 run --rm --memory-swappiness 101 busybox true
  assert_match 'Invalid value: 101, valid memory swappiness range is 0-100'
  run_tug 125 run --rm --memory-reservation 1k busybox true
  assert_match 'Minimum memory reservation allowed is 6MB'
  run_tug 125 run --rm -m 16m --memory-reservation 32m busybox true
  assert_match 'Minimum memory limit can not be less than memory reservation limit'
  run_tug 125 run --rm --blkio-weight 5 busybox true
  assert_match 'Range of blkio weight is from 10 to 1000'
  run_tug 125 run --rm --blkio-weight 70000 busybox true
  assert_match 'invalid argument "70000" for "--blkio-weight" flag: value out of range'
  run_tug 125 run --rm --log-driver syslog busybox true
  assert_match "logger: no log driver named 'syslog' is registered"
  run_tug 125 run --rm --detach-keys ctrl-1 busybox true
  assert_match 'Invalid detach keys \(ctrl-1\) provided'
  run_tug 125 run --rm --label-file /nonexistent busybox true
  assert_match 'open /nonexistent: No such file or directory'
  run_tug 125 run --rm --annotation io.tug.privileged=1 busybox true
  assert_match 'annotation io.tug.privileged: keys under io.tug. are tug.s own'
  run_tug 125 run --rm --runtime kata busybox true
  assert_match '^Error: unknown or invalid runtime name: kata'
  run_tug 125 run --rm --volume-driver nfs busybox true
  assert_match '^Error: plugin "nfs" not found'
  run_tug 125 run --rm --disable-content-trust=false busybox true
  assert_match 'tug has no content trust'
  run_tug ps -aq
  assert_output ''
}

@test "--runtime, --volume-driver, --disable-content-trust and --isolation take what docker's defaults are" {
  run_tug run --name rt --runtime runc --volume-driver local --disable-content-trust \
    --isolation default busybox echo ok
  assert_output ok
  assert_inspect rt '{{.HostConfig.Runtime}} {{.HostConfig.VolumeDriver}} {{.HostConfig.Isolation}}' "runc local default"
  run_tug 125 run --rm --isolation hyperv busybox true
  assert_match "^Error: Invalid isolation: \"hyperv\" - linux only supports 'default'"
}

@test "--security-opt: seccomp=unconfined, a profile file, no-new-privileges[:true], label and apparmor" {
  run_tug run --rm busybox grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status
  assert_match '^Seccomp:[[:space:]]+2$'
  assert_match '^NoNewPrivs:[[:space:]]+0$'
  run_tug run --rm --security-opt seccomp=unconfined busybox grep ^Seccomp: /proc/self/status
  assert_match '^Seccomp:[[:space:]]+0$'
  local opt
  for opt in no-new-privileges no-new-privileges:true no-new-privileges=true; do
    run_tug run --rm --security-opt "$opt" busybox grep ^NoNewPrivs: /proc/self/status
    assert_match '^NoNewPrivs:[[:space:]]+1$'
  done
  run_tug run --rm --security-opt no-new-privileges:false busybox grep ^NoNewPrivs: /proc/self/status
  assert_match '^NoNewPrivs:[[:space:]]+0$'
  # a profile that refuses mkdir with EPERM and allows the rest
  echo '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}' \
    >"$BATS_TEST_TMPDIR/profile.json"
  run_tug 1 run --rm --security-opt seccomp="$BATS_TEST_TMPDIR/profile.json" busybox mkdir /tmp/x
  assert_match 'Operation not permitted'
  # a relative path is the file's where the flag was given, whoever starts the container later
  (cd "$BATS_TEST_TMPDIR" && timeout 60 "$TUG" create --name relprof --security-opt seccomp=profile.json busybox mkdir /tmp/x)
  assert_inspect relprof '{{json .HostConfig.SecurityOpt}}' "[\"seccomp=$(realpath "$BATS_TEST_TMPDIR")/profile.json\"]"
  (cd / && timeout 60 "$TUG" start -a relprof) >"$BATS_TEST_TMPDIR/out" 2>&1 || true
  grep -q 'Operation not permitted' "$BATS_TEST_TMPDIR/out"
  run_tug run --rm --security-opt label=disable --security-opt apparmor=unconfined busybox true
  run_tug create --name sec --security-opt label=disable --security-opt no-new-privileges busybox true
  assert_inspect sec '{{json .HostConfig.SecurityOpt}}' '["label=disable","no-new-privileges"]'
  run_tug 125 run --rm --security-opt bogus busybox true
  assert_match 'Invalid --security-opt: "bogus"'
  run_tug 125 run --rm --security-opt no-new-privileges:maybe busybox true
  assert_match 'invalid --security-opt 2: "no-new-privileges:maybe"'
  run_tug 125 run --rm --security-opt seccomp=/nonexistent.json busybox true
  assert_match 'opening seccomp profile \(/nonexistent.json\) failed'
}

@test "--label-file, --annotation, --detach-keys are kept; --log-driver none keeps no logs" {
  printf '# a comment\n\none=1\ntwo=2\nthree\n' >"$BATS_TEST_TMPDIR/labels"
  run_tug create --name lab --label-file "$BATS_TEST_TMPDIR/labels" -l two=override \
    --annotation org.example.key=value busybox true
  assert_inspect lab '{{index .Config.Labels "one"}} {{index .Config.Labels "two"}} [{{index .Config.Labels "three"}}]' "1 override []"
  assert_inspect lab '{{json .HostConfig.Annotations}}' '{"org.example.key":"value"}'
  # run takes --detach-keys (create does not, as in docker)
  run_tug run --rm --detach-keys ctrl-x,x busybox true
  run_tug 125 create --detach-keys ctrl-x busybox true
  assert_match '^unknown flag: --detach-keys'
  run_tug run --name quiet --log-driver none busybox echo hello
  assert_output hello
  assert_inspect quiet '{{.HostConfig.LogConfig.Type}}' none
  run_tug 125 logs quiet
  assert_match '^Error: configured logging driver does not support reading'
  run_tug run --name loc --log-driver local busybox echo kept
  run_tug logs loc
  assert_output kept
  assert_inspect loc '{{.HostConfig.LogConfig.Type}}' local
}

@test "--cidfile is written, and refused when the file is there" {
  local f=$BATS_TEST_TMPDIR/cid
  run_tug create --name cid --cidfile "$f" busybox true
  local id=$output
  [[ $(cat "$f") == "$id" ]]
  assert_inspect cid '{{.HostConfig.ContainerIDFile}}' "$f"
  run_tug 125 run --rm --cidfile "$f" busybox true
  assert_match "Container ID file found, make sure the other container isn't running or delete $f"
}

@test "--pull never refuses a missing image; --pull always pulls a present one; -q hides it" {
  run_tug 125 run --rm --pull never nosuchimage true
  assert_match 'No such image: nosuchimage'
  run_tug run --rm --pull always "$REGISTRY/busybox" true
  assert_match 'Pulling from|Status|Digest'
  # -q: the container's output alone
  run_tug run --rm -q --pull always "$REGISTRY/busybox" echo hi
  assert_output hi
  run_tug 125 run --rm --pull sometimes busybox true
  assert_match 'invalid argument "sometimes" for "--pull" flag'
}

@test "--restart on-failure:2 restarts a failing container twice, then leaves it exited" {
  run_tug run -d --name flaky --restart on-failure:2 busybox sh -c 'echo run; exit 3'
  # done: restarted twice, exited, and its three runs logged
  wait_until 30 eval '[[ $(inspect_f flaky "{{.RestartCount}} {{.State.Status}}") == "2 exited" &&
    $(timeout 30 "$TUG" logs flaky | grep -c "^run$") == 3 ]]'
  assert_inspect flaky '{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.State.ExitCode}}' "on-failure 2 3"
}

@test "--stop-signal and --stop-timeout are what stop uses" {
  # the shell traps USR1 only: stop with the default TERM would not end it before the timeout
  run_tug run -d --name sig --stop-signal USR1 --stop-timeout 30 busybox \
    sh -c 'trap "echo got-usr1; exit 0" USR1; echo ready; while true; do sleep 0.1; done'
  wait_until 10 logs_match sig '^ready$'
  local t0=$SECONDS
  run_tug stop sig
  ((SECONDS - t0 < 10))
  wait_until 10 logs_match sig '^got-usr1$'
  assert_inspect sig '{{.Config.StopSignal}} {{.Config.StopTimeout}} {{.State.ExitCode}}' "USR1 30 0"
  # a process that ignores its stop signal is killed after --stop-timeout seconds
  run_tug run -d --name slow --stop-timeout 1 busybox sh -c 'trap "" TERM; echo ready; while true; do sleep 0.1; done'
  wait_until 10 logs_match slow '^ready$'
  t0=$SECONDS
  run_tug stop slow
  ((SECONDS - t0 < 8))
  assert_inspect slow '{{.State.ExitCode}}' 137
  run_tug 125 run --rm --stop-signal SIGNOPE busybox true
  assert_match 'Invalid signal: SIGNOPE'
}

@test "--cgroup-parent puts the container's cgroup under it" {
  local parent=tug-test-parent-$$-$BATS_TEST_NUMBER
  run_tug run -d --name par --cgroup-parent "/$parent" -m 64m busybox sleep 60
  local id=$output
  run_tug run --rm --cgroup-parent "$parent" --cgroupns host busybox cat /proc/self/cgroup
  assert_match "/$parent/[0-9a-f]{64}$"
  local mem=/sys/fs/cgroup/memory/$parent/$id
  [[ -d /sys/fs/cgroup/memory ]] || mem=/sys/fs/cgroup/$parent/$id
  [[ -d $mem ]]
  assert_inspect par '{{.HostConfig.CgroupParent}}' "/$parent"
  run_tug top par
  assert_match 'sleep 60'
  run_tug rm -f par
  [[ ! -e $mem ]]
  local d
  for d in /sys/fs/cgroup/*/"$parent" /sys/fs/cgroup/"$parent"; do [[ -d $d ]] && rmdir "$d"; done
  run_tug 125 run --rm --cgroup-parent ../escape busybox true
  assert_match 'invalid cgroup parent "../escape"'
}

@test "--device-read-bps and friends limit the device's I/O in the container's cgroup" {
  local dev
  dev=$(lsblk -dpno NAME,TYPE 2>/dev/null | awk '$2=="disk"{print $1; exit}')
  [[ -b $dev ]] || dev=/dev/loop0
  [[ -b $dev ]] || skip "no block device to limit"
  local nums
  nums=$(stat -c '%t %T' "$dev")
  nums=$((16#${nums% *})):$((16#${nums#* }))
  [[ -d /sys/fs/cgroup/blkio ]] || skip "these checks read cgroup v1 files; this host has v2"
  run_tug run --rm --device-read-bps "$dev:1mb" --device-write-bps "$dev:2mb" \
    --device-read-iops "$dev:100" --device-write-iops "$dev:200" busybox sh -c \
    'cd /sys/fs/cgroup/blkio; cat blkio.throttle.read_bps_device blkio.throttle.write_bps_device blkio.throttle.read_iops_device blkio.throttle.write_iops_device'
  [[ ${lines[0]} == "$nums 1048576" && ${lines[1]} == "$nums 2097152" ]]
  [[ ${lines[2]} == "$nums 100" && ${lines[3]} == "$nums 200" ]]
  run_tug create --name bps --device-read-bps "$dev:1mb" busybox true
  assert_inspect bps '{{json .HostConfig.BlkioDeviceReadBps}} {{json .HostConfig.BlkioDeviceWriteIOps}}' \
    "[{\"Path\":\"$dev\",\"Rate\":1048576}] null"
  # a device's weight needs a block I/O scheduler that keeps weights (BFQ); where there is
  # none, docker's warning and the weight is dropped
  run_tug run --rm --blkio-weight-device "$dev:300" busybox true
  if [[ -e /sys/fs/cgroup/blkio/blkio.weight_device || -e /sys/fs/cgroup/blkio/blkio.bfq.weight_device ]]; then
    refute_match 'Weight-device discarded'
  else
    assert_match 'WARNING: Your kernel does not support BPS Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.'
  fi
  run_tug 125 run --rm --blkio-weight-device "$dev:5" busybox true
  assert_match "invalid argument \"$dev:5\" for \"--blkio-weight-device\" flag: invalid weight for device: $dev:5"
  run_tug 125 run --rm --device-read-bps nodev busybox true
  assert_match 'invalid argument "nodev" for "--device-read-bps" flag: bad format: nodev'
  run_tug 125 run --rm --device-read-bps /tmp/x:1mb busybox true
  assert_match 'bad format for device path: /tmp/x:1mb'
  run_tug 125 run --rm --device-write-iops "$dev:fast" busybox true
  assert_match "invalid rate for device: $dev:fast. The correct format is <device-path>:<number>. Number must be a positive integer"
  run_tug 125 run --rm --device-read-bps /dev/nosuchdisk:1mb busybox true
  assert_match 'stat /dev/nosuchdisk: No such file or directory'
  run_tug 125 run --rm --device-read-bps /dev/null:1mb busybox true
  assert_match '/dev/null is not a block device'
}

@test "the flags tug had: --ulimit, --shm-size, --read-only, --tmpfs, --sysctl, --init, -h take effect" {
  run_tug run --rm --ulimit nofile=1024:2048 --ulimit nproc=500 --shm-size 16m --read-only \
    --tmpfs /scratch:size=1m --sysctl kernel.shmmni=1000 --init -h boxname busybox sh -c \
    'ulimit -Sn; ulimit -Hn; ulimit -u; df -k /dev/shm | tail -1; touch /x 2>&1; touch /scratch/y && echo tmpfs-ok;
     cat /proc/sys/kernel/shmmni; cat /proc/1/comm; hostname'
  [[ ${lines[0]} == 1024 && ${lines[1]} == 2048 && ${lines[2]} == 500 ]]
  [[ ${lines[3]} =~ ^shm\ +16384\  ]]
  assert_match 'Read-only file system'
  assert_match '^tmpfs-ok$'
  assert_match '^1000$'
  assert_match '^tug-init$|^init$'
  [[ ${lines[-1]} == boxname ]]
}
