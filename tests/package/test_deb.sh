#!/usr/bin/env bash
# The Debian package (issue 12 §5), installed for real and thrown away: in
# a private mount namespace, /usr, /etc and /var are copy-on-write
# overlays of this machine's, so `dpkg -i` runs its maintainer scripts
# against this machine's dpkg database and packages (a fresh Debian 12 after
# tools/install-deps.sh, in CI) and every file it writes vanishes with the
# namespace. Checks: dependencies resolve, files land where the unit
# expects them, the configuration files are conffiles, `svcgw --version` is
# the package's, `svcgw --check` accepts the installed example config,
# systemd accepts every line of the unit, the package does not enable it,
# purge removes everything.
# Usage: tests/package/test_deb.sh DEB
set -uo pipefail
deb=$(realpath "${1:?usage: $0 DEB}")
[ "$(id -u)" -eq 0 ] || { echo "test_deb: needs root (mount namespace)"; exit 1; }
[ -f "$deb" ] || { echo "test_deb: no such package: $deb"; exit 1; }

if [ -z "${SVCGW_TEST_DEB_INSIDE:-}" ]; then
    tmp=$(mktemp -d /tmp/svcgw-deb.XXXX)
    trap 'rm -rf "$tmp"' EXIT
    # The overlays' writable halves live in $tmp (outside the three trees:
    # overlayfs refuses an upper directory inside its lower one).
    export SVCGW_TEST_DEB_INSIDE=$tmp
    unshare --mount --propagation private "$0" "$deb"
    exit $?
fi

tmp=$SVCGW_TEST_DEB_INSIDE
for dir in usr etc var; do
    mkdir -p "$tmp/$dir.upper" "$tmp/$dir.work"
    mount -t overlay "overlay-$dir" \
        -o "lowerdir=/$dir,upperdir=$tmp/$dir.upper,workdir=$tmp/$dir.work" "/$dir" ||
        { echo "test_deb: cannot overlay /$dir"; exit 1; }
done

pass=0
fail=0
check() {
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then
        echo "PASS deb: $what"
        pass=$((pass + 1))
    else
        echo "FAIL deb: $what -- $(tail -n 5 <<<"$out")"
        fail=$((fail + 1))
    fi
}

package=$(dpkg-deb -f "$deb" Package)
version=$(dpkg-deb -f "$deb" Version)
check "no svcgw installed before (the overlay starts from this machine)" \
    test -z "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep 'install ok')"
check "dpkg -i $(basename "$deb"): dependencies met, maintainer scripts run" \
    env DEBIAN_FRONTEND=noninteractive dpkg -i "$deb"
# EAL loads the mbuf pools' ring driver as a plugin: shlibs cannot see it.
check "it depends on DPDK's mempool ring driver (a plugin)" \
    bash -c "dpkg-deb -f '$deb' Depends | grep -q 'librte-mempool-ring'"
check "dpkg says installed" bash -c "dpkg-query -W -f='\${Status}' $package | grep -q 'install ok installed'"

for f in /usr/sbin/svcgw /usr/bin/svcgwctl /etc/svcgw/svcgw.yaml /etc/default/svcgw \
    /lib/systemd/system/svcgw.service /usr/lib/sysctl.d/60-svcgw-hugepages.conf \
    /usr/share/doc/svcgw/examples/k8s-example.yaml; do
    check "installs $f" test -e "$f"
done
documented() {
    local doc
    doc=$(sed -n 's|^Documentation=file://||p' /lib/systemd/system/svcgw.service)
    [ -n "$doc" ] && [ -f "$doc" ] || { echo "Documentation=file://$doc: no such file"; return 1; }
}
check "the unit's Documentation= file is installed" documented
check "the docs: README with the deployment section, the control API's at its link" \
    bash -c "grep -q '^## Deploying on a bare-metal box' /usr/share/doc/svcgw/README.md &&
        grep -q 'lib/control/README.md' /usr/share/doc/svcgw/README.md &&
        test -f /usr/share/doc/svcgw/lib/control/README.md"
# An upgrade must keep the operator's edits: both files are conffiles.
for f in /etc/svcgw/svcgw.yaml /etc/default/svcgw; do
    check "$f is a conffile" bash -c "dpkg-query -W -f='\${Conffiles}' $package | grep -q '^ $f '"
done

version_ok() {
    local out
    out=$(/usr/sbin/svcgw --version) || return 1
    echo "$out"
    # The commit is named (meson's vcs_tag ran in the checkout it was built from).
    grep -Eq "^svcgw ${version%%-*} \([^)]+\), DPDK [0-9]+\.[0-9]+" <<<"$out" &&
        ! grep -q "(unknown)" <<<"$out"
}
check "svcgw --version names the package version and DPDK" version_ok
check_ok() {
    local out
    out=$(/usr/sbin/svcgw -c /etc/svcgw/svcgw.yaml --check) || { echo "$out"; return 1; }
    grep -q "^/etc/svcgw/svcgw.yaml: ok (.* services, tables digest [0-9a-f]\{16\})$" <<<"$out"
}
check "svcgw --check accepts the installed example config" check_ok
check "svcgwctl runs (help)" bash -c "/usr/bin/svcgwctl --help 2>&1 | grep -q Usage"
# verify exits 0 on a directive it cannot parse ("ignoring"): any line fails.
verify_ok() {
    local out
    out=$(systemd-analyze verify /lib/systemd/system/svcgw.service 2>&1) && [ -z "$out" ] ||
        { echo "$out"; return 1; }
}
check "systemd accepts the unit, every line of it (systemd-analyze verify)" verify_ok
unit_ok() {
    local u=/lib/systemd/system/svcgw.service
    grep -qx 'Type=notify' "$u" && grep -qx 'Restart=on-failure' "$u" &&
        grep -qx 'RuntimeDirectory=svcgw' "$u" && grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$u"
}
check "the unit: Type=notify, Restart=on-failure, /run/svcgw, reload = SIGHUP" unit_ok
check "the API socket the example config names is in the unit's runtime dir" \
    grep -q 'listen: "unix:/run/svcgw/api.sock"' /etc/svcgw/svcgw.yaml
check "the package did not enable the unit (operator's step)" \
    test ! -e /etc/systemd/system/multi-user.target.wants/svcgw.service
check "hugepages reserved at boot through sysctl.d" \
    grep -qx 'vm.nr_hugepages = [0-9]*' /usr/lib/sysctl.d/60-svcgw-hugepages.conf

check "dpkg -P removes it" env DEBIAN_FRONTEND=noninteractive dpkg -P "$package"
for f in /usr/sbin/svcgw /etc/svcgw/svcgw.yaml /lib/systemd/system/svcgw.service \
    /usr/lib/sysctl.d/60-svcgw-hugepages.conf; do
    check "purge removed $f" test ! -e "$f"
done

echo "test_deb ($(basename "$deb")): $pass checks passed, $fail failed"
[ "$fail" -eq 0 ]
