#!/usr/bin/env bats
# info, version --format, system prune, inspect --type and -s, search.

load containers

setup_file() { containers_setup_file; }

@test "info prints docker's sections and the store's facts" {
  run_tug run -d --name up busybox sleep 60
  run_tug create --name idle busybox true
  run_tug info
  assert_match '^Client:$'
  assert_match '^Server:$'
  assert_match '^ Containers: 2$'
  assert_match '^  Running: 1$'
  assert_match '^  Stopped: 1$'
  assert_match '^ Images: 1$'
  assert_match '^ Storage Driver: overlay$'
  assert_match '^ Cgroup Driver: cgroupfs$'
  assert_match '^ Cgroup Version: [12]$'
  assert_match "^ Kernel Version: $(uname -r)\$"
  assert_match '^ OSType: linux$'
  assert_match "^ Architecture: $(uname -m)\$"
  assert_match "^ CPUs: $(nproc)\$"
  assert_match '^ Total Memory: [0-9.]+GiB$'
  assert_match "^ Docker Root Dir: $TUG_ROOT\$"
  assert_match '^ Insecure Registries:$'
  run_tug system info --format '{{.Containers}} {{.ContainersRunning}} {{.Images}} {{.NCPU}} {{.DockerRootDir}} {{.Driver}} {{.KernelVersion}}'
  assert_output "2 1 1 $(nproc) $TUG_ROOT overlay $(uname -r)"
  run_tug info --format '{{json .}}'
  assert_match '"MemTotal": ?[0-9]+'
  assert_match '"CgroupVersion": ?"[12]"'
}

@test "version --format takes docker's Client and Server fields" {
  run_tug version --format '{{.Client.Version}} {{.Server.Version}}'
  assert_match '^[0-9][^ ]* [0-9][^ ]*$'
  run_tug version --format '{{json .}}'
  assert_match '"Client":'
  assert_match '"Server":'
  run_tug version
  assert_match '^Server:$'
  assert_match '^  Version: '
}

@test "system prune: what goes and what stays" {
  run_tug network create inuse
  run_tug network create idle
  run_tug volume create keepvol
  run_tug run -d --name up --network inuse -v keepvol:/data busybox sleep 60
  run_tug create --name stopped busybox true
  run bash -c "echo n | '$TUG' system prune"
  assert_match '^WARNING! This will remove:$'
  assert_match '^  - all dangling images$'
  assert_match 'Are you sure you want to continue\? \[y/N\]'
  run_tug ps -a --format '{{.Names}}'
  assert_match '^stopped$'
  run_tug system prune -f
  assert_match '^Deleted Containers:$'
  assert_match '^Deleted Networks:$'
  assert_match '^idle$'
  assert_match '^Total reclaimed space: '
  run_tug ps -a --format '{{.Names}}'
  assert_output 'up'
  run_tug network ls --format '{{.Name}}'
  assert_match '^inuse$'
  refute_match '^idle$'
  run_tug system prune -a -f --volumes
  run_tug images --format '{{.Repository}}'
  assert_match 'busybox'
  run_tug volume ls --format '{{.Name}}'
  assert_match '^keepvol$'
}

@test "system prune -a removes images no container uses" {
  run_tug system prune -a -f
  assert_match '^Deleted Images:$'
  run_tug images -q
  assert_output ''
}

@test "inspect --type for each kind, and docker's error for a name found nowhere" {
  run_tug volume create vol1
  run_tug network create net1
  run_tug create --name ctr1 busybox true
  run_tug inspect --format '{{.Name}}' vol1 net1
  assert_output $'vol1\nnet1'
  run_tug inspect --type volume --format '{{.Mountpoint}}' vol1
  assert_match "$TUG_ROOT"
  run_tug inspect --type network --format '{{.Driver}}' net1
  assert_output 'bridge'
  run_tug inspect --type container --format '{{.Name}}' ctr1
  assert_match 'ctr1'
  run_tug inspect --type image --format '{{.Id}}' busybox
  assert_match '^sha256:'
  run_tug 1 inspect nosuchthing
  assert_match 'Error: No such object: nosuchthing'
  run_tug 1 inspect --type network nosuchthing
  assert_match 'nosuchthing'
  run_tug 1 inspect --type bogus x
  assert_match 'unknown type: "bogus"'
}

@test "inspect -s gives a container's SizeRw and SizeRootFs" {
  run_tug run --name writer busybox sh -c 'head -c 100000 /dev/zero > /big'
  run_tug inspect -s --format '{{.SizeRw}} {{.SizeRootFs}}' writer
  local rw=${output% *} rootfs=${output#* }
  (( rw >= 100000 )) || { echo "SizeRw $rw below what the container wrote"; false; }
  (( rootfs > rw )) || { echo "SizeRootFs $rootfs not above SizeRw $rw"; false; }
}

@test "search says it needs a registry search API tug does not speak" {
  run_tug 1 search busybox
  assert_match 'search API'
  [[ ${#lines[@]} -eq 1 ]] || { echo "more than one line: $output"; false; }
}
