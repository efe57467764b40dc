#!/usr/bin/env bats
# A layer tar as an EROFS image (tug_layer_to_erofs, through the erofs-write helper the build
# puts beside tug): for each fixture the image passes fsck.erofs, dump.erofs reads it, the
# kernel mounts it, and everything in it (paths, types, modes, owners, sizes, mtimes to the
# nanosecond, link counts, devices, xattrs, symlink targets, contents) equals what
# `tar -x --xattrs` makes of the same tar, with .wh. entries read as overlay whiteouts.

load helpers

WRITE=$(dirname "$TUG")/erofs-write
TREECMP=$BATS_TEST_DIRNAME/../helpers/treecmp.py

setup_file() {
  [[ -x $WRITE ]] || { echo "$WRITE is missing: build tug first" >&2; return 1; }
  command -v fsck.erofs >/dev/null || { echo "fsck.erofs missing: make deps" >&2; return 1; }
}

setup() {
  MOUNTS=()
  WORK=$BATS_TEST_TMPDIR
}

teardown() {
  local i
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}" 2>/dev/null || true
  done
}

# mount_image IMG DIR: the kernel's erofs on a regular file, read-only
mount_image() {
  mkdir -p "$2"
  mount -t erofs -o ro "$1" "$2" || return
  MOUNTS+=("$2")
}

# check_tar TAR: write the image, fsck it, dump it, mount it and compare it with tar -x
check_tar() {
  local tar=$1 img=$WORK/image ref=$WORK/ref mnt=$WORK/mnt
  rm -f "$img"
  run "$WRITE" "$tar" "$img"
  [ "$status" -eq 0 ] || { echo "erofs-write: $output" >&2; return 1; }
  local digest=${output%% *}
  local want
  case $(head -c 4 "$tar" | od -An -tx1 | tr -d ' ') in
  1f8b*) want=$(gzip -dc "$tar" | sha256sum) ;;
  28b52ffd) want=$(zstd -dc "$tar" | sha256sum) ;;
  *) want=$(sha256sum <"$tar") ;;
  esac
  [ "$digest" = "sha256:${want%% *}" ] || { echo "diff ID $digest, tar's sha256:$want" >&2; return 1; }
  run fsck.erofs --extract "$img" # reads every file's data too
  [ "$status" -eq 0 ] || { echo "fsck.erofs: $output" >&2; return 1; }
  run dump.erofs "$img"
  [ "$status" -eq 0 ] || { echo "dump.erofs: $output" >&2; return 1; }
  [[ $output == *"Filesystem magic number:"*"0xE0F5E1E2"* ]] || { echo "$output" >&2; return 1; }
  rm -rf "$ref" && mkdir -p "$ref"
  tar -C "$ref" -x --xattrs --xattrs-include='*' --numeric-owner -p -f "$tar" || return
  mount_image "$img" "$mnt" || return
  run python3 "$TREECMP" cmp "$mnt" "$ref" --whiteouts-in-b
  echo "$output" | head -40 >&2
  [ "$status" -eq 0 ]
}

# set the mtime of everything in DIR (deepest first, so directories keep theirs)
stamp_tree() {
  find "$1" -depth -exec touch -h -d "$2" {} +
}

