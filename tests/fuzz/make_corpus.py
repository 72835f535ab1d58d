#!/usr/bin/env python3
"""Writes the seed corpora for the libFuzzer targets (tests/fuzz/corpus/<target>/).

Each seed is a small valid input in the target's input format (see the
comment at the top of each fuzz_*.cpp), so the fuzzer starts from inputs
that reach deep into the code instead of dying in the first length check.
Deterministic: re-running it rewrites the same files. Plain struct packing,
no scapy, so it runs anywhere python3 does.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- packet ------------------------------------------------------------------
# Addresses and MACs of the fuzz_packet.cpp fixture.
GW_MAC = bytes([2, 0, 0, 0, 0, 1])
CLIENT_MAC = bytes([2, 0, 0, 0, 0, 2])
POD_MAC = {11: bytes([2, 0, 0, 0, 0, 0x11]), 12: bytes([2, 0, 0, 0, 0, 0x12])}


def ip(text):
    return bytes(int(x) for x in text.split("."))


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, l4, ttl=64, frag=0, options=b""):
    ihl = 5 + len(options) // 4
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(l4), 1, frag, ttl, proto, 0,
                      ip(src), ip(dst)) + options
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr, l4


def l4_csum(src, dst, proto, l4):
    pseudo = ip(src) + ip(dst) + struct.pack("!BBH", 0, proto, len(l4))
    return csum(pseudo + l4)


def tcp(src, dst, sport, dport, flags, payload=b"", seq=1000, ack=0):
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    c = l4_csum(src, dst, 6, seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def udp(src, dst, sport, dport, payload):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    c = l4_csum(src, dst, 17, seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", c) + seg[8:]


def icmp(typ, code, rest):
    msg = struct.pack("!BBH", typ, code, 0) + rest
    return msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]


def frame(src_mac, dst_mac, l3, ethertype=0x0800):
    f = dst_mac + src_mac + struct.pack("!H", ethertype) + l3
    return f + b"\0" * max(0, 60 - len(f))


def ip_frame(src, dst, proto, l4, src_mac=CLIENT_MAC, **kw):
    hdr, body = ipv4(src, dst, proto, l4, **kw)
    return frame(src_mac, GW_MAC, hdr + body)


def arp_request(sender, target):
    body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + CLIENT_MAC + ip(sender) + b"\0" * 6 + ip(target)
    return frame(CLIENT_MAC, b"\xff" * 6, body, 0x0806)


# fuzz_packet.cpp's record header bits and options.
REPLY_RECORD, AT_WORKER1 = 0x4000, 0x8000
OPT_NAT, OPT_FIX_CSUM, OPT_TWO_WORKERS = 1, 2, 4
PREFILL_HALF_OPEN, PREFILL_ESTABLISHED, PREFILL_COLLIDE = 1 << 3, 2 << 3, 3 << 3


def record(f, advance_ms=0, flags=0):
    return struct.pack("!HB", len(f) | flags, advance_ms) + f


class Reply:
    """A reply record: answers the n-th frame the workers emitted so far.
    kind 0: TCP/UDP answer with TCP flags a; kind 1: ICMP error type a code
    b quoting `quote` bytes of L4."""

    def __init__(self, n, kind=0, a=0, b=0, payload=b"", at_worker1=False):
        self.body = bytes([n, kind, a, b]) + payload
        self.flags = REPLY_RECORD | (AT_WORKER1 if at_worker1 else 0)


def packet_input(options, frames):
    out = bytes([options])
    for f, ms in frames:
        if isinstance(f, Reply):
            out += record(f.body, ms, f.flags)
        else:
            out += record(f, ms)
    return out


C, VIP, GW = "10.99.0.2", "10.96.0.20", "10.99.0.1"
SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08


def packet_seeds():
    # Emitted frames, in order: 0 the SYN to the backend, 1 the SYN-ACK to
    # the client, 2 the request, 3 the response, 4 the client's FIN, 5 the
    # backend's FIN. The backend's answers are reply records, so they reach
    # the SNAT port (fullnat) or client port (nat) the worker really chose.
    def handshake(at_worker1=False):
        return [
            (ip_frame(C, VIP, 6, tcp(C, VIP, 40000, 80, SYN)), 0),
            (Reply(0, 0, SYN | ACK, at_worker1=at_worker1), 1),
            (ip_frame(C, VIP, 6, tcp(C, VIP, 40000, 80, ACK | PSH, b"GET / HTTP/1.1\r\n\r\n")), 1),
            (Reply(2, 0, ACK | PSH, payload=b"HTTP/1.1 200 OK\r\n\r\n", at_worker1=at_worker1), 0),
            (ip_frame(C, VIP, 6, tcp(C, VIP, 40000, 80, FIN | ACK)), 1),
            (Reply(4, 0, FIN | ACK, at_worker1=at_worker1), 0),
            (ip_frame(C, VIP, 6, tcp(C, VIP, 40000, 80, ACK)), 0),
        ]
    for options in (0, 1, 2, 3):
        write("fuzz_packet", "tcp_handshake_opt%d" % options, packet_input(options, handshake()))
    # Two workers: client frames at worker 0, the backend's at worker 1;
    # whichever does not own the flow hands the frame over.
    for options in (OPT_TWO_WORKERS, OPT_TWO_WORKERS | OPT_NAT):
        write("fuzz_packet", "two_workers_handshake_opt%d" % options,
              packet_input(options, handshake(at_worker1=True)))
    udp_dns = [
        (ip_frame(C, VIP, 17, udp(C, VIP, 5000, 53, b"\x12\x34\x01\x00\x00\x01" + b"\0" * 6)), 0),
        (Reply(0, 0), 1),
        (ip_frame(C, VIP, 17, udp(C, VIP, 5000, 53, b"again")), 0),
        (ip_frame(C, "10.96.0.23", 17, udp(C, "10.96.0.23", 5001, 80, b"far")), 0),
    ]
    write("fuzz_packet", "udp_flows", packet_input(0, udp_dns))
    dns_q = query("web.default.svc.cluster.local", 1)
    cluster_dns = [(ip_frame(C, "10.96.0.10", 17, udp(C, "10.96.0.10", 5002, 53, dns_q)), 0),
                   (ip_frame(C, "10.96.0.10", 17, udp(C, "10.96.0.10", 5003, 53,
                                                      query("20.0.96.10.in-addr.arpa", 12))), 0)]
    write("fuzz_packet", "cluster_dns", packet_input(0, cluster_dns))
    host = [
        (arp_request(C, GW), 0),
        (arp_request(C, VIP), 0),
        (ip_frame(C, GW, 1, icmp(8, 0, struct.pack("!HH", 1, 1) + b"ping")), 0),
        (ip_frame(C, VIP, 1, icmp(8, 0, struct.pack("!HH", 1, 2) + b"ping")), 0),
    ]
    write("fuzz_packet", "arp_and_ping", packet_input(0, host))
    rejects = [
        (ip_frame(C, "10.96.0.22", 6, tcp(C, "10.96.0.22", 40001, 80, SYN)), 0),
        (ip_frame(C, VIP, 6, tcp(C, VIP, 40002, 81, SYN)), 0),
        (ip_frame(C, VIP, 6, tcp(C, VIP, 40003, 80, SYN), ttl=1), 0),
        (ip_frame(C, VIP, 6, tcp(C, VIP, 40004, 80, SYN), frag=0x2000), 0),
        (ip_frame(C, VIP, 6, tcp(C, VIP, 40005, 80, SYN), options=b"\x01\x01\x01\x00"), 0),
    ]
    write("fuzz_packet", "rejects_and_oddities", packet_input(0, rejects))
    sticky = [(ip_frame(C, "10.96.0.21", 6, tcp(C, "10.96.0.21", 41000 + i, 443, SYN)), 0)
              for i in range(4)]
    write("fuzz_packet", "affinity", packet_input(1, sticky))
    # ICMP errors about translated packets: "fragmentation needed" about the
    # SYN the worker sent the backend (8 bytes of TCP quoted, katran#159),
    # then "port unreachable" from the client about the SYN-ACK it got.
    icmp_err = [
        (ip_frame(C, VIP, 6, tcp(C, VIP, 40000, 80, SYN)), 0),
        (Reply(0, 1, 3, 4, bytes([8])), 0),
        (Reply(0, 0, SYN | ACK), 0),
        (Reply(2, 1, 3, 3, bytes([20])), 0),
    ]
    for options in (0, OPT_NAT, OPT_TWO_WORKERS):
        write("fuzz_packet", "icmp_errors_opt%d" % options, packet_input(options, icmp_err))
    # A full table: new flows evict half-open ones, or established ones when
    # nothing else is left; keys colliding in the index get flow_table_full.
    new_flows = [(ip_frame(C, VIP, 6, tcp(C, VIP, 50000 + i, 80, SYN)), 0) for i in range(8)]
    write("fuzz_packet", "prefill_half_open", packet_input(PREFILL_HALF_OPEN, new_flows))
    write("fuzz_packet", "prefill_established",
          packet_input(PREFILL_ESTABLISHED | OPT_NAT, new_flows))
    solo = [(ip_frame(C, "10.96.0.24", 6, tcp(C, "10.96.0.24", 50000 + i, 80, SYN)), 0)
            for i in range(16)]
    for options in (PREFILL_COLLIDE, PREFILL_COLLIDE | OPT_NAT):
        write("fuzz_packet", "prefill_collide_opt%d" % options, packet_input(options, solo))


# ---- dns ---------------------------------------------------------------------
def qname(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(name, qtype, qid=0x1234, flags=0x0100, edns=None):
    ar = 1 if edns is not None else 0
    msg = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, ar) + qname(name) + struct.pack("!HH", qtype, 1)
    if edns is not None:
        msg += b"\0" + struct.pack("!HHIH", 41, edns, 0, 0)
    return msg


def dns_seeds():
    A, PTR, SRV, AAAA, SOA, ANY = 1, 12, 33, 28, 6, 255
    seeds = {
        "a_web": (1, query("web.default.svc.cluster.local", A)),
        "a_headless": (1, query("headless.default.svc.cluster.local", A)),
        "a_big_tc": (1, query("big.default.svc.cluster.local", A)),
        "a_big_edns": (9, query("big.default.svc.cluster.local", A, edns=1232)),
        "srv_http": (2, query("_http._tcp.web.default.svc.cluster.local", SRV)),
        "ptr": (1, query("20.0.96.10.in-addr.arpa", PTR)),
        "aaaa_nodata": (1, query("web.default.svc.cluster.local", AAAA)),
        "soa_apex": (3, query("cluster.local", SOA)),
        "nxdomain": (1, query("nope.default.svc.cluster.local", A)),
        "refused": (1, query("example.com", A)),
        "any_mixed_case": (1, query("WeB.DeFault.SVC.cluster.local", ANY)),
        "servfail": (5, query("web.default.svc.cluster.local", A)),
    }
    for name, (options, q) in seeds.items():
        write("fuzz_dns", name, bytes([options]) + q)


# ---- config ------------------------------------------------------------------
CONFIG_SEEDS = {
    "native_full.yaml": """\
