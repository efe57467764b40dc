#!/bin/bash
# The tutorial, to its last step (push), against a registry started on a free loopback port.
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
  # with its store gone, `system check` (from a scratch store) takes the store's bridge and
  # its firewall rules away; a TUG_ROOT of the user's own stays, and so does its bridge
  local scratch
  scratch=$(mktemp -d /tmp/tug-demo-check.XXXXXX)
  TUG_ROOT=$scratch "$TUG" system check >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT

# shell_quote ARG: ARG as it can be pasted into a shell: bare when it is plain, else in single
# quotes, or in double quotes (with \ " $ ` escaped) when it holds a single quote itself
shell_quote() {
  local a=$1
  if [[ $a =~ ^[A-Za-z0-9_./:@%+=,-]+$ ]]; then
    printf '%s' "$a"
  elif [[ $a != *"'"* ]]; then
    printf "'%s'" "$a"
  else
    a=${a//\\/\\\\}
    a=${a//\"/\\\"}
    a=${a//\$/\\\$}
    a=${a//\`/\\\`}
    printf '"%s"' "$a"
  fi
}

step() {
  local shown="" a
  for a in "$@"; do
    if [[ $a == "$TUG" ]]; then a=tug; else a=$(shell_quote "$a"); fi
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
say "The tutorial's three web servers from one image, on three ports of 127.0.0.1"
ports=()
for i in 1 2 3; do ports+=("$(fixture_free_port)"); done
for i in 0 1 2; do
  step "$TUG" run -d --name "web$((i + 1))" -p "${ports[$i]}:80" "$REGISTRY/busybox" \
    sh -c "echo 'hello from web$((i + 1))' > /tmp/index.html; exec httpd -f -p 80 -h /tmp"
done
step "$TUG" ps
sleep 0.3
for i in 0 1 2; do step curl -s "http://127.0.0.1:${ports[$i]}/"; done
step "$TUG" port web1
step "$TUG" exec web1 ps
step "$TUG" logs web2
say "Stop and remove the second; the first and third keep answering"
step "$TUG" stop -t 1 web2
step "$TUG" rm web2
for i in 0 1 2; do step curl -s -m 2 "http://127.0.0.1:${ports[$i]}/" || echo "(port ${ports[$i]}: no answer, as expected for web2)"; done
step "$TUG" ps -a
say "Data in a container dies with it: write a file, remove the container, it is gone"
step "$TUG" run --name scratch "$REGISTRY/busybox" sh -c 'echo precious > /data.txt'
step "$TUG" rm scratch
step "$TUG" run --rm "$REGISTRY/busybox" sh -c 'cat /data.txt || echo "no /data.txt in a new container"'
say "Unless it lives in a volume: the data outlives the container"
step "$TUG" volume create notes
step "$TUG" run --rm -v notes:/data "$REGISTRY/busybox" sh -c 'echo "written at $(date)" > /data/note.txt'
step "$TUG" run --rm -v notes:/data "$REGISTRY/busybox" cat /data/note.txt
step "$TUG" volume ls
step "$TUG" volume rm notes
say "The closing challenge: a Dockerfile that puts your own page into a web server image"
"$TUG" rm -f $("$TUG" ps -aq) >/dev/null
app=$work/my-site
mkdir -p "$app"
step "$TUG" tag "$REGISTRY/busybox" busybox
printf '%s\n' 'FROM busybox' 'RUN mkdir -p /usr/share/nginx/html' \
  'COPY index.html /usr/share/nginx/html/index.html' 'EXPOSE 80' \
  'CMD ["httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"]' >"$app/Dockerfile"
echo '<h1>Hello from my custom image</h1>' >"$app/index.html"
step cat "$app/Dockerfile"
step "$TUG" build --progress plain -t my-custom-nginx "$app"
port=$(fixture_free_port)
step "$TUG" run -d --name my-site -p "$port:80" my-custom-nginx
sleep 0.3
step curl -s "http://127.0.0.1:$port/"
say "Edit the page and build again: the earlier steps come from the cache"
echo '<h1>Edited, rebuilt in a moment</h1>' >"$app/index.html"
step "$TUG" build --progress plain -t my-custom-nginx "$app"
step "$TUG" rm -f my-site
step "$TUG" run -d --name my-site -p "$port:80" my-custom-nginx
sleep 0.3
step curl -s "http://127.0.0.1:$port/"
say "One row per step; the metadata steps are 0B"
step "$TUG" history my-custom-nginx
say "Share it: push it to the registry, remove it here, pull it back and run it"
step "$TUG" tag my-custom-nginx "$REGISTRY/my-custom-nginx"
step "$TUG" push "$REGISTRY/my-custom-nginx"
step "$TUG" rm -f my-site
step "$TUG" rmi my-custom-nginx "$REGISTRY/my-custom-nginx"
say "The build cache still holds its layers, so the pull fetches the manifest and config only"
step "$TUG" pull "$REGISTRY/my-custom-nginx"
step "$TUG" run -d --name my-site -p "$port:80" "$REGISTRY/my-custom-nginx"
sleep 0.3
step curl -s "http://127.0.0.1:$port/"
step "$TUG" images --digests "$REGISTRY/my-custom-nginx"
say "Clean up: remove every container, then the images"
"$TUG" rm -f $("$TUG" ps -aq) >/dev/null
step "$TUG" ps -a
step "$TUG" rmi "$REGISTRY/my-custom-nginx" busybox
step "$TUG" rmi "$REGISTRY/hello"
step "$TUG" rmi mybox:1 "$REGISTRY/busybox"
step "$TUG" builder prune -f
step "$TUG" images
step "$TUG" system check
say "Built an image, pushed it, and from then on: tug pull + tug run, on any machine."
