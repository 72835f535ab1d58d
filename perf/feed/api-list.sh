#!/usr/bin/env bash
# The test Kubernetes API's own LIST time at cluster scale (perf/feed/api_list.py):
# brings up tests/k8s (etcd + apiserver.py) for this run, creates N Services
# and N EndpointSlices, times R paginated lists of each kind, tears it down.
#   perf/feed/api-list.sh [N] [ENDPOINTS] [REPS]     (as root: the harness's etcd)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
count=${1:-10000}
endpoints=${2:-3}
reps=${3:-3}
KUBE_LIFETIME=${KUBE_LIFETIME:-1200}
# shellcheck source=../../tests/k8s/kube.sh
source "$here/../../tests/k8s/kube.sh"
# kube_down's waits return the stopped processes' status: not under set -e
trap 'set +e; kube_down' EXIT
kube_up
nice -n 10 "$KUBE_PYTHON" "$here/api_list.py" "$KUBE_SERVER" "$KUBE_CA" "$KUBE_ADMIN_TOKEN" \
    "$KUBE_SVCGW_TOKEN" "$count" "$endpoints" "$reps"
