#!/usr/bin/env bash
# make deb: the Debian package (debian/) made with Debian's own tooling
# (dpkg-buildpackage, debhelper) as OUT_DIR/svcgw_VERSION_amd64.deb, from a
# meson build directory:
# - BUILD_DIR given (CI: `make deb-test DEB_BUILD=build`): that build's
#   svcgw and svcgwctl, the ones `make test` has just run, are packaged as
#   they are; no second compile. Such a build is -march=native (cpu_arch's
#   default): the package is for machines with the builder's CPU.
# - none: OUT_DIR/build, configured here once as a release build of the two
#   programs for -march=x86-64-v2 (SSE4.2: the floor of Debian's own DPDK,
#   built for corei7, so the package runs wherever libdpdk does; issue 12
#   §2 makes it pick the same backends as any other build) with Debian's
#   hardening flags.
# debian/rules only installs; the tree is copied (what git tracks or would
# track) to OUT_DIR/src so that dpkg-buildpackage's outputs and debhelper's
# scratch files stay out of the checkout.
# Usage: tools/make-deb.sh OUT_DIR [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:?usage: $0 OUT_DIR [BUILD_DIR]}")
version=$(dpkg-parsechangelog -l "$here/debian/changelog" -S Version)
meson_version=$(sed -n "s/^  version : '\(.*\)',$/\1/p" "$here/meson.build")
if [ "${version%%-*}" != "$meson_version" ]; then
    echo "make-deb: debian/changelog says $version, meson.build $meson_version: keep them equal" >&2
    exit 1
fi

if [ -n "${2:-}" ]; then
    build=$(realpath "$2")
    [ -f "$build/build.ninja" ] || { echo "make-deb: $2 is not a meson build directory" >&2; exit 1; }
else
    build=$out/build
    if [ ! -f "$build/build.ninja" ]; then
        # Hardening (stack protector, fortify, relro/now, PIE) without
        # Debian's -O2 and -g: meson's release build (-O3) is what the tests
        # and benchmarks measure.
        export DEB_BUILD_MAINT_OPTIONS=hardening=+all DEB_CXXFLAGS_MAINT_STRIP="-g -O2"
        CXXFLAGS="$(dpkg-buildflags --get CXXFLAGS) $(dpkg-buildflags --get CPPFLAGS)" \
            LDFLAGS="$(dpkg-buildflags --get LDFLAGS)" \
            meson setup "$build" "$here" -Dcpu_arch=x86-64-v2 -Dtests=disabled \
            -Dbenchmarks=disabled -Djemalloc=enabled
    fi
fi

src="$out/src/svcgw-$version"
rm -rf "$out/src"
mkdir -p "$src"
(
    cd "$here"
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do
            # A file deleted but not yet committed is skipped.
            if [ -e "$f" ]; then
                cp -P --parents "$f" "$src/"
            fi
        done
)

cd "$src"
echo "make-deb: packaging svcgw $version from $build"
SVCGW_BUILD_DIR=$build dpkg-buildpackage -b -us -uc
rm -f "$out"/svcgw_"$version"_amd64.{deb,buildinfo,changes}
mv "$out/src"/svcgw_"$version"_amd64.{deb,buildinfo,changes} "$out/"
rm -rf "$out/src"
echo "make-deb: $out/svcgw_${version}_amd64.deb"
