#!/usr/bin/env bats
# cp: both directions, running and stopped containers, docker's path rules, tar streams,
# ownership, -L, volumes and binds, symlinks in the container that point out of it, errors.

load containers

setup_file() { containers_setup_file; }

# A running container named $1 with /d (a, sub/b, a owned by 1234:5678), /lnk -> /d/a, and the
# hostile links /out -> /, /up -> ../../.., /host -> the test's own host directory.
run_tree() {
  local name=$1
  shift
  run_tug run -d --name "$name" --network none "$@" busybox sh -c "
    mkdir -p /d/sub && echo a >/d/a && echo b >/d/sub/b && chown 1234:5678 /d/a &&
    ln -s /d/a /lnk && ln -s / /out && ln -s ../../.. /up && ln -s '$BATS_TEST_TMPDIR' /host &&
    echo ready && sleep 1000"
  wait_until 10 logs_match "$name" '^ready$'
}

# A stopped container with the same tree: run, then stopped.
stopped_tree() {
  run_tree "$@"
  run_tug stop -t 0 "$1"
}

@test "cp from a running container: a file to a file or into a directory, a directory, its contents" {
  run_tree src
  cd "$BATS_TEST_TMPDIR"
  run_tug cp src:/d/a afile
  assert_output ""
  [[ $(cat afile) == a ]]
  mkdir into
  run_tug cp src:/d/a into
  [[ $(cat into/a) == a ]]
  run_tug cp src:/d newdir
  [[ $(cat newdir/a) == a && $(cat newdir/sub/b) == b ]]
  # a directory copied onto an existing one goes inside it, as docker does
  run_tug cp src:/d newdir
  [[ $(cat newdir/d/sub/b) == b ]]
  run_tug cp src:/d/. contents
  [[ $(cat contents/a) == a && $(cat contents/sub/b) == b && ! -e contents/d ]]
  run_tug cp src:/d/sub/. into
  [[ $(cat into/b) == b ]]
  run_tug container cp src:/d/sub/b b2
  [[ $(cat b2) == b ]]
}

@test "cp from a stopped container: created and exited" {
  stopped_tree ended
  run_tug create --name fresh busybox true
  cd "$BATS_TEST_TMPDIR"
  run_tug cp ended:/d out
  [[ $(cat out/a) == a && $(cat out/sub/b) == b ]]
  run_tug cp fresh:/etc/passwd passwd
  grep -q '^root:' passwd
  status_is ended exited
  status_is fresh created
}

@test "cp into a running container: a file, into a directory, a directory, its contents" {
  run_tree dst
  cd "$BATS_TEST_TMPDIR"
  mkdir -p hd/sub && echo h >hd/f && echo s >hd/sub/s && echo top >hfile
  run_tug cp hfile dst:/tmp/renamed
  assert_output ""
  run_tug cp hfile dst:/tmp
  run_tug cp hd dst:/tmp/newdir
  run_tug cp hd/. dst:/tmp/contents
  run_tug cp hd dst:/d
  run_tug exec dst cat /tmp/renamed /tmp/hfile /tmp/newdir/f /tmp/newdir/sub/s /tmp/contents/f /d/hd/sub/s
  assert_output "$(printf 'top\ntop\nh\ns\nh\ns')"
}

@test "cp into a stopped container: what it finds when it runs again" {
  stopped_tree later
  cd "$BATS_TEST_TMPDIR"
  echo hello >greeting
  run_tug cp greeting later:/d/
  run_tug create --name fresh busybox cat /greeting
  run_tug cp greeting fresh:/
  run_tug start -a fresh
  assert_output hello
  run_tug cp later:/d/greeting back
  [[ $(cat back) == hello ]]
}

