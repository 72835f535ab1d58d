#!/usr/bin/env bash
# Which flows a router moves when a gateway leaves and comes back (issue 13
# §4): Linux hash-threshold ECMP (what FRR installs for BGP multipath)
# against a resilient next-hop group (`ip nexthop ... type resilient`), on
# this kernel, with the fleet rig's hash policy (fib_multipath_hash_policy=1:
# addresses, protocol and ports).
#
# A router namespace has both routes to two VIPs over the same three next
# hops (the fleet rig's g1-g3). FLOWS TCP 5-tuples from two clients are
# looked up with `ip route get ... iif` (the forwarding path's hash) with all
# three next hops, after one leaves, and after it comes back, for each of
# the three (hash-threshold's answer depends on which one). Counted:
#   - lost:  flows that were on the gateway that left (they must move);
#   - moved: the other gateways' flows that the change sent elsewhere. In fullnat
#            each one reaches a gateway that does not know it and is reset
#            (svcgw has no owner redirect yet); in nat the survivor picks it
#            up from its service table (test_fleet: 0 broken);
#   - back:  when it returns, flows that move (to it, or anywhere).
# No traffic is sent: only route lookups, in a namespace of its own.
#
#   perf/scripts/ecmp-rehash.sh [FLOWS] [BUCKETS]   (root)
set -euo pipefail
flows=${1:-10000}
buckets=${2:-512}
[[ $flows =~ ^[0-9]+$ ]] && [ "$flows" -ge 100 ] && [ "$flows" -le 100000 ] ||
    { echo "ecmp-rehash: FLOWS is 100..100000" >&2; exit 2; }
ns=sgecmp$$
tmp=$(mktemp -d /tmp/svcgw-ecmp.XXXXXX)
trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "$tmp"' EXIT
rt() { ip -n "$ns" "$@"; }

ip netns add "$ns"
rt link add fab type veth peer name fabp  # the gateways' segment
rt link add cl type veth peer name clp    # where the clients' packets come in
for d in fab fabp cl clp lo; do rt link set "$d" up; done
rt addr add 10.99.60.254/24 dev fab
rt addr add 10.99.61.254/24 dev cl
ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1
hash_vip=10.96.0.20 resilient_vip=10.96.0.21
for g in 1 2 3; do rt nexthop add id "$g" via "10.99.60.$g" dev fab; done
group() { echo "group $1 type resilient buckets $buckets idle_timer 0 unbalanced_timer 0"; }
# shellcheck disable=SC2046
rt nexthop add id 10 $(group 1/2/3)
rt route add "$resilient_vip/32" nhid 10
multipath() {
    local g hops=()
    for g in "$@"; do hops+=(nexthop via "10.99.60.$g" dev fab); done
    rt route replace "$hash_vip/32" "${hops[@]}"
}
multipath 1 2 3

# The flows: two clients, random source ports (fixed seed: the same set per run).
python3 - "$flows" >"$tmp/flows" <<'EOF'
import random, sys
r = random.Random(14)
for i in range(int(sys.argv[1])):
    print(f"10.99.61.{1 + i % 2} {r.randrange(1024, 65536)}")
EOF
# lookup VIP: one next hop (last octet) per flow, in flow order.
lookup() {
    awk -v vip="$1" '{ printf "route get %s from %s iif cl ipproto tcp sport %s dport 80\n", vip, $1, $2 }' \
        "$tmp/flows" >"$tmp/batch"
    rt -batch "$tmp/batch" | awk '/ via / { for (i = 1; i <= NF; i++) if ($i == "via") { split($(i + 1), a, "."); print a[4] } }'
}
snapshot() {  # snapshot NAME: both schemes' next hops now
    lookup "$hash_vip" >"$tmp/hash.$1"
    lookup "$resilient_vip" >"$tmp/res.$1"
    [ "$(wc -l <"$tmp/hash.$1")" -eq "$flows" ] && [ "$(wc -l <"$tmp/res.$1")" -eq "$flows" ] ||
        { echo "ecmp-rehash: a lookup failed" >&2; exit 1; }
}
for leaver in 1 2 3; do
    # A resilient group's buckets after a leave and return are not the ones
    # before it: each round starts from the layout it finds.
    snapshot "before_g$leaver"
    stay=()
    for g in 1 2 3; do [ "$g" = "$leaver" ] || stay+=("$g"); done
    multipath "${stay[@]}"
    # shellcheck disable=SC2046
    rt nexthop replace id 10 $(group "${stay[0]}/${stay[1]}")
    snapshot "without_g$leaver"
    multipath 1 2 3
    # shellcheck disable=SC2046
    rt nexthop replace id 10 $(group 1/2/3)
    snapshot "back_g$leaver"
done

# compare SCHEME LEAVER: "spread lost moved back" as shares of all flows (%).
compare() {
    paste "$tmp/$1.before_g$2" "$tmp/$1.without_g$2" "$tmp/$1.back_g$2" | awk -v n="$flows" -v g="$2" '
        { on[$1]++
          if ($1 == g) lost++
          else if ($2 != $1) moved++
          if ($3 != $2) back++ }
        END { printf "%d/%d/%d %.1f %.1f %.1f\n", on[1], on[2], on[3], 100 * lost / n, 100 * moved / n, 100 * back / n }'
}
echo "# ecmp-rehash $(date -u '+%F %H:%M') UTC, kernel $(uname -r), $flows flows, resilient buckets $buckets"
echo "| router scheme | gateway that leaves | flows on g1/g2/g3 | lost with it | others' flows moved when it left | moved when it came back |"
echo "|---|---|---|---|---|---|"
for scheme in hash res; do
    label="hash-threshold (FRR's BGP multipath)"
    [ "$scheme" = res ] && label="resilient group, $buckets buckets, idle_timer 0"
    for leaver in 1 2 3; do
        read -r spread lost moved back < <(compare "$scheme" "$leaver")
        echo "| $label | g$leaver | $spread | $lost% | $moved% | $back% |"
    done
done
