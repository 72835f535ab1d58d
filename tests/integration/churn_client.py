"""HTTP/1.1 clients for test_churn.sh (run in the client namespace).

  churn_client.py live HOST PORT DIR CONNS PER_POD PODS
      Opens keep-alive connections until it holds CONNS of them with at least
      PER_POD on each pod of PODS (comma list; connections landing elsewhere
      or beyond the quota are closed), bounded in attempts. Then issues one
      GET per connection in turn, on the same sockets, until DIR/stop exists
      (or MAX_S passes). Each request is counted in the phase the test is in:
      "before" until DIR/churn.start exists, "during" until DIR/churn.end
      exists, "after" from then on. Every failure is recorded by kind:
        reset    ECONNRESET / EPIPE (an RST from the gateway or a pod)
        closed   the server closed the connection (EOF, or "Connection: close")
        timeout  no complete answer within TIMEOUT_S
        status   a status other than 200
        moved    an answer from another pod than the connection's first
      A failed connection is not reopened: its life ends there.
      Writes DIR/live.json: {"opened": [...], "attempts": N, "conns": [{
      "port", "pod", "requests": {"before","during","after"}, "errors":
      [{"kind", "phase", "request", "detail"}]}]} and "ready" lines to stdout;
      after every round, DIR/progress says "PHASE N": the fewest requests a
      live connection has made in the current phase (the test waits on it).

  churn_client.py sample HOST PORT DIR COUNT INTERVAL_S
      COUNT new connections, one GET each (Connection: close), INTERVAL_S
      apart, stopping early when DIR/churn.end exists. Writes DIR/sample.json:
      [{"port", "start", "end", "pod" or null, "error" or null}] with
      wall-clock times (time.time(), comparable with the churn log).
"""
import errno
import json
import os
import re
import socket
import sys
import time

TIMEOUT_S = 5.0       # a request on an idle rig takes milliseconds
MAX_S = 600.0         # hard bound on the live loop (the test's timeout is lower)
MAX_OPEN_ATTEMPTS = 64
ROUND_PAUSE_S = 0.01  # between rounds: steady load (~100 rounds/s) that leaves CPU to the rest
POD_RE = re.compile(rb"pod: mynginx-(\S+) ip")


