"""v1 Service: defaults, validation and address allocation.

Allocation is what kube-apiserver's Service REST storage does on create and
update, made deterministic for tests:
  - spec.clusterIP: kept from the stored object when an update leaves it
    empty; an explicit address must lie in the service range and be free;
    otherwise the lowest free address above the range's static band (kube
    reserves that low band for addresses asked for by hand, so 10.96.0.10
    for DNS never collides with an allocated one; kube picks at random, we
    pick the lowest, so tests can predict it);
  - nodePorts (NodePort, and LoadBalancer unless allocateLoadBalancerNodePorts
    is false) and healthCheckNodePort (LoadBalancer with
    externalTrafficPolicy Local): kept from the stored port with the same
    port and protocol, else the lowest free port of 30000-32767;
  - fields a type change leaves behind unchanged (a nodePort after a switch to
    ClusterIP, the clusterIP after a switch to ExternalName) are dropped, as
    kube-apiserver (1.20+) drops them.
The caller serializes allocating writes (one lock in store.py), so two
creates cannot take the same address.
"""

import ipaddress
from dataclasses import dataclass

import validation as v

TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")
# kube-apiserver's default --service-node-port-range.
NODE_PORT_RANGE = range(30000, 32768)
# Session affinity timeout bounds and default (core/v1 defaults, validation).
AFFINITY_TIMEOUT_DEFAULT = 10800
AFFINITY_TIMEOUT_MAX = 86400


