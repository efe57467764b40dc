#!/usr/bin/env bats
# tug build's ADD: a local tar (plain or compressed, told by its content) is unpacked into the
# destination with its owners and modes, and nothing of a hostile one lands outside the rootfs;
# a URL is downloaded (0600, Last-Modified, --checksum), cached by its content.

load containers
load build

setup_file() { containers_setup_file; }

# containers.bash's teardown, after the test's HTTP server (if any) is stopped by its PID
eval "_containers_teardown() $(declare -f teardown | sed 1d)"
teardown() {
  if [[ -n ${HTTP_PID:-} ]]; then
    kill "$HTTP_PID" 2>/dev/null
    wait "$HTTP_PID" 2>/dev/null
  fi
  _containers_teardown
}

# mktar OUT MODE: a tar written by python's tarfile (MODE "w", "w:gz", "w:bz2", "w:xz") from
# the entries on stdin, one per line: type name mode uid gid [content-or-link-target]
# (type f: file, d: directory, l: symlink, h: hard link)
mktar() {
  python3 -c "$(cat <<'EOF'
import io, sys, tarfile
out, mode = sys.argv[1], sys.argv[2]
with tarfile.open(out, mode, format=tarfile.PAX_FORMAT) as t:
    for line in sys.stdin:
        f = line.rstrip("\n").split(" ", 5)
        if len(f) < 5:
            continue
        kind, name, perm, uid, gid = f[:5]
        extra = f[5] if len(f) > 5 else ""
        i = tarfile.TarInfo(name)
        i.mode, i.uid, i.gid, i.mtime = int(perm, 8), int(uid), int(gid), 1700000000
        data = None
        if kind == "f":
            data = (extra + "\n").encode()
            i.size = len(data)
        elif kind == "d":
            i.type = tarfile.DIRTYPE
        elif kind == "l":
            i.type, i.linkname = tarfile.SYMTYPE, extra
        elif kind == "h":
            i.type, i.linkname = tarfile.LNKTYPE, extra
        t.addfile(i, io.BytesIO(data) if data is not None else None)
EOF
)" "$1" "$2"
}

# A web server for the test on 127.0.0.1: WWW is its directory, PORT its port.
serve() {
  WWW=$BATS_TEST_TMPDIR/www
  mkdir -p "$WWW"
  PORT=$(fixture_free_port)
  python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$WWW" </dev/null >/dev/null 2>&1 3>&- &
  HTTP_PID=$!
  local i
  for i in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/" && return 0
    sleep 0.1
  done
  echo "the test's web server did not start" >&2
  return 1
}

@test "ADD of a .tar and a .tar.gz unpacks them into the destination with their owners and modes" {
  ctx
  mktar "$CTX/app.tar" w <<'EOF'
d app 0750 1000 1000
f app/run.sh 0755 1000 1000 echo hi
f app/secret 0600 123 456 s3cret
l app/link 0777 1000 1000 run.sh
h app/hard 0600 123 456 app/secret
EOF
  mktar "$CTX/lib.tar.gz" w:gz <<'EOF'
f lib/a.txt 0640 7 8 from the gzip
EOF
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
ADD app.tar /opt/
ADD lib.tar.gz /usr/local
CMD ["sh", "-c", "cd /opt && stat -c '%n %u:%g %a' app app/run.sh app/secret app/hard /usr/local/lib/a.txt && readlink app/link && cat app/run.sh app/hard /usr/local/lib/a.txt && stat -c %h app/secret && ls /opt && ls /usr/local/lib"]
EOF
  build -t added "$CTX"
  assert_match '^#[0-9]+ \[2/3\] ADD app.tar /opt/$'
  run_tug run --rm added
  assert_output "app 1000:1000 750
app/run.sh 1000:1000 755
app/secret 123:456 600
app/hard 123:456 600
/usr/local/lib/a.txt 7:8 640
run.sh
echo hi
s3cret
from the gzip
2
app
a.txt"
}

