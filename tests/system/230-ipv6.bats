#!/usr/bin/env bats
# IPv6 on user networks: `network create --ipv6 --subnet fdXX::/64`, an IPv6 address on the
# containers' eth0 with its default route, names answered as AAAA and ip6.arpa PTR by the
# network's resolver, docker's inspect fields, `network ls` format fields, published ports, and a
# store from before IPv6 (schema v7) opened by this tug.
#
# Where docker 20.10 is the oracle, the expected text and exit status are written out (they were
# taken from `docker network create ...`), so that the tests need no dockerd; where the host's
# dockerd answers, the same commands are put to docker too and must give the same (docker_runs),
# and whatever they made in docker is removed.

load containers

setup_file() { containers_setup_file; }

eval "_containers_teardown() $(declare -f teardown | sed 1d)"
teardown() {
  _containers_teardown
  timeout 30 "$TUG" network prune -f >/dev/null 2>&1
  # docker's networks this test made (docker_network)
  local n
  for n in $(cat "$BATS_TEST_TMPDIR/docker-networks" 2>/dev/null); do
    timeout 30 docker network rm "$n" >/dev/null 2>&1
  done
  return 0
}

# docker_runs: the docker CLI is here and the host's dockerd answers (the oracle is available)
docker_runs() { command -v docker >/dev/null && timeout 20 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# docker_network NAME: note a docker network this test makes, for teardown to remove
docker_network() { echo "$1" >>"$BATS_TEST_TMPDIR/docker-networks"; }

# refused_as_docker STATUS 'MESSAGE' ARGS...: `tug ARGS` exits STATUS saying "Error: MESSAGE..."
# (MESSAGE empty: any message); where docker runs, `docker ARGS` exits STATUS too, saying MESSAGE
refused_as_docker() {
  local want_status=$1 want=$2 name
  shift 2
  run_tug "$want_status" "$@"
  [[ $output == "Error: $want"* ]] || { echo "tug $*: '$output', expected 'Error: $want...'" >&2; return 1; }
  docker_runs || return 0
  name=${!#}
  docker_network "$name"
  run timeout 60 docker "$@"
  [[ $status -eq $want_status && $output == *"$want"* ]] ||
    { echo "docker $*: exit $status, '$output'; tug's test expects $want_status, '$want'" >&2; return 1; }
}

# has_ipv6: this host's kernel has IPv6 on (the containers' addresses need it)
has_ipv6() { [[ $(cat /proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null) == 0 ]]; }

# free_subnet6: a random fdXX:XXXX:XXXX::/64 (a ULA /64) that no route of this host overlaps
free_subnet6() {
  python3 <<'EOF'
import ipaddress, random, subprocess, sys
routes = []
for line in subprocess.run(["ip", "-6", "-o", "route", "show", "table", "all"], capture_output=True,
                           text=True).stdout.splitlines():
    w = line.split()
    if w and w[0] in ("local", "anycast", "multicast", "unicast", "unreachable", "blackhole"):
        w = w[1:]
    if w and w[0] != "default":
        try:
            routes.append(ipaddress.ip_network(w[0], strict=False))
        except ValueError:
            pass
for _ in range(500):
    net = ipaddress.ip_network("fd%02x:%x:%x::/64" % (random.randint(0x10, 0xff),
                                                      random.randint(1, 0xffff), random.randint(1, 0xffff)))
    if not any(net.overlaps(r) for r in routes):
        print(net)
        sys.exit(0)
sys.exit("no free ULA /64")
EOF
}

# prefix SUBNET: "fdXX:...:" with the "::/64" taken off, to build addresses in it
prefix() { printf '%s' "${1%::/64}"; }

bridge_of() { timeout 30 "$TUG" network inspect -f '{{index .Options "com.docker.network.bridge.name"}}' "$1"; }

# --- network create: flags and docker's errors ---

@test "network create --ipv6 without an IPv6 subnet fails as docker 20.10 does" {
  refused_as_docker 1 "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network" \
    network create --ipv6 "tug230-nosub-$RANDOM"
  run_tug 1 network create --ipv6 nosub
  [[ $output == *"--subnet"* ]]
  run_tug network ls --format '{{.Name}}'
  refute_match '^nosub$'
}

@test "network create refuses what docker refuses: two subnets of a family, a gateway without or outside its subnet, a bad or taken subnet" {
  local s1 s2
  s1=$(free_subnet6)
  s2=$(free_subnet6)
  refused_as_docker 1 "bridge driver doesn't support multiple subnets" \
    network create --ipv6 --subnet "$s1" --subnet "$s2" two6
  refused_as_docker 1 "bridge driver doesn't support multiple subnets" \
    network create --subnet 10.97.0.0/24 --subnet 10.96.0.0/24 two4
  refused_as_docker 1 "every ip-range or gateway must have a corresponding subnet" \
    network create --gateway "$(prefix "$s1")::1" gwonly
  refused_as_docker 1 "no matching subnet for gateway $(prefix "$s2")::1" \
    network create --ipv6 --subnet "$s1" --gateway "$(prefix "$s2")::1" gwout
  refused_as_docker 1 "no matching subnet for gateway 10.0.0.1" \
    network create --ipv6 --subnet "$s1" --gateway 10.0.0.1 gw4
  run_tug 1 network create --ipv6 --subnet fd00:zz::/64 bad6
  assert_match "^Error: invalid subnet fd00:zz::/64"
  # docker: "Invalid subnet fd00:zz::/64 : invalid CIDR address: fd00:zz::/64", exit 1
  refused_as_docker 1 "" network create --ipv6 --subnet fd00:zz::/64 bad6
  run_tug network create --ipv6 --subnet "$s1" first6
  # docker says "Pool overlaps with other one on this address space" (its own networks only)
  run_tug 1 network create --ipv6 --subnet "$(prefix "$s1")::/80" overlap6
  assert_match "^Error: subnet $(prefix "$s1")::/80 overlaps"
  run_tug network ls --format '{{.Name}}'
  refute_match '^(two6|two4|gwonly|gwout|gw4|bad6|overlap6)$'
  run_tug network rm first6
}

@test "network inspect of an IPv6 network shows EnableIPv6 and both subnets as docker does" {
  local s6 id
  s6=$(free_subnet6)
  run_tug network create --ipv6 --subnet "$s6" six
  id=$output
  run_tug network inspect -f '{{.EnableIPv6}}' six
  [ "$output" = true ]
  # docker lists IPv4 first, and the IPv6 gateway only when it was given
  run_tug network inspect -f '{{len .IPAM.Config}} {{(index .IPAM.Config 1).Subnet}} {{json (index .IPAM.Config 1)}}' six
  [ "$output" = "2 $s6 {\"Subnet\":\"$s6\"}" ]
  # the bridge carries the gateway, the subnet's first address
  ip -6 -o addr show dev "$(bridge_of six)" | grep -F " $(prefix "$s6")::1/64 "
  # host bits given in the subnet are dropped; a gateway given is listed
  local s7
  s7=$(free_subnet6)
  run_tug network create --subnet 10.231.7.0/24 --subnet "$(prefix "$s7")::5/64" \
    --gateway "$(prefix "$s7")::fe" --ipv6 sixgw
  run_tug network inspect -f '{{json .IPAM.Config}}' sixgw
  [ "$output" = "[{\"Subnet\":\"10.231.7.0/24\",\"Gateway\":\"10.231.7.1\"},{\"Subnet\":\"$s7\",\"Gateway\":\"$(prefix "$s7")::fe\"}]" ]
  # an IPv6 subnet without --ipv6: recorded, IPv6 off (docker 20.10)
  local s8
  s8=$(free_subnet6)
  run_tug network create --subnet "$s8" off6
  run_tug network inspect -f '{{.EnableIPv6}} {{len .IPAM.Config}}' off6
  [ "$output" = "false 2" ]
  run_tug network rm six sixgw off6
  [ "${lines[0]}" = six ]
}

# --- containers ---

@test "a container on an IPv6 network has its address, gateway and default route, shown in inspect" {
  has_ipv6 || skip "this host has IPv6 turned off"
  local s6 p
  s6=$(free_subnet6)
  p=$(prefix "$s6")
  run_tug network create --ipv6 --subnet "$s6" six
  run_tug run -d --name a6 --network six busybox sleep 300
  run_tug inspect -f '{{with index .NetworkSettings.Networks "six"}}{{.GlobalIPv6Address}} {{.GlobalIPv6PrefixLen}} {{.IPv6Gateway}}{{end}}' a6
  [ "$output" = "$p::2 64 $p::1" ]
  run_tug network inspect -f '{{range .Containers}}{{.Name}} {{.IPv6Address}}{{end}}' six
  [ "$output" = "a6 $p::2/64" ]
  # the address is there at once (no duplicate address detection holding it "tentative")
  run_tug exec a6 ip -6 addr show dev eth0 scope global
  assert_match "inet6 $p::2/64 scope global"
  refute_match tentative
  run_tug exec a6 ip -6 route show default
  assert_match "^default via $p::1 dev eth0"
  run_tug exec a6 ping6 -c 1 -W 5 "$p::1"
  # /etc/hosts names the container on both addresses, as docker's does
  run_tug exec a6 cat /etc/hosts
  assert_match "^$p::2	"
  # a container on a network without IPv6 shows docker's empty fields
  run_tug network create plain
  run_tug run -d --name a4 --network plain busybox sleep 300
  run_tug inspect -f '{{with index .NetworkSettings.Networks "plain"}}[{{.GlobalIPv6Address}}] {{.GlobalIPv6PrefixLen}} [{{.IPv6Gateway}}]{{end}}' a4
  [ "$output" = "[] 0 []" ]
  run_tug rm -f a6 a4
}

@test "containers on an IPv6 network reach each other by name over IPv6 (AAAA and ip6.arpa PTR)" {
  has_ipv6 || skip "this host has IPv6 turned off"
  local s6 p gw
  s6=$(free_subnet6)
  p=$(prefix "$s6")
  run_tug network create --ipv6 --subnet "$s6" six
  gw=$(timeout 30 "$TUG" network inspect -f '{{(index .IPAM.Config 0).Gateway}}' six)
  run_tug run -d --name web6 --network six --network-alias www6 busybox sleep 300
  run_tug run -d --name client6 --network six busybox sleep 300
  run_tug exec client6 nslookup -type=AAAA web6 "$gw"
  assert_match "^Address: $p::2$"
  run_tug exec client6 nslookup -type=AAAA www6 "$gw"
  assert_match "^Address: $p::2$"
  # the IPv4 answer is unchanged
  run_tug exec client6 nslookup -type=A web6 "$gw"
  assert_match "^Address: 10\."
  run_tug exec client6 nslookup "$p::2" "$gw"
  assert_match "name = web6"
  run_tug exec client6 ping6 -c 1 -W 5 web6
  assert_match "from $p::2"
  run_tug exec client6 ping6 -c 1 -W 5 www6
  run_tug rm -f web6 client6
}

@test "network connect gives the container an IPv6 address on the new network, no second default route" {
  has_ipv6 || skip "this host has IPv6 turned off"
  local s6 p
  s6=$(free_subnet6)
  p=$(prefix "$s6")
  run_tug network create --ipv6 --subnet "$s6" six
  run_tug network create plain
  run_tug run -d --name joiner --network plain busybox sleep 300
  run_tug network connect six joiner
  run_tug exec joiner ip -6 addr show dev eth1 scope global
  assert_match "inet6 $p::2/64"
  run_tug exec joiner ip -6 route show default
  [ -z "$output" ]
  run_tug inspect -f '{{(index .NetworkSettings.Networks "six").GlobalIPv6Address}}' joiner
  [ "$output" = "$p::2" ]
  run_tug network disconnect six joiner
  run_tug network inspect -f '{{len .Containers}}' six
  [ "$output" = 0 ]
  run_tug rm -f joiner
}

@test "a port published from a container on an IPv6 network answers on [::1] and 127.0.0.1" {
  has_ipv6 || skip "this host has IPv6 turned off"
  local s6 port
  s6=$(free_subnet6)
  port=$(fixture_free_port)
  run_tug network create --ipv6 --subnet "$s6" six
  run_tug run -d --name pub6 --network six -p "$port:80" busybox \
    sh -c "mkdir -p /www && echo 'page of pub6' >/www/index.html && exec httpd -f -p 80 -h /www"
  wait_until 10 bash -c "[[ \$(curl -sS -m 2 http://[::1]:$port/) == 'page of pub6' ]]"
  wait_until 10 bash -c "[[ \$(curl -sS -m 2 http://127.0.0.1:$port/) == 'page of pub6' ]]"
  run_tug rm -f pub6
}

@test "IPv6 addresses are handed out lowest first, and one freed by rm is handed out again" {
  has_ipv6 || skip "this host has IPv6 turned off"
  local s6 p
  s6=$(free_subnet6)
  p=$(prefix "$s6")
  run_tug network create --ipv6 --subnet "$s6" six
  run_tug run -d --name r1 --network six busybox sleep 300
  run_tug run -d --name r2 --network six busybox sleep 300
  run_tug inspect -f '{{(index .NetworkSettings.Networks "six").GlobalIPv6Address}}' r2
  [ "$output" = "$p::3" ]
  run_tug rm -f r1
  run_tug run -d --name r3 --network six busybox sleep 300
  run_tug inspect -f '{{(index .NetworkSettings.Networks "six").GlobalIPv6Address}}' r3
  [ "$output" = "$p::2" ]
  run_tug rm -f r2 r3
  run_tug network rm six
}

@test "--ip6 on run and network connect picks the container's IPv6 address; docker's refusals otherwise" {
  has_ipv6 || skip "this host has IPv6 turned off"
  local s6 p other
  s6=$(free_subnet6)
  p=$(prefix "$s6")
  other=$(prefix "$(free_subnet6)")
  run_tug network create --ipv6 --subnet "$s6" six
  run_tug network create plain
  run_tug run -d --name fixed6 --network six --ip6 "$p::42" busybox sleep 300
  run_tug inspect -f '{{(index .NetworkSettings.Networks "six").GlobalIPv6Address}}' fixed6
  [ "$output" = "$p::42" ]
  run_tug exec fixed6 ip -6 addr show dev eth0 scope global
  assert_match "inet6 $p::42/64"
  # the next container takes the lowest free address still
  run_tug run -d --name next6 --network six busybox sleep 300
  run_tug inspect -f '{{(index .NetworkSettings.Networks "six").GlobalIPv6Address}}' next6
  [ "$output" = "$p::2" ]
  # taken, the gateway, outside the subnet, on a network without IPv6, not an address
  run_tug 125 run -d --name dup6 --network six --ip6 "$p::42" busybox sleep 300
  assert_match "Address already in use: $p::42 in network six"
  run_tug 125 run -d --name gw6 --network six --ip6 "$p::1" busybox sleep 300
  assert_match "Address already in use: $p::1 is the gateway"
  run_tug 125 run -d --name out6 --network six --ip6 "$other::5" busybox sleep 300
  assert_match "Invalid address $other::5: It does not belong to any of this network's subnets"
  run_tug 125 run -d --name plain6 --network plain --ip6 "$p::7" busybox sleep 300
  assert_match "user specified IP address is supported only when connecting to networks with user configured subnets"
  run_tug 125 run -d --name bad6 --network six --ip6 zz busybox sleep 300
  assert_match "zz"
  run_tug 125 run -d --name def6 --ip6 "$p::8" busybox sleep 300
  assert_match "^Error: user specified IP address is only supported on user-defined networks"
  # network connect --ip6
  run_tug run -d --name joiner --network plain busybox sleep 300
  run_tug 1 network connect --ip6 "$other::5" six joiner
  assert_match "^Error: Invalid address $other::5"
  run_tug network connect --ip6 "$p::99" six joiner
  run_tug exec joiner ip -6 addr show dev eth1 scope global
  assert_match "inet6 $p::99/64"
  run_tug rm -f fixed6 next6 joiner
}

# --- network ls ---

@test "network ls --format has docker's fields: CreatedAt, IPv6, Internal, Labels, Label" {
  local s6
  s6=$(free_subnet6)
  run_tug network create --ipv6 --subnet "$s6" --label k=v --label a=b six
  run_tug network create --internal inner
  run_tug network ls --filter name=six --format '{{.Name}}|{{.IPv6}}|{{.Internal}}|{{.Labels}}|{{.Label "k"}}|{{.Label "none"}}|{{.Scope}}|{{.Driver}}'
  [ "$output" = "six|true|false|a=b,k=v|v||local|bridge" ]
  run_tug network ls --filter name=inner --format '{{.IPv6}} {{.Internal}} [{{.Labels}}]'
  [ "$output" = "false true []" ]
  # docker's time.Time text: "2006-01-02 15:04:05 +0000 UTC"
  run_tug network ls --filter name=six --format '{{.CreatedAt}}'
  [[ $output =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?\ \+0000\ UTC$ ]]
  run_tug network ls --format '{{.Name}} {{.IPv6}}'
  assert_match '^host false$'
  assert_match '^none false$'
  assert_match '^bridge false$'
  run_tug network ls --filter name=six --format '{{json .}}'
  assert_match '"IPv6":"true"'
  assert_match '"CreatedAt":"'
  run_tug network rm six inner
}

@test "network ls and inspect show an IPv6 network as docker shows its own" {
  local s6 d6 fields='{{.IPv6}}|{{.Internal}}|{{.Labels}}|{{.Label "k"}}|{{.Label "none"}}|{{.Scope}}|{{.Driver}}'
  local want='true|false|a=b,k=v|v||local|bridge' dname=tug230-ls-$RANDOM
  s6=$(free_subnet6)
  run_tug network create --ipv6 --subnet "$s6" --gateway "$(prefix "$s6")::fe" --label k=v --label a=b six
  run_tug network ls --filter name=six --format "$fields"
  [ "$output" = "$want" ]
  run_tug network inspect -f '{{.EnableIPv6}} {{json (index .IPAM.Config 1)}}' six
  [ "$output" = "true {\"Subnet\":\"$s6\",\"Gateway\":\"$(prefix "$s6")::fe\"}" ]
  docker_runs || return 0
  # the same network in docker (on a subnet of its own: the two would overlap)
  d6=$(free_subnet6)
  docker_network "$dname"
  run timeout 60 docker network create --ipv6 --subnet "$d6" --gateway "$(prefix "$d6")::fe" \
    --label k=v --label a=b "$dname"
  [ "$status" -eq 0 ]
  run timeout 60 docker network ls --filter "name=$dname" --format "$fields"
  [ "$output" = "$want" ]
  run timeout 60 docker network ls --filter "name=$dname" --format '{{.CreatedAt}}'
  [[ $output =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?\ \+0000\ UTC$ ]]
  run timeout 60 docker network inspect -f '{{.EnableIPv6}} {{json (index .IPAM.Config 1)}}' "$dname"
  [ "$output" = "true {\"Subnet\":\"$d6\",\"Gateway\":\"$(prefix "$d6")::fe\"}" ]
  run timeout 60 docker network rm "$dname"
  run_tug network rm six
}

# --- the store ---

@test "a store from before IPv6 (schema v7) opens: its networks keep working and take IPv6 ones" {
  command -v sqlite3 >/dev/null || skip "sqlite3 is not installed"
  local s6
  run_tug network create old
  # back to v7: the columns IPv6 added go, as in a store main's tug wrote
  sqlite3 "$TUG_ROOT/tug.db" 'DROP INDEX endpoints_ip6; ALTER TABLE networks DROP COLUMN subnet6;
    ALTER TABLE networks DROP COLUMN gateway6; ALTER TABLE networks DROP COLUMN enable_ipv6;
    ALTER TABLE endpoints DROP COLUMN ip6; PRAGMA user_version=7;'
  run_tug network inspect -f '{{.Name}} {{.EnableIPv6}} {{len .IPAM.Config}}' old
  [ "$output" = "old false 1" ]
  (( $(sqlite3 "$TUG_ROOT/tug.db" 'PRAGMA user_version') >= 8 ))
  run_tug run -d --name survivor --network old busybox sleep 300
  s6=$(free_subnet6)
  run_tug network create --ipv6 --subnet "$s6" new6
  run_tug network inspect -f '{{.EnableIPv6}}' new6
  [ "$output" = true ]
  # a version set back without the columns removed (as older migrations' tests do) takes v8 again
  sqlite3 "$TUG_ROOT/tug.db" 'PRAGMA user_version=7;'
  run_tug network inspect -f '{{.EnableIPv6}}' new6
  [ "$output" = true ]
  run_tug rm -f survivor
  run_tug network rm old new6
}
