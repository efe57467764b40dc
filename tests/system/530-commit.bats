#!/usr/bin/env bats
# commit, diff and export: a container's filesystem as an image, a list of changes and a tar.

load containers

setup_file() { containers_setup_file; }

# The runtime's mount points (/etc/hosts, /etc/resolv.conf) that the image has not: no change.
CHANGES='echo hi >/tmp/new; rm /etc/motd; mkdir -p /usr/local/x; echo y >/usr/local/x/f; echo 1 >>/etc/passwd; rm -r /var/www'

@test "commit makes one layer of the files written and removed; the new image runs with them" {
  run_tug run --name box busybox sh -c "$CHANGES"
  run_tug commit box snap:1
  assert_match '^sha256:[0-9a-f]{64}$'
  local id=$output
  run_tug images -q --no-trunc snap:1
  assert_output "$id"
  run_tug image inspect -f '{{len .RootFS.Layers}}' snap:1
  assert_output 2
  run_tug run --rm snap:1 sh -c 'cat /tmp/new /usr/local/x/f; tail -n 1 /etc/passwd; ls /etc/motd /var/www 2>&1; true'
  assert_match '^hi$'
  assert_match '^y$'
  assert_match '^1$'
  assert_match "/etc/motd.*No such file"
  assert_match "/var/www.*No such file"
  # the layer holds the changes and none of the runtime's mount points
  local top
  top=$(inspect_f snap:1 '{{.GraphDriver.Data.UpperDir}}')
  run ls -A "$top" "$top/etc"
  assert_output "$top:
etc
tmp
usr
var

$top/etc:
motd
passwd"
}

@test "commit -c sets CMD, ENV and EXPOSE; -m and -a are the history's comment and author" {
  run_tug run --name box busybox sh -c 'echo saved >/saved'
  run_tug commit -c 'CMD ["cat","/saved"]' -c 'ENV FOO=bar' -c 'EXPOSE 8080' \
    -m 'my message' -a 'Me <me@example.com>' box snap:2
  run_tug image inspect -f '{{json .Config.Cmd}} {{json .Config.ExposedPorts}}' snap:2
  assert_output '["cat","/saved"] {"8080/tcp":{}}'
  run_tug image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' snap:2
  assert_match '^FOO=bar$'
  run_tug image inspect -f '{{.Author}}|{{.Comment}}|{{.Container}}' snap:2
  assert_output "Me <me@example.com>|my message|$(inspect_f box '{{.Id}}')"
  run_tug history --no-trunc --format '{{.CreatedBy}}|{{.Comment}}' snap:2
  assert_match '^sh -c echo saved >/saved\|my message$'
  run_tug run --rm snap:2
  assert_output saved
  run_tug run --rm snap:2 sh -c 'echo $FOO'
  assert_output bar
  # the container's own config carries over: its Cmd when -c gives none
  run_tug commit box snap:3
  run_tug image inspect -f '{{json .Config.Cmd}}' snap:3
  assert_output '["sh","-c","echo saved >/saved"]'
}

@test "commit of a running container freezes it while reading and leaves it running; a paused one stays paused" {
  run_tug run -d --name live busybox sh -c 'echo one >/tmp/one; echo ready; while true; do sleep 0.1; done'
  wait_until 10 logs_match live '^ready$'
  run_tug commit live live:1
  assert_inspect live '{{.State.Status}}' running
  run_tug exec live cat /tmp/one
  assert_output one
  run_tug run --rm live:1 cat /tmp/one
  assert_output one

  run_tug commit --pause=false live live:2
  assert_inspect live '{{.State.Status}}' running

  run_tug pause live
  run_tug commit live live:3
  assert_inspect live '{{.State.Status}}' paused
  run_tug unpause live
  assert_inspect live '{{.State.Status}}' running
}

@test "diff prints docker's A, C and D lines, in path order, without the runtime's mount points" {
  run_tug run --name dd busybox sh -c "$CHANGES"
  run_tug diff dd
  assert_output "C /etc
D /etc/motd
C /etc/passwd
C /tmp
A /tmp/new
C /usr
A /usr/local
A /usr/local/x
A /usr/local/x/f
C /var
D /var/www"
  run_tug container diff dd
  assert_match '^D /var/www$'
  # a container that changed nothing has nothing to show
  run_tug create --name quiet busybox true
  run_tug diff quiet
  assert_output ""
}

@test "diff lists the same changes as docker diff (when dockerd answers)" {
  timeout 20 docker info >/dev/null 2>&1 || skip "no dockerd answers to compare with"
  local img="$REGISTRY/busybox" cid
  timeout 60 docker pull -q "$img" >/dev/null
  cid=$(timeout 60 docker run -d --network none "$img" sh -c "$CHANGES") || { echo "docker run failed"; false; }
  timeout 30 docker wait "$cid" >/dev/null
  local theirs
  theirs=$(timeout 30 docker diff "$cid" | sort)
  docker rm -f "$cid" >/dev/null 2>&1
  docker rmi "$img" >/dev/null 2>&1 || true
  run_tug run --name dd busybox sh -c "$CHANGES"
  run_tug diff dd
  [[ $(sort <<<"$output") == "$theirs" ]] || {
    printf 'tug:\n%s\ndocker:\n%s\n' "$output" "$theirs"
    false
  }
}

