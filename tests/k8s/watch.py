"""WATCH: an etcd watch translated into Kubernetes watch events.

Start (?resourceVersion=):
  unset or "0": the current state as ADDED events (read at revision R), then
                every change after R;
  N:            every change after N; if etcd compacted past N, one ERROR
                event with a 410 Expired Status and the end of the stream.
Events: ADDED, MODIFIED, DELETED (the last state, with the deletion's
resourceVersion), and with ?allowWatchBookmarks=true, BOOKMARK: an object of
the kind carrying only metadata.resourceVersion, sent when etcd reports that
every change up to that revision has been delivered (its progress
notification: the bookmark interval is etcd's
--experimental-watch-progress-notify-interval).
Selectors apply to both states of a change, as in kube-apiserver: an object
that starts matching is ADDED, one that stops matching is DELETED.
"""

import queue

from etcd import prefix_end
from store import bad_request, expired


class Watcher:
    def __init__(self, store, res, ns: str, q: dict):
        self.store, self.res = store, res
        self.sel = store.selectors(res, q.get("labelSelector", ""), q.get("fieldSelector", ""))
        self.bookmarks = q.get("allowWatchBookmarks") == "true"
        rv = q.get("resourceVersion", "")
        if rv and not rv.isdigit():
            raise bad_request(f'resourceVersion: Invalid value: "{rv}": must be a non-negative integer')
        self.pending = []
        if rv in ("", "0"):
            items, current, _ = store.list(res, ns, {k: q[k] for k in ("labelSelector", "fieldSelector") if k in q})
            self.pending = [self._event("ADDED", obj) for obj in items]
            start = int(current) + 1
        else:
            start = int(rv) + 1
        self.asked = rv
        d = store.dir(res, ns)
        self._w = store.etcd.watch(d, prefix_end(d), start_revision=start)
        self.done = False

    def _event(self, kind: str, obj: dict) -> dict:
        obj = dict(obj)
        obj["kind"], obj["apiVersion"] = self.res.kind, self.res.api_version
        return {"type": kind, "object": obj}

    def next(self, timeout: float) -> list:
        """The next events (possibly none within timeout); self.done at the end."""
        if self.pending:
            out, self.pending = self.pending, []
            return out
        try:
            r = self._w.next(timeout=timeout)
        except queue.Empty:
            return []
        if r is None or (r.canceled and not r.compact_revision):
            self.done = True
            return []
        if r.compact_revision:
            self.done = True
            status = expired(f"too old resource version: {self.asked} ({r.compact_revision})").status()
            return [{"type": "ERROR", "object": status}]
        if r.created:
            return []
        if r.is_progress:
            if not self.bookmarks:
                return []
            mark = {"kind": self.res.kind, "apiVersion": self.res.api_version, "metadata": {"resourceVersion": str(r.revision)}}
            return [{"type": "BOOKMARK", "object": mark}]
        out = []
        for e in r.events:
            rev = e.kv.mod_revision
            old = self.store.decode(self.res, e.prev, rev) if e.prev else None
            old_ok = old is not None and self.store.matches(self.res, old, self.sel)
            if e.kind == "DELETE":
                if old_ok:
                    out.append(self._event("DELETED", old))
                continue
            new = self.store.decode(self.res, e.kv)
            new_ok = self.store.matches(self.res, new, self.sel)
            if new_ok:
                out.append(self._event("MODIFIED" if old_ok else "ADDED", new))
            elif old_ok:
                out.append(self._event("DELETED", old))
        return out

    def close(self) -> None:
        self._w.close()
