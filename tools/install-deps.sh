#!/usr/bin/env bash
# Installs every Debian package that build, tests, benchmarks and the demo
# need. Idempotent: apt runs only when something is missing.
set -euo pipefail

packages=(
  # build
  build-essential meson ninja-build pkg-config
  libdpdk-dev dpdk dpdk-dev libyaml-cpp-dev libjemalloc-dev
  libcpp-httplib-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format
  clang-14 libclang-rt-14-dev  # libFuzzer targets (tools/fuzz.sh)
  # tests and demo: namespaces, pods, clients
  iproute2 nginx-light curl dnsutils procps psmisc python3 python3-scapy socat
  # integration rig: offload control, kernel reference gateway (iptables DNAT)
  ethtool iptables iputils-ping
  hping3 tcpdump  # hardening tests: bounded floods, packet captures on failure
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run as root" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
# Debian starts nginx on install; pods run their own instances.
if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
  systemctl stop nginx || true
fi
