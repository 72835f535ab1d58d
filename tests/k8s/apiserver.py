#!/usr/bin/env python3
"""svcgw's test Kubernetes API server: a thin kube-apiserver facade over etcd.

Debian packages no kube-apiserver; this serves the part of the Kubernetes API
that svcgw and kubectl use (README.md beside it lists it exactly), with the
objects in a real etcd and etcd revisions as resourceVersions. HTTPS only,
bearer tokens (a kube-apiserver --token-auth-file) or client certificates
(--client-ca-file), RBAC-style rules per user.

One thread per connection (ThreadingHTTPServer); a watch holds its thread and
one etcd watch stream for its lifetime. Standard library only.

Usage: apiserver.py --etcd http://127.0.0.1:PORT --tls-cert C --tls-key K
         --token-file F [--client-ca-file CA] [--role USER=CLUSTERROLE.json] [--admin USER]
         [--listen 127.0.0.1:0] [--port-file F] [--lifetime S] ...
"""

import argparse
import datetime
import ipaddress
import json
import random
import os
import select
import signal
import ssl
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import auth
import patch as patches
import resources
import services
from etcd import Etcd
from store import ApiError, Store, bad_request
from watch import Watcher

# What /version reports: the API as of this release is what the served kinds
# follow (discovery.k8s.io/v1, Service.spec.loadBalancerClass, ...).
VERSION = {"major": "1", "minor": "26", "gitVersion": "v1.26.0-svcgw-test", "platform": "linux/amd64"}
# kube-apiserver's request body limit (apiserver MaxRequestBodyBytes, 3 MiB).
MAX_BODY_BYTES = 3 * 1024 * 1024
# A TLS handshake that takes longer is a dead or hostile client.
HANDSHAKE_TIMEOUT_S = 10
# Idle keep-alive connections close after this (Go clients reconnect).
IDLE_TIMEOUT_S = 120
# How often a watch checks its deadline and whether its client hung up.
WATCH_POLL_S = 0.5
TABLE_GROUP_VERSIONS = ("meta.k8s.io/v1", "meta.k8s.io/v1beta1")


def internal_error(e: Exception) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {e}", {"causes": [{"message": str(e)}]})


# ------------------------------------------------------------------ discovery

_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
_SUB_VERBS = ["get", "patch", "update"]


def api_resource_list(group: str, version: str) -> dict:
    out = []
    for r in resources.RESOURCES:
        if (r.group, r.version) != (group, version):
            continue
        entry = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind, "verbs": _VERBS}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        out.append(entry)
        if r.has_status:
            out.append({"name": f"{r.plural}/status", "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": _SUB_VERBS})
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}


def api_group(group: str) -> dict:
    versions = [{"groupVersion": f"{g}/{ver}", "version": ver} for g, ver in resources.GROUP_VERSIONS if g == group]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list() -> dict:
    groups = sorted({g for g, _ in resources.GROUP_VERSIONS if g})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [api_group(g) for g in groups]}


def openapi_v2_protobuf() -> bytes:
    """An OpenAPI v2 document with no definitions, as gnostic's protobuf
    (openapi.v2.Document: swagger=1, info=2 {title=1, version=2}, paths=8).
    kubectl fetches it for validation and apply: with no schema for a kind it
    skips client-side validation and merges by its built-in types."""

    def field(num: int, payload: bytes) -> bytes:
        return bytes([num << 3 | 2, len(payload)]) + payload  # payloads < 128 bytes

    info = field(1, b"svcgw test API server") + field(2, VERSION["gitVersion"].encode())
    return field(1, b"2.0") + field(2, info) + field(8, b"")


# --------------------------------------------------------------------- tables


def as_table(res, objs: list, list_meta: dict, include: str, group_version: str) -> dict:
    now = datetime.datetime.now(datetime.timezone.utc)
    rows = []
    for o in objs:
        row = {"cells": res.table_cells(o, now)}
        if include == "Object":
            row["object"] = dict(o, kind=res.kind, apiVersion=res.api_version)
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}
        rows.append(row)
    return {"kind": "Table", "apiVersion": group_version, "metadata": list_meta, "columnDefinitions": res.table_columns(), "rows": rows}


