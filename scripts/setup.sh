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

# The docker target (harness/targets/docker.ts): Debian's docker.io, and a
# dockerd that configures nothing in the main network namespace: no docker0
# bridge, no iptables/ip6tables rules, no ip_forward or masquerading (the
# target's containers use NetworkMode none only). A daemon already answering
# is used as it is. No systemd in CI: dockerd is started in the background,
# its log in /tmp/skbdiff-dockerd.log.
if ! command -v dockerd >/dev/null; then
  echo "setup: installing docker.io" >&2
  export DEBIAN_FRONTEND=noninteractive
  # The package's postinst would start the stock daemon (with docker0): forbid it while installing.
  rcpolicy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && rcpolicy=1
  fi
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends docker.io >/dev/null || { [ -n "$rcpolicy" ] && rm -f /usr/sbin/policy-rc.d; exit 1; }
  [ -n "$rcpolicy" ] && rm -f /usr/sbin/policy-rc.d
fi
# A pid file left by a daemon that did not exit cleanly (a killed session, a
# machine snapshot taken while dockerd ran) names a pid that some other process
# may hold now; dockerd and its containerd then refuse to start ("pid file
# found") or wait on a containerd that is not there. Remove such a file unless
# its pid is still the program that wrote it.
clear_stale_pidfile() { # file program
  local pid
  [ -e "$1" ] || return 0
  pid=$(tr -dc 0-9 < "$1")
  # A zombie (killed, not yet reaped) counts as gone.
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] \
     && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then return 0; fi
  echo "setup: removing stale $1 (pid ${pid:-none} is not $2)" >&2
  rm -f "$1"
}
if ! docker info >/dev/null 2>&1; then
  clear_stale_pidfile /var/run/docker.pid dockerd
  clear_stale_pidfile /var/run/docker/containerd/containerd.pid containerd
fi
if ! docker info >/dev/null 2>&1 && pid=$(cat /var/run/docker.pid 2>/dev/null); then
  # A dockerd of ours that is still starting (or stuck): wait, then name it.
  echo "setup: waiting for the running dockerd (pid $pid)" >&2
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "setup: dockerd pid $pid (/var/run/docker.pid) does not answer on /var/run/docker.sock; stop it and run again" >&2; exit 1; }
fi
if ! docker info >/dev/null 2>&1; then
  echo "setup: starting dockerd (--bridge=none --iptables=false; log /tmp/skbdiff-dockerd.log)" >&2
  setsid nohup dockerd --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --userland-proxy=false >/tmp/skbdiff-dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "setup: dockerd did not come up; see /tmp/skbdiff-dockerd.log" >&2; tail -20 /tmp/skbdiff-dockerd.log >&2; exit 1; }
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