@test "ADD of an archive entry named .wh.NAME: a file in a directory store, a whiteout in an EROFS one" {
  ctx
  mktar "$CTX/w.tar" w <<'EOF'
f keep 0644 0 0 kept
f .wh.gone 0644 0 0 not a whiteout
EOF
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
ADD w.tar /w/
CMD ["sh", "-c", "cat /w/keep; stat -c '%n %u:%g %a' /w/.wh.gone 2>/dev/null || echo 'no /w/.wh.gone'"]
EOF
  build -t wh "$CTX"
  # docker's build keeps the file in the step's directory, so it shows until the image is
  # pushed and pulled, where the layer's .wh.gone is a whiteout. An EROFS store makes the layer
  # from its blob, as a pull does: the pulled image's reading at once (docs/build.md).
  local want="/w/.wh.gone 0:0 644"
  [[ $(cat "$TUG_ROOT/layer-format") == erofs ]] && want="no /w/.wh.gone"
  run_tug run --rm wh
  assert_output "kept
$want"
}

@test "ADD tells an archive by its content: bzip2, xz and zstd under any name; a non-archive is copied as it is" {
  ctx
  echo 'f b.txt 0644 0 0 bzip2' | mktar "$CTX/b.data" w:bz2
  echo 'f x.txt 0644 0 0 xz' | mktar "$CTX/x.tar.xz" w:xz
  echo 'f z.txt 0644 0 0 zstd' | mktar "$CTX/z.tar" w
  zstd -q --rm "$CTX/z.tar" -o "$CTX/z.bin"
  # named like archives, but no tar inside: as they are, as docker copies them
  echo 'just text' >"$CTX/notes.tar"
  echo 'compressed text' | gzip >"$CTX/text.gz"
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
ADD b.data x.tar.xz z.bin /u/
ADD notes.tar text.gz /c/
ADD --unpack=false x.tar.xz /k/
CMD ["sh", "-c", "cat /u/b.txt /u/x.txt /u/z.txt /c/notes.tar; gunzip -c /c/text.gz; ls /u; ls /c; ls /k"]
EOF
  build -t unpacked "$CTX"
  run_tug run --rm unpacked
  assert_output "bzip2
xz
zstd
just text
compressed text
b.txt
x.txt
z.txt
notes.tar
text.gz
x.tar.xz"
}

@test "ADD --chown owns every entry of an archive; the archive's own owners otherwise" {
  ctx
  mktar "$CTX/o.tar" w <<'EOF'
d o 0700 5 5
f o/f 0640 5 5 owned
EOF
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
ADD --chown=nobody o.tar /x/
ADD o.tar /y/
CMD ["sh", "-c", "stat -c '%n %u:%g %a' /x/o /x/o/f /y/o/f; echo $(id -u nobody):$(id -g nobody)"]
EOF
  build -t chowned "$CTX"
  run_tug run --rm chowned
  local nobody=${lines[3]}
  [[ $nobody != 0:0 && $nobody != 5:5 ]] || { echo "$output"; false; }
  assert_output "/x/o $nobody 700
/x/o/f $nobody 640
/y/o/f 5:5 640
$nobody"
}

