"""A burst of EndpointSlice updates through the test API (issue 11 §4, the
chaos test): COUNT merge patches from CONNECTIONS HTTPS keep-alive
connections at once, each turning the slice's last endpoint ready or not
ready (odd updates: not ready), as a rollout's readiness flaps do. Several
connections, because one waits for each answer and the test API answers one
patch in tens of milliseconds: updates that far apart are no burst. Prints
"<count> updates in <s> s".

Usage: kube_burst.py SERVER CA TOKEN NAMESPACE SLICE COUNT [CONNECTIONS]
"""
import http.client
import json
import ssl
import sys
import threading
import time
import urllib.parse


def main() -> int:
    server, ca, token, ns, name, count = sys.argv[1:7]
    connections = int(sys.argv[7]) if len(sys.argv) > 7 else 8
    count = int(count)
    url = urllib.parse.urlsplit(server)
    ctx = ssl.create_default_context(cafile=ca)
    path = f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices/{name}"
    headers = {"Authorization": f"Bearer {token}"}

    def connect():
        return http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=10)

    conn = connect()
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    slice_ = json.loads(resp.read())
    if resp.status != 200:
        print(f"GET {path}: {resp.status} {slice_}", file=sys.stderr)
        return 1
    endpoints = slice_["endpoints"]
    failures = []
    conns = [connect() for _ in range(connections)]
    for c in conns:
        c.connect()  # TLS handshakes before the clock starts

    def patch(k: int) -> None:
        c = conns[k]
        for i in range(k + 1, count + 1, connections):
            eps = json.loads(json.dumps(endpoints))
            eps[-1]["conditions"] = {"ready": i % 2 == 0}
            c.request("PATCH", path, body=json.dumps({"endpoints": eps}),
                      headers={**headers, "Content-Type": "application/merge-patch+json"})
            r = c.getresponse()
            data = r.read()
            if r.status != 200:
                failures.append(f"PATCH {i}: {r.status} {data[:200]!r}")
                return

    start = time.monotonic()
    threads = [threading.Thread(target=patch, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return 1
    print(f"{count} updates in {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
