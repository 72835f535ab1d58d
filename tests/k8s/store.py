"""Objects in etcd with kube-apiserver's storage semantics.

Layout and versions as kube-apiserver's etcd3 storage keeps them:
  - one key per object, /registry/<resource dir>/[<namespace>/]<name>, the
    value the object's JSON without metadata.resourceVersion;
  - resourceVersion = the etcd revision that last wrote the key (a list's
    resourceVersion is the revision it was read at; a deletion's, the
    revision of the delete);
  - writes are transactions compared on the key's mod_revision, so a stale
    resourceVersion precondition is a 409 Conflict and concurrent writers
    never lose an update (the GuaranteedUpdate loop);
  - an update that changes nothing is not written: no new resourceVersion,
    no watch event;
  - reads at an old revision (exact lists, continue tokens) and watches
    from an old revision fail with 410 Expired once etcd compacted it.
Thread-safe: the HTTP server calls it from one thread per request.
"""

import base64
import copy
import datetime
import json
import random
import threading
import uuid

import patch as patches
import resources
import services
from etcd import Compacted, Etcd, FutureRevision, prefix_end
from selection import FieldSelector, LabelSelector

# Namespaces kube-apiserver creates at start and refuses to delete.
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
UNDELETABLE_NAMESPACES = ("default", "kube-system", "kube-public")
# generateName suffix: 5 characters of apimachinery's alphabet (no vowels, no 0/1/3).
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SUFFIX_LEN = 5
# kube-apiserver's message for an expired continue token (apimachinery storage).
_CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter."
)