dpdk: {lcores: "0-1", memory_mb: 256, hugepages: false, file_prefix: fz, extra_args: [--no-pci]}
ports:
  - {name: ext0, device: "net_af_packet0,iface=veth-gw", address: 10.99.0.1/24, gateway: 10.99.0.254}
network: {service_cidr: 10.96.0.0/16, snat_addresses: [10.99.0.1]}
forwarding: {mode: fullnat}
maglev: {table_size: auto, seed: 7}
conntrack: {max_flows: 4096, tcp_established_timeout_s: 900, tcp_transitory_timeout_s: 30, udp_timeout_s: 300}
dns: {cluster_ip: 10.96.0.10, domain: cluster.local, ttl_s: 30}
api: {listen: "unix:/run/svcgw/api.sock", token_file: ""}
metrics: {listen: "tcp:127.0.0.1:9100"}
services:
  - name: mynginx
    namespace: default
    cluster_ip: 10.96.0.20
    session_affinity: ClientIP
    session_affinity_timeout_s: 60
    ports: [{name: http, port: 80, target_port: 80, protocol: TCP}, {name: dns, port: 53, target_port: 53, protocol: UDP}]
    endpoints: [{ip: 10.99.0.11, ready: true, terminating: false, weight: 100}, {ip: 10.99.0.12, weight: 0}]
  - name: auto
    ports: [{port: 8080, target_port: 80}]
    endpoints: [{ip: 10.99.0.13}]
  - name: headless
    cluster_ip: None
    ports: [{name: web, port: 80, target_port: 80}]
    endpoints: [{ip: 10.99.0.14}]
