#!/usr/bin/env python3
"""Write the first seeds of each fuzz target's corpus (tests/fuzz/corpus/NAME/seed-*).

  tests/fuzz/seeds.py

The corpora grow with what the fuzzers find (make fuzz, then -merge=1); these seeds are the
forms each parser is meant to take, and the attacks it must refuse. Output is deterministic.
"""
import gzip
import io
import json
import os
import subprocess
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
MTIME = 946684800
DIGEST = "sha256:" + "ab" * 32


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def strings(target, values, prefix=b""):
    for i, v in enumerate(values):
        write(target, "%02d" % i, prefix + v.encode())


strings("reference", [
    "busybox", "nginx:1.25", "docker.io/library/nginx:latest", "127.0.0.1:5000/a/b:tag",
    "localhost/x@" + DIGEST, "host:5000/ns/repo:t@" + DIGEST, "[::1]:5000/img", "UPPER/case",
    "a/b/c/d/e:1", "ex ample", "linux/arm/v7", "arm64", "linux/amd64/", "sha256:" + "0" * 64,
])

manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                       "digest": DIGEST},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": 32654, "digest": DIGEST},
                       {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "size": 1,
                        "digest": DIGEST}]}
oci = {"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "size": 2, "digest": DIGEST},
       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": 0,
                   "digest": DIGEST}]}
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1,
                        "digest": DIGEST, "platform": {"os": "linux", "architecture": p[0],
                                                       **({"variant": p[1]} if p[1] else {})}}
                       for p in [("amd64", None), ("arm", "v7"), ("arm64", "v8"), ("s390x", None)]]}
dlist = dict(index, mediaType="application/vnd.docker.distribution.manifest.list.v2+json")
for name, doc in [("docker", manifest), ("oci", oci), ("index", index), ("list", dlist),
                  ("v1", {"schemaVersion": 1, "name": "x"}), ("noindex", {"manifests": []})]:
    write("manifest", name, json.dumps(doc))

strings("template", [
    "{{.ID}}", "{{json .}}", "{{.State.Status}} {{.State.Pid}}", "{{index .Labels \"b.c\"}}",
    "{{range .Names}}{{.}},{{end}}", "{{if .State.Running}}up{{else}}down{{end}}",
    "{{- .ID -}}\n", "{{join .Names \", \"}}", "{{upper .ID | lower}}", "{{len .Names}}",
    "{{range $i, $p := .Ports}}{{$i}}:{{$p.PrivatePort}}{{end}}", "{{with .Labels}}{{.a}}{{end}}",
    "table {{.ID}}\t{{.Size}}", "{{printf \"%s\" .ID}}", "{{split .ID \"4\"}}", "{{title .Empty}}",
    "{{(index .Names 0)}}", "{{println .Map}}", "{{.Missing.Field}}", "{{",
    "{{printf \"%-10s|%5.2f|%q|%x|%05d|%v\" .ID .Size .ID 255 .State.Pid .Labels}}",
    "{{range $k, $v := .Labels}}{{$k}}={{$v}}{{else}}none{{end}}",
    "{{$x := .ID}}{{$x = \"y\"}}{{$x}}{{range $i, $e := .Names}}{{if eq $i 1}}{{break}}{{end}}{{end}}",
    "{{if eq .State.Status \"a\" \"running\"}}x{{else if lt .State.Pid 3}}y{{else}}z{{end}}",
    "{{and .State.Running (or .Empty \"d\") | not}} {{ge .Size 1.0}} {{ne .ID \"\"}}",
    "{{pad .ID 2 3}}{{truncate .ID 2}}{{slice .ID 1 2}}{{index .Ports 0 \"Type\"}}",
    "{{with $s := .State}}{{$s.Pid}}{{else with .Map}}m{{end}}{{/* c */}}{{range 3}}{{.}}{{end}}",
    "{{.Label \"a\"}}{{.Nope}}{{.ID.X}}{{index .List 9}}{{len 3}}{{$u}}",
])

strings("ports", [
    "80", "8080:80", "127.0.0.1:8080:80/udp", "8080-8082:80-82", "[::1]:8080:80", "0:80",
    "127.0.0.1::80", "53/udp", "1-65535:1-65535", "8080:80/sctp", "70000", "a:b:c:d",
])

