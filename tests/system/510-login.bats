#!/usr/bin/env bats
# tug login / logout: credentials checked against the registry first, then kept in docker's
# config.json (base64 in "auths", 0600, the file's other keys untouched) or in the
# docker-credential-* helper it names (credsStore, credHelpers); pulls read them back.

load helpers

setup_file() { file_registry busybox; }
teardown_file() { file_registry_stop; }

setup() {
  eval "export $(cat "$BATS_FILE_TMPDIR/registry.env")"
  export TUG_ROOT=$BATS_TEST_TMPDIR/root DOCKER_CONFIG=$BATS_TEST_TMPDIR/docker
  mkdir -p "$TUG_ROOT"
  CONFIG=$DOCKER_CONFIG/config.json
}

teardown() { authproxy_stop 2>/dev/null || true; }

# auth_of KEY: the user:password stored in the file's "auths" under KEY ("" when none)
auth_of() {
  jq -r --arg k "$1" '.auths[$k].auth // ""' "$CONFIG" | base64 -d
}

# write_config JSON: the config file as a user (or docker) left it
write_config() {
  mkdir -p "$DOCKER_CONFIG"
  printf '%s\n' "$1" >"$CONFIG"
}

# A credential helper speaking docker's protocol: one file per server under $HELPER_DIR,
# every call logged there as "VERB SERVER".
install_helper() {
  export HELPER_DIR=$BATS_TEST_TMPDIR/helper PATH=$BATS_TEST_TMPDIR/bin:$PATH
  mkdir -p "$HELPER_DIR" "$BATS_TEST_TMPDIR/bin"
  cat >"$BATS_TEST_TMPDIR/bin/docker-credential-test" <<'EOF'
#!/bin/bash
input=$(cat)
server=$input
[[ $1 == store ]] && server=$(jq -r .ServerURL <<<"$input")
echo "$1 $server" >>"$HELPER_DIR/log"
file=$HELPER_DIR/$(printf %s "$server" | base64 -w0 | tr / _)
case $1 in
store) printf %s "$input" >"$file" ;;
get) [[ -f $file ]] || { echo "credentials not found in native keychain"; exit 1; }; cat "$file" ;;
erase) [[ -f $file ]] || { echo "credentials not found in native keychain"; exit 1; }; rm "$file" ;;
*) echo "unknown verb $1"; exit 1 ;;
esac
EOF
  chmod +x "$BATS_TEST_TMPDIR/bin/docker-credential-test"
}

helper_log() { cat "$HELPER_DIR/log" 2>/dev/null || true; }

@test "login with --password-stdin (basic auth), then a pull uses the stored credentials" {
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode basic --user bob --password pw
  run_tug 1 pull -q $PROXY/busybox
  run_tug login -u bob --password-stdin $PROXY <<<"pw"
  [[ ${lines[-1]} == "Login Succeeded" ]]
  [[ $(auth_of $PROXY) == bob:pw ]]
  run_tug pull -q $PROXY/busybox
  [[ $output == "$PROXY/busybox:latest" ]]
}

@test "login through a token server (bearer), then a pull gets its token with them" {
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode bearer --user alice --password 's3 cr:et'
  run_tug login --username alice --password-stdin http://$PROXY/ <<<"s3 cr:et"
  [[ ${lines[-1]} == "Login Succeeded" ]]
  # the key is the host:port, whatever the spelling given
  [[ $(auth_of $PROXY) == "alice:s3 cr:et" ]]
  [[ $(proxy_count '^GET /token 200') -ge 1 ]]
  run_tug pull -q $PROXY/busybox
  [[ $output == "$PROXY/busybox:latest" ]]
}