@dataclass
class Ranges:
    cidr: ipaddress.IPv4Network
    node_ports: range = NODE_PORT_RANGE

    @property
    def static_band(self) -> int:
        # kube-apiserver (KEP-3070): min(max(16, size/16), 256) low addresses
        # are left to requests for a specific address.
        return min(max(16, self.cidr.num_addresses // 16), 256)


def defaults(svc: dict) -> None:
    spec = svc.setdefault("spec", {})
    typ = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["sessionAffinity"] == "ClientIP":
        cfg = spec.setdefault("sessionAffinityConfig", {}).setdefault("clientIP", {})
        cfg.setdefault("timeoutSeconds", AFFINITY_TIMEOUT_DEFAULT)
    for p in spec.get("ports") or []:
        p.setdefault("protocol", "TCP")
        if p.get("targetPort") in (None, 0, ""):
            p["targetPort"] = p.get("port")
    if typ in NODE_PORT_TYPES:
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if typ == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    if typ != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")


def checks(svc: dict, old) -> list:
    spec = svc.get("spec") or {}
    typ = spec.get("type")
    errs = v.one_of("spec.type", typ, TYPES)
    headless = spec.get("clusterIP") == "None"
    ports = spec.get("ports") or []
    if typ == "ExternalName":
        if not spec.get("externalName"):
            errs.append(v.required("spec.externalName"))
        else:
            errs += v.dns1123_subdomain("spec.externalName", spec["externalName"].rstrip("."))
    elif not ports and not headless:
        errs.append(v.required("spec.ports"))
    seen_names, seen_ports = set(), set()
    for i, p in enumerate(ports):
        f = f"spec.ports[{i}]"
        if len(ports) > 1 and not p.get("name"):
            errs.append(v.required(f"{f}.name"))
        if p.get("name"):
            errs += v.port_name(f"{f}.name", p["name"])
            if p["name"] in seen_names:
                errs.append(v.duplicate(f"{f}.name", p["name"]))
            seen_names.add(p["name"])
        errs += v.port_number(f"{f}.port", p.get("port"))
        errs += v.protocol(f"{f}.protocol", p.get("protocol"))
        if (p.get("port"), p.get("protocol")) in seen_ports:
            errs.append(v.duplicate(f, {"port": p.get("port"), "protocol": p.get("protocol")}))
        seen_ports.add((p.get("port"), p.get("protocol")))
        tp = p.get("targetPort")
        errs += v.port_name(f"{f}.targetPort", tp) if isinstance(tp, str) else v.port_number(f"{f}.targetPort", tp)
        if p.get("nodePort") and typ not in NODE_PORT_TYPES:
            errs.append(v.forbidden(f"{f}.nodePort", f"may not be used when `type` is '{typ}'"))
    errs += v.one_of("spec.sessionAffinity", spec.get("sessionAffinity"), ("ClientIP", "None"))
    timeout = spec.get("sessionAffinityConfig", {}).get("clientIP", {}).get("timeoutSeconds")
    if timeout is not None and (not isinstance(timeout, int) or not 0 < timeout <= AFFINITY_TIMEOUT_MAX):
        errs.append(v.invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds", timeout, f"must be greater than 0 and less than {AFFINITY_TIMEOUT_MAX}"))
    if typ in NODE_PORT_TYPES:
        errs += v.one_of("spec.externalTrafficPolicy", spec.get("externalTrafficPolicy"), ("Cluster", "Local"))
    elif spec.get("externalTrafficPolicy"):
        errs.append(v.invalid("spec.externalTrafficPolicy", spec["externalTrafficPolicy"], "may only be set when `type` is 'NodePort' or 'LoadBalancer'"))
    if spec.get("internalTrafficPolicy") is not None:
        errs += v.one_of("spec.internalTrafficPolicy", spec["internalTrafficPolicy"], ("Cluster", "Local"))
    for i, ip in enumerate(spec.get("externalIPs") or []):
        errs += v.ip_address(f"spec.externalIPs[{i}]", ip)
    for name in ("loadBalancerIP", "loadBalancerSourceRanges", "loadBalancerClass"):
        if spec.get(name) and typ != "LoadBalancer":
            errs.append(v.forbidden(f"spec.{name}", "may only be used when `type` is 'LoadBalancer'"))
    if spec.get("loadBalancerIP"):
        errs += v.ip_address("spec.loadBalancerIP", spec["loadBalancerIP"])
    for i, r in enumerate(spec.get("loadBalancerSourceRanges") or []):
        errs += v.cidr(f"spec.loadBalancerSourceRanges[{i}]", r.strip() if isinstance(r, str) else r)
    if spec.get("loadBalancerClass"):
        errs += v.label_map("spec.loadBalancerClass", {spec["loadBalancerClass"]: ""})
    if old is not None:
        old_spec = old.get("spec", {})
        if old_spec.get("type") == "LoadBalancer" and typ == "LoadBalancer" and old_spec.get("loadBalancerClass") != spec.get("loadBalancerClass"):
            errs.append(v.invalid("spec.loadBalancerClass", spec.get("loadBalancerClass"), "may not change once set"))
    errs += v.label_map("spec.selector", spec.get("selector"))
    for i, ing in enumerate((svc.get("status") or {}).get("loadBalancer", {}).get("ingress") or []):
        if ing.get("ip"):
            errs += v.ip_address(f"status.loadBalancer.ingress[{i}].ip", ing["ip"])
        if ing.get("hostname"):
            errs += v.dns1123_subdomain(f"status.loadBalancer.ingress[{i}].hostname", ing["hostname"])
    return errs


# ---------------------------------------------------------------- allocation


def _used(others: list):
    ips, ports = set(), set()
    for o in others:
        spec = o.get("spec", {})
        if spec.get("clusterIP") not in (None, "", "None"):
            ips.add(spec["clusterIP"])
        ports.update(p["nodePort"] for p in spec.get("ports") or [] if p.get("nodePort"))
        if spec.get("healthCheckNodePort"):
            ports.add(spec["healthCheckNodePort"])
    return ips, ports


def _cluster_ip(spec: dict, old_spec: dict, used: set, ranges: Ranges) -> list:
    typ = spec.get("type")
    old_ip = old_spec.get("clusterIP") or ""
    if typ == "ExternalName":
        if spec.get("clusterIP") and spec["clusterIP"] == old_ip:
            spec.pop("clusterIP")  # left behind by a type change
        if spec.get("clusterIP"):
            return [v.invalid("spec.clusterIP", spec["clusterIP"], "may not be set for ExternalName services")]
        for k in ("clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            spec.pop(k, None)
        return []
    wanted = spec.get("clusterIP") or ""
    if old_ip and old_spec.get("type") != "ExternalName":
        if not wanted:
            wanted = old_ip  # an update that does not name the address keeps it
        elif wanted != old_ip:
            return [v.immutable("spec.clusterIP", wanted)]
    if wanted and wanted != "None" and wanted != old_ip:
        errs = v.ip_address("spec.clusterIP", wanted, 4)
        if errs:
            return errs
        addr = ipaddress.ip_address(wanted)
        if addr not in ranges.cidr or addr in (ranges.cidr.network_address, ranges.cidr.broadcast_address):
            return [v.invalid("spec.clusterIP", wanted, f"provided IP is not in the valid range. The range of valid IPs is {ranges.cidr}")]
        if wanted in used:
            return [v.invalid("spec.clusterIP", wanted, "provided IP is already allocated")]
    if not wanted:
        hosts = list(range(ranges.static_band, ranges.cidr.num_addresses - 1)) + list(range(1, ranges.static_band))
        base = int(ranges.cidr.network_address)
        wanted = next((str(ipaddress.ip_address(base + i)) for i in hosts if str(ipaddress.ip_address(base + i)) not in used), "")
        if not wanted:
            return [v.invalid("spec.clusterIP", "", f"failed to allocate a serviceIP: range {ranges.cidr} is full")]
    ips = spec.get("clusterIPs")
    if ips and ips[0] != wanted:
        return [v.invalid("spec.clusterIPs[0]", ips[0], "must match `clusterIP`")]
    spec["clusterIP"] = wanted
    spec["clusterIPs"] = [wanted]
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    families = spec.setdefault("ipFamilies", ["IPv4"])
    if families != ["IPv4"]:
        return [v.invalid("spec.ipFamilies", families, "this cluster is single-stack IPv4")]
    return []


def _node_port(wanted, old, used: set, ranges: Ranges, field: str):
    """(port, errors): old when kept, the wanted one when free, else the lowest free."""
    if wanted and wanted != old:
        if wanted not in ranges.node_ports:
            return 0, [v.invalid(field, wanted, f"provided port is not in the valid range. The range of valid ports is {ranges.node_ports.start}-{ranges.node_ports.stop - 1}")]
        if wanted in used:
            return 0, [v.invalid(field, wanted, "provided port is already allocated")]
        return wanted, []
    if wanted or old:
        return wanted or old, []
    free = next((p for p in ranges.node_ports if p not in used), 0)
    if not free:
        return 0, [v.invalid(field, 0, "failed to allocate a nodePort: range is full")]
    return free, []


def allocate(svc: dict, old, others: list, ranges: Ranges) -> list:
    """Fills in spec.clusterIP(s), nodePorts and healthCheckNodePort."""
    spec = svc.setdefault("spec", {})
    old_spec = (old or {}).get("spec", {})
    used_ips, used_ports = _used(others)
    errs = _cluster_ip(spec, old_spec, used_ips, ranges)
    typ = spec.get("type")
    need = typ == "NodePort" or (typ == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True))
    old_ports = {(p.get("port"), p.get("protocol")): p.get("nodePort") for p in old_spec.get("ports") or []}
    # Kept and asked-for nodePorts are placed first, so a new one never takes theirs.
    order = []
    for i, p in enumerate(spec.get("ports") or []):
        old_np = old_ports.get((p.get("port"), p.get("protocol")))
        if not need:
            if p.get("nodePort") and p["nodePort"] == old_np and old_spec.get("type") in NODE_PORT_TYPES and typ not in NODE_PORT_TYPES:
                del p["nodePort"]  # left behind by a type change
            continue
        if p.get("nodePort") or old_np:
            order.insert(0, (i, p, old_np))
        else:
            order.append((i, p, None))
    for i, p, old_np in order:
        np, e = _node_port(p.get("nodePort"), old_np, used_ports, ranges, f"spec.ports[{i}].nodePort")
        errs += e
        if np:
            p["nodePort"] = np
            used_ports.add(np)
    wants_hc = typ == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"
    hc, old_hc = spec.get("healthCheckNodePort"), old_spec.get("healthCheckNodePort")
    if wants_hc:
        np, e = _node_port(hc, old_hc if old_spec.get("externalTrafficPolicy") == "Local" else None, used_ports, ranges, "spec.healthCheckNodePort")
        errs += e
        if np:
            spec["healthCheckNodePort"] = np
    elif hc:
        if hc == old_hc:
            del spec["healthCheckNodePort"]
        else:
            errs.append(v.invalid("spec.healthCheckNodePort", hc, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
    return errs
