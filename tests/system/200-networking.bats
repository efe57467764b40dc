#!/usr/bin/env bats
# Networking: published ports (tcp, udp, ranges, chosen ports, -P), the default bridge and user
# networks, names on them, --network none/host, --ip/--dns/--add-host, port conflicts, the
# network commands, clean-up of links and rules, and tug beside a running dockerd.
#
# Traffic goes only to 127.0.0.1, this host's addresses, tug's containers and bridges, and
# network namespaces made here. Containers that look names up get --dns 127.0.0.1, so that a
# name not in /etc/hosts fails at once instead of asking the host's resolver.

load containers

setup_file() { containers_setup_file; }

# on_teardown COMMAND [ARG...]: run COMMAND when the test ends, pass or fail (last in, first
# out), after its containers and networks are gone
on_teardown() {
  printf '%q ' "$@" >>"$BATS_TEST_TMPDIR/on-teardown"
  echo >>"$BATS_TEST_TMPDIR/on-teardown"
}

eval "_containers_teardown() $(declare -f teardown | sed 1d)"
teardown() {
  _containers_teardown
  timeout 30 "$TUG" network prune -f >/dev/null 2>&1
  if [[ -f $BATS_TEST_TMPDIR/on-teardown ]]; then
    local cmd
    while read -r cmd; do eval "$cmd" >/dev/null 2>&1; done < <(tac "$BATS_TEST_TMPDIR/on-teardown")
  fi
  return 0
}

# background COMMAND [ARG...]: start a host process for this test; its pid is in $BG_PID and
# teardown kills it
background() {
  "$@" </dev/null >>"$BATS_TEST_TMPDIR/background.log" 2>&1 3>&- &
  BG_PID=$!
  disown "$BG_PID"
  on_teardown kill -9 "$BG_PID"
}

# web NAME [RUN-OPTIONS...]: a busybox httpd container serving "page of NAME" on port 80
web() {
  local name=$1
  shift
  run_tug run -d --name "$name" "$@" busybox \
    sh -c "mkdir -p /www && echo 'page of $name' >/www/index.html && exec httpd -f -p 80 -h /www"
}

# page PORT [ADDR]: the page at http://ADDR:PORT/ (ADDR defaults to 127.0.0.1)
page() { curl -sS -m 2 "http://${2:-127.0.0.1}:$1/"; }

# serves PORT TEXT [ADDR]: the page there reads TEXT (for wait_until)
serves() { [[ $(page "$1" "${3:-}") == "$2" ]]; }

# refuses PORT [ADDR]: a connection there is refused (nothing listens, no rule leads anywhere)
refuses() {
  run curl -sS -m 2 "http://${2:-127.0.0.1}:$1/"
  [[ $status -eq 7 ]] && return 0
  echo "curl ${2:-127.0.0.1}:$1: exit $status (7 is 'connection refused'): $output" >&2
  return 1
}

