#!/usr/bin/env bats
# The port proxy (tug-proxy): IPv6 host ports are relayed to the container's IPv4 address by a
# process the container's monitor starts. It takes connections from anyone who can reach the
# port while it runs on the host, so it confines itself as the resolver does (220-dns.bats).
#
# Traffic goes only to ::1 and tug's own bridges.

load containers

setup_file() { containers_setup_file; }

# six: this host has IPv6 (a proxy exists only for IPv6 host ports)
six() { [[ $(cat /proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null) == 0 ]]; }

# proxy_of CONTAINER: the pid of the proxy that CONTAINER's monitor started (the monitor is the
# parent of the container's first process; the proxy is its child named tug-proxy)
proxy_of() {
  local pid monitor
  pid=$(inspect_f "$1" '{{.State.Pid}}') || return
  monitor=$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status") || return
  pgrep -P "$monitor" -x tug-proxy
}

# gone PID: no process PID (for wait_until)
gone() { [[ ! -e /proc/$1 ]]; }

@test "the port proxy is confined: an empty root, user nobody, no capabilities, a seccomp filter" {
  six || skip "this host has no IPv6"
  local port pid
  port=$(fixture_free_port)
  # a 32 MiB file of random bytes, and its digest taken inside the container
  run_tug run -d --name relayed -p "[::1]:$port:80" busybox sh -c \
    'mkdir -p /www && echo "page of relayed" >/www/index.html &&
     head -c 33554432 /dev/urandom >/www/big && sha256sum /www/big >/big.sha256 &&
     exec httpd -f -p 80 -h /www'
  wait_until 20 curl -sf -m 2 -o /dev/null "http://[::1]:$port/index.html"
  pid=$(proxy_of relayed)
  [[ $pid =~ ^[0-9]+$ ]] || { echo "no proxy under the container's monitor: '$pid'"; false; }

  run grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' \
    "/proc/$pid/status"
  assert_match $'Uid:\t65534\t65534\t65534\t65534'
  assert_match $'Gid:\t65534\t65534\t65534\t65534'
  assert_match $'^Groups:\t *$'
  assert_match $'CapInh:\t0000000000000000'
  assert_match $'CapPrm:\t0000000000000000'
  assert_match $'CapEff:\t0000000000000000'
  assert_match $'CapBnd:\t0000000000000000'
  assert_match $'CapAmb:\t0000000000000000'
  assert_match $'NoNewPrivs:\t1'
  assert_match $'Seccomp:\t2'
  # its root is a directory of its own, empty, removed (nothing can be made in it)
  local root
  root=$(readlink "/proc/$pid/root")
  [[ $root != / ]] || { echo "the proxy's root is the host's"; false; }
  [[ $root == *" (deleted)" ]] || { echo "root: $root"; false; }
  run ls -A "/proc/$pid/root/"
  [ "$status" -eq 0 ]
  assert_output ""

  # it still relays: a page, and a large file whole
  run curl -sS -m 5 "http://[::1]:$port/"
  assert_output "page of relayed"
  local want got
  want=$(timeout 30 "$TUG" exec relayed cat /big.sha256 | cut -d' ' -f1)
  [[ $want =~ ^[0-9a-f]{64}$ ]] || { echo "no digest from the container: '$want'"; false; }
  got=$(curl -sS -m 60 "http://[::1]:$port/big" | sha256sum | cut -d' ' -f1)
  [[ $got == "$want" ]] || { echo "relayed $got, the container has $want"; false; }
  # and a large upload passes too, answered by the server
  run curl -sS -m 20 -o /dev/null -w '%{http_code}' --data-binary "@$TUG" "http://[::1]:$port/"
  [[ $output =~ ^[0-9]{3}$ ]] || { echo "upload: $output"; false; }

  # confined, it still sees its container end and goes with it
  run_tug stop -t 1 relayed
  wait_until 10 gone "$pid"
}
