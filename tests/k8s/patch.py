"""The three patch types of kube-apiserver (PATCH Content-Type):

  application/merge-patch+json            RFC 7386 JSON merge patch
  application/strategic-merge-patch+json  Kubernetes strategic merge patch
  application/json-patch+json             RFC 6902 JSON patch

A strategic merge patch is a merge patch whose lists merge by a key where the
Go type says so (the patchStrategy/patchMergeKey struct tags), plus the
directives kubectl sends: `$patch: replace|delete|merge`,
`$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>`, `$retainKeys`.
The list strategies of the served kinds are in LIST_STRATEGIES.

Simplification (README): with $setElementOrder, the patched items come first
in the given order and items only the server had follow in their old order
(kube interleaves the latter by their old positions).
Errors raise PatchError (the server answers 422, or 400 for a malformed patch).
"""

import copy
import json

# (kind, path) -> merge key for a list of maps, or "" for a list of scalars
# merged as a set. Paths are dotted field names from the object's root. Lists
# not named here are atomic: a patch replaces them whole.
_METADATA = {"metadata.ownerReferences": "uid", "metadata.finalizers": ""}
LIST_STRATEGIES = {
    "Service": {**_METADATA, "spec.ports": "port", "status.conditions": "type"},
    "EndpointSlice": dict(_METADATA),  # endpoints and ports are atomic lists
    "Node": {**_METADATA, "spec.podCIDRs": "", "status.addresses": "type", "status.conditions": "type"},
    "Lease": dict(_METADATA),
    "Namespace": {**_METADATA, "status.conditions": "type"},
}

_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


class PatchError(Exception):
    def __init__(self, message: str, bad_request: bool = False):
        super().__init__(message)
        self.bad_request = bad_request  # malformed patch (400) rather than an unappliable one (422)


# ----------------------------------------------------------------- RFC 7386


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


# ---------------------------------------------------- strategic merge patch


def strategic_merge_patch(target: dict, patch: dict, kind: str) -> dict:
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object", bad_request=True)
    strategies = LIST_STRATEGIES.get(kind, _METADATA)
    result = _smp_map(target if isinstance(target, dict) else {}, patch, "", strategies)
    if result is None:
        raise PatchError("a strategic merge patch cannot delete the whole object")
    return result


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _smp_map(original: dict, patch: dict, path: str, strategies: dict):
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive not in (None, "merge"):
        raise PatchError(f"unknown patch directive {directive!r} at {path or 'the root'}")
    result = copy.deepcopy(original)
    orders = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith(_ORDER):
            orders[key[len(_ORDER):]] = value
            continue
        if key.startswith(_DELETE_PRIMITIVE):
            field = key[len(_DELETE_PRIMITIVE):]
            if isinstance(result.get(field), list):
                result[field] = [x for x in result[field] if x not in (value or [])]
            continue
        child = _join(path, key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = _smp_map(result.get(key) if isinstance(result.get(key), dict) else {}, value, child, strategies)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list) and child in strategies:
            result[key] = _smp_list(result.get(key) or [], value, child, strategies)
        else:
            result[key] = copy.deepcopy(value)
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _apply_order(result[field], order, strategies.get(_join(path, field)))
    if "$retainKeys" in patch:
        keep = set(patch["$retainKeys"] or [])
        result = {k: v for k, v in result.items() if k in keep}
    return result


def _smp_list(original: list, patch: list, path: str, strategies: dict) -> list:
    key = strategies[path]
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [copy.deepcopy(x) for x in patch if not (isinstance(x, dict) and "$patch" in x)]
    if key == "":  # a set of scalars: union in order
        result = list(original)
        for x in patch:
            if x not in result:
                result.append(copy.deepcopy(x))
        return result
    result = copy.deepcopy(original)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise PatchError(f"{path}: every item must be an object with the merge key {key!r}")
        at = next((i for i, x in enumerate(result) if isinstance(x, dict) and x.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if at is not None:
                del result[at]
        elif at is None:
            result.append(_smp_map({}, item, path, strategies))
        else:
            result[at] = _smp_map(result[at], item, path, strategies)
    return result


def _apply_order(items: list, order: list, key):
    def ident(x):
        if key and isinstance(x, dict):
            return x.get(key)
        return x

    wanted = [ident(o) if isinstance(o, dict) else o for o in order or []]
    ordered = [x for w in wanted for x in items if ident(x) == w]
    rest = [x for x in items if ident(x) not in wanted]
    return ordered + rest


# ----------------------------------------------------------------- RFC 6902


def _pointer(path: str) -> list:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"JSON pointer {path!r} must start with /", bad_request=True)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc, tokens: list, path: str):
    cur = doc
    for t in tokens[:-1]:
        if isinstance(cur, dict) and t in cur:
            cur = cur[t]
        elif isinstance(cur, list) and t.isdigit() and int(t) < len(cur):
            cur = cur[int(t)]
        else:
            raise PatchError(f"path {path!r} does not exist")
    return cur


def _get(doc, path: str):
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise PatchError(f"path {path!r} does not exist")


def _remove(doc, path: str):
    tokens = _pointer(path)
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise PatchError(f"path {path!r} does not exist")


def _add(doc, path: str, value, replace: bool = False):
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchError(f"path {path!r} does not exist")
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent) - (1 if replace else 0):
            if replace:
                parent[int(last)] = value
            else:
                parent.insert(int(last), value)
        else:
            raise PatchError(f"index {last!r} is out of range at {path!r}")
    else:
        raise PatchError(f"path {path!r} does not exist")
    return doc


def json_patch(target, ops):
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations", bad_request=True)
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"malformed operation {json.dumps(op)}", bad_request=True)
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"operation {kind} at {path!r} has no value", bad_request=True)
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "replace":
            doc = _add(doc, path, copy.deepcopy(op["value"]), replace=True)
        elif kind == "remove":
            _remove(doc, path)
        elif kind in ("move", "copy"):
            value = _remove(doc, op["from"]) if kind == "move" else copy.deepcopy(_get(doc, op["from"]))
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise PatchError(f"test failed at {path!r}")
        else:
            raise PatchError(f"unknown operation {kind!r}", bad_request=True)
    return doc


PATCHERS = {
    "application/merge-patch+json": lambda obj, p, kind: merge_patch(obj, p),
    "application/strategic-merge-patch+json": strategic_merge_patch,
    "application/json-patch+json": lambda obj, p, kind: json_patch(obj, p),
}