# fetch CONTAINER ADDR [PORT]: from inside CONTAINER, GET http://ADDR:PORT/ with busybox nc
# (busybox wget crashes on some kernels); prints the body's last line, or nc's error and fails
fetch() {
  local out
  out=$(timeout 20 "$TUG" exec "$1" sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 $2 ${3:-80}" 2>&1) ||
    { echo "$out"; return 1; }
  printf '%s\n' "$out" | tail -n 1
}

# fetches CONTAINER ADDR TEXT [PORT]: fetch prints TEXT (for wait_until)
fetches() { [[ $(fetch "$1" "$2" "${4:-80}") == "$3" ]]; }

# six LINE...: the LINEs when this host has IPv6 (a port published on every address is on [::]
# too), nothing otherwise
six() { [[ $(cat /proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null) == 0 ]] && printf '%s\n' "$@"; return 0; }

# free_ports N: N distinct free TCP ports
free_ports() {
  local -A seen=()
  local p n=0
  while ((n < $1)); do
    p=$(fixture_free_port) || return
    [[ -n ${seen[$p]:-} ]] && continue
    seen[$p]=1
    echo "$p"
    n=$((n + 1))
  done
}

# free_port_range N: the first of N consecutive ports that are all free for TCP and UDP
free_port_range() {
  python3 - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randint(40000, 60000 - n)
    socks = []
    try:
        for p in range(base, base + n):
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                s = socket.socket(socket.AF_INET, kind)
                socks.append(s)
                s.bind(("0.0.0.0", p))
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    sys.exit(0)
sys.exit("no free range of %d ports" % n)
EOF
}

# in_subnet ADDR CIDR: ADDR is an address of CIDR
in_subnet() {
  python3 -c 'import ipaddress, sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network(sys.argv[2]))' "$1" "$2"
}

# free_subnet: a random /24 of 10.160.0.0/12 that no route of this host overlaps
free_subnet() {
  python3 <<'EOF'
import ipaddress, random, subprocess, sys
routes = []
for line in subprocess.run(["ip", "-4", "-o", "route", "show", "table", "all"], capture_output=True,
                           text=True).stdout.splitlines():
    w = line.split()
    if w and w[0] in ("local", "broadcast", "unicast", "unreachable", "blackhole", "prohibit"):
        w = w[1:]
    if w and w[0] != "default":
        try:
            routes.append(ipaddress.ip_network(w[0], strict=False))
        except ValueError:
            pass
for _ in range(500):
    net = ipaddress.ip_network("10.%d.%d.0/24" % (random.randint(160, 175), random.randint(0, 255)))
    if not any(net.overlaps(r) for r in routes):
        print(net)
        sys.exit(0)
sys.exit("no free /24 in 10.160.0.0/12")
EOF
}

# bridge_of NETWORK: the name of the network's Linux bridge
bridge_of() { timeout 30 "$TUG" network inspect -f '{{index .Options "com.docker.network.bridge.name"}}' "$1"; }

# subnet_of / gateway_of NETWORK
subnet_of() { timeout 30 "$TUG" network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "$1"; }
gateway_of() { timeout 30 "$TUG" network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' "$1"; }

# tug_rules: tug's nftables table (inet tug, or ip tug)
tug_rules() { nft list table inet tug 2>/dev/null || nft list table ip tug 2>/dev/null; }

# peer_index CONTAINER: the interface index of the host end of the container's eth0
peer_index() { timeout 20 "$TUG" exec "$1" cat /sys/class/net/eth0/iflink; }

# link_gone INDEX: within 10 s, no network interface of this host has that index. A veth pair
# goes with its container's network namespace, which the kernel tears down from a work queue
# a little after the container's last process has exited.
link_gone() {
  local name deadline=$((SECONDS + 10))
  while name=$(ip -o link | grep "^$1: " | cut -d' ' -f2) && [[ -n $name ]]; do
    if ((SECONDS >= deadline)); then
      echo "still there after 10 s: $name" >&2
      return 1
    fi
    sleep 0.1
  done
}

# remote_host: a network namespace standing in for another machine, joined to this host by a
# veth pair on a private /30 of 10.215.0.0/16. Sets REMOTE_NS, HOST_ADDR (this host's end) and
# REMOTE_ADDR; teardown removes both. Run commands there with in_remote.
remote_host() {
  local x i
  for i in $(seq 50); do
    x=$((RANDOM % 256))
    ip -4 -o route show table all | grep -qE "(^| )10\.215\.$x\.[0-9]+/|(^| )10\.215\.0\.0/16 " || break
  done
  REMOTE_NS=tugtest$RANDOM
  ip netns add "$REMOTE_NS" || return
  on_teardown ip netns del "$REMOTE_NS"
  local hostif=tugr$RANDOM
  ip link add "$hostif" type veth peer name eth0 netns "$REMOTE_NS" || return
  on_teardown ip link del "$hostif"
  HOST_ADDR=10.215.$x.1 REMOTE_ADDR=10.215.$x.2
  ip addr add "$HOST_ADDR/30" dev "$hostif" && ip link set "$hostif" up &&
    in_remote ip addr add "$REMOTE_ADDR/30" dev eth0 && in_remote ip link set eth0 up &&
    in_remote ip link set lo up
}
in_remote() { nsenter --net="/run/netns/$REMOTE_NS" "$@"; }

# ---------------------------------------------------------------------------------------
# Published ports

@test "three web servers on three host ports each answer with their own page" {
  local p1 p2 p3
  read -r p1 p2 p3 <<<"$(free_ports 3 | xargs)"
  web one -p "$p1:80"
  web two -p "$p2:80"
  web three -p "$p3:80"
  wait_until 10 serves "$p1" "page of one"
  wait_until 10 serves "$p2" "page of two"
  wait_until 10 serves "$p3" "page of three"
}

@test "stopping and removing one web server leaves the others answering and its port refused" {
  local p1 p2 p3
  read -r p1 p2 p3 <<<"$(free_ports 3 | xargs)"
  web one -p "$p1:80"
  web two -p "$p2:80"
  web three -p "$p3:80"
  wait_until 10 serves "$p2" "page of two"

  run_tug stop -t 1 two
  serves "$p1" "page of one"
  serves "$p3" "page of three"
  refuses "$p2"

  run_tug rm two
  serves "$p1" "page of one"
  serves "$p3" "page of three"
  refuses "$p2"
}

@test "a stopped container gives its host port back and takes it again on start" {
  local port
  port=$(fixture_free_port)
  web again -p "$port:80"
  wait_until 10 serves "$port" "page of again"
  run_tug stop -t 1 again
  refuses "$port"
  run_tug start again
  wait_until 10 serves "$port" "page of again"
}

@test "ps shows published ports in the PORTS column and tug port lists them" {
  local tcp lo base
  read -r tcp lo <<<"$(free_ports 2 | xargs)"
  base=$(free_port_range 1)
  run_tug run -d --name pub -p "$tcp:80" -p "127.0.0.1:$lo:81" -p "$base:5353/udp" busybox sleep 60

  run_tug ps --format '{{.Ports}}'
  output=$(sed 's/, /\n/g' <<<"$output" | sort)
  assert_output "$({ printf '%s\n' "0.0.0.0:$tcp->80/tcp" "127.0.0.1:$lo->81/tcp" \
    "0.0.0.0:$base->5353/udp"; six "[::]:$tcp->80/tcp" "[::]:$base->5353/udp"; } | sort)"
  run_tug ps
  [[ ${lines[0]} =~ PORTS ]]
  assert_match "0\.0\.0\.0:$tcp->80/tcp"

  run_tug port pub
  output=$(sort <<<"$output")
  assert_output "$({ printf '%s\n' "80/tcp -> 0.0.0.0:$tcp" "81/tcp -> 127.0.0.1:$lo" \
    "5353/udp -> 0.0.0.0:$base"; six "80/tcp -> [::]:$tcp" "5353/udp -> [::]:$base"; } | sort)"
  run_tug port pub 80
  assert_output "$(printf '%s\n' "0.0.0.0:$tcp"; six "[::]:$tcp")"
  run_tug port pub 81/tcp
  assert_output "127.0.0.1:$lo"
  run_tug port pub 5353/udp
  assert_output "$(printf '%s\n' "0.0.0.0:$base"; six "[::]:$base")"
  run_tug 1 port pub 9999
  assert_match "No public port '9999/tcp' published for pub"
}

@test "inspect shows the container's address in the network's subnet and its ports" {
  local port
  port=$(fixture_free_port)
  run_tug run -d --name seen -p "$port:80" busybox sleep 60
  local ip subnet
  ip=$(inspect_f seen '{{.NetworkSettings.IPAddress}}')
  subnet=$(subnet_of bridge)
  [[ -n $ip && -n $subnet ]]
  in_subnet "$ip" "$subnet"
  assert_inspect seen '{{.NetworkSettings.Networks.bridge.IPAddress}}' "$ip"
  assert_inspect seen '{{json .NetworkSettings.Ports}}' "{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"$port\"}$(six ",{\"HostIp\":\"::\",\"HostPort\":\"$port\"}")]}"
  # the address the container itself has
  run_tug exec seen ip -o -4 addr show eth0
  assert_match "inet $ip/"
  # and the network lists the container
  run_tug network inspect -f '{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}' bridge
  assert_output "seen $ip/${subnet#*/}"
}

