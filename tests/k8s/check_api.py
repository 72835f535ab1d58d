#!/usr/bin/env python3
"""Checks the semantics svcgw relies on against a running test API server,
with a client of its own (standard library HTTP over TLS, bearer token):

  resourceVersion order, 409 on a stale precondition, no-op writes, the
  Service status subresource (merge, strategic and JSON patches, PUT), watch
  from a resourceVersion, bookmarks, timeoutSeconds, selectors that objects
  enter and leave, pagination, finalizers, authentication and RBAC, and the
  watch-resume-after-compaction cycle: 410 Expired -> relist -> watch again.

Usage: check_api.py SERVER CA ADMIN_TOKEN SVCGW_TOKEN ETCD_URL
Prints one PASS/FAIL line per check and "check_api: N passed, N failed".
"""

import http.client
import json
import ssl
import sys
import time
from urllib.parse import urlsplit

from etcd import Etcd

NS = "check-api"
SVC = f"/api/v1/namespaces/{NS}/services"
SLICES = f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices"
MERGE = "application/merge-patch+json"
SMP = "application/strategic-merge-patch+json"
JSONPATCH = "application/json-patch+json"


class Client:
    def __init__(self, server: str, ca: str, token: str):
        u = urlsplit(server)
        self.host, self.port, self.token = u.hostname, u.port, token
        self.tls = ssl.create_default_context(cafile=ca)

    def conn(self, timeout: float = 10):
        return http.client.HTTPSConnection(self.host, self.port, context=self.tls, timeout=timeout)

    def call(self, method: str, path: str, body=None, ctype: str = "application/json", token=None):
        c = self.conn()
        headers = {"Accept": "application/json", "Content-Type": ctype}
        tok = self.token if token is None else token
        if tok:
            headers["Authorization"] = f"Bearer {tok}"
        c.request(method, path, json.dumps(body) if body is not None else None, headers)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, (json.loads(data) if data else None)

    def watch(self, path: str, timeout: float = 10):
        """(response, connection): read events with next_event()."""
        c = self.conn(timeout)
        c.request("GET", path, headers={"Accept": "application/json", "Authorization": f"Bearer {self.token}"})
        r = c.getresponse()
        return r, c


def next_event(resp):
    """The next event; None at the end of the stream; "timeout" when the
    connection's read timeout passed first."""
    try:
        line = resp.readline()
    except OSError:  # TimeoutError, then "cannot read from timed out object"
        return "timeout"
    return json.loads(line) if line.strip() else None


def events_until(resp, count: int, deadline_s: float = 10, skip_bookmarks: bool = True) -> list:
    out, end = [], time.monotonic() + deadline_s
    while len(out) < count and time.monotonic() < end:
        ev = next_event(resp)
        if ev is None or ev == "timeout":
            break
        if skip_bookmarks and ev["type"] == "BOOKMARK":
            continue
        out.append(ev)
    return out


def rv(obj) -> int:
    return int(obj["metadata"]["resourceVersion"])


def service(name: str, labels=None, **spec) -> dict:
    spec.setdefault("ports", [{"name": "http", "port": 80}])
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def eps(name: str, addr: str) -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 80}],
            "endpoints": [{"addresses": [addr], "conditions": {"ready": True}}]}


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def __call__(self, desc: str, ok: bool, detail="") -> bool:
        if ok:
            self.passed += 1
            print(f"PASS check_api: {desc}")
        else:
            self.failed += 1
            print(f"FAIL check_api: {desc} -- {detail}")
        return ok


def main() -> int:
    check = Checks()
    try:
        run(check, *sys.argv[1:6])
    except Exception as e:  # noqa: BLE001 - a crash is one more failure, with its reason
        check("the checks ran to the end", False, f"{type(e).__name__}: {e}")
    print(f"check_api: {check.passed} passed, {check.failed} failed")
    return 1 if check.failed else 0