@test "export writes the whole filesystem as a tar that import takes back; a volume's content is not in it" {
  run_tug run --name ex -v /data busybox sh -c 'echo kept >/root/kept; echo vol >/data/inside'
  run bash -c "timeout 60 '$TUG' export ex | timeout 60 '$TUG' import - roundtrip:1"
  [[ $status -eq 0 ]] || { echo "export | import: $output"; false; }
  run_tug run --rm roundtrip:1 sh -c 'cat /root/kept; ls -A /data; cat /etc/group | head -n 1'
  assert_output "kept
root:x:0:"

  run_tug export -o "$BATS_TEST_TMPDIR/ex.tar" ex
  assert_output ""
  run tar -tf "$BATS_TEST_TMPDIR/ex.tar"
  assert_match '^root/kept$'
  assert_match '^data/$'
  assert_match '^bin/busybox$'
  refute_match '^data/inside'
  run ls -A "$BATS_TEST_TMPDIR"
  refute_match 'ex\.tar\.tmp'
  run_tug container export -o "$BATS_TEST_TMPDIR/ex2.tar" ex
  cmp "$BATS_TEST_TMPDIR/ex.tar" "$BATS_TEST_TMPDIR/ex2.tar"
}

@test "export of a running container: its files as they are, nothing mounted in it" {
  run_tug run -d --name live -v /data busybox \
    sh -c 'echo one >/tmp/one; echo vol >/data/inside; echo ready; while true; do sleep 0.1; done'
  wait_until 10 logs_match live '^ready$'
  run_tug export -o "$BATS_TEST_TMPDIR/live.tar" live
  run tar -tf "$BATS_TEST_TMPDIR/live.tar"
  assert_match '^tmp/one$'
  assert_match '^data/$'
  assert_match '^proc/$'
  refute_match '^data/inside'
  refute_match '^proc/.'
  refute_match '^sys/.'
  assert_inspect live '{{.State.Status}}' running
}

@test "export of a running container loads nothing its /etc/nsswitch.conf names (CVE-2019-14271's kind)" {
  # a name-service module that, loaded by any process, leaves a mark in that process's root
  printf '%s\n' '#include <fcntl.h>' '#include <unistd.h>' \
    '__attribute__((constructor)) static void mark(void)' \
    '{ int fd = open("/nss-module-loaded", O_CREAT | O_WRONLY | O_CLOEXEC, 0644); if (fd >= 0) close(fd); }' \
    >"$BATS_TEST_TMPDIR/evil.c"
  gcc -shared -fPIC -o "$BATS_TEST_TMPDIR/libnss_evil.so.2" "$BATS_TEST_TMPDIR/evil.c"
  run_tug run -d --name hostile busybox sh -c 'echo ready; while true; do sleep 0.1; done'
  wait_until 10 logs_match hostile '^ready$'
  local d
  for d in /lib/x86_64-linux-gnu /lib64 /usr/lib/x86_64-linux-gnu /lib /usr/lib; do
    run_tug exec hostile mkdir -p "$d"
    timeout 30 "$TUG" exec -i hostile sh -c "cat > $d/libnss_evil.so.2" <"$BATS_TEST_TMPDIR/libnss_evil.so.2"
  done
  run_tug exec hostile sh -c 'printf "passwd: evil\ngroup: evil\nshadow: evil\n" >/etc/nsswitch.conf'
  run_tug export -o "$BATS_TEST_TMPDIR/hostile.tar" hostile
  run tar -tf "$BATS_TEST_TMPDIR/hostile.tar"
  assert_match '^etc/nsswitch.conf$'
  assert_match '^lib/x86_64-linux-gnu/libnss_evil.so.2$'
  run_tug exec hostile sh -c 'ls /nss-module-loaded 2>&1; true'
  assert_match 'No such file'
  [[ ! -e /nss-module-loaded ]] || { echo "the module ran on the host"; false; }
}

@test "export refuses to write a tar to a terminal" {
  run_tug create --name ex busybox true
  run script -qec "timeout 30 '$TUG' export ex" /dev/null
  [[ $status -eq 1 ]] || { echo "status $status: $output"; false; }
  assert_match 'cowardly refusing to save to a terminal. Use the -o flag or redirect'
}

@test "a container that is not there is one line naming it; a bad -c makes no image" {
  for cmd in commit diff export; do
    run_tug 1 "$cmd" nosuch
    assert_output "Error: No such container: nosuch"
  done
  run_tug run --name box busybox true
  run_tug images -q
  local before=$output
  run_tug 1 commit -c 'FROM scratch' box bad:1
  assert_match '^Error: change "FROM scratch": FROM is not allowed'
  [[ ${#lines[@]} -eq 1 ]] || { echo "more than one line: $output"; false; }
  run_tug 1 commit -c 'EXPOSE nope' box bad:1
  assert_match 'invalid port "nope"'
  run_tug images -q
  assert_output "$before"
  run_tug 1 commit box a b
  assert_match 'requires at least 1 and at most 2 arguments'
  run_tug 125 commit --nope box
  assert_match 'unknown flag: --nope'
  assert_store_clean
}
