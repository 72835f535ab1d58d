#!/usr/bin/env bash
# Cluster DNS answered by the gateway's workers (issue 5, issue 10 §3, DESIGN §3 DNS),
# with real clients in the client namespace: dig against dns.cluster_ip, and
# curl through the namespace's resolv.conf (search path, ndots:5) as in a pod.
# Services change through svcgwctl; each change must be visible in DNS as
# soon as the command returns (the name and the VIP are one publish).
# svcgw only: the kernel reference gateway has no DNS server.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

rig_daemon_only "the kernel gateway serves no DNS"

rig_init 17 fullnat
dns=$RIG_DNS_IP
vip=$RIG_VIP

# q ARGS...: dig at the cluster DNS from the client, one try, 1 s timeout.
q() {
    rig_client dig @"$dns" +time=1 +tries=1 +norec "$@" 2>&1
}
# The status word of a full dig answer (NOERROR, NXDOMAIN, ...).
status_of() { sed -n 's/.*status: \([A-Z]*\),.*/\1/p' | head -n 1; }
# Answer-section records "NAME TTL CLASS TYPE RDATA" of a +noall +answer dig.
answers() { q +noall +answer "$@" | grep -v '^;' | sed '/^$/d'; }

expect_status() { # WANT ARGS...
    local want=$1 out got
    shift
    out=$(q "$@")
    got=$(status_of <<<"$out")
    [ "$got" = "$want" ] || { echo "dig $*: status '$got', want $want"$'\n'"$out"; return 1; }
}

rig_ctl_start
rig_add_pod a
rig_add_pod b
rig_add_pod c
rig_require "svcgwctl expose mynginx" rig_ctl expose mynginx --port=80 --target-port=80 \
    --cluster-ip="$vip" --endpoints="$(rig_pod_ip a)"
# A named port (SRV) lives in an applied manifest; a headless service too.
rig_require "svcgwctl apply: a named-port service and a headless one" rig_ctl apply -f - <<EOF
services:
  - name: web
    namespace: default
    cluster_ip: 10.96.0.30
    ports: [{name: http, port: 8080, target_port: 80, protocol: TCP}]
    endpoints: [{ip: $(rig_pod_ip a)}]
  - name: db
    namespace: default
    cluster_ip: None
    ports: [{name: sql, port: 5432, target_port: 5432, protocol: TCP}]
    endpoints:
      - {ip: $(rig_pod_ip b), ready: true}
      - {ip: $(rig_pod_ip c), ready: true}
      - {ip: 10.99.17.99, ready: false}
  - name: web-sts
    namespace: default
    cluster_ip: None
    ports: [{name: http, port: 80, target_port: 80, protocol: TCP}]
    endpoints:
      - {ip: $(rig_pod_ip a), hostname: web-0}
      - {ip: $(rig_pod_ip c), hostname: web-1}
  - name: ext
    namespace: default
    type: ExternalName
    external_name: www.example.com
  - name: alias
    namespace: default
    type: ExternalName
    external_name: mynginx.default.svc.cluster.local
EOF

# --- A, TTL, flags
out=$(answers mynginx.default.svc.cluster.local A)
rig_log "dig mynginx.default.svc.cluster.local: $out"
rig_check "A mynginx.default.svc.cluster.local = $vip with TTL 30" \
    grep -Eq "^mynginx\.default\.svc\.cluster\.local\.[[:space:]]+30[[:space:]]+IN[[:space:]]+A[[:space:]]+$vip$" <<<"$out"
rig_check "exactly one A record for a ClusterIP service" test "$(wc -l <<<"$out")" -eq 1
rig_check "the answer is authoritative (aa)" \
    grep -Eq "flags:[a-z ]* aa" <<<"$(q mynginx.default.svc.cluster.local A)"

# --- SRV for a named port, with the target's A as additional data
out=$(answers _http._tcp.web.default.svc.cluster.local SRV)
rig_check "SRV _http._tcp.web = 10 100 8080 web.default.svc.cluster.local. ($out)" \
    grep -Eq "IN[[:space:]]+SRV[[:space:]]+10 100 8080 web\.default\.svc\.cluster\.local\.$" <<<"$out"
rig_check "SRV answer carries the target's A in the additional section" \
    grep -Eq "^web\.default\.svc\.cluster\.local\..*IN[[:space:]]+A[[:space:]]+10\.96\.0\.30$" \
    <<<"$(q +noall +additional _http._tcp.web.default.svc.cluster.local SRV)"

# --- PTR for the ClusterIP
out=$(answers -x "$vip")
rig_check "PTR $vip = mynginx.default.svc.cluster.local. ($out)" \
    grep -Eq "^20\.0\.96\.10\.in-addr\.arpa\..*PTR[[:space:]]+mynginx\.default\.svc\.cluster\.local\.$" <<<"$out"