""",
    "minimal.yaml": """\
ports: [{name: ext0, device: net_null0, address: 10.99.0.1/24}]
services: []
""",
    "kubernetes.yaml": """\
ports: [{name: ext0, device: net_null0, address: 10.99.0.1/24}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 10.96.3.4
  sessionAffinity: None
  ports:
  - {name: http, port: 80, targetPort: http, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: [10.99.0.21]
  conditions: {ready: true, serving: true, terminating: false}
- addresses: [10.99.0.22]
  conditions: {ready: false, serving: true, terminating: true}
""",
    "list.yaml": """\
ports: [{name: ext0, device: net_null0, address: 10.99.0.1/24}]
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a}
  spec: {ports: [{port: 53, targetPort: 5353, protocol: UDP}], clusterIP: None}
""",
    "errors.yaml": """\
ports: [{name: ext0, device: net_null0, address: 10.99.0.1/33}]
conntrack: {max_flows: -1}
services:
  - name: Bad_Name
    cluster_ip: 10.97.0.1
    ports: [{port: 70000, target_port: 0, protocol: SCTP}]
    endpoints: [{ip: 300.1.1.1}]
""",
}


def config_seeds():
    for name, text in CONFIG_SEEDS.items():
        write("fuzz_config", name, text.encode())


# ---- api ---------------------------------------------------------------------
def req(method, target, body="", headers=()):
    head = "%s %s\n" % (method, target) + "".join("%s: %s\n" % h for h in headers)
    return head + "\n" + body


WEB_JSON = '{"ports": [{"port": 80, "target_port": 8080}], "endpoints": [{"ip": "10.99.0.21"}]}'
API_SEEDS = {
    "healthz": req("GET", "/healthz"),
    "list": req("GET", "/v1/services?namespace=default"),
    "get": req("GET", "/v1/namespaces/default/services/filesvc"),
    "put_json": req("PUT", "/v1/namespaces/default/services/web", WEB_JSON,
                    [("Content-Type", "application/json")]),
    "put_endpoints": req("PUT", "/v1/namespaces/default/services/filesvc/endpoints",
                         '{"resourceVersion": "1", "endpoints": [{"ip": "10.99.0.31", "weight": 50},'
                         ' {"ip": "10.99.0.32", "ready": false, "ports": [{"name": "", "port": 81}]}]}',
                         [("Content-Type", "application/json")]),
    "patch_endpoint": req("PATCH", "/v1/namespaces/default/services/filesvc/endpoints/10.99.0.33",
                          '{"weight": 7, "ports": [{"name": "", "port": 8080}]}',
                          [("Content-Type", "application/json")]),
    "drain_endpoint": req("POST",
                          "/v1/namespaces/default/services/filesvc/endpoints/10.99.0.11/drain"),
    "delete_endpoint": req("DELETE", "/v1/namespaces/default/services/filesvc/endpoints/10.99.0.11"),
    "delete": req("DELETE", "/v1/namespaces/team/services/other"),
    "apply_yaml": req("POST", "/v1/apply", CONFIG_SEEDS["kubernetes.yaml"].split("---\n", 1)[1],
                      [("Content-Type", "application/yaml")]),
    "apply_native": req("POST", "/v1/apply",
                        "services:\n- name: x\n  ports: [{port: 1, target_port: 2}]\n",
                        [("Content-Type", "application/yaml")]),
    "stats": req("GET", "/v1/stats"),
    "flows": req("GET", "/v1/flows?limit=2"),
    "metrics": req("GET", "/metrics"),
}


def api_seeds():
    for name, text in sorted(API_SEEDS.items()):
        write("fuzz_api", name, b"\x00" + text.encode())
    # Byte 0 bit 0: the publisher fails; one seed exercises that path.
    write("fuzz_api", "put_json_publish_fails", b"\x01" + API_SEEDS["put_json"].encode())
    # A sequence (requests separated by NUL; byte 0 bit k: request k's
    # publish fails): create (version 2), change endpoints (3), a change the
    # data plane refuses, read back, delete.
    sequence = [
        API_SEEDS["put_json"],
        req("PUT", "/v1/namespaces/default/services/web/endpoints",
            '{"resourceVersion": "2", "endpoints": [{"ip": "10.99.0.22"},'
            ' {"ip": "10.99.0.23", "weight": 0}]}'),
        req("PUT", "/v1/namespaces/default/services/web/endpoints",
            '{"resourceVersion": "3", "endpoints": []}'),
        req("GET", "/v1/namespaces/default/services/web"),
        req("DELETE", "/v1/namespaces/default/services/web"),
    ]
    write("fuzz_api", "sequence_create_change_delete", bytes([1 << 2]) + "\0".join(sequence).encode())


def main():
    packet_seeds()
    dns_seeds()
    config_seeds()
    api_seeds()
    return 0


if __name__ == "__main__":
    sys.exit(main())
