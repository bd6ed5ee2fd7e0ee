#!/usr/bin/env bash
# Installs what fencepost-jepsen needs on a Debian/Ubuntu host: iproute2 (ip netns, tc),
# nftables (partitions), libfaketime (clock faults), fonts-dejavu-core (the text of
# latency-throughput.png; without it the plot is drawn with no text). Idempotent; run
# as root.
set -euo pipefail
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v tc >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || need+=(libfaketime)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -eq 0 ]; then
  echo "jepsen deps: already installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "jepsen deps: need root to install ${need[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
echo "jepsen deps: installed ${need[*]}"
