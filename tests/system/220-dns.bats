#!/usr/bin/env bats
# Name resolution: the resolver of a user network (tug-dns on the network's gateway, port 53)
# answers its containers' names, aliases and short IDs and forwards other names to the host's
# resolvers; the default bridge keeps the host's resolvers. And the run flags for names:
# --add-host, --dns-search, --dns-option, --link, --expose, --mac-address.
#
# The host's resolvers are a test resolver on 127.0.0.1:53 that knows one name,
# external.tug-test (192.0.2.7), through a resolv.conf of the test's (TUG_HOST_RESOLV_CONF).

load containers

FAKE_DNS=127.0.0.1

setup_file() {
  containers_setup_file || return
  cat >"$BATS_FILE_TMPDIR/fakedns.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
open(sys.argv[2], "w").write("ready\n")
while True:
    q, a = s.recvfrom(4096)
    i, labels = 12, []
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode())
        i += 1 + q[i]
    qtype = q[i + 1] << 8 | q[i + 2]
    name = ".".join(labels).lower()
    head = q[:2] + bytes([0x81, 0x80])
    question = q[12:i + 5]
    if name == "external.tug-test" and qtype == 1:
        ans = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([192, 0, 2, 7])
        s.sendto(head + b"\x00\x01\x00\x01\x00\x00\x00\x00" + question + ans, a)
    elif name == "external.tug-test":
        s.sendto(head + b"\x00\x01\x00\x00\x00\x00\x00\x00" + question, a)
    else:
        head = q[:2] + bytes([0x81, 0x83])
        s.sendto(head + b"\x00\x01\x00\x00\x00\x00\x00\x00" + question, a)
EOF
  python3 "$BATS_FILE_TMPDIR/fakedns.py" "$FAKE_DNS" "$BATS_FILE_TMPDIR/fakedns.ready" \
    2>"$BATS_FILE_TMPDIR/fakedns.err" &
  echo $! >"$BATS_FILE_TMPDIR/fakedns.pid"
  wait_until 10 test -e "$BATS_FILE_TMPDIR/fakedns.ready" || {
    echo "the test resolver could not listen on $FAKE_DNS:53: $(cat "$BATS_FILE_TMPDIR/fakedns.err")" >&2
    return 1
  }
}

teardown_file() {
  [[ -f $BATS_FILE_TMPDIR/fakedns.pid ]] && kill "$(cat "$BATS_FILE_TMPDIR/fakedns.pid")" 2>/dev/null
  file_registry_stop
}

eval "_ctr_setup() $(declare -f setup | sed 1d)"
setup() {
  _ctr_setup
  printf 'nameserver %s\n' "$FAKE_DNS" >"$BATS_TEST_TMPDIR/host-resolv.conf"
  export TUG_HOST_RESOLV_CONF=$BATS_TEST_TMPDIR/host-resolv.conf
}

# the resolver of network $1 (its pid), from the pid file it writes
resolver_pid() {
  local id run
  id=$(timeout 30 "$TUG" network inspect -f '{{.Id}}' "$1") || return 1
  run=/run/tug/$(printf %s "$(realpath "$TUG_ROOT")" | sha256sum | cut -c1-16)
  pgrep -xf "tug-dns $id .*$run/dns .*" | head -1
}
has_resolver() { [[ -n $(resolver_pid "$1") ]]; }
no_resolver() { [[ -z $(resolver_pid "$1") ]]; }

sleeper() { run_tug run -d "$@" busybox sleep 300; }