def negotiate(accept: str):
    """'json' or ('table', group/version) from an Accept header, in the client's order."""
    for item in (accept or "*/*").split(","):
        parts = [p.strip() for p in item.split(";")]
        mime, params = parts[0], dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        if mime not in ("application/json", "application/*", "*/*"):
            continue
        if "as" not in params:
            return "json"
        gv = f"{params.get('g', '')}/{params.get('v', '')}"
        if params["as"] == "Table" and gv in TABLE_GROUP_VERSIONS:
            return ("table", gv)
    return None


# --------------------------------------------------------------------- server


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S
    server_version = "svcgw-test-apiserver"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write(f"{self.log_date_time_string()} {self.address_string()} {fmt % args}\n")

    # ---------------------------------------------------------------- replies

    def reply(self, code: int, body, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else (json.dumps(body, separators=(",", ":")) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def fail(self, e: ApiError) -> None:
        self.reply(e.code, e.status())

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                try:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                except ValueError:
                    self.close_connection = True
                    raise bad_request("malformed chunked body") from None
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
                if len(data) > MAX_BODY_BYTES:
                    self.close_connection = True
                    raise ApiError(413, "RequestEntityTooLarge", "the request body is too large")
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit():
            self.close_connection = True
            raise bad_request(f"bad Content-Length {length!r}")
        length = int(length)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise ApiError(413, "RequestEntityTooLarge", "the request body is too large")
        return self.rfile.read(length) if length else b""

    def json_body(self):
        try:
            return json.loads(self.body or b"null")
        except ValueError as e:
            raise bad_request(f"the body is not JSON: {e}") from None

    # --------------------------------------------------------------- dispatch

    def do_GET(self):
        self.handle_request()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def handle_request(self) -> None:
        url = urlsplit(self.path)
        self.query = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            # Read first: an error answered before the body was read would
            # leave it in the stream, where it would be taken for the next
            # request on this keep-alive connection.
            self.body = self.read_body()
            # kube-apiserver's order: a verified client certificate first,
            # then the bearer token.
            user = auth.certificate_user(self.connection.getpeercert()) or self.server.authn.user(
                self.headers.get("Authorization", "")
            )
            if user is None:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            parts = [p for p in url.path.split("/") if p]
            if self.non_resource(parts):
                return
            self.resource(parts, user)
        except ApiError as e:
            self.fail(e)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - etcd away, or a bug: a 500, as kube answers
            traceback.print_exc()
            self.close_connection = True
            try:
                self.fail(internal_error(e))
            except OSError:
                pass

    def non_resource(self, parts: list) -> bool:
        p = "/" + "/".join(parts)
        if self.command != "GET":
            return p in ("/", "/api", "/apis", "/version") and self.fail_method()
        if p in ("/healthz", "/livez", "/readyz"):
            self.server.etcd.revision()  # answers only while etcd does
            self.reply(200, b"ok", "text/plain; charset=utf-8")
        elif p == "/version":
            self.reply(200, VERSION)
        elif p == "/api":
            addr = f"{self.server.server_address[0]}:{self.server.server_address[1]}"
            self.reply(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]})
        elif p == "/apis":
            self.reply(200, api_group_list())
        elif p == "/api/v1":
            self.reply(200, api_resource_list("", "v1"))
        elif len(parts) == 2 and parts[0] == "apis" and any(g == parts[1] for g, _ in resources.GROUP_VERSIONS):
            self.reply(200, api_group(parts[1]))
        elif len(parts) == 3 and parts[0] == "apis" and (parts[1], parts[2]) in resources.GROUP_VERSIONS:
            self.reply(200, api_resource_list(parts[1], parts[2]))
        elif p == "/openapi/v2":
            if "protobuf" in self.headers.get("Accept", ""):
                self.reply(200, openapi_v2_protobuf(), "application/octet-stream")
            else:
                self.reply(200, {"swagger": "2.0", "info": {"title": "svcgw test API server", "version": VERSION["gitVersion"]}, "paths": {}})
        else:
            return False
        return True

    def fail_method(self) -> bool:
        self.fail(ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource"))
        return True

    def resource(self, parts: list, user: str) -> None:
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        ns = ""
        if len(rest) >= 3 and rest[0] == "namespaces" and not (group == "" and rest[2] in ("status", "finalize")):
            ns, rest = rest[1], rest[2:]
        res = resources.BY_PATH.get((group, version, rest[0] if rest else ""))
        if res is None or len(rest) > 3 or (ns and not res.namespaced):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if sub and (sub != "status" or not res.has_status):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        verb = self.verb(name)
        self.server.authz.check(user, verb, res, ns, name, sub)
        if res.namespaced and name and not ns:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        getattr(self, "do_" + verb)(res, ns, name, sub)

    def verb(self, name: str) -> str:
        m = self.command
        if m in ("GET", "HEAD"):
            if not name:
                return "watch" if self.query.get("watch") in ("true", "1") else "list"
            return "get"
        verbs = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
        if (m == "POST") == bool(name) or m not in verbs:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        return verbs[m]

    def dry_run(self) -> bool:
        d = self.query.get("dryRun", "")
        if d not in ("", "All"):
            raise bad_request(f'dryRun: Unsupported value: "{d}": supported values: "All"')
        return d == "All"

    def output(self, res):
        out = negotiate(self.headers.get("Accept", ""))
        if out is None:
            raise ApiError(406, "NotAcceptable", "only the following media types are accepted: application/json, application/json;as=Table;v=v1;g=meta.k8s.io")
        return out

    # ------------------------------------------------------------------ verbs

    def do_get(self, res, ns, name, sub):
        out = self.output(res)
        obj = self.server.store.get(res, ns, name)
        if out == "json":
            self.reply(200, obj)
        else:
            self.reply(200, as_table(res, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}, self.query.get("includeObject", "Metadata"), out[1]))

    def do_list(self, res, ns, name, sub):
        out = self.output(res)
        items, rv, token = self.server.store.list(res, ns, self.query)
        meta = {"resourceVersion": rv}
        if token:
            meta["continue"] = token
        if out != "json":
            return self.reply(200, as_table(res, items, meta, self.query.get("includeObject", "Metadata"), out[1]))
        for o in items:  # items of a list carry no kind/apiVersion
            o.pop("kind", None)
            o.pop("apiVersion", None)
        self.reply(200, {"kind": f"{res.kind}List", "apiVersion": res.api_version, "metadata": meta, "items": items})

    def do_create(self, res, ns, name, sub):
        body = self.json_body()
        if not isinstance(body, dict):
            raise bad_request("the body must be a JSON object")
        self.check_kind(res, body)
        self.reply(201, self.server.store.create(res, ns, body, self.dry_run()))

    def do_update(self, res, ns, name, sub):
        body = self.json_body()
        if isinstance(body, dict):
            self.check_kind(res, body)
        self.reply(200, self.server.store.replace(res, ns, name, body, sub, self.dry_run()))

    def do_patch(self, res, ns, name, sub):
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype not in patches.PATCHERS:
            supported = ", ".join(patches.PATCHERS)
            raise ApiError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - accepted media types include: {supported} (not "{ctype}")')
        self.reply(200, self.server.store.patch(res, ns, name, ctype, self.json_body(), sub, self.dry_run()))

    def do_delete(self, res, ns, name, sub):
        options = self.json_body() or {}
        if not isinstance(options, dict):
            raise bad_request("the body must be DeleteOptions")
        obj, gone = self.server.store.delete(res, ns, name, options, self.dry_run())
        if not gone:
            return self.reply(200, obj)  # held by finalizers: marked, not gone
        self.reply(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                         "details": {"name": name, "group": res.group, "kind": res.plural, "uid": obj["metadata"]["uid"]}})

    def check_kind(self, res, body: dict) -> None:
        kind, av = body.get("kind"), body.get("apiVersion")
        if (kind and kind != res.kind) or (av and av != res.api_version):
            raise bad_request(f"the API version in the data ({av}) and kind ({kind}) do not match the request ({res.api_version}, {res.kind})")

    def do_watch(self, res, ns, name, sub):
        out = self.output(res)
        timeout = self.query.get("timeoutSeconds")
        if timeout is not None and not timeout.isdigit():
            raise bad_request(f"timeoutSeconds: Invalid value: {timeout!r}")
        if not timeout:
            # kube-apiserver: a random duration in [min, 2*min) spreads reconnects.
            timeout = self.server.min_request_timeout * (1 + random.random())
        deadline = time.monotonic() + float(timeout)
        w = Watcher(self.server.store, res, ns, self.query)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache, private")
            self.end_headers()
            include = self.query.get("includeObject", "Metadata")
            while not w.done and time.monotonic() < deadline and not self.client_gone():
                try:
                    events = w.next(min(WATCH_POLL_S, max(0.0, deadline - time.monotonic())))
                except Exception as e:  # noqa: BLE001 - etcd's stream broke: the watch ends with an ERROR
                    events, w.done = [{"type": "ERROR", "object": internal_error(e).status()}], True
                for ev in events:
                    if out != "json" and ev["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        o = ev["object"]
                        ev = {"type": ev["type"], "object": as_table(res, [o], {"resourceVersion": o["metadata"]["resourceVersion"]}, include, out[1])}
                    # One event per chunk, as kube-apiserver flushes them.
                    data = (json.dumps(ev, separators=(",", ":")) + "\n").encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")
        finally:
            w.close()

    def client_gone(self) -> bool:
        # A watch client sends nothing after its request: readable means it
        # closed (or broke the protocol); either way the stream ends.
        r, _, _ = select.select([self.connection], [], [], 0)
        return bool(r)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, addr, tls: ssl.SSLContext, **kw):
        super().__init__(addr, Handler)
        self.tls = tls
        for k, val in kw.items():
            setattr(self, k, val)

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the connection's own thread, so a
        # slow client cannot stall accept().
        request.settimeout(HANDSHAKE_TIMEOUT_S)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            conn.close()