# A tree with every kind of entry a layer carries, in DIR.
make_full_tree() {
  local d=$1 n
  mkdir -p "$d"/{empty,sub/deeper,many,setgid}
  for n in 0 1 100 4031 4032 4095 4096 4097 8191 12288 100000 1048577; do
    head -c "$n" /dev/urandom >"$d/size-$n"
  done
  head -c 8000 /dev/urandom >"$d/tail-beside-big-xattrs"
  setfattr -n user.big -v "$(head -c 3000 /dev/zero | tr '\0' a)" "$d/tail-beside-big-xattrs"
  printf 'linked\n' >"$d/linked"
  ln "$d/linked" "$d/link2"
  ln "$d/linked" "$d/sub/deeper/link3"
  ln -s linked "$d/sym"
  ln -s "../$(printf 'x%.0s' {1..3000})" "$d/sub/long-target"
  ln -s "$(printf 'y%.0s' {1..4090})" "$d/sub/longest-target"
  ln -s /nowhere/at/all "$d/dangling"
  mknod "$d/null" c 1 3
  mknod "$d/sda1" b 8 1
  mknod "$d/bigdev" c 4095 1048575
  mkfifo "$d/fifo"
  printf 'ids\n' >"$d/ids"
  chown 100000:200000 "$d/ids" "$d/sub"
  chown 4000000000:4000000001 "$d/size-1"
  chmod 4755 "$d/size-100"
  chmod 2710 "$d/setgid"
  chmod 1777 "$d/empty"
  chmod 0 "$d/size-0"
  chmod 6511 "$d/size-4096"
  setfattr -n user.foo -v bar "$d/linked"
  setfattr -n user.empty "$d/size-1"
  setfattr -n trusted.tug -v secret "$d/sub"
  setfattr -n security.capability -v 0sAQAAAgAgAAAAAAAAAAAAAAAAAAA= "$d/size-4097"
  setfattr -n user.on-a-dir -v 1 "$d/empty"
  n=$(printf 'n%.0s' {1..255})
  printf 'long\n' >"$d/$n"
  mkdir "$d/sub/$n"
  # enough entries for several directory blocks, names of every length
  for n in $(seq 1 400); do
    : >"$d/many/$(printf 'f%.0s' $(seq 1 $((n % 120 + 1))))-$n"
  done
  stamp_tree "$d" '2021-05-06 07:08:09.123456789'
  touch -d '1999-12-31 23:59:59.999999999' "$d/size-4097"
  touch -d '2038-01-19 03:14:08.000000001' "$d/size-8191"
  touch -h -d '2001-02-03 04:05:06.7' "$d/sym"
}

# tar of DIR's contents as docker's layers are written: pax, numeric owners, xattrs
layer_tar() {
  tar -C "$1" --xattrs --xattrs-include='*' --numeric-owner --format=pax --sort=name -cf "$2" .
}

@test "every kind of entry survives: files of every tail, links, devices, ids, modes, xattrs, ns mtimes" {
  make_full_tree "$WORK/src"
  layer_tar "$WORK/src" "$WORK/full.tar"
  check_tar "$WORK/full.tar"
  # the things that make the cases hard are there
  run stat -c '%h %u:%g %a %t:%T %y' "$WORK/mnt/linked" "$WORK/mnt/size-1" "$WORK/mnt/bigdev" \
    "$WORK/mnt/size-4097"
  [ "${lines[0]%% *}" = 3 ]
  [[ ${lines[1]} == *" 4000000000:4000000001 "* ]]
  [[ ${lines[2]} == *" fff:fffff "* ]]
  [[ ${lines[3]} == *"1999-12-31 23:59:59.999999999"* ]]
  run getfattr --absolute-names -n security.capability --only-values "$WORK/mnt/size-4097"
  [ "$status" -eq 0 ]
  # a directory's link count is 2 + its subdirectories
  run stat -c %h "$WORK/mnt/sub"
  [ "$output" = 4 ]
}

@test "gzip and zstd layers give the same image contents and the uncompressed diff ID" {
  make_full_tree "$WORK/src"
  layer_tar "$WORK/src" "$WORK/l.tar"
  gzip -c "$WORK/l.tar" >"$WORK/l.tar.gz"
  zstd -q -c "$WORK/l.tar" >"$WORK/l.tar.zst"
  check_tar "$WORK/l.tar.gz"
  umount "$WORK/mnt" && MOUNTS=()
  check_tar "$WORK/l.tar.zst"
}

