#!/usr/bin/env python3
"""treecmp: list a tree as one line per entry, or compare two trees.

  treecmp.py list DIR [--whiteouts]
  treecmp.py cmp A B [--whiteouts-in-b] [--no-dir-mtime]

A line: path, type, mode, uid, gid, size, mtime (ns), nlink, rdev, xattrs, symlink target and
the sha256 of a regular file's content. The root itself is left out. With --whiteouts the tree
is read as tar -x wrote a layer: a file .wh.NAME is the char 0:0 device NAME (overlay's
whiteout; its mode and mtime are not compared), .wh..wh..opq is trusted.overlay.opaque=y on
its directory, and other .wh..wh. names are left out. cmp prints a unified diff and exits 1
when the trees differ. --no-dir-mtime leaves directories' mtimes out (a directory made for
a missing parent gets the time it was made).
"""
import difflib
import hashlib
import os
import stat
import sys


def xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for n in names:
        out[n] = os.getxattr(path, n, follow_symlinks=False).hex()
    return out


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def kind(mode):
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "symlink"),
                       (stat.S_ISCHR, "char"), (stat.S_ISBLK, "block"), (stat.S_ISFIFO, "fifo"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "?"


def listing(root, whiteouts, dir_mtime=True):
    entries = {}
    opaque = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            if whiteouts and name.startswith(".wh."):
                if name == ".wh..wh..opq":
                    opaque.add(os.path.dirname(rel) or ".")
                    continue
                if name.startswith(".wh..wh."):
                    continue
                hidden = os.path.join(os.path.dirname(rel), name[4:])
                entries[hidden] = f"{hidden} whiteout {st.st_uid}:{st.st_gid} nlink=1"
                continue
            t = kind(st.st_mode)
            x = xattrs(path)
            if t == "char" and st.st_rdev == 0 and not whiteouts:
                # an overlay whiteout as the image holds it: mode and mtime are not the tar's
                entries[rel] = f"{rel} whiteout {st.st_uid}:{st.st_gid} nlink={st.st_nlink}"
                continue
            fields = [rel, t, oct(stat.S_IMODE(st.st_mode)), f"{st.st_uid}:{st.st_gid}",
                      f"nlink={st.st_nlink}"]
            if t != "dir" or dir_mtime:
                fields.append(f"mtime={st.st_mtime_ns}")
            if t in ("file", "symlink"):
                fields.append(f"size={st.st_size}")
            if t in ("char", "block"):
                fields.append(f"rdev={os.major(st.st_rdev)}:{os.minor(st.st_rdev)}")
            if t == "symlink":
                fields.append("-> " + os.readlink(path))
            if t == "file":
                fields.append("sha256=" + digest(path))
            entries[rel] = (fields, x)
    lines = []
    for rel in sorted(entries):
        e = entries[rel]
        if isinstance(e, str):
            lines.append(e)
            continue
        fields, x = e
        if rel in opaque:
            x["trusted.overlay.opaque"] = b"y".hex()
        for k in sorted(x):
            fields.append(f"xattr {k}={x[k]}")
        lines.append(" ".join(fields))
    if "." in opaque:
        lines.insert(0, ". opaque")
    elif not whiteouts and xattrs(root).get("trusted.overlay.opaque") == b"y".hex():
        lines.insert(0, ". opaque")
    return lines


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "list":
        print("\n".join(listing(sys.argv[2], "--whiteouts" in sys.argv)))
        return 0
    if len(sys.argv) >= 4 and sys.argv[1] == "cmp":
        dm = "--no-dir-mtime" not in sys.argv
        a = listing(sys.argv[2], False, dm)
        b = listing(sys.argv[3], "--whiteouts-in-b" in sys.argv, dm)
        if a == b:
            print(f"{len(a)} entries equal")
            return 0
        sys.stdout.writelines(l + "\n" for l in difflib.unified_diff(a, b, sys.argv[2], sys.argv[3],
                                                                        lineterm="", n=0))
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
