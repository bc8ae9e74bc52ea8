#!/usr/bin/env bash
# One-time set-up on a fresh Debian machine (run as root, or with sudo available):
# the C libraries the cluster layer links, ip and ping for scripts/netns-cluster.sh, a C
# compiler for the benchmark's reference loop, and the Python packages the plotting script,
# the benchmark references and the interoperability tests use. Safe to run again:
# it skips what is already there.
set -euo pipefail

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

packages=(libzmq3-dev libprotobuf-c-dev protobuf-c-compiler iproute2 iputils-ping gcc)
missing=()
for p in "${packages[@]}"; do
  # "install ok installed": dpkg -s alone also succeeds for a removed package's leftover config.
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! python3 -c "import numpy, scipy, matplotlib, yaml" >/dev/null 2>&1; then
  echo "setup: installing numpy, scipy, matplotlib, pyyaml" >&2
  python3 -m pip install --quiet --root-user-action=ignore numpy scipy matplotlib pyyaml
fi
