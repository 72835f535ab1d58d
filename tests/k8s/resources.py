"""The served kinds: discovery data, etcd key layout, defaults, validation,
field selectors and `kubectl get` table columns.

  v1 Namespace, Service (+status), Node (+status)
  discovery.k8s.io/v1 EndpointSlice
  coordination.k8s.io/v1 Lease

Defaults and checks follow kube-apiserver (1.26) for the fields svcgw and
kubectl use; the README lists what is not checked. Service address
allocation (ClusterIP, nodePorts) lives in services.py.
"""

import datetime
from dataclasses import dataclass, field
from typing import Callable

import validation as v

# ---------------------------------------------------------------- tables


def human_age(created: str, now: datetime.datetime) -> str:
    """kubectl's AGE column (apimachinery duration.HumanDuration)."""
    try:
        t = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return "<unknown>"
    s = max(0, int((now - t).total_seconds()))
    m, h, d = s // 60, s // 3600, s // 86400
    if s < 120:
        return f"{s}s"
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if h < 24 * 365 * 2:
        return f"{d}d"
    return f"{d // 365}y"


def _col(name: str, description: str, priority: int = 0, fmt: str = "", typ: str = "string") -> dict:
    return {"name": name, "type": typ, "format": fmt, "description": description, "priority": priority}


_NAME = _col("Name", "Name must be unique within a namespace.", fmt="name")
_AGE = _col("Age", "CreationTimestamp is a timestamp representing the server time when this object was created.")


