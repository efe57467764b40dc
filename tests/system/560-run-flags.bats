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
    '--network-alias list' '--ip string' '--platform string'; do
    grep -qF -- "$f " <<<"$output" || { echo "run --help lacks $f" >&2; return 1; }
  done
  assert_match '^  -p, --publish list +Publish a container.s port\(s\) to the host$'
  assert_match '^      --oom-score-adj int +Tune host.s OOM preferences \(-1000 to 1000\)$'
  run_tug create --help
  assert_match '^  -P, --publish-all +Publish all exposed ports to random ports$'
  refute_match '(--sig-proxy|-d, --detach)'
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
  run jq -c '[.Dns, .DnsOptions, .DnsSearch, .ExtraHosts, .GroupAdd, .OomScoreAdj, .PidMode,
    .UTSMode, .UsernsMode, .CgroupParent, .CpusetCpus, .MemorySwappiness, .OomKillDisable,
    .BlkioWeight, .ConsoleSize, .IpcMode, .ContainerIDFile]' <<<"$(inspect_f plain '{{json .HostConfig}}')"
  assert_output '[[],[],[],null,null,0,"","","","","",null,false,0,[0,0],"private",""]'
}