@test "a hostile archive writes nothing outside the container's rootfs" {
  ctx
  local tag=tug-add-$$-$RANDOM
  # ../ out of the destination: refused, as docker refuses it
  echo "f ../../../../../../../../tmp/$tag-dots 0644 0 0 out" | mktar "$CTX/dots.tar" w
  printf 'FROM busybox\nADD dots.tar /deep/er/\n' >"$CTX/Dockerfile"
  build 1 "$CTX"
  assert_match "archive entry .*$tag-dots escapes the destination"
  [[ ! -e /tmp/$tag-dots ]]
  # an absolute name, a symlink to / and a file through it, a symlink to .. and a file through
  # it: all inside the destination
  mktar "$CTX/evil.tar" w <<EOF
f /tmp/$tag-abs 0644 0 0 abs
l up 0777 0 0 ../../../../../../../..
f up/tmp/$tag-up 0644 0 0 up
l root 0777 0 0 /
f root/tmp/$tag-root 0644 0 0 root
EOF
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
RUN mkdir -p /d/tmp
ADD evil.tar /d/
CMD ["sh", "-c", "cd /d/tmp && cat *"]
EOF
  build -t evil "$CTX"
  run_tug run --rm evil
  assert_output $'abs\nroot\nup'
  # a destination that is a symlink out of the rootfs's root lands in the rootfs
  cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
RUN ln -s ../../../../.. /out
ADD evil.tar /out/
CMD ["sh", "-c", "cat /tmp/*"]
EOF
  build -t evil2 "$CTX"
  run_tug run --rm evil2
  assert_output $'abs\nroot\nup'
  # a hard link to a file outside: refused
  echo "h stolen 0644 0 0 ../../../../../../../../etc/passwd" | mktar "$CTX/hard.tar" w
  printf 'FROM busybox\nADD hard.tar /h/\n' >"$CTX/Dockerfile"
  build 1 "$CTX"
  assert_match 'archive entry stolen: hard link target .* escapes the destination'
  local f
  for f in "/tmp/$tag-abs" "/tmp/$tag-up" "/tmp/$tag-root" "/$tag-up" "/tmp/$tag-dots"; do
    [[ ! -e $f ]] || { echo "$f was written on the host"; rm -f "$f"; false; }
  done
}

@test "ADD from a URL: downloaded as 0600 with the server's time, --chown and --chmod applied, not unpacked" {
  serve
  ctx
  echo 'remote content' >"$WWW/hello.txt"
  touch -d '2021-05-06 07:08:09 UTC' "$WWW/hello.txt"
  echo 'f in.txt 0644 0 0 inside' | mktar "$WWW/pack.tar" w
  cat >"$CTX/Dockerfile" <<EOF
FROM busybox
ADD http://127.0.0.1:$PORT/hello.txt /dl/
ADD --chown=nobody --chmod=644 http://127.0.0.1:$PORT/hello.txt /dl/renamed
ADD http://127.0.0.1:$PORT/pack.tar /dl/
CMD ["sh", "-c", "cd /dl && stat -c '%n %u %a %Y' hello.txt && stat -c '%n %a' renamed pack.tar && cat renamed && id -u nobody && stat -c %u renamed"]
EOF
  build -t fetched "$CTX"
  run_tug run --rm fetched
  [[ ${lines[0]} == "hello.txt 0 600 $(date -d '2021-05-06 07:08:09 UTC' +%s)" ]] || { echo "$output"; false; }
  [[ ${lines[1]} == 'renamed 644' && ${lines[2]} == 'pack.tar 600' && ${lines[3]} == 'remote content' ]] ||
    { echo "$output"; false; }
  [[ ${lines[4]} == "${lines[5]}" ]] || { echo "renamed is not nobody's: $output"; false; }
}