@test "nslookup finds a container by name, alias and short ID from another on its user network" {
  run_tug network create dnsnet
  sleeper --name web --network dnsnet --network-alias www
  sleeper --name client --network dnsnet
  local ip id gw
  ip=$(inspect_f web '{{.NetworkSettings.Networks.dnsnet.IPAddress}}')
  id=$(inspect_f web '{{.Id}}')
  gw=$(timeout 30 "$TUG" network inspect -f '{{(index .IPAM.Config 0).Gateway}}' dnsnet)
  run_tug exec client cat /etc/resolv.conf
  assert_match "^nameserver $gw\$"
  for name in web www "${id:0:12}" WEB; do
    run_tug exec client nslookup "$name"
    assert_match "^Address: $ip\$"
  done
  # and the address back to the name
  run_tug exec client nslookup "$ip"
  assert_match "name = web"
  # nothing else on the host answers: the resolver listens on the gateway of its bridge only
  run ss -Hlun "sport = :53"
  assert_match "$gw%tug-[0-9a-f]+:53"
  # over TCP too (asked from the host, which reaches the bridge's address)
  run python3 -c '
import socket, sys
q = bytes.fromhex("12340100000100000000000003776562" "0000010001")
c = socket.create_connection((sys.argv[1], 53), timeout=5)
c.sendall(len(q).to_bytes(2, "big") + q)
n = int.from_bytes(c.recv(2), "big")
r = b""
while len(r) < n:
    r += c.recv(n - len(r))
print("answers", r[7], "address", ".".join(str(b) for b in r[-4:]))
' "$gw"
  assert_output "answers 1 address $ip"
  # a packet for that address that comes in by another interface (another network's bridge)
  # finds no one
  run_tug network create othernet
  sleeper --name stranger --network othernet
  run_tug 1 exec stranger nslookup web "$gw"
  refute_match "$ip"
}

@test "a name on another network is not resolved, and a name that goes is forgotten" {
  run_tug network create near
  run_tug network create far
  sleeper --name client --network near
  sleeper --name other --network far
  sleeper --name gone --network near
  run_tug exec client nslookup gone
  assert_match "^Address: "
  run_tug 1 exec client nslookup other
  assert_match "NXDOMAIN"
  run_tug rm -f gone
  run_tug 1 exec client nslookup gone
  assert_match "NXDOMAIN"
  # a container on both networks sees the names of both
  run_tug network connect far client
  run_tug exec client nslookup other
  assert_match "^Address: $(inspect_f other '{{.NetworkSettings.Networks.far.IPAddress}}')\$"
}

@test "other names go to the host's resolvers, or to the container's --dns servers" {
  run_tug network create fwdnet
  sleeper --name client --network fwdnet
  run_tug exec client nslookup external.tug-test
  assert_match "^Address: 192\.0\.2\.7\$"
  run_tug 1 exec client nslookup nosuch.tug-test
  assert_match "NXDOMAIN"
  # --dns on a user network: names still come from the network, the rest from --dns
  sleeper --name own --network fwdnet --dns 192.0.2.1
  run_tug exec own cat /etc/resolv.conf
  refute_match "192\.0\.2\.1"
  run_tug exec own nslookup client
  assert_match "^Address: $(inspect_f client '{{.NetworkSettings.Networks.fwdnet.IPAddress}}')\$"
}

@test "the resolver of an --internal network answers its names and forwards nothing" {
  run_tug network create --internal inside
  sleeper --name peer --network inside
  sleeper --name asker --network inside
  run_tug exec asker nslookup peer
  assert_match "^Address: $(inspect_f peer '{{.NetworkSettings.Networks.inside.IPAddress}}')\$"
  run_tug 1 exec asker nslookup external.tug-test
  refute_match "192\.0\.2\.7"
}

@test "the resolver goes with the last container of its network, and outlives the command that started it" {
  run_tug network create life
  no_resolver life
  timeout 120 "$TUG" run --name fg --network life busybox sleep 300 >/dev/null 2>&1 &
  local runner=$!
  wait_until 30 has_resolver life
  kill -9 "$runner"
  wait "$runner" 2>/dev/null || true
  sleeper --name second --network life
  run_tug exec second nslookup fg
  assert_match "^Address: "
  run_tug rm -f second
  has_resolver life
  run_tug rm -f fg
  wait_until 10 no_resolver life
}

