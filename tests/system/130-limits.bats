#!/usr/bin/env bats
# Resource limits: memory (and the OOM killer), pids, CPU, ulimits, and bad limit values.

load containers

setup_file() { containers_setup_file; }

@test "-m 32m: a memory hog is killed, exits 137, and inspect says OOMKilled" {
  run_tug run --rm -m 32m busybox cat /sys/fs/cgroup/memory/memory.limit_in_bytes
  assert_output 33554432
  run_tug 137 run --name hog -m 32m busybox sh -c 'x=a; while true; do x=$x$x; done'
  assert_inspect hog '{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}' "exited 137 true"
  assert_inspect hog '{{.HostConfig.Memory}}' 33554432
  run_tug ps -a --format '{{.Names}} {{.Status}}'
  assert_match '^hog Exited \(137\) '
  # a hog that is not PID 1: the pipeline's reader is killed, the shell reports it
  run_tug 137 run --name hog2 -m 32m busybox sh -c 'head -c 200m /dev/zero | tail'
  assert_inspect hog2 '{{.State.OOMKilled}}' true
}

@test "a container killed by a signal or staying under its limit is not OOMKilled" {
  run_tug run --name small -m 32m busybox sh -c 'head -c 8m /dev/zero | tail -c 1 >/dev/null'
  assert_inspect small '{{.State.ExitCode}} {{.State.OOMKilled}}' "0 false"
  run_tug run -d --name killed -m 32m busybox sleep 60
  run_tug kill killed
  wait_until 10 status_is killed exited
  assert_inspect killed '{{.State.ExitCode}} {{.State.OOMKilled}}' "137 false"
}

