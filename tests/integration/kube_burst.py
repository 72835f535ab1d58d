"""A burst of EndpointSlice updates through the test API (issue 11 §4, the
chaos test): COUNT merge patches on one HTTPS keep-alive connection, each
turning the slice's last endpoint ready or not ready (odd updates: not
ready), as a rollout's readiness flaps do. Prints "<count> updates in <s> s".

Usage: kube_burst.py SERVER CA TOKEN NAMESPACE SLICE COUNT
"""
import http.client
import json
import ssl
import sys
import time
import urllib.parse


def main() -> int:
    server, ca, token, ns, name, count = sys.argv[1:7]
    url = urllib.parse.urlsplit(server)
    ctx = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=10)
    path = f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices/{name}"
    headers = {"Authorization": f"Bearer {token}"}
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    slice_ = json.loads(resp.read())
    if resp.status != 200:
        print(f"GET {path}: {resp.status} {slice_}", file=sys.stderr)
        return 1
    endpoints = slice_["endpoints"]
    start = time.monotonic()
    for i in range(1, int(count) + 1):
        endpoints[-1]["conditions"] = {"ready": i % 2 == 0}
        body = json.dumps({"endpoints": endpoints})
        conn.request("PATCH", path, body=body,
                     headers={**headers, "Content-Type": "application/merge-patch+json"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            print(f"PATCH {i}: {resp.status} {data[:200]!r}", file=sys.stderr)
            return 1
    print(f"{count} updates in {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
