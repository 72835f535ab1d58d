#!/usr/bin/env bash
# Reserves 2 MiB hugepages for svcgw and mounts hugetlbfs on /dev/hugepages.
# Always exits 0: without hugepages the daemon's `hugepages: auto` falls
# back to --no-huge, so this only says what it did or why it could not.
# Usage: tools/hugepages.sh [PAGES]   (default 256 = 512 MiB)
set -uo pipefail

pages=${1:-256}
sysfs=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
mnt=/dev/hugepages

fallback() {
    echo "hugepages: $*; svcgw falls back to --no-huge (hugepages: auto)"
    exit 0
}

[ "$(id -u)" -eq 0 ] || fallback "not root, cannot reserve pages"
[ -w "$sysfs" ] || fallback "$sysfs is not writable (no 2 MiB hugepage support?)"

have=$(cat "$sysfs")
if [ "$have" -lt "$pages" ]; then
    # Never shrink a reservation someone else made; only grow to $pages.
    echo "$pages" >"$sysfs" 2>/dev/null || true
    now=$(cat "$sysfs")
    if [ "$now" -lt "$pages" ]; then
        echo "hugepages: asked for $pages x 2 MiB, the kernel gave $now (memory fragmented?)"
    else
        echo "hugepages: reserved $now x 2 MiB (was $have)"
    fi
else
    echo "hugepages: $have x 2 MiB already reserved (wanted $pages)"
fi
[ "$(cat "$sysfs")" -gt 0 ] || fallback "no hugepages could be reserved"

if grep -qs " $mnt hugetlbfs " /proc/mounts; then
    echo "hugepages: hugetlbfs already mounted on $mnt"
else
    mkdir -p "$mnt" 2>/dev/null || true
    if mount -t hugetlbfs -o pagesize=2M nodev "$mnt" 2>/dev/null; then
        echo "hugepages: mounted hugetlbfs on $mnt"
    else
        fallback "could not mount hugetlbfs on $mnt"
    fi
fi
free=$(awk '/HugePages_Free/ { print $2 }' /proc/meminfo)
echo "hugepages: $free pages free"
exit 0