@test "a resolver killed with -9 comes back with the next container on its network" {
  run_tug network create phoenix
  sleeper --name first --network phoenix
  local pid
  pid=$(resolver_pid phoenix)
  [[ -n $pid ]]
  kill -9 "$pid"
  wait_until 10 no_resolver phoenix
  sleeper --name second --network phoenix
  [[ $(resolver_pid phoenix) != "$pid" ]]
  run_tug exec second nslookup first
  assert_match "^Address: $(inspect_f first '{{.NetworkSettings.Networks.phoenix.IPAddress}}')\$"
}

@test "the default bridge has no container-name DNS and uses the host's resolvers" {
  sleeper --name one
  sleeper --name two
  run_tug exec two cat /etc/resolv.conf
  # only a loopback resolver on the host: docker's fallback
  assert_match "^nameserver 8\.8\.8\.8\$"
  refute_match "127\.0\.0\.1"
  printf 'nameserver 192.0.2.53\nsearch example.test\noptions timeout:2\n' >"$TUG_HOST_RESOLV_CONF"
  sleeper --name three
  run_tug exec three cat /etc/resolv.conf
  assert_output "nameserver 192.0.2.53
search example.test
options timeout:2"
  [[ -z $(pgrep -f "^tug-dns .*/run/tug/$(printf %s "$(realpath "$TUG_ROOT")" | sha256sum | cut -c1-16)/dns") ]]
}

@test "--dns-search and --dns-option reach resolv.conf and inspect" {
  printf 'nameserver 192.0.2.53\nsearch host.test\noptions timeout:2\n' >"$TUG_HOST_RESOLV_CONF"
  sleeper --name cc --dns-search a.test --dns-search b.test --dns-option ndots:3 --dns-option rotate
  run_tug exec cc cat /etc/resolv.conf
  assert_output "nameserver 192.0.2.53
search a.test b.test
options ndots:3 rotate"
  run_tug inspect -f '{{json .HostConfig.DnsSearch}} {{json .HostConfig.DnsOptions}}' cc
  assert_output '["a.test","b.test"] ["ndots:3","rotate"]'
  run_tug network create optnet
  sleeper --name uu --network optnet --dns-search c.test
  run_tug exec uu cat /etc/resolv.conf
  assert_match "^search c\.test\$"
  assert_match "^options timeout:2 ndots:0\$"
  run_tug 125 create --dns-option "" busybox
  assert_match 'invalid argument "" for "--dns-option" flag'
  run_tug 125 create --dns-search "a b" busybox
  assert_match 'invalid argument "a b" for "--dns-search" flag: a b is not a valid domain'
}

@test "--add-host takes name:ip, name=ip and host-gateway; inspect shows name:ip" {
  run_tug network create hostsnet
  sleeper --name hh --network hostsnet --add-host one:192.0.2.1 --add-host two=192.0.2.2 \
    --add-host six=[2001:db8::6] --add-host gw=host-gateway
  run_tug inspect -f '{{json .HostConfig.ExtraHosts}}' hh
  assert_output '["one:192.0.2.1","two:192.0.2.2","six:2001:db8::6","gw:host-gateway"]'
  local gw
  gw=$(timeout 30 "$TUG" network inspect -f '{{(index .IPAM.Config 0).Gateway}}' hostsnet)
  run_tug exec hh cat /etc/hosts
  assert_match "^192\.0\.2\.1	one\$"
  assert_match "^192\.0\.2\.2	two\$"
  assert_match "^2001:db8::6	six\$"
  assert_match "^$gw	gw\$"
  run_tug 125 create --add-host foo busybox
  assert_match 'invalid argument "foo" for "--add-host" flag: bad format for add-host: "foo"'
  run_tug 125 create --add-host foo=bar busybox
  assert_match 'invalid IP address in add-host: "bar"'
}

