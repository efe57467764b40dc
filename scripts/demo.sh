#!/bin/bash
# The tutorial, as far as tug goes today, against a registry started on a free loopback port.
# Uses its own store (TUG_ROOT, default a fresh temp dir) so it never touches /var/lib/tug.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/fixtures/lib.sh
TUG=${TUG:-$PWD/build/tug}
work=$(mktemp -d /tmp/tug-demo.XXXXXX)
export TUG_ROOT=${TUG_ROOT:-$work/root}
cleanup() {
  "$TUG" rm -f $("$TUG" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  registry_stop 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step() {
  local shown="" a
  for a in "$@"; do
    [[ $a == "$TUG" ]] && a=tug
    [[ $a =~ [[:space:]\;\$\>\|] ]] && a="'$a'"
    shown+="${shown:+ }$a"
  done
  printf '\n\033[1m$ %s\033[0m\n' "$shown"
  "$@"
}
say() { printf '\n# %s\n' "$*"; }

say "A local registry, with a busybox image built from Debian's busybox-static and pushed by skopeo"
registry_start "$work/registry" >/dev/null
fixture_push_busybox busybox:latest >/dev/null
fixture_push_hello hello:latest >/dev/null
echo "registry: $REGISTRY"

say "Pull it, as 'docker pull busybox'"
step "$TUG" pull "$REGISTRY/busybox"
say "A second image built on the same base: the shared layer is not fetched again"
step "$TUG" pull "$REGISTRY/hello"
step "$TUG" images
say "Layers like a cake: metadata steps are 0B"
step "$TUG" history "$REGISTRY/hello"
step "$TUG" image inspect --format '{{.Id}} {{.Os}}/{{.Architecture}} {{json .Config.Cmd}}' "$REGISTRY/busybox"
step "$TUG" tag "$REGISTRY/busybox" mybox:1
step "$TUG" images --format 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}'
step "$TUG" system df
say "Containers: run one, see its output and its exit code"
step "$TUG" run --rm "$REGISTRY/hello"
step "$TUG" run --name first "$REGISTRY/busybox" sh -c 'echo "hello from $(hostname), PID $$"; exit 3' || echo "(exit code $?)"
say "Three containers at once from one image, each with a random name unless named"
step "$TUG" run -d --name web1 "$REGISTRY/busybox" sh -c 'while true; do echo web1 up; sleep 1; done'
step "$TUG" run -d --name web2 "$REGISTRY/busybox" sh -c 'while true; do echo web2 up; sleep 1; done'
step "$TUG" run -d "$REGISTRY/busybox" sleep 600
step "$TUG" ps
step "$TUG" exec web1 ps
step "$TUG" logs --tail 1 web2
say "Stop and remove one; the others keep running"
step "$TUG" stop -t 1 web2
step "$TUG" rm web2
step "$TUG" ps -a
say "Data in a container dies with it: write a file, remove the container, it is gone"
step "$TUG" run --name scratch "$REGISTRY/busybox" sh -c 'echo precious > /data.txt'
step "$TUG" rm scratch
step "$TUG" run --rm "$REGISTRY/busybox" sh -c 'cat /data.txt || echo "no /data.txt in a new container"'
say "Clean up: remove every container, then the images"
"$TUG" rm -f $("$TUG" ps -aq) >/dev/null
step "$TUG" ps -a
step "$TUG" rmi "$REGISTRY/hello"
step "$TUG" rmi mybox:1 "$REGISTRY/busybox"
step "$TUG" images
step "$TUG" system check
say "Published ports, networks and volumes come next; see the issues in progress."
