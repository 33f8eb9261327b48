#!/bin/bash
# deps.sh: install the Debian 12 packages pmesh builds, tests and runs with.
# Idempotent and non-interactive; installs nothing when all are present.
set -eu
PKGS="build-essential pkg-config bc liblmdb-dev lmdb-utils libmsgpack-dev libev-dev
      libcjson-dev libcmocka-dev libsodium-dev libisal-dev libnats-dev nats-server
      clang libclang-rt-14-dev iproute2 nftables curl gnuplot-nox procps psmisc jq python3"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing Debian packages:$missing; run 'make deps' as root (or apt-get install them)" >&2
    exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
