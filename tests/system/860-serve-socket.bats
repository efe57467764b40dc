#!/usr/bin/env bats
# tug serve's sockets and lifetime: systemd socket activation (the socket passed as fd 3, never
# made or removed by tug), TCP on loopback addresses, TCP with TLS and client certificates
# (--tlsverify) on any, and --time's idle exit of an activated server.

source "$BATS_TEST_DIRNAME/helpers.bash"
bats_require_minimum_version 1.5.0

source "$BATS_TEST_DIRNAME/serve.bash"

# The servers a test started go with it, then what serve.bash's teardown removes.
eval "serve_teardown() $(declare -f teardown | tail -n +2)"
teardown() {
  local pid
  for pid in $(cat "$BATS_TEST_TMPDIR/pids" 2>/dev/null); do
    kill "$pid" 2>/dev/null && wait_gone "$pid"
  done
  serve_teardown
}

# wait_gone PID: poll (bounded) until the process has ended.
wait_gone() {
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "process $1 still runs" >&2
  return 1
}

# activate SOCK ARGS...: tug serve ARGS started as systemd starts it from tug.socket: a socket
# listening at SOCK, passed as fd 3 with LISTEN_FDS=1 and LISTEN_PID, tug started at the first
# connection (systemd-socket-activate), or at once by python when that is not installed.
# $SERVER is its pid.
activate() {
  local sock=$1
  shift
  if command -v systemd-socket-activate >/dev/null; then
    systemd-socket-activate -l "$sock" -E TUG_ROOT "$TUG" serve "$@" \
      >"$BATS_TEST_TMPDIR/activated.log" 2>&1 3>&- &
  else
    python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(16)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
os.execv(sys.argv[2], sys.argv[2:])
' "$sock" "$TUG" serve "$@" >"$BATS_TEST_TMPDIR/activated.log" 2>&1 3>&- &
  fi
  SERVER=$!
  echo "$SERVER" >>"$BATS_TEST_TMPDIR/pids"
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -S $sock ]] && return 0
    sleep 0.1
  done
  echo "nothing listens at $sock: $(cat "$BATS_TEST_TMPDIR/activated.log")" >&2
  return 1
}

# A TCP port nothing listens on now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

@test "socket activation: docker's CLI works through the socket systemd passes; tug neither makes nor removes it" {
  need_docker
  local sock=$BATS_TEST_TMPDIR/activated.sock
  activate "$sock" --time 60
  run_docker -H "unix://$sock" version --format '{{.Server.Version}}'
  [[ $output == "$("$TUG" version --format '{{.Server.Version}}')" ]] || { echo "got: $output" >&2; return 1; }
  run_docker -H "unix://$sock" images --format '{{.Repository}}:{{.Tag}}'
  [[ $output == *busybox:latest* ]] || { echo "docker images: $output" >&2; return 1; }
  run_docker -H "unix://$sock" run --rm --network none busybox echo through-activation
  [[ $output == through-activation ]]
  grep -q '^tug serve: API listening on the socket systemd passed (fd 3)$' "$BATS_TEST_TMPDIR/activated.log"
  kill "$SERVER"
  wait_gone "$SERVER"
  # the socket is systemd's: it stays for the next start
  [[ -S $sock ]] || { echo "tug serve removed the socket systemd made" >&2; return 1; }
}