@test "cp - writes a tar to stdout, and unpacks one from stdin into a directory" {
  run_tree tars
  run timeout 60 sh -c "'$TUG' cp tars:/d - | tar tf - | sort"
  assert_output "$(printf 'd/\nd/a\nd/sub/\nd/sub/b')"
  run timeout 60 sh -c "'$TUG' cp tars:/d/. - | tar tf - | sort"
  assert_output "$(printf './\n./a\n./sub/\n./sub/b')"
  run timeout 60 sh -c "'$TUG' cp tars:/d/a - | tar tvf -"
  assert_match '^-rw-r--r-- 1234/5678 +2 .* a$'
  cd "$BATS_TEST_TMPDIR"
  mkdir -p t/x && echo in >t/x/f
  run timeout 60 sh -c "tar cf - -C t x | '$TUG' cp - tars:/tmp"
  [[ $status -eq 0 ]] || { echo "$output"; false; }
  run_tug exec tars cat /tmp/x/f
  assert_output in
  run timeout 60 sh -c "tar cf - -C t x | '$TUG' cp - tars:/d/a"
  [[ $status -eq 1 && $output == 'Error: destination "tars:/d/a" must be a directory' ]] ||
    { echo "status $status: $output"; false; }
}

@test "cp's ownership: the destination's user by default, the source's with -a" {
  run_tree owners
  cd "$BATS_TEST_TMPDIR"
  run_tug cp owners:/d/a mine
  [[ $(stat -c %u:%g mine) == "$(id -u):$(id -g)" ]]
  run_tug cp -a owners:/d/a kept
  [[ $(stat -c %u:%g kept) == 1234:5678 ]]
  echo x >theirs && chown 4321:8765 theirs
  run_tug cp theirs owners:/tmp/rooted
  run_tug cp -a theirs owners:/tmp/archived
  run_tug exec owners stat -c %u:%g /tmp/rooted /tmp/archived
  assert_output "$(printf '0:0\n4321:8765')"
}

@test "cp -L copies what a symlink points to; without it the symlink itself" {
  run_tree links
  cd "$BATS_TEST_TMPDIR"
  run_tug cp links:/lnk asis
  [[ -L asis && $(readlink asis) == /d/a ]]
  run_tug cp -L links:/lnk followed
  [[ ! -L followed && $(cat followed) == a ]]
  run timeout 60 sh -c "'$TUG' cp -L links:/lnk - | tar tf -"
  assert_output a
  ln -s hostfile hostlink && echo content >hostfile
  run_tug cp -L hostlink links:/tmp
  run_tug exec links cat /tmp/hostlink
  assert_output content
}

@test "cp goes through a running container's volume, bind mount and tmpfs" {
  run_tug volume create cpvol
  local voldir
  voldir=$(timeout 30 "$TUG" volume inspect -f '{{.Mountpoint}}' cpvol)
  mkdir "$BATS_TEST_TMPDIR/bindsrc"
  echo fromhost >"$BATS_TEST_TMPDIR/bindsrc/h"
  run_tree mounts -v cpvol:/vol -v "$BATS_TEST_TMPDIR/bindsrc:/bind" --tmpfs /scratch
  cd "$BATS_TEST_TMPDIR"
  echo payload >p
  run_tug cp p mounts:/vol/
  run_tug cp p mounts:/bind/p2
  run_tug cp p mounts:/scratch/
  [[ $(cat "$voldir/p") == payload && $(cat bindsrc/p2) == payload ]]
  run_tug exec mounts cat /scratch/p
  assert_output payload
  run_tug cp mounts:/bind/h fromhost
  [[ $(cat fromhost) == fromhost ]]
  run timeout 60 sh -c "'$TUG' cp mounts:/scratch - | tar tf - | sort"
  assert_output "$(printf 'scratch/\nscratch/p')"
}

@test "cp reaches a stopped container's volume and binds, and refuses a read-only one" {
  run_tug volume create cpvol2
  local voldir
  voldir=$(timeout 30 "$TUG" volume inspect -f '{{.Mountpoint}}' cpvol2)
  mkdir "$BATS_TEST_TMPDIR/robind"
  echo ro >"$BATS_TEST_TMPDIR/robind/r"
  run_tug create --name parked -v cpvol2:/vol -v "$BATS_TEST_TMPDIR/robind:/ro:ro" busybox true
  cd "$BATS_TEST_TMPDIR"
  echo parked >f
  run_tug cp f parked:/vol/
  [[ $(cat "$voldir/f") == parked ]]
  run_tug cp parked:/ro/r r
  [[ $(cat r) == ro ]]
  run_tug 1 cp f parked:/ro/
  assert_match 'read-only'
  [[ ! -e robind/f ]]
}

