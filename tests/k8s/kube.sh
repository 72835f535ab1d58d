#!/usr/bin/env bash
# shellcheck shell=bash
# A throw-away Kubernetes API for tests: a real etcd (Debian etcd-server) and
# tests/k8s/apiserver.py in front of it, with generated TLS certificates,
# bearer tokens and kubeconfigs. Each run has its own directory
# (/tmp/skube<pid>.XXXX), free loopback ports and a bounded lifetime
# (KUBE_LIFETIME seconds: both processes run under `timeout`), so several
# runs coexist and nothing outlives a crashed test.
#
# Sourced by tests (call kube_down from your EXIT trap):
#   source tests/k8s/kube.sh
#   kube_up [NETNS]        # NETNS: run etcd and the API server on that
#                          # namespace's loopback (the gateway's, for svcgw)
#   kube_kubectl get svc   # Debian's kubectl 1.20 as admin
#   kube_compact           # compact etcd at its current revision
#   kube_down
# Run by hand: tests/k8s/kube.sh run [SECONDS]   (prints what to export)
#
# After kube_up: KUBE_DIR, KUBE_SERVER (https://127.0.0.1:PORT), KUBE_CA,
# KUBE_ADMIN_TOKEN, KUBE_SVCGW_TOKEN, KUBE_ADMIN_KUBECONFIG,
# KUBE_SVCGW_KUBECONFIG (user svcgw, bound to tests/k8s/svcgw-clusterrole.json),
# KUBE_SVCGW_CERT_KUBECONFIG (the same user by client certificate),
# KUBE_ROGUE_CERT_KUBECONFIG (a certificate for svcgw from an untrusted CA),
# KUBE_ETCD (http://127.0.0.1:PORT), KUBECTL.

KUBE_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KUBE_LIFETIME=${KUBE_LIFETIME:-600}
KUBE_FAMILY=skube
KUBE_PYTHON=/usr/bin/python3 # Debian's, standard library only (not a pyenv shim)
# etcd's progress notifications become watch bookmarks (watch.py): this is
# the bookmark interval. kube-apiserver's is about a minute; tests want it short.
KUBE_BOOKMARK_INTERVAL=${KUBE_BOOKMARK_INTERVAL:-1s}
KUBE_MIN_REQUEST_TIMEOUT=${KUBE_MIN_REQUEST_TIMEOUT:-1800}
KUBE_SERVICE_CIDR=${KUBE_SERVICE_CIDR:-10.96.0.0/16}
# Where tools/install-deps.sh unpacks Debian's kubectl when another package
# already owns /usr/bin/kubectl.
KUBE_DEBIAN_KUBECTL=/opt/svcgw/kubernetes-client/usr/bin/kubectl
KUBE_START_TIMEOUT=10 # seconds for etcd, then the API server, to answer
KUBE_DIR=""
KUBE_NETNS=""
KUBE_NS_PREFIX=() # ip netns exec NETNS, when there is one
# etcd and the API server stand for a control plane on other machines: on a
# box shared with compilers they run ahead of them (nice -10), so a test of
# a client's timing (Lease renewals, watch latency) does not measure the
# build load instead. `nice` execs its command: the PID stays the process's.
KUBE_PRIORITY=(nice -n -10)
KUBE_ETCD_PID=""
KUBE_APISERVER_PID=""
KUBE_APISERVER_PORT=""

kube_log() { echo "[kube] $*" >&2; }

# Runs a command on the API's loopback (the namespace given to kube_up).
kube_in() {
    if [ -n "$KUBE_NETNS" ]; then
        ip netns exec "$KUBE_NETNS" "$@"
    else
        "$@"
    fi
}

# Debian's kubectl (kubernetes-client): the independent client. Another
# kubectl on PATH (a cloud SDK's) would test nothing Debian ships.
kube_find_kubectl() {
    local k
    for k in "$KUBE_DEBIAN_KUBECTL" /usr/bin/kubectl; do
        if [ -x "$k" ] && "$k" version --client 2>/dev/null | grep -q 'GitVersion:"v1.20'; then
            echo "$k"
            return 0
        fi
    done
    return 1
}