@test "an activated tug serve --time N exits after N idle seconds and leaves the socket" {
  local sock=$BATS_TEST_TMPDIR/idle.sock
  activate "$sock" --time 1
  api_at() { run curl -s --max-time 10 --unix-socket "$sock" http://tug/_ping; }
  api_at
  [[ $output == OK ]] || { echo "ping: $output" >&2; return 1; }
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$SERVER" 2>/dev/null || break
    sleep 0.1
  done
  run kill -0 "$SERVER"
  [[ $status -ne 0 ]] || { echo "still running after 10 s of --time 1" >&2; return 1; }
  [[ -S $sock ]]
}

@test "socket activation refuses what it cannot serve: several sockets, or fd 3 not a listening socket" {
  # exec keeps the shell's pid, so LISTEN_PID names tug serve
  run bash -c 'export LISTEN_PID=$$ LISTEN_FDS=2; exec "$0" serve' "$TUG"
  [[ $status -eq 1 && $output == "Error: socket activation passed 2 sockets: tug serve listens on one (one ListenStream= in tug.socket)" ]] ||
    { echo "got $status: $output" >&2; return 1; }
  run bash -c 'export LISTEN_PID=$$ LISTEN_FDS=1; exec "$0" serve 3</dev/null' "$TUG"
  [[ $status -eq 1 && $output == "Error: socket activation: fd 3 is not a listening socket" ]] ||
    { echo "got $status: $output" >&2; return 1; }
  # variables for another process are not this one's: -H then serves as without them
  run env LISTEN_PID=1 LISTEN_FDS=1 "$TUG" serve -H fd://
  [[ $status -eq 1 && $output == "Error: cannot serve fd://: no socket was passed (systemd socket activation sets LISTEN_PID and LISTEN_FDS); start tug serve from tug.socket, or give -H unix:///path/to/tug.sock" ]] ||
    { echo "got: $output" >&2; return 1; }
}

@test "tcp://127.0.0.1:PORT and tcp://[::1]:PORT are served without TLS; docker -H tcp:// works" {
  need_docker
  local port
  port=$(free_port)
  "$TUG" serve -H "tcp://127.0.0.1:$port" --time 60 >"$BATS_TEST_TMPDIR/tcp.log" 2>&1 3>&- &
  echo $! >>"$BATS_TEST_TMPDIR/pids"
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $(curl -s --max-time 2 "http://127.0.0.1:$port/_ping") == OK ]] && break
    sleep 0.1
  done
  grep -q "^tug serve: API listening on tcp://127.0.0.1:$port$" "$BATS_TEST_TMPDIR/tcp.log"
  grep -q "^tug serve: warning: every user and process of this machine can reach tcp://127.0.0.1:$port, and through it run anything as root; serve a unix socket, or TCP with --tlsverify$" \
    "$BATS_TEST_TMPDIR/tcp.log"
  run_docker -H "tcp://127.0.0.1:$port" images --format '{{.Repository}}:{{.Tag}}'
  [[ $output == *busybox:latest* ]] || { echo "docker images: $output" >&2; return 1; }
  run_docker -H "tcp://127.0.0.1:$port" run --rm --network none busybox echo over-tcp
  [[ $output == over-tcp ]]
  # a second server on the same port: the address is in use
  run_tug 1 serve -H "tcp://127.0.0.1:$port"
  [[ $output == "Error: cannot serve tcp://127.0.0.1:$port: the address is in use; give another port" ]]

  python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null ||
    skip "this machine has no IPv6 loopback"
  port=$(free_port)
  "$TUG" serve -H "tcp://[::1]:$port" --time 60 >"$BATS_TEST_TMPDIR/tcp6.log" 2>&1 3>&- &
  echo $! >>"$BATS_TEST_TMPDIR/pids"
  for ((i = 0; i < 100; i++)); do
    [[ $(curl -s --max-time 2 "http://[::1]:$port/_ping") == OK ]] && break
    sleep 0.1
  done
  run_docker -H "tcp://[::1]:$port" version --format '{{.Server.Os}}'
  [[ $output == linux ]]
}

@test "tcp:// off loopback is refused without TLS, and bad addresses are named" {
  local a
  for a in tcp://0.0.0.0:2375 tcp://10.1.2.3:2375 'tcp://[::]:2375' 'tcp://[2001:db8::1]:2375'; do
    run_tug 1 serve -H "$a"
    [[ $output == "Error: cannot serve $a without TLS: the API gives root on this machine to whoever reaches it; give --tlsverify with --tlscacert, --tlscert and --tlskey, or a loopback address (tcp://127.0.0.1:PORT)" ]] ||
      { echo "$a: $output" >&2; return 1; }
  done
  run_tug 1 serve -H tcp://127.0.0.1:99999
  [[ $output == "Error: cannot serve tcp://127.0.0.1:99999: give a port from 1 to 65535, as tcp://127.0.0.1:2375" ]]
  run_tug 1 serve -H tcp://docker.example:2375
  [[ $output == "Error: cannot serve tcp://docker.example:2375: give an IP address (or localhost), as tcp://127.0.0.1:2375" ]]
  run_tug 1 serve -H ssh://me@host
  [[ $output == "Error: cannot serve ssh://me@host: ssh:// is a client's address; give -H unix:///path/to/tug.sock" ]]
}

# certs DIR: a CA, a server certificate for 127.0.0.1 and a client certificate it signed.
certs() {
  local d=$1
  mkdir -p "$d"
  (
    cd "$d" || exit 1
    ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=tug-test-ca &&
      openssl req "${ec[@]}" -keyout server-key.pem -out server.csr -subj /CN=localhost &&
      printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext &&
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
        -out server-cert.pem -days 2 -extfile server.ext &&
      openssl req "${ec[@]}" -keyout key.pem -out client.csr -subj /CN=client &&
      printf 'extendedKeyUsage=clientAuth\n' >client.ext &&
      openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
        -out cert.pem -days 2 -extfile client.ext
  ) >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log" >&2; return 1; }
}

