#!/usr/bin/env bats
# Volumes and mounts: data that outlives its container (-v, --mount, --volumes-from, --tmpfs,
# the image's VOLUME), the volume commands, and what a hostile volume cannot do.

load containers

setup_file() { containers_setup_file; }

# vol_image NAME [CHANGES...]: import a busybox rootfs (with /owned: uid 1234, gid 5678, mode 0750,
# holding /owned/f mode 0640) as NAME.
vol_image() {
  local name=$1 dir=$BATS_TEST_TMPDIR/rootfs-$1 c args=()
  shift
  fixture_rootfs "$dir" >/dev/null
  mkdir -p "$dir/owned" && echo inside >"$dir/owned/f"
  chown -R 1234:5678 "$dir/owned" && chmod 0750 "$dir/owned" && chmod 0640 "$dir/owned/f"
  tar -C "$dir" -cf "$dir.tar" .
  for c in "$@"; do args+=(-c "$c"); done
  run_tug import "${args[@]}" "$dir.tar" "$name"
}

@test "data written without a volume is gone with the container; in a volume it stays" {
  run_tug run --name first busybox sh -c 'echo precious > /data.txt'
  run_tug rm first
  run_tug 1 run --rm busybox cat /data.txt
  run_tug run --name writer -v db:/var/lib/db busybox sh -c 'echo precious > /var/lib/db/data.txt'
  run_tug rm writer
  run_tug run --rm -v db:/var/lib/db busybox cat /var/lib/db/data.txt
  assert_output precious
  run_tug volume ls -q
  assert_output db
  run_tug volume inspect -f '{{.Name}} {{.Driver}} {{.Scope}} {{.Mountpoint}}' db
  assert_output "db local local $TUG_ROOT/volumes/db/_data"
  [[ $(cat "$TUG_ROOT/volumes/db/_data/data.txt") == precious ]]
}

@test "a read-only volume or bind cannot be written" {
  run_tug run --rm -v db:/d busybox sh -c 'echo ok > /d/f'
  run_tug 1 run --rm -v db:/d:ro busybox sh -c 'echo no > /d/g'
  assert_match "Read-only file system"
  run_tug 1 run --rm --mount type=volume,source=db,target=/d,readonly busybox touch /d/h
  mkdir -p "$BATS_TEST_TMPDIR/host"
  run_tug 1 run --rm -v "$BATS_TEST_TMPDIR/host:/h:ro" busybox touch /h/x
  [[ ! -e $BATS_TEST_TMPDIR/host/x ]]
  run_tug run --rm -v db:/d:ro busybox cat /d/f
  assert_output ok
}

@test "an empty volume gets the image's content first, ownership and modes kept" {
  vol_image owned
  run_tug run --rm -v etc:/etc busybox cat /etc/motd
  [[ -s $TUG_ROOT/volumes/etc/_data/passwd ]]
  run_tug run --rm -v bin:/bin busybox sh -c 'ls -l /bin/sh'
  assert_match 'sh -> busybox'
  run_tug run --rm -v ov:/owned owned sh -c 'stat -c "%u %g %a" /owned /owned/f; cat /owned/f'
  assert_output $'1234 5678 750\n1234 5678 640\ninside'
  [[ $(stat -c '%u %g %a' "$TUG_ROOT/volumes/ov/_data/f") == "1234 5678 640" ]]
  # what a container changed is the volume's: no second copy over it
  run_tug run --rm -v ov:/owned owned sh -c 'rm /owned/f; echo mine > /owned/g'
  run_tug run --rm -v ov:/owned owned ls /owned
  assert_output g
  # nocopy leaves a new volume empty
  run_tug run --rm -v nc:/owned:nocopy owned ls -A /owned
  assert_output ""
}

@test "an image VOLUME gets an anonymous volume: kept and listed, removed by rm -v and --rm" {
  vol_image withvol 'VOLUME /data'
  run_tug run --name keep withvol sh -c 'echo x > /data/x'
  run_tug volume ls -q
  [[ $output =~ ^[0-9a-f]{64}$ ]]
  local anon=$output
  run_tug inspect -f '{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{end}}' keep
  assert_output "volume $anon /data"
  run_tug rm keep
  run_tug volume ls -q
  assert_output "$anon"
  run_tug run --name gone withvol true
  run_tug rm -v gone
  run_tug volume ls -q
  assert_output "$anon"
  run_tug run --rm withvol true
  run_tug volume ls -q
  assert_output "$anon"
  # -v /path is an anonymous volume too; rm -v never takes a named one
  run_tug run --name two -v /anon -v named:/named busybox true
  run_tug rm -v two
  run_tug volume ls -q
  assert_output "$anon"$'\nnamed'
}

