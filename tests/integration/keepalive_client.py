"""Long-lived HTTP/1.1 client for the rig: one TCP connection to URL_HOST,
one GET every INTERVAL seconds until STOP_FILE exists (or MAX_S passes).

It never reconnects: http.client would silently reopen a closed connection,
so the socket is created once and checked before every request. Prints one
line per request: "<n> <local port> <status> <pod>", and a final line
"OK <n> requests on one connection" or "BROKEN <reason>". Exit 0 only if
every request succeeded on the first connection.

Usage: keepalive_client.py HOST PORT STOP_FILE [INTERVAL] [MAX_S]
"""
import http.client
import os
import re
import sys
import time


def main() -> int:
    host, port, stop_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    interval = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    max_s = float(sys.argv[5]) if len(sys.argv) > 5 else 120.0
    conn = http.client.HTTPConnection(host, port, timeout=5)
    conn.connect()
    sock = conn.sock
    local_port = sock.getsockname()[1]
    deadline = time.monotonic() + max_s
    n = 0
    while not os.path.exists(stop_file) and time.monotonic() < deadline:
        n += 1
        try:
            if conn.sock is not sock:
                raise RuntimeError("connection was reopened")
            conn.request("GET", f"/?keepalive={n}")
            resp = conn.getresponse()
            body = resp.read().decode(errors="replace")
            if conn.sock is not sock or resp.will_close:
                raise RuntimeError("server closed the connection")
        except Exception as err:  # any failure ends the test: no reconnect
            print(f"BROKEN request {n}: {type(err).__name__}: {err}", flush=True)
            return 1
        match = re.search(r"pod: (\S+)", body)
        print(n, local_port, resp.status, match.group(1) if match else "?", flush=True)
        if resp.status != 200:
            print(f"BROKEN request {n}: status {resp.status}", flush=True)
            return 1
        time.sleep(interval)
    conn.close()
    print(f"OK {n} requests on one connection", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