@test "ADD --checksum: the right one builds, a wrong one fails naming the URL and both digests" {
  serve
  ctx
  echo 'checked' >"$WWW/c.txt"
  local sum bad=sha256:0000000000000000000000000000000000000000000000000000000000000000
  sum=sha256:$(sha256sum "$WWW/c.txt" | cut -d' ' -f1)
  printf 'FROM busybox\nADD --checksum=%s http://127.0.0.1:%s/c.txt /c.txt\nCMD ["cat", "/c.txt"]\n' "$sum" "$PORT" >"$CTX/Dockerfile"
  build -t summed "$CTX"
  run_tug run --rm summed
  assert_output checked
  # a cache hit with --checksum needs no download: the server may be gone
  kill "$HTTP_PID"
  wait "$HTTP_PID" 2>/dev/null || true
  HTTP_PID=
  build -t summed "$CTX"
  [[ $(steps_of) == *"ADD --checksum=$sum http://127.0.0.1:$PORT/c.txt /c.txt CACHED" ]] || { echo "$output"; false; }
  serve
  echo 'checked' >"$WWW/c.txt"
  printf 'FROM busybox\nADD --checksum=%s http://127.0.0.1:%s/c.txt /c.txt\n' "$bad" "$PORT" >"$CTX/Dockerfile"
  build 1 "$CTX"
  assert_match "Dockerfile:2: ADD http://127.0.0.1:$PORT/c.txt: checksum mismatch: --checksum is $bad, the download is $sum"
  printf 'FROM busybox\nADD --checksum=md5:abc http://127.0.0.1:%s/c.txt /c.txt\n' "$PORT" >"$CTX/Dockerfile"
  build 1 "$CTX"
  assert_match 'Dockerfile:2: invalid ADD --checksum md5:abc'
  printf 'FROM busybox\nADD --checksum=%s http://127.0.0.1:%s/c.txt http://127.0.0.1:%s/d.txt /d/\n' "$sum" "$PORT" "$PORT" >"$CTX/Dockerfile"
  build 1 "$CTX"
  assert_match 'Dockerfile:2: ADD --checksum checks one source'
}

@test "ADD from a URL that fails: a 404, a host that does not answer, a git repository" {
  serve
  ctx
  run_tug images -q
  local before=$output
  printf 'FROM busybox\nADD http://127.0.0.1:%s/missing.txt /m\n' "$PORT" >"$CTX/Dockerfile"
  build 1 "$CTX"
  assert_match "Dockerfile:2: ADD http://127.0.0.1:$PORT/missing.txt: the server answered 404"
  local closed
  closed=$(fixture_free_port)
  printf 'FROM busybox\nRUN true\nADD http://127.0.0.1:%s/x /x\n' "$closed" >"$CTX/Dockerfile"
  build 1 "$CTX"
  assert_match "Dockerfile:3: ADD http://127.0.0.1:$closed/x: .*(onnect|refused)"
  printf 'FROM busybox\nADD https://github.com/moby/moby.git#v1 /src\n' >"$CTX/Dockerfile"
  build 1 "$CTX"
  assert_match 'Dockerfile:2: ADD from a git repository \(https://github.com/moby/moby.git#v1\) is not supported by tug'
  printf 'FROM busybox\nADD git@github.com:moby/moby.git /src\n' >"$CTX/Dockerfile"
  build 1 "$CTX"
  assert_match 'Dockerfile:2: ADD from a git repository .* is not supported by tug'
  # nothing tagged, nothing left behind
  run_tug images -q
  assert_output "$before"
  assert_store_clean
}

@test "ADD from a URL is CACHED while the content is the same and done again when it changes" {
  serve
  ctx
  echo 'version 1' >"$WWW/v.txt"
  printf 'FROM busybox\nADD http://127.0.0.1:%s/v.txt /v.txt\nRUN cat /v.txt > /copy\nCMD ["cat", "/copy"]\n' "$PORT" >"$CTX/Dockerfile"
  build -t versioned "$CTX"
  run_tug run --rm versioned
  assert_output 'version 1'
  # the same bytes with a newer time: docker's cache ignores the time
  touch -d '2030-01-01' "$WWW/v.txt"
  build -t versioned "$CTX"
  [[ $(steps_of | grep -c CACHED) -eq 3 ]] || { echo "$output"; false; }
  echo 'version 2' >"$WWW/v.txt"
  build -t versioned "$CTX"
  [[ $(steps_of | tail -2) == *"/v.txt DONE"$'\n'*"RUN cat /v.txt > /copy DONE" ]] || { echo "$output"; false; }
  run_tug run --rm versioned
  assert_output 'version 2'
}