# --- headless: one A per ready endpoint, and per-endpoint SRV targets
out=$(answers db.default.svc.cluster.local A | awk '{print $NF}' | sort | tr '\n' ' ')
want=$(printf '%s\n' "$(rig_pod_ip b)" "$(rig_pod_ip c)" | sort | tr '\n' ' ')
rig_check "headless db: one A per ready endpoint ('$out' = '$want')" test "$out" = "$want"
out=$(answers _sql._tcp.db.default.svc.cluster.local SRV)
rig_check "headless SRV targets the endpoints' own names" \
    test "$(grep -Ec "SRV[[:space:]]+10 100 5432 10-99-17-1[23]\.db\.default\.svc\.cluster\.local\.$" <<<"$out")" -eq 2
rig_check "an endpoint name resolves to its pod" \
    grep -Eq "A[[:space:]]+$(rig_pod_ip b)$" \
    <<<"$(answers "$(rig_pod_ip b | tr . -).db.default.svc.cluster.local" A)"

# --- headless pods have PTRs (spec 2.4.3), and multi-address answers rotate
out=$(answers -x "$(rig_pod_ip b)")
rig_check "PTR of a headless pod = its endpoint name ($out)" \
    grep -Eq "PTR[[:space:]]+$(rig_pod_ip b | tr . -)\.db\.default\.svc\.cluster\.local\.$" <<<"$out"
rig_check "no PTR for a pod that is not ready (not ours: REFUSED)" expect_status REFUSED -x 10.99.17.99
firsts=""
for _ in 1 2 3 4 5 6; do
    firsts+="$(answers db.default.svc.cluster.local A | head -n 1 | awk '{print $NF}') "
done
rig_check "headless A answers rotate: each pod comes first ($firsts)" \
    test "$(tr ' ' '\n' <<<"$firsts" | sed '/^$/d' | sort -u | wc -l)" -eq 2

# --- a StatefulSet's pods by their hostname (EndpointSlice hostname, spec 2.4.1)
out=$(answers web-0.web-sts.default.svc.cluster.local A)
rig_check "web-0.web-sts.default.svc.cluster.local = pod a ($out)" \
    grep -Eq "A[[:space:]]+$(rig_pod_ip a)$" <<<"$out"
rig_check "a pod with a hostname has no dashed name" \
    expect_status NXDOMAIN "$(rig_pod_ip a | tr . -).web-sts.default.svc.cluster.local" A
out=$(answers _http._tcp.web-sts.default.svc.cluster.local SRV)
rig_check "SRV targets use the hostnames ($out)" \
    test "$(grep -Ec "SRV[[:space:]]+10 100 80 web-[01]\.web-sts\.default\.svc\.cluster\.local\.$" <<<"$out")" -eq 2
out=$(answers -x "$(rig_pod_ip a)")
rig_check "PTR of a StatefulSet pod = its hostname name ($out)" \
    grep -Eq "PTR[[:space:]]+web-0\.web-sts\.default\.svc\.cluster\.local\.$" <<<"$out"

# --- ExternalName: a CNAME (spec 2.5); one inside the zone is followed
out=$(answers ext.default.svc.cluster.local A)
rig_check "ExternalName answers a CNAME ($out)" \
    grep -Eq "^ext\.default\.svc\.cluster\.local\..*CNAME[[:space:]]+www\.example\.com\.$" <<<"$out"
out=$(answers alias.default.svc.cluster.local A)
rig_check "a CNAME to a Service of the zone comes with its A ($out)" \
    grep -Eq "^mynginx\.default\.svc\.cluster\.local\..*A[[:space:]]+$vip$" <<<"$out"
rig_check "curl http://alias/ (ExternalName to mynginx) reaches nginx" \
    grep -q "pod: mynginx-a" <<<"$(rig_curl http://alias/ 2>&1)"

# --- negative answers
out=$(q nosuch.default.svc.cluster.local A)
rig_check "missing name: NXDOMAIN" test "$(status_of <<<"$out")" = NXDOMAIN
rig_check "NXDOMAIN carries the zone's SOA in authority" \
    grep -Eq "^cluster\.local\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+SOA[[:space:]]+ns\.dns\.cluster\.local\." \
    <<<"$(q +noall +authority nosuch.default.svc.cluster.local A)"
out=$(q mynginx.default.svc.cluster.local AAAA)
rig_check "AAAA of a service: NOERROR with no answer (NODATA)" \
    test "$(status_of <<<"$out")" = NOERROR -a -z "$(answers mynginx.default.svc.cluster.local AAAA)"
rig_check "NODATA carries the SOA in authority" \
    grep -q "SOA" <<<"$(q +noall +authority mynginx.default.svc.cluster.local AAAA)"
rig_check "example.com: REFUSED (outside the cluster domain)" expect_status REFUSED example.com A

