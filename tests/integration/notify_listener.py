#!/usr/bin/env python3
"""A service manager's end of sd_notify (test_startup.sh): binds a datagram
socket at PATH and appends each message to OUT as one line ('|' for the
newlines between its KEY=VALUE pairs) until MAX_S seconds have passed.
Usage: notify_listener.py PATH OUT MAX_S"""
import os
import socket
import sys
import time


def main():
    path, out, max_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
    if os.path.exists(path):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.5)
    deadline = time.monotonic() + max_s
    with open(out, "a", encoding="utf-8") as f:
        while time.monotonic() < deadline:
            try:
                msg = sock.recv(4096)
            except socket.timeout:
                continue
            f.write(msg.decode("utf-8", "replace").replace("\n", "|") + "\n")
            f.flush()
    os.unlink(path)


if __name__ == "__main__":
    main()