@test "a range of host ports publishes a range of container ports" {
  local base
  base=$(free_port_range 2)
  run_tug run -d --name ranged -p "$base-$((base + 1)):80-81" busybox sh -c \
    'mkdir /a /b && echo page-80 >/a/index.html && echo page-81 >/b/index.html &&
     httpd -p 81 -h /b && exec httpd -f -p 80 -h /a'
  wait_until 10 serves "$base" page-80
  wait_until 10 serves "$((base + 1))" page-81
  run_tug port ranged
  output=$(sort <<<"$output")
  assert_output "$({ printf '%s\n' "80/tcp -> 0.0.0.0:$base" "81/tcp -> 0.0.0.0:$((base + 1))"
    six "80/tcp -> [::]:$base" "81/tcp -> [::]:$((base + 1))"; } | sort)"
}

@test "-p CONTAINERPORT publishes on a free host port that tug port tells" {
  web chosen -p 80
  run_tug port chosen 80/tcp
  [[ ${lines[0]} =~ ^0\.0\.0\.0:([0-9]+)$ ]]
  local port=${BASH_REMATCH[1]}
  ((port >= 1024 && port <= 65535))
  assert_output "$(printf '%s\n' "0.0.0.0:$port"; six "[::]:$port")"
  wait_until 10 serves "$port" "page of chosen"
  run_tug ps --format '{{.Ports}}'
  assert_output "0.0.0.0:$port->80/tcp$(six ", [::]:$port->80/tcp")"
}

@test "-P publishes the ports the image EXPOSEs on free host ports" {
  fixture_rootfs "$BATS_TEST_TMPDIR/rootfs"
  tar -C "$BATS_TEST_TMPDIR/rootfs" -cf "$BATS_TEST_TMPDIR/rootfs.tar" .
  run_tug import -c 'EXPOSE 80' "$BATS_TEST_TMPDIR/rootfs.tar" exposed
  run_tug run -d --name all -P exposed \
    sh -c "mkdir -p /www && echo 'page of all' >/www/index.html && exec httpd -f -p 80 -h /www"
  run_tug port all
  [[ ${lines[0]} =~ ^80/tcp\ -\>\ 0\.0\.0\.0:([0-9]+)$ ]]
  local port=${BASH_REMATCH[1]}
  assert_output "$(printf '%s\n' "80/tcp -> 0.0.0.0:$port"; six "80/tcp -> [::]:$port")"
  wait_until 10 serves "$port" "page of all"
}

@test "-p HOSTPORT:CONTAINERPORT/udp forwards datagrams both ways, over IPv4 and IPv6" {
  local port
  port=$(free_port_range 1)
  run_tug run -d --name dgram -p "$port:5353/udp" busybox sleep 120
  # busybox's nc has no -u here: the UDP echo server is python3 in the container's network
  # namespace, which is all that -p sees of the container
  local pid
  pid=$(inspect_f dgram '{{.State.Pid}}')
  background nsenter --net="/proc/$pid/ns/net" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5353))
s.settimeout(60)
open(sys.argv[1], "w").write("ready")
while True:
    d, a = s.recvfrom(512)
    s.sendto(b"echo:" + d, a)
' "$BATS_TEST_TMPDIR/udp-ready"
  wait_until 10 test -s "$BATS_TEST_TMPDIR/udp-ready"
  local addr
  for addr in 127.0.0.1 $(six ::1); do
    run python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
for _ in range(3):
    s.sendto(b"ping " + sys.argv[1].encode(), (sys.argv[1], int(sys.argv[2])))
    try:
        print(s.recvfrom(512)[0].decode()); sys.exit(0)
    except socket.timeout:
        pass
sys.exit("no answer")
' "$addr" "$port"
    echo "$output"
    [[ $status -eq 0 ]]
    assert_output "echo:ping $addr"
  done
  run_tug port dgram 5353/udp
  assert_output "$(printf '%s\n' "0.0.0.0:$port"; six "[::]:$port")"
}

# freed_both PORT: a server can listen on PORT again on 0.0.0.0 and on [::] (with SO_REUSEADDR,
# as servers do: the relayed connections linger in TIME_WAIT)
freed_both() {
  python3 - "$1" <<'EOF'
import socket, sys
p = int(sys.argv[1])
a = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
a.bind(("0.0.0.0", p)); a.listen(1)
b = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
b.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
b.bind(("::", p)); b.listen(1)
EOF
}

@test "a port published on every address answers on [::1] too, as docker lists it, until the container stops" {
  [[ -n $(six yes) ]] || skip "this host has no IPv6"
  local port
  port=$(fixture_free_port)
  web dual -p "$port:80"
  wait_until 10 serves "$port" "page of dual" "[::1]"
  wait_until 10 serves "$port" "page of dual"
  run_tug ps --format '{{.Ports}}'
  assert_output "0.0.0.0:$port->80/tcp, [::]:$port->80/tcp"
  run_tug port dual
  assert_output "$(printf '%s\n' "80/tcp -> 0.0.0.0:$port" "80/tcp -> [::]:$port")"
  assert_inspect dual '{{json .NetworkSettings.Ports}}' \
    "{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"$port\"},{\"HostIp\":\"::\",\"HostPort\":\"$port\"}]}"
  # a large request body passes the relay and the server's answer comes back
  run curl -sS -m 5 -o /dev/null -w '%{http_code}' --data-binary "@$TUG" "http://[::1]:$port/"
  [[ $output =~ ^[0-9]{3}$ ]]

  run_tug stop -t 1 dual
  wait_until 10 refuses "$port" "[::1]"
  refuses "$port"
  freed_both "$port"
  run_tug start dual
  wait_until 10 serves "$port" "page of dual" "[::1]"
  run_tug rm -f dual
  wait_until 10 refuses "$port" "[::1]"
  freed_both "$port"
}

