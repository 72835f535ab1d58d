"""Authentication (bearer tokens, client certificates) and authorization
(RBAC rules) of the test API server.

Tokens: kube-apiserver's --token-auth-file format, one CSV line per token:
  token,user,uid[,"group1,group2"]
Client certificates (--client-ca-file): a certificate the CA signed names its
user by its subject's common name, as kube-apiserver's x509 authenticator
does, and is tried before the token, as there.
Authorization: a user given with --admin may do everything; a user bound to a
ClusterRole (a JSON file holding a rbac.authorization.k8s.io/v1 ClusterRole)
may do what its rules allow, matched as RBAC matches them (verbs, apiGroups,
resources incl. "<resource>/<subresource>", resourceNames). Every
authenticated user may read discovery, /version and /openapi (kube's
system:discovery and system:public-info-viewer roles), so only resource
requests are checked here.
"""

import csv
import hmac
import json

from store import ApiError


class Tokens:
    def __init__(self, path: str):
        self.users = {}
        with open(path, newline="") as f:
            for row in csv.reader(f):
                if len(row) >= 2 and row[0].strip() and not row[0].startswith("#"):
                    self.users[row[0].strip()] = row[1].strip()

    def user(self, authorization: str):
        """The user of an Authorization header, or None."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        token = token.strip()
        for known, user in self.users.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return user
        return None


def certificate_user(peercert) -> str | None:
    """The user a verified client certificate names (its subject CN), or None.
    `peercert` is ssl's getpeercert(): empty unless the CA verified it."""
    for rdn in (peercert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName" and value:
                return value
    return None


def _allows(rule: dict, verb: str, group: str, resource: str, name: str) -> bool:
    def has(key, value):
        values = rule.get(key) or []
        return "*" in values or value in values

    if not has("verbs", verb) or not has("apiGroups", group) or not has("resources", resource):
        return False
    names = rule.get("resourceNames") or []
    return not names or name in names


class Authorizer:
    def __init__(self, admins: list, roles: dict):
        self.admins = set(admins)
        self.rules = {}
        for user, path in roles.items():
            with open(path) as f:
                role = json.load(f)
            if role.get("kind") != "ClusterRole":
                raise ValueError(f"{path}: not a ClusterRole")
            self.rules[user] = role.get("rules") or []

    def check(self, user: str, verb: str, res, ns: str, name: str, sub: str) -> None:
        if user in self.admins:
            return
        resource = f"{res.plural}/{sub}" if sub else res.plural
        if any(_allows(r, verb, res.group, resource, name) for r in self.rules.get(user, [])):
            return
        subject = f'{res.plural} "{name}"' if name else res.plural
        scope = f'in the namespace "{ns}"' if ns else "at the cluster scope"
        raise ApiError(
            403,
            "Forbidden",
            f'{subject} is forbidden: User "{user}" cannot {verb} resource "{resource}" in API group "{res.group}" {scope}',
            {"name": name, "group": res.group, "kind": res.plural} if name else {"group": res.group, "kind": res.plural},
        )