# --- case: matched without regard to case, echoed as asked
out=$(answers MyNginx.DEFAULT.svc.Cluster.Local A)
rig_check "mixed-case query answered, case preserved ($out)" \
    grep -Eq "^MyNginx\.DEFAULT\.svc\.Cluster\.Local\..*A[[:space:]]+$vip$" <<<"$out"

# --- the pod's resolver: resolv.conf search path and ndots:5
rig_check "resolv.conf of the client namespace points at the cluster DNS" \
    grep -q "^nameserver $dns$" "/etc/netns/$(rig_ns cl)/resolv.conf"
rig_check "curl http://mynginx/ reaches nginx through the search path" \
    grep -q "pod: mynginx-a" <<<"$(rig_curl http://mynginx/ 2>&1)"
rig_check "curl http://mynginx.default.svc.cluster.local/ reaches nginx" \
    grep -q "pod: mynginx-a" <<<"$(rig_curl http://mynginx.default.svc.cluster.local/ 2>&1)"
rig_check "curl http://web:8080/ (another service, short name) reaches nginx" \
    grep -q "pod: mynginx-a" <<<"$(rig_curl http://web:8080/ 2>&1)"

# --- changes are visible in DNS when svcgwctl returns (no polling)
rig_require "svcgwctl expose late" rig_ctl expose late --port=80 --target-port=80 \
    --cluster-ip=10.96.0.40 --endpoints="$(rig_pod_ip b)"
out=$(answers late.default.svc.cluster.local A)
rig_check "an exposed service resolves right after svcgwctl returns ($out)" \
    grep -Eq "A[[:space:]]+10\.96\.0\.40$" <<<"$out"
rig_check "... and its PTR too" \
    grep -q "late.default.svc.cluster.local." <<<"$(answers -x 10.96.0.40)"
rig_check "curl http://late/ reaches its pod" \
    grep -q "pod: mynginx-b" <<<"$(rig_curl http://late/ 2>&1)"
rig_require "svcgwctl delete service late" rig_ctl delete service late
rig_check "a deleted service is NXDOMAIN right after svcgwctl returns" \
    expect_status NXDOMAIN late.default.svc.cluster.local A
rig_check "... and its PTR is gone" expect_status NXDOMAIN -x 10.96.0.40
rig_require "svcgwctl set endpoints db (headless: one ready pod left)" \
    rig_ctl set endpoints db "$(rig_pod_ip c)"
out=$(answers db.default.svc.cluster.local A | awk '{print $NF}' | tr '\n' ' ')
rig_check "headless endpoint change is visible at once ('$out')" test "$out" = "$(rig_pod_ip c) "

# --- counters: GET /v1/stats and /metrics count what we asked
stats=$(rig_ctl stats 2>&1)
rig_log "svcgwctl stats:"$'\n'"$stats"
dns_queries=$(awk '$2 == "DNS-QUERIES" { on = 1; next } on && NF { s += $2 } END { print s + 0 }' <<<"$stats")
rig_check "svcgwctl stats counts DNS queries per worker ($dns_queries >= 20)" test "$dns_queries" -ge 20
metrics=$(rig_in gw curl -sS --max-time 3 http://127.0.0.1:9100/metrics 2>&1)
q_total=$(awk '/^svcgw_dns_queries_total/ { s += $2 } END { print s + 0 }' <<<"$metrics")
nx_total=$(awk '/^svcgw_dns_responses_total.*rcode="nxdomain"/ { s += $2 } END { print s + 0 }' <<<"$metrics")
refused_total=$(awk '/^svcgw_dns_responses_total.*rcode="refused"/ { s += $2 } END { print s + 0 }' <<<"$metrics")
rig_check "metrics: svcgw_dns_queries_total counts the queries ($q_total >= 20)" test "$q_total" -ge 20
rig_check "metrics: NXDOMAIN responses counted ($nx_total >= 3)" test "$nx_total" -ge 3
rig_check "metrics: REFUSED responses counted ($refused_total >= 1)" test "$refused_total" -ge 1

# --- the dns section is restart-only: a reload that changes it is refused whole
sed -i 's/^dns: .*/dns: {cluster_ip: '"$dns"', domain: cluster.local, ttl_s: 5}/' "$RIG_CONFIG"
rig_reload || rig_die "$RIG_RELOAD_OUTCOME"
rig_check "a reload changing dns.ttl_s is refused (restart-only): $RIG_RELOAD_OUTCOME" \
    test "$RIG_RELOAD_OUTCOME" = rejected
rig_check "... and the log says why" \
    grep -q "reload: dns: not reloadable" "$RIG_GW_LOG"
rig_check "... and answers keep TTL 30" \
    grep -Eq "[[:space:]]30[[:space:]]+IN[[:space:]]+A[[:space:]]+$vip$" \
    <<<"$(answers mynginx.default.svc.cluster.local A)"

rig_check "svcgw still running" rig_gateway_alive
rig_finish
