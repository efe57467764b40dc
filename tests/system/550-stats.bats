#!/usr/bin/env bats
# stats (CPU, memory, network, block I/O, pids from the cgroups and the network namespace)
# and update (new limits for a running or stopped container, kept across a restart).

load containers

setup_file() { containers_setup_file; }

HEADER='^CONTAINER ID +NAME +CPU % +MEM USAGE / LIMIT +MEM % +NET I/O +BLOCK I/O +PIDS$'

# docker's number formats: percentages with two decimals, binary memory, decimal I/O
ROW_VALUES='[0-9]+\.[0-9]{2}% +[0-9.]+(B|KiB|MiB|GiB) / [0-9.]+(B|KiB|MiB|GiB) +[0-9]+\.[0-9]{2}% +[0-9.]+(B|kB|MB|GB) / [0-9.]+(B|kB|MB|GB) +[0-9.]+(B|kB|MB|GB) / [0-9.]+(B|kB|MB|GB) +[0-9]+$'

@test "stats --no-stream: docker's header and one row per running container" {
  run_tug run -d --name one busybox sleep 300
  local id=${output:0:12}
  run_tug run -d --name two busybox sleep 300
  run_tug create --name idle busybox true
  run_tug stats --no-stream
  [[ ${#lines[@]} == 3 ]] || { echo "want a header and 2 rows"; false; }
  assert_match "$HEADER"
  [[ ${lines[1]} =~ ^[0-9a-f]{12}\ +two\ +$ROW_VALUES ]] || { echo "row: ${lines[1]}"; false; }
  [[ ${lines[2]} =~ ^$id\ +one\ +$ROW_VALUES ]] || { echo "row: ${lines[2]}"; false; }
  refute_match idle
  # -a adds the stopped one, with docker's zeros
  run_tug stats --no-stream -a
  [[ ${#lines[@]} == 4 ]] || { echo "want a header and 3 rows"; false; }
  assert_match '^[0-9a-f]{12} +idle +0\.00% +0B / 0B +0\.00% +0B / 0B +0B / 0B +0$'
  # named: those only, stopped ones too
  run_tug stats --no-stream idle one
  [[ ${#lines[@]} == 3 && ${lines[1]} =~ ' idle ' && ${lines[2]} =~ ' one ' ]]
  run_tug stats --no-stream --no-trunc one
  [[ ${lines[1]} =~ ^[0-9a-f]{64}\ +one ]]
}

@test "stats --format: docker's fields, table and json" {
  run_tug run -d --name fmt -m 64m busybox sleep 300
  local id=$output
  run_tug stats --no-stream --format '{{.Container}}|{{.Name}}|{{.ID}}|{{.PIDs}}|{{.MemPerc}}' fmt
  assert_match "^fmt\|fmt\|${id:0:12}\|1\|[0-9]+\.[0-9]{2}%$"
  run_tug stats --no-stream --format 'table {{.Container}}\t{{.CPUPerc}}\t{{.NetIO}}\t{{.BlockIO}}'
  assert_match '^CONTAINER +CPU % +NET I/O +BLOCK I/O$'
  [[ ${lines[1]} =~ ^${id:0:12}\  ]]
  run_tug stats --no-stream --format json fmt
  [[ $output =~ ^\{\"BlockIO\":\".*\",\"CPUPerc\":\".*\",\"Container\":\"fmt\",\"ID\":\"${id:0:12}\",\"MemPerc\":.*,\"MemUsage\":.*,\"Name\":\"fmt\",\"NetIO\":.*,\"PIDs\":\"1\"\}$ ]] || { echo "$output"; false; }
}

@test "stats: MEM LIMIT is -m, else the host's memory; PIDS counts the processes" {
  run_tug run -d --name lim -m 64m busybox sh -c 'sleep 300 & sleep 300 & exec sleep 300'
  run_tug stats --no-stream --format '{{.MemUsage}} {{.PIDs}}' lim
  assert_match '^[0-9.]+(B|KiB|MiB) / 64MiB 3$'
  run_tug run -d --name nolim busybox sleep 300
  run_tug stats --no-stream --format '{{.MemUsage}}' nolim
  local total
  total=$(awk '/^MemTotal:/ { printf "%.4g", $2 / 1024 / 1024 }' /proc/meminfo)
  assert_match " / ${total}GiB\$"
}

# The share of a CPU the kernel gave the group over a second, from its own counter.
cpu_share() {
  local f=/sys/fs/cgroup/cpuacct/tug/$1/cpuacct.usage a b
  [[ -e $f ]] || f=/sys/fs/cgroup/tug/$1/cpu.stat
  a=$(awk '{ print ($1 == "usage_usec") ? $2 * 1000 : $1; exit }' "$f"); sleep 1
  b=$(awk '{ print ($1 == "usage_usec") ? $2 * 1000 : $1; exit }' "$f")
  echo $(((b - a) / 10000000))
}

@test "stats: a container burning CPU shows more than 50%, an idle one about 0%" {
  run_tug run -d --name burn busybox sh -c 'while :; do :; done'
  local id=$output
  run_tug run -d --name calm busybox sleep 300
  run_tug stats --no-stream --format '{{.Name}} {{.CPUPerc}}' burn calm
  echo "$output"
  local burn calm share
  burn=$(awk '$1 == "burn" { print int($2) }' <<<"$output")
  calm=$(awk '$1 == "calm" { print int($2) }' <<<"$output")
  # a loaded machine (other builds) gives the loop less than a CPU: then stats must show at
  # least half of what the cgroup's own counter says it got over a second
  share=$(cpu_share "$id")
  echo "the cgroup's counter over 1 s: $share%"
  local floor=$((share >= 100 ? 50 : share / 2))
  ((burn > floor && burn <= 110)) || { echo "burn at $burn%, want > $floor%"; false; }
  ((calm < 5)) || { echo "calm at $calm%"; false; }
}

@test "stats: NET I/O grows with the container's traffic" {
  run_tug run -d --name peer busybox sleep 300
  local ip
  ip=$(inspect_f peer '{{.NetworkSettings.IPAddress}}')
  [[ -n $ip ]]
  run_tug run -d --name talker busybox sleep 300
  run_tug stats --no-stream --format '{{.NetIO}}' talker
  local before=$output
  run_tug exec talker ping -c 3 -s 1000 "$ip"
  run_tug stats --no-stream --format '{{.NetIO}}' talker
  echo "before: $before after: $output"
  [[ $output != "$before" ]]
  # 3 pings of 1 kB out and back: at least 3 kB each way
  assert_match '^[0-9.]+kB / [0-9.]+kB$'
}

@test "update -m: the cgroup, inspect and a restart all have the new limit" {
  run_tug run -d --name up -m 64m busybox sleep 300
  local id=$output
  run_tug update -m 100m up
  assert_output up
  [[ $(cat /sys/fs/cgroup/memory/tug/$id/memory.limit_in_bytes) == 104857600 ]]
  assert_inspect up '{{.HostConfig.Memory}}' 104857600
  run_tug stats --no-stream --format '{{.MemUsage}}' up
  assert_match ' / 100MiB$'
  run_tug restart -t 1 up
  [[ $(cat /sys/fs/cgroup/memory/tug/$id/memory.limit_in_bytes) == 104857600 ]]
  # a stopped container takes the change for its next start
  run_tug stop -t 1 up
  run_tug update -m 80m --memory-swap 160m up
  assert_inspect up '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}' "83886080 167772160"
  run_tug start up
  [[ $(cat /sys/fs/cgroup/memory/tug/$id/memory.limit_in_bytes) == 83886080 ]]
}

@test "update --pids-limit, --cpus, --cpu-shares, --cpuset-cpus, --memory-reservation" {
  run_tug run -d --name knobs busybox sleep 300
  local id=$output
  run_tug update --pids-limit 30 --cpus 0.5 --cpu-shares 512 --cpuset-cpus 0 \
    --memory-reservation 20m knobs
  assert_output knobs
  [[ $(cat /sys/fs/cgroup/pids/tug/$id/pids.max) == 30 ]]
  [[ $(cat /sys/fs/cgroup/cpu/tug/$id/cpu.cfs_quota_us) == 50000 ]]
  [[ $(cat /sys/fs/cgroup/cpu/tug/$id/cpu.shares) == 512 ]]
  [[ $(cat /sys/fs/cgroup/cpuset/tug/$id/cpuset.cpus) == 0 ]]
  [[ $(cat /sys/fs/cgroup/memory/tug/$id/memory.soft_limit_in_bytes) == 20971520 ]]
  assert_inspect knobs '{{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.CpusetCpus}} {{.HostConfig.MemoryReservation}}' \
    "30 500000000 512 0 20971520"
  run_tug update --pids-limit -1 knobs
  [[ $(cat /sys/fs/cgroup/pids/tug/$id/pids.max) == max ]]
  run_tug restart -t 1 knobs
  [[ $(cat /sys/fs/cgroup/cpuset/tug/$id/cpuset.cpus) == 0 ]]
  [[ $(cat /sys/fs/cgroup/cpu/tug/$id/cpu.cfs_quota_us) == 50000 ]]
}

@test "update --restart: the monitor restarts the container by the new policy" {
  run_tug run -d --name pol busybox sh -c 'sleep 2; exit 3'
  run_tug update --restart on-failure:2 pol
  assert_output pol
  assert_inspect pol '{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}' "on-failure 2"
  wait_until 30 restarted_twice pol
  run_tug update --restart no pol
  assert_inspect pol '{{.HostConfig.RestartPolicy.Name}}' no
}
restarted_twice() { [[ $(inspect_f "$1" '{{.RestartCount}}') == 2 ]]; }

@test "update: docker's errors, nothing changed" {
  run_tug run -d --name bad -m 64m busybox sleep 300
  local id=$output
  run_tug 1 update -m 4m bad
  assert_output "Error: Minimum memory limit allowed is 6MB"
  run_tug 1 update -m 32m --memory-swap 16m bad
  assert_output "Error: Minimum memoryswap limit should be larger than memory limit, see usage"
  run_tug 1 update -m 200m bad
  assert_output "Error: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"
  run_tug 1 update --cpus 5 bad
  assert_match "^Error: Range of CPUs is from 0.01 to [0-9]+.00, as there are only [0-9]+ CPUs available$"
  run_tug 1 update --cpuset-cpus 1000 bad
  assert_match "^Error: Requested CPUs are not available - requested 1000, available: "
  run_tug 1 update --cpu-period 500 bad
  assert_output "Error: CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
  run_tug 1 update --restart bogus bad
  assert_match "invalid restart policy 'bogus'"
  run_tug 1 update bad
  assert_output "you must provide one or more flags when using this command"
  run_tug 125 update --memory lots bad
  run_tug 1 update -m 100m --memory-swap 200m nosuch bad
  assert_match "No such container: nosuch"
  assert_match "^bad$"
  [[ $(cat /sys/fs/cgroup/memory/tug/$id/memory.limit_in_bytes) == 104857600 ]]
  run_tug 1 stats --no-stream bad nosuch
  assert_output "Error: No such container: nosuch"
}
