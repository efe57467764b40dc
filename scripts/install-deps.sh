#!/bin/bash
# Install the Debian packages tug builds, tests and demonstrates with, when missing.
# With everything installed it only asks dpkg (make check runs it each time): no apt-get.
set -euo pipefail
pkgs=(
  build-essential meson ninja-build pkg-config
  libcurl4-openssl-dev libjansson-dev libarchive-dev libzstd-dev zlib1g-dev libssl-dev
  libsqlite3-dev libisal-dev libcmocka-dev libseccomp-dev
  clang libclang-rt-dev llvm zstd
  bats jq curl python3 busybox-static docker-registry skopeo umoci erofs-utils
  iproute2 e2fsprogs util-linux attr procps nftables iptables sqlite3
  docker.io # the networking tests run tug beside a dockerd of their own
  podman golang-github-opencontainers-image-spec-dev python3-jsonschema # 520-save-load: peers, schemas
  docker-compose python3-docker nodejs # 870-serve-clients: clients that drive tug serve
)
# npm comes with Debian's nodejs as a package of its own, inside other builds of nodejs
command -v npm >/dev/null || pkgs+=(npm)
# one dpkg-query for all: a package it does not know is missing too
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${pkgs[@]}" 2>/dev/null |
  awk '$NF == "installed" { print $1 }') || true
missing=()
for p in "${pkgs[@]}"; do
  grep -qxF "$p" <<<"$installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "Installing: ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: need root to apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine is often still running its unattended upgrades: wait up to 10 minutes for
  # their locks. DPkg::Lock::Timeout waits for dpkg's; update's lock on the lists is retried.
  deadline=$((SECONDS + 600))
  until out=$(apt-get update -qq 2>&1); do
    if ! grep -q 'Could not get lock' <<<"$out" || ((SECONDS >= deadline)); then
      echo "$out" >&2
      exit 1
    fi
    echo "install-deps: another apt-get holds the package lists; waiting"
    sleep 5
  done
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# 870-serve-clients' node clients (dockerode, testcontainers), as its package-lock.json pins
# them, in the fixture's own node_modules: nothing global. Done again only when the lock changes.
node_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/fixtures/serve-clients/node" && pwd)
lock_sum=$(sha256sum <"$node_dir/package-lock.json")
if [[ $(cat "$node_dir/node_modules/.tug-lock.sha256" 2>/dev/null) != "$lock_sum" ]]; then
  echo "Installing the node clients into $node_dir/node_modules"
  (cd "$node_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$lock_sum" >"$node_dir/node_modules/.tug-lock.sha256"
fi
