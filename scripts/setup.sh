#!/usr/bin/env bash
# All set-up on a fresh machine (Debian 12, as root): Debian packages, npm
# dependencies, the TypeScript build and the static probe. Idempotent and
# quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# libpcap-dev: the `cap` addon; iproute2/ethtool/tcpdump: inspection and tests;
# util-linux: unshare/setpriv/nsenter; build-essential: probe and addon;
# qemu-system-x86, busybox-static, dropbear-bin, cpio, xz-utils, zstd, kmod: QEMU guests.
for p in libpcap-dev iproute2 ethtool tcpdump util-linux build-essential python3 \
         qemu-system-x86 busybox-static dropbear-bin cpio xz-utils zstd kmod ca-certificates; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

# npm dependencies: `npm ci` when package-lock.json changed since the last one here.
lockhash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.skbdiff-lock 2>/dev/null)" != "$lockhash" ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lockhash" > node_modules/.skbdiff-lock
fi

npm run --silent build
make -s -C kernel-probes