@test "-p 127.0.0.1:P:80 publishes on IPv4 only, -p [::1]:P:80 on IPv6 only" {
  [[ -n $(six yes) ]] || skip "this host has no IPv6"
  local p4 p6
  read -r p4 p6 <<<"$(free_ports 2 | xargs)"
  web apart -p "127.0.0.1:$p4:80" -p "[::1]:$p6:81"
  wait_until 10 serves "$p4" "page of apart"
  refuses "$p4" "[::1]"
  # nothing serves on the container's 81: ::1 accepts and the relay closes, 127.0.0.1 refuses
  run curl -sS -m 2 "http://[::1]:$p6/"
  [[ $status -ne 0 && $status -ne 7 ]]
  refuses "$p6"
  run_tug ps --format '{{.Ports}}'
  assert_output "127.0.0.1:$p4->80/tcp, [::1]:$p6->81/tcp"
  run_tug port apart 81
  assert_output "[::1]:$p6"
  assert_inspect apart '{{json .NetworkSettings.Ports}}' \
    "{\"80/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"$p4\"}],\"81/tcp\":[{\"HostIp\":\"::1\",\"HostPort\":\"$p6\"}]}"
  run_tug rm -f apart
  web v6only -p "[::1]:$p6:80"
  wait_until 10 serves "$p6" "page of v6only" "[::1]"
  refuses "$p6"
}

@test "an IPv6 host address not on this host, or an IPv6 port held, is refused with exit 125" {
  [[ -n $(six yes) ]] || skip "this host has no IPv6"
  local port
  port=$(fixture_free_port)
  run_tug 125 run -d --name far -p "[2001:db8::1]:$port:80" busybox true
  assert_match "cannot publish on \[2001:db8::1\]:$port: no such address on this host"
  background python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.bind(("::1", int(sys.argv[1]))); s.listen(1)
open(sys.argv[2], "w").write("ready")
time.sleep(120)
' "$port" "$BATS_TEST_TMPDIR/held"
  wait_until 10 test -s "$BATS_TEST_TMPDIR/held"
  run_tug 125 run -d --name held -p "$port:80" busybox true
  assert_match "Bind for \[::\]:$port failed: port is already allocated"
  run_tug ps -q
  assert_output ""
}

@test "a published port answers another host; one published on 127.0.0.1 does not" {
  remote_host
  local pub lo
  read -r pub lo <<<"$(free_ports 2 | xargs)"
  web open -p "$pub:80"
  web local -p "127.0.0.1:$lo:80"
  wait_until 10 serves "$pub" "page of open"
  wait_until 10 serves "$lo" "page of local"

  run in_remote curl -sS -m 2 "http://$HOST_ADDR:$pub/"
  [[ $status -eq 0 ]] || { echo "from $REMOTE_ADDR: curl exit $status: $output" >&2; false; }
  assert_output "page of open"

  run in_remote curl -sS -m 2 "http://$HOST_ADDR:$lo/"
  [[ $status -ne 0 ]] || { echo "127.0.0.1:$lo answered $REMOTE_ADDR: $output" >&2; false; }
}

# ---------------------------------------------------------------------------------------
# Port conflicts and bad specs

@test "a container reaches its own published port, and another's, through the host's address" {
  local p1 p2
  read -r p1 p2 <<<"$(free_ports 2 | xargs)"
  web self -p "$p1:80"
  web other -p "$p2:80"
  wait_until 10 serves "$p1" "page of self"
  local gw
  gw=$(gateway_of bridge)
  # the host's address on the bridge: the DNATed packet goes back out of the port it came in by
  wait_until 10 fetches self "$gw" "page of self" "$p1"
  wait_until 10 fetches self "$gw" "page of other" "$p2"
  # and the host's address on another interface, where there is one
  local addr
  addr=$(ip -4 -o addr show scope global | awk '$2 !~ /^(tug|docker|br-|veth)/ {split($4, a, "/"); print a[1]; exit}')
  if [[ -n $addr ]]; then
    wait_until 10 fetches self "$addr" "page of self" "$p1"
  fi
}

@test "a host port a container holds is refused to a second container, naming the first" {
  local port
  port=$(fixture_free_port)
  web first -p "$port:80"
  wait_until 10 serves "$port" "page of first"
  run_tug 125 run -d --name second -p "$port:80" busybox sleep 60
  assert_match "Bind for 0\.0\.0\.0:$port failed: port is already allocated by container first"
  # nothing of the second runs, no rule of it is left, and the port still leads to the first
  run_tug ps --format '{{.Names}}'
  assert_output first
  run ! status_is second running
  local id
  if id=$(inspect_f second '{{.Id}}') && [[ -n $id ]]; then
    run tug_rules
    refute_match "$id"
  fi
  serves "$port" "page of first"
  # nor can a host process take it while the first runs
  run python3 -c 'import socket, sys; socket.socket().bind(("0.0.0.0", int(sys.argv[1])))' "$port"
  [[ $status -ne 0 ]] || { echo "a host process could bind port $port" >&2; false; }
  assert_match "Address already in use"
  # the same number over UDP is another port
  run_tug run -d --name third -p "$port:53/udp" busybox sleep 60
}

@test "a host port a process holds is refused, naming the process" {
  local port
  port=$(fixture_free_port)
  background python3 -m http.server "$port" --bind 0.0.0.0 --directory "$BATS_TEST_TMPDIR"
  wait_until 10 curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$port/"
  run_tug 125 run -d --name late -p "$port:80" busybox sleep 60
  assert_match "Bind for 0\.0\.0\.0:$port failed: port is already allocated by process $BG_PID \(python3"
  run_tug ps -q
  assert_output ""
}

@test "a host port a dual-stack listener ([::]) holds is refused, naming the process" {
  local port
  port=$(fixture_free_port)
  background busybox nc -l -p "$port"
  wait_until 10 sh -c "ss -Hltn | grep -q ':$port '"
  run_tug 125 run -d --name late -p "$port:80" busybox sleep 60
  assert_match "Bind for 0\.0\.0\.0:$port failed: port is already allocated by process $BG_PID \((busybox|nc)\)"
}