@test "a wrong password is a one-line error naming the registry, and nothing is written" {
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode basic --user bob --password pw
  run_tug 1 login -u bob --password-stdin $PROXY <<<"wrong"
  [[ ${#lines[@]} -eq 1 ]]
  assert_match "^Error: login to $PROXY refused: unauthorized: .*check the username and password"
  [[ ! -e $DOCKER_CONFIG ]] || { echo "a config was written"; false; }

  write_config '{"auths":{"other.example":{"auth":"dTpw"}},"psFormat":"table {{.ID}}"}'
  cp "$CONFIG" "$BATS_TEST_TMPDIR/before"
  run_tug 1 login -u bob --password-stdin $PROXY <<<"wrong"
  cmp "$CONFIG" "$BATS_TEST_TMPDIR/before"

  # a registry that does not answer is said as plainly
  authproxy_stop
  run_tug 1 login -u bob --password-stdin $PROXY <<<"pw"
  assert_match "^Error: login to $PROXY: connect $PROXY"
  cmp "$CONFIG" "$BATS_TEST_TMPDIR/before"

  authproxy_start "$BATS_TEST_TMPDIR/proxy2" --mode bearer --user bob --password pw
  run_tug 1 login -u bob --password-stdin $PROXY <<<"wrong"
  [[ ${#lines[@]} -eq 1 ]]
  assert_match "^Error: login to $PROXY refused: unauthorized: bad or missing credentials"
  cmp "$CONFIG" "$BATS_TEST_TMPDIR/before"
}

@test "the config file is written 0600 through a rename, its other keys kept" {
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode basic --user bob --password pw
  write_config '{"auths":{"other.example":{"auth":"dTpw","email":"u@example.com"}},
    "psFormat":"table {{.ID}}","proxies":{"default":{"httpProxy":"http://p:3128"}},
    "experimental":"enabled","currentContext":"default","n":12345678901234,"list":[1,"a",null]}'
  chmod 644 "$CONFIG"
  jq -S . "$CONFIG" >"$BATS_TEST_TMPDIR/before"
  run_tug login -u bob --password-stdin $PROXY <<<"pw"
  [[ $(stat -c %a "$CONFIG") == 600 ]]
  [[ $(auth_of $PROXY) == bob:pw ]]
  jq -S --arg k $PROXY 'del(.auths[$k])' "$CONFIG" >"$BATS_TEST_TMPDIR/after"
  diff "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
  # no temp file left beside it
  [[ $(ls -A "$DOCKER_CONFIG") == config.json ]]
  # with the password in the file, tug says so as docker does
  assert_match "^WARNING! Your password is stored unencrypted in $CONFIG"
}

@test "a config.json that is a symlink stays one: its target is rewritten" {
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode basic --user bob --password pw
  mkdir -p "$DOCKER_CONFIG" "$BATS_TEST_TMPDIR/dotfiles"
  echo '{"psFormat":"x"}' >"$BATS_TEST_TMPDIR/dotfiles/docker.json"
  ln -s "$BATS_TEST_TMPDIR/dotfiles/docker.json" "$CONFIG"
  run_tug login -u bob --password-stdin $PROXY <<<"pw"
  [[ -L $CONFIG ]] || { echo "the symlink was replaced"; false; }
  [[ $(auth_of $PROXY) == bob:pw ]]
  [[ $(jq -r .psFormat "$BATS_TEST_TMPDIR/dotfiles/docker.json") == x ]]
}

@test "logout removes only that registry's entry; a second logout says it was not logged in" {
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode basic --user bob --password pw
  write_config "{\"auths\":{\"other.example\":{\"auth\":\"dTpw\"},\"http://$PROXY\":{\"auth\":\"Ym9iOnB3\"}},\"psFormat\":\"x\"}"
  run_tug login -u bob --password-stdin $PROXY <<<"pw"
  run_tug logout $PROXY
  [[ $output == "Removing login credentials for $PROXY" ]]
  # every spelling of the registry goes, nothing else does
  run jq -c . "$CONFIG"
  [[ $output == '{"auths":{"other.example":{"auth":"dTpw"}},"psFormat":"x"}' ]]
  run_tug logout $PROXY
  [[ $output == "Not logged in to $PROXY" ]]
  run_tug 1 pull -q $PROXY/busybox
  assert_match "unauthorized"
}

@test "logout without a server is Docker Hub's, under docker's key" {
  write_config '{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},"ghcr.io":{"auth":"dTpw"}}}'
  run_tug logout
  [[ $output == "Removing login credentials for https://index.docker.io/v1/" ]]
  run jq -c .auths "$CONFIG"
  [[ $output == '{"ghcr.io":{"auth":"dTpw"}}' ]]
  run_tug logout docker.io
  [[ $output == "Not logged in to https://index.docker.io/v1/" ]]
  run_tug 1 logout a b
  assert_match 'requires at most 1 argument'
}

@test "-p works with docker's warning; the password flags are checked" {
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode basic --user bob --password pw
  run_tug login -u bob -p pw $PROXY
  assert_match "^WARNING! Using --password via the CLI is insecure. Use --password-stdin.$"
  [[ ${lines[-1]} == "Login Succeeded" ]]
  run_tug 1 login -u bob -p pw --password-stdin $PROXY <<<"pw"
  assert_match "^Error: --password and --password-stdin are mutually exclusive$"
  run_tug 1 login --password-stdin $PROXY <<<"pw"
  assert_match "^Error: .*--username"
  run_tug 125 login --user bob $PROXY
  assert_match "unknown flag: --user"
  # without a terminal there is nobody to prompt
  run_tug 1 login -u bob $PROXY </dev/null
  assert_match "^Error: cannot prompt for a login: stdin is not a terminal"
}

@test "credsStore: the helper gets store on login, get on pull, erase on logout" {
  install_helper
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode bearer --user bob --password pw
  write_config '{"credsStore":"test","psFormat":"x"}'
  run_tug login -u bob --password-stdin $PROXY <<<"pw"
  [[ ${lines[-1]} == "Login Succeeded" ]]
  refute_match "unencrypted"
  [[ $(helper_log) == "store $PROXY" ]]
  # the file keeps an empty entry, as docker's does, and no secret
  run jq -c . "$CONFIG"
  [[ $output == "{\"credsStore\":\"test\",\"psFormat\":\"x\",\"auths\":{\"$PROXY\":{}}}" ]]
  run_tug pull -q $PROXY/busybox
  [[ $output == "$PROXY/busybox:latest" ]]
  [[ $(helper_log | tail -1) == "get $PROXY" ]]
  run_tug logout $PROXY
  [[ $output == "Removing login credentials for $PROXY" ]]
  helper_log | grep -qx "erase $PROXY" || { echo "no erase: $(helper_log)"; false; }
  [[ -z $(ls "$HELPER_DIR" | grep -v '^log$') ]] || { echo "the helper still holds a secret"; false; }
  run jq -c .auths "$CONFIG"
  [[ $output == '{}' ]]
  run_tug logout $PROXY
  [[ $output == "Not logged in to $PROXY" ]]
}

@test "credHelpers: a helper for one registry, the file for another; a missing helper is named" {
  install_helper
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode basic --user bob --password pw
  local port=${PROXY##*:}
  write_config "{\"credHelpers\":{\"127.0.0.1:$port\":\"test\"}}"
  run_tug login -u bob --password-stdin 127.0.0.1:$port <<<"pw"
  [[ $(helper_log) == "store 127.0.0.1:$port" ]]
  # the same proxy by another name has no helper: its password goes into the file
  run_tug login -u bob --password-stdin localhost:$port <<<"pw"
  [[ $(auth_of localhost:$port) == bob:pw ]]
  [[ $(helper_log | wc -l) -eq 1 ]]
  run_tug pull -q 127.0.0.1:$port/busybox
  [[ $(helper_log | tail -1) == "get 127.0.0.1:$port" ]]
  run_tug pull -q localhost:$port/busybox
  [[ $(helper_log | wc -l) -eq 2 ]]

  write_config "{\"credHelpers\":{\"127.0.0.1:$port\":\"absent\"}}"
  run_tug 1 pull -q 127.0.0.1:$port/busybox
  assert_match "docker-credential-absent is not in PATH"
  run_tug 1 login -u bob --password-stdin 127.0.0.1:$port <<<"pw"
  assert_match "docker-credential-absent is not in PATH"
}

# pty_login SERVER ANSWER...: `tug login SERVER` on a terminal of its own, each ANSWER typed
# after the next prompt ("Username" or "Password"); prints what the terminal showed
pty_login() {
  timeout 60 python3 - "$TUG" "$@" <<'EOF'
import os, pty, select, sys
tug, server, answers = sys.argv[1], sys.argv[2], sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(tug, [tug, "login", server])
shown = b""
def read_some():
    global shown
    select.select([fd], [], [], 30)
    try:
        data = os.read(fd, 4096)
    except OSError:
        data = b""
    shown += data
    return data
for answer in answers:
    while not shown.rstrip().endswith(b":"):
        if not read_some():
            break
    else:
        os.write(fd, answer.encode() + b"\n")
        shown += b"<typed>"
        continue
    break  # it ended without asking
while read_some():
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(shown.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
EOF
}

@test "interactive login prompts on the terminal and does not echo the password" {
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode basic --user bob --password Sesame42
  run pty_login $PROXY bob Sesame42
  [[ $status -eq 0 ]] || { echo "$output"; false; }
  assert_match "^Username: <typed>bob"
  assert_match "Password: <typed>"
  assert_match "Login Succeeded"
  refute_match "Sesame42"
  [[ $(auth_of $PROXY) == bob:Sesame42 ]]

  # stored: the name is offered, and a login with no flags tries the stored credentials first
  run pty_login $PROXY "" Sesame42
  [[ $status -eq 0 ]] || { echo "$output"; false; }
  assert_match "Authenticating with existing credentials"
  refute_match "Username"
  write_config "{\"auths\":{\"$PROXY\":{\"auth\":\"$(printf bob:old | base64)\"}}}"
  run pty_login $PROXY "" Sesame42
  [[ $status -eq 0 ]] || { echo "$output"; false; }
  assert_match "Login did not succeed"
  assert_match "Username \(bob\): <typed>"
  refute_match "Sesame42"
  [[ $(auth_of $PROXY) == bob:Sesame42 ]]
}

@test "docker and tug read each other's logins" {
  pgrep -x dockerd >/dev/null || skip "dockerd is not running"
  authproxy_start "$BATS_TEST_TMPDIR/proxy" --mode basic --user bob --password pw
  run docker login -u bob --password-stdin $PROXY <<<"pw"
  [[ $status -eq 0 ]] || { echo "docker login: $output"; false; }
  run_tug pull -q $PROXY/busybox
  [[ $output == "$PROXY/busybox:latest" ]]
  run_tug logout $PROXY
  [[ $output == "Removing login credentials for $PROXY" ]]

  run_tug login -u bob --password-stdin $PROXY <<<"pw"
  run docker pull -q $PROXY/busybox
  [[ $status -eq 0 ]] || { echo "docker pull: $output"; false; }
  docker rmi $PROXY/busybox >/dev/null
  run docker logout $PROXY
  [[ $status -eq 0 ]] || { echo "docker logout: $output"; false; }
  run_tug logout $PROXY
  [[ $output == "Not logged in to $PROXY" ]]

  # and through the same credential helper
  install_helper
  write_config '{"credsStore":"test"}'
  run_tug login -u bob --password-stdin $PROXY <<<"pw"
  run docker pull -q $PROXY/busybox
  [[ $status -eq 0 ]] || { echo "docker pull: $output"; false; }
  docker rmi $PROXY/busybox >/dev/null
  helper_log | grep -qx "get $PROXY" || { echo "docker did not ask the helper: $(helper_log)"; false; }
  run docker logout $PROXY
  [[ $status -eq 0 ]] || { echo "docker logout: $output"; false; }
  run_tug logout $PROXY
  [[ $output == "Not logged in to $PROXY" ]]
}