def _service_ports(svc: dict) -> str:
    out = []
    for p in svc.get("spec", {}).get("ports") or []:
        node = f":{p['nodePort']}" if p.get("nodePort") else ""
        out.append(f"{p.get('port')}{node}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _service_external(svc: dict) -> str:
    spec = svc.get("spec", {})
    typ = spec.get("type", "ClusterIP")
    external = list(spec.get("externalIPs") or [])
    if typ == "ExternalName":
        return spec.get("externalName", "")
    if typ == "LoadBalancer":
        ingress = svc.get("status", {}).get("loadBalancer", {}).get("ingress") or []
        lb = [i.get("ip") or i.get("hostname", "") for i in ingress] + external
        return ",".join(lb) if lb else "<pending>"
    return ",".join(external) if external else "<none>"


def _service_row(svc: dict) -> list:
    spec = svc.get("spec", {})
    selector = spec.get("selector") or {}
    return [
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP") or "<none>",
        _service_external(svc),
        _service_ports(svc),
        ",".join(f"{k}={val}" for k, val in sorted(selector.items())) or "<none>",
    ]


# kubectl shows at most this many endpoint addresses (printers.go formatEndpointSlices).
_ENDPOINTS_SHOWN = 3


def _slice_row(s: dict) -> list:
    ports = ",".join(str(p["port"]) for p in s.get("ports") or [] if p.get("port") is not None) or "<unset>"
    addrs = [a for e in s.get("endpoints") or [] for a in e.get("addresses") or []]
    shown = ",".join(addrs[:_ENDPOINTS_SHOWN])
    if len(addrs) > _ENDPOINTS_SHOWN:
        shown += f" + {len(addrs) - _ENDPOINTS_SHOWN} more..."
    return [s.get("addressType", ""), ports, shown or "<unset>"]


def _node_row(n: dict) -> list:
    conditions = {c.get("type"): c.get("status") for c in n.get("status", {}).get("conditions") or []}
    status = {"True": "Ready", "False": "NotReady"}.get(conditions.get("Ready"), "Unknown")
    if n.get("spec", {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    prefix = "node-role.kubernetes.io/"
    roles = sorted(k[len(prefix):] for k in n.get("metadata", {}).get("labels") or {} if k.startswith(prefix))
    internal = [a["address"] for a in n.get("status", {}).get("addresses") or [] if a.get("type") == "InternalIP"]
    return [
        status,
        ",".join(roles) or "<none>",
        n.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", ""),
        ",".join(internal) or "<none>",
    ]


# ---------------------------------------------------------------- metadata


def validate_metadata(obj: dict, res: "Resource") -> list:
    meta = obj.get("metadata") or {}
    errs = []
    name = meta.get("name")
    if not name:
        errs.append(v.required("metadata.name", "name or generateName is required"))
    else:
        errs += res.name_check("metadata.name", name)
    errs += v.label_map("metadata.labels", meta.get("labels"))
    ann = meta.get("annotations")
    if ann is not None:
        if not isinstance(ann, dict) or not all(isinstance(x, str) for x in ann.values()):
            errs.append(v.invalid("metadata.annotations", ann, "must be a map of strings"))
        elif sum(len(k) + len(x) for k, x in ann.items()) > v.ANNOTATIONS_MAX_BYTES:
            errs.append(v.invalid("metadata.annotations", "...", f"may not exceed {v.ANNOTATIONS_MAX_BYTES} bytes"))
    return errs


# ---------------------------------------------------------------- kinds


def _no_defaults(obj: dict) -> None:
    pass


def _no_checks(obj: dict, old) -> list:
    return []


def _slice_defaults(s: dict) -> None:
    for p in s.get("ports") or []:
        p.setdefault("protocol", "TCP")
        p.setdefault("name", "")


# EndpointSlice limits (discovery/v1 validation): endpoints, ports, addresses.
SLICE_MAX_ENDPOINTS = 1000
SLICE_MAX_PORTS = 20000
SLICE_ADDRESS_TYPES = ("IPv4", "IPv6", "FQDN")


def _slice_checks(s: dict, old) -> list:
    errs = []
    at = s.get("addressType")
    if not at:
        errs.append(v.required("addressType"))
    else:
        errs += v.one_of("addressType", at, SLICE_ADDRESS_TYPES)
    if old is not None and old.get("addressType") != at:
        errs.append(v.immutable("addressType", at))
    endpoints = s.get("endpoints")
    if endpoints is None:
        errs.append(v.required("endpoints"))
    elif not isinstance(endpoints, list) or len(endpoints) > SLICE_MAX_ENDPOINTS:
        errs.append(v.invalid("endpoints", "...", f"must be a list of at most {SLICE_MAX_ENDPOINTS} items"))
    else:
        for i, e in enumerate(endpoints):
            addrs = e.get("addresses") if isinstance(e, dict) else None
            if not addrs or not isinstance(addrs, list) or len(addrs) > 100:
                errs.append(v.invalid(f"endpoints[{i}].addresses", addrs, "must contain between 1 and 100 addresses"))
                continue
            for j, a in enumerate(addrs):
                f = f"endpoints[{i}].addresses[{j}]"
                if at == "IPv4":
                    errs += v.ip_address(f, a, 4)
                elif at == "IPv6":
                    errs += v.ip_address(f, a, 6)
                elif at == "FQDN":
                    errs += v.dns1123_subdomain(f, a)
            for cond, val in (e.get("conditions") or {}).items():
                if val is not None and not isinstance(val, bool):
                    errs.append(v.invalid(f"endpoints[{i}].conditions.{cond}", val, "must be a boolean"))
            if e.get("hostname") is not None:
                errs += v.dns1123_label(f"endpoints[{i}].hostname", e["hostname"])
    names = set()
    for i, p in enumerate(s.get("ports") or []):
        if p.get("port") is not None:
            errs += v.port_number(f"ports[{i}].port", p["port"], allow_zero=True)
        errs += v.protocol(f"ports[{i}].protocol", p.get("protocol"))
        if p.get("name"):
            errs += v.port_name(f"ports[{i}].name", p["name"])
        if p.get("name", "") in names:
            errs.append(v.duplicate(f"ports[{i}].name", p.get("name", "")))
        names.add(p.get("name", ""))
    return errs


def _lease_checks(lease: dict, old) -> list:
    spec = lease.get("spec") or {}
    d = spec.get("leaseDurationSeconds")
    if d is not None and (not isinstance(d, int) or d <= 0):
        return [v.invalid("spec.leaseDurationSeconds", d, "must be greater than 0")]
    t = spec.get("leaseTransitions")
    if t is not None and (not isinstance(t, int) or t < 0):
        return [v.invalid("spec.leaseTransitions", t, "must be greater than or equal to 0")]
    return []


def _namespace_defaults(ns: dict) -> None:
    ns.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    ns.setdefault("status", {}).setdefault("phase", "Active")
    ns.setdefault("metadata", {}).setdefault("labels", {})["kubernetes.io/metadata.name"] = ns["metadata"].get("name", "")


@dataclass
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    etcd_dir: str  # keys: /registry/<etcd_dir>/[<namespace>/]<name>
    columns: list  # table columns after Name, Age among them (kubectl -o wide shows priority 1)
    row: Callable  # object -> the cells of the columns but Name and Age
    short_names: tuple = ()
    categories: tuple = ()
    has_status: bool = False
    defaults: Callable = _no_defaults
    checks: Callable = _no_checks  # (obj, old or None) -> [FieldError]
    name_check: Callable = v.dns1123_subdomain
    extra_fields: dict = field(default_factory=dict)  # field selector name -> getter

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    def fields(self, obj: dict) -> dict:
        """The field selector values of obj."""
        meta = obj.get("metadata", {})
        out = {"metadata.name": meta.get("name", "")}
        if self.namespaced:
            out["metadata.namespace"] = meta.get("namespace", "")
        for name, get in self.extra_fields.items():
            out[name] = get(obj)
        return out

    def field_names(self) -> set:
        return {"metadata.name", "metadata.namespace", *self.extra_fields} if self.namespaced else {"metadata.name", *self.extra_fields}

    def table_columns(self) -> list:
        return [_NAME, *self.columns]

    def table_cells(self, obj: dict, now: datetime.datetime) -> list:
        cells = list(self.row(obj))
        cells.insert(self.columns.index(_AGE), human_age(obj.get("metadata", {}).get("creationTimestamp"), now))
        return [obj["metadata"]["name"], *cells]


def _services():
    import services  # the Service rules are long enough for a file of their own

    return Resource(
        group="",
        version="v1",
        plural="services",
        kind="Service",
        namespaced=True,
        etcd_dir="services/specs",
        short_names=("svc",),
        categories=("all",),
        has_status=True,
        defaults=services.defaults,
        checks=services.checks,
        name_check=v.dns1035_label,
        columns=[
            _col("Type", "type determines how the Service is exposed."),
            _col("Cluster-IP", "clusterIP is the IP address of the service."),
            _col("External-IP", "externalIPs and the load balancer ingress addresses."),
            _col("Port(s)", "The list of ports that are exposed by this service."),
            _AGE,
            _col("Selector", "Route service traffic to pods with label keys and values matching this selector.", priority=1),
        ],
        row=_service_row,
    )


RESOURCES = [
    Resource(
        group="",
        version="v1",
        plural="namespaces",
        kind="Namespace",
        namespaced=False,
        etcd_dir="namespaces",
        short_names=("ns",),
        has_status=True,
        defaults=_namespace_defaults,
        name_check=v.dns1123_label,
        columns=[_col("Status", "The status of the namespace"), _AGE],
        row=lambda ns: [ns.get("status", {}).get("phase", "")],
        extra_fields={"status.phase": lambda ns: ns.get("status", {}).get("phase", "")},
    ),
    _services(),
    Resource(
        group="",
        version="v1",
        plural="nodes",
        kind="Node",
        namespaced=False,
        etcd_dir="minions",
        short_names=("no",),
        has_status=True,
        columns=[
            _col("Status", "The status of the node"),
            _col("Roles", "The roles of the node"),
            _AGE,
            _col("Version", "Kubelet Version reported by the node."),
            _col("Internal-IP", "List of internal IPs for the node", priority=1),
        ],
        row=_node_row,
        extra_fields={"spec.unschedulable": lambda n: str(bool(n.get("spec", {}).get("unschedulable"))).lower()},
    ),
    Resource(
        group="discovery.k8s.io",
        version="v1",
        plural="endpointslices",
        kind="EndpointSlice",
        namespaced=True,
        etcd_dir="endpointslices",
        defaults=_slice_defaults,
        checks=_slice_checks,
        columns=[
            _col("AddressType", "The IP protocol for this slice"),
            _col("Ports", "The ports of this slice"),
            _col("Endpoints", "The endpoints of this slice"),
            _AGE,
        ],
        row=_slice_row,
    ),
    Resource(
        group="coordination.k8s.io",
        version="v1",
        plural="leases",
        kind="Lease",
        namespaced=True,
        etcd_dir="leases",
        checks=_lease_checks,
        columns=[_col("Holder", "The holder of the lease"), _AGE],
        row=lambda lease: [lease.get("spec", {}).get("holderIdentity") or ""],
    ),
]

# (group, version, plural) -> Resource
BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
GROUP_VERSIONS = sorted({(r.group, r.version) for r in RESOURCES})