@test "bad -p specs are refused with exit 125 and create nothing" {
  run_tug 125 run -d --name bad -p abc busybox true
  assert_match 'abc'
  run_tug 125 run -d --name bad -p 70000:80 busybox true
  assert_match 'invalid hostPort.*70000'
  run_tug 125 run -d --name bad -p 80:70000 busybox true
  assert_match 'invalid containerPort.*70000'
  run_tug 125 run -d --name bad -p 8000-8002:80-81 busybox true
  assert_match '8000-8002'
  run_tug 125 create --name bad -p 1.2.3:80:80 busybox true
  run_tug ps -aq
  assert_output ""
}

@test "--network with an unknown network fails with exit 125 and creates nothing" {
  run_tug 125 run --name lost --network nosuchnet busybox true
  assert_match "network nosuchnet not found"
  run_tug 125 create --name strayed --network nosuchnet busybox true
  assert_match "network nosuchnet not found"
  run_tug ps -aq
  assert_output ""
}

# ---------------------------------------------------------------------------------------
# The default bridge and user networks

@test "containers on the default bridge reach each other by address, not by name" {
  web server
  run_tug run -d --name client --dns 127.0.0.1 busybox sleep 120
  run_tug exec client cat /etc/resolv.conf
  assert_output "nameserver 127.0.0.1"
  local ip
  ip=$(inspect_f server '{{.NetworkSettings.IPAddress}}')
  wait_until 10 fetches client "$ip" "page of server"
  run fetch client server
  [[ $status -ne 0 ]]
  assert_match "bad address 'server'"
}

@test "containers on a user network reach each other by name, short ID and alias" {
  run_tug network create appnet
  # the client starts first: it learns of the server when the server comes
  run_tug run -d --name client --network appnet --dns 127.0.0.1 busybox sleep 120
  web server --network appnet --network-alias www
  local id
  id=$(inspect_f server '{{.Id}}')
  wait_until 10 fetches client server "page of server"
  run fetch client www
  assert_output "page of server"
  run fetch client "${id:0:12}"
  assert_output "page of server"
  # the server's address is in the network's subnet
  in_subnet "$(inspect_f server '{{.NetworkSettings.Networks.appnet.IPAddress}}')" "$(subnet_of appnet)"
  # and once the server is gone, so is its name
  run_tug rm -f server
  run fetch client server
  [[ $status -ne 0 ]]
  assert_match "bad address 'server'"
}

@test "containers on different networks cannot reach each other" {
  run_tug network create isolated
  web inside --network isolated
  run_tug run -d --name outside busybox sleep 120
  run_tug run -d --name neighbour --network isolated busybox sleep 120
  local ip
  ip=$(inspect_f inside '{{.NetworkSettings.Networks.isolated.IPAddress}}')
  wait_until 10 fetches neighbour "$ip" "page of inside"
  run fetch outside "$ip"
  [[ $status -ne 0 ]] || { echo "a container on the default bridge fetched from $ip: $output" >&2; false; }
}

@test "--ip gives a fixed address on a user network, once, and only there" {
  local subnet
  subnet=$(free_subnet)
  run_tug network create --subnet "$subnet" fixed
  local addr=${subnet%.0/24}.50
  run_tug run -d --name pinned --network fixed --ip "$addr" busybox sleep 120
  assert_inspect pinned '{{.NetworkSettings.Networks.fixed.IPAddress}}' "$addr"
  run_tug exec pinned ip -o -4 addr show eth0
  assert_match "inet $addr/24"
  # docker: "Address already in use"
  run_tug 125 run -d --name twin --network fixed --ip "$addr" busybox sleep 120
  assert_match "$addr"
  run_tug 125 run -d --name astray --network fixed --ip 192.0.2.200 busybox sleep 120
  assert_match "192\.0\.2\.200"
  run_tug 125 run -d --name plain --ip "$addr" busybox sleep 120
  assert_match "user specified IP address is (only )?supported on user[- ]defined networks"
  run_tug ps --format '{{.Names}}'
  assert_output pinned
  run_tug network inspect -f '{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}' fixed
  assert_output "pinned $addr/24"
}