@test "--tlsverify: docker with a client certificate works over TLS; without one, or in plain HTTP, it does not" {
  need_docker
  command -v openssl >/dev/null || skip "the openssl CLI is not installed"
  local d=$BATS_TEST_TMPDIR/tls port
  certs "$d"
  port=$(free_port)
  "$TUG" serve -H "tcp://127.0.0.1:$port" --tlsverify --tlscacert "$d/ca.pem" \
    --tlscert "$d/server-cert.pem" --tlskey "$d/server-key.pem" --time 60 \
    >"$BATS_TEST_TMPDIR/tls.log" 2>&1 3>&- &
  echo $! >>"$BATS_TEST_TMPDIR/pids"
  local i
  for ((i = 0; i < 100; i++)); do
    grep -q listening "$BATS_TEST_TMPDIR/tls.log" && break
    sleep 0.1
  done
  grep -q "^tug serve: API listening on tcp://127.0.0.1:$port (TLS, client certificates required)$" "$BATS_TEST_TMPDIR/tls.log"
  local tls=(--tlsverify --tlscacert "$d/ca.pem" --tlscert "$d/cert.pem" --tlskey "$d/key.pem" -H "tcp://127.0.0.1:$port")
  run_docker "${tls[@]}" images --format '{{.Repository}}:{{.Tag}}'
  [[ $output == *busybox:latest* ]] || { echo "docker images: $output" >&2; return 1; }
  # attach's hijacked stream goes through TLS too
  run_docker "${tls[@]}" run --rm --network none busybox echo over-tls
  [[ $output == over-tls ]]
  run curl -s --max-time 10 --cacert "$d/ca.pem" --cert "$d/cert.pem" --key "$d/key.pem" "https://127.0.0.1:$port/_ping"
  [[ $status -eq 0 && $output == OK ]] || { echo "curl with a certificate: $status $output" >&2; return 1; }
  # no client certificate: the handshake fails, nothing is answered
  run curl -s --max-time 10 --cacert "$d/ca.pem" "https://127.0.0.1:$port/_ping"
  [[ $status -ne 0 && $output != OK ]] || { echo "curl without a certificate: $status $output" >&2; return 1; }
  run curl -s --max-time 10 "http://127.0.0.1:$port/_ping"
  [[ $status -ne 0 && $output != OK ]] || { echo "plain HTTP: $status $output" >&2; return 1; }
}

@test "--tlsverify takes any address (TEST-NET here, which no interface has), and says what is wrong with its files" {
  command -v openssl >/dev/null || skip "the openssl CLI is not installed"
  local d=$BATS_TEST_TMPDIR/tls
  certs "$d"
  local files=(--tlscacert "$d/ca.pem" --tlscert "$d/server-cert.pem" --tlskey "$d/server-key.pem")
  # past the loopback check, to the bind
  run_tug 125 serve -H tcp://192.0.2.1:2375 --tlsverify "${files[@]}"
  [[ $output == "Error: bind tcp://192.0.2.1:2375: Cannot assign requested address" ]] || { echo "got: $output" >&2; return 1; }
  run_tug 1 serve -H tcp://127.0.0.1:2375 --tlsverify --tlscacert "$d/ca.pem" --tlscert "$d/nope.pem" --tlskey "$d/server-key.pem"
  assert_match "^Error: --tlscert $d/nope.pem: .*No such file or directory$"
  run_tug 1 serve -H tcp://127.0.0.1:2375 --tlsverify --tlscacert "$d/ca.pem" --tlscert "$d/server-cert.pem" --tlskey "$d/key.pem"
  assert_match "^Error: --tlskey $d/key.pem: .*key values mismatch$"
  run_tug 1 serve -H tcp://127.0.0.1:2375 --tlsverify
  [[ $output == "Error: --tlsverify needs --tlscacert, --tlscert and --tlskey" ]]
  run_tug 1 serve -H tcp://127.0.0.1:2375 --tlscert "$d/server-cert.pem"
  [[ $output == "Error: --tlscert without --tlsverify: tug serves TLS only with client certificates; add --tlsverify" ]]
  run_tug 1 serve -H "unix://$BATS_TEST_TMPDIR/t.sock" --tlsverify "${files[@]}"
  [[ $output == "Error: cannot serve unix://$BATS_TEST_TMPDIR/t.sock with TLS: --tlsverify is for tcp:// addresses; a unix socket's mode and group guard it" ]]
}

@test "the server's --insecure-registry reaches docker info, as tug info lists the CLI's" {
  need_docker
  local sock=$BATS_TEST_TMPDIR/insecure.sock i
  "$TUG" --insecure-registry 10.1.2.3:5000 serve -H "unix://$sock" --time 60 \
    >"$BATS_TEST_TMPDIR/insecure.log" 2>&1 3>&- &
  echo $! >>"$BATS_TEST_TMPDIR/pids"
  for ((i = 0; i < 100; i++)); do
    [[ -S $sock ]] && break
    sleep 0.1
  done
  run_docker -H "unix://$sock" info --format '{{json .RegistryConfig.IndexConfigs}}'
  [[ $output == *'"10.1.2.3:5000":{"Name":"10.1.2.3:5000","Mirrors":[],"Secure":false,"Official":false}'* ]] ||
    { echo "got: $output" >&2; return 1; }
}