@test "--pids-limit 20 holds a fork bomb; the container stays up and can be removed" {
  # the bomb's shell dies when fork fails; PID 1 then waits in a sleep it need not fork for
  run_tug run -d --name bomb --pids-limit 20 busybox \
    sh -c '(while true; do sleep 60 & done) 2>/dev/null; echo contained; exec sleep 60'
  local id=$output
  assert_inspect bomb '{{.HostConfig.PidsLimit}}' 20
  wait_until 20 logs_match bomb '^contained$'
  status_is bomb running
  run_tug top bomb
  local n=$((${#lines[@]} - 1))
  echo "processes: $n" >&2
  ((n >= 15 && n <= 20))
  local pids
  pids=$(cat /sys/fs/cgroup/pids/tug/$id/cgroup.procs)
  [[ $(cat /sys/fs/cgroup/pids/tug/$id/pids.max) == 20 ]]
  run_tug rm -f bomb
  no_containers_left
  local pid
  for pid in $pids; do wait_until 10 gone "$pid"; done
  [[ ! -e /sys/fs/cgroup/pids/tug/$id ]]
}

@test "--cpus and --cpu-shares set the container's CPU cgroup" {
  run_tug run --name cpu --cpus 0.5 --cpu-shares 512 busybox \
    cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpu/cpu.shares
  [[ ${lines[0]} == 50000 && ${lines[1]} == 100000 && ${lines[2]} == 512 ]]
  assert_inspect cpu '{{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}}' "500000000 512"
  run_tug run --rm --cpus 1.5 busybox cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us
  assert_output 150000
  # no --cpus: no quota
  run_tug run --rm busybox cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us
  assert_output -1
}

@test "--ulimit nofile=1024:2048 sets the soft and hard limits" {
  run_tug run --rm --ulimit nofile=1024:2048 busybox sh -c 'ulimit -n; ulimit -Hn'
  [[ ${lines[0]} == 1024 && ${lines[1]} == 2048 ]]
  run_tug create --name ul --ulimit nofile=1024:2048 busybox true
  assert_inspect ul '{{range .HostConfig.Ulimits}}{{.Name}} {{.Soft}} {{.Hard}}{{end}}' "nofile 1024 2048"
}

@test "--ulimit above the host's hard limit warns and is clamped to it" {
  local hard
  hard=$(ulimit -Hn)
  [[ $hard != unlimited && $hard -lt 100000 ]] || skip "the host's hard nofile limit ($hard) is not below 100000"
  run_tug run --rm --ulimit nofile=100000:100000 busybox sh -c 'ulimit -n; ulimit -Hn'
  assert_match "^WARNING: .*nofile.*$hard"
  assert_match "^$hard$"
  [[ $(grep -c "^$hard$" <<<"$output") -eq 2 ]]
}

@test "-m abc and -m 1k are refused with clear errors, exit 125, and create nothing" {
  local cmd
  for cmd in run create; do
    run_tug 125 $cmd -m abc busybox true
    assert_match 'invalid argument "abc" for "-m, --memory" flag'
    run_tug 125 $cmd -m 1k busybox true
    assert_match 'Minimum memory limit allowed is 6MB'
  done
  no_containers_left
}

@test "bad values for the other limits are refused with exit 125 and create nothing" {
  local bad
  for bad in "--cpus abc" "--cpu-shares abc" "--pids-limit abc" "--memory-swap 1k -m 32m" \
    "--ulimit nofile=2048:1024" "--ulimit nosuch=1" "--shm-size x"; do
    run_tug 125 create $bad busybox true
    [[ -n $output ]]
  done
  no_containers_left
}

@test "--cpus inf, nan, 999, 0.001 and -1 are refused with exit 125 before any pull, and create nothing" {
  local n v cmd
  n=$(nproc)
  for cmd in run create; do
    for v in inf nan -inf 1e3; do
      run_tug 125 $cmd --cpus $v busybox true
      assert_match "^invalid argument \"$v\" for \"--cpus\" flag: failed to parse $v as a rational number$"
    done
    for v in 999 0.001 -1 0.009 $((n + 1)) "$n.000000001"; do
      # an image that is not there: the value is judged before any pull is tried
      run_tug 125 $cmd --cpus $v $REGISTRY/nosuchimage true
      [[ $output == "Error: Range of CPUs is from 0.01 to $n.00, as there are only $n CPUs available" ]] ||
        { echo "--cpus $v: $output" >&2; false; }
    done
  done
  no_containers_left
  # the ends of the range are taken, exactly
  run_tug create --name low --cpus 0.01 busybox true
  assert_inspect low '{{.HostConfig.NanoCpus}}' 10000000
  run_tug create --name high --cpus $n busybox true
  assert_inspect high '{{.HostConfig.NanoCpus}}' $((n * 1000000000))
}

@test "every other limit's bad value is refused with docker's words, exit 125, nothing created" {
  local -a cases=(
    "-m 32m --memory-swap 16m"   'Minimum memoryswap limit should be larger than memory limit, see usage'
    "--memory-swap 64m"          'You should always set the Memory limit when using Memoryswap limit, see usage'
    "-c -5"                      'Invalid CPU shares -5: use 2 to 262144 \(0 for the default\)'
    "--pids-limit 99999999"      'Invalid pids limit 99999999: the kernel allows at most 4194304'
    "--ulimit nofile=2048:1024"  'ulimit soft limit must be less than or equal to hard limit: 2048 > 1024'
    "--ulimit nosuch=1"          'invalid ulimit type: nosuch'
    "--ulimit nofile=-5"         'invalid ulimit nofile=-5:-5'
    "--restart always:3"         "maximum retry count cannot be used with restart policy 'always'"
    "--restart on-failure:-1"    'maximum retry count cannot be negative'
    "--restart sometimes"        "invalid restart policy 'sometimes'"
    "--rm --restart always"      'Conflicting options: --restart and --rm'
    "--stop-signal SIGNOPE"      'Invalid signal: SIGNOPE'
    "--stop-timeout -5"          'Invalid stop timeout -5'
    "-w relative/dir"            "the working directory 'relative/dir' is invalid, it needs to be an absolute path"
    "--log-opt max-file=0"       'invalid log option max-file "0": it must be a positive number'
    "--log-opt max-size=0"       'invalid log option max-size "0": it must be a positive number'
  )
  local i
  for ((i = 0; i < ${#cases[@]}; i += 2)); do
    run_tug 125 create ${cases[i]} busybox true
    [[ ${#lines[@]} -eq 1 ]] || { echo "${cases[i]}: one line expected: $output" >&2; false; }
    assert_match "^Error: ${cases[i + 1]}"
  done
  # what only parses wrong is the flag's error
  for i in "--cpu-shares abc" "--pids-limit abc" "--shm-size x" "--shm-size -1" "--memory-swap -5" \
    "--restart on-failure:x" "--ulimit nofile"; do
    run_tug 125 create $i busybox true
    assert_match "^invalid argument \".*\" for \"-?-?[a-z, -]+\" flag"
  done
  no_containers_left
}

@test "CPU shares outside the kernel's range are moved into it with docker's warning" {
  run_tug create --name few -c 1 busybox true
  assert_match '^WARNING: Changing requested CPUShares of 1 to minimum allowed of 2$'
  assert_inspect few '{{.HostConfig.CpuShares}}' 2
  run_tug create --name many -c 999999 busybox true
  assert_match '^WARNING: Changing requested CPUShares of 999999 to maximum allowed of 262144$'
  assert_inspect many '{{.HostConfig.CpuShares}}' 262144
}

@test "on a cgroup v2 host a container is born in its own group, exec joins it, rm removes it" {
  # This host may be hybrid: a private mount namespace shows tug the cgroup2 tree alone at
  # /sys/fs/cgroup, as a pure v2 host has it.
  grep -q ' cgroup2 ' /proc/mounts || skip "this kernel has no cgroup2 tree mounted"
  command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
  run timeout 120 unshare -m --propagation private bash -c '
    set -e
    umount -R /sys/fs/cgroup 2>/dev/null || umount -l /sys/fs/cgroup
    mount -t cgroup2 none /sys/fs/cgroup
    id=$("$TUG" run -d --network none busybox sleep 60)
    pid=$("$TUG" inspect -f "{{.State.Pid}}" "$id")
    echo "init in: $(grep "^0::" /proc/$pid/cgroup)"
    "$TUG" exec -d "$id" sleep 60
    echo "processes in the group: $(wc -l < /sys/fs/cgroup/tug/$id/cgroup.procs)"
    "$TUG" rm -f "$id" >/dev/null
    [[ -e /sys/fs/cgroup/tug/$id ]] || echo "group removed"
    echo "id: $id"'
  echo "$output"
  [[ $status -eq 0 ]]
  local id
  id=$(sed -n 's/^id: //p' <<<"$output")
  [[ $id =~ ^[0-9a-f]{64}$ ]]
  assert_match "^init in: 0::/tug/$id$"
  assert_match "^processes in the group: 2$"
  assert_match "^group removed$"
}