@test "cp never leaves the container through its symlinks: reads and writes stay in its root" {
  local mark=$BATS_TEST_TMPDIR/host-only-$RANDOM
  echo host >"$mark"
  run_tree hostile
  cd "$BATS_TEST_TMPDIR"
  # the host's file is not the container's, whichever link leads to it
  for via in /out /up /host/.. /up/up/out; do
    run_tug 1 cp "hostile:$via$mark" stolen
    assert_match "^Error: Could not find the file $via$mark in container hostile$"
  done
  run_tug 1 cp hostile:/host/$(basename "$mark") stolen
  assert_match 'Could not find the file'
  [[ ! -e stolen ]]
  # /out/etc/hostname is the container's own
  run_tug cp hostile:/out/etc/hostname hn
  [[ $(cat hn) == "$(timeout 30 "$TUG" exec hostile cat /etc/hostname)" ]]
  run_tug cp hostile:/up/../../d/a upa
  [[ $(cat upa) == a ]]
  # writes through the links land in the container
  local name=cp-written-$RANDOM
  echo w >w
  run_tug cp w "hostile:/out/tmp/$name"
  run_tug cp w "hostile:/up/tmp/$name-2"
  [[ ! -e /tmp/$name && ! -e /tmp/$name-2 ]]
  run_tug exec hostile cat "/tmp/$name" "/tmp/$name-2"
  assert_output "$(printf 'w\nw')"
  run_tug 1 cp w "hostile:/host/"
  [[ ! -e $BATS_TEST_TMPDIR/w.copy && $(cat "$mark") == host ]]
  # a magic link of /proc leads nowhere
  run_tug 1 cp hostile:/proc/1/root/etc/hostname x
  assert_match 'Could not find the file'
}

@test "cp - never writes outside the destination, whatever the tar holds" {
  run_tree tarred
  local name=cp-evil-$RANDOM
  python3 - "$BATS_TEST_TMPDIR/evil.tar" "$name" <<'PY'
import io, sys, tarfile
t = tarfile.open(sys.argv[1], "w")
link = tarfile.TarInfo("l"); link.type = tarfile.SYMTYPE; link.linkname = "/"; t.addfile(link)
for n in ("l/tmp/" + sys.argv[2], "../../../tmp/" + sys.argv[2] + "-2"):
    f = tarfile.TarInfo(n); f.size = 6; t.addfile(f, io.BytesIO(b"pwned\n"))
t.close()
PY
  run timeout 60 sh -c "'$TUG' cp - tarred:/tmp <'$BATS_TEST_TMPDIR/evil.tar'"
  [[ $status -eq 1 ]] || { echo "status $status: $output"; false; }
  assert_match 'escapes the destination'
  [[ ! -e /tmp/$name && ! -e /tmp/$name-2 ]]
  # the link's path was taken inside the destination
  run_tug exec tarred cat "/tmp/tmp/$name"
  assert_output pwned
}

@test "cp never leaves a stopped container through its symlinks either" {
  local mark=$BATS_TEST_TMPDIR/host-only-$RANDOM
  echo host >"$mark"
  stopped_tree parked
  cd "$BATS_TEST_TMPDIR"
  run_tug 1 cp "parked:/out$mark" stolen
  assert_match 'Could not find the file'
  run_tug 1 cp "parked:/up$mark" stolen
  [[ ! -e stolen ]]
  local name=cp-written-$RANDOM
  echo w >w
  run_tug cp w "parked:/up/tmp/$name"
  [[ ! -e /tmp/$name ]]
  run_tug cp "parked:/tmp/$name" back
  [[ $(cat back) == w ]]
}

@test "cp copies a large file whole" {
  run_tree big
  run_tug exec big sh -c 'dd if=/dev/urandom of=/big bs=1M count=24 2>/dev/null && sha256sum /big'
  local sum=${output%% *}
  cd "$BATS_TEST_TMPDIR"
  run_tug cp big:/big big
  [[ $(sha256sum big | cut -d' ' -f1) == "$sum" ]]
  run_tug cp big big:/big2
  run_tug exec big sha256sum /big2
  [[ ${output%% *} == "$sum" ]]
}