def compactor(etcd: Etcd, interval: float) -> None:
    """kube-apiserver's periodic compaction (--etcd-compaction-interval):
    each round compacts to the revision the previous round saw."""
    last = 0
    while True:
        time.sleep(interval)
        try:
            current = etcd.revision()
            if last:
                etcd.compact(last)
            last = current
        except Exception as e:  # noqa: BLE001 - etcd away: try again next round
            print(f"apiserver: compaction: {e}", file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--etcd", required=True, help="etcd client URL, http://HOST:PORT")
    ap.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0: any free one)")
    ap.add_argument("--port-file", help="write the bound port here once serving")
    ap.add_argument("--tls-cert", required=True)
    ap.add_argument("--tls-key", required=True)
    ap.add_argument("--token-file", required=True, help="kube-apiserver --token-auth-file format")
    ap.add_argument("--client-ca-file", help="accept client certificates this CA signed (user = subject CN)")
    ap.add_argument("--admin", action="append", default=[], help="a user allowed everything")
    ap.add_argument("--role", action="append", default=[], help="USER=FILE: a ClusterRole (JSON) bound to USER")
    ap.add_argument("--service-cluster-ip-range", default="10.96.0.0/16")
    ap.add_argument("--min-request-timeout", type=float, default=1800, help="watches without timeoutSeconds last [T, 2T) seconds")
    ap.add_argument("--compaction-interval", type=float, default=0, help="seconds; 0: never (kube's default is 300)")
    ap.add_argument("--lifetime", type=float, default=0, help="exit after this many seconds (0: run until signalled)")
    ap.add_argument("-v", "--verbose", action="store_true", help="log every request")
    a = ap.parse_args()

    host, _, port = a.listen.rpartition(":")
    etcd = Etcd(a.etcd)
    store = Store(etcd, services.Ranges(ipaddress.ip_network(a.service_cluster_ip_range)))
    store.bootstrap()
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(a.tls_cert, a.tls_key)
    tls.set_alpn_protocols(["http/1.1"])
    if a.client_ca_file:
        # Optional, as kube-apiserver: a client without a certificate may
        # still present a token; one with a certificate the CA did not sign
        # fails the handshake.
        tls.load_verify_locations(a.client_ca_file)
        tls.verify_mode = ssl.CERT_OPTIONAL
    authz = auth.Authorizer(a.admin, dict(r.split("=", 1) for r in a.role))
    srv = Server((host or "127.0.0.1", int(port or 0)), tls, etcd=etcd, store=store, authn=auth.Tokens(a.token_file),
                 authz=authz, min_request_timeout=a.min_request_timeout, verbose=a.verbose)
    if a.compaction_interval:
        threading.Thread(target=compactor, args=(etcd, a.compaction_interval), daemon=True).start()

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if a.lifetime:
        timer = threading.Timer(a.lifetime, stop)
        timer.daemon = True
        timer.start()
    bound = srv.server_address[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(f"{bound}\n")
        os.replace(a.port_file + ".tmp", a.port_file)
    print(f"apiserver: serving https://{srv.server_address[0]}:{bound} (etcd {a.etcd})", file=sys.stderr, flush=True)
    srv.serve_forever(poll_interval=0.2)
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