@test "whiteouts become char 0:0 devices and .wh..wh..opq marks its directory opaque" {
  mkdir -p "$WORK/src/opt/dir" "$WORK/src/etc"
  : >"$WORK/src/etc/.wh.motd"
  : >"$WORK/src/opt/.wh.gone"
  : >"$WORK/src/opt/dir/.wh..wh..opq"
  printf 'c\n' >"$WORK/src/opt/dir/c"
  : >"$WORK/src/.wh..wh..opq"
  : >"$WORK/src/.wh..wh.aufs"
  chown 7:8 "$WORK/src/opt/.wh.gone"
  stamp_tree "$WORK/src" '2020-01-01 00:00:00'
  layer_tar "$WORK/src" "$WORK/wh.tar"
  check_tar "$WORK/wh.tar"
  run stat -c '%F %t:%T %u:%g' "$WORK/mnt/opt/gone"
  [ "$output" = "character special file 0:0 7:8" ]
  run getfattr --absolute-names -n trusted.overlay.opaque --only-values "$WORK/mnt/opt/dir"
  [ "$output" = y ]
  [ ! -e "$WORK/mnt/.wh..wh.aufs" ]
  [ ! -e "$WORK/mnt/opt/dir/.wh..wh..opq" ]
}

@test "overlayfs over two images: a whiteout hides a lower file, an opaque dir its lower children" {
  mkdir -p "$WORK/l1/opt/dir" "$WORK/l1/opt/gone" "$WORK/l1/etc"
  printf 'a\n' >"$WORK/l1/opt/dir/a"
  printf 'b\n' >"$WORK/l1/opt/dir/b"
  printf 'x\n' >"$WORK/l1/opt/gone/x"
  printf 'keep\n' >"$WORK/l1/opt/keep"
  printf 'motd\n' >"$WORK/l1/etc/motd"
  mkdir -p "$WORK/l2/opt/dir" "$WORK/l2/etc"
  : >"$WORK/l2/etc/.wh.motd"
  : >"$WORK/l2/opt/.wh.gone"
  : >"$WORK/l2/opt/dir/.wh..wh..opq"
  printf 'c\n' >"$WORK/l2/opt/dir/c"
  layer_tar "$WORK/l1" "$WORK/l1.tar"
  layer_tar "$WORK/l2" "$WORK/l2.tar"
  run "$WRITE" "$WORK/l1.tar" "$WORK/l1.img"
  [ "$status" -eq 0 ]
  run "$WRITE" "$WORK/l2.tar" "$WORK/l2.img"
  [ "$status" -eq 0 ]
  mount_image "$WORK/l1.img" "$WORK/m1"
  mount_image "$WORK/l2.img" "$WORK/m2"
  mkdir -p "$WORK/merged"
  mount -t overlay overlay -o "ro,lowerdir=$WORK/m2:$WORK/m1" "$WORK/merged"
  MOUNTS+=("$WORK/merged")
  run find "$WORK/merged" -mindepth 1 -printf '%P\n'
  [ "$(sort <<<"$output" | tr '\n' ' ')" = "etc opt opt/dir opt/dir/c opt/keep " ]
  [ "$(cat "$WORK/merged/opt/dir/c")" = c ]
}