strutil = [(0, "10m"), (0, "1.5g"), (0, "512k"), (0, "1024"), (0, "9223372036854775807g"),
           (1, "2021-12-29T19:28:29.892199479Z"), (1, "2013-01-02T13:23:37+01:00"),
           (1, "1970-01-01T00:00:00Z"), (2, "ng*x/[a-c]?\nnginx/b1"), (2, "[^a]\\*\nb"),
           (3, "\x10héllo wörld, a long name"), (4, "CAP_NET_ADMIN"), (4, "all"), (4, "chown")]
for i, (sel, v) in enumerate(strutil):
    write("strutil", "%02d" % i, bytes([sel]) + v.encode())

mounts = [(0, "/data"), (0, "vol:/data:ro"), (0, "/host:/ctr:rw,rslave,nocopy"), (0, "rel/dir:/x"),
          (0, "/h:/c:Z,z"), (0, "v:/"), (1, "type=volume,source=v,target=/d,readonly"),
          (1, "type=bind,src=/h,dst=/c,bind-propagation=rshared"),
          (1, "type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770"),
          (1, "type=volume,target=/d,volume-opt=o=1,volume-label=k=v,volume-nocopy"),
          (1, "type=bind,source=/a,target=/b,readonly=false"), (2, "ctr:ro"), (2, "other")]
for i, (sel, v) in enumerate(mounts):
    write("mount", "%02d" % i, bytes([sel]) + v.encode())

strings("change", [
    "CMD [\"sh\", \"-c\", \"echo hi\"]", "CMD echo hi", "ENTRYPOINT [\"/bin/x\"]",
    "ENV A=1 B=\"two words\"", "ENV K V", "EXPOSE 80/tcp 53/udp", "LABEL a=b \"c d\"=e",
    "USER nobody:nogroup", "VOLUME [\"/data\", \"/logs\"]", "VOLUME /x", "WORKDIR /srv",
    "STOPSIGNAL SIGTERM", "ONBUILD RUN x", "cmd [\"unterminated\"",
])


strings("dockerfile", [
    "# syntax=docker/dockerfile:1\nARG BASE=debian:12\nFROM --platform=$BUILDPLATFORM golang AS build\n"
    "WORKDIR /src\nCOPY go.* ./\nRUN --mount=type=cache,target=/root/.cache go build -o /app .\n"
    "FROM ${BASE}\nCOPY --from=build --chown=1:1 --chmod=0755 /app /usr/bin/\n"
    "ENV PORT=8080 MODE=\"a b\"\nEXPOSE $PORT 53/udp 7000-7002\nUSER app\n"
    "CMD [\"app\", \"--port\", \"8080\"]\n",
    "FROM nginx\nCOPY index.html /usr/share/nginx/html/index.html\n",
    "# escape=`\nFROM mcr.microsoft.com/windows/servercore\nCOPY a.txt c:\\\nRUN dir c:\\ `\n"
    "  && echo done\nENV P=C:\\path`\\x\n",
    "FROM x\nRUN a\\\n  b \\  \n# comment \\\n\n  c\nENV C trailing\\\\\nLABEL k=v\\\n",
    "FROM x\nRUN <<EOF\necho $HOME\nEOF\nRUN <<-'T' sh\n\tcat\n\tT\n"
    "COPY <<a <<\"b\" /d/\n1\na\n2\nb\nRUN 3<<A cat <&3\nx\r\nA\r\n",
    "FROM x\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\nONBUILD RUN <<X\non\nX\n",
    "FROM x\nCMD []\nCMD [\"\"]\nCMD [\"a\" \"b\"]\nENTRYPOINT []\nSHELL [\"/bin/bash\", \"-c\"]\n"
    "VOLUME [\"/a\", \"$V\"]\nVOLUME /b /c\nCMD [1]\n",
    "FROM x\nHEALTHCHECK --interval=1m30s --timeout=1.5s --start-period=2h --retries=3 "
    "CMD curl -f http://l/ || exit 1\nHEALTHCHECK NONE\nSTOPSIGNAL SIGTERM\n",
    "FROM x\nRUN --mount=type=secret,id=npmrc,target=/r/.npmrc,uid=1000,mode=0440,required "
    "--mount=type=tmpfs,target=/t,size=64m --mount=type=bind,from=b,src=/o,dst=/i,rw "
    "--mount=type=cache,target=/c,sharing=locked,id=c --mount=type=ssh "
    "--network=none --security=insecure true\n",
    "FROM x\nENV A=${B:-${C:+d}} E=${F#*.} G=${H%%.*} I=${J/a/b} K=${L//\\//|} M=${N:?no}\n"
    "ARG a b=\"c d\" e\nLABEL \"x.y\"=\"$A\" z='q'\nWORKDIR $A/${B}\nUSER ${U:-1}:${G-2}\n",
    "ARG V=1\nFROM a AS one\nFROM one AS two\nONBUILD COPY . /app\nMAINTAINER me\n"
    "ADD --checksum=sha256:x --keep-git-dir --unpack=false http://h/a.tgz /\n"
    "COPY --link --parents --exclude=*.md -- . /a\n",
    "FROM a\nRUNN x\n", "RUN x\n", "FROM a\nCOPY --mount=x a b\n", "FROM a\nRUN <<EOF\nno end\n",
    "\ufeff  #  syntax = x\r\n#check=skip=all\r\nFROM x\r\n",
])