@test "cp's errors: docker's words and exit statuses" {
  run_tree errs
  cd "$BATS_TEST_TMPDIR"
  run_tug 1 cp nosuch:/etc .
  assert_output "Error: No such container: nosuch"
  run_tug 1 cp errs:/nope .
  assert_output "Error: Could not find the file /nope in container errs"
  run_tug 1 cp errs /tmp
  assert_output "Error: must specify at least one container source"
  run_tug 1 cp errs:/a errs:/b
  assert_output "Error: copying between containers is not supported"
  run_tug 1 cp errs:/d/a nodir/x
  assert_output "Error: invalid output path: directory \"$BATS_TEST_TMPDIR/nodir\" does not exist"
  run_tug 1 cp errs:/d/a nodir/
  assert_output "Error: no such directory"
  touch plain
  run_tug 1 cp errs:/d plain
  assert_output "Error: cannot copy directory"
  echo x >f
  run_tug 1 cp f errs:/nope/x
  assert_output "Error: Could not find the file /nope in container errs"
  run_tug 1 cp nohost errs:/tmp
  assert_output "Error: lstat $BATS_TEST_TMPDIR/nohost: no such file or directory"
  run_tug 1 cp errs:/d
  assert_match 'requires exactly 2 arguments'
  run_tug 125 cp --bogus errs:/d .
  assert_match 'unknown flag: --bogus'
}

@test "cp's tar and errors are docker's (when dockerd answers)" {
  timeout 20 docker info >/dev/null 2>&1 || skip "no dockerd answers to compare with"
  local img=$REGISTRY/busybox
  timeout 60 docker pull -q "$img" >/dev/null
  local script='mkdir -p /d/sub && echo a >/d/a && echo b >/d/sub/b && ln -s /d/a /lnk && sleep 1000'
  local cid
  cid=$(timeout 60 docker run -d --network none "$img" sh -c "$script") || { echo "docker run failed"; false; }
  run_tug run -d --name same --network none busybox sh -c "$script"
  sleep 1
  local ours theirs src
  for src in /d /d/ /d/. /d/a /lnk; do
    theirs=$(timeout 30 docker cp "$cid:$src" - | tar tvf - | awk '{print $1, $2, $6, $7, $8}')
    ours=$(timeout 30 "$TUG" cp "same:$src" - | tar tvf - | awk '{print $1, $2, $6, $7, $8}')
    [[ $ours == "$theirs" ]] || { printf '%s\ntug:\n%s\ndocker:\n%s\n' "$src" "$ours" "$theirs"; docker rm -f "$cid" >/dev/null; false; }
  done
  cd "$BATS_TEST_TMPDIR"
  local args
  for args in "X:/nope ." "X:/d/a nodir/x" "X:/d/a nodir/" "X:/d/a/ ." "X:/d plainf" "nosuchfile X:/tmp" "plainf X:/nope/x"; do
    touch plainf
    run timeout 30 docker cp ${args//X/$cid}
    local dstatus=$status dout=${output#Error response from daemon: }
    run timeout 30 "$TUG" cp ${args//X/same}
    local tout=${output#Error: }
    [[ $status -eq $dstatus ]] || { echo "$args: tug $status, docker $dstatus"; docker rm -f "$cid" >/dev/null; false; }
    # lstat of docker's own overlay path is its internals: only the kinds are compared there
    if [[ $args != "X:/d/a/ ." ]]; then
      [[ ${tout//same/C} == "${dout//$cid/C}" ]] || { printf '%s\ntug:    %s\ndocker: %s\n' "$args" "$tout" "$dout"; docker rm -f "$cid" >/dev/null; false; }
    fi
  done
  docker rm -f "$cid" >/dev/null 2>&1
  docker rmi "$img" >/dev/null 2>&1 || true
}

@test "cp never puts a file where a directory is, or the reverse: the container still starts" {
  run_tug create --name keep --network none busybox true
  mkdir -p "$BATS_TEST_TMPDIR/f"
  echo file >"$BATS_TEST_TMPDIR/f/etc"
  run_tug 1 cp "$BATS_TEST_TMPDIR/f/etc" keep:/
  assert_match "cannot overwrite directory with non-directory"
  mkdir -p "$BATS_TEST_TMPDIR/dir/busybox"
  echo inner >"$BATS_TEST_TMPDIR/dir/busybox/inner"
  run_tug 1 cp "$BATS_TEST_TMPDIR/dir/busybox" keep:/bin/
  assert_match "cannot overwrite non-directory with directory"
  run_tug start keep
  run_tug wait keep
  [[ $output == 0 ]]
  run_tug rm -f keep
}