@test "later entries replace earlier ones; a dir over a dir keeps its children" {
  python3 - "$WORK/replace.tar" <<'EOF'
import io, sys, tarfile
def add(t, name, kind=tarfile.REGTYPE, data=b"", **kw):
    i = tarfile.TarInfo(name)
    i.type = kind
    i.size = len(data) if kind == tarfile.REGTYPE else 0
    i.mtime = 1600000000
    i.mode = kw.get("mode", 0o644 if kind != tarfile.DIRTYPE else 0o755)
    for k, v in kw.items():
        setattr(i, k, v)
    t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    add(t, "d", tarfile.DIRTYPE)
    add(t, "d/kept", data=b"kept\n")
    add(t, "d", tarfile.DIRTYPE, mode=0o700)
    add(t, "f", data=b"first\n")
    add(t, "h", tarfile.LNKTYPE, linkname="f")
    add(t, "f", data=b"second\n")
    add(t, "x", tarfile.DIRTYPE)
    add(t, "x/child", data=b"gone\n")
    add(t, "x", data=b"a file now\n")
    add(t, "implicit/parent/file", data=b"deep\n")
    add(t, "./dot/./slash//name", data=b"clean\n")
EOF
  run "$WRITE" "$WORK/replace.tar" "$WORK/img"
  [ "$status" -eq 0 ]
  run fsck.erofs "$WORK/img"
  [ "$status" -eq 0 ]
  mount_image "$WORK/img" "$WORK/mnt"
  run stat -c '%a %h' "$WORK/mnt/d"
  [ "$output" = "700 2" ]
  [ "$(cat "$WORK/mnt/d/kept")" = kept ]
  [ "$(cat "$WORK/mnt/f")" = second ]
  [ "$(cat "$WORK/mnt/h")" = first ]
  run stat -c %h "$WORK/mnt/f" "$WORK/mnt/h"
  [ "$output" = $'1\n1' ]
  [ "$(cat "$WORK/mnt/x")" = "a file now" ]
  run stat -c '%a %u:%g' "$WORK/mnt/implicit" "$WORK/mnt/implicit/parent"
  [ "$output" = $'755 0:0\n755 0:0' ]
  [ "$(cat "$WORK/mnt/dot/slash/name")" = clean ]
}

@test "10000 small files in one directory and across many" {
  mkdir -p "$WORK/src/flat"
  local i
  for i in $(seq 1 100); do mkdir "$WORK/src/d$i"; done
  python3 - "$WORK/src" <<'EOF'
import os, sys
root = sys.argv[1]
for i in range(5000):
    with open(os.path.join(root, "flat", f"file-{i:05d}"), "w") as f:
        f.write("x" * (i % 300))
for i in range(5000):
    with open(os.path.join(root, f"d{i % 100 + 1}", f"s{i}"), "w") as f:
        f.write(str(i))
EOF
  stamp_tree "$WORK/src" '2022-02-02 02:02:02.5'
  layer_tar "$WORK/src" "$WORK/many.tar"
  check_tar "$WORK/many.tar"
  run stat -c %h "$WORK/mnt"
  [ "$output" = 103 ]
}

@test "a 5 GiB sparse file takes its data's blocks, not 5 GiB" {
  mkdir -p "$WORK/src"
  truncate -s 5G "$WORK/src/sparse"
  printf 'start' | dd of="$WORK/src/sparse" conv=notrunc status=none
  printf 'middle' | dd of="$WORK/src/sparse" bs=1 seek=$((4 * 1024 * 1024 * 1024 + 12345)) conv=notrunc status=none
  printf 'end' | dd of="$WORK/src/sparse" bs=1 seek=$((5 * 1024 * 1024 * 1024 - 3)) conv=notrunc status=none
  head -c 3000000 /dev/urandom >"$WORK/src/plain"
  stamp_tree "$WORK/src" '2023-03-03 03:03:03'
  tar -C "$WORK/src" --sparse --numeric-owner --format=pax -cf "$WORK/sparse.tar" .
  run "$WRITE" "$WORK/sparse.tar" "$WORK/img"
  [ "$status" -eq 0 ]
  # the image file is small on disk
  run du -k "$WORK/img"
  [ "${output%%[[:space:]]*}" -lt 65536 ]
  run dump.erofs "$WORK/img"
  [ "$status" -eq 0 ]
  mount_image "$WORK/img" "$WORK/mnt"
  run stat -c %s "$WORK/mnt/sparse"
  [ "$output" = 5368709120 ]
  [ "$(head -c 5 "$WORK/mnt/sparse")" = start ]
  [ "$(tail -c 3 "$WORK/mnt/sparse")" = end ]
  [ "$(dd if="$WORK/mnt/sparse" bs=1 skip=$((4 * 1024 * 1024 * 1024 + 12345)) count=6 status=none)" = middle ]
  # zeros between, as the source has them
  [ "$(dd if="$WORK/mnt/sparse" bs=4096 skip=1000000 count=1 status=none | tr -d '\0' | wc -c)" = 0 ]
  cmp "$WORK/mnt/plain" "$WORK/src/plain"
}