@test "--network none leaves the container only its loopback interface" {
  run_tug run --rm --network none busybox ip -o link
  [[ ${#lines[@]} -eq 1 && ${lines[0]} =~ ^1:\ lo: ]]
  run_tug run -d --name alone --network none busybox sleep 60
  assert_inspect alone '{{.NetworkSettings.IPAddress}}' ""
}

@test "--network host shows the container the host's interfaces" {
  local dev
  dev=$(ip -o route show default | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')
  [[ -n $dev ]] || dev=$(ip -o link | awk -F': ' '$2 != "lo" { sub(/@.*/, "", $2); print $2; exit }')
  local mac
  mac=$(cat "/sys/class/net/$dev/address")
  run_tug run --rm --network host busybox ip -o link show "$dev"
  assert_match "^[0-9]+: $dev[:@].*link/ether $mac"
  run_tug run --rm --network host busybox ip -o -4 addr show lo
  assert_match "inet 127\.0\.0\.1/8"
}

@test "a container on the host network has the host's name" {
  run_tug run --rm --network host busybox hostname
  assert_output "$(hostname)"
}

@test "--dns, --add-host and -h reach resolv.conf, hosts and the hostname" {
  run_tug run --rm --dns 192.0.2.53 --add-host db.example:192.0.2.10 -h myhost busybox \
    sh -c 'cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; hostname'
  local resolv=${output%%---*} hosts=${output#*---}
  hosts=${hosts%---*}
  grep -qx 'nameserver 192.0.2.53' <<<"$resolv"
  [[ $(grep -c nameserver <<<"$resolv") -eq 1 ]]
  grep -qE '^192\.0\.2\.10[[:space:]]+db\.example$' <<<"$hosts"
  grep -qE '^127\.0\.0\.1[[:space:]]+localhost' <<<"$hosts"
  grep -qE '[[:space:]]myhost$' <<<"$hosts"
  [[ ${lines[-1]} == myhost ]]
}

# ---------------------------------------------------------------------------------------
# network commands

@test "network ls lists the predefined networks and created ones; -q, --format and --filter" {
  run_tug network create --label team=web labnet
  local id=$output
  [[ $id =~ ^[0-9a-f]{64}$ ]]
  run_tug network ls
  [[ ${lines[0]} =~ ^NETWORK\ ID\ +NAME\ +DRIVER\ +SCOPE$ ]]
  assert_match "^${id:0:12} +labnet +bridge +local$"
  assert_match "^[0-9a-f]{12} +bridge +bridge +local$"
  assert_match "^[0-9a-f]{12} +host +host +local$"
  assert_match "^[0-9a-f]{12} +none +null +local$"
  # every network has an ID of its own, and keeps it
  run_tug network ls -q
  local ids=$output
  [[ $(sort -u <<<"$ids" | wc -l) -eq 4 ]]
  run_tug network ls -q
  assert_output "$ids"
  run_tug network ls -q --filter name=labnet
  assert_output "${id:0:12}"
  run_tug network ls --filter name=labnet --format '{{.Name}} {{.Driver}}'
  assert_output "labnet bridge"
  # values of one filter are or-ed, filters are and-ed, as in docker
  run_tug network ls --filter name=labnet --filter name=none --format '{{.Name}}'
  assert_output $'labnet\nnone'
  run_tug network ls --filter type=custom --filter label=team=web --format '{{.Name}}'
  assert_output labnet
  run_tug network ls --filter type=custom --filter label=team=db --format '{{.Name}}'
  assert_output ""
  run_tug network ls --filter type=builtin --filter driver=null --format '{{.Name}}'
  assert_output none
  run_tug network ls --filter "id=${id:0:8}" --format '{{.Name}}'
  assert_output labnet
  run_tug 1 network ls --filter colour=blue
  assert_match "invalid filter 'colour=blue'"
  run_tug network inspect -f '{{index .Labels "team"}} {{.Driver}} {{.Internal}}' labnet
  assert_output "web bridge false"
  # docker's way to one field of the first IPAM config
  local subnet
  subnet=$(subnet_of labnet)
  run_tug network inspect -f '{{(index .IPAM.Config 0).Subnet}}' labnet
  assert_output "$subnet"
}

@test "network inspect prints the networks found, names the missing one, and exits 1" {
  run_tug 1 network inspect -f '{{.Name}} {{.Driver}}' bridge nosuchnet
  assert_match "^bridge bridge$"
  assert_match "^Error: network nosuchnet not found$"
  run_tug 1 network inspect nosuchnet
  assert_match "^\[\]$"
}

@test "network create refuses a subnet that overlaps another network's" {
  local subnet
  subnet=$(free_subnet)
  run_tug network create --subnet "$subnet" first
  run_tug 1 network create --subnet "${subnet%/24}/25" second
  assert_match "overlap"
  run_tug 1 network create --subnet "$(subnet_of bridge)" third
  assert_match "overlap"
  run_tug network ls --format '{{.Name}}'
  refute_match '^(second|third)$'
}

@test "network rm refuses a network in use, naming the container; then removes it and its bridge" {
  run_tug network create busy
  local br
  br=$(bridge_of busy)
  [[ -n $br ]]
  run_tug run -d --name user --network busy busybox sleep 120
  ip link show "$br" >/dev/null
  run_tug 1 network rm busy
  assert_match "busy"
  assert_match "user"
  run_tug rm -f user
  run_tug network rm busy
  assert_output busy
  run ip link show "$br"
  [[ $status -ne 0 ]] || { echo "bridge $br is still there" >&2; false; }
  run_tug network ls --format '{{.Name}}'
  refute_match '^busy$'
  # the pre-defined networks stay
  local net
  for net in bridge host none; do
    run_tug 1 network rm "$net"
    assert_output "Error: $net is a pre-defined network and cannot be removed"
  done
}

@test "network prune -f removes unused networks and their bridges, keeping those in use" {
  run_tug network create unused
  run_tug network create used
  local br
  br=$(bridge_of unused)
  run_tug run -d --name keeper --network used busybox sleep 120
  run_tug network prune -f
  assert_output $'Deleted Networks:\nunused'
  run ip link show "$br"
  [[ $status -ne 0 ]]
  run_tug network ls --format '{{.Name}}'
  assert_match '^used$'
  refute_match '^unused$'
}

@test "network connect attaches a running container to another network, under its name" {
  run_tug network create frontnet
  web server
  run_tug run -d --name client --network frontnet --dns 127.0.0.1 busybox sleep 120
  run_tug network connect frontnet server
  local ip
  ip=$(inspect_f server '{{.NetworkSettings.Networks.frontnet.IPAddress}}')
  in_subnet "$ip" "$(subnet_of frontnet)"
  wait_until 10 fetches client server "page of server"
  # still on the default bridge too
  [[ -n $(inspect_f server '{{.NetworkSettings.Networks.bridge.IPAddress}}') ]]
}

@test "network disconnect detaches a container from a network" {
  run_tug network create backnet
  web server --network backnet
  run_tug run -d --name client --network backnet --dns 127.0.0.1 busybox sleep 120
  wait_until 10 fetches client server "page of server"
  run_tug network disconnect backnet server
  assert_inspect server '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' ""
  run_tug exec server ip -o link
  [[ ${#lines[@]} -eq 1 && ${lines[0]} =~ ^1:\ lo: ]]
  run fetch client server
  [[ $status -ne 0 ]]
}

# ---------------------------------------------------------------------------------------
# Clean-up of links, rules and ports

@test "rm -f of 20 containers with published ports leaves no links, no rules, no held ports" {
  local -a ports ids links
  mapfile -t ports < <(free_ports 20)
  local i
  for i in $(seq 0 19); do
    run_tug run -d --name "pub$i" -p "${ports[i]}:80" busybox sleep 120
    ids+=("$output")
    links+=("$(peer_index "pub$i")")
  done
  run tug_rules
  assert_match "dport ${ports[0]} "
  run_tug rm -f "${ids[@]}"
  for i in $(seq 0 19); do link_gone "${links[i]}"; done
  run tug_rules
  for i in $(seq 0 19); do
    refute_match "${ids[i]}"
    refute_match "dport ${ports[i]}([^0-9]|$)"
  done
  # the ports are free again: one container takes them all
  local -a publish=()
  for i in $(seq 0 19); do publish+=(-p "${ports[i]}:80"); done
  web heir "${publish[@]}"
  wait_until 10 serves "${ports[0]}" "page of heir"
  serves "${ports[19]}" "page of heir"
}

@test "rm -f cleans links and rules up after the container's monitor was killed" {
  local port
  port=$(fixture_free_port)
  web orphan -p "$port:80"
  wait_until 10 serves "$port" "page of orphan"
  local id link monitor
  id=$(inspect_f orphan '{{.Id}}')
  link=$(peer_index orphan)
  monitor=$(pgrep -f "tug-monitor --id $id")
  [[ -n $monitor ]]
  kill -9 "$monitor"
  wait_until 10 gone "$monitor"
  run_tug rm -f orphan
  link_gone "$link"
  run tug_rules
  refute_match "$id"
  refute_match "dport $port([^0-9]|$)"
  web heir -p "$port:80"
  wait_until 10 serves "$port" "page of heir"
}

# ---------------------------------------------------------------------------------------
# Other stores and dockerd on the same host

@test "a new store's default bridge comes up with its first container, on a subnet free then" {
  local one=$BATS_TEST_TMPDIR/one two=$BATS_TEST_TMPDIR/two r
  for r in "$one" "$two"; do
    mkdir -p "$r"
    on_teardown eval "(TUG_ROOT=$r; _containers_teardown)"
    TUG_ROOT=$r timeout 120 "$TUG" pull -q "$REGISTRY/busybox" >/dev/null
    TUG_ROOT=$r timeout 30 "$TUG" tag "$REGISTRY/busybox" busybox
  done
  # listing and inspecting networks changes nothing on the host
  local br1 br2
  br1=$(TUG_ROOT=$one bridge_of bridge)
  br2=$(TUG_ROOT=$two bridge_of bridge)
  TUG_ROOT=$one run_tug network ls
  TUG_ROOT=$two run_tug network inspect bridge
  [[ $br1 =~ ^tugb[0-9a-f]{10}$ && $br2 =~ ^tugb[0-9a-f]{10}$ ]]
  run ip link show "$br1"
  [[ $status -ne 0 ]]
  run ip link show "$br2"
  [[ $status -ne 0 ]]
  # both stores picked the same free subnet while neither was up; the second to come up moves
  local s1 s2
  s1=$(TUG_ROOT=$one subnet_of bridge)
  s2=$(TUG_ROOT=$two subnet_of bridge)
  [[ $s1 == "$s2" ]]
  TUG_ROOT=$one run_tug run --rm busybox true
  ip link show "$br1" >/dev/null
  TUG_ROOT=$two run_tug run --rm busybox ip -4 -o addr show eth0
  local addr=$output
  s2=$(TUG_ROOT=$two subnet_of bridge)
  [[ $s2 != "$s1" ]]
  python3 -c 'import ipaddress, sys; sys.exit(ipaddress.ip_network(sys.argv[1]).overlaps(ipaddress.ip_network(sys.argv[2])))' "$s1" "$s2"
  # the container's address is in the subnet it moved to
  python3 -c 'import ipaddress, sys; sys.exit(ipaddress.ip_interface(sys.argv[1].split()[3]).ip not in ipaddress.ip_network(sys.argv[2]))' "$addr" "$s2"
}

@test "system check removes bridges whose network or store is gone, and no other store's" {
  local gone=$BATS_TEST_TMPDIR/gone live=$BATS_TEST_TMPDIR/live r
  for r in "$gone" "$live"; do
    mkdir -p "$r"
    on_teardown eval "(TUG_ROOT=$r; _containers_teardown)"
    TUG_ROOT=$r run_tug network create "net-$(basename "$r")"
  done
  local br_gone br_live br_lost
  br_gone=$(TUG_ROOT=$gone bridge_of net-gone)
  br_live=$(TUG_ROOT=$live bridge_of net-live)
  on_teardown ip link del "$br_gone"
  on_teardown ip link del "$br_live"
  # the bridge names its store
  run ip -d link show "$br_live"
  assert_match "alias tug store $live"
  # a store thrown away by hand; a network whose record was lost in this one
  rm -rf "$gone"
  run_tug network create lost
  br_lost=$(bridge_of lost)
  on_teardown ip link del "$br_lost"
  sqlite3 "$TUG_ROOT/tug.db" "DELETE FROM networks WHERE name = 'lost'"
  run_tug 1 system check --dry-run
  assert_match "^bridge of a network that is gone: $br_lost$"
  assert_match "^bridge of a store that is gone: $br_gone "
  refute_match "$br_live"
  assert_match "^1 problems found"
  run_tug system check
  run ip link show "$br_lost"
  [[ $status -ne 0 ]]
  run ip link show "$br_gone"
  [[ $status -ne 0 ]]
  ip link show "$br_live" >/dev/null
  assert_store_clean
}

@test "a second store on the same host publishes and reaches its containers too" {
  local p1 p2
  read -r p1 p2 <<<"$(free_ports 2 | xargs)"
  web here -p "$p1:80"
  local other=$BATS_TEST_TMPDIR/other
  mkdir -p "$other"
  on_teardown eval "(TUG_ROOT=$other; _containers_teardown)"
  TUG_ROOT=$other timeout 120 "$TUG" pull -q "$REGISTRY/busybox" >/dev/null
  TUG_ROOT=$other timeout 30 "$TUG" tag "$REGISTRY/busybox" busybox
  TUG_ROOT=$other web there -p "$p2:80"
  wait_until 10 serves "$p2" "page of there"
  wait_until 10 serves "$p1" "page of here"
  # each store's bridge network is its own, on subnets that do not overlap
  local s1 s2
  s1=$(subnet_of bridge)
  s2=$(TUG_ROOT=$other subnet_of bridge)
  python3 -c 'import ipaddress, sys; sys.exit(ipaddress.ip_network(sys.argv[1]).overlaps(ipaddress.ip_network(sys.argv[2])))' "$s1" "$s2"
}

# docker_start DIR: a dockerd with everything under DIR (socket DIR/docker.sock) and a bridge of
# this test's own (never docker0, which the machine's own dockerd may create at any moment);
# DOCKER_PID. Fails if it does not answer within 20 s. docker_stop undoes what it did to the host
# and nothing else: docker's chains go only when no other dockerd runs and they were not there.
docker_start() {
  local dir=$1 i n
  mkdir -p "$dir"
  DOCKER_BRIDGE=tugdk$(printf %04x $((RANDOM % 65536)))
  for ((i = 0; i < 50; i++)); do
    n=$((RANDOM % 200 + 20))
    ip -4 route show to match "10.199.$n.1" | grep -qv '^default' && continue
    ip -4 -o addr | grep -q " 10\.199\.$n\." || break
  done
  ip link add "$DOCKER_BRIDGE" type bridge || return
  on_teardown ip link del "$DOCKER_BRIDGE"
  ip addr add "10.199.$n.1/24" dev "$DOCKER_BRIDGE" && ip link set "$DOCKER_BRIDGE" up || return
  printf '{"bridge": "%s"}\n' "$DOCKER_BRIDGE" >"$dir/daemon.json"
  iptables-save >"$dir/iptables.before" 2>/dev/null
  nft list tables >"$dir/nft-tables.before" 2>/dev/null
  dockerd --config-file "$dir/daemon.json" --data-root "$dir/data" --exec-root "$dir/exec" \
    -H "unix://$dir/docker.sock" -p "$dir/docker.pid" </dev/null >"$dir/dockerd.log" 2>&1 3>&- &
  DOCKER_PID=$!
  on_teardown docker_stop "$dir" "$DOCKER_PID" "$DOCKER_BRIDGE"
  for ((i = 0; i < 200; i++)); do
    timeout 5 docker -H "unix://$dir/docker.sock" version >/dev/null 2>&1 && return 0
    kill -0 "$DOCKER_PID" 2>/dev/null || break
    sleep 0.1
  done
  return 1
}

docker_stop() {
  local dir=$1 pid=$2 bridge=$3 p t
  kill "$pid" 2>/dev/null
  for ((t = 0; t < 200; t++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
  # its containerd and shims, if dockerd left them
  for p in $(pgrep -f -- "$dir/"); do kill -9 "$p" 2>/dev/null; done
  for p in $(awk -v r="$dir/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount -l "$p"
  done
  # the rules it added for its bridge
  local table rule
  for table in filter nat; do
    while read -r rule; do
      eval "iptables -t $table ${rule/#-A/-D}"
    done < <(iptables -t "$table" -S | grep -E "^-A .*$bridge( |\$)")
  done
  # docker's chains and tables, only if they were not there before and no other dockerd uses them
  if [[ -z $(pgrep -x dockerd) ]]; then
    local chain
    for table in filter nat; do
      grep -q ':DOCKER ' <(sed -n "/^\*$table/,/^COMMIT/p" "$dir/iptables.before") && continue
      while read -r rule; do
        eval "iptables -t $table ${rule/#-A/-D}"
      done < <(iptables -t "$table" -S | grep -E '^-A (PREROUTING|OUTPUT|POSTROUTING|FORWARD) .*DOCKER')
      for chain in $(iptables -t "$table" -S | awk '$1 == "-N" && $2 ~ /^DOCKER/ { print $2 }'); do
        iptables -t "$table" -F "$chain"
      done
      for chain in $(iptables -t "$table" -S | awk '$1 == "-N" && $2 ~ /^DOCKER/ { print $2 }'); do
        iptables -t "$table" -X "$chain"
      done
    done
    local policy
    policy=$(awk '/^\*filter/ { f = 1 } f && /^:FORWARD / { print $2; exit }' "$dir/iptables.before")
    [[ -n $policy ]] && iptables -P FORWARD "$policy"
    local fam name
    while read -r _ fam name; do
      grep -qx "table $fam $name" "$dir/nft-tables.before" || nft delete table "$fam" "$name"
    done < <(nft list tables | grep -E '^table ip6? (filter|nat)$')
  fi
  rm -rf "$dir"
}

@test "published ports and container traffic keep working beside a running dockerd" {
  command -v dockerd >/dev/null || skip "dockerd is not installed"
  if pgrep -x dockerd >/dev/null; then
    echo "# a dockerd runs: testing beside it" >&3
  else
    local dir
    dir=$(mktemp -d /tmp/tug-dockerd.XXXXXX)
    if ! docker_start "$dir"; then
      echo "# dockerd did not start in 20 s: $(tail -n 3 "$dir/dockerd.log" 2>/dev/null)" >&3
      skip "dockerd did not start in 20 s"
    fi
  fi
  local p1
  p1=$(fixture_free_port)
  web server -p "$p1:80"
  run_tug run -d --name client busybox sleep 120
  # the host reaches the published port, on 127.0.0.1 and from another host
  wait_until 10 serves "$p1" "page of server"
  remote_host
  run in_remote curl -sS -m 2 "http://$HOST_ADDR:$p1/"
  assert_output "page of server"
  # a container reaches another by address, and the host at the bridge's gateway
  wait_until 10 fetches client "$(inspect_f server '{{.NetworkSettings.IPAddress}}')" "page of server"
  local gw gwport
  gw=$(gateway_of bridge)
  gwport=$(fixture_free_port)
  mkdir -p "$BATS_TEST_TMPDIR/site"
  echo "page of the host" >"$BATS_TEST_TMPDIR/site/index.html"
  background python3 -m http.server "$gwport" --bind "$gw" --directory "$BATS_TEST_TMPDIR/site"
  wait_until 10 serves "$gwport" "page of the host" "$gw"
  run fetch client "$gw" "$gwport"
  assert_output "page of the host"
  # and a container reaches the other host
  background nsenter --net="/run/netns/$REMOTE_NS" python3 -m http.server 8000 --bind "$REMOTE_ADDR" --directory "$BATS_TEST_TMPDIR/site"
  wait_until 10 in_remote curl -fsS -m 1 -o /dev/null "http://$REMOTE_ADDR:8000/"
  run fetch client "$REMOTE_ADDR" 8000
  assert_output "page of the host"
}
