"""UDP client for the rig: sends COUNT requests to VIP:PORT, each from a new
socket (a new source port, so a new flow), retrying a lost one up to RETRIES
times. Sockets stay open until the end so the kernel cannot hand a port out
twice. Prints one line per request: "<source port> <answer or LOST>".

Usage: udp_client.py VIP PORT COUNT [RETRIES]
"""
import socket
import sys

TIMEOUT_S = 1.0  # a veth round trip is sub-millisecond; 1 s means lost


def main() -> int:
    vip, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    retries = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    lost = 0
    open_sockets = []
    for i in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(TIMEOUT_S)
        sock.bind(("0.0.0.0", 0))
        answer = "LOST"
        for _ in range(retries + 1):
            sock.sendto(f"request {i}".encode(), (vip, port))
            try:
                data, peer = sock.recvfrom(2048)
            except socket.timeout:
                continue
            if peer != (vip, port):
                answer = f"WRONG-SOURCE {peer[0]}:{peer[1]}"
            else:
                answer = data.decode(errors="replace")
            break
        if answer == "LOST":
            lost += 1
        print(sock.getsockname()[1], answer, flush=True)
        open_sockets.append(sock)
    for sock in open_sockets:
        sock.close()
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