@test "a file over 4 GiB of zeros in the tar, stored flat: offsets past 32 bits, zero blocks as holes" {
  mkdir -p "$WORK/src"
  local off=$((4 * 1024 * 1024 * 1024 + 17))
  truncate -s $((4 * 1024 * 1024 * 1024 + 5000)) "$WORK/src/big"
  printf 'first' | dd of="$WORK/src/big" conv=notrunc status=none
  printf 'past4g' | dd of="$WORK/src/big" bs=1 seek=$off conv=notrunc status=none
  printf 'last' | dd of="$WORK/src/big" bs=1 seek=$((4 * 1024 * 1024 * 1024 + 4996)) conv=notrunc status=none
  printf 'after\n' >"$WORK/src/small-after"
  # no --sparse: the tar holds every zero (zstd keeps it small on disk)
  tar -C "$WORK/src" --numeric-owner --format=pax -cf - . | zstd -q -1 >"$WORK/big.tar.zst"
  run "$WRITE" "$WORK/big.tar.zst" "$WORK/img"
  [ "$status" -eq 0 ]
  # its blocks of zeros are holes of the image file
  run du -k "$WORK/img"
  [ "${output%%[[:space:]]*}" -lt 65536 ]
  run fsck.erofs "$WORK/img"
  [ "$status" -eq 0 ]
  mount_image "$WORK/img" "$WORK/mnt"
  run stat -c %s "$WORK/mnt/big"
  [ "$output" = $((4 * 1024 * 1024 * 1024 + 5000)) ]
  [ "$(head -c 5 "$WORK/mnt/big")" = first ]
  [ "$(dd if="$WORK/mnt/big" bs=1 skip=$off count=6 status=none)" = past4g ]
  [ "$(tail -c 4 "$WORK/mnt/big")" = last ]
  [ "$(cat "$WORK/mnt/small-after")" = after ]
}

@test "the busybox rootfs the suite's images hold" {
  fixture_rootfs "$WORK/src" >/dev/null
  layer_tar "$WORK/src" "$WORK/busybox.tar"
  gzip "$WORK/busybox.tar"
  check_tar "$WORK/busybox.tar.gz"
}

@test "a Debian rootfs: debootstrap's (bench/erofs.sh caches one), else the host's Debian files" {
  local tar=${TUG_EROFS_DEBIAN_TAR:-/var/tmp/tug-erofs-bench/debian.tar}
  if [[ ! -f $tar ]]; then
    tar=$WORK/debian.tar
    tar -C / --xattrs --xattrs-include='*' --numeric-owner --format=pax --sort=name \
      -cf "$tar" etc --no-recursion usr --recursion usr/sbin --no-recursion usr/share \
      --recursion usr/share/doc 2>/dev/null || [ "$?" -eq 1 ] # files changed meanwhile
  fi
  check_tar "$tar"
}

