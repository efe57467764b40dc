#!/bin/bash
# The tutorial, as far as tug goes today, against a registry started on a free loopback port.
# Uses its own store (TUG_ROOT, default a fresh temp dir) so it never touches /var/lib/tug.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/fixtures/lib.sh
TUG=${TUG:-$PWD/build/tug}
work=$(mktemp -d /tmp/tug-demo.XXXXXX)
export TUG_ROOT=${TUG_ROOT:-$work/root}
cleanup() { registry_stop 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
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
say "Remove an image: only the layers no other image uses go"
step "$TUG" rmi "$REGISTRY/hello"
step "$TUG" rmi mybox:1 "$REGISTRY/busybox"
step "$TUG" images
step "$TUG" system check
say "Containers (tug run) come next; see the issues in progress."
