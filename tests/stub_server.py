"""A scriptable HTTP server on a loopback address that records every request it gets.

For the client's edge cases that a real WPS does not produce on demand: refusals (401,
413), a POST that is never answered, redirects to another host, a 404 on every path.
``respond(request)`` returns (status, headers, body), or None to hold the request
unanswered until the server stops.
"""

from __future__ import annotations

import http.server
import threading
from dataclasses import dataclass, field
from typing import Callable


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1, GET and POST to ``_answer(method)``, no log lines, no noise when a
    client resets the connection (the fault tests do that on purpose)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self._answer("GET")

    def do_POST(self):
        self._answer("POST")

    def _answer(self, method: str) -> None:
        raise NotImplementedError

    def finish(self):
        try:
            super().finish()
        except (OSError, ValueError):
            pass

    def log_message(self, *args):
        pass


@dataclass
class Seen:
    method: str
    path: str
    headers: dict = field(default_factory=dict)
    body: bytes = b""


class StubServer:
    def __init__(self, respond: Callable[[Seen], tuple | None], host: str = "127.0.0.1"):
        self.respond = respond
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.server = http.server.ThreadingHTTPServer((host, 0), self._handler())
        self.server.daemon_threads = True
        self.base_url = "http://%s:%d" % (host, self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def requests(self, method: str | None = None) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if method is None or s.method == method]

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        stub = self

        class Handler(QuietHandler):
            def _answer(self, method):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen = Seen(method, self.path, dict(self.headers), body)
                with stub.lock:
                    stub.seen.append(seen)
                reply = stub.respond(seen)
                if reply is None:
                    stub.stopping.wait()
                    self.close_connection = True
                    return
                status, headers, content = reply
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        return Handler
