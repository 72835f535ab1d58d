"""How long the test Kubernetes API (tests/k8s) takes to LIST a cluster of
N Services and N EndpointSlices (E endpoints each) as svcgw's reflectors
ask for it (limit=500 pages, every page at the first one's version), to
see whether that server's own speed would dominate a feed benchmark run
through it. Creates the objects first (C connections), then times R
complete lists of each kind with svcgw's token. Prints one line per list
and a RESULT line (seconds).

Usage: api_list.py SERVER CA ADMIN_TOKEN SVCGW_TOKEN N E R [C]
"""
import http.client
import json
import ssl
import sys
import threading
import time
import urllib.parse

PAGE = 500  # the reflector's limit= (lib/kube/reflector.hpp)
NS = "default"


def main() -> int:
    server, ca, admin, svcgw = sys.argv[1:5]
    count, endpoints, reps = (int(a) for a in sys.argv[5:8])
    connections = int(sys.argv[8]) if len(sys.argv) > 8 else 8
    url = urllib.parse.urlsplit(server)
    ctx = ssl.create_default_context(cafile=ca)

    def connect():
        return http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=60)

    failures = []

    def create(k: int) -> None:
        try:
            create_share(k)
        except (OSError, http.client.HTTPException) as e:  # a timeout under load, say
            failures.append(f"connection {k}: {e!r}")

    def create_share(k: int) -> None:
        c = connect()
        headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
        for i in range(k, count, connections):
            name = f"svc-{i}"
            svc = {"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": name, "labels": {"app": name}},
                   "spec": {"selector": {"app": name},
                            "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
            pods = [i * endpoints + e + 1 for e in range(endpoints)]  # 10.244.0.1 on
            eps = [{"addresses": [f"10.{244 + n // 65536}.{n // 256 % 256}.{n % 256}"],
                    "conditions": {"ready": True}, "nodeName": f"node-{n % endpoints}"}
                   for n in pods]
            sl = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                  "metadata": {"name": f"{name}-abcde",
                               "labels": {"kubernetes.io/service-name": name}},
                  "addressType": "IPv4", "endpoints": eps,
                  "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}
            for path, body in ((f"/api/v1/namespaces/{NS}/services", svc),
                               (f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices", sl)):
                c.request("POST", path, body=json.dumps(body), headers=headers)
                r = c.getresponse()
                data = r.read()
                if r.status not in (200, 201):
                    failures.append(f"POST {path} {name}: {r.status} {data[:200]!r}")
                    return

    start = time.monotonic()
    threads = [threading.Thread(target=create, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        print("\n".join(failures[:5]), file=sys.stderr)
        return 1
    print(f"created {count} services and {count} slices in {time.monotonic() - start:.1f} s")

    def list_all(path: str) -> tuple[float, int, int]:
        c = connect()
        c.connect()  # the TLS handshake before the clock, as a reflector's open connection
        headers = {"Authorization": f"Bearer {svcgw}"}
        items = size = 0
        token = ""
        t0 = time.monotonic()
        while True:
            q = f"{path}?limit={PAGE}" + (f"&continue={urllib.parse.quote(token)}" if token else "")
            c.request("GET", q, headers=headers)
            r = c.getresponse()
            data = r.read()
            if r.status != 200:
                raise RuntimeError(f"GET {q}: {r.status} {data[:200]!r}")
            size += len(data)
            page = json.loads(data)
            items += len(page["items"])
            token = page["metadata"].get("continue", "")
            if not token:
                return time.monotonic() - t0, items, size

    seconds = {"services": [], "slices": []}
    for _ in range(reps):
        for kind, path in (("services", "/api/v1/services"),
                           ("slices", "/apis/discovery.k8s.io/v1/endpointslices")):
            s, items, size = list_all(path)
            print(f"LIST {kind}: {items} items, {size} bytes, {s:.2f} s")
            seconds[kind].append(s)
    med = {k: sorted(v)[len(v) // 2] for k, v in seconds.items()}
    print(f"RESULT count={count} services_list_s_median={med['services']:.2f} "
          f"slices_list_s_median={med['slices']:.2f} "
          f"services_min={min(seconds['services']):.2f} services_max={max(seconds['services']):.2f} "
          f"slices_min={min(seconds['slices']):.2f} slices_max={max(seconds['slices']):.2f} reps={reps}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