def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for e in entries:
            ti = tarfile.TarInfo(e["name"])
            ti.mtime = MTIME
            ti.type = e.get("type", tarfile.REGTYPE)
            ti.mode = e.get("mode", 0o755 if ti.type == tarfile.DIRTYPE else 0o644)
            ti.linkname = e.get("link", "")
            ti.uid, ti.gid = e.get("uid", 0), e.get("gid", 0)
            ti.devmajor, ti.devminor = e.get("dev", (0, 0))
            ti.pax_headers = e.get("pax", {})
            data = e.get("data", b"")
            ti.size = len(data) if ti.type == tarfile.REGTYPE else 0
            tar.addfile(ti, io.BytesIO(data) if ti.size else None)
    return buf.getvalue()


D, S, H, C, F = tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE
layers = {
    "tree": [{"name": "etc", "type": D}, {"name": "etc/passwd", "data": b"root:x:0:0::/:/bin/sh\n"},
             {"name": "bin", "type": D}, {"name": "bin/sh", "data": b"\x7fELF", "mode": 0o4755},
             {"name": "bin/ash", "type": H, "link": "bin/sh"},
             {"name": "usr/lib/l", "type": S, "link": "../../etc"},
             {"name": "tmp", "type": D, "mode": 0o1777}, {"name": "home/u", "type": D, "uid": 1000,
                                                          "gid": 1000}],
    "whiteouts": [{"name": "a", "type": D}, {"name": "a/.wh..wh..opq"}, {"name": "a/.wh.gone"},
                  {"name": ".wh.top"}],
    "nodes": [{"name": "dev", "type": D}, {"name": "dev/null", "type": C, "dev": (1, 3)},
              {"name": "dev/fifo", "type": F}, {"name": "dev/sda", "type": tarfile.BLKTYPE,
                                                 "dev": (8, 0)}],
    "xattrs": [{"name": "f", "data": b"x", "pax": {"SCHILY.xattr.user.k": "v",
                                                    "SCHILY.xattr.security.capability": "\x01"}},
               {"name": "dev", "type": D}, {"name": "dev/n", "type": C, "dev": (1, 3),
                                             "pax": {"SCHILY.xattr.trusted.t": "1"}}],
    "longname": [{"name": "d/" + "n" * 200 + "/" + "m" * 150, "data": b"long"},
                 {"name": "l", "type": S, "link": "t" * 300}],
    "escapes": [{"name": "../escape"}, {"name": "a/../../x"}, {"name": "/abs"},
                {"name": "link", "type": S, "link": "/x"}, {"name": "link/pwned"},
                {"name": "up", "type": S, "link": "../../../../x"}, {"name": "up/pwned-rel"},
                {"name": "hard", "type": H, "link": "/dev/null"},
                {"name": "hard2", "type": H, "link": "../../dev/null"},
                {"name": "dev", "type": S, "link": "/dev"}, {"name": "dev/evil", "type": C,
                                                              "dev": (1, 3)},
                {"name": "proc", "type": S, "link": "/proc/self/root"}, {"name": "proc/x"}],
    "replace": [{"name": "p", "type": D}, {"name": "p", "data": b"file now"},
                {"name": "p", "type": S, "link": "elsewhere"}, {"name": "q", "data": b"1"},
                {"name": "q/r", "data": b"under a file"}],
}
for name, entries in layers.items():
    raw = tar_bytes(entries)
    write("unpack", name + "-openat2", b"\0" + raw)
    write("unpack", name + "-fallback", b"\1" + raw)