@test "--volumes-from shares another container's volumes and binds, :ro makes them read-only" {
  mkdir -p "$BATS_TEST_TMPDIR/h"
  run_tug create --name src -v shared:/shared -v "$BATS_TEST_TMPDIR/h:/h" busybox true
  run_tug run --rm --volumes-from src busybox sh -c 'echo via > /shared/v; echo bind > /h/b'
  [[ $(cat "$BATS_TEST_TMPDIR/h/b") == bind ]]
  run_tug run --rm --volumes-from src:ro busybox cat /shared/v
  assert_output via
  run_tug 1 run --rm --volumes-from src:ro busybox touch /shared/w
  run_tug 125 run --rm --volumes-from nosuch busybox true
  assert_match "No such container: nosuch"
}

@test "a volume in use cannot be removed and the error names the container" {
  run_tug create --name user1 -v busy:/b busybox true
  run_tug 1 volume rm busy
  assert_match "volume is in use"
  assert_match "user1"
  run_tug rm user1
  run_tug volume ls -q
  assert_output busy
  run_tug volume rm busy
  assert_output busy
  run_tug 1 volume rm busy
  assert_match "no such volume"
  run_tug volume rm -f busy
}

@test "volume prune removes unused anonymous volumes, all unused ones with --all" {
  run_tug volume create --label team=db named
  run_tug create --name holder -v kept:/k busybox true
  run_tug run --name anon1 -v /anon busybox true
  run_tug rm anon1
  run_tug volume ls -q --filter dangling=true
  [[ ${#lines[@]} -eq 2 ]]
  run_tug volume ls -q --filter label=team=db
  assert_output named
  run_tug volume ls -q --filter name=zzz
  assert_output ""
  run_tug volume ls -q --filter name=kept
  assert_output kept
  run_tug volume prune -f
  assert_match "^Deleted Volumes:"
  run_tug volume ls -q
  assert_output $'kept\nnamed'
  run_tug volume prune -f --all
  assert_match "^named$"
  run_tug volume ls -q
  assert_output kept
}

@test "--tmpfs and --mount type=tmpfs are limited to their size" {
  run_tug 1 run --rm --tmpfs /t:size=1m busybox dd if=/dev/zero of=/t/f bs=1k count=2048
  assert_match "No space left on device"
  run_tug 1 run --rm --mount type=tmpfs,target=/t,tmpfs-size=1m busybox dd if=/dev/zero of=/t/f bs=1k count=2048
  run_tug run --rm --mount type=tmpfs,target=/t busybox sh -c 'grep " /t " /proc/mounts'
  assert_match "tmpfs /t tmpfs"
  # tmpfs's own options pass; others are refused before anything exists
  run_tug run --rm --tmpfs /t:size=64m,mode=1770,uid=65534,ro busybox sh -c 'grep " /t " /proc/mounts'
  assert_match "^tmpfs /t tmpfs ro,.*size=65536k.*mode=1770,uid=65534"
  local opt
  for opt in size=abc mode=999 colour=blue size=; do
    run_tug 125 run --rm --tmpfs "/t:$opt" busybox true
    assert_match "invalid tmpfs option '$opt': use size=64m"
  done
  no_containers_left
}

@test "data in a volume survives kill -9 of the monitor" {
  run_tug run -d --name victim -v survive:/s busybox sh -c 'echo before > /s/f; sleep 1000'
  wait_until 10 test -s "$TUG_ROOT/volumes/survive/_data/f"
  local mon
  mon=$(pgrep -f -- "^tug-monitor .*--root $TUG_ROOT " | head -1)
  [[ -n $mon ]]
  kill -9 "$mon"
  run_tug rm -f victim
  run_tug run --rm -v survive:/s busybox cat /s/f
  assert_output before
}

@test "a symlink in a volume cannot point a mount at the host" {
  run_tug run --rm -v evil:/vol busybox ln -s /etc /vol/link
  mkdir -p "$BATS_TEST_TMPDIR/src" && echo mine >"$BATS_TEST_TMPDIR/src/s"
  local probe=tug-probe-$$
  run_tug run --rm -v evil:/vol -v "$BATS_TEST_TMPDIR/src:/vol/link/$probe" busybox cat /etc/$probe/s
  assert_output mine
  [[ ! -e /etc/$probe ]]
  run_tug run --rm -v evil:/vol --mount "type=volume,source=other,target=/vol/link/$probe" busybox true
  [[ ! -e /etc/$probe ]]
  # the link is still only a link in the volume, and the host's /etc is not in it
  [[ -L $TUG_ROOT/volumes/evil/_data/link ]]
}

@test "bind sources: -v creates a missing host path, --mount refuses it; bad specs are clear" {
  run_tug run --rm -v "$BATS_TEST_TMPDIR/new/dir:/n" busybox true
  [[ -d $BATS_TEST_TMPDIR/new/dir ]]
  run_tug 125 run --rm --mount "type=bind,source=$BATS_TEST_TMPDIR/missing,target=/m" busybox true
  assert_match "bind source path does not exist"
  [[ ! -e $BATS_TEST_TMPDIR/missing ]]
  run_tug 125 run --rm -v rel/dir:/x busybox true
  assert_match "use absolute path"
  run_tug 125 run --rm -v db:relative busybox true
  assert_match "must be absolute"
  run_tug 125 run --rm -v db: busybox true
  assert_match "empty"
  run_tug 125 run --rm -v db:/x:bogus busybox true
  assert_match "invalid mode: bogus"
  run_tug 125 run --rm --mount type=volume,target=/x,colour=red busybox true
  assert_match "unexpected key 'colour'"
  run_tug 125 run --rm --mount type=bind,target=/x busybox true
  assert_match "Source must not be empty"
  run_tug 125 run --rm -v a1:/x -v a2:/x busybox true
  assert_match "Duplicate mount point: /x"
  run_tug volume ls -q
  assert_output ""
}

@test "system df counts volumes; system check finds orphan volume directories" {
  run_tug run --rm -v sized:/s busybox dd if=/dev/zero of=/s/f bs=1k count=100
  run_tug create --name user2 -v used:/u busybox true
  run_tug system df --format '{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}'
  assert_match '^Local Volumes\|2\|1\|102.4kB$'
  assert_store_clean
  mkdir -p "$TUG_ROOT/volumes/orphan/_data"
  run_tug 1 system check --dry-run
  assert_match "orphan: volume directory .*/volumes/orphan"
  run_tug system check
  [[ ! -e $TUG_ROOT/volumes/orphan ]]
  assert_store_clean
}

@test "what a killed volume rm set aside is swept by the next one; a live remover's is not" {
  run_tug volume create first
  run_tug volume create second
  # a removal killed between its rename and its delete leaves .rm-PID-NAME
  local dead
  sh -c 'exit 0' &
  dead=$!
  wait $dead
  mkdir -p "$TUG_ROOT/volumes/.rm-$dead-gone/_data/sub"
  mkdir -p "$TUG_ROOT/volumes/.rm-$$-busy/_data"
  run_tug volume rm first
  [[ ! -e $TUG_ROOT/volumes/.rm-$dead-gone ]]
  [[ -e $TUG_ROOT/volumes/.rm-$$-busy ]]
  rm -rf "$TUG_ROOT/volumes/.rm-$$-busy"
  run_tug volume ls -q
  assert_output second
  assert_store_clean
}

@test "a store from before volumes is upgraded in place" {
  run_tug run --name old busybox true
  # take the store back to schema 2, as the previous tug wrote it
  sqlite3 "$TUG_ROOT/tug.db" 'DROP TABLE volumes; DROP TABLE volume_users; PRAGMA user_version=2;'
  run_tug ps -a --format '{{.Names}}'
  assert_output old
  run_tug run --rm -v up:/u busybox sh -c 'echo upgraded > /u/f'
  run_tug run --rm -v up:/u busybox cat /u/f
  assert_output upgraded
  (( $(sqlite3 "$TUG_ROOT/tug.db" 'PRAGMA user_version') >= 3 ))
}

@test "volume create with labels; inspect shows CreatedAt, Labels and Options" {
  run_tug volume create --label a=1 --label b labelled
  assert_output labelled
  run_tug volume create labelled
  run_tug volume inspect -f '{{json .Labels}} {{json .Options}}' labelled
  assert_output '{"a":"1","b":""} null'
  run_tug volume inspect -f '{{.CreatedAt}}' labelled
  [[ $output =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]]
  run_tug volume create
  [[ $output =~ ^[0-9a-f]{64}$ ]]
  run_tug 1 volume create 'bad/name'
  assert_match "invalid characters"
  run_tug 1 volume inspect nosuch
  assert_match "no such volume"
}
