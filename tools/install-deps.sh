#!/usr/bin/env bash
# Installs every Debian package that build, tests, benchmarks and the demo
# need. Idempotent: apt runs only when something is missing.
set -euo pipefail

packages=(
  # build
  build-essential meson ninja-build pkg-config
  libdpdk-dev dpdk dpdk-dev libyaml-cpp-dev libjemalloc-dev
  libsimdjson-dev  # the Kubernetes feed's JSON (lib/config's ConfigNode)
  libcpp-httplib-dev libssl-dev nlohmann-json3-dev  # libssl: the feed's in-memory CA and client certs
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format
  clang-14 libclang-rt-14-dev  # libFuzzer targets (tools/fuzz.sh)
  llvm-14  # llvm-cov, llvm-profdata for tests/fuzz/coverage.sh (clang-14 only recommends it)
  debhelper dpkg-dev  # make deb (debian/, dpkg-buildpackage; tests/package/test_deb.sh)
  systemd  # systemd-analyze verify (test_deb.sh); the unit's target on a real box
  # tests and demo: namespaces, pods, clients (lib.sh RIG_TOOLS lists the
  # programs the rig checks for at start)
  iproute2 nginx-light curl dnsutils procps psmisc python3 python3-scapy socat
  jq  # the rig reads /v1/stats and the test clients' records
  # integration rig: offload control, kernel reference gateway (iptables DNAT)
  ethtool iptables iputils-ping
  hping3 tcpdump  # hardening tests: bounded floods, packet captures on failure
  etcd-server openssl  # tests/k8s: the test Kubernetes API's store and certificates
  # perf (not the test suites): DNS and HTTP peers and load, sweep pictures
  knot knot-dnsutils dnsperf wrk gnuplot-nox
  bird2  # the fleet: the gateway's BGP speaker that svcgw's announcer drives
  frr  # the fleet rig's router (zebra, bgpd, bfdd: tests/integration/fleet/)
)

# Debian's kubectl (kubernetes-client, 1.20) is tests/k8s's independent client.
# Where another package already owns /usr/bin/kubectl (the Google Cloud SDK's
# on some images), installing it would fail on that file: it is unpacked
# under $kubectl_dir instead (tests/k8s/kube.sh looks there first).
kubectl_pkg=kubernetes-client
kubectl_dir=/opt/svcgw/kubernetes-client
kubectl_owner=$(dpkg-query -S /usr/bin/kubectl 2>/dev/null | cut -d: -f1 || true)
unpack_kubectl=0
if [ -n "$kubectl_owner" ] && [ "$kubectl_owner" != "$kubectl_pkg" ]; then
  [ -x "$kubectl_dir/usr/bin/kubectl" ] || unpack_kubectl=1
else
  packages+=("$kubectl_pkg")
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ] && [ "$unpack_kubectl" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}${unpack_kubectl/1/ $kubectl_pkg (unpacked)}; run as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
if [ ${#missing[@]} -ne 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ "$unpack_kubectl" -eq 1 ]; then
  echo "install-deps: unpacking $kubectl_pkg into $kubectl_dir (/usr/bin/kubectl belongs to $kubectl_owner)"
  tmp=$(mktemp -d)
  chown _apt "$tmp" 2>/dev/null || true  # apt downloads as _apt
  (cd "$tmp" && apt-get download -q "$kubectl_pkg")
  mkdir -p "$kubectl_dir"
  dpkg-deb -x "$tmp"/"$kubectl_pkg"_*.deb "$kubectl_dir"
  rm -rf "$tmp"
fi
# Debian starts nginx, etcd, knot and frr on install; pods, tests, perf/dns and
# the fleet rig run their own.
if command -v systemctl >/dev/null; then
  for unit in nginx etcd knot frr; do
    if systemctl is-active --quiet "$unit" 2>/dev/null; then
      systemctl stop "$unit" || true
    fi
  done
  systemctl disable --quiet etcd knot frr 2>/dev/null || true
fi