raw = tar_bytes(layers["tree"], tarfile.GNU_FORMAT)
write("unpack", "tree-gnu", b"\0" + raw)
gz = io.BytesIO()
with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0) as g:
    g.write(tar_bytes(layers["tree"]))
write("unpack", "tree-gzip", b"\0" + gz.getvalue())
write("unpack", "tree-gzip-twice", b"\1" + gz.getvalue() + gz.getvalue())
z = subprocess.run(["zstd", "-q", "-c"], input=tar_bytes(layers["tree"]), capture_output=True,
                   check=True).stdout
write("unpack", "tree-zstd", b"\0" + z)
write("unpack", "empty", b"\0")

# .dockerignore text, NUL, the paths to check against it (one a line)
ignores = [
    ("# comment\n\nnode_modules\n*.log\n!important.log\n/build/\n", "node_modules/x\na.log\nimportant.log\nbuild/out"),
    ("**\n!src/**/*.c\n!Dockerfile\n", "src/a/b.c\nsrc/a/b.h\nDockerfile\nREADME"),
    ("docs\n!docs/README.md\ndocs/README.md/x\n", "docs/README.md\ndocs/other\ndocs/sub/x"),
    ("\ufeff./a//b/../c\r\n  ! /keep  \r\n", "a/c\nkeep\na/c/d"),
    ("a[b-d]e\n[^x]y\n[[:digit:]]*\nv\\d\\.\\*\n^start*\n", "ace\nay\n7z\nv1.*\nstartx"),
    ("**/dir/**\n**file\nabc**\na/**/b\n*/**\n", "x/dir/y\nxfile\nabcdef/g\na/x/y/b\nq/r"),
    ("[\n", "x"),
    ("!\n", "x"),
    ("a\\\n", "x"),
    ("[*]\n", "*"),
    ("\\Aab*\nfoo\\b.x\nx\\B-y*\ne\\z\n\ufeff*.bom\n", "abc\nfoo.x\nx-y\ne\na.bom"),
]
for i, (text, paths) in enumerate(ignores):
    write("ignore", "%02d" % i, text.encode("utf-8", "surrogateescape") + b"\0" + paths.encode())
# tarwrite: a type byte ("0123456"[b % 7]), mode uid gid size mtime devmajor devminor (8 bytes
# each, little-endian), then NUL-separated name, link name, uname, gname, xattr names and values
def tar_entry(t, name, link="", uname="root", gname="root", uid=0, gid=0, size=0,
              mtime=MTIME, mode=0o644, dev=(0, 0), xattrs=()):
    nums = [mode, uid, gid, size, mtime, dev[0], dev[1]]
    raw = bytes([t]) + b"".join((n % (1 << 64)).to_bytes(8, "little") for n in nums)
    fields = [name, link, uname, gname] + [s for kv in xattrs for s in kv]
    return raw + b"\0".join(f.encode() if isinstance(f, str) else f for f in fields)


entries = {
    "file": tar_entry(0, "etc/f2", size=4),
    "dir": tar_entry(5, "etc/", mode=0o755),
    "hardlink": tar_entry(1, "h2", link="h1"),
    "symlink-long": tar_entry(2, "t/sym", link="m" * 101),
    "split": tar_entry(0, "t/" + "n" * 100),
    "pax-name": tar_entry(0, "t/" + "m" * 101),
    "deep-dir": tar_entry(5, "t/" + ("d" * 60 + "/") * 5, mode=0o755),
    "not-ascii": tar_entry(0, "t/\u00e9-\u00fc"),
    "big-ids": tar_entry(0, "big", uid=3000000, gid=2097152, uname="", gname=""),
    "times": tar_entry(0, "old", mtime=-100),
    "device": tar_entry(3, "bigdev", dev=(4095, 1048575)),
    "capability": tar_entry(0, "cap", xattrs=[("security.capability", b"\x01\x02\x03")]),
    "whiteout-link": tar_entry(0, "etc/.wh.passwd", link="etc/motd", mode=0o600),
}
for name, data in entries.items():
    write("tarwrite", name, data)
