"""A router's minimal "fragmentation needed" (RFC 792: the IP header and
only the first 8 bytes of the datagram), for test_mtu.sh. Linux routers
quote up to 576 bytes, so the short form (katran#159: 8 bytes of TCP, no
checksum quoted) has to be made by hand.

Runs in the router namespace, beside its kernel (whose own long errors the
test drops with iptables). Watches IPv4 arriving on IFACE; each TCP
datagram from WATCH_SRC longer than MTU with DF set gets an ICMP 3/4
(next-hop MTU = MTU) sent back to its source through the router's own
routing. Prints "ready" once listening, then one line per error sent.
Stops after SECONDS or on SIGTERM.

Usage: icmp_short_quote.py IFACE MTU WATCH_SRC SECONDS
"""
import signal
import socket
import struct
import sys
import time

ETH_P_IP = 0x0800
PACKET_OUTGOING = 4  # our own transmissions, also seen on a packet socket
IP_DF = 0x4000
PROTO_TCP = 6
ICMP_DEST_UNREACH = 3
ICMP_FRAG_NEEDED = 4
QUOTED_L4_BYTES = 8  # the RFC 792 minimum: ports and sequence number


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frag_needed(datagram: bytes, ihl: int, mtu: int) -> bytes:
    quote = datagram[: ihl + QUOTED_L4_BYTES]
    header = struct.pack("!BBHHH", ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 0, 0, mtu)
    csum = checksum(header + quote)
    return header[:2] + struct.pack("!H", csum) + header[4:] + quote


def main() -> int:
    iface, mtu, watch_src, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    watch = socket.inet_aton(watch_src)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    rx.bind((iface, 0))
    rx.settimeout(0.5)
    # The kernel writes the IP header (source = the router's address toward
    # the destination, as for its own errors).
    tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data, addr = rx.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[2] == PACKET_OUTGOING or len(data) < 20 or data[0] >> 4 != 4:
            continue
        ihl = (data[0] & 0x0F) * 4
        total, frag = struct.unpack("!H", data[2:4])[0], struct.unpack("!H", data[6:8])[0]
        if data[9] != PROTO_TCP or data[12:16] != watch or total <= mtu or not frag & IP_DF:
            continue
        if len(data) < ihl + QUOTED_L4_BYTES:
            continue
        tx.sendto(frag_needed(data, ihl, mtu), (socket.inet_ntoa(data[12:16]), 0))
        sport, dport = struct.unpack("!HH", data[ihl : ihl + 4])
        print(f"frag-needed mtu {mtu} quoting {watch_src}:{sport} -> "
              f"{socket.inet_ntoa(data[16:20])}:{dport} ({total} bytes)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