def run(check: Checks, server: str, ca: str, admin_token: str, svcgw_token: str, etcd_url: str) -> None:
    api = Client(server, ca, admin_token)
    etcd = Etcd(etcd_url)

    st, _ = api.call("POST", "/api/v1/namespaces", {"metadata": {"name": NS}})
    if not check("create namespace", st == 201, st):
        return

    # ------------------------------------------------ versions and conflicts
    st, a1 = api.call("POST", SVC, service("web", {"app": "web"}, selector={"app": "web"}))
    check("create Service: 201 with a resourceVersion", st == 201 and rv(a1) > 0, (st, a1))
    st, dup = api.call("POST", SVC, service("web"))
    check("create it again: 409 AlreadyExists", st == 409 and dup.get("reason") == "AlreadyExists", (st, dup))
    st, a2 = api.call("PATCH", f"{SVC}/web", {"metadata": {"labels": {"tier": "edge"}}}, MERGE)
    check("a change raises the resourceVersion", st == 200 and rv(a2) > rv(a1), (st, a2))
    st, a3 = api.call("PATCH", f"{SVC}/web", {"metadata": {"labels": {"tier": "edge"}}}, MERGE)
    check("a patch that changes nothing keeps the resourceVersion", st == 200 and rv(a3) == rv(a2), (rv(a3), rv(a2)))
    stale = dict(a1, spec=dict(a1["spec"], sessionAffinity="ClientIP"))
    st, c = api.call("PUT", f"{SVC}/web", stale)
    check("PUT with a stale resourceVersion: 409 Conflict", st == 409 and c.get("reason") == "Conflict", (st, c))
    st, c = api.call("PATCH", f"{SVC}/web", {"metadata": {"resourceVersion": str(rv(a1))}, "spec": {"sessionAffinity": "ClientIP"}}, MERGE)
    check("PATCH naming a stale resourceVersion: 409 Conflict", st == 409, (st, c))
    st, c = api.call("DELETE", f"{SVC}/web", {"preconditions": {"resourceVersion": str(rv(a1))}})
    check("DELETE with a stale precondition: 409 Conflict", st == 409, (st, c))
    st, lst = api.call("GET", SVC)
    check("a list's resourceVersion is at least its items'", st == 200 and int(lst["metadata"]["resourceVersion"]) >= rv(a2), lst)
    check("list items carry no kind", st == 200 and "kind" not in lst["items"][0], lst["items"][0].keys())
    st, bad = api.call("POST", SVC, service("bad", ports=[{"port": 0}]))
    causes = [c["field"] for c in (bad or {}).get("details", {}).get("causes", [])]
    check("an invalid Service: 422 naming spec.ports[0].port", st == 422 and "spec.ports[0].port" in causes, (st, bad))
    st, nf = api.call("POST", "/api/v1/namespaces/nowhere/services", service("x"))
    check("create in a missing namespace: 404", st == 404, (st, nf))

    # ---------------------------------------------------- status subresource
    lb = service("lb", type="LoadBalancer", loadBalancerClass="svcgw.io/lb")
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.99"}]}}
    st, b1 = api.call("POST", SVC, lb)
    check("create ignores status; LoadBalancer gets a nodePort", st == 201 and b1["status"] == {"loadBalancer": {}} and b1["spec"]["ports"][0].get("nodePort", 0) >= 30000, b1)
    ingress = {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}}
    st, b2 = api.call("PATCH", f"{SVC}/lb/status", ingress, MERGE)
    check("merge-patch /status sets the ingress", st == 200 and b2["status"]["loadBalancer"]["ingress"] == [{"ip": "192.0.2.10"}] and rv(b2) > rv(b1), (st, b2))
    st, b3 = api.call("PATCH", f"{SVC}/lb/status", ingress, SMP)
    check("the same status as a strategic merge patch: no write", st == 200 and rv(b3) == rv(b2), (st, rv(b3), rv(b2)))
    st, b4 = api.call("PATCH", f"{SVC}/lb", {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.66"}]}}, "spec": {"sessionAffinity": "ClientIP"}}, MERGE)
    check("the main resource ignores status", st == 200 and b4["status"] == b2["status"] and b4["spec"]["sessionAffinity"] == "ClientIP", b4)
    st, b5 = api.call("PATCH", f"{SVC}/lb/status", {"spec": {"sessionAffinity": "None"}, "metadata": {"labels": {"x": "y"}}}, MERGE)
    check("/status ignores spec and metadata", st == 200 and b5["spec"]["sessionAffinity"] == "ClientIP" and "x" not in (b5["metadata"].get("labels") or {}), b5)
    st, b6 = api.call("PATCH", f"{SVC}/lb/status", [{"op": "replace", "path": "/status/loadBalancer/ingress/0/ip", "value": "192.0.2.11"}], JSONPATCH)
    check("json-patch /status", st == 200 and b6["status"]["loadBalancer"]["ingress"][0]["ip"] == "192.0.2.11", (st, b6))
    st, c = api.call("PUT", f"{SVC}/lb/status", dict(b5))
    check("PUT /status with a stale resourceVersion: 409", st == 409, (st, c))
    st, got = api.call("GET", f"{SVC}/lb/status")
    st2, b7 = api.call("PUT", f"{SVC}/lb/status", dict(got, status={"loadBalancer": {"ingress": [{"ip": "192.0.2.12"}]}}))
    check("GET then PUT /status", st == 200 and st2 == 200 and b7["status"]["loadBalancer"]["ingress"][0]["ip"] == "192.0.2.12", (st, st2, b7))

    # ------------------------------------------------------------ watch
    st, s1 = api.call("POST", SLICES, eps("web-1", "10.0.0.1"))
    start = rv(s1)
    st, s2 = api.call("PATCH", f"{SLICES}/web-1", {"endpoints": [{"addresses": ["10.0.0.2"]}]}, MERGE)
    st, s3 = api.call("PATCH", f"{SLICES}/web-1", {"endpoints": [{"addresses": ["10.0.0.3"]}]}, MERGE)
    st, _ = api.call("DELETE", f"{SLICES}/web-1")
    resp, conn = api.watch(f"{SLICES}?watch=true&resourceVersion={start}")
    evs = events_until(resp, 3)
    kinds = [e["type"] for e in evs]
    rvs = [rv(e["object"]) for e in evs]
    check("watch from N: exactly the changes after N, in order", kinds == ["MODIFIED", "MODIFIED", "DELETED"] and rvs[:2] == [rv(s2), rv(s3)], (kinds, rvs))
    check("DELETED carries the deletion's resourceVersion and the last state", len(evs) == 3 and rvs[2] > rv(s3) and evs[2]["object"]["endpoints"][0]["addresses"] == ["10.0.0.3"], evs[-1:])
    check("chunked stream", resp.getheader("Transfer-Encoding") == "chunked", resp.getheaders())
    conn.close()

    resp, conn = api.watch(f"{SLICES}?watch=true&allowWatchBookmarks=true&resourceVersion={start}")
    evs = events_until(resp, 4, deadline_s=8, skip_bookmarks=False)
    marks = [e for e in evs if e["type"] == "BOOKMARK"]
    check("a bookmark arrives on an idle watch, at or past the last change",
          marks and rv(marks[0]["object"]) >= rvs[-1] and set(marks[0]["object"]["metadata"]) == {"resourceVersion"}, evs)
    conn.close()
    resp, conn = api.watch(f"{SLICES}?watch=true&resourceVersion={rvs[-1]}&timeoutSeconds=3", timeout=10)
    t0 = time.monotonic()
    evs = events_until(resp, 1, deadline_s=8, skip_bookmarks=False)
    took = time.monotonic() - t0
    check("no bookmarks unless asked; timeoutSeconds ends the stream cleanly", evs == [] and 2.5 < took < 6, (evs, took))
    conn.close()

    st, cur = api.call("GET", f"{SVC}/web")
    resp, conn = api.watch(f"{SVC}?watch=true&labelSelector=tier%3Dedge&resourceVersion={rv(cur)}")
    api.call("PATCH", f"{SVC}/web", {"metadata": {"labels": {"tier": None}}}, MERGE)
    api.call("PATCH", f"{SVC}/web", {"metadata": {"labels": {"tier": "edge"}}}, MERGE)
    api.call("PATCH", f"{SVC}/lb", {"metadata": {"labels": {"other": "change"}}}, MERGE)
    evs = events_until(resp, 2)
    check("a label selector: leaving is DELETED, entering ADDED, others unseen", [e["type"] for e in evs] == ["DELETED", "ADDED"] and all(e["object"]["metadata"]["name"] == "web" for e in evs), evs)
    conn.close()
    st, lst = api.call("GET", f"{SVC}?fieldSelector=metadata.name%3Dlb")
    check("a field selector on metadata.name", st == 200 and [i["metadata"]["name"] for i in lst["items"]] == ["lb"], lst)
    resp, conn = api.watch(f"{SVC}?watch=true")
    evs = events_until(resp, 2)
    check("watch without a resourceVersion starts with the current objects as ADDED", sorted((e["type"], e["object"]["metadata"]["name"]) for e in evs) == [("ADDED", "lb"), ("ADDED", "web")], evs)
    conn.close()

    # ------------------------------------------------------------ finalizers
    held = eps("held", "10.0.0.9")
    held["metadata"]["finalizers"] = ["svcgw.io/test"]
    api.call("POST", SLICES, held)
    st, h = api.call("DELETE", f"{SLICES}/held")
    check("delete with a finalizer marks the object", st == 200 and h["metadata"].get("deletionTimestamp"), (st, h))
    st, h2 = api.call("PATCH", f"{SLICES}/held", {"metadata": {"finalizers": None}}, MERGE)
    st3, _ = api.call("GET", f"{SLICES}/held")
    check("removing the last finalizer deletes it", st == 200 and st3 == 404, (st, st3))

    # --------------------------------------------------------- pagination
    for i in range(5):
        api.call("POST", SLICES, eps(f"page-{i}", f"10.1.0.{i + 1}"))
    names, token, pages, page_rvs = [], "", 0, set()
    while pages < 10:
        q = f"{SLICES}?limit=2" + (f"&continue={token}" if token else "")
        st, page = api.call("GET", q)
        if st != 200:
            break
        pages += 1
        names += [i["metadata"]["name"] for i in page["items"]]
        page_rvs.add(page["metadata"]["resourceVersion"])
        token = page["metadata"].get("continue", "")
        if not token:
            break
    check("limit/continue: every object once, one resourceVersion", names == [f"page-{i}" for i in range(5)] and pages == 3 and len(page_rvs) == 1, (names, pages, page_rvs))

    # ------------------------------------- 410 after compaction, then relist
    st, first = api.call("GET", f"{SLICES}?limit=2")
    old_rv, old_token = first["metadata"]["resourceVersion"], first["metadata"].get("continue", "")
    api.call("PATCH", f"{SLICES}/page-0", {"metadata": {"labels": {"bump": "1"}}}, MERGE)
    api.call("PATCH", f"{SLICES}/page-0", {"metadata": {"labels": {"bump": "2"}}}, MERGE)
    etcd.compact(etcd.revision())
    resp, conn = api.watch(f"{SLICES}?watch=true&resourceVersion={old_rv}")
    evs = events_until(resp, 1)
    err = evs[0]["object"] if evs and evs[0]["type"] == "ERROR" else {}
    check("watch from a compacted resourceVersion: ERROR 410 Expired", err.get("code") == 410 and err.get("reason") == "Expired", evs)
    check("... and the stream ends", next_event(resp) is None)
    conn.close()
    st, e = api.call("GET", f"{SLICES}?resourceVersion={old_rv}&resourceVersionMatch=Exact")
    check("exact list at a compacted resourceVersion: 410", st == 410 and e.get("reason") == "Expired", (st, e))
    st, e = api.call("GET", f"{SLICES}?limit=2&continue={old_token}")
    check("continue token from before the compaction: 410", st == 410, (st, e))
    st, relist = api.call("GET", SLICES)
    new_rv = relist["metadata"]["resourceVersion"]
    check("relist after 410", st == 200 and int(new_rv) > int(old_rv) and len(relist["items"]) == 5, (st, new_rv))
    resp, conn = api.watch(f"{SLICES}?watch=true&allowWatchBookmarks=true&resourceVersion={new_rv}")
    st, p = api.call("PATCH", f"{SLICES}/page-1", {"endpoints": [{"addresses": ["10.1.0.99"]}]}, MERGE)
    evs = events_until(resp, 1)
    check("watch from the relisted resourceVersion sees the next change", evs and evs[0]["type"] == "MODIFIED" and rv(evs[0]["object"]) == rv(p), evs)
    conn.close()

    # --------------------------------------------------- authn and authz
    st, e = api.call("GET", SVC, token="")
    check("no token: 401", st == 401, (st, e))
    st, e = api.call("GET", SVC, token="not-a-token")
    check("a wrong token: 401", st == 401, (st, e))
    st, _ = api.call("GET", SVC, token=svcgw_token)
    resp, conn = Client(server, ca, svcgw_token).watch(f"{SLICES}?watch=true&timeoutSeconds=1")
    st2 = resp.status
    conn.close()
    check("svcgw may list Services and watch EndpointSlices", st == 200 and st2 == 200, (st, st2))
    st, _ = api.call("PATCH", f"{SVC}/lb/status", {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.13"}]}}}, MERGE, token=svcgw_token)
    check("svcgw may patch services/status", st == 200, st)
    st, e = api.call("PATCH", f"{SVC}/lb", {"spec": {"sessionAffinity": "None"}}, MERGE, token=svcgw_token)
    st2, _ = api.call("DELETE", f"{SVC}/lb", token=svcgw_token)
    st3, _ = api.call("POST", SLICES, eps("nope", "10.0.0.1"), token=svcgw_token)
    check("svcgw may not patch a Service, delete it, or create slices: 403", (st, st2, st3) == (403, 403, 403) and e.get("reason") == "Forbidden", (st, st2, st3, e))

    st, _ = api.call("DELETE", f"/api/v1/namespaces/{NS}")
    st2, left = api.call("GET", SLICES)
    check("deleting the namespace removes its objects", st == 200 and not left.get("items"), (st, left))


if __name__ == "__main__":
    sys.exit(main())