class ApiError(Exception):
    """An error answered as a metav1.Status."""

    def __init__(self, code: int, reason: str, message: str, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict:
        s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
             "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            s["details"] = self.details
        return s


def not_found(res, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{res.plural} "{name}" not found', {"name": name, "kind": res.plural})


def conflict(res, name: str, why: str = "the object has been modified; please apply your changes to the latest version and try again") -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.plural} "{name}": {why}', {"name": name, "kind": res.plural})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def invalid(res, name: str, errs: list) -> ApiError:
    causes = [{"reason": e.reason, "message": e.detail, "field": e.field} for e in errs]
    text = ", ".join(e.message for e in errs)
    message = f'{res.kind} "{name}" is invalid: ' + (f"[{text}]" if len(errs) > 1 else text)
    return ApiError(422, "Invalid", message, {"name": name, "group": res.group, "kind": res.kind, "causes": causes})


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rv(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("resourceVersion") or ""


class Store:
    def __init__(self, etcd: Etcd, ranges: services.Ranges, prefix: str = "/registry"):
        self.etcd, self.ranges, self.prefix = etcd, ranges, prefix
        # Service writes read every Service to allocate addresses; one at a
        # time, so two creates cannot take the same ClusterIP or nodePort.
        self._service_lock = threading.Lock()

    # ------------------------------------------------------------ keys, codec

    def key(self, res, ns: str, name: str) -> str:
        return f"{self.dir(res, ns)}{name}"

    def dir(self, res, ns: str = "") -> str:
        d = f"{self.prefix}/{res.etcd_dir}/"
        return f"{d}{ns}/" if res.namespaced and ns else d

    def decode(self, res, kv, revision: int = 0) -> dict:
        obj = json.loads(kv.value)
        obj["metadata"]["resourceVersion"] = str(revision or kv.mod_revision)
        return obj

    @staticmethod
    def encode(obj: dict) -> bytes:
        stored = copy.deepcopy(obj)
        stored["metadata"].pop("resourceVersion", None)
        return json.dumps(stored, separators=(",", ":")).encode()

    # ------------------------------------------------------------------ reads

    def get(self, res, ns: str, name: str) -> dict:
        _, kv = self.etcd.get(self.key(res, ns, name))
        if kv is None:
            raise not_found(res, name)
        return self.decode(res, kv)

    def selectors(self, res, label: str, field: str):
        try:
            return LabelSelector(label), FieldSelector(field, res.field_names())
        except ValueError as e:
            raise bad_request(str(e)) from None

    def matches(self, res, obj: dict, sel) -> bool:
        label, field = sel
        return label.matches(obj["metadata"].get("labels")) and field.matches(res.fields(obj))

    def list(self, res, ns: str, q: dict):
        """(items, resourceVersion, continue token) for ?resourceVersion=,
        resourceVersionMatch=, limit=, continue=, labelSelector=, fieldSelector=."""
        sel = self.selectors(res, q.get("labelSelector", ""), q.get("fieldSelector", ""))
        rv, match = q.get("resourceVersion", ""), q.get("resourceVersionMatch", "")
        limit = self._int(q.get("limit", "0"), "limit")
        start, end, revision = self.dir(res, ns), prefix_end(self.dir(res, ns)), 0
        if rv and not rv.isdigit():
            raise bad_request(f'resourceVersion: Invalid value: "{rv}": must be a non-negative integer')
        if match and match not in ("Exact", "NotOlderThan"):
            raise bad_request(f'resourceVersionMatch: Unsupported value: "{match}"')
        if match and not rv:
            raise bad_request('resourceVersionMatch is forbidden unless resourceVersion is provided')
        if q.get("continue"):
            if rv:
                raise bad_request("specifying resource version is not allowed when using continue")
            revision, start = self._decode_continue(q["continue"], start)
        elif match == "Exact":
            if rv == "0":
                raise bad_request('resourceVersionMatch "Exact" is forbidden for resourceVersion "0"')
            revision = int(rv)
        elif rv == "0":
            limit = 0  # "any version": kube serves it from its cache, unpaginated
        items, last_key, more = [], "", False
        try:
            while True:
                page = limit - len(items) if limit else 0
                current, kvs, more = self.etcd.range(start, end, revision=revision, limit=page)
                if not revision:
                    if rv and rv != "0" and int(rv) > current:
                        raise ApiError(504, "Timeout", f"Too large resource version: {rv}, current: {current}",
                                       {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1})
                    revision = current  # later pages read the same revision
                for kv in kvs:
                    obj = self.decode(res, kv)
                    if self.matches(res, obj, sel):
                        items.append(obj)
                if kvs:
                    last_key = kvs[-1].key
                    start = last_key + "\0"
                if not more or not limit or len(items) >= limit:
                    break
        except Compacted:
            if q.get("continue"):
                raise expired(_CONTINUE_EXPIRED) from None
            raise expired(f"too old resource version: {rv}") from None
        except FutureRevision:
            raise ApiError(504, "Timeout", f"Too large resource version: {revision}",
                           {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}]}) from None
        token = self._encode_continue(revision, last_key) if more and limit else ""
        return items, str(revision), token

    @staticmethod
    def _int(text: str, name: str) -> int:
        if not text.isdigit():
            raise bad_request(f"{name}: Invalid value: {text!r}: must be a non-negative integer")
        return int(text)

    @staticmethod
    def _encode_continue(revision: int, last_key: str) -> str:
        token = {"v": "meta.k8s.io/v1", "rv": revision, "start": last_key + "\0"}
        return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()

    @staticmethod
    def _decode_continue(token: str, prefix: str):
        try:
            j = json.loads(base64.urlsafe_b64decode(token.encode()))
            if j.get("v") != "meta.k8s.io/v1" or not j["start"].startswith(prefix) or int(j["rv"]) <= 0:
                raise ValueError
            return int(j["rv"]), j["start"]
        except (ValueError, KeyError, TypeError):
            raise bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)") from None

    # ----------------------------------------------------------------- writes

    def _check_namespace(self, res, ns: str) -> None:
        if res.namespaced:
            _, kv = self.etcd.get(self.key(resources.BY_PATH[("", "v1", "namespaces")], "", ns))
            if kv is None:
                raise ApiError(404, "NotFound", f'namespaces "{ns}" not found', {"name": ns, "kind": "namespaces"})

    def _admit(self, res, obj: dict, old) -> None:
        """Defaults, Service allocation and validation: the checks a write passes."""
        res.defaults(obj)
        errs = resources.validate_metadata(obj, res)
        if res.kind == "Service":
            others = [o for o in self._all_services() if (o["metadata"]["namespace"], o["metadata"]["name"]) != (obj["metadata"].get("namespace"), obj["metadata"].get("name"))]
            errs += services.allocate(obj, old, others, self.ranges)
        errs += res.checks(obj, old)
        if errs:
            raise invalid(res, obj["metadata"].get("name", ""), errs)

    def _all_services(self) -> list:
        res = resources.BY_PATH[("", "v1", "services")]
        _, kvs, _ = self.etcd.range(self.dir(res), prefix_end(self.dir(res)))
        return [json.loads(kv.value) for kv in kvs]

    def _lock(self, res):
        return self._service_lock if res.kind == "Service" else _NO_LOCK

    def create(self, res, ns: str, obj: dict, dry_run: bool = False) -> dict:
        meta = obj.setdefault("metadata", {})
        if res.namespaced:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(random.choice(_SUFFIX_ALPHABET) for _ in range(_SUFFIX_LEN))
        if meta.get("resourceVersion"):
            raise bad_request("resourceVersion should not be set on objects to be created")
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(k, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        obj["kind"], obj["apiVersion"] = res.kind, res.api_version
        if res.kind in ("Service", "Namespace"):
            obj.pop("status", None)  # status is written through /status only
        self._check_namespace(res, ns)
        with self._lock(res):
            self._admit(res, obj, None)
            if res.kind == "Service":
                obj.setdefault("status", {"loadBalancer": {}})
            key = self.key(res, ns, meta["name"])
            if dry_run:
                _, kv = self.etcd.get(key)
                if kv is not None:
                    raise self._exists(res, meta["name"])
                return obj
            ok, rev, _ = self.etcd.txn([Etcd.cmp_mod(key, 0)], [Etcd.op_put(key, self.encode(obj))])
        if not ok:
            raise self._exists(res, meta["name"])
        meta["resourceVersion"] = str(rev)
        return obj

    @staticmethod
    def _exists(res, name: str) -> ApiError:
        return ApiError(409, "AlreadyExists", f'{res.plural} "{name}" already exists', {"name": name, "group": res.group, "kind": res.plural})

    def update(self, res, ns: str, name: str, transform, subresource: str = "", dry_run: bool = False) -> dict:
        """The GuaranteedUpdate loop: read, transform(current) -> new object,
        admit, write if changed compared on mod_revision; retried on a race
        (a request that named the old resourceVersion then gets 409)."""
        key = self.key(res, ns, name)
        while True:
            with self._lock(res):
                _, kv = self.etcd.get(key)
                if kv is None:
                    raise not_found(res, name)
                current = self.decode(res, kv)
                new = transform(copy.deepcopy(current))
                pinned = _rv(new)
                if pinned and pinned != _rv(current):
                    raise conflict(res, name)
                self._carry(res, new, current, subresource, ns, name)
                self._admit(res, new, current)
                if self._same(new, current):
                    return current  # nothing to write: same resourceVersion, no event
                if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
                    done = self._delete_kv(key, kv, new, dry_run)  # the last finalizer went
                elif dry_run:
                    return new
                else:
                    done = self._put_kv(key, kv, new)
            if done is not None:
                return done
            # Another writer won the race: read again and redo the change, as
            # kube-apiserver's GuaranteedUpdate does. A request that named the
            # old resourceVersion then fails the check above (409); a patch
            # that named none carries the fresh one and goes through.

    @staticmethod
    def _same(a: dict, b: dict) -> bool:
        a, b = copy.deepcopy(a), copy.deepcopy(b)
        a["metadata"].pop("resourceVersion", None)
        b["metadata"].pop("resourceVersion", None)
        return a == b

    @staticmethod
    def _carry(res, new: dict, current: dict, subresource: str, ns: str, name: str) -> None:
        """What an update may not change: identity, system metadata, and the
        half of the object the other endpoint (main or /status) owns."""
        if not isinstance(new.get("metadata"), dict):
            raise bad_request("metadata: must be an object")
        meta, old_meta = new["metadata"], current["metadata"]
        if meta.get("name", name) != name:
            raise bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
        if res.namespaced and meta.get("namespace", ns) != ns:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        if meta.get("uid") and meta["uid"] != old_meta["uid"]:
            raise invalid(res, name, [resources.v.immutable("metadata.uid", meta["uid"])])
        new["kind"], new["apiVersion"] = res.kind, res.api_version
        meta["name"] = name
        if res.namespaced:
            meta["namespace"] = ns
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
            if k in old_meta:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)
        if subresource == "status":
            # kube resets everything but status (and the precondition).
            rv = meta.get("resourceVersion")
            new["metadata"] = copy.deepcopy(old_meta)
            new["metadata"]["resourceVersion"] = rv or old_meta["resourceVersion"]
            for k in list(new):
                if k not in ("kind", "apiVersion", "metadata", "status"):
                    del new[k]
            for k, val in current.items():
                if k not in ("metadata", "status"):
                    new[k] = copy.deepcopy(val)
        elif res.has_status:
            if "status" in current:
                new["status"] = copy.deepcopy(current["status"])
            else:
                new.pop("status", None)

    def replace(self, res, ns: str, name: str, body: dict, subresource: str = "", dry_run: bool = False) -> dict:
        """PUT: the body is the new object; its resourceVersion, if any, is a precondition."""
        if not isinstance(body, dict):
            raise bad_request("the body must be a JSON object")
        return self.update(res, ns, name, lambda current: copy.deepcopy(body), subresource, dry_run)

    def patch(self, res, ns: str, name: str, content_type: str, body, subresource: str = "", dry_run: bool = False) -> dict:
        patcher = patches.PATCHERS[content_type]

        def apply(current: dict) -> dict:
            try:
                out = patcher(current, body, res.kind)
            except patches.PatchError as e:
                if e.bad_request:
                    raise bad_request(str(e)) from None
                raise ApiError(422, "Invalid", str(e)) from None
            if not isinstance(out, dict) or not isinstance(out.get("metadata"), dict):
                raise ApiError(422, "Invalid", "the patched object has no metadata")
            return out

        return self.update(res, ns, name, apply, subresource, dry_run)

    def delete(self, res, ns: str, name: str, options: dict, dry_run: bool = False):
        """(object, finished): the object, or its last state when gone."""
        key = self.key(res, ns, name)
        pre = (options or {}).get("preconditions") or {}
        if res.kind == "Namespace" and name in UNDELETABLE_NAMESPACES:
            raise ApiError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be deleted', {"name": name, "kind": "namespaces"})
        while True:
            _, kv = self.etcd.get(key)
            if kv is None:
                raise not_found(res, name)
            obj = self.decode(res, kv)
            meta = obj["metadata"]
            if pre.get("uid") and pre["uid"] != meta["uid"]:
                raise conflict(res, name, f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {meta['uid']}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
                raise conflict(res, name, f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, ResourceVersion in meta: {meta['resourceVersion']}")
            if meta.get("finalizers"):
                # Finalizers hold the object: mark it; the update that removes
                # the last finalizer deletes it.
                if meta.get("deletionTimestamp"):
                    return obj, False
                marked = copy.deepcopy(obj)
                marked["metadata"]["deletionTimestamp"] = now_rfc3339()
                marked["metadata"]["deletionGracePeriodSeconds"] = 0
                if dry_run or self._put_kv(key, kv, marked) is not None:
                    return marked, False
                continue
            if res.kind == "Namespace" and not dry_run:
                self._empty_namespace(name)
            gone = self._delete_kv(key, kv, obj, dry_run)
            if gone is not None:
                return gone, True

    def _put_kv(self, key: str, kv, obj: dict):
        """Writes obj if key is still at kv's revision: obj with its new
        resourceVersion, or None when the key changed meanwhile."""
        ok, rev, _ = self.etcd.txn([Etcd.cmp_mod(key, kv.mod_revision)], [Etcd.op_put(key, self.encode(obj))])
        if not ok:
            return None
        obj["metadata"]["resourceVersion"] = str(rev)
        return obj

    def _delete_kv(self, key: str, kv, obj: dict, dry_run: bool):
        """Deletes key if it is still at kv's revision: obj with the
        deletion's resourceVersion, or None when the key changed meanwhile."""
        if dry_run:
            return obj
        ok, rev, _ = self.etcd.txn([Etcd.cmp_mod(key, kv.mod_revision)], [Etcd.op_delete(key)])
        if not ok:
            return None
        obj["metadata"]["resourceVersion"] = str(rev)
        return obj

    def _empty_namespace(self, ns: str) -> None:
        # The namespace controller's work, done at once: every object in it goes.
        for res in resources.RESOURCES:
            if res.namespaced:
                d = self.dir(res, ns)
                self.etcd.txn([], [{"request_delete_range": {"key": _b64(d), "range_end": _b64(prefix_end(d))}}])

    def bootstrap(self) -> None:
        """What kube-apiserver creates at start: the system namespaces."""
        ns_res = resources.BY_PATH[("", "v1", "namespaces")]
        for ns in SYSTEM_NAMESPACES:
            try:
                self.create(ns_res, "", {"metadata": {"name": ns}})
            except ApiError as e:
                if e.code != 409:
                    raise


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


class _NoLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_NO_LOCK = _NoLock()
