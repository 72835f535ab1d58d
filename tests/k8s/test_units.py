#!/usr/bin/env python3
"""Unit tests of the test API server's pure parts (no etcd, no sockets):
patches, selectors, Service allocation, validation wording, table ages,
the user a client certificate names.
Run by meson's unit suite (tests/k8s/meson.build) and by hand:
  python3 tests/k8s/test_units.py
"""

import datetime
import ipaddress
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import auth  # noqa: E402
import patch  # noqa: E402
import resources  # noqa: E402
import services  # noqa: E402
from selection import FieldSelector, LabelSelector  # noqa: E402

RANGES = services.Ranges(ipaddress.ip_network("10.96.0.0/16"))


class MergePatch(unittest.TestCase):
    def test_cases(self):
        cases = [
            ("null removes a key", {"a": 1, "b": 2}, {"a": None}, {"b": 2}),
            ("maps merge", {"a": {"x": 1, "y": 2}}, {"a": {"y": 3}}, {"a": {"x": 1, "y": 3}}),
            ("lists are replaced", {"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
            ("a scalar replaces a map", {"a": {"x": 1}}, {"a": 5}, {"a": 5}),
            ("a map replaces a scalar", {"a": 5}, {"a": {"x": None, "y": 1}}, {"a": {"y": 1}}),
        ]
        for desc, target, p, want in cases:
            with self.subTest(desc):
                self.assertEqual(patch.merge_patch(target, p), want)


def svc_ports(*ports):
    return {"spec": {"ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports]}}


class StrategicMergePatch(unittest.TestCase):
    def smp(self, target, p, kind="Service"):
        return patch.strategic_merge_patch(target, p, kind)

    def test_ports_merge_by_port(self):
        got = self.smp(svc_ports(("a", 80), ("b", 443)), {"spec": {"ports": [{"port": 443, "name": "tls"}]}})
        self.assertEqual(got, svc_ports(("a", 80), ("tls", 443)))

    def test_kubectl_apply_port_change(self):
        # What kubectl 1.20 sends when a manifest's only port goes 80 -> 8080.
        p = {"spec": {"$setElementOrder/ports": [{"port": 8080}],
                      "ports": [{"name": "http", "port": 8080, "targetPort": 80}, {"$patch": "delete", "port": 80}]}}
        got = self.smp({"spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80}]}}, p)
        self.assertEqual(got, {"spec": {"ports": [{"name": "http", "port": 8080, "targetPort": 80}]}})

    def test_set_element_order(self):
        p = {"spec": {"$setElementOrder/ports": [{"port": 443}, {"port": 80}]}}
        got = self.smp(svc_ports(("a", 80), ("b", 443), ("c", 53)), p)
        self.assertEqual([x["port"] for x in got["spec"]["ports"]], [443, 80, 53])

    def test_list_replace_directive(self):
        p = {"spec": {"ports": [{"$patch": "replace"}, {"port": 53, "name": "dns"}]}}
        self.assertEqual(self.smp(svc_ports(("a", 80)), p), {"spec": {"ports": [{"port": 53, "name": "dns"}]}})

    def test_map_directives(self):
        target = {"spec": {"selector": {"a": "1", "b": "2"}}}
        self.assertEqual(self.smp(target, {"spec": {"selector": {"$patch": "replace", "c": "3"}}}), {"spec": {"selector": {"c": "3"}}})
        self.assertEqual(self.smp(target, {"spec": {"selector": {"$patch": "delete"}}}), {"spec": {}})
        self.assertEqual(self.smp(target, {"spec": {"selector": {"a": None}}}), {"spec": {"selector": {"b": "2"}}})
        self.assertEqual(self.smp(target, {"spec": {"$retainKeys": ["other"], "other": 1}}), {"spec": {"other": 1}})

    def test_atomic_lists_are_replaced(self):
        target = {"endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}]}
        got = self.smp(target, {"endpoints": [{"addresses": ["10.0.0.3"]}]}, "EndpointSlice")
        self.assertEqual(got, {"endpoints": [{"addresses": ["10.0.0.3"]}]})
        got = self.smp({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}},
                       {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.2"}]}}})
        self.assertEqual(got["status"]["loadBalancer"]["ingress"], [{"ip": "192.0.2.2"}])

    def test_primitive_set_lists(self):
        target = {"metadata": {"finalizers": ["a", "b"]}}
        self.assertEqual(self.smp(target, {"metadata": {"finalizers": ["b", "c"]}}), {"metadata": {"finalizers": ["a", "b", "c"]}})
        self.assertEqual(self.smp(target, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}), {"metadata": {"finalizers": ["b"]}})

    def test_conditions_merge_by_type(self):
        target = {"status": {"conditions": [{"type": "A", "status": "True"}, {"type": "B", "status": "True"}]}}
        got = self.smp(target, {"status": {"conditions": [{"type": "B", "status": "False"}]}}, "Node")
        self.assertEqual(got["status"]["conditions"], [{"type": "A", "status": "True"}, {"type": "B", "status": "False"}])

    def test_errors(self):
        with self.assertRaises(patch.PatchError):
            self.smp(svc_ports(("a", 80)), {"spec": {"ports": [{"name": "no-key"}]}})
        with self.assertRaises(patch.PatchError):
            self.smp({}, {"$patch": "explode"})


class JsonPatch(unittest.TestCase):
    def test_ops(self):
        doc = {"a": {"b": [1, 2]}, "c": "x"}
        ops = [
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "add", "path": "/a/b/0", "value": 0},
            {"op": "replace", "path": "/c", "value": "y"},
            {"op": "copy", "from": "/c", "path": "/d"},
            {"op": "move", "from": "/d", "path": "/e~1f"},
            {"op": "remove", "path": "/a/b/1"},
            {"op": "test", "path": "/a/b", "value": [0, 2, 3]},
        ]
        self.assertEqual(patch.json_patch(doc, ops), {"a": {"b": [0, 2, 3]}, "c": "y", "e/f": "y"})
        self.assertEqual(doc, {"a": {"b": [1, 2]}, "c": "x"}, "the target is not modified")

    def test_failures(self):
        for desc, ops in [
            ("a failed test", [{"op": "test", "path": "/c", "value": "z"}]),
            ("a missing path", [{"op": "remove", "path": "/nope"}]),
            ("replace of a missing key", [{"op": "replace", "path": "/nope", "value": 1}]),
            ("an index out of range", [{"op": "add", "path": "/a/b/9", "value": 1}]),
            ("an unknown op", [{"op": "frob", "path": "/c"}]),
        ]:
            with self.subTest(desc), self.assertRaises(patch.PatchError):
                patch.json_patch({"a": {"b": [1]}, "c": "x"}, ops)


class Selectors(unittest.TestCase):
    def test_label_selector(self):
        labels = {"app": "web", "tier": "edge", "n": "5"}
        cases = [
            ("", True), ("app", True), ("!app", False), ("!zone", True),
            ("app=web", True), ("app==web", True), ("app=db", False),
            ("app!=db", True), ("zone!=x", True), ("app!=web", False),
            ("app in (web,db)", True), ("app in (db)", False), ("zone notin (x)", True), ("tier notin (edge)", False),
            ("app=web,tier=edge", True), ("app=web,tier=core", False), ("n>4", True), ("n<5", False),
        ]
        for text, want in cases:
            with self.subTest(text):
                self.assertEqual(LabelSelector(text).matches(labels), want)

    def test_label_selector_errors(self):
        for text in ("app in ()", "app in web", "a=b=c", "=x", "app=-bad-", "n>x"):
            with self.subTest(text), self.assertRaises(ValueError):
                LabelSelector(text)

    def test_field_selector(self):
        fields = {"metadata.name": "a,b", "metadata.namespace": "default"}
        supported = set(fields)
        self.assertTrue(FieldSelector(r"metadata.name=a\,b", supported).matches(fields))
        self.assertTrue(FieldSelector("metadata.namespace==default,metadata.name!=x", supported).matches(fields))
        self.assertFalse(FieldSelector("metadata.namespace!=default", supported).matches(fields))
        with self.assertRaisesRegex(ValueError, "not a known field selector"):
            FieldSelector("spec.clusterIP=1.2.3.4", supported)


def svc(typ="ClusterIP", ports=((80, "TCP"),), **spec):
    s = {"metadata": {"name": "s", "namespace": "default"},
         "spec": dict({"type": typ, "ports": [{"name": f"p{p}", "port": p, "protocol": pr} for p, pr in ports]}, **spec)}
    services.defaults(s)
    return s


class Allocation(unittest.TestCase):
    def test_cluster_ip_lowest_free_above_the_static_band(self):
        self.assertEqual(RANGES.static_band, 256)
        a = svc()
        self.assertEqual(services.allocate(a, None, [], RANGES), [])
        self.assertEqual((a["spec"]["clusterIP"], a["spec"]["clusterIPs"]), ("10.96.1.0", ["10.96.1.0"]))
        b = svc()
        services.allocate(b, None, [a], RANGES)
        self.assertEqual(b["spec"]["clusterIP"], "10.96.1.1")

    def test_cluster_ip_kept_and_immutable(self):
        old = svc()
        services.allocate(old, None, [], RANGES)
        new = svc()
        self.assertEqual(services.allocate(new, old, [], RANGES), [])
        self.assertEqual(new["spec"]["clusterIP"], old["spec"]["clusterIP"])
        moved = svc(clusterIP="10.96.0.50")
        errs = services.allocate(moved, old, [], RANGES)
        self.assertEqual([e.message for e in errs], ['spec.clusterIP: Invalid value: "10.96.0.50": field is immutable'])

    def test_explicit_cluster_ip(self):
        taken = svc(clusterIP="10.96.0.10")
        self.assertEqual(services.allocate(taken, None, [], RANGES), [])
        for ip, why in [("10.96.0.10", "already allocated"), ("10.97.0.1", "not in the valid range"), ("10.96.255.255", "not in the valid range")]:
            with self.subTest(ip):
                errs = services.allocate(svc(clusterIP=ip), None, [taken], RANGES)
                self.assertTrue(errs and why in errs[0].message, errs)
        headless = svc(clusterIP="None")
        self.assertEqual(services.allocate(headless, None, [], RANGES), [])
        self.assertEqual(headless["spec"]["clusterIPs"], ["None"])

    def test_node_ports(self):
        other = svc("NodePort")
        services.allocate(other, None, [], RANGES)
        self.assertEqual(other["spec"]["ports"][0]["nodePort"], 30000)
        s = svc("LoadBalancer", ports=((80, "TCP"), (53, "UDP")), externalTrafficPolicy="Local")
        self.assertEqual(services.allocate(s, None, [other], RANGES), [])
        self.assertEqual([p["nodePort"] for p in s["spec"]["ports"]], [30001, 30002])
        self.assertEqual(s["spec"]["healthCheckNodePort"], 30003)
        # An update keeps them, a type change to ClusterIP drops them.
        again = svc("LoadBalancer", ports=((53, "UDP"), (80, "TCP")), externalTrafficPolicy="Local")
        services.allocate(again, s, [other], RANGES)
        self.assertEqual([p["nodePort"] for p in again["spec"]["ports"]], [30002, 30001])
        clusterip = svc("ClusterIP", ports=((80, "TCP"),))
        clusterip["spec"]["ports"][0]["nodePort"] = 30001
        self.assertEqual(services.allocate(clusterip, s, [other], RANGES), [])
        self.assertNotIn("nodePort", clusterip["spec"]["ports"][0])

    def test_node_port_conflicts(self):
        other = svc("NodePort")
        services.allocate(other, None, [], RANGES)
        s = svc("NodePort")
        s["spec"]["ports"][0]["nodePort"] = 30000
        self.assertIn("already allocated", services.allocate(s, None, [other], RANGES)[0].message)
        s["spec"]["ports"][0]["nodePort"] = 80
        self.assertIn("not in the valid range", services.allocate(s, None, [other], RANGES)[0].message)

    def test_no_node_ports_when_asked(self):
        s = svc("LoadBalancer", allocateLoadBalancerNodePorts=False)
        services.allocate(s, None, [], RANGES)
        self.assertNotIn("nodePort", s["spec"]["ports"][0])

    def test_external_name(self):
        s = svc("ExternalName", ports=(), externalName="example.com")
        self.assertEqual(services.allocate(s, None, [], RANGES), [])
        self.assertNotIn("clusterIP", s["spec"])
        self.assertEqual(services.checks(s, None), [])


class Validation(unittest.TestCase):
    def test_service_messages(self):
        s = svc(ports=((0, "TCP"), (80, "ICMP")))
        s["spec"]["ports"][1]["name"] = ""
        got = sorted(e.message for e in services.checks(s, None))
        self.assertEqual(got, [
            "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
            'spec.ports[1].name: Required value',
            'spec.ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
        ])

    def test_load_balancer_class(self):
        old = svc("LoadBalancer", loadBalancerClass="svcgw.io/lb")
        new = svc("LoadBalancer", loadBalancerClass="other.io/lb")
        self.assertEqual([e.message for e in services.checks(new, old)], ['spec.loadBalancerClass: Invalid value: "other.io/lb": may not change once set'])
        self.assertTrue(services.checks(svc("ClusterIP", loadBalancerClass="svcgw.io/lb"), None))

    def test_endpoint_slice(self):
        res = resources.BY_PATH[("discovery.k8s.io", "v1", "endpointslices")]
        good = {"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80, "protocol": "TCP"}]}
        self.assertEqual(res.checks(good, None), [])
        bad = dict(good, endpoints=[{"addresses": ["fd00::1"]}])
        self.assertEqual([e.field for e in res.checks(bad, None)], ["endpoints[0].addresses[0]"])
        self.assertIn("addressType", [e.field for e in res.checks(dict(good, addressType="IPv6"), good)])


class CertificateUser(unittest.TestCase):
    def test_the_subject_common_name(self):
        cert = {"subject": ((("organizationName", "system:nodes"),), (("commonName", "svcgw"),))}
        self.assertEqual(auth.certificate_user(cert), "svcgw")

    def test_none_without_a_verified_certificate(self):
        self.assertIsNone(auth.certificate_user(None))  # no certificate
        self.assertIsNone(auth.certificate_user({}))  # not verified: ssl gives no fields
        self.assertIsNone(auth.certificate_user({"subject": ((("organizationName", "x"),),)}))


class Tables(unittest.TestCase):
    def test_human_age(self):
        now = datetime.datetime(2026, 1, 10, tzinfo=datetime.timezone.utc)

        def age(**delta):
            return resources.human_age((now - datetime.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ"), now)

        self.assertEqual([age(seconds=5), age(seconds=119), age(minutes=3, seconds=4), age(minutes=30),
                          age(hours=5, minutes=2), age(hours=20), age(days=3, hours=1), age(days=30)],
                         ["5s", "119s", "3m4s", "30m", "5h2m", "20h", "3d1h", "30d"])

    def test_service_row(self):
        res = resources.BY_PATH[("", "v1", "services")]
        s = svc("LoadBalancer")
        services.allocate(s, None, [], RANGES)
        s["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
        now = datetime.datetime(2026, 1, 1, 0, 0, 7, tzinfo=datetime.timezone.utc)
        self.assertEqual(res.table_cells(s, now), ["s", "LoadBalancer", "10.96.1.0", "<pending>", "80:30000/TCP", "7s", "<none>"])
        s["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}
        self.assertEqual(res.table_cells(s, now)[3], "192.0.2.1")


if __name__ == "__main__":
    unittest.main(verbosity=1)