kube_free_ports() {
    kube_in "$KUBE_PYTHON" -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

kube_cleanup_stale() {
    local dir pid
    for dir in /tmp/"$KUBE_FAMILY"[0-9]*.*; do
        [ -d "$dir" ] || continue
        pid=${dir#/tmp/"$KUBE_FAMILY"}
        pid=${pid%%.*}
        kill -0 "$pid" 2>/dev/null || rm -rf "$dir"
    done
}

kube_certs() {
    local d=$KUBE_DIR/pki
    mkdir -p "$d"
    (
        cd "$d" &&
            kube_ca ca svcgw-test-ca &&
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout server.key -out server.csr -subj "/CN=svcgw-test-apiserver" &&
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >server.ext &&
            openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
                -extfile server.ext -out server.crt &&
            kube_client_cert ca svcgw &&
            # A certificate for svcgw from a CA the API server does not trust.
            kube_ca rogue-ca svcgw-test-rogue-ca &&
            kube_client_cert rogue-ca svcgw
    ) >"$KUBE_DIR/openssl.log" 2>&1 || {
        cat "$KUBE_DIR/openssl.log" >&2
        return 1
    }
    KUBE_CA=$d/ca.crt
}

# kube_ca NAME CN (in the pki directory): a self-signed CA, NAME.crt/.key.
kube_ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -keyout "$1.key" -out "$1.crt" -subj "/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}

# kube_client_cert CA USER (in the pki directory): USER.CA.crt/.key, a
# client certificate whose subject CN is USER, signed by CA.crt/.key.
kube_client_cert() {
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$2.$1.key" -out "$2.$1.csr" -subj "/CN=$2" &&
        printf 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n' >client.ext &&
        openssl x509 -req -in "$2.$1.csr" -CA "$1.crt" -CAkey "$1.key" -CAcreateserial -days 2 \
            -extfile client.ext -out "$2.$1.crt"
}

# kube_kubeconfig USER TOKEN FILE, or USER cert:CRT,KEY FILE for a client
# certificate instead of a token.
kube_kubeconfig() {
    local credential="    token: $2"
    if [[ $2 == cert:* ]]; then
        local files=${2#cert:}
        credential="    client-certificate-data: $(base64 -w0 "${files%,*}")
    client-key-data: $(base64 -w0 "${files#*,}")"
    fi
    cat >"$3" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: svcgw-test
  cluster:
    server: $KUBE_SERVER
    certificate-authority-data: $(base64 -w0 "$KUBE_CA")
users:
- name: $1
  user:
$credential
contexts:
- name: svcgw-test
  context:
    cluster: svcgw-test
    user: $1
    namespace: default
current-context: svcgw-test
EOF
    chmod 600 "$3"
}

# kube_wait_ready PID CHECK...: until CHECK succeeds (true), PID exits or
# KUBE_START_TIMEOUT passes (false).
kube_wait_ready() {
    local pid=$1 i
    shift
    for ((i = 0; i < KUBE_START_TIMEOUT * 5; i++)); do
        "$@" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.2
    done
    return 1
}

kube_etcd_healthy() {
    kube_in curl -sf --max-time 1 "$KUBE_ETCD/health" 2>/dev/null | grep -q '"health":"true"'
}

kube_start_etcd() {
    local ports client peer
    ports=$(kube_free_ports 2) || return 1
    read -r client peer <<<"$ports"
    KUBE_ETCD=http://127.0.0.1:$client
    # Started directly (not through kube_in, a function): $! is then the
    # process itself, the one kube_stop_pid signals.
    "${KUBE_NS_PREFIX[@]}" "${KUBE_PRIORITY[@]}" timeout -k 5 "$KUBE_LIFETIME" etcd --name svcgw-test --data-dir "$KUBE_DIR/etcd" \
        --listen-client-urls "$KUBE_ETCD" --advertise-client-urls "$KUBE_ETCD" \
        --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "svcgw-test=http://127.0.0.1:$peer" \
        --experimental-watch-progress-notify-interval "$KUBE_BOOKMARK_INTERVAL" \
        --logger zap --log-level warn >>"$KUBE_DIR/etcd.log" 2>&1 &
    KUBE_ETCD_PID=$!
    kube_wait_ready "$KUBE_ETCD_PID" kube_etcd_healthy
}

kube_apiserver_ready() {
    [ -s "$KUBE_DIR/apiserver.port" ] || return 1
    KUBE_APISERVER_PORT=$(cat "$KUBE_DIR/apiserver.port")
    KUBE_SERVER=https://127.0.0.1:$KUBE_APISERVER_PORT
    kube_in curl -sf --max-time 1 --cacert "$KUBE_CA" -H "Authorization: Bearer $KUBE_ADMIN_TOKEN" \
        "$KUBE_SERVER/readyz" >/dev/null 2>&1
}

kube_start_apiserver() {
    local listen=127.0.0.1:${KUBE_APISERVER_PORT:-0} extra
    read -r -a extra <<<"${KUBE_APISERVER_ARGS:-}"
    rm -f "$KUBE_DIR/apiserver.port"
    "${KUBE_NS_PREFIX[@]}" "${KUBE_PRIORITY[@]}" timeout -k 5 "$KUBE_LIFETIME" "$KUBE_PYTHON" "$KUBE_HERE/apiserver.py" \
        --etcd "$KUBE_ETCD" --listen "$listen" --port-file "$KUBE_DIR/apiserver.port" \
        --tls-cert "$KUBE_DIR/pki/server.crt" --tls-key "$KUBE_DIR/pki/server.key" \
        --token-file "$KUBE_DIR/tokens.csv" --client-ca-file "$KUBE_CA" --admin admin \
        --role "svcgw=$KUBE_HERE/svcgw-clusterrole.json" \
        --service-cluster-ip-range "$KUBE_SERVICE_CIDR" \
        --min-request-timeout "$KUBE_MIN_REQUEST_TIMEOUT" \
        "${extra[@]}" >>"$KUBE_DIR/apiserver.log" 2>&1 &
    KUBE_APISERVER_PID=$!
    kube_wait_ready "$KUBE_APISERVER_PID" kube_apiserver_ready
}

# shellcheck disable=SC2120 # NETNS is optional
kube_up() {
    KUBE_NETNS=${1:-}
    KUBE_NS_PREFIX=()
    [ -n "$KUBE_NETNS" ] && KUBE_NS_PREFIX=(ip netns exec "$KUBE_NETNS")
    command -v etcd >/dev/null || { kube_log "missing etcd (run tools/install-deps.sh)"; return 1; }
    KUBECTL=$(kube_find_kubectl) || { kube_log "missing Debian's kubectl 1.20 (run tools/install-deps.sh)"; return 1; }
    kube_cleanup_stale
    KUBE_DIR=$(mktemp -d "/tmp/${KUBE_FAMILY}$$.XXXX")
    [ -n "$KUBE_NETNS" ] && ip -n "$KUBE_NETNS" link set lo up
    kube_certs || return 1
    KUBE_ADMIN_TOKEN=$(openssl rand -hex 16)
    KUBE_SVCGW_TOKEN=$(openssl rand -hex 16)
    printf '%s,admin,1,"system:masters"\n%s,svcgw,2\n' "$KUBE_ADMIN_TOKEN" "$KUBE_SVCGW_TOKEN" >"$KUBE_DIR/tokens.csv"
    chmod 600 "$KUBE_DIR/tokens.csv"
    local _
    for _ in 1 2 3; do # a free port can be taken between the probe and etcd's bind
        kube_start_etcd && break
        kill "$KUBE_ETCD_PID" 2>/dev/null
        wait "$KUBE_ETCD_PID" 2>/dev/null
        KUBE_ETCD_PID=""
        rm -rf "$KUBE_DIR/etcd"
    done
    [ -n "$KUBE_ETCD_PID" ] || { kube_log "etcd did not start:"; tail -n 20 "$KUBE_DIR/etcd.log" >&2; return 1; }
    kube_start_apiserver || { kube_log "the API server did not start:"; tail -n 20 "$KUBE_DIR/apiserver.log" >&2; return 1; }
    KUBE_ADMIN_KUBECONFIG=$KUBE_DIR/admin.kubeconfig
    KUBE_SVCGW_KUBECONFIG=$KUBE_DIR/svcgw.kubeconfig
    kube_kubeconfig admin "$KUBE_ADMIN_TOKEN" "$KUBE_ADMIN_KUBECONFIG"
    kube_kubeconfig svcgw "$KUBE_SVCGW_TOKEN" "$KUBE_SVCGW_KUBECONFIG"
    # The same user by client certificate, and one from an untrusted CA.
    local pki=$KUBE_DIR/pki
    KUBE_SVCGW_CERT_KUBECONFIG=$KUBE_DIR/svcgw-cert.kubeconfig
    KUBE_ROGUE_CERT_KUBECONFIG=$KUBE_DIR/svcgw-rogue.kubeconfig
    kube_kubeconfig svcgw "cert:$pki/svcgw.ca.crt,$pki/svcgw.ca.key" "$KUBE_SVCGW_CERT_KUBECONFIG"
    kube_kubeconfig svcgw "cert:$pki/svcgw.rogue-ca.crt,$pki/svcgw.rogue-ca.key" "$KUBE_ROGUE_CERT_KUBECONFIG"
    kube_log "API $KUBE_SERVER, etcd $KUBE_ETCD, dir $KUBE_DIR${KUBE_NETNS:+, netns $KUBE_NETNS}"
}

# Restarts the API server on the same port (etcd and every object stay).
kube_restart_apiserver() {
    kube_stop_pid "$KUBE_APISERVER_PID"
    kube_start_apiserver
}

kube_stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

kube_down() {
    kube_stop_pid "$KUBE_APISERVER_PID"
    kube_stop_pid "$KUBE_ETCD_PID"
    KUBE_APISERVER_PID="" KUBE_ETCD_PID=""
    if [ -n "$KUBE_DIR" ] && [ -z "${KUBE_KEEP:-}" ]; then
        rm -rf "$KUBE_DIR"
    fi
}

# Debian's kubectl as admin; its discovery cache stays in this run's directory.
kube_kubectl() {
    kube_in "$KUBECTL" --kubeconfig "$KUBE_ADMIN_KUBECONFIG" --cache-dir "$KUBE_DIR/kube-cache" "$@"
}

# curl with the admin token (or KUBE_TOKEN) and the run's CA: kube_curl PATH [curl args]
kube_curl() {
    local path=$1
    shift
    kube_in curl -sS --max-time 10 --cacert "$KUBE_CA" -H "Authorization: Bearer ${KUBE_TOKEN:-$KUBE_ADMIN_TOKEN}" "$@" "$KUBE_SERVER$path"
}

kube_etcd_revision() {
    kube_in curl -sf --max-time 5 -X POST "$KUBE_ETCD/v3/kv/range" -d '{"key":"AA=="}' |
        "$KUBE_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])'
}

# kube_compact [REVISION]: etcd compaction (default: the current revision),
# after which watches and exact reads from older versions get 410 Gone.
kube_compact() {
    local rev=${1:-$(kube_etcd_revision)}
    kube_in curl -sf --max-time 10 -X POST "$KUBE_ETCD/v3/kv/compaction" -d "{\"revision\":\"$rev\",\"physical\":true}" >/dev/null
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -u
    case ${1:-} in
    run)
        KUBE_LIFETIME=${2:-$KUBE_LIFETIME}
        trap kube_down EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        kube_up "" || exit 1
        echo "export KUBECONFIG=$KUBE_ADMIN_KUBECONFIG   # admin; svcgw: $KUBE_SVCGW_KUBECONFIG"
        echo "kubectl: $KUBECTL --cache-dir $KUBE_DIR/kube-cache ...   (up for ${KUBE_LIFETIME}s, Ctrl-C stops)"
        wait "$KUBE_APISERVER_PID"
        ;;
    *)
        echo "usage: $0 run [SECONDS]   (or source it: see the header)" >&2
        exit 2
        ;;
    esac
fi
