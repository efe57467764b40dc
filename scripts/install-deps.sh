#!/bin/bash
# Install the Debian packages tug builds, tests and demonstrates with, when missing.
set -euo pipefail
pkgs=(
  build-essential meson ninja-build pkg-config
  libcurl4-openssl-dev libjansson-dev libarchive-dev libzstd-dev zlib1g-dev libssl-dev
  libsqlite3-dev libisal-dev libcmocka-dev libseccomp-dev
  bats jq curl python3 busybox-static docker-registry skopeo umoci
  iproute2 e2fsprogs util-linux attr procps nftables iptables sqlite3
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "Installing: ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: need root to apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
