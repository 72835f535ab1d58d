"""Load for the fleet rig (tests/integration/fleet/), one process per mode,
threads inside it: a box with 2 cores cannot run 60 python processes.

  new HOST PORT COUNT RATE TIMEOUT [STOP_FILE]
      COUNT new connections (one GET each, Connection: close), started
      RATE per second (none after STOP_FILE exists), each in a thread of
      its own, so a stalled one does not hold the next back. One line per connection when it ends:
      "<start ns> <end ns> ok <local port>" or "<start ns> <end ns> FAIL
      <reason>" (CLOCK_REALTIME, comparable with `date +%s%N`).
  keepalive HOST PORT COUNT INTERVAL TIMEOUT STOP_FILE MAX_S [TRACE_FILE]
      COUNT connections held open, each sending one GET every INTERVAL
      seconds until STOP_FILE exists or MAX_S passes, never reconnecting.
      A request unanswered within TIMEOUT, a reset or a close breaks the
      connection. Prints "up <local port>" once each is open, and at the
      end one line per connection: "<local port> <requests> ok" or
      "<local port> <requests> BROKEN <reason>".
      TRACE_FILE (a timeline, perf/scripts/fleet-timeline.sh): each
      connection's requests are kept in memory and written there at the
      end, nothing printed meanwhile: "req <local port> <seq> <start ns>
      <end ns>" per answered request, then "end <local port> <requests>
      <ns> ok" or "end <local port> <requests> <ns> BROKEN <reason>" (the
      ns of the break: when the failing call returned).

Exit status 0 whatever the outcome: the rig reads the lines.
"""
import os
import socket
import sys
import threading
import time

REQUEST = b"GET /%s HTTP/1.1\r\nHost: fleet\r\n%s\r\n"


def read_response(sock: socket.socket) -> bytes:
    """One HTTP/1.1 response with Content-Length (nginx's static page)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed by peer")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed by peer mid-body")
        body += chunk
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError("status " + head.split(b"\r\n")[0].decode(errors="replace"))
    return body


def one_new(host, port, timeout, out, lock):
    start = time.time_ns()
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            local = sock.getsockname()[1]
            sock.sendall(REQUEST % (b"?new", b"Connection: close\r\n"))
            read_response(sock)
        line = f"{start} {time.time_ns()} ok {local}"
    except Exception as err:  # every failure is a result here
        line = f"{start} {time.time_ns()} FAIL {type(err).__name__}:{err}".replace("\n", " ")
    with lock:
        print(line, file=out, flush=True)


def run_new(host, port, count, rate, timeout, stop_file):
    lock = threading.Lock()
    threads = []
    t0 = time.monotonic()
    for i in range(count):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if stop_file and os.path.exists(stop_file):
            break
        t = threading.Thread(target=one_new, args=(host, port, timeout, sys.stdout, lock))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()


def keep(host, port, interval, timeout, stop_file, deadline, result, lock, trace):
    """trace: None, or a list that gets this connection's requests (start
    and end ns) and its end; two clock reads a request, nothing printed."""
    n = 0
    local = 0
    requests = []
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
        local = sock.getsockname()[1]
        with lock:
            print(f"up {local}", flush=True)
        while time.monotonic() < deadline:
            try:
                open(stop_file).close()
                break
            except OSError:
                pass
            if trace is not None:
                start = time.time_ns()
            sock.sendall(REQUEST % (b"?keepalive=%d" % n, b""))
            read_response(sock)
            if trace is not None:
                requests.append((start, time.time_ns()))
            n += 1
            time.sleep(interval)
        sock.close()
        result.append(f"{local} {n} ok")
        end = f"{time.time_ns()} ok"
    except Exception as err:
        end = f"{time.time_ns()} BROKEN {type(err).__name__}:{err}".replace("\n", " ")
        result.append(f"{local} {n} BROKEN {type(err).__name__}:{err}".replace("\n", " "))
    if trace is not None:
        lines = [f"req {local} {i} {s} {e}" for i, (s, e) in enumerate(requests)]
        lines.append(f"end {local} {n} {end}")
        with lock:
            trace.extend(lines)


def run_keepalive(host, port, count, interval, timeout, stop_file, max_s, trace_file=""):
    lock = threading.Lock()
    result = []
    trace = [] if trace_file else None
    deadline = time.monotonic() + max_s
    threads = [
        threading.Thread(
            target=keep,
            args=(host, port, interval, timeout, stop_file, deadline, result, lock, trace),
        )
        for _ in range(count)
    ]
    for t in threads:
        t.start()
        time.sleep(0.01)  # not 60 SYNs in one burst
    for t in threads:
        t.join()
    for line in result:
        print(line, flush=True)
    if trace is not None:
        with open(trace_file, "w") as out:
            out.write("\n".join(trace) + "\n")


def main() -> int:
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    args = sys.argv[4:]
    if mode == "new":
        stop_file = args[3] if len(args) > 3 else ""
        run_new(host, port, int(args[0]), float(args[1]), float(args[2]), stop_file)
    elif mode == "keepalive":
        trace_file = args[5] if len(args) > 5 else ""
        run_keepalive(
            host,
            port,
            int(args[0]),
            float(args[1]),
            float(args[2]),
            args[3],
            float(args[4]),
            trace_file,
        )
    else:
        print(f"unknown mode {mode}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