@test "a hostile or corrupt layer fails naming the entry, and the image is removed" {
  python3 - "$WORK" <<'EOF'
import io, sys, tarfile
def tar(path, entries):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, extra in entries:
            i = tarfile.TarInfo(name)
            i.type = kind
            if kind == tarfile.LNKTYPE or kind == tarfile.SYMTYPE:
                i.linkname = extra
            data = extra.encode() if kind == tarfile.REGTYPE else b""
            i.size = len(data)
            t.addfile(i, io.BytesIO(data))
w = sys.argv[1]
tar(f"{w}/dotdot.tar", [("ok.txt", tarfile.REGTYPE, "ok"), ("../escape", tarfile.REGTYPE, "x")])
tar(f"{w}/hardlink.tar", [("h", tarfile.LNKTYPE, "missing/target")])
tar(f"{w}/linkdir.tar", [("d", tarfile.DIRTYPE, ""), ("h", tarfile.LNKTYPE, "d")])
tar(f"{w}/notdir.tar", [("f", tarfile.REGTYPE, "x"), ("f/x", tarfile.REGTYPE, "y")])
tar(f"{w}/whiteout.tar", [("a/.wh...", tarfile.REGTYPE, "")])
EOF
  run "$WRITE" "$WORK/dotdot.tar" "$WORK/img"
  [ "$status" -eq 1 ]
  [ "$output" = "erofs-write: layer entry ../escape escapes the layer" ]
  [ ! -e "$WORK/img" ]
  run "$WRITE" "$WORK/hardlink.tar" "$WORK/img"
  [ "$status" -eq 1 ]
  [ "$output" = "erofs-write: layer entry h: hard link to missing/target: No such file or directory" ]
  run "$WRITE" "$WORK/linkdir.tar" "$WORK/img"
  [ "$status" -eq 1 ]
  [ "$output" = "erofs-write: layer entry h: hard link to d: Operation not permitted" ]
  run "$WRITE" "$WORK/notdir.tar" "$WORK/img"
  [ "$status" -eq 1 ]
  [ "$output" = "erofs-write: layer entry f/x: open parent directory: Not a directory" ]
  run "$WRITE" "$WORK/whiteout.tar" "$WORK/img"
  [ "$status" -eq 1 ]
  [ "$output" = "erofs-write: layer entry a/.wh...: invalid whiteout" ]
  # a gzip layer cut short, and one with a broken byte
  make_full_tree "$WORK/src"
  layer_tar "$WORK/src" "$WORK/l.tar"
  gzip -c "$WORK/l.tar" >"$WORK/l.tar.gz"
  head -c 20000 "$WORK/l.tar.gz" >"$WORK/cut.tar.gz"
  run "$WRITE" "$WORK/cut.tar.gz" "$WORK/img"
  [ "$status" -eq 1 ]
  [[ $output == "erofs-write: layer is truncated or corrupt: "* ]]
  [ ! -e "$WORK/img" ]
  head -c 300 "$WORK/l.tar" >"$WORK/cut.tar"
  run "$WRITE" "$WORK/cut.tar" "$WORK/img"
  [ "$status" -eq 1 ]
  [[ $output == "erofs-write: layer is truncated or corrupt: "* ]]
}

@test "a symlink on the way is followed inside the layer, never out of it" {
  python3 - "$WORK/sym.tar" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    for name, kind, link, data in [("real", tarfile.DIRTYPE, "", b""),
                                   ("link", tarfile.SYMTYPE, "/real", b""),
                                   ("up", tarfile.SYMTYPE, "../../../..", b""),
                                   ("link/through", tarfile.REGTYPE, "", b"in real\n"),
                                   ("up/etc/passwd", tarfile.REGTYPE, "", b"not the host's\n")]:
        i = tarfile.TarInfo(name)
        i.type = kind
        i.linkname = link
        i.size = len(data)
        t.addfile(i, io.BytesIO(data))
EOF
  run "$WRITE" "$WORK/sym.tar" "$WORK/img"
  [ "$status" -eq 0 ]
  mount_image "$WORK/img" "$WORK/mnt"
  [ "$(cat "$WORK/mnt/real/through")" = "in real" ]
  [ "$(cat "$WORK/mnt/etc/passwd")" = "not the host's" ]
  # the same tree as tug_layer_unpack makes of it
  mkdir "$WORK/unpacked"
  run "$WRITE" --unpack "$WORK/sym.tar" "$WORK/unpacked"
  [ "$status" -eq 0 ]
  run python3 "$TREECMP" cmp "$WORK/mnt" "$WORK/unpacked" --no-dir-mtime
  echo "$output"
  [ "$status" -eq 0 ]
}
