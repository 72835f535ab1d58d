"""A small etcd v3 client over etcd's gRPC-gateway JSON API (HTTP/1.1).

The test API server keeps every object in etcd, as kube-apiserver does, and
uses etcd's revisions as resourceVersions. Only the calls it needs are here:
range (optionally at a past revision), transactions with mod_revision
preconditions, compaction, and watch streams with progress notifications.

Standard library only. One HTTP connection per thread for unary calls; one
connection per watch stream (a watch owns its connection until closed).
"""

import base64
import http.client
import json
import queue
import socket
import threading
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

# etcd answers errors of the mvcc layer with gRPC code OUT_OF_RANGE (11);
# the message tells which one.
_COMPACTED = "required revision has been compacted"
_FUTURE = "required revision is a future revision"


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def _unb64(s: str) -> bytes:
    return base64.b64decode(s) if s else b""


def prefix_end(prefix: str) -> str:
    """The range end that selects every key starting with prefix."""
    b = bytearray(prefix.encode())
    b[-1] += 1  # our prefixes end in "/", never in 0xff
    return b.decode()


class EtcdError(Exception):
    pass


class Compacted(EtcdError):
    """A read or watch asked for a revision older than the compaction."""


class FutureRevision(EtcdError):
    """A read asked for a revision etcd has not reached."""


@dataclass
class KV:
    key: str
    value: bytes
    mod_revision: int
    create_revision: int


def _kv(j: dict) -> KV:
    return KV(
        key=_unb64(j.get("key", "")).decode(),
        value=_unb64(j.get("value", "")),
        mod_revision=int(j.get("mod_revision", 0)),
        create_revision=int(j.get("create_revision", 0)),
    )


@dataclass
class WatchEvent:
    kind: str  # "PUT" or "DELETE"
    kv: KV
    prev: Optional[KV]  # the value before this event (watches ask prev_kv)


@dataclass
class WatchResponse:
    """One message of an etcd watch stream."""

    revision: int  # the header revision
    events: list
    compact_revision: int = 0  # > 0: the start revision was compacted
    canceled: bool = False
    created: bool = False

    @property
    def is_progress(self) -> bool:
        # A progress notification: no events, not the creation answer. etcd
        # has sent every event up to `revision` on this stream.
        return not self.events and not self.created and not self.canceled


class Etcd:
    def __init__(self, endpoint: str, timeout: float = 10.0):
        u = urlsplit(endpoint)
        if u.scheme != "http" or not u.hostname or not u.port:
            raise ValueError(f"etcd endpoint must be http://HOST:PORT, not {endpoint!r}")
        self.host, self.port, self.timeout = u.hostname, u.port, timeout
        self._local = threading.local()

    # ------------------------------------------------------------ unary calls

    def _call(self, path: str, body: dict) -> dict:
        data = json.dumps(body).encode()
        for attempt in (0, 1):  # once more on a keep-alive connection etcd closed
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self._local.conn = conn
            try:
                conn.request("POST", path, data, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                self._local.conn = None
                if attempt:
                    raise
        j = json.loads(raw or b"{}")
        if "error" in j or resp.status != 200:
            msg = j.get("message") or j.get("error") or f"HTTP {resp.status}"
            if _COMPACTED in msg:
                raise Compacted(msg)
            if _FUTURE in msg:
                raise FutureRevision(msg)
            raise EtcdError(f"{path}: {msg}")
        return j

    def range(self, key: str, end: Optional[str] = None, revision: int = 0, limit: int = 0):
        """(header revision, [KV], more) for key, or [key, end) when end is set."""
        body = {"key": _b64(key)}
        if end:
            body["range_end"] = _b64(end)
        if revision:
            body["revision"] = str(revision)
        if limit:
            body["limit"] = str(limit)
        j = self._call("/v3/kv/range", body)
        return int(j["header"]["revision"]), [_kv(k) for k in j.get("kvs", [])], bool(j.get("more"))

    def get(self, key: str, revision: int = 0):
        """(header revision, KV or None)."""
        rev, kvs, _ = self.range(key, revision=revision)
        return rev, (kvs[0] if kvs else None)

    def revision(self) -> int:
        return self.range("\0", limit=1)[0]

    def txn(self, compare: list, success: list, failure: Optional[list] = None):
        """(succeeded, header revision, responses) of one transaction."""
        j = self._call("/v3/kv/txn", {"compare": compare, "success": success, "failure": failure or []})
        return bool(j.get("succeeded")), int(j["header"]["revision"]), j.get("responses", [])

    # Transaction pieces. mod_revision 0 in a compare means "key absent".
    @staticmethod
    def cmp_mod(key: str, mod_revision: int) -> dict:
        return {"key": _b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(mod_revision)}

    @staticmethod
    def op_put(key: str, value: bytes) -> dict:
        return {"request_put": {"key": _b64(key), "value": base64.b64encode(value).decode()}}

    @staticmethod
    def op_delete(key: str) -> dict:
        return {"request_delete_range": {"key": _b64(key)}}

    def compact(self, revision: int) -> None:
        self._call("/v3/kv/compaction", {"revision": str(revision), "physical": True})

    # ------------------------------------------------------------------ watch

    def watch(self, key: str, end: Optional[str] = None, start_revision: int = 0) -> "Watch":
        req = {"key": _b64(key), "progress_notify": True, "prev_kv": True}
        if end:
            req["range_end"] = _b64(end)
        if start_revision:
            req["start_revision"] = str(start_revision)
        return Watch(self.host, self.port, {"create_request": req})


class Watch:
    """One etcd watch stream. A reader thread parses messages into a queue so
    the consumer can wait with a deadline; close() ends the stream."""

    def __init__(self, host: str, port: int, create: dict):
        self._q: "queue.Queue" = queue.Queue()
        self._sock = socket.create_connection((host, port), timeout=10)
        self._sock.settimeout(None)  # the stream idles between progress notifications
        body = json.dumps(create).encode()
        head = (
            f"POST /v3/watch HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self._sock.sendall(head.encode() + body)
        self._closed = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            resp = http.client.HTTPResponse(self._sock, method="POST")
            resp.begin()
            if resp.status != 200:
                raise EtcdError(f"watch: HTTP {resp.status}")
            while True:
                line = resp.readline()  # one JSON message per line, chunked
                if not line:
                    break
                if not line.strip():
                    continue
                self._q.put(self._parse(json.loads(line)))
        except Exception as e:  # noqa: BLE001 - handed to the consumer
            if not self._closed:
                self._q.put(e)
        self._q.put(None)

    @staticmethod
    def _parse(j: dict) -> WatchResponse:
        if "error" in j:
            raise EtcdError(f"watch: {j['error'].get('message', j['error'])}")
        r = j.get("result", {})
        events = []
        for e in r.get("events", []):
            prev = e.get("prev_kv")
            events.append(WatchEvent(e.get("type", "PUT"), _kv(e["kv"]), _kv(prev) if prev else None))
        return WatchResponse(
            revision=int(r.get("header", {}).get("revision", 0)),
            events=events,
            compact_revision=int(r.get("compact_revision", 0)),
            canceled=bool(r.get("canceled")),
            created=bool(r.get("created")),
        )

    def next(self, timeout: Optional[float] = None) -> Optional[WatchResponse]:
        """The next message; None at the end of the stream; raises
        queue.Empty when nothing arrives within timeout, or the stream's error."""
        item = self._q.get(timeout=timeout)
        if item is None:
            self._q.put(None)  # stays at the end
            return None
        if isinstance(item, Exception):
            raise item
        return item

    def close(self) -> None:
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