@test "--link NAME:ALIAS puts the linked container in /etc/hosts" {
  sleeper --name db
  sleeper --name app --link db:database
  local ip id
  ip=$(inspect_f db '{{.NetworkSettings.IPAddress}}')
  id=$(inspect_f db '{{.Id}}')
  run_tug exec app cat /etc/hosts
  assert_match "^$ip	database ${id:0:12} db\$"
  run_tug inspect -f '{{json .HostConfig.Links}}' app
  assert_output '["/db:/app/database"]'
  run_tug 125 create --link nosuch busybox
  assert_match "nosuch"
  run_tug 125 create --link db:a:b busybox
  assert_match 'invalid argument "db:a:b" for "--link" flag: bad format for links: db:a:b'
  # "NAME:" is NAME under its own name, as in docker
  sleeper --name app2 --link db:
  run_tug exec app2 cat /etc/hosts
  assert_match "^$ip	db ${id:0:12} db\$"
}

@test "--expose records ports in Config.ExposedPorts" {
  run_tug create --name ee --expose 80 --expose 90-91/udp busybox
  run_tug inspect -f '{{json .Config.ExposedPorts}}' ee
  assert_output '{"80/tcp":{},"90/udp":{},"91/udp":{}}'
  run_tug 125 create --expose abc busybox
  assert_match "invalid range format for --expose: abc"
  run_tug 125 create --expose 70000 busybox
  assert_match "invalid range format for --expose: 70000"
}

@test "--mac-address gives the container's interface that address" {
  run_tug network create macnet
  sleeper --name mm --network macnet --mac-address 02:42:ac:11:00:99
  run_tug exec mm cat /sys/class/net/eth0/address
  assert_output "02:42:ac:11:00:99"
  run_tug inspect -f '{{.Config.MacAddress}} {{.NetworkSettings.Networks.macnet.MacAddress}}' mm
  assert_output "02:42:ac:11:00:99 02:42:ac:11:00:99"
  run_tug 125 create --mac-address zz busybox
  assert_match "zz is not a valid mac address"
}

@test "run --help lists the name flags with docker's wording" {
  run_tug run --help
  assert_match "^      --add-host list +Add a custom host-to-IP mapping \(host:ip\)\$"
  assert_match "^      --dns-option list +Set DNS options\$"
  assert_match "^      --dns-search list +Set custom DNS search domains\$"
  assert_match "^      --expose list +Expose a port or a range of ports\$"
  assert_match "^      --link list +Add link to another container\$"
  assert_match "^      --mac-address string +Container MAC address \(e\.g\., 92:d0:c6:0a:29:33\)\$"
}

@test "the resolver is confined: rooted in its own directory, no capabilities, a seccomp filter" {
  # it parses what any container sends while it runs on the host: a flaw in that must find
  # nothing to take (no capability, no host file, no execve, no signal to a host process)
  run_tug network create jailnet
  sleeper --name jailed --network jailnet
  local pid run
  pid=$(resolver_pid jailnet)
  [[ -n $pid ]] || { echo "no resolver"; false; }
  run=/run/tug/$(printf %s "$(realpath "$TUG_ROOT")" | sha256sum | cut -c1-16)
  [[ $(readlink "/proc/$pid/root") == "$run/dns" ]] || { echo "root: $(readlink "/proc/$pid/root")"; false; }
  run grep -E '^(CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' "/proc/$pid/status"
  assert_match $'CapPrm:\t0000000000000000'
  assert_match $'CapEff:\t0000000000000000'
  assert_match $'CapBnd:\t0000000000000000'
  assert_match $'NoNewPrivs:\t1'
  assert_match $'Seccomp:\t2'
  # and it still answers, and follows the host's resolv.conf through the copy in its directory
  run_tug exec jailed nslookup jailed
  assert_match "^Name:"
  [[ -f $run/dns/resolv.conf ]]
  cmp "$run/dns/resolv.conf" "$TUG_HOST_RESOLV_CONF"
}
