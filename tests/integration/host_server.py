"""HTTP/1.1 server for the exception-path test: runs in the gateway's own
namespace on the port address, so it is reached only through svcgw's punt
path and the TAP. Keep-alive (HTTP/1.1 with Content-Length), so
keepalive_client.py can hold one long-lived TCP session on it.

Usage: host_server.py ADDRESS PORT
"""
import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b"pod: gateway-kernel ip %s\n" % self.server.server_address[0].encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args) -> None:
        pass  # one line per keep-alive request would flood the test log


def main() -> int:
    server = http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Handler)
    server.daemon_threads = True
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
