"""UDP echo for a rig pod: answers every datagram with "<pod name> <peer ip:port>".

Usage: udp_echo.py BIND_IP PORT POD_NAME
"""
import socket
import sys


def main() -> None:
    bind_ip, port, pod = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((bind_ip, port))
    while True:
        data, peer = sock.recvfrom(2048)
        sock.sendto(f"{pod} {peer[0]}:{peer[1]}".encode(), peer)


if __name__ == "__main__":
    main()