class Failure(Exception):
    def __init__(self, kind, detail):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def request(sock, path, close=False):
    """One GET on sock; returns the pod name. Raises Failure."""
    head = f"GET {path} HTTP/1.1\r\nHost: churn\r\n"
    if close:
        head += "Connection: close\r\n"
    try:
        sock.sendall((head + "\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(4096)
            if not chunk:
                raise Failure("closed", "EOF before the response headers")
            buf += chunk
        header, body = buf.split(b"\r\n\r\n", 1)
        lines = header.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        server_closes = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"connection" and value.strip().lower() == b"close":
                server_closes = True
        while len(body) < length:
            chunk = sock.recv(4096)
            if not chunk:
                raise Failure("closed", "EOF inside the response body")
            body += chunk
    except socket.timeout:
        raise Failure("timeout", f"no answer within {TIMEOUT_S}s") from None
    except OSError as err:
        if err.errno in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
            raise Failure("reset", os.strerror(err.errno)) from None
        raise Failure("error", f"{type(err).__name__}: {err}") from None
    if status != 200:
        raise Failure("status", f"status {status}")
    match = POD_RE.search(body)
    pod = match.group(1).decode() if match else "?"
    if server_closes and not close:
        raise Failure("closed", f"server sent Connection: close (pod {pod})")
    return pod


def connect(host, port, bound=None):
    """A connected socket; `bound` (a socket bound to its source port) lets
    the caller know that port even when connect() fails."""
    if bound is None:
        sock = socket.create_connection((host, port), timeout=TIMEOUT_S)
    else:
        sock = bound
        sock.settimeout(TIMEOUT_S)
        sock.connect((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def write_atomic(path, text):
    with open(path + ".tmp", "w") as out:
        out.write(text)
    os.rename(path + ".tmp", path)


def phase(directory):
    if os.path.exists(os.path.join(directory, "churn.end")):
        return "after"
    if os.path.exists(os.path.join(directory, "churn.start")):
        return "during"
    return "before"


def live(host, port, directory, conns, per_pod, pods):
    want = {p: per_pod for p in pods}
    held = []
    attempts = 0
    opened = []
    while len(held) < conns and attempts < MAX_OPEN_ATTEMPTS:
        attempts += 1
        try:
            sock = connect(host, port)
        except OSError as err:
            opened.append(f"connect: {err}")
            continue
        local = sock.getsockname()[1]
        try:
            pod = request(sock, f"/?live=open&port={local}")
        except Failure as f:
            opened.append(f"{f.kind}: {f.detail}")
            sock.close()
            continue
        opened.append(pod)
        # Room left for this pod: its quota, or any slot the quotas leave free.
        free = conns - len(held) - sum(max(0, n) for n in want.values())
        if want.get(pod, 0) > 0 or (pod in want and free > 0):
            want[pod] -= 1
            held.append({"sock": sock, "port": local, "pod": pod, "n": 1,
                         "requests": {"before": 1, "during": 0, "after": 0},
                         "errors": [], "alive": True})
        else:
            sock.close()
    result = {"opened": opened, "attempts": attempts, "conns": []}
    if len(held) < conns:
        print(f"could not place {conns} connections in {attempts} attempts: {opened}",
              flush=True)
    print("ready", " ".join(f"{c['port']}:{c['pod']}" for c in held), flush=True)
    deadline = time.monotonic() + MAX_S
    stop = os.path.join(directory, "stop")
    while not os.path.exists(stop) and time.monotonic() < deadline:
        now_phase = phase(directory)
        for c in held:
            if not c["alive"]:
                continue
            c["n"] += 1
            try:
                pod = request(c["sock"], f"/?live={c['port']}&n={c['n']}")
                if pod != c["pod"]:
                    raise Failure("moved", f"answered by {pod}, not {c['pod']}")
                c["requests"][now_phase] += 1
            except Failure as f:
                c["errors"].append({"kind": f.kind, "phase": now_phase,
                                    "request": c["n"], "detail": f.detail})
                c["alive"] = False
                c["sock"].close()
        alive = [c["requests"][now_phase] for c in held if c["alive"]]
        write_atomic(os.path.join(directory, "progress"),
                     f"{now_phase} {min(alive) if alive else 0}\n")
        time.sleep(ROUND_PAUSE_S)
    for c in held:
        if c["alive"]:
            c["sock"].close()
        result["conns"].append({k: c[k] for k in ("port", "pod", "requests", "errors")})
    with open(os.path.join(directory, "live.json.tmp"), "w") as out:
        json.dump(result, out)
    os.rename(os.path.join(directory, "live.json.tmp"), os.path.join(directory, "live.json"))
    return 0


def sample(host, port, directory, count, interval):
    records = []
    end_marker = os.path.join(directory, "churn.end")
    for i in range(count):
        if os.path.exists(end_marker):
            break
        rec = {"port": None, "start": time.time(), "end": None, "pod": None, "error": None}
        # Bound first: a connection that fails to open still has its source
        # port, which test_churn.sh matches against the SYNs it captured.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("0.0.0.0", 0))
            rec["port"] = sock.getsockname()[1]
            connect(host, port, sock)
            rec["pod"] = request(sock, f"/?sample={i}", close=True)
        except Failure as f:
            rec["error"] = f"{f.kind}: {f.detail}"
        except OSError as err:  # connect() itself failed
            rec["error"] = f"connect: {type(err).__name__}: {err}"
        finally:
            if sock is not None:
                sock.close()
        rec["end"] = time.time()
        records.append(rec)
        time.sleep(interval)
    with open(os.path.join(directory, "sample.json.tmp"), "w") as out:
        json.dump(records, out)
    os.rename(os.path.join(directory, "sample.json.tmp"), os.path.join(directory, "sample.json"))
    return 0


def main():
    mode, host, port, directory = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    if mode == "live":
        return live(host, port, directory, int(sys.argv[5]), int(sys.argv[6]),
                    sys.argv[7].split(","))
    if mode == "sample":
        return sample(host, port, directory, int(sys.argv[5]), float(sys.argv[6]))
    print(f"unknown mode {mode}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
